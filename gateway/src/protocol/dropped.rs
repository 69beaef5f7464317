//! `dropped`: how many event frames the session missed because its queue was
//! full (the reader was slower than its filters' matches). Sent once the
//! queue has room again, before the next event.
//!
//! ```json
//! {"type":"dropped","count":312,"total":1290}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Dropped {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Missed since the previous `dropped`.
    pub count: u64,
    /// Missed since the session began.
    pub total: u64,
}

impl Dropped {
    pub fn frame(count: u64, total: u64) -> String {
        super::to_frame(&Dropped { kind: "dropped", count, total })
    }
}
