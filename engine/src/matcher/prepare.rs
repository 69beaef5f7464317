//! Turns a filter's syntax tree into the form the matcher evaluates: paths
//! and full-text terms numbered per filter, regexes compiled, `in` folded
//! into one equality test, and the two covers computed (see `cover.rs`).

use regex::Regex;

use super::cover::{needle_cover, trigger_cover, Needle, Trigger};
use crate::language::{compile_regex, CompareOp, Expr, Literal, Path};

/// Index of a path in its filter's own path list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LocalPath(pub u16);

/// Index of a full-text term in its filter's own term list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LocalTerm(pub u16);

/// The boolean structure of a filter, with leaves ready to evaluate.
#[derive(Clone, Debug)]
pub(crate) enum Cond {
    And(Box<[Cond]>),
    Or(Box<[Cond]>),
    Not(Box<Cond>),
    /// `*`.
    All,
    /// `exists(path)`.
    Exists(LocalPath),
    /// True when at least one value of the path passes the test.
    Test(LocalPath, ValueTest),
    /// A full-text term (ASCII-lowercased); the empty term is true when the
    /// event has any string value.
    FullText(LocalTerm),
}

/// A test of one value of a path.
#[derive(Clone, Debug)]
pub(crate) enum ValueTest {
    /// `==` one literal, or `in` several.
    Equal(Box<[Literal]>),
    NotEqual(Literal),
    Less(Literal),
    LessEqual(Literal),
    Greater(Literal),
    GreaterEqual(Literal),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
    /// A string operator with a literal that is not a string: never true.
    Never,
}

/// A filter compiled on its own, shared by every matcher built while it lives.
#[derive(Debug)]
pub struct PreparedFilter {
    /// The filter printed back from its syntax tree: equal for filters that
    /// differ only in spelling (`=` or `==`, spaces, case of keywords), so
    /// the set evaluates such duplicates once.
    pub(crate) canonical: String,
    /// The paths that the filter reads, numbered by `LocalPath`.
    pub(crate) paths: Vec<Path>,
    /// The full-text terms, ASCII-lowercased, numbered by `LocalTerm`.
    pub(crate) terms: Vec<String>,
    pub(crate) cond: Cond,
    /// Leaves such that the filter can be true only if one of them is;
    /// `None` when the filter can be true with no positive leaf (`*`, `not ...`).
    pub(crate) triggers: Option<Vec<Trigger>>,
    /// Byte strings such that the filter can be true only if the raw event
    /// (free of escapes) contains one of them, ignoring ASCII case.
    pub(crate) needles: Option<Vec<Needle>>,
}

impl PreparedFilter {
    pub fn new(expr: &Expr) -> Self {
        let mut builder = Builder::default();
        let cond = builder.cond(expr);
        let triggers = trigger_cover(&cond);
        let needles = needle_cover(&cond, &builder.terms);
        PreparedFilter {
            canonical: expr.to_string(),
            paths: builder.paths,
            terms: builder.terms,
            cond,
            triggers,
            needles,
        }
    }

    /// True for `*`: matches every well-formed event, whatever it holds.
    pub(crate) fn matches_everything(&self) -> bool {
        matches!(self.cond, Cond::All)
    }
}

#[derive(Default)]
struct Builder {
    paths: Vec<Path>,
    terms: Vec<String>,
}

impl Builder {
    fn path(&mut self, path: &Path) -> LocalPath {
        let index = match self.paths.iter().position(|known| known == path) {
            Some(index) => index,
            None => {
                self.paths.push(path.clone());
                self.paths.len() - 1
            }
        };
        // A 4 KiB filter cannot name more than about 2,000 paths.
        LocalPath(u16::try_from(index).expect("a filter names fewer than 65,536 paths"))
    }

    fn term(&mut self, term: &str) -> LocalTerm {
        let lowered = term.to_ascii_lowercase();
        let index = match self.terms.iter().position(|known| *known == lowered) {
            Some(index) => index,
            None => {
                self.terms.push(lowered);
                self.terms.len() - 1
            }
        };
        LocalTerm(u16::try_from(index).expect("a filter names fewer than 65,536 terms"))
    }

    fn cond(&mut self, expr: &Expr) -> Cond {
        match expr {
            Expr::Or(operands) => Cond::Or(operands.iter().map(|operand| self.cond(operand)).collect()),
            Expr::And(operands) => Cond::And(operands.iter().map(|operand| self.cond(operand)).collect()),
            Expr::Not(operand) => Cond::Not(Box::new(self.cond(operand))),
            Expr::All => Cond::All,
            Expr::Exists(path) => Cond::Exists(self.path(path)),
            Expr::FullText(term) => Cond::FullText(self.term(term)),
            Expr::In { path, literals } => {
                Cond::Test(self.path(path), ValueTest::Equal(literals.clone().into_boxed_slice()))
            }
            Expr::Compare { path, op, literal } => Cond::Test(self.path(path), value_test(*op, literal)),
        }
    }
}

fn value_test(op: CompareOp, literal: &Literal) -> ValueTest {
    let text = match literal {
        Literal::String(text) => Some(text.clone()),
        _ => None,
    };
    match op {
        CompareOp::Eq => ValueTest::Equal(Box::new([literal.clone()])),
        CompareOp::Ne => ValueTest::NotEqual(literal.clone()),
        CompareOp::Lt => ValueTest::Less(literal.clone()),
        CompareOp::Le => ValueTest::LessEqual(literal.clone()),
        CompareOp::Gt => ValueTest::Greater(literal.clone()),
        CompareOp::Ge => ValueTest::GreaterEqual(literal.clone()),
        CompareOp::Contains => text.map_or(ValueTest::Never, ValueTest::Contains),
        CompareOp::StartsWith => text.map_or(ValueTest::Never, ValueTest::StartsWith),
        CompareOp::EndsWith => text.map_or(ValueTest::Never, ValueTest::EndsWith),
        // The parser accepted the pattern because `compile_regex` succeeded
        // on it; the same call cannot fail here.
        CompareOp::Matches => text.map_or(ValueTest::Never, |pattern| {
            ValueTest::Matches(compile_regex(&pattern).expect("the parser compiled the regex with compile_regex"))
        }),
    }
}
