//! Shared set-up for the service tests: real Kafka and PostgreSQL from
//! `scripts/services.sh`, random topic names and a fresh schema per test.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::clock::now_ms;

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, PartitionId, RawTopics};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{NewFilter, Registry};
use clicktail_engine::worker::filtered_record;
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerHandle};

pub const RAW_PARTITIONS: u32 = 4;
pub const FILTERED_PARTITIONS: u32 = 3;

/// Service tests restart shared services: one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// Not every test binary that includes this module uses both.
#[allow(unused_imports)]
pub use clicktail_test_support::{services, services_script};

pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Everything one test needs, on fresh topics and a fresh schema.
pub struct Setup {
    pub log: Arc<KafkaLog>,
    pub registry: Arc<PostgresRegistry>,
    pub registry_config: PostgresConfig,
    pub brokers: String,
    pub config: WorkerConfig,
    /// The raw topic (the first of `config.raw_topics`).
    pub raw: String,
    /// More topics the test created, deleted with the others.
    pub extra_topics: Mutex<Vec<String>>,
}

/// The test's topics go with it: a broker holding hundreds of leftover
/// topics took over 120 s to restart.
impl Drop for Setup {
    fn drop(&mut self) {
        let extra = self.extra_topics.lock().map(|topics| topics.clone()).unwrap_or_default();
        let topics = self.config.raw_topics.names().iter().chain([&self.config.filtered_topic]).chain(&extra);
        for topic in topics {
            if let Err(error) = self.log.delete_topic(topic) {
                eprintln!("could not delete test topic {topic}: {error}");
            }
        }
    }
}

impl Setup {
    pub fn new(name: &str) -> Option<Setup> {
        let (brokers, database) = services()?;
        if let Ok(filter) = std::env::var("CLICKTAIL_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
        let raw = unique(&format!("raw-{name}"));
        let filtered = unique(&format!("filtered-{name}"));
        log.create_topic(&raw, RAW_PARTITIONS).unwrap();
        log.create_topic(&filtered, FILTERED_PARTITIONS).unwrap();
        let registry_config = PostgresConfig::new(&database).in_schema(&unique(&format!("t_{name}")));
        migrate(&registry_config).unwrap();
        let registry = PostgresRegistry::connect(registry_config.clone()).unwrap();
        let config = WorkerConfig {
            raw_topics: RawTopics::one(&raw),
            filtered_topic: filtered,
            group_id: unique(&format!("workers-{name}")),
            threads: 2,
            pin_threads: false,
            batch_records_max: 200,
            poll_timeout: Duration::from_millis(50),
            ..WorkerConfig::default()
        };
        Some(Setup {
            log: Arc::new(log),
            registry: Arc::new(registry),
            registry_config,
            brokers,
            config,
            raw,
            extra_topics: Mutex::new(Vec::new()),
        })
    }

    pub fn spawn(&self) -> WorkerHandle {
        let registry = PostgresRegistry::connect(self.registry_config.clone()).unwrap();
        spawn_workers(self.config.clone(), self.log.clone(), Arc::new(registry)).unwrap()
    }

    pub fn standing(&self, expression: &str) -> FilterId {
        standing_in(self.registry.as_ref(), expression)
    }

    /// Produces `events` to the raw topic (keyed by index, or to `partition`) and flushes.
    pub fn produce(&self, events: &[String], partition: Option<u32>) {
        let producer = self.log.producer().unwrap();
        for (n, event) in events.iter().enumerate() {
            let key = format!("k{n}");
            let message = Message {
                key: key.as_bytes(),
                payload: event.as_bytes(),
                partition: partition.map(PartitionId),
                timestamp_ms: now_ms(),
                headers: &[],
            };
            producer.send(&self.raw, message).unwrap();
        }
        producer.flush(Duration::from_secs(120)).unwrap();
    }

    /// Reads the filtered topic from the start until `expected` records
    /// arrived and one more second brings nothing, or `deadline` passes.
    pub fn read_filtered(&self, expected: usize, deadline: Duration) -> Vec<Filtered> {
        let mut consumer = self.log.group_consumer(&unique("reader"), &self.config.filtered_topic).unwrap();
        let started = Instant::now();
        let mut records = Vec::new();
        let mut quiet_since = Instant::now();
        while started.elapsed() < deadline {
            let read = consumer.poll(10_000, Duration::from_millis(200), &mut records).unwrap_or(0);
            if read > 0 {
                quiet_since = Instant::now();
            } else if records.len() >= expected && quiet_since.elapsed() > Duration::from_secs(1) {
                break;
            }
        }
        records
            .iter()
            .map(|record| {
                let decoded = filtered_record::decode(&record.headers, &record.payload).unwrap();
                assert_eq!(record.key.as_deref(), Some(decoded.filter_id.0.to_string().as_bytes()));
                Filtered {
                    filter_id: decoded.filter_id,
                    event: String::from_utf8(decoded.event.to_vec()).unwrap(),
                    partition: record.partition,
                }
            })
            .collect()
    }
}

/// Registers a standing filter in `registry`.
pub fn standing_in(registry: &dyn Registry, expression: &str) -> FilterId {
    registry.insert(NewFilter::standing(expression, "test")).unwrap()
}

/// One record of the filtered topic, decoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filtered {
    pub filter_id: FilterId,
    pub event: String,
    pub partition: PartitionId,
}

/// Waits (bounded) until `done`.
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts each (filter, event) pair: the test asserts none is missing and
/// reports duplicates (allowed after a crash: at-least-once).
pub fn count_pairs(records: &[Filtered]) -> BTreeMap<(FilterId, String), usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts.entry((record.filter_id, record.event.clone())).or_insert(0) += 1;
    }
    counts
}

/// `{"n":N,"type":...,"user":{"id":...}}` for n in `range`.
pub fn clickstream(range: std::ops::Range<usize>) -> Vec<String> {
    const TYPES: [&str; 3] = ["click", "search", "booking"];
    range.map(|n| format!(r#"{{"n":{n},"type":"{}","user":{{"id":"u-{}"}}}}"#, TYPES[n % 3], n % 7)).collect()
}
