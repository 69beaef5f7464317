//! Backfill jobs: a session filter's request for the matches it missed
//! (`subscribe` with `since_ms` or `history`), stored beside the filter and
//! served by exactly one worker at a time (engine/DESIGN.md, "Time travel").
//!
//! A job is created in the same transaction as its filter, so a worker that
//! sees the filter go live sees its job too ([`super::FilterRow::backfill_pending`]).
//! Workers claim open jobs under a lease (`SELECT ... FOR UPDATE SKIP
//! LOCKED` in PostgreSQL): the claimer renews it while it scans; a claimer
//! that dies stops renewing, the lease runs out, and another worker claims
//! the job again (at-least-once: the matches the first one produced are
//! produced again). Finishing needs the lease, so a claimer that lost it
//! cannot finish a job somebody else now runs.
//!
//! Seams: the offset of each raw partition from which live matching of the
//! filter is certain, written by the filter threads (first writer wins) and
//! read by the claimer, which scans up to them.

use std::time::Duration;

use crate::log::PartitionId;
use crate::matcher::FilterId;

/// What a subscription asks of its backfill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackfillRequest {
    /// Scan from this Unix time in ms; `None`: from the worker's look-back
    /// (`history: N` alone).
    pub since_ms: Option<i64>,
    /// The most matches to send: the newest ones are kept.
    pub matches_max: u32,
}

/// A claimed job, as a worker runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillJob {
    /// The filter it serves (one job per filter).
    pub filter_id: FilterId,
    /// The filter's source text.
    pub expression: String,
    /// The filter's raw topics (`None`: every one): the scan reads only those.
    pub topics: Option<Vec<String>>,
    pub request: BackfillRequest,
    /// How many times it was claimed, this claim included: above 1, an
    /// earlier claimer died or lost its lease.
    pub attempts: u32,
    /// When the job was created, Unix ms by the registry's clock.
    pub created_ms: i64,
}

/// How a job ended, stored with it (and sent in `history_done`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackfillOutcome {
    pub events_scanned: u64,
    pub matches: u64,
    /// False when a bound cut the scan short, matches past `matches_max`
    /// were left out, or retention did not reach back to the start.
    pub complete: bool,
}

/// One partition's seam for one filter: live matching covers this offset
/// and every later one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Seam {
    pub filter_id: FilterId,
    /// The raw topic of `partition`.
    pub topic: String,
    pub partition: PartitionId,
    pub offset: i64,
}

/// The default lease of a claim (`--backfill-lease-ms`), renewed every
/// third of it.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(10);

/// The claim contract, checked against each adapter (`postgres/tests.rs`,
/// `memory/tests.rs`): one holder at a time, a lapsed lease is claimed
/// again, a lost lease can neither renew nor finish, the first seam per
/// partition stays, and a filter's row says whether its job is pending.
#[cfg(test)]
pub(crate) fn check_claim_contract(registry: &dyn super::Registry) {
    use super::NewFilter;
    let short = Duration::from_millis(300);
    let plain = registry.insert(NewFilter::session("a == 1", "node-a", "test", Duration::from_secs(60))).unwrap();
    let request = BackfillRequest { since_ms: Some(1_000), matches_max: 7 };
    let filter = registry
        .insert(NewFilter::session("a == 2", "node-a", "test", Duration::from_secs(60)).with_backfill(request))
        .unwrap();
    let pending = |id: FilterId| registry.list().unwrap().iter().any(|row| row.id == id && row.backfill_pending);
    assert!(pending(filter) && !pending(plain));
    let job = registry.claim_backfill("first", short).unwrap().expect("one open job");
    assert_eq!((job.filter_id, job.expression.as_str(), job.request, job.attempts), (filter, "a == 2", request, 1));
    assert_eq!(registry.claim_backfill("second", short).unwrap(), None, "held by the first");
    let partition = crate::log::PartitionId(1);
    let seam = |filter_id, topic: &str, offset| Seam { filter_id, topic: topic.to_owned(), partition, offset };
    registry.record_seams(&[seam(filter, "raw", 40)]).unwrap();
    registry.record_seams(&[seam(filter, "raw", 55), seam(filter, "other", 3)]).unwrap();
    registry.record_seams(&[seam(plain, "raw", 9)]).unwrap();
    assert_eq!(
        registry.seams(filter).unwrap(),
        [seam(filter, "other", 3), seam(filter, "raw", 40)],
        "first writer wins"
    );
    assert!(registry.seams(plain).unwrap().is_empty(), "no job, no seams");
    std::thread::sleep(short * 2); // let the lease lapse: the fact under test
    let again = registry.claim_backfill("second", Duration::from_secs(60)).unwrap().expect("the lapsed job");
    assert_eq!((again.filter_id, again.attempts), (filter, 2));
    assert!(!registry.renew_backfill(filter, "first", short).unwrap(), "the first lost its lease");
    let outcome = BackfillOutcome { events_scanned: 10, matches: 2, complete: true };
    assert!(!registry.finish_backfill(filter, "first", outcome).unwrap());
    assert!(registry.renew_backfill(filter, "second", Duration::from_secs(60)).unwrap());
    assert!(registry.finish_backfill(filter, "second", outcome).unwrap());
    assert_eq!(registry.claim_backfill("third", short).unwrap(), None, "finished jobs are not claimed");
    assert!(!pending(filter));
    registry.delete(&[filter]).unwrap();
}
