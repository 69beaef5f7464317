//! A `/ws` admin session (docs/protocol.md) on its own thread: subscribes,
//! tallies every event frame by event id whatever filter id it carries (a
//! re-issued id still counts), and records everything else the gateway
//! says, and how the session ended.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tungstenite::Message;

use crate::events::Events;
use crate::tally::Tally;

/// A client heartbeat this often: activity for the gateway's idle timeout.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// What the session saw, shared with its thread.
pub struct SessionState {
    pub tally: Tally,
    /// `subscribed` and `subscribe_error` replies, in order.
    pub replies: Mutex<Vec<Value>>,
    /// Frames other than events, replies, hello and heartbeat acks
    /// (`filter_lost`, a re-issued id, `dropped`, `error`, ...).
    pub notices: Mutex<Vec<Value>>,
    /// The close frame's code and reason, if one came.
    pub close: Mutex<Option<(u16, String)>>,
    /// The connection is gone (closed, reset or failed).
    pub ended: AtomicBool,
    /// How it ended, when not by a close frame.
    pub end_error: Mutex<Option<String>>,
}

pub struct Session {
    pub state: Arc<SessionState>,
    requests: Sender<String>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Session {
    pub fn open(address: SocketAddr, events: Arc<Events>) -> anyhow::Result<Self> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let (mut socket, _) = tungstenite::client(format!("ws://{address}/ws"), stream)
            .map_err(|e| anyhow::anyhow!("opening /ws: {e}"))?;
        let hello = socket.read().context("reading hello")?;
        anyhow::ensure!(hello.to_text().unwrap_or("").contains("\"hello\""), "no hello from the gateway: {hello:?}");
        socket.get_mut().set_read_timeout(Some(Duration::from_millis(100)))?;
        let state = Arc::new(SessionState {
            tally: Tally::new(events.len()),
            replies: Mutex::default(),
            notices: Mutex::default(),
            close: Mutex::default(),
            ended: AtomicBool::new(false),
            end_error: Mutex::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (requests, inbox) = std::sync::mpsc::channel();
        let (s, st) = (state.clone(), stop.clone());
        let join = std::thread::spawn(move || run(socket, &s, &events, &inbox, &st));
        Ok(Session { state, requests, stop, join: Some(join) })
    }

    pub fn subscribe(&self, criterion: &str) {
        let message = serde_json::json!({"type": "subscribe", "ref": criterion, "criterion": criterion});
        let _ = self.requests.send(message.to_string());
    }

    /// Waits for `count` subscribe replies; them, or None after `within`.
    pub fn replies(&self, count: usize, within: Duration) -> Option<Vec<Value>> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let replies = self.state.replies.lock().unwrap();
            if replies.len() >= count {
                return Some(replies.clone());
            }
            drop(replies);
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn notices(&self) -> Vec<Value> {
        self.state.notices.lock().unwrap().clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

fn run(
    mut socket: tungstenite::WebSocket<TcpStream>,
    state: &SessionState,
    events: &Events,
    inbox: &Receiver<String>,
    stop: &AtomicBool,
) {
    let mut last_heartbeat = Instant::now();
    let end = |why: String| {
        *state.end_error.lock().unwrap() = Some(why);
        state.ended.store(true, Ordering::Relaxed);
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            let _ = socket.close(None);
            let _ = socket.flush();
            return;
        }
        let mut outgoing: Vec<String> = inbox.try_iter().collect();
        if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            outgoing.push(r#"{"type":"heartbeat"}"#.to_owned());
            last_heartbeat = Instant::now();
        }
        for text in outgoing {
            let _ = socket.send(Message::text(text));
        }
        match socket.read() {
            Ok(Message::Text(text)) => handle(text.as_str(), state, events),
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                *state.close.lock().unwrap() = Some((code, reason));
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed) => return end("closed".to_owned()),
            Err(error) => return end(error.to_string()),
        }
    }
}

fn handle(text: &str, state: &SessionState, events: &Events) {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        state.notices.lock().unwrap().push(Value::String(format!("not JSON: {text}")));
        return;
    };
    match message["type"].as_str().unwrap_or("") {
        "event" => {
            // The event's bytes are forwarded as produced; its id is enough.
            let id = message["event"]["event_id"].as_str().unwrap_or("");
            state.tally.record(events, format!("{{\"event_id\":\"{id}\"}}").as_bytes());
        }
        "subscribed" | "subscribe_error" => state.replies.lock().unwrap().push(message),
        // `stats` (the budget's true counts) says nothing about losses.
        "hello" | "heartbeat_ack" | "stats" => {}
        _ => state.notices.lock().unwrap().push(message),
    }
}

/// 1001 "going away" (RFC 6455 section 7.4.1).
pub const GOING_AWAY: u16 = 1001;
