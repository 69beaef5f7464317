//! Time travel: backfill jobs, run by the workers from the raw topic's
//! retention (engine/DESIGN.md, "Time travel").
//!
//! A `subscribe` with `since_ms` or `history` makes the gateway insert its
//! filter with a backfill job (`registry/backfill.rs`). Each runner thread
//! of a worker claims one job at a time under a lease and:
//!
//! 1. finds each raw partition's start: the first offset at or after
//!    `since_ms` (Kafka's offsets for times), or `now - lookback` for
//!    `history: N` alone;
//! 2. waits for the seams (`seams.rs`): where the filter threads began
//!    matching the filter live; a partition without traffic is cut at its
//!    end offset once that has not moved for `seam_settle`;
//! 3. scans `[start, seam)` of every partition with the filter alone,
//!    through the same compiled matcher as live matching (prefilter on),
//!    keeping the newest `matches_max` matches (`scan.rs`), within the
//!    events and time bounds; the partitions are dealt to up to
//!    `scan_threads` threads (`parallel.rs`) while this thread keeps the
//!    lease;
//! 4. produces them to the filtered topic as history records (`ct.history=1`),
//!    in timestamp order (offset order per partition), then one
//!    `history_done` record; flushes; marks the job finished.
//!
//! A runner that dies (or loses its lease) leaves the job unfinished: its
//! lease runs out and another runner claims it and runs it again from the
//! start, so matches produced by the first are produced twice
//! (at-least-once, as everywhere on the filtered topic). The runners never
//! touch the filter threads' hot loop: they have their own consumer and
//! producer.
//!
//! Layout: `seams.rs` (the filter threads' side), `scan.rs` (ranges,
//! the scan, the kept matches), `parallel.rs` (one job's scan threads),
//! this file (the runner thread).

mod parallel;
mod scan;
pub(crate) mod seams;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parallel::ScanJob;
use scan::{Cut, Range};

use super::config::{Backoff, WorkerConfig};
use super::filtered_record::{self, FilteredRecord, HeaderEncoder, HistoryDoneRecord};
use super::metrics::{self as names, WorkerStats};
use crate::clock::{now_ms, now_us};
use crate::log::{Log, LogError, LogProducer, Message, PartitionId, RawTopics, Record};
use crate::matcher::{FilterId, FilterSet};
use crate::registry::{BackfillJob, BackfillOutcome, Registry, RegistryError};

/// How often the seams and the partitions' end offsets are read while
/// waiting for the seams.
const SEAM_POLL: Duration = Duration::from_millis(50);

pub(crate) struct BackfillRunner {
    pub(crate) index: usize,
    pub(crate) config: WorkerConfig,
    pub(crate) log: Arc<dyn Log>,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// This runner's name in the job's `claimed_by`: unique per process
    /// start and thread, so a restarted worker never finishes a job its
    /// previous life claimed.
    pub(crate) claimer: String,
}

/// Why a job was given up (it is claimed again once its lease runs out).
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("the lease was lost: another worker runs the job now, or its filter is gone")]
    LeaseLost,
    #[error("the worker is stopping")]
    Stopping,
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot start a scan thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The claim on one job: renewed every third of the lease.
struct Lease<'a> {
    runner: &'a BackfillRunner,
    filter_id: FilterId,
    renewed: Instant,
    lost: bool,
}

impl Lease<'_> {
    /// Renews when due; false once the lease is lost (or the worker stops).
    fn keep(&mut self) -> bool {
        if self.lost || self.runner.stopping() {
            return false;
        }
        let lease = self.runner.config.backfill.lease;
        if self.renewed.elapsed() < lease / 3 {
            return true;
        }
        match self.runner.registry.renew_backfill(self.filter_id, &self.runner.claimer, lease) {
            Ok(true) => self.renewed = Instant::now(),
            Ok(false) => self.lost = true,
            // The registry is away: keep going while the lease may still
            // hold, since nobody else can claim the job before it runs out.
            Err(error) => {
                tracing::warn!(filter_id = self.filter_id.0, %error, "backfill: cannot renew the lease");
                self.lost = self.renewed.elapsed() >= lease;
            }
        }
        !self.lost
    }
}

impl BackfillRunner {
    pub(crate) fn run(self) {
        let mut backoff = Backoff::new(self.config.backoff_max);
        while !self.stopping() {
            match self.registry.claim_backfill(&self.claimer, self.config.backfill.lease) {
                Ok(Some(job)) => {
                    backoff.reset();
                    let filter_id = job.filter_id;
                    if let Err(error) = self.run_job(job) {
                        tracing::warn!(runner = self.index, filter_id = filter_id.0, %error, "backfill job given up");
                        metrics::counter!(names::BACKFILL_JOBS_ABANDONED).increment(1);
                        WorkerStats::add(&self.stats.backfill_jobs_abandoned, 1);
                    }
                }
                Ok(None) => self.sleep_unless_stopped(self.config.backfill.claim_interval),
                Err(error) => {
                    tracing::warn!(runner = self.index, %error, "backfill: cannot claim jobs; retrying");
                    metrics::counter!(names::REGISTRY_ERRORS).increment(1);
                    self.sleep_unless_stopped(backoff.next_wait());
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn sleep_unless_stopped(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.stopping() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
        }
    }

    fn run_job(&self, job: BackfillJob) -> Result<(), JobError> {
        let claimed_at = Instant::now();
        let bounds = &self.config.backfill;
        let mut lease = Lease { runner: self, filter_id: job.filter_id, renewed: claimed_at, lost: false };
        tracing::info!(
            filter_id = job.filter_id.0,
            since_ms = job.request.since_ms,
            matches_max = job.request.matches_max,
            attempts = job.attempts,
            "backfill job claimed"
        );
        let mut set = FilterSet::new(self.config.matcher_options);
        if let Err(error) = set.insert_source(job.filter_id, &job.expression) {
            // The registry validated it; a row written around it gets an
            // empty, incomplete history rather than a job retried forever.
            tracing::warn!(filter_id = job.filter_id.0, %error, "backfill: the filter does not parse");
            let outcome = BackfillOutcome { events_scanned: 0, matches: 0, complete: false };
            return self.send_history(&job, Vec::new(), outcome, &mut lease);
        }
        let matcher = set.build();
        // Every (topic, partition) of the raw topics consumed now that the
        // filter's topics hold (all of them when it has none), numbered 0..
        // (a range's slot).
        let scope = job.topics.as_ref().and_then(|topics| RawTopics::parse(&topics.join(",")).ok());
        let raw: Vec<(Arc<str>, PartitionId)> = super::resolve_raw_topics(self.log.as_ref(), &self.config.raw_topics)?
            .into_iter()
            .filter(|(topic, _)| scope.as_ref().is_none_or(|scope| scope.contains(topic)))
            .flat_map(|(topic, partitions)| {
                let topic: Arc<str> = Arc::from(topic);
                (0..partitions).map(move |p| (Arc::clone(&topic), PartitionId(p)))
            })
            .collect();
        let since_ms = job.request.since_ms.unwrap_or_else(|| now_ms() - bounds.lookback.as_millis() as i64);
        // Whether the whole range asked was there and scanned.
        let mut range_whole = true;
        let mut time_cut = false;
        let mut starts = Vec::with_capacity(raw.len());
        for (topic, partition) in &raw {
            let (low, high) = self.log.watermarks(topic, *partition)?;
            let start = self.log.offset_for_time(topic, *partition, since_ms)?.unwrap_or(high);
            // Records before `low` are gone: if the first retained one is
            // the start, older ones at or after `since_ms` may have been too.
            if start == low && low > 0 {
                range_whole = false;
            }
            starts.push(start);
        }
        let ends = self.wait_for_seams(&job, &raw, claimed_at, &mut lease)?;
        let mut ranges: Vec<Range> = raw
            .iter()
            .enumerate()
            .map(|(slot, (topic, partition))| Range {
                topic: Arc::clone(topic),
                partition: *partition,
                slot,
                start: starts[slot],
                end: ends[slot],
            })
            .collect();
        if scan::fit_to_budget(&mut ranges, bounds.scan_events_max) {
            range_whole = false;
        }
        let scan_job = ScanJob {
            log: self.log.as_ref(),
            matcher: &matcher,
            event_limits: self.config.event_limits,
            partitions: raw.len(),
            matches_max: job.request.matches_max as usize,
            deadline: Instant::now() + bounds.scan_time_max,
        };
        let scanned = parallel::scan_on_threads(&scan_job, &ranges, bounds.scan_thread_count(), || lease.keep())?;
        let (kept, events_scanned) = (scanned.kept, scanned.events_scanned);
        metrics::counter!(names::BACKFILL_EVENTS_SCANNED).increment(events_scanned);
        WorkerStats::add(&self.stats.backfill_events_scanned, events_scanned);
        match scanned.cut {
            None => {}
            Some(Cut::Time) => time_cut = true,
            Some(Cut::Stopped) if self.stopping() => return Err(JobError::Stopping),
            Some(Cut::Stopped) => return Err(JobError::LeaseLost),
        }
        let complete = match job.request.since_ms {
            // Every match since then: all of the range, none left out.
            Some(_) => range_whole && !time_cut && kept.evicted == 0,
            // The newest N: found them (a shortened range keeps its newest
            // part), or read the whole look-back. A time cut stops before
            // the newest part, so it is never complete.
            None => !time_cut && (kept.len() == job.request.matches_max as usize || range_whole),
        };
        let outcome = BackfillOutcome { events_scanned, matches: kept.len() as u64, complete };
        self.send_history(&job, kept.into_ordered(), outcome, &mut lease)
    }

    /// Each partition's seam: recorded by a filter thread, or, for a
    /// partition whose end offset stays put for `seam_settle` (no traffic),
    /// that end offset; past `seam_wait_max`, the end offset of every
    /// partition still without one. The end offset is safe once the filter
    /// is live on every thread (within `seam_settle` of the claim): any
    /// later record is matched live. It may send duplicates, never a gap.
    fn wait_for_seams(
        &self,
        job: &BackfillJob,
        raw: &[(Arc<str>, PartitionId)],
        claimed_at: Instant,
        lease: &mut Lease<'_>,
    ) -> Result<Vec<i64>, JobError> {
        let bounds = &self.config.backfill;
        let mut ends: Vec<Option<i64>> = vec![None; raw.len()];
        // Per partition without a seam: its end offset and since when it has not moved.
        let mut quiet: Vec<Option<(i64, Instant)>> = vec![None; raw.len()];
        loop {
            if !lease.keep() {
                return Err(if self.stopping() { JobError::Stopping } else { JobError::LeaseLost });
            }
            for seam in self.registry.seams(job.filter_id)? {
                let slot =
                    raw.iter().position(|(topic, partition)| **topic == seam.topic && *partition == seam.partition);
                if let Some(slot) = slot {
                    ends[slot] = Some(seam.offset);
                }
            }
            let now = Instant::now();
            let waited = now.duration_since(claimed_at);
            for p in 0..raw.len() {
                if ends[p].is_some() {
                    continue;
                }
                let (topic, partition) = &raw[p];
                let (_, high) = self.log.watermarks(topic, *partition)?;
                match quiet[p] {
                    Some((seen, since)) if seen == high => {
                        if waited >= bounds.seam_settle && now.duration_since(since) >= bounds.seam_settle {
                            ends[p] = Some(high);
                        }
                    }
                    _ => quiet[p] = Some((high, now)),
                }
                if waited >= bounds.seam_wait_max {
                    tracing::debug!(
                        filter_id = job.filter_id.0,
                        topic = &**topic,
                        partition = partition.0,
                        "backfill: no seam; cut at the end"
                    );
                    ends[p] = Some(high);
                }
            }
            if ends.iter().all(Option::is_some) {
                return Ok(ends.into_iter().flatten().collect());
            }
            std::thread::sleep(SEAM_POLL);
        }
    }

    /// Produces the kept matches as history records, then `history_done`,
    /// waits for their acknowledgement, and marks the job finished.
    fn send_history(
        &self,
        job: &BackfillJob,
        matches: Vec<Record>,
        outcome: BackfillOutcome,
        lease: &mut Lease<'_>,
    ) -> Result<(), JobError> {
        if !lease.keep() {
            return Err(JobError::LeaseLost);
        }
        let producer = self.log.producer()?;
        let filtered = &self.config.filtered_topic;
        let partition = filtered_record::filtered_partition(job.filter_id, self.log.partition_count(filtered)?);
        let mut key = Vec::new();
        filtered_record::encode_key(job.filter_id, &mut key);
        let mut headers = HeaderEncoder::default();
        let match_timestamp_us = now_us();
        for record in &matches {
            let history = FilteredRecord {
                filter_id: job.filter_id,
                raw_topic: &record.topic,
                raw_partition: record.partition,
                raw_offset: record.offset,
                ingest_timestamp_us: record.timestamp_ms.saturating_mul(1000),
                match_timestamp_us,
                history: true,
                event: &record.payload,
            };
            let message = Message {
                key: &key,
                payload: &record.payload,
                partition: Some(partition),
                timestamp_ms: match_timestamp_us / 1000,
                headers: &headers.encode(&history),
            };
            self.send(producer.as_ref(), message)?;
        }
        let done = HistoryDoneRecord {
            filter_id: job.filter_id,
            events_scanned: outcome.events_scanned,
            matches: outcome.matches,
            complete: outcome.complete,
        };
        let message = Message {
            key: &key,
            payload: &[],
            partition: Some(partition),
            timestamp_ms: now_ms(),
            headers: &headers.encode_history_done(&done),
        };
        self.send(producer.as_ref(), message)?;
        producer.flush(self.config.flush_timeout)?;
        if !self.registry.finish_backfill(job.filter_id, &self.claimer, outcome)? {
            // Another runner took the job over meanwhile; it sends its own
            // history too (the duplicates at-least-once allows).
            return Err(JobError::LeaseLost);
        }
        metrics::counter!(names::BACKFILL_JOBS).increment(1);
        metrics::counter!(names::BACKFILL_MATCHES).increment(outcome.matches);
        if !outcome.complete {
            metrics::counter!(names::BACKFILL_JOBS_INCOMPLETE).increment(1);
        }
        WorkerStats::add(&self.stats.backfill_jobs, 1);
        tracing::info!(
            filter_id = job.filter_id.0,
            events_scanned = outcome.events_scanned,
            matches = outcome.matches,
            complete = outcome.complete,
            "backfill job finished"
        );
        Ok(())
    }

    fn send(&self, producer: &dyn LogProducer, message: Message<'_>) -> Result<(), LogError> {
        producer.send_or_flush_once(&self.config.filtered_topic, message, self.config.flush_timeout)
    }
}

/// A claimer name unique to this process start and runner thread.
pub(crate) fn claimer_name(index: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}/{}/{}/{index}", std::process::id(), now_us())
}
