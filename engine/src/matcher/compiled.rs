//! The compiled matcher: an immutable snapshot of a filter set, shared by
//! every worker thread, that answers "which filters does this event match?".

use std::sync::Arc;

use rustc_hash::FxHashMap;
use simd_json::Node;

use super::cover::Trigger;
use super::eval::{evaluate, EventView, FilterBindings};
use super::index::{PathIndex, PathIndexBuilder, Slot, TermIndex};
use super::paths::{for_each_string_value, ExtractedValues, PathId, PathTrie};
use super::prefilter::Prefilter;
use super::prepare::PreparedFilter;
use super::FilterId;
use crate::event::{EventLimits, EventParser, Malformed};

/// Choices made when compiling a filter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatcherOptions {
    /// Skip parsing events that contain none of the literals the filters
    /// require (see `prefilter.rs`). On by default: it is what lets matching
    /// outrun parsing (engine/DESIGN.md has the figures).
    pub raw_prefilter: bool,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        MatcherOptions { raw_prefilter: true }
    }
}

/// What happened to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed and matched; the matches (possibly none) are in the output.
    Parsed,
    /// The prefilter proved that no filter can match: not parsed, no matches.
    Skipped,
    /// Not a well-formed event: no matches.
    Malformed(Malformed),
}

/// One filter of the set, in id order.
struct SlotEntry {
    id: FilterId,
    filter: Arc<PreparedFilter>,
    /// Global path ids of the filter's local paths.
    paths: Box<[PathId]>,
    /// Global term ids of the filter's local terms.
    terms: Box<[u32]>,
}

/// An immutable, compiled filter set.
pub struct Matcher {
    slots: Vec<SlotEntry>,
    trie: PathTrie,
    /// Per path id (trie node); empty for paths that trigger nothing.
    path_indexes: Vec<PathIndex>,
    terms: TermIndex,
    /// Filters with no trigger cover, evaluated for every parsed event.
    always: Vec<Slot>,
    prefilter: Option<Prefilter>,
}

impl Matcher {
    /// Compiles `filters`, which must come in increasing id order.
    pub fn build<'a>(
        filters: impl IntoIterator<Item = (FilterId, &'a Arc<PreparedFilter>)>,
        options: MatcherOptions,
    ) -> Self {
        let mut trie = PathTrie::new();
        let mut builders: Vec<PathIndexBuilder> = Vec::new();
        let mut term_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let mut term_slots: Vec<Vec<Slot>> = Vec::new();
        let mut always = Vec::new();
        let mut slots = Vec::new();
        let mut needles = Some(Vec::new());
        for (id, filter) in filters {
            assert!(slots.last().is_none_or(|last: &SlotEntry| last.id < id), "filters arrive in increasing id order");
            let slot = slots.len() as Slot;
            let paths: Box<[PathId]> = filter.paths.iter().map(|path| trie.intern(path)).collect();
            builders.resize_with(trie.len(), PathIndexBuilder::default);
            let terms: Box<[u32]> = filter
                .terms
                .iter()
                .map(|term| {
                    *term_ids.entry(term.as_str()).or_insert_with(|| {
                        term_slots.push(Vec::new());
                        term_slots.len() as u32 - 1
                    })
                })
                .collect();
            match &filter.triggers {
                None => always.push(slot),
                Some(triggers) => {
                    for trigger in triggers {
                        let builder = |path: &super::prepare::LocalPath| paths[path.0 as usize].0 as usize;
                        match trigger {
                            Trigger::Presence(path) => builders[builder(path)].presence(slot),
                            Trigger::Equal(path, literal) => builders[builder(path)].equal(literal, slot),
                            Trigger::Substring(path, needle) => builders[builder(path)].substring(needle, slot),
                            Trigger::Regex(path, regex) => builders[builder(path)].regex(regex.as_str(), slot),
                            Trigger::Term(term) => term_slots[terms[term.0 as usize] as usize].push(slot),
                        }
                    }
                }
            }
            match (&mut needles, &filter.needles) {
                (Some(all), Some(mine)) => all.extend(mine.iter().cloned()),
                _ => needles = None,
            }
            slots.push(SlotEntry { id, filter: Arc::clone(filter), paths, terms });
        }
        let mut terms: Vec<String> = vec![String::new(); term_slots.len()];
        for (term, id) in term_ids {
            terms[id as usize] = term.to_owned();
        }
        let prefilter = match needles {
            Some(needles) if options.raw_prefilter && always.is_empty() => Some(Prefilter::new(needles)),
            _ => None,
        };
        Matcher {
            slots,
            trie,
            path_indexes: builders.into_iter().map(PathIndexBuilder::build).collect(),
            terms: TermIndex::new(terms, term_slots),
            always,
            prefilter,
        }
    }

    /// The number of filters.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// True when the raw-byte prefilter is in use for this set.
    pub fn uses_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }

    /// Approximate heap bytes of the indexes and automata (the prepared
    /// filters, shared with the filter set, are not counted).
    pub fn index_heap_bytes(&self) -> usize {
        let slots = self.slots.len() * (std::mem::size_of::<SlotEntry>() + 8);
        let indexes: usize = self.path_indexes.iter().map(PathIndex::heap_bytes).sum();
        slots + indexes + self.prefilter.as_ref().map_or(0, Prefilter::heap_bytes)
    }

    /// Matches one raw event: `matches` receives the ids of the filters it
    /// matches, in increasing order.
    pub fn match_event(&self, raw: &[u8], scratch: &mut MatchScratch, matches: &mut Vec<FilterId>) -> Outcome {
        matches.clear();
        if raw.len() > scratch.parser.limits().bytes_max {
            return Outcome::Malformed(Malformed::TooLarge {
                bytes: raw.len(),
                limit: scratch.parser.limits().bytes_max,
            });
        }
        if let Some(prefilter) = &self.prefilter {
            if !prefilter.may_match(raw) {
                return Outcome::Skipped;
            }
        }
        let MatchScratch { parser, state } = scratch;
        match parser.with_parsed(raw, |tape| self.match_tape(tape, state, matches)) {
            Ok(()) => Outcome::Parsed,
            Err(malformed) => Outcome::Malformed(malformed),
        }
    }

    fn match_tape(&self, tape: &[Node<'_>], state: &mut MatchState, matches: &mut Vec<FilterId>) {
        state.begin_event(self.slots.len(), self.terms.terms.len());
        state.extracted.extract(&self.trie, tape);
        let MatchState { extracted, marks, stamp, candidates, regex_hits, terms_found } = state;
        let stamp = *stamp;
        let mut fire = |slot: Slot| {
            let mark = &mut marks[slot as usize];
            if *mark != stamp {
                *mark = stamp;
                candidates.push(slot);
            }
        };
        for &path in extracted.touched() {
            self.path_indexes[path.0 as usize].fire(tape, extracted.values(path), regex_hits, &mut fire);
        }
        if !self.terms.is_empty() {
            for_each_string_value(tape, 0, &mut |text| self.terms.scan(text, terms_found));
            for (term, _) in terms_found.iter().enumerate().filter(|(_, found)| **found) {
                self.terms.slots[term].iter().copied().for_each(&mut fire);
            }
        }
        self.always.iter().copied().for_each(&mut fire);
        let view = EventView { tape, extracted, terms_found };
        for &slot in candidates.iter() {
            let entry = &self.slots[slot as usize];
            let bindings = FilterBindings { paths: &entry.paths, terms: &entry.terms };
            if evaluate(&entry.filter.cond, &bindings, &view) {
                matches.push(entry.id);
            }
        }
        matches.sort_unstable();
    }
}

/// Per-thread buffers for [`Matcher::match_event`], reused from event to
/// event (and across matcher rebuilds) so steady-state matching allocates nothing.
pub struct MatchScratch {
    parser: EventParser,
    state: MatchState,
}

struct MatchState {
    extracted: ExtractedValues,
    /// Per slot: the stamp of the last event that made it a candidate.
    marks: Vec<u32>,
    /// The current event's stamp; never 0, so fresh marks never collide.
    stamp: u32,
    /// Slots to evaluate for the current event, each once.
    candidates: Vec<Slot>,
    /// Scratch for `RegexSet` hits.
    regex_hits: Vec<bool>,
    /// Per global term id: some string value of the event contains it.
    terms_found: Vec<bool>,
}

impl MatchScratch {
    pub fn new(limits: EventLimits) -> Self {
        MatchScratch {
            parser: EventParser::new(limits),
            state: MatchState {
                extracted: ExtractedValues::default(),
                marks: Vec::new(),
                stamp: 0,
                candidates: Vec::new(),
                regex_hits: Vec::new(),
                terms_found: Vec::new(),
            },
        }
    }
}

impl Default for MatchScratch {
    fn default() -> Self {
        MatchScratch::new(EventLimits::default())
    }
}

impl MatchState {
    fn begin_event(&mut self, slot_count: usize, term_count: usize) {
        if self.marks.len() < slot_count {
            self.marks.resize(slot_count, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill(0);
            self.stamp = 1;
        }
        self.candidates.clear();
        self.terms_found.clear();
        self.terms_found.resize(term_count, false);
    }
}
