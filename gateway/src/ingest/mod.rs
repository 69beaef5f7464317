//! Browser ingest: validating a tracker batch on the event loop, then
//! producing it to the raw topic on the producer thread.
//!
//! Layout:
//! - this file: [`validate`], from the bytes of one batch to an [`IngestJob`];
//! - `producer.rs`: the thread that produces batches, flushes them as a
//!   group and acknowledges each one.

pub mod producer;

use serde_json::value::RawValue;

use crate::ids::ConnectionId;
use crate::protocol::ingest_batch::{IngestBatch, KeyFields};

/// How the batch's outcome goes back to the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyChannel {
    /// As an `ack`/`nack` text frame on the `/ingest` socket.
    WebSocket,
    /// As the response to `POST /ingest`.
    Http,
}

/// A validated batch, waiting to be produced.
pub struct IngestJob {
    pub event_loop: usize,
    pub connection: ConnectionId,
    pub reply: ReplyChannel,
    pub batch: u64,
    /// (partition key, event text), in the tracker's order.
    pub events: Vec<(String, Box<RawValue>)>,
    /// Events refused one by one (not an object, too large).
    pub rejected: usize,
}

/// Limits applied by [`validate`] (from the gateway config).
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    pub batch_bytes_max: usize,
    pub batch_events_max: usize,
    pub event_bytes_max: usize,
}

/// Why a batch was refused whole; the tracker keeps it only for `Busy`-like
/// transient refusals (see docs/protocol.md).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch of {bytes} bytes is over the {limit}-byte limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("batch is not valid: {0}")]
    Malformed(String),
    #[error("batch has {events} events, over the limit of {limit}")]
    TooManyEvents { events: usize, limit: usize },
}

/// The key of an event whose fields name no user, session or anonymous id.
const FALLBACK_KEY: &str = "anonymous";

/// A batch that passed [`validate`].
pub struct ValidBatch {
    /// The tracker's sequence number.
    pub batch: u64,
    /// (partition key, event text) of each accepted event, in order.
    pub events: Vec<(String, Box<RawValue>)>,
    /// Events refused one by one.
    pub rejected: usize,
}

/// Checks one batch and picks each event's key.
pub fn validate(body: &[u8], limits: &IngestLimits) -> Result<ValidBatch, BatchError> {
    if body.len() > limits.batch_bytes_max {
        return Err(BatchError::TooLarge { bytes: body.len(), limit: limits.batch_bytes_max });
    }
    let batch: IngestBatch = serde_json::from_slice(body).map_err(|error| BatchError::Malformed(error.to_string()))?;
    if batch.events.len() > limits.batch_events_max {
        return Err(BatchError::TooManyEvents { events: batch.events.len(), limit: limits.batch_events_max });
    }
    let mut rejected = 0;
    let mut events = Vec::with_capacity(batch.events.len());
    for event in batch.events {
        let text = event.get();
        if text.len() > limits.event_bytes_max || !text.starts_with('{') {
            rejected += 1;
            continue;
        }
        let key = serde_json::from_str::<KeyFields>(text).ok().and_then(KeyFields::key);
        events.push((key.unwrap_or_else(|| FALLBACK_KEY.to_owned()), event));
    }
    Ok(ValidBatch { batch: batch.batch, events, rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IngestLimits = IngestLimits { batch_bytes_max: 1_000, batch_events_max: 3, event_bytes_max: 100 };

    #[test]
    fn keys_events_and_rejects_non_objects_and_big_ones() {
        let body = format!(
            r#"{{"batch":4,"events":[{{"user":{{"id":"u-1"}}}},5,{{"session":{{"id":"s-9"}},"pad":"{}"}}]}}"#,
            "x".repeat(200)
        );
        let valid = validate(body.as_bytes(), &LIMITS).unwrap();
        assert_eq!((valid.batch, valid.rejected), (4, 2));
        assert_eq!(valid.events.len(), 1);
        assert_eq!(valid.events[0].0, "u-1");
        let valid = validate(br#"{"batch":1,"events":[{"a":1}]}"#, &LIMITS).unwrap();
        assert_eq!(valid.events[0].0, FALLBACK_KEY);
    }

    #[test]
    fn refuses_whole_batches_over_limits_or_malformed() {
        assert!(matches!(validate(&[b' '; 1_001], &LIMITS), Err(BatchError::TooLarge { .. })));
        assert!(matches!(validate(b"{\"batch\":1}", &LIMITS), Err(BatchError::Malformed(_))));
        assert!(matches!(validate(b"[1,2]", &LIMITS), Err(BatchError::Malformed(_))));
        assert_eq!(
            validate(br#"{"batch":1,"events":[{},{},{},{}]}"#, &LIMITS).err(),
            Some(BatchError::TooManyEvents { events: 4, limit: 3 })
        );
    }
}
