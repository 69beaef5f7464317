//! What the fuzz targets share: running the compiled matcher on one event,
//! asking the reference evaluator the same question, and the checks that
//! both must pass. Each check panics with the inputs, which is how libFuzzer
//! learns of a failure.
//!
//! Layout (the targets are in `fuzz_targets/`):
//! - `parse_filter.rs`: bytes as a filter; no panic, printing round-trips, errors name a column;
//! - `match_event.rs`: bytes as an event against a fixed, varied filter set;
//! - `match_pair.rs`: one filter line and one event, the filter parsed and matched.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use clicktail_engine::language::{parse_filter, Expr, FilterError};
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, Matcher, MatcherOptions, Outcome, PreparedFilter};
use clicktail_engine::reference;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Checks one parse of `source`: a rejection names a column inside the
/// filter or just past it; an accepted filter prints to text that parses
/// back to the same tree.
pub fn check_parse(source: &str) -> Result<Expr, FilterError> {
    match parse_filter(source) {
        Err(error) => {
            assert!(
                (1..=source.len() + 1).contains(&error.column),
                "{source:?}: column {} outside 1..={}: {error}",
                error.column,
                source.len() + 1
            );
            assert!(
                source.is_char_boundary(error.offset().min(source.len())),
                "{source:?}: {error} splits a character"
            );
            Err(error)
        }
        Ok(expr) => {
            let printed = expr.to_string();
            match parse_filter(&printed) {
                Ok(again) => assert_eq!(again, expr, "{source:?} printed as {printed:?}"),
                // Printing normalises spacing and spelling (`a=1&&b=1` prints as
                // `a == 1 and b == 1`), so a source near the 4 KiB limit may print
                // past it; that rejection is the limit's, not a round-trip failure.
                Err(error) if printed.len() > clicktail_engine::language::FILTER_BYTES_MAX => drop(error),
                Err(error) => panic!("{source:?} printed as {printed:?}, which is rejected: {error}"),
            }
            Ok(expr)
        }
    }
}

/// A compiled set and the sources it was built from, by id.
pub struct CompiledSet {
    pub sources: Vec<(FilterId, Arc<Expr>)>,
    pub matcher: Matcher,
}

impl CompiledSet {
    /// Compiles `sources` (ids 1, 2, ... in order) with `options`.
    pub fn new(sources: &[(FilterId, Arc<Expr>)], options: MatcherOptions) -> Self {
        let mut set = FilterSet::new(options);
        for (id, expr) in sources {
            set.insert(*id, Arc::new(PreparedFilter::new(expr)));
        }
        CompiledSet { sources: sources.to_vec(), matcher: set.build() }
    }

    /// The sorted ids that `raw` matches, or `None` when it is malformed;
    /// a skipped event matches nothing.
    pub fn matches(&self, raw: &[u8], scratch: &mut MatchScratch) -> Answer {
        let mut found = Vec::new();
        let outcome = self.matcher.match_event(raw, scratch, &mut found);
        let mut ids: Vec<u64> = found.iter().map(|id| id.0).collect();
        ids.sort_unstable();
        match outcome {
            Outcome::Malformed(_) => {
                assert!(ids.is_empty(), "a malformed event matched {ids:?}");
                Answer { outcome, ids: None }
            }
            Outcome::Skipped => {
                assert!(ids.is_empty(), "a skipped event matched {ids:?}");
                Answer { outcome, ids: Some(ids) }
            }
            Outcome::Parsed => {
                let before = ids.len();
                ids.dedup();
                assert_eq!(before, ids.len(), "an id was reported twice");
                Answer { outcome, ids: Some(ids) }
            }
        }
    }

    /// The reference's answer over the same filters for an event that
    /// serde_json parsed.
    pub fn reference(&self, event: &serde_json::Value) -> Vec<u64> {
        self.sources.iter().filter(|(_, expr)| reference::holds(expr, event)).map(|(id, _)| id.0).collect()
    }
}

/// What the matcher said about one event.
pub struct Answer {
    pub outcome: Outcome,
    /// Sorted matched ids; `None` when malformed.
    pub ids: Option<Vec<u64>>,
}

/// The event as the reference sees it, when the comparison is meaningful:
/// serde_json accepts it and no object in it repeats a key (the matcher
/// visits every member of a repeated key, serde_json keeps the last one).
pub fn reference_event(raw: &[u8]) -> Option<serde_json::Value> {
    let DuplicateCheck { repeated_key } = serde_json::from_slice(raw).ok()?;
    if repeated_key {
        return None;
    }
    reference::parse_event(raw)
}

/// Checks the matcher's answer on `raw` against the reference, when the
/// reference can judge it, and that both read the same bytes as JSON.
pub fn check_against_reference(set: &CompiledSet, raw: &[u8], answer: &Answer) {
    // Not `IgnoredAny`: serde_json skips ignored strings without checking their UTF-8.
    let json = serde_json::from_slice::<DuplicateCheck>(raw).is_ok();
    match &answer.outcome {
        Outcome::Parsed => assert!(json, "{}: serde_json rejects it, the matcher parsed it", Shown(raw)),
        // Past the engine's own limits (depth 128, 1 MiB) an event is malformed
        // by design; any other rejection of JSON that serde_json accepts is a
        // disagreement on what JSON is.
        Outcome::Malformed(malformed) => assert!(
            !json || matches!(malformed, clicktail_engine::event::Malformed::TooDeep { .. }),
            "{}: serde_json accepts it, the matcher says {malformed:?}",
            Shown(raw)
        ),
        Outcome::Skipped => {}
    }
    let (Some(ids), Some(event)) = (&answer.ids, reference_event(raw)) else { return };
    let expected = set.reference(&event);
    assert_eq!(ids, &expected, "{}: matcher ({:?}) and reference disagree", Shown(raw), answer.outcome);
}

/// Parses `source` into the shared form the sets are built from.
pub fn parse_all(sources: &[&str]) -> Vec<(FilterId, Arc<Expr>)> {
    sources
        .iter()
        .enumerate()
        .map(|(line, source)| {
            let expr = parse_filter(source).unwrap_or_else(|error| panic!("{source}: {error}"));
            (FilterId(line as u64 + 1), Arc::new(expr))
        })
        .collect()
}

/// Bytes shown as text where they are UTF-8, for assertion messages.
pub struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// Walks a JSON document and records whether any object repeats a key.
struct DuplicateCheck {
    repeated_key: bool,
}

impl<'de> Deserialize<'de> for DuplicateCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DuplicateVisitor)
    }
}

struct DuplicateVisitor;

impl<'de> Visitor<'de> for DuplicateVisitor {
    type Value = DuplicateCheck;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_i64<E>(self, _: i64) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_u64<E>(self, _: u64) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_f64<E>(self, _: f64) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_str<E>(self, _: &str) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_unit<E>(self) -> Result<DuplicateCheck, E> {
        Ok(DuplicateCheck { repeated_key: false })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DuplicateCheck, A::Error> {
        let mut repeated_key = false;
        while let Some(element) = seq.next_element::<DuplicateCheck>()? {
            repeated_key |= element.repeated_key;
        }
        Ok(DuplicateCheck { repeated_key })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DuplicateCheck, A::Error> {
        let mut keys = HashSet::new();
        let mut repeated_key = false;
        while let Some(key) = map.next_key::<String>()? {
            repeated_key |= !keys.insert(key);
            repeated_key |= map.next_value::<DuplicateCheck>()?.repeated_key;
        }
        Ok(DuplicateCheck { repeated_key })
    }
}
