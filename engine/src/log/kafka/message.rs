//! A consumed librdkafka message copied into a [`Record`], read through
//! librdkafka's C API: by the batch read (`fetch_queue.rs`) and by the
//! one-record `poll` (`consumer.rs`) alike.

use std::ffi::CStr;

use rdkafka::bindings::{
    rd_kafka_message_t, rd_kafka_message_timestamp, rd_kafka_resp_err_t, rd_kafka_timestamp_type_t, rd_kafka_topic_name,
};

use super::consumer::TopicNames;
use super::headers::read_headers;
use crate::log::{Headers, PartitionId, Record};

/// Whether a consumer copies each record's headers out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HeaderCopy {
    /// For readers of filtered records (gateways, backfill), whose
    /// metadata is in the headers.
    Copied,
    /// For the worker's group members, whose filter threads match the
    /// payload alone. librdkafka parses a record's headers on first use
    /// into a buffer it allocates and frees, even for a record without any
    /// (the count is part of them): a fifth of a filter thread's time in
    /// the drain (perf/results/worker.md, 2026-12-05T06:20Z).
    Skipped,
}

/// How one consumer turns librdkafka's messages into records: the topic
/// names its records share, and whether it copies their headers.
pub(super) struct RecordReader {
    pub(super) names: TopicNames,
    headers: HeaderCopy,
}

impl RecordReader {
    pub(super) fn new(headers: HeaderCopy) -> Self {
        RecordReader { names: TopicNames::default(), headers }
    }

    /// `message` copied into a record; `None` for an error record (logged)
    /// and for a topic name that is not UTF-8.
    ///
    /// # Safety
    /// `message` is a live message from librdkafka's consume calls.
    pub(super) unsafe fn record(&mut self, message: *const rd_kafka_message_t) -> Option<Record> {
        record_of(message, &mut self.names, self.headers)
    }
}

/// `message` copied into a record (its headers as `headers` says); `None`
/// for an error record (logged) and for a topic name that is not UTF-8.
///
/// # Safety
/// `message` is a live message from librdkafka's consume calls.
unsafe fn record_of(message: *const rd_kafka_message_t, names: &mut TopicNames, headers: HeaderCopy) -> Option<Record> {
    let fields = &*message;
    if fields.err != rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        tracing::debug!(error = ?fields.err, "kafka fetch error record skipped");
        return None;
    }
    let topic = CStr::from_ptr(rd_kafka_topic_name(fields.rkt)).to_str().ok()?;
    Some(Record {
        topic: names.get(topic),
        partition: PartitionId(fields.partition as u32),
        offset: fields.offset,
        key: bytes(fields.key, fields.key_len).map(<[u8]>::to_vec),
        payload: bytes(fields.payload, fields.len).unwrap_or_default().to_vec(),
        timestamp_ms: timestamp_ms(message),
        headers: match headers {
            HeaderCopy::Copied => read_headers(message),
            HeaderCopy::Skipped => Headers::default(),
        },
    })
}

/// The `len` bytes at `data`; `None` for a null pointer (no key, no value).
///
/// # Safety
/// A non-null `data` points at `len` bytes that outlive the borrow.
unsafe fn bytes<'a>(data: *mut std::os::raw::c_void, len: usize) -> Option<&'a [u8]> {
    (!data.is_null()).then(|| std::slice::from_raw_parts(data.cast::<u8>(), len))
}

/// The record's timestamp in milliseconds since the epoch, 0 when it has none
/// (as `rdkafka::Timestamp::to_millis().unwrap_or(0)`).
///
/// # Safety
/// `message` is live.
unsafe fn timestamp_ms(message: *const rd_kafka_message_t) -> i64 {
    let mut kind = rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    let timestamp = rd_kafka_message_timestamp(message, &mut kind);
    if kind == rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 {
        0
    } else {
        timestamp
    }
}
