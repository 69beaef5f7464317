//! The two worker targets of issue 3, measured on the real services:
//!
//! 1. drain: with 10,000 filters, the worker drains the raw topic at
//!    ≥ 0.8× the rate of a consumer that does nothing (same run, same topic);
//! 2. propagation: INSERT committed → live on every filter thread, p99
//!    ≤ 50 ms, with 50,000 filters and 500 changes/s.
//!
//! Run through `perf/worker/run.sh`, which writes `perf/results/`.
//! Sizes: `BENCH_EVENTS` (default 2,000,000), `BENCH_FILTERS` (10,000),
//! `BENCH_ROUNDS` (3: the drain's baseline and worker are measured this
//! many times in turn and the median ratio reported),
//! `BENCH_PROPAGATION_FILTERS` (50,000), `BENCH_CHANGES_PER_S` (500),
//! `BENCH_SECONDS` (10); `BENCH_THREADS` (0: one per core) and
//! `BENCH_BATCH_RECORDS` (2,000) set both the baseline's and the worker's;
//! `BENCH_LINGER_MS` (5, `KafkaConfig::linger_ms`) the filtered producer's.
//! `BENCH_MIX` picks the drain's events and filters: `clickstream` (the
//! default), `synthetic` or `users` (see [`DrainMix`]).
//! Each drain window also reports the CPU time per event of this process's
//! threads, of librdkafka's and of other processes (the broker), and the
//! ratio of the two sides' totals: on 2 cores shared with the broker a
//! round's rate swings with fetch stalls, its CPU per event much less.
//! Each round then times `kcat` reading the same topic (issue 16's
//! reference, when kcat is installed) against the worker's whole drain.
//! `worker_bench match-only` runs the drain mix through the matcher alone
//! (no Kafka, no PostgreSQL).
//!
//! `worker_bench budget` (issue 12): the drain with the mix's filters alone,
//! then with one `*` session filter added under its match budget
//! (`BENCH_BUDGET`, default 1,000/s, the workers' default), in turn
//! (`BENCH_ROUNDS` each). Reports each side's drain rate and CPU per event,
//! and what the `*` filter put on the filtered topic against its budget over
//! the drain (`budget_delivered_ratio`, target <= 1.05; the drain rate ratio,
//! target >= 0.95). See `perf/worker/budget.sh`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_bench::{Clickstream, ClickstreamConfig};
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::{Log, Message, Record};
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, MatcherOptions};
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{NewFilter, Registry};
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerStats};

// The allocator of the `clicktail` binary (src/main.rs), so the worker
// measured here allocates as `clicktail worker` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{nanos}")
}

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

/// The propagation benchmark's filters (unchanged since the first record
/// in perf/results/worker.md): 80% user ids, 10% URL needles (each new
/// one changes the matcher's raw-scan automaton), 10% large bookings.
fn filter(n: usize) -> String {
    match n % 10 {
        0 => format!(r#"page.url endswith "/hotels/{}""#, 1_000 + n),
        1 => format!(r#"type == "booking" and cart.total > {}"#, 990 + n % 10),
        _ => format!(r#"user.id == "u-{}""#, n * 7),
    }
}

/// The users of the `users` mix's stream: its 10,000 filters watch one in 200.
const USERS_MIX_USERS: u64 = 2_000_000;

/// The stream and the filters the drain is measured on (`BENCH_MIX`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DrainMix {
    /// The default: the bundled generator's travel-site events (~665
    /// bytes; `clicktail_bench::Clickstream`, seed 1, a million users) and
    /// 10,000 filters as admins type them (DESIGN.md: most filters are
    /// selective, most events match none): 99% single users (`u-1`,
    /// `u-98`, ... one in a hundred users watched), 0.5% hotel pages
    /// (`page.url endswith "/hotel/N"`, 50 hotels of the Zipf catalogue,
    /// the most visited among them) and 0.5% large bookings (50 filters
    /// over 10 thresholds). About 0.12 matches per event; 84% of events
    /// hold no literal a filter needs.
    Clickstream,
    /// The first sessions' mix, kept to compare with their records:
    /// 130-byte synthetic events of which a quarter are bookings, the same
    /// 99/0.5/0.5 split over 100,000 users (one in ten watched); 0.225
    /// matches per event, 40% of events parsed.
    Synthetic,
    /// Issue 16's table as written: the clickstream's events over two
    /// million users and 10,000 `user.id` filters only (one user in 200
    /// watched), so about 0.5% of events match. Beside `clickstream`, whose
    /// hotel and booking filters match the most visited pages and make 24
    /// times as many filtered records.
    Users,
}

impl DrainMix {
    fn from_env() -> Self {
        match std::env::var("BENCH_MIX").as_deref() {
            Ok("synthetic") => DrainMix::Synthetic,
            Ok("users") => DrainMix::Users,
            Ok("clickstream") | Err(_) => DrainMix::Clickstream,
            Ok(other) => panic!("BENCH_MIX={other}: expected clickstream, synthetic or users"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            DrainMix::Clickstream => "clickstream",
            DrainMix::Synthetic => "synthetic",
            DrainMix::Users => "users",
        }
    }

    fn filter(self, n: usize) -> String {
        match (self, n % 200) {
            (DrainMix::Clickstream, 0) => format!(r#"page.url endswith "/hotel/{}""#, 1 + (n / 200) * 37),
            (DrainMix::Clickstream, 1) => {
                format!(r#"type == "booking" and cart.total > {}"#, 1_000 + (n / 200) % 10 * 400)
            }
            (DrainMix::Clickstream, _) => format!(r#"user.id == "u-{}""#, 1 + n * 97 % 1_000_000),
            (DrainMix::Synthetic, 0) => format!(r#"page.url endswith "/hotels/{}""#, (n / 200) * 19 % 977),
            (DrainMix::Synthetic, 1) => format!(r#"type == "booking" and cart.total > {}"#, 990 + (n / 200) % 10),
            (DrainMix::Synthetic, _) => format!(r#"user.id == "u-{}""#, n * 7),
            (DrainMix::Users, _) => format!(r#"user.id == "u-{}""#, 1 + n * 200),
        }
    }

    /// `count` events in order (the same bytes on every run).
    fn events(self, count: usize) -> Vec<Vec<u8>> {
        match self {
            DrainMix::Synthetic => (0..count).map(|n| event(n).into_bytes()).collect(),
            DrainMix::Clickstream | DrainMix::Users => {
                let users = if self == DrainMix::Users { USERS_MIX_USERS } else { ClickstreamConfig::default().users };
                let mut stream = Clickstream::new(ClickstreamConfig { users, ..ClickstreamConfig::default() }).unwrap();
                (0..count)
                    .map(|_| {
                        let mut out = Vec::with_capacity(1_024);
                        stream.next_event(&mut out);
                        out
                    })
                    .collect()
            }
        }
    }
}

/// A new 4-partition raw topic holding `events` events of `mix`, keyed by
/// 100,000 users; returns its name and the events' bytes.
fn produce_raw(log: &KafkaLog, mix: DrainMix, events: usize) -> (String, usize) {
    let raw = unique("bench-raw");
    log.create_topic(&raw, 4).unwrap();
    let payloads = mix.events(events.min(1_000_000));
    let producer = log.producer().unwrap();
    for n in 0..events {
        let key = format!("u-{}", n % 100_000);
        let payload = &payloads[n % payloads.len()];
        let message = Message { key: key.as_bytes(), payload, partition: None, timestamp_ms: 0, headers: &[] };
        producer.send_or_flush_once(&raw, message, Duration::from_secs(60)).unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let bytes = (0..events).map(|n| payloads[n % payloads.len()].len()).sum();
    (raw, bytes)
}

/// One round: a do-nothing consumer group, then a worker, over the whole
/// topic, each from the first offset with a group of its own.
struct Round {
    baseline: Steady,
    worker: Steady,
    /// The worker's events per second from its start (group join
    /// included) to the last event matched.
    worker_whole: f64,
    worker_start: WorkerStart,
    /// `kcat` reading the same topic, when it is installed.
    kcat: Option<Kcat>,
    matches: u64,
}

/// How long after its start the worker had its first event matched, and
/// every filter thread reading (the group join: one or two rebalances).
#[derive(Clone, Copy)]
struct WorkerStart {
    first_event_ms: f64,
    every_thread_reading_ms: f64,
}

fn drain(brokers: &str) {
    let mix = DrainMix::from_env();
    let events = env_or("BENCH_EVENTS", 2_000_000);
    let filters = env_or("BENCH_FILTERS", 10_000);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let log = Arc::new(
        KafkaLog::new(KafkaConfig { linger_ms: env_or("BENCH_LINGER_MS", 5) as u32, ..KafkaConfig::new(brokers) })
            .unwrap(),
    );
    let (raw, bytes) = produce_raw(&log, mix, events);

    let defaults = WorkerConfig {
        threads: env_or("BENCH_THREADS", 0),
        batch_records_max: env_or("BENCH_BATCH_RECORDS", WorkerConfig::default().batch_records_max),
        ..WorkerConfig::default()
    };
    let results: Vec<Round> = (0..rounds)
        .map(|round| {
            let baseline = drain_doing_nothing(&log, &raw, &defaults, events);
            let (worker, worker_whole, worker_start, matches) =
                drain_with_worker(&log, &raw, &defaults, mix, filters, events);
            let kcat = drain_with_kcat(brokers, &raw, events);
            eprintln!(
                "round {round}: baseline {:.0}/s ({:.0}% busy, {} µs), worker {:.0}/s ({:.0}% busy, {} µs), ratio {:.3}",
                baseline.rate,
                baseline.busy * 100.0,
                baseline.cpu_per_event,
                worker.rate,
                worker.busy * 100.0,
                worker.cpu_per_event,
                worker.rate / baseline.rate
            );
            Round { baseline, worker, worker_whole, worker_start, kcat, matches }
        })
        .collect();
    log.delete_topic(&raw).unwrap_or_else(|error| eprintln!("could not delete {raw}: {error}"));

    let match_only = match_only_events_per_s(mix, filters, events.min(200_000));
    // One figure per round, in round order.
    let per_round = |figure: &dyn Fn(&Round) -> String| results.iter().map(figure).collect::<Vec<_>>().join(" ");
    let ratios: Vec<f64> = results.iter().map(|round| round.worker.rate / round.baseline.rate).collect();
    let cpu_ratios: Vec<f64> =
        results.iter().map(|round| round.baseline.cpu_per_event.total() / round.worker.cpu_per_event.total()).collect();
    let matches = results[0].matches;
    println!("drain_mix {}", mix.name());
    println!("drain_events {events} ({} bytes on average)", bytes / events.max(1));
    println!("drain_filters {filters}");
    println!("drain_threads {}", defaults.thread_count());
    println!("drain_matches {matches} ({:.3} per event)", matches as f64 / events as f64);
    println!("drain_rounds {rounds} (each: the do-nothing consumer, then the worker, on the same topic)");
    println!(
        "drain_baseline_events_per_s {} (steady: 10% to 90% of the events, every thread reading)",
        per_round(&|round| format!("{:.0}", round.baseline.rate))
    );
    println!("drain_worker_events_per_s {} (same)", per_round(&|round| format!("{:.0}", round.worker.rate)));
    println!(
        "drain_baseline_machine_busy_percent {} (both cores, broker included)",
        per_round(&|round| format!("{:.0}", round.baseline.busy * 100.0))
    );
    println!("drain_worker_machine_busy_percent {}", per_round(&|round| format!("{:.0}", round.worker.busy * 100.0)));
    println!(
        "drain_baseline_cpu_us_per_event {} (this process's threads / librdkafka's / other processes, the broker mostly)",
        per_round(&|round| round.baseline.cpu_per_event.to_string())
    );
    println!("drain_worker_cpu_us_per_event {} (same)", per_round(&|round| round.worker.cpu_per_event.to_string()));
    let with_median = |values: Vec<f64>| {
        let listed = values.iter().map(|value| format!("{value:.3}")).collect::<Vec<_>>().join(" ");
        format!("{listed} median {:.3}", median(values))
    };
    println!(
        "drain_cpu_ratio {} (the baseline's CPU per event over the worker's: the rate ratio if both kept the machine busy)",
        with_median(cpu_ratios)
    );
    println!("drain_ratio {} (target >= 0.8)", with_median(ratios));
    println!("drain_match_only_events_per_s {match_only:.0} (one thread, same events and filters, no Kafka)");
    println!(
        "drain_worker_whole_events_per_s {} (from the worker's start, group join included, to the last event matched)",
        per_round(&|round| format!("{:.0}", round.worker_whole))
    );
    println!(
        "drain_worker_start_ms {} (first event matched / every filter thread reading, from the worker's start)",
        per_round(&|round| format!(
            "{:.0}/{:.0}",
            round.worker_start.first_event_ms, round.worker_start.every_thread_reading_ms
        ))
    );
    if results.iter().all(|round| round.kcat.is_some()) {
        let kcat = |round: &Round| round.kcat.expect("checked above");
        println!(
            "drain_kcat_events_per_s {} (`kcat -C -o beginning -e -q -f '%s\\n' > /dev/null`, the whole process)",
            per_round(&|round| format!("{:.0}", kcat(round).rate))
        );
        println!(
            "drain_kcat_cpu_us_per_event {} (the kcat process, librdkafka's threads included)",
            per_round(&|round| format!("{:.2}", kcat(round).cpu_us_per_event))
        );
        println!(
            "drain_ratio_vs_kcat {} (the worker's whole drain over kcat's; issue 16 target >= 1.0)",
            with_median(results.iter().map(|round| round.worker_whole / kcat(round).rate).collect())
        );
        println!(
            "drain_steady_ratio_vs_kcat {} (the worker's steady rate, after the group join, over kcat's)",
            with_median(results.iter().map(|round| round.worker.rate / kcat(round).rate).collect())
        );
    } else {
        println!("drain_kcat_events_per_s none (kcat is not installed: apt-get install kcat)");
    }
}

/// One `kcat` run over a topic: its rate and CPU per event.
#[derive(Clone, Copy)]
struct Kcat {
    rate: f64,
    cpu_us_per_event: f64,
}

/// `kcat` reads the whole topic from the first offset to its end and
/// writes every value to /dev/null: the reference of issue 16 for the
/// worker's drain. `None` when kcat is not installed.
fn drain_with_kcat(brokers: &str, raw: &str, events: usize) -> Option<Kcat> {
    let ticks_before = children_ticks();
    let started = Instant::now();
    let status = std::process::Command::new("kcat")
        .args(["-C", "-b", brokers, "-t", raw, "-o", "beginning", "-e", "-q", "-f", "%s\\n"])
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(status.success(), "kcat failed: {status}");
    let ticks = children_ticks().saturating_sub(ticks_before);
    Some(Kcat { rate: events as f64 / elapsed, cpu_us_per_event: ticks as f64 * MICROS_PER_TICK / events as f64 })
}

/// CPU ticks of this process's children that ended and were waited for:
/// user + system (`cutime` and `cstime`, fields 16 and 17 of `stat`).
fn children_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat_fields(&stat).and_then(|(_, fields)| ticks_at(&fields, 13)).unwrap_or(0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The baseline: one consumer per worker thread that reads and commits,
/// nothing else, with the worker's batch size, poll timeout and commit
/// policy (once per commit interval, and when idle).
fn drain_doing_nothing(log: &KafkaLog, raw: &str, defaults: &WorkerConfig, events: usize) -> Steady {
    let threads = defaults.thread_count();
    let group = unique("bench-baseline");
    let read_total = AtomicUsize::new(0);
    let threads_reading = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut consumer = log.group_consumer(&group, raw).unwrap();
                let mut batch: Vec<Record> = Vec::new();
                let mut last_commit = Instant::now();
                let mut first = true;
                while read_total.load(Ordering::Relaxed) < events {
                    batch.clear();
                    let read =
                        consumer.poll(defaults.batch_records_max, defaults.poll_timeout, &mut batch).unwrap_or(0);
                    if read == 0 || last_commit.elapsed() >= defaults.commit_interval {
                        consumer.commit().ok();
                        last_commit = Instant::now();
                    }
                    read_total.fetch_add(read, Ordering::Relaxed);
                    if first && read > 0 {
                        first = false;
                        threads_reading.fetch_add(1, Ordering::Relaxed);
                    }
                }
                consumer.commit().ok();
            });
        }
        steady_rate(
            events,
            || threads_reading.load(Ordering::Relaxed) == threads,
            || read_total.load(Ordering::Relaxed) as u64,
        )
    })
}

/// The worker over the same topic: its steady rate and its match count.
fn drain_with_worker(
    log: &Arc<KafkaLog>,
    raw: &str,
    defaults: &WorkerConfig,
    mix: DrainMix,
    filters: usize,
    events: usize,
) -> (Steady, f64, WorkerStart, u64) {
    let filtered = unique("bench-filtered");
    log.create_topic(&filtered, 4).unwrap();
    let registry = MemoryRegistry::default();
    for n in 0..filters {
        registry.insert(NewFilter::standing(mix.filter(n), "bench")).unwrap();
    }
    let config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(raw),
        filtered_topic: filtered.clone(),
        group_id: unique("bench-workers"),
        threads: defaults.thread_count(),
        batch_records_max: defaults.batch_records_max,
        ..WorkerConfig::default()
    };
    let threads = config.threads as u64;
    let started = Instant::now();
    let handle = spawn_workers(config, log.clone(), Arc::new(registry)).unwrap();
    let stats = handle.stats();
    let first_event = wait_until(|| WorkerStats::get(&stats.events_matched) > 0);
    // Or the drain's end, should one thread read everything alone.
    let every_thread_reading = wait_until(|| {
        WorkerStats::get(&stats.threads_reading) == threads || WorkerStats::get(&stats.events_matched) >= events as u64
    });
    let start = WorkerStart {
        first_event_ms: (first_event - started).as_secs_f64() * 1e3,
        every_thread_reading_ms: (every_thread_reading - started).as_secs_f64() * 1e3,
    };
    let rate = steady_rate(
        events,
        || WorkerStats::get(&stats.threads_reading) == threads,
        || WorkerStats::get(&stats.events_matched),
    );
    while WorkerStats::get(&stats.events_matched) < events as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let whole = events as f64 / started.elapsed().as_secs_f64();
    let matches = WorkerStats::get(&stats.matches_out);
    handle.join().unwrap();
    // The filtered records of 2,000,000 events are hundreds of MB of log.
    log.delete_topic(&filtered).unwrap_or_else(|error| eprintln!("could not delete {filtered}: {error}"));
    (rate, whole, start, matches)
}

/// When `done` first held (checked every 200 µs).
fn wait_until(done: impl Fn() -> bool) -> Instant {
    while !done() {
        std::thread::sleep(Duration::from_micros(200));
    }
    Instant::now()
}

/// Events per second from the moment `progress` passes 10% of `events`
/// and every thread is `reading` to 90%: the steady rate, without the
/// group join and its rebalances at the start (0.1 s to over 1 s, during
/// which some threads wait for partitions) or the last stragglers. When
/// one thread has read half the events before the others join (a slow
/// join), the window opens anyway.
fn steady_rate(events: usize, reading: impl Fn() -> bool, progress: impl Fn() -> u64) -> Steady {
    let (low, high) = (events as u64 / 10, events as u64 * 9 / 10);
    while progress() < low || !(reading() || progress() >= events as u64 / 2) {
        std::thread::sleep(Duration::from_micros(200));
    }
    let (started, at_start, cpu_at_start) = (Instant::now(), progress(), CpuTicks::now());
    while progress() < high {
        std::thread::sleep(Duration::from_micros(200));
    }
    let read = progress() - at_start;
    let rate = read as f64 / started.elapsed().as_secs_f64();
    let cpu = CpuTicks::now();
    Steady { rate, busy: cpu.busy_since(&cpu_at_start), cpu_per_event: cpu.per_event_since(&cpu_at_start, read) }
}

/// A steady window: its rate, how busy the machine's cores were meanwhile
/// (broker included), and where that CPU time went.
#[derive(Clone, Copy)]
struct Steady {
    rate: f64,
    busy: f64,
    cpu_per_event: CpuPerEvent,
}

/// Microseconds of CPU per event read in a window, by who spent them.
/// A round that stalls on fetches drains at half the rate or less, but
/// its CPU per event rises by 15–80% only (the waiting threads
/// wake more often per event), so this says what each side costs even in
/// a noisy round.
#[derive(Clone, Copy)]
struct CpuPerEvent {
    /// This process's own threads: the baseline's consumer threads, or
    /// the worker's filter and control threads (polling, matching,
    /// queueing records).
    application: f64,
    /// librdkafka's threads in this process (`rdk:*`, and rdkafka's
    /// `producer polling` thread): fetching, decompressing, producing.
    librdkafka: f64,
    /// Every other process: the broker, mostly.
    outside: f64,
}

/// Clock ticks (`USER_HZ`, 100 a second) of CPU time so far: the
/// machine's from the first line of `/proc/stat`, this process's threads'
/// from `/proc/self/task/*/stat`.
struct CpuTicks {
    machine_total: u64,
    machine_idle: u64,
    process: u64,
    librdkafka: u64,
}

const MICROS_PER_TICK: f64 = 10_000.0;

impl CpuPerEvent {
    fn total(&self) -> f64 {
        self.application + self.librdkafka + self.outside
    }
}

impl std::fmt::Display for CpuPerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}/{:.2}/{:.2}", self.application, self.librdkafka, self.outside)
    }
}

impl CpuTicks {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> =
            stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal ...
        let machine_idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        let (mut process, mut librdkafka) = (0, 0);
        for (name, used) in thread_ticks() {
            process += used;
            if name.starts_with("rdk:") || name.starts_with("producer poll") {
                librdkafka += used;
            }
        }
        CpuTicks { machine_total: ticks.iter().take(8).sum(), machine_idle, process, librdkafka }
    }

    /// The share of the cores' time not idle since `earlier`.
    fn busy_since(&self, earlier: &CpuTicks) -> f64 {
        let total = self.machine_total.saturating_sub(earlier.machine_total).max(1);
        1.0 - self.machine_idle.saturating_sub(earlier.machine_idle) as f64 / total as f64
    }

    fn per_event_since(&self, earlier: &CpuTicks, events: u64) -> CpuPerEvent {
        let busy =
            (self.machine_total - self.machine_idle).saturating_sub(earlier.machine_total - earlier.machine_idle);
        let process = self.process.saturating_sub(earlier.process);
        let librdkafka = self.librdkafka.saturating_sub(earlier.librdkafka);
        let micros = |ticks: u64| ticks as f64 * MICROS_PER_TICK / events.max(1) as f64;
        CpuPerEvent {
            application: micros(process.saturating_sub(librdkafka)),
            librdkafka: micros(librdkafka),
            outside: micros(busy.saturating_sub(process)),
        }
    }
}

/// Each live thread of this process: its name and its user + system CPU
/// ticks (`utime` and `stime`, fields 14 and 15 of `stat`).
fn thread_ticks() -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let (name, fields) = stat_fields(&stat)?;
            Some((name.to_owned(), ticks_at(&fields, 11)?))
        })
        .collect()
}

/// A `stat` line of /proc: the name, and the fields after it. The name, in
/// parentheses, may hold spaces, so the fields are counted after its
/// closing one; the first is field 3 (the state).
fn stat_fields(stat: &str) -> Option<(&str, Vec<&str>)> {
    let (head, rest) = stat.rsplit_once(')')?;
    Some((head.split_once('(')?.1, rest.split_whitespace().collect()))
}

/// The sum of the user and system ticks at `user` and `user + 1` of `fields`.
fn ticks_at(fields: &[&str], user: usize) -> Option<u64> {
    Some(fields.get(user)?.parse::<u64>().ok()? + fields.get(user + 1)?.parse::<u64>().ok()?)
}

/// The matcher alone on one thread: how much of a core matching costs,
/// to read the drain figures against.
fn match_only_events_per_s(mix: DrainMix, filters: usize, events: usize) -> f64 {
    let mut set = FilterSet::new(MatcherOptions::default());
    for n in 0..filters {
        set.insert_source(FilterId(n as u64 + 1), &mix.filter(n)).unwrap();
    }
    let matcher = set.build();
    let payloads = mix.events(events);
    let mut scratch = MatchScratch::new(WorkerConfig::default().event_limits);
    let mut matches = Vec::new();
    let started = Instant::now();
    for payload in &payloads {
        matcher.match_event(payload, &mut scratch, &mut matches);
    }
    events as f64 / started.elapsed().as_secs_f64()
}

fn propagation(database: &str) {
    let filters = env_or("BENCH_PROPAGATION_FILTERS", 50_000);
    let per_second = env_or("BENCH_CHANGES_PER_S", 500);
    let seconds = env_or("BENCH_SECONDS", 10);
    let config = PostgresConfig::new(database).in_schema(&unique("bench"));
    migrate(&config).unwrap();
    // Bulk load through SQL (one statement per 5,000 rows); the registry's
    // own insert is one round trip per filter.
    let mut client = postgres::Client::connect(database, postgres::NoTls).unwrap();
    let schema = config.schema.clone().unwrap();
    for chunk in (0..filters).collect::<Vec<_>>().chunks(5_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|n| format!("('{}', 'standing', 'bench', NULL)", filter(*n).replace('\'', "''")))
            .collect();
        client
            .batch_execute(&format!(
                "INSERT INTO {schema}.filters (expression, kind, owner, expires) VALUES {}",
                values.join(",")
            ))
            .unwrap();
    }
    let registry = Arc::new(PostgresRegistry::connect(config.clone()).unwrap());
    let log = MemoryLog::default();
    log.create_topic("raw", 4).unwrap();
    log.create_topic("filtered", 4).unwrap();
    let worker_config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one("raw"),
        filtered_topic: "filtered".into(),
        ..WorkerConfig::default()
    };
    let handle =
        spawn_workers(worker_config, Arc::new(log), Arc::new(PostgresRegistry::connect(config).unwrap())).unwrap();
    while handle.live_filters().ids.len() < filters {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<(FilterId, Instant)>();
    let writer = {
        let registry = registry.clone();
        std::thread::spawn(move || {
            let interval = Duration::from_secs_f64(1.0 / per_second as f64);
            let started = Instant::now();
            for n in 0..per_second * seconds {
                let due = started + interval * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let id = registry
                    .insert(NewFilter::session(filter(filters + n), "bench", "bench", Duration::from_secs(600)))
                    .unwrap();
                sent_tx.send((id, Instant::now())).unwrap();
            }
        })
    };
    // A change is live once the generation that first contains it is the
    // oldest any filter thread may still match with (each thread records
    // the version it loads after every poll, busy or idle). Checked every
    // 200 µs; the latency is taken when this loop sees it, so it includes
    // up to one check interval of the benchmark's own delay.
    struct Pending {
        id: FilterId,
        committed: Instant,
        /// The first published generation containing `id`.
        generation: Option<u64>,
    }
    let mut pending: Vec<Pending> = Vec::new();
    let mut latencies_us: Vec<u64> = Vec::new();
    let mut publish_latencies_us: Vec<u64> = Vec::new();
    let mut generation = handle.live_filters().generation;
    let first_generation = generation;
    loop {
        pending.extend(sent_rx.try_iter().map(|(id, committed)| Pending { id, committed, generation: None }));
        let live = handle.live_filters();
        if live.generation != generation {
            generation = live.generation;
            for change in pending.iter_mut().filter(|change| change.generation.is_none()) {
                if live.contains(change.id) {
                    change.generation = Some(live.generation);
                    publish_latencies_us
                        .push(live.published_at.saturating_duration_since(change.committed).as_micros() as u64);
                }
            }
        }
        drop(live);
        let everywhere = handle.generation_on_every_thread();
        let now = Instant::now();
        pending.retain(|change| match change.generation {
            Some(generation) if generation <= everywhere => {
                latencies_us.push(now.saturating_duration_since(change.committed).as_micros() as u64);
                false
            }
            _ => true,
        });
        if writer.is_finished() && pending.is_empty() && latencies_us.len() == per_second * seconds {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let rebuilds = generation - first_generation;
    writer.join().unwrap();
    handle.join().unwrap();
    latencies_us.sort_unstable();
    publish_latencies_us.sort_unstable();
    let at =
        |sorted: &[u64], q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] as f64 / 1000.0;
    println!("propagation_base_filters {filters}");
    println!("propagation_changes {} at {per_second}/s", latencies_us.len());
    println!("propagation_rebuilds {rebuilds}");
    println!(
        "propagation_published_ms_p50 {:.1} p99 {:.1} (INSERT committed -> published by the control thread)",
        at(&publish_latencies_us, 0.50),
        at(&publish_latencies_us, 0.99)
    );
    println!("propagation_ms_p50 {:.1}", at(&latencies_us, 0.50));
    println!(
        "propagation_ms_p99 {:.1} (target <= 50; INSERT committed -> live on every filter thread)",
        at(&latencies_us, 0.99)
    );
    println!("propagation_ms_max {:.1}", at(&latencies_us, 1.0));
}

/// `worker_bench match-only`: the drain mix's matcher alone, no services
/// needed (`BENCH_EVENTS`, default 200,000; `BENCH_FILTERS`, 10,000). Small
/// event counts suit callgrind: divide its instruction count by the events.
fn match_only() {
    let filters = env_or("BENCH_FILTERS", 10_000);
    let events = env_or("BENCH_EVENTS", 200_000);
    let mix = DrainMix::from_env();
    let match_only = match_only_events_per_s(mix, filters, events);
    println!(
        "drain_match_only_events_per_s {match_only:.0} ({} mix, {events} events, {filters} filters, one thread)",
        mix.name()
    );
}

/// What one `budget` round measured.
struct BudgetRound {
    steady: Steady,
    /// The whole drain: first event read to last, seconds.
    drain_s: f64,
    /// The `*` filter's records on the filtered topic (0 without it).
    star_delivered: u64,
    /// The `*` filter's matches by its stats records (every one, thinned or not).
    star_matched: u64,
    /// The most `*` records whose match time fell in one whole second of the drain.
    star_max_per_second: u64,
}

/// `worker_bench budget`: the drain without, then with, a `*` session filter.
fn budget(brokers: &str) {
    let mix = DrainMix::from_env();
    let events = env_or("BENCH_EVENTS", 4_000_000);
    let filters = env_or("BENCH_FILTERS", 10_000);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let budget = env_or("BENCH_BUDGET", 1_000) as u32;
    let log = Arc::new(KafkaLog::new(KafkaConfig::new(brokers)).unwrap());
    let (raw, _) = produce_raw(&log, mix, events);
    let threads = env_or("BENCH_THREADS", 0);
    let mut without = Vec::new();
    let mut with = Vec::new();
    for round in 0..rounds {
        // In turn, so both sides see the same drift of a shared machine.
        for star in [false, true] {
            let measured = drain_with_budget(&log, &raw, mix, filters, events, threads, star.then_some(budget));
            eprintln!(
                "round {round} {}: {:.0}/s, {} µs/event, drain {:.2} s, * delivered {} of {} matched, max {}/s",
                if star { "with *" } else { "without" },
                measured.steady.rate,
                measured.steady.cpu_per_event,
                measured.drain_s,
                measured.star_delivered,
                measured.star_matched,
                measured.star_max_per_second
            );
            if star {
                with.push(measured)
            } else {
                without.push(measured)
            }
        }
    }
    log.delete_topic(&raw).unwrap_or_else(|error| eprintln!("could not delete {raw}: {error}"));
    let figures = |side: &[BudgetRound], figure: &dyn Fn(&BudgetRound) -> String| {
        side.iter().map(figure).collect::<Vec<_>>().join(" ")
    };
    let rates = |side: &[BudgetRound]| median(side.iter().map(|r| r.steady.rate).collect());
    let cpu = |side: &[BudgetRound]| median(side.iter().map(|r| r.steady.cpu_per_event.total()).collect());
    println!("budget_mix {} ({filters} filters of the drain mix on both sides)", mix.name());
    println!("budget_events {events}");
    println!("budget_star_rate_max_per_s {budget}");
    println!("budget_rounds {rounds} (each: the worker without `*`, then with it, on the same topic)");
    println!(
        "budget_without_events_per_s {} (steady: 10% to 90% of the events)",
        figures(&without, &|r| format!("{:.0}", r.steady.rate))
    );
    println!("budget_with_events_per_s {}", figures(&with, &|r| format!("{:.0}", r.steady.rate)));
    println!(
        "budget_without_cpu_us_per_event {} (this process / librdkafka / other processes)",
        figures(&without, &|r| r.steady.cpu_per_event.to_string())
    );
    println!("budget_with_cpu_us_per_event {}", figures(&with, &|r| r.steady.cpu_per_event.to_string()));
    println!(
        "budget_drain_rate_ratio {:.3} (median with / median without; target >= 0.95)",
        rates(&with) / rates(&without)
    );
    println!("budget_cpu_ratio {:.3} (median CPU per event without / with)", cpu(&without) / cpu(&with));
    println!(
        "budget_drain_s {} (first event read to last, with `*`)",
        figures(&with, &|r| format!("{:.2}", r.drain_s))
    );
    println!(
        "budget_star_matched {} (by its stats records; every event matches `*`)",
        figures(&with, &|r| r.star_matched.to_string())
    );
    println!(
        "budget_star_delivered {} (its records on the filtered topic)",
        figures(&with, &|r| r.star_delivered.to_string())
    );
    let ratios: Vec<f64> = with.iter().map(|r| r.star_delivered as f64 / (f64::from(budget) * r.drain_s)).collect();
    println!(
        "budget_delivered_ratio {} max {:.3} (delivered / (budget x drain seconds); target <= 1.05)",
        ratios.iter().map(|ratio| format!("{ratio:.3}")).collect::<Vec<_>>().join(" "),
        ratios.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "budget_star_max_per_second {} (most records in one whole second of the drain, by match time)",
        figures(&with, &|r| r.star_max_per_second.to_string())
    );
}

/// One drain of `raw` by a worker holding the mix's `filters` and, with
/// `star_budget`, a `*` session filter under that budget; then reads what
/// the `*` filter put on the filtered topic.
fn drain_with_budget(
    log: &Arc<KafkaLog>,
    raw: &str,
    mix: DrainMix,
    filters: usize,
    events: usize,
    threads: usize,
    star_budget: Option<u32>,
) -> BudgetRound {
    use clicktail_engine::worker::filtered_record::{decode_message, FilteredMessage};

    let filtered = unique("bench-filtered");
    log.create_topic(&filtered, 4).unwrap();
    let registry = MemoryRegistry::default();
    for n in 0..filters {
        registry.insert(NewFilter::standing(mix.filter(n), "bench")).unwrap();
    }
    let star = star_budget.map(|budget| {
        let star = NewFilter::session("*", "bench-node", "bench", Duration::from_secs(3_600));
        registry.insert(star.with_rate_max(budget)).unwrap()
    });
    let config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(raw),
        filtered_topic: filtered.clone(),
        group_id: unique("bench-workers"),
        threads,
        ..WorkerConfig::default()
    };
    let thread_count = config.thread_count() as u64;
    let handle = spawn_workers(config, log.clone(), Arc::new(registry)).unwrap();
    let stats = handle.stats();
    while WorkerStats::get(&stats.events_in) == 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    let drain_started = Instant::now();
    let steady = steady_rate(
        events,
        || WorkerStats::get(&stats.threads_reading) == thread_count,
        || WorkerStats::get(&stats.events_matched),
    );
    while WorkerStats::get(&stats.events_in) < events as u64 {
        std::thread::sleep(Duration::from_micros(200));
    }
    let drain_s = drain_started.elapsed().as_secs_f64();
    // Past a window, so every thread's last stats record is written.
    std::thread::sleep(Duration::from_millis(1_500));
    handle.join().unwrap();
    let (mut star_delivered, mut star_matched) = (0, 0);
    let mut per_second: std::collections::BTreeMap<i64, u64> = Default::default();
    if let Some(star) = star {
        let mut consumer = log.group_consumer(&unique("bench-reader"), &filtered).unwrap();
        let mut batch = Vec::new();
        let mut idle_since = Instant::now();
        while idle_since.elapsed() < Duration::from_secs(3) {
            batch.clear();
            if consumer.poll(10_000, Duration::from_millis(100), &mut batch).unwrap_or(0) > 0 {
                idle_since = Instant::now();
            }
            for record in &batch {
                match decode_message(&record.headers, &record.payload) {
                    Ok(FilteredMessage::Event(event)) if event.filter_id == star => {
                        star_delivered += 1;
                        *per_second.entry(event.match_timestamp_us.div_euclid(1_000_000)).or_default() += 1;
                    }
                    Ok(FilteredMessage::Stats(counts)) if counts.filter_id == star => star_matched += counts.matched,
                    _ => {}
                }
            }
        }
    }
    // Whole seconds only: the first and last are cut by the drain's ends.
    let whole = per_second.len().saturating_sub(2);
    let star_max_per_second = per_second.values().skip(1).take(whole).copied().max().unwrap_or(0);
    log.delete_topic(&filtered).unwrap_or_else(|error| eprintln!("could not delete {filtered}: {error}"));
    BudgetRound { steady, drain_s, star_delivered, star_matched, star_max_per_second }
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    if which == "match-only" {
        return match_only();
    }
    if which == "budget" {
        let brokers =
            std::env::var("CLICKTAIL_KAFKA_BROKERS").expect("CLICKTAIL_KAFKA_BROKERS (source .cache/services/env)");
        return budget(&brokers);
    }
    let brokers =
        std::env::var("CLICKTAIL_KAFKA_BROKERS").expect("CLICKTAIL_KAFKA_BROKERS (source .cache/services/env)");
    let database =
        std::env::var("CLICKTAIL_DATABASE_URL").expect("CLICKTAIL_DATABASE_URL (source .cache/services/env)");
    if which == "all" || which == "drain" {
        drain(&brokers);
    }
    if which == "all" || which == "propagation" {
        propagation(&database);
    }
}
