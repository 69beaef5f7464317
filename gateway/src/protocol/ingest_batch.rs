//! `/ingest` batches from `tracker.js`, over the socket or as a POST body,
//! and their acknowledgements.
//!
//! ```json
//! {"batch":12,"events":[{"event_id":"e-1","type":"page_view","user":{"id":"u-42"}}]}
//! {"type":"ack","batch":12,"accepted":1,"rejected":0}
//! {"type":"nack","batch":12,"message":"busy: retry later"}
//! ```
//!
//! An `ack` means every accepted event is durable in the raw topic (the log
//! acknowledged it); a `nack`, or no answer, means none may be, and the
//! tracker resends the batch (events carry an `event_id` for deduplication).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A batch as sent by the tracker.
#[derive(Debug, Deserialize)]
pub struct IngestBatch {
    /// The tracker's sequence number, echoed in the ack.
    pub batch: u64,
    /// Each event is kept as its raw text and produced as is.
    pub events: Vec<Box<RawValue>>,
}

/// The fields that pick an event's key, so one user's events share a
/// partition and stay in order: `user.id`, else `anonymous_id`, else `session.id`.
#[derive(Debug, Default, Deserialize)]
pub struct KeyFields {
    #[serde(default)]
    pub user: Option<IdField>,
    #[serde(default)]
    pub anonymous_id: Option<String>,
    #[serde(default)]
    pub session: Option<IdField>,
}

#[derive(Debug, Default, Deserialize)]
pub struct IdField {
    #[serde(default)]
    pub id: Option<String>,
}

impl KeyFields {
    pub fn key(self) -> Option<String> {
        self.user.and_then(|user| user.id).or(self.anonymous_id).or_else(|| self.session.and_then(|session| session.id))
    }
}

#[derive(Debug, Serialize)]
pub struct Ack {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub batch: u64,
    pub accepted: usize,
    pub rejected: usize,
}

#[derive(Debug, Serialize)]
pub struct Nack<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub batch: Option<u64>,
    pub message: &'a str,
}

impl Ack {
    pub fn frame(batch: u64, accepted: usize, rejected: usize) -> String {
        super::to_frame(&Ack { kind: "ack", batch, accepted, rejected })
    }
}

impl Nack<'_> {
    pub fn frame(batch: Option<u64>, message: &str) -> String {
        super::to_frame(&Nack { kind: "nack", batch, message })
    }
}
