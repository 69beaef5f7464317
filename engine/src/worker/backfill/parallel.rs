//! One job's scan on several threads: its partitions' ranges are dealt to
//! up to `scan_threads` threads (`scan::split`), each with its own consumer,
//! scratch and kept matches; the runner thread keeps the lease meanwhile
//! and merges what they kept (`NewestMatches::merge`).
//!
//! What one thread guaranteed still holds: a partition is read by one
//! thread, in offset order, up to its seam; the events bound was applied to
//! the ranges before the split; every thread stops at the job's one
//! deadline; the kept set is the newest `matches_max` of the job (each
//! thread keeps its own newest `matches_max`, so a job holds at most
//! `threads × matches_max` matches until the merge). The only queue is
//! the threads' results channel, one slot per thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::scan::{self, Cut, NewestMatches, Range};
use super::JobError;
use crate::event::EventLimits;
use crate::log::{Log, LogError, PartitionId};
use crate::matcher::{MatchScratch, Matcher};

/// How often the runner thread checks the lease (and the stop flag) while
/// the scan threads run; the lease itself is renewed every third of it.
const LEASE_CHECK: Duration = Duration::from_millis(50);

/// What every scan thread of a job shares.
pub(crate) struct ScanJob<'a> {
    pub(crate) log: &'a dyn Log,
    pub(crate) matcher: &'a Matcher,
    pub(crate) event_limits: EventLimits,
    /// The job's (topic, partition) slots.
    pub(crate) partitions: usize,
    pub(crate) matches_max: usize,
    pub(crate) deadline: Instant,
}

/// What the scan threads of a job read and kept, merged.
pub(crate) struct Scanned {
    pub(crate) kept: NewestMatches,
    pub(crate) events_scanned: u64,
    /// The first reason a thread stopped early, if any did.
    pub(crate) cut: Option<Cut>,
}

/// Scans `ranges` on up to `threads` threads; calls `keep_going` (the
/// lease) every `LEASE_CHECK` until they end, and stops them all when it
/// returns false or one of them fails.
pub(crate) fn scan_on_threads(
    job: &ScanJob<'_>,
    ranges: &[Range],
    threads: usize,
    mut keep_going: impl FnMut() -> bool,
) -> Result<Scanned, JobError> {
    let groups = scan::split(ranges, threads);
    let mut scanned =
        Scanned { kept: NewestMatches::new(job.partitions, job.matches_max), events_scanned: 0, cut: None };
    if groups.is_empty() {
        return Ok(scanned);
    }
    let stop = AtomicBool::new(false);
    let mut failure: Option<JobError> = None;
    std::thread::scope(|scope| {
        let (results_in, results) = sync_channel(groups.len());
        for (index, group) in groups.iter().enumerate() {
            let (results_in, stop) = (results_in.clone(), &stop);
            let spawned = std::thread::Builder::new().name(format!("clicktail-backscan-{index}")).spawn_scoped(
                scope,
                move || {
                    // Cannot block: one slot per thread.
                    let _ = results_in.send(scan_group(job, group, stop));
                },
            );
            if let Err(error) = spawned {
                stop.store(true, Ordering::Relaxed);
                failure = Some(JobError::Spawn(error));
                break;
            }
        }
        drop(results_in);
        let mut lease_kept = true;
        loop {
            match results.recv_timeout(LEASE_CHECK) {
                Ok(Ok(part)) => {
                    scanned.kept.merge(part.kept);
                    scanned.events_scanned += part.events_scanned;
                    scanned.cut = scanned.cut.or(part.cut);
                }
                Ok(Err(error)) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(JobError::Log(error));
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Every thread has sent its result.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if lease_kept && !keep_going() {
                lease_kept = false;
                stop.store(true, Ordering::Relaxed);
                scanned.cut = Some(Cut::Stopped);
            }
        }
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(scanned),
    }
}

/// One scan thread: its own consumer over its ranges, one topic after
/// the other (a consumer reads one topic).
fn scan_group(job: &ScanJob<'_>, group: &[Range], stop: &AtomicBool) -> Result<Scanned, LogError> {
    let mut scratch = MatchScratch::new(job.event_limits);
    let mut scanned =
        Scanned { kept: NewestMatches::new(job.partitions, job.matches_max), events_scanned: 0, cut: None };
    let mut topics: Vec<&str> = group.iter().map(|range| &*range.topic).collect();
    topics.sort_unstable();
    topics.dedup();
    for topic in topics {
        let ranges: Vec<Range> = group.iter().filter(|range| &*range.topic == topic).cloned().collect();
        let positioned: Vec<(PartitionId, i64)> = ranges.iter().map(|range| (range.partition, range.start)).collect();
        let mut consumer = job.log.consumer_from(topic, &positioned)?;
        let result =
            scan::scan(consumer.as_mut(), &ranges, job.matcher, &mut scratch, &mut scanned.kept, job.deadline, || {
                !stop.load(Ordering::Relaxed)
            })?;
        scanned.events_scanned += result.events_scanned;
        if result.cut.is_some() {
            scanned.cut = result.cut;
            break;
        }
    }
    Ok(scanned)
}
