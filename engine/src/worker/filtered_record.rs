//! The wire format of a record on the filtered topic, and the mapping from
//! filter id to partition. Workers encode, gateways and downstream
//! consumers decode: both sides use this module and nothing else.
//!
//! # Record (version 1)
//!
//! Kafka key: the filter id in decimal ASCII (`"4711"`), readable with the
//! console consumer. Kafka timestamp: the match time in milliseconds.
//! Payload: a 25-byte fixed header, big-endian, then the event unchanged:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | format version, `1` |
//! | 1 | 8 | filter id (u64) |
//! | 9 | 8 | ingest timestamp, µs since the Unix epoch (i64): the raw record's Kafka timestamp × 1000 |
//! | 17 | 8 | match timestamp, µs since the Unix epoch (i64): when the worker matched it |
//! | 25 | rest | the event's bytes, exactly as read from the raw topic |
//!
//! A fixed binary header rather than a JSON envelope: the gateway forwards
//! the event bytes to browsers untouched, so it must find them without
//! parsing or unescaping anything, and the header costs 25 bytes instead
//! of a copy of the event into a JSON string.
//!
//! # Partition
//!
//! A filter's records go to partition `filter_id % partition_count`
//! ([`filtered_partition`]). Every record of a filter is on one partition,
//! in match order per raw partition; consecutive ids (the registry's
//! `bigserial`) spread evenly.

use crate::log::PartitionId;
use crate::matcher::FilterId;

/// The version byte this module writes.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the event.
pub const HEADER_BYTES: usize = 25;

/// A decoded filtered record, borrowing the event from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilteredRecord<'a> {
    pub filter_id: FilterId,
    /// When the raw event was produced (its Kafka timestamp), µs since the epoch.
    pub ingest_timestamp_us: i64,
    /// When the worker matched it, µs since the epoch.
    pub match_timestamp_us: i64,
    /// The raw event, byte for byte.
    pub event: &'a [u8],
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilteredRecordError {
    #[error("filtered record of {bytes} bytes is shorter than its {HEADER_BYTES}-byte header")]
    TooShort { bytes: usize },
    #[error("filtered record has format version {version}; this build reads version {FORMAT_VERSION}")]
    UnknownVersion { version: u8 },
}

/// The filtered topic's partition for `filter_id` (see the module docs).
pub fn filtered_partition(filter_id: FilterId, partition_count: u32) -> PartitionId {
    assert!(partition_count > 0, "a topic has at least one partition");
    PartitionId((filter_id.0 % u64::from(partition_count)) as u32)
}

/// Writes the Kafka key of `filter_id` into `key` (cleared first).
pub fn encode_key(filter_id: FilterId, key: &mut Vec<u8>) {
    // Digits written by hand (least significant first, then reversed): no
    // `String` per match on the hot path.
    key.clear();
    let mut rest = filter_id.0;
    loop {
        key.push(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    key.reverse();
}

/// Writes the payload for `record` into `payload` (cleared first; reuse it
/// across records so encoding allocates nothing in steady state).
pub fn encode(record: &FilteredRecord<'_>, payload: &mut Vec<u8>) {
    payload.clear();
    payload.reserve(HEADER_BYTES + record.event.len());
    payload.push(FORMAT_VERSION);
    payload.extend_from_slice(&record.filter_id.0.to_be_bytes());
    payload.extend_from_slice(&record.ingest_timestamp_us.to_be_bytes());
    payload.extend_from_slice(&record.match_timestamp_us.to_be_bytes());
    payload.extend_from_slice(record.event);
}

/// Reads a payload written by [`encode`].
pub fn decode(payload: &[u8]) -> Result<FilteredRecord<'_>, FilteredRecordError> {
    if payload.len() < HEADER_BYTES {
        return Err(FilteredRecordError::TooShort { bytes: payload.len() });
    }
    if payload[0] != FORMAT_VERSION {
        return Err(FilteredRecordError::UnknownVersion { version: payload[0] });
    }
    let field = |at: usize| -> [u8; 8] { payload[at..at + 8].try_into().expect("8-byte slice of a checked header") };
    Ok(FilteredRecord {
        filter_id: FilterId(u64::from_be_bytes(field(1))),
        ingest_timestamp_us: i64::from_be_bytes(field(9)),
        match_timestamp_us: i64::from_be_bytes(field(17)),
        event: &payload[HEADER_BYTES..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_with_its_event_unchanged() {
        let event = br#"{"user":{"id":"u-1"},"s":"caf\u00e9"}"#;
        let record = FilteredRecord {
            filter_id: FilterId(u64::MAX - 1),
            ingest_timestamp_us: 1_700_000_000_000_000,
            match_timestamp_us: -5,
            event,
        };
        let mut payload = vec![9, 9, 9];
        encode(&record, &mut payload);
        assert_eq!(payload.len(), HEADER_BYTES + event.len());
        assert_eq!(payload[0], 1);
        assert_eq!(&payload[1..9], &(u64::MAX - 1).to_be_bytes());
        assert_eq!(decode(&payload), Ok(record));
    }

    #[test]
    fn short_or_foreign_payloads_are_errors() {
        assert_eq!(decode(&[1; 24]), Err(FilteredRecordError::TooShort { bytes: 24 }));
        let mut payload = vec![0; HEADER_BYTES];
        payload[0] = 2;
        assert_eq!(decode(&payload), Err(FilteredRecordError::UnknownVersion { version: 2 }));
        payload[0] = 1;
        assert_eq!(decode(&payload).unwrap().event, b"");
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
