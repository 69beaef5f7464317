//! Heap held per idle admin session (issue 16 item 3: at most 2 KiB).
//!
//! Counted by a global allocator wrapper: live heap bytes of the whole
//! process, with the node's gateway, its in-memory registry rows and the
//! test's own client sockets. Deterministic where RSS is not (allocator
//! segments, page granularity).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::log::memory::MemoryLog;
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_gateway::{Gateway, GatewayConfig};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sessions measured: the test holds both ends (2 descriptors each), well
/// under a default soft limit of 1,024.
const SESSIONS: usize = 300;
/// The target of issue 16: an idle session costs at most 2 KiB.
const IDLE_SESSION_BYTES_MAX: isize = 2 * 1024;

#[test]
fn an_idle_subscribed_admin_session_holds_at_most_2_kib_of_heap() {
    let log = Arc::new(MemoryLog::default());
    log.create_topic("clicks", 1).unwrap();
    log.create_topic("clicks.filtered", 1).unwrap();
    let mut config = GatewayConfig::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.no_admin_token = true;
    let gateway = Gateway::start(config, log, Arc::new(MemoryRegistry::default())).unwrap();
    let address = gateway.local_address();
    // One session first, so every lazily built structure of the gateway
    // (loop scratch buffers, the route table) exists before measuring.
    let mut sockets = vec![open_subscribed(address, 0)];
    let mut streams = Vec::with_capacity(SESSIONS);
    std::thread::sleep(Duration::from_millis(300));
    let before = LIVE_BYTES.load(Relaxed);
    for index in 1..=SESSIONS {
        streams.push(open_subscribed(address, index));
    }
    // Drained queues are handed back on the loops' 250 ms timer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let per_session = loop {
        let per_session = (LIVE_BYTES.load(Relaxed) - before) / SESSIONS as isize;
        if per_session <= IDLE_SESSION_BYTES_MAX || Instant::now() > deadline {
            break per_session;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("heap per idle admin session: {per_session} bytes");
    assert!(per_session <= IDLE_SESSION_BYTES_MAX, "{per_session} bytes per idle session");
    sockets.append(&mut streams);
    drop(sockets);
    gateway.stop();
}

/// Opens `/ws`, subscribes `user.id == "u-INDEX"` and reads up to the
/// `subscribed` reply, without allocating per session beyond the socket.
fn open_subscribed(address: std::net::SocketAddr, index: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut payload = [0u8; 64];
    let mut cursor = &mut payload[..];
    write!(cursor, r#"{{"type":"subscribe","criterion":"user.id == \"u-{index:05}\""}}"#).unwrap();
    let length = 64 - cursor.len();
    // A client frame: FIN + text, masked with a zero key (RFC 6455 5.3).
    let mut frame = [0u8; 6 + 64];
    frame[..6].copy_from_slice(&[0x81, 0x80 | length as u8, 0, 0, 0, 0]);
    frame[6..6 + length].copy_from_slice(&payload[..length]);
    stream.write_all(&frame[..6 + length]).unwrap();
    let mut seen = [0u8; 4096];
    let mut filled = 0;
    while !seen[..filled].windows(12).any(|window| window == b"\"subscribed\"") {
        let count = stream.read(&mut seen[filled..]).unwrap();
        assert!(count > 0, "closed during setup");
        filled += count;
    }
    stream
}
