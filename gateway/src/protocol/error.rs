//! `error`: a message the gateway could not act on (not JSON, unknown type,
//! unknown filter id). The session stays open.
//!
//! ```json
//! {"type":"error","message":"malformed message: missing field `criterion` at line 1 column 21"}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ErrorReply<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
}

impl ErrorReply<'_> {
    pub fn frame(message: &str) -> String {
        super::to_frame(&ErrorReply { kind: "error", message })
    }
}
