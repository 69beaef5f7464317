//! Exact evaluation of a candidate filter on the values extracted from one
//! event, following the semantics of `FILTERS.md` rule by rule.

use std::cmp::Ordering;

use simd_json::{Node, StaticNode};

use super::paths::{ExtractedValues, PathId};
use super::prepare::{Cond, ValueTest};
use crate::language::{Literal, Number};

/// What the evaluator knows about the current event.
pub(crate) struct EventView<'a, 'input> {
    pub tape: &'a [Node<'input>],
    pub extracted: &'a ExtractedValues,
    /// Per global term id: whether some string value contains it.
    pub terms_found: &'a [bool],
}

/// The global ids behind a filter's local path and term numbers.
pub(crate) struct FilterBindings<'a> {
    pub paths: &'a [PathId],
    pub terms: &'a [u32],
}

pub(crate) fn evaluate(cond: &Cond, bindings: &FilterBindings<'_>, event: &EventView<'_, '_>) -> bool {
    match cond {
        Cond::And(operands) => operands.iter().all(|operand| evaluate(operand, bindings, event)),
        Cond::Or(operands) => operands.iter().any(|operand| evaluate(operand, bindings, event)),
        Cond::Not(operand) => !evaluate(operand, bindings, event),
        Cond::All => true,
        Cond::Exists(path) => event.extracted.is_present(bindings.paths[path.0 as usize]),
        Cond::FullText(term) => event.terms_found[bindings.terms[term.0 as usize] as usize],
        Cond::Test(path, test) => {
            // Rule 1: a comparison holds when it holds for at least one value.
            let values = event.extracted.values(bindings.paths[path.0 as usize]);
            values.iter().any(|&index| test_value(test, &event.tape[index as usize]))
        }
    }
}

/// One value (never an array: arrays were flattened) against one test.
pub(crate) fn test_value(test: &ValueTest, value: &Node<'_>) -> bool {
    match test {
        ValueTest::Equal(literals) => literals.iter().any(|literal| equals(value, literal)),
        // Rule 3: a value of another type, or an object, is "not equal".
        ValueTest::NotEqual(literal) => !equals(value, literal),
        ValueTest::Less(literal) => order(value, literal) == Some(Ordering::Less),
        ValueTest::LessEqual(literal) => matches!(order(value, literal), Some(Ordering::Less | Ordering::Equal)),
        ValueTest::Greater(literal) => order(value, literal) == Some(Ordering::Greater),
        ValueTest::GreaterEqual(literal) => {
            matches!(order(value, literal), Some(Ordering::Greater | Ordering::Equal))
        }
        ValueTest::Contains(needle) => as_str(value).is_some_and(|text| text.contains(needle.as_str())),
        ValueTest::StartsWith(needle) => as_str(value).is_some_and(|text| text.starts_with(needle.as_str())),
        ValueTest::EndsWith(needle) => as_str(value).is_some_and(|text| text.ends_with(needle.as_str())),
        ValueTest::Matches(regex) => as_str(value).is_some_and(|text| regex.is_match(text)),
        ValueTest::Never => false,
    }
}

fn as_str<'a>(value: &Node<'a>) -> Option<&'a str> {
    match value {
        Node::String(text) => Some(text),
        _ => None,
    }
}

/// The value as a number, exact for integers.
pub(crate) fn as_number(value: &Node<'_>) -> Option<Number> {
    match value {
        Node::Static(StaticNode::I64(integer)) => Some(Number::Integer(*integer as i128)),
        Node::Static(StaticNode::U64(integer)) => Some(Number::Integer(*integer as i128)),
        Node::Static(StaticNode::F64(float)) => Some(Number::Float(*float)),
        _ => None,
    }
}

/// The value as f64, for index keys and bounds (exact checks use `as_number`).
#[inline]
pub(crate) fn number_as_f64(value: &Node<'_>) -> Option<f64> {
    match value {
        Node::Static(StaticNode::I64(integer)) => Some(*integer as f64),
        Node::Static(StaticNode::U64(integer)) => Some(*integer as f64),
        Node::Static(StaticNode::F64(float)) => Some(*float),
        _ => None,
    }
}

/// Rule 3: equality of same-typed values; numbers by rule 4.
fn equals(value: &Node<'_>, literal: &Literal) -> bool {
    match (value, literal) {
        (Node::String(text), Literal::String(expected)) => *text == expected.as_str(),
        (Node::Static(StaticNode::Bool(actual)), Literal::Bool(expected)) => actual == expected,
        (Node::Static(StaticNode::Null), Literal::Null) => true,
        (_, Literal::Number(expected)) => {
            as_number(value).is_some_and(|actual| actual.compare(*expected) == Some(Ordering::Equal))
        }
        _ => false,
    }
}

/// Rule 4: numbers order with numeric literals, strings (byte-wise) with
/// string literals; any other pairing has no order.
fn order(value: &Node<'_>, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Node::String(text), Literal::String(expected)) => Some(text.as_bytes().cmp(expected.as_bytes())),
        (_, Literal::Number(expected)) => as_number(value)?.compare(*expected),
        _ => None,
    }
}
