//! One backfill scan: choose each raw partition's range, read it with the
//! job's filter alone, keep the newest matches within the bound.
//!
//! A range is `[start, seam)`: `start` is the first record at or after
//! `since_ms` (offsets for times), `seam` where live matching of the filter
//! begins (`seams.rs`). When the ranges hold more than `scan_events_max`
//! records, each is shortened from its old end in proportion, so the scan
//! still reaches the seams and the history joins the live stream without a
//! hole; the job then says `complete: false`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::log::{LogConsumer, LogError, PartitionId, Record};
use crate::matcher::{FilterId, MatchScratch, Matcher};

/// Records read per poll of the scan.
const POLL_RECORDS_MAX: usize = 4_096;

/// One raw partition's part of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// The raw topic of `partition` (a worker may consume several).
    pub(crate) topic: Arc<str>,
    pub(crate) partition: PartitionId,
    /// The job's number for (topic, partition), 0.. (the kept matches are
    /// held per slot).
    pub(crate) slot: usize,
    /// The first offset to scan.
    pub(crate) start: i64,
    /// The seam: the first offset not to scan (live matching has it).
    pub(crate) end: i64,
}

impl Range {
    fn len(&self) -> u64 {
        (self.end - self.start).max(0) as u64
    }
}

/// Shortens `ranges` from their old ends so that they hold at most
/// `events_max` records, each keeping a share in proportion to its length;
/// returns whether anything was cut.
pub(crate) fn fit_to_budget(ranges: &mut [Range], events_max: u64) -> bool {
    let total: u64 = ranges.iter().map(Range::len).sum();
    if total <= events_max {
        return false;
    }
    let original: Vec<Range> = ranges.to_vec();
    let mut left = events_max;
    for range in ranges.iter_mut() {
        // u128: `len * events_max` may not fit a u64.
        let share = (u128::from(range.len()) * u128::from(events_max) / u128::from(total)) as u64;
        range.start = range.end - share as i64;
        left -= share;
    }
    // The rounding remainder (fewer than one per range) goes to ranges
    // with records left, so the scan reads `events_max` exactly.
    for (range, original) in ranges.iter_mut().zip(&original) {
        if left == 0 {
            break;
        }
        if range.start > original.start {
            range.start -= 1;
            left -= 1;
        }
    }
    true
}

/// Deals the ranges with records to at most `threads` scan threads, each
/// range whole (a partition is read in offset order by one consumer),
/// longest first to the thread with the fewest records so far: the threads
/// finish close together. Empty when no range has records.
pub(crate) fn split(ranges: &[Range], threads: usize) -> Vec<Vec<Range>> {
    let mut longest_first: Vec<Range> = ranges.iter().filter(|range| range.len() > 0).cloned().collect();
    longest_first.sort_by_key(|range| (std::cmp::Reverse(range.len()), range.slot));
    let mut groups: Vec<(u64, Vec<Range>)> = vec![(0, Vec::new()); threads.max(1).min(longest_first.len())];
    for range in longest_first {
        if let Some((records, group)) = groups.iter_mut().min_by_key(|(records, _)| *records) {
            *records += range.len();
            group.push(range);
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// A history match, kept until the scan ends.
#[derive(Debug)]
pub(crate) struct Kept {
    pub(crate) record: Record,
}

/// The newest `max` matches seen, per partition (slot) in offset order.
pub(crate) struct NewestMatches {
    per_partition: Vec<VecDeque<Kept>>,
    len: usize,
    max: usize,
    /// Matches left out for the bound.
    pub(crate) evicted: u64,
}

impl NewestMatches {
    pub(crate) fn new(partitions: usize, max: usize) -> Self {
        NewestMatches { per_partition: (0..partitions).map(|_| VecDeque::new()).collect(), len: 0, max, evicted: 0 }
    }

    /// Keeps `record`, a match of the partition numbered `slot`.
    pub(crate) fn push(&mut self, slot: usize, record: Record) {
        if self.max == 0 {
            self.evicted += 1;
            return;
        }
        let index = slot;
        if index >= self.per_partition.len() {
            self.per_partition.resize_with(index + 1, VecDeque::new);
        }
        self.per_partition[index].push_back(Kept { record });
        self.len += 1;
        self.evict_beyond_max();
    }

    /// Takes in the matches another scan thread kept from other partitions
    /// (a partition is scanned by one thread only), then keeps the newest
    /// `max` of both. With timestamps that grow along each partition, as
    /// the log's do, the kept set is the newest `max` by (timestamp,
    /// partition, offset) whatever the order the matches came in, so
    /// merging per-thread sets gives what one thread would have kept.
    pub(crate) fn merge(&mut self, other: NewestMatches) {
        if self.per_partition.len() < other.per_partition.len() {
            self.per_partition.resize_with(other.per_partition.len(), VecDeque::new);
        }
        for (mine, mut theirs) in self.per_partition.iter_mut().zip(other.per_partition) {
            debug_assert!(mine.is_empty() || theirs.is_empty(), "a partition scanned by two threads");
            mine.append(&mut theirs);
        }
        self.len += other.len;
        self.evicted += other.evicted;
        self.evict_beyond_max();
    }

    fn evict_beyond_max(&mut self) {
        while self.len > self.max {
            // The oldest kept match overall is the oldest head of a partition.
            let oldest = self
                .per_partition
                .iter()
                .enumerate()
                .filter_map(|(p, kept)| kept.front().map(|k| (k.record.timestamp_ms, p)))
                .min()
                .map(|(_, p)| p);
            let Some(p) = oldest else { return };
            self.per_partition[p].pop_front();
            self.len -= 1;
            self.evicted += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The kept matches, merged in timestamp order across partitions and in
    /// offset order within each.
    pub(crate) fn into_ordered(mut self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len);
        loop {
            let next = self
                .per_partition
                .iter()
                .enumerate()
                .filter_map(|(p, kept)| kept.front().map(|k| (k.record.timestamp_ms, p)))
                .min()
                .map(|(_, p)| p);
            match next {
                Some(p) => out.push(self.per_partition[p].pop_front().expect("has a front").record),
                None => return out,
            }
        }
    }
}

/// Why a scan ended before its ranges did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// `scan_time_max` passed.
    Time,
    /// Told to stop: the claimer lost its lease, the worker is stopping,
    /// or another scan thread of the job failed.
    Stopped,
}

/// What a scan read.
pub(crate) struct ScanResult {
    pub(crate) events_scanned: u64,
    pub(crate) cut: Option<Cut>,
}

/// Reads `ranges` (all of one topic) with `consumer` (positioned at their
/// starts) and keeps `filter`'s matches in `kept`; calls `keep_going` about
/// every 4,096 records, and stops when it returns false or at `deadline`.
pub(crate) fn scan(
    consumer: &mut dyn LogConsumer,
    ranges: &[Range],
    matcher: &Matcher,
    scratch: &mut MatchScratch,
    kept: &mut NewestMatches,
    deadline: Instant,
    mut keep_going: impl FnMut() -> bool,
) -> Result<ScanResult, LogError> {
    // Per partition: the end offset and the slot, while open.
    let mut ends: Vec<Option<(i64, usize)>> = Vec::new();
    for range in ranges.iter().filter(|range| range.len() > 0) {
        let index = range.partition.0 as usize;
        if ends.len() <= index {
            ends.resize(index + 1, None);
        }
        ends[index] = Some((range.end, range.slot));
    }
    let mut open = ends.iter().flatten().count();
    let mut batch = Vec::with_capacity(POLL_RECORDS_MAX);
    let mut ids: Vec<FilterId> = Vec::new();
    let mut events_scanned = 0u64;
    let mut cut = None;
    while open > 0 {
        if Instant::now() >= deadline {
            cut = Some(Cut::Time);
            break;
        }
        if !keep_going() {
            cut = Some(Cut::Stopped);
            break;
        }
        batch.clear();
        let wait = deadline.saturating_duration_since(Instant::now()).min(std::time::Duration::from_millis(200));
        consumer.poll(POLL_RECORDS_MAX, wait, &mut batch)?;
        for record in batch.drain(..) {
            let Some(end) = ends.get_mut(record.partition.0 as usize) else { continue };
            let Some((end_offset, slot)) = *end else { continue };
            if record.offset >= end_offset {
                // Past the seam (an offset gap can hide the seam's own record).
                *end = None;
                open -= 1;
                continue;
            }
            events_scanned += 1;
            matcher.match_event(&record.payload, scratch, &mut ids);
            let last = record.offset + 1 >= end_offset;
            if !ids.is_empty() {
                kept.push(slot, record);
            }
            if last {
                *end = None;
                open -= 1;
            }
        }
    }
    Ok(ScanResult { events_scanned, cut })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Headers;

    fn range_of(partition: u32, start: i64, end: i64) -> Range {
        Range { topic: Arc::from("raw"), partition: PartitionId(partition), slot: partition as usize, start, end }
    }

    fn record(partition: u32, offset: i64, timestamp_ms: i64) -> Record {
        Record {
            topic: Arc::from("raw"),
            partition: PartitionId(partition),
            offset,
            key: None,
            payload: crate::log::Payload::default(),
            timestamp_ms,
            headers: Headers::default(),
        }
    }

    #[test]
    fn a_budget_shortens_every_range_from_its_old_end() {
        let mut ranges = [range_of(0, 0, 600), range_of(1, 100, 500)];
        assert!(!fit_to_budget(&mut ranges.clone(), 1_000));
        assert!(fit_to_budget(&mut ranges, 500));
        assert_eq!(ranges[0], range_of(0, 300, 600));
        assert_eq!(ranges[1], range_of(1, 300, 500));
        // Shares that do not divide evenly still add up to the bound.
        let mut uneven = [range_of(0, 0, 101), range_of(1, 0, 99), range_of(2, 0, 103)];
        assert!(fit_to_budget(&mut uneven, 100));
        assert_eq!(uneven.iter().map(Range::len).sum::<u64>(), 100);
    }

    #[test]
    fn split_deals_whole_ranges_longest_first_to_the_lightest_thread() {
        let range = |partition, len: i64| range_of(partition, 10, 10 + len);
        let ranges = [range(0, 100), range(1, 400), range(2, 0), range(3, 300), range(4, 200)];
        let groups = split(&ranges, 2);
        let partitions: Vec<Vec<u32>> =
            groups.iter().map(|group| group.iter().map(|range| range.partition.0).collect()).collect();
        // 400 | 300, then 200 to the 300 side, then 100 to the 400 side; the empty range to none.
        assert_eq!(partitions, [vec![1, 0], vec![3, 4]]);
        assert_eq!(split(&ranges, 8).len(), 4, "one thread per range with records at most");
        assert_eq!(split(&ranges, 0).len(), 1);
        assert!(split(&[range(0, 0)], 4).is_empty());
    }

    #[test]
    fn merging_what_each_thread_kept_keeps_what_one_thread_keeps() {
        // Four partitions, timestamps growing along each, interleaved and
        // tied across partitions.
        let records: Vec<(u32, i64, i64)> =
            (0..40).map(|n| (n % 4, i64::from(n / 4), 1_000 + i64::from(n / 3))).collect();
        let ordered = |kept: NewestMatches| -> (u64, Vec<(u32, i64)>) {
            let evicted = kept.evicted;
            (evicted, kept.into_ordered().iter().map(|r| (r.partition.0, r.offset)).collect())
        };
        for max in [0, 1, 7, 25, 40, 100] {
            let mut one = NewestMatches::new(4, max);
            for &(p, offset, ts) in &records {
                one.push(p as usize, record(p, offset, ts));
            }
            // Two threads, partitions {0, 2} and {1, 3}; the first gets all
            // of partition 2 before partition 0 (batches of one partition).
            let mut first = NewestMatches::new(4, max);
            let mut second = NewestMatches::new(4, max);
            for partition in [2, 0] {
                for &(p, offset, ts) in records.iter().filter(|(p, _, _)| *p == partition) {
                    first.push(p as usize, record(p, offset, ts));
                }
            }
            for &(p, offset, ts) in records.iter().filter(|(p, _, _)| p % 2 == 1) {
                second.push(p as usize, record(p, offset, ts));
            }
            first.merge(second);
            assert_eq!(ordered(first), ordered(one), "max {max}");
        }
    }

    #[test]
    fn the_newest_matches_are_kept_and_merged_by_time() {
        let mut kept = NewestMatches::new(2, 3);
        for (partition, offset, ts) in [(0, 1, 10), (1, 1, 11), (0, 2, 12), (1, 2, 13), (0, 3, 14)] {
            kept.push(partition as usize, record(partition, offset, ts));
        }
        assert_eq!(kept.evicted, 2);
        let order: Vec<(u32, i64)> = kept.into_ordered().iter().map(|r| (r.partition.0, r.offset)).collect();
        assert_eq!(order, [(0, 2), (1, 2), (0, 3)]);
    }
}
