//! Per-filter match budgets of one filter thread: which matches are
//! forwarded to the filtered topic, and the true counts behind them.
//!
//! A budgeted filter (a session filter: `WorkerConfig::session_filter_rate_max_per_s`)
//! may deliver at most `rate_max_per_s` matches per second across every
//! thread of every worker. This thread's share follows the raw partitions
//! it owns: `rate_max × partitions owned / raw partitions`, where the
//! group consumer says what it owns (a revocation lowers the share before
//! the next owner can raise its own, so two threads never spend the same
//! partitions' share); a consumer that cannot say (the in-memory log) uses
//! the partitions seen in the last window instead (engine/DESIGN.md,
//! "Match budgets", gives the error).
//!
//! Within its share a thread **thins uniformly**: each match is admitted
//! with probability `share / observed match rate` (the rate of the last
//! window), so the forwarded matches are a random sample spread over the
//! second, not its first N. A token bucket (refilled continuously at the
//! share, holding at most a tenth of a second of it) is the hard bound
//! behind the estimate: when the rate jumps within a window, the bucket
//! caps the excess until the next window corrects the probability.
//!
//! Every match is counted, admitted or not; once per window the thread
//! writes each filter's counts as a `stats` record (`filtered_record::StatsRecord`).
//!
//! The hot path ([`Budgets::admit`]) is one hash lookup, a few float
//! operations and a xorshift step: no lock, no allocation (an entry is
//! allocated once per filter, when its first match arrives).

use rustc_hash::FxHashMap;

use crate::matcher::FilterId;

/// How long a thread's window lasts: the period of stats records and of
/// re-estimating each filter's match rate and the thread's share.
pub(crate) const WINDOW_US: i64 = 1_000_000;

/// The token bucket holds at most this fraction of a second of the share:
/// the burst a filter may deliver above its rate.
const BUCKET_SECONDS: f64 = 0.1;

/// A filter's counts over one closed window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowCounts {
    pub(crate) filter_id: FilterId,
    pub(crate) matched: u64,
    pub(crate) delivered: u64,
    pub(crate) window_ms: u64,
}

/// One budgeted filter's state on this thread.
#[derive(Debug)]
struct FilterBudget {
    /// The filter's whole budget (all workers), matches per second.
    rate_max_per_s: f64,
    tokens: f64,
    last_refill_us: i64,
    /// The chance a match is admitted, from the last window's match rate.
    admit_probability: f64,
    matched: u64,
    delivered: u64,
}

impl FilterBudget {
    fn new(rate_max_per_s: u32, share: f64, now_us: i64) -> Self {
        let rate_max_per_s = f64::from(rate_max_per_s);
        FilterBudget {
            rate_max_per_s,
            tokens: bucket_capacity(rate_max_per_s * share),
            last_refill_us: now_us,
            // No estimate yet: the bucket alone bounds the first window.
            admit_probability: 1.0,
            matched: 0,
            delivered: 0,
        }
    }

    fn admit(&mut self, share: f64, now_us: i64, random: f64) -> bool {
        self.matched += 1;
        let rate = self.rate_max_per_s * share;
        let elapsed_s = (now_us - self.last_refill_us).max(0) as f64 / 1e6;
        self.last_refill_us = now_us.max(self.last_refill_us);
        self.tokens = (self.tokens + elapsed_s * rate).min(bucket_capacity(rate));
        if random >= self.admit_probability || self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        self.delivered += 1;
        true
    }

    /// Closes a window of `window_s`: the next window's probability is the
    /// share over the rate just observed.
    fn close_window(&mut self, share: f64, window_s: f64) {
        let observed_per_s = self.matched as f64 / window_s.max(1e-3);
        let rate = self.rate_max_per_s * share;
        self.admit_probability = if observed_per_s <= rate { 1.0 } else { rate / observed_per_s };
        self.matched = 0;
        self.delivered = 0;
    }
}

fn bucket_capacity(rate: f64) -> f64 {
    (rate * BUCKET_SECONDS).max(1.0)
}

/// The budgets of one filter thread.
#[derive(Debug)]
pub(crate) struct Budgets {
    filters: FxHashMap<FilterId, FilterBudget>,
    /// This thread's fraction of every budget, in [0, 1].
    share: f64,
    /// No window closed yet: the share follows the partitions seen so far.
    first_window: bool,
    raw_partitions: u32,
    /// Raw partitions owned, as the group consumer last said; `None` when
    /// it cannot say, and the share follows `seen` instead.
    owned: Option<u32>,
    /// Raw partitions read in the current window, one bit each.
    seen: Vec<u64>,
    window_start_us: i64,
    random: XorShift,
}

impl Budgets {
    /// `raw_partitions` is the raw topic's partition count (the share's
    /// denominator); `seed` the sampler's (fixed in tests).
    pub(crate) fn new(raw_partitions: u32, now_us: i64, seed: u64) -> Self {
        let raw_partitions = raw_partitions.max(1);
        Budgets {
            filters: FxHashMap::default(),
            // Until the first partition is seen; see `saw_partition`.
            share: 1.0,
            first_window: true,
            raw_partitions,
            owned: None,
            seen: vec![0; (raw_partitions as usize).div_ceil(64)],
            window_start_us: now_us,
            random: XorShift::new(seed),
        }
    }

    /// Records how many raw partitions the group consumer gives this thread
    /// (`LogConsumer::owned_partitions`): the share follows at once.
    pub(crate) fn set_owned_partitions(&mut self, owned: Option<u32>) {
        if owned != self.owned {
            self.owned = owned;
            if let Some(owned) = owned {
                self.share = (f64::from(owned) / f64::from(self.raw_partitions)).min(1.0);
            }
        }
    }

    /// Records that this thread read an event of raw `partition`.
    pub(crate) fn saw_partition(&mut self, partition: u32) {
        let Some(word) = self.seen.get_mut((partition / 64) as usize) else {
            return;
        };
        let bit = 1 << (partition % 64);
        if *word & bit == 0 {
            *word |= bit;
            // Rare (once per partition per window). Before any window closed
            // there is no better estimate of what this thread owns.
            if self.first_window && self.owned.is_none() {
                self.share = self.seen_share();
            }
        }
    }

    /// Counts a match of `filter_id` and says whether to forward it.
    /// `rate_max_per_s` is the filter's budget; `None` (unlimited) forwards
    /// everything and counts nothing.
    pub(crate) fn admit(&mut self, filter_id: FilterId, rate_max_per_s: Option<u32>, now_us: i64) -> bool {
        let Some(rate_max_per_s) = rate_max_per_s else {
            return true;
        };
        let share = self.share;
        let random = self.random.next_unit();
        self.filters
            .entry(filter_id)
            .or_insert_with(|| FilterBudget::new(rate_max_per_s, share, now_us))
            .admit(share, now_us, random)
    }

    /// When the current window ends, µs since the epoch.
    pub(crate) fn window_end_us(&self) -> i64 {
        self.window_start_us + WINDOW_US
    }

    /// Closes the window if it is over: appends the counts of every filter
    /// that matched in it to `out`, forgets filters that did not (or are no
    /// longer live, per `is_live`), re-estimates the share and each filter's
    /// admission probability. Returns false when the window is not over.
    pub(crate) fn close_window_if_due(
        &mut self,
        now_us: i64,
        is_live: impl Fn(FilterId) -> bool,
        out: &mut Vec<WindowCounts>,
    ) -> bool {
        if now_us < self.window_end_us() {
            return false;
        }
        let window_us = now_us - self.window_start_us;
        let window_ms = (window_us / 1_000) as u64;
        if self.owned.is_none() && self.seen.iter().any(|&word| word != 0) {
            self.share = self.seen_share();
        }
        self.first_window = false;
        self.seen.iter_mut().for_each(|word| *word = 0);
        let share = self.share;
        self.filters.retain(|&filter_id, budget| {
            if budget.matched == 0 || !is_live(filter_id) {
                return false;
            }
            out.push(WindowCounts { filter_id, matched: budget.matched, delivered: budget.delivered, window_ms });
            budget.close_window(share, window_us as f64 / 1e6);
            true
        });
        self.window_start_us = now_us;
        true
    }

    /// The fraction of the raw partitions seen in this window.
    fn seen_share(&self) -> f64 {
        let seen: u32 = self.seen.iter().map(|word| word.count_ones()).sum();
        (f64::from(seen) / f64::from(self.raw_partitions)).min(1.0)
    }

    #[cfg(test)]
    fn share(&self) -> f64 {
        self.share
    }
}

/// xorshift64*: a few cycles per draw, plenty for sampling (not for secrets).
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        XorShift(seed | 1)
    }

    /// A uniform draw in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FilterId = FilterId(7);

    /// Feeds `per_second` matches of `F` evenly over `seconds`, closing
    /// windows as the worker does; returns the closed windows and, per
    /// tenth of a second, how many were admitted.
    fn run(budgets: &mut Budgets, rate_max: u32, per_second: i64, seconds: i64) -> (Vec<WindowCounts>, [u64; 10]) {
        let mut windows = Vec::new();
        let mut by_tenth = [0u64; 10];
        let step_us = 1_000_000 / per_second;
        for n in 0..per_second * seconds {
            let now = n * step_us;
            budgets.close_window_if_due(now, |_| true, &mut windows);
            budgets.saw_partition(0);
            if budgets.admit(F, Some(rate_max), now) {
                by_tenth[((now % 1_000_000) / 100_000) as usize] += 1;
            }
        }
        budgets.close_window_if_due(per_second * seconds * step_us, |_| true, &mut windows);
        (windows, by_tenth)
    }

    #[test]
    fn counts_are_exact_and_delivery_stays_within_the_budget() {
        let mut budgets = Budgets::new(1, 0, 42);
        let (windows, _) = run(&mut budgets, 1_000, 10_000, 10);
        assert_eq!(windows.len(), 10);
        assert!(windows.iter().all(|w| w.matched == 10_000 && w.window_ms == 1_000), "{windows:?}");
        for window in &windows {
            // The rate plus at most the bucket's burst.
            assert!(window.delivered <= 1_100, "{window:?}");
        }
        let delivered: u64 = windows.iter().map(|w| w.delivered).sum();
        // Thinning does not starve the filter either.
        assert!(delivered >= 9_000, "delivered {delivered}");
    }

    #[test]
    fn thinning_samples_across_the_whole_second_not_its_start() {
        let mut budgets = Budgets::new(1, 0, 7);
        let (_, by_tenth) = run(&mut budgets, 1_000, 10_000, 20);
        // 20 s × ~1,000/s = ~20,000 spread evenly: ~2,000 per tenth of a second.
        // The first second (bucket alone, no estimate yet) adds ~100 per tenth.
        let total: u64 = by_tenth.iter().sum();
        for (tenth, &count) in by_tenth.iter().enumerate() {
            let expected = total as f64 / 10.0;
            assert!(
                (count as f64 - expected).abs() < expected * 0.1,
                "tenth {tenth}: {count} of {total}: {by_tenth:?}"
            );
        }
    }

    #[test]
    fn a_filter_under_its_budget_is_forwarded_whole() {
        let mut budgets = Budgets::new(1, 0, 1);
        let (windows, _) = run(&mut budgets, 1_000, 500, 3);
        assert!(windows.iter().all(|w| w.matched == 500 && w.delivered == 500), "{windows:?}");
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let mut budgets = Budgets::new(1, 0, 3);
        // Budget 100/s: the bucket holds 10.
        let admitted = (0..50).filter(|_| budgets.admit(F, Some(100), 0)).count();
        assert_eq!(admitted, 10);
        assert!(!budgets.admit(F, Some(100), 0));
        // 50 ms later: 5 more tokens.
        let admitted = (0..50).filter(|_| budgets.admit(F, Some(100), 50_000)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn unlimited_filters_are_forwarded_and_not_tracked() {
        let mut budgets = Budgets::new(1, 0, 3);
        assert!((0..10_000).all(|_| budgets.admit(F, None, 0)));
        let mut windows = Vec::new();
        assert!(budgets.close_window_if_due(WINDOW_US, |_| true, &mut windows));
        assert!(windows.is_empty());
    }

    /// The start-up rebalance of perf/worker/budget.sh: thread A owns all 4
    /// partitions, then at 0.5 s hands 2 and 3 over to thread B. Both read
    /// 10,000 matches/s of a `*` filter (budget 1,000/s) on what they own.
    /// Counted by partitions *seen*, A kept a share of 4/4 for the whole
    /// next second while B took 2/4: 1.4× the budget went out.
    #[test]
    fn a_rebalance_never_lets_two_threads_spend_the_same_share() {
        let (mut a, mut b) = (Budgets::new(4, 0, 5), Budgets::new(4, 0, 6));
        let (mut windows_a, mut windows_b) = (Vec::new(), Vec::new());
        a.set_owned_partitions(Some(4));
        b.set_owned_partitions(Some(0));
        let mut delivered_per_second = [0u64; 4];
        let step_us = 100; // 10,000 matches/s over the 4 partitions
        for n in 0..40_000i64 {
            let now = n * step_us;
            if now == 500_000 {
                a.set_owned_partitions(Some(2));
                b.set_owned_partitions(Some(2));
            }
            let partition = (n % 4) as u32;
            let thread = if now < 500_000 || partition < 2 { &mut a } else { &mut b };
            let windows = if now < 500_000 || partition < 2 { &mut windows_a } else { &mut windows_b };
            thread.close_window_if_due(now, |_| true, windows);
            thread.saw_partition(partition);
            if thread.admit(F, Some(1_000), now) {
                delivered_per_second[(now / 1_000_000) as usize] += 1;
            }
        }
        // The first second holds each new bucket's burst (a tenth of a
        // second of its share: 100 + 50); after it, the 1.05× target.
        assert!(delivered_per_second[0] <= 1_150, "{delivered_per_second:?}");
        for (second, &delivered) in delivered_per_second.iter().enumerate().skip(1) {
            assert!(delivered <= 1_050, "second {second}: {delivered} delivered: {delivered_per_second:?}");
        }
    }

    #[test]
    fn the_share_follows_the_partitions_read_and_dead_filters_are_forgotten() {
        let mut budgets = Budgets::new(4, 0, 3);
        budgets.saw_partition(1);
        assert_eq!(budgets.share(), 0.25);
        budgets.saw_partition(3);
        budgets.saw_partition(3);
        // Out of range (a topic grown since start): ignored.
        budgets.saw_partition(64);
        assert_eq!(budgets.share(), 0.5);
        budgets.admit(F, Some(100), 0);
        budgets.admit(FilterId(8), Some(100), 0);
        let mut windows = Vec::new();
        assert!(!budgets.close_window_if_due(WINDOW_US - 1, |_| true, &mut windows));
        assert!(budgets.close_window_if_due(WINDOW_US, |id| id == F, &mut windows));
        assert_eq!(windows, vec![WindowCounts { filter_id: F, matched: 1, delivered: 1, window_ms: 1_000 }]);
        assert_eq!(budgets.share(), 0.5);
        // A window with no match of F forgets it.
        windows.clear();
        assert!(budgets.close_window_if_due(2 * WINDOW_US, |_| true, &mut windows));
        assert!(windows.is_empty());
        assert!(budgets.filters.is_empty());
    }
}
