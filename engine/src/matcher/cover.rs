//! Covers: which cheap, indexable facts must hold for a filter to be true.
//!
//! The matcher never loops over filters. It looks up each event's values in
//! indexes and evaluates a filter only when one of its *trigger* leaves
//! fired. That is sound when the triggers form a cover: whenever the filter
//! is true, at least one trigger is true. Likewise the raw-byte prefilter
//! skips parsing an event when it contains none of the *needles* of every
//! filter. Both covers are computed on the negation normal form implicitly:
//! a negated leaf has no positive cover, and De Morgan swaps `and` and `or`.
//!
//! * a leaf covers itself (every comparison is false on a missing path, so
//!   any comparison is covered at least by "the path has a value");
//! * `a and b` is covered by a cover of either side: the cheaper one;
//! * `a or b` needs covers of both sides: their union;
//! * `not leaf` and `*` have no cover, so the filter is evaluated for every event.

use regex::Regex;

use super::prepare::{Cond, LocalPath, LocalTerm, ValueTest};
use crate::language::Literal;

/// A leaf fact that the matcher's indexes can detect for a whole set of filters at once.
#[derive(Clone, Debug)]
pub(crate) enum Trigger {
    /// The path reaches at least one value.
    Presence(LocalPath),
    /// Some numeric value of the path is at least this (as f64: a superset
    /// of `>` and `>=` with any literal, since rounding to f64 keeps order).
    AtLeast(LocalPath, f64),
    /// Some numeric value of the path is at most this (`<`, `<=`).
    AtMost(LocalPath, f64),
    /// Some value of the path equals the literal.
    Equal(LocalPath, Literal),
    /// Some string value of the path contains the (non-empty) needle.
    Substring(LocalPath, String),
    /// Some string value of the path matches the regex.
    Regex(LocalPath, Regex),
    /// Some string value of the event contains the lowercased term (any
    /// string value at all for the empty term).
    Term(LocalTerm),
}

/// What the raw bytes of an event must hold for a filter to be true,
/// provided the event contains no backslash: with no escapes, a JSON
/// string's raw bytes are its decoded text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Needle {
    /// A JSON string whose text is exactly these bytes (`"u-1"` for `== "u-1"`).
    StringValue(Vec<u8>),
    /// A JSON string whose text starts with these bytes (`startswith`);
    /// in an unescaped event, the bytes `"` + text.
    StringPrefix(Vec<u8>),
    /// A JSON string whose text ends with these bytes (`endswith`); in an
    /// unescaped event, the bytes text + `"`.
    StringSuffix(Vec<u8>),
    /// These bytes, anywhere.
    Bytes(Vec<u8>),
    /// These bytes, anywhere, ignoring ASCII case (full-text terms).
    Text(Vec<u8>),
}

impl Needle {
    /// Longer needles are rarer: cost falls with length.
    fn cost(&self) -> u32 {
        match self {
            Needle::StringValue(text) => 1 + 64 / (text.len() as u32 + 2),
            // As the quoted bytes they stand for.
            Needle::StringPrefix(text) | Needle::StringSuffix(text) => 1 + 64 / (text.len() as u32 + 1),
            Needle::Bytes(bytes) | Needle::Text(bytes) => 1 + 64 / (bytes.len().max(1) as u32),
        }
    }
}

/// Relative costs of triggers, used to pick the cheaper side of an `and`.
/// An equality on a string is nearly free and selective; "the path exists"
/// fires for most events.
fn trigger_cost(trigger: &Trigger) -> u32 {
    match trigger {
        Trigger::Equal(_, Literal::String(_)) => 1,
        Trigger::Equal(..) => 4,
        Trigger::Substring(..) | Trigger::Term(_) => 3,
        Trigger::Regex(..) => 6,
        // Thresholds on always-present fields (`ts`, `geo.lat`) are most of
        // the mixed set's false candidates when covered by presence alone.
        Trigger::AtLeast(..) | Trigger::AtMost(..) => 8,
        Trigger::Presence(_) => 40,
    }
}

pub(crate) fn trigger_cover(cond: &Cond) -> Option<Vec<Trigger>> {
    triggers(cond, false).map(|(_, triggers)| triggers)
}

/// The cover of `cond` (or of `not cond` when `negated`), with its cost.
fn triggers(cond: &Cond, negated: bool) -> Option<(u32, Vec<Trigger>)> {
    match (cond, negated) {
        (Cond::Not(operand), _) => triggers(operand, !negated),
        (Cond::And(operands), false) | (Cond::Or(operands), true) => {
            cheapest(operands.iter().map(|operand| triggers(operand, negated)))
        }
        (Cond::Or(operands), false) | (Cond::And(operands), true) => {
            union(operands.iter().map(|operand| triggers(operand, negated)))
        }
        // `not *` is never true: the empty cover.
        (Cond::All, true) => Some((0, Vec::new())),
        (Cond::All, false) | (_, true) => None,
        (Cond::Exists(path), false) => single(Trigger::Presence(*path)),
        (Cond::FullText(term), false) => single(Trigger::Term(*term)),
        (Cond::Test(path, test), false) => test_triggers(*path, test),
    }
}

fn single(trigger: Trigger) -> Option<(u32, Vec<Trigger>)> {
    Some((trigger_cost(&trigger), vec![trigger]))
}

fn test_triggers(path: LocalPath, test: &ValueTest) -> Option<(u32, Vec<Trigger>)> {
    let triggers: Vec<Trigger> = match test {
        ValueTest::Equal(literals) => literals.iter().map(|literal| Trigger::Equal(path, literal.clone())).collect(),
        ValueTest::Contains(needle) | ValueTest::StartsWith(needle) | ValueTest::EndsWith(needle)
            if !needle.is_empty() =>
        {
            vec![Trigger::Substring(path, needle.clone())]
        }
        ValueTest::Matches(regex) => vec![Trigger::Regex(path, regex.clone())],
        ValueTest::Never => Vec::new(),
        ValueTest::Greater(Literal::Number(bound)) | ValueTest::GreaterEqual(Literal::Number(bound)) => {
            vec![Trigger::AtLeast(path, bound.as_f64())]
        }
        ValueTest::Less(Literal::Number(bound)) | ValueTest::LessEqual(Literal::Number(bound)) => {
            vec![Trigger::AtMost(path, bound.as_f64())]
        }
        // Ordering against `true`, `false` or `null` is never true (rule 4).
        ValueTest::Greater(Literal::Bool(_) | Literal::Null)
        | ValueTest::GreaterEqual(Literal::Bool(_) | Literal::Null)
        | ValueTest::Less(Literal::Bool(_) | Literal::Null)
        | ValueTest::LessEqual(Literal::Bool(_) | Literal::Null) => Vec::new(),
        _ => vec![Trigger::Presence(path)],
    };
    Some((triggers.iter().map(trigger_cost).sum(), triggers))
}

/// Picks the cheapest of the covers that exist (for `and`).
fn cheapest<T>(covers: impl Iterator<Item = Option<(u32, Vec<T>)>>) -> Option<(u32, Vec<T>)> {
    covers.flatten().min_by_key(|(cost, _)| *cost)
}

/// Joins covers, all of which must exist (for `or`).
fn union<T>(covers: impl Iterator<Item = Option<(u32, Vec<T>)>>) -> Option<(u32, Vec<T>)> {
    let mut total = (0, Vec::new());
    for cover in covers {
        let (cost, items) = cover?;
        total.0 += cost;
        total.1.extend(items);
    }
    Some(total)
}

pub(crate) fn needle_cover(cond: &Cond, terms: &[String]) -> Option<Vec<Needle>> {
    needles(cond, false, terms).map(|(_, needles)| needles)
}

fn needles(cond: &Cond, negated: bool, terms: &[String]) -> Option<(u32, Vec<Needle>)> {
    let found: Vec<Needle> = match (cond, negated) {
        (Cond::Not(operand), _) => return needles(operand, !negated, terms),
        (Cond::And(operands), false) | (Cond::Or(operands), true) => {
            return cheapest(operands.iter().map(|operand| needles(operand, negated, terms)))
        }
        (Cond::Or(operands), false) | (Cond::And(operands), true) => {
            return union(operands.iter().map(|operand| needles(operand, negated, terms)))
        }
        (Cond::All, true) => Vec::new(),
        (Cond::All, false) | (_, true) | (Cond::Exists(_), false) => return None,
        (Cond::FullText(term), false) => {
            let term = &terms[term.0 as usize];
            if term.is_empty() {
                return None;
            }
            vec![Needle::Text(term.as_bytes().to_vec())]
        }
        (Cond::Test(_, test), false) => test_needles(test)?,
    };
    Some((found.iter().map(Needle::cost).sum(), found))
}

fn test_needles(test: &ValueTest) -> Option<Vec<Needle>> {
    match test {
        ValueTest::Equal(literals) => literals.iter().map(literal_needle).collect(),
        ValueTest::Contains(text) if !text.is_empty() => Some(vec![Needle::Bytes(text.as_bytes().to_vec())]),
        ValueTest::StartsWith(text) => Some(vec![Needle::StringPrefix(text.as_bytes().to_vec())]),
        ValueTest::EndsWith(text) => Some(vec![Needle::StringSuffix(text.as_bytes().to_vec())]),
        ValueTest::Never => Some(Vec::new()),
        _ => None,
    }
}

/// The raw text that a value equal to `literal` must have in an event free
/// of escapes. Numbers have many spellings (`1`, `1.0`, `1e0`): none.
fn literal_needle(literal: &Literal) -> Option<Needle> {
    match literal {
        Literal::String(text) => Some(Needle::StringValue(text.as_bytes().to_vec())),
        Literal::Bool(true) => Some(Needle::Bytes(b"true".to_vec())),
        Literal::Bool(false) => Some(Needle::Bytes(b"false".to_vec())),
        Literal::Null => Some(Needle::Bytes(b"null".to_vec())),
        Literal::Number(_) => None,
    }
}
