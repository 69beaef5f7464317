//! An in-memory topic: its partitions, its consumer groups, and the
//! condition variable that wakes consumers waiting for records.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::partition::PartitionLog;
use crate::log::PartitionId;

/// A member of a consumer group, unique within its topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct MemberId(pub(super) u64);

/// The state of one consumer group over a topic, as a Kafka group
/// coordinator keeps it: members, a generation bumped on every membership
/// change, and committed positions.
#[derive(Default)]
pub(super) struct GroupState {
    /// Members in join order; partition `p` belongs to `members[p % len]`.
    pub(super) members: Vec<MemberId>,
    /// Bumped on every join and leave; members reassign when it moves.
    pub(super) generation: u64,
    /// Per partition: the next offset to read, or `None` (from the earliest record).
    pub(super) committed: Vec<Option<i64>>,
}

impl GroupState {
    /// The partitions `member` owns in the current generation.
    pub(super) fn assignment(&self, member: MemberId, partition_count: usize) -> Vec<PartitionId> {
        let Some(index) = self.members.iter().position(|m| *m == member) else {
            return Vec::new();
        };
        (0..partition_count).filter(|p| p % self.members.len() == index).map(|p| PartitionId(p as u32)).collect()
    }
}

/// Everything behind the topic's lock.
pub(super) struct TopicState {
    pub(super) partitions: Vec<PartitionLog>,
    pub(super) groups: HashMap<String, GroupState>,
    /// Consumers blocked in `poll`; appends skip the wake-up syscall when zero.
    pub(super) waiting: usize,
    pub(super) next_member: u64,
}

pub(super) struct Topic {
    pub(super) name: String,
    /// Records older than this (by their timestamp) are dropped on the
    /// next append to their partition; `None` keeps them (count bound only).
    pub(super) retention_ms: Option<u64>,
    pub(super) state: Mutex<TopicState>,
    /// Signalled when records are appended or group membership changes.
    pub(super) changed: Condvar,
}

impl Topic {
    pub(super) fn new(
        name: &str,
        partition_count: u32,
        records_per_partition_max: usize,
        retention_ms: Option<u64>,
    ) -> Self {
        let shared_name: std::sync::Arc<str> = std::sync::Arc::from(name);
        let partitions = (0..partition_count)
            .map(|p| PartitionLog::new(std::sync::Arc::clone(&shared_name), PartitionId(p), records_per_partition_max))
            .collect();
        Topic {
            name: name.to_owned(),
            retention_ms,
            state: Mutex::new(TopicState { partitions, groups: HashMap::new(), waiting: 0, next_member: 0 }),
            changed: Condvar::new(),
        }
    }

    /// Locks the topic. A panic while holding the lock cannot leave the
    /// state half-updated (every update is a single push or assignment), so
    /// a poisoned lock is recovered rather than propagated.
    pub(super) fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn partition_count(&self) -> u32 {
        self.lock().partitions.len() as u32
    }

    /// Wakes every waiting consumer, if any.
    pub(super) fn notify(&self, state: &TopicState) {
        if state.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits on the topic until notified or `deadline`; returns the guard.
    pub(super) fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, TopicState>,
        deadline: Instant,
    ) -> MutexGuard<'a, TopicState> {
        let now = Instant::now();
        if now >= deadline {
            return state;
        }
        state.waiting += 1;
        let (mut state, _) = self
            .changed
            .wait_timeout(state, deadline.saturating_duration_since(now).min(Duration::from_secs(3600)))
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.waiting -= 1;
        state
    }
}
