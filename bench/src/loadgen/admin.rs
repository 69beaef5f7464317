//! Admin sessions on `/ws`: each connects from its own source address,
//! subscribes to one criterion of the mix, then only reads. A few reader
//! threads each own a share of the sessions and wait on them with `mio`
//! (epoll): hundreds of sessions cost a few threads, and a frame is read
//! as soon as it arrives, so the measured latency holds no polling delay.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tungstenite::{Message, WebSocket};

use super::connect::{connect_websocket, source_address};
use super::filter_mix::FilterKind;
use super::stamp::{read_admin_frame, AdminFrame};
use super::stats::{LatencyHistograms, LiveCounters};
use super::LoadgenError;

/// A client heartbeat keeps each session clear of the gateway's idle
/// timeout (45 s by default) on long runs.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// How long `poll` sleeps before checking the stop flag.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Readiness events taken per `poll`.
const POLL_EVENTS_MAX: usize = 1_024;
/// Subscribe errors kept verbatim for the report (the rest are counted).
const ERRORS_KEPT_MAX: usize = 5;
/// Frames read before the `subscribed` reply is given up on.
const SUBSCRIBE_REPLY_FRAMES_MAX: usize = 1_000;

/// One reader thread's sessions.
#[derive(Clone, Debug)]
pub struct ReaderPlan {
    /// The global index of this reader's first session (for source addresses).
    pub first_session: usize,
    /// Each session's criterion and its kind.
    pub criteria: Vec<(FilterKind, String)>,
}

/// What one reader thread measured.
#[derive(Default)]
pub struct ReaderOutcome {
    /// Latency of every frame it read.
    pub histograms: LatencyHistograms,
    /// Subscribed sessions per filter kind.
    pub sessions_by_kind: BTreeMap<&'static str, u64>,
    /// The first few reasons a session failed.
    pub errors: Vec<String>,
}

/// A subscribed session.
struct Session {
    websocket: WebSocket<TcpStream>,
}

/// Connects and subscribes every session of `plan` (counting each in
/// `setup_done`), then reads until `stop`.
pub fn run_admin_reader(
    gateway: SocketAddr,
    path_and_query: &str,
    source_addresses: u8,
    plan: &ReaderPlan,
    counters: &LiveCounters,
    setup_done: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<ReaderOutcome, LoadgenError> {
    let mut outcome = ReaderOutcome::default();
    let mut poll = Poll::new().map_err(LoadgenError::Io)?;
    let mut sessions: Vec<Option<Session>> = Vec::with_capacity(plan.criteria.len());
    for (offset, (kind, criterion)) in plan.criteria.iter().enumerate() {
        let source = source_address(plan.first_session + offset, source_addresses);
        match open_session(counters, gateway, source, path_and_query, criterion, &mut outcome.histograms) {
            Ok(websocket) => {
                websocket.get_ref().set_nonblocking(true).map_err(LoadgenError::Io)?;
                let fd = websocket.get_ref().as_raw_fd();
                poll.registry()
                    .register(&mut SourceFd(&fd), Token(sessions.len()), Interest::READABLE)
                    .map_err(LoadgenError::Io)?;
                let mut session = Session { websocket };
                // The handshake's reads may have buffered frames already:
                // edge-triggered readiness would not report them again.
                drain_session(&mut session, counters, &mut outcome.histograms);
                sessions.push(Some(session));
                *outcome.sessions_by_kind.entry(kind.name()).or_default() += 1;
                counters.sessions_subscribed.fetch_add(1, Relaxed);
            }
            Err(error) => {
                counters.sessions_failed.fetch_add(1, Relaxed);
                if outcome.errors.len() < ERRORS_KEPT_MAX {
                    outcome.errors.push(format!("{criterion}: {error}"));
                }
            }
        }
        setup_done.fetch_add(1, Relaxed);
    }

    let mut events = Events::with_capacity(POLL_EVENTS_MAX);
    let mut last_heartbeat = Instant::now();
    while !stop.load(Relaxed) {
        if let Err(error) = poll.poll(&mut events, Some(POLL_TIMEOUT)) {
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(LoadgenError::Io(error));
        }
        for event in events.iter() {
            let slot = event.token().0;
            let Some(session) = sessions.get_mut(slot).and_then(Option::as_mut) else { continue };
            if !drain_session(session, counters, &mut outcome.histograms) {
                let fd = session.websocket.get_ref().as_raw_fd();
                let _ = poll.registry().deregister(&mut SourceFd(&fd));
                sessions[slot] = None;
                counters.sessions_closed_by_gateway.fetch_add(1, Relaxed);
            }
        }
        if last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
            last_heartbeat = Instant::now();
            for session in sessions.iter_mut().flatten() {
                let _ = session.websocket.write(Message::text(r#"{"type":"heartbeat"}"#));
                let _ = session.websocket.flush();
            }
        }
    }
    // Closing lets the gateway delete each session's filter row at once.
    for session in sessions.iter_mut().flatten() {
        let _ = session.websocket.close(None);
        let _ = session.websocket.flush();
    }
    Ok(outcome)
}

/// Connects, reads `hello`, subscribes and waits for `subscribed`.
fn open_session(
    counters: &LiveCounters,
    gateway: SocketAddr,
    source: std::net::Ipv4Addr,
    path_and_query: &str,
    criterion: &str,
    histograms: &mut LatencyHistograms,
) -> Result<WebSocket<TcpStream>, LoadgenError> {
    let mut websocket = connect_websocket(source, gateway, path_and_query)?;
    let subscribe = serde_json::json!({"type": "subscribe", "ref": "loadgen", "criterion": criterion});
    websocket.send(Message::text(subscribe.to_string())).map_err(LoadgenError::from)?;
    for _ in 0..SUBSCRIBE_REPLY_FRAMES_MAX {
        match websocket.read().map_err(LoadgenError::from)? {
            Message::Text(text) => match read_admin_frame(text.as_bytes()) {
                AdminFrame::Subscribed => {
                    counters.replies_received.fetch_add(1, Relaxed);
                    return Ok(websocket);
                }
                AdminFrame::SubscribeError(message) => return Err(LoadgenError::SubscribeRefused { message }),
                AdminFrame::Event(times) => {
                    histograms.record_now(&times);
                    counters.frames_received.fetch_add(1, Relaxed);
                }
                AdminFrame::Dropped { .. } | AdminFrame::Other => {
                    counters.replies_received.fetch_add(1, Relaxed);
                }
            },
            Message::Close(frame) => {
                let reason = frame.map(|frame| frame.reason.to_string()).unwrap_or_default();
                return Err(LoadgenError::ClosedByGateway { reason });
            }
            _ => {}
        }
    }
    Err(LoadgenError::SubscribeRefused { message: "no `subscribed` reply".into() })
}

/// Reads every frame available on a non-blocking session (mio is
/// edge-triggered: readiness is reported once per arrival, so the socket
/// must be read until it would block). False when the session has ended.
fn drain_session(session: &mut Session, counters: &LiveCounters, histograms: &mut LatencyHistograms) -> bool {
    let (mut frames, mut replies, mut dropped) = (0u64, 0u64, 0u64);
    let open = loop {
        match session.websocket.read() {
            Ok(Message::Text(text)) => match read_admin_frame(text.as_bytes()) {
                AdminFrame::Event(times) => {
                    histograms.record_now(&times);
                    frames += 1;
                }
                AdminFrame::Dropped { count } => {
                    dropped += count;
                    replies += 1;
                }
                _ => replies += 1,
            },
            Ok(Message::Close(_)) => break false,
            Ok(_) => {}
            Err(tungstenite::Error::Io(error)) if error.kind() == ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    counters.frames_received.fetch_add(frames, Relaxed);
    counters.replies_received.fetch_add(replies, Relaxed);
    counters.frames_dropped_reported.fetch_add(dropped, Relaxed);
    // Sends the pongs tungstenite queued for the gateway's pings.
    let _ = session.websocket.flush();
    open
}
