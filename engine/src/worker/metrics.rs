//! The worker's Prometheus metrics: names in one place, descriptions, and a
//! plain-HTTP `/metrics` endpoint. Counters are also kept as atomics in
//! [`WorkerStats`] for the demo and the tests, which read them directly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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

/// Registers the descriptions shown by `/metrics`.
pub fn describe() {
    metrics::describe_counter!(EVENTS_IN, "raw events read");
    metrics::describe_counter!(MALFORMED, "raw events that are not well-formed JSON events, skipped");
    metrics::describe_counter!(MATCHES_OUT, "(event, filter) records acknowledged on the filtered topic");
    metrics::describe_counter!(PRODUCE_ERRORS, "batches whose matches were not all acknowledged (re-read)");
    metrics::describe_counter!(CONSUME_ERRORS, "failed polls of the raw topic");
    metrics::describe_counter!(COMMIT_ERRORS, "failed offset commits (records are re-read: duplicates)");
    metrics::describe_gauge!(CONSUMER_LAG, "records behind the end of the raw topic, per filter thread");
    metrics::describe_gauge!(ACTIVE_FILTERS, "filters in the live compiled set");
    metrics::describe_counter!(INVALID_FILTERS, "registry rows whose expression does not parse, ignored");
    metrics::describe_counter!(REBUILDS, "compiled filter set rebuilds");
    metrics::describe_histogram!(REBUILD_SECONDS, "time to compile and publish the filter set");
    metrics::describe_counter!(REGISTRY_ERRORS, "registry watch, sweep or connection failures");
    metrics::describe_counter!(SWEPT_FILTERS, "expired filters deleted by this process");
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

/// Installs the global Prometheus recorder and serves `/metrics` on
/// `addr` from one background thread (a scrape is one small request; an
/// HTTP stack would add a runtime for nothing).
pub fn serve_prometheus(addr: SocketAddr) -> Result<PrometheusHandle, MetricsError> {
    let handle =
        PrometheusBuilder::new().install_recorder().map_err(|error| MetricsError::Install(error.to_string()))?;
    describe();
    let listener = TcpListener::bind(addr).map_err(|source| MetricsError::Listen { addr, source })?;
    let served = handle.clone();
    std::thread::Builder::new()
        .name("metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                answer_scrape(stream, &served);
            }
        })
        .map_err(|source| MetricsError::Listen { addr, source })?;
    Ok(handle)
}

/// Answers one request with the metrics page, whatever its path. Reads at
/// most 8 KiB of request and waits at most 2 s for it: a stuck client
/// cannot hold the thread.
fn answer_scrape(mut stream: std::net::TcpStream, handle: &PrometheusHandle) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = [0u8; 8192];
    let _ = stream.read(&mut request);
    let body = handle.render();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
}

#[cfg(test)]
mod tests {
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
