//! The wire format of a record on the filtered topic, and the mapping from
//! filter id to partition. Workers encode, gateways decode: both sides use
//! this module and nothing else. The user-facing description, with `kcat`
//! and Python examples, is `docs/filtered-topic.md`; keep the two in step.
//!
//! # Record (format version 2)
//!
//! - **Value**: the matched event's bytes, exactly as read from the raw
//!   topic (no envelope: any Kafka tool shows the JSON as it was sent).
//! - **Key**: the filter id in decimal ASCII (`"4711"`).
//! - **Timestamp**: the match time in milliseconds.
//! - **Headers**, every value decimal ASCII or plain text, so `kcat -f '%h'`
//!   and any client read them without binary decoding:
//!
//! | header | value |
//! | --- | --- |
//! | `ct.version` | `2`: the format version (see below) |
//! | `ct.kind` | `event`; control records: `stats` and `history_done` (below) |
//! | `ct.filter` | the filter id, as the key |
//! | `ct.topic` | the raw topic the event was read from |
//! | `ct.partition` | its raw partition |
//! | `ct.offset` | its offset in that partition |
//! | `ct.ingest_us` | µs since the Unix epoch: the raw record's Kafka timestamp × 1000 |
//! | `ct.match_us` | µs since the Unix epoch: when the worker matched it |
//! | `ct.history` | `1` for a match found by a history scan, `0` for a live match |
//!
//! A `history_done` record (empty value) ends a filter's backfill, after
//! its history matches on the same partition: `ct.version`, `ct.kind`,
//! `ct.filter`, `ct.events_scanned`, `ct.matches` and `ct.complete` (`1` or
//! `0`). Adding it kept version 2: it is a new kind, which older readers
//! skip (and count) as the rule below says.
//!
//! Compatibility: a reader ignores headers it does not know and skips kinds
//! it does not know, so adding either needs no new version. A change of
//! meaning, or of a header every reader needs, bumps `ct.version`; a
//! gateway refuses (skips and counts) a version other than its own.
//! Version 1 (until this change) was a 25-byte binary header before the
//! event and had no headers: it reads as "no `ct.version`", refused.
//!
//! Headers rather than a binary prefix or a JSON envelope: the value stays
//! the event, which the gateway forwards to browsers untouched and any
//! consumer parses as it is; the worker hands Kafka the event bytes it read
//! instead of copying them behind a prefix; and the metadata is readable by
//! name. The cost is librdkafka's header list per record (one allocation
//! per header, librdkafka's own) and about 120 bytes of names per record,
//! which `compression.type=lz4` mostly removes (they repeat in a batch).
//!
//! # Partition
//!
//! A filter's records go to partition `filter_id % partition_count`
//! ([`filtered_partition`]). Every record of a filter is on one partition,
//! in match order per raw partition; consecutive ids (the registry's
//! `bigserial`) spread evenly.

use crate::log::{Header, Headers, PartitionId};
use crate::matcher::FilterId;

/// The format version this module writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// [`FORMAT_VERSION`] as the `ct.version` header's value.
const FORMAT_VERSION_TEXT: &[u8] = b"2";

/// The header names (see the module docs). `ct` is for clicktail: the
/// prefix keeps them apart from headers other tools add.
pub mod names {
    pub const VERSION: &str = "ct.version";
    pub const KIND: &str = "ct.kind";
    pub const FILTER: &str = "ct.filter";
    pub const RAW_TOPIC: &str = "ct.topic";
    pub const RAW_PARTITION: &str = "ct.partition";
    pub const RAW_OFFSET: &str = "ct.offset";
    pub const INGEST_US: &str = "ct.ingest_us";
    pub const MATCH_US: &str = "ct.match_us";
    pub const HISTORY: &str = "ct.history";
    /// Of a `stats` record: matches counted over the window, forwarded or not.
    pub const MATCHED: &str = "ct.matched";
    /// Of a `stats` record: matches forwarded (within the budget) over the window.
    pub const DELIVERED: &str = "ct.delivered";
    /// Of a `stats` record: the window's length in milliseconds.
    pub const WINDOW_MS: &str = "ct.window_ms";
    /// Of a `history_done` record: raw events the backfill scan read.
    pub const EVENTS_SCANNED: &str = "ct.events_scanned";
    /// Of a `history_done` record: history matches produced before it.
    pub const MATCHES: &str = "ct.matches";
    /// Of a `history_done` record: `1` when the scan covered the whole
    /// range asked, `0` when a bound or retention cut it.
    pub const COMPLETE: &str = "ct.complete";
}

/// The `ct.kind` of a matched event.
pub const KIND_EVENT: &str = "event";

/// The `ct.kind` of a filter's counts over a window (a budgeted filter's
/// true match count; the value is empty).
pub const KIND_STATS: &str = "stats";

/// Headers per stats record.
pub const STATS_HEADER_COUNT: usize = 6;

/// The `ct.kind` of the record that ends a filter's backfill (its value is empty).
pub const KIND_HISTORY_DONE: &str = "history_done";

/// Headers per history_done record.
pub const HISTORY_DONE_HEADER_COUNT: usize = 6;

/// The end of a filter's backfill: what the scan read and found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryDoneRecord {
    pub filter_id: FilterId,
    pub events_scanned: u64,
    pub matches: u64,
    pub complete: bool,
}

/// One filter thread's counts of one filter over one window: `matched`
/// every match, `delivered` those forwarded within the budget
/// (`worker/budget.rs`). A gateway sums them across threads and workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsRecord {
    pub filter_id: FilterId,
    pub matched: u64,
    pub delivered: u64,
    pub window_ms: u64,
}

/// A record of the filtered topic this build reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilteredMessage<'a> {
    Event(FilteredRecord<'a>),
    Stats(StatsRecord),
    HistoryDone(HistoryDoneRecord),
}

/// Headers per event record.
pub const HEADER_COUNT: usize = 9;

/// A filtered event record: its metadata and the event, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilteredRecord<'a> {
    pub filter_id: FilterId,
    /// The raw topic the event was read from.
    pub raw_topic: &'a str,
    /// The event's partition in the raw topic.
    pub raw_partition: PartitionId,
    /// The event's offset in that partition.
    pub raw_offset: i64,
    /// When the raw event was produced (its Kafka timestamp), µs since the epoch.
    pub ingest_timestamp_us: i64,
    /// When the worker matched it, µs since the epoch.
    pub match_timestamp_us: i64,
    /// Found by a history scan rather than live matching.
    pub history: bool,
    /// The raw event, byte for byte: the record's value.
    pub event: &'a [u8],
}

/// Why a filtered record could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilteredRecordError {
    #[error(
        "filtered record has no `{}` header: written by a clicktail older than format version {FORMAT_VERSION}, \
         or by another producer",
        names::VERSION
    )]
    MissingVersion,
    #[error("filtered record has format version {version:?}; this build reads version {FORMAT_VERSION}")]
    UnknownVersion { version: String },
    #[error("filtered record of kind {kind:?}; this build reads {KIND_EVENT:?} only")]
    UnknownKind { kind: String },
    #[error("filtered record has no `{name}` header")]
    MissingHeader { name: &'static str },
    #[error("filtered record's `{name}` header is {value:?}, not {expected}")]
    InvalidHeader { name: &'static str, value: String, expected: &'static str },
}

/// The filtered topic's partition for `filter_id` (see the module docs).
pub fn filtered_partition(filter_id: FilterId, partition_count: u32) -> PartitionId {
    assert!(partition_count > 0, "a topic has at least one partition");
    PartitionId((filter_id.0 % u64::from(partition_count)) as u32)
}

/// Writes the Kafka key of `filter_id` into `key` (cleared first).
pub fn encode_key(filter_id: FilterId, key: &mut Vec<u8>) {
    key.clear();
    push_decimal(key, filter_id.0);
}

/// Appends `value` in decimal ASCII: digits written by hand into a stack
/// buffer, so no `String` per match on the hot path.
fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

fn push_signed_decimal(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_decimal(out, value.unsigned_abs());
}

/// Encodes the headers of filtered records into a buffer reused from
/// record to record: no allocation per match in steady state.
#[derive(Debug, Default)]
pub struct HeaderEncoder {
    /// The decimal values of the last record, back to back.
    digits: Vec<u8>,
}

impl HeaderEncoder {
    /// The headers of `record`, borrowing this encoder's buffer and the
    /// record's topic; the record's value is `record.event` itself.
    pub fn encode<'a>(&'a mut self, record: &FilteredRecord<'a>) -> [Header<'a>; HEADER_COUNT] {
        let digits = &mut self.digits;
        digits.clear();
        let mut ends = [0usize; 5];
        push_decimal(digits, record.filter_id.0);
        ends[0] = digits.len();
        push_decimal(digits, u64::from(record.raw_partition.0));
        ends[1] = digits.len();
        push_signed_decimal(digits, record.raw_offset);
        ends[2] = digits.len();
        push_signed_decimal(digits, record.ingest_timestamp_us);
        ends[3] = digits.len();
        push_signed_decimal(digits, record.match_timestamp_us);
        ends[4] = digits.len();
        let digits = &self.digits;
        [
            Header { name: names::VERSION, value: FORMAT_VERSION_TEXT },
            Header { name: names::KIND, value: KIND_EVENT.as_bytes() },
            Header { name: names::FILTER, value: &digits[..ends[0]] },
            Header { name: names::RAW_TOPIC, value: record.raw_topic.as_bytes() },
            Header { name: names::RAW_PARTITION, value: &digits[ends[0]..ends[1]] },
            Header { name: names::RAW_OFFSET, value: &digits[ends[1]..ends[2]] },
            Header { name: names::INGEST_US, value: &digits[ends[2]..ends[3]] },
            Header { name: names::MATCH_US, value: &digits[ends[3]..ends[4]] },
            Header { name: names::HISTORY, value: if record.history { b"1" } else { b"0" } },
        ]
    }
}

impl HeaderEncoder {
    /// The headers of a stats record (its value is empty).
    pub fn encode_stats(&mut self, record: &StatsRecord) -> [Header<'_>; STATS_HEADER_COUNT] {
        let digits = &mut self.digits;
        digits.clear();
        let mut ends = [0usize; 4];
        for (end, value) in
            ends.iter_mut().zip([record.filter_id.0, record.matched, record.delivered, record.window_ms])
        {
            push_decimal(digits, value);
            *end = digits.len();
        }
        let digits = &self.digits;
        [
            Header { name: names::VERSION, value: FORMAT_VERSION_TEXT },
            Header { name: names::KIND, value: KIND_STATS.as_bytes() },
            Header { name: names::FILTER, value: &digits[..ends[0]] },
            Header { name: names::MATCHED, value: &digits[ends[0]..ends[1]] },
            Header { name: names::DELIVERED, value: &digits[ends[1]..ends[2]] },
            Header { name: names::WINDOW_MS, value: &digits[ends[2]..ends[3]] },
        ]
    }
}

impl HeaderEncoder {
    /// The headers of a history_done record (its value is empty).
    pub fn encode_history_done(&mut self, record: &HistoryDoneRecord) -> [Header<'_>; HISTORY_DONE_HEADER_COUNT] {
        let digits = &mut self.digits;
        digits.clear();
        let mut ends = [0usize; 3];
        for (end, value) in ends.iter_mut().zip([record.filter_id.0, record.events_scanned, record.matches]) {
            push_decimal(digits, value);
            *end = digits.len();
        }
        let digits = &self.digits;
        [
            Header { name: names::VERSION, value: FORMAT_VERSION_TEXT },
            Header { name: names::KIND, value: KIND_HISTORY_DONE.as_bytes() },
            Header { name: names::FILTER, value: &digits[..ends[0]] },
            Header { name: names::EVENTS_SCANNED, value: &digits[ends[0]..ends[1]] },
            Header { name: names::MATCHES, value: &digits[ends[1]..ends[2]] },
            Header { name: names::COMPLETE, value: if record.complete { b"1" } else { b"0" } },
        ]
    }
}

/// Reads any record this build knows: an event, a filter's stats or the
/// end of its backfill.
pub fn decode_message<'a>(headers: &'a Headers, payload: &'a [u8]) -> Result<FilteredMessage<'a>, FilteredRecordError> {
    let kind = checked_kind(headers)?;
    if kind == KIND_HISTORY_DONE.as_bytes() {
        let complete = match required(headers, names::COMPLETE)? {
            b"1" => true,
            b"0" => false,
            other => return Err(invalid(names::COMPLETE, other, "0 or 1")),
        };
        return Ok(FilteredMessage::HistoryDone(HistoryDoneRecord {
            filter_id: FilterId(unsigned(headers, names::FILTER)?),
            events_scanned: unsigned(headers, names::EVENTS_SCANNED)?,
            matches: unsigned(headers, names::MATCHES)?,
            complete,
        }));
    }
    if kind == KIND_STATS.as_bytes() {
        return Ok(FilteredMessage::Stats(StatsRecord {
            filter_id: FilterId(unsigned(headers, names::FILTER)?),
            matched: unsigned(headers, names::MATCHED)?,
            delivered: unsigned(headers, names::DELIVERED)?,
            window_ms: unsigned(headers, names::WINDOW_MS)?,
        }));
    }
    decode(headers, payload).map(FilteredMessage::Event)
}

/// The `ct.kind` of a record of this format version.
fn checked_kind(headers: &Headers) -> Result<&[u8], FilteredRecordError> {
    let version = headers.get(names::VERSION).ok_or(FilteredRecordError::MissingVersion)?;
    if version != FORMAT_VERSION_TEXT {
        return Err(FilteredRecordError::UnknownVersion { version: String::from_utf8_lossy(version).into_owned() });
    }
    required(headers, names::KIND)
}

/// Reads a record written by [`HeaderEncoder::encode`]: its `headers` and
/// its value (`payload`, the event).
pub fn decode<'a>(headers: &'a Headers, payload: &'a [u8]) -> Result<FilteredRecord<'a>, FilteredRecordError> {
    let kind = checked_kind(headers)?;
    if kind != KIND_EVENT.as_bytes() {
        return Err(FilteredRecordError::UnknownKind { kind: String::from_utf8_lossy(kind).into_owned() });
    }
    let raw_topic = required(headers, names::RAW_TOPIC)?;
    let raw_topic = std::str::from_utf8(raw_topic).map_err(|_| invalid(names::RAW_TOPIC, raw_topic, "UTF-8 text"))?;
    let raw_partition = u32::try_from(integer(headers, names::RAW_PARTITION)?)
        .map_err(|_| invalid(names::RAW_PARTITION, headers.get(names::RAW_PARTITION).unwrap_or_default(), "a u32"))?;
    let history = match required(headers, names::HISTORY)? {
        b"1" => true,
        b"0" => false,
        other => return Err(invalid(names::HISTORY, other, "0 or 1")),
    };
    Ok(FilteredRecord {
        filter_id: FilterId(unsigned(headers, names::FILTER)?),
        raw_topic,
        raw_partition: PartitionId(raw_partition),
        raw_offset: integer(headers, names::RAW_OFFSET)?,
        ingest_timestamp_us: integer(headers, names::INGEST_US)?,
        match_timestamp_us: integer(headers, names::MATCH_US)?,
        history,
        event: payload,
    })
}

fn required<'a>(headers: &'a Headers, name: &'static str) -> Result<&'a [u8], FilteredRecordError> {
    headers.get(name).ok_or(FilteredRecordError::MissingHeader { name })
}

fn invalid(name: &'static str, value: &[u8], expected: &'static str) -> FilteredRecordError {
    FilteredRecordError::InvalidHeader { name, value: String::from_utf8_lossy(value).into_owned(), expected }
}

/// A header holding a u64 in decimal ASCII.
fn unsigned(headers: &Headers, name: &'static str) -> Result<u64, FilteredRecordError> {
    let value = required(headers, name)?;
    std::str::from_utf8(value)
        .ok()
        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| invalid(name, value, "a decimal integer"))
}

/// A header holding an i64 in decimal ASCII (a leading `-` allowed).
fn integer(headers: &Headers, name: &'static str) -> Result<i64, FilteredRecordError> {
    let value = required(headers, name)?;
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    std::str::from_utf8(value)
        .ok()
        .filter(|_| digits.iter().all(u8::is_ascii_digit))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| invalid(name, value, "a decimal integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &[u8]) -> FilteredRecord<'_> {
        FilteredRecord {
            filter_id: FilterId(u64::MAX - 1),
            raw_topic: "clicks",
            raw_partition: PartitionId(3),
            raw_offset: 1_234_567,
            ingest_timestamp_us: 1_700_000_000_000_000,
            match_timestamp_us: -5,
            history: false,
            event,
        }
    }

    fn text_headers(headers: &[Header<'_>]) -> Vec<(String, String)> {
        headers.iter().map(|h| (h.name.to_owned(), String::from_utf8(h.value.to_vec()).unwrap())).collect()
    }

    #[test]
    fn the_version_text_is_the_version() {
        assert_eq!(FORMAT_VERSION_TEXT, FORMAT_VERSION.to_string().as_bytes());
    }

    #[test]
    fn headers_are_named_decimal_text_in_a_documented_order() {
        let mut encoder = HeaderEncoder::default();
        let headers = encoder.encode(&record(b"{}"));
        let expected = [
            ("ct.version", "2"),
            ("ct.kind", "event"),
            ("ct.filter", "18446744073709551614"),
            ("ct.topic", "clicks"),
            ("ct.partition", "3"),
            ("ct.offset", "1234567"),
            ("ct.ingest_us", "1700000000000000"),
            ("ct.match_us", "-5"),
            ("ct.history", "0"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(text_headers(&headers), expected);
    }

    #[test]
    fn a_record_round_trips_with_its_event_as_the_value() {
        let event = br#"{"user":{"id":"u-1"},"s":"caf\u00e9"}"#;
        let mut encoder = HeaderEncoder::default();
        // A first, longer record: the buffer is reused, not appended to.
        encoder.encode(&FilteredRecord { raw_offset: i64::MIN, ..record(b"x") });
        let sent = FilteredRecord { history: true, ..record(event) };
        let headers = Headers::from_sent(&encoder.encode(&sent));
        assert_eq!(decode(&headers, event), Ok(sent));
    }

    #[test]
    fn records_of_other_versions_or_kinds_are_refused_by_name() {
        let mut encoder = HeaderEncoder::default();
        let good = encoder.encode(&record(b"{}"));
        let with = |name: &'static str, value: &'static [u8]| {
            let mut headers = Headers::from_sent(&good);
            headers.push(name.as_bytes(), value);
            headers
        };
        assert_eq!(decode(&Headers::default(), b"\x01rest"), Err(FilteredRecordError::MissingVersion));
        assert_eq!(
            decode(&with("ct.version", b"3"), b""),
            Err(FilteredRecordError::UnknownVersion { version: "3".to_owned() })
        );
        assert_eq!(
            decode(&with("ct.kind", b"history_done"), b""),
            Err(FilteredRecordError::UnknownKind { kind: "history_done".to_owned() })
        );
        assert_eq!(
            decode(&with("ct.offset", b"12a"), b""),
            Err(FilteredRecordError::InvalidHeader {
                name: "ct.offset",
                value: "12a".to_owned(),
                expected: "a decimal integer"
            })
        );
        assert!(matches!(
            decode(&with("ct.filter", b"-1"), b""),
            Err(FilteredRecordError::InvalidHeader { name: "ct.filter", .. })
        ));
        assert!(matches!(
            decode(&with("ct.partition", b"4294967296"), b""),
            Err(FilteredRecordError::InvalidHeader { name: "ct.partition", .. })
        ));
        assert!(matches!(
            decode(&with("ct.history", b"yes"), b""),
            Err(FilteredRecordError::InvalidHeader { name: "ct.history", .. })
        ));
        let mut partial = Headers::default();
        for header in good.iter().filter(|h| h.name != "ct.match_us") {
            partial.push(header.name.as_bytes(), header.value);
        }
        assert_eq!(decode(&partial, b""), Err(FilteredRecordError::MissingHeader { name: "ct.match_us" }));
        // An unknown header is ignored.
        assert_eq!(decode(&with("ct.later", b"x"), b"{}"), Ok(record(b"{}")));
    }

    #[test]
    fn a_stats_record_round_trips_and_events_still_decode_as_events() {
        let stats = StatsRecord { filter_id: FilterId(4711), matched: 12_345, delivered: 1_000, window_ms: 1_003 };
        let mut encoder = HeaderEncoder::default();
        let sent = encoder.encode_stats(&stats);
        assert_eq!(
            text_headers(&sent),
            [
                ("ct.version", "2"),
                ("ct.kind", "stats"),
                ("ct.filter", "4711"),
                ("ct.matched", "12345"),
                ("ct.delivered", "1000"),
                ("ct.window_ms", "1003"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        let headers = Headers::from_sent(&sent);
        assert_eq!(decode_message(&headers, b""), Ok(FilteredMessage::Stats(stats)));
        // An event-only reader skips it as a kind it does not know.
        assert_eq!(decode(&headers, b""), Err(FilteredRecordError::UnknownKind { kind: "stats".to_owned() }));
        let event = Headers::from_sent(&encoder.encode(&record(b"{}")));
        assert_eq!(decode_message(&event, b"{}"), Ok(FilteredMessage::Event(record(b"{}"))));
    }

    #[test]
    fn a_history_done_record_round_trips_and_event_readers_skip_it() {
        let done =
            HistoryDoneRecord { filter_id: FilterId(12), events_scanned: 6_000_000, matches: 100, complete: false };
        let mut encoder = HeaderEncoder::default();
        let sent = encoder.encode_history_done(&done);
        assert_eq!(
            text_headers(&sent),
            [
                ("ct.version", "2"),
                ("ct.kind", "history_done"),
                ("ct.filter", "12"),
                ("ct.events_scanned", "6000000"),
                ("ct.matches", "100"),
                ("ct.complete", "0"),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        let headers = Headers::from_sent(&sent);
        assert_eq!(decode_message(&headers, b""), Ok(FilteredMessage::HistoryDone(done)));
        assert_eq!(decode(&headers, b""), Err(FilteredRecordError::UnknownKind { kind: "history_done".to_owned() }));
    }

    #[test]
    fn keys_are_decimal_and_partitions_are_id_modulo_count() {
        let mut key = b"old".to_vec();
        encode_key(FilterId(4711), &mut key);
        assert_eq!(key, b"4711");
        encode_key(FilterId(0), &mut key);
        assert_eq!(key, b"0");
        encode_key(FilterId(u64::MAX), &mut key);
        assert_eq!(key, u64::MAX.to_string().as_bytes());
        assert_eq!(filtered_partition(FilterId(4711), 4), PartitionId(3));
        assert_eq!(filtered_partition(FilterId(8), 4), PartitionId(0));
        assert_eq!(filtered_partition(FilterId(5), 1), PartitionId(0));
    }
}
