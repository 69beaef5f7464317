//! The control-path side: a mutable set of filters by id, compiled into a
//! fresh [`Matcher`] whenever it changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::compiled::{Matcher, MatcherOptions};
use super::prepare::PreparedFilter;
use super::FilterId;
use crate::language::{parse_filter, FilterError};

/// The filters currently registered, each prepared once when added.
#[derive(Default)]
pub struct FilterSet {
    filters: BTreeMap<FilterId, Arc<PreparedFilter>>,
    options: MatcherOptions,
}

impl FilterSet {
    pub fn new(options: MatcherOptions) -> Self {
        FilterSet { filters: BTreeMap::new(), options }
    }

    /// Parses and adds (or replaces) filter `id`.
    pub fn insert_source(&mut self, id: FilterId, source: &str) -> Result<(), FilterError> {
        let expr = parse_filter(source)?;
        self.insert(id, Arc::new(PreparedFilter::new(&expr)));
        Ok(())
    }

    /// Adds (or replaces) filter `id`.
    pub fn insert(&mut self, id: FilterId, filter: Arc<PreparedFilter>) {
        self.filters.insert(id, filter);
    }

    /// Removes filter `id`; false when it was not there.
    pub fn remove(&mut self, id: FilterId) -> bool {
        self.filters.remove(&id).is_some()
    }

    pub fn contains(&self, id: FilterId) -> bool {
        self.filters.contains_key(&id)
    }

    pub fn len(&self) -> usize {
        self.filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = FilterId> + '_ {
        self.filters.keys().copied()
    }

    /// Compiles the current set. Batch many changes, then build once.
    pub fn build(&self) -> Matcher {
        Matcher::build(self.filters.iter().map(|(id, filter)| (*id, filter)), self.options)
    }
}
