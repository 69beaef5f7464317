//! Trigger indexes: for each path, the lookups that turn an event's values
//! into candidate filters without looping over filters.
//!
//! * equality on strings, numbers, booleans and `null`: hash maps keyed by the value;
//! * `>`, `>=`, `<`, `<=` against numbers: sorted bounds, searched by bisection;
//! * `contains` / `startswith` / `endswith`: Aho-Corasick automata per path
//!   over all its needles (start and end are checked by the evaluator);
//! * `matches`: `RegexSet`s per path, as few as compile (see `RegexIndex`);
//! * everything else that needs a value (`exists`, `!=`, ordering against
//!   strings): "the path has a value";
//! * full-text terms: one search of the whole event, lowercased.
//!
//! Each index has a control side (`PathTriggers`, `TermTriggers`), changed
//! in place filter by filter, and a snapshot side (`PathIndex`, `TermIndex`)
//! shared by published matchers. Equality maps are copy-on-write
//! (`CowMap`), substring automata grow in layers (`LayeredPatterns`), and
//! regex sets and the term automaton are rebuilt at publish time, only when
//! their patterns changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};
use simd_json::{Node, StaticNode};

use super::cow_map::CowMap;
use super::eval::number_as_f64;
use super::interner::Interner;
use super::layered::{LayeredPatterns, Layers};
use super::paths::for_each_string_value;
use crate::language::{Literal, REGEX_COMPILED_BYTES_MAX};

/// Index of a filter in a matcher; stable while the filter is in the set.
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

/// The index of `false`, `true` and `null` in `PathIndex::constants`.
fn constant_key(value: &Node<'_>) -> Option<usize> {
    match value {
        Node::Static(StaticNode::Bool(false)) => Some(0),
        Node::Static(StaticNode::Bool(true)) => Some(1),
        Node::Static(StaticNode::Null) => Some(2),
        _ => None,
    }
}

/// `constant_key` for a literal (never called with a string or number).
fn literal_constant_key(literal: &Literal) -> usize {
    constant_key(&Node::Static(match literal {
        Literal::Bool(value) => StaticNode::Bool(*value),
        _ => StaticNode::Null,
    }))
    .expect("booleans and null have a constant key")
}

/// Removes one registration of `slot`; returns whether the list is still non-empty.
fn remove_slot(list: &mut Vec<Slot>, slot: Slot) -> bool {
    if let Some(position) = list.iter().position(|&known| known == slot) {
        list.swap_remove(position);
    }
    !list.is_empty()
}

/// The snapshot side of one path's triggers.
#[derive(Clone, Default)]
pub(crate) struct PathIndex {
    /// Filters to evaluate whenever the path has a value.
    presence: Arc<Vec<Slot>>,
    strings: CowMap<Arc<str>, Vec<Slot>>,
    numbers: CowMap<u64, Vec<Slot>>,
    /// `false`, `true`, `null`.
    constants: [Arc<Vec<Slot>>; 3],
    /// Lower bounds of `>` / `>=` on numbers, sorted: a value fires the prefix at or below it.
    at_least: Arc<Vec<(f64, Slot)>>,
    /// Upper bounds of `<` / `<=` on numbers, sorted: a value fires the suffix at or above it.
    at_most: Arc<Vec<(f64, Slot)>>,
    /// Needles of `contains` / `startswith` / `endswith` (perhaps some
    /// dead ones: see `layered.rs`), and the filters of the live ones.
    substrings: Arc<Layers>,
    substring_slots: CowMap<Arc<[u8]>, Vec<Slot>>,
    regexes: Option<Arc<RegexIndex>>,
}

/// The `matches` patterns of a path and, per pattern, the filters it triggers.
///
/// One `RegexSet` matches all the patterns in one pass, but a set has the
/// same compiled-size limit as one regex (10 MiB), so patterns the parser
/// accepted one by one may not fit together: `.{10000}` and `.{10001}` on
/// one path are 10 MiB together (issue 11). The patterns are therefore
/// split into groups that compile: the whole list if it can, else each half
/// in turn, down to single patterns, which reuse the filter's own compiled
/// regex. Building never fails, and a path whose patterns fit in one set
/// (every real one) keeps the one-pass set.
struct RegexIndex {
    /// Covers the patterns in order, each once.
    groups: Vec<RegexGroup>,
    /// Per pattern: the filters it triggers.
    slots: Vec<Vec<Slot>>,
}

enum RegexGroup {
    /// Patterns `first..first + set.len()`.
    Set { set: RegexSet, first: usize },
    /// Pattern `position`, too big to share a set with any neighbour.
    Single { regex: Regex, position: usize },
}

impl RegexIndex {
    /// `set_bytes_max`: the compiled-size limit of one set; the parser's
    /// per-pattern limit in production, smaller in tests.
    fn build(patterns: &BTreeMap<String, RegexTrigger>, set_bytes_max: usize) -> Self {
        let compiled: Vec<&Regex> = patterns.values().map(|trigger| &trigger.regex).collect();
        let mut groups = Vec::new();
        group_patterns(&compiled, 0, set_bytes_max, &mut groups);
        RegexIndex { groups, slots: patterns.values().map(|trigger| trigger.slots.clone()).collect() }
    }

    /// Sets `hits[p]` for every pattern `p` that matches `text`; `hits`
    /// has one entry per pattern, all false.
    fn mark_hits(&self, text: &str, hits: &mut [bool]) {
        for group in &self.groups {
            match group {
                RegexGroup::Set { set, first } => {
                    set.matches_read_at(&mut hits[*first..*first + set.len()], text, 0);
                }
                RegexGroup::Single { regex, position } => hits[*position] = regex.is_match(text),
            }
        }
    }
}

/// Appends groups that compile for `patterns`, the first being pattern
/// number `first` of the path. A failed attempt stops at the size limit, so
/// n patterns that fit nowhere together cost about log2(n) passes of their
/// total size.
fn group_patterns(patterns: &[&Regex], first: usize, set_bytes_max: usize, groups: &mut Vec<RegexGroup>) {
    match RegexSetBuilder::new(patterns.iter().map(|regex| regex.as_str())).size_limit(set_bytes_max).build() {
        Ok(set) => groups.push(RegexGroup::Set { set, first }),
        Err(error) => match patterns {
            [regex] => {
                // A set of one can be a little bigger than the regex alone.
                tracing::debug!(pattern = regex.as_str(), %error, "regex matched on its own, outside a set");
                groups.push(RegexGroup::Single { regex: (*regex).clone(), position: first });
            }
            _ => {
                let half = patterns.len() / 2;
                group_patterns(&patterns[..half], first, set_bytes_max, groups);
                group_patterns(&patterns[half..], first + half, set_bytes_max, groups);
            }
        },
    }
}

/// One `matches` pattern of a path: compiled once (by its first filter) and
/// the filters it triggers.
struct RegexTrigger {
    regex: Regex,
    slots: Vec<Slot>,
}

/// A trigger, seen from the path it is on.
pub(crate) enum PathTrigger<'a> {
    Presence,
    AtLeast(f64),
    AtMost(f64),
    Equal(&'a Literal),
    Substring(&'a str),
    Regex(&'a Regex),
}

/// The control side of one path's triggers.
#[derive(Default)]
pub(crate) struct PathTriggers {
    snapshot: Arc<PathIndex>,
    /// The substring needles, counted; their automata grow in layers.
    substrings: LayeredPatterns,
    /// Pattern → its regex and filters, the source of the regex sets.
    regexes: BTreeMap<String, RegexTrigger>,
    substrings_changed: bool,
    regexes_changed: bool,
}

impl PathTriggers {
    pub fn add(&mut self, trigger: PathTrigger<'_>, slot: Slot) {
        self.change(trigger, slot, true);
    }

    pub fn remove(&mut self, trigger: PathTrigger<'_>, slot: Slot) {
        self.change(trigger, slot, false);
    }

    fn change(&mut self, trigger: PathTrigger<'_>, slot: Slot, add: bool) {
        let edit = |list: &mut Vec<Slot>| {
            if add {
                list.push(slot);
                true
            } else {
                remove_slot(list, slot)
            }
        };
        match trigger {
            PathTrigger::Presence => {
                edit(Arc::make_mut(&mut Arc::make_mut(&mut self.snapshot).presence));
            }
            PathTrigger::AtLeast(bound) => {
                edit_bounds(Arc::make_mut(&mut Arc::make_mut(&mut self.snapshot).at_least), bound, slot, add)
            }
            PathTrigger::AtMost(bound) => {
                edit_bounds(Arc::make_mut(&mut Arc::make_mut(&mut self.snapshot).at_most), bound, slot, add)
            }
            PathTrigger::Equal(Literal::String(text)) => {
                Arc::make_mut(&mut self.snapshot).strings.update(text.as_str(), || text.as_str().into(), edit)
            }
            PathTrigger::Equal(Literal::Number(number)) => {
                let key = number_key(number.as_f64());
                Arc::make_mut(&mut self.snapshot).numbers.update(&key, || key, edit)
            }
            PathTrigger::Equal(constant) => {
                let key = literal_constant_key(constant);
                edit(Arc::make_mut(&mut Arc::make_mut(&mut self.snapshot).constants[key]));
            }
            PathTrigger::Substring(needle) => {
                if add {
                    self.substrings.add(needle.as_bytes());
                } else {
                    self.substrings.remove(needle.as_bytes());
                }
                Arc::make_mut(&mut self.snapshot).substring_slots.update(
                    needle.as_bytes(),
                    || needle.as_bytes().into(),
                    edit,
                );
                self.substrings_changed = true;
            }
            PathTrigger::Regex(regex) => {
                edit_patterns(&mut self.regexes, regex, edit);
                self.regexes_changed = true;
            }
        }
    }

    /// The snapshot, with the automata of changed patterns rebuilt.
    pub fn publish(&mut self) -> Arc<PathIndex> {
        if self.substrings_changed {
            self.substrings_changed = false;
            Arc::make_mut(&mut self.snapshot).substrings = Arc::new(self.substrings.publish());
        }
        if self.regexes_changed {
            self.regexes_changed = false;
            let index = (!self.regexes.is_empty())
                .then(|| Arc::new(RegexIndex::build(&self.regexes, REGEX_COMPILED_BYTES_MAX)));
            Arc::make_mut(&mut self.snapshot).regexes = index;
        }
        Arc::clone(&self.snapshot)
    }
}

/// Inserts (or removes one copy of) `(bound, slot)`, keeping the list sorted.
fn edit_bounds(bounds: &mut Vec<(f64, Slot)>, bound: f64, slot: Slot, add: bool) {
    let position = bounds.partition_point(|&(known, _)| known < bound);
    if add {
        bounds.insert(position, (bound, slot));
    } else if let Some(offset) = bounds[position..].iter().position(|&entry| entry == (bound, slot)) {
        bounds.remove(position + offset);
    }
}

fn edit_patterns(
    patterns: &mut BTreeMap<String, RegexTrigger>,
    regex: &Regex,
    edit: impl FnOnce(&mut Vec<Slot>) -> bool,
) {
    let pattern = regex.as_str();
    let trigger =
        patterns.entry(pattern.to_owned()).or_insert_with(|| RegexTrigger { regex: regex.clone(), slots: Vec::new() });
    if !edit(&mut trigger.slots) {
        patterns.remove(pattern);
    }
}

impl PathIndex {
    /// Calls `fire` with every filter that one of `values` (tape indices of
    /// the path's values) triggers. `regex_hits` is scratch space.
    #[inline]
    pub fn fire(&self, tape: &[Node<'_>], values: &[u32], regex_hits: &mut Vec<bool>, fire: &mut impl FnMut(Slot)) {
        self.presence.iter().copied().for_each(&mut *fire);
        for &index in values {
            let value = &tape[index as usize];
            if let Node::String(text) = value {
                if let Some(slots) = self.strings.get(*text) {
                    slots.iter().copied().for_each(&mut *fire);
                }
                self.substrings.any_hit(text.as_bytes(), |needle, _| {
                    if let Some(slots) = self.substring_slots.get(needle) {
                        slots.iter().copied().for_each(&mut *fire);
                    }
                    false
                });
                if let Some(regexes) = &self.regexes {
                    regex_hits.clear();
                    regex_hits.resize(regexes.slots.len(), false);
                    regexes.mark_hits(text, regex_hits);
                    for (position, _) in regex_hits.iter().enumerate().filter(|(_, hit)| **hit) {
                        regexes.slots[position].iter().copied().for_each(&mut *fire);
                    }
                }
            } else if let Some(number) = number_as_f64(value) {
                if let Some(slots) = self.numbers.get(&number_key(number)) {
                    slots.iter().copied().for_each(&mut *fire);
                }
                let reached = self.at_least.partition_point(|&(bound, _)| bound <= number);
                self.at_least[..reached].iter().for_each(|&(_, slot)| fire(slot));
                let reached = self.at_most.partition_point(|&(bound, _)| bound < number);
                self.at_most[reached..].iter().for_each(|&(_, slot)| fire(slot));
            } else if let Some(key) = constant_key(value) {
                self.constants[key].iter().copied().for_each(&mut *fire);
            }
        }
    }
}

/// Full-text terms of the filter set, reference-counted, with stable ids.
#[derive(Default)]
pub(crate) struct TermTriggers {
    terms: Interner<String>,
    /// Per term id: the filters it triggers.
    slots: Vec<Vec<Slot>>,
    changed: bool,
    snapshot: Arc<TermIndex>,
}

impl TermTriggers {
    /// The id of `term` (lowercased), taking one reference.
    pub fn acquire(&mut self, term: &str) -> u32 {
        let (id, is_new) = self.terms.acquire(term);
        if is_new {
            self.slots.resize_with(self.terms.capacity(), Vec::new);
            self.changed = true;
        }
        id
    }

    pub fn release(&mut self, id: u32) {
        self.changed |= self.terms.release(id);
    }

    pub fn add_trigger(&mut self, id: u32, slot: Slot) {
        self.slots[id as usize].push(slot);
        self.changed = true;
    }

    pub fn remove_trigger(&mut self, id: u32, slot: Slot) {
        remove_slot(&mut self.slots[id as usize], slot);
        self.changed = true;
    }

    /// The snapshot, rebuilt if any term or term trigger changed. Full-text
    /// filters are few next to selective ones, so a full rebuild is cheap.
    pub fn publish(&mut self) -> Arc<TermIndex> {
        if self.changed {
            self.changed = false;
            self.snapshot = Arc::new(TermIndex::build(&self.terms, &self.slots));
        }
        Arc::clone(&self.snapshot)
    }
}

/// The snapshot side of the full-text terms.
#[derive(Default)]
pub(crate) struct TermIndex {
    /// One past the largest term id: the size of the per-event `terms_found`.
    capacity: usize,
    /// The non-empty terms (already lowercase), leftmost-longest and
    /// case-sensitive, searched in a lowercased copy of the event: that
    /// search runs on aho-corasick's SIMD prefilter (Teddy). Pattern `p` is
    /// term `pattern_terms[p]`. An overlapping case-insensitive search cost
    /// 16 instructions per byte (callgrind, 1,000 mixed filters).
    automaton: Option<AhoCorasick>,
    /// Per pattern: the other patterns that are proper prefixes of it, with
    /// their lengths (a leftmost-longest hit hides them).
    prefixes: Vec<Vec<(u32, usize)>>,
    pattern_terms: Vec<u32>,
    /// The id of the empty term, true when the event has any string value.
    empty_term: Option<u32>,
    /// Per term id: the filters it triggers.
    slots: Vec<Vec<Slot>>,
}

/// Separates string values in the text searched for terms: never part of
/// UTF-8, so no term can match across two values.
const VALUE_SEPARATOR: u8 = 0xFF;

impl TermIndex {
    fn build(terms: &Interner<String>, slots: &[Vec<Slot>]) -> Self {
        let mut index = TermIndex { capacity: terms.capacity(), slots: slots.to_vec(), ..TermIndex::default() };
        let mut patterns = Vec::new();
        for (id, term) in terms.live() {
            if term.is_empty() {
                index.empty_term = Some(id);
            } else {
                index.pattern_terms.push(id);
                patterns.push(term.as_str());
            }
        }
        if patterns.is_empty() {
            return index;
        }
        index.automaton = Some(
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("full-text terms are within aho-corasick's limits"),
        );
        index.prefixes = patterns
            .iter()
            .map(|pattern| {
                patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, other)| other.len() < pattern.len() && pattern.starts_with(*other))
                    .map(|(position, other)| (index.pattern_terms[position], other.len()))
                    .collect()
            })
            .collect();
        index
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Marks in `found` the terms that some string value of the event
    /// contains. `escaped`: `raw` holds a backslash. `text` is scratch space.
    ///
    /// Without a backslash (and without the empty term), the raw event is
    /// searched once and a hit counts only inside a string that is not a
    /// key: the string that opens at the last structural offset before the
    /// hit (simd-json's stage 1 records every opening quote), closes after
    /// it, and is not followed by `:`. Otherwise the decoded string values
    /// are joined, separated by a byte that UTF-8 never uses, and searched
    /// once.
    pub fn scan(
        &self,
        raw: &[u8],
        escaped: bool,
        tape: &[Node<'_>],
        structurals: &[u32],
        text: &mut Vec<u8>,
        found: &mut [bool],
    ) {
        text.clear();
        let from_raw = self.empty_term.is_none() && !escaped;
        if from_raw {
            text.extend(raw.iter().map(u8::to_ascii_lowercase));
        } else {
            for_each_string_value(tape, 0, &mut |value| {
                text.extend(value.bytes().map(|byte| byte.to_ascii_lowercase()));
                text.push(VALUE_SEPARATOR);
            });
            if let Some(empty) = self.empty_term {
                found[empty as usize] = !text.is_empty();
            }
        }
        let Some(automaton) = &self.automaton else { return };
        let mut check = |term: u32, start: usize, end: usize| {
            if !found[term as usize] && (!from_raw || inside_string_value(raw, structurals, start, end)) {
                found[term as usize] = true;
            }
        };
        // Every position where some term starts, with the longest term
        // there; the shorter ones at the same position are its prefixes.
        let mut from = 0;
        while let Some(hit) = automaton.find(Input::new(text.as_slice()).range(from..)) {
            let pattern = hit.pattern().as_usize();
            check(self.pattern_terms[pattern], hit.start(), hit.end());
            for &(term, length) in &self.prefixes[pattern] {
                check(term, hit.start(), hit.start() + length);
            }
            from = hit.start() + 1;
        }
    }

    pub fn slots(&self, term: usize) -> &[Slot] {
        &self.slots[term]
    }
}

/// True when `raw[start..end]` lies inside the text of a string value (not
/// a key) of an event free of backslashes.
fn inside_string_value(raw: &[u8], structurals: &[u32], start: usize, end: usize) -> bool {
    let following = structurals.partition_point(|&offset| (offset as usize) < start);
    let Some(opening) = following.checked_sub(1) else { return false };
    let quote = structurals[opening] as usize;
    if raw[quote] != b'"' {
        return false;
    }
    let closes_after_hit = memchr::memchr(b'"', &raw[quote + 1..]).is_some_and(|length| quote + 1 + length >= end);
    let is_key = structurals.get(following).is_some_and(|&offset| raw[offset as usize] == b':');
    closes_after_hit && !is_key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patterns `a.{n}` for n in `lengths`, each triggering slot n.
    fn patterns(lengths: impl Iterator<Item = usize>) -> BTreeMap<String, RegexTrigger> {
        lengths
            .map(|n| {
                let pattern = format!("a.{{{n}}}");
                let regex = crate::language::compile_regex(&pattern).unwrap();
                (pattern, RegexTrigger { regex, slots: vec![n as Slot] })
            })
            .collect()
    }

    /// The patterns `mark_hits` reports for `text`, by their slots.
    fn hit_slots(index: &RegexIndex, text: &str) -> Vec<Slot> {
        let mut hits = vec![false; index.slots.len()];
        index.mark_hits(text, &mut hits);
        let mut slots: Vec<Slot> =
            hits.iter().zip(&index.slots).filter(|(hit, _)| **hit).map(|(_, slots)| slots[0]).collect();
        slots.sort_unstable();
        slots
    }

    fn group_shapes(index: &RegexIndex) -> Vec<(usize, usize)> {
        index
            .groups
            .iter()
            .map(|group| match group {
                RegexGroup::Set { set, first } => (*first, set.len()),
                RegexGroup::Single { position, .. } => (*position, 0),
            })
            .collect()
    }

    #[test]
    fn patterns_that_fit_together_share_one_set() {
        let index = RegexIndex::build(&patterns(1..=20), REGEX_COMPILED_BYTES_MAX);
        assert_eq!(group_shapes(&index), [(0, 20)]);
    }

    /// A small set limit splits the same patterns into several sets and, for
    /// patterns too big for any set, single regexes; hits are the same.
    #[test]
    fn patterns_too_big_for_one_set_are_split_and_hit_the_same() {
        let lengths = (1..=20).chain([200, 300]);
        let whole = RegexIndex::build(&patterns(lengths.clone()), REGEX_COMPILED_BYTES_MAX);
        let split = RegexIndex::build(&patterns(lengths), 64 * 1024);
        let shapes = group_shapes(&split);
        assert!(shapes.len() > 2, "{shapes:?}");
        assert!(shapes.iter().any(|&(_, len)| len == 0), "no single regex: {shapes:?}");
        assert!(shapes.iter().any(|&(_, len)| len > 1), "no shared set: {shapes:?}");
        let covered: Vec<usize> = shapes.iter().flat_map(|&(first, len)| first..first + len.max(1)).collect();
        assert_eq!(covered, (0..22).collect::<Vec<_>>(), "every pattern once, in order");
        for length in [0, 1, 2, 5, 10, 15, 20, 21, 150, 201, 250, 301, 400] {
            let text = "a".repeat(length);
            let expected: Vec<Slot> = (1..=20).chain([200, 300]).filter(|&n| length > n).map(|n| n as Slot).collect();
            assert_eq!(hit_slots(&whole, &text), expected, "{length} characters, one set");
            assert_eq!(hit_slots(&split, &text), expected, "{length} characters, split");
        }
    }
}
