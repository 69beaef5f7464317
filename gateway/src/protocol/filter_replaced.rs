//! `filter_replaced`: a filter of this session lost its registry row and the
//! gateway registered the same criterion again under a new id. Events for
//! the session's criterion now carry `filter`; `replaces` is gone. Matches
//! made while neither row existed were not delivered (`since_ms` is when
//! the gateway noticed; the row may have gone up to a TTL before).
//!
//! A row is lost only when this gateway was cut off from the registry for
//! longer than its TTL while the registry itself was up (an outage of the
//! registry deletes nothing), or when someone deleted it by hand.
//!
//! ```json
//! {"type":"filter_replaced","replaces":17,"filter":42,"criterion":"type == \"booking\"","since_ms":1732600000000}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FilterReplaced<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The id the session knew, which no longer exists.
    pub replaces: u64,
    /// The new id of the same criterion.
    pub filter: u64,
    pub criterion: &'a str,
    /// When the gateway found the row missing (ms since the epoch).
    pub since_ms: i64,
}

impl<'a> FilterReplaced<'a> {
    pub fn frame(replaces: u64, filter: u64, criterion: &'a str, since_ms: i64) -> String {
        super::to_frame(&FilterReplaced { kind: "filter_replaced", replaces, filter, criterion, since_ms })
    }
}
