//! What a run counts: live counters shared by every thread (read once a
//! second by the progress line), and latency histograms kept per reader
//! thread and merged at the end (no lock or shared cache line on the
//! per-frame path).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;

use super::stamp::{now_us, FrameTimes};

/// The largest latency recorded exactly: 60 s. Larger values are recorded
/// as 60 s (`saturating_record`), so a stuck event shows as the maximum.
const LATENCY_US_MAX: u64 = 60_000_000;
/// Three significant digits: 0.1% error, ~200 KiB per histogram.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Counters updated by the sending and reading threads.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Events generated and handed to the target (sent on a socket, or
    /// accepted by the log producer).
    pub events_sent: AtomicU64,
    /// Events acknowledged: by the gateway's `ack`, or by the log's flush.
    pub events_acknowledged: AtomicU64,
    /// Events the gateway rejected one by one (`rejected` in acks).
    pub events_rejected: AtomicU64,
    /// Whole batches refused (`nack`, or a send error of the log).
    pub batches_refused: AtomicU64,
    /// Event frames read on admin sessions (live and history).
    pub frames_received: AtomicU64,
    /// Every other frame the gateway sent: `hello`, `subscribed`,
    /// `heartbeat_ack`, `dropped` on `/ws`, `ack`/`nack` on `/ingest` (its
    /// `frames_sent_total` counts these too).
    pub replies_received: AtomicU64,
    /// Event frames lost to the gateway's bounded queues, as told by its
    /// `dropped` messages.
    pub frames_dropped_reported: AtomicU64,
    /// Admin sessions subscribed and reading.
    pub sessions_subscribed: AtomicU64,
    /// Admin sessions that could not connect or subscribe.
    pub sessions_failed: AtomicU64,
    /// Admin sessions the gateway closed (or reset) during the run.
    pub sessions_closed_by_gateway: AtomicU64,
}

impl LiveCounters {
    /// A consistent-enough copy for the progress line and the report.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            events_sent: self.events_sent.load(Relaxed),
            events_acknowledged: self.events_acknowledged.load(Relaxed),
            events_rejected: self.events_rejected.load(Relaxed),
            batches_refused: self.batches_refused.load(Relaxed),
            frames_received: self.frames_received.load(Relaxed),
            replies_received: self.replies_received.load(Relaxed),
            frames_dropped_reported: self.frames_dropped_reported.load(Relaxed),
            sessions_subscribed: self.sessions_subscribed.load(Relaxed),
            sessions_failed: self.sessions_failed.load(Relaxed),
            sessions_closed_by_gateway: self.sessions_closed_by_gateway.load(Relaxed),
        }
    }
}

/// A copy of [`LiveCounters`]; see there for each field.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CounterSnapshot {
    pub events_sent: u64,
    pub events_acknowledged: u64,
    pub events_rejected: u64,
    pub batches_refused: u64,
    pub frames_received: u64,
    pub replies_received: u64,
    pub frames_dropped_reported: u64,
    pub sessions_subscribed: u64,
    pub sessions_failed: u64,
    pub sessions_closed_by_gateway: u64,
}

/// Latency of delivered frames, split at each timestamp the pipeline sets.
pub struct LatencyHistograms {
    /// Creation (loadgen stamp) to arrival at the admin session: the figure
    /// that matters.
    pub end_to_end_us: Histogram<u64>,
    /// From the moment the event's `/ingest` batch was sent to arrival: the
    /// pipeline's own latency, without the client's batching wait.
    pub from_send_us: Histogram<u64>,
    /// Creation to the batch being sent: batching in the client (up to one
    /// `--ingest-batch-ms`, plus waiting for the previous batch's ack).
    pub created_to_sent_us: Histogram<u64>,
    /// Sent to the log timestamp the gateway's ingest set: the socket, the
    /// gateway's event loop and its producer thread.
    pub sent_to_log_us: Histogram<u64>,
    /// Log timestamp to the gateway queueing the frame (`sent_ms - ts_ms`):
    /// the worker and delivery, as the gateway itself sees them.
    pub log_to_queued_us: Histogram<u64>,
    /// Queued at the gateway to arrival here: the session queue and the wire.
    pub queued_to_arrival_us: Histogram<u64>,
    /// Live event frames without a loadgen stamp (another generator's).
    pub frames_unstamped: u64,
    /// History replays, excluded from every histogram.
    pub frames_history: u64,
}

impl LatencyHistograms {
    pub fn new() -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
                .expect("constant bounds are valid for HdrHistogram")
        };
        LatencyHistograms {
            end_to_end_us: histogram(),
            from_send_us: histogram(),
            created_to_sent_us: histogram(),
            sent_to_log_us: histogram(),
            log_to_queued_us: histogram(),
            queued_to_arrival_us: histogram(),
            frames_unstamped: 0,
            frames_history: 0,
        }
    }

    /// Records one delivered frame that arrived at `arrival_us`.
    pub fn record(&mut self, times: &FrameTimes, arrival_us: u64) {
        if times.history {
            self.frames_history += 1;
            return;
        }
        let log_us = times.log_ms * 1_000;
        let queued_us = times.queued_ms * 1_000;
        // Millisecond stamps are truncated, so a difference can look
        // negative by up to 1 ms: it is recorded as 0.
        self.log_to_queued_us.saturating_record(queued_us.saturating_sub(log_us));
        self.queued_to_arrival_us.saturating_record(arrival_us.saturating_sub(queued_us));
        match times.created_us {
            Some(created_us) => self.end_to_end_us.saturating_record(arrival_us.saturating_sub(created_us)),
            None => self.frames_unstamped += 1,
        }
        if let (Some(created_us), Some(sent_us)) = (times.created_us, times.sent_us) {
            self.from_send_us.saturating_record(arrival_us.saturating_sub(sent_us));
            self.created_to_sent_us.saturating_record(sent_us.saturating_sub(created_us));
            self.sent_to_log_us.saturating_record(log_us.saturating_sub(sent_us));
        }
    }

    /// Records a frame arriving now.
    pub fn record_now(&mut self, times: &FrameTimes) {
        self.record(times, now_us());
    }

    /// Adds `other` into `self` (same bounds, so it cannot fail).
    pub fn merge(&mut self, other: &LatencyHistograms) {
        let _ = self.end_to_end_us.add(&other.end_to_end_us);
        let _ = self.from_send_us.add(&other.from_send_us);
        let _ = self.created_to_sent_us.add(&other.created_to_sent_us);
        let _ = self.sent_to_log_us.add(&other.sent_to_log_us);
        let _ = self.log_to_queued_us.add(&other.log_to_queued_us);
        let _ = self.queued_to_arrival_us.add(&other.queued_to_arrival_us);
        self.frames_unstamped += other.frames_unstamped;
        self.frames_history += other.frames_history;
    }
}

impl Default for LatencyHistograms {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of one histogram, in microseconds, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p90_us: histogram.value_at_quantile(0.90),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_split_at_each_timestamp() {
        let mut histograms = LatencyHistograms::new();
        let times = FrameTimes {
            log_ms: 1_000,
            queued_ms: 1_003,
            created_us: Some(990_000),
            sent_us: Some(998_000),
            history: false,
        };
        histograms.record(&times, 1_005_000);
        // HdrHistogram reports a bucket's highest equivalent value.
        for (histogram, expected_us) in [
            (&histograms.end_to_end_us, 15_000),
            (&histograms.from_send_us, 7_000),
            (&histograms.created_to_sent_us, 8_000),
            (&histograms.sent_to_log_us, 2_000),
            (&histograms.log_to_queued_us, 3_000),
            (&histograms.queued_to_arrival_us, 2_000),
        ] {
            assert!(histogram.equivalent(histogram.max(), expected_us), "{} != {expected_us}", histogram.max());
        }
    }

    #[test]
    fn history_and_unstamped_frames_are_counted_apart() {
        let mut histograms = LatencyHistograms::new();
        let unstamped = FrameTimes { log_ms: 1, queued_ms: 2, created_us: None, sent_us: None, history: false };
        histograms.record(&FrameTimes { history: true, ..unstamped }, 5_000);
        histograms.record(&unstamped, 5_000);
        assert_eq!((histograms.frames_history, histograms.frames_unstamped), (1, 1));
        assert!(histograms.end_to_end_us.is_empty());
        assert_eq!(histograms.log_to_queued_us.len(), 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut histograms = LatencyHistograms::new();
        for value in 1..=1_000u64 {
            histograms.end_to_end_us.record(value * 1_000).unwrap();
        }
        let percentiles = Percentiles::of(&histograms.end_to_end_us);
        assert_eq!(percentiles.count, 1_000);
        assert!((499_000..=501_000).contains(&percentiles.p50_us), "{percentiles:?}");
        assert!((989_000..=991_000).contains(&percentiles.p99_us), "{percentiles:?}");
    }
}
