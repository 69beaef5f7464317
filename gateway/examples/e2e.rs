//! End-to-end latency through a running deployment: tracker-style ingest
//! (batches over `/ingest` WebSockets) → raw topic → workers → filtered
//! topic → gateway → admin WebSockets. Run by `perf/gateway/e2e.sh`, which
//! starts Kafka, PostgreSQL, a worker and two gateways on loopback.
//!
//! `e2e ADMIN_URL INGEST_URL RATE SECONDS SESSIONS`, e.g.
//! `e2e ws://127.0.0.1:8081 ws://127.0.0.1:8082 20000 10 100`.
//!
//! Every event names one of `SESSIONS` users, each watched by its own admin
//! session, so each event is delivered exactly once. An event carries its
//! send time (`sent_us`); latency is the admin's read time minus it, tracker
//! batching included. Prints one JSON line.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Ingest sockets, like four busy browser tabs batching.
const INGEST_CONNECTIONS: usize = 4;
/// Events per batch: the tracker's default is 50 or 250 ms, whichever first.
const BATCH_EVENTS: usize = 20;

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let admin_url = args.get(1).cloned().unwrap_or_else(|| "ws://127.0.0.1:8080".into());
    let ingest_url = args.get(2).cloned().unwrap_or_else(|| admin_url.clone());
    let rate: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let seconds: u64 = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(10);
    let sessions: usize = args.get(5).and_then(|n| n.parse().ok()).unwrap_or(100);
    let run = format!("{:x}", now_us());

    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for index in 0..sessions {
        let (mut socket, _) = tungstenite::connect(format!("{admin_url}/ws")).expect("admin connect");
        let criterion = format!(r#"user.id == "e2e-{run}-{index}""#);
        let subscribe = serde_json::json!({"type": "subscribe", "criterion": criterion}).to_string();
        socket.send(Message::Text(subscribe.into())).unwrap();
        loop {
            if let Message::Text(text) = socket.read().unwrap() {
                if text.contains("\"subscribed\"") {
                    break;
                }
                assert!(!text.contains("subscribe_error"), "{text}");
            }
        }
        set_read_timeout(&socket, Some(Duration::from_millis(100)));
        let (stop, received) = (stop.clone(), received.clone());
        readers.push(std::thread::spawn(move || read_events(socket, &stop, &received)));
    }
    // The workers learn of the filters by NOTIFY and rebuild: let them.
    std::thread::sleep(Duration::from_secs(3));

    let sent = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..INGEST_CONNECTIONS)
        .map(|connection| {
            let (ingest_url, run, sent, acked) = (ingest_url.clone(), run.clone(), sent.clone(), acked.clone());
            std::thread::spawn(move || {
                ingest(
                    &ingest_url,
                    &run,
                    connection,
                    rate / INGEST_CONNECTIONS as u64,
                    seconds,
                    sessions,
                    &sent,
                    &acked,
                )
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let send_seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<i64> = readers.into_iter().flat_map(|reader| reader.join().unwrap()).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(-1);
    println!(
        "{{\"rate_target\":{rate},\"seconds\":{seconds},\"admin_sessions\":{sessions},\"ingest_connections\":{INGEST_CONNECTIONS},\"batch_events\":{BATCH_EVENTS},\"sent\":{},\"acked\":{},\"received\":{},\"send_rate\":{:.0},\"latency_us_p50\":{},\"latency_us_p99\":{},\"latency_us_p999\":{},\"latency_us_max\":{}}}",
        sent.load(Ordering::Relaxed),
        acked.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed) as f64 / send_seconds,
        percentile(0.5),
        percentile(0.99),
        percentile(0.999),
        latencies.last().copied().unwrap_or(-1),
    );
}

fn set_read_timeout(socket: &Socket, timeout: Option<Duration>) {
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(timeout).unwrap();
    }
}

fn read_events(mut socket: Socket, stop: &AtomicBool, received: &AtomicU64) -> Vec<i64> {
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let now = now_us();
                if let Some(at) = text.find("\"sent_us\":") {
                    let digits: String = text[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(sent_us) = digits.parse::<i64>() {
                        latencies.push(now - sent_us);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    latencies
}

#[allow(clippy::too_many_arguments)]
fn ingest(
    url: &str,
    run: &str,
    connection: usize,
    rate: u64,
    seconds: u64,
    sessions: usize,
    sent: &AtomicU64,
    acked: &AtomicU64,
) {
    let (mut socket, _) = tungstenite::connect(format!("{url}/ingest")).expect("ingest connect");
    set_read_timeout(&socket, Some(Duration::from_micros(100)));
    let padding = "x".repeat(400);
    let started = Instant::now();
    let mut events_sent: u64 = 0;
    let mut batch: u64 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if events_sent + BATCH_EVENTS as u64 > due {
            std::thread::sleep(Duration::from_micros(200));
        } else {
            batch += 1;
            let mut body = format!(r#"{{"batch":{batch},"events":["#);
            for index in 0..BATCH_EVENTS {
                let user = (events_sent as usize + index + connection) % sessions;
                if index > 0 {
                    body.push(',');
                }
                body.push_str(&format!(
                    r#"{{"event_id":"e-{run}-{connection}-{batch}-{index}","type":"bench","user":{{"id":"e2e-{run}-{user}"}},"sent_us":{},"pad":"{padding}"}}"#,
                    now_us()
                ));
            }
            body.push_str("]}");
            socket.send(Message::Text(body.into())).unwrap();
            events_sent += BATCH_EVENTS as u64;
            sent.fetch_add(BATCH_EVENTS as u64, Ordering::Relaxed);
        }
        // Drain acknowledgements without blocking the pace.
        while let Ok(Message::Text(text)) = socket.read() {
            if text.contains("\"ack\"") {
                acked.fetch_add(BATCH_EVENTS as u64, Ordering::Relaxed);
            }
        }
    }
    set_read_timeout(&socket, Some(Duration::from_secs(2)));
    while acked.load(Ordering::Relaxed) < sent.load(Ordering::Relaxed) {
        match socket.read() {
            Ok(Message::Text(text)) if text.contains("\"ack\"") => {
                acked.fetch_add(BATCH_EVENTS as u64, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}
