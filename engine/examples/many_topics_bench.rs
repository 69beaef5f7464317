//! Issue 15's drain target: the worker over the same events on 6 raw topics
//! (10,000 filters spread over them, each restricted to one topic) against
//! all of them on one topic (the same filters, unrestricted), and the
//! matching CPU per event as the topic count grows (filters unrestricted,
//! the same events split over 1, 2, 4 and 6 topics).
//!
//!   cargo build --profile dist -p clicktail-engine --example many_topics_bench
//!   flock /work/helpers/bench.lock target/dist/examples/many_topics_bench
//!
//! `BENCH_EVENTS` (default 1,000,000), `BENCH_FILTERS` (10,000),
//! `BENCH_ROUNDS` (3), `BENCH_THREADS` (0: one per core). Each case drains
//! from the first offset with a fresh consumer group; cases alternate
//! within a round so the machine's load hits them alike. Needs
//! `CLICKTAIL_KAFKA_BROKERS`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_bench::{Clickstream, ClickstreamConfig};
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, RawTopics};
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::registry::{NewFilter, Registry};
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerStats};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The drain benchmark's clickstream filter mix (`worker_bench.rs`).
fn filter(n: usize) -> String {
    match n % 200 {
        0 => format!(r#"page.url endswith "/hotel/{}""#, 1 + (n / 200) * 37),
        1 => format!(r#"type == "booking" and cart.total > {}"#, 1_000 + (n / 200) % 10 * 400),
        _ => format!(r#"user.id == "u-{}""#, 1 + n * 97 % 1_000_000),
    }
}

/// This process's user + system CPU time (`/proc/self/stat`, clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

/// `topics` new 4-partition topics holding `events` events round-robin.
fn produce(log: &KafkaLog, payloads: &[Vec<u8>], topics: usize, events: usize) -> Vec<String> {
    let names: Vec<String> = (0..topics).map(|t| unique(&format!("bench-topic{t}"))).collect();
    for name in &names {
        log.create_topic(name, 4).unwrap();
    }
    let producer = log.producer().unwrap();
    for n in 0..events {
        let key = format!("u-{}", n % 100_000);
        let payload = &payloads[n % payloads.len()];
        let message = Message { key: key.as_bytes(), payload, partition: None, timestamp_ms: 0, headers: &[] };
        producer.send_or_flush_once(&names[n % topics], message, Duration::from_secs(60)).unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    names
}

struct Drained {
    events_per_s: f64,
    cpu_us_per_event: f64,
    matches: u64,
}

/// A worker over `topics` with `filters` (each restricted to its topic
/// when `scoped`), from the first offset, until every event is committed.
fn drain(log: &Arc<KafkaLog>, topics: &[String], filters: usize, scoped: bool, events: usize) -> Drained {
    let filtered = unique("bench-filtered");
    log.create_topic(&filtered, 4).unwrap();
    let registry = MemoryRegistry::default();
    for n in 0..filters {
        let mut new = NewFilter::standing(filter(n), "bench");
        if scoped {
            new = new.with_topics(vec![topics[n % topics.len()].clone()]);
        }
        registry.insert(new).unwrap();
    }
    let config = WorkerConfig {
        raw_topics: RawTopics::parse(&topics.join(",")).unwrap(),
        filtered_topic: filtered.clone(),
        group_id: unique("bench-workers"),
        threads: env_or("BENCH_THREADS", 0),
        backfill: clicktail_engine::worker::BackfillConfig { threads: 0, ..Default::default() },
        ..WorkerConfig::default()
    };
    let handle = spawn_workers(config, log.clone(), Arc::new(registry)).unwrap();
    let stats = handle.stats();
    // From the first event matched to the last committed: the steady part
    // excludes the group join, as `worker_bench.rs` does by 10%..90%.
    while WorkerStats::get(&stats.events_matched) < (events / 10) as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (started, cpu_started) = (Instant::now(), cpu_seconds());
    let target = (events * 9 / 10) as u64;
    while WorkerStats::get(&stats.events_matched) < target {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (seconds, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu_started);
    while WorkerStats::get(&stats.events_in) < events as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let matches = WorkerStats::get(&stats.matches_out);
    handle.join().unwrap();
    log.delete_topic(&filtered).unwrap_or_else(|error| eprintln!("could not delete {filtered}: {error}"));
    let steady = (events * 8 / 10) as f64;
    Drained { events_per_s: steady / seconds, cpu_us_per_event: cpu * 1e6 / steady, matches }
}

fn main() {
    let brokers = std::env::var("CLICKTAIL_KAFKA_BROKERS").expect("CLICKTAIL_KAFKA_BROKERS");
    let events = env_or("BENCH_EVENTS", 1_000_000);
    let filters = env_or("BENCH_FILTERS", 10_000);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let log = Arc::new(KafkaLog::new(KafkaConfig::new(&brokers)).unwrap());
    let mut stream = Clickstream::new(ClickstreamConfig::default()).unwrap();
    let payloads: Vec<Vec<u8>> = (0..events.min(1_000_000))
        .map(|_| {
            let mut out = Vec::with_capacity(1_024);
            stream.next_event(&mut out);
            out
        })
        .collect();
    // (name, topics, scoped): the target's pair first, then the topic counts.
    let cases: [(&str, usize, bool); 5] = [
        ("1 topic, filters unrestricted", 1, false),
        ("6 topics, filters spread (each on one topic)", 6, true),
        ("2 topics, filters unrestricted", 2, false),
        ("4 topics, filters unrestricted", 4, false),
        ("6 topics, filters unrestricted", 6, false),
    ];
    let topics: Vec<Vec<String>> = cases.iter().map(|(_, count, _)| produce(&log, &payloads, *count, events)).collect();
    println!("many_topics events {events} filters {filters} rounds {rounds}");
    for round in 0..rounds {
        for ((name, _, scoped), names) in cases.iter().zip(&topics) {
            let drained = drain(&log, names, filters, *scoped, events);
            println!(
                "round {round} | {name} | {:.0} events/s | {:.2} µs CPU per event (whole process) | {} matches",
                drained.events_per_s, drained.cpu_us_per_event, drained.matches
            );
        }
    }
    for name in topics.iter().flatten() {
        log.delete_topic(name).unwrap_or_else(|error| eprintln!("could not delete {name}: {error}"));
    }
}
