//! The worker's Prometheus metrics: names in one place, descriptions, and a
//! plain-HTTP listener for `/metrics` and the probes `/healthz` and
//! `/readyz` (what they check: `health.rs`). Counters are also kept as
//! atomics in [`WorkerStats`] for the demo and the tests, which read them
//! directly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::health::WorkerHealth;

pub const EVENTS_IN: &str = "clicktail_worker_events_in_total";
pub const MALFORMED: &str = "clicktail_worker_malformed_total";
pub const MATCHES_OUT: &str = "clicktail_worker_matches_out_total";
pub const PRODUCE_ERRORS: &str = "clicktail_worker_produce_errors_total";
pub const CONSUME_ERRORS: &str = "clicktail_worker_consume_errors_total";
pub const COMMIT_ERRORS: &str = "clicktail_worker_commit_errors_total";
pub const CONSUMER_LAG: &str = "clicktail_worker_consumer_lag_records";
pub const ACTIVE_FILTERS: &str = "clicktail_worker_active_filters";
pub const INVALID_FILTERS: &str = "clicktail_worker_invalid_filters_total";
pub const REBUILDS: &str = "clicktail_worker_rebuilds_total";
pub const REBUILD_SECONDS: &str = "clicktail_worker_rebuild_seconds";
pub const REGISTRY_ERRORS: &str = "clicktail_worker_registry_errors_total";
pub const SWEPT_FILTERS: &str = "clicktail_worker_swept_filters_total";
/// Counted by the group consumer itself, per `code` (`log/kafka/rebalance_noise.rs`).
pub const EXPECTED_REBALANCE_ERRORS: &str = "clicktail_worker_kafka_expected_rebalance_errors_total";
pub const BACKFILL_JOBS: &str = "clicktail_worker_backfill_jobs_total";
pub const BACKFILL_JOBS_INCOMPLETE: &str = "clicktail_worker_backfill_jobs_incomplete_total";
pub const BACKFILL_JOBS_ABANDONED: &str = "clicktail_worker_backfill_jobs_abandoned_total";
pub const BACKFILL_EVENTS_SCANNED: &str = "clicktail_worker_backfill_events_scanned_total";
pub const BACKFILL_MATCHES: &str = "clicktail_worker_backfill_matches_total";
pub const SEAMS_DROPPED: &str = "clicktail_worker_seams_dropped_total";

/// Registers the descriptions shown by `/metrics`.
pub fn describe() {
    metrics::describe_counter!(EVENTS_IN, "raw events read, per source topic");
    metrics::describe_counter!(MALFORMED, "raw events that are not well-formed JSON events, skipped, per source topic");
    metrics::describe_counter!(
        MATCHES_OUT,
        "(event, filter) records acknowledged on the filtered topic, per source topic"
    );
    metrics::describe_counter!(PRODUCE_ERRORS, "batches whose matches were not all acknowledged (re-read)");
    metrics::describe_counter!(CONSUME_ERRORS, "failed polls of the raw topic");
    metrics::describe_counter!(COMMIT_ERRORS, "failed offset commits (records are re-read: duplicates)");
    metrics::describe_gauge!(CONSUMER_LAG, "records behind the end of the raw topics, per filter thread and topic");
    metrics::describe_gauge!(ACTIVE_FILTERS, "filters in the live compiled set");
    metrics::describe_counter!(INVALID_FILTERS, "registry rows whose expression does not parse, ignored");
    metrics::describe_counter!(REBUILDS, "compiled filter set rebuilds");
    metrics::describe_histogram!(REBUILD_SECONDS, "time to compile and publish the filter set");
    metrics::describe_counter!(REGISTRY_ERRORS, "registry watch, sweep or connection failures");
    metrics::describe_counter!(SWEPT_FILTERS, "expired filters deleted by this process");
    metrics::describe_counter!(
        EXPECTED_REBALANCE_ERRORS,
        "commits refused and retries during a consumer group rebalance, per code (expected; records re-read)"
    );
    metrics::describe_counter!(BACKFILL_JOBS, "backfill jobs finished by this process (history_done sent)");
    metrics::describe_counter!(BACKFILL_JOBS_INCOMPLETE, "finished backfill jobs that said complete: false");
    metrics::describe_counter!(
        BACKFILL_JOBS_ABANDONED,
        "backfill jobs given up (lease lost, log or registry failure): another worker claims them again"
    );
    metrics::describe_counter!(BACKFILL_EVENTS_SCANNED, "raw events read by backfill scans");
    metrics::describe_counter!(BACKFILL_MATCHES, "history matches produced by backfill scans");
    metrics::describe_counter!(SEAMS_DROPPED, "seams a full queue refused (their partition is cut at its end)");
}

/// Counters readable in-process (the demo's status line, the tests).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Events whose matches are acknowledged (counted at each flush).
    pub events_in: AtomicU64,
    /// Events taken into matching so far, acknowledged or not: progress as
    /// it happens (`events_in` moves once per commit interval under a
    /// backlog).
    pub events_matched: AtomicU64,
    pub malformed: AtomicU64,
    pub matches_out: AtomicU64,
    pub produce_errors: AtomicU64,
    pub commit_errors: AtomicU64,
    /// Batches whose matches were acknowledged and offsets committed.
    pub batches_committed: AtomicU64,
    pub rebuilds: AtomicU64,
    /// Filter threads that have read records since they last joined the
    /// consumer group: when it equals the thread count, every thread owns
    /// partitions and the group's join is over.
    pub threads_reading: AtomicU64,
    /// Backfill jobs finished (their `history_done` acknowledged).
    pub backfill_jobs: AtomicU64,
    /// Backfill jobs given up mid-way (lease lost or a failure).
    pub backfill_jobs_abandoned: AtomicU64,
    pub backfill_events_scanned: AtomicU64,
}

impl WorkerStats {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot install the Prometheus recorder: {0}")]
    Install(String),
    #[error("cannot listen for /metrics on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// Every counter, registered at 0 so that `/metrics` shows it before its
/// first event: a series that appears only with its first failure hides
/// the failure from `rate()` and from an alert on `> 0` over a window.
const COUNTERS: [&str; 16] = [
    EVENTS_IN,
    MALFORMED,
    MATCHES_OUT,
    PRODUCE_ERRORS,
    CONSUME_ERRORS,
    COMMIT_ERRORS,
    INVALID_FILTERS,
    REBUILDS,
    REGISTRY_ERRORS,
    SWEPT_FILTERS,
    BACKFILL_JOBS,
    BACKFILL_JOBS_INCOMPLETE,
    BACKFILL_JOBS_ABANDONED,
    BACKFILL_EVENTS_SCANNED,
    BACKFILL_MATCHES,
    SEAMS_DROPPED,
];

/// Registers the descriptions and every counter (at 0) and gauge with the
/// current recorder.
pub fn register_all() {
    describe();
    for name in COUNTERS {
        metrics::counter!(name).increment(0);
    }
    #[cfg(feature = "kafka")]
    for code in crate::log::kafka::rebalance_noise::expected_codes() {
        metrics::counter!(EXPECTED_REBALANCE_ERRORS, "code" => code).increment(0);
    }
    metrics::gauge!(ACTIVE_FILTERS).set(0.0);
}

/// Installs the global Prometheus recorder, with every metric registered.
/// Call it before starting the workers: what is recorded before it is lost.
pub fn install_recorder() -> Result<PrometheusHandle, MetricsError> {
    let handle =
        PrometheusBuilder::new().install_recorder().map_err(|error| MetricsError::Install(error.to_string()))?;
    register_all();
    Ok(handle)
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` from one
/// background thread (a scrape or a probe is one small request; an HTTP
/// stack would add a runtime for nothing). Returns the bound address.
pub fn serve(
    addr: SocketAddr,
    prometheus: PrometheusHandle,
    health: Arc<WorkerHealth>,
) -> Result<SocketAddr, MetricsError> {
    let listener = TcpListener::bind(addr).map_err(|source| MetricsError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| MetricsError::Listen { addr, source })?;
    std::thread::Builder::new()
        .name("metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &prometheus, &health);
            }
        })
        .map_err(|source| MetricsError::Listen { addr, source })?;
    Ok(bound)
}

/// Answers one request. Reads at most 8 KiB of request and waits at most
/// 2 s for it: a stuck client cannot hold the thread.
fn answer(mut stream: std::net::TcpStream, prometheus: &PrometheusHandle, health: &WorkerHealth) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = [0u8; 8192];
    let mut read = 0;
    // Until the head is complete (it may come in pieces). The whole head,
    // not just the request line: closing a socket with unread bytes makes
    // the kernel answer with a reset (RFC 7230 section 6.6), which can reach
    // the client before it reads the response (a probe saw no status).
    while read < request.len() && !head_complete(&request[..read]) {
        match stream.read(&mut request[read..]) {
            Ok(0) | Err(_) => break,
            Ok(count) => read += count,
        }
    }
    let (status, content_type, body) = route(&request[..read], prometheus, health);
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
}

/// True once `request` holds the blank line that ends an HTTP head.
fn head_complete(request: &[u8]) -> bool {
    request.windows(4).any(|window| window == b"\r\n\r\n") || request.windows(2).any(|window| window == b"\n\n")
}

/// Status line, content type and body for the request that starts `request`.
fn route(request: &[u8], prometheus: &PrometheusHandle, health: &WorkerHealth) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let line = request.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let mut parts = std::str::from_utf8(line).unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    if method != "GET" {
        return ("405 Method Not Allowed", TEXT, "method not allowed\n".to_owned());
    }
    let verdict = |checked: Result<(), String>, ok: &str| match checked {
        Ok(()) => ("200 OK", TEXT, format!("{ok}\n")),
        Err(problem) => ("503 Service Unavailable", TEXT, format!("{problem}\n")),
    };
    match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", prometheus.render()),
        "/healthz" => verdict(health.check_alive(), "ok"),
        "/readyz" => verdict(health.check_ready(), "ready"),
        _ => ("404 Not Found", TEXT, "not found: try /metrics, /healthz or /readyz\n".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    /// Every counter is on the page before anything happened, at 0.
    #[test]
    fn every_counter_is_exported_at_zero_from_the_start() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, super::register_all);
        let page = handle.render();
        for name in super::COUNTERS {
            assert!(page.contains(&format!("\n{name} 0\n")), "{name} is not exported at 0:\n{page}");
        }
        assert!(page.contains(&format!("\n{} 0\n", super::ACTIVE_FILTERS)), "{page}");
        let expected = format!("\n{}{{code=\"illegal_generation\"}} 0\n", super::EXPECTED_REBALANCE_ERRORS);
        assert!(page.contains(&expected), "{page}");
        let counters_in_source = include_str!("metrics.rs").matches("\n    metrics::describe_counter!(").count();
        // The labelled counter is registered per code, not in COUNTERS.
        assert_eq!(counters_in_source, super::COUNTERS.len() + 1, "a counter is missing from COUNTERS");
    }
    /// Reads the names from this file's source, so a metric added above
    /// without a line in the guide fails here.
    #[test]
    fn every_metric_is_in_the_operations_guide() {
        // Read at run time: the guide is not part of the crate's build.
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
        let names: Vec<&str> = include_str!("metrics.rs")
            .split('"')
            .filter(|quoted| quoted.strip_prefix("clicktail_worker_").is_some_and(|rest| !rest.is_empty()))
            .collect();
        assert!(names.len() > 10, "{names:?}");
        for name in names {
            assert!(guide.contains(&format!("`{name}`")), "{name} is missing from docs/operations.md");
        }
    }
}
