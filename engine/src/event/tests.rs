use super::*;
use simd_json::StaticNode;

fn parse(raw: &[u8]) -> Result<Vec<String>, Malformed> {
    let mut parser = EventParser::new(EventLimits { bytes_max: 64, depth_max: 4 });
    parser.with_parsed(raw, |tape, _| tape.iter().map(|node| format!("{node:?}")).collect())
}

#[test]
fn well_formed_events_parse() {
    for raw in [
        &br#"{"a":1}"#[..],
        b"[]",
        b"  \"x\"  ",
        b"12",
        b"null",
        b"{\"a\":\"caf\\u00e9\"}",
        b"\r\n{}\r\n",
        b"99999999999999999999999",
    ] {
        assert!(parse(raw).is_ok(), "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn malformed_events_are_errors() {
    for raw in [
        &b""[..],
        b"{",
        b"{} {}",
        b"{\"a\":1,}",
        b"\xff",
        b"{\"a\":\"\xc3\"}",
        b"1e400",
        b"-1e400",
        b"{\"a\":\"\\ud800\"}",
        b"{\"a\":\"tab\there\"}",
        b"NaN",
        b"01",
        b"{'a':1}",
        b"[1,2",
    ] {
        assert!(
            matches!(parse(raw), Err(Malformed::Invalid(_))),
            "{:?} -> {:?}",
            String::from_utf8_lossy(raw),
            parse(raw)
        );
    }
}

#[test]
fn limits_are_enforced() {
    assert!(matches!(parse(&[b' '; 65]), Err(Malformed::TooLarge { bytes: 65, limit: 64 })));
    assert!(parse(b"[[[[1]]]]").is_ok());
    assert_eq!(parse(b"[[[[[1]]]]]"), Err(Malformed::TooDeep { limit: 4 }));
}

#[test]
fn big_integers_become_floats_and_escapes_decode() {
    let mut parser = EventParser::new(EventLimits::default());
    let nodes = parser
        .with_parsed(b"[18446744073709551616, -9223372036854775808, \"a\\u00e9\\n\"]", |tape, _| tape.to_vec().len())
        .unwrap();
    assert_eq!(nodes, 4);
    parser
        .with_parsed(b"[18446744073709551616, -9223372036854775808, \"a\\u00e9\\n\"]", |tape, _| {
            assert!(matches!(tape[1], Node::Static(StaticNode::F64(value)) if value == 18446744073709551616.0));
            assert!(matches!(tape[2], Node::Static(StaticNode::I64(i64::MIN))));
            assert!(matches!(tape[3], Node::String("a\u{e9}\n")));
        })
        .unwrap();
}
