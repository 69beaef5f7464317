//! Wall-clock time since the Unix epoch, for timestamps that cross
//! processes (records, frames, the match stamp). 0 if the clock is before
//! 1970, rather than a panic on a host with a broken clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the log's record timestamps.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Microseconds since the Unix epoch: the filtered record's match stamp.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_micros() as i64)
}
