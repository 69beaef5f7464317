//! Time travel's target of issue 12, on the real services: 5 minutes of
//! history at 20,000 events/s (6,000,000 raw events on 4 partitions) with
//! one `user.id` filter answered (`history_done` on the filtered topic) in
//! ≤ 5 s; events scanned per second per core, against the worker's live
//! drain rate on the same topic in the same run.
//!
//! Run through `perf/time-travel/run.sh` (under the bench lock), which
//! writes `perf/results/time-travel.md`. Sizes: `BENCH_EVENTS` (6,000,000),
//! `BENCH_SPAN_S` (300: the timestamps cover this many seconds up to now),
//! `BENCH_THREADS` (0: one filter thread per core), `BENCH_SUBSCRIPTIONS`
//! (3 backfills in turn, each for another user).
//!
//! `BENCH_SCAN_THREADS` (0: the worker's default, one scan thread per core).
//!
//! Per core: CPU time is read per thread from /proc (user + system ticks):
//! the live drain's filter threads (`clicktail-filt*`) against the backfill
//! runner and its scan threads (`clicktail-back*`, sampled every 20 ms
//! while the job runs since the scan threads end with it), each without
//! librdkafka's own threads (`rdk:*`), which are reported apart with the
//! process total (`/proc/self/stat`: ended threads included).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, Record};
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{BackfillRequest, NewFilter, Registry};
use clicktail_engine::worker::filtered_record::{decode_message, FilteredMessage};
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerStats};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TICKS_PER_S: f64 = 100.0;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{nanos}")
}

/// The worker benchmark's synthetic event (~150 bytes), 100,000 users.
fn event(n: usize) -> String {
    const TYPES: [&str; 4] = ["click", "search", "view", "booking"];
    format!(
        r#"{{"n":{n},"type":"{}","user":{{"id":"u-{}"}},"page":{{"url":"https://example.com/hotels/{}"}},"cart":{{"total":{}}}}}"#,
        TYPES[n % 4],
        n % 100_000,
        n % 977,
        n % 1_000
    )
}

/// CPU ticks of each of this process's threads whose name starts with
/// `prefix` ("" for all), by thread id.
fn ticks_per_thread(prefix: &str) -> HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return HashMap::new() };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1;
            if !name.starts_with(prefix) {
                return None;
            }
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((task.file_name().to_string_lossy().into_owned(), ticks))
        })
        .collect()
}

fn ticks(prefix: &str) -> u64 {
    ticks_per_thread(prefix).values().sum()
}

/// The whole process's CPU ticks, threads that have exited included.
fn process_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// The CPU of threads that may end before they can be read once more (a
/// job's scan threads and their consumers' librdkafka threads): sampled
/// while the job runs, the last sample of each thread kept. A thread's
/// ticks after its last sample (at most one sampling interval) are missed.
#[derive(Default)]
struct ThreadCpu {
    /// Per thread id: ticks at its first sample and at its last.
    seen: HashMap<String, (u64, u64)>,
    prefix: &'static str,
}

impl ThreadCpu {
    fn start(prefix: &'static str) -> Self {
        let seen = ticks_per_thread(prefix).into_iter().map(|(tid, ticks)| (tid, (ticks, ticks))).collect();
        ThreadCpu { seen, prefix }
    }

    fn sample(&mut self) {
        for (tid, ticks) in ticks_per_thread(self.prefix) {
            // A thread first seen now started during the job: from zero.
            self.seen.entry(tid).or_insert((0, 0)).1 = ticks;
        }
    }

    fn seconds(&self) -> f64 {
        self.seen.values().map(|(first, last)| last - first).sum::<u64>() as f64 / TICKS_PER_S
    }
}

struct Cpu {
    app: u64,
    librdkafka: u64,
    process: u64,
}

fn cpu(app_prefix: &str) -> Cpu {
    Cpu { app: ticks(app_prefix), librdkafka: ticks("rdk:"), process: process_ticks() }
}

fn main() {
    let brokers = std::env::var("CLICKTAIL_KAFKA_BROKERS").expect("CLICKTAIL_KAFKA_BROKERS");
    let database = std::env::var("CLICKTAIL_DATABASE_URL").expect("CLICKTAIL_DATABASE_URL");
    let events = env_or("BENCH_EVENTS", 6_000_000);
    let span_ms = env_or("BENCH_SPAN_S", 300) as i64 * 1_000;
    let subscriptions = env_or("BENCH_SUBSCRIPTIONS", 3);
    let log = Arc::new(KafkaLog::new(KafkaConfig::new(&brokers)).unwrap());
    let (raw, filtered) = (unique("tt-raw"), unique("tt-filtered"));
    log.create_topic(&raw, 4).unwrap();
    log.create_topic(&filtered, 4).unwrap();
    let registry_config = PostgresConfig::new(&database).in_schema(&unique("tt"));
    migrate(&registry_config).unwrap();
    let registry = Arc::new(PostgresRegistry::connect(registry_config.clone()).unwrap());

    // 1. The raw topic: `events` events whose timestamps cover the last `span_ms`.
    let end_ms = now_ms();
    let start_ms = end_ms - span_ms;
    let producer = log.producer().unwrap();
    let started = Instant::now();
    for n in 0..events {
        let payload = event(n);
        let key = n.to_string();
        let timestamp_ms = start_ms + (n as i64 * span_ms) / events as i64;
        let message =
            Message { key: key.as_bytes(), payload: payload.as_bytes(), partition: None, timestamp_ms, headers: &[] };
        producer.send_or_flush_once(&raw, message, Duration::from_secs(120)).unwrap();
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    println!(
        "raw_events {events} on 4 partitions, timestamps over {} s (produced in {:.1} s)",
        span_ms / 1_000,
        started.elapsed().as_secs_f64()
    );

    // 2. The live drain of the same topic, one standing user.id filter.
    registry.insert(NewFilter::standing(r#"user.id == "u-4242""#, "bench")).unwrap();
    let mut config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(&raw),
        filtered_topic: filtered.clone(),
        group_id: unique("tt-workers"),
        threads: env_or("BENCH_THREADS", 0),
        ..WorkerConfig::default()
    };
    config.backfill.scan_threads = env_or("BENCH_SCAN_THREADS", 0);
    println!(
        "backfill_scan_threads {} (BENCH_SCAN_THREADS {}; 0 = one per core), seam_settle {} ms",
        config.backfill.scan_thread_count(),
        config.backfill.scan_threads,
        config.backfill.seam_settle.as_millis()
    );
    let threads = config.thread_count();
    let handle = spawn_workers(config, log.clone(), registry.clone()).unwrap();
    let stats = handle.stats();
    while WorkerStats::get(&stats.events_matched) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (drain_started, drain_cpu) = (Instant::now(), cpu("clicktail-filt"));
    let at_start = WorkerStats::get(&stats.events_matched);
    while WorkerStats::get(&stats.events_in) < events as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let drained = events as u64 - at_start;
    let drain_s = drain_started.elapsed().as_secs_f64();
    let after = cpu("clicktail-filt");
    let drain_app_s = (after.app - drain_cpu.app) as f64 / TICKS_PER_S;
    let drain_rdk_s = (after.librdkafka - drain_cpu.librdkafka) as f64 / TICKS_PER_S;
    let drain_process_s = (after.process - drain_cpu.process) as f64 / TICKS_PER_S;
    println!(
        "drain_events_per_s {:.0} ({drained} events in {drain_s:.2} s, {threads} filter threads)",
        drained as f64 / drain_s
    );
    println!(
        "drain_events_per_cpu_s {:.0} (filter threads: {drain_app_s:.2} s CPU; librdkafka {drain_rdk_s:.2} s; process {drain_process_s:.2} s, {:.0} events per process CPU-second)",
        drained as f64 / drain_app_s.max(0.01),
        drained as f64 / drain_process_s.max(0.01)
    );

    // 3. Backfills: each a session filter with since_ms = the first event,
    // timed from the INSERT to its history_done on the filtered topic.
    let mut reader = log.tail_consumer(&filtered).unwrap();
    let mut batch: Vec<Record> = Vec::new();
    for round in 0..subscriptions {
        let user = 1_000 + round * 7;
        let expression = format!(r#"user.id == "u-{user}""#);
        let filter = NewFilter::session(&expression, "bench-node", "bench", Duration::from_secs(600))
            .with_backfill(BackfillRequest { since_ms: Some(start_ms), matches_max: 100 });
        let (asked, before) = (Instant::now(), process_ticks());
        let (mut backfill_cpu, mut rdk_cpu) = (ThreadCpu::start("clicktail-back"), ThreadCpu::start("rdk:"));
        let id = registry.insert(filter).unwrap();
        let done = loop {
            batch.clear();
            reader.poll(10_000, Duration::from_millis(20), &mut batch).unwrap();
            backfill_cpu.sample();
            rdk_cpu.sample();
            let found = batch.iter().find_map(|record| match decode_message(&record.headers, &record.payload) {
                Ok(FilteredMessage::HistoryDone(done)) if done.filter_id == id => Some(done),
                _ => None,
            });
            if let Some(done) = found {
                break done;
            }
            assert!(asked.elapsed() < Duration::from_secs(300), "no history_done after 300 s");
        };
        let took_s = asked.elapsed().as_secs_f64();
        let app_s = backfill_cpu.seconds();
        let rdk_s = rdk_cpu.seconds();
        let process_s = (process_ticks() - before) as f64 / TICKS_PER_S;
        println!(
            "backfill_{round} {expression}: history_done after {took_s:.2} s; events_scanned {} matches {} complete {}",
            done.events_scanned, done.matches, done.complete
        );
        println!(
            "backfill_{round}_events_per_cpu_s {:.0} (runner and scan threads {app_s:.2} s CPU; librdkafka {rdk_s:.2} s; process {process_s:.2} s during the job, live threads idle, {:.0} events per process CPU-second)",
            done.events_scanned as f64 / app_s.max(0.01),
            done.events_scanned as f64 / process_s.max(0.01)
        );
        println!(
            "backfill_{round}_events_per_s {:.0} (wall, insert to history_done, seam wait included)",
            done.events_scanned as f64 / took_s
        );
    }
    handle.join().unwrap();
    for topic in [&raw, &filtered] {
        log.delete_topic(topic).unwrap_or_else(|error| eprintln!("could not delete {topic}: {error}"));
    }
}
