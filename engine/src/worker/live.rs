//! The live filter set: the compiled matcher every filter thread uses,
//! published by the control thread with one atomic pointer swap
//! (`arc-swap`), so the hot loop never takes a lock to read it.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::matcher::{FilterId, FilterSet, Matcher};

/// One published version of the filter set.
pub struct LiveFilters {
    pub matcher: Matcher,
    /// The ids compiled into `matcher`, increasing.
    pub ids: Vec<FilterId>,
    /// 0 before the registry's first `Reset` is applied, then +1 per rebuild.
    pub generation: u64,
    /// When this version was published.
    pub published_at: Instant,
}

impl LiveFilters {
    pub fn contains(&self, id: FilterId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// True once the registry's full set has been loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.generation > 0
    }
}

/// The shared slot filter threads read from and the control thread writes to.
pub(crate) struct LiveSlot {
    current: ArcSwap<LiveFilters>,
}

impl LiveSlot {
    pub(crate) fn empty(set: &mut FilterSet) -> Self {
        LiveSlot {
            current: ArcSwap::from_pointee(LiveFilters {
                matcher: set.build(),
                ids: Vec::new(),
                generation: 0,
                published_at: Instant::now(),
            }),
        }
    }

    /// The current version; cheap (no lock), taken once per batch.
    pub(crate) fn load(&self) -> Arc<LiveFilters> {
        self.current.load_full()
    }

    pub(crate) fn publish(&self, filters: LiveFilters) {
        self.current.store(Arc::new(filters));
    }
}
