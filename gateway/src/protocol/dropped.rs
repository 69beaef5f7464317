//! `dropped`: how many event frames of one filter the session missed because
//! that filter's share of the session queue was full (the reader was slower
//! than the filter's matches). Sent in the filter's turn once its share has
//! room again, before its next event.
//!
//! ```json
//! {"type":"dropped","filter":17,"count":312,"total":1290,"session_total":1290}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Dropped {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The filter whose frames were missed.
    pub filter: u64,
    /// Missed of this filter since its previous `dropped`.
    pub count: u64,
    /// Missed of this filter since it was subscribed.
    pub total: u64,
    /// Missed of all the session's filters since the session began.
    pub session_total: u64,
}

impl Dropped {
    pub fn frame(filter: u64, count: u64, total: u64, session_total: u64) -> String {
        super::to_frame(&Dropped { kind: "dropped", filter, count, total, session_total })
    }
}
