//! Counters an operator asks about, exported as Prometheus text at `/metrics`.
//!
//! Plain atomics rather than the `metrics` crate: the gateway has a dozen
//! counters, all known up front, and the render is one `write!` each; the
//! exporter crate would bring a second HTTP stack for no gain.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Process-wide gateway counters (monotonic `_total`) and gauges.
#[derive(Debug)]
pub struct Metrics {
    /// When the gateway started, for the rate line in `/metrics`.
    pub started: Instant,
    /// Open TCP connections (any kind).
    pub connections_open: AtomicI64,
    /// Connections closed at accept because `connections_max` was reached.
    pub connections_refused_total: AtomicU64,
    /// Admin WebSocket sessions open now.
    pub admin_sessions_open: AtomicI64,
    /// Ingest WebSocket sessions open now.
    pub ingest_sessions_open: AtomicI64,
    /// Upgrades refused for a bad Origin.
    pub origin_refused_total: AtomicU64,
    /// Requests refused for a `Host` this gateway does not serve.
    pub host_refused_total: AtomicU64,
    /// Upgrades refused for a missing or wrong token.
    pub token_refused_total: AtomicU64,
    /// Filters registered by this node now.
    pub filters_active: AtomicI64,
    /// Subscriptions refused (bad criterion, too many, registry down).
    pub subscribe_refused_total: AtomicU64,
    /// Frames written to admin sessions (events, replies).
    pub frames_sent_total: AtomicU64,
    /// Filtered records read from the log.
    pub records_read_total: AtomicU64,
    /// Filtered records whose filter id belongs to no session of this node.
    pub records_unrouted_total: AtomicU64,
    /// Filtered records skipped for a format this build does not read
    /// (another `ct.version`, an unknown `ct.kind`, a malformed header).
    pub records_refused_total: AtomicU64,
    /// Event frames dropped because a session's queue was full.
    pub frames_dropped_total: AtomicU64,
    /// Bytes queued for admin sessions now.
    pub queue_bytes: AtomicI64,
    /// Sessions closed for not reading.
    pub stalled_closed_total: AtomicU64,
    /// Sessions closed for silence past the idle timeout.
    pub idle_closed_total: AtomicU64,
    /// Ingested events produced and acknowledged by the log.
    pub ingest_events_total: AtomicU64,
    /// Ingested events rejected (not a JSON object, too large).
    pub ingest_events_rejected_total: AtomicU64,
    /// Batches acknowledged to trackers.
    pub ingest_batches_total: AtomicU64,
    /// Batches refused whole (malformed, too large, busy, log failure).
    pub ingest_batches_refused_total: AtomicU64,
    /// Set while the registry answers the control thread's calls (cleared
    /// by a failed heartbeat). One of the facts behind [`Metrics::readiness`].
    pub ready: AtomicBool,
    /// Set while the delivery thread's tail of the filtered topic reaches
    /// the brokers (a metadata round trip every few seconds).
    pub tail_reachable: AtomicBool,
    /// Set while the ingest producer reaches the brokers (same check).
    pub producer_reachable: AtomicBool,
    /// Set once a drain started (SIGTERM): never ready again.
    pub draining: AtomicBool,
    /// Milliseconds from an event entering the raw log to its frame being
    /// queued for a session here: the pipeline's share of the end-to-end
    /// latency, which `clicktail loadgen` compares with its own figures.
    pub delivery_latency_ms: LatencyHistogram,
}

/// Upper bounds (ms) of the latency histogram's buckets; one more bucket,
/// `+Inf`, holds the rest. Fixed, so recording is one atomic add.
const LATENCY_BUCKETS_MS: [i64; 14] = [1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000];

/// A Prometheus histogram with fixed buckets, recorded from any thread.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket (the last is `+Inf`): observations that fell in it, not cumulative.
    counts: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_ms: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation; negative values (clock skew between hosts) count as 0.
    pub fn record_ms(&self, value_ms: i64) {
        let value_ms = value_ms.max(0);
        let bucket = LATENCY_BUCKETS_MS.iter().position(|&bound| value_ms <= bound).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_ms.fetch_add(value_ms as u64, Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = write!(out, "# HELP clicktail_gateway_{name} {help}\n# TYPE clicktail_gateway_{name} histogram\n");
        let mut cumulative = 0;
        for (index, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let bound = LATENCY_BUCKETS_MS.get(index).map_or_else(|| "+Inf".to_owned(), |bound| bound.to_string());
            let _ = writeln!(out, "clicktail_gateway_{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "clicktail_gateway_{name}_sum {}", self.sum_ms.load(Relaxed));
        let _ = writeln!(out, "clicktail_gateway_{name}_count {cumulative}");
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            connections_open: AtomicI64::new(0),
            connections_refused_total: AtomicU64::new(0),
            admin_sessions_open: AtomicI64::new(0),
            ingest_sessions_open: AtomicI64::new(0),
            origin_refused_total: AtomicU64::new(0),
            host_refused_total: AtomicU64::new(0),
            token_refused_total: AtomicU64::new(0),
            filters_active: AtomicI64::new(0),
            subscribe_refused_total: AtomicU64::new(0),
            frames_sent_total: AtomicU64::new(0),
            records_read_total: AtomicU64::new(0),
            records_unrouted_total: AtomicU64::new(0),
            records_refused_total: AtomicU64::new(0),
            frames_dropped_total: AtomicU64::new(0),
            queue_bytes: AtomicI64::new(0),
            stalled_closed_total: AtomicU64::new(0),
            idle_closed_total: AtomicU64::new(0),
            ingest_events_total: AtomicU64::new(0),
            ingest_events_rejected_total: AtomicU64::new(0),
            ingest_batches_total: AtomicU64::new(0),
            ingest_batches_refused_total: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            tail_reachable: AtomicBool::new(true),
            producer_reachable: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            delivery_latency_ms: LatencyHistogram::default(),
        }
    }
}

impl Metrics {
    /// `Ok` when this node should get new sessions and ingest: not
    /// draining, the registry answers, and both the filtered-topic tail and
    /// the ingest producer reach the brokers. Otherwise what is wrong, for
    /// the `/readyz` body.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.draining.load(Relaxed) {
            Err("not ready: shutting down")
        } else if !self.ready.load(Relaxed) {
            Err("not ready: the registry is unreachable")
        } else if !self.tail_reachable.load(Relaxed) {
            Err("not ready: the filtered-topic tail cannot reach the brokers")
        } else if !self.producer_reachable.load(Relaxed) {
            Err("not ready: the ingest producer cannot reach the brokers")
        } else {
            Ok(())
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, value: i64| {
            let _ = write!(out, "# HELP clicktail_gateway_{name} {help}\n# TYPE clicktail_gateway_{name} gauge\nclicktail_gateway_{name} {value}\n");
        };
        gauge("connections_open", "Open TCP connections.", self.connections_open.load(Relaxed));
        gauge("admin_sessions", "Admin WebSocket sessions open.", self.admin_sessions_open.load(Relaxed));
        gauge("ingest_sessions", "Ingest WebSocket sessions open.", self.ingest_sessions_open.load(Relaxed));
        gauge("filters_active", "Filters registered by this node.", self.filters_active.load(Relaxed));
        gauge("queue_bytes", "Bytes queued for admin sessions.", self.queue_bytes.load(Relaxed));
        gauge(
            "ready",
            "1 when the registry and the brokers are reachable and the node is not draining.",
            i64::from(self.readiness().is_ok()),
        );
        let uptime_s = self.started.elapsed().as_secs_f64().max(1e-3);
        let ingested = self.ingest_events_total.load(Relaxed);
        let _ = write!(
            out,
            "# HELP clicktail_gateway_ingest_events_per_second Mean ingest rate since start.\n# TYPE clicktail_gateway_ingest_events_per_second gauge\nclicktail_gateway_ingest_events_per_second {:.3}\n",
            ingested as f64 / uptime_s
        );
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(out, "# HELP clicktail_gateway_{name} {help}\n# TYPE clicktail_gateway_{name} counter\nclicktail_gateway_{name} {value}\n");
        };
        counter(
            "connections_refused_total",
            "Connections closed at the connection limit.",
            self.connections_refused_total.load(Relaxed),
        );
        counter("origin_refused_total", "Upgrades refused for their Origin.", self.origin_refused_total.load(Relaxed));
        counter("host_refused_total", "Requests refused for their Host.", self.host_refused_total.load(Relaxed));
        counter("token_refused_total", "Upgrades refused for their token.", self.token_refused_total.load(Relaxed));
        counter("subscribe_refused_total", "Subscriptions refused.", self.subscribe_refused_total.load(Relaxed));
        counter("frames_sent_total", "Frames queued to admin sessions.", self.frames_sent_total.load(Relaxed));
        counter("records_read_total", "Filtered records read.", self.records_read_total.load(Relaxed));
        counter(
            "records_unrouted_total",
            "Filtered records for filters of other nodes.",
            self.records_unrouted_total.load(Relaxed),
        );
        counter(
            "records_refused_total",
            "Filtered records skipped for a format this build does not read.",
            self.records_refused_total.load(Relaxed),
        );
        counter(
            "frames_dropped_total",
            "Event frames dropped on full session queues.",
            self.frames_dropped_total.load(Relaxed),
        );
        counter("stalled_closed_total", "Sessions closed for not reading.", self.stalled_closed_total.load(Relaxed));
        counter("idle_closed_total", "Sessions closed for silence.", self.idle_closed_total.load(Relaxed));
        counter("ingest_events_total", "Ingested events acknowledged by the log.", ingested);
        counter(
            "ingest_events_rejected_total",
            "Ingested events rejected.",
            self.ingest_events_rejected_total.load(Relaxed),
        );
        counter("ingest_batches_total", "Ingest batches acknowledged.", self.ingest_batches_total.load(Relaxed));
        counter(
            "ingest_batches_refused_total",
            "Ingest batches refused whole.",
            self.ingest_batches_refused_total.load(Relaxed),
        );
        self.delivery_latency_ms.render(
            "delivery_latency_ms",
            "Milliseconds from an event entering the raw log to its frame queued for a session.",
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_in_the_operations_guide() {
        // Read at run time: the guide is not part of the crate's build.
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
        let rendered = Metrics::default().render();
        let names: Vec<&str> =
            rendered.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        assert!(names.len() > 20, "{names:?}");
        for name in names {
            assert!(guide.contains(&format!("`{name}`")), "{name} is missing from docs/operations.md");
        }
    }

    /// Every counter is on the page before anything happened, at 0.
    #[test]
    fn every_counter_is_exported_at_zero_from_the_start() {
        let rendered = Metrics::default().render();
        let counters: Vec<&str> =
            rendered.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
        assert!(counters.len() >= 15, "{counters:?}");
        for name in counters {
            assert!(rendered.contains(&format!("\n{name} 0\n")), "{name} is not exported at 0");
        }
    }

    #[test]
    fn readiness_needs_the_registry_both_log_clients_and_no_drain() {
        let metrics = Metrics::default();
        assert_eq!(metrics.readiness(), Err("not ready: the registry is unreachable"));
        metrics.ready.store(true, Relaxed);
        assert_eq!(metrics.readiness(), Ok(()));
        assert!(metrics.render().contains("\nclicktail_gateway_ready 1\n"));
        metrics.producer_reachable.store(false, Relaxed);
        assert_eq!(metrics.readiness(), Err("not ready: the ingest producer cannot reach the brokers"));
        metrics.tail_reachable.store(false, Relaxed);
        assert_eq!(metrics.readiness(), Err("not ready: the filtered-topic tail cannot reach the brokers"));
        assert!(metrics.render().contains("\nclicktail_gateway_ready 0\n"));
        metrics.draining.store(true, Relaxed);
        assert_eq!(metrics.readiness(), Err("not ready: shutting down"));
    }

    #[test]
    fn latency_histogram_renders_cumulative_buckets() {
        let metrics = Metrics::default();
        for value in [0, 1, 4, 9, 2_000, -3] {
            metrics.delivery_latency_ms.record_ms(value);
        }
        let text = metrics.render();
        assert!(text.contains("# TYPE clicktail_gateway_delivery_latency_ms histogram\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_bucket{le=\"1\"} 3\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_bucket{le=\"5\"} 4\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_bucket{le=\"10\"} 5\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_bucket{le=\"1000\"} 5\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_bucket{le=\"+Inf\"} 6\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_sum 2014\n"));
        assert!(text.contains("clicktail_gateway_delivery_latency_ms_count 6\n"));
    }
}
