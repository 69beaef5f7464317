//! Waiting for matches to drain, shared by the scenarios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::tally::Tally;

/// Waits until `tally` holds every event of `expected`, giving up once
/// nothing new arrived for `quiet` or `within` passed. Returns when it stopped.
pub fn drain(tally: &Tally, expected: &[usize], quiet: Duration, within: Duration) -> Duration {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let received = tally.received_of(expected);
        if received == expected.len() {
            return started.elapsed();
        }
        if received != last.0 {
            last = (received, Instant::now());
        }
        if last.1.elapsed() >= quiet || started.elapsed() >= within {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `tally` holds at least `count` events of `expected` (false after `within`).
pub fn reach(tally: &Arc<Tally>, expected: &[usize], count: usize, within: Duration) -> bool {
    crate::processes::wait_until(within, || tally.received_of(expected) >= count)
}
