//! Trigger indexes: for each path, the lookups that turn an event's values
//! into candidate filters without looping over filters.
//!
//! * equality on strings, numbers, booleans and `null`: hash maps keyed by the value;
//! * `contains` / `startswith` / `endswith`: one Aho-Corasick automaton per
//!   path over all its needles (start and end are checked by the evaluator);
//! * `matches`: one `RegexSet` per path;
//! * everything else that needs a value (`exists`, ordering, `!=`): "the path has a value";
//! * full-text terms: one ASCII-case-insensitive automaton over every string of the event.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::RegexSet;
use rustc_hash::FxHashMap;
use simd_json::{Node, StaticNode};

use super::eval::as_number;
use crate::language::Literal;

/// Index of a filter in a compiled matcher (its position in id order).
pub(crate) type Slot = u32;

/// The key of a number in the equality index: its f64 bits, with -0 folded
/// into 0. Exact equality (rule 4) implies equal f64s, so the index finds a
/// superset that the evaluator then checks exactly.
fn number_key(value: f64) -> u64 {
    if value == 0.0 {
        0
    } else {
        value.to_bits()
    }
}

fn constant_key(value: &Node<'_>) -> Option<usize> {
    match value {
        Node::Static(StaticNode::Bool(false)) => Some(0),
        Node::Static(StaticNode::Bool(true)) => Some(1),
        Node::Static(StaticNode::Null) => Some(2),
        _ => None,
    }
}

/// The trigger index of one path.
#[derive(Default)]
pub(crate) struct PathIndex {
    /// Filters to evaluate whenever the path has a value.
    presence: Vec<Slot>,
    strings: FxHashMap<Box<str>, Vec<Slot>>,
    numbers: FxHashMap<u64, Vec<Slot>>,
    /// `false`, `true`, `null`.
    constants: [Vec<Slot>; 3],
    substrings: Option<PatternIndex<AhoCorasick>>,
    regexes: Option<PatternIndex<RegexSet>>,
}

/// An automaton over many patterns and, per pattern, the filters it triggers.
struct PatternIndex<A> {
    automaton: A,
    slots: Vec<Vec<Slot>>,
}

/// Collects the triggers of one path before the automata are built.
#[derive(Default)]
pub(crate) struct PathIndexBuilder {
    index: PathIndex,
    substrings: Patterns,
    regexes: Patterns,
}

/// Distinct patterns in insertion order, each with the filters it triggers.
#[derive(Default)]
struct Patterns {
    positions: FxHashMap<String, usize>,
    patterns: Vec<String>,
    slots: Vec<Vec<Slot>>,
}

impl Patterns {
    fn add(&mut self, pattern: &str, slot: Slot) {
        let position = *self.positions.entry(pattern.to_owned()).or_insert_with(|| {
            self.patterns.push(pattern.to_owned());
            self.slots.push(Vec::new());
            self.patterns.len() - 1
        });
        self.slots[position].push(slot);
    }
}

impl PathIndexBuilder {
    pub fn presence(&mut self, slot: Slot) {
        self.index.presence.push(slot);
    }

    pub fn equal(&mut self, literal: &Literal, slot: Slot) {
        let index = &mut self.index;
        match literal {
            Literal::String(text) => index.strings.entry(text.as_str().into()).or_default().push(slot),
            Literal::Number(number) => index.numbers.entry(number_key(number.as_f64())).or_default().push(slot),
            Literal::Bool(false) => index.constants[0].push(slot),
            Literal::Bool(true) => index.constants[1].push(slot),
            Literal::Null => index.constants[2].push(slot),
        }
    }

    pub fn substring(&mut self, needle: &str, slot: Slot) {
        self.substrings.add(needle, slot);
    }

    pub fn regex(&mut self, pattern: &str, slot: Slot) {
        self.regexes.add(pattern, slot);
    }

    pub fn build(mut self) -> PathIndex {
        if !self.substrings.patterns.is_empty() {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&self.substrings.patterns)
                .expect("substring needles are within aho-corasick's limits");
            self.index.substrings = Some(PatternIndex { automaton, slots: self.substrings.slots });
        }
        if !self.regexes.patterns.is_empty() {
            let automaton = RegexSet::new(&self.regexes.patterns).expect("the parser checked every regex");
            self.index.regexes = Some(PatternIndex { automaton, slots: self.regexes.slots });
        }
        self.index
    }
}

impl PathIndex {
    /// Calls `fire` with every filter that one of `values` (tape indices of
    /// the path's values) triggers. `regex_hits` is scratch space.
    pub fn fire(&self, tape: &[Node<'_>], values: &[u32], regex_hits: &mut Vec<bool>, fire: &mut impl FnMut(Slot)) {
        self.presence.iter().copied().for_each(&mut *fire);
        for &index in values {
            let value = &tape[index as usize];
            if let Node::String(text) = value {
                if let Some(slots) = self.strings.get(*text) {
                    slots.iter().copied().for_each(&mut *fire);
                }
                if let Some(substrings) = &self.substrings {
                    for found in substrings.automaton.find_overlapping_iter(*text) {
                        substrings.slots[found.pattern().as_usize()].iter().copied().for_each(&mut *fire);
                    }
                }
                if let Some(regexes) = &self.regexes {
                    regex_hits.clear();
                    regex_hits.resize(regexes.slots.len(), false);
                    if regexes.automaton.matches_read_at(regex_hits, text, 0) {
                        for (position, _) in regex_hits.iter().enumerate().filter(|(_, hit)| **hit) {
                            regexes.slots[position].iter().copied().for_each(&mut *fire);
                        }
                    }
                }
            } else if let Some(number) = as_number(value) {
                if let Some(slots) = self.numbers.get(&number_key(number.as_f64())) {
                    slots.iter().copied().for_each(&mut *fire);
                }
            } else if let Some(key) = constant_key(value) {
                self.constants[key].iter().copied().for_each(&mut *fire);
            }
        }
    }

    /// Approximate heap bytes, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        let slots = |list: &Vec<Slot>| list.capacity() * 4 + std::mem::size_of::<Vec<Slot>>();
        let strings: usize = self.strings.iter().map(|(key, list)| key.len() + 16 + slots(list)).sum();
        let numbers: usize = self.numbers.values().map(|list| 8 + slots(list)).sum();
        let substrings = self.substrings.as_ref().map_or(0, |index| index.automaton.memory_usage());
        strings + numbers + substrings + slots(&self.presence)
    }
}

/// Full-text terms of the whole filter set, numbered by global term id.
pub(crate) struct TermIndex {
    /// Every distinct lowercased term; `terms_found` is indexed like it.
    pub terms: Vec<String>,
    /// Automaton over the non-empty terms; pattern `p` is term `pattern_terms[p]`.
    automaton: Option<AhoCorasick>,
    pattern_terms: Vec<u32>,
    /// The id of the empty term, true when the event has any string value.
    empty_term: Option<u32>,
    /// Per term id: the filters it triggers.
    pub slots: Vec<Vec<Slot>>,
}

impl TermIndex {
    pub fn new(terms: Vec<String>, slots: Vec<Vec<Slot>>) -> Self {
        let mut pattern_terms = Vec::new();
        let mut patterns = Vec::new();
        let mut empty_term = None;
        for (id, term) in terms.iter().enumerate() {
            if term.is_empty() {
                empty_term = Some(id as u32);
            } else {
                pattern_terms.push(id as u32);
                patterns.push(term.as_str());
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("full-text terms are within aho-corasick's limits")
        });
        TermIndex { terms, automaton, pattern_terms, empty_term, slots }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Marks in `found` the terms that `text`, one string value, contains.
    pub fn scan(&self, text: &str, found: &mut [bool]) {
        if let Some(empty) = self.empty_term {
            found[empty as usize] = true;
        }
        if let Some(automaton) = &self.automaton {
            for hit in automaton.find_overlapping_iter(text) {
                found[self.pattern_terms[hit.pattern().as_usize()] as usize] = true;
            }
        }
    }
}
