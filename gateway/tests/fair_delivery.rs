//! Fair delivery per filter (issue 12, item 2): a filter that floods a slow
//! reader must not starve the quiet filters of the same session, and the
//! `dropped` frames must say which filter lost frames.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::worker::WorkerConfig;
use common::{config, Client, Node};
use serde_json::Value;
use tungstenite::Message as WsMessage;

/// Raw events produced per round, and the pause between rounds: about
/// 3,000 events/s, far more than the slow reader takes.
const EVENTS_PER_ROUND: usize = 100;
const ROUNDS: usize = 90;
const ROUND_PAUSE: Duration = Duration::from_millis(33);
/// One raw event in this many is `u-7`'s: 225 of the 9,000.
const QUIET_EVERY: usize = 40;
/// The slow reader's pause after each frame: at most 1,000 frames/s, well
/// above `u-7`'s 75 matches/s and well below `*`'s 3,000.
const READ_PAUSE: Duration = Duration::from_millis(1);
/// The slow reader's kernel receive buffer (Linux doubles it), so that the
/// backlog sits in the gateway's queue rather than in the client's kernel.
const RECEIVE_BUFFER_BYTES: usize = 16 * 1024;
/// Once production is over, this much silence means nothing more is queued
/// (only reached when a match went missing; a passing run stops at the last one).
const SILENCE: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(90);

/// What a session read: the `n` of each `u-7` event, the `*` events, and
/// every `dropped` frame.
#[derive(Default)]
struct Seen {
    quiet: Vec<u64>,
    star_events: u64,
    dropped: Vec<Value>,
}

fn quiet_count() -> u64 {
    (EVENTS_PER_ROUND * ROUNDS / QUIET_EVERY) as u64
}

/// An admin session over a socket with a small receive buffer.
fn admin_with_small_receive_buffer(node: &Node) -> Client {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES).unwrap();
    socket.connect(&node.address().into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let url = format!("ws://{}/ws", node.address());
    let (socket, _) = tungstenite::client(url, stream).unwrap_or_else(|error| panic!("handshake: {error}"));
    let mut client = Client { socket };
    assert_eq!(client.next_json()["type"], "hello");
    client
}

/// Reads `client` until the last `u-7` match arrives, or production is over
/// and the socket has been silent for [`SILENCE`]; pauses after each frame
/// when `slow`.
fn read_session(mut client: Client, star: Option<u64>, quiet: u64, produced: Arc<AtomicBool>, slow: bool) -> Seen {
    let mut seen = Seen::default();
    let started = Instant::now();
    let mut last_frame = Instant::now();
    let last_quiet = quiet_count() - 1;
    loop {
        assert!(started.elapsed() < DEADLINE, "read for {DEADLINE:?} without the last u-7 match");
        let text = match client.socket.read() {
            Ok(WsMessage::Text(text)) => text,
            Ok(WsMessage::Close(frame)) => panic!("session closed: {frame:?}"),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                if produced.load(Relaxed) && last_frame.elapsed() >= SILENCE {
                    return seen;
                }
                continue;
            }
            Err(error) => panic!("read failed: {error}"),
        };
        last_frame = Instant::now();
        let frame: Value = serde_json::from_str(&text).unwrap();
        match frame["type"].as_str() {
            Some("event") if frame["filter"] == quiet => {
                let n = frame["event"]["n"].as_u64().unwrap();
                seen.quiet.push(n);
                if n == last_quiet {
                    return seen;
                }
            }
            Some("event") if star.is_some_and(|star| frame["filter"] == star) => seen.star_events += 1,
            Some("dropped") => seen.dropped.push(frame),
            // A filter's true counts, once a second (budgets, issue 12 item 1).
            Some("stats") => {}
            _ => panic!("unexpected frame {frame}"),
        }
        if slow {
            std::thread::sleep(READ_PAUSE);
        }
    }
}

#[test]
fn a_quiet_filter_gets_every_match_while_another_filter_of_its_session_floods() {
    let mut config = config();
    config.session_queue_frames_max = 512;
    config.session_queue_bytes_max = 1024 * 1024;
    // The slow reader takes bytes all along; it is never stalled.
    config.stalled_reader_ms = 60_000;
    // No match budget: `*` must flood the reader at the full raw rate.
    let workers = WorkerConfig { threads: 1, session_filter_rate_max_per_s: 0, ..WorkerConfig::default() };
    let node = Node::start_with_workers(config, workers);
    let mut mixed = admin_with_small_receive_buffer(&node);
    let star = mixed.subscribe("*");
    let mixed_quiet = mixed.subscribe(r#"user.id == "u-7""#);
    let mut alone = node.admin("", &[]).unwrap();
    let alone_quiet = alone.subscribe(r#"user.id == "u-7""#);
    node.wait_live(&[star, mixed_quiet, alone_quiet]);

    let produced = Arc::new(AtomicBool::new(false));
    let mixed_reader = {
        let produced = produced.clone();
        std::thread::spawn(move || read_session(mixed, Some(star), mixed_quiet, produced, true))
    };
    let alone_reader = {
        let produced = produced.clone();
        std::thread::spawn(move || read_session(alone, None, alone_quiet, produced, false))
    };
    let padding = "p".repeat(2_000);
    let mut quiet_n = 0;
    for round in 0..ROUNDS {
        let batch: Vec<String> = (0..EVENTS_PER_ROUND)
            .map(|index| {
                if (round * EVENTS_PER_ROUND + index) % QUIET_EVERY == QUIET_EVERY - 1 {
                    quiet_n += 1;
                    format!(r#"{{"user":{{"id":"u-7"}},"n":{},"pad":"{padding}"}}"#, quiet_n - 1)
                } else {
                    format!(r#"{{"user":{{"id":"u-{}"}},"pad":"{padding}"}}"#, 100 + index)
                }
            })
            .collect();
        node.produce(&batch.iter().map(String::as_str).collect::<Vec<_>>());
        std::thread::sleep(ROUND_PAUSE);
    }
    produced.store(true, Relaxed);
    let alone_seen = alone_reader.join().unwrap();
    let mixed_seen = mixed_reader.join().unwrap();

    eprintln!(
        "flooded session: {} of {} u-7 matches, {} `*` events, {} dropped frames",
        mixed_seen.quiet.len(),
        quiet_count(),
        mixed_seen.star_events,
        mixed_seen.dropped.len()
    );
    let every_match: Vec<u64> = (0..quiet_count()).collect();
    assert_eq!(alone_seen.quiet, every_match, "the u-7-only session missed matches");
    assert_eq!(
        mixed_seen.quiet.len(),
        every_match.len(),
        "the flooded session got {} of {} u-7 matches ({} `*` events, dropped frames {:?})",
        mixed_seen.quiet.len(),
        every_match.len(),
        mixed_seen.star_events,
        mixed_seen.dropped.iter().take(3).collect::<Vec<_>>(),
    );
    assert_eq!(mixed_seen.quiet, alone_seen.quiet);
    assert!(!mixed_seen.dropped.is_empty(), "the flood never overflowed the slow reader ({} `*` events)", {
        mixed_seen.star_events
    });
    for frame in &mixed_seen.dropped {
        assert_eq!(frame["filter"], star, "a dropped frame that does not name `*`: {frame}");
    }
    // The counts add up to the filter's total, and `*` lost what it did not deliver.
    let counted: u64 = mixed_seen.dropped.iter().map(|frame| frame["count"].as_u64().unwrap()).sum();
    let last = mixed_seen.dropped.last().unwrap();
    assert_eq!(last["total"].as_u64().unwrap(), counted, "{last}");
    assert!(mixed_seen.star_events + counted <= (EVENTS_PER_ROUND * ROUNDS) as u64);
}
