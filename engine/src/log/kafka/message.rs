//! A consumed librdkafka message made into a [`Record`], read through
//! librdkafka's C API: by the batch read (`fetch_queue.rs`) and by the
//! one-record `poll` (`consumer.rs`) alike. Its payload is copied out, or
//! lent by the message for the worker's filter threads (`LentPayload`).

use std::ffi::CStr;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use rdkafka::bindings::{
    rd_kafka_message_destroy, rd_kafka_message_t, rd_kafka_message_timestamp, rd_kafka_resp_err_t,
    rd_kafka_timestamp_type_t, rd_kafka_topic_name,
};

use super::consumer::TopicNames;
use super::headers::read_headers;
use crate::log::{Headers, PartitionId, Payload, Record};

/// What keeps a client alive while records lend its messages' payloads:
/// one per reading thread, so that its count is not shared between cores.
pub(super) type Lease = Arc<dyn Send + Sync>;

/// A consumed message whose payload a record reads in place; the message
/// goes back to librdkafka when the record is dropped.
pub(crate) struct LentPayload {
    message: NonNull<rd_kafka_message_t>,
    /// Dropped after the message (fields drop in order).
    _client: Lease,
}

// SAFETY: librdkafka's messages may be read from and destroyed on any
// thread; the payload is never written.
unsafe impl Send for LentPayload {}
unsafe impl Sync for LentPayload {}

impl Deref for LentPayload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the message is live until `drop`, and its client with it.
        unsafe {
            let fields = self.message.as_ref();
            bytes(fields.payload, fields.len).unwrap_or_default()
        }
    }
}

impl Drop for LentPayload {
    fn drop(&mut self) {
        // SAFETY: the message was handed over by `take_record` and is
        // destroyed once, here, while `_client` still holds its client.
        unsafe { rd_kafka_message_destroy(self.message.as_ptr()) };
    }
}

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
    /// Set when the records lend their messages' payloads (`take_record`).
    lease: Option<Lease>,
}

impl RecordReader {
    pub(super) fn new(headers: HeaderCopy) -> Self {
        RecordReader { names: TopicNames::default(), headers, lease: None }
    }

    /// A reader whose records taken from librdkafka (`take_record`) read
    /// their payloads in place, `lease` keeping the client alive: only for
    /// readers that drop their records soon (a worker's filter threads, each
    /// batch before the next), as each one holds its fetch response.
    pub(super) fn lending(headers: HeaderCopy, lease: Lease) -> Self {
        RecordReader { names: TopicNames::default(), headers, lease: Some(lease) }
    }

    /// `message` made into a record, which takes it over: its payload is
    /// lent when this reader lends, else copied and the message destroyed.
    /// `None` (the message destroyed) as for [`RecordReader::record`].
    ///
    /// # Safety
    /// `message` is a live message from librdkafka's consume calls, owned
    /// by the caller, who never uses it again.
    pub(super) unsafe fn take_record(&mut self, message: *mut rd_kafka_message_t) -> Option<Record> {
        // librdkafka never hands out a null message: nothing to destroy.
        let owned = NonNull::new(message)?;
        let Some(lease) = &self.lease else {
            let record = self.record(message);
            rd_kafka_message_destroy(message);
            return record;
        };
        let lent = LentPayload { message: owned, _client: Arc::clone(lease) };
        record_of(message, &mut self.names, self.headers, Some(lent))
    }

    /// `message` copied into a record; `None` for an error record (logged)
    /// and for a topic name that is not UTF-8.
    ///
    /// # Safety
    /// `message` is a live message from librdkafka's consume calls.
    pub(super) unsafe fn record(&mut self, message: *const rd_kafka_message_t) -> Option<Record> {
        record_of(message, &mut self.names, self.headers, None)
    }
}

/// `message` made into a record (its headers as `headers` says), reading
/// its payload through `lent` when given (the message then goes with the
/// record), else copying it; `None` for an error record (logged) and for a
/// topic name that is not UTF-8.
///
/// # Safety
/// `message` is a live message from librdkafka's consume calls, and `lent`
/// (if any) holds that same message.
unsafe fn record_of(
    message: *const rd_kafka_message_t,
    names: &mut TopicNames,
    headers: HeaderCopy,
    lent: Option<LentPayload>,
) -> Option<Record> {
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
        payload: match lent {
            Some(lent) => Payload::lent(lent),
            None => bytes(fields.payload, fields.len).unwrap_or_default().to_vec().into(),
        },
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
