//! A thread's share of a group member's fetched records, read in batches.
//!
//! rdkafka's `BaseConsumer::poll` returns one record per call: a queue
//! lock, an event and three clock reads per record, 22% of a draining
//! worker's CPU (perf/results/worker.md, 2026-12-04). librdkafka's batch
//! call, `rd_kafka_consume_batch_queue`, takes up to a whole batch under
//! one lock, but it cannot read the consumer queue itself: that queue also
//! carries the group's rebalance events, which the batch call would answer
//! with librdkafka's default handling (an unassign) instead of
//! `GroupContext`'s. So every assigned partition's queue is forwarded
//! instead to the fetch queue of the thread it is handed to (`group.rs`),
//! before its fetching starts (`forward_partition`, from `pre_rebalance`),
//! and the consumer queue keeps only librdkafka's events, which
//! `BaseConsumer::poll` still serves. A forward made by the application
//! outlives the partition's assignments (librdkafka's
//! `RD_KAFKA_Q_F_FWD_APP`), and records fetched under an old assignment
//! are dropped by librdkafka's version barrier as they are on the consumer
//! queue.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::bindings::{
    rd_kafka_consume_batch_queue, rd_kafka_message_t, rd_kafka_queue_destroy, rd_kafka_queue_forward,
    rd_kafka_queue_get_partition, rd_kafka_queue_new, rd_kafka_queue_t, rd_kafka_t,
};

use super::consumer::PositionsBuilder;
use super::message::RecordReader;
use crate::log::Record;

/// The queue every assigned partition of one group member forwards to.
pub(super) struct FetchQueue {
    queue: NonNull<rd_kafka_queue_t>,
}

// SAFETY: librdkafka's queues are thread-safe (each has its own lock); the
// handle is only used through librdkafka's calls.
unsafe impl Send for FetchQueue {}
unsafe impl Sync for FetchQueue {}

impl FetchQueue {
    /// A new queue of `client`; `None` if librdkafka cannot make one.
    ///
    /// # Safety
    /// `client` is a live consumer handle, and the queue is dropped before
    /// the client is destroyed: its records hold references to the
    /// client's partitions.
    pub(super) unsafe fn new(client: *mut rd_kafka_t) -> Option<Arc<FetchQueue>> {
        NonNull::new(rd_kafka_queue_new(client)).map(|queue| Arc::new(FetchQueue { queue }))
    }

    /// Sends the records of `topic`'s `partition` here from now on.
    ///
    /// # Safety
    /// `client` is the live consumer handle this queue was made from.
    pub(super) unsafe fn forward_partition(&self, client: *mut rd_kafka_t, topic: &str, partition: i32) {
        let Ok(topic) = CString::new(topic) else { return };
        let partition_queue = rd_kafka_queue_get_partition(client, topic.as_ptr(), partition);
        if partition_queue.is_null() {
            return;
        }
        rd_kafka_queue_forward(partition_queue, self.queue.as_ptr());
        rd_kafka_queue_destroy(partition_queue);
    }

    /// Appends up to `max` records to `out`, waiting up to `wait` for the
    /// first (never for a full batch: librdkafka's batch call waits until
    /// its array is full or its timeout passes, so it is asked for one
    /// record first when none is ready). Returns how many were appended.
    pub(super) fn read_into(&self, max: usize, wait: Duration, into: &mut ReadInto<'_, '_>) -> usize {
        let mut read = self.read_ready(max, Duration::ZERO, into);
        if read == 0 && !wait.is_zero() {
            read = self.read_ready(1, wait, into);
            if read > 0 {
                read += self.read_ready(max - read, Duration::ZERO, into);
            }
        }
        read
    }

    /// One call of librdkafka's batch read; error records (a partition's
    /// fetch failing: librdkafka retries by itself) are logged and skipped.
    fn read_ready(&self, max: usize, wait: Duration, into: &mut ReadInto<'_, '_>) -> usize {
        if max == 0 {
            return 0;
        }
        let ReadInto { batch, out, reader, positions } = into;
        batch.0.reserve(max);
        let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the array has room for `max` pointers; librdkafka writes
        // the first `count` of them, each a message now owned here and
        // taken over by the reader below.
        let count = unsafe { rd_kafka_consume_batch_queue(self.queue.as_ptr(), wait_ms, batch.0.as_mut_ptr(), max) };
        let count = usize::try_from(count).unwrap_or(0);
        // SAFETY: see above.
        unsafe { batch.0.set_len(count) };
        let mut read = 0;
        for &message in &batch.0 {
            // SAFETY: `message` is live and owned here; the reader takes it
            // over (lent to the record, or destroyed) and it is not used again.
            if let Some(record) = unsafe { reader.take_record(message) } {
                positions.note(&record.topic, record.partition.0 as i32, record.offset);
                out.push(record);
                read += 1;
            }
        }
        batch.0.clear();
        read
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        // SAFETY: the handle is live and this is its only release; records
        // still queued are destroyed with it.
        unsafe { rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}

/// Where read records go: the array librdkafka fills, the records, what
/// makes them, and the positions they advance.
pub(super) struct ReadInto<'a, 'p> {
    pub(super) batch: &'a mut FetchBuffer,
    pub(super) out: &'a mut Vec<Record>,
    pub(super) reader: &'a mut RecordReader,
    pub(super) positions: &'a mut PositionsBuilder<'p>,
}

/// The array librdkafka's batch call fills, kept from poll to poll.
#[derive(Default)]
pub(super) struct FetchBuffer(Vec<*mut rd_kafka_message_t>);

// SAFETY: the array is empty between calls; the pointers it holds during
// one are messages owned by that call.
unsafe impl Send for FetchBuffer {}
