//! Headers between the log seam and librdkafka, both ways.

use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

use rdkafka::bindings::{
    rd_kafka_header_cnt, rd_kafka_header_get_all, rd_kafka_message_headers, rd_kafka_message_t, rd_kafka_resp_err_t,
};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};

use crate::log::{Header, Headers};

/// librdkafka's copy of `headers`, for a produced record; `None` for none.
///
/// The allocations are librdkafka's (`rd_kafka_headers_new`, one
/// `rd_kafka_header_add` each) and unavoidable: on a successful produce the
/// message owns its header list and frees it after delivery, so the list
/// cannot be reused from one record to the next.
pub(super) fn to_owned_headers(headers: &[Header<'_>]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let owned = OwnedHeaders::new_with_capacity(headers.len());
    Some(
        headers
            .iter()
            .fold(owned, |owned, header| owned.insert(KafkaHeader { key: header.name, value: Some(header.value) })),
    )
}

/// The headers of a consumed message, copied out (empty when it has none).
///
/// Read through librdkafka's C API rather than rdkafka's `BorrowedHeaders`,
/// whose iterator panics on a header name that is not UTF-8 (rdkafka 0.38,
/// `CStr::to_str().unwrap()`): a foreign producer must not be able to stop
/// a worker or a gateway with one header.
///
/// # Safety
/// `message` is a live message of librdkafka's, for the whole call.
pub(super) unsafe fn read_headers(message: *const rd_kafka_message_t) -> Headers {
    let mut headers = Headers::default();
    let mut list = std::ptr::null_mut();
    // SAFETY: `message` is live (the caller's promise); librdkafka parses
    // its headers on first use and keeps the list owned by the message (it
    // is freed with it, not here).
    let error = unsafe { rd_kafka_message_headers(message, &mut list) };
    if error != rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || list.is_null() {
        return headers;
    }
    // SAFETY: `list` is the message's header list, valid while `message` is.
    let count = unsafe { rd_kafka_header_cnt(list) };
    for index in 0..count {
        let mut name: *const c_char = std::ptr::null();
        let mut value: *const c_void = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: `index < count`; the out-pointers are valid for writes.
        // On success `name` is NUL-terminated and `value` (null for a null
        // value) points at `size` bytes, both owned by the list.
        let error = unsafe { rd_kafka_header_get_all(list, index, &mut name, &mut value, &mut size) };
        if error != rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            continue;
        }
        // SAFETY: see above; the slices are copied before `message` goes.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        let value =
            if value.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) } };
        headers.push(name, value);
    }
    headers
}
