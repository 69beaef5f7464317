//! One admin session must not stall the others of its event loop: a flood
//! of subscribes with regexes that take tens of milliseconds each to
//! compile, sent without waiting for replies, while another session on the
//! same loop measures its heartbeat round trips.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clicktail_engine::language::parse_filter;
use common::{config, Node};
use serde_json::{json, Value};
use tungstenite::Message as WsMessage;

/// Subscribes the flooding session sends in one go.
const FLOOD: usize = 200;
/// How often the other session sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(5);
/// The issue's bound on the other sessions' heartbeat p99.
const P99_BOUND: Duration = Duration::from_millis(50);

/// A criterion whose regex is slow to compile yet well under the regex
/// size bound (about 1 MB compiled of the 10 MiB allowed); `n` makes each
/// one distinct, so no cache anywhere could hide the cost.
fn heavy_criterion(n: usize) -> String {
    format!(r#"page.title matches "(\\w+\\s+){{20}}n{n}""#)
}

/// The median time to parse (and so compile) a heavy criterion here.
fn compile_time() -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|n| {
            let start = Instant::now();
            parse_filter(&heavy_criterion(n)).expect("the heavy criterion is a valid filter");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[1]
}

#[test]
fn a_subscribe_flood_does_not_stall_heartbeats_of_other_sessions() {
    let compile = compile_time();
    // What the flood costs if it is compiled on the loop, and what the other
    // session may wait: the issue's 50 ms, or half a compile on a machine so
    // loaded that one compile takes over 100 ms (the old code made every
    // heartbeat wait for up to FLOOD compiles).
    let bound = P99_BOUND.max(compile / 2);
    eprintln!("one heavy criterion compiles in {compile:?}; {FLOOD} of them: {:?}", compile * FLOOD as u32);

    let mut config = config();
    config.event_loops = 1;
    // No gateway pings: the heartbeat session's reader must only see acks.
    config.ping_interval_ms = 600_000;
    // A stalled loop must show as slow acks, not as sessions closed idle.
    config.idle_timeout_ms = 600_000;
    let node = Node::start(config);
    let mut flooder = node.admin("", &[]).unwrap();
    flooder.socket.get_ref().set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let watcher = node.admin("", &[]).unwrap();

    // The watcher writes heartbeats on a clock from one thread (raw masked
    // frames on a clone of the socket) and reads acks on another, so a
    // stalled loop shows as the whole wait of every heartbeat sent meanwhile.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (sent, stop) = (sent.clone(), stop.clone());
        let mut stream: TcpStream = watcher.socket.get_ref().try_clone().unwrap();
        thread::spawn(move || {
            let payload = br#"{"type":"heartbeat"}"#;
            // RFC 6455 section 5.2: FIN + text, masked, a zero masking key.
            let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
            frame.extend_from_slice(payload);
            let mut next = Instant::now();
            while !stop.load(Relaxed) {
                sent.lock().unwrap().push(Instant::now());
                stream.write_all(&frame).unwrap();
                next += HEARTBEAT_EVERY;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            // One more, whose ack ends the reader's last blocking read.
            sent.lock().unwrap().push(Instant::now());
            stream.write_all(&frame).unwrap();
        })
    };
    let reader = {
        let mut socket = watcher.socket;
        socket.get_ref().set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut acked = Vec::new();
            while !stop.load(Relaxed) {
                match socket.read() {
                    Ok(WsMessage::Text(text)) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(frame["type"], "heartbeat_ack", "{frame}");
                        acked.push(Instant::now());
                    }
                    Ok(_) => {}
                    Err(error) => panic!("the heartbeat session failed: {error}"),
                }
            }
            acked
        })
    };
    // Let the watcher settle into its rhythm before the flood.
    while sent.lock().unwrap().len() < 20 {
        thread::sleep(HEARTBEAT_EVERY);
    }

    let flood_start = Instant::now();
    for n in 0..FLOOD {
        let subscribe = json!({"type": "subscribe", "ref": n.to_string(), "criterion": heavy_criterion(n)});
        flooder.socket.write(WsMessage::Text(subscribe.to_string().into())).unwrap();
    }
    flooder.socket.flush().unwrap();
    let (mut subscribed, mut in_flight, mut other) = (0, 0, Vec::new());
    for _ in 0..FLOOD {
        let reply = flooder.next_json();
        match reply["type"].as_str() {
            Some("subscribed") => subscribed += 1,
            Some("subscribe_error") if reply["message"].as_str().unwrap().contains("in flight") => in_flight += 1,
            _ => other.push(reply),
        }
    }
    let flood_answered = flood_start.elapsed();
    // Keep measuring while the registered filters are being compiled, and
    // long enough for a sample of heartbeats: on an idle machine a compile
    // took 9 ms and the whole flood was answered in a few heartbeats.
    thread::sleep((compile * 4).max(Duration::from_millis(500)));
    let window_end = Instant::now();
    stop.store(true, Relaxed);
    writer.join().unwrap();

    let sent = sent.lock().unwrap().clone();
    let acked = reader.join().unwrap();
    let mut waits: Vec<Duration> = sent
        .iter()
        .zip(&acked)
        .filter(|(at, _)| **at >= flood_start && **at <= window_end)
        .map(|(sent, acked)| acked.duration_since(*sent))
        .collect();
    waits.sort();
    assert!(waits.len() >= 20, "only {} heartbeats during the flood", waits.len());
    let p99 = waits[(waits.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "flood answered in {flood_answered:?}: {subscribed} subscribed, {in_flight} refused as in flight; \
         {} heartbeats meanwhile: p50 {:?}, p99 {p99:?}, max {:?} (bound {bound:?})",
        waits.len(),
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );
    assert!(p99 <= bound, "heartbeat p99 {p99:?} during the flood is over {bound:?}");
    // The flood itself got an answer per subscribe, within the session's bounds.
    assert_eq!(other, Vec::<Value>::new(), "replies to the flood other than subscribed or in flight");
    assert_eq!(subscribed + in_flight, FLOOD);
    assert!((4..=16).contains(&subscribed), "{subscribed} subscribed");
    drop(flooder);
}

#[test]
fn a_refused_subscribe_frees_its_in_flight_slot() {
    let mut config = config();
    config.session_subscribes_in_flight_max = 1;
    let node = Node::start(config);
    let mut client = node.admin("", &[]).unwrap();
    // Refused by the control thread (the parser), with the column as before.
    client.send_json(json!({"type": "subscribe", "ref": "bad", "criterion": "type == "}));
    let reply = client.next_json();
    assert_eq!(reply, json!({"type": "subscribe_error", "ref": "bad", "message": reply["message"], "column": 9}));
    client.subscribe("*");
    client.subscribe(r#"type == "booking""#);
    assert_eq!(node.filter_rows(), 2);
}
