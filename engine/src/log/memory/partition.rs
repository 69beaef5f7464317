//! One partition of an in-memory topic: a bounded window of the most recent
//! records, addressed by offset like a Kafka partition.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::log::{Headers, PartitionId, Record};

/// The retained records of one partition. When full, the oldest record is
/// dropped (as Kafka's `retention.bytes` would): a consumer that fell
/// behind the window resumes at the oldest retained record and the gap is
/// counted in [`PartitionLog::dropped`].
pub(super) struct PartitionLog {
    topic: Arc<str>,
    id: PartitionId,
    /// Retained records, oldest first; `records[i].offset == start_offset + i`.
    records: VecDeque<Record>,
    /// The offset of `records[0]` (or of the next record when empty).
    start_offset: i64,
    /// The bound on `records.len()`.
    records_max: usize,
    /// Records dropped by retention so far.
    dropped: u64,
}

impl PartitionLog {
    pub(super) fn new(topic: Arc<str>, id: PartitionId, records_max: usize) -> Self {
        assert!(records_max > 0, "a partition must retain at least one record");
        PartitionLog { topic, id, records: VecDeque::new(), start_offset: 0, records_max, dropped: 0 }
    }

    /// The offset the next appended record will get (Kafka's high watermark).
    pub(super) fn end_offset(&self) -> i64 {
        self.start_offset + self.records.len() as i64
    }

    pub(super) fn start_offset(&self) -> i64 {
        self.start_offset
    }

    #[cfg(test)]
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The first retained record whose timestamp is at or after
    /// `timestamp_ms` (Kafka's ListOffsets by time); `None` when every
    /// retained record is older. A linear scan: producers set timestamps,
    /// which need not increase, and Kafka answers the first such offset too.
    pub(super) fn offset_for_time(&self, timestamp_ms: i64) -> Option<i64> {
        self.records.iter().find(|record| record.timestamp_ms >= timestamp_ms).map(|record| record.offset)
    }

    /// Drops the records older than `oldest_ms` from the front (the
    /// in-memory log's time retention; stops at the first newer record,
    /// as Kafka deletes whole old segments).
    pub(super) fn expire_older_than(&mut self, oldest_ms: i64) {
        while self.records.front().is_some_and(|record| record.timestamp_ms < oldest_ms) {
            self.records.pop_front();
            self.start_offset += 1;
            self.dropped += 1;
        }
    }

    /// Appends a record and returns its offset.
    pub(super) fn append(
        &mut self,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
        timestamp_ms: i64,
        headers: Headers,
    ) -> i64 {
        if self.records.len() == self.records_max {
            self.records.pop_front();
            self.start_offset += 1;
            self.dropped += 1;
        }
        let offset = self.end_offset();
        self.records.push_back(Record {
            topic: Arc::clone(&self.topic),
            partition: self.id,
            offset,
            key,
            payload: payload.into(),
            timestamp_ms,
            headers,
        });
        offset
    }

    /// Copies records from `position` on (clamped to the retained window)
    /// into `out`, at most `max`; returns the position after the last copied.
    pub(super) fn read_from(&self, position: i64, max: usize, out: &mut Vec<Record>) -> i64 {
        let first = position.max(self.start_offset);
        let skip = (first - self.start_offset) as usize;
        let mut next = first;
        for record in self.records.iter().skip(skip).take(max) {
            out.push(record.clone());
            next = record.offset + 1;
        }
        next
    }
}
