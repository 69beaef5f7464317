//! The live filter set: the compiled matcher every filter thread uses,
//! published by the control thread with one atomic pointer swap
//! (`arc-swap`), so the hot loop never takes a lock to read it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::log::RawTopics;
use crate::matcher::{FilterId, FilterSet, Matcher};

/// The filters restricted to one set of raw topics (a subscription's
/// `topics`), compiled apart: an event is matched against the every-topic
/// matcher and against the matchers whose topics hold its own, never
/// against a filter of another topic (docs/operations.md, "Many raw topics").
pub struct ScopedMatcher {
    pub topics: RawTopics,
    /// Shared by the versions in which the scope's filters did not change.
    pub matcher: Arc<Matcher>,
}

/// One published version of the filter set.
pub struct LiveFilters {
    /// The filters of every raw topic.
    pub matcher: Matcher,
    /// The filters restricted to some topics, one matcher per distinct
    /// topic list; usually empty.
    pub scoped: Vec<ScopedMatcher>,
    /// The ids compiled into `matcher`, increasing.
    pub ids: Vec<FilterId>,
    /// Each filter's match budget, matches per second, aligned with `ids`;
    /// `None` is unlimited.
    pub rate_max_per_s: Vec<Option<u32>>,
    /// The filters of this version with a pending backfill job, increasing:
    /// filter threads record their seams (`backfill/seams.rs`). Empty
    /// almost always, which is the hot loop's one check.
    pub seam_watch: Vec<FilterId>,
    /// 0 before the registry's first `Reset` is applied, then +1 per rebuild.
    pub generation: u64,
    /// When this version was published.
    pub published_at: Instant,
}

impl LiveFilters {
    pub fn contains(&self, id: FilterId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// The match budget of `id` (`None`: unlimited, or not live).
    pub fn rate_max_per_s(&self, id: FilterId) -> Option<u32> {
        self.ids.binary_search(&id).ok().and_then(|index| self.rate_max_per_s.get(index).copied().flatten())
    }

    /// True once the registry's full set has been loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.generation > 0
    }
}

/// The shared slot filter threads read from and the control thread writes to.
pub(crate) struct LiveSlot {
    current: ArcSwap<LiveFilters>,
    /// The generation each filter thread (by index) last loaded: a thread
    /// matches with that version until its next load, so a version is live
    /// on every thread once the minimum reaches it.
    observed: Vec<AtomicU64>,
}

impl LiveSlot {
    pub(crate) fn empty(set: &mut FilterSet, filter_threads: usize) -> Self {
        LiveSlot {
            current: ArcSwap::from_pointee(LiveFilters {
                matcher: set.build(),
                scoped: Vec::new(),
                ids: Vec::new(),
                rate_max_per_s: Vec::new(),
                seam_watch: Vec::new(),
                generation: 0,
                published_at: Instant::now(),
            }),
            observed: (0..filter_threads).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The current version; cheap (no lock), taken after every poll.
    pub(crate) fn load(&self) -> Arc<LiveFilters> {
        self.current.load_full()
    }

    /// Loads the current version on behalf of filter thread `thread` and
    /// records that the thread now matches with it.
    pub(crate) fn load_for_thread(&self, thread: usize) -> Arc<LiveFilters> {
        let live = self.load();
        self.observed[thread].store(live.generation, Ordering::Release);
        live
    }

    /// The oldest generation any filter thread may still match with.
    pub(crate) fn generation_on_every_thread(&self) -> u64 {
        self.observed.iter().map(|generation| generation.load(Ordering::Acquire)).min().unwrap_or(0)
    }

    /// Publishes `filters`; returns the version it replaces, for the
    /// caller to retire (see [`Retired`]).
    pub(crate) fn publish(&self, filters: LiveFilters) -> Arc<LiveFilters> {
        self.current.swap(Arc::new(filters))
    }
}

/// Replaced versions, kept by the control thread until no filter thread
/// holds them any more, then dropped there.
///
/// Whoever drops the last reference to a version frees its matcher (at
/// 50,000 filters, tens of thousands of slot references and hash tables:
/// about a millisecond). Without this, that is usually a filter thread,
/// when it loads the next version between two batches: the hot path would
/// pay for the control path's garbage.
#[derive(Default)]
pub(crate) struct Retired {
    versions: Vec<Arc<LiveFilters>>,
}

impl Retired {
    pub(crate) fn push(&mut self, version: Arc<LiveFilters>) {
        self.versions.push(version);
        self.collect();
    }

    /// Drops every retired version nobody else holds. A retired version
    /// is out of the slot, so its count can only go down: once it is 1,
    /// the reference here is the last.
    pub(crate) fn collect(&mut self) {
        self.versions.retain(|version| Arc::strong_count(version) > 1);
    }
}
