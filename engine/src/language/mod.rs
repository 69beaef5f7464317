//! The filter language of `FILTERS.md`: lexer, parser and typed syntax tree.
//!
//! `parse_filter` is the only entry point; everything that accepts a criterion
//! from a person (the `match` command, the gateway's validation, the
//! registry) goes through it, so a filter is valid in one place exactly when
//! it is valid in all of them.

mod ast;
mod error;
mod lexer;
mod parser;
pub(crate) mod string;

pub use ast::{CompareOp, Expr, Literal, Number, Path};
pub use error::FilterError;
pub use parser::{compile_regex, parse_filter, FILTER_BYTES_MAX, NESTING_MAX, REGEX_COMPILED_BYTES_MAX};

#[cfg(test)]
mod tests;
