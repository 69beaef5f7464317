//! The `/ws` admin protocol and the `/ingest` batch format: JSON text frames,
//! one file per message kind, documented with examples in `docs/protocol.md`.
//!
//! Client → gateway (`/ws`): [`subscribe`], [`unsubscribe`], [`heartbeat`].
//! Gateway → client: [`hello`] on connect, the replies of each request,
//! [`event`] for every match, [`dropped`] after overflow, [`error`] for a
//! message the gateway could not understand, [`filter_replaced`] or
//! [`filter_lost`] when a filter's registry row was lost, [`stats`] with a
//! filter's true match count.
//! Tracker → gateway (`/ingest`): [`ingest_batch`], answered by its ack.

pub mod dropped;
pub mod error;
pub mod event;
pub mod filter_lost;
pub mod filter_replaced;
pub mod heartbeat;
pub mod hello;
pub mod history_done;
pub mod ingest_batch;
pub mod stats;
pub mod subscribe;
pub mod unsubscribe;

use serde::Deserialize;

/// A request from an admin client, told apart by its `"type"` field.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(subscribe::Subscribe),
    Unsubscribe(unsubscribe::Unsubscribe),
    Heartbeat(heartbeat::Heartbeat),
}

impl ClientMessage {
    /// Parses one text frame; the error is a sentence for an [`error::ErrorReply`].
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        serde_json::from_str(text).map_err(|error| format!("malformed message: {error}"))
    }
}

/// Serializes a reply; replies are plain structs that cannot fail to serialize.
pub(crate) fn to_frame(reply: &impl serde::Serialize) -> String {
    serde_json::to_string(reply)
        .unwrap_or_else(|error| format!(r#"{{"type":"error","message":"reply failed: {error}"}}"#))
}

#[cfg(test)]
mod tests;
