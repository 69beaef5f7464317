//! `clicktail worker`: filter workers on Kafka and PostgreSQL. Every
//! setting comes from a flag or its `CLICKTAIL_*` variable; `--help`
//! prints the defaults. Stops gracefully on SIGTERM or SIGINT (each thread
//! finishes its batch, commits and leaves the group).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::RawTopics;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::worker::{self, BackfillConfig, WorkerConfig, WorkerStats};

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "CLICKTAIL_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The registry's PostgreSQL URL.
    #[arg(long, env = "CLICKTAIL_DATABASE_URL", value_name = "URL")]
    database_url: String,
    /// The schema of the registry's tables (default: the server's search_path).
    #[arg(long, env = "CLICKTAIL_DATABASE_SCHEMA", value_name = "NAME")]
    database_schema: Option<String>,
    /// The raw topics to consume, one consumer group over all of them: a
    /// comma-separated list of names and/or one `^pattern` (Kafka's
    /// subscription pattern: topics created later that match are picked
    /// up within `--metadata-refresh-ms`). Named topics must exist.
    /// Default: `clicks`.
    #[arg(long, env = "CLICKTAIL_RAW_TOPICS", value_parser = RawTopics::parse, conflicts_with = "raw_topic")]
    raw_topics: Option<RawTopics>,
    /// The same as `--raw-topics` (the one-topic spelling of earlier versions).
    #[arg(long, env = "CLICKTAIL_RAW_TOPIC", value_parser = RawTopics::parse)]
    raw_topic: Option<RawTopics>,
    /// How often the cluster's metadata is refreshed: how soon a `^pattern`
    /// of `--raw-topics` picks up a new topic.
    #[arg(long, env = "CLICKTAIL_METADATA_REFRESH_MS", default_value_t = 30_000)]
    metadata_refresh_ms: u32,
    /// The topic matches go to (partition = filter id % partitions), from
    /// every raw topic: each record names its source topic (`ct.topic`).
    #[arg(long, env = "CLICKTAIL_FILTERED_TOPIC", default_value = "clicks.filtered")]
    filtered_topic: String,
    /// Copy malformed events to this topic (default: only count them).
    #[arg(long, env = "CLICKTAIL_DEAD_LETTER_TOPIC")]
    dead_letter_topic: Option<String>,
    /// The consumer group of every worker process.
    #[arg(long, env = "CLICKTAIL_WORKER_GROUP", default_value = "clicktail-workers")]
    group: String,
    /// Filter threads; 0 = one per core.
    #[arg(long, env = "CLICKTAIL_WORKER_THREADS", default_value_t = 0)]
    threads: usize,
    /// Do not pin filter threads to cores.
    #[arg(long, env = "CLICKTAIL_WORKER_NO_PIN")]
    no_pin: bool,
    /// Records per poll: one load of the live filter set each.
    #[arg(long, env = "CLICKTAIL_WORKER_BATCH_RECORDS_MAX", default_value_t = 2_000)]
    batch_records_max: usize,
    /// How long a poll waits for the first record of a batch; also how soon
    /// an idle thread adopts a new filter set and notices a stop request.
    #[arg(long, env = "CLICKTAIL_WORKER_POLL_TIMEOUT_MS", default_value_t = 10)]
    poll_timeout_ms: u64,
    /// The longest a read batch stays uncommitted while a thread has a
    /// backlog: one flush (wait for every acknowledgement) and one commit
    /// per interval, and at once when caught up, idle or stopping. Longer
    /// means fewer stalls and more duplicates re-read after a crash; never loss.
    #[arg(long, env = "CLICKTAIL_WORKER_COMMIT_INTERVAL_MS", default_value_t = 1_000)]
    commit_interval_ms: u64,
    /// How long a flush waits for acknowledgements before the batch is re-read.
    #[arg(long, env = "CLICKTAIL_WORKER_FLUSH_TIMEOUT_MS", default_value_t = 60_000)]
    flush_timeout_ms: u64,
    /// `/healthz` fails when a thread's loop has not turned for this long.
    #[arg(long, env = "CLICKTAIL_WORKER_STALL_MAX_MS", default_value_t = 90_000)]
    stall_max_ms: u64,
    /// How often this process deletes expired filters; 0 disables the sweep.
    #[arg(long, env = "CLICKTAIL_WORKER_SWEEP_INTERVAL_MS", default_value_t = 5_000)]
    sweep_interval_ms: u64,
    /// Every session filter's match budget, matches per second across all
    /// workers: beyond it matches are thinned uniformly, and all are counted
    /// in `stats` records. 0 = unlimited. Standing filters are unlimited.
    #[arg(long, env = "CLICKTAIL_SESSION_FILTER_RATE_MAX_PER_S", default_value_t = 1_000)]
    session_filter_rate_max_per_s: u32,
    /// Time travel: backfill runner threads (each scans one job at a time,
    /// off the filter threads); 0 leaves the jobs to other workers.
    #[arg(long, env = "CLICKTAIL_BACKFILL_THREADS", default_value_t = 1)]
    backfill_threads: usize,
    /// Time travel: threads that scan one backfill job, each a share of the
    /// raw partitions; 0 means one per core (at most 8).
    #[arg(long, env = "CLICKTAIL_BACKFILL_SCAN_THREADS", default_value_t = 0)]
    backfill_scan_threads: usize,
    /// How long a claimed backfill job stays held without renewal: a worker
    /// that dies mid-scan holds its job this long before another takes it.
    #[arg(long, env = "CLICKTAIL_BACKFILL_LEASE_MS", default_value_t = 10_000)]
    backfill_lease_ms: u64,
    /// Raw events one backfill job may scan; past it, only the newest this
    /// many are scanned and `history_done` says `complete: false`.
    #[arg(long, env = "CLICKTAIL_BACKFILL_SCAN_EVENTS_MAX", default_value_t = 20_000_000)]
    backfill_scan_events_max: u64,
    /// How long one backfill job may scan; then it stops, `complete: false`.
    #[arg(long, env = "CLICKTAIL_BACKFILL_SCAN_TIME_MAX_MS", default_value_t = 30_000)]
    backfill_scan_time_max_ms: u64,
    /// How far back `history: N` without `since_ms` looks.
    #[arg(long, env = "CLICKTAIL_BACKFILL_LOOKBACK_MS", default_value_t = 300_000)]
    backfill_lookback_ms: u64,
    /// A raw partition with no traffic for this long after a claim is cut at
    /// its end offset; must exceed the time a worker takes to make a new
    /// filter live (engine/DESIGN.md, "Time travel").
    #[arg(long, env = "CLICKTAIL_BACKFILL_SEAM_SETTLE_MS", default_value_t = 200)]
    backfill_seam_settle_ms: u64,
    /// The longest wait for the live threads' seams; then every partition
    /// still without one is cut at its end offset (duplicates, never a gap).
    #[arg(long, env = "CLICKTAIL_BACKFILL_SEAM_WAIT_MAX_MS", default_value_t = 5_000)]
    backfill_seam_wait_max_ms: u64,
    /// Where to serve `/metrics` (Prometheus), `/healthz` and `/readyz`; empty to disable.
    #[arg(long, env = "CLICKTAIL_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: String,
}

impl WorkerArgs {
    fn raw_topics(&self) -> RawTopics {
        self.raw_topics.clone().or_else(|| self.raw_topic.clone()).unwrap_or_else(|| RawTopics::one("clicks"))
    }

    fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            raw_topics: self.raw_topics(),
            filtered_topic: self.filtered_topic.clone(),
            dead_letter_topic: self.dead_letter_topic.clone(),
            group_id: self.group.clone(),
            threads: self.threads,
            pin_threads: !self.no_pin,
            batch_records_max: self.batch_records_max.max(1),
            poll_timeout: Duration::from_millis(self.poll_timeout_ms),
            commit_interval: Duration::from_millis(self.commit_interval_ms),
            flush_timeout: Duration::from_millis(self.flush_timeout_ms),
            sweep_interval: (self.sweep_interval_ms > 0).then(|| Duration::from_millis(self.sweep_interval_ms)),
            stall_max: Duration::from_millis(self.stall_max_ms),
            session_filter_rate_max_per_s: self.session_filter_rate_max_per_s,
            backfill: BackfillConfig {
                threads: self.backfill_threads,
                scan_threads: self.backfill_scan_threads,
                lease: Duration::from_millis(self.backfill_lease_ms.max(300)),
                scan_events_max: self.backfill_scan_events_max,
                scan_time_max: Duration::from_millis(self.backfill_scan_time_max_ms),
                lookback: Duration::from_millis(self.backfill_lookback_ms),
                seam_settle: Duration::from_millis(self.backfill_seam_settle_ms),
                seam_wait_max: Duration::from_millis(self.backfill_seam_wait_max_ms),
                ..BackfillConfig::default()
            },
            ..WorkerConfig::default()
        }
    }
}

pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    super::process::init_tracing();
    // Caught from here on: a signal while the worker connects is held and
    // stops it once its threads run (they finish, commit and leave).
    let mut stop_signals = super::process::StopSignals::install()?;
    // Installed first: what the threads record before it would be lost.
    let metrics = if args.metrics_addr.is_empty() {
        None
    } else {
        let addr: SocketAddr = args.metrics_addr.parse().context("--metrics-addr is not host:port")?;
        Some((addr, worker::metrics::install_recorder()?))
    };
    let mut registry_config = PostgresConfig::new(&args.database_url);
    if let Some(schema) = &args.database_schema {
        registry_config = registry_config.in_schema(schema);
    }
    let registry = PostgresRegistry::connect(registry_config)?;
    let log = KafkaLog::new(KafkaConfig {
        metadata_refresh_ms: args.metadata_refresh_ms,
        ..KafkaConfig::new(&args.brokers)
    })?;
    let config = args.worker_config();
    let threads = config.thread_count();
    let handle = worker::spawn_workers(config, Arc::new(log), Arc::new(registry))?;
    if let Some((addr, prometheus)) = metrics {
        worker::metrics::serve(addr, prometheus, handle.health())?;
    }
    tracing::info!(threads, raw_topics = %args.raw_topics(), filtered_topic = %args.filtered_topic, "worker started");
    while !handle.is_stopping() {
        if stop_signals.arrived() {
            handle.stop();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("stopping: finishing batches, committing, leaving the group");
    let stats = handle.stats();
    let (events, matches) = (WorkerStats::get(&stats.events_in), WorkerStats::get(&stats.matches_out));
    handle.join()?;
    tracing::info!(events, matches, "worker stopped");
    Ok(ExitCode::SUCCESS)
}
