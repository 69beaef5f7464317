//! The raw-byte prefilter: skip parsing an event that contains none of the
//! needles that some filter requires.
//!
//! Sound only when the event has no backslash: then every JSON string in it
//! is written as its decoded text, so a value equal to `"u-1"` appears as
//! the bytes `"u-1"`. Any backslash sends the event to the full parse. It is
//! built only when every filter of the set has a needle cover (see `cover.rs`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

pub(crate) struct Prefilter {
    /// All needles of all filters, ASCII-case-insensitive (full-text terms
    /// need that, and for the others it only adds false positives).
    /// `None` when no filter can match anything.
    automaton: Option<AhoCorasick>,
}

impl Prefilter {
    pub fn new(mut needles: Vec<Vec<u8>>) -> Self {
        needles.sort_unstable();
        needles.dedup();
        let automaton = (!needles.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                // A DFA: scanning every event is the whole cost of the
                // prefilter, and build time stays within budget (engine/DESIGN.md).
                .kind(Some(AhoCorasickKind::DFA))
                .build(&needles)
                .expect("needles are within aho-corasick's limits")
        });
        Prefilter { automaton }
    }

    /// False when no filter can match `raw`, so it need not be parsed.
    #[inline]
    pub fn may_match(&self, raw: &[u8]) -> bool {
        if memchr::memchr(b'\\', raw).is_some() {
            return true;
        }
        self.automaton.as_ref().is_some_and(|automaton| automaton.is_match(raw))
    }

    pub fn heap_bytes(&self) -> usize {
        self.automaton.as_ref().map_or(0, AhoCorasick::memory_usage)
    }
}
