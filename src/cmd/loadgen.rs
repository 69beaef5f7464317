//! `clicktail loadgen`: generate load and measure the pipeline end to end.
//!
//! Thin glue: flags and `CLICKTAIL_*` variables into
//! [`clicktail_bench::loadgen::LoadgenConfig`], Ctrl-C into a stop flag, the
//! report to stdout and, with `--report`, as JSON to a file. The logic and
//! every bound live in `bench/src/loadgen/`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clicktail_bench::loadgen::{self, FilterMix, LoadgenConfig, Target};

/// Where the events go.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TargetKind {
    /// The in-memory log in this process (`--rate 0`: the generator's ceiling).
    Memory,
    /// A Kafka topic on loopback (`--brokers`, `--topic`).
    Kafka,
    /// A gateway on loopback: `/ingest` WebSockets in, `/ws` admin sessions out.
    Gateway,
}

#[derive(clap::Args)]
pub struct LoadgenArgs {
    /// Where the events go.
    #[arg(long, env = "CLICKTAIL_LOADGEN_TARGET", value_enum, default_value = "memory")]
    pub target: TargetKind,

    /// Events per second; 0 sends as fast as one thread can (memory and
    /// kafka only). At most 100,000 towards a gateway, 5,000,000 into a log.
    #[arg(long, env = "CLICKTAIL_LOADGEN_RATE", default_value_t = 2_000)]
    pub rate: u32,

    /// Seconds of sending (at most 600).
    #[arg(long = "duration-s", env = "CLICKTAIL_LOADGEN_DURATION_S", default_value_t = 10.0)]
    pub duration_s: f64,

    /// Stop after this many events, even before the duration (at most 100,000,000).
    #[arg(long, env = "CLICKTAIL_LOADGEN_COUNT")]
    pub count: Option<u64>,

    /// Generator seed.
    #[arg(long, env = "CLICKTAIL_LOADGEN_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Users `u-1..u-N` of the generated site (as `clicktail demo --users`).
    #[arg(long, env = "CLICKTAIL_LOADGEN_USERS", default_value_t = 2_000)]
    pub users: u64,

    /// Corrupted events per million (memory and kafka only).
    #[arg(long = "malformed-per-million", env = "CLICKTAIL_LOADGEN_MALFORMED_PER_MILLION", default_value_t = 0)]
    pub malformed_per_million: u32,

    /// Partitions of the in-memory topic, or of the Kafka topic if created.
    #[arg(long, env = "CLICKTAIL_LOADGEN_PARTITIONS", default_value_t = 4)]
    pub partitions: u32,

    /// Kafka bootstrap servers (loopback only).
    #[arg(long, env = "CLICKTAIL_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Kafka topic for `--target kafka`.
    #[arg(long, env = "CLICKTAIL_RAW_TOPIC", default_value = "clicks")]
    pub topic: String,

    /// Write the events over a site's topics instead of `--topic`, as a
    /// site's services would: site.pageviews, site.searches, site.bookings,
    /// and a payment per booking on site.payments in the payment service's
    /// own shape (memory and kafka targets; the topics are created).
    #[arg(long = "site-topics", env = "CLICKTAIL_LOADGEN_SITE_TOPICS", conflicts_with = "topic")]
    pub site_topics: bool,

    /// The gateway (loopback only).
    #[arg(long, env = "CLICKTAIL_LOADGEN_GATEWAY", default_value = "127.0.0.1:8080")]
    pub gateway: SocketAddr,

    /// The gateway that `/ingest` goes to, when not `--gateway` (another
    /// node, to measure delivery across nodes; loopback only).
    #[arg(long = "ingest-gateway", env = "CLICKTAIL_LOADGEN_INGEST_GATEWAY")]
    pub ingest_gateway: Option<SocketAddr>,

    /// `/ingest` WebSockets sharing the rate (at most 256).
    #[arg(long = "ingest-connections", env = "CLICKTAIL_LOADGEN_INGEST_CONNECTIONS", default_value_t = 8)]
    pub ingest_connections: usize,

    /// Events per ingest batch at most (the gateway's bound is 500).
    #[arg(long = "ingest-batch-events", env = "CLICKTAIL_LOADGEN_INGEST_BATCH_EVENTS", default_value_t = 50)]
    pub ingest_batch_events: usize,

    /// Each ingest connection sends what came due every this many ms
    /// (tracker.js uses 250; creation-to-log latency includes up to this).
    #[arg(long = "ingest-batch-ms", env = "CLICKTAIL_LOADGEN_INGEST_BATCH_MS", default_value_t = 20)]
    pub ingest_batch_ms: u64,

    /// Admin sessions on `/ws` (at most 10,000).
    #[arg(long, env = "CLICKTAIL_LOADGEN_SESSIONS", default_value_t = 100)]
    pub sessions: usize,

    /// Criteria of the sessions, `kind:weight,...` over user, type, text, all (`*`), mixed.
    #[arg(
        long = "filter-mix",
        env = "CLICKTAIL_LOADGEN_FILTER_MIX",
        default_value = "user:80,type:8,text:8,all:2,mixed:2"
    )]
    pub filter_mix: String,

    /// Sessions connect from 127.0.0.2 .. 127.0.0.(1+N) (at most 250).
    #[arg(long = "source-addresses", env = "CLICKTAIL_LOADGEN_SOURCE_ADDRESSES", default_value_t = 16)]
    pub source_addresses: u8,

    /// The gateway's admin token, if it requires one.
    #[arg(long = "admin-token", env = "CLICKTAIL_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Threads reading the admin sessions (1 to 64).
    #[arg(long = "reader-threads", env = "CLICKTAIL_LOADGEN_READER_THREADS", default_value_t = 2)]
    pub reader_threads: usize,

    /// After the last event, keep reading matches this long (at most 30,000).
    #[arg(long = "drain-ms", env = "CLICKTAIL_LOADGEN_DRAIN_MS", default_value_t = 2_000)]
    pub drain_ms: u64,

    /// Also write the report as JSON to this file.
    #[arg(long, env = "CLICKTAIL_LOADGEN_REPORT", value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    let config = config_of(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    let report = loadgen::run(&config, &stop)?;
    print!("{report}");
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json() + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("  report written to {}", path.display());
    }
    if let Some(why) = report.failure() {
        anyhow::bail!("the run failed: {why}");
    }
    Ok(ExitCode::SUCCESS)
}

fn config_of(args: &LoadgenArgs) -> anyhow::Result<LoadgenConfig> {
    anyhow::ensure!(
        args.duration_s.is_finite() && args.duration_s > 0.0 && args.duration_s <= 600.0,
        "--duration-s is {}, outside (0, 600]",
        args.duration_s
    );
    let target = match args.target {
        TargetKind::Memory => Target::Memory { partitions: args.partitions },
        TargetKind::Kafka => {
            Target::Kafka { brokers: args.brokers.clone(), topic: args.topic.clone(), partitions: args.partitions }
        }
        TargetKind::Gateway => {
            Target::Gateway { address: args.gateway, ingest: args.ingest_gateway.unwrap_or(args.gateway) }
        }
    };
    Ok(LoadgenConfig {
        target,
        rate_per_second: args.rate,
        duration: Duration::from_secs_f64(args.duration_s),
        event_count_max: args.count,
        seed: args.seed,
        users: args.users,
        malformed_per_million: args.malformed_per_million,
        site_topics: args.site_topics,
        ingest_connections: args.ingest_connections,
        ingest_batch_events_max: args.ingest_batch_events,
        ingest_batch_interval: Duration::from_millis(args.ingest_batch_ms),
        admin_sessions: args.sessions,
        filter_mix: args.filter_mix.parse::<FilterMix>()?,
        source_addresses: args.source_addresses,
        admin_token: args.admin_token.clone(),
        admin_reader_threads: args.reader_threads,
        drain: Duration::from_millis(args.drain_ms),
    })
}
