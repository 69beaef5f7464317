//! Kafka consumers: a group member (`subscribe`, explicit commits) and a
//! tail consumer (`assign` of every partition at its end).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::bindings::{
    rd_kafka_commit_queue, rd_kafka_get_watermark_offsets, rd_kafka_queue_destroy, rd_kafka_queue_get_consumer,
    rd_kafka_queue_length, rd_kafka_resp_err_t,
};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::fetch_queue::{FetchBuffer, FetchQueue, ReadInto};
use super::message::record_of;
use super::rebalance_noise;
use super::transport;
use crate::log::{LogConsumer, LogError, PartitionId, RawTopics, Record};

/// How often the lag is refreshed (from librdkafka's cached watermarks).
const LAG_REFRESH: Duration = Duration::from_secs(1);

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
type Positions = BTreeMap<(Arc<str>, i32), i64>;

/// Notes the next offset of each record read into `Positions`. Records
/// come in runs of one partition (a fetch response's batch), so the map is
/// written once per run rather than once per record.
pub(super) struct PositionsBuilder<'a> {
    positions: &'a mut Positions,
    run: Option<(Arc<str>, i32, i64)>,
}

impl<'a> PositionsBuilder<'a> {
    fn new(positions: &'a mut Positions) -> Self {
        PositionsBuilder { positions, run: None }
    }

    pub(super) fn note(&mut self, topic: &Arc<str>, partition: i32, next: i64) {
        match &mut self.run {
            Some((run_topic, run_partition, run_next))
                if Arc::ptr_eq(run_topic, topic) && *run_partition == partition =>
            {
                *run_next = next
            }
            _ => {
                self.end_run();
                self.run = Some((Arc::clone(topic), partition, next));
            }
        }
    }

    fn end_run(&mut self) {
        if let Some((topic, partition, next)) = self.run.take() {
            self.positions.insert((topic, partition), next);
        }
    }

    /// Writes the last run; the positions are complete after this.
    fn finish(mut self) {
        self.end_run();
    }
}

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
    names: &mut TopicNames,
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
                if let Some(record) = unsafe { record_of(message.ptr(), names) } {
                    positions.note(&record.topic, record.partition.0 as i32, record.offset + 1);
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

/// The lag of `consumer` per topic: high watermark minus next position,
/// summed over the assigned partitions of each topic, into `out`.
fn measure_lag<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    names: &mut TopicNames,
    positions: &Positions,
    out: &mut Vec<(Arc<str>, u64)>,
) -> Option<()> {
    out.clear();
    let assignment = consumer.assignment().ok()?;
    for element in assignment.elements() {
        let topic = names.get(element.topic());
        let topic_name = CString::new(element.topic()).ok()?;
        let high = cached_high_watermark(consumer, &topic_name, element.partition())?;
        let position = positions.get(&(Arc::clone(&topic), element.partition())).copied().unwrap_or(high);
        let lag = (high - position).max(0) as u64;
        match out.iter_mut().find(|(known, _)| *known == topic) {
            Some((_, sum)) => *sum += lag,
            None => out.push((topic, lag)),
        }
    }
    Some(())
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
///
/// It also counts every commit that failed where the caller could not see
/// it (background commits, whose results come back as events, see
/// [`commit_in_background_reported`]; and the commits above), and whether
/// the group gave this member its assignment.
#[derive(Default)]
struct GroupContext {
    /// (Topic, partition) → next offset, as last sent in a commit.
    sent: Mutex<BTreeMap<(String, i32), i64>>,
    /// Commits whose failure arrived in a callback, not yet taken.
    commit_failures: AtomicU64,
    /// Set by an assignment, cleared by a rebalance error.
    assigned: AtomicBool,
    /// The (topic, partition)s owned: added when assigned, removed when a
    /// revocation starts (before the next owner gets them).
    owned: Mutex<BTreeSet<(String, i32)>>,
    /// `owned`'s size, read on every poll without the lock.
    owned_count: AtomicU32,
    /// Where assigned partitions' records go (`fetch_queue.rs`); taken out
    /// when the consumer is dropped, so that the queue goes before the client.
    fetch_queue: Mutex<Option<Arc<FetchQueue>>>,
}

impl GroupContext {
    fn update_owned(&self, update: impl FnOnce(&mut BTreeSet<(String, i32)>)) {
        if let Ok(mut owned) = self.owned.lock() {
            update(&mut owned);
            self.owned_count.store(owned.len() as u32, Ordering::Relaxed);
        }
    }

    /// Sends the partitions' records to the fetch queue, before librdkafka
    /// starts fetching them (`fetch_queue.rs`).
    fn forward_to_fetch_queue(&self, consumer: &BaseConsumer<Self>, assigned: &TopicPartitionList) {
        let Some(queue) = self.fetch_queue.lock().ok().and_then(|queue| queue.clone()) else { return };
        for element in assigned.elements() {
            // SAFETY: the client is live for the borrow of `consumer`, and
            // the queue was made from it.
            unsafe { queue.forward_partition(consumer.client().native_ptr(), element.topic(), element.partition()) };
        }
    }

    fn commit_before_revoking(&self, consumer: &BaseConsumer<Self>, revoked: &TopicPartitionList) {
        self.update_owned(|owned| {
            for element in revoked.elements() {
                owned.remove(&(element.topic().to_owned(), element.partition()));
            }
        });
        let mut offsets = TopicPartitionList::new();
        if let Ok(mut sent) = self.sent.lock() {
            for element in revoked.elements() {
                // Forgotten once revoked: if the partition comes back, an
                // offset from before would move its new progress backwards.
                if let Some(next) = sent.remove(&(element.topic().to_owned(), element.partition())) {
                    let _ = offsets.add_partition_offset(element.topic(), element.partition(), Offset::Offset(next));
                }
            }
        }
        if offsets.count() > 0 {
            if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
                if counted_as_expected(&error, "commit before a revocation failed") {
                    return;
                }
                tracing::warn!(%error, "commit before a revocation failed; the next owner may read records again");
                self.commit_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// librdkafka's logs and error events of a group member: an expected
/// rebalance error is counted, not warned about (`rebalance_noise.rs`).
impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        rebalance_noise::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        rebalance_noise::error(&error, reason);
    }

    /// Statistics are asked for only to wake librdkafka's main loop
    /// (`config.rs`, `GROUP_LOOP_WAKE_MS`): dropped unparsed.
    fn stats_raw(&self, _statistics: &[u8]) {}
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assigned) => self.forward_to_fetch_queue(consumer, assigned),
            Rebalance::Revoke(revoked) => self.commit_before_revoking(consumer, revoked),
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assigned) => {
                self.update_owned(|owned| {
                    owned.extend(
                        assigned.elements().iter().map(|element| (element.topic().to_owned(), element.partition())),
                    )
                });
                self.assigned.store(true, Ordering::Relaxed);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(_) => {
                self.update_owned(BTreeSet::clear);
                self.assigned.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Served by `poll` for each background commit's result (the
    /// `COMMITFAIL` warnings of a rebalance were such commits). A
    /// synchronous commit never comes here: its result goes only to its
    /// caller, which counts it.
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            // Refused under an old generation: the new owner reads the
            // records again, which a rebalance always implies. Counted
            // apart so that `commit_errors_total` (and its warning) means
            // a commit failed for another cause.
            if counted_as_expected(&error, "background offset commit failed") {
                return;
            }
            tracing::debug!(%error, "offset commit failed");
            self.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts `error` when it is a normal rebalance's (true), else leaves it
/// to the caller.
fn counted_as_expected(error: &KafkaError, what: &str) -> bool {
    error.rdkafka_error_code().is_some_and(|code| rebalance_noise::count_if_expected(code, what))
}

/// Queues a commit of `offsets` whose result comes back to
/// `GroupContext::commit_callback` through `poll`.
///
/// `Consumer::commit(.., CommitMode::Async)` (`rd_kafka_commit` with
/// `async=1`) sends the request with no reply queue, and rdkafka listens
/// for results as events rather than through librdkafka's
/// `offset_commit_cb`: librdkafka then has nowhere to report the result
/// and only logs a `COMMITFAIL` warning; `commit_callback` is never called
/// (the event is posted only for automatic commits). `rd_kafka_commit_queue`
/// names the queue the result goes to: the consumer queue, which `poll`
/// serves, turning the result into an `OFFSET_COMMIT` event.
fn commit_in_background_reported(
    consumer: &BaseConsumer<GroupContext>,
    offsets: &TopicPartitionList,
) -> Result<(), LogError> {
    let client = consumer.client().native_ptr();
    // SAFETY: the client pointer is live for the borrow of `consumer`. The
    // queue handle is a new reference to the consumer queue, released
    // below; librdkafka keeps its own reference for the reply, so the
    // handle may go before the result arrives. `offsets` is copied by the call.
    let error = unsafe {
        let queue = rd_kafka_queue_get_consumer(client);
        if queue.is_null() {
            return Err(LogError::Transport("the consumer has no group queue".to_owned()));
        }
        let error = rd_kafka_commit_queue(client, offsets.ptr(), queue, None, std::ptr::null_mut());
        rd_kafka_queue_destroy(queue);
        error
    };
    match error {
        rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
        error => Err(transport(rdkafka::error::KafkaError::ConsumerCommit(error.into()))),
    }
}

pub(super) struct KafkaGroupConsumer {
    /// Declared before `consumer`, so dropped before the client is
    /// destroyed (see `Drop`).
    fetch_queue: Arc<FetchQueue>,
    fetch_buffer: FetchBuffer,
    consumer: BaseConsumer<GroupContext>,
    /// The topic a reachability check asks about (the first named; none
    /// for a pattern alone: then the whole cluster's metadata).
    probe_topic: Option<String>,
    names: TopicNames,
    /// Next offset per partition, of every record returned by `poll` since
    /// the last successful commit.
    uncommitted: Positions,
    /// Next offset per partition ever returned, for the lag.
    positions: Positions,
    lag_by_topic: Vec<(Arc<str>, u64)>,
    lag: Option<u64>,
    lag_measured: Option<Instant>,
}

impl KafkaGroupConsumer {
    /// Joins `group` over `topics`: Kafka's subscription takes the names
    /// and the `^pattern` together, and re-evaluates the pattern on every
    /// metadata refresh (`topic.metadata.refresh.interval.ms`).
    pub(super) fn subscribe(config: &KafkaConfig, group: &str, topics: &RawTopics) -> Result<Self, LogError> {
        let consumer: BaseConsumer<GroupContext> =
            config.group_consumer_config(group).create_with_context(GroupContext::default()).map_err(transport)?;
        // SAFETY: the client is live, and the queue is dropped before it (`Drop`).
        let fetch_queue = unsafe { FetchQueue::new(consumer.client().native_ptr()) }
            .ok_or_else(|| LogError::Transport("librdkafka could not make a queue".to_owned()))?;
        // Before subscribing: the first assignment is forwarded too.
        if let Ok(mut slot) = consumer.context().fetch_queue.lock() {
            *slot = Some(Arc::clone(&fetch_queue));
        }
        consumer.subscribe(&topics.subscription()).map_err(transport)?;
        Ok(KafkaGroupConsumer {
            fetch_queue,
            fetch_buffer: FetchBuffer::default(),
            consumer,
            probe_topic: topics.names().first().cloned(),
            names: TopicNames::default(),
            uncommitted: BTreeMap::new(),
            positions: BTreeMap::new(),
            lag_by_topic: Vec::new(),
            lag: None,
            lag_measured: None,
        })
    }

    fn commit_uncommitted(&mut self, mode: CommitMode) -> Result<(), LogError> {
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &self.uncommitted {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next)).map_err(transport)?;
        }
        match mode {
            CommitMode::Sync => self.consumer.commit(&offsets, mode).map_err(transport)?,
            CommitMode::Async => commit_in_background_reported(&self.consumer, &offsets)?,
        }
        if let Ok(mut sent) = self.consumer.context().sent.lock() {
            sent.extend(
                self.uncommitted.iter().map(|((topic, partition), next)| ((topic.to_string(), *partition), *next)),
            );
        }
        self.uncommitted.clear();
        Ok(())
    }
}

/// librdkafka events served per `poll`, at most: more than arrive between
/// two polls (statistics ten a second, a commit result per commit, a
/// rebalance now and then, errors during an outage).
const EVENTS_SERVED_PER_POLL: usize = 64;

/// Serves every event waiting in the consumer queue (at most
/// `EVENTS_SERVED_PER_POLL`), without waiting: rdkafka's `poll` serves one
/// event per call. The consumer queue holds no records unless one was
/// fetched before its partition was forwarded; those go to `out`.
fn serve_queued_events(
    consumer: &BaseConsumer<GroupContext>,
    max: usize,
    out: &mut Vec<Record>,
    names: &mut TopicNames,
    positions: &mut PositionsBuilder<'_>,
) -> Result<usize, LogError> {
    let mut read = 0;
    for _ in 0..EVENTS_SERVED_PER_POLL {
        if read >= max || queued_events(consumer) == 0 {
            break;
        }
        read += poll_into(consumer, max - read, Duration::ZERO, out, names, positions)?;
    }
    Ok(read)
}

/// The events waiting in the consumer queue.
fn queued_events(consumer: &BaseConsumer<GroupContext>) -> usize {
    // SAFETY: the client pointer is live for the borrow of `consumer`; the
    // queue handle is a new reference, released before returning.
    unsafe {
        let queue = rd_kafka_queue_get_consumer(consumer.client().native_ptr());
        if queue.is_null() {
            return 0;
        }
        let length = rd_kafka_queue_length(queue);
        rd_kafka_queue_destroy(queue);
        length
    }
}

impl Drop for KafkaGroupConsumer {
    fn drop(&mut self) {
        // A rebalance event still queued when rdkafka closes the client
        // (its `Drop`) can be served after the group has terminated, and
        // rdkafka's handler then waits forever for librdkafka's answer
        // (`rd_kafka_rebalance_protocol`: the terminated group drops the
        // request unanswered): the thread dropping the consumer hung.
        // Serving the queued events first leaves none for the close. Any
        // record returned meanwhile is not committed: the next owner reads
        // it again.
        let (mut discarded, mut not_committed) = (Vec::new(), Positions::new());
        let mut positions = PositionsBuilder::new(&mut not_committed);
        let _ = serve_queued_events(&self.consumer, usize::MAX, &mut discarded, &mut self.names, &mut positions);
        // The fetch queue must go before the client: its queued records
        // hold references to the client's partitions. The context's
        // reference is dropped here, the consumer's own with the fields,
        // `fetch_queue` first. A rebalance served while the client closes
        // then finds no queue and leaves the records where librdkafka
        // puts them.
        if let Ok(mut slot) = self.consumer.context().fetch_queue.lock() {
            slot.take();
        }
    }
}

impl LogConsumer for KafkaGroupConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let mut positions = PositionsBuilder::new(&mut self.uncommitted);
        // librdkafka's events first (rebalances, commit results, errors,
        // statistics), every one queued: served one a poll, a caller
        // polling with long waits left its assignment behind a growing
        // queue of the others.
        let mut read = serve_queued_events(&self.consumer, max, out, &mut self.names, &mut positions)?;
        let wait = if read == 0 { timeout } else { Duration::ZERO };
        let mut into =
            ReadInto { batch: &mut self.fetch_buffer, out, names: &mut self.names, positions: &mut positions };
        read += self.fetch_queue.read_into(max - read, wait, &mut into);
        positions.finish();
        self.positions.extend(self.uncommitted.iter().map(|(key, next)| (key.clone(), *next)));
        if self.lag_measured.is_none_or(|at| at.elapsed() >= LAG_REFRESH) {
            let measured = measure_lag(&self.consumer, &mut self.names, &self.positions, &mut self.lag_by_topic);
            self.lag = measured.map(|()| self.lag_by_topic.iter().map(|(_, lag)| lag).sum());
            if measured.is_none() {
                self.lag_by_topic.clear();
            }
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

    fn lag_by_topic(&self, out: &mut Vec<(Arc<str>, u64)>) {
        out.clone_from(&self.lag_by_topic);
    }

    fn is_assigned(&self) -> bool {
        self.consumer.context().assigned.load(Ordering::Relaxed)
    }

    fn owned_partitions(&self) -> Option<u32> {
        Some(self.consumer.context().owned_count.load(Ordering::Relaxed))
    }

    fn take_commit_failures(&mut self) -> u64 {
        self.consumer.context().commit_failures.swap(0, Ordering::Relaxed)
    }

    fn check_reachable(&self, timeout: Duration) -> Result<(), LogError> {
        super::check_reachable(self.consumer.client(), self.probe_topic.as_deref(), timeout)
    }
}

pub(super) struct KafkaTailConsumer {
    consumer: BaseConsumer,
    topic: String,
    names: TopicNames,
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
            names: TopicNames::default(),
            positions: BTreeMap::new(),
        })
    }
}

impl LogConsumer for KafkaTailConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let mut positions = PositionsBuilder::new(&mut self.positions);
        let read = poll_into(&self.consumer, max, timeout, out, &mut self.names, &mut positions);
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

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    use super::super::producer::KafkaProducer;
    use super::*;
    use crate::log::{LogProducer, Message, PartitionId};

    /// Polls one record at a time (serving librdkafka's events) until
    /// `done` holds or 30 s pass; returns whether it held.
    fn poll_until(consumer: &mut KafkaGroupConsumer, mut done: impl FnMut(&mut KafkaGroupConsumer) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut out = Vec::new();
        while Instant::now() < deadline {
            if done(consumer) {
                return true;
            }
            consumer.poll(1, Duration::from_millis(100), &mut out).unwrap();
        }
        done(consumer)
    }

    /// Issue 11: `COMMITFAIL` warnings during rebalances left
    /// `commit_errors_total` at 0. A background commit's failure must reach
    /// `take_commit_failures`, once (a synchronous commit's failure is its
    /// caller's error: `rd_kafka_commit` answers it on a queue of its own).
    /// librdkafka's mock broker (the error path only).
    #[test]
    fn a_failed_background_commit_is_counted_once() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("raw", 1, 1).unwrap();
        let config = KafkaConfig::new(&cluster.bootstrap_servers());
        let producer = KafkaProducer::new(&config).unwrap();
        for payload in [b"a", b"b", b"c"] {
            let message = Message { key: b"", payload, partition: Some(PartitionId(0)), timestamp_ms: 0, headers: &[] };
            producer.send("raw", message).unwrap();
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        let mut consumer = KafkaGroupConsumer::subscribe(&config, "group", &RawTopics::one("raw")).unwrap();

        // A background commit that succeeds is not a failure.
        assert!(
            poll_until(&mut consumer, |consumer| consumer.positions.get(&(Arc::from("raw"), 0)) == Some(&1)),
            "record a read"
        );
        consumer.commit_in_background().unwrap();
        assert!(
            poll_until(&mut consumer, |consumer| consumer.positions.get(&(Arc::from("raw"), 0)) == Some(&2)),
            "record b read"
        );
        assert_eq!(consumer.take_commit_failures(), 0);

        // A background commit the coordinator refuses: queued without error,
        // its failure arrives with a later poll.
        cluster.request_errors(
            RDKafkaApiKey::OffsetCommit,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE],
        );
        consumer.commit_in_background().unwrap();
        let mut failures = 0;
        let counted = poll_until(&mut consumer, |consumer| {
            failures += consumer.take_commit_failures();
            failures > 0
        });
        assert!(counted, "the failed background commit was never counted");
        assert_eq!(failures, 1);
    }
}
