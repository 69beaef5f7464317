//! The in-memory log: partitioned topics in this process, with bounded
//! retention per partition, consumer groups and tail consumers. It stands
//! in for Kafka in `clicktail demo` and in fast tests, behind the same
//! [`Log`] seam, so the worker and gateway code is the same.
//!
//! Differences from Kafka worth knowing:
//! - `send` appends at once, so `flush` never waits and never fails;
//! - retention is a record count per partition
//!   ([`MemoryLogConfig::records_per_partition_max`]) and, optionally, an
//!   age ([`MemoryLogConfig::retention_ms`], checked on append), the oldest
//!   records dropped first; a consumer that fell behind skips ahead to the
//!   oldest retained record;
//! - positioning (`offset_for_time`, `watermarks`, `consumer_from`) reads
//!   the retained records under the topic's lock; a backfill scan of
//!   `clicktail demo` uses it as a worker uses Kafka's;
//! - group assignment is round-robin (partition `p` to member `p % members`),
//!   recomputed on every join and leave, positions restarting from the
//!   group's committed offsets (as an eager Kafka rebalance does).
//!
//! Layout: `partition.rs` (one partition's records), `topic.rs` (partitions,
//! groups, wake-ups), `producer.rs`, `consumer.rs`, `tests.rs`.

mod consumer;
mod partition;
mod producer;
mod topic;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use consumer::{MemoryGroupConsumer, MemoryMultiConsumer, MemoryTailConsumer};
use producer::MemoryProducer;
use topic::Topic;

use super::{Log, LogConsumer, LogError, LogProducer, PartitionId, RawTopics, SharedGroup};

/// Limits of the in-memory log.
#[derive(Clone, Copy, Debug)]
pub struct MemoryLogConfig {
    /// Records kept per partition before the oldest is dropped. Default
    /// 100,000: with 1 KiB events, about 100 MB per partition at most.
    pub records_per_partition_max: usize,
    /// Upper bound on the partitions of one topic (default 1,024).
    pub partitions_max: u32,
    /// Records older than this many milliseconds are dropped (on the next
    /// append to their partition); `None` (the default) keeps records until
    /// the count bound. `clicktail demo` sets 10 minutes: the reach of its
    /// time travel.
    pub retention_ms: Option<u64>,
}

impl Default for MemoryLogConfig {
    fn default() -> Self {
        MemoryLogConfig { records_per_partition_max: 100_000, partitions_max: 1_024, retention_ms: None }
    }
}

/// The shared state behind a [`MemoryLog`] and all its producers and consumers.
pub(crate) struct MemoryLogShared {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    config: MemoryLogConfig,
}

impl MemoryLogShared {
    fn topic_names(&self) -> Vec<String> {
        let topics = self.topics.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        topics.keys().cloned().collect()
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, LogError> {
        let topics = self.topics.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        topics.get(name).cloned().ok_or_else(|| LogError::UnknownTopic { topic: name.to_owned() })
    }
}

/// An in-memory partitioned log. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryLog {
    shared: Arc<MemoryLogShared>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        MemoryLog::new(MemoryLogConfig::default())
    }
}

impl MemoryLog {
    pub fn new(config: MemoryLogConfig) -> Self {
        MemoryLog { shared: Arc::new(MemoryLogShared { topics: RwLock::new(HashMap::new()), config }) }
    }

    /// Creates `topic` with `partitions` partitions; does nothing if it
    /// exists (topics are never created implicitly, as on the project's broker).
    pub fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LogError> {
        if partitions == 0 || partitions > self.shared.config.partitions_max {
            return Err(LogError::Transport(format!(
                "topic {topic:?}: {partitions} partitions is outside 1..={}",
                self.shared.config.partitions_max
            )));
        }
        let mut topics = self.shared.topics.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        topics.entry(topic.to_owned()).or_insert_with(|| {
            let config = &self.shared.config;
            Arc::new(Topic::new(topic, partitions, config.records_per_partition_max, config.retention_ms))
        });
        Ok(())
    }
}

/// The in-memory log's shared membership: one member per thread. Joining
/// costs nothing here, and a member that leaves with records uncommitted
/// hands them back through the group's committed offsets.
struct MemorySharedGroup {
    log: MemoryLog,
    group: String,
    topics: RawTopics,
}

impl SharedGroup for MemorySharedGroup {
    fn consumer(&self, _thread: usize) -> Result<Box<dyn LogConsumer>, LogError> {
        self.log.group_consumer_of(&self.group, &self.topics)
    }
}

impl Log for MemoryLog {
    fn producer(&self) -> Result<Box<dyn LogProducer>, LogError> {
        Ok(Box::new(MemoryProducer { log: Arc::clone(&self.shared), round_robin: AtomicU64::new(0) }))
    }

    fn group_consumer_of(&self, group: &str, topics: &RawTopics) -> Result<Box<dyn LogConsumer>, LogError> {
        if let ([name], None) = (topics.names(), topics.pattern()) {
            // One topic: its consumer alone, which waits on its topic's condition.
            return Ok(Box::new(MemoryGroupConsumer::join(self.shared.topic(name)?, group)));
        }
        Ok(Box::new(MemoryMultiConsumer::join(Arc::clone(&self.shared), group, topics)?))
    }

    fn shared_group(&self, group: &str, topics: &RawTopics, _threads: usize) -> Box<dyn SharedGroup> {
        Box::new(MemorySharedGroup { log: self.clone(), group: group.to_owned(), topics: topics.clone() })
    }

    fn topic_names(&self) -> Result<Vec<String>, LogError> {
        Ok(self.shared.topic_names())
    }

    fn tail_consumer(&self, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let topic = self.shared.topic(topic)?;
        Ok(Box::new(MemoryTailConsumer::at_end(topic)))
    }

    fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.shared.topic(topic)?.partition_count())
    }

    fn watermarks(&self, topic: &str, partition: PartitionId) -> Result<(i64, i64), LogError> {
        let topic = self.shared.topic(topic)?;
        let state = topic.lock();
        let log =
            state.partitions.get(partition.0 as usize).ok_or_else(|| unknown_partition(&topic.name, partition))?;
        Ok((log.start_offset(), log.end_offset()))
    }

    fn offset_for_time(&self, topic: &str, partition: PartitionId, timestamp_ms: i64) -> Result<Option<i64>, LogError> {
        let topic = self.shared.topic(topic)?;
        let state = topic.lock();
        let log =
            state.partitions.get(partition.0 as usize).ok_or_else(|| unknown_partition(&topic.name, partition))?;
        Ok(log.offset_for_time(timestamp_ms))
    }

    fn consumer_from(&self, topic: &str, starts: &[(PartitionId, i64)]) -> Result<Box<dyn LogConsumer>, LogError> {
        let topic = self.shared.topic(topic)?;
        let count = topic.partition_count();
        if let Some(&(partition, _)) = starts.iter().find(|(partition, _)| partition.0 >= count) {
            return Err(unknown_partition(&topic.name, partition));
        }
        Ok(Box::new(MemoryTailConsumer::from_offsets(topic, starts)))
    }
}

fn unknown_partition(topic: &str, partition: PartitionId) -> LogError {
    LogError::Transport(format!("topic {topic:?} has no partition {}", partition.0))
}
