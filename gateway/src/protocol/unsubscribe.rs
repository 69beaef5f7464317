//! `unsubscribe`: delete one of the session's filters; answered by `unsubscribed`.
//!
//! ```json
//! {"type":"unsubscribe","filter":17}
//! {"type":"unsubscribed","filter":17}
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, PartialEq)]
pub struct Unsubscribe {
    /// The id from `subscribed`; ids of other sessions are refused.
    pub filter: u64,
}

#[derive(Debug, Serialize)]
pub struct Unsubscribed {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub filter: u64,
}

impl Unsubscribed {
    pub fn frame(filter: u64) -> String {
        super::to_frame(&Unsubscribed { kind: "unsubscribed", filter })
    }
}
