//! The reference evaluator: one filter at a time over a `serde_json` tree,
//! written to read like `FILTERS.md`, not to be fast. It shares no code with
//! the matcher beyond the syntax tree, so the property tests that compare
//! the two check the matcher's indexes, covers, walk and prefilter.

use std::cmp::Ordering;

use serde_json::Value;

use crate::language::{CompareOp, Expr, Literal, Number, Path};

/// Parses `raw` as an event; `None` when it is malformed.
pub fn parse_event(raw: &[u8]) -> Option<Value> {
    serde_json::from_slice(raw).ok()
}

/// Does `expr` hold for `event`?
pub fn holds(expr: &Expr, event: &Value) -> bool {
    match expr {
        Expr::Or(operands) => operands.iter().any(|operand| holds(operand, event)),
        Expr::And(operands) => operands.iter().all(|operand| holds(operand, event)),
        Expr::Not(operand) => !holds(operand, event),
        Expr::All => true,
        Expr::Exists(path) => !walk(event, path).is_empty(),
        Expr::FullText(term) => {
            let term = term.to_ascii_lowercase();
            string_values(event).iter().any(|text| text.to_ascii_lowercase().contains(&term))
        }
        Expr::In { path, literals } => literals.iter().any(|literal| {
            holds(&Expr::Compare { path: path.clone(), op: CompareOp::Eq, literal: literal.clone() }, event)
        }),
        Expr::Compare { path, op, literal } => {
            let mut leaves = Vec::new();
            for value in walk(event, path) {
                flatten(value, &mut leaves);
            }
            leaves.iter().any(|value| compare(value, *op, literal))
        }
    }
}

/// The values where the walk of `path` ends (rule 1).
fn walk<'a>(event: &'a Value, path: &Path) -> Vec<&'a Value> {
    let mut current = vec![event];
    for key in &path.segments {
        let mut next = Vec::new();
        for value in current {
            step(value, key, &mut next);
        }
        current = next;
    }
    current
}

/// One step of a walk: a key of an object, applied to every element of arrays.
fn step<'a>(value: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => out.extend(map.get(key)),
        Value::Array(elements) => elements.iter().for_each(|element| step(element, key, out)),
        _ => {}
    }
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(elements) => elements.iter().for_each(|element| flatten(element, out)),
        other => out.push(other),
    }
}

fn string_values(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(elements) => elements.iter().flat_map(string_values).collect(),
        Value::Object(map) => map.values().flat_map(string_values).collect(),
        _ => Vec::new(),
    }
}

fn number_of(value: &Value) -> Option<Number> {
    let number = value.as_number()?;
    if let Some(integer) = number.as_i64() {
        return Some(Number::Integer(integer.into()));
    }
    if let Some(integer) = number.as_u64() {
        return Some(Number::Integer(integer.into()));
    }
    number.as_f64().map(Number::Float)
}

fn equal(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(text), Literal::String(expected)) => text == expected,
        (Value::Bool(actual), Literal::Bool(expected)) => actual == expected,
        (Value::Null, Literal::Null) => true,
        (Value::Number(_), Literal::Number(expected)) => {
            number_of(value).and_then(|actual| actual.compare(*expected)) == Some(Ordering::Equal)
        }
        _ => false,
    }
}

fn compare(value: &Value, op: CompareOp, literal: &Literal) -> bool {
    let ordering = || match (value, literal) {
        (Value::String(text), Literal::String(expected)) => Some(text.as_bytes().cmp(expected.as_bytes())),
        (Value::Number(_), Literal::Number(expected)) => number_of(value)?.compare(*expected),
        _ => None,
    };
    let text = || match (value, literal) {
        (Value::String(text), Literal::String(needle)) => Some((text.as_str(), needle.as_str())),
        _ => None,
    };
    match op {
        CompareOp::Eq => equal(value, literal),
        CompareOp::Ne => !equal(value, literal),
        CompareOp::Lt => ordering() == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ordering() == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Contains => text().is_some_and(|(text, needle)| text.contains(needle)),
        CompareOp::StartsWith => text().is_some_and(|(text, needle)| text.starts_with(needle)),
        CompareOp::EndsWith => text().is_some_and(|(text, needle)| text.ends_with(needle)),
        CompareOp::Matches => {
            text().is_some_and(|(text, pattern)| regex::Regex::new(pattern).is_ok_and(|regex| regex.is_match(text)))
        }
    }
}
