//! Many raw topics on real Kafka and PostgreSQL (issue 15, item 1): one
//! worker group over a list of topics and over a `^pattern`, and every
//! match names its source topic, partition and offset.
//!
//! Needs `scripts/services.sh up` and `source .cache/services/env`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, PartitionId, RawTopics};
use clicktail_engine::registry::postgres::PostgresRegistry;
use clicktail_engine::worker::{filtered_record, spawn_workers, WorkerConfig};
use common::{unique, Setup};

const DEADLINE: Duration = Duration::from_secs(60);

/// (source topic, partition, offset, event) of a raw record or a match.
type Source = (String, u32, i64, String);

/// Produces each `(partition, event)` to `topic`; returns where each landed.
fn produce(log: &KafkaLog, topic: &str, events: &[(u32, String)]) -> Vec<Source> {
    let producer = log.producer().unwrap();
    for (partition, event) in events {
        let message = Message {
            key: b"k",
            payload: event.as_bytes(),
            partition: Some(PartitionId(*partition)),
            timestamp_ms: now_ms(),
            headers: &[],
        };
        producer.send(topic, message).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    // Read them back to learn their offsets.
    let mut reader = log.group_consumer(&unique("raw-reader"), topic).unwrap();
    let mut records = Vec::new();
    common::wait_until("the raw records", DEADLINE, || {
        reader.poll(1_000, Duration::from_millis(200), &mut records).unwrap_or(0);
        records.len() >= events.len()
    });
    records
        .iter()
        .map(|r| (r.topic.to_string(), r.partition.0, r.offset, String::from_utf8(r.payload.to_vec()).unwrap()))
        .collect()
}

/// Reads the filtered topic until `expected` matches arrived (bounded);
/// returns each match's source as its headers say.
fn read_matches(setup: &Setup, expected: usize) -> BTreeSet<Source> {
    let mut consumer = setup.log.group_consumer(&unique("reader"), &setup.config.filtered_topic).unwrap();
    let mut records = Vec::new();
    common::wait_until("the matches", DEADLINE, || {
        consumer.poll(1_000, Duration::from_millis(200), &mut records).unwrap_or(0);
        records.len() >= expected
    });
    records
        .iter()
        .map(|record| {
            let decoded = filtered_record::decode(&record.headers, &record.payload).unwrap();
            let event = String::from_utf8(decoded.event.to_vec()).unwrap();
            (decoded.raw_topic.to_owned(), decoded.raw_partition.0, decoded.raw_offset, event)
        })
        .collect()
}

fn events(topic_tag: &str, count: usize) -> Vec<(u32, String)> {
    (0..count)
        .map(|n| {
            let kind = if n % 2 == 0 { "hit" } else { "miss" };
            ((n % 3) as u32, format!(r#"{{"n":{n},"from":"{topic_tag}","kind":"{kind}"}}"#))
        })
        .collect()
}

#[test]
fn one_worker_group_over_two_topics_names_each_matchs_source() {
    let Some(mut setup) = Setup::new("two_topics") else { return };
    let second = unique("raw2-two_topics");
    setup.log.create_topic(&second, 3).unwrap();
    setup.extra_topics.lock().unwrap().push(second.clone());
    setup.config.raw_topics = RawTopics::parse(&format!("{},{second}", setup.raw)).unwrap();
    setup.standing(r#"kind == "hit""#);
    let handle = setup.spawn();

    let mut sources = produce(&setup.log, &setup.raw, &events("first", 20));
    sources.extend(produce(&setup.log, &second, &events("second", 30)));
    let expected: BTreeSet<Source> = sources.into_iter().filter(|s| s.3.contains(r#""kind":"hit""#)).collect();
    assert_eq!(expected.len(), 25);
    let got = read_matches(&setup, expected.len());
    handle.join().unwrap();
    assert_eq!(got, expected, "each match carries its own source topic, partition and offset");
    assert!(got.iter().any(|s| s.0 == second) && got.iter().any(|s| s.0 == setup.raw));
}

#[test]
fn a_pattern_subscription_picks_up_a_topic_created_after_the_worker_started() {
    let Some(setup) = Setup::new("pattern") else { return };
    let prefix = unique("pat").replace('_', "-");
    let early = format!("{prefix}.early");
    let late = format!("{prefix}.late");
    setup.log.create_topic(&early, 3).unwrap();
    setup.extra_topics.lock().unwrap().extend([early.clone(), late.clone()]);
    setup.standing(r#"kind == "hit""#);
    // A short metadata refresh: how soon the pattern sees the new topic.
    let log = KafkaLog::new(KafkaConfig { metadata_refresh_ms: 500, ..KafkaConfig::new(&setup.brokers) }).unwrap();
    let config = WorkerConfig {
        raw_topics: RawTopics::parse(&format!("^{}\\..*", regex_escape(&prefix))).unwrap(),
        ..setup.config.clone()
    };
    let registry = PostgresRegistry::connect(setup.registry_config.clone()).unwrap();
    let handle = spawn_workers(config, Arc::new(log), Arc::new(registry)).unwrap();

    let early_sources = produce(&setup.log, &early, &events("early", 4));
    let first = read_matches(&setup, 2);
    let expected_early: BTreeSet<Source> = early_sources.into_iter().filter(|s| s.3.contains("hit")).collect();
    assert_eq!(first, expected_early);

    // Created while the worker runs: no restart, no configuration change.
    setup.log.create_topic(&late, 3).unwrap();
    let late_sources = produce(&setup.log, &late, &events("late", 6));
    let mut expected = expected_early;
    expected.extend(late_sources.into_iter().filter(|s| s.3.contains(r#""kind":"hit""#)));
    assert_eq!(expected.len(), 5);
    let got = read_matches(&setup, expected.len());
    handle.join().unwrap();
    assert_eq!(got, expected);
}

fn regex_escape(text: &str) -> String {
    text.chars().flat_map(|c| if c == '.' || c == '-' { vec!['\\', c] } else { vec![c] }).collect()
}
