//! A session's bounded frames waiting for its socket: one lane per filter for
//! event frames, written round robin, and a control lane for replies.
//!
//! The fairness rule. The session's event bound (`session_queue_frames_max`,
//! `session_queue_bytes_max`) is split evenly among its filters: a filter's
//! lane holds at most `frames_max / filters` frames and `bytes_max / filters`
//! bytes (an empty lane takes one frame larger than its byte share, so an
//! outsized event is not lost for a small share), and all lanes together
//! never more than the session bound. The writer takes one frame from each
//! lane in turn, so a filter that floods a slow reader fills only its own
//! lane and loses only its own frames, while a quiet filter's match waits
//! behind at most one frame of each other filter. When a filter joins, the
//! other lanes shrink to the new share, dropping their oldest frames.
//!
//! Drops are counted per filter; the count is told to the client in a
//! `dropped` frame naming the filter, written in that filter's turn once its
//! lane has drained to half its share (so the client learns of the gap in
//! the order it happened), or as soon as a whole share's worth is untold (a
//! flood that keeps its lane full is still told, at most once per share of
//! drops, so notices never crowd out the filter's frames).
//!
//! Control frames (hello, acks, errors, subscribe replies) have their own
//! lane, bounded by the same two figures, and are written before any event:
//! an answer never waits behind a flood, and events never take its room. A
//! session whose control lane overflows (it sends requests and reads no
//! replies) is reported by [`Outbound::control_overflowed`] and closed, so a
//! reply is either written or the session ends; none is dropped silently.
//! A session's queued bytes are thus at most twice the configured bound.
//!
//! Rejected alternative: one FIFO with a per-filter count. A full FIFO
//! cannot take a quiet filter's frame without evicting another filter's, and
//! the writer would still deliver in arrival order, so a flood of `*` kept
//! a `u-42` panel at 5 events in 35 s (issue 12).

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

use clicktail_engine::matcher::FilterId;
use tungstenite::Utf8Bytes;

use crate::protocol::dropped::Dropped;
use crate::Metrics;

pub struct Outbound {
    /// Replies, written before any event (bounded by `frames_max`/`bytes_max`).
    control: VecDeque<Utf8Bytes>,
    /// Bytes of `control`.
    control_bytes: usize,
    /// A reply did not fit: the session must be closed.
    control_overflowed: bool,
    /// One lane per filter of the session, in subscription order.
    lanes: Vec<Lane>,
    /// The lane whose turn is next.
    next_lane: usize,
    /// Frames in all lanes.
    event_frames: usize,
    /// Bytes in all lanes.
    event_bytes: usize,
    /// The session's bound on event frames (and, separately, on replies).
    frames_max: usize,
    /// The session's bound on event bytes (and, separately, on replies).
    bytes_max: usize,
    /// Event frames dropped since the session began, all filters.
    dropped_total: u64,
    /// A frame was queued since [`Self::release_idle_memory`] last freed
    /// the queues' room: the timer skips sessions that stayed idle without
    /// touching their lanes.
    queued_since_release: bool,
}

/// One filter's event frames and its drop counts.
struct Lane {
    filter: FilterId,
    frames: VecDeque<Utf8Bytes>,
    /// Bytes of `frames`.
    bytes: usize,
    /// Dropped since this filter's last `dropped` frame.
    dropped_untold: u64,
    /// Dropped since the filter was subscribed.
    dropped_total: u64,
}

/// What happened to a frame offered to the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The bound was reached: counted (events) or the session must close (replies).
    Dropped,
    /// An event of a filter this session does not hold (it was released
    /// while the frame was on its way): discarded, counted as unrouted.
    NotSubscribed,
}

impl Outbound {
    pub fn new(frames_max: usize, bytes_max: usize) -> Self {
        Outbound {
            control: VecDeque::new(),
            control_bytes: 0,
            control_overflowed: false,
            lanes: Vec::new(),
            next_lane: 0,
            event_frames: 0,
            event_bytes: 0,
            frames_max,
            bytes_max,
            dropped_total: 0,
            queued_since_release: false,
        }
    }

    /// Gives `filter` its lane (once subscribed) and shrinks the others to
    /// the new share, dropping their oldest frames.
    pub fn add_filter(&mut self, filter: FilterId, metrics: &Metrics) {
        if self.lanes.iter().any(|lane| lane.filter == filter) {
            return;
        }
        // Exactly one more: most sessions hold one filter for hours.
        self.lanes.reserve_exact(1);
        self.lanes.push(Lane { filter, frames: VecDeque::new(), bytes: 0, dropped_untold: 0, dropped_total: 0 });
        let (share_frames, share_bytes) = self.share();
        for index in 0..self.lanes.len() {
            loop {
                let lane = &self.lanes[index];
                let over = lane.frames.len() > share_frames || (lane.bytes > share_bytes && lane.frames.len() > 1);
                if !over || self.pop_lane_front(index, metrics).is_none() {
                    break;
                }
                self.count_dropped(index, 1);
                metrics.frames_dropped_total.fetch_add(1, Relaxed);
            }
        }
    }

    /// Takes `filter`'s lane away (unsubscribed): its frames and its untold
    /// drops are discarded, the other lanes' shares grow.
    pub fn remove_filter(&mut self, filter: FilterId, metrics: &Metrics) {
        let Some(index) = self.lanes.iter().position(|lane| lane.filter == filter) else { return };
        let lane = self.lanes.remove(index);
        self.event_frames -= lane.frames.len();
        self.event_bytes -= lane.bytes;
        metrics.queue_bytes.fetch_sub(lane.bytes as i64, Relaxed);
        if index < self.next_lane {
            self.next_lane -= 1;
        }
        if self.next_lane >= self.lanes.len() {
            self.next_lane = 0;
        }
    }

    /// Queues an event frame of `filter`, or drops and counts it when the
    /// filter's share (or the session's bound) is full.
    pub fn offer_event(&mut self, filter: FilterId, frame: Utf8Bytes, metrics: &Metrics) -> Offer {
        let Some(index) = self.lanes.iter().position(|lane| lane.filter == filter) else {
            metrics.records_unrouted_total.fetch_add(1, Relaxed);
            return Offer::NotSubscribed;
        };
        let (share_frames, share_bytes) = self.share();
        let fits_session = self.event_frames < self.frames_max && self.event_bytes + frame.len() <= self.bytes_max;
        let lane = &mut self.lanes[index];
        let fits_share = lane.frames.len() < share_frames && lane.bytes + frame.len() <= share_bytes;
        if !fits_session || !(fits_share || lane.frames.is_empty()) {
            self.count_dropped(index, 1);
            metrics.frames_dropped_total.fetch_add(1, Relaxed);
            return Offer::Dropped;
        }
        lane.bytes += frame.len();
        self.event_frames += 1;
        self.event_bytes += frame.len();
        metrics.queue_bytes.fetch_add(frame.len() as i64, Relaxed);
        lane.frames.push_back(frame);
        self.queued_since_release = true;
        Offer::Queued
    }

    /// Queues a reply. At its bound the reply is not queued and the session
    /// is marked for closing ([`Self::control_overflowed`]).
    pub fn offer_reply(&mut self, frame: Utf8Bytes, metrics: &Metrics) -> Offer {
        if self.control.len() >= self.frames_max || self.control_bytes + frame.len() > self.bytes_max {
            self.control_overflowed = true;
            return Offer::Dropped;
        }
        self.control_bytes += frame.len();
        metrics.queue_bytes.fetch_add(frame.len() as i64, Relaxed);
        self.control.push_back(frame);
        self.queued_since_release = true;
        Offer::Queued
    }

    /// Records frames of `filter` lost before they reached this queue (a
    /// full loop inbox; the delivery thread has counted them in the metrics).
    pub fn count_missed(&mut self, filter: FilterId, count: u64) {
        if let Some(index) = self.lanes.iter().position(|lane| lane.filter == filter) {
            self.count_dropped(index, count);
        }
    }

    /// Whether a reply found the control lane full: the client does not
    /// read, and the session must be closed rather than lose an answer.
    pub fn control_overflowed(&self) -> bool {
        self.control_overflowed
    }

    /// The next frame to write: a reply if any, else the next lane's turn
    /// (its `dropped` notice once due, else its oldest frame).
    pub fn pop(&mut self, metrics: &Metrics) -> Option<Utf8Bytes> {
        if let Some(frame) = self.control.pop_front() {
            self.control_bytes -= frame.len();
            metrics.queue_bytes.fetch_sub(frame.len() as i64, Relaxed);
            return Some(frame);
        }
        let (share_frames, _) = self.share();
        for step in 0..self.lanes.len() {
            let index = (self.next_lane + step) % self.lanes.len();
            let lane = &mut self.lanes[index];
            let notice_due = lane.dropped_untold > 0
                && (lane.frames.len() <= share_frames / 2 || lane.dropped_untold >= share_frames as u64);
            let frame = if notice_due {
                let notice = Dropped::frame(lane.filter.0, lane.dropped_untold, lane.dropped_total, self.dropped_total);
                lane.dropped_untold = 0;
                Utf8Bytes::from(notice)
            } else if let Some(frame) = self.pop_lane_front(index, metrics) {
                frame
            } else {
                continue;
            };
            self.next_lane = (index + 1) % self.lanes.len();
            return Some(frame);
        }
        None
    }

    /// Empties the queue (the session is closing), keeping the gauge right.
    pub fn clear(&mut self, metrics: &Metrics) {
        metrics.queue_bytes.fetch_sub((self.control_bytes + self.event_bytes) as i64, Relaxed);
        self.control.clear();
        self.control_bytes = 0;
        for lane in &mut self.lanes {
            lane.frames.clear();
            lane.bytes = 0;
        }
        self.event_frames = 0;
        self.event_bytes = 0;
    }

    /// Frees the room of drained queues: after a burst, an idle session
    /// should not keep a burst's worth of empty slots.
    pub fn release_idle_memory(&mut self) {
        if !self.queued_since_release || !self.control.is_empty() || self.event_frames > 0 {
            return;
        }
        self.control.shrink_to_fit();
        for lane in &mut self.lanes {
            lane.frames.shrink_to_fit();
        }
        self.lanes.shrink_to_fit();
        self.queued_since_release = false;
    }

    /// Each lane's bound in frames (at least one) and in bytes.
    fn share(&self) -> (usize, usize) {
        let filters = self.lanes.len().max(1);
        ((self.frames_max / filters).max(1), self.bytes_max / filters)
    }

    fn pop_lane_front(&mut self, index: usize, metrics: &Metrics) -> Option<Utf8Bytes> {
        let lane = &mut self.lanes[index];
        let frame = lane.frames.pop_front()?;
        lane.bytes -= frame.len();
        self.event_frames -= 1;
        self.event_bytes -= frame.len();
        metrics.queue_bytes.fetch_sub(frame.len() as i64, Relaxed);
        Some(frame)
    }

    /// Counts `count` frames of lane `index` as dropped (per filter and per
    /// session); the caller counts them in the metrics if nobody else has.
    fn count_dropped(&mut self, index: usize, count: u64) {
        let lane = &mut self.lanes[index];
        lane.dropped_untold += count;
        lane.dropped_total += count;
        self.dropped_total += count;
    }
}

#[cfg(test)]
mod tests;
