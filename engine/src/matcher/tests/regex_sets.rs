//! Regexes that each compile but not all together in one `RegexSet`
//! (issue 11, item 1): the set of a path must still build, and match
//! exactly like the reference evaluator.

use super::*;

/// An event whose `path` (one key) holds `length` letters.
fn event_with(key: &str, length: usize) -> Vec<u8> {
    format!(r#"{{"page":{{"{key}":"{}"}}}}"#, "a".repeat(length)).into_bytes()
}

/// `match_with` under both matcher options, checked against the
/// reference and against `expected`.
fn assert_matches(filters: &[&str], event: &[u8], expected: &[u64]) {
    let reference = reference_matches(filters, event);
    assert_eq!(reference.as_deref(), Some(expected), "the reference disagrees with the test");
    for options in [MatcherOptions { raw_prefilter: true }, MatcherOptions { raw_prefilter: false }] {
        assert_eq!(match_with(filters, event, options), reference, "{options:?}");
    }
}

/// The issue's first reproduction. Values of 10,000 characters are left to
/// the next test's smaller patterns: one match of `.{10000}` on one takes
/// seconds even in a release build (see docs/filters.md).
#[test]
fn two_regexes_too_big_for_one_set_compile_and_match_like_the_reference() {
    let filters = [r#"page.title matches ".{10000}""#, r#"page.title matches ".{10001}""#];
    assert_matches(&filters, &event_with("title", 20), &[]);
    assert_matches(&filters, br#"{"page":{"url":"/"}}"#, &[]);
}

#[test]
fn eleven_regexes_too_big_for_one_set_compile_and_match_like_the_reference() {
    let sources: Vec<String> = (1_000..=1_010).map(|n| format!(r#"page.url matches ".{{{n}}}""#)).collect();
    let mut filters: Vec<&str> = sources.iter().map(String::as_str).collect();
    // A small regex on the same path still fires beside the big ones.
    filters.push(r#"page.url matches "^a+$""#);
    assert_matches(&filters, &event_with("url", 3), &[12]);
    assert_matches(&filters, &event_with("url", 1_005), &[1, 2, 3, 4, 5, 6, 12]);
    assert_matches(&filters, &event_with("url", 1_010), &(1..=12).collect::<Vec<u64>>());
}

#[test]
fn removing_and_adding_big_regexes_rebuilds_sets_that_still_match() {
    let mut set = FilterSet::default();
    for n in 0..11u64 {
        set.insert_source(FilterId(n + 1), &format!(r#"page.url matches ".{{{}}}""#, 1_000 + n)).unwrap();
    }
    let event = event_with("url", 1_005);
    assert_eq!(match_snapshot(&set.build(), &event), Some((1..=6).collect()));
    for n in [2, 4, 6, 8, 10] {
        assert!(set.remove(FilterId(n)));
    }
    assert_eq!(match_snapshot(&set.build(), &event), Some(vec![1, 3, 5]));
    set.insert_source(FilterId(20), r#"page.url matches "^a""#).unwrap();
    assert_eq!(match_snapshot(&set.build(), &event), Some(vec![1, 3, 5, 20]));
}
