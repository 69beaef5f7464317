//! The raw-byte prefilter: skip parsing an event that contains none of the
//! needles that some filter requires (see `cover.rs`).
//!
//! Sound only when the event has no backslash: then every JSON string in it
//! is written as its decoded text. Any backslash sends the event to the full
//! parse. It is used only when every filter of the set has a needle cover.
//!
//! Two kinds of needles, two searches:
//!
//! * string values (`== "u-123"`, by far the most common): an Aho-Corasick
//!   search for their *anchors*, the opening quote and first two bytes
//!   (`"u-`), then, at each hit, one hash lookup of the whole string up to
//!   its closing quote. 50,000 user ids share one anchor, so the scan runs
//!   at memchr speed, and the set of values is a copy-on-write map that
//!   changes in O(1) per filter. A plain automaton over the 50,000 quoted
//!   values scanned at 1.2 µs per 700-byte event and took 120 ms to rebuild
//!   (engine/DESIGN.md).
//! * other byte needles (`contains`, `startswith`, full-text terms...): one
//!   ASCII-case-insensitive automaton, rebuilt when they change.

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::cover::Needle;
use super::cow_map::CowMap;

/// Bytes of a string value, after its opening quote, that form its anchor.
const ANCHOR_TEXT_BYTES: usize = 2;

/// The snapshot side, shared by published matchers.
pub(crate) struct Prefilter {
    /// String values that some filter needs → number of needles naming them.
    string_values: CowMap<Arc<[u8]>, u32>,
    /// Automaton over the anchors of `string_values`.
    anchors: Option<Arc<AhoCorasick>>,
    /// Automaton over every other needle, ASCII-case-insensitive.
    bytes: Option<Arc<AhoCorasick>>,
}

impl Prefilter {
    /// False when no filter can match `raw`, so it need not be parsed.
    #[inline]
    pub fn may_match(&self, raw: &[u8]) -> bool {
        if memchr::memchr(b'\\', raw).is_some() {
            return true;
        }
        if let Some(bytes) = &self.bytes {
            if bytes.is_match(raw) {
                return true;
            }
        }
        let Some(anchors) = &self.anchors else { return false };
        anchors.find_overlapping_iter(raw).any(|hit| {
            let text_start = hit.start() + 1;
            memchr::memchr(b'"', &raw[text_start..])
                .is_some_and(|length| self.string_values.get(&raw[text_start..text_start + length]).is_some())
        })
    }

    pub fn heap_bytes(&self) -> usize {
        let values: usize = self.string_values.keys().map(|value| value.len() + 32).sum::<usize>() * 3 / 2;
        let automata = [&self.anchors, &self.bytes]
            .iter()
            .filter_map(|automaton| automaton.as_ref())
            .map(|automaton| automaton.memory_usage())
            .sum::<usize>();
        values + automata
    }
}

/// The control side: needles counted by how many filters name them.
#[derive(Default)]
pub(crate) struct PrefilterNeedles {
    string_values: CowMap<Arc<[u8]>, u32>,
    anchors: BTreeMap<Vec<u8>, u32>,
    bytes: BTreeMap<Vec<u8>, u32>,
    anchors_changed: bool,
    bytes_changed: bool,
    anchor_automaton: Option<Arc<AhoCorasick>>,
    bytes_automaton: Option<Arc<AhoCorasick>>,
}

impl PrefilterNeedles {
    pub fn add(&mut self, needle: &Needle) {
        self.change(needle, true);
    }

    pub fn remove(&mut self, needle: &Needle) {
        self.change(needle, false);
    }

    fn change(&mut self, needle: &Needle, add: bool) {
        match needle {
            // Short values have no anchor of their own: search them whole, quotes included.
            Needle::StringValue(text) if text.len() < ANCHOR_TEXT_BYTES => {
                let mut quoted = Vec::with_capacity(text.len() + 2);
                quoted.push(b'"');
                quoted.extend_from_slice(text);
                quoted.push(b'"');
                self.bytes_changed |= count(&mut self.bytes, &quoted, add);
            }
            Needle::StringValue(text) => {
                let mut anchor = vec![b'"'];
                anchor.extend_from_slice(&text[..ANCHOR_TEXT_BYTES]);
                self.anchors_changed |= count(&mut self.anchors, &anchor, add);
                self.string_values.update(
                    text.as_slice(),
                    || text.as_slice().into(),
                    |references| {
                        if add {
                            *references += 1;
                        } else {
                            *references -= 1;
                        }
                        *references > 0
                    },
                );
            }
            Needle::Bytes(bytes) => self.bytes_changed |= count(&mut self.bytes, bytes, add),
        }
    }

    /// The snapshot, with the automata rebuilt if their needles changed.
    pub fn publish(&mut self) -> Prefilter {
        if self.anchors_changed {
            self.anchors_changed = false;
            self.anchor_automaton = build_automaton(self.anchors.keys(), false);
        }
        if self.bytes_changed {
            self.bytes_changed = false;
            self.bytes_automaton = build_automaton(self.bytes.keys(), true);
        }
        Prefilter {
            string_values: self.string_values.clone(),
            anchors: self.anchor_automaton.clone(),
            bytes: self.bytes_automaton.clone(),
        }
    }
}

/// Counts one more (or one less) use of `key`; true when the key set changed.
fn count(counts: &mut BTreeMap<Vec<u8>, u32>, key: &[u8], add: bool) -> bool {
    if add {
        let references = counts.entry(key.to_vec()).or_insert(0);
        *references += 1;
        *references == 1
    } else {
        let references = counts.get_mut(key).expect("removed needles were added");
        *references -= 1;
        if *references == 0 {
            counts.remove(key);
            return true;
        }
        false
    }
}

fn build_automaton<'a>(
    patterns: impl Iterator<Item = &'a Vec<u8>>,
    ascii_case_insensitive: bool,
) -> Option<Arc<AhoCorasick>> {
    let patterns: Vec<&Vec<u8>> = patterns.collect();
    if patterns.is_empty() {
        return None;
    }
    let automaton = AhoCorasickBuilder::new()
        .ascii_case_insensitive(ascii_case_insensitive)
        // Standard semantics: `find_overlapping_iter` must report every anchor.
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .expect("needles are within aho-corasick's limits");
    Some(Arc::new(automaton))
}
