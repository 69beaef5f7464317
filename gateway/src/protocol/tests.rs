use super::*;

#[test]
fn parses_each_client_kind() {
    let subscribe = ClientMessage::parse(r#"{"type":"subscribe","criterion":"*","history":5,"ref":"x"}"#).unwrap();
    assert_eq!(
        subscribe,
        ClientMessage::Subscribe(subscribe::Subscribe {
            criterion: "*".into(),
            history: 5,
            since_ms: None,
            reference: Some("x".into()),
            rate_max: None,
            topics: None,
        })
    );
    assert_eq!(
        ClientMessage::parse(r#"{"type":"unsubscribe","filter":3}"#).unwrap(),
        ClientMessage::Unsubscribe(unsubscribe::Unsubscribe { filter: 3 })
    );
    assert_eq!(
        ClientMessage::parse(r#"{"type":"heartbeat"}"#).unwrap(),
        ClientMessage::Heartbeat(heartbeat::Heartbeat {})
    );
}

#[test]
fn a_requested_rate_max_is_capped_and_only_whole_positive_numbers_are_granted() {
    use serde_json::json;
    use subscribe::granted_rate_max;
    assert_eq!(granted_rate_max(None, 500), Ok(None));
    assert_eq!(granted_rate_max(Some(&json!(null)), 500), Ok(None));
    assert_eq!(granted_rate_max(Some(&json!(1)), 500), Ok(Some(1)));
    assert_eq!(granted_rate_max(Some(&json!(500)), 500), Ok(Some(500)));
    assert_eq!(granted_rate_max(Some(&json!(u64::MAX)), 500), Ok(Some(500)));
    for bad in [json!(0), json!(-1), json!(2.5), json!(1e3), json!("10"), json!(true), json!({})] {
        let message = granted_rate_max(Some(&bad), 500).unwrap_err();
        assert!(message.starts_with("rate_max must be a whole number of matches per second, at least 1"), "{message}");
        assert!(message.ends_with(&format!("got {bad}")), "{message}");
    }
}

#[test]
fn refuses_malformed_messages() {
    for text in [
        "",
        "not json",
        "[]",
        r#"{"criterion":"*"}"#,
        r#"{"type":"subscribe"}"#,
        r#"{"type":"subscribe","criterion":5}"#,
        r#"{"type":"subscribe","criterion":"*","history":-1}"#,
        r#"{"type":"unsubscribe","filter":"x"}"#,
        r#"{"type":"launch"}"#,
    ] {
        assert!(ClientMessage::parse(text).is_err(), "{text:?} should be refused");
    }
}

#[test]
fn event_frame_embeds_the_raw_event() {
    let frame = event::frame(7, "site.bookings", 10, 12, false, b" {\"a\":1}\n").unwrap();
    assert_eq!(frame, r#"{"type":"event","filter":7,"topic":"site.bookings","ts_ms":10,"sent_ms":12,"event":{"a":1}}"#);
    let parsed: serde_json::Value = serde_json::from_str(&event::frame(7, "t", 1, 2, true, b"[1]").unwrap()).unwrap();
    assert_eq!(parsed["history"], true);
    // A topic header no Kafka topic could have is still valid JSON.
    let odd: serde_json::Value = serde_json::from_str(&event::frame(7, "a\"b", 1, 2, false, b"1").unwrap()).unwrap();
    assert_eq!(odd["topic"], "a\"b");
    assert!(event::frame(1, "t", 0, 0, false, &[0xff, 0xfe]).is_none());
}

#[test]
fn ingest_key_prefers_user_then_anonymous_then_session() {
    let key = |text: &str| serde_json::from_str::<ingest_batch::KeyFields>(text).unwrap().key();
    assert_eq!(key(r#"{"user":{"id":"u-1"},"anonymous_id":"a","session":{"id":"s"}}"#).as_deref(), Some("u-1"));
    assert_eq!(key(r#"{"user":null,"anonymous_id":"a","session":{"id":"s"}}"#).as_deref(), Some("a"));
    assert_eq!(key(r#"{"session":{"id":"s"}}"#).as_deref(), Some("s"));
    assert_eq!(key(r#"{"x":1}"#), None);
}
