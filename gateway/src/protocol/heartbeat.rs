//! `heartbeat`: the client is alive; answered by `heartbeat_ack` with the
//! gateway's clock (for the UI's latency display). The gateway itself keeps
//! filter rows fresh while the socket lives; an application heartbeat also
//! counts as activity for the idle timeout, like a pong (RFC 6455 section 5.5.3).
//!
//! ```json
//! {"type":"heartbeat"}
//! {"type":"heartbeat_ack","now_ms":1732600000000,"filters":2}
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, PartialEq)]
pub struct Heartbeat {}

#[derive(Debug, Serialize)]
pub struct HeartbeatAck {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub now_ms: i64,
    /// Filters the session holds.
    pub filters: usize,
}

impl HeartbeatAck {
    pub fn frame(now_ms: i64, filters: usize) -> String {
        super::to_frame(&HeartbeatAck { kind: "heartbeat_ack", now_ms, filters })
    }
}
