//! `filter_lost`: a filter of this session lost its registry row and could
//! not be registered again; no more events will come for it. The session
//! may subscribe again (and will get a `subscribe_error` saying why, if
//! the criterion itself is refused).
//!
//! ```json
//! {"type":"filter_lost","filter":17,"criterion":"type == \"booking\"","message":"re-registering the filter failed: ..."}
//! ```

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FilterLost<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The id that no longer delivers anything.
    pub filter: u64,
    pub criterion: &'a str,
    /// Why it could not be registered again.
    pub message: String,
}

impl<'a> FilterLost<'a> {
    pub fn frame(filter: u64, criterion: &'a str, message: impl Into<String>) -> String {
        super::to_frame(&FilterLost { kind: "filter_lost", filter, criterion, message: message.into() })
    }
}
