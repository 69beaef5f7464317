//! The compiled matcher: from a set of filters to the ids that each event
//! matches, without evaluating every filter per event. See `engine/DESIGN.md`.
//!
//! Layout:
//! - `prepare.rs`: one filter made ready to evaluate (`PreparedFilter`);
//! - `cover.rs`: trigger and needle covers, what makes a filter a candidate;
//! - `cow_map.rs`, `layered.rs`: a hash map and automata that publish cheaply after a change;
//! - `interner.rs`: stable, reference-counted ids for paths and terms;
//! - `paths.rs`: the path trie and the walk that extracts values from an event;
//! - `index.rs`: per-path trigger indexes and the full-text term index;
//! - `eval.rs`: exact evaluation of a candidate filter;
//! - `prefilter.rs`: the raw-byte prefilter that skips parsing;
//! - `string_tokens.rs`: its pass over the event's strings, with bitmaps of two-byte keys;
//! - `compiled.rs`: `Matcher`, the immutable compiled set, and its scratch;
//! - `set.rs`: `FilterSet`, the mutable set it is built from.

mod compiled;
mod cover;
mod cow_map;
mod eval;
mod index;
mod interner;
mod layered;
mod paths;
mod prefilter;
mod prepare;
mod set;
mod string_tokens;

#[cfg(test)]
mod tests;

pub use compiled::{MatchScratch, Matcher, MatcherOptions, Outcome};
pub use prepare::PreparedFilter;
pub use set::FilterSet;

/// The stable id of a filter: a line number for `clicktail match`, the
/// registry's primary key for workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilterId(pub u64);

impl std::fmt::Display for FilterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
