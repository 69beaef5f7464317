//! The worker against the real Kafka broker and PostgreSQL server of
//! `scripts/services.sh`: the six scenarios of issue 3. Random topic names
//! and a fresh schema per test. Some tests restart shared services, so
//! every test here holds [`common::serial`].
//!
//! Run: `scripts/services.sh up && source .cache/services/env &&
//! cargo test -p clicktail-engine --test services`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::Log;
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::filtered_record::filtered_partition;
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerStats};
use common::{clickstream, count_pairs, serial, wait_until, Setup, FILTERED_PARTITIONS};

const LIVE_DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn a_filter_inserted_in_postgres_reaches_a_running_worker() {
    let _serial = serial();
    let Some(setup) = Setup::new("insert") else { return };
    let handle = setup.spawn();
    wait_until("the first load", LIVE_DEADLINE, || handle.live_filters().is_loaded());
    let id = setup.standing(r#"user.id == "u-42""#);
    wait_until("the filter to be live", LIVE_DEADLINE, || handle.live_filters().contains(id));
    let event = r#"{"user":{"id":"u-42"},"type":"click"}"#.to_owned();
    setup.produce(&[r#"{"user":{"id":"u-1"}}"#.to_owned(), event.clone()], None);
    let records = setup.read_filtered(1, LIVE_DEADLINE);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((records[0].filter_id, records[0].event.as_str()), (id, event.as_str()));
    assert_eq!(records[0].partition, filtered_partition(id, FILTERED_PARTITIONS));
    handle.join().unwrap();
}

#[test]
fn a_fixture_stream_yields_exactly_the_expected_records_on_the_expected_partitions() {
    let _serial = serial();
    let Some(setup) = Setup::new("fixture") else { return };
    let booking = setup.standing(r#"type == "booking""#);
    let user = setup.standing(r#"user.id == "u-3""#);
    let late_clicks = setup.standing(r#"type == "click" and n >= 300"#);
    let nothing = setup.standing(r#"type == "refund""#);
    let events = clickstream(0..400);
    let mut expected = Vec::new();
    for (n, event) in events.iter().enumerate() {
        if n % 3 == 2 {
            expected.push((booking, event.clone()));
        }
        if n % 7 == 3 {
            expected.push((user, event.clone()));
        }
        if n % 3 == 0 && n >= 300 {
            expected.push((late_clicks, event.clone()));
        }
    }
    let handle = setup.spawn();
    setup.produce(&events, None);
    let records = setup.read_filtered(expected.len(), LIVE_DEADLINE);
    for record in &records {
        assert_eq!(record.partition, filtered_partition(record.filter_id, FILTERED_PARTITIONS), "{record:?}");
        assert_ne!(record.filter_id, nothing);
    }
    let mut seen: Vec<(FilterId, String)> = records.into_iter().map(|r| (r.filter_id, r.event)).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen.len(), expected.len(), "no duplicate and no missing record in a clean run");
    assert_eq!(seen, expected);
    handle.join().unwrap();
}

#[test]
fn after_a_postgres_restart_the_worker_has_exactly_the_current_set() {
    let _serial = serial();
    let Some(setup) = Setup::new("pgrestart") else { return };
    let kept = setup.standing("a == 1");
    let removed = setup.standing("a == 2");
    let handle = setup.spawn();
    wait_until("the initial set", LIVE_DEADLINE, || handle.live_filters().ids == [kept, removed]);
    common::services_script(&["stop-postgres"]);
    // Long enough for the watch to notice and back off.
    std::thread::sleep(Duration::from_secs(2));
    common::services_script(&["start-postgres"]);
    // Changed as soon as the server is back, while the worker may still
    // be waiting to reconnect: these NOTIFYs can be missed, the reload must not.
    let registry = PostgresRegistry::connect(setup.registry_config.clone()).unwrap();
    registry.delete(&[removed]).unwrap();
    let added = common::standing_in(&registry, "a == 3");
    let current: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(current, [kept, added]);
    wait_until("the worker to have exactly the current set", LIVE_DEADLINE, || handle.live_filters().ids == current);
    // And it keeps following changes on the new connection.
    let later = common::standing_in(&registry, "a == 4");
    wait_until("a later insert", LIVE_DEADLINE, || handle.live_filters().contains(later));
    handle.join().unwrap();
}

/// Entry point of the worker process that the SIGKILL test starts (this
/// same test binary, re-executed); without its variables it does nothing.
#[test]
fn child_worker_process() {
    let Ok(spec) = std::env::var("CLICKTAIL_TEST_CHILD_WORKER") else { return };
    let fields: Vec<&str> = spec.split('\t').collect();
    let [brokers, database, schema, raw, filtered, group] = fields[..] else { panic!("bad child spec {spec:?}") };
    let log = KafkaLog::new(KafkaConfig::new(brokers)).unwrap();
    let registry = PostgresRegistry::connect(PostgresConfig::new(database).in_schema(schema)).unwrap();
    let config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(raw),
        filtered_topic: filtered.to_owned(),
        group_id: group.to_owned(),
        threads: 2,
        pin_threads: false,
        batch_records_max: 50,
        poll_timeout: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let _handle = spawn_workers(config, Arc::new(log), Arc::new(registry)).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Checks every expected (filter, event) pair is on the filtered topic;
/// returns how many duplicates there were.
fn assert_none_missing(
    setup: &Setup,
    expected: &[(FilterId, String)],
    deadline: Duration,
    handle: &clicktail_engine::worker::WorkerHandle,
) -> usize {
    let started = Instant::now();
    loop {
        let records = setup.read_filtered(expected.len(), Duration::from_secs(10));
        let counts = count_pairs(&records);
        let missing: Vec<_> = expected.iter().filter(|pair| !counts.contains_key(pair)).collect();
        let unexpected: BTreeSet<_> = counts.keys().filter(|pair| !expected.contains(pair)).collect();
        assert!(unexpected.is_empty(), "records that match no filter: {unexpected:?}");
        if missing.is_empty() {
            return records.len() - expected.len();
        }
        assert!(
            started.elapsed() < deadline,
            "{} of {} expected matches missing, e.g. {:?}; worker stats: {:?}",
            missing.len(),
            expected.len(),
            missing.first(),
            handle.stats()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn every_event_twice(setup: &Setup, events: &[String]) -> Vec<(FilterId, String)> {
    let all = setup.standing("*");
    let bookings = setup.standing(r#"type == "booking""#);
    let mut expected: Vec<(FilterId, String)> = events.iter().map(|e| (all, e.clone())).collect();
    expected.extend(events.iter().filter(|e| e.contains("booking")).map(|e| (bookings, e.clone())));
    expected
}

#[test]
fn a_worker_killed_mid_stream_loses_nothing_once_another_takes_over() {
    let _serial = serial();
    let Some(setup) = Setup::new("sigkill") else { return };
    let events = clickstream(0..3_000);
    let expected = every_event_twice(&setup, &events);
    let (_, database) = common::services().unwrap();
    let spec = [
        setup.brokers.as_str(),
        database.as_str(),
        setup.registry_config.schema.as_deref().unwrap(),
        &setup.raw,
        &setup.config.filtered_topic,
        &setup.config.group_id,
    ]
    .join("\t");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker_process", "--nocapture", "--test-threads=1"])
        .env("CLICKTAIL_TEST_CHILD_WORKER", spec)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    setup.produce(&events[..1_500], None);
    // Mid-stream: some matches are out, the batch in flight is not committed.
    wait_until("the child worker to produce matches", LIVE_DEADLINE, || {
        !setup.read_filtered(1, Duration::from_millis(500)).is_empty()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    setup.produce(&events[1_500..], None);
    let handle = setup.spawn();
    let duplicates = assert_none_missing(&setup, &expected, Duration::from_secs(60), &handle);
    eprintln!("sigkill: {} expected matches present, {duplicates} duplicates", expected.len());
    handle.join().unwrap();
}

#[test]
fn a_broker_restart_mid_stream_loses_nothing() {
    let _serial = serial();
    let Some(setup) = Setup::new("brokerrestart") else { return };
    let events = clickstream(0..2_000);
    let expected = every_event_twice(&setup, &events);
    let handle = setup.spawn();
    setup.produce(&events[..1_000], None);
    wait_until("the worker to be mid-stream", LIVE_DEADLINE, || WorkerStats::get(&handle.stats().events_in) > 0);
    common::services_script(&["restart-kafka"]);
    setup.produce(&events[1_000..], None);
    let duplicates = assert_none_missing(&setup, &expected, Duration::from_secs(90), &handle);
    eprintln!(
        "broker restart: {} expected matches present, {duplicates} duplicates, {} produce errors",
        expected.len(),
        WorkerStats::get(&handle.stats().produce_errors)
    );
    handle.join().unwrap();
}

#[test]
fn a_malformed_event_is_counted_and_skipped_and_its_partition_keeps_flowing() {
    let _serial = serial();
    let Some(setup) = Setup::new("malformed") else { return };
    let all = setup.standing("*");
    let events: Vec<String> = vec![
        r#"{"n":1}"#.to_owned(),
        "{not json".to_owned(),
        r#"{"n":2}"#.to_owned(),
        "\u{0}\u{1}".to_owned(),
        r#"{"n":3}"#.to_owned(),
    ];
    let handle = setup.spawn();
    // All on one partition: the valid events after a malformed one must flow.
    setup.produce(&events, Some(2));
    let records = setup.read_filtered(3, LIVE_DEADLINE);
    let mut seen: Vec<(FilterId, String)> = records.into_iter().map(|r| (r.filter_id, r.event)).collect();
    seen.sort();
    let expected: Vec<(FilterId, String)> =
        [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#].iter().map(|e| (all, e.to_string())).collect();
    assert_eq!(seen, expected);
    wait_until("the malformed count", LIVE_DEADLINE, || WorkerStats::get(&handle.stats().malformed) == 2);
    assert_eq!(WorkerStats::get(&handle.stats().events_in), 5);
    handle.join().unwrap();
}

/// Issue 14: a filtered record is the event as its value and its metadata
/// as named, decimal text headers, read back through the real broker.
#[test]
fn a_filtered_record_is_the_event_with_its_metadata_in_kafka_headers() {
    let _serial = serial();
    let Some(setup) = Setup::new("headers") else { return };
    let id = setup.standing(r#"user.id == "u-42""#);
    let handle = setup.spawn();
    let event = r#"{"user":{"id":"u-42"},"type":"click","s":"caf\u00e9 é"}"#.to_owned();
    setup.produce(&[r#"{"user":{"id":"u-1"}}"#.to_owned(), event.clone()], Some(2));

    let mut raw_reader = setup.log.group_consumer(&common::unique("raw-reader"), &setup.raw).unwrap();
    let mut raw = Vec::new();
    wait_until("the raw records", LIVE_DEADLINE, || {
        raw_reader.poll(100, Duration::from_millis(200), &mut raw).unwrap_or(0);
        raw.len() >= 2
    });
    let source = raw.iter().find(|r| r.payload == event.as_bytes()).unwrap();
    let mut reader = setup.log.group_consumer(&common::unique("reader"), &setup.config.filtered_topic).unwrap();
    let mut filtered = Vec::new();
    wait_until("the filtered record", LIVE_DEADLINE, || {
        reader.poll(100, Duration::from_millis(200), &mut filtered).unwrap_or(0);
        !filtered.is_empty()
    });
    handle.join().unwrap();

    let record = &filtered[0];
    assert_eq!(record.payload, event.as_bytes(), "the value is the event, byte for byte");
    assert_eq!(record.key.as_deref(), Some(id.0.to_string().as_bytes()));
    assert_eq!(record.partition, filtered_partition(id, FILTERED_PARTITIONS));
    let text = |name: &str| String::from_utf8(record.headers.get(name).unwrap_or_default().to_vec()).unwrap();
    let names: Vec<String> = record.headers.iter().map(|(name, _)| String::from_utf8(name.to_vec()).unwrap()).collect();
    assert_eq!(
        names,
        [
            "ct.version",
            "ct.kind",
            "ct.filter",
            "ct.topic",
            "ct.partition",
            "ct.offset",
            "ct.ingest_us",
            "ct.match_us",
            "ct.history"
        ]
    );
    assert_eq!(text("ct.version"), "2");
    assert_eq!(text("ct.kind"), "event");
    assert_eq!(text("ct.filter"), id.0.to_string());
    assert_eq!(text("ct.topic"), setup.raw);
    assert_eq!(text("ct.partition"), "2");
    assert_eq!(text("ct.offset"), source.offset.to_string());
    assert_eq!(source.offset, 1, "the second record of a fresh partition");
    assert_eq!(text("ct.ingest_us"), (source.timestamp_ms * 1000).to_string());
    let match_us: i64 = text("ct.match_us").parse().unwrap();
    assert!(match_us >= source.timestamp_ms * 1000, "matched after ingest: {match_us}");
    assert_eq!(record.timestamp_ms, match_us / 1000, "the record's timestamp is the match time");
    assert_eq!(text("ct.history"), "0");
}

/// Issue 11 item 6: on a stop request (SIGTERM in `clicktail worker`) a
/// worker finishes the batch in hand, commits it and leaves the group. A
/// member that only vanished would stay listed, holding its partitions,
/// until `session.timeout.ms` (6 s) ran out; here the group must be empty
/// as soon as the worker has stopped (checked for less than a second), and
/// the offsets committed must cover exactly the events whose matches it
/// produced.
#[test]
fn a_stopped_worker_commits_what_it_read_and_leaves_the_group_at_once() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let _serial = serial();
    let Some(mut setup) = Setup::new("leave") else { return };
    // One member: no rebalance, so no event is read (and counted) twice.
    setup.config.threads = 1;
    setup.standing("*");
    let events = clickstream(0..5_000);
    setup.produce(&events, None);
    let handle = setup.spawn();
    // Mid-stream: matches are out, the backlog is not read yet.
    wait_until("the worker to produce matches", LIVE_DEADLINE, || {
        !setup.read_filtered(1, Duration::from_millis(500)).is_empty()
    });
    handle.stop();
    handle.join().unwrap();
    let stopped = Instant::now();

    let group = &setup.config.group_id;
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &setup.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut members = usize::MAX;
    while stopped.elapsed() < Duration::from_secs(1) {
        let groups = client.fetch_group_list(Some(group.as_str()), Duration::from_secs(5)).unwrap();
        members = groups.groups().iter().map(|info| info.members().len()).sum();
        if members == 0 {
            break;
        }
    }
    assert_eq!(members, 0, "members still in the group {:?} after the worker stopped", stopped.elapsed());

    let mut partitions = TopicPartitionList::new();
    for partition in 0..common::RAW_PARTITIONS as i32 {
        partitions.add_partition(&setup.raw, partition);
    }
    let committed = client.committed_offsets(partitions, Duration::from_secs(10)).unwrap();
    let committed_events: i64 = committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(next) => next,
            _ => 0,
        })
        .sum();
    assert!(committed_events > 0, "nothing committed");
    // One match per event read ("*"): every event matched before the stop
    // is committed, and nothing beyond.
    let produced = setup.read_filtered(committed_events as usize, LIVE_DEADLINE);
    assert_eq!(produced.len() as i64, committed_events, "matches produced vs offsets committed");
    eprintln!("leave: {committed_events} of {} events committed at stop", events.len());
}

/// Issue 16: a worker of two threads joined its group as two members: two
/// rebalances at start, and its second thread read up to 1.6 s after the
/// first (librdkafka lets a member join at most once a second). A worker
/// process is one member however many threads it runs, each thread reading
/// its share of the partitions, and nothing is missed.
#[test]
fn a_worker_of_two_threads_is_one_group_member_and_both_threads_read() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::ClientConfig;
    use std::sync::atomic::Ordering;

    let _serial = serial();
    let Some(setup) = Setup::new("one_member") else { return };
    assert_eq!(setup.config.threads, 2);
    let all = setup.standing("*");
    let events = clickstream(0..5_000);
    setup.produce(&events, None);
    let handle = setup.spawn();
    wait_until("both filter threads to read", LIVE_DEADLINE, || {
        handle.stats().threads_reading.load(Ordering::Relaxed) == 2
    });
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &setup.brokers)
        .set("group.id", &setup.config.group_id)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let groups = client.fetch_group_list(Some(setup.config.group_id.as_str()), Duration::from_secs(10)).unwrap();
    let members: Vec<String> =
        groups.groups().iter().flat_map(|info| info.members()).map(|member| member.client_id().to_owned()).collect();
    assert_eq!(members.len(), 1, "group members of one worker process: {members:?}");

    let expected: Vec<(FilterId, String)> = events.iter().map(|event| (all, event.clone())).collect();
    let duplicates = assert_none_missing(&setup, &expected, Duration::from_secs(60), &handle);
    eprintln!("one member: {} matches present, {duplicates} duplicates", expected.len());
    handle.stop();
    handle.join().unwrap();
}
