//! The stamps carried inside each event (creation, and for `/ingest` the
//! moment its batch left), and reading them (and the gateway's own
//! timestamps) back out of a delivered `event` frame.
//!
//! The stamp is a dedicated field, `"loadgen_created_us"`, appended to the
//! generated object, rather than the event's `ts`: the generator's `ts`
//! describes simulated traffic at millisecond precision, while latency
//! needs the wall clock at microseconds. Frames are scanned with `memchr`
//! for the three numbers instead of parsed: a reader thread handles tens of
//! thousands of frames per second and must not become the bottleneck.

use std::time::{SystemTime, UNIX_EPOCH};

use memchr::memmem;

use crate::clickstream::json::push_u64;

/// The field appended to every generated event.
pub const CREATED_FIELD: &str = "loadgen_created_us";

/// The field appended to events sent over `/ingest`: when their batch was
/// written to the socket. A string of [`SENT_DIGITS`] digits, so it can be
/// filled in after the batch is built without moving a byte (a JSON number
/// may not have leading zeros).
const SENT_FIELD: &str = "loadgen_sent_us";
/// Microseconds since 1970 have 16 digits until the year 2286.
const SENT_DIGITS: usize = 16;

/// Microseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_micros() as u64)
}

/// Appends `,"loadgen_created_us":<created_us>` inside the object that ends
/// `event`. Returns false (and leaves `event` alone) when `event` does not
/// end with `}`: a deliberately malformed event stays as it was.
pub fn stamp_created(event: &mut Vec<u8>, created_us: u64) -> bool {
    append_field(event, CREATED_FIELD, |event| push_u64(event, created_us)).is_some()
}

/// Appends `,"loadgen_sent_us":"0000000000000000"` inside the object that
/// ends `event`; returns where the digits start, for [`fill_sent`], or
/// `None` (and leaves `event` alone) when `event` does not end with `}`.
pub fn stamp_sent_placeholder(event: &mut Vec<u8>) -> Option<usize> {
    append_field(event, SENT_FIELD, |event| {
        event.push(b'"');
        let digits_at = event.len();
        event.extend_from_slice(&[b'0'; SENT_DIGITS]);
        event.push(b'"');
        digits_at
    })
}

/// Appends `,"<name>":` and what `value` writes inside the object that ends
/// `event`, then closes it again; `None` when `event` does not end with `}`.
fn append_field<T>(event: &mut Vec<u8>, name: &str, value: impl FnOnce(&mut Vec<u8>) -> T) -> Option<T> {
    if event.last() != Some(&b'}') {
        return None;
    }
    event.pop();
    event.extend_from_slice(b",\"");
    event.extend_from_slice(name.as_bytes());
    event.extend_from_slice(b"\":");
    let written = value(event);
    event.push(b'}');
    Some(written)
}

/// Writes `sent_us`, zero-padded, into the placeholder's digits at `at`.
pub fn fill_sent(text: &mut [u8], at: usize, sent_us: u64) {
    let mut rest = sent_us;
    for digit in text[at..at + SENT_DIGITS].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// The timestamps of one delivered `event` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTimes {
    /// When the event entered the raw topic (the log timestamp), ms.
    pub log_ms: u64,
    /// When the gateway queued the frame, ms.
    pub queued_ms: u64,
    /// The loadgen creation stamp, µs; `None` for events not made by loadgen
    /// (e.g. `clicktail demo`'s own generator).
    pub created_us: Option<u64>,
    /// When the event's `/ingest` batch was sent, µs; `None` for events
    /// that went straight into a log.
    pub sent_us: Option<u64>,
    /// Whether this is a history replay (excluded from live latency).
    pub history: bool,
}

/// What a text frame from `/ws` is, as far as load measurement cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminFrame {
    /// A match.
    Event(FrameTimes),
    /// `dropped`: frames the gateway dropped for this session since the last notice.
    Dropped { count: u64 },
    /// `subscribed`.
    Subscribed,
    /// `subscribe_error`, with the gateway's message.
    SubscribeError(String),
    /// Anything else (`hello`, `heartbeat_ack`, `error`, ...).
    Other,
}

/// Classifies a frame by its leading `"type"` (the gateway always writes it
/// first) and pulls out the numbers that matter.
pub fn read_admin_frame(frame: &[u8]) -> AdminFrame {
    if frame.starts_with(br#"{"type":"event""#) {
        // The stamp is searched for only after `"event":`, so a criterion or
        // another field cannot be mistaken for it.
        let event_start = memmem::find(frame, br#""event":"#).unwrap_or(frame.len());
        let header = &frame[..event_start];
        let created_us = number_after(&frame[event_start..], br#""loadgen_created_us":"#);
        let sent_us = number_after(&frame[event_start..], br#""loadgen_sent_us":""#);
        return AdminFrame::Event(FrameTimes {
            log_ms: number_after(header, br#""ts_ms":"#).unwrap_or(0),
            queued_ms: number_after(header, br#""sent_ms":"#).unwrap_or(0),
            created_us,
            sent_us,
            history: memmem::find(header, br#""history":true"#).is_some(),
        });
    }
    if frame.starts_with(br#"{"type":"dropped""#) {
        return AdminFrame::Dropped { count: number_after(frame, br#""count":"#).unwrap_or(0) };
    }
    if frame.starts_with(br#"{"type":"subscribed""#) {
        return AdminFrame::Subscribed;
    }
    if frame.starts_with(br#"{"type":"subscribe_error""#) {
        let message = serde_json::from_slice::<serde_json::Value>(frame)
            .ok()
            .and_then(|value| value.get("message").and_then(|message| message.as_str()).map(str::to_owned))
            .unwrap_or_default();
        return AdminFrame::SubscribeError(message);
    }
    AdminFrame::Other
}

/// The unsigned decimal right after the first `needle` in `haystack`.
fn number_after(haystack: &[u8], needle: &[u8]) -> Option<u64> {
    let start = memmem::find(haystack, needle)? + needle.len();
    let digits = haystack[start..].iter().take_while(|byte| byte.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    haystack[start..start + digits]
        .iter()
        .try_fold(0u64, |value, digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_appended_inside_the_object() {
        let mut event = br#"{"type":"click","ts":1}"#.to_vec();
        assert!(stamp_created(&mut event, 1_732_600_000_123_456));
        assert_eq!(event, br#"{"type":"click","ts":1,"loadgen_created_us":1732600000123456}"#);
        let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(value["loadgen_created_us"], 1_732_600_000_123_456u64);
    }

    #[test]
    fn the_send_stamp_is_filled_in_place() {
        let mut event = br#"{"type":"click"}"#.to_vec();
        let at = stamp_sent_placeholder(&mut event).unwrap();
        let length = event.len();
        fill_sent(&mut event, at, 1_732_600_000_123_456);
        assert_eq!(event.len(), length);
        assert_eq!(event, br#"{"type":"click","loadgen_sent_us":"1732600000123456"}"#);
        assert_eq!(stamp_sent_placeholder(&mut br#"{"type":"cl"#.to_vec()), None);
    }

    #[test]
    fn a_malformed_event_is_left_alone() {
        let mut event = br#"{"type":"cli"#.to_vec();
        assert!(!stamp_created(&mut event, 5));
        assert_eq!(event, br#"{"type":"cli"#);
    }

    #[test]
    fn event_frames_give_back_every_time() {
        let frame = br#"{"type":"event","filter":17,"ts_ms":1000,"sent_ms":1004,"event":{"type":"booking","loadgen_created_us":999500,"loadgen_sent_us":"0000000000999700"}}"#;
        let times = FrameTimes {
            log_ms: 1000,
            queued_ms: 1004,
            created_us: Some(999_500),
            sent_us: Some(999_700),
            history: false,
        };
        assert_eq!(read_admin_frame(frame), AdminFrame::Event(times));
        let history = br#"{"type":"event","filter":1,"ts_ms":1,"sent_ms":2,"history":true,"event":{}}"#;
        assert!(matches!(
            read_admin_frame(history),
            AdminFrame::Event(FrameTimes { history: true, created_us: None, .. })
        ));
    }

    #[test]
    fn protocol_frames_are_classified() {
        assert_eq!(
            read_admin_frame(br#"{"type":"dropped","filter":7,"count":312,"total":1290,"session_total":1500}"#),
            AdminFrame::Dropped { count: 312 }
        );
        assert_eq!(read_admin_frame(br#"{"type":"subscribed","ref":"a","filter":3}"#), AdminFrame::Subscribed);
        assert_eq!(
            read_admin_frame(br#"{"type":"subscribe_error","message":"the gateway is busy"}"#),
            AdminFrame::SubscribeError("the gateway is busy".into())
        );
        assert_eq!(read_admin_frame(br#"{"type":"hello","node":"gateway"}"#), AdminFrame::Other);
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(number_after(b"x:99999999999999999999", b"x:"), None);
        assert_eq!(number_after(b"x:", b"x:"), None);
        assert_eq!(number_after(b"x:42,", b"x:"), Some(42));
    }
}
