//! Against the real broker of `scripts/services.sh` (random topic names).

use std::time::{Duration, Instant};

use super::{KafkaConfig, KafkaLog};
use crate::clock::now_ms;
use crate::log::{Header, Headers, Log, LogConsumer, LogError, LogProducer, Message, PartitionId, Record};

/// The broker address; a missing variable fails the test (services are
/// part of the test setup) unless `CLICKTAIL_SKIP_SERVICES=1`.
fn brokers() -> Option<String> {
    match std::env::var("CLICKTAIL_KAFKA_BROKERS") {
        Ok(brokers) => Some(brokers),
        Err(_) if std::env::var("CLICKTAIL_SKIP_SERVICES").as_deref() == Ok("1") => None,
        Err(_) => panic!(
            "CLICKTAIL_KAFKA_BROKERS is not set: run `scripts/services.sh up` and `source .cache/services/env` \
             (or set CLICKTAIL_SKIP_SERVICES=1 to skip service tests)"
        ),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[test]
fn produced_records_are_read_by_a_group_and_a_commit_survives_a_new_member() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("kafka-log");
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    log.create_topic(&topic, 2).unwrap();
    assert_eq!(log.partition_count(&topic).unwrap(), 2);
    assert!(matches!(log.partition_count("no-such-topic-here"), Err(LogError::UnknownTopic { .. })));
    let producer = log.producer().unwrap();
    // Stamped now: a record stamped in 1970 is past the broker's retention
    // (24 h) at once, and its segment is deleted at the next retention check
    // once it has rolled, which on a fresh broker comes about 30 s after
    // start, in the middle of the run ("the group read nothing" in CI).
    let sent_at = now_ms();
    for n in 0..10 {
        let payload = format!("{n}");
        let message = Message {
            key: b"k",
            payload: payload.as_bytes(),
            partition: Some(PartitionId(n % 2)),
            timestamp_ms: sent_at + i64::from(n),
            headers: &[],
        };
        producer.send(&topic, message).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let group = unique("group");
    let mut seen = Vec::new();
    {
        let mut consumer = log.group_consumer(&group, &topic).unwrap();
        let started = Instant::now();
        // The first group on a fresh broker waits for the offsets topic to
        // be created (a second or two here).
        while seen.len() < 10 && started.elapsed() < Duration::from_secs(30) {
            consumer.poll(100, Duration::from_millis(200), &mut seen).unwrap_or(0);
        }
        consumer.commit().unwrap();
    }
    assert_eq!(seen.len(), 10, "records read by the group");
    assert!(seen.iter().all(|r| r.partition.0 == (r.payload[0] - b'0') as u32 % 2));
    assert!(seen.iter().all(|r| r.timestamp_ms == sent_at + i64::from(r.payload[0] - b'0')));
    assert!(seen.iter().all(|r| r.key.as_deref() == Some(b"k".as_slice())));

    // Everything was committed: a new member of the group reads nothing old.
    let mut consumer = log.group_consumer(&group, &topic).unwrap();
    producer
        .send(
            &topic,
            Message {
                key: b"",
                payload: b"late",
                partition: Some(PartitionId(0)),
                timestamp_ms: now_ms(),
                headers: &[],
            },
        )
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut after = Vec::new();
    let started = Instant::now();
    while after.is_empty() && started.elapsed() < Duration::from_secs(30) {
        consumer.poll(100, Duration::from_millis(200), &mut after).unwrap_or(0);
    }
    assert_eq!(after.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>(), [b"late".as_slice()]);
    log.delete_topic(&topic).unwrap();
    let started = Instant::now();
    while log.partition_count(&topic).is_ok() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(matches!(log.partition_count(&topic), Err(LogError::UnknownTopic { .. })), "the topic is gone");
}

/// A new topic of 4 partitions holding `count` records, the decimal
/// numbers 0.. in turn, record n on partition n % 4.
fn numbered_records(brokers: &str, prefix: &str, count: u32) -> (KafkaLog, String) {
    let (log, topic) = topic_of_four(brokers, prefix);
    let producer = log.producer().unwrap();
    for n in 0..count {
        send_to(producer.as_ref(), &topic, n % 4, &n.to_string());
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    (log, topic)
}

/// A new topic of 4 partitions, and the log it is on.
fn topic_of_four(brokers: &str, prefix: &str) -> (KafkaLog, String) {
    let topic = unique(prefix);
    let log = KafkaLog::new(KafkaConfig::new(brokers)).unwrap();
    log.create_topic(&topic, 4).unwrap();
    (log, topic)
}

/// Sends `payload` to `partition` of `topic`, without key or headers, stamped now.
fn send_to(producer: &dyn LogProducer, topic: &str, partition: u32, payload: &str) {
    let message = Message {
        key: b"",
        payload: payload.as_bytes(),
        partition: Some(PartitionId(partition)),
        timestamp_ms: now_ms(),
        headers: &[],
    };
    producer.send(topic, message).unwrap();
}

/// The number a record of [`numbered_records`] carries.
fn number(record: &crate::log::Record) -> u32 {
    std::str::from_utf8(&record.payload).unwrap().parse().unwrap()
}

/// The group member reads its partitions through a queue of its own,
/// forwarded at each assignment (`fetch_queue.rs`). A member joining in
/// the middle of a backlog takes over partitions: it must read them on
/// from the last commit, in order, and between the two members nothing
/// may be missed.
#[test]
fn a_partition_handed_to_a_new_member_is_read_on_from_the_last_commit() {
    let Some(brokers) = brokers() else { return };
    const RECORDS: u32 = 40_000;
    let (log, topic) = numbered_records(&brokers, "kafka-handover", RECORDS);

    let group = unique("group");
    let mut first = log.group_consumer(&group, &topic).unwrap();
    let mut committed = Vec::new();
    let started = Instant::now();
    while committed.len() < RECORDS as usize / 4 && started.elapsed() < Duration::from_secs(30) {
        first.poll(2_000, Duration::from_millis(100), &mut committed).unwrap();
    }
    first.commit().unwrap();
    assert!(committed.len() >= RECORDS as usize / 4, "the first member read {} records", committed.len());

    let mut second = log.group_consumer(&group, &topic).unwrap();
    let (mut first_later, mut second_read) = (Vec::new(), Vec::new());
    let mut seen = vec![false; RECORDS as usize];
    committed.iter().for_each(|record| seen[number(record) as usize] = true);
    let started = Instant::now();
    while seen.contains(&false) && started.elapsed() < Duration::from_secs(60) {
        let (first_from, second_from) = (first_later.len(), second_read.len());
        // The first member reads slowly until the second has partitions:
        // it would otherwise read the whole backlog before the handover.
        let first_max = if second_read.is_empty() { 10 } else { 2_000 };
        first.poll(first_max, Duration::from_millis(20), &mut first_later).unwrap();
        second.poll(2_000, Duration::from_millis(20), &mut second_read).unwrap();
        for record in first_later[first_from..].iter().chain(&second_read[second_from..]) {
            seen[number(record) as usize] = true;
        }
    }
    let missed = seen.iter().filter(|seen| !**seen).count();
    assert_eq!(missed, 0, "records read by neither member");
    assert!(!second_read.is_empty(), "the second member was given no partition");
    let committed_numbers: std::collections::HashSet<u32> = committed.iter().map(number).collect();
    let read_again = second_read.iter().filter(|record| committed_numbers.contains(&number(record))).count();
    assert_eq!(read_again, 0, "the second member read records committed before it joined");
    for member in [&committed, &first_later, &second_read] {
        let mut last = std::collections::HashMap::new();
        for record in member.iter() {
            let previous = last.insert(record.partition.0, record.offset);
            assert!(
                previous.is_none_or(|previous| previous < record.offset),
                "partition {} out of order",
                record.partition.0
            );
        }
    }
    drop((first, second));
    log.delete_topic(&topic).unwrap();
}

#[test]
fn a_tail_consumer_sees_only_new_records() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("kafka-tail");
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    log.create_topic(&topic, 3).unwrap();
    let producer = log.producer().unwrap();
    let old =
        Message { key: b"", payload: b"old", partition: Some(PartitionId(1)), timestamp_ms: now_ms(), headers: &[] };
    producer.send(&topic, old).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut tail = log.tail_consumer(&topic).unwrap();
    // Let the assignment resolve `End` before producing.
    let mut out = Vec::new();
    tail.poll(10, Duration::from_secs(2), &mut out).unwrap();
    assert!(out.is_empty());
    producer.send(&topic, Message { payload: b"new", ..old }).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let started = Instant::now();
    while out.is_empty() && started.elapsed() < Duration::from_secs(30) {
        tail.poll(10, Duration::from_millis(200), &mut out).unwrap();
    }
    assert_eq!(out.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>(), [b"new".as_slice()]);
    log.delete_topic(&topic).unwrap();
}

/// No broker behind the address (nothing serves port 1): the metadata
/// request says the brokers are unreachable and names them, so a caller
/// does not blame a topic.
#[test]
fn unreachable_brokers_are_named() {
    let config = KafkaConfig { request_timeout_ms: 1_000, ..KafkaConfig::new("127.0.0.1:1") };
    let log = KafkaLog::new(config).unwrap();
    let started = Instant::now();
    match log.partition_count("clicks") {
        Err(LogError::Unreachable { brokers, .. }) => assert_eq!(brokers, "127.0.0.1:1"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the request timeout");
}

/// Reads `count` records of `consumer`, waiting up to 30 s.
fn read_records(consumer: &mut dyn LogConsumer, count: usize) -> Vec<Record> {
    let mut read = Vec::new();
    let started = Instant::now();
    while read.len() < count && started.elapsed() < Duration::from_secs(30) {
        consumer.poll(100, Duration::from_millis(200), &mut read).unwrap_or(0);
    }
    read
}

/// A group consumer reads headers as sent; a worker's shared group skips
/// them (its filter threads match the payload alone, see `HeaderCopy`) and
/// lends the payloads.
#[test]
fn headers_are_read_back_as_sent_and_a_record_without_them_has_none() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("kafka-headers");
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    log.create_topic(&topic, 1).unwrap();
    let producer = log.producer().unwrap();
    let sent = [
        Header { name: "ct.filter", value: b"4711" },
        Header { name: "empty", value: b"" },
        Header { name: "ct.filter", value: b"again" },
    ];
    let with = Message {
        key: b"k",
        payload: b"with",
        partition: Some(PartitionId(0)),
        timestamp_ms: now_ms(),
        headers: &sent,
    };
    producer.send(&topic, with).unwrap();
    producer.send(&topic, Message { payload: b"without", headers: &[], ..with }).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    let read = read_records(&mut *log.group_consumer(&unique("group"), &topic).unwrap(), 2);
    let shared = log.shared_group(&unique("group"), &crate::log::RawTopics::one(&topic), 1);
    let read_by_worker = read_records(&mut *shared.consumer(0).unwrap(), 2);
    // The worker's records read their payloads in place, and outlive the
    // consumer and the group that read them (`LentPayload`).
    drop(shared);
    let _ = log.delete_topic(&topic);
    assert_eq!(read.len(), 2, "records read");
    assert_eq!(read[0].payload, b"with");
    assert_eq!(read[0].headers, Headers::from_sent(&sent));
    assert_eq!(read[0].headers.get("ct.filter"), Some(&b"again"[..]));
    assert_eq!(read[1].payload, b"without");
    assert!(read[1].headers.is_empty());
    let payloads: Vec<&[u8]> = read_by_worker.iter().map(|record| &record.payload[..]).collect();
    assert_eq!(payloads, [&b"with"[..], &b"without"[..]], "records read by a worker's member");
    assert!(read_by_worker.iter().all(|record| record.headers.is_empty()), "a worker's member skips headers");
    assert!(read_by_worker.iter().all(|record| record.payload.is_lent()), "a worker's member lends payloads");
    assert!(!read.iter().any(|record| record.payload.is_lent()), "a group consumer copies them");
}

/// A member whose partitions a newcomer asked for, dropped before it served
/// that rebalance (a filter thread leaving after a failed flush, or
/// stopping): dropping it hung forever, because rdkafka's close served the
/// queued rebalance event after the group had terminated.
#[test]
fn a_member_dropped_with_a_rebalance_pending_closes() {
    let Some(brokers) = brokers() else { return };
    let (log, topic) = numbered_records(&brokers, "kafka-pending-rebalance", 4_000);

    let group = unique("group");
    let mut first = log.group_consumer(&group, &topic).unwrap();
    let mut read = Vec::new();
    let started = Instant::now();
    while read.len() < 1_000 && started.elapsed() < Duration::from_secs(30) {
        first.poll(100, Duration::from_millis(100), &mut read).unwrap();
    }
    first.commit().unwrap();
    // Only the newcomer polls: the group rebalances, and the first
    // member's part of it waits in its queue.
    let mut second = log.group_consumer(&group, &topic).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1_500) {
        second.poll(100, Duration::from_millis(20), &mut read).unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));

    let (dropped, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(second);
        drop(first);
        let _ = dropped.send(());
    });
    assert!(done.recv_timeout(Duration::from_secs(30)).is_ok(), "dropping the two members hung");
    log.delete_topic(&topic).unwrap();
}

/// A worker process joins its group once (`group.rs`): its threads share
/// one member, each reading the partitions handed to it (the first thread
/// through the member, the others through fetchers of their own,
/// `fetcher.rs`). A thread whose consumer is dropped with records read but
/// not committed (its matches were not acknowledged) must read them again
/// from the first of them, while the other thread reads on with no
/// rebalance.
#[test]
fn threads_sharing_a_member_split_its_partitions_and_a_dropped_one_reads_again_from_its_last_commit() {
    let Some(brokers) = brokers() else { return };
    for failing in [0, 1] {
        a_thread_sharing_a_member_fails_and_reads_again(&brokers, failing);
    }
}

/// Thread `failing` of two reads, commits, reads more and is dropped; its
/// next consumer reads again from its first uncommitted records.
fn a_thread_sharing_a_member_fails_and_reads_again(brokers: &str, failing: usize) {
    const RECORDS: u32 = 40_000;
    let (log, topic) = numbered_records(brokers, "kafka-shared", RECORDS);
    let shared = log.shared_group(&unique("group"), &crate::log::RawTopics::one(&topic), 2);
    let other = 1 - failing;
    let mut consumers = [shared.consumer(0).unwrap(), shared.consumer(1).unwrap()];
    assert!(shared.consumer(2).is_err(), "a third thread of a group shared by two");

    // Both threads read, two partitions each; the failing one commits a first part.
    let (mut committed, mut other_read) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while (committed.len() < 4_000 || other_read.is_empty()) && started.elapsed() < Duration::from_secs(30) {
        consumers[failing].poll(500, Duration::from_millis(20), &mut committed).unwrap();
        consumers[other].poll(500, Duration::from_millis(20), &mut other_read).unwrap();
    }
    let owned = |consumers: &[Box<dyn LogConsumer>; 2]| consumers.each_ref().map(|c| c.owned_partitions());
    assert_eq!(owned(&consumers), [Some(2), Some(2)], "partitions per thread");
    consumers[failing].commit().unwrap();
    let partitions_of = |records: &[crate::log::Record]| {
        records.iter().map(|record| record.partition.0).collect::<std::collections::BTreeSet<_>>()
    };
    let (failing_partitions, other_partitions) = (partitions_of(&committed), partitions_of(&other_read));
    assert!(failing_partitions.is_disjoint(&other_partitions), "{failing_partitions:?} and {other_partitions:?}");

    // It reads more and fails before committing: where each of its
    // partitions' uncommitted records started.
    let mut lost = Vec::new();
    let started = Instant::now();
    while lost.len() < 2_000 && started.elapsed() < Duration::from_secs(30) {
        consumers[failing].poll(500, Duration::from_millis(20), &mut lost).unwrap();
    }
    assert!(
        lost.len() >= 2_000,
        "thread {failing} read {} after its commit (its partitions drained alone?)",
        lost.len()
    );
    let mut first_uncommitted = std::collections::BTreeMap::new();
    for record in &lost {
        first_uncommitted.entry(record.partition.0).or_insert(record.offset);
    }
    consumers[failing] = shared.consumer(failing).unwrap();

    // Its next consumer reads each partition again from there; the other
    // thread reads on, every record once.
    let mut again = Vec::new();
    let started = Instant::now();
    let total = |again: &Vec<_>, other_read: &Vec<_>| committed.len() + again.len() + other_read.len();
    while total(&again, &other_read) < RECORDS as usize && started.elapsed() < Duration::from_secs(60) {
        consumers[failing].poll(2_000, Duration::from_millis(20), &mut again).unwrap();
        consumers[other].poll(2_000, Duration::from_millis(20), &mut other_read).unwrap();
    }
    for (partition, first) in &first_uncommitted {
        let read_again = again.iter().find(|record| record.partition.0 == *partition).map(|record| record.offset);
        assert_eq!(read_again, Some(*first), "thread {failing}: partition {partition} read again from");
    }
    let mut seen = vec![0u32; RECORDS as usize];
    for record in committed.iter().chain(&again).chain(&other_read) {
        seen[number(record) as usize] += 1;
    }
    let counts = |times: u32| seen.iter().filter(|&&seen| seen == times).count();
    assert_eq!((counts(0), counts(2)), (0, 0), "thread {failing}: records missed, read twice");
    assert_eq!(owned(&consumers), [Some(2), Some(2)], "no rebalance");
    drop((consumers, shared));
    log.delete_topic(&topic).unwrap();
}

/// An assignment positions the partitions itself (`position_at_assignment`):
/// the ones its group never committed at their first record, the others
/// at their commit. A worker restarted after committing part of its topic
/// reads those partitions on from the commit and the others from their
/// first record.
#[test]
fn a_member_reads_committed_partitions_on_from_the_commit_and_the_others_from_their_first_record() {
    let Some(brokers) = brokers() else { return };
    let (log, topic) = topic_of_four(&brokers, "kafka-start");
    let producer = log.producer().unwrap();
    let send = |partitions: std::ops::Range<u32>, label: &str| {
        for partition in partitions {
            for n in 0..50 {
                send_to(producer.as_ref(), &topic, partition, &format!("{label} {partition} {n}"));
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    };
    let group = unique("group");
    let topics = crate::log::RawTopics::one(&topic);

    // The first worker reads and commits partitions 0 and 1, all there is.
    send(0..2, "before");
    {
        let shared = log.shared_group(&group, &topics, 1);
        let mut consumer = shared.consumer(0).unwrap();
        assert_eq!(read_records(consumer.as_mut(), 100).len(), 100, "records before the commit");
        consumer.commit().unwrap();
    }

    // The next one: partitions 2 and 3 from their first record, 0 and 1
    // after the commit.
    send(2..4, "before");
    send(0..4, "after");
    let shared = log.shared_group(&group, &topics, 1);
    let mut consumer = shared.consumer(0).unwrap();
    let mut read = read_records(consumer.as_mut(), 300);
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet_until {
        consumer.poll(100, Duration::from_millis(50), &mut read).unwrap();
    }
    let mut labels: Vec<String> = read
        .iter()
        .map(|record| {
            let text = std::str::from_utf8(&record.payload).unwrap();
            text.rsplit_once(' ').unwrap().0.to_owned()
        })
        .collect();
    labels.dedup();
    let expected = ["after 0", "after 1", "before 2", "after 2", "before 3", "after 3"];
    let mut sorted = labels.clone();
    sorted.sort_by_key(|label| expected.iter().position(|known| known == label));
    assert_eq!((read.len(), sorted.as_slice()), (300, expected.map(String::from).as_slice()), "read {labels:?}");
    drop((consumer, shared));
    log.delete_topic(&topic).unwrap();
}
