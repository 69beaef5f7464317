//! The raw-byte prefilter: skip parsing an event that contains none of the
//! needles that some filter requires (see `cover.rs`).
//!
//! Sound only when the event has no backslash: then every JSON string in it
//! is written as its decoded text. Any backslash sends the event to the full
//! parse. It is used only when every filter of the set has a needle cover.
//!
//! Three kinds of needles, three searches:
//!
//! * string values (`== "u-123"`, by far the most common): a search for
//!   their *anchors*, the opening quote and first two bytes (`"u-`), then,
//!   at each hit, one hash lookup of the whole string up to its closing
//!   quote. 50,000 user ids share one anchor, so the scan runs at memchr
//!   speed, and the set of values is a copy-on-write map that changes in
//!   O(1) per filter. A plain automaton over the 50,000 quoted values
//!   scanned at 1.2 µs per 700-byte event and took 120 ms to rebuild
//!   (engine/DESIGN.md).
//! * byte needles (`contains`, `startswith`, `endswith`, `true`...): one
//!   case-sensitive search, which keeps aho-corasick's SIMD prefilters.
//! * full-text terms: one ASCII-case-insensitive search. Mixing the byte
//!   needles into it made 50 `endswith` needles cost 1.2 µs per event
//!   (perf/results/worker.md).
//!
//! All three automata grow in layers (`layered.rs`): one change never
//! rebuilds an automaton over every needle.

use std::sync::Arc;

use super::cover::Needle;
use super::cow_map::CowMap;
use super::layered::{LayeredOptions, LayeredPatterns, Layers};

/// Bytes of a string value, after its opening quote, that form its anchor.
const ANCHOR_TEXT_BYTES: usize = 2;

/// The snapshot side, shared by published matchers.
pub(crate) struct Prefilter {
    /// String values that some filter needs → number of needles naming them.
    string_values: CowMap<Arc<[u8]>, u32>,
    /// Over the anchors of `string_values`.
    anchors: Layers,
    /// Over the case-sensitive byte needles.
    bytes: Layers,
    /// Over the full-text terms, ignoring ASCII case.
    text: Layers,
}

impl Prefilter {
    /// False when no filter can match `raw`, so it need not be parsed.
    /// `escaped`: `raw` holds a backslash, so its strings are not their text.
    #[inline]
    pub fn may_match(&self, raw: &[u8], escaped: bool) -> bool {
        if escaped || self.bytes.is_match(raw) || self.text.is_match(raw) {
            return true;
        }
        self.anchors.any_hit(raw, |_, anchor_start| {
            let text_start = anchor_start + 1;
            memchr::memchr(b'"', &raw[text_start..])
                .is_some_and(|length| self.string_values.get(&raw[text_start..text_start + length]).is_some())
        })
    }
}

/// The control side: needles counted by how many filters name them.
pub(crate) struct PrefilterNeedles {
    string_values: CowMap<Arc<[u8]>, u32>,
    anchors: LayeredPatterns,
    bytes: LayeredPatterns,
    text: LayeredPatterns,
}

impl Default for PrefilterNeedles {
    fn default() -> Self {
        PrefilterNeedles {
            string_values: CowMap::default(),
            anchors: LayeredPatterns::new(LayeredOptions::default()),
            bytes: LayeredPatterns::new(LayeredOptions::default()),
            text: LayeredPatterns::new(LayeredOptions { ascii_case_insensitive: true }),
        }
    }
}

impl PrefilterNeedles {
    pub fn add(&mut self, needle: &Needle) {
        self.change(needle, true);
    }

    pub fn remove(&mut self, needle: &Needle) {
        self.change(needle, false);
    }

    fn change(&mut self, needle: &Needle, add: bool) {
        let count = |patterns: &mut LayeredPatterns, pattern: &[u8]| {
            if add {
                patterns.add(pattern)
            } else {
                patterns.remove(pattern)
            }
        };
        match needle {
            // Short values have no anchor of their own: search them whole, quotes included.
            Needle::StringValue(text) if text.len() < ANCHOR_TEXT_BYTES => {
                let mut quoted = Vec::with_capacity(text.len() + 2);
                quoted.push(b'"');
                quoted.extend_from_slice(text);
                quoted.push(b'"');
                count(&mut self.bytes, &quoted);
            }
            Needle::StringValue(text) => {
                let mut anchor = vec![b'"'];
                anchor.extend_from_slice(&text[..ANCHOR_TEXT_BYTES]);
                count(&mut self.anchors, &anchor);
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
            Needle::Bytes(bytes) => count(&mut self.bytes, bytes),
            Needle::Text(text) => count(&mut self.text, text),
        }
    }

    /// The snapshot, with the automata brought up to date.
    pub fn publish(&mut self) -> Prefilter {
        Prefilter {
            string_values: self.string_values.clone(),
            anchors: self.anchors.publish(),
            bytes: self.bytes.publish(),
            text: self.text.publish(),
        }
    }
}
