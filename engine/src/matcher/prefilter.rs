//! The raw-byte prefilter: skip parsing an event that contains none of the
//! needles that some filter requires (see `cover.rs`).
//!
//! Raw bytes are text only when the event has no backslash: then every JSON
//! string in it is written as its decoded text. An event with a backslash
//! is read string by string, decoding the escaped ones, when the string-token
//! sets are the only needles, and parsed otherwise. The prefilter is used
//! only when every filter of the set has a needle cover.
//!
//! Needles are checked two ways:
//!
//! * the string-token pass (`string_tokens.rs`): string values (`== "u-123"`,
//!   by far the most common, any length), and `startswith` / `endswith`
//!   texts of 2 to 64 bytes. One scan for the quotes enumerates the event's
//!   strings; each is checked against a bitmap of two-byte keys and, on a
//!   hit, looked up in a copy-on-write hash map that changes in O(1) per
//!   filter. When the values are the only set and share one key (50,000
//!   user ids, `u-`), a `memmem` search for `"u-` replaces the scan; when
//!   the sets need at most 64 needles in all (the values' and prefixes'
//!   heads, `"u-`, `"bo`, and the suffixes' first bytes, `/ho` for every
//!   `endswith "/hotel/N"`), one Teddy search for them does. This replaced
//!   one Aho-Corasick search for the values' anchors and another over the
//!   affix needles: on the worker's drain mix (two anchors, 50 `endswith`
//!   needles sharing `/hotels/`) they re-entered their rare-byte prefilters
//!   about 86 times per 130-byte event, 12,600 of the 16,100 instructions
//!   per event (engine/DESIGN.md, section 3).
//! * the other byte needles (`contains`, `true`, affixes of one byte, of
//!   over 64 or holding a quote): one case-sensitive automaton, which keeps
//!   aho-corasick's SIMD prefilters; and the full-text terms: one
//!   ASCII-case-insensitive automaton. Mixing the byte needles into it made
//!   50 `endswith` needles cost 1.2 µs per event (perf/results/worker.md).
//!
//! Both automata grow in layers (`layered.rs`): one change never
//! rebuilds an automaton over every needle.

use super::cover::Needle;
use super::layered::{LayeredOptions, LayeredPatterns, Layers};
use super::string_tokens::{Anchor, TokenPass, TokenTextCounts, AFFIX_BYTES_MAX, AFFIX_BYTES_MIN};

/// The snapshot side, shared by published matchers.
pub(crate) struct Prefilter {
    /// String values, prefixes and suffixes, checked string by string.
    tokens: TokenPass,
    /// Over the other case-sensitive byte needles.
    bytes: Layers,
    /// Over the full-text terms, ignoring ASCII case.
    text: Layers,
}

impl Prefilter {
    /// False when no filter can match `raw`, so it need not be parsed.
    /// `escaped`: `raw` holds a backslash, so its strings are not their
    /// text; `unescaped` is scratch for decoding them.
    #[inline]
    pub fn may_match(&self, raw: &[u8], escaped: bool, unescaped: &mut Vec<u8>) -> bool {
        if escaped {
            return self.may_match_escaped(raw, unescaped);
        }
        if self.tokens.any_match(raw) {
            return true;
        }
        self.bytes.is_match(raw) || self.text.is_match(raw)
    }

    /// An event with a backslash: the byte and full-text automata search
    /// raw bytes, which are not the text there, so while they have
    /// needles the event is parsed; the string-token sets decode the
    /// strings that need it and still rule the event out.
    fn may_match_escaped(&self, raw: &[u8], unescaped: &mut Vec<u8>) -> bool {
        if !self.bytes.is_empty() || !self.text.is_empty() {
            return true;
        }
        self.tokens.any_match_escaped(raw, unescaped)
    }
}

/// The control side: needles counted by how many filters name them.
pub(crate) struct PrefilterNeedles {
    values: TokenTextCounts,
    prefixes: TokenTextCounts,
    suffixes: TokenTextCounts,
    bytes: LayeredPatterns,
    text: LayeredPatterns,
}

impl Default for PrefilterNeedles {
    fn default() -> Self {
        PrefilterNeedles {
            values: TokenTextCounts::new(Anchor::Whole),
            prefixes: TokenTextCounts::new(Anchor::Prefix),
            suffixes: TokenTextCounts::new(Anchor::Suffix),
            bytes: LayeredPatterns::new(LayeredOptions::default()),
            text: LayeredPatterns::new(LayeredOptions { ascii_case_insensitive: true }),
        }
    }
}

/// Whether the string-token pass serves a prefix or suffix text: 2 to 64
/// bytes, no quote. The others are searched by the byte automaton as the
/// quoted bytes they stand for (`"a` for `startswith "a"`).
fn token_affix_servable(text: &[u8]) -> bool {
    (AFFIX_BYTES_MIN..=AFFIX_BYTES_MAX).contains(&text.len()) && !text.contains(&b'"')
}

impl PrefilterNeedles {
    pub fn add(&mut self, needle: &Needle) {
        self.change(needle, true);
    }

    pub fn remove(&mut self, needle: &Needle) {
        self.change(needle, false);
    }

    fn change(&mut self, needle: &Needle, add: bool) {
        let quoted;
        let (patterns, pattern) = match needle {
            Needle::StringValue(text) => return count_text(&mut self.values, text, add),
            Needle::StringPrefix(text) if token_affix_servable(text) => {
                return count_text(&mut self.prefixes, text, add)
            }
            Needle::StringSuffix(text) if token_affix_servable(text) => {
                return count_text(&mut self.suffixes, text, add)
            }
            Needle::StringPrefix(text) => {
                quoted = [b"\"", text.as_slice()].concat();
                (&mut self.bytes, &quoted)
            }
            Needle::StringSuffix(text) => {
                quoted = [text.as_slice(), b"\""].concat();
                (&mut self.bytes, &quoted)
            }
            Needle::Bytes(bytes) => (&mut self.bytes, bytes),
            Needle::Text(text) => (&mut self.text, text),
        };
        if add {
            patterns.add(pattern);
        } else {
            patterns.remove(pattern);
        }
    }

    /// The snapshot, with the automata brought up to date.
    pub fn publish(&mut self) -> Prefilter {
        Prefilter {
            tokens: TokenPass::new(self.values.publish(), self.prefixes.publish(), self.suffixes.publish()),
            bytes: self.bytes.publish(),
            text: self.text.publish(),
        }
    }
}

fn count_text(texts: &mut TokenTextCounts, text: &[u8], add: bool) {
    if add {
        texts.add(text);
    } else {
        texts.remove(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `contains` of a text with a quote at one end is searched as raw
    /// bytes, not as a string's prefix or suffix: in an event with escapes a
    /// decoded string may hold that quote anywhere (`x"abc`), so such an
    /// event is parsed.
    #[test]
    fn contains_with_a_quote_at_an_end_is_not_a_string_affix() {
        for (contained, event) in [(&b"\"ab"[..], br#"{"t":"x\"abc"}"#), (b"ab\"", br#"{"t":"xab\"y"}"#)] {
            let mut needles = PrefilterNeedles::default();
            needles.add(&Needle::Bytes(contained.to_vec()));
            let prefilter = needles.publish();
            assert!(prefilter.may_match(event, true, &mut Vec::new()), "{contained:?} in {event:?}");
        }
    }
}
