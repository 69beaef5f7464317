//! `subscribe`: register a criterion; answered by `subscribed` or `subscribe_error`.
//!
//! ```json
//! {"type":"subscribe","ref":"a1","criterion":"type == \"booking\"","history":20}
//! {"type":"subscribed","ref":"a1","filter":17,"criterion":"type == \"booking\"","ttl_ms":30000}
//! {"type":"subscribe_error","ref":"a1","message":"expected a value after \"==\"","column":9}
//! ```

use serde::{Deserialize, Serialize};

/// The longest `ref` a client may attach; longer is refused as malformed.
pub const REF_BYTES_MAX: usize = 64;

/// A request to register a filter for this session.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Subscribe {
    /// The filter, in the language of FILTERS.md.
    pub criterion: String,
    /// How many recent matches to send right away (capped by `history_max`).
    #[serde(default)]
    pub history: usize,
    /// An opaque client tag echoed in the reply, to pair it with its request.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

/// The filter is registered; events for `filter` follow.
#[derive(Debug, Serialize)]
pub struct Subscribed<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    pub filter: u64,
    pub criterion: &'a str,
    /// How long the row lives between the gateway's heartbeats.
    pub ttl_ms: u64,
    /// How many history events follow this reply.
    pub history: usize,
}

/// The filter was not registered. `column` is set when the criterion itself
/// is at fault (1-based byte column, as FILTERS.md says).
#[derive(Debug, Serialize)]
pub struct SubscribeError<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl<'a> Subscribed<'a> {
    pub fn frame(reference: Option<&'a str>, filter: u64, criterion: &'a str, ttl_ms: u64, history: usize) -> String {
        super::to_frame(&Subscribed { kind: "subscribed", reference, filter, criterion, ttl_ms, history })
    }
}

impl<'a> SubscribeError<'a> {
    pub fn frame(reference: Option<&'a str>, message: impl Into<String>, column: Option<usize>) -> String {
        super::to_frame(&SubscribeError { kind: "subscribe_error", reference, message: message.into(), column })
    }
}
