//! The in-memory producer: appends immediately, so `flush` has nothing to wait for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::MemoryLogShared;
use crate::log::{Headers, LogError, LogProducer, Message, PartitionId};

pub(super) struct MemoryProducer {
    pub(super) log: Arc<MemoryLogShared>,
    /// Spreads keyless messages over partitions in turn.
    pub(super) round_robin: AtomicU64,
}

impl LogProducer for MemoryProducer {
    fn send(&self, topic: &str, message: Message<'_>) -> Result<(), LogError> {
        let topic = self.log.topic(topic)?;
        let mut state = topic.lock();
        let partition_count = state.partitions.len() as u32;
        let PartitionId(partition) = match message.partition {
            Some(partition) if partition.0 < partition_count => partition,
            Some(partition) => {
                return Err(LogError::Transport(format!(
                    "partition {} of topic {:?} does not exist ({partition_count} partitions)",
                    partition.0, topic.name
                )))
            }
            None if message.key.is_empty() => {
                PartitionId((self.round_robin.fetch_add(1, Ordering::Relaxed) % u64::from(partition_count)) as u32)
            }
            None => PartitionId((key_hash(message.key) % u64::from(partition_count)) as u32),
        };
        let key = (!message.key.is_empty()).then(|| message.key.to_vec());
        let headers = Headers::from_sent(message.headers);
        let log = &mut state.partitions[partition as usize];
        if let Some(retention_ms) = topic.retention_ms {
            // Time retention, checked on append: a partition nobody writes
            // to keeps its records, as a Kafka segment that never rolls does.
            log.expire_older_than(crate::clock::now_ms().saturating_sub(retention_ms as i64));
        }
        log.append(key, message.payload.to_vec(), message.timestamp_ms, headers);
        topic.notify(&state);
        Ok(())
    }

    fn flush(&self, _timeout: Duration) -> Result<(), LogError> {
        // Every `send` appended before returning: nothing is in flight.
        Ok(())
    }
}

/// FNV-1a: stable across runs and platforms, so a key always maps to the
/// same partition (what the gateway's "one user's events stay in order" needs).
fn key_hash(key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
