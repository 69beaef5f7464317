//! `/healthz`, `/readyz`, `/metrics` and other paths of the worker's
//! listener, over TCP, with the control thread made to stall and to die
//! through a registry whose watch can be told to block or to panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusBuilder;

use super::{metrics, spawn_workers, WorkerConfig};
use crate::log::memory::MemoryLog;
use crate::matcher::FilterId;
use crate::registry::memory::MemoryRegistry;
use crate::registry::{
    BackfillJob, BackfillOutcome, Change, FilterRow, HeartbeatOutcome, NewFilter, Registry, RegistryError,
    RegistryWatch, Seam,
};

const DEADLINE: Duration = Duration::from_secs(20);

/// What the watch does on its next call.
const PASS: u8 = 0;
const BLOCK: u8 = 1;
const PANIC: u8 = 2;

/// The in-memory registry, whose watch blocks (a PostgreSQL call that
/// never returns) or panics (a broken invariant) when told to.
struct Faulty {
    inner: MemoryRegistry,
    mode: Arc<AtomicU8>,
}

struct FaultyWatch {
    inner: Box<dyn RegistryWatch>,
    mode: Arc<AtomicU8>,
}

impl RegistryWatch for FaultyWatch {
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Change>, RegistryError> {
        while self.mode.load(Ordering::Relaxed) == BLOCK {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_ne!(self.mode.load(Ordering::Relaxed), PANIC, "the watch was told to panic");
        self.inner.next_change(timeout)
    }
}

impl Registry for Faulty {
    fn insert(&self, filter: NewFilter) -> Result<FilterId, RegistryError> {
        self.inner.insert(filter)
    }
    fn heartbeat(&self, node: &str, ids: &[FilterId], ttl: Duration) -> Result<HeartbeatOutcome, RegistryError> {
        self.inner.heartbeat(node, ids, ttl)
    }
    fn delete(&self, ids: &[FilterId]) -> Result<Vec<FilterId>, RegistryError> {
        self.inner.delete(ids)
    }
    fn list(&self) -> Result<Vec<FilterRow>, RegistryError> {
        self.inner.list()
    }
    fn sweep_expired(&self) -> Result<u64, RegistryError> {
        self.inner.sweep_expired()
    }
    fn watch(&self) -> Result<Box<dyn RegistryWatch>, RegistryError> {
        Ok(Box::new(FaultyWatch { inner: self.inner.watch()?, mode: Arc::clone(&self.mode) }))
    }
    fn claim_backfill(&self, claimer: &str, lease: Duration) -> Result<Option<BackfillJob>, RegistryError> {
        self.inner.claim_backfill(claimer, lease)
    }
    fn renew_backfill(&self, filter: FilterId, claimer: &str, lease: Duration) -> Result<bool, RegistryError> {
        self.inner.renew_backfill(filter, claimer, lease)
    }
    fn finish_backfill(
        &self,
        filter: FilterId,
        claimer: &str,
        outcome: BackfillOutcome,
    ) -> Result<bool, RegistryError> {
        self.inner.finish_backfill(filter, claimer, outcome)
    }
    fn record_seams(&self, seams: &[Seam]) -> Result<(), RegistryError> {
        self.inner.record_seams(seams)
    }
    fn announce_topics(&self, topics: &[String]) -> Result<(), RegistryError> {
        self.inner.announce_topics(topics)
    }

    fn known_topics(&self, within: Duration) -> Result<Vec<String>, RegistryError> {
        self.inner.known_topics(within)
    }

    fn seams(&self, filter: FilterId) -> Result<Vec<Seam>, RegistryError> {
        self.inner.seams(filter)
    }
}

/// Lets a blocked watch go when the test ends, so that a failed assertion
/// does not leave the worker's join waiting for ever.
struct Unblock(Arc<AtomicU8>);

impl Drop for Unblock {
    fn drop(&mut self) {
        let _ = self.0.compare_exchange(BLOCK, PASS, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// One GET over a fresh connection: status code and body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn wait_for(address: SocketAddr, path: &str, status: u16) -> String {
    let started = Instant::now();
    loop {
        let (got, body) = get(address, path);
        if got == status {
            return body;
        }
        assert!(started.elapsed() < DEADLINE, "{path} stayed {got} ({body:?}), expected {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_body(address: SocketAddr, path: &str, status: u16, body: &str) {
    let started = Instant::now();
    loop {
        let got = get(address, path);
        if got == (status, body.to_owned()) {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "{path} stayed {got:?}, expected {status} {body:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn health_reports_a_stuck_then_a_dead_control_thread_and_readiness_follows() {
    let log = MemoryLog::default();
    log.create_topic("raw", 4).unwrap();
    log.create_topic("filtered", 3).unwrap();
    let mode = Arc::new(AtomicU8::new(BLOCK));
    let registry = Faulty { inner: MemoryRegistry::default(), mode: Arc::clone(&mode) };
    registry.insert(NewFilter::standing("type == \"click\"", "test")).unwrap();
    let config = WorkerConfig {
        raw_topics: crate::log::RawTopics::one("raw"),
        filtered_topic: "filtered".to_owned(),
        threads: 2,
        pin_threads: false,
        stall_max: Duration::from_millis(500),
        ..WorkerConfig::default()
    };
    let workers = spawn_workers(config, Arc::new(log), Arc::new(registry)).unwrap();
    // Dropped before `workers`, whose drop joins the threads.
    let _unblock = Unblock(Arc::clone(&mode));
    let prometheus = PrometheusBuilder::new().build_recorder().handle();
    let address = metrics::serve("127.0.0.1:0".parse().unwrap(), prometheus, workers.health()).unwrap();

    // The watch blocks before the first load: stuck, and not ready.
    let stuck = wait_for(address, "/healthz", 503);
    assert!(stuck.starts_with("thread clicktail-control made no progress for "), "{stuck}");
    assert!(!stuck.contains("filter"), "filter threads wait for the load and make progress: {stuck}");
    let (status, not_ready) = get(address, "/readyz");
    assert_eq!(status, 503);
    assert!(not_ready.starts_with("thread clicktail-control made no progress for "), "{not_ready}");

    mode.store(PASS, Ordering::Relaxed);
    assert_eq!(wait_for(address, "/healthz", 200), "ok\n");
    assert_eq!(wait_for(address, "/readyz", 200), "ready\n");
    assert_eq!(get(address, "/metrics").0, 200);
    assert_eq!(get(address, "/anything").0, 404);
    assert_eq!(get(address, "/").0, 404);

    // A control thread that stopped: its process must not say it is fine.
    mode.store(PANIC, Ordering::Relaxed);
    // While the panic is being reported the thread is stuck, then gone.
    wait_for_body(address, "/healthz", 503, "thread clicktail-control exited\n");
    assert_eq!(get(address, "/readyz"), (503, "thread clicktail-control exited\n".to_owned()));
    assert!(workers.join().is_err(), "the control thread panicked");
}

/// A probe whose request head arrives in pieces gets its answer. The
/// listener answered after the request line and closed with the rest of the
/// head unread, which makes the kernel reset the connection: the chaos
/// suite's probe (`write!`, a write per piece) failed to send the rest and
/// saw no status. The pauses only stage the pieces.
#[test]
fn a_request_head_sent_in_pieces_is_answered_not_reset() {
    let log = MemoryLog::default();
    log.create_topic("raw", 1).unwrap();
    log.create_topic("filtered", 1).unwrap();
    let config = WorkerConfig {
        raw_topics: crate::log::RawTopics::one("raw"),
        filtered_topic: "filtered".to_owned(),
        threads: 1,
        pin_threads: false,
        ..WorkerConfig::default()
    };
    let workers = spawn_workers(config, Arc::new(log), Arc::new(MemoryRegistry::default())).unwrap();
    let prometheus = PrometheusBuilder::new().build_recorder().handle();
    let address = metrics::serve("127.0.0.1:0".parse().unwrap(), prometheus, workers.health()).unwrap();
    for path in ["/healthz", "/readyz", "/metrics", "/no-such-path"] {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // As `write!` on a socket sends it: one write per formatted piece.
        let pieces = [format!("GET {path} HTTP/1.1\r\n"), "host: test\r\n".to_owned(), "\r\n".to_owned()];
        for piece in pieces {
            if let Err(error) = stream.write_all(piece.as_bytes()) {
                panic!("{path}: sending {piece:?}: {error}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut response = String::new();
        if let Err(error) = stream.read_to_string(&mut response) {
            panic!("{path}: {error} (read {response:?})");
        }
        assert!(response.starts_with("HTTP/1.1 "), "{path}: {response:?}");
    }
}
