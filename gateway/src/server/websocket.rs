//! One WebSocket connection on an event loop: reading messages, writing the
//! outbound queue without unbounded buffering, pings, and closing with a
//! reason (RFC 6455 section 7).

use std::io::ErrorKind;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::{Bytes, Message, Utf8Bytes, WebSocket};

use super::outbound::Outbound;
use super::session_stream::{SessionStream, FRAMES_PER_WRITE};
use crate::Metrics;

/// Bytes handed to the socket in one batch. Together with the outbound
/// queue this bounds a session's memory: what the socket refuses of a batch
/// (kept in [`SessionStream`]) is never more than this plus one frame.
pub const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// How long a closing connection may take to finish the close handshake
/// (section 7.1.1) before the socket is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Open,
    /// A close frame was queued at this instant; waiting for the peer's.
    Closing(Instant),
    /// Nothing more to do: drop the socket.
    Done,
}

pub struct WsConnection {
    /// tungstenite over the non-blocking socket: reads, control frames and
    /// the close handshake (text frames are written by [`SessionStream`]).
    pub ws: WebSocket<SessionStream>,
    /// Frames waiting for the socket (bounded).
    pub outbound: Outbound,
    /// Open, closing or done.
    pub phase: Phase,
    /// When a frame (any kind, pongs included) last arrived.
    pub last_heard: Instant,
    /// When the gateway last sent a ping.
    pub last_ping: Instant,
    /// Since when tungstenite has held unflushed bytes the socket refused.
    pub blocked_since: Option<Instant>,
    /// Ingest batches handed to the producer thread and not yet answered
    /// (ingest sessions only); a drain closes the session once it is 0.
    pub batches_in_flight: usize,
    /// Frames were written since the queues' room was last handed back:
    /// the timer looks no further into sessions that stayed idle (their
    /// queues and socket buffers are other cache lines).
    pub memory_to_release: bool,
}

/// What the reader got from the socket this round.
pub enum Incoming {
    Text(Utf8Bytes),
    /// The socket has nothing more for now.
    Drained,
}

impl WsConnection {
    pub fn new(ws: WebSocket<SessionStream>, outbound: Outbound, now: Instant) -> Self {
        WsConnection {
            ws,
            outbound,
            phase: Phase::Open,
            last_heard: now,
            last_ping: now,
            blocked_since: None,
            batches_in_flight: 0,
            memory_to_release: false,
        }
    }

    /// Reads the next text message. Control frames are answered by
    /// tungstenite (a ping's pong is queued, section 5.5.2) and only
    /// refresh `last_heard`; binary messages are refused with 1003
    /// (section 7.4.1: a type the endpoint cannot accept).
    pub fn read(&mut self, now: Instant) -> Incoming {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    self.last_heard = now;
                    return Incoming::Text(text);
                }
                Ok(Message::Binary(_)) => {
                    self.close(CloseCode::Unsupported, "binary messages are not accepted", now);
                    return Incoming::Drained;
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => self.last_heard = now,
                Ok(Message::Close(_)) => {
                    // tungstenite queued the reply close frame; flush it, then drop.
                    self.last_heard = now;
                    let _ = self.ws.flush();
                    self.phase = Phase::Done;
                    return Incoming::Drained;
                }
                Err(tungstenite::Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {
                    return Incoming::Drained
                }
                Err(tungstenite::Error::Capacity(error)) => {
                    self.close(CloseCode::Size, "message too big", now);
                    tracing::debug!(%error, "websocket: message over the size limit");
                    return Incoming::Drained;
                }
                Err(tungstenite::Error::Protocol(error)) => {
                    tracing::debug!(%error, "websocket: protocol error");
                    self.close(CloseCode::Protocol, "protocol error", now);
                    return Incoming::Drained;
                }
                Err(tungstenite::Error::Utf8(_)) => {
                    self.close(CloseCode::Invalid, "text frame is not UTF-8", now);
                    return Incoming::Drained;
                }
                Err(_) => {
                    // Closed, reset, or already closing: nothing left to read.
                    self.phase = Phase::Done;
                    return Incoming::Drained;
                }
            }
        }
    }

    /// Writes queued frames until the socket refuses more. Returns how many
    /// frames were handed over. `batch` is the loop's scratch list (empty
    /// on entry and on return).
    pub fn pump(&mut self, metrics: &Metrics, now: Instant, batch: &mut Vec<Utf8Bytes>) -> usize {
        let mut written = 0;
        if self.phase == Phase::Open && self.outbound.control_overflowed() {
            // Replies are never dropped: a client that does not read them
            // loses the session instead (see outbound.rs).
            metrics.stalled_closed_total.fetch_add(1, Relaxed);
            self.discard_queue(metrics);
            self.close(CloseCode::Policy, "reader stalled: replies were not read", now);
        }
        loop {
            // tungstenite's control frames and the bytes the socket refused
            // last time go first.
            match self.ws.flush() {
                Ok(()) => self.blocked_since = None,
                Err(tungstenite::Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => {
                    self.blocked_since.get_or_insert(now);
                    return written;
                }
                Err(_) => {
                    self.phase = Phase::Done;
                    return written;
                }
            }
            if self.phase != Phase::Open || !self.ws.can_write() {
                return written;
            }
            let mut batch_bytes = 0;
            while batch_bytes < WRITE_BATCH_BYTES && batch.len() < FRAMES_PER_WRITE {
                let Some(frame) = self.outbound.pop(metrics) else { break };
                batch_bytes += frame.len();
                batch.push(frame);
            }
            if batch.is_empty() {
                return written;
            }
            written += batch.len();
            self.memory_to_release = true;
            let sent = self.ws.get_mut().write_text_frames(batch);
            batch.clear();
            if sent.is_err() {
                self.phase = Phase::Done;
                return written;
            }
            if self.ws.get_ref().has_unsent() {
                self.blocked_since.get_or_insert(now);
                return written;
            }
        }
    }

    /// Frees the buffers an idle session no longer needs (called on the
    /// loop's timer, so a busy session keeps them between bursts).
    pub fn release_idle_memory(&mut self) {
        if self.memory_to_release && !self.ws.get_ref().has_unsent() {
            self.outbound.release_idle_memory();
            self.memory_to_release = false;
        }
    }

    /// Sends a ping when the peer has been quiet for `interval`.
    /// Returns whether a ping was queued (it needs a flush).
    pub fn ping_if_quiet(&mut self, interval: Duration, now: Instant) -> bool {
        if self.phase == Phase::Open
            && now.duration_since(self.last_heard) >= interval
            && now.duration_since(self.last_ping) >= interval
        {
            self.last_ping = now;
            let _ = self.ws.write(Message::Ping(Bytes::new()));
            return true;
        }
        false
    }

    /// Starts the closing handshake with `code` and `reason` (section 7.1.2);
    /// queued frames are discarded, the reason is what the client sees.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) {
        if self.phase != Phase::Open {
            return;
        }
        let frame = CloseFrame { code, reason: Utf8Bytes::from(reason.to_owned()) };
        self.phase = match self.ws.close(Some(frame)) {
            Ok(()) => Phase::Closing(now),
            Err(tungstenite::Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => Phase::Closing(now),
            Err(_) => Phase::Done,
        };
        let _ = self.ws.flush();
    }

    pub fn discard_queue(&mut self, metrics: &Metrics) {
        self.outbound.clear(metrics);
    }

    /// Closes the connection when a timer ran out (stalled reader, idle peer, close grace).
    pub fn check_timers(&mut self, idle_timeout: Duration, stalled_reader: Duration, metrics: &Metrics, now: Instant) {
        match self.phase {
            Phase::Closing(since) if now.duration_since(since) >= CLOSE_GRACE => self.phase = Phase::Done,
            Phase::Open => {
                if self.blocked_since.is_some_and(|since| now.duration_since(since) >= stalled_reader) {
                    metrics.stalled_closed_total.fetch_add(1, Relaxed);
                    self.discard_queue(metrics);
                    // The close frame waits behind what the socket already
                    // holds; if the reader does not resume within the grace
                    // period, the socket is dropped without it.
                    self.close(CloseCode::Policy, "reader stalled: frames were not read in time", now);
                } else if now.duration_since(self.last_heard) >= idle_timeout {
                    metrics.idle_closed_total.fetch_add(1, Relaxed);
                    self.close(CloseCode::Away, "idle timeout: no frame or pong received", now);
                }
            }
            _ => {}
        }
    }
}
