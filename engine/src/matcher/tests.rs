//! Table-driven tests of every rule of `FILTERS.md`, run through the
//! compiled matcher (with and without the prefilter) and the reference
//! evaluator, plus property tests that the two always agree.

mod match_all;
mod properties;
mod regex_sets;
mod semantics;

use std::sync::Arc;

use super::*;
use crate::language::parse_filter;

/// Matches `event` against the filters (ids 1, 2, ...) with the given options.
pub(super) fn match_with(filters: &[&str], event: &[u8], options: MatcherOptions) -> Option<Vec<u64>> {
    let mut set = FilterSet::new(options);
    for (line, source) in filters.iter().enumerate() {
        let expr = parse_filter(source).unwrap_or_else(|error| panic!("{source}: {error}"));
        set.insert(FilterId(line as u64 + 1), Arc::new(PreparedFilter::new(&expr)));
    }
    match_snapshot(&set.build(), event)
}

/// Matches with an already built matcher: the ids, sorted; `None` when malformed.
pub(super) fn match_snapshot(matcher: &Matcher, event: &[u8]) -> Option<Vec<u64>> {
    let mut scratch = MatchScratch::default();
    let mut matches = Vec::new();
    match matcher.match_event(event, &mut scratch, &mut matches) {
        Outcome::Malformed(_) => None,
        Outcome::Parsed | Outcome::Skipped => {
            let mut ids: Vec<u64> = matches.iter().map(|id| id.0).collect();
            ids.sort_unstable();
            Some(ids)
        }
    }
}

/// The reference's answer for the same question.
pub(super) fn reference_matches(filters: &[&str], event: &[u8]) -> Option<Vec<u64>> {
    let value = crate::reference::parse_event(event)?;
    Some(
        filters
            .iter()
            .enumerate()
            .filter(|(_, source)| crate::reference::holds(&parse_filter(source).unwrap(), &value))
            .map(|(line, _)| line as u64 + 1)
            .collect(),
    )
}
