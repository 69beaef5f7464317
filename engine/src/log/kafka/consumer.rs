//! The tail consumer (`assign` of every partition at its end, no group)
//! and what both kinds of consumer share: topic names, positions, reading
//! with rdkafka's one-record `poll`. The group member is in `group.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::message::{HeaderCopy, RecordReader};
use super::transport;
use crate::log::{LogConsumer, LogError, PartitionId, Record};

/// The topics a consumer has read, each name allocated once and shared
/// by every record of that topic (`Record::topic`). A consumer reads a
/// handful of topics, so a linear search beats hashing.
#[derive(Default)]
pub(super) struct TopicNames(Vec<Arc<str>>);

impl TopicNames {
    pub(super) fn get(&mut self, topic: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|known| &***known == topic) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(topic);
        self.0.push(Arc::clone(&name));
        name
    }
}

/// Next offset per (topic, partition).
pub(super) type Positions = BTreeMap<(Arc<str>, i32), i64>;

/// Notes the next offset of each record read into `Positions` and, when
/// asked, the first offset read of each partition into another (kept
/// from its first record on). Records come in runs of one partition (a
/// fetch response's batch), so the maps are written once per run rather
/// than once per record.
pub(super) struct PositionsBuilder<'a> {
    next: &'a mut Positions,
    first: Option<&'a mut Positions>,
    run: Option<Run>,
}

/// Consecutive records of one partition.
struct Run {
    topic: Arc<str>,
    partition: i32,
    first: i64,
    next: i64,
}

impl<'a> PositionsBuilder<'a> {
    pub(super) fn new(next: &'a mut Positions) -> Self {
        PositionsBuilder { next, first: None, run: None }
    }

    pub(super) fn with_first(next: &'a mut Positions, first: &'a mut Positions) -> Self {
        PositionsBuilder { next, first: Some(first), run: None }
    }

    pub(super) fn note(&mut self, topic: &Arc<str>, partition: i32, offset: i64) {
        match &mut self.run {
            Some(run) if Arc::ptr_eq(&run.topic, topic) && run.partition == partition => run.next = offset + 1,
            _ => {
                self.end_run();
                self.run = Some(Run { topic: Arc::clone(topic), partition, first: offset, next: offset + 1 });
            }
        }
    }

    fn end_run(&mut self) {
        if let Some(Run { topic, partition, first, next }) = self.run.take() {
            if let Some(firsts) = &mut self.first {
                firsts.entry((Arc::clone(&topic), partition)).or_insert(first);
            }
            self.next.insert((topic, partition), next);
        }
    }

    /// Writes the last run; the positions are complete after this.
    pub(super) fn finish(mut self) {
        self.end_run();
    }
}

/// Appends up to `max` records from `consumer` to `out`, made by `reader`,
/// recording the next position of each partition in `positions`.
///
/// Errors delivered by `poll` are librdkafka's error events (a broker
/// down, a transport failure): librdkafka reconnects by itself, and during
/// an outage it queues one event per failure, so they are logged and
/// skipped here, within the same `timeout`. Returning each as an error
/// would make the caller back off once per queued event and stall long
/// after the broker is back.
pub(super) fn poll_into<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    max: usize,
    timeout: Duration,
    out: &mut Vec<Record>,
    reader: &mut RecordReader,
    positions: &mut PositionsBuilder<'_>,
) -> Result<usize, LogError> {
    let deadline = Instant::now() + timeout;
    let mut read = 0;
    let mut skipped_errors = 0u32;
    while read < max {
        // Only the first record is waited for; the rest of the batch is
        // what librdkafka has already prefetched.
        let wait =
            if read == 0 { whole_millis(deadline.saturating_duration_since(Instant::now())) } else { Duration::ZERO };
        match consumer.poll(wait) {
            None => break,
            Some(Ok(message)) => {
                // SAFETY: the message is live for this call.
                if let Some(record) = unsafe { reader.record(message.ptr()) } {
                    positions.note(&record.topic, record.partition.0 as i32, record.offset);
                    out.push(record);
                    read += 1;
                }
            }
            Some(Err(error)) => {
                if skipped_errors == 0 {
                    tracing::debug!(%error, "kafka consumer error event skipped");
                }
                skipped_errors += 1;
                if wait.is_zero() && read == 0 {
                    break;
                }
            }
        }
    }
    Ok(read)
}

/// `wait` rounded up to whole milliseconds. rdkafka (0.38) hands librdkafka
/// the wait truncated to milliseconds, then polls again with what is left
/// until the whole `Duration` has passed: a fraction of a millisecond
/// becomes polls with a zero timeout in a loop, up to 1 ms of busy CPU per
/// empty poll (half of an idle gateway's CPU before this).
fn whole_millis(wait: Duration) -> Duration {
    Duration::from_millis(wait.as_micros().div_ceil(1_000).min(u64::MAX as u128) as u64)
}

pub(super) struct KafkaTailConsumer {
    consumer: BaseConsumer,
    topic: String,
    reader: RecordReader,
    positions: Positions,
}

impl KafkaTailConsumer {
    pub(super) fn at_end(config: &KafkaConfig, topic: &str, partitions: u32) -> Result<Self, LogError> {
        let starts: Vec<(i32, Offset)> = (0..partitions as i32).map(|partition| (partition, Offset::End)).collect();
        Self::assigned(config, topic, &starts)
    }

    /// Reads each of `starts`' partitions from its offset.
    pub(super) fn from_offsets(
        config: &KafkaConfig,
        topic: &str,
        starts: &[(PartitionId, i64)],
    ) -> Result<Self, LogError> {
        let starts: Vec<(i32, Offset)> =
            starts.iter().map(|(partition, offset)| (partition.0 as i32, Offset::Offset(*offset))).collect();
        Self::assigned(config, topic, &starts)
    }

    fn assigned(config: &KafkaConfig, topic: &str, starts: &[(i32, Offset)]) -> Result<Self, LogError> {
        let consumer: BaseConsumer = config.tail_consumer_config().create().map_err(transport)?;
        let mut assignment = TopicPartitionList::new();
        for (partition, offset) in starts {
            assignment.add_partition_offset(topic, *partition, *offset).map_err(transport)?;
        }
        consumer.assign(&assignment).map_err(transport)?;
        Ok(KafkaTailConsumer {
            consumer,
            topic: topic.to_owned(),
            reader: RecordReader::new(HeaderCopy::Copied),
            positions: BTreeMap::new(),
        })
    }
}

impl LogConsumer for KafkaTailConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let mut positions = PositionsBuilder::new(&mut self.positions);
        let read = poll_into(&self.consumer, max, timeout, out, &mut self.reader, &mut positions);
        positions.finish();
        read
    }

    fn commit(&mut self) -> Result<(), LogError> {
        // A tail consumer always starts at the end: there is nothing to keep.
        Ok(())
    }

    fn check_reachable(&self, timeout: Duration) -> Result<(), LogError> {
        super::check_reachable(self.consumer.client(), Some(&self.topic), timeout)
    }
}
