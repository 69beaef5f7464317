use super::*;

#[test]
fn parses_each_client_kind() {
    let subscribe = ClientMessage::parse(r#"{"type":"subscribe","criterion":"*","history":5,"ref":"x"}"#).unwrap();
    assert_eq!(
        subscribe,
        ClientMessage::Subscribe(subscribe::Subscribe {
            criterion: "*".into(),
            history: 5,
            reference: Some("x".into())
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
    let frame = event::frame(7, 10, 12, false, b" {\"a\":1}\n").unwrap();
    assert_eq!(frame, r#"{"type":"event","filter":7,"ts_ms":10,"sent_ms":12,"event":{"a":1}}"#);
    let parsed: serde_json::Value = serde_json::from_str(&event::frame(7, 1, 2, true, b"[1]").unwrap()).unwrap();
    assert_eq!(parsed["history"], true);
    assert!(event::frame(1, 0, 0, false, &[0xff, 0xfe]).is_none());
}

#[test]
fn ingest_key_prefers_user_then_anonymous_then_session() {
    let key = |text: &str| serde_json::from_str::<ingest_batch::KeyFields>(text).unwrap().key();
    assert_eq!(key(r#"{"user":{"id":"u-1"},"anonymous_id":"a","session":{"id":"s"}}"#).as_deref(), Some("u-1"));
    assert_eq!(key(r#"{"user":null,"anonymous_id":"a","session":{"id":"s"}}"#).as_deref(), Some("a"));
    assert_eq!(key(r#"{"session":{"id":"s"}}"#).as_deref(), Some("s"));
    assert_eq!(key(r#"{"x":1}"#), None);
}
