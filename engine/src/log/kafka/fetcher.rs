//! A filter thread's own fetcher: a second librdkafka client, outside the
//! group, that fetches the partitions the group member hands that thread.
//!
//! librdkafka keeps one fetch in flight per client and broker, and parses
//! each response on that client's one broker thread before it asks for the
//! next: a worker whose threads all read through their member waited on
//! that one thread, with a quarter of the machine idle (perf/results/
//! worker.md, 2026-12-05T06:00Z). A member per thread fetches in parallel
//! too, but each joins the group on its own, and librdkafka lets a member
//! join at most once a second (`group.rs`). So the member stays alone in
//! the group, owns every partition and commits them all, and each thread
//! after the first fetches its own share through a client of its own.
//!
//! The member starts a partition here at the offset it positioned it at
//! (`GroupContext::rebalance`), stops it here before a revocation
//! completes, and seeks it here to rewind it. Records already fetched for
//! a stopped or sought partition are dropped by librdkafka's version
//! barrier, as on the member's own queues.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, TopicPartitionList};

use super::config::KafkaConfig;
use super::consumer::PositionsBuilder;
use super::fetch_queue::FetchQueue;
use super::group::{cached_high_watermark, serve_queued_events};
use super::message::RecordReader;
use super::{rebalance_noise, transport};
use crate::log::{LogError, Record};

/// How long `start` waits for a topic's leaders (`learn_leaders`).
const METADATA_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) struct ThreadFetcher {
    /// Declared before the client, so dropped before it: its queued
    /// records hold references to the client's partitions.
    queue: Arc<FetchQueue>,
    consumer: BaseConsumer<FetcherContext>,
}

impl ThreadFetcher {
    pub(super) fn connect(config: &KafkaConfig) -> Result<Self, LogError> {
        let consumer: BaseConsumer<FetcherContext> =
            config.fetcher_config().create_with_context(FetcherContext).map_err(transport)?;
        // SAFETY: the client is live, and the queue is dropped before it (field order).
        let queue = unsafe { FetchQueue::new(consumer.client().native_ptr()) }
            .ok_or_else(|| LogError::Transport("librdkafka could not make a queue".to_owned()))?;
        Ok(ThreadFetcher { queue, consumer })
    }

    /// The queue its partitions' records go to, which its thread reads.
    pub(super) fn queue(&self) -> Arc<FetchQueue> {
        Arc::clone(&self.queue)
    }

    /// Starts fetching `partitions` at their offsets into the thread's
    /// queue (forwarded first, so that no record lands anywhere else).
    pub(super) fn start(&self, partitions: &TopicPartitionList) -> KafkaResult<()> {
        self.learn_leaders(partitions);
        for element in partitions.elements() {
            // SAFETY: the client is live for the borrow of `self`, and the
            // queue was made from it.
            unsafe { self.queue.forward_partition(self.client(), element.topic(), element.partition()) };
        }
        self.consumer.incremental_assign(partitions)
    }

    /// Asks for the metadata of `partitions`' topics first: a partition
    /// started at a logical offset (the earliest) before its client knows
    /// its leader waits 500 ms to look it up (`rd_kafka_toppar_offset_request`),
    /// and meanwhile the member's own threads read on alone. Without an
    /// answer the partitions start all the same.
    fn learn_leaders(&self, partitions: &TopicPartitionList) {
        let topics: std::collections::BTreeSet<String> =
            partitions.elements().iter().map(|element| element.topic().to_owned()).collect();
        for topic in &topics {
            if let Err(error) = self.consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) {
                tracing::debug!(topic, %error, "a thread's fetcher could not learn the leaders of its partitions");
            }
        }
    }

    /// Stops fetching `partitions`; records of theirs still queued are
    /// dropped.
    pub(super) fn stop(&self, partitions: &TopicPartitionList) -> KafkaResult<()> {
        self.consumer.incremental_unassign(partitions)
    }

    /// Moves `partitions` back to their offsets; records fetched past them
    /// are dropped.
    pub(super) fn seek(&self, partitions: TopicPartitionList) -> KafkaResult<()> {
        self.consumer.seek_partitions(partitions, Duration::ZERO).map(|_| ())
    }

    pub(super) fn high_watermark(&self, topic: &CString, partition: i32) -> Option<i64> {
        cached_high_watermark(&self.consumer, topic, partition)
    }

    /// Serves the client's queued events (errors, logged and skipped) as
    /// the member's are (`serve_queued_events`). Its partitions' records
    /// all go to the thread's queue; one found here all the same goes to
    /// `out` too.
    pub(super) fn serve_events(
        &self,
        max: usize,
        out: &mut Vec<Record>,
        reader: &mut RecordReader,
        positions: &mut PositionsBuilder<'_>,
    ) -> Result<usize, LogError> {
        serve_queued_events(&self.consumer, max, out, reader, positions)
    }

    fn client(&self) -> *mut rdkafka::bindings::rd_kafka_t {
        self.consumer.client().native_ptr()
    }
}

/// A fetcher's librdkafka logs and errors, as a group member's.
struct FetcherContext;

impl ClientContext for FetcherContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        rebalance_noise::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        rebalance_noise::error(&error, reason);
    }
}

impl ConsumerContext for FetcherContext {}
