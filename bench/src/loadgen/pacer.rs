//! Open-loop pacing: how many events should have been sent by now.
//!
//! The schedule depends only on the clock, never on how fast the target
//! answered, so a slow target shows as latency and lag rather than as a
//! quietly lower rate (the coordinated-omission trap of closed-loop load).

use std::time::{Duration, Instant};

/// Events due at a fixed rate since a start instant.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    /// When the schedule began.
    started: Instant,
    /// Events per second; 0 means unpaced (everything is always due).
    rate_per_second: f64,
}

impl Pacer {
    pub fn new(started: Instant, rate_per_second: f64) -> Self {
        Pacer { started, rate_per_second }
    }

    /// Events due by `elapsed` since the start (`u64::MAX` when unpaced).
    pub fn due_after(&self, elapsed: Duration) -> u64 {
        if self.rate_per_second <= 0.0 {
            return u64::MAX;
        }
        (elapsed.as_secs_f64() * self.rate_per_second) as u64
    }

    /// When event `index` (0-based) is due, after the start; zero when
    /// unpaced. Loadgen stamps each event with this intended time rather
    /// than the moment it was built, so an event waiting for its batch (as
    /// a browser's does) or a sender running late counts as latency.
    pub fn due_time_of(&self, index: u64) -> Duration {
        if self.rate_per_second <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(index as f64 / self.rate_per_second)
    }

    /// Events due now.
    pub fn due_now(&self) -> u64 {
        self.due_after(self.started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_grows_with_the_rate_and_time() {
        let pacer = Pacer::new(Instant::now(), 2_000.0);
        assert_eq!(pacer.due_after(Duration::from_millis(0)), 0);
        assert_eq!(pacer.due_after(Duration::from_millis(500)), 1_000);
        assert_eq!(pacer.due_after(Duration::from_secs(3)), 6_000);
        assert_eq!(Pacer::new(Instant::now(), 0.0).due_after(Duration::ZERO), u64::MAX);
        assert_eq!(pacer.due_time_of(1_000), Duration::from_millis(500));
        assert_eq!(Pacer::new(Instant::now(), 0.0).due_time_of(7), Duration::ZERO);
    }
}
