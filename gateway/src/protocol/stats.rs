//! `stats`: a filter's true match count over a window, and how many of those
//! matches were delivered (forwarded by the workers within the filter's
//! budget). Sent at least once a second per filter that matched; the
//! `matched` of successive frames add up to every match.
//!
//! ```json
//! {"type":"stats","filter":17,"matched":20873,"delivered":1000,"window_ms":1004}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Stats {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub filter: u64,
    /// Every match of the window, across all workers.
    pub matched: u64,
    /// The matches the workers forwarded (the rest were thinned out).
    pub delivered: u64,
    /// The window's length, ms: `matched * 1000 / window_ms` is the match rate.
    pub window_ms: u64,
}

impl Stats {
    pub fn frame(filter: u64, matched: u64, delivered: u64, window_ms: u64) -> String {
        super::to_frame(&Stats { kind: "stats", filter, matched, delivered, window_ms })
    }
}
