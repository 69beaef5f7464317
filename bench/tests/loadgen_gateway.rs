//! `clicktail loadgen --target gateway` against a real gateway in this
//! process (in-memory log and registry, one filter worker): every event in
//! is acknowledged, every match comes out stamped, and loadgen's counts
//! equal the gateway's own `/metrics`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clicktail_bench::loadgen::{self, LoadgenConfig, Target};
use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::Log;
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::worker::{spawn_workers, WorkerConfig};
use clicktail_gateway::{Gateway, GatewayConfig};

#[test]
fn every_event_reaches_every_session_and_the_counts_match_the_gateway() {
    let memory_log = MemoryLog::default();
    let worker_config = WorkerConfig {
        threads: 1,
        pin_threads: false,
        poll_timeout: Duration::from_millis(20),
        // Every frame is counted: the session filters' budget is lifted.
        session_filter_rate_max_per_s: 0,
        ..WorkerConfig::default()
    };
    for topic in ["clicks", &worker_config.filtered_topic] {
        memory_log.create_topic(topic, 2).unwrap();
    }
    let log: Arc<dyn Log> = Arc::new(memory_log);
    let registry = Arc::new(MemoryRegistry::default());
    let mut gateway_config = GatewayConfig::defaults();
    gateway_config.listen = "127.0.0.1:0".parse().unwrap();
    gateway_config.no_admin_token = true;
    gateway_config.raw_topic = "clicks".to_owned();
    gateway_config.filtered_topic = worker_config.filtered_topic.clone();
    let workers = spawn_workers(worker_config, log.clone(), registry.clone()).unwrap();
    let gateway = Gateway::start(gateway_config, log, registry).unwrap();

    const EVENTS: u64 = 400;
    const SESSIONS: usize = 4;
    let config = LoadgenConfig {
        target: Target::Gateway { address: gateway.local_address(), ingest: gateway.local_address() },
        rate_per_second: 2_000,
        duration: Duration::from_secs(20),
        event_count_max: Some(EVENTS),
        ingest_connections: 3,
        admin_sessions: SESSIONS,
        filter_mix: "all:1".parse().unwrap(),
        source_addresses: 3,
        drain: Duration::from_secs(2),
        ..LoadgenConfig::default()
    };
    let report = loadgen::run(&config, &AtomicBool::new(false)).unwrap();
    gateway.stop();
    workers.stop();

    let counters = report.counters;
    assert_eq!((counters.events_sent, counters.events_acknowledged), (EVENTS, EVENTS), "{report}");
    assert_eq!(counters.sessions_subscribed, SESSIONS as u64, "{report}");
    // `*` matches every well-formed event, once per session.
    assert_eq!(counters.frames_received, EVENTS * SESSIONS as u64, "{report}");
    let latency = report.latency.as_ref().unwrap();
    assert_eq!(latency.end_to_end.count, EVENTS * SESSIONS as u64, "{report}");
    assert!(latency.end_to_end.p50_us > 0 && latency.end_to_end.max_us < 10_000_000, "{report}");
    let gateway = report.gateway.as_ref().unwrap();
    assert_eq!(gateway.ingest_events, Some(EVENTS as f64), "{report}");
    assert_eq!(gateway.frames_dropped, Some(0.0), "{report}");
    assert_eq!(gateway.records_read, Some(counters.frames_received as f64), "{report}");
    assert_eq!(gateway.frames_sent, Some((counters.frames_received + counters.replies_received) as f64), "{report}");
    assert_eq!(report.sessions_by_kind.get("all"), Some(&(SESSIONS as u64)));
}
