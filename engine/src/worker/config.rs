//! The worker's configuration: one typed struct, every default documented.
//! `clicktail worker` fills it from flags and `CLICKTAIL_*` variables.

use std::time::Duration;

use crate::event::EventLimits;
use crate::log::RawTopics;
use crate::matcher::MatcherOptions;

/// How a worker process consumes, matches and produces.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The raw topics to consume, one consumer group over all of them
    /// (default `clicks`): names and/or one `^pattern`.
    pub raw_topics: RawTopics,
    /// The topic matches are produced to (default `clicks.filtered`),
    /// whatever the raw topics: one filtered topic per worker group, and
    /// each record names its source topic in a header (`ct.topic`).
    pub filtered_topic: String,
    /// Where malformed events are copied, if anywhere (default none: they
    /// are only counted).
    pub dead_letter_topic: Option<String>,
    /// The consumer group shared by every filter thread of every worker
    /// process (default `clicktail-workers`).
    pub group_id: String,
    /// Filter threads; 0 means one per core (default 0).
    pub threads: usize,
    /// Pin filter thread `i` to core `i % cores` (default true).
    pub pin_threads: bool,
    /// Records per batch: one poll, and one load of the live filter set
    /// (default 2,000).
    pub batch_records_max: usize,
    /// How long a poll waits for the first record of a batch (default 10 ms);
    /// also how quickly an idle thread adopts a new filter set, makes its
    /// pending matches durable, and notices a stop request. An idle poll
    /// costs one wake-up per timeout.
    pub poll_timeout: Duration,
    /// The longest a read batch stays uncommitted while the thread is busy
    /// (default 1 s; Kafka's own `auto.commit.interval.ms` is 5 s): the
    /// thread flushes (waits for every pending acknowledgement) and commits
    /// once per interval, and at once when it has caught up (a poll returned
    /// less than a full batch), is idle, or is stopping. Longer means
    /// fewer stalls on acknowledgements (a flush took 5-60 ms in the drain
    /// benchmark on a loaded 2-core machine) and more duplicates re-read
    /// after a crash; never loss.
    pub commit_interval: Duration,
    /// How long one flush may wait for acknowledgements before the pending
    /// batches are treated as failed and re-read (default 60 s: longer than
    /// a broker restart).
    pub flush_timeout: Duration,
    /// Registry changes applied in one rebuild at most (default 100,000);
    /// a burst beyond that is split over several rebuilds.
    pub rebuild_changes_max: usize,
    /// How often this process deletes expired filters; `None` disables the
    /// sweep (default 5 s). Safe on many processes at once.
    pub sweep_interval: Option<Duration>,
    /// How often this process writes the raw topics it consumes to the
    /// registry (`worker_topics`), which gateways check a subscription's
    /// `topics` against (default 10 s).
    pub topics_announce_interval: Duration,
    /// The longest wait between reconnect attempts to the log or the
    /// registry (default 5 s); waits start at 50 ms and double.
    pub backoff_max: Duration,
    /// A thread whose loop has not turned for this long is reported stuck
    /// by `/healthz` (default 90 s). The longest legitimate turn is a flush
    /// waiting out `flush_timeout` (60 s) plus one retry wait (`backoff_max`).
    pub stall_max: Duration,
    /// The match budget of every session filter, matches forwarded per
    /// second across every thread of every worker (default 1,000; 0 means
    /// unlimited). Matches beyond it are thinned uniformly and counted
    /// (`worker/budget.rs`, engine/DESIGN.md "Match budgets"). Standing
    /// filters are unlimited.
    pub session_filter_rate_max_per_s: u32,
    /// Time travel (`worker/backfill/`): how backfill jobs are claimed,
    /// scanned and bounded.
    pub backfill: BackfillConfig,
    /// Bounds on one event (size, nesting); larger events are malformed.
    pub event_limits: EventLimits,
    pub matcher_options: MatcherOptions,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            raw_topics: RawTopics::one("clicks"),
            filtered_topic: "clicks.filtered".to_owned(),
            dead_letter_topic: None,
            group_id: "clicktail-workers".to_owned(),
            threads: 0,
            pin_threads: true,
            batch_records_max: 2_000,
            poll_timeout: Duration::from_millis(10),
            commit_interval: Duration::from_secs(1),
            flush_timeout: Duration::from_secs(60),
            rebuild_changes_max: 100_000,
            sweep_interval: Some(Duration::from_secs(5)),
            topics_announce_interval: Duration::from_secs(10),
            backoff_max: Duration::from_secs(5),
            stall_max: Duration::from_secs(90),
            session_filter_rate_max_per_s: 1_000,
            backfill: BackfillConfig::default(),
            event_limits: EventLimits::default(),
            matcher_options: MatcherOptions::default(),
        }
    }
}

/// The bounds of time travel: every backfill job is cut at the first one
/// reached, and then says `complete: false` (docs/operations.md, "Time travel").
#[derive(Clone, Debug)]
pub struct BackfillConfig {
    /// Backfill runner threads per worker process, each running one job at
    /// a time; 0 leaves the jobs to other workers (default 1).
    pub threads: usize,
    /// Threads that scan one job, each a share of its raw partitions (a
    /// partition is never split); 0 means one per core, at most
    /// `SCAN_THREADS_DEFAULT_MAX` (default 0). A runner's scan uses at most
    /// one thread per partition with records to read.
    pub scan_threads: usize,
    /// How long a claim holds a job without renewal (default 10 s); the
    /// runner renews every third of it. A worker that dies mid-scan holds
    /// its job this long before another claims it.
    pub lease: Duration,
    /// How often an idle runner asks for a job (default 100 ms): the
    /// first part of the wait before history starts.
    pub claim_interval: Duration,
    /// Raw events one job may scan (default 20,000,000); past it, only the
    /// newest this many (up to the seams) are scanned.
    pub scan_events_max: u64,
    /// How long one job may scan (default 30 s); the scan stops there.
    pub scan_time_max: Duration,
    /// How far back `history: N` without `since_ms` looks (default 5 min).
    pub lookback: Duration,
    /// A partition that has no seam yet and whose end offset has not moved
    /// for this long after the claim is idle: its seam is its end offset
    /// (default 200 ms; must exceed the time a worker takes to make a new
    /// filter live, at most 63 ms measured, see engine/DESIGN.md "Time
    /// travel").
    pub seam_settle: Duration,
    /// The longest wait for seams after the claim (default 5 s); then each
    /// partition still without one is cut at its end offset (a gap is not
    /// possible, duplicates are).
    pub seam_wait_max: Duration,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        BackfillConfig {
            threads: 1,
            scan_threads: 0,
            lease: crate::registry::LEASE_DEFAULT,
            claim_interval: Duration::from_millis(100),
            scan_events_max: 20_000_000,
            scan_time_max: Duration::from_secs(30),
            lookback: Duration::from_secs(300),
            seam_settle: Duration::from_millis(200),
            seam_wait_max: Duration::from_secs(5),
        }
    }
}

impl BackfillConfig {
    /// The most scan threads per job that `scan_threads: 0` gives, so that a
    /// many-core machine running several jobs at once does not start dozens
    /// of threads for each; ask for more explicitly.
    pub const SCAN_THREADS_DEFAULT_MAX: usize = 8;

    /// The scan threads one job may use.
    pub fn scan_thread_count(&self) -> usize {
        if self.scan_threads > 0 {
            self.scan_threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(Self::SCAN_THREADS_DEFAULT_MAX)
        }
    }
}

impl WorkerConfig {
    /// The number of filter threads to start.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// Doubling waits between retries, capped: every retry loop of the worker
/// is bounded in rate, never a hot spin against a dead service.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) const FIRST: Duration = Duration::from_millis(50);

    pub(crate) fn new(max: Duration) -> Self {
        Backoff { next: Self::FIRST, max }
    }

    /// The wait before the next attempt.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}
