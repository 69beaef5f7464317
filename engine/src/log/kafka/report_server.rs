//! Serves a producer's delivery reports as soon as librdkafka queues them,
//! on a thread that sleeps in between.
//!
//! rdkafka's `ThreadedProducer` (0.38) polls in a loop with a 100 ms
//! timeout, and each of those polls ends in a busy loop: rdkafka hands
//! librdkafka the wait truncated to whole milliseconds and then polls with
//! a zero timeout until the full duration has passed. That was about
//! 0.8 ms of CPU per poll, 0.8% of a core for every idle producer
//! (perf/results/gateway-raw-idle.md). Here librdkafka writes a byte to a
//! socket instead when its event queue stops being empty
//! (`rd_kafka_queue_io_event_enable`); the thread blocks reading that
//! socket and then serves the queue without waiting until it is empty.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::bindings::{
    rd_kafka_queue_destroy, rd_kafka_queue_get_main, rd_kafka_queue_io_event_enable, rd_kafka_queue_length,
    rd_kafka_queue_t,
};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// The byte librdkafka writes when a report arrives on an empty queue.
const WAKE_UP: [u8; 1] = [1];

/// Owns the serving thread; dropping it stops the thread.
pub(super) struct ReportServer<C: ProducerContext + 'static> {
    /// Where delivery reports (and error events) arrive.
    queue: MainQueue,
    /// The socket end librdkafka writes its wake-ups to; `drop` writes the
    /// last one. It must stay open while librdkafka may write to it.
    signal: UnixStream,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Keeps the client alive until its queue handle is released.
    _producer: Arc<BaseProducer<C>>,
}

/// librdkafka's handle on a producer's main queue.
#[derive(Clone, Copy)]
struct MainQueue(*mut rd_kafka_queue_t);

// SAFETY: librdkafka's queue functions lock the queue; a handle may be
// used from any thread, and shared, while the client lives.
unsafe impl Send for MainQueue {}
unsafe impl Sync for MainQueue {}

impl MainQueue {
    fn length(self) -> usize {
        // SAFETY: the handle is live until `ReportServer::drop` destroys
        // it, after the only other user (the thread) has ended.
        unsafe { rd_kafka_queue_length(self.0) }
    }
}

impl<C: ProducerContext + 'static> ReportServer<C> {
    pub(super) fn start(producer: Arc<BaseProducer<C>>) -> std::io::Result<Self> {
        let (signal, wakeups) = UnixStream::pair()?;
        // librdkafka writes from its own threads with the queue locked: a
        // full socket must not block it (a missed byte is harmless, the
        // reader has not yet drained the earlier ones).
        signal.set_nonblocking(true)?;
        // SAFETY: `producer` is a live client; the handle is released in
        // `drop`, before `_producer` lets the client go.
        let queue = MainQueue(unsafe { rd_kafka_queue_get_main(producer.client().native_ptr()) });
        // SAFETY: the fd stays open (`signal`) until io events are turned
        // off again in `drop`; librdkafka copies the payload.
        unsafe { rd_kafka_queue_io_event_enable(queue.0, signal.as_raw_fd(), WAKE_UP.as_ptr().cast(), WAKE_UP.len()) };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("kafka-reports".into()).spawn({
            let producer = Arc::clone(&producer);
            let stop = Arc::clone(&stop);
            move || serve(&producer, queue, wakeups, &stop)
        })?;
        Ok(ReportServer { queue, signal, stop, thread: Some(thread), _producer: producer })
    }
}

/// Sleeps until librdkafka (or `drop`) writes a wake-up, then serves every
/// queued event.
fn serve<C: ProducerContext>(producer: &BaseProducer<C>, queue: MainQueue, mut wakeups: UnixStream, stop: &AtomicBool) {
    let mut bytes = [0u8; 64];
    loop {
        match wakeups.read(&mut bytes) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                tracing::error!(%error, "kafka producer: the delivery report signal failed; reports stop");
                return;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // A zero timeout serves one queued event and never waits (there is
        // no truncated wait to spin out). Reports that arrive while
        // this runs keep the queue non-empty (no new byte) and are served
        // here; one arriving after the last check writes a byte.
        while queue.length() > 0 {
            producer.poll(Duration::ZERO);
        }
    }
}

impl<C: ProducerContext + 'static> Drop for ReportServer<C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The socket holds up to its buffer of unread bytes; with the
        // reader gone it may be full, and then the thread wakes anyway.
        let _ = (&self.signal).write(&WAKE_UP);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: the thread has ended; io events are turned off before
        // `signal` closes, then the handle is released, all while
        // `_producer` keeps the client alive.
        unsafe {
            rd_kafka_queue_io_event_enable(self.queue.0, -1, std::ptr::null(), 0);
            rd_kafka_queue_destroy(self.queue.0);
        }
    }
}
