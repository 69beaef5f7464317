//! The Kafka log, over rdkafka (librdkafka, bundled and built from source).
//!
//! - producers are `BaseProducer`s whose delivery callback counts acks and
//!   failures, so `flush` can report that some message was not delivered
//!   (then the worker does not commit, and re-reads the batch);
//! - group consumers are `BaseConsumer`s with cooperative-sticky assignment
//!   and no automatic commit: offsets are committed explicitly, after the
//!   batch's matches are acknowledged; a worker process joins once, its
//!   threads sharing the member (`group.rs`);
//! - tail consumers assign every partition at its end, with no group;
//! - positioned consumers (`consumer_from`, with `watermarks` and
//!   `offset_for_time` to choose the offsets) read chosen partitions from
//!   chosen offsets, with no group: `clicktail tail`.
//!
//! Every librdkafka setting is set in `config.rs`, with the reason for its
//! value. Layout: `config.rs`, `producer.rs`, `consumer.rs` (the tail
//! consumer), `group.rs` (the group member), `fetch_queue.rs` (a thread's
//! share of the member's records, in batches), `message.rs` (a consumed
//! message copied into a record), `headers.rs` (record headers to and from
//! librdkafka), `tests.rs` (against the real broker of
//! `scripts/services.sh`).

mod config;
mod consumer;
mod fetch_queue;
mod fetcher;
mod group;
mod headers;
mod message;
mod producer;
pub mod rebalance_noise;
mod report_server;

#[cfg(test)]
mod tests;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

pub use config::KafkaConfig;
pub(crate) use message::LentPayload;

use super::{Log, LogConsumer, LogError, LogProducer, PartitionId, RawTopics, SharedGroup};

/// The Kafka log of one cluster.
pub struct KafkaLog {
    config: KafkaConfig,
    /// A group-less client for metadata requests.
    metadata: BaseConsumer,
}

impl KafkaLog {
    /// Creates the client (no connection is made until it is used).
    pub fn new(config: KafkaConfig) -> Result<Self, LogError> {
        let metadata = config.metadata_client_config().create().map_err(transport)?;
        Ok(KafkaLog { config, metadata })
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// Creates `topic` (replication factor 1) unless it exists; for tests,
    /// benchmarks and development. Production topics are created by the
    /// operator, with the cluster's replication.
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LogError> {
        let admin: AdminClient<DefaultClientContext> =
            self.config.metadata_client_config().create().map_err(transport)?;
        let new_topic = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(1));
        let options =
            AdminOptions::new().operation_timeout(Some(Duration::from_millis(self.config.request_timeout_ms)));
        let results = futures_executor::block_on(admin.create_topics([&new_topic], &options)).map_err(transport)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(LogError::Transport(format!("creating topic {name:?}: {code}"))),
            }
        }
        // The metadata of a new topic reaches every broker asynchronously:
        // wait (bounded) until this client sees its partitions.
        let deadline = std::time::Instant::now() + Duration::from_millis(self.config.request_timeout_ms);
        loop {
            match self.partition_count(topic) {
                Ok(count) if count == partitions => return Ok(()),
                _ if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Ok(count) => {
                    return Err(LogError::Transport(format!(
                        "topic {topic:?} has {count} partitions, not {partitions}"
                    )))
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Deletes `topic` if it exists; for tests and benchmarks, which create
    /// topics of their own (a broker holding hundreds of them took over
    /// 120 s to restart).
    pub fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        let admin: AdminClient<DefaultClientContext> =
            self.config.metadata_client_config().create().map_err(transport)?;
        let options =
            AdminOptions::new().operation_timeout(Some(Duration::from_millis(self.config.request_timeout_ms)));
        let results = futures_executor::block_on(admin.delete_topics(&[topic], &options)).map_err(transport)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((name, code)) => return Err(LogError::Transport(format!("deleting topic {name:?}: {code}"))),
            }
        }
        Ok(())
    }

    /// The low and high watermarks of `partition` of `topic`, asked of its
    /// leader: the oldest offset still held and the offset the next record
    /// will get (`high - low` records are there).
    pub fn watermarks(&self, topic: &str, partition: PartitionId) -> Result<(i64, i64), LogError> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        self.metadata.fetch_watermarks(topic, partition.0 as i32, timeout).map_err(|error| self.metadata_error(error))
    }

    /// The offset of the first record of `partition` whose timestamp is at
    /// or after `timestamp_ms` (Kafka's ListOffsets by time, KIP-79);
    /// `None` when every record is older (start at the end).
    pub fn offset_for_time(
        &self,
        topic: &str,
        partition: PartitionId,
        timestamp_ms: i64,
    ) -> Result<Option<i64>, LogError> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition_offset(topic, partition.0 as i32, Offset::Offset(timestamp_ms)).map_err(transport)?;
        let found = self.metadata.offsets_for_times(wanted, timeout).map_err(|error| self.metadata_error(error))?;
        let element = found
            .find_partition(topic, partition.0 as i32)
            .ok_or_else(|| LogError::Transport(format!("no offset for time in the answer for {topic:?}")))?;
        element.error().map_err(transport)?;
        match element.offset() {
            Offset::Offset(offset) => Ok(Some(offset)),
            // The broker answers -1 (librdkafka's `End`) when no record is that recent.
            _ => Ok(None),
        }
    }

    /// A consumer of `starts`' partitions of `topic`, each from its offset,
    /// in no group and committing nothing: for reading a range or following
    /// from a chosen point (`clicktail tail`, a backfill scan).
    pub fn consumer_from(&self, topic: &str, starts: &[(PartitionId, i64)]) -> Result<Box<dyn LogConsumer>, LogError> {
        Ok(Box::new(consumer::KafkaTailConsumer::from_offsets(&self.config, topic, starts)?))
    }

    /// A failed metadata request: [`LogError::Unreachable`], naming the
    /// brokers, when librdkafka reached none of them in time (a topic is
    /// then not to blame); otherwise a transport error.
    fn metadata_error(&self, error: KafkaError) -> LogError {
        match error {
            KafkaError::MetadataFetch(
                code @ (RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::OperationTimedOut),
            ) => LogError::Unreachable {
                brokers: self.config.brokers.clone(),
                cause: format!("no answer within {} ms ({code})", self.config.request_timeout_ms),
            },
            error => transport(error),
        }
    }
}

pub(crate) fn transport(error: KafkaError) -> LogError {
    LogError::Transport(error.to_string())
}

/// A metadata request for `topic` on `client`'s own connections: `Ok`
/// when a broker answered within `timeout`. librdkafka reconnects by itself
/// and keeps no "brokers are up" state a caller can read (its
/// `ALL_BROKERS_DOWN` error has no counterpart when they return, and an
/// idle client's connections may be closed by the broker without any
/// outage), so a round trip is the honest test. The request goes to a
/// broker, never to librdkafka's metadata cache.
fn check_reachable<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: Option<&str>,
    timeout: Duration,
) -> Result<(), LogError> {
    client
        .fetch_metadata(topic, timeout)
        .map(|_| ())
        .map_err(|error| LogError::Transport(format!("brokers unreachable: {error}")))
}

impl Log for KafkaLog {
    fn producer(&self) -> Result<Box<dyn LogProducer>, LogError> {
        Ok(Box::new(producer::KafkaProducer::new(&self.config)?))
    }

    fn group_consumer_of(&self, group: &str, topics: &RawTopics) -> Result<Box<dyn LogConsumer>, LogError> {
        Ok(Box::new(group::KafkaGroupConsumer::subscribe(&self.config, group, topics)?))
    }

    fn shared_group(&self, group: &str, topics: &RawTopics, threads: usize) -> Box<dyn SharedGroup> {
        Box::new(group::KafkaSharedGroup::new(&self.config, group, topics, threads))
    }

    fn topic_names(&self) -> Result<Vec<String>, LogError> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        let metadata = self.metadata.fetch_metadata(None, timeout).map_err(|error| self.metadata_error(error))?;
        Ok(metadata.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_owned()).collect())
    }

    fn tail_consumer(&self, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let partitions = self.partition_count(topic)?;
        Ok(Box::new(consumer::KafkaTailConsumer::at_end(&self.config, topic, partitions)?))
    }

    fn watermarks(&self, topic: &str, partition: PartitionId) -> Result<(i64, i64), LogError> {
        KafkaLog::watermarks(self, topic, partition)
    }

    fn offset_for_time(&self, topic: &str, partition: PartitionId, timestamp_ms: i64) -> Result<Option<i64>, LogError> {
        KafkaLog::offset_for_time(self, topic, partition, timestamp_ms)
    }

    fn consumer_from(&self, topic: &str, starts: &[(PartitionId, i64)]) -> Result<Box<dyn LogConsumer>, LogError> {
        KafkaLog::consumer_from(self, topic, starts)
    }

    fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        let metadata =
            self.metadata.fetch_metadata(Some(topic), timeout).map_err(|error| self.metadata_error(error))?;
        let unknown = || LogError::UnknownTopic { topic: topic.to_owned() };
        let found = metadata.topics().iter().find(|t| t.name() == topic).ok_or_else(unknown)?;
        match found.error() {
            None if !found.partitions().is_empty() => Ok(found.partitions().len() as u32),
            None => Err(unknown()),
            Some(code) if RDKafkaErrorCode::from(code) == RDKafkaErrorCode::UnknownTopicOrPartition => Err(unknown()),
            Some(code) => {
                Err(LogError::Transport(format!("metadata for topic {topic:?}: {}", RDKafkaErrorCode::from(code))))
            }
        }
    }
}
