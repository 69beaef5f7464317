//! Property tests: random filters over random events; the compiled matcher
//! (all filters at once) must agree exactly with the reference evaluator.

use proptest::prelude::*;

use super::*;

const KEYS: &[&str] = &["a", "b", "c", "id", "x.y"];
// `"ab` and `ab"`: a `contains` text that starts or ends with a quote gives
// the prefilter the same token needle as `startswith "ab"` / `endswith "ab"`.
const STRINGS: &[&str] =
    &["", "x", "X", "xy", "ab", "u-1", "u-12", "café", "a\"b", "b\\c", "Paris", "\"ab", "ab\"", "x\ty", "x\"ab\"y"];

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(json_string),
        // The same text with every character escaped, then with only its
        // first one: the prefilter decodes escaped strings.
        prop::sample::select(STRINGS).prop_map(|text| {
            let escaped: String = text.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect();
            format!("\"{escaped}\"")
        }),
        prop::sample::select(STRINGS).prop_map(|text| {
            let mut units = text.encode_utf16();
            let first = units.next().map(|unit| format!("\\u{unit:04x}")).unwrap_or_default();
            let rest = json_string(&String::from_utf16_lossy(&units.collect::<Vec<_>>()));
            format!("\"{first}{}", &rest[1..])
        }),
        prop::sample::select(&["0", "1", "1.0", "-1", "2.5", "1e2", "100", "18446744073709551615", "-0"][..])
            .prop_map(str::to_owned),
        prop::sample::select(&["true", "false", "null"][..]).prop_map(str::to_owned),
    ]
}

fn event_value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..4).prop_map(|entries| {
                let fields: Vec<String> =
                    entries.into_iter().map(|(key, value)| format!("{}:{value}", json_string(key))).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(KEYS), 1..3).prop_map(|keys| {
        let mut path = String::new();
        for (index, key) in keys.iter().enumerate() {
            if key.contains('.') {
                path.push_str(&format!("[{}]", json_string(key)));
            } else {
                if index > 0 {
                    path.push('.');
                }
                path.push_str(key);
            }
        }
        if path.starts_with('[') {
            format!("a{path}")
        } else {
            path
        }
    })
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(json_string),
        prop::sample::select(
            &["0", "1", "1.0", "-1", "2.5", "100", "18446744073709551615", "true", "false", "null"][..]
        )
        .prop_map(str::to_owned),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    let ops = prop::sample::select(&["==", "!=", "<", "<=", ">", ">=", "contains", "startswith", "endswith"][..]);
    prop_oneof![
        4 => (path(), ops, literal()).prop_map(|(path, op, literal)| format!("{path} {op} {literal}")),
        1 => (path(), prop::collection::vec(literal(), 1..3)).prop_map(|(path, literals)| format!("{path} in [{}]", literals.join(", "))),
        1 => path().prop_map(|path| format!("exists({path})")),
        1 => prop::sample::select(STRINGS).prop_map(json_string),
        1 => (path(), prop::sample::select(&["^x", "y$", "[0-9]", "a.b"][..])).prop_map(|(path, pattern)| format!("{path} matches {}", json_string(pattern))),
        1 => Just("*".to_owned()),
    ]
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matcher_agrees_with_reference(
        filters in prop::collection::vec(filter(), 1..8),
        events in prop::collection::vec(event_value(), 1..4),
    ) {
        agrees_with_reference(&filters, &events)?;
    }

    #[test]
    fn token_filters_agree_with_reference_on_escaped_events(
        filters in prop::collection::vec(token_filter(), 1..6),
        events in prop::collection::vec(event_value(), 1..4),
    ) {
        agrees_with_reference(&filters, &events)?;
    }

    #[test]
    fn printed_filters_parse_back_to_the_same_tree(source in filter()) {
        let expr = parse_filter(&source).unwrap();
        let printed = expr.to_string();
        prop_assert_eq!(parse_filter(&printed).unwrap(), expr, "printed as {}", printed);
    }
}

/// Filters of string equality, `startswith` and `endswith`, whose needles
/// are all string tokens (the sets for which the prefilter reads escaped
/// events too), and `contains` of a text with a quote at one end, whose
/// bytes look like a string's start or end but are not.
fn token_filter() -> impl Strategy<Value = String> {
    let string = || prop::sample::select(STRINGS).prop_map(json_string);
    let leaf = prop_oneof![
        (path(), prop::sample::select(&["==", "startswith", "endswith"][..]), string())
            .prop_map(|(path, op, text)| format!("{path} {op} {text}")),
        (path(), prop::sample::select(&["\"ab", "ab\"", "\"x", "y\""][..]))
            .prop_map(|(path, text)| format!("{path} contains {}", json_string(text))),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) or ({b})")),
        ]
    })
}

/// The matcher, with the raw prefilter and without, gives the reference's
/// answer for every event.
fn agrees_with_reference(filters: &[String], events: &[String]) -> Result<(), TestCaseError> {
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    for event in events {
        let expected = reference_matches(&filters, event.as_bytes());
        for raw_prefilter in [true, false] {
            let got = match_with(&filters, event.as_bytes(), MatcherOptions { raw_prefilter });
            prop_assert_eq!(&got, &expected, "event {}", event);
        }
    }
    Ok(())
}

/// The reference's answer for filters with explicit ids.
fn reference_by_id(filters: &std::collections::BTreeMap<u64, String>, event: &[u8]) -> Option<Vec<u64>> {
    let value = crate::reference::parse_event(event)?;
    Some(
        filters
            .iter()
            .filter(|(_, source)| crate::reference::holds(&parse_filter(source).unwrap(), &value))
            .map(|(id, _)| *id)
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Inserting, replacing and removing filters one at a time, with
    /// snapshots published in between, gives the same answers as the
    /// reference over the current set; older snapshots keep their answers.
    #[test]
    fn incremental_changes_agree_with_the_reference(
        changes in prop::collection::vec((1..8u64, prop::option::weighted(0.7, filter()), any::<bool>()), 1..24),
        events in prop::collection::vec(event_value(), 1..4),
    ) {
        let mut set = FilterSet::new(MatcherOptions::default());
        let mut model = std::collections::BTreeMap::new();
        let mut middle: Option<(Matcher, std::collections::BTreeMap<u64, String>)> = None;
        for (index, (id, source, publish)) in changes.iter().enumerate() {
            match source {
                Some(source) => {
                    set.insert_source(FilterId(*id), source).unwrap();
                    model.insert(*id, source.clone());
                }
                None => {
                    prop_assert_eq!(set.remove(FilterId(*id)), model.remove(id).is_some());
                }
            }
            if *publish {
                let snapshot = set.build();
                if index >= changes.len() / 2 && middle.is_none() {
                    middle = Some((snapshot, model.clone()));
                }
            }
        }
        let matcher = set.build();
        prop_assert_eq!(matcher.len(), model.len());
        for event in &events {
            prop_assert_eq!(match_snapshot(&matcher, event.as_bytes()), reference_by_id(&model, event.as_bytes()), "event {}", event);
            if let Some((snapshot, then)) = &middle {
                prop_assert_eq!(match_snapshot(snapshot, event.as_bytes()), reference_by_id(then, event.as_bytes()), "old snapshot, event {}", event);
            }
        }
    }
}

/// The two ways an escaped event could slip past the prefilter: an escape
/// in the needle's bytes (`\u0075` for `u`), and `contains` of a text that
/// starts with a quote, which shares its prefilter text with `startswith`.
#[test]
fn escaped_events_reach_token_filters() {
    let prefiltered = MatcherOptions { raw_prefilter: true };
    for (filter, event) in [
        (r#"user.id == "u-1""#, r#"{"user":{"id":"\u0075-1"},"t":"\"q\""}"#),
        (r#"a contains "\"ab""#, r#"{"a":"x\"abc"}"#),
        (r#"a contains "ab\"""#, r#"{"a":"xab\"c"}"#),
        (r#"a endswith "b""#, r#"{"a":"a\u0062"}"#),
    ] {
        assert_eq!(match_with(&[filter], event.as_bytes(), prefiltered), Some(vec![1]), "{filter} on {event}");
    }
}
