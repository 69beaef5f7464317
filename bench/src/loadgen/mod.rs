//! `clicktail loadgen`: drives clicktail with the realistic clickstream and
//! measures it.
//!
//! Three targets ([`Target`]):
//! - `memory`: the in-memory log in this process, one sending thread; run
//!   unpaced it measures the generator's own ceiling (the figure that says
//!   loadgen is never the bottleneck of a benchmark it drives);
//! - `kafka`: a loopback Kafka topic through the engine's `KafkaLog`;
//! - `gateway`: events through `/ingest` WebSockets like browsers, and N
//!   admin sessions on `/ws` with a filter mix, from many 127.0.0.x source
//!   addresses; every event carries its creation time, read back from each
//!   delivered frame for end-to-end latency.
//!
//! A run is bounded in time, count, rate and sessions ([`config`]), stays on
//! loopback, prints a progress line every second and ends with a
//! [`LoadgenReport`].
//!
//! Layout:
//! - [`config`]: [`LoadgenConfig`] and the hard bounds;
//! - [`filter_mix`]: the admin sessions' criteria;
//! - `stamp`: the creation stamp, and reading frames back;
//! - `pacer`: the open-loop schedule;
//! - `log_sink`: memory and Kafka targets;
//! - `connect`: WebSockets from chosen source addresses;
//! - `ingest`: browser-like `/ingest` connections;
//! - `admin`: admin sessions and their reader threads;
//! - `stats`: live counters and HdrHistograms;
//! - `gateway_metrics`: the gateway's `/metrics`, before and after;
//! - `progress`: the line on stderr; [`report`]: the table and the JSON.

mod admin;
pub mod config;
mod connect;
pub mod filter_mix;
mod gateway_metrics;
mod ingest;
mod log_sink;
mod pacer;
mod progress;
pub mod report;
mod stamp;
mod stats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[cfg(feature = "kafka")]
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::LogError;

pub use config::{LoadgenConfig, Target};
pub use filter_mix::FilterMix;
pub use report::LoadgenReport;

use crate::site_topics;
use admin::{run_admin_reader, ReaderPlan};
use filter_mix::CriterionDrawer;
use ingest::{run_ingest_connection, IngestPlan};
use report::{GatewayComparison, LatencyReport, ReportSettings};
use stats::{LatencyHistograms, LiveCounters};

/// The bound on connecting and subscribing every admin session.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
/// The in-memory topic of the memory target.
const MEMORY_TOPIC: &str = "loadgen";

/// Why a run could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("{setting} is {value}, outside {bound}")]
    OutOfRange { setting: &'static str, value: String, bound: String },
    #[error("{address} is not a loopback address: loadgen only drives this machine")]
    NotLoopback { address: String },
    #[error("filter mix {mix:?}: {reason}")]
    FilterMix { mix: String, reason: String },
    #[error("generator configuration: {0}")]
    Generator(#[from] crate::ConfigError),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error(
        "this clicktail was built without Kafka (cargo feature `kafka`, on by default): \
         rebuild it without --no-default-features to use --target kafka"
    )]
    KafkaLeftOut,
    #[error("connecting from {source_address} to {gateway} ({stage}): {reason}")]
    Connect { source_address: std::net::Ipv4Addr, gateway: SocketAddr, stage: &'static str, reason: String },
    #[error("websocket: {0}")]
    WebSocket(String),
    #[error("the gateway refused the subscription: {message}")]
    SubscribeRefused { message: String },
    #[error("the gateway closed the connection: {reason:?}")]
    ClosedByGateway { reason: String },
    #[error("scraping http://{gateway}/metrics: {reason}")]
    Metrics { gateway: SocketAddr, reason: String },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("admin sessions were not all set up within {timeout_s} s ({done} of {wanted})")]
    SetupTimeout { timeout_s: u64, done: usize, wanted: usize },
    #[error("a loadgen thread panicked: {0}")]
    ThreadPanicked(&'static str),
}

impl From<tungstenite::Error> for LoadgenError {
    fn from(error: tungstenite::Error) -> Self {
        LoadgenError::WebSocket(error.to_string())
    }
}

/// Runs `config` to its end (or until `stop` is set) and reports.
pub fn run(config: &LoadgenConfig, stop: &AtomicBool) -> Result<LoadgenReport, LoadgenError> {
    config.validate()?;
    let mut report = LoadgenReport {
        started_unix_s: stamp::now_us() / 1_000_000,
        machine_cpus: std::thread::available_parallelism().map_or(1, usize::from),
        settings: settings_of(config),
        ..LoadgenReport::default()
    };
    let counters = LiveCounters::default();
    match &config.target {
        Target::Memory { partitions } => {
            report.target = format!("memory ({partitions} partitions, one sending thread)");
            let log = MemoryLog::default();
            create_topics(config, MEMORY_TOPIC, |topic| log.create_topic(topic, *partitions))?;
            let outcome =
                with_progress(&counters, || log_sink::run_into_log(config, &log, MEMORY_TOPIC, &counters, stop))?;
            fill_log_outcome(&mut report, &outcome);
        }
        #[cfg(feature = "kafka")]
        Target::Kafka { brokers, topic, partitions } => {
            report.target = if config.site_topics {
                format!("kafka {brokers} topics {}", site_topics::TOPICS.join(","))
            } else {
                format!("kafka {brokers} topic {topic}")
            };
            let log = KafkaLog::new(KafkaConfig::new(brokers))?;
            create_topics(config, topic, |topic| log.create_topic(topic, *partitions))?;
            let outcome = with_progress(&counters, || log_sink::run_into_log(config, &log, topic, &counters, stop))?;
            fill_log_outcome(&mut report, &outcome);
        }
        #[cfg(not(feature = "kafka"))]
        Target::Kafka { .. } => return Err(LoadgenError::KafkaLeftOut),
        Target::Gateway { address, ingest } => {
            report.target = if address == ingest {
                format!("gateway {address}")
            } else {
                format!("gateway {address} (admin), {ingest} (ingest)")
            };
            run_gateway(config, *address, *ingest, &counters, stop, &mut report)?;
        }
    }
    report.counters = counters.snapshot();
    Ok(report)
}

fn settings_of(config: &LoadgenConfig) -> ReportSettings {
    let gateway = matches!(config.target, Target::Gateway { .. });
    ReportSettings {
        rate_per_second: config.rate_per_second,
        duration_s: config.duration.as_secs_f64(),
        event_count_max: config.event_count_max,
        users: config.users,
        admin_sessions: if gateway { config.admin_sessions } else { 0 },
        ingest_connections: if gateway { config.ingest_connections } else { 0 },
        ingest_batch_interval_ms: config.ingest_batch_interval.as_millis() as u64,
        filter_mix: format!("{:?}", config.filter_mix),
        source_addresses: config.source_addresses,
    }
}

/// The topics a log run writes: `topic`, or the site's (`--site-topics`).
fn create_topics(
    config: &LoadgenConfig,
    topic: &str,
    create: impl Fn(&str) -> Result<(), LogError>,
) -> Result<(), LogError> {
    if config.site_topics {
        site_topics::TOPICS.iter().try_for_each(|site_topic| create(site_topic))
    } else {
        create(topic)
    }
}

fn fill_log_outcome(report: &mut LoadgenReport, outcome: &log_sink::LogRunOutcome) {
    let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
    report.sending_s = seconds;
    report.events_per_second_in = outcome.events_sent as f64 / seconds;
    report.bytes_per_second_in = outcome.bytes_sent as f64 / seconds;
}

/// Runs `work` with the progress line printing beside it.
fn with_progress<T>(counters: &LiveCounters, work: impl FnOnce() -> T) -> T {
    let progress_stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| progress::print_progress_until(counters, started, &progress_stop));
        let result = work();
        progress_stop.store(true, Relaxed);
        result
    })
}

/// The gateway target: admin sessions first (so no match is missed), then
/// ingest at the set rate, then a drain, then the gateway's `/metrics`.
fn run_gateway(
    config: &LoadgenConfig,
    gateway: SocketAddr,
    ingest_gateway: SocketAddr,
    counters: &LiveCounters,
    stop: &AtomicBool,
    report: &mut LoadgenReport,
) -> Result<(), LoadgenError> {
    let metrics_before = match gateway_metrics::scrape(gateway) {
        Ok(samples) => Some(samples),
        Err(error) => {
            report.errors.push(error.to_string());
            None
        }
    };
    // Across two nodes the ingest count is the ingest node's.
    let ingest_metrics_before =
        if ingest_gateway == gateway { None } else { gateway_metrics::scrape(ingest_gateway).ok() };
    let reader_plans = reader_plans(config);
    let admin_path = match &config.admin_token {
        Some(token) => format!("/ws?token={}", percent_encode(token)),
        None => "/ws".to_owned(),
    };
    let setup_done = AtomicUsize::new(0);
    let readers_stop = AtomicBool::new(false);
    let progress_stop = AtomicBool::new(false);
    let mut histograms = LatencyHistograms::new();

    let sending = std::thread::scope(|scope| -> Result<Duration, LoadgenError> {
        let readers: Vec<_> = reader_plans
            .iter()
            .map(|plan| {
                let (admin_path, setup_done, readers_stop) = (&admin_path, &setup_done, &readers_stop);
                scope.spawn(move || {
                    run_admin_reader(
                        gateway,
                        admin_path,
                        config.source_addresses,
                        plan,
                        counters,
                        setup_done,
                        readers_stop,
                    )
                })
            })
            .collect();
        let setup_started = Instant::now();
        while setup_done.load(Relaxed) < config.admin_sessions && !readers.iter().all(|reader| reader.is_finished()) {
            if setup_started.elapsed() > SETUP_TIMEOUT || stop.load(Relaxed) {
                readers_stop.store(true, Relaxed);
                return Err(LoadgenError::SetupTimeout {
                    timeout_s: SETUP_TIMEOUT.as_secs(),
                    done: setup_done.load(Relaxed),
                    wanted: config.admin_sessions,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }

        let sending_started = Instant::now();
        let progress_stop = &progress_stop;
        scope.spawn(move || progress::print_progress_until(counters, sending_started, progress_stop));
        let ingest: Vec<_> = ingest_plans(config)
            .into_iter()
            .map(|plan| scope.spawn(move || run_ingest_connection(config, ingest_gateway, &plan, counters, stop)))
            .collect();
        let mut errors = Vec::new();
        for connection in ingest {
            match connection.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => errors.push(format!("ingest connection: {error}")),
                Err(_) => errors.push("an ingest thread panicked".to_owned()),
            }
        }
        let sending = sending_started.elapsed();
        // In-flight matches still arrive for a moment after the last send.
        let drain_until = Instant::now() + config.drain;
        while Instant::now() < drain_until && !stop.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        readers_stop.store(true, Relaxed);
        progress_stop.store(true, Relaxed);
        for reader in readers {
            let outcome = reader.join().map_err(|_| LoadgenError::ThreadPanicked("admin reader"))??;
            histograms.merge(&outcome.histograms);
            for (kind, count) in outcome.sessions_by_kind {
                *report.sessions_by_kind.entry(kind).or_default() += count;
            }
            errors.extend(outcome.errors);
        }
        report.errors.extend(errors.into_iter().take(10));
        Ok(sending)
    })?;

    let counters_now = counters.snapshot();
    let seconds = sending.as_secs_f64().max(1e-9);
    report.sending_s = seconds;
    report.events_per_second_in = counters_now.events_sent as f64 / seconds;
    report.frames_per_second_out = counters_now.frames_received as f64 / seconds;
    report.latency = Some(LatencyReport::of(&histograms));
    if let Some(before) = metrics_before {
        match gateway_metrics::scrape(gateway) {
            Ok(after) => report.gateway = Some(compare_with_gateway(&before, &after)),
            Err(error) => report.errors.push(error.to_string()),
        }
    }
    if let (Some(before), Some(comparison)) = (ingest_metrics_before, report.gateway.as_mut()) {
        comparison.ingest_events = gateway_metrics::scrape(ingest_gateway)
            .ok()
            .and_then(|after| gateway_metrics::increase(&before, &after, "ingest_events_total"));
    }
    Ok(())
}

fn compare_with_gateway(before: &gateway_metrics::Samples, after: &gateway_metrics::Samples) -> GatewayComparison {
    let increase = |name: &str| gateway_metrics::increase(before, after, name);
    let mut latency_quantiles = std::collections::BTreeMap::new();
    let histogram_names: std::collections::BTreeSet<String> = after
        .keys()
        .filter_map(|series| {
            series.strip_prefix("clicktail_gateway_")?.split_once("_bucket{").map(|(name, _)| name.to_owned())
        })
        .filter(|name| name.contains("latency"))
        .collect();
    for name in histogram_names {
        for (label, quantile) in [("p50", 0.5), ("p99", 0.99)] {
            if let Some(value) = gateway_metrics::histogram_quantile(before, after, &name, quantile) {
                latency_quantiles.insert(format!("{name} {label}"), value);
            }
        }
    }
    GatewayComparison {
        ingest_events: increase("ingest_events_total"),
        frames_sent: increase("frames_sent_total"),
        frames_dropped: increase("frames_dropped_total"),
        records_read: increase("records_read_total"),
        subscribe_refused: increase("subscribe_refused_total"),
        latency_quantiles,
    }
}

/// Sessions drawn from the mix, dealt round-robin to the reader threads.
fn reader_plans(config: &LoadgenConfig) -> Vec<ReaderPlan> {
    let readers = config.admin_reader_threads.clamp(1, config.admin_sessions.max(1));
    let mut drawer = CriterionDrawer::new(&config.filter_mix, config.seed, config.users);
    let criteria: Vec<_> = (0..config.admin_sessions).map(|_| drawer.next_criterion()).collect();
    let share = config.admin_sessions.div_ceil(readers).max(1);
    criteria
        .chunks(share)
        .enumerate()
        .map(|(index, chunk)| ReaderPlan { first_session: index * share, criteria: chunk.to_vec() })
        .collect()
}

/// The rate and count split evenly over the ingest connections.
fn ingest_plans(config: &LoadgenConfig) -> Vec<IngestPlan> {
    let connections = config.ingest_connections as u64;
    (0..config.ingest_connections)
        .map(|index| IngestPlan {
            index,
            rate_per_second: f64::from(config.rate_per_second) / connections as f64,
            event_count_max: config
                .event_count_max
                .map_or(u64::MAX, |count| count / connections + u64::from((index as u64) < count % connections)),
        })
        .collect()
}

/// `token` safe for a query string (RFC 3986 unreserved characters kept).
fn percent_encode(token: &str) -> String {
    token
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_exactly_over_connections() {
        let config = LoadgenConfig { ingest_connections: 3, event_count_max: Some(10), ..LoadgenConfig::default() };
        let plans = ingest_plans(&config);
        assert_eq!(plans.iter().map(|plan| plan.event_count_max).collect::<Vec<_>>(), vec![4, 3, 3]);
    }

    #[test]
    fn every_session_gets_a_reader() {
        let config = LoadgenConfig { admin_sessions: 7, admin_reader_threads: 3, ..LoadgenConfig::default() };
        let plans = reader_plans(&config);
        assert_eq!(plans.iter().map(|plan| plan.criteria.len()).sum::<usize>(), 7);
        assert_eq!(plans[1].first_session, 3);
    }

    #[test]
    fn tokens_are_percent_encoded() {
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn an_unpaced_memory_run_reports_its_ceiling() {
        let config = LoadgenConfig { event_count_max: Some(20_000), ..LoadgenConfig::default() };
        let report = run(&config, &AtomicBool::new(false)).unwrap();
        assert_eq!(report.counters.events_sent, 20_000);
        assert!(report.events_per_second_in > 0.0);
    }
}
