//! Sums the workers' `stats` records (one per filter thread per second,
//! `engine/src/worker/budget.rs`) into one `stats` frame per filter per
//! window for the session (docs/protocol.md, `stats`).
//!
//! A filter's window starts when its first record arrives and then follows
//! on from the previous frame, so windows are contiguous while the filter
//! matches: every record lands in exactly one frame (the `matched` of a
//! filter's frames add up to the workers' counts), and a window holds
//! about one record of each thread. A record whose thread closed its window
//! just after the gateway's lands in the next frame: a frame's rate is
//! off by at most one thread-window, the sum over frames is not.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clicktail_engine::matcher::FilterId;
use clicktail_engine::worker::filtered_record::StatsRecord;

/// How long a session's stats window lasts.
pub(crate) const STATS_WINDOW: Duration = Duration::from_secs(1);

/// One filter's sums over a window, ready to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FilterWindow {
    pub(crate) filter_id: FilterId,
    pub(crate) matched: u64,
    pub(crate) delivered: u64,
    pub(crate) since: Instant,
    pub(crate) window_ms: u64,
}

#[derive(Debug)]
struct Pending {
    matched: u64,
    delivered: u64,
    since: Instant,
    /// No record since the last frame: the filter is forgotten when its
    /// window ends empty. Bounds the map by the filters that match.
    empty: bool,
}

/// The open windows of every filter with stats, on the delivery thread.
#[derive(Debug, Default)]
pub(crate) struct FilterStatsWindows {
    pending: HashMap<FilterId, Pending>,
}

impl FilterStatsWindows {
    /// Adds one worker thread's record.
    pub(crate) fn add(&mut self, record: &StatsRecord, now: Instant) {
        let pending = self.pending.entry(record.filter_id).or_insert(Pending {
            matched: 0,
            delivered: 0,
            since: now,
            empty: true,
        });
        pending.matched += record.matched;
        pending.delivered += record.delivered;
        pending.empty = false;
    }

    /// A window the session could not take (its inbox was full): its
    /// counts join the filter's next frame, which then covers both.
    pub(crate) fn give_back(&mut self, window: FilterWindow) {
        let pending = self.pending.entry(window.filter_id).or_insert(Pending {
            matched: 0,
            delivered: 0,
            since: window.since,
            empty: true,
        });
        pending.matched += window.matched;
        pending.delivered += window.delivered;
        pending.since = pending.since.min(window.since);
        pending.empty = false;
    }

    /// Appends every window that is over and holds records to `out`, and
    /// opens the next; forgets filters whose window ended empty.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<FilterWindow>) {
        self.pending.retain(|&filter_id, pending| {
            let length = now.saturating_duration_since(pending.since);
            if length < STATS_WINDOW {
                return true;
            }
            if pending.empty {
                return false;
            }
            out.push(FilterWindow {
                filter_id,
                matched: pending.matched,
                delivered: pending.delivered,
                since: pending.since,
                window_ms: length.as_millis() as u64,
            });
            *pending = Pending { matched: 0, delivered: 0, since: now, empty: true };
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(filter: u64, matched: u64, delivered: u64) -> StatsRecord {
        StatsRecord { filter_id: FilterId(filter), matched, delivered, window_ms: 1_000 }
    }

    #[test]
    fn records_of_several_threads_are_summed_per_filter_and_window() {
        let start = Instant::now();
        let mut windows = FilterStatsWindows::default();
        let mut out = Vec::new();
        windows.add(&stats(1, 600, 50), start);
        windows.add(&stats(2, 3, 3), start + Duration::from_millis(100));
        windows.add(&stats(1, 400, 49), start + Duration::from_millis(300));
        windows.take_due(start + Duration::from_millis(999), &mut out);
        assert!(out.is_empty());
        windows.take_due(start + Duration::from_millis(1_000), &mut out);
        assert_eq!(
            out,
            vec![FilterWindow {
                filter_id: FilterId(1),
                matched: 1_000,
                delivered: 99,
                since: start,
                window_ms: 1_000
            }]
        );
        // The next window follows on; one that ends empty forgets the filter.
        out.clear();
        windows.add(&stats(1, 7, 7), start + Duration::from_millis(1_500));
        windows.take_due(start + Duration::from_millis(2_100), &mut out);
        let ids: Vec<(u64, u64, u64)> = out.iter().map(|w| (w.filter_id.0, w.matched, w.window_ms)).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&(1, 7, 1_100)) && ids.contains(&(2, 3, 2_000)), "{ids:?}");
        out.clear();
        windows.take_due(start + Duration::from_millis(3_200), &mut out);
        assert!(out.is_empty());
        assert!(windows.pending.is_empty());
    }

    #[test]
    fn a_window_given_back_joins_the_next() {
        let start = Instant::now();
        let mut windows = FilterStatsWindows::default();
        let mut out = Vec::new();
        windows.add(&stats(1, 10, 5), start);
        windows.take_due(start + STATS_WINDOW, &mut out);
        windows.give_back(out.pop().unwrap());
        windows.add(&stats(1, 1, 1), start + Duration::from_millis(1_200));
        windows.take_due(start + Duration::from_millis(2_000), &mut out);
        assert_eq!(
            out,
            vec![FilterWindow { filter_id: FilterId(1), matched: 11, delivered: 6, since: start, window_ms: 2_000 }]
        );
    }
}
