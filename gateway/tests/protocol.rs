//! The `/ws` and `/ingest` protocols against a running node (in-memory log
//! and registry, real workers): admission, limits, slow readers, delivery.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use clicktail_engine::log::{Log, Record};
use clicktail_engine::registry::Registry;
use common::{config, http, Node};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message as WsMessage;

fn refused_status(result: Result<common::Client, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the upgrade succeeded"),
    }
}

#[test]
fn wrong_origin_is_refused_and_own_origin_accepted() {
    let node = Node::start(config());
    let own = format!("http://{}", node.address());
    assert_eq!(refused_status(node.admin("", &[("Origin", "http://evil.example")])), 403);
    assert_eq!(node.metrics().origin_refused_total.load(Relaxed), 1);
    node.admin("", &[("Origin", own.as_str())]).unwrap();
}

#[test]
fn allowlisted_origin_is_accepted() {
    let mut config = config();
    config.allowed_origins = vec!["https://admin.example".into()];
    let node = Node::start(config);
    node.admin("", &[("Origin", "https://admin.example")]).unwrap();
    assert_eq!(refused_status(node.admin("", &[("Origin", "https://other.example")])), 403);
}

#[test]
fn missing_or_wrong_token_is_refused() {
    let mut config = config();
    config.no_admin_token = false;
    config.admin_token = Some("s3cret".into());
    let node = Node::start(config);
    assert_eq!(refused_status(node.admin("", &[])), 401);
    assert_eq!(refused_status(node.admin("?token=nope", &[])), 401);
    node.admin("?token=s3cret", &[]).unwrap();
    assert_eq!(node.metrics().token_refused_total.load(Relaxed), 2);
}

#[test]
fn a_token_is_required_unless_turned_off() {
    let mut config = config();
    config.no_admin_token = false;
    let error = Node::try_start_gateway_only(config);
    assert!(error.contains("admin token is required"), "{error}");
}

#[test]
fn oversized_frame_closes_with_1009() {
    let mut config = config();
    config.admin_message_bytes_max = 1024;
    let node = Node::start(config);
    let mut client = node.admin("", &[]).unwrap();
    let criterion = "x".repeat(2_000);
    client.send_json(json!({"type": "subscribe", "criterion": criterion}));
    let code = loop {
        match client.socket.read() {
            Ok(WsMessage::Close(Some(frame))) => break frame.code,
            Ok(_) => continue,
            Err(error) => panic!("no close frame: {error}"),
        }
    };
    assert_eq!(code, CloseCode::Size);
    assert_eq!(node.filter_rows(), 0);
}

#[test]
fn malformed_subscribe_messages_register_nothing() {
    let node = Node::start(config());
    let mut client = node.admin("", &[]).unwrap();
    for text in
        ["not json", "{}", r#"{"type":"subscribe"}"#, r#"{"type":"subscribe","criterion":7}"#, r#"{"type":"nope"}"#]
    {
        client.send_text(text);
        let reply = client.next_json();
        assert_eq!(reply["type"], "error", "{text}: {reply}");
        assert!(reply["message"].as_str().unwrap().starts_with("malformed message"), "{reply}");
    }
    // A criterion that does not parse: the message and the column (FILTERS.md, 1-based).
    client.send_json(json!({"type": "subscribe", "ref": "q1", "criterion": "type == "}));
    let reply = client.next_json();
    assert_eq!(reply["type"], "subscribe_error", "{reply}");
    assert_eq!(reply["ref"], "q1");
    assert_eq!(reply["column"], 9, "{reply}");
    client.send_json(json!({"type": "subscribe", "criterion": "a matches \"(\""}));
    let reply = client.next_json();
    assert_eq!(reply["type"], "subscribe_error", "{reply}");
    assert!(reply["column"].as_u64().is_some(), "{reply}");
    client.send_json(json!({"type": "unsubscribe", "filter": 12345}));
    assert_eq!(client.next_json()["type"], "error");
    // Still usable after all that, and nothing was registered.
    client.send_json(json!({"type": "heartbeat"}));
    assert_eq!(client.next_json()["type"], "heartbeat_ack");
    assert_eq!(node.filter_rows(), 0);
}

#[test]
fn delivers_matching_events_only_and_unsubscribes() {
    let node = Node::start(config());
    let mut client = node.admin("", &[]).unwrap();
    let bookings = client.subscribe(r#"type == "booking""#);
    let user = client.subscribe(r#"user.id == "u-7""#);
    assert_ne!(bookings, user);
    assert_eq!(node.filter_rows(), 2);
    node.wait_live(&[bookings, user]);
    node.produce(&[
        r#"{"type":"click","user":{"id":"u-1"}}"#,
        r#"{"type":"booking","user":{"id":"u-2"},"n":1}"#,
        r#"{"type":"click","user":{"id":"u-7"},"n":2}"#,
        "not json",
    ]);
    let mut got: Vec<(u64, i64)> = (0..2)
        .map(|_| {
            let frame = client.next_json();
            assert_eq!(frame["type"], "event", "{frame}");
            assert_eq!(frame["topic"], common::RAW, "the source topic: {frame}");
            assert!(frame["ts_ms"].as_i64().unwrap() > 0);
            (frame["filter"].as_u64().unwrap(), frame["event"]["n"].as_i64().unwrap())
        })
        .collect();
    got.sort();
    let mut want = vec![(bookings, 1), (user, 2)];
    want.sort();
    assert_eq!(got, want);
    client.send_json(json!({"type": "unsubscribe", "filter": user}));
    assert_eq!(client.next_json(), json!({"type": "unsubscribed", "filter": user}));
    node.wait_for("the row to be deleted", |node| node.filter_rows() == 1);
}

/// Reads frames until `history_done`: returns the event frames before it and it.
fn until_history_done(client: &mut common::Client) -> (Vec<Value>, Value) {
    let mut events = Vec::new();
    loop {
        let frame = client.next_json();
        match frame["type"].as_str() {
            Some("history_done") => return (events, frame),
            Some("event") => events.push(frame),
            _ => panic!("unexpected frame before history_done: {frame}"),
        }
    }
}

#[test]
fn history_replays_the_newest_matches_then_history_done() {
    let node = Node::start(config());
    node.produce(&[r#"{"k":1}"#, r#"{"k":2}"#, r#"{"k":3}"#, r#"{"j":4}"#, r#"{"k":5}"#, r#"{"k":6}"#]);
    // Once the workers have read every event, the new filter cannot match
    // them live: every `exists(k)` frame below is from history, which the
    // workers scan from the raw log (the gateway reads only the filtered topic).
    node.wait_for("the workers to read every event", |node| node.worker_events_read() >= node.produced());
    let mut client = node.admin("", &[]).unwrap();
    client.send_json(json!({"type": "subscribe", "criterion": "exists(k)", "history": 2}));
    let reply = client.next_json();
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(reply["history"], 2);
    let filter = reply["filter"].as_u64().unwrap();
    let (replayed, done) = until_history_done(&mut client);
    assert!(replayed.iter().all(|frame| frame["history"] == true), "{replayed:?}");
    let ks: Vec<i64> = replayed.iter().map(|frame| frame["event"]["k"].as_i64().unwrap()).collect();
    assert_eq!(ks, [5, 6], "the newest two matches, oldest first");
    assert_eq!(
        done,
        json!({"type": "history_done", "filter": filter, "events_scanned": 6, "matches": 2, "complete": true})
    );
    // Live matches follow, without the history mark.
    node.produce(&[r#"{"k":7}"#]);
    let live = client.next_json();
    assert_eq!((live["event"]["k"].as_i64(), live.get("history")), (Some(7), None), "{live}");
}

#[test]
fn since_ms_replays_every_match_since_then_and_live_follows_without_a_seam() {
    let node = Node::start(config());
    node.produce(&[r#"{"k":0}"#]);
    // Strictly after `k: 0`'s timestamp, strictly before the next events'.
    let since_ms = clicktail_engine::clock::now_ms() + 1;
    node.wait_for("a millisecond past since_ms", |_| clicktail_engine::clock::now_ms() > since_ms);
    node.produce(&[r#"{"k":1}"#, r#"{"j":2}"#, r#"{"k":3}"#]);
    node.wait_for("the workers to read every event", |node| node.worker_events_read() >= node.produced());
    let mut client = node.admin("", &[]).unwrap();
    client.send_json(json!({"type": "subscribe", "criterion": "exists(k)", "since_ms": since_ms}));
    let reply = client.next_json();
    assert_eq!(reply["type"], "subscribed", "{reply}");
    let filter = reply["filter"].as_u64().unwrap();
    let (replayed, done) = until_history_done(&mut client);
    let ks: Vec<i64> = replayed.iter().map(|frame| frame["event"]["k"].as_i64().unwrap()).collect();
    assert_eq!(ks, [1, 3], "every match since since_ms, none before");
    assert_eq!(
        done,
        json!({"type": "history_done", "filter": filter, "events_scanned": 3, "matches": 2, "complete": true})
    );
    node.produce(&[r#"{"k":4}"#]);
    let live = client.next_json();
    assert_eq!((live["event"]["k"].as_i64(), live.get("history")), (Some(4), None), "{live}");
}

#[test]
fn abrupt_disconnect_deletes_the_filters() {
    let node = Node::start(config());
    let mut client = node.admin("", &[]).unwrap();
    client.subscribe("*");
    client.subscribe(r#"type == "x""#);
    assert_eq!(node.filter_rows(), 2);
    // No close frame: drop the TCP connection under the WebSocket.
    let stream = client.socket.get_ref().try_clone().unwrap();
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(client);
    node.wait_for("filters of the lost session to be deleted", |node| node.filter_rows() == 0);
    node.wait_for("the session gauge to drop", |node| node.metrics().admin_sessions_open.load(Relaxed) == 0);
}

#[test]
fn filter_limit_per_session() {
    let mut config = config();
    config.session_filters_max = 2;
    let node = Node::start(config);
    let mut client = node.admin("", &[]).unwrap();
    client.subscribe("*");
    client.subscribe("a == 1");
    client.send_json(json!({"type": "subscribe", "criterion": "b == 1"}));
    let reply = client.next_json();
    assert_eq!(reply["type"], "subscribe_error");
    assert!(reply["message"].as_str().unwrap().contains("limit"), "{reply}");
    assert_eq!(node.filter_rows(), 2);
}

#[test]
fn a_reader_that_never_reads_is_bounded_then_closed() {
    let mut config = config();
    config.session_queue_bytes_max = 64 * 1024;
    config.session_queue_frames_max = 256;
    config.stalled_reader_ms = 500;
    let node = Node::start(config);
    let mut reader = node.admin("", &[]).unwrap();
    let everything = reader.subscribe("*");
    node.wait_live(&[everything]);
    let padding = "p".repeat(2_000);
    let event = format!(r#"{{"type":"flood","pad":"{padding}"}}"#);
    let batch: Vec<&str> = std::iter::repeat_n(event.as_str(), 500).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut queue_bytes_peak = 0;
    // Flood until the gateway gives up on the reader (the kernel buffers
    // fill first, then the session queue, then the stall timer runs out).
    while node.metrics().stalled_closed_total.load(Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the stalled reader was never closed");
        node.produce(&batch);
        queue_bytes_peak = queue_bytes_peak.max(node.metrics().queue_bytes.load(Relaxed));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(queue_bytes_peak <= 2 * 64 * 1024, "queue grew to {queue_bytes_peak} bytes");
    assert!(node.metrics().frames_dropped_total.load(Relaxed) > 0);
    node.wait_for("the stalled session's filter to be deleted", |node| node.filter_rows() == 0);
    node.wait_for("the session to be gone", |node| node.metrics().admin_sessions_open.load(Relaxed) == 0);
    assert_eq!(node.metrics().queue_bytes.load(Relaxed), 0);
    drop(reader);
}

#[test]
fn ingest_over_websocket_and_post_reaches_the_raw_topic() {
    let node = Node::start(config());
    let mut tail = node.log.tail_consumer(common::RAW).unwrap();
    let url = format!("ws://{}/ingest", node.address());
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    let batch = json!({"batch": 1, "events": [
        {"event_id": "e-1", "type": "page_view", "user": {"id": "u-9"}},
        {"event_id": "e-2", "type": "click", "anonymous_id": "a-1"},
        "not an object"
    ]});
    socket.send(WsMessage::Text(batch.to_string().into())).unwrap();
    let ack: Value = match socket.read().unwrap() {
        WsMessage::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ack, json!({"type": "ack", "batch": 1, "accepted": 2, "rejected": 1}));
    socket.send(WsMessage::Text("{\"batch\":".into())).unwrap();
    let nack: Value = match socket.read().unwrap() {
        WsMessage::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(nack["type"], "nack");

    let body = r#"{"batch":2,"events":[{"event_id":"e-3","type":"unload","session":{"id":"s-1"}}]}"#;
    let (status, response) = http(
        node.address(),
        &format!(
            "POST /ingest HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            node.address(),
            body.len()
        ),
    );
    assert_eq!(status, 200, "{response}");
    assert!(response.ends_with(r#"{"type":"ack","batch":2,"accepted":1,"rejected":0}"#), "{response}");
    let (status, _) = http(
        node.address(),
        &format!("POST /ingest HTTP/1.1\r\nHost: {}\r\nContent-Length: 999999999\r\n\r\n", node.address()),
    );
    assert_eq!(status, 413);

    let mut records: Vec<Record> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while records.len() < 3 && Instant::now() < deadline {
        tail.poll(100, Duration::from_millis(100), &mut records).unwrap();
    }
    let keys: Vec<String> =
        records.iter().map(|record| String::from_utf8(record.key.clone().unwrap_or_default()).unwrap()).collect();
    assert_eq!(keys, ["u-9", "a-1", "s-1"]);
    let first: Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(first["event_id"], "e-1");
}

#[test]
fn http_endpoints_answer() {
    let node = Node::start(config());
    let get = |path: &str| http(node.address(), &format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", node.address()));
    assert_eq!(get("/healthz").0, 200);
    assert_eq!(get("/readyz").0, 200);
    let (status, metrics) = get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("clicktail_gateway_admin_sessions 0"), "{metrics}");
    let (status, page) = get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>clicktail"));
    assert!(get("/tracker.js").1.contains("clicktail"));
    assert_eq!(get("/nope").0, 404);
    assert_eq!(get("/ws").0, 426);
    // A head that never ends is cut off at the limit.
    let mut stream = TcpStream::connect(node.address()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = stream.write_all(format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(20_000)).as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 431") || response.starts_with("HTTP/1.1 413"), "{response}");
}

#[test]
fn connection_limit_refuses_extra_connections() {
    let mut config = config();
    config.connections_max = 2;
    let node = Node::start(config);
    let _first = node.admin("", &[]).unwrap();
    let _second = node.admin("", &[]).unwrap();
    let mut third = TcpStream::connect(node.address()).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\n\r\n");
    let mut response = Vec::new();
    let _ = third.read_to_end(&mut response);
    assert!(response.is_empty(), "the third connection should be closed unanswered");
    assert_eq!(node.metrics().connections_refused_total.load(Relaxed), 1);
}

#[test]
fn a_request_sent_right_behind_the_handshake_is_answered() {
    let node = Node::start(config());
    let mut stream = TcpStream::connect(node.address()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let payload = br#"{"type":"heartbeat"}"#;
    // One write: the opening handshake and a masked text frame (RFC 6455
    // section 5.2; a zero masking key is valid) before the 101 arrived.
    let mut bytes = common::upgrade_request(&node.address().to_string(), None).into_bytes();
    bytes.extend_from_slice(&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
    bytes.extend_from_slice(payload);
    stream.write_all(&bytes).unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&seen).contains("heartbeat_ack") {
        assert!(Instant::now() < deadline, "no heartbeat_ack: {}", String::from_utf8_lossy(&seen));
        let count = stream.read(&mut chunk).unwrap();
        assert!(count > 0, "closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..count]);
    }
}

#[test]
fn heartbeats_keep_a_live_sessions_rows_past_their_ttl() {
    // TTL 3 s (the minimum), heartbeats every second; the workers sweep
    // expired rows every 5 s by default, so 7 s covers a sweep.
    let node = Node::start(config());
    let mut client = node.admin("", &[]).unwrap();
    let filter = client.subscribe("*");
    let first_expiry = node.registry.list().unwrap()[0].expires.unwrap();
    std::thread::sleep(Duration::from_secs(7));
    let rows = node.registry.list().unwrap();
    assert_eq!(rows.len(), 1, "the row expired although its session lives");
    assert_eq!(rows[0].id.0, filter);
    assert!(rows[0].expires.unwrap() > first_expiry, "the expiry was not pushed forward");
    assert!(rows[0].owner.starts_with("gateway/"), "{}", rows[0].owner);
}
