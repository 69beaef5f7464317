//! Gateway fan-out benchmark: many idle admin sessions, then a flood of
//! filtered records delivered to them. Records go straight to the filtered
//! topic of an in-memory log (no workers): this measures the gateway alone.
//!
//! `cargo run --release -p clicktail-gateway --example fanout -- SESSIONS SECONDS [RATE]`
//! (RATE records per second; 0 or absent: as fast as delivery keeps up).
//!
//! The process re-runs itself as the server (`--server`), so the client's
//! sockets and the server's memory are measured apart. Clients bind source
//! addresses across 127.0.0.0/8 (5,000 per address). Prints one JSON line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::clock::now_us;
use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::PartitionId;
use clicktail_engine::log::{Log, Message};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::filtered_record::{encode_key, FilteredRecord, HeaderEncoder};
use clicktail_gateway::{Gateway, GatewayConfig};

// The allocator of the `clicktail` binary (src/main.rs), so the server
// measured here allocates as the product does: frames are allocated by the
// delivery thread and freed by the event loops, a pattern glibc's malloc
// serves through its arena locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The event delivered in the flood: ~600 bytes, like the generator's.
const EVENT: &str = r#"{"event_id":"e-9aee6056dded67ff","type":"page_view","ts":1717200000000,"user":{"id":"u-867895","segment":"returning","logged_in":true},"session":{"id":"s-f3c5d8e88e8bf7ba","seq":1},"page":{"url":"https://travel.example.com/hotels/berlin","path":"/hotels/berlin","referrer":null,"title":"Hotels in Berlin"},"element":null,"device":{"type":"mobile","os":"Android 14","browser":"Chrome 125","country":"FR"},"geo":{"country":"FR","city":"Nice","lat":43.6360,"lon":7.3156},"props":{"ab test":"B","ttfb ms":426},"tags":["web","mobile","returning"]}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--server") {
        server();
    } else {
        let sessions: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5_000);
        let seconds: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(5);
        let rate: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
        client(sessions, seconds, rate);
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// CPU time of this process in clock ticks (user + system).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// The server: a gateway over an in-memory log; commands on stdin.
fn server() {
    let log = Arc::new(MemoryLog::default());
    log.create_topic("clicks", 1).unwrap();
    log.create_topic("clicks.filtered", 2).unwrap();
    let registry = Arc::new(MemoryRegistry::default());
    let mut config = GatewayConfig::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.no_admin_token = true;
    config.history_window_events = 0;
    config.connections_max = 200_000;
    config.idle_timeout_ms = 600_000;
    config.ping_interval_ms = 300_000;
    let gateway = Gateway::start(config, log.clone(), registry.clone()).unwrap();
    println!("listen {}", gateway.local_address());
    let producer = log.producer().unwrap();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss"] => println!("rss {}", rss_kib()),
            ["idle", seconds] => {
                let seconds: u64 = seconds.parse().unwrap();
                let before = cpu_ticks();
                std::thread::sleep(Duration::from_secs(seconds));
                let ticks = cpu_ticks() - before;
                // Clock ticks are 1/100 s on Linux.
                println!("idle_cpu_percent {:.2}", ticks as f64 / seconds as f64);
            }
            ["flood", seconds, rate] => {
                let seconds: u64 = seconds.parse().unwrap();
                // Records per second; 0 = as fast as delivery keeps up.
                let rate: u64 = rate.parse().unwrap();
                let ids: Vec<FilterId> = registry.list().unwrap().iter().map(|row| row.id).collect();
                let metrics = gateway.metrics();
                let sent_before = metrics.frames_sent_total.load(std::sync::atomic::Ordering::Relaxed);
                let dropped_before = metrics.frames_dropped_total.load(std::sync::atomic::Ordering::Relaxed);
                let cpu_before = cpu_ticks();
                let started = Instant::now();
                let (mut key, mut headers) = (Vec::new(), HeaderEncoder::default());
                let mut produced: u64 = 0;
                let mut next = 0;
                // Small bursts at a set rate, so a burst's tail does not
                // wait behind its head and inflate the latency measured.
                let burst = if rate > 0 { (rate / 2_000).clamp(1, 1_000) } else { 1_000 };
                while started.elapsed() < Duration::from_secs(seconds) {
                    for _ in 0..burst {
                        let filter_id = ids[next % ids.len()];
                        next += 1;
                        let stamp = now_us();
                        let record = FilteredRecord {
                            filter_id,
                            raw_topic: "clicks",
                            raw_partition: PartitionId(0),
                            raw_offset: produced as i64,
                            ingest_timestamp_us: stamp,
                            match_timestamp_us: stamp,
                            history: false,
                            event: EVENT.as_bytes(),
                        };
                        encode_key(filter_id, &mut key);
                        let message = Message {
                            key: &key,
                            payload: EVENT.as_bytes(),
                            partition: None,
                            timestamp_ms: stamp / 1_000,
                            headers: &headers.encode(&record),
                        };
                        while producer.send("clicks.filtered", message).is_err() {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        produced += 1;
                    }
                    // At full speed, stay at most 50,000 records ahead of
                    // delivery (bounded backlog); at a set rate, keep to it.
                    while produced > metrics.records_read_total.load(std::sync::atomic::Ordering::Relaxed) + 50_000
                        || (rate > 0 && produced as f64 > started.elapsed().as_secs_f64() * rate as f64)
                    {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
                let elapsed = started.elapsed().as_secs_f64();
                let sent = metrics.frames_sent_total.load(std::sync::atomic::Ordering::Relaxed) - sent_before;
                let dropped = metrics.frames_dropped_total.load(std::sync::atomic::Ordering::Relaxed) - dropped_before;
                let cpu_seconds = (cpu_ticks() - cpu_before) as f64 / 100.0;
                println!("flood produced={produced} sent={sent} dropped={dropped} elapsed={elapsed:.2} cpu_seconds={cpu_seconds:.2}");
            }
            ["quit"] => break,
            _ => println!("unknown"),
        }
    }
    gateway.stop();
}

/// Opens one admin session from `source` and subscribes; returns the socket.
fn open_session(server: SocketAddr, source_host: u8, index: usize) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let source: SocketAddr = format!("127.0.0.{source_host}:0").parse().unwrap();
    socket.bind(&source.into())?;
    socket.connect(&server.into())?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let subscribe = format!(r#"{{"type":"subscribe","criterion":"user.id == \"u-{index}\""}}"#);
    stream.write_all(&masked_text_frame(subscribe.as_bytes()))?;
    // Read until the `subscribed` reply arrived (101 + hello + subscribed).
    let mut seen = Vec::new();
    let mut chunk = [0u8; 2048];
    while memchr_find(&seen, b"\"subscribed\"").is_none() {
        let count = stream.read(&mut chunk)?;
        if count == 0 {
            return Err(std::io::Error::other("closed during setup"));
        }
        seen.extend_from_slice(&chunk[..count]);
    }
    stream.set_nonblocking(true)?;
    Ok(stream)
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// A client text frame (RFC 6455 section 5.2: clients mask; a zero mask is valid).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

fn client(sessions: usize, seconds: u64, rate: u64) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe).arg("--server").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut to_server = child.stdin.take().unwrap();
    let mut from_server = BufReader::new(child.stdout.take().unwrap());
    let mut listen_line = String::new();
    from_server.read_line(&mut listen_line).unwrap();
    let server: SocketAddr = listen_line.trim().strip_prefix("listen ").unwrap().parse().unwrap();
    let mut ask = |command: &str| -> String {
        writeln!(to_server, "{command}").unwrap();
        let mut line = String::new();
        from_server.read_line(&mut line).unwrap();
        line.trim().to_owned()
    };
    let first = ask("rss");
    let rss_base: u64 = first.trim().strip_prefix("rss ").unwrap().parse().unwrap();

    let started = Instant::now();
    let mut streams = Vec::with_capacity(sessions);
    // 5,000 clients per source address, starting at an address that
    // changes per run: ports of the previous run may still be in TIME_WAIT.
    let first_host = (std::process::id() as usize) % 200;
    for index in 0..sessions {
        let host = 2 + ((first_host + index / 5_000) % 250) as u8;
        streams.push(open_session(server, host, index + 1).unwrap());
    }
    let setup_s = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle: u64 = ask("rss").strip_prefix("rss ").unwrap().parse().unwrap();
    let idle_cpu: f64 = ask("idle 10").strip_prefix("idle_cpu_percent ").unwrap().parse().unwrap();

    // Drain every socket on a thread while the server floods.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || drain(streams, &stop))
    };
    let flood = ask(&format!("flood {seconds} {rate}"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (bytes, latencies_ms) = reader.join().unwrap();
    let _ = ask("quit");
    let _ = child.wait();

    let field = |name: &str| -> f64 {
        flood.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
    };
    let mut latencies = latencies_ms;
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(-1);
    let sent = field("sent");
    let elapsed = field("elapsed");
    let cpu_seconds = field("cpu_seconds");
    println!(
        "{{\"sessions\":{sessions},\"rate_target\":{rate},\"setup_s\":{setup_s:.1},\"rss_base_kib\":{rss_base},\"rss_idle_kib\":{rss_idle},\"rss_per_idle_session_bytes\":{:.0},\"idle_cpu_percent_of_core\":{idle_cpu:.2},\"flood_seconds\":{elapsed:.1},\"frames_sent\":{sent},\"frames_per_s\":{:.0},\"server_cpu_seconds\":{cpu_seconds:.2},\"frames_per_cpu_second\":{:.0},\"dropped\":{},\"client_bytes\":{bytes},\"latency_ms_p50\":{},\"latency_ms_p99\":{},\"latency_samples\":{}}}",
        (rss_idle.saturating_sub(rss_base) * 1024) as f64 / sessions as f64,
        sent / elapsed,
        sent / cpu_seconds.max(1e-3),
        field("dropped"),
        percentile(0.5),
        percentile(0.99),
        latencies.len()
    );
}

/// Reads every socket until `stop` (epoll through mio: a sweep over every
/// socket would make the client, not the gateway, the bottleneck); returns
/// bytes read and sampled latencies (ms, from the record's ingest stamp to
/// the read).
fn drain(streams: Vec<TcpStream>, stop: &std::sync::atomic::AtomicBool) -> (u64, Vec<i64>) {
    let mut poll = mio::Poll::new().unwrap();
    let mut sockets: Vec<mio::net::TcpStream> = streams.into_iter().map(mio::net::TcpStream::from_std).collect();
    for (index, socket) in sockets.iter_mut().enumerate() {
        poll.registry().register(socket, mio::Token(index), mio::Interest::READABLE).unwrap();
    }
    let mut events = mio::Events::with_capacity(1_024);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    let mut latencies = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(50)));
        for event in events.iter() {
            let socket = &mut sockets[event.token().0];
            // Edge-triggered: read until the socket is empty.
            while let Ok(count) = socket.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                bytes += count as u64;
                // One sample per read: the first frame's ts_ms.
                if let Some(at) = memchr_find(&buffer[..count], b"\"ts_ms\":") {
                    let digits: String =
                        buffer[at + 8..count].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
                    if let Ok(ts_ms) = digits.parse::<i64>() {
                        if latencies.len() < 1_000_000 {
                            latencies.push(now_us() / 1_000 - ts_ms);
                        }
                    }
                }
            }
        }
    }
    (bytes, latencies)
}
