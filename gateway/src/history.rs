//! Recent raw events, to answer a new subscription's `history` request so
//! the admin's screen is not empty while waiting for the next match.
//!
//! A tail of the raw topic feeds a ring bounded both in events and in bytes
//! (oldest leave first). On subscribe, the control thread matches the new
//! criterion alone against the ring, newest first, with the engine's own
//! matcher, so history agrees exactly with live delivery.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clicktail_engine::event::EventLimits;
use clicktail_engine::log::{Log, Record};
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, MatcherOptions};

use crate::metrics::Metrics;
use crate::protocol::event;
use clicktail_engine::clock::now_ms;

/// Records read from the raw topic per poll.
const POLL_RECORDS_MAX: usize = 1_024;

struct Window {
    /// (log timestamp in ms, event bytes), oldest first.
    events: VecDeque<(i64, Arc<[u8]>)>,
    /// Bytes of `events`.
    bytes: usize,
}

pub struct History {
    /// Written by the history thread, copied out by the control thread.
    window: Mutex<Window>,
    /// `history_window_events`.
    events_max: usize,
    /// `history_window_bytes`.
    bytes_max: usize,
}

impl History {
    pub fn new(events_max: usize, bytes_max: usize) -> Self {
        History { window: Mutex::new(Window { events: VecDeque::new(), bytes: 0 }), events_max, bytes_max }
    }

    pub fn push(&self, timestamp_ms: i64, event: &[u8]) {
        if event.len() > self.bytes_max {
            return;
        }
        let mut window = self.lock();
        window.bytes += event.len();
        window.events.push_back((timestamp_ms, Arc::from(event)));
        while window.events.len() > self.events_max || window.bytes > self.bytes_max {
            match window.events.pop_front() {
                Some((_, old)) => window.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Up to `count` event frames for `filter`, oldest first (so that a
    /// client prepending each frame shows the newest on top).
    pub fn recent_matches(&self, filter: FilterId, criterion: &str, count: usize) -> Vec<String> {
        let mut set = FilterSet::new(MatcherOptions::default());
        if set.insert_source(filter, criterion).is_err() {
            return Vec::new();
        }
        let matcher = set.build();
        let mut scratch = MatchScratch::new(EventLimits::default());
        let mut ids = Vec::new();
        // Copy the candidates out (cheap Arc clones) so the lock is not held
        // while matching.
        let snapshot: Vec<(i64, Arc<[u8]>)> = self.lock().events.iter().cloned().collect();
        let sent_ms = now_ms();
        let mut frames: Vec<String> = snapshot
            .iter()
            .rev()
            .filter(|(_, raw)| {
                matcher.match_event(raw, &mut scratch, &mut ids);
                !ids.is_empty()
            })
            .take(count)
            .filter_map(|(ts_ms, raw)| event::frame(filter.0, *ts_ms, sent_ms, true, raw))
            .collect();
        frames.reverse();
        frames
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tails `topic` into the window until `stop` is set.
    pub fn feed(self: Arc<Self>, log: Arc<dyn Log>, topic: String, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
        let mut consumer = loop {
            match log.tail_consumer(&topic) {
                Ok(consumer) => break consumer,
                Err(error) => {
                    tracing::warn!(%error, topic, "history: cannot tail the raw topic; retrying");
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        let mut records: Vec<Record> = Vec::with_capacity(POLL_RECORDS_MAX);
        while !stop.load(Ordering::Relaxed) {
            records.clear();
            if let Err(error) = consumer.poll(POLL_RECORDS_MAX, Duration::from_millis(200), &mut records) {
                tracing::warn!(%error, "history: poll failed");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            for record in &records {
                self.push(record.timestamp_ms, &record.payload);
            }
            metrics.history_events_read_total.fetch_add(records.len() as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_within_both_bounds_and_matches_newest_first() {
        let history = History::new(3, 1_000);
        for n in 0..5 {
            history.push(n, format!(r#"{{"n":{n},"k":"x"}}"#).as_bytes());
        }
        let frames = history.recent_matches(FilterId(9), "k == \"x\"", 2);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].contains(r#""n":3"#) && frames[1].contains(r#""n":4"#), "{frames:?}");
        assert!(history.recent_matches(FilterId(9), "n == 0", 5).is_empty(), "evicted");
        let small = History::new(100, 20);
        small.push(0, b"{\"a\":\"0123456789\"}");
        small.push(1, b"{\"a\":\"9876543210\"}");
        assert_eq!(small.recent_matches(FilterId(1), "*", 10).len(), 1);
    }
}
