//! Seams: where live matching of a new filter begins, per raw partition
//! (of each raw topic).
//!
//! A filter with a backfill job is published with its id in
//! [`LiveFilters::seam_watch`], in the same version that makes it live. A
//! filter thread that processes a record of partition `p` with such a
//! version records `seam(filter, p)` = that record's offset, the first
//! time per (filter, partition): every later record of `p` is matched with
//! this version or a newer one, so live matching covers `[seam, ∞)`; a
//! record re-read after a crash is read by a thread that has the filter
//! too. The claimer scans `[start, seam)`, so nothing falls between and
//! nothing is sent twice (engine/DESIGN.md, "Time travel").
//!
//! The hot loop pays one `is_empty` per record when no job is pending, and
//! one array read and compare per record when one is; the rest runs once
//! per (partition, version). Seams leave the thread through a bounded
//! channel to the control thread, which writes them to the registry; a
//! full channel drops a seam (counted): the claimer then cuts that
//! partition at its end offset, which sends duplicates, never leaves a gap.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use crate::log::PartitionId;
use crate::matcher::FilterId;
use crate::registry::Seam;
use crate::worker::live::LiveFilters;

/// Seams queued between the filter threads and the control thread.
pub(crate) const SEAMS_QUEUED_MAX: usize = 65_536;

/// The channel's two ends.
pub(crate) fn channel() -> (SyncSender<Seam>, Receiver<Seam>) {
    std::sync::mpsc::sync_channel(SEAMS_QUEUED_MAX)
}

/// One filter thread's record of the seams it has written.
pub(crate) struct SeamTracker {
    /// Per raw partition (numbered by `TopicSlots`), the version last
    /// checked there (`u64::MAX`: never).
    checked_generation: Vec<u64>,
    /// (filter, partition number) pairs already sent, for filters still watched.
    sent: HashSet<(FilterId, u32)>,
    /// The version `sent` was last pruned for.
    pruned_generation: u64,
    outbox: SyncSender<Seam>,
    /// Seams the full channel refused.
    pub(crate) dropped: u64,
}

impl SeamTracker {
    pub(crate) fn new(outbox: SyncSender<Seam>) -> Self {
        SeamTracker { checked_generation: Vec::new(), sent: HashSet::new(), pruned_generation: 0, outbox, dropped: 0 }
    }

    /// Called for each record matched with `live` while its `seam_watch`
    /// is not empty; `slot` numbers (`topic`, `partition`) in this thread.
    #[inline]
    pub(crate) fn observe(&mut self, live: &LiveFilters, slot: u32, topic: &str, partition: PartitionId, offset: i64) {
        if self.checked_generation.get(slot as usize) == Some(&live.generation) {
            return;
        }
        self.observe_new_version(live, slot, topic, partition, offset);
    }

    #[cold]
    fn observe_new_version(&mut self, live: &LiveFilters, slot: u32, topic: &str, partition: PartitionId, offset: i64) {
        let index = slot as usize;
        if self.checked_generation.len() <= index {
            self.checked_generation.resize(index + 1, u64::MAX);
        }
        self.checked_generation[index] = live.generation;
        if self.pruned_generation != live.generation {
            self.pruned_generation = live.generation;
            self.sent.retain(|(filter, _)| live.seam_watch.binary_search(filter).is_ok());
        }
        for &filter_id in &live.seam_watch {
            if !self.sent.insert((filter_id, slot)) {
                continue;
            }
            match self.outbox.try_send(Seam { filter_id, topic: topic.to_owned(), partition, offset }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped += 1;
                    metrics::counter!(crate::worker::metrics::SEAMS_DROPPED).increment(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{FilterSet, MatcherOptions};
    use std::time::Instant;

    fn version(generation: u64, seam_watch: &[u64]) -> LiveFilters {
        LiveFilters {
            matcher: FilterSet::new(MatcherOptions::default()).build(),
            scoped: Vec::new(),
            ids: Vec::new(),
            rate_max_per_s: Vec::new(),
            seam_watch: seam_watch.iter().map(|id| FilterId(*id)).collect(),
            generation,
            published_at: Instant::now(),
        }
    }

    #[test]
    fn the_first_record_of_each_partition_per_watched_filter_is_its_seam() {
        let (outbox, seams) = channel();
        let mut tracker = SeamTracker::new(outbox);
        let first = version(3, &[7]);
        for (partition, offset) in [(0, 10), (0, 11), (2, 40), (0, 12), (2, 41)] {
            tracker.observe(&first, partition, "raw", PartitionId(partition), offset);
        }
        // A newer version watching one more filter: 7 keeps its seams.
        let second = version(4, &[7, 9]);
        for (partition, offset) in [(0, 13), (2, 42), (1, 5)] {
            tracker.observe(&second, partition, "raw", PartitionId(partition), offset);
        }
        // The same partition number of another topic is another seam.
        tracker.observe(&second, 3, "other", PartitionId(0), 70);
        let got: Vec<(u64, &str, u32, i64)> = seams
            .try_iter()
            .map(|s| (s.filter_id.0, if s.topic == "raw" { "raw" } else { "other" }, s.partition.0, s.offset))
            .collect();
        assert_eq!(
            got,
            [
                (7, "raw", 0, 10),
                (7, "raw", 2, 40),
                (9, "raw", 0, 13),
                (9, "raw", 2, 42),
                (7, "raw", 1, 5),
                (9, "raw", 1, 5),
                (7, "other", 0, 70),
                (9, "other", 0, 70)
            ]
        );
        assert_eq!(tracker.dropped, 0);
    }
}
