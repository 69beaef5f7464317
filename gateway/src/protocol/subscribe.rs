//! `subscribe`: register a criterion; answered by `subscribed` or `subscribe_error`.
//!
//! ```json
//! {"type":"subscribe","ref":"a1","criterion":"type == \"booking\"","history":20,"rate_max":200}
//! {"type":"subscribe","ref":"a2","criterion":"user.id == \"u-7\"","since_ms":1764800000000}
//! {"type":"subscribe","ref":"a3","criterion":"amount > 500","topics":["site.payments"]}
//! {"type":"subscribed","ref":"a1","filter":17,"criterion":"type == \"booking\"","ttl_ms":30000,"history":20,"rate_max":200}
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
    /// Send the matches since this Unix time in ms (the newest
    /// `history_max`, or `history` if given), then `history_done`.
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// An opaque client tag echoed in the reply, to pair it with its request.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// The match budget asked for: delivered matches per second, across
    /// all workers. Kept as JSON so that a bad value is answered with a
    /// `subscribe_error` naming it and the `ref` (see [`granted_rate_max`]),
    /// not a generic "malformed message".
    #[serde(default)]
    pub rate_max: Option<serde_json::Value>,
    /// The raw topics to match events of: names and at most one
    /// `"^pattern"`; absent is every topic the workers consume. Checked by
    /// the control thread (`topics.rs`), for a `subscribe_error` naming it.
    #[serde(default)]
    pub topics: Option<serde_json::Value>,
}

/// The budget granted for a requested `rate_max`: `None` when none was
/// asked (or `null`: the workers' default applies), else the request
/// capped at `cap`. Anything but a whole number of at least 1 is refused
/// with the sentence for the `subscribe_error`.
pub fn granted_rate_max(requested: Option<&serde_json::Value>, cap: u32) -> Result<Option<u32>, String> {
    let requested = match requested {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(value) => value,
    };
    match requested.as_u64() {
        Some(rate) if rate >= 1 => Ok(Some(rate.min(u64::from(cap)) as u32)),
        _ => Err(format!(
            "rate_max must be a whole number of matches per second, at least 1 (this gateway grants up to {cap}); got {requested}"
        )),
    }
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
    /// The most history `event` frames that may follow (0: no history was
    /// asked); how many did is in the `history_done` that ends them.
    pub history: usize,
    /// The budget granted (the request capped at the gateway's
    /// `--session-filter-rate-cap-per-s`); absent when the subscribe asked
    /// for none and the workers' default applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_max: Option<u32>,
    /// The topics granted; absent for every topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topics: Option<&'a [String]>,
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
    pub fn frame(
        reference: Option<&'a str>,
        filter: u64,
        criterion: &'a str,
        ttl_ms: u64,
        history: usize,
        rate_max: Option<u32>,
        topics: Option<&'a [String]>,
    ) -> String {
        super::to_frame(&Subscribed {
            kind: "subscribed",
            reference,
            filter,
            criterion,
            ttl_ms,
            history,
            rate_max,
            topics,
        })
    }
}

impl<'a> SubscribeError<'a> {
    pub fn frame(reference: Option<&'a str>, message: impl Into<String>, column: Option<usize>) -> String {
        super::to_frame(&SubscribeError { kind: "subscribe_error", reference, message: message.into(), column })
    }
}
