//! The prefilter's string-token pass: sets of texts that a JSON string of
//! the event must equal, start with or end with, checked string by string.
//!
//! In an event with no backslash, a `"` byte is always a string's opening or
//! closing quote, so the spans between consecutive pairs of quotes are
//! exactly the event's strings, keys and values alike, as their decoded
//! text. One pass over the quotes enumerates them ([`for_each_token`]).
//! Each string is then checked against a 64K-bit bitmap keyed by two of its
//! bytes, and only on a bitmap hit looked up whole (or by prefix or suffix)
//! in a hash map. In an event with a backslash, the strings that hold an
//! escape are decoded first ([`TokenPass::any_match_escaped`]).
//!
//! This replaced an Aho-Corasick search for anchors (`"u-`) followed by a
//! hash lookup, and the byte automaton's `startswith` / `endswith` needles:
//! on the worker's drain mix, aho-corasick re-entered its rare-byte
//! prefilter about 86 times per 130-byte event, and matching went from
//! 16,100 to 4,400 instructions per event (engine/DESIGN.md, section 3).
//!
//! When the sets have few keys, the strings are not walked one by one: a
//! search for the bytes that open a matching string, or start a suffix
//! that ends one, finds the few worth checking ([`TokenPass::new`] picks
//! the search once per snapshot: `memmem` for one value key, Teddy for up
//! to [`NEEDLES_SEARCHED_MAX`] needles, the walk above that).
//!
//! Updates are incremental, like the rest of the matcher: the texts are a
//! [`CowMap`], the bitmap (8 KiB) is copied at most once per publish, and
//! each bit and length mask is backed by a count of the texts that need it.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cow_map::CowMap;
use crate::language::string::decode_escape;

/// One bit per two-byte key.
const BITMAP_WORDS: usize = (1 << 16) / 64;

/// Prefix and suffix texts are served by the token pass from this length
/// (a one-byte text has no two-byte key of its own)...
pub(crate) const AFFIX_BYTES_MIN: usize = 2;
/// ...up to this one: a key's lengths are one `u64` mask.
pub(crate) const AFFIX_BYTES_MAX: usize = 64;

/// Which part of a string a set's texts must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The whole string (`== "u-1"`); any length, the empty text included.
    Whole,
    /// Its first bytes (`startswith`), `AFFIX_BYTES_MIN..=AFFIX_BYTES_MAX` of them.
    Prefix,
    /// Its last bytes (`endswith`), same lengths.
    Suffix,
}

/// The key of a string by its first two bytes, a missing byte read as the
/// closing quote that follows a short string in the event. The empty
/// string's key is `""`; `"x"`'s is `x"`. Texts and strings get their keys
/// the same way, so equal texts have equal keys.
#[inline]
fn head_key(text: &[u8]) -> u16 {
    let first = text.first().copied().unwrap_or(b'"');
    let second = text.get(1).copied().unwrap_or(b'"');
    u16::from_be_bytes([first, second])
}

/// The key of a string by its last two bytes (missing ones read as `"`).
#[inline]
fn tail_key(text: &[u8]) -> u16 {
    let last = text.len().checked_sub(1).map_or(b'"', |index| text[index]);
    let before = text.len().checked_sub(2).map_or(b'"', |index| text[index]);
    u16::from_be_bytes([before, last])
}

/// Calls `check` with every string of `raw` (the bytes between its opening
/// and closing quote); stops at, and returns, the first true. Exact only
/// when `raw` is valid JSON without a backslash; on anything else the
/// strings may be mispaired, which the prefilter accepts: the event is then
/// either escaped (read by [`for_each_escaped_string`] instead) or
/// malformed.
///
/// The quotes are found eight bytes at a time ([`quote_bits`]).
/// `memchr::memchr_iter` was tried first: it re-enters its search at every
/// quote, and on the 665-byte clickstream events (about 120 quotes) whole
/// matching cost 10,150 instructions per event with it, 6,930 with this.
#[inline]
pub(crate) fn for_each_token(raw: &[u8], check: impl FnMut(&[u8]) -> bool) -> bool {
    for_each_string_between(raw, |_| true, check)
}

/// [`for_each_token`] for an event with backslashes: calls `check` with
/// the raw bytes of every string (escapes as written), skipping the
/// quotes that a string holds (`\"`, preceded by an odd run of
/// backslashes). Outside strings valid JSON has no backslash.
fn for_each_escaped_string(raw: &[u8], check: impl FnMut(&[u8]) -> bool) -> bool {
    for_each_string_between(raw, |quote| !is_escaped(raw, quote), check)
}

/// True when the quote at `quote` follows an odd run of backslashes: it is
/// part of a string (`\"`), not one of its ends.
fn is_escaped(raw: &[u8], quote: usize) -> bool {
    raw[..quote].iter().rev().take_while(|&&byte| byte == b'\\').count() % 2 == 1
}

/// Calls `check` with the bytes between each pair of consecutive quotes
/// for which `is_quote` holds (its argument: the quote's offset); stops at,
/// and returns, the first true. The quotes are found eight bytes at a time
/// ([`quote_bits`]).
#[inline(always)]
fn for_each_string_between(raw: &[u8], is_quote: impl Fn(usize) -> bool, mut check: impl FnMut(&[u8]) -> bool) -> bool {
    // The opening quote of the string being read, if any.
    let mut open: Option<usize> = None;
    let mut word_start = 0;
    while word_start < raw.len() {
        // The last word is padded with zero bytes, which are not quotes.
        let word = match raw.get(word_start..word_start + 8) {
            Some(bytes) => u64::from_le_bytes(bytes.try_into().expect("eight bytes")),
            None => {
                let mut padded = [0; 8];
                padded[..raw.len() - word_start].copy_from_slice(&raw[word_start..]);
                u64::from_le_bytes(padded)
            }
        };
        let mut quotes = quote_bits(word);
        while quotes != 0 {
            let quote = word_start + (quotes.trailing_zeros() / 8) as usize;
            quotes &= quotes - 1;
            if !is_quote(quote) {
                continue;
            }
            match open.take() {
                None => open = Some(quote),
                Some(start) => {
                    if check(&raw[start + 1..quote]) {
                        return true;
                    }
                }
            }
        }
        word_start += 8;
    }
    false
}

/// Calls `check` with the raw bytes of each string of `raw` that holds a
/// backslash; stops at, and returns, the first true. Inside a string every
/// quote is escaped, so the unescaped quotes nearest to a backslash bound
/// its string. A backslash outside any string (malformed JSON) counts as a
/// match.
fn for_each_string_with_escapes(raw: &[u8], mut check: impl FnMut(&[u8]) -> bool) -> bool {
    let mut from = 0;
    while let Some(offset) = memchr::memchr(b'\\', &raw[from..]) {
        let backslash = from + offset;
        let opening =
            memchr::memrchr_iter(b'"', &raw[from..backslash]).map(|at| from + at).find(|&at| !is_escaped(raw, at));
        let closing =
            memchr::memchr_iter(b'"', &raw[backslash..]).map(|at| backslash + at).find(|&at| !is_escaped(raw, at));
        let (Some(opening), Some(closing)) = (opening, closing) else { return true };
        if check(&raw[opening + 1..closing]) {
            return true;
        }
        from = closing + 1;
    }
    false
}

/// Decodes the JSON string body `escaped` (without its quotes) into `out`,
/// with the filter language's own decoder of escapes (RFC 8259's, as
/// simd-json's). `None` for a bad escape or a lone surrogate.
fn unescape(escaped: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let mut position = 0;
    while let Some(offset) = memchr::memchr(b'\\', &escaped[position..]) {
        let backslash = position + offset;
        out.extend_from_slice(&escaped[position..backslash]);
        let (character, next) = decode_escape(escaped, backslash).ok()?;
        out.extend_from_slice(character.encode_utf8(&mut [0; 4]).as_bytes());
        position = next;
    }
    out.extend_from_slice(&escaped[position..]);
    Some(())
}

/// Bit `8k + 7` set exactly when byte `k` of `word` (little-endian) is `"`:
/// the classic SWAR zero-byte test on `word` xor eight quotes, in the
/// form that has no carries between bytes, so no false bits.
#[inline]
fn quote_bits(word: u64) -> u64 {
    const LOW_SEVEN_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let zero_where_quote = word ^ (u64::from(b'"') * 0x0101_0101_0101_0101);
    !(((zero_where_quote & LOW_SEVEN_BITS) + LOW_SEVEN_BITS) | zero_where_quote | LOW_SEVEN_BITS)
}

/// The snapshot side: a set of texts and the keys that find them.
#[derive(Clone)]
pub(crate) struct TokenTexts {
    /// What part of a string the texts must be.
    anchor: Anchor,
    /// Bit set for each key that some text has (head key, or tail key for suffixes).
    keys: Arc<[u64; BITMAP_WORDS]>,
    /// Prefixes and suffixes: per key, bit `length - 1` set when some text
    /// of that length has that key. Empty for whole strings.
    lengths: CowMap<u16, u64>,
    /// The texts, each with the number of needles naming it.
    texts: CowMap<Arc<[u8]>, u32>,
    /// No text at all: the prefilter skips this set.
    empty: bool,
    /// The needles that find every string this set can match, sorted, when
    /// there are at most [`NEEDLES_SEARCHED_MAX`] of them (`"u-` alone for
    /// user ids; see [`head_needle`], [`suffix_needle`]); `None` for more.
    /// Set by each publish, read once by [`TokenPass::new`].
    few_needles: Option<Arc<[Needle]>>,
}

/// A needle of the few-key search: three bytes as they occur in the event
/// (two for `""`, the empty string's head).
type Needle = Box<[u8]>;

impl TokenTexts {
    fn new(anchor: Anchor) -> Self {
        TokenTexts {
            anchor,
            keys: Arc::new([0; BITMAP_WORDS]),
            lengths: CowMap::default(),
            texts: CowMap::default(),
            empty: true,
            few_needles: Some(Arc::from([])),
        }
    }

    /// True when `token` (one string of the event) equals, starts with or
    /// ends with one of the texts, as the anchor says. `head` and `tail`
    /// are its keys ([`head_key`], [`tail_key`]), computed once per string
    /// by the caller for all its sets.
    #[inline(always)]
    pub fn matches(&self, token: &[u8], head: u16, tail: u16) -> bool {
        match self.anchor {
            Anchor::Whole => self.has_key(head) && self.texts.get(token).is_some(),
            Anchor::Prefix => self.has_key(head) && self.affix_matches(head, token.len(), |length| &token[..length]),
            Anchor::Suffix => {
                self.has_key(tail) && self.affix_matches(tail, token.len(), |length| &token[token.len() - length..])
            }
        }
    }

    #[inline(always)]
    fn has_key(&self, key: u16) -> bool {
        self.keys[key as usize / 64] & (1 << (key % 64)) != 0
    }

    /// One lookup per length, among those the key's texts have, that fits
    /// in a string of `token_length` bytes. Called on a bitmap hit only.
    fn affix_matches<'t>(&self, key: u16, token_length: usize, affix: impl Fn(usize) -> &'t [u8]) -> bool {
        let Some(&lengths) = self.lengths.get(&key) else { return false };
        let fitting = if token_length >= 64 { u64::MAX } else { (1 << token_length) - 1 };
        let mut candidates = lengths & fitting;
        while candidates != 0 {
            let length = candidates.trailing_zeros() as usize + 1;
            if self.texts.get(affix(length)).is_some() {
                return true;
            }
            candidates &= candidates - 1;
        }
        false
    }
}

/// The most needles searched for at once by [`Search::Needles`]; a set with
/// more is read by the walk over every string. 64 is Teddy's own limit
/// (aho-corasick 1.1.5, `packed/teddy/builder.rs`: "too many patterns will
/// overwhelm Teddy"), and up to it the search still won on the drain's
/// clickstream mix, measured when each `endswith "/hotel/N"` was a needle
/// of its own (before [`suffix_needle`]): 3,630 instructions per 665-byte
/// event for 12 needles against 8,060 for the walk, 4,660 / 8,270 for 32,
/// 5,250 / 8,330 for 52 and 5,950 / 8,550 for 64 (callgrind, 2026-11-26;
/// engine/DESIGN.md, section 3). Above 32 needles Teddy switches to its
/// "fat" form, 16 bytes a step instead of 32: on the synthetic 130-byte
/// events, whose every string ends in digits, that lost to the walk (4,530
/// / 4,230 for 34, 5,230 / 4,410 for 64) while 32 and fewer still won
/// (4,050 / 4,210).
/// The clickstream is what the worker drains, so the bound is Teddy's.
pub(crate) const NEEDLES_SEARCHED_MAX: usize = 64;

/// How [`TokenPass::any_match`] finds the strings worth checking; chosen
/// once per published snapshot.
enum Search {
    /// No set has a text.
    Nothing,
    /// The walk over every string ([`for_each_token`]): too many keys for
    /// a needle search, or no SIMD Teddy on this CPU.
    EveryString,
    /// When the values are the only set and share one key: the bytes that
    /// start each of them in the event (`"u-`), found by `memmem` instead
    /// of the pass over every string. On the 665-byte clickstream events
    /// (about 60 strings) with the 50,000 user ids, whole matching cost
    /// 6,930 instructions per event with the pass, 2,300 with this search
    /// (2,630 with the Aho-Corasick anchors before; engine/DESIGN.md).
    /// Kept beside the Teddy search, which is slower for one needle:
    /// criterion `match_selective_50k`, same session, 3.37–3.46 M events/s
    /// with this, 2.88–3.11 M with Teddy.
    OneValueKey(memchr::memmem::Finder<'static>),
    /// A few needles in all: one SIMD (Teddy) search for the bytes that
    /// open a string with a value's or prefix's head key (`"u-`, `"bo`)
    /// and for the first bytes of each suffix (`/ho` for every `endswith
    /// "/hotel/N"`); see [`TokenPass::any_match_at_needles`].
    Needles(aho_corasick::packed::Searcher),
}

/// The three sets of the prefilter, checked together string by string.
pub(crate) struct TokenPass {
    /// Texts that a whole string of the event must be.
    values: TokenTexts,
    /// Texts that a string must start with.
    prefixes: TokenTexts,
    /// Texts that a string must end with.
    suffixes: TokenTexts,
    /// How the strings worth checking are found.
    search: Search,
}

/// A head key as written at the start of a string in the event: `"ab`,
/// `"x"` for a one-byte string (key `x"`), `""` for the empty one (key
/// `""`, or any key of a text that starts with a quote: such a text never
/// is a string of an unescaped event, so its needle only costs lookups).
fn head_needle(key: u16) -> Needle {
    match key.to_be_bytes() {
        [b'"', _] => Box::from(*b"\"\""),
        [first, b'"'] => Box::from([b'"', first, b'"']),
        [first, second] => Box::from([b'"', first, second]),
    }
}

/// Where a suffix starts in an event: its first three bytes (`/ho` for
/// `/hotel/112`), or for a two-byte suffix its bytes and the closing quote
/// (`ng"`). Suffixes that share their first bytes share one needle: the 50
/// `endswith "/hotel/N"` of the drain mix are one (engine/DESIGN.md,
/// section 3, has what their last bytes cost as needles). None when those
/// bytes hold a quote: such a suffix never ends a string of an unescaped
/// event (its strings hold no quote), and an escaped event's strings with
/// escapes are decoded and checked whole
/// ([`TokenPass::any_match_escaped`]). So no suffix needle starts with
/// `"` and every head needle does, which tells the two apart at a hit.
fn suffix_needle(text: &[u8]) -> Option<[u8; 3]> {
    let needle = match *text {
        [first, second] => [first, second, b'"'],
        [first, second, third, ..] => [first, second, third],
        _ => return None,
    };
    (!needle[..text.len().min(3)].contains(&b'"')).then_some(needle)
}

impl TokenPass {
    pub fn new(values: TokenTexts, prefixes: TokenTexts, suffixes: TokenTexts) -> Self {
        let search = Self::choose_search(&values, &prefixes, &suffixes);
        TokenPass { values, prefixes, suffixes, search }
    }

    /// The cheapest search that finds every string the sets can match.
    fn choose_search(values: &TokenTexts, prefixes: &TokenTexts, suffixes: &TokenTexts) -> Search {
        if values.empty && prefixes.empty && suffixes.empty {
            return Search::Nothing;
        }
        let (Some(value_needles), Some(prefix_needles), Some(suffix_needles)) =
            (&values.few_needles, &prefixes.few_needles, &suffixes.few_needles)
        else {
            return Search::EveryString;
        };
        if let ([needle], true, true) = (&value_needles[..], prefixes.empty, suffixes.empty) {
            return Search::OneValueKey(memchr::memmem::Finder::new(needle).into_owned());
        }
        let mut needles: Vec<&Needle> =
            value_needles.iter().chain(prefix_needles.iter()).chain(suffix_needles.iter()).collect();
        needles.sort_unstable();
        needles.dedup();
        if needles.len() > NEEDLES_SEARCHED_MAX {
            return Search::EveryString;
        }
        // Leftmost-first is the only semantics Teddy has; it loses nothing
        // here because at most one needle occurs at any position (head
        // needles start with `"`, suffix needles never do; each kind
        // differs from its own within its first three bytes, and `""`,
        // `"x"` and `"ab` differ at a quote), and the search resumes past
        // each hit's start (`any_match_at_needles` says where). `None`: no
        // SSSE3 or AVX2 (NEON on aarch64), or more than 64 needles.
        match aho_corasick::packed::Searcher::new(&needles) {
            Some(searcher) => Search::Needles(searcher),
            None => Search::EveryString,
        }
    }

    /// True when some string of `raw` matches one of the sets (see
    /// [`for_each_token`] for when that is exact); false at once when no
    /// set has a text.
    #[inline]
    pub fn any_match(&self, raw: &[u8]) -> bool {
        match &self.search {
            Search::Nothing => false,
            Search::OneValueKey(anchor) => self.any_value_at_anchor(raw, anchor),
            Search::Needles(searcher) => self.any_match_at_needles(raw, searcher),
            Search::EveryString => for_each_token(raw, |token| self.string_matches(token)),
        }
    }

    /// [`Self::any_match`] for an event with a backslash, whose raw bytes
    /// are not its strings' text where they hold an escape. A string
    /// without one is still its text, and the needle searches find it as
    /// in any event (they pair no quotes: an escaped quote before a needle
    /// only costs a lookup). Each string with an escape is then decoded
    /// into `unescaped` and checked; one that does not decode (a bad
    /// escape, a lone surrogate) counts as a match, for the parse to judge.
    /// The walk over every string pairs quotes, so it skips the escaped
    /// ones instead ([`for_each_escaped_string`]).
    ///
    /// On the bundled clickstream 9% of the events have a backslash (titles
    /// and search queries with quotes, tabs); before this they were all
    /// parsed, 56% of the parses on the worker's drain mix.
    pub fn any_match_escaped(&self, raw: &[u8], unescaped: &mut Vec<u8>) -> bool {
        let mut decoded_matches = |string: &[u8]| match unescape(string, unescaped) {
            Some(()) => self.string_matches(unescaped),
            None => true,
        };
        match &self.search {
            Search::Nothing => false,
            Search::EveryString => for_each_escaped_string(raw, |string| {
                if memchr::memchr(b'\\', string).is_none() {
                    self.string_matches(string)
                } else {
                    decoded_matches(string)
                }
            }),
            Search::OneValueKey(_) | Search::Needles(_) => {
                self.any_match(raw) || for_each_string_with_escapes(raw, decoded_matches)
            }
        }
    }

    /// True when `token`, one string of the event, matches one of the sets.
    #[inline(always)]
    fn string_matches(&self, token: &[u8]) -> bool {
        let (prefixes, suffixes) = (!self.prefixes.empty, !self.suffixes.empty);
        let head = head_key(token);
        // The tail key only when some suffix needs it.
        let tail = if suffixes { tail_key(token) } else { 0 };
        self.values.matches(token, head, tail)
            || (prefixes && self.prefixes.matches(token, head, tail))
            || (suffixes && self.suffixes.matches(token, head, tail))
    }

    /// The values' search when they share one key: at each occurrence of
    /// the anchor, one lookup of the text up to the next quote. Every
    /// string whose text is a value starts with the anchor at its opening
    /// quote, and the search resumes one byte after each occurrence, so
    /// none is skipped; occurrences at a closing quote only cost a lookup.
    fn any_value_at_anchor(&self, raw: &[u8], anchor: &memchr::memmem::Finder<'static>) -> bool {
        let mut position = 0;
        while let Some(found) = anchor.find(&raw[position..]) {
            let text_start = position + found + 1;
            let Some(length) = memchr::memchr(b'"', &raw[text_start..]) else { return false };
            if self.values.texts.get(&raw[text_start..text_start + length]).is_some() {
                return true;
            }
            position = text_start;
        }
        false
    }

    /// The search for a few needles: every string that some value or
    /// prefix matches opens with its head needle, and every suffix it ends
    /// with holds the suffix's needle at its start ([`suffix_needle`]).
    /// At a head needle the string runs from the quote at the hit to the
    /// next one, and is checked against all three sets, as the walk does.
    /// At a suffix needle, the bytes from the hit to the next quote are
    /// checked against the suffixes: every suffix that starts there or
    /// later in the same string ends at that quote. A needle elsewhere
    /// (`"ab` at a closing quote, `12,` between two strings) makes the span
    /// up to the next quote a candidate: a wasted lookup, never a missed
    /// string.
    ///
    /// The search then resumes at the string's last byte. A needle that
    /// starts after the hit and before the closing quote lies in the same
    /// string (a head needle starts with a quote) and its suffixes were
    /// just checked, so `"u-12"` costs one check, not one per needle in
    /// it; a head needle at the closing quote is still found, since that
    /// quote may open the next string (`"a": "b"` has `: "` before `"b`).
    /// Why the last byte rather than the quote: Teddy filters the first two
    /// positions of a search by their last one or two bytes only; with the
    /// tail needles of before (`12"`, all ending in a quote), resuming at
    /// the quote cost 8,900 instructions per clickstream event, resuming
    /// one byte after each hit's start 5,600, and this 5,250.
    fn any_match_at_needles(&self, raw: &[u8], searcher: &aho_corasick::packed::Searcher) -> bool {
        let mut position = 0;
        while let Some(hit) = searcher.find_in(raw, aho_corasick::Span::from(position..raw.len())) {
            let is_head = raw[hit.start()] == b'"';
            let text_start = if is_head { hit.start() + 1 } else { hit.start() };
            // No quote after: no string (nor suffix ending one) further on.
            let Some(length) = memchr::memchr(b'"', &raw[text_start..]) else { return false };
            let (text, closing) = (&raw[text_start..text_start + length], text_start + length);
            let matched = if is_head { self.string_matches(text) } else { self.suffix_matches(text) };
            if matched {
                return true;
            }
            // The string's last byte; the hit's next byte for `""`.
            position = (closing - 1).max(hit.start() + 1);
        }
        false
    }

    /// True when `text`, the end of one string of the event, ends with a
    /// suffix. A suffix set reads the tail key only.
    #[inline(always)]
    fn suffix_matches(&self, text: &[u8]) -> bool {
        self.suffixes.matches(text, 0, tail_key(text))
    }
}

/// The control side: the published set and the counts behind its bits.
pub(crate) struct TokenTextCounts {
    /// The set as the next publish will hand it out; its shared parts are
    /// copied on the first write after a publish.
    current: TokenTexts,
    /// Distinct texts per key: the key's bit is set while this is positive.
    texts_per_key: FxHashMap<u16, u32>,
    /// Distinct prefix or suffix texts per key and length: the length's bit
    /// in the key's mask is set while this is positive.
    texts_per_key_length: FxHashMap<(u16, usize), u32>,
    /// Suffixes only: distinct texts per [`suffix_needle`].
    texts_per_suffix_needle: FxHashMap<[u8; 3], u32>,
}

impl TokenTextCounts {
    pub fn new(anchor: Anchor) -> Self {
        TokenTextCounts {
            current: TokenTexts::new(anchor),
            texts_per_key: FxHashMap::default(),
            texts_per_key_length: FxHashMap::default(),
            texts_per_suffix_needle: FxHashMap::default(),
        }
    }

    /// Counts one more needle naming `text`.
    pub fn add(&mut self, text: &[u8]) {
        self.check_length(text);
        let mut is_new = false;
        self.current.texts.update(
            text,
            || text.into(),
            |references| {
                is_new = *references == 0;
                *references += 1;
                true
            },
        );
        if is_new {
            self.count_key(text, true);
        }
    }

    /// Counts one needle naming `text` less.
    pub fn remove(&mut self, text: &[u8]) {
        let mut is_gone = false;
        self.current.texts.update(
            text,
            || text.into(),
            |references| {
                assert!(*references > 0, "removed texts were added");
                *references -= 1;
                is_gone = *references == 0;
                !is_gone
            },
        );
        if is_gone {
            self.count_key(text, false);
        }
    }

    /// The snapshot: cheap, every part is shared until the next write.
    pub fn publish(&mut self) -> TokenTexts {
        self.current.empty = self.texts_per_key.is_empty();
        // At most NEEDLES_SEARCHED_MAX needles are collected, so a publish
        // of a large set costs no more than before.
        let needles: Option<Vec<Needle>> = match self.current.anchor {
            Anchor::Whole | Anchor::Prefix => (self.texts_per_key.len() <= NEEDLES_SEARCHED_MAX)
                .then(|| self.texts_per_key.keys().map(|key| head_needle(*key)).collect()),
            Anchor::Suffix => (self.texts_per_suffix_needle.len() <= NEEDLES_SEARCHED_MAX)
                .then(|| self.texts_per_suffix_needle.keys().map(|needle| Box::from(*needle)).collect()),
        };
        self.current.few_needles = needles.map(|mut needles| {
            // Keys that start with a quote share the head needle `""`.
            needles.sort_unstable();
            needles.dedup();
            needles.into()
        });
        self.current.clone()
    }

    fn check_length(&self, text: &[u8]) {
        if self.current.anchor != Anchor::Whole {
            assert!(
                (AFFIX_BYTES_MIN..=AFFIX_BYTES_MAX).contains(&text.len()),
                "prefix and suffix texts have {AFFIX_BYTES_MIN} to {AFFIX_BYTES_MAX} bytes"
            );
        }
    }

    /// A distinct text appeared (`add`) or went: its key's bit and length mask follow.
    fn count_key(&mut self, text: &[u8], add: bool) {
        let key = match self.current.anchor {
            Anchor::Whole | Anchor::Prefix => head_key(text),
            Anchor::Suffix => tail_key(text),
        };
        if count(&mut self.texts_per_key, key, add) {
            let bit = 1 << (key % 64);
            let word = &mut Arc::make_mut(&mut self.current.keys)[key as usize / 64];
            *word = if add { *word | bit } else { *word & !bit };
        }
        if let (Anchor::Suffix, Some(needle)) = (self.current.anchor, suffix_needle(text)) {
            count(&mut self.texts_per_suffix_needle, needle, add);
        }
        if self.current.anchor != Anchor::Whole && count(&mut self.texts_per_key_length, (key, text.len()), add) {
            let bit = 1u64 << (text.len() - 1);
            self.current.lengths.update(
                &key,
                || key,
                |mask| {
                    *mask = if add { *mask | bit } else { *mask & !bit };
                    *mask != 0
                },
            );
        }
    }
}

/// Adds one to (or takes one from) `counts[key]`, dropping zeros; true when
/// the count went from 0 to 1 or from 1 to 0.
fn count<K: std::hash::Hash + Eq + Copy>(counts: &mut FxHashMap<K, u32>, key: K, add: bool) -> bool {
    let entry = counts.entry(key).or_insert(0);
    if add {
        *entry += 1;
        *entry == 1
    } else {
        *entry -= 1;
        let crossed = *entry == 0;
        if crossed {
            counts.remove(&key);
        }
        crossed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string `walk` (a walk over an event's strings) finds in `raw`.
    fn strings_found(walk: impl FnOnce(&[u8], &mut dyn FnMut(&[u8]) -> bool) -> bool, raw: &str) -> Vec<String> {
        let mut found = Vec::new();
        walk(raw.as_bytes(), &mut |string| {
            found.push(String::from_utf8(string.to_vec()).unwrap());
            false
        });
        found
    }

    fn tokens(raw: &str) -> Vec<String> {
        strings_found(|raw, check| for_each_token(raw, check), raw)
    }

    fn set(anchor: Anchor, texts: &[&str]) -> TokenTextCounts {
        let mut counts = TokenTextCounts::new(anchor);
        for text in texts {
            counts.add(text.as_bytes());
        }
        counts
    }

    /// True when some string of `raw` matches the set.
    fn hit(texts: &TokenTexts, raw: &str) -> bool {
        for_each_token(raw.as_bytes(), |token| texts.matches(token, head_key(token), tail_key(token)))
    }

    fn decoded(escaped: &str) -> Option<String> {
        let mut out = Vec::new();
        unescape(escaped.as_bytes(), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn escaped_strings_decode_as_json_does() {
        assert_eq!(decoded(r#"a\"b\\c\/d\b\f\n\r\t"#).as_deref(), Some("a\"b\\c/d\u{8}\u{c}\n\r\t"));
        assert_eq!(decoded(r"\u0075-1").as_deref(), Some("u-1"));
        assert_eq!(decoded(r"caf\u00e9 \ud83d\ude00").as_deref(), Some("café 😀"));
        for bad in [r"\x", r"\u12", r"\u12g4", r"\ud83d", r"\ud83dx", r"\ude00", r"\ud83d\u0041", "end\\"] {
            assert_eq!(decoded(bad), None, "{bad}");
        }
    }

    #[test]
    fn escaped_quotes_stay_inside_their_string() {
        assert_eq!(
            strings_found(
                |raw, check| for_each_escaped_string(raw, check),
                r#"{"t":"say \"hi\"","b":"\\","c":"\\\"x"}"#
            ),
            ["t", r#"say \"hi\""#, "b", r"\\", "c", r#"\\\"x"#]
        );
    }

    #[test]
    fn escaped_events_are_matched_on_their_decoded_strings() {
        // Each case with the search `TokenPass::new` picks and with the walk.
        let any = |sets: [&[&str]; 3], raw: &str| {
            let [values, prefixes, suffixes] = sets;
            let searched = pass(values, prefixes, suffixes).any_match_escaped(raw.as_bytes(), &mut Vec::new());
            let walked = walk(values, prefixes, suffixes).any_match_escaped(raw.as_bytes(), &mut Vec::new());
            assert_eq!(searched, walked, "{sets:?} in {raw}");
            searched
        };
        let users: [&[&str]; 3] = [&["u-1"], &[], &[]];
        assert!(any(users, r#"{"t":"a \"b\"","user":"\u0075-1"}"#));
        assert!(any(users, r#"{"t":"a \"b\"","user":"u-1"}"#));
        assert!(!any(users, r#"{"t":"a \"u-1\"","user":"u-2"}"#), "u-1 is quoted inside another string");
        let prefixes: [&[&str]; 3] = [&[], &["ab"], &[]];
        assert!(any(prefixes, r#"{"t":"\u0061bc"}"#));
        assert!(!any(prefixes, r#"{"t":"x\"a\"b"}"#));
        let suffixes: [&[&str]; 3] = [&[], &[], &["ab"]];
        assert!(any(suffixes, r#"{"a":"\tx","t":"yab"}"#));
        assert!(!any(suffixes, r#"{"t":"xa\tb"}"#));
        // A string that does not decode is left to the parser.
        assert!(any(users, r#"{"t":"\q"}"#));
    }

    #[test]
    fn tokens_are_the_strings_keys_included() {
        assert_eq!(tokens(r#"{"a":"","bc":["x","u-1"],"n":1}"#), ["a", "", "bc", "x", "u-1", "n"]);
        assert_eq!(tokens(r#""edge""#), ["edge"]);
        assert_eq!(tokens(r#"[1,2]"#), Vec::<String>::new());
    }

    #[test]
    fn quote_bits_are_exact_for_every_byte() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut word = [b'a'; 8];
                word[position] = byte;
                let expected = if byte == b'"' { 0x80 << (8 * position) } else { 0 };
                assert_eq!(quote_bits(u64::from_le_bytes(word)), expected, "byte {byte} at {position}");
            }
        }
        assert_eq!(quote_bits(u64::from_le_bytes(*b"\"\"\"\"\"\"\"\"")), 0x8080_8080_8080_8080);
    }

    #[test]
    fn tokens_across_word_boundaries_and_in_the_remainder() {
        let raw = r#"{"abcdefghijklmnop":"q","r":["0123456789","s"],"t":""}"#;
        assert_eq!(tokens(raw), ["abcdefghijklmnop", "q", "r", "0123456789", "s", "t", ""]);
        for length in 0..20 {
            let text = "z".repeat(length);
            assert_eq!(tokens(&format!(r#"["{text}"]"#)), [text.as_str()]);
            assert_eq!(tokens(&format!(r#""{text}""#)), [text.as_str()]);
        }
    }

    /// `hit` through a `TokenPass` of `values` alone, three ways: by the
    /// anchor when the values share a key, by the needle search (a suffix
    /// that no test string has makes a second key), and by the walk over
    /// every string. All must agree.
    fn pass_hit(values: &[&str], raw: &str) -> bool {
        let alone = TokenPass::new(set(Anchor::Whole, values).publish(), empty(Anchor::Prefix), empty(Anchor::Suffix));
        let no_suffix = ["\u{1}\u{1}"];
        let needles = pass(values, &[], &no_suffix);
        let walk = walk(values, &[], &no_suffix);
        let by_anchor = alone.any_match(raw.as_bytes());
        assert_eq!(by_anchor, needles.any_match(raw.as_bytes()), "{values:?} in {raw}, needles");
        assert_eq!(by_anchor, walk.any_match(raw.as_bytes()), "{values:?} in {raw}, walk");
        by_anchor
    }

    /// The pass over three sets, with the search `TokenPass::new` picks.
    fn pass(values: &[&str], prefixes: &[&str], suffixes: &[&str]) -> TokenPass {
        TokenPass::new(
            set(Anchor::Whole, values).publish(),
            set(Anchor::Prefix, prefixes).publish(),
            set(Anchor::Suffix, suffixes).publish(),
        )
    }

    /// The same sets, read by the walk over every string whatever their keys.
    fn walk(values: &[&str], prefixes: &[&str], suffixes: &[&str]) -> TokenPass {
        TokenPass { search: Search::EveryString, ..pass(values, prefixes, suffixes) }
    }

    /// Teddy runs on this CPU (SSSE3 or AVX2 on x86-64, NEON on aarch64).
    fn needles_available() -> bool {
        aho_corasick::packed::Searcher::new(["ab"]).is_some()
    }

    /// `raw` through the needle search (asserted to be the one chosen) and
    /// the walk: they must agree.
    fn needles_hit(values: &[&str], prefixes: &[&str], suffixes: &[&str], raw: &str) -> bool {
        let needles = pass(values, prefixes, suffixes);
        if needles_available() {
            assert!(matches!(needles.search, Search::Needles(_)), "{values:?} {prefixes:?} {suffixes:?}");
        }
        let by_needles = needles.any_match(raw.as_bytes());
        let by_walk = walk(values, prefixes, suffixes).any_match(raw.as_bytes());
        assert_eq!(by_needles, by_walk, "{values:?} {prefixes:?} {suffixes:?} in {raw}");
        by_needles
    }

    #[test]
    fn overlapping_needles_are_all_found() {
        // `"ab` and `ab"` overlap in `"ab"`; either may decide.
        assert!(needles_hit(&["zz"], &[], &["ab"], r#"["ab"]"#));
        assert!(needles_hit(&["ab"], &[], &["zz"], r#"["ab"]"#));
        assert!(needles_hit(&["ab"], &[], &["ab"], r#"["ab"]"#));
        // A near miss on the same needle just before: the key "aaa".
        assert!(needles_hit(&["aa"], &[], &["zz"], r#"{"aaa":"aa"}"#));
        assert!(!needles_hit(&["aa"], &[], &["zz"], r#"{"aaa":"aab"}"#));
        // `a1"` inside `"a1"a1"`-like runs: adjacent strings share needles.
        assert!(needles_hit(&["zz"], &[], &["xa1"], r#"["a1","xa1"]"#));
        assert!(!needles_hit(&["zz"], &[], &["xa1"], r#"["a1","ya1"]"#));
        // Three overlapping needles `"b1`, `b1"` and the next `"b1`.
        assert!(needles_hit(&["b1"], &["b1"], &["zb1"], r#"["b12","b1"]"#));
        assert!(!needles_hit(&["b1"], &["b1x"], &["zb1"], r#"["b12","xb1"]"#));
    }

    #[test]
    fn a_suffix_needle_outside_a_string_costs_a_lookup_only() {
        // `: ` starts the gap between a key and its value: the gap is looked
        // up, then the value is still found by its own needles.
        let event = r#"{"a": "b", "c": "x: "}"#;
        assert!(needles_hit(&["b"], &[], &["z: "], event));
        assert!(needles_hit(&["q"], &[], &["x: "], event));
        assert!(!needles_hit(&["q"], &[], &["z: "], event));
        assert!(needles_hit(&["q"], &["b,"], &["z: "], r#"{"a": "b,"}"#));
        assert!(needles_hit(&["a"], &[], &["12"], r#"[12,"a"]"#));
        // Bytes between two strings that end like a suffix up to the next
        // quote are a candidate (the parse then finds no such string); the
        // walk, which pairs quotes, never sees them.
        assert!(!walk(&["q"], &[], &["12,"]).any_match(br#"[12,"a"]"#));
        assert!(pass(&["q"], &[], &["12,"]).any_match(br#"[12,"a"]"#));
    }

    #[test]
    fn empty_and_one_byte_values_by_needles() {
        let (values, suffixes) = (["", "x"], ["zz"]);
        assert!(needles_hit(&values, &[], &suffixes, r#"{"a":""}"#));
        assert!(needles_hit(&values, &[], &suffixes, r#"{"a":"x"}"#));
        assert!(needles_hit(&values, &[], &suffixes, r#"{"x":1}"#), "a key equal to a value is a candidate");
        assert!(!needles_hit(&values, &[], &suffixes, r#"{"a":"xx","b":"y","c":"yx"}"#));
        assert!(!needles_hit(&["x"], &[], &suffixes, r#"{"a":"","b":"xx"}"#));
        assert!(needles_hit(&[""], &["ab"], &[], r#"["abc",""]"#));
        assert!(!needles_hit(&[""], &["ab"], &[], r#"["b","a"]"#));
    }

    #[test]
    fn needles_at_the_edges_of_short_and_long_events() {
        // Short events are searched by Rabin-Karp inside the packed
        // searcher, long ones by Teddy: both ends of both.
        for padding in [0, 1, 40, 100] {
            let filler = format!(r#""{}","#, "p".repeat(padding));
            let (values, prefixes, suffixes) = (["edge"], ["st"], ["nd"]);
            assert!(needles_hit(&values, &prefixes, &suffixes, r#""edge""#));
            assert!(needles_hit(&values, &prefixes, &suffixes, &format!(r#"[{filler}"edge"]"#)));
            assert!(needles_hit(&values, &prefixes, &suffixes, &format!(r#""start",{filler}"x""#)));
            assert!(needles_hit(&values, &prefixes, &suffixes, &format!(r#"{filler}"the end""#)));
            assert!(!needles_hit(&values, &prefixes, &suffixes, &format!(r#"{filler}"edges","tsar","dn""#)));
        }
    }

    #[test]
    fn a_head_hit_and_a_tail_hit_in_one_string() {
        // `"bo` opens "booking" and `ng"` closes it: the first hit's check
        // fails (no prefix "box"), the second's succeeds.
        let event = r#"{"type":"booking","n":1}"#;
        assert!(needles_hit(&["zz"], &["box"], &["king"], event));
        assert!(needles_hit(&["zz"], &["boo"], &["xing"], event));
        assert!(!needles_hit(&["zz"], &["box"], &["xing"], event));
        assert!(needles_hit(&["booking"], &["box"], &["xing"], event));
    }

    #[test]
    fn one_needle_over_the_bound_falls_back_to_the_walk() {
        // Suffixes with distinct first bytes: `a0`, `a1`, ..., one needle each.
        let texts: Vec<String> =
            (0..=NEEDLES_SEARCHED_MAX).map(|n| format!("{}{}", (b'a' + (n / 10) as u8) as char, n % 10)).collect();
        let at_bound: Vec<&str> = texts[..NEEDLES_SEARCHED_MAX].iter().map(String::as_str).collect();
        let over: Vec<&str> = texts.iter().map(String::as_str).collect();
        let within = pass(&[], &[], &at_bound);
        if needles_available() {
            assert!(matches!(within.search, Search::Needles(_)));
        }
        let beyond = pass(&[], &[], &over);
        assert!(matches!(beyond.search, Search::EveryString));
        let last = format!(r#"["x{}"]"#, texts[NEEDLES_SEARCHED_MAX]);
        assert!(beyond.any_match(last.as_bytes()));
        assert!(!within.any_match(last.as_bytes()));
        assert!(within.any_match(format!(r#"["x{}"]"#, texts[0]).as_bytes()));
        // Shared heads count once: many values and prefixes on one key,
        // plus one suffix, are two needles.
        let values: Vec<String> = (0..1_000).map(|n| format!("u-{n}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        if needles_available() {
            assert!(matches!(pass(&values, &["u-9"], &["ng"]).search, Search::Needles(_)));
        }
        assert!(matches!(pass(&values, &[], &[]).search, Search::OneValueKey(_)));
        assert!(matches!(pass(&[], &[], &[]).search, Search::Nothing));
    }

    /// A small deterministic generator (xorshift64) for the randomized test.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn needles_never_miss_a_string_the_walk_finds() {
        // Texts and strings over a tiny alphabet so that needles collide,
        // overlap and sit beside quotes; separators as JSON writes them.
        let alphabet = b"ab1:, ";
        let separators = ["", ",", ":", ": ", ", ", "[", "]", "{", "}", "1", "1,"];
        let mut state = 0x9E37_79B9_7F4A_7C15;
        let word = |state: &mut u64, bytes_min: usize| {
            let length = bytes_min + (next(state) % 4) as usize;
            (0..length).map(|_| alphabet[(next(state) % alphabet.len() as u64) as usize] as char).collect::<String>()
        };
        for _ in 0..3_000 {
            let mut texts = [Vec::new(), Vec::new(), Vec::new()];
            for (kind, bytes_min) in [(0, 0), (1, AFFIX_BYTES_MIN), (2, AFFIX_BYTES_MIN)] {
                for _ in 0..next(&mut state) % 3 {
                    texts[kind].push(word(&mut state, bytes_min));
                }
            }
            let [values, prefixes, suffixes] =
                texts.each_ref().map(|list| list.iter().map(String::as_str).collect::<Vec<_>>());
            let needles = pass(&values, &prefixes, &suffixes);
            let walk = walk(&values, &prefixes, &suffixes);
            for _ in 0..10 {
                let mut event = String::new();
                let mut strings = Vec::new();
                for _ in 0..1 + next(&mut state) % 6 {
                    event.push_str(separators[(next(&mut state) % separators.len() as u64) as usize]);
                    let string = word(&mut state, 0);
                    event.push_str(&format!(r#""{string}""#));
                    strings.push(string);
                }
                event.push_str(separators[(next(&mut state) % separators.len() as u64) as usize]);
                let expected = strings.iter().any(|string| {
                    values.contains(&string.as_str())
                        || prefixes.iter().any(|prefix| string.starts_with(prefix))
                        || suffixes.iter().any(|suffix| string.ends_with(suffix))
                });
                assert_eq!(walk.any_match(event.as_bytes()), expected, "walk: {texts:?} in {event}");
                if expected {
                    assert!(needles.any_match(event.as_bytes()), "needles missed {texts:?} in {event}");
                }
            }
        }
    }

    fn empty(anchor: Anchor) -> TokenTexts {
        TokenTextCounts::new(anchor).publish()
    }

    #[test]
    fn values_sharing_one_key_are_found_by_their_anchor() {
        let alone = TokenPass::new(
            set(Anchor::Whole, &["u-1", "u-22"]).publish(),
            empty(Anchor::Prefix),
            empty(Anchor::Suffix),
        );
        assert!(matches!(alone.search, Search::OneValueKey(_)));
        assert!(pass_hit(&["u-1", "u-22"], r#"{"a":"u-3","b":"u-22"}"#));
        assert!(!pass_hit(&["u-1", "u-22"], r#"{"a":"u-3","b":"u-222","u-1x":1}"#));
        assert!(pass_hit(&["x"], r#"{"a":"xx","b":"x"}"#));
        assert!(!pass_hit(&["x"], r#"{"a":"xx","x1":""}"#));
        assert!(pass_hit(&[""], r#"{"a":"b","c":""}"#));
        assert!(!pass_hit(&[""], r#"{"a":"b","c":"d"}"#));
        assert!(pass_hit(&["edge"], r#""edge""#));
        assert!(pass_hit(&["type"], r#"{"type":1}"#), "a key equal to a value is a candidate");
        assert!(!pass_hit(&["u-1"], r#"{"a":"u-1"#), "no closing quote: malformed");
        // An anchor at a closing quote is only a wasted lookup.
        assert!(pass_hit(&[":1"], r#"{"k":1,"v":":1"}"#));
        assert!(!pass_hit(&[":1"], r#"{"k":1,"v":":12"}"#));
    }

    #[test]
    fn short_and_empty_values_are_found_whole() {
        let values = set(Anchor::Whole, &["", "x", "xy"]).publish();
        assert!(hit(&values, r#"{"a":""}"#));
        assert!(hit(&values, r#"{"a":"x"}"#));
        assert!(hit(&values, r#"{"a":"xy"}"#));
        assert!(!hit(&values, r#"{"a":"xyz","b":"y","c":"yx"}"#), "a key prefix is not a value");
        let non_empty = set(Anchor::Whole, &["x"]).publish();
        assert!(!hit(&non_empty, r#"{"a":"","b":"xx"}"#));
    }

    #[test]
    fn quotes_at_the_edges_of_the_event() {
        let values = set(Anchor::Whole, &["edge"]).publish();
        assert!(hit(&values, r#""edge""#));
        assert!(hit(&values, r#"["a","edge"]"#));
        assert!(!hit(&values, r#""edges""#));
    }

    #[test]
    fn a_value_equal_to_a_key_name_is_a_candidate() {
        // Keys are strings too: a false positive, which the prefilter allows.
        let values = set(Anchor::Whole, &["type"]).publish();
        assert!(hit(&values, r#"{"type":"search"}"#));
    }

    #[test]
    fn a_value_shared_by_two_filters_stays_until_both_are_removed() {
        let mut values = set(Anchor::Whole, &["u-1", "u-1", "u-2"]);
        let before = values.publish();
        values.remove(b"u-1");
        let one_left = values.publish();
        assert!(hit(&one_left, r#"{"id":"u-1"}"#));
        values.remove(b"u-1");
        let none_left = values.publish();
        assert!(!hit(&none_left, r#"{"id":"u-1"}"#));
        assert!(hit(&none_left, r#"{"id":"u-2"}"#), "u-2 shares the key u- and keeps it");
        assert!(hit(&before, r#"{"id":"u-1"}"#), "published snapshots keep their answers");
        values.remove(b"u-2");
        let emptied = values.publish();
        assert!(emptied.empty);
        assert!(!emptied.has_key(head_key(b"u-2")));
    }

    #[test]
    fn prefixes_and_suffixes_of_several_lengths() {
        let suffixes = set(Anchor::Suffix, &["/hotels/19", "/hotels/1", "s/1"]).publish();
        assert!(hit(&suffixes, r#"{"url":"https://example.com/hotels/19"}"#));
        assert!(hit(&suffixes, r#"{"url":"https://example.com/hotels/1"}"#));
        assert!(hit(&suffixes, r#"{"url":"s/1"}"#));
        assert!(!hit(&suffixes, r#"{"url":"https://example.com/hotels/29","b":"/1"}"#));
        let prefixes = set(Anchor::Prefix, &["ab", "abcd"]).publish();
        assert!(hit(&prefixes, r#"{"a":"abc"}"#));
        assert!(hit(&prefixes, r#"{"ab":1}"#));
        assert!(!hit(&prefixes, r#"{"a":"a","b":"xab","":"b"}"#));
        let long = "y".repeat(AFFIX_BYTES_MAX);
        let long_prefix = set(Anchor::Prefix, &[&long]).publish();
        assert!(hit(&long_prefix, &format!(r#"["{long}z"]"#)));
        assert!(!hit(&long_prefix, &format!(r#"["{}"]"#, &long[1..])));
    }

    #[test]
    fn removing_one_length_keeps_the_others_of_the_key() {
        let mut suffixes = set(Anchor::Suffix, &["ab", "xab"]);
        suffixes.remove(b"xab");
        let published = suffixes.publish();
        assert!(hit(&published, r#"["zab"]"#));
        suffixes.remove(b"ab");
        assert!(!hit(&suffixes.publish(), r#"["zab","xab"]"#));
    }
}
