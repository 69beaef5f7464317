//! The log seam: a partitioned, append-only log of records, as Kafka is.
//!
//! Workers and gateways talk to topics only through these traits, so the
//! same code runs on Kafka (`kafka/`) in production and on the in-memory log
//! (`memory/`) in `clicktail demo` and in fast tests.
//!
//! Records carry a key, a payload, a timestamp and headers (`headers.rs`;
//! the filtered topic's metadata travels in them, docs/filtered-topic.md).
//!
//! Delivery contract (at-least-once): a consumer's `commit` marks every
//! record returned by `poll` so far as processed; a worker calls it only
//! after `flush` on its producer reported every match of those records
//! acknowledged. Records polled but not committed are read again after a
//! crash or a rebalance.

use std::sync::Arc;
use std::time::Duration;

mod headers;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
mod payload;
mod topics;

pub use headers::{Header, Headers};
pub use payload::Payload;
pub use topics::{is_topic_name, RawTopics, RawTopicsError};

/// A partition of a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId(pub u32);

/// A record read from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The topic it was read from (one allocation per topic, shared by its records).
    pub topic: Arc<str>,
    pub partition: PartitionId,
    /// Position in the partition; increases by at least one per record.
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Payload,
    /// Milliseconds since the Unix epoch, as set by the producer.
    pub timestamp_ms: i64,
    /// The record's headers, as sent (empty when it has none).
    pub headers: Headers,
}

/// A record to append.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// Records with the same key go to the same partition (when `partition` is `None`).
    pub key: &'a [u8],
    pub payload: &'a [u8],
    /// An explicit partition, overriding the key's.
    pub partition: Option<PartitionId>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Headers to send with the record (`&[]` for none).
    pub headers: &'a [Header<'a>],
}

/// Why a log operation failed. Transient failures (a broker restart) are
/// errors to retry, never panics.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("topic {topic:?} does not exist")]
    UnknownTopic { topic: String },
    #[error("the local send queue is full ({queued} messages): slow down or flush")]
    QueueFull { queued: usize },
    #[error("not every message was acknowledged within {timeout_ms} ms")]
    FlushTimeout { timeout_ms: u64 },
    /// No broker answered: the address is wrong or the cluster is down.
    #[error(
        "cannot reach the Kafka brokers {brokers}: {cause}; check the address (CLICKTAIL_KAFKA_BROKERS) \
         and that they run (for development: `scripts/services.sh up`)"
    )]
    Unreachable { brokers: String, cause: String },
    #[error("log transport error: {0}")]
    Transport(String),
}

/// Appends records to topics. Shared by the threads of a process.
pub trait LogProducer: Send + Sync {
    /// Queues one message; it is durable only once `flush` returns `Ok`.
    fn send(&self, topic: &str, message: Message<'_>) -> Result<(), LogError>;
    /// Waits until every message queued so far is acknowledged by the log,
    /// or fails (then some may be lost and the caller must not commit).
    fn flush(&self, timeout: Duration) -> Result<(), LogError>;
    /// `send`; when the local queue is full, one `flush` (waiting for the
    /// acknowledgements frees it) and one more try. A second refusal is
    /// the caller's error.
    fn send_or_flush_once(&self, topic: &str, message: Message<'_>, flush_timeout: Duration) -> Result<(), LogError> {
        match self.send(topic, message) {
            Err(LogError::QueueFull { .. }) => {
                self.flush(flush_timeout)?;
                self.send(topic, message)
            }
            other => other,
        }
    }
    /// Asks the log for the metadata of `topic`, waiting at most `timeout`:
    /// `Ok` when this client can reach the log now. For readiness probes;
    /// it makes a round trip, so call it seconds apart, not per message.
    fn check_reachable(&self, _topic: &str, _timeout: Duration) -> Result<(), LogError> {
        Ok(())
    }
}

/// Reads records from a topic, either as a member of a group (partitions
/// shared among members) or alone over every partition.
pub trait LogConsumer: Send {
    /// Appends up to `max` records to `out`, waiting at most `timeout` for
    /// the first one. Returns how many were appended.
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError>;
    /// Marks every record returned by `poll` so far as processed, and
    /// waits until the log has it.
    fn commit(&mut self) -> Result<(), LogError>;
    /// As `commit`, without waiting: a commit that fails later only means
    /// records are read again (duplicates, never loss). For the hot path;
    /// `commit` before leaving.
    fn commit_in_background(&mut self) -> Result<(), LogError> {
        self.commit()
    }
    /// Records not yet read on the assigned partitions, as of the last
    /// `poll` (`None` when the log cannot tell cheaply).
    fn lag(&self) -> Option<u64> {
        None
    }
    /// As `lag`, per topic, into `out` (cleared first); nothing when the
    /// log cannot tell cheaply.
    fn lag_by_topic(&self, out: &mut Vec<(Arc<str>, u64)>) {
        out.clear();
    }
    /// True once the group gave this member its assignment (possibly
    /// empty, when there are more members than partitions), until it
    /// reports a group error. Always true for a consumer with no group.
    fn is_assigned(&self) -> bool {
        true
    }
    /// How many partitions the group gives this member now, when the
    /// consumer knows (a member stops counting a partition before it is
    /// handed over). `None`: it cannot say.
    fn owned_partitions(&self) -> Option<u32> {
        None
    }
    /// How many commits failed since the last call, among those whose
    /// result arrived after the call that made them returned
    /// (`commit_in_background`, commits made during a rebalance).
    fn take_commit_failures(&mut self) -> u64 {
        0
    }
    /// As [`LogProducer::check_reachable`], for this consumer's client.
    fn check_reachable(&self, _timeout: Duration) -> Result<(), LogError> {
        Ok(())
    }
}

/// A group membership shared by the threads of one process. Thread `i`'s
/// consumer reads the partitions the membership hands to `i`, and commits
/// them; the process joins the group once however many threads it runs,
/// so a new thread (or a second worker process) costs one rebalance, not one
/// per thread.
///
/// A thread's consumer dropped with records read but not committed (its
/// matches were not acknowledged) rewinds their partitions to the first of
/// them: its next consumer, or the partition's next owner, reads them again.
///
/// Its records may come without their headers (the Kafka log's always
/// do): the filter threads match the payload alone, and copying the
/// headers out costs librdkafka an allocation per record.
pub trait SharedGroup: Send + Sync {
    /// Thread `thread`'s consumer (`thread` < the `threads` it was made for);
    /// at most one at a time per thread.
    fn consumer(&self, thread: usize) -> Result<Box<dyn LogConsumer>, LogError>;
}

/// A log: the factory of producers and consumers for its topics.
pub trait Log: Send + Sync {
    fn producer(&self) -> Result<Box<dyn LogProducer>, LogError>;
    /// A member of consumer group `group` over `topic`, resuming from the
    /// group's committed positions (the earliest record when there are none).
    fn group_consumer(&self, group: &str, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        self.group_consumer_of(group, &RawTopics::one(topic))
    }
    /// As `group_consumer`, over every topic of `topics` (one group over
    /// all of them; a pattern also picks up topics created later).
    fn group_consumer_of(&self, group: &str, topics: &RawTopics) -> Result<Box<dyn LogConsumer>, LogError>;
    /// One membership of `group` over `topics` for the `threads` threads of
    /// a process, each reading its own share of the member's partitions
    /// (see [`SharedGroup`]). Makes no connection until the first `consumer`.
    fn shared_group(&self, group: &str, topics: &RawTopics, threads: usize) -> Box<dyn SharedGroup>;
    /// The name of every topic of the log (to resolve a pattern).
    fn topic_names(&self) -> Result<Vec<String>, LogError>;
    /// A consumer of every partition of `topic`, starting at its end: for
    /// gateways, which each need every record and no history.
    fn tail_consumer(&self, topic: &str) -> Result<Box<dyn LogConsumer>, LogError>;
    /// The number of partitions of `topic`.
    fn partition_count(&self, topic: &str) -> Result<u32, LogError>;
    /// The oldest offset of `partition` still held and the offset the next
    /// record will get (Kafka's low and high watermarks).
    fn watermarks(&self, topic: &str, partition: PartitionId) -> Result<(i64, i64), LogError>;
    /// The offset of the first record of `partition` whose timestamp is at
    /// or after `timestamp_ms`; `None` when every record is older.
    fn offset_for_time(&self, topic: &str, partition: PartitionId, timestamp_ms: i64) -> Result<Option<i64>, LogError>;
    /// A consumer of `starts`' partitions of `topic`, each from its offset,
    /// in no group, committing nothing: reading a range (a backfill scan,
    /// `clicktail tail --since`).
    fn consumer_from(&self, topic: &str, starts: &[(PartitionId, i64)]) -> Result<Box<dyn LogConsumer>, LogError>;
}
