use std::time::Duration;

use super::partition::PartitionLog;
use super::{MemoryLog, MemoryLogConfig};
use crate::log::{Header, Headers, Log, LogError, Message, PartitionId, Record};

const NO_WAIT: Duration = Duration::ZERO;

fn message<'a>(key: &'a [u8], payload: &'a [u8], partition: Option<u32>) -> Message<'a> {
    Message { key, payload, partition: partition.map(PartitionId), timestamp_ms: 7, headers: &[] }
}

fn payloads(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.payload.to_vec()).unwrap()).collect()
}

#[test]
fn retention_drops_the_oldest_records_and_counts_them() {
    let mut partition = PartitionLog::new(std::sync::Arc::from("t"), PartitionId(0), 2);
    for payload in [b"a", b"b", b"c"] {
        partition.append(None, payload.to_vec(), 0, Headers::default());
    }
    assert_eq!(partition.start_offset(), 1);
    assert_eq!(partition.end_offset(), 3);
    assert_eq!(partition.dropped(), 1);
    let mut out = Vec::new();
    // A reader behind the window resumes at the oldest retained record.
    assert_eq!(partition.read_from(0, 10, &mut out), 3);
    assert_eq!(payloads(&out), ["b", "c"]);
    assert_eq!(out[0].offset, 1);
}

#[test]
fn unknown_topics_are_errors_not_created() {
    let log = MemoryLog::default();
    assert!(matches!(log.group_consumer("g", "nope"), Err(LogError::UnknownTopic { .. })));
    let producer = log.producer().unwrap();
    assert!(matches!(producer.send("nope", message(b"", b"x", None)), Err(LogError::UnknownTopic { .. })));
}

#[test]
fn explicit_partitions_and_keys_place_records() {
    let log = MemoryLog::default();
    log.create_topic("t", 3).unwrap();
    let producer = log.producer().unwrap();
    producer.send("t", message(b"", b"p2", Some(2))).unwrap();
    producer.send("t", message(b"user-1", b"k1", None)).unwrap();
    producer.send("t", message(b"user-1", b"k2", None)).unwrap();
    assert!(producer.send("t", message(b"", b"bad", Some(3))).is_err());
    let mut consumer = log.group_consumer("g", "t").unwrap();
    let mut out = Vec::new();
    consumer.poll(100, NO_WAIT, &mut out).unwrap();
    assert_eq!(out.len(), 3);
    let p2 = out.iter().find(|r| r.payload == b"p2").unwrap();
    assert_eq!(p2.partition, PartitionId(2));
    let keyed: Vec<_> = out.iter().filter(|r| r.key.as_deref() == Some(b"user-1")).collect();
    assert_eq!(keyed.len(), 2);
    assert_eq!(keyed[0].partition, keyed[1].partition, "one key stays in one partition");
    assert_eq!(keyed[0].timestamp_ms, 7);
}

#[test]
fn a_group_resumes_from_its_commit_and_rereads_what_was_not_committed() {
    let log = MemoryLog::default();
    log.create_topic("t", 1).unwrap();
    let producer = log.producer().unwrap();
    for payload in ["a", "b", "c"] {
        producer.send("t", message(b"", payload.as_bytes(), None)).unwrap();
    }
    let mut out = Vec::new();
    {
        let mut consumer = log.group_consumer("g", "t").unwrap();
        consumer.poll(2, NO_WAIT, &mut out).unwrap();
        consumer.commit().unwrap();
        out.clear();
        consumer.poll(10, NO_WAIT, &mut out).unwrap();
        assert_eq!(payloads(&out), ["c"]);
        // Dropped without committing "c": a crash.
    }
    out.clear();
    let mut consumer = log.group_consumer("g", "t").unwrap();
    consumer.poll(10, NO_WAIT, &mut out).unwrap();
    assert_eq!(payloads(&out), ["c"], "uncommitted records are read again");
    // Another group starts from the earliest record.
    out.clear();
    let mut other = log.group_consumer("other", "t").unwrap();
    other.poll(10, NO_WAIT, &mut out).unwrap();
    assert_eq!(payloads(&out), ["a", "b", "c"]);
}

#[test]
fn group_members_share_partitions_and_take_over_on_leave() {
    let log = MemoryLog::default();
    log.create_topic("t", 2).unwrap();
    let producer = log.producer().unwrap();
    producer.send("t", message(b"", b"p0", Some(0))).unwrap();
    producer.send("t", message(b"", b"p1", Some(1))).unwrap();
    let mut first = log.group_consumer("g", "t").unwrap();
    let mut second = log.group_consumer("g", "t").unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    first.poll(10, NO_WAIT, &mut a).unwrap();
    second.poll(10, NO_WAIT, &mut b).unwrap();
    assert_eq!(a.len() + b.len(), 2);
    assert_eq!(a.len(), 1, "each member owns one partition");
    second.commit().unwrap();
    drop(second);
    // The first member now owns both; it re-reads its own uncommitted record
    // (it never committed) but not the one the second member committed.
    a.clear();
    first.poll(10, NO_WAIT, &mut a).unwrap();
    assert_eq!(a.len(), 1);
    assert_ne!(a[0].partition, b[0].partition);
}

#[test]
fn a_commit_after_a_rebalance_is_rejected() {
    let log = MemoryLog::default();
    log.create_topic("t", 2).unwrap();
    let mut first = log.group_consumer("g", "t").unwrap();
    let mut out = Vec::new();
    first.poll(10, NO_WAIT, &mut out).unwrap();
    let _second = log.group_consumer("g", "t").unwrap();
    assert!(first.commit().is_err());
}

#[test]
fn a_tail_consumer_starts_at_the_end_and_wakes_on_append() {
    let log = MemoryLog::new(MemoryLogConfig { records_per_partition_max: 10, ..MemoryLogConfig::default() });
    log.create_topic("t", 2).unwrap();
    let producer = log.producer().unwrap();
    producer.send("t", message(b"", b"old", Some(0))).unwrap();
    let mut tail = log.tail_consumer("t").unwrap();
    let writer = std::thread::spawn({
        let log = log.clone();
        move || {
            std::thread::sleep(Duration::from_millis(50));
            log.producer().unwrap().send("t", message(b"", b"new", Some(1))).unwrap();
        }
    });
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    tail.poll(10, Duration::from_secs(5), &mut out).unwrap();
    writer.join().unwrap();
    assert_eq!(payloads(&out), ["new"]);
    assert!(started.elapsed() < Duration::from_secs(4), "woken by the append, not the timeout");
    assert_eq!(tail.lag(), Some(0));
}

#[test]
fn headers_are_read_back_as_sent() {
    let log = MemoryLog::default();
    log.create_topic("t", 1).unwrap();
    let producer = log.producer().unwrap();
    let sent = [Header { name: "ct.filter", value: b"42" }, Header { name: "empty", value: b"" }];
    producer.send("t", Message { headers: &sent, ..message(b"k", b"with", Some(0)) }).unwrap();
    producer.send("t", message(b"k", b"without", Some(0))).unwrap();
    let mut out = Vec::new();
    log.group_consumer("g", "t").unwrap().poll(10, NO_WAIT, &mut out).unwrap();
    assert_eq!(out[0].headers, Headers::from_sent(&sent));
    assert_eq!(out[0].headers.get("ct.filter"), Some(&b"42"[..]));
    assert!(out[1].headers.is_empty());
}

#[test]
fn time_retention_drops_old_records_on_append_and_positioning_reads_what_is_left() {
    let now = crate::clock::now_ms();
    let log = MemoryLog::new(MemoryLogConfig { retention_ms: Some(60_000), ..MemoryLogConfig::default() });
    log.create_topic("t", 1).unwrap();
    let producer = log.producer().unwrap();
    for (payload, timestamp_ms) in [(&b"old"[..], now - 120_000), (b"a", now - 30_000), (b"b", now - 10_000)] {
        producer.send("t", Message { timestamp_ms, ..message(b"", payload, Some(0)) }).unwrap();
    }
    // "old" was past the retention when "a" was appended.
    assert_eq!(log.watermarks("t", PartitionId(0)).unwrap(), (1, 3));
    assert_eq!(log.offset_for_time("t", PartitionId(0), now - 20_000).unwrap(), Some(2));
    assert_eq!(log.offset_for_time("t", PartitionId(0), now - 200_000).unwrap(), Some(1));
    assert_eq!(log.offset_for_time("t", PartitionId(0), now).unwrap(), None);
    let mut consumer = log.consumer_from("t", &[(PartitionId(0), 2)]).unwrap();
    let mut out = Vec::new();
    consumer.poll(10, NO_WAIT, &mut out).unwrap();
    assert_eq!(payloads(&out), ["b"]);
    assert!(log.consumer_from("t", &[(PartitionId(1), 0)]).is_err(), "no partition 1");
}
