//! The control-path side: a mutable set of filters by id, changed in place
//! one filter at a time, and published as an immutable [`Matcher`] snapshot.
//!
//! A change updates the indexes incrementally (copy-on-write, see
//! `cow_map.rs`); `build` then rebuilds only what changed (the path trie
//! when a path appeared or went, the automata of changed patterns) and
//! shares everything else with the previous snapshot. Batch many changes,
//! then build once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::compiled::{Matcher, MatcherOptions, SlotEntry};
use super::cover::Trigger;
use super::index::{PathIndex, PathTrigger, PathTriggers, Slot, TermTriggers};
use super::paths::{PathId, PathTable, PathTrie};
use super::prefilter::PrefilterNeedles;
use super::prepare::PreparedFilter;
use super::FilterId;
use crate::language::{parse_filter, FilterError};

/// The filters currently registered, each prepared once when added.
pub struct FilterSet {
    options: MatcherOptions,
    by_id: BTreeMap<FilterId, Slot>,
    /// Canonical expression → the slot that evaluates it for every id.
    by_expression: FxHashMap<String, Slot>,
    /// By slot; shared with the last snapshot until the next change.
    slots: Arc<Vec<Option<Arc<SlotEntry>>>>,
    free_slots: Vec<Slot>,
    paths: PathTable,
    /// Set when a path appeared or disappeared since the last build.
    paths_changed: bool,
    trie: Arc<PathTrie>,
    /// By path id.
    path_triggers: Vec<PathTriggers>,
    /// Paths whose triggers changed since the last build.
    changed_paths: BTreeSet<PathId>,
    path_indexes: Arc<Vec<Option<Arc<PathIndex>>>>,
    terms: TermTriggers,
    always: Arc<Vec<Slot>>,
    /// `*` filters: kept out of `always` so they leave the prefilter on.
    match_all: Arc<Vec<Slot>>,
    needles: PrefilterNeedles,
    /// Filters with no needle cover: while any exists, the prefilter is off.
    filters_without_needles: usize,
}

impl Default for FilterSet {
    fn default() -> Self {
        FilterSet::new(MatcherOptions::default())
    }
}

impl FilterSet {
    pub fn new(options: MatcherOptions) -> Self {
        let paths = PathTable::default();
        FilterSet {
            options,
            by_id: BTreeMap::new(),
            by_expression: FxHashMap::default(),
            slots: Arc::new(Vec::new()),
            free_slots: Vec::new(),
            trie: Arc::new(PathTrie::build(&paths)),
            paths,
            paths_changed: false,
            path_triggers: Vec::new(),
            changed_paths: BTreeSet::new(),
            path_indexes: Arc::new(Vec::new()),
            terms: TermTriggers::default(),
            always: Arc::new(Vec::new()),
            match_all: Arc::new(Vec::new()),
            needles: PrefilterNeedles::default(),
            filters_without_needles: 0,
        }
    }

    /// Parses and adds (or replaces) filter `id`.
    pub fn insert_source(&mut self, id: FilterId, source: &str) -> Result<(), FilterError> {
        let expr = parse_filter(source)?;
        self.insert(id, Arc::new(PreparedFilter::new(&expr)));
        Ok(())
    }

    /// Adds (or replaces) filter `id`.
    pub fn insert(&mut self, id: FilterId, filter: Arc<PreparedFilter>) {
        self.remove(id);
        if let Some(&slot) = self.by_expression.get(&filter.canonical) {
            let entry = Arc::make_mut(&mut self.slots)[slot as usize].as_mut().expect("mapped slots are live");
            Arc::make_mut(entry).ids.push(id);
            self.by_id.insert(id, slot);
            return;
        }
        let slot = self.free_slots.pop().unwrap_or(self.slots.len() as Slot);
        let paths: Box<[PathId]> = filter
            .paths
            .iter()
            .map(|path| {
                let (path_id, is_new) = self.paths.acquire(path);
                self.paths_changed |= is_new;
                PathId(path_id)
            })
            .collect();
        if self.path_triggers.len() < self.paths.capacity() {
            self.path_triggers.resize_with(self.paths.capacity(), PathTriggers::default);
        }
        let terms: Box<[u32]> = filter.terms.iter().map(|term| self.terms.acquire(term)).collect();
        self.by_expression.insert(filter.canonical.clone(), slot);
        let entry = SlotEntry { ids: vec![id], filter, paths, terms };
        self.register(&entry, slot, true);
        let slots = Arc::make_mut(&mut self.slots);
        if slot as usize == slots.len() {
            slots.push(None);
        }
        slots[slot as usize] = Some(Arc::new(entry));
        self.by_id.insert(id, slot);
    }

    /// Removes filter `id`; false when it was not there.
    pub fn remove(&mut self, id: FilterId) -> bool {
        let Some(slot) = self.by_id.remove(&id) else { return false };
        let slots = Arc::make_mut(&mut self.slots);
        let shared = slots[slot as usize].as_mut().expect("mapped slots are live");
        if shared.ids.len() > 1 {
            Arc::make_mut(shared).ids.retain(|&known| known != id);
            return true;
        }
        let entry = slots[slot as usize].take().expect("checked above");
        self.by_expression.remove(&entry.filter.canonical);
        self.register(&entry, slot, false);
        for &path in entry.paths.iter() {
            self.paths_changed |= self.paths.release(path.0);
        }
        for &term in entry.terms.iter() {
            self.terms.release(term);
        }
        self.free_slots.push(slot);
        true
    }

    /// Adds (or removes) the triggers and needles of `entry` in `slot`.
    fn register(&mut self, entry: &SlotEntry, slot: Slot, add: bool) {
        if entry.filter.matches_everything() {
            // No trigger and no needle, yet no reason to parse every event:
            // its answer does not depend on what the event holds.
            let match_all = Arc::make_mut(&mut self.match_all);
            if add {
                match_all.push(slot);
            } else {
                match_all.retain(|&known| known != slot);
            }
            return;
        }
        match &entry.filter.triggers {
            None => {
                let always = Arc::make_mut(&mut self.always);
                if add {
                    always.push(slot);
                } else {
                    always.retain(|&known| known != slot);
                }
            }
            Some(triggers) => {
                for trigger in triggers {
                    let (local_path, path_trigger) = match trigger {
                        Trigger::Presence(path) => (path, PathTrigger::Presence),
                        Trigger::AtLeast(path, bound) => (path, PathTrigger::AtLeast(*bound)),
                        Trigger::AtMost(path, bound) => (path, PathTrigger::AtMost(*bound)),
                        Trigger::Equal(path, literal) => (path, PathTrigger::Equal(literal)),
                        Trigger::Substring(path, needle) => (path, PathTrigger::Substring(needle)),
                        Trigger::Regex(path, regex) => (path, PathTrigger::Regex(regex)),
                        Trigger::Term(term) => {
                            let term = entry.terms[term.0 as usize];
                            if add {
                                self.terms.add_trigger(term, slot);
                            } else {
                                self.terms.remove_trigger(term, slot);
                            }
                            continue;
                        }
                    };
                    let path = entry.paths[local_path.0 as usize];
                    let triggers = &mut self.path_triggers[path.0 as usize];
                    if add {
                        triggers.add(path_trigger, slot);
                    } else {
                        triggers.remove(path_trigger, slot);
                    }
                    self.changed_paths.insert(path);
                }
            }
        }
        match &entry.filter.needles {
            None if add => self.filters_without_needles += 1,
            None => self.filters_without_needles -= 1,
            Some(needles) => {
                for needle in needles {
                    if add {
                        self.needles.add(needle);
                    } else {
                        self.needles.remove(needle);
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = FilterId> + '_ {
        self.by_id.keys().copied()
    }

    /// Publishes the current set as a matcher snapshot.
    pub fn build(&mut self) -> Matcher {
        if self.paths_changed {
            self.paths_changed = false;
            self.trie = Arc::new(PathTrie::build(&self.paths));
        }
        if !self.changed_paths.is_empty() || self.path_indexes.len() < self.paths.capacity() {
            let indexes = Arc::make_mut(&mut self.path_indexes);
            indexes.resize(self.paths.capacity(), None);
            for path in std::mem::take(&mut self.changed_paths) {
                indexes[path.0 as usize] = Some(self.path_triggers[path.0 as usize].publish());
            }
        }
        let prefilter_usable =
            self.options.raw_prefilter && self.filters_without_needles == 0 && self.always.is_empty();
        let prefilter = prefilter_usable.then(|| Arc::new(self.needles.publish()));
        Matcher {
            slots: Arc::clone(&self.slots),
            len: self.by_id.len(),
            trie: Arc::clone(&self.trie),
            path_indexes: Arc::clone(&self.path_indexes),
            terms: self.terms.publish(),
            always: Arc::clone(&self.always),
            match_all: Arc::clone(&self.match_all),
            prefilter,
        }
    }
}
