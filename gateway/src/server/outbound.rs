//! A session's bounded queue of frames waiting for its socket.
//!
//! Bounded in frames and in bytes (`session_queue_frames_max`,
//! `session_queue_bytes_max`). At the bound an event frame is dropped and
//! counted; the count is told to the client in a `dropped` frame once the
//! queue has drained to half. Replies (acks, errors) may use up to twice the
//! bound so that a flood of events never hides the answer to a request;
//! past that, they are dropped too and the session is reported stalled.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

use tungstenite::Utf8Bytes;

use crate::protocol::dropped::Dropped;
use crate::Metrics;

pub struct Outbound {
    frames: VecDeque<Utf8Bytes>,
    /// Bytes of `frames`.
    bytes: usize,
    frames_max: usize,
    bytes_max: usize,
    /// Dropped since the last `dropped` frame.
    dropped_untold: u64,
    /// Dropped since the session began.
    dropped_total: u64,
}

/// What happened to a frame offered to the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    Dropped,
}

impl Outbound {
    pub fn new(frames_max: usize, bytes_max: usize) -> Self {
        Outbound { frames: VecDeque::new(), bytes: 0, frames_max, bytes_max, dropped_untold: 0, dropped_total: 0 }
    }

    /// Queues an event frame, or drops and counts it at the bound.
    pub fn offer_event(&mut self, frame: Utf8Bytes, metrics: &Metrics) -> Offer {
        if self.frames.len() >= self.frames_max || self.bytes + frame.len() > self.bytes_max {
            self.count_dropped(1, metrics);
            return Offer::Dropped;
        }
        self.push(frame, metrics);
        Offer::Queued
    }

    /// Queues a reply; it may use up to twice the bound.
    pub fn offer_reply(&mut self, frame: Utf8Bytes, metrics: &Metrics) -> Offer {
        if self.frames.len() >= 2 * self.frames_max || self.bytes + frame.len() > 2 * self.bytes_max {
            return Offer::Dropped;
        }
        self.push(frame, metrics);
        Offer::Queued
    }

    /// Records frames lost before they reached this queue (a full loop inbox).
    pub fn count_dropped(&mut self, count: u64, metrics: &Metrics) {
        self.dropped_untold += count;
        self.dropped_total += count;
        metrics.frames_dropped_total.fetch_add(count, Relaxed);
    }

    /// The next frame to write. A pending `dropped` notice goes first once
    /// the queue is at most half full, so the client learns of the gap in
    /// the order it happened.
    pub fn pop(&mut self, metrics: &Metrics) -> Option<Utf8Bytes> {
        if self.dropped_untold > 0 && self.frames.len() <= self.frames_max / 2 {
            let notice = Dropped::frame(self.dropped_untold, self.dropped_total);
            self.dropped_untold = 0;
            return Some(Utf8Bytes::from(notice));
        }
        let frame = self.frames.pop_front()?;
        self.bytes -= frame.len();
        metrics.queue_bytes.fetch_sub(frame.len() as i64, Relaxed);
        Some(frame)
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Empties the queue (the session is closing), keeping the gauge right.
    pub fn clear(&mut self, metrics: &Metrics) {
        metrics.queue_bytes.fetch_sub(self.bytes as i64, Relaxed);
        self.frames.clear();
        self.bytes = 0;
    }

    fn push(&mut self, frame: Utf8Bytes, metrics: &Metrics) {
        self.bytes += frame.len();
        metrics.queue_bytes.fetch_add(frame.len() as i64, Relaxed);
        self.frames.push_back(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_events_at_the_bound_and_tells_the_count_at_half() {
        let metrics = Metrics::default();
        let mut queue = Outbound::new(4, 1_000);
        for n in 0..6 {
            queue.offer_event(Utf8Bytes::from(format!("e{n}")), &metrics);
        }
        assert_eq!(queue.dropped_total(), 2);
        assert_eq!(queue.offer_reply(Utf8Bytes::from("r"), &metrics), Offer::Queued);
        let order: Vec<String> = std::iter::from_fn(|| queue.pop(&metrics)).map(|f| f.as_str().to_owned()).collect();
        assert_eq!(order[..3], ["e0", "e1", "e2"]);
        assert_eq!(order[3], r#"{"type":"dropped","count":2,"total":2}"#);
        assert_eq!(order[4..], ["e3", "r"]);
        assert_eq!(metrics.queue_bytes.load(Relaxed), 0);
        assert_eq!(metrics.frames_dropped_total.load(Relaxed), 2);
    }

    #[test]
    fn bounds_bytes_too() {
        let metrics = Metrics::default();
        let mut queue = Outbound::new(100, 10);
        assert_eq!(queue.offer_event(Utf8Bytes::from("0123456789"), &metrics), Offer::Queued);
        assert_eq!(queue.offer_event(Utf8Bytes::from("x"), &metrics), Offer::Dropped);
        assert_eq!(queue.bytes(), 10);
    }
}
