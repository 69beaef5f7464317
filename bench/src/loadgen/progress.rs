//! The live progress line: once a second on stderr, rates over the last
//! second and totals, so an operator sees a stall as it happens.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::stats::{CounterSnapshot, LiveCounters};

/// How often the line is printed.
const INTERVAL: Duration = Duration::from_secs(1);

/// Prints the line every second until `stop`.
pub fn print_progress_until(counters: &LiveCounters, started: Instant, stop: &AtomicBool) {
    let mut previous = counters.snapshot();
    let mut next = Instant::now() + INTERVAL;
    while !stop.load(Relaxed) {
        // Short sleeps so the end of the run is not delayed by a second.
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() < next {
            continue;
        }
        next += INTERVAL;
        let now = counters.snapshot();
        let line = progress_line(started.elapsed(), &previous, &now);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        previous = now;
    }
}

/// One line: elapsed time, per-second rates since `previous`, totals.
pub fn progress_line(elapsed: Duration, previous: &CounterSnapshot, now: &CounterSnapshot) -> String {
    let line = format!(
        "loadgen {:>5.1}s  in {:>9}/s (sent {}, acked {})",
        elapsed.as_secs_f64(),
        now.events_sent.saturating_sub(previous.events_sent),
        now.events_sent,
        now.events_acknowledged,
    );
    // Log targets have no sessions: their line stops at the input side.
    if now.sessions_subscribed == 0 && now.sessions_failed == 0 {
        return line;
    }
    format!(
        "{line}  out {:>9}/s (frames {})  dropped {}  sessions {}{}",
        now.frames_received.saturating_sub(previous.frames_received),
        now.frames_received,
        now.frames_dropped_reported,
        now.sessions_subscribed.saturating_sub(now.sessions_closed_by_gateway),
        if now.sessions_failed > 0 { format!(" (failed {})", now.sessions_failed) } else { String::new() },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_rates_and_totals() {
        let previous = CounterSnapshot { events_sent: 1_000, frames_received: 10, ..CounterSnapshot::default() };
        let now = CounterSnapshot {
            events_sent: 4_000,
            events_acknowledged: 3_900,
            frames_received: 70,
            sessions_subscribed: 300,
            ..CounterSnapshot::default()
        };
        let line = progress_line(Duration::from_secs(2), &previous, &now);
        assert!(line.contains("in      3000/s (sent 4000, acked 3900)"), "{line}");
        assert!(line.contains("out        60/s (frames 70)"), "{line}");
        assert!(line.ends_with("sessions 300"), "{line}");
    }
}
