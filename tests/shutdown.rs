//! SIGTERM drains `clicktail gateway` (the built binary, on the Kafka and
//! PostgreSQL of `scripts/services.sh`): `/readyz` turns 503, the listener
//! closes, every admin session gets close code 1001 and its filter row is
//! deleted, and the process exits 0 within `--shutdown-grace-ms`. A SIGTERM
//! that arrives while the gateway or a worker is still starting stops it
//! the same way once it runs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::Registry;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const GRACE: Duration = Duration::from_secs(10);
const SESSIONS: usize = 3;

/// Kills the gateway if the test fails before it exits.
struct Process(Child);

impl Process {
    /// Waits until the process exits, at most until `deadline` after
    /// `signalled`, and asserts it exited 0.
    fn assert_exits_within(&mut self, signalled: Instant, deadline: Duration) {
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(signalled.elapsed() < deadline, "still running {deadline:?} after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status} (a signal's number: the process was killed, not stopped)");
        eprintln!("stopped and exited {:?} after SIGTERM", signalled.elapsed());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn admin(address: SocketAddr, criterion: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let (mut socket, _) = tungstenite::client(format!("ws://{address}/ws"), stream).unwrap();
    let subscribe = serde_json::json!({"type": "subscribe", "criterion": criterion}).to_string();
    socket.send(Message::Text(subscribe.into())).unwrap();
    loop {
        let Message::Text(text) = socket.read().unwrap() else { continue };
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
        match reply["type"].as_str() {
            Some("hello") => continue,
            Some("subscribed") => return socket,
            _ => panic!("unexpected reply to subscribe: {reply}"),
        }
    }
}

/// Reads until the close frame and returns its code (`None`: the socket
/// ended without one, a bare EOF).
fn close_code(socket: &mut WebSocket<TcpStream>) -> Option<CloseCode> {
    loop {
        match socket.read() {
            Ok(Message::Close(frame)) => {
                // Sends the reply tungstenite queued, as a browser does at once.
                let _ = socket.flush();
                return frame.map(|frame| frame.code);
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// A raw and a filtered topic and a registry schema of one test's own;
/// the topics are deleted when it ends.
struct Fresh {
    log: KafkaLog,
    raw: String,
    filtered: String,
    schema: String,
}

impl Fresh {
    fn new(brokers: &str, database: &str) -> Fresh {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let (raw, filtered, schema) =
            (format!("raw-drain-{nanos}"), format!("filtered-drain-{nanos}"), format!("t_drain_{nanos}"));
        let log = KafkaLog::new(KafkaConfig::new(brokers)).unwrap();
        log.create_topic(&raw, 1).unwrap();
        log.create_topic(&filtered, 1).unwrap();
        migrate(&PostgresConfig::new(database).in_schema(&schema)).unwrap();
        Fresh { log, raw, filtered, schema }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        for topic in [&self.raw, &self.filtered] {
            let _ = self.log.delete_topic(topic);
        }
    }
}

/// A `clicktail gateway` on fresh topics and a fresh registry schema.
struct Node {
    process: Process,
    address: SocketAddr,
    registry: PostgresRegistry,
    _fresh: Fresh,
}

impl Node {
    fn start(brokers: &str, database: &str) -> Node {
        Node::start_with(brokers, database, database, |_| {})
    }

    /// Starts the gateway on `gateway_database` (the registry is set up on
    /// `database`) and runs `while_starting` before reading its banner.
    fn start_with(brokers: &str, database: &str, gateway_database: &str, while_starting: impl FnOnce(&Child)) -> Node {
        let fresh = Fresh::new(brokers, database);
        let registry = PostgresRegistry::connect(PostgresConfig::new(database).in_schema(&fresh.schema)).unwrap();

        let child = Command::new(env!("CARGO_BIN_EXE_clicktail"))
            .args(["gateway", "--listen", "127.0.0.1:0", "--no-admin-token"])
            .args(["--kafka-brokers", brokers, "--database-url", gateway_database, "--database-schema", &fresh.schema])
            .args(["--raw-topic", &fresh.raw, "--filtered-topic", &fresh.filtered])
            .env("CLICKTAIL_SHUTDOWN_GRACE_MS", GRACE.as_millis().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut process = Process(child);
        while_starting(&process.0);
        let mut banner = String::new();
        BufReader::new(process.0.stdout.take().unwrap()).read_line(&mut banner).unwrap();
        let address = banner.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|_| {
            let exit = process.0.wait().unwrap();
            panic!("the gateway printed {banner:?} and ended: {exit}")
        });
        Node { process, address, registry, _fresh: fresh }
    }

    /// Sends SIGTERM and waits until the listener refuses connections.
    fn terminate(&self) -> Instant {
        let signalled = sigterm(&self.process.0);
        while TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).is_ok() {
            assert!(signalled.elapsed() < GRACE, "the listener still accepts {GRACE:?} after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
        signalled
    }

    /// Asserts that the process exits 0 within the grace.
    fn assert_exits(&mut self, signalled: Instant) {
        self.process.assert_exits_within(signalled, GRACE + Duration::from_secs(2));
    }
}

fn sigterm(process: &Child) -> Instant {
    let signalled = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &process.id().to_string()]).status().unwrap();
    assert!(killed.success());
    signalled
}

/// A TCP relay to `upstream` that holds every connection until `release`:
/// a PostgreSQL that answers late, so that a gateway is caught starting.
struct HeldRelay {
    address: SocketAddr,
    connected: Receiver<()>,
    release: Sender<()>,
}

impl HeldRelay {
    /// A relay before the PostgreSQL of `database`, and the URL through it.
    fn before(database: &str) -> (HeldRelay, String) {
        let upstream = database.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap();
        let relay = HeldRelay::to(upstream.parse().unwrap());
        let relayed = database.replace(upstream, &relay.address.to_string());
        (relay, relayed)
    }

    fn to(upstream: SocketAddr) -> HeldRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (connected_tx, connected) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut released = false;
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let _ = connected_tx.send(());
                if !released {
                    released = release_rx.recv().is_ok();
                }
                let Ok(server) = TcpStream::connect(upstream) else { return };
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        HeldRelay { address, connected, release }
    }

    /// Once `process` connects through the relay: SIGTERM to it, a moment
    /// for the signal to land, then the registry's answer. Returns when
    /// the signal was sent.
    fn sigterm_while_held(&self, process: &Child) -> Instant {
        self.connected.recv_timeout(Duration::from_secs(30)).expect("the process never connected to PostgreSQL");
        let signalled = sigterm(process);
        std::thread::sleep(Duration::from_millis(200));
        self.release.send(()).unwrap();
        signalled
    }
}

/// Writes `GET /readyz` on a connection accepted before the drain and
/// asserts the drain's answer.
fn assert_probe_told_shutting_down(mut probe: TcpStream, address: SocketAddr) {
    probe.write_all(format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = probe.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.ends_with("not ready: shutting down\n"), "{answer:?}");
}

fn probe(address: SocketAddr) -> TcpStream {
    let probe = TcpStream::connect(address).unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    probe
}

#[test]
fn sigterm_drains_the_gateway_sessions_with_1001_and_exits_within_the_grace() {
    let Some((brokers, database)) = common::services() else { return };
    let mut node = Node::start(&brokers, &database);
    let mut sessions: Vec<_> = (0..SESSIONS).map(|n| admin(node.address, &format!("user.id == \"u-{n}\""))).collect();
    assert_eq!(node.registry.list().unwrap().len(), SESSIONS);
    // Accepted before the signal, asked after it: a probe in flight.
    let probe = probe(node.address);

    let signalled = node.terminate();
    assert_probe_told_shutting_down(probe, node.address);
    for (n, session) in sessions.iter_mut().enumerate() {
        assert_eq!(close_code(session), Some(CloseCode::Away), "session {n}");
    }
    node.assert_exits(signalled);
    assert_eq!(node.registry.list().unwrap().len(), 0, "the sessions' filters are deleted");
}

/// ci15: with no session left to close, a loop ended its drain at once and
/// dropped the connection a load balancer's probe had opened before the
/// signal, which then read nothing instead of 503.
#[test]
fn a_probe_connected_before_sigterm_is_answered_when_no_session_is_open() {
    let Some((brokers, database)) = common::services() else { return };
    let mut node = Node::start(&brokers, &database);
    let probe = probe(node.address);
    let signalled = node.terminate();
    assert_probe_told_shutting_down(probe, node.address);
    node.assert_exits(signalled);
}

/// A SIGTERM that arrived while the gateway was still connecting to its
/// registry killed it outright (the handler was installed only once it
/// served; ci run of 2026-12-04 under load, the probe test above read a
/// reset): it must be held until the gateway can drain, and honoured then.
#[test]
fn a_sigterm_while_the_gateway_starts_is_honoured_once_it_serves() {
    let Some((brokers, database)) = common::services() else { return };
    let (relay, gateway_database) = HeldRelay::before(&database);
    let mut signalled = None;
    let mut node = Node::start_with(&brokers, &database, &gateway_database, |gateway| {
        signalled = Some(relay.sigterm_while_held(gateway));
    });
    node.assert_exits(signalled.unwrap());
}

/// The same for `clicktail worker`: its handler was installed only after
/// its threads were spawned, so a SIGTERM while it connected to the
/// registry killed it rather than letting it stop and leave the group.
#[test]
fn a_sigterm_while_a_worker_starts_is_honoured_once_it_runs() {
    let Some((brokers, database)) = common::services() else { return };
    let fresh = Fresh::new(&brokers, &database);
    let (relay, worker_database) = HeldRelay::before(&database);

    let worker = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(["worker", "--brokers", &brokers, "--database-url", &worker_database, "--database-schema", &fresh.schema])
        .args(["--raw-topic", &fresh.raw, "--filtered-topic", &fresh.filtered, "--group", &fresh.schema])
        .args(["--threads", "1", "--no-pin", "--metrics-addr", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let mut worker = Process(worker);
    let signalled = relay.sigterm_while_held(&worker.0);
    worker.assert_exits_within(signalled, Duration::from_secs(60));
}
