//! The compiled matcher: an immutable snapshot of a filter set, shared by
//! every worker thread, that answers "which filters does this event match?".

use std::sync::Arc;

use simd_json::Node;

use super::eval::{evaluate, EventView, FilterBindings};
use super::index::{PathIndex, Slot, TermIndex};
use super::paths::{ExtractedValues, PathId, PathTrie};
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
    /// (From [`Matcher::match_event_deferring_match_all`]: no filter but the
    /// `*` ones, which are in the output, unchecked.)
    Skipped,
    /// Not a well-formed event: no matches.
    Malformed(Malformed),
}

/// One distinct filter of a matcher, with the ids of every filter that
/// has its expression.
#[derive(Clone)]
pub(crate) struct SlotEntry {
    /// Never empty.
    pub ids: Vec<FilterId>,
    pub filter: Arc<PreparedFilter>,
    /// Global path ids of the filter's local paths.
    pub paths: Box<[PathId]>,
    /// Global term ids of the filter's local terms.
    pub terms: Box<[u32]>,
}

/// An immutable snapshot of a compiled filter set, shared by every worker
/// thread; built by [`FilterSet::build`](super::FilterSet::build). Its parts
/// are shared with the snapshots before and after it, so publishing one
/// after a change copies little (see `cow_map.rs`).
#[derive(Clone)]
pub struct Matcher {
    /// By slot; `None` for free slots.
    pub(crate) slots: Arc<Vec<Option<Arc<SlotEntry>>>>,
    pub(crate) len: usize,
    pub(crate) trie: Arc<PathTrie>,
    /// By path id; `None` for paths that trigger nothing.
    pub(crate) path_indexes: Arc<Vec<Option<Arc<PathIndex>>>>,
    pub(crate) terms: Arc<TermIndex>,
    /// Filters with no trigger cover, evaluated for every parsed event.
    pub(crate) always: Arc<Vec<Slot>>,
    /// `*` filters: true for every well-formed event; they do not turn the
    /// prefilter off (see [`Matcher::match_event_deferring_match_all`]).
    pub(crate) match_all: Arc<Vec<Slot>>,
    pub(crate) prefilter: Option<Arc<Prefilter>>,
}

impl Matcher {
    /// The number of filters.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the raw-byte prefilter is in use for this set.
    pub fn uses_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }

    /// Matches one raw event: `matches` receives the ids of the filters it
    /// matches, each once, in no particular order (sort them if you print
    /// them: workers don't need to, and 80 matches cost 400 ns to sort).
    pub fn match_event(&self, raw: &[u8], scratch: &mut MatchScratch, matches: &mut Vec<FilterId>) -> Outcome {
        let outcome = self.match_event_deferring_match_all(raw, scratch, matches);
        if outcome != Outcome::Skipped || matches.is_empty() {
            return outcome;
        }
        // Only the `*` filters can match, and only a well-formed event.
        match self.check_well_formed(raw, scratch) {
            Ok(()) => Outcome::Parsed,
            Err(malformed) => {
                matches.clear();
                Outcome::Malformed(malformed)
            }
        }
    }

    /// Like [`Self::match_event`], except when the prefilter skips an event
    /// that only `*` filters can match: their ids are in `matches` with
    /// [`Outcome::Skipped`], and the event was not parsed, so whether it is
    /// well-formed (and so matches `*` at all) is left to the caller
    /// ([`Self::check_well_formed`]). A worker that thins `*` to a budget
    /// parses only the events it forwards, instead of every event.
    pub fn match_event_deferring_match_all(
        &self,
        raw: &[u8],
        scratch: &mut MatchScratch,
        matches: &mut Vec<FilterId>,
    ) -> Outcome {
        matches.clear();
        if let Err(malformed) = scratch.parser.limits().check_size(raw) {
            return Outcome::Malformed(malformed);
        }
        // Both the prefilter and the full-text scan read raw bytes as text,
        // which only holds without escapes: look for a backslash once, and
        // only when one of them will ask.
        let reads_raw_text = self.prefilter.is_some() || self.terms.capacity() > 0;
        let escaped = reads_raw_text && memchr::memchr(b'\\', raw).is_some();
        if let Some(prefilter) = &self.prefilter {
            if !prefilter.may_match(raw, escaped, &mut scratch.unescaped) {
                self.push_match_all(matches);
                return Outcome::Skipped;
            }
        }
        let MatchScratch { parser, state, .. } = scratch;
        let matched = parser.with_parsed(raw, |tape, structurals| {
            let event = RawEvent { bytes: raw, escaped, tape, structurals };
            self.match_tape(&event, state, matches)
        });
        match matched {
            Ok(()) => Outcome::Parsed,
            Err(malformed) => Outcome::Malformed(malformed),
        }
    }

    /// Parses `raw` only to tell whether it is a well-formed event.
    pub fn check_well_formed(&self, raw: &[u8], scratch: &mut MatchScratch) -> Result<(), Malformed> {
        scratch.parser.with_parsed(raw, |_, _| ())
    }

    fn push_match_all(&self, matches: &mut Vec<FilterId>) {
        for &slot in self.match_all.iter() {
            let entry = self.slots[slot as usize].as_ref().expect("only live slots are indexed");
            matches.extend_from_slice(&entry.ids);
        }
    }

    fn match_tape(&self, event: &RawEvent<'_, '_>, state: &mut MatchState, matches: &mut Vec<FilterId>) {
        let tape = event.tape;
        state.begin_event(self.slots.len(), self.terms.capacity());
        state.extracted.extract(&self.trie, tape);
        let MatchState { extracted, marks, stamp, candidates, regex_hits, terms_found, term_text } = state;
        let stamp = *stamp;
        let mut fire = |slot: Slot| {
            let mark = &mut marks[slot as usize];
            if *mark != stamp {
                *mark = stamp;
                candidates.push(slot);
            }
        };
        for &path in extracted.touched() {
            if let Some(index) = &self.path_indexes[path.0 as usize] {
                index.fire(tape, extracted.values(path), regex_hits, &mut fire);
            }
        }
        if self.terms.capacity() > 0 {
            self.terms.scan(event.bytes, event.escaped, tape, event.structurals, term_text, terms_found);
            for (term, _) in terms_found.iter().enumerate().filter(|(_, found)| **found) {
                self.terms.slots(term).iter().copied().for_each(&mut fire);
            }
        }
        self.always.iter().copied().for_each(&mut fire);
        self.match_all.iter().copied().for_each(&mut fire);
        let view = EventView { tape, extracted, terms_found };
        for &slot in candidates.iter() {
            let entry = self.slots[slot as usize].as_ref().expect("only live slots are indexed");
            let bindings = FilterBindings { paths: &entry.paths, terms: &entry.terms };
            if evaluate(&entry.filter.cond, &bindings, &view) {
                matches.extend_from_slice(&entry.ids);
            }
        }
    }
}

/// One event as `match_tape` sees it: its bytes and its parse.
struct RawEvent<'a, 'input> {
    bytes: &'a [u8],
    /// The bytes hold a backslash: some string is not written as its text.
    escaped: bool,
    tape: &'a [Node<'input>],
    /// simd-json's structural offsets (see `EventParser::with_parsed`).
    structurals: &'a [u32],
}

/// Per-thread buffers for [`Matcher::match_event`], reused from event to
/// event (and across matcher rebuilds) so steady-state matching allocates nothing.
pub struct MatchScratch {
    parser: EventParser,
    state: MatchState,
    /// The prefilter's decoded string, in an event with escapes.
    unescaped: Vec<u8>,
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
    /// The text searched for full-text terms (see `TermIndex::scan`).
    term_text: Vec<u8>,
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
                term_text: Vec::new(),
            },
            unescaped: Vec::new(),
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
