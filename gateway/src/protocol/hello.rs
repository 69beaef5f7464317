//! `hello`: the first frame of every admin session, with the limits that apply to it.
//!
//! ```json
//! {"type":"hello","node":"gateway","session":"0.7","filters_max":16,"subscribes_in_flight_max":4,"queue_frames_max":1024,"queue_bytes_max":262144,"history_max":100,"message_bytes_max":16384}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Hello<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub node: &'a str,
    pub session: String,
    pub filters_max: usize,
    pub subscribes_in_flight_max: usize,
    pub queue_frames_max: usize,
    pub queue_bytes_max: usize,
    pub history_max: usize,
    pub message_bytes_max: usize,
    /// The raw topics the workers consume (announced in the last 5
    /// minutes), for a subscription's `topics`.
    pub topics: &'a [String],
}

impl Hello<'_> {
    pub fn frame(&self) -> String {
        super::to_frame(self)
    }
}
