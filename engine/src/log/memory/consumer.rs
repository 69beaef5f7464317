//! In-memory consumers: a group member (partitions shared with the other
//! members of its group, positions committed to the group) and a tail
//! consumer (every partition, from the end, nothing committed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::topic::{MemberId, Topic, TopicState};
use crate::log::{LogConsumer, LogError, PartitionId, Record};

/// The read position of one assigned partition.
#[derive(Clone, Copy, Debug)]
struct Position {
    partition: PartitionId,
    /// The next offset to read.
    next: i64,
}

/// Reads `positions` in turn (a fair share per partition) into `out`.
fn read_assigned(state: &TopicState, positions: &mut [Position], max: usize, out: &mut Vec<Record>) -> usize {
    let before = out.len();
    if positions.is_empty() {
        return 0;
    }
    let share = max.div_ceil(positions.len()).max(1);
    for position in positions.iter_mut() {
        let room = max - (out.len() - before);
        if room == 0 {
            break;
        }
        let partition = &state.partitions[position.partition.0 as usize];
        position.next = partition.read_from(position.next, share.min(room), out);
    }
    out.len() - before
}

fn lag_of(state: &TopicState, positions: &[Position]) -> u64 {
    positions.iter().map(|p| (state.partitions[p.partition.0 as usize].end_offset() - p.next).max(0) as u64).sum()
}

/// A member of a consumer group. Dropping it leaves the group, which
/// hands its partitions to the other members from the committed positions.
pub(super) struct MemoryGroupConsumer {
    pub(super) topic: Arc<Topic>,
    pub(super) group: String,
    pub(super) member: MemberId,
    /// The group generation `positions` was computed for.
    pub(super) generation: Option<u64>,
    positions: Vec<Position>,
    lag: u64,
}

impl MemoryGroupConsumer {
    /// Joins `group` on `topic`.
    pub(super) fn join(topic: Arc<Topic>, group: &str) -> Self {
        let member = {
            let mut state = topic.lock();
            let partition_count = state.partitions.len();
            let member = MemberId(state.next_member);
            state.next_member += 1;
            let group_state = state.groups.entry(group.to_owned()).or_default();
            group_state.committed.resize(partition_count, None);
            group_state.members.push(member);
            group_state.generation += 1;
            topic.notify(&state);
            member
        };
        MemoryGroupConsumer { topic, group: group.to_owned(), member, generation: None, positions: Vec::new(), lag: 0 }
    }

    /// Recomputes the assignment when the group's generation moved:
    /// positions restart from the committed offsets, as after a Kafka rebalance.
    fn sync_assignment(&mut self, state: &TopicState) {
        let Some(group) = state.groups.get(&self.group) else {
            return;
        };
        if self.generation == Some(group.generation) {
            return;
        }
        self.generation = Some(group.generation);
        self.positions = group
            .assignment(self.member, state.partitions.len())
            .into_iter()
            .map(|partition| Position {
                partition,
                next: group.committed[partition.0 as usize]
                    .unwrap_or_else(|| state.partitions[partition.0 as usize].start_offset()),
            })
            .collect();
    }
}

impl LogConsumer for MemoryGroupConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let deadline = Instant::now() + timeout;
        let topic = Arc::clone(&self.topic);
        let mut state = topic.lock();
        loop {
            self.sync_assignment(&state);
            let read = read_assigned(&state, &mut self.positions, max, out);
            if read > 0 || Instant::now() >= deadline {
                self.lag = lag_of(&state, &self.positions);
                return Ok(read);
            }
            state = topic.wait_until(state, deadline);
        }
    }

    fn commit(&mut self) -> Result<(), LogError> {
        let mut state = self.topic.lock();
        let Some(group) = state.groups.get_mut(&self.group) else {
            return Ok(());
        };
        // Kafka rejects a commit from an older generation (ILLEGAL_GENERATION):
        // the partitions may have moved, and their new owner re-reads from the
        // last commit. Same here: at-least-once, never a skipped record.
        if self.generation != Some(group.generation) {
            return Err(LogError::Transport(format!(
                "group {:?} rebalanced since the last poll; the commit was rejected",
                self.group
            )));
        }
        for position in &self.positions {
            group.committed[position.partition.0 as usize] = Some(position.next);
        }
        Ok(())
    }

    fn lag(&self) -> Option<u64> {
        Some(self.lag)
    }
}

impl Drop for MemoryGroupConsumer {
    fn drop(&mut self) {
        let mut state = self.topic.lock();
        if let Some(group) = state.groups.get_mut(&self.group) {
            group.members.retain(|m| *m != self.member);
            group.generation += 1;
        }
        self.topic.notify(&state);
    }
}

/// Reads every partition from the end at creation; commits nothing.
pub(super) struct MemoryTailConsumer {
    topic: Arc<Topic>,
    positions: Vec<Position>,
    lag: u64,
}

impl MemoryTailConsumer {
    pub(super) fn at_end(topic: Arc<Topic>) -> Self {
        let positions = {
            let state = topic.lock();
            state
                .partitions
                .iter()
                .enumerate()
                .map(|(p, log)| Position { partition: PartitionId(p as u32), next: log.end_offset() })
                .collect()
        };
        MemoryTailConsumer { topic, positions, lag: 0 }
    }
}

impl LogConsumer for MemoryTailConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let deadline = Instant::now() + timeout;
        let topic = Arc::clone(&self.topic);
        let mut state = topic.lock();
        loop {
            let read = read_assigned(&state, &mut self.positions, max, out);
            if read > 0 || Instant::now() >= deadline {
                self.lag = lag_of(&state, &self.positions);
                return Ok(read);
            }
            state = topic.wait_until(state, deadline);
        }
    }

    fn commit(&mut self) -> Result<(), LogError> {
        // A tail consumer keeps no positions anywhere: it always starts at the end.
        Ok(())
    }

    fn lag(&self) -> Option<u64> {
        Some(self.lag)
    }
}
