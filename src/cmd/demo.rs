//! `clicktail demo`: everything in one process, with no Kafka and no
//! PostgreSQL: the in-memory log and registry, the filter workers, the
//! gateway and a generator playing a travel website's traffic. The same
//! engine and gateway code as production, behind the log and registry seams.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clicktail_bench::{site_topics, Clickstream, ClickstreamConfig};
use clicktail_engine::clock::now_ms;
use clicktail_engine::log::memory::{MemoryLog, MemoryLogConfig};
use clicktail_engine::log::{Log, Message, RawTopics};
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::worker::{spawn_workers, WorkerConfig};
use clicktail_gateway::{Gateway, GatewayConfig};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Generated website events per second.
    #[arg(long = "rate", env = "CLICKTAIL_DEMO_RATE", default_value_t = 200)]
    pub rate: u32,

    /// Distinct users of the generated site (`u-1` .. `u-N`); fewer users
    /// make `user.id == "u-42"` match more often.
    #[arg(long = "users", env = "CLICKTAIL_DEMO_USERS", default_value_t = 2_000)]
    pub users: u64,

    /// Partitions of each in-memory topic.
    #[arg(long = "partitions", env = "CLICKTAIL_DEMO_PARTITIONS", default_value_t = 4)]
    pub partitions: u32,

    /// Filter worker threads.
    #[arg(long = "workers", env = "CLICKTAIL_DEMO_WORKERS", default_value_t = 1)]
    pub workers: usize,

    /// Every session filter's match budget, matches per second; beyond it
    /// matches are thinned uniformly and counted (`stats` frames). 0 = unlimited.
    #[arg(long, env = "CLICKTAIL_SESSION_FILTER_RATE_MAX_PER_S", default_value_t = 1_000)]
    pub session_filter_rate_max_per_s: u32,

    /// How far back time travel reaches (`since_ms`, `history`): the
    /// in-memory raw topic keeps this many minutes of events.
    #[arg(long = "retention-minutes", env = "CLICKTAIL_DEMO_RETENTION_MINUTES", default_value_t = 10)]
    pub retention_minutes: u64,

    /// ... and at most this many events per partition, whichever bound is
    /// reached first (each event is held in memory).
    #[arg(long = "retention-events", env = "CLICKTAIL_DEMO_RETENTION_EVENTS", default_value_t = 200_000)]
    pub retention_events: usize,

    /// Generator seed (default: from the clock, so each run differs).
    #[arg(long = "seed", env = "CLICKTAIL_DEMO_SEED")]
    pub seed: Option<u64>,

    #[command(flatten)]
    pub gateway: GatewayConfig,
}

/// How often the generator wakes to produce its share of the rate.
const GENERATOR_TICK: Duration = Duration::from_millis(10);

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::process::init_tracing();
    let stop_signals = super::process::StopSignals::install()?;
    let mut gateway_config = args.gateway;
    // The demo runs on loopback for one person: no token unless one is given.
    gateway_config.no_admin_token = gateway_config.admin_token.is_none();

    // The same backfill path as on Kafka serves history from this retention.
    let memory_log = MemoryLog::new(MemoryLogConfig {
        records_per_partition_max: args.retention_events.max(1),
        retention_ms: Some(args.retention_minutes.saturating_mul(60_000)),
        ..MemoryLogConfig::default()
    });
    // The tracker's ingest topic, the site's services' topics, the matches.
    let topics = [gateway_config.raw_topic.as_str(), gateway_config.filtered_topic.as_str()];
    for topic in topics.into_iter().chain(site_topics::TOPICS) {
        memory_log.create_topic(topic, args.partitions).with_context(|| format!("creating topic {topic}"))?;
    }
    let log: Arc<dyn Log> = Arc::new(memory_log);
    let registry = Arc::new(MemoryRegistry::default());

    let worker_config = WorkerConfig {
        // Every raw topic: what `/ingest` writes and what the site's services do.
        raw_topics: RawTopics::parse(&format!("{},^site\\..*", gateway_config.raw_topic))
            .context("the raw topic's name")?,
        filtered_topic: gateway_config.filtered_topic.clone(),
        threads: args.workers.max(1),
        // Two cores shared with the gateway and the generator: no pinning.
        pin_threads: false,
        session_filter_rate_max_per_s: args.session_filter_rate_max_per_s,
        ..WorkerConfig::default()
    };
    let workers = spawn_workers(worker_config, log.clone(), registry.clone()).context("starting the workers")?;
    // Quietly: a demo rarely needs its full `connections_max`.
    let _ = super::open_files::raise_for(gateway_config.connections_max);
    let grace = gateway_config.shutdown_grace();
    let gateway = Gateway::start(gateway_config, log.clone(), registry).context("starting the gateway")?;

    let stop = Arc::new(AtomicBool::new(false));
    let generator = {
        let (stop, log) = (stop.clone(), log.clone());
        let seed = args.seed.unwrap_or_else(|| now_ms() as u64);
        let config = ClickstreamConfig {
            seed,
            users: args.users.max(1),
            start_ts_ms: now_ms() as u64,
            events_per_second: args.rate.max(1),
            ..ClickstreamConfig::default()
        };
        let rate = args.rate;
        std::thread::Builder::new()
            .name("demo-generator".into())
            .spawn(move || generate(config, rate, log.as_ref(), &stop))
            .context("starting the generator")?
    };

    println!("clicktail demo: open http://{}/", gateway.local_address());
    println!(
        "  {} events/s of a travel site on {}, users u-1..u-{}; try: type == \"booking\", or user.id == \"u-42\" on every topic",
        args.rate,
        site_topics::TOPICS.join(", "),
        args.users
    );
    let _ = std::io::stdout().flush();
    stop_signals.wait();
    // The gateway drains first (sessions told 1001, ingest answered), then
    // the generator and the workers stop (finish, commit, leave).
    gateway.shutdown(grace);
    stop.store(true, Ordering::Relaxed);
    let _ = generator.join();
    workers.join().context("stopping the workers")?;
    Ok(ExitCode::SUCCESS)
}

/// Produces `rate` events per second until `stop` to the site's topics
/// (`site_topics`: each booking also gets a payment), keyed by user id so a
/// user's events stay in order on each topic, as the tracker's ingest does.
fn generate(config: ClickstreamConfig, rate: u32, log: &dyn Log, stop: &AtomicBool) {
    let mut clickstream = match Clickstream::new(config) {
        Ok(clickstream) => clickstream,
        Err(error) => {
            tracing::error!(%error, "demo generator: bad configuration");
            return;
        }
    };
    let producer = match log.producer() {
        Ok(producer) => producer,
        Err(error) => {
            tracing::error!(%error, "demo generator: no producer");
            return;
        }
    };
    let started = Instant::now();
    let mut produced: u64 = 0;
    let mut event = Vec::with_capacity(1024);
    let mut payment = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while produced < due {
            event.clear();
            let topic = site_topics::topic_of(clickstream.next_event(&mut event));
            let key = user_key(&event).unwrap_or(b"anonymous");
            let message = Message { key, payload: &event, partition: None, timestamp_ms: now_ms(), headers: &[] };
            if let Err(error) = producer.send(topic, message) {
                tracing::warn!(%error, "demo generator: send failed");
            }
            if topic == site_topics::BOOKINGS && site_topics::payment_for(&event, &mut payment) {
                let message = Message { payload: &payment, ..message };
                if let Err(error) = producer.send(site_topics::PAYMENTS, message) {
                    tracing::warn!(%error, "demo generator: send failed");
                }
            }
            produced += 1;
        }
        let _ = producer.flush(Duration::from_secs(1));
        std::thread::sleep(GENERATOR_TICK);
    }
}

/// The `user.id` of a generated event, found without parsing (the
/// generator always writes `"user":{"id":"..."`).
fn user_key(event: &[u8]) -> Option<&[u8]> {
    const NEEDLE: &[u8] = br#""user":{"id":""#;
    let start = memchr::memmem::find(event, NEEDLE)? + NEEDLE.len();
    let length = memchr::memchr(b'"', &event[start..])?;
    Some(&event[start..start + length])
}
