//! Matching an event with the filters of its topic only, still indexed.
//!
//! A filter restricted to some raw topics (`topics` of a subscription) is
//! compiled into the matcher of its topic list (`LiveFilters::scoped`),
//! not into the every-topic matcher. An event is matched against the
//! every-topic matcher and against the scoped matchers whose topics hold
//! its topic: each is the same prefiltered, indexed matcher as one topic
//! had, so the cost per event does not grow with the number of filters of
//! other topics, nor with the number of topics. Which scoped matchers an
//! event's topic needs is worked out once per (topic, filter-set version)
//! per thread, not per event.

use super::live::LiveFilters;
use crate::matcher::{FilterId, MatchScratch, Outcome};

/// One filter thread's routes: per topic (numbered by `TopicSlots`), the
/// indices of the current version's scoped matchers that hold it.
#[derive(Default)]
pub(crate) struct ScopeRoutes {
    generation: u64,
    per_topic: Vec<Option<Vec<u32>>>,
}

impl ScopeRoutes {
    /// The scoped matchers of `live` for the topic numbered `topic`, named `name`.
    #[inline]
    pub(crate) fn for_topic(&mut self, live: &LiveFilters, topic: usize, name: &str) -> &[u32] {
        if live.scoped.is_empty() {
            return &[];
        }
        if self.generation != live.generation {
            self.generation = live.generation;
            self.per_topic.clear();
        }
        if self.per_topic.len() <= topic {
            self.per_topic.resize(topic + 1, None);
        }
        self.per_topic[topic].get_or_insert_with(|| {
            let holding = live.scoped.iter().enumerate().filter(|(_, scoped)| scoped.topics.contains(name));
            holding.map(|(index, _)| index as u32).collect()
        })
    }
}

/// Matches `raw` with the every-topic matcher of `live` and the scoped
/// matchers `routes`, as `Matcher::match_event_deferring_match_all` does
/// with one: every match in `matches`, each once (a filter is in one
/// matcher only); `Parsed` when any matcher parsed the event, `Malformed`
/// (and no matches) when one found it malformed.
#[inline]
pub(crate) fn match_event(
    live: &LiveFilters,
    routes: &[u32],
    raw: &[u8],
    scratch: &mut MatchScratch,
    matches: &mut Vec<FilterId>,
    scoped_matches: &mut Vec<FilterId>,
) -> Outcome {
    let mut outcome = live.matcher.match_event_deferring_match_all(raw, scratch, matches);
    if matches!(outcome, Outcome::Malformed(_)) {
        return outcome;
    }
    for &index in routes {
        match live.scoped[index as usize].matcher.match_event_deferring_match_all(raw, scratch, scoped_matches) {
            Outcome::Malformed(reason) => {
                matches.clear();
                return Outcome::Malformed(reason);
            }
            Outcome::Parsed => outcome = Outcome::Parsed,
            Outcome::Skipped => {}
        }
        matches.extend_from_slice(scoped_matches);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::event::EventLimits;
    use crate::log::RawTopics;
    use crate::matcher::{FilterSet, MatcherOptions};
    use crate::worker::live::ScopedMatcher;

    fn matcher(filters: &[(u64, &str)]) -> FilterSet {
        let mut set = FilterSet::new(MatcherOptions::default());
        for (id, expression) in filters {
            set.insert_source(FilterId(*id), expression).unwrap();
        }
        set
    }

    fn live(generation: u64) -> LiveFilters {
        let scoped = |topics: &str, filters: &[(u64, &str)]| ScopedMatcher {
            topics: RawTopics::parse(topics).unwrap(),
            matcher: Arc::new(matcher(filters).build()),
        };
        LiveFilters {
            matcher: matcher(&[(1, r#"kind == "hit""#)]).build(),
            scoped: vec![
                scoped("bookings", &[(2, "amount > 500"), (3, "*")]),
                scoped("^pay.*", &[(4, "amount > 500")]),
                scoped("bookings,searches", &[(5, r#"kind == "hit""#)]),
            ],
            ids: (1..=5).map(FilterId).collect(),
            rate_max_per_s: vec![None; 5],
            seam_watch: Vec::new(),
            generation,
            published_at: Instant::now(),
        }
    }

    /// The matches of `raw` read from `topic`, sorted.
    fn matches_on(live: &LiveFilters, routes: &mut ScopeRoutes, topic: (usize, &str), raw: &str) -> (Vec<u64>, bool) {
        let mut scratch = MatchScratch::new(EventLimits::default());
        let (mut matches, mut scoped) = (Vec::new(), Vec::new());
        let routes = routes.for_topic(live, topic.0, topic.1).to_vec();
        let outcome = match_event(live, &routes, raw.as_bytes(), &mut scratch, &mut matches, &mut scoped);
        let mut ids: Vec<u64> = matches.iter().map(|id| id.0).collect();
        ids.sort_unstable();
        (ids, matches!(outcome, Outcome::Malformed(_)))
    }

    #[test]
    fn an_event_meets_the_every_topic_filters_and_only_its_own_topics_filters() {
        let version = live(7);
        let mut routes = ScopeRoutes::default();
        let event = r#"{"kind":"hit","amount":900}"#;
        assert_eq!(routes.for_topic(&version, 0, "bookings"), [0, 2]);
        assert_eq!(routes.for_topic(&version, 1, "payments"), [1]);
        assert!(routes.for_topic(&version, 2, "clicks").is_empty());
        assert_eq!(matches_on(&version, &mut routes, (0, "bookings"), event), (vec![1, 2, 3, 5], false));
        assert_eq!(matches_on(&version, &mut routes, (1, "payments"), event), (vec![1, 4], false));
        assert_eq!(matches_on(&version, &mut routes, (2, "clicks"), event), (vec![1], false));
        assert_eq!(matches_on(&version, &mut routes, (3, "searches"), r#"{"kind":"hit"}"#), (vec![1, 5], false));
        // Malformed where any matcher parses it: no matches at all.
        assert_eq!(matches_on(&version, &mut routes, (0, "bookings"), r#"{"kind":"hit""#), (vec![], true));
        // A new version: the routes are worked out again.
        let next = LiveFilters { scoped: Vec::new(), ..live(8) };
        assert!(routes.for_topic(&next, 0, "bookings").is_empty());
    }
}
