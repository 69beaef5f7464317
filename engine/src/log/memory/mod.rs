//! The in-memory log: partitioned topics in this process, with bounded
//! retention per partition, consumer groups and tail consumers. It stands
//! in for Kafka in `clicktail demo` and in fast tests, behind the same
//! [`Log`] seam, so the worker and gateway code is the same.
//!
//! Differences from Kafka worth knowing:
//! - `send` appends at once, so `flush` never waits and never fails;
//! - retention is a record count per partition
//!   ([`MemoryLogConfig::records_per_partition_max`]), the oldest records
//!   dropped first; a consumer that fell behind skips ahead to the oldest
//!   retained record;
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

use consumer::{MemoryGroupConsumer, MemoryTailConsumer};
use producer::MemoryProducer;
use topic::Topic;

use super::{Log, LogConsumer, LogError, LogProducer};

/// Limits of the in-memory log.
#[derive(Clone, Copy, Debug)]
pub struct MemoryLogConfig {
    /// Records kept per partition before the oldest is dropped. Default
    /// 100,000: with 1 KiB events, about 100 MB per partition at most.
    pub records_per_partition_max: usize,
    /// Upper bound on the partitions of one topic (default 1,024).
    pub partitions_max: u32,
}

impl Default for MemoryLogConfig {
    fn default() -> Self {
        MemoryLogConfig { records_per_partition_max: 100_000, partitions_max: 1_024 }
    }
}

/// The shared state behind a [`MemoryLog`] and all its producers and consumers.
pub(crate) struct MemoryLogShared {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    config: MemoryLogConfig,
}

impl MemoryLogShared {
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
        topics
            .entry(topic.to_owned())
            .or_insert_with(|| Arc::new(Topic::new(topic, partitions, self.shared.config.records_per_partition_max)));
        Ok(())
    }
}

impl Log for MemoryLog {
    fn producer(&self) -> Result<Box<dyn LogProducer>, LogError> {
        Ok(Box::new(MemoryProducer { log: Arc::clone(&self.shared), round_robin: AtomicU64::new(0) }))
    }

    fn group_consumer(&self, group: &str, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let topic = self.shared.topic(topic)?;
        Ok(Box::new(MemoryGroupConsumer::join(topic, group)))
    }

    fn tail_consumer(&self, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let topic = self.shared.topic(topic)?;
        Ok(Box::new(MemoryTailConsumer::at_end(topic)))
    }

    fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.shared.topic(topic)?.partition_count())
    }
}
