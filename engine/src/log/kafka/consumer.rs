//! Kafka consumers: a group member (`subscribe`, explicit commits) and a
//! tail consumer (`assign` of every partition at its end).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::bindings::{rd_kafka_get_watermark_offsets, rd_kafka_resp_err_t};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message as _;
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::headers::read_headers;
use super::transport;
use crate::log::{LogConsumer, LogError, PartitionId, Record};

/// How often the lag is refreshed (from librdkafka's cached watermarks).
const LAG_REFRESH: Duration = Duration::from_secs(1);

/// Appends up to `max` records from `consumer` to `out`, recording the
/// next position of each partition in `positions`.
///
/// Errors delivered by `poll` are librdkafka's error events (a broker
/// down, a transport failure): librdkafka reconnects by itself, and during
/// an outage it queues one event per failure, so they are logged and
/// skipped here, within the same `timeout`. Returning each as an error
/// would make the caller back off once per queued event and stall long
/// after the broker is back.
fn poll_into<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    max: usize,
    timeout: Duration,
    out: &mut Vec<Record>,
    positions: &mut BTreeMap<i32, i64>,
) -> Result<usize, LogError> {
    let deadline = Instant::now() + timeout;
    let mut read = 0;
    let mut skipped_errors = 0u32;
    while read < max {
        // Only the first record is waited for; the rest of the batch is
        // what librdkafka has already prefetched.
        let wait = if read == 0 { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
        match consumer.poll(wait) {
            None => break,
            Some(Ok(message)) => {
                positions.insert(message.partition(), message.offset() + 1);
                out.push(Record {
                    partition: PartitionId(message.partition() as u32),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
                    headers: read_headers(&message),
                });
                read += 1;
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

/// The lag of `consumer` over `topic`: high watermark minus next position,
/// summed over the assigned partitions.
fn measure_lag<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    positions: &BTreeMap<i32, i64>,
) -> Option<u64> {
    let assignment = consumer.assignment().ok()?;
    let topic_name = CString::new(topic).ok()?;
    let mut lag = 0u64;
    for element in assignment.elements_for_topic(topic) {
        let high = cached_high_watermark(consumer, &topic_name, element.partition())?;
        let position = positions.get(&element.partition()).copied().unwrap_or(high);
        lag += (high - position).max(0) as u64;
    }
    Some(lag)
}

/// The high watermark of `partition` as of the consumer's last fetch
/// response. `fetch_watermarks` would ask the broker instead: one round
/// trip per partition, once a second, in the middle of the filter thread's
/// loop (a stall seen in the end-to-end latency's tail).
fn cached_high_watermark<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &CStr, partition: i32) -> Option<i64> {
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is live for the borrow of `consumer`, the
    // topic is a NUL-terminated string, and the two out-pointers are valid
    // for writes; librdkafka only reads its cache under its own lock.
    let error = unsafe {
        rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (error == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

/// The group member's context. Commits made in the background may still
/// be on their way when a rebalance revokes a partition, and the next owner
/// would then start from an older offset and read a batch again (a
/// duplicate in a clean run of the service tests). Before a revocation
/// completes, the offsets last sent for the revoked partitions are
/// committed again, synchronously: their answer also means the earlier
/// request on the same connection was handled.
#[derive(Default)]
struct GroupContext {
    /// Partition → next offset, as last sent in a commit.
    sent: Mutex<BTreeMap<i32, i64>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else { return };
        let mut offsets = TopicPartitionList::new();
        if let Ok(mut sent) = self.sent.lock() {
            for element in revoked.elements() {
                // Forgotten once revoked: if the partition comes back, an
                // offset from before would move its new progress backwards.
                if let Some(next) = sent.remove(&element.partition()) {
                    let _ = offsets.add_partition_offset(element.topic(), element.partition(), Offset::Offset(next));
                }
            }
        }
        if offsets.count() > 0 {
            if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
                tracing::warn!(%error, "commit before a revocation failed; the next owner may read records again");
            }
        }
    }
}

pub(super) struct KafkaGroupConsumer {
    consumer: BaseConsumer<GroupContext>,
    topic: String,
    /// Next offset per partition, of every record returned by `poll` since
    /// the last successful commit.
    uncommitted: BTreeMap<i32, i64>,
    /// Next offset per partition ever returned, for the lag.
    positions: BTreeMap<i32, i64>,
    lag: Option<u64>,
    lag_measured: Option<Instant>,
}

impl KafkaGroupConsumer {
    pub(super) fn subscribe(config: &KafkaConfig, group: &str, topic: &str) -> Result<Self, LogError> {
        let consumer: BaseConsumer<GroupContext> =
            config.group_consumer_config(group).create_with_context(GroupContext::default()).map_err(transport)?;
        consumer.subscribe(&[topic]).map_err(transport)?;
        Ok(KafkaGroupConsumer {
            consumer,
            topic: topic.to_owned(),
            uncommitted: BTreeMap::new(),
            positions: BTreeMap::new(),
            lag: None,
            lag_measured: None,
        })
    }

    fn commit_uncommitted(&mut self, mode: CommitMode) -> Result<(), LogError> {
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, next) in &self.uncommitted {
            offsets.add_partition_offset(&self.topic, *partition, Offset::Offset(*next)).map_err(transport)?;
        }
        self.consumer.commit(&offsets, mode).map_err(transport)?;
        if let Ok(mut sent) = self.consumer.context().sent.lock() {
            sent.extend(self.uncommitted.iter());
        }
        self.uncommitted.clear();
        Ok(())
    }
}

impl LogConsumer for KafkaGroupConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let read = poll_into(&self.consumer, max, timeout, out, &mut self.uncommitted)?;
        self.positions.extend(self.uncommitted.iter());
        if self.lag_measured.is_none_or(|at| at.elapsed() >= LAG_REFRESH) {
            self.lag = measure_lag(&self.consumer, &self.topic, &self.positions);
            self.lag_measured = Some(Instant::now());
        }
        Ok(read)
    }

    fn commit(&mut self) -> Result<(), LogError> {
        // A synchronous commit: when it returns Ok the group coordinator
        // has the offsets. If it fails (a rebalance moved the partition),
        // the new owner re-reads from the previous commit: duplicates only.
        self.commit_uncommitted(CommitMode::Sync)
    }

    fn commit_in_background(&mut self) -> Result<(), LogError> {
        // The request is only queued. Should it fail, the records are read
        // again after the next rebalance or restart: duplicates only.
        self.commit_uncommitted(CommitMode::Async)
    }

    fn lag(&self) -> Option<u64> {
        self.lag
    }
}

pub(super) struct KafkaTailConsumer {
    consumer: BaseConsumer,
    positions: BTreeMap<i32, i64>,
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
        Ok(KafkaTailConsumer { consumer, positions: BTreeMap::new() })
    }
}

impl LogConsumer for KafkaTailConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        poll_into(&self.consumer, max, timeout, out, &mut self.positions)
    }

    fn commit(&mut self) -> Result<(), LogError> {
        // A tail consumer always starts at the end: there is nothing to keep.
        Ok(())
    }
}
