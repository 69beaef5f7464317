//! `history_done`: the end of a subscription's history (`since_ms` or
//! `history`), after its history `event` frames and before nothing in
//! particular: live events may come before it, each with no `history`.
//! Sent once per backfill job run; a job run again after a worker died
//! sends it again (with the history again: duplicates at-least-once allows).
//!
//! ```json
//! {"type":"history_done","filter":17,"events_scanned":6000000,"matches":100,"complete":true}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct HistoryDone {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub filter: u64,
    /// Raw events the workers read for it.
    pub events_scanned: u64,
    /// History `event` frames sent before this one.
    pub matches: u64,
    /// False when a bound (`history_max`, the scan's events or time) cut
    /// it short, or the raw topic's retention did not reach back to the start.
    pub complete: bool,
}

impl HistoryDone {
    pub fn frame(filter: u64, events_scanned: u64, matches: u64, complete: bool) -> String {
        super::to_frame(&HistoryDone { kind: "history_done", filter, events_scanned, matches, complete })
    }
}
