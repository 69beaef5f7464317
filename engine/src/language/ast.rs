//! The typed syntax tree of a filter.

use std::fmt;

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// True when any operand is true (`a or b`, `a || b`).
    Or(Vec<Expr>),
    /// True when every operand is true (`a and b`, `a && b`).
    And(Vec<Expr>),
    /// Plain boolean negation (`not a`, `!a`).
    Not(Box<Expr>),
    /// `path op literal`: true when at least one value of the path satisfies it.
    Compare { path: Path, op: CompareOp, literal: Literal },
    /// `path in [a, b]`: the same as `path == a or path == b`.
    In { path: Path, literals: Vec<Literal> },
    /// `exists(path)`: the walk reaches at least one value.
    Exists(Path),
    /// A bare string: some string value of the event contains it, ignoring ASCII case.
    FullText(String),
    /// `*`: every well-formed event.
    All,
}

/// A path into the event: the object keys to walk from the root.
///
/// `a.b` and `a["b"]` are the same path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// The keys, in walking order; never empty.
    pub segments: Vec<String>,
}

/// The comparison operators of `path op literal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
}

/// A literal on the right of an operator or in an `in` list.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// The decoded text of a JSON string.
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// A JSON number, kept exact when it is an integer that fits in i64 or u64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer in `i64::MIN..=u64::MAX`, written without fraction or exponent.
    Integer(i128),
    /// Any other number; always finite.
    Float(f64),
}

impl Number {
    /// The value as f64, the common ground of mixed comparisons.
    #[inline]
    pub fn as_f64(self) -> f64 {
        match self {
            // i64 -> f64 is one instruction; i128 -> f64 is a library call.
            Number::Integer(value) => match i64::try_from(value) {
                Ok(small) => small as f64,
                Err(_) => value as f64,
            },
            Number::Float(value) => value,
        }
    }

    /// Orders two numbers: exactly when both are integers, else as f64.
    ///
    /// `None` only when an f64 comparison is undefined, which cannot happen
    /// for the finite numbers that parsing admits.
    pub fn compare(self, other: Number) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Number::Integer(a), Number::Integer(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.segments.iter().enumerate() {
            if is_plain_segment(segment) {
                if index > 0 {
                    f.write_str(".")?;
                }
                f.write_str(segment)?;
            } else {
                write!(f, "[{}]", quote(segment))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Contains => "contains",
            CompareOp::StartsWith => "startswith",
            CompareOp::EndsWith => "endswith",
            CompareOp::Matches => "matches",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(text) => f.write_str(&quote(text)),
            Literal::Number(Number::Integer(value)) => write!(f, "{value}"),
            // `{:?}` prints the shortest text that reads back as the same f64.
            Literal::Number(Number::Float(value)) => write!(f, "{value:?}"),
            Literal::Bool(value) => write!(f, "{value}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

/// Prints an expression back in the filter language; parsing the output
/// yields the same tree (used by the property tests and for logs).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(operands) => write_joined(f, operands, " or ", |operand| matches!(operand, Expr::Or(_))),
            Expr::And(operands) => write_joined(f, operands, " and ", is_connective),
            Expr::Not(operand) if is_connective(operand) => write!(f, "not ({operand})"),
            Expr::Not(operand) => write!(f, "not {operand}"),
            Expr::Compare { path, op, literal } => write!(f, "{path} {op} {literal}"),
            Expr::In { path, literals } => {
                write!(f, "{path} in [")?;
                for (index, literal) in literals.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{literal}")?;
                }
                f.write_str("]")
            }
            Expr::Exists(path) => write!(f, "exists({path})"),
            Expr::FullText(term) => f.write_str(&quote(term)),
            Expr::All => f.write_str("*"),
        }
    }
}

/// Writes the operands of `and` / `or`, parenthesizing only those that
/// `needs_parentheses` (the ones that would otherwise regroup). Every pair of
/// parentheses counts toward `NESTING_MAX` when the text is parsed again, so
/// printing one around every operand (and `not (...)` around every negated
/// one) turned valid filters nested near the limit into rejected ones.
fn write_joined(
    f: &mut fmt::Formatter<'_>,
    operands: &[Expr],
    separator: &str,
    needs_parentheses: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        if needs_parentheses(operand) {
            write!(f, "({operand})")?;
        } else {
            write!(f, "{operand}")?;
        }
    }
    Ok(())
}

/// `and` and `or` need parentheses under `not` (which binds tighter) and
/// under `and` (an `or` binds looser; an `and` would merge with its parent).
fn is_connective(expr: &Expr) -> bool {
    matches!(expr, Expr::Or(_) | Expr::And(_))
}

/// True when `segment` can be written bare in a path (`[A-Za-z_$@][A-Za-z0-9_$@-]*`).
pub(crate) fn is_plain_segment(segment: &str) -> bool {
    let mut bytes = segment.bytes();
    match bytes.next() {
        Some(first) if is_segment_start(first) => bytes.all(is_segment_continue),
        _ => false,
    }
}

pub(crate) fn is_segment_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || matches!(byte, b'_' | b'$' | b'@')
}

pub(crate) fn is_segment_continue(byte: u8) -> bool {
    is_segment_start(byte) || byte.is_ascii_digit() || byte == b'-'
}

/// Writes `text` as a JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
