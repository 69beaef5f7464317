//! `*` beside selective filters: the prefilter stays on, and `*` still
//! matches exactly the well-formed events (`FILTERS.md` rule 8).

use super::*;

const SELECTIVE: &str = r#"user.id == "u-7""#;
const OTHER_USER: &[u8] = br#"{"type":"click","user":{"id":"u-8"}}"#;
const MALFORMED: &[u8] = br#"{"type":"click","user":{"id":"u-8"}"#;

fn star_and_selective() -> Matcher {
    let mut set = FilterSet::new(MatcherOptions::default());
    set.insert_source(FilterId(1), "*").unwrap();
    set.insert_source(FilterId(2), SELECTIVE).unwrap();
    set.insert_source(FilterId(3), "*").unwrap();
    set.build()
}

#[test]
fn a_star_filter_leaves_the_prefilter_on() {
    assert!(star_and_selective().uses_prefilter());
}

#[test]
fn a_star_filter_alone_leaves_the_prefilter_on() {
    let mut set = FilterSet::new(MatcherOptions::default());
    set.insert_source(FilterId(1), "*").unwrap();
    assert!(set.build().uses_prefilter());
}

#[test]
fn match_event_checks_events_the_prefilter_skipped_for_star() {
    let matcher = star_and_selective();
    assert_eq!(match_snapshot(&matcher, OTHER_USER), Some(vec![1, 3]));
    assert_eq!(match_snapshot(&matcher, MALFORMED), None, "a malformed event matches nothing, not even *");
    assert_eq!(match_snapshot(&matcher, br#"{"user":{"id":"u-7"}}"#), Some(vec![1, 2, 3]));
    for event in [OTHER_USER, MALFORMED] {
        assert_eq!(
            match_snapshot(&matcher, event),
            reference_matches(&["*", SELECTIVE, "*"], event),
            "{}",
            String::from_utf8_lossy(event)
        );
    }
}

#[test]
fn deferring_leaves_the_check_to_the_caller() {
    let matcher = star_and_selective();
    let mut scratch = MatchScratch::default();
    let mut matches = Vec::new();
    for (event, well_formed) in [(OTHER_USER, true), (MALFORMED, false)] {
        let outcome = matcher.match_event_deferring_match_all(event, &mut scratch, &mut matches);
        assert_eq!(outcome, Outcome::Skipped);
        matches.sort_unstable();
        assert_eq!(matches, [FilterId(1), FilterId(3)]);
        assert_eq!(matcher.check_well_formed(event, &mut scratch).is_ok(), well_formed);
    }
}

#[test]
fn removing_the_star_filters_matches_as_before() {
    let mut set = FilterSet::new(MatcherOptions::default());
    set.insert_source(FilterId(1), "*").unwrap();
    set.insert_source(FilterId(2), SELECTIVE).unwrap();
    set.remove(FilterId(1));
    let matcher = set.build();
    assert!(matcher.uses_prefilter());
    assert_eq!(match_snapshot(&matcher, OTHER_USER), Some(vec![]));
}
