use super::*;

/// (filter, event, expected match). Grouped by the rule of FILTERS.md they check.
const CASES: &[(&str, &str, bool)] = &[
    // Rule 1: paths walk keys; a step over an array applies to every element.
    (r#"user.id == "u-1""#, r#"{"user":{"id":"u-1"}}"#, true),
    (r#"user.id == "u-1""#, r#"{"user":{"id":"u-2"}}"#, false),
    (r#"user["id"] == "u-1""#, r#"{"user":{"id":"u-1"}}"#, true),
    (r#"props["utm.source"] startswith "news""#, r#"{"props":{"utm.source":"newsletter"}}"#, true),
    (r#"props["utm.source"] startswith "news""#, r#"{"props":{"utm":{"source":"newsletter"}}}"#, false),
    (r#"items.sku == "A1""#, r#"{"items":[{"sku":"B2"},{"sku":"A1"}]}"#, true),
    (r#"items.sku == "A1""#, r#"{"items":[[{"sku":"B2"}],[[{"sku":"A1"}]]]}"#, true),
    (r#"items.sku == "A1""#, r#"{"items":[{"sku":"B2"},"A1"]}"#, false),
    (r#"tags == "x""#, r#"{"tags":["y","x"]}"#, true),
    (r#"tags == "x""#, r#"{"tags":[["y"],[["x"]]]}"#, true),
    (r#"tags == "z""#, r#"{"tags":["y","x"]}"#, false),
    (r#"a.b.c == 1"#, r#"{"a":[{"b":[{"c":[0,[1]]}]}]}"#, true),
    (r#"a.b == 1"#, r#"{"a":"b"}"#, false),
    (r#"a.b == 1"#, r#"[{"a":{"b":1}}]"#, true),
    (r#"a == 1"#, r#"[1]"#, false),
    (r#"$x.@y.a-b == 1"#, r#"{"$x":{"@y":{"a-b":1}}}"#, true),
    (r#"user . id == "u-1""#, r#"{"user":{"id":"u-1"}}"#, true),
    // Rule 2: missing values and empty arrays make every comparison false.
    (r#"a != 1"#, r#"{}"#, false),
    (r#"a != 1"#, r#"{"a":[]}"#, false),
    (r#"a == null"#, r#"{}"#, false),
    (r#"a < 1"#, r#"{"a":[]}"#, false),
    (r#"exists(a)"#, r#"{"a":null}"#, true),
    (r#"exists(a)"#, r#"{"a":[]}"#, true),
    (r#"exists(a)"#, r#"{"a":{}}"#, true),
    (r#"exists(a)"#, r#"{"b":1}"#, false),
    (r#"exists(a.b)"#, r#"{"a":[]}"#, false),
    (r#"exists(a.b)"#, r#"{"a":[{"c":1},{"b":[]}]}"#, true),
    (r#"not (a == 1)"#, r#"{}"#, true),
    (r#"not (a == 1)"#, r#"{"a":1}"#, false),
    (r#"not exists(user.id)"#, r#"{"user":{}}"#, true),
    (r#"not exists(user.id)"#, r#"{"user":{"id":"x"}}"#, false),
    (r#"! a != 1"#, r#"{"a":1}"#, true),
    // Rule 3: same-typed equality; other types are not equal; objects never equal.
    (r#"a == "1""#, r#"{"a":1}"#, false),
    (r#"a != "1""#, r#"{"a":1}"#, true),
    (r#"a == true"#, r#"{"a":true}"#, true),
    (r#"a == TRUE"#, r#"{"a":true}"#, true),
    (r#"a == false"#, r#"{"a":0}"#, false),
    (r#"a == null"#, r#"{"a":null}"#, true),
    (r#"a != null"#, r#"{"a":null}"#, false),
    (r#"a != null"#, r#"{"a":{}}"#, true),
    (r#"a == null"#, r#"{"a":{}}"#, false),
    (r#"a != "x""#, r#"{"a":{"b":"x"}}"#, true),
    (r#"a != 1"#, r#"{"a":[1,1]}"#, false),
    (r#"a != 1"#, r#"{"a":[1,2]}"#, true),
    (r#"a == "caf\u00e9""#, r#"{"a":"café"}"#, true),
    (r#"a == "café""#, r#"{"a":"caf\u00e9"}"#, true),
    (r#"a == "a\"b""#, r#"{"a":"a\"b"}"#, true),
    (r#"a == "\ud83d\ude00""#, r#"{"a":"😀"}"#, true),
    (r#"a == "x/y""#, r#"{"a":"x\/y"}"#, true),
    (r#"a = "x""#, r#"{"a":"x"}"#, true),
    // Rule 4: numbers.
    (r#"a == 1"#, r#"{"a":1.0}"#, true),
    (r#"a == 1.0"#, r#"{"a":1}"#, true),
    (r#"a == 100"#, r#"{"a":1e2}"#, true),
    (r#"a == 0"#, r#"{"a":-0.0}"#, true),
    (r#"a == -0"#, r#"{"a":0}"#, true),
    (r#"a == 9007199254740993"#, r#"{"a":9007199254740992}"#, false),
    (r#"a == 9007199254740993"#, r#"{"a":9007199254740993}"#, true),
    (r#"a == 9007199254740993.0"#, r#"{"a":9007199254740992}"#, true),
    (r#"a == 18446744073709551615"#, r#"{"a":18446744073709551615}"#, true),
    (r#"a == 18446744073709551615"#, r#"{"a":18446744073709551614}"#, false),
    (r#"a > -1"#, r#"{"a":18446744073709551615}"#, true),
    (r#"a < -9223372036854775807"#, r#"{"a":-9223372036854775808}"#, true),
    (r#"a == 18446744073709551616"#, r#"{"a":18446744073709551616}"#, true),
    (r#"a > 1.5"#, r#"{"a":2}"#, true),
    (r#"a >= 2"#, r#"{"a":2.0}"#, true),
    (r#"a <= 2"#, r#"{"a":2.5}"#, false),
    (r#"a < 2"#, r#"{"a":[5,1]}"#, true),
    (r#"a > 1"#, r#"{"a":"2"}"#, false),
    (r#"a > "1""#, r#"{"a":2}"#, false),
    (r#"a > "b""#, r#"{"a":"c"}"#, true),
    (r#"a < "b""#, r#"{"a":"B"}"#, true),
    (r#"a > "é""#, r#"{"a":"z"}"#, false),
    (r#"a >= "ab""#, r#"{"a":"ab"}"#, true),
    (r#"a > true"#, r#"{"a":true}"#, false),
    (r#"a < null"#, r#"{"a":null}"#, false),
    (r#"a > 1e2"#, r#"{"a":100.5}"#, true),
    // Rule 5: string operators are case-sensitive, strings only.
    (r#"page.url contains "/hotels""#, r#"{"page":{"url":"https://x.com/hotels/1"}}"#, true),
    (r#"page.url contains "/Hotels""#, r#"{"page":{"url":"https://x.com/hotels/1"}}"#, false),
    (r#"a contains "1""#, r#"{"a":1}"#, false),
    (r#"a contains 1"#, r#"{"a":"1"}"#, false),
    (r#"a contains """#, r#"{"a":"x"}"#, true),
    (r#"a contains """#, r#"{"a":1}"#, false),
    (r#"a startswith "ab""#, r#"{"a":"abc"}"#, true),
    (r#"a startswith "bc""#, r#"{"a":"abc"}"#, false),
    (r#"a endswith "bc""#, r#"{"a":"abc"}"#, true),
    (r#"a endswith "ab""#, r#"{"a":"abc"}"#, false),
    (r#"a endswith "c""#, r#"{"a":["cx","xc"]}"#, true),
    (r#"a startswith "é""#, r#"{"a":"\u00e9t\u00e9"}"#, true),
    (r#"page.path matches "^/trip/[0-9]+$""#, r#"{"page":{"path":"/trip/42"}}"#, true),
    (r#"page.path matches "^/trip/[0-9]+$""#, r#"{"page":{"path":"/trip/42/x"}}"#, false),
    (r#"a matches "b+""#, r#"{"a":"abbc"}"#, true),
    (r#"a matches "1""#, r#"{"a":1}"#, false),
    (r#"a MATCHES "(?i)HELLO""#, r#"{"a":"say hello"}"#, true),
    // Rule 6: in.
    (r#"device.country in ["FR", "DE"]"#, r#"{"device":{"country":"DE"}}"#, true),
    (r#"device.country in ["FR", "DE"]"#, r#"{"device":{"country":"IT"}}"#, false),
    (r#"a in [1, "x", null]"#, r#"{"a":null}"#, true),
    (r#"a in [1, "x", null]"#, r#"{"a":1.0}"#, true),
    (r#"a in [1, "x", null]"#, r#"{"a":false}"#, false),
    (r#"a IN ["x"]"#, r#"{"a":["y","x"]}"#, true),
    // Rule 7: full-text terms over decoded string values, ASCII-case-insensitive, keys excluded.
    (r#""paris""#, r#"{"city":"Paris"}"#, true),
    (r#""PARIS""#, r#"{"a":{"b":["x","in paris today"]}}"#, true),
    (r#""paris""#, r#"{"paris":1}"#, false),
    (r#""paris""#, r#"{"a":"pari"}"#, false),
    (r#""café""#, r#"{"a":"caf\u00e9"}"#, true),
    (r#""CAFÉ""#, r#"{"a":"café"}"#, false),
    (r#""café""#, r#"{"a":"CAFé"}"#, true),
    (r#""1""#, r#"{"a":1}"#, false),
    (r#""""#, r#"{"a":""}"#, true),
    (r#""""#, r#"{"a":1}"#, false),
    (r#""x""#, r#""box""#, true),
    (r#""ris""#, r#"{"pa":"ris"}"#, true),
    (r#""pa""#, r#"{"pa":"ris"}"#, false),
    (r#""pa""#, r#"{"pa":{"pa":["ris",1,{"x":"spa"}]}}"#, true),
    (r#""s:""#, r#"{"a":"s","b":"s:"}"#, true),
    (r#""s:""#, r#"{"s":"x"}"#, false),
    (r#""a,b""#, r#"["a","b"]"#, false),
    (r#""a\nb""#, r#"{"a":"xa\nbx"}"#, true),
    // Rule 8: * matches every well-formed event.
    (r#"*"#, r#"{}"#, true),
    (r#"*"#, r#"42"#, true),
    (r#"*"#, r#"[]"#, true),
    (r#"not *"#, r#"{}"#, false),
    // Boolean structure and precedence.
    (r#"a == 1 or b == 1 and c == 1"#, r#"{"a":1}"#, true),
    (r#"(a == 1 or b == 1) and c == 1"#, r#"{"a":1}"#, false),
    (r#"not a == 1 and b == 1"#, r#"{"b":1}"#, true),
    (r#"a == 1 && b == 2 || c == 3"#, r#"{"c":3}"#, true),
    (r#"type == "booking" and cart.total > 500"#, r#"{"type":"booking","cart":{"total":500.5}}"#, true),
    (r#"type == "booking" and cart.total > 500"#, r#"{"type":"booking","cart":{"total":500}}"#, false),
    (r#"cart.total >= 250.5 or "paris""#, r#"{"city":"PARIS"}"#, true),
    (r#"NOT exists(x) AnD y == 1"#, r#"{"y":1}"#, true),
    (r#"a == 1 or not b == 2"#, r#"{"b":2}"#, false),
    (r#"a == 1 or not b == 2"#, r#"{}"#, true),
    (r#"not not a == 1"#, r#"{"a":1}"#, true),
    (r#"not (a == 1 or b == 1)"#, r#"{"b":2}"#, true),
    (r#"not (a == 1 and b == 1)"#, r#"{"a":1,"b":1}"#, false),
    (r#"exists(and) and or == 1"#, r#"{"and":1,"or":1}"#, true),
    (r#"in.in in [1]"#, r#"{"in":{"in":1}}"#, true),
];

#[test]
fn every_rule_holds_in_matcher_and_reference() {
    let mut failures = Vec::new();
    for &(filter, event, expected) in CASES {
        let want = Some(if expected { vec![1] } else { vec![] });
        for raw_prefilter in [true, false] {
            let got = match_with(&[filter], event.as_bytes(), MatcherOptions { raw_prefilter });
            if got != want {
                failures.push(format!("matcher(prefilter={raw_prefilter}): {filter} on {event}: got {got:?}"));
            }
        }
        let reference = reference_matches(&[filter], event.as_bytes());
        if reference != want {
            failures.push(format!("reference: {filter} on {event}: got {reference:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_filters_together_agree_with_the_cases() {
    let filters: Vec<&str> = CASES.iter().map(|case| case.0).collect();
    for &(_, event, _) in CASES {
        for raw_prefilter in [true, false] {
            assert_eq!(
                match_with(&filters, event.as_bytes(), MatcherOptions { raw_prefilter }),
                reference_matches(&filters, event.as_bytes()),
                "{event}"
            );
        }
    }
}

#[test]
fn malformed_events_match_nothing() {
    for event in [&b"{"[..], b"", b"{\"a\":1} x", b"\xff\xfe", b"{\"a\":\"\\ud800\"}", b"[1e999]"] {
        assert_eq!(match_with(&["*", "a == 1"], event, MatcherOptions::default()), None);
    }
}

#[test]
fn escaped_events_pass_the_prefilter() {
    // The needle `"u-1"` is not in the raw bytes, but the decoded value is.
    let event = br#"{"user":{"id":"u\u002d1"}}"#;
    assert_eq!(match_with(&[r#"user.id == "u-1""#], event, MatcherOptions::default()), Some(vec![1]));
    assert_eq!(match_with(&[r#"user.id startswith "u-""#], event, MatcherOptions::default()), Some(vec![1]));
}

#[test]
fn duplicate_filters_and_overlapping_triggers_report_once() {
    let filters = [r#"a == "x" or a contains "x" or "x""#, r#"a == "x""#, r#"a == "x""#];
    assert_eq!(match_with(&filters, br#"{"a":["x","xx"]}"#, MatcherOptions::default()), Some(vec![1, 2, 3]));
}
