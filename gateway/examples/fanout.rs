//! Gateway fan-out benchmark: many idle admin sessions, then a flood of
//! filtered records delivered to them. Records go straight to the filtered
//! topic of an in-memory log (no workers): this measures the gateway alone.
//!
//! `cargo run --profile dist -p clicktail-gateway --example fanout -- SESSIONS SECONDS [RATE]`
//! (RATE records per second; 0 or absent: as fast as delivery keeps up).
//!
//! The process re-runs itself as the server (`--server`), so the client's
//! sockets and the server's memory are measured apart. Clients bind source
//! addresses across 127.0.0.0/8 (5,000 per address). Prints one JSON line.
//!
//! `fanout multi SERVERS CLIENT_PROCESSES SESSIONS SECONDS RATE`: SERVERS
//! gateway processes share one port (`--reuse-port`), each a whole node on
//! its own in-memory log, flooding RATE / SERVERS records/s to its own
//! sessions' filters; the sessions are opened by CLIENT_PROCESSES client
//! processes (`--clients`), so that no process needs more descriptors than
//! the machine allows one process (20,000 here). Figures are summed over the
//! servers: RSS growth per session, idle CPU, frames per server CPU-second,
//! and the latency percentiles of every client's samples.

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
    } else if args.get(1).map(String::as_str) == Some("--clients") {
        let number = |index: usize| -> usize { args[index].parse().unwrap() };
        clients(args[2].parse().unwrap(), number(3), number(4), number(5));
    } else if args.get(1).map(String::as_str) == Some("multi") {
        let number = |index: usize| -> u64 { args[index].parse().unwrap() };
        multi(number(2) as usize, number(3) as usize, number(4) as usize, number(5), number(6));
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
    // As `clicktail gateway` does; FANOUT_HUGE_PAGES=1 measures the server
    // with the kernel's default instead, for a reference in the same run.
    if std::env::var_os("FANOUT_HUGE_PAGES").is_none() {
        clicktail_engine::small_pages::use_small_pages().unwrap();
    }
    let log = Arc::new(MemoryLog::default());
    log.create_topic("clicks", 1).unwrap();
    log.create_topic("clicks.filtered", 2).unwrap();
    let registry = Arc::new(MemoryRegistry::default());
    let mut config = GatewayConfig::defaults();
    // `multi` starts several servers on one port.
    config.listen = std::env::var("FANOUT_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into()).parse().unwrap();
    config.reuse_port = std::env::var("FANOUT_REUSE_PORT").is_ok();
    config.no_admin_token = true;
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
            ["sessions"] => println!(
                "sessions {}",
                gateway.metrics().admin_sessions_open.load(std::sync::atomic::Ordering::Relaxed)
            ),
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

/// A client process of `multi`: opens `count` sessions (filters
/// `u-FIRST`...) from 127.0.0.`first_host` on (5,000 per address), says
/// `ready`, drains every socket between `drain` and `stop`, then prints the
/// bytes read and its latency samples as a histogram (`ms:count,...`).
fn clients(server: SocketAddr, first_index: usize, count: usize, first_host: usize) {
    let mut streams = Vec::with_capacity(count);
    for offset in 0..count {
        let host = (first_host + offset / 5_000) as u8;
        streams.push(open_session(server, host, first_index + offset).unwrap());
    }
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || drain(streams, &stop))
    };
    line.clear();
    std::io::stdin().read_line(&mut line).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (bytes, latencies) = reader.join().unwrap();
    let mut histogram = std::collections::BTreeMap::<i64, u64>::new();
    for latency in latencies {
        *histogram.entry(latency).or_default() += 1;
    }
    let histogram: Vec<String> = histogram.iter().map(|(ms, count)| format!("{ms}:{count}")).collect();
    println!("drained {bytes} {}", histogram.join(","));
}

/// One child process, spoken to line by line.
struct Child {
    process: std::process::Child,
    to: std::process::ChildStdin,
    from: BufReader<std::process::ChildStdout>,
}

impl Child {
    fn spawn(args: &[String], env: &[(&str, String)]) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut process = command.spawn().unwrap();
        let to = process.stdin.take().unwrap();
        let from = BufReader::new(process.stdout.take().unwrap());
        Child { process, to, from }
    }
    fn send(&mut self, command: &str) {
        writeln!(self.to, "{command}").unwrap();
    }
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.from.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.line()
    }
}

fn multi(servers: usize, client_processes: usize, sessions: usize, seconds: u64, rate: u64) {
    let mut nodes: Vec<Child> = Vec::new();
    let mut address = String::from("127.0.0.1:0");
    for _ in 0..servers {
        let mut node = Child::spawn(
            &["--server".to_owned()],
            &[("FANOUT_LISTEN", address.clone()), ("FANOUT_REUSE_PORT", "1".to_owned())],
        );
        address = node.line().strip_prefix("listen ").unwrap().to_owned();
        nodes.push(node);
    }
    let rss = |nodes: &mut Vec<Child>| -> u64 {
        nodes.iter_mut().map(|node| node.ask("rss").strip_prefix("rss ").unwrap().parse::<u64>().unwrap()).sum()
    };
    let rss_base = rss(&mut nodes);
    let started = Instant::now();
    // Source addresses: a range per client process, moved on each run
    // (the previous run's ports may still be in TIME_WAIT).
    let per_process = sessions.div_ceil(client_processes);
    let hosts_per_process = per_process.div_ceil(5_000);
    let first_host = 2 + (std::process::id() as usize % 4) * (hosts_per_process * client_processes);
    let mut clients: Vec<Child> = (0..client_processes)
        .map(|index| {
            let first = index * per_process;
            let count = per_process.min(sessions - first);
            let host = first_host + index * hosts_per_process;
            assert!(host + hosts_per_process < 255, "too many sessions for 127.0.0.x source addresses");
            Child::spawn(
                &[
                    "--clients".to_owned(),
                    address.clone(),
                    (first + 1).to_string(),
                    count.to_string(),
                    host.to_string(),
                ],
                &[],
            )
        })
        .collect();
    for client in &mut clients {
        assert_eq!(client.line(), "ready");
    }
    let setup_s = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = rss(&mut nodes);
    let per_server: Vec<u64> =
        nodes.iter_mut().map(|node| node.ask("sessions").strip_prefix("sessions ").unwrap().parse().unwrap()).collect();
    for node in &mut nodes {
        node.send("idle 10");
    }
    let idle_cpu: f64 = nodes
        .iter_mut()
        .map(|node| node.line().strip_prefix("idle_cpu_percent ").unwrap().parse::<f64>().unwrap())
        .sum();
    for client in &mut clients {
        client.send("drain");
    }
    for node in &mut nodes {
        node.send(&format!("flood {seconds} {}", rate / servers as u64));
    }
    let floods: Vec<String> = nodes.iter_mut().map(Child::line).collect();
    let (mut bytes, mut histogram) = (0u64, std::collections::BTreeMap::<i64, u64>::new());
    for client in &mut clients {
        let report = client.ask("stop");
        let mut words = report.split_whitespace().skip(1);
        bytes += words.next().unwrap().parse::<u64>().unwrap();
        for pair in words.next().unwrap_or("").split(',').filter(|pair| !pair.is_empty()) {
            let (ms, count) = pair.split_once(':').unwrap();
            *histogram.entry(ms.parse().unwrap()).or_default() += count.parse::<u64>().unwrap();
        }
    }
    for node in &mut nodes {
        node.send("quit");
    }
    for child in nodes.iter_mut().chain(clients.iter_mut()) {
        let _ = child.process.wait();
    }
    let field = |flood: &String, name: &str| -> f64 {
        flood.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().parse().unwrap()
    };
    let sum = |name: &str| -> f64 { floods.iter().map(|flood| field(flood, name)).sum() };
    let elapsed = floods.iter().map(|flood| field(flood, "elapsed")).fold(0.0, f64::max);
    let samples: u64 = histogram.values().sum();
    let percentile = |p: f64| -> i64 {
        let rank = ((samples as f64 - 1.0) * p) as u64;
        let mut seen = 0;
        for (ms, count) in &histogram {
            seen += count;
            if seen > rank {
                return *ms;
            }
        }
        -1
    };
    println!(
        "{{\"servers\":{servers},\"client_processes\":{client_processes},\"sessions\":{sessions},\"sessions_per_server\":{per_server:?},\"rate_target\":{rate},\"setup_s\":{setup_s:.1},\"rss_base_kib\":{rss_base},\"rss_idle_kib\":{rss_idle},\"rss_per_idle_session_bytes\":{:.0},\"idle_cpu_percent_of_core\":{idle_cpu:.2},\"flood_seconds\":{elapsed:.1},\"frames_sent\":{},\"frames_per_s\":{:.0},\"server_cpu_seconds\":{:.2},\"frames_per_cpu_second\":{:.0},\"dropped\":{},\"client_bytes\":{bytes},\"latency_ms_p50\":{},\"latency_ms_p99\":{},\"latency_samples\":{samples}}}",
        (rss_idle.saturating_sub(rss_base) * 1024) as f64 / sessions as f64,
        sum("sent"),
        sum("sent") / elapsed,
        sum("cpu_seconds"),
        sum("sent") / sum("cpu_seconds").max(1e-3),
        sum("dropped"),
        percentile(0.5),
        percentile(0.99),
    );
}
