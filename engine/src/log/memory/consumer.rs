//! In-memory consumers: a group member (partitions shared with the other
//! members of its group, positions committed to the group) and a tail
//! consumer (every partition, from the end, nothing committed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::topic::{MemberId, Topic, TopicState};
use super::MemoryLogShared;
use crate::log::{LogConsumer, LogError, PartitionId, RawTopics, Record};

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
/// A member of one group over several topics: one member per topic,
/// polled in turn. A pattern is re-evaluated on every poll (a read of the
/// topic map), so topics created later join. Waiting is sliced: with
/// records on none of the topics, it waits on one topic at a time for at
/// most `WAIT_SLICE`, so a record on another topic waits that long at most.
pub(super) struct MemoryMultiConsumer {
    log: Arc<MemoryLogShared>,
    topics: RawTopics,
    group: String,
    members: Vec<MemoryGroupConsumer>,
    /// The member polled first (and waited on) next.
    next: usize,
}

impl MemoryMultiConsumer {
    const WAIT_SLICE: Duration = Duration::from_millis(2);

    pub(super) fn join(log: Arc<MemoryLogShared>, group: &str, topics: &RawTopics) -> Result<Self, LogError> {
        let mut consumer =
            MemoryMultiConsumer { log, topics: topics.clone(), group: group.to_owned(), members: Vec::new(), next: 0 };
        for name in topics.names() {
            // Named topics must exist, as for one topic.
            consumer.log.topic(name)?;
        }
        consumer.join_new_topics();
        Ok(consumer)
    }

    fn join_new_topics(&mut self) {
        let existing = self.log.topic_names();
        for name in self.topics.resolve(existing.iter().map(String::as_str)) {
            if self.members.iter().any(|member| member.topic.name == name) {
                continue;
            }
            if let Ok(topic) = self.log.topic(&name) {
                self.members.push(MemoryGroupConsumer::join(topic, &self.group));
            }
        }
    }
}

impl LogConsumer for MemoryMultiConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        if self.topics.pattern().is_some() {
            self.join_new_topics();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.members.len();
            let mut read = 0;
            for turn in 0..count {
                let member = &mut self.members[(self.next + turn) % count];
                read += member.poll(max - read, Duration::ZERO, out)?;
                if read == max {
                    break;
                }
            }
            let now = Instant::now();
            if read > 0 || now >= deadline || count == 0 {
                self.next = (self.next + 1) % count.max(1);
                return Ok(read);
            }
            let slice = Self::WAIT_SLICE.min(deadline - now);
            self.next = (self.next + 1) % count;
            let read = self.members[self.next].poll(max, slice, out)?;
            if read > 0 {
                return Ok(read);
            }
        }
    }

    fn commit(&mut self) -> Result<(), LogError> {
        let mut result = Ok(());
        for member in &mut self.members {
            if let Err(error) = member.commit() {
                result = result.and(Err(error));
            }
        }
        result
    }

    fn lag(&self) -> Option<u64> {
        Some(self.members.iter().filter_map(MemoryGroupConsumer::lag).sum())
    }

    fn lag_by_topic(&self, out: &mut Vec<(Arc<str>, u64)>) {
        out.clear();
        for member in &self.members {
            out.push((Arc::from(member.topic.name.as_str()), member.lag));
        }
    }
}

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

    /// Reads only `starts`' partitions, each from its offset (clamped to
    /// what is retained): the in-memory `consumer_from`.
    pub(super) fn from_offsets(topic: Arc<Topic>, starts: &[(PartitionId, i64)]) -> Self {
        let positions = starts.iter().map(|&(partition, next)| Position { partition, next }).collect();
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
