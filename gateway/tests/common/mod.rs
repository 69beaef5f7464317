//! A whole node in one test process: in-memory log and registry, the real
//! filter workers and a gateway on a loopback port chosen by the kernel.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::log::{Log, Message};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerHandle, WorkerStats};
use clicktail_gateway::{Gateway, GatewayConfig};
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message as WsMessage, WebSocket};

pub const RAW: &str = "clicks";
pub const FILTERED: &str = "clicks.filtered";

pub struct Node {
    pub log: Arc<MemoryLog>,
    pub registry: Arc<MemoryRegistry>,
    pub gateway: Option<Gateway>,
    pub workers: WorkerHandle,
    /// Events `produce` has written to the raw topic.
    produced: AtomicU64,
}

pub fn config() -> GatewayConfig {
    let mut config = GatewayConfig::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.no_admin_token = true;
    config.filter_ttl_ms = 3_000;
    config
}

impl Node {
    pub fn start(config: GatewayConfig) -> Node {
        Node::start_with_workers(config, WorkerConfig { threads: 1, ..WorkerConfig::default() })
    }

    /// Starts a node whose workers run with `worker_config` (topics,
    /// pinning and poll timeout set here).
    pub fn start_with_workers(config: GatewayConfig, worker_config: WorkerConfig) -> Node {
        let log = Arc::new(MemoryLog::default());
        log.create_topic(RAW, 2).unwrap();
        log.create_topic(FILTERED, 2).unwrap();
        let registry = Arc::new(MemoryRegistry::default());
        let worker_config =
            WorkerConfig { pin_threads: false, poll_timeout: Duration::from_millis(20), ..worker_config };
        let workers = spawn_workers(worker_config, log.clone(), registry.clone()).unwrap();
        let gateway = Gateway::start(config, log.clone(), registry.clone()).unwrap();
        Node { log, registry, gateway: Some(gateway), workers, produced: AtomicU64::new(0) }
    }

    /// Starts only a gateway with `config` and returns its start error.
    pub fn try_start_gateway_only(config: GatewayConfig) -> String {
        let log = Arc::new(MemoryLog::default());
        log.create_topic(RAW, 1).unwrap();
        log.create_topic(FILTERED, 1).unwrap();
        match Gateway::start(config, log, Arc::new(MemoryRegistry::default())) {
            Ok(gateway) => {
                gateway.stop();
                String::new()
            }
            Err(error) => error.to_string(),
        }
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.gateway.as_ref().unwrap().local_address()
    }

    pub fn metrics(&self) -> &clicktail_gateway::Metrics {
        self.gateway.as_ref().unwrap().metrics()
    }

    pub fn produce(&self, events: &[&str]) {
        let producer = self.log.producer().unwrap();
        for event in events {
            let message =
                Message { key: b"k", payload: event.as_bytes(), partition: None, timestamp_ms: now_ms(), headers: &[] };
            producer.send(RAW, message).unwrap();
        }
        producer.flush(Duration::from_secs(5)).unwrap();
        self.produced.fetch_add(events.len() as u64, Relaxed);
    }

    pub fn produced(&self) -> u64 {
        self.produced.load(Relaxed)
    }

    /// Raw events the filter workers have read.
    pub fn worker_events_read(&self) -> u64 {
        WorkerStats::get(&self.workers.stats().events_in)
    }

    pub fn filter_rows(&self) -> usize {
        self.registry.list().unwrap().len()
    }

    /// Opens `/ws` with extra request headers.
    pub fn admin(&self, query: &str, headers: &[(&str, &str)]) -> Result<Client, tungstenite::Error> {
        admin_at(self.address(), query, headers)
    }

    /// Waits until every filter thread matches with `filters` (and so will
    /// match events produced from now on).
    pub fn wait_live(&self, filters: &[u64]) {
        self.wait_for("the workers to match with the new filters", |node| {
            let live = node.workers.live_filters();
            filters.iter().all(|id| live.contains(FilterId(*id))) && node.workers.live_filters_on_every_thread()
        });
    }

    /// Waits until `condition` holds, for at most 10 s.
    pub fn wait_for(&self, what: &str, condition: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Opens `/ws` of the gateway at `address` with extra request headers and
/// reads its `hello`.
pub fn admin_at(
    address: std::net::SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Client, tungstenite::Error> {
    admin_with_hello(address, query, headers).map(|(client, _)| client)
}

/// As [`admin_at`], also returning the `hello` frame.
pub fn admin_with_hello(
    address: std::net::SocketAddr,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Client, Value), tungstenite::Error> {
    let url = format!("ws://{address}/ws{query}");
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (socket, _) = tungstenite::client(request, stream).map_err(|error| match error {
        tungstenite::HandshakeError::Failure(error) => error,
        tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
    })?;
    let mut client = Client { socket };
    let hello = client.next_json();
    assert_eq!(hello["type"], "hello", "{hello}");
    Ok((client, hello))
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop();
        }
        self.workers.stop();
    }
}

pub struct Client {
    pub socket: WebSocket<TcpStream>,
}

impl Client {
    pub fn send_json(&mut self, value: Value) {
        self.socket.send(WsMessage::Text(value.to_string().into())).unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.socket.send(WsMessage::Text(text.to_owned().into())).unwrap();
    }

    /// The next text frame as JSON (pings are answered on the way),
    /// skipping `stats` frames: they come once a second per filter that
    /// matches, whenever the test reads (`next_frame` keeps them).
    pub fn next_json(&mut self) -> Value {
        loop {
            let frame = self.next_frame();
            if frame["type"] != "stats" {
                return frame;
            }
        }
    }

    /// The next text frame as JSON, whatever its type.
    pub fn next_frame(&mut self) -> Value {
        loop {
            match self.socket.read().unwrap() {
                WsMessage::Text(text) => return serde_json::from_str(&text).unwrap(),
                WsMessage::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Subscribes and returns the `subscribed` reply (panics on anything else).
    pub fn subscribe(&mut self, criterion: &str) -> u64 {
        self.send_json(serde_json::json!({"type": "subscribe", "criterion": criterion}));
        let reply = self.next_json();
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply["filter"].as_u64().unwrap()
    }
}

/// A raw HTTP/1.1 exchange; returns the status line and the whole response.
pub fn http(address: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, response)
}

/// The opening handshake of `/ws` with this `Host` and, if given, `Origin`.
pub fn upgrade_request(host: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|origin| format!("Origin: {origin}\r\n")).unwrap_or_default();
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Sends `request` as written and returns the response's status and head,
/// without waiting for the connection to close (a `101` keeps it open).
pub fn http_head(address: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => head.extend_from_slice(&chunk[..count]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    (status, head)
}

// Not every test binary that includes this module uses both.
#[allow(unused_imports)]
pub use clicktail_test_support::{services, services_script};
