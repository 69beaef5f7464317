//! `event`: one match, built once per filtered record and shared (by
//! reference count) by every queue it is placed in.
//!
//! ```json
//! {"type":"event","filter":17,"topic":"site.bookings","ts_ms":1732600000000,"sent_ms":1732600000004,"event":{"type":"booking","user":{"id":"u-42"}}}
//! ```
//!
//! `topic` is the raw topic the event was read from (the record's
//! `ct.topic` header: a worker may consume several). `ts_ms` is when the event entered the log (the producer's timestamp);
//! `sent_ms` when the gateway queued it; the UI shows `now - ts_ms` as the
//! end-to-end latency. History replays carry `"history":true`.

use std::fmt::Write;

use clicktail_engine::log::is_topic_name;

/// Builds the frame around the raw event bytes without re-serializing the
/// event. `None` when the payload is not UTF-8 (it cannot go in a text frame,
/// RFC 6455 section 5.6); such a record is counted and skipped. The event is
/// validated once, here; the frame is built as text, so it is not checked
/// again.
pub fn frame(filter: u64, topic: &str, ts_ms: i64, sent_ms: i64, history: bool, event: &[u8]) -> Option<String> {
    let event = std::str::from_utf8(event).ok()?.trim_ascii();
    let mut out = String::with_capacity(event.len() + topic.len() + 112);
    let _ = write!(out, r#"{{"type":"event","filter":{filter},"topic":"#);
    if is_topic_name(topic) {
        // Kafka's topic names need no escaping: the common case, no allocation.
        let _ = write!(out, r#""{topic}""#);
    } else {
        // A header written by a foreign producer: escaped as any string.
        out.push_str(&serde_json::to_string(topic).ok()?);
    }
    let _ = write!(out, r#","ts_ms":{ts_ms},"sent_ms":{sent_ms},"#);
    if history {
        out.push_str(r#""history":true,"#);
    }
    out.push_str(r#""event":"#);
    out.push_str(event);
    out.push('}');
    Some(out)
}
