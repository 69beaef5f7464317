//! Per-topic worker metrics (issue 15, item 1): events in, malformed and
//! matches out carry a `topic` label, and the lag a `thread` and a `topic`
//! label. Its own test binary: it installs the process-wide recorder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::{Log, Message, PartitionId, RawTopics};
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::registry::{NewFilter, Registry};
use clicktail_engine::worker::{metrics, spawn_workers, WorkerConfig, WorkerStats};

fn send(log: &MemoryLog, topic: &str, events: &[&str]) {
    let producer = log.producer().unwrap();
    for event in events {
        let message = Message {
            key: b"k",
            payload: event.as_bytes(),
            partition: Some(PartitionId(0)),
            timestamp_ms: 1,
            headers: &[],
        };
        producer.send(topic, message).unwrap();
    }
}

/// The value of the sample `name{labels}` in the Prometheus text.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|value| value.parse().ok())
}

#[test]
fn events_malformed_and_matches_are_counted_per_source_topic() {
    let prometheus = metrics::install_recorder().unwrap();
    let log = MemoryLog::default();
    for topic in ["site.searches", "site.bookings", "filtered"] {
        log.create_topic(topic, 2).unwrap();
    }
    let registry = Arc::new(MemoryRegistry::default());
    registry.insert(NewFilter::standing(r#"kind == "hit""#, "test")).unwrap();
    let config = WorkerConfig {
        raw_topics: RawTopics::parse("^site\\..*").unwrap(),
        filtered_topic: "filtered".to_owned(),
        threads: 1,
        pin_threads: false,
        backfill: clicktail_engine::worker::BackfillConfig { threads: 0, ..Default::default() },
        ..WorkerConfig::default()
    };
    let handle = spawn_workers(config, Arc::new(log.clone()), registry).unwrap();
    send(&log, "site.searches", &[r#"{"kind":"hit"}"#, r#"{"kind":"miss"}"#, r#"{"kind":"hit""#, r#"{"kind":"hit"}"#]);
    send(&log, "site.bookings", &[r#"{"kind":"hit"}"#, r#"{"kind":"miss"}"#]);
    let started = Instant::now();
    while WorkerStats::get(&handle.stats().events_in) < 6 {
        assert!(started.elapsed() < Duration::from_secs(30), "the worker did not read the 6 events");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The lag gauges are set at most once a second.
    std::thread::sleep(Duration::from_millis(1_100));
    let started = Instant::now();
    let text = loop {
        let text = prometheus.render();
        if sample(&text, metrics::CONSUMER_LAG, r#"thread="0",topic="site.bookings""#).is_some()
            || started.elapsed() > Duration::from_secs(10)
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    handle.join().unwrap();
    let searches = r#"topic="site.searches""#;
    let bookings = r#"topic="site.bookings""#;
    assert_eq!(sample(&text, metrics::EVENTS_IN, searches), Some(4.0), "{text}");
    assert_eq!(sample(&text, metrics::EVENTS_IN, bookings), Some(2.0));
    assert_eq!(sample(&text, metrics::MALFORMED, searches), Some(1.0));
    assert_eq!(sample(&text, metrics::MALFORMED, bookings), Some(0.0));
    assert_eq!(sample(&text, metrics::MATCHES_OUT, searches), Some(2.0));
    assert_eq!(sample(&text, metrics::MATCHES_OUT, bookings), Some(1.0));
    assert_eq!(sample(&text, metrics::CONSUMER_LAG, r#"thread="0",topic="site.searches""#), Some(0.0));
    assert_eq!(sample(&text, metrics::CONSUMER_LAG, r#"thread="0",topic="site.bookings""#), Some(0.0));
}
