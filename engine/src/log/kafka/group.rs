//! A consumer group member shared by the threads of a process
//! (`SharedGroup`): one librdkafka consumer in the group, its partitions
//! split among the threads, each partition's records forwarded to its
//! thread's fetch queue (`fetch_queue.rs`) and committed by that thread.
//! The member fetches the first thread's partitions; every other thread
//! fetches its own through a client of its own outside the group
//! (`fetcher.rs`), so that the threads' fetches run in parallel.
//!
//! Why one member per process rather than one per thread: every join is
//! a rebalance of the whole group, and librdkafka lets a member join at
//! most once a second (`rkcg_join_intvl`, hard-coded). A worker of two
//! threads started with two rebalances, its second thread reading up to
//! 1.6 s after its first (perf/results/worker.md, 2026-12-05).
//!
//! librdkafka's events (rebalances, commit results, errors, statistics)
//! stay in the consumer queue, served by rdkafka's `poll` from whichever
//! thread polls first, one thread at a time. A thread whose matches were
//! not acknowledged drops its consumer: the partitions it read without
//! committing are rewound (`GroupMember::rewind`), so that its next
//! consumer reads them again, while the member stays in the group and the
//! other threads read on.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::bindings::{
    rd_kafka_commit_queue, rd_kafka_get_watermark_offsets, rd_kafka_queue_destroy, rd_kafka_queue_get_consumer,
    rd_kafka_queue_length, rd_kafka_resp_err_t,
};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::consumer::{poll_into, Positions, PositionsBuilder};
use super::fetch_queue::{FetchBuffer, FetchQueue, ReadInto};
use super::fetcher::ThreadFetcher;
use super::message::{HeaderCopy, RecordReader};
use super::rebalance_noise;
use super::transport;
use crate::log::{LogConsumer, LogError, RawTopics, Record, SharedGroup};

/// How often the lag is refreshed (from librdkafka's cached watermarks).
const LAG_REFRESH: Duration = Duration::from_secs(1);

/// How long an assignment waits for the group's committed offsets before
/// leaving its partitions to librdkafka (`position_at_assignment`);
/// the thread serving the rebalance reads no records meanwhile.
const COMMITTED_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// One (topic, partition) as librdkafka names it.
type PartitionKey = (String, i32);

/// The shared membership of a worker process: the member's client is made
/// with this (it finds the group's coordinator while the worker loads its
/// filters), joins when the first thread asks, and lives until the last
/// thread's consumer and this are dropped (then it leaves the group).
pub(super) struct KafkaSharedGroup {
    config: KafkaConfig,
    group: String,
    topics: RawTopics,
    threads: usize,
    member: Mutex<MemberSlot>,
}

/// Where the shared member is in its life.
enum MemberSlot {
    /// Not made yet, or its client could not be made in `new` (made again,
    /// joined and the error reported by the first `consumer`).
    Absent,
    /// Its client is up and connecting, not yet in the group: a worker
    /// joins only once its filters are loaded, and librdkafka's bootstrap
    /// and coordinator lookup (a fifth of the time from a worker's start
    /// to its first event, perf/results/worker.md, 2026-12-05T08:30Z) are
    /// done meanwhile.
    Connected(Arc<GroupMember>),
    Joined(Arc<GroupMember>),
}

impl KafkaSharedGroup {
    pub(super) fn new(config: &KafkaConfig, group: &str, topics: &RawTopics, threads: usize) -> Self {
        let threads = threads.max(1);
        let member = match GroupMember::connect(config, group, topics, threads, HeaderCopy::Skipped) {
            Ok(member) => MemberSlot::Connected(member),
            Err(_) => MemberSlot::Absent,
        };
        KafkaSharedGroup {
            config: config.clone(),
            group: group.to_owned(),
            topics: topics.clone(),
            threads,
            member: Mutex::new(member),
        }
    }
}

impl SharedGroup for KafkaSharedGroup {
    fn consumer(&self, thread: usize) -> Result<Box<dyn LogConsumer>, LogError> {
        if thread >= self.threads {
            return Err(LogError::Transport(format!("thread {thread} of a group shared by {}", self.threads)));
        }
        let mut slot = self.member.lock().map_err(|_| LogError::Transport("group member lock poisoned".into()))?;
        let member = match &*slot {
            MemberSlot::Joined(member) => Arc::clone(member),
            MemberSlot::Connected(member) => Arc::clone(member).subscribed(&self.topics)?,
            MemberSlot::Absent => {
                GroupMember::connect(&self.config, &self.group, &self.topics, self.threads, HeaderCopy::Skipped)?
                    .subscribed(&self.topics)?
            }
        };
        *slot = MemberSlot::Joined(Arc::clone(&member));
        Ok(Box::new(KafkaGroupConsumer::new(member, thread)?))
    }
}

/// The group member's context. Commits made in the background may still
/// be on their way when a rebalance revokes a partition, and the next owner
/// would then start from an older offset and read a batch again (a
/// duplicate in a clean run of the service tests). Before a revocation
/// completes, the offsets last sent for the revoked partitions are
/// committed again, synchronously: their answer also means the earlier
/// request on the same connection was handled.
///
/// It hands each assigned partition to a thread, counts every commit that
/// failed where the caller could not see it (background commits, whose
/// results come back as events, see [`commit_in_background_reported`]; and
/// the commits above), and whether the group gave this member its
/// assignment.
struct GroupContext {
    /// (Topic, partition) → next offset, as last sent in a commit.
    sent: Mutex<BTreeMap<PartitionKey, i64>>,
    /// Commits whose failure arrived in a callback, not yet taken.
    commit_failures: AtomicU64,
    /// Set by an assignment, cleared by a rebalance error.
    assigned: AtomicBool,
    /// The thread reading each owned (topic, partition): chosen when it is
    /// assigned, removed when its revocation starts (before the next owner
    /// gets it).
    owners: Mutex<BTreeMap<PartitionKey, usize>>,
    /// The partitions each thread owns, read on every poll without the lock.
    owned_counts: Vec<AtomicU32>,
    /// Each thread's fetch queue, where its partitions' records go; taken
    /// out when the member is dropped, so that the queues go before the client.
    fetch_queues: Mutex<Vec<Arc<FetchQueue>>>,
    /// Each thread's own fetcher (`fetcher.rs`), for every thread after the
    /// first; the first thread's partitions are fetched by the member.
    fetchers: Vec<Option<ThreadFetcher>>,
}

impl GroupContext {
    fn new(fetchers: Vec<Option<ThreadFetcher>>) -> Self {
        GroupContext {
            sent: Mutex::default(),
            commit_failures: AtomicU64::new(0),
            assigned: AtomicBool::new(false),
            owners: Mutex::default(),
            owned_counts: (0..fetchers.len()).map(|_| AtomicU32::new(0)).collect(),
            fetch_queues: Mutex::default(),
            fetchers,
        }
    }

    /// Thread `thread`'s own fetcher, if it has one.
    fn fetcher(&self, thread: usize) -> Option<&ThreadFetcher> {
        self.fetchers.get(thread).and_then(Option::as_ref)
    }

    /// Starts each thread's share (`split`, from `split_by_thread`) on its fetcher.
    fn start_fetchers(&self, split: &[TopicPartitionList]) {
        self.on_fetchers(split, "start", ThreadFetcher::start);
    }

    /// Stops each thread's share on its fetcher, before the revocation
    /// completes: the partitions' next owners start from the last commit.
    fn stop_fetchers(&self, split: &[TopicPartitionList]) {
        self.on_fetchers(split, "stop", ThreadFetcher::stop);
    }

    fn on_fetchers(
        &self,
        split: &[TopicPartitionList],
        action: &str,
        act: impl Fn(&ThreadFetcher, &TopicPartitionList) -> KafkaResult<()>,
    ) {
        for (thread, partitions) in split.iter().enumerate().skip(1) {
            if let (Some(fetcher), true) = (self.fetcher(thread), partitions.count() > 0) {
                if let Err(error) = act(fetcher, partitions) {
                    tracing::warn!(thread, %error, "a thread's fetcher could not {action} its partitions");
                }
            }
        }
    }

    /// `partitions` split by the thread owning each (a partition without
    /// an owner goes with the first thread's), each with its offset: the
    /// first list is the member's to fetch, every other one its thread's
    /// fetcher's.
    fn split_by_thread(&self, partitions: &TopicPartitionList) -> Vec<TopicPartitionList> {
        let mut split: Vec<TopicPartitionList> =
            (0..self.fetchers.len().max(1)).map(|_| TopicPartitionList::new()).collect();
        let Ok(owners) = self.owners.lock() else { return split };
        for element in partitions.elements() {
            let thread = owners.get(&(element.topic().to_owned(), element.partition())).copied().unwrap_or(0);
            let _ = split[thread].add_partition_offset(element.topic(), element.partition(), element.offset());
        }
        split
    }

    fn update_owners(&self, update: impl FnOnce(&mut BTreeMap<PartitionKey, usize>)) {
        if let Ok(mut owners) = self.owners.lock() {
            update(&mut owners);
            for (count, now) in self.owned_counts.iter().zip(partitions_per_thread(&owners, self.owned_counts.len())) {
                count.store(now, Ordering::Relaxed);
            }
        }
    }

    /// Gives each assigned partition to the thread owning fewest, and sends
    /// its records to that thread's fetch queue before librdkafka starts
    /// fetching them (`fetch_queue.rs`).
    ///
    /// With `positioned` false (the group's offsets could not be read) the
    /// partitions all go to the threads the member fetches for: a thread's
    /// fetcher can only start a partition at a known offset.
    fn hand_out(&self, consumer: &BaseConsumer<Self>, assigned: &TopicPartitionList, positioned: bool) {
        let queues = self.fetch_queues.lock().map(|queues| queues.clone()).unwrap_or_default();
        let eligible = |thread: usize| positioned || self.fetcher(thread).is_none();
        self.update_owners(|owners| {
            let mut counts = partitions_per_thread(owners, self.owned_counts.len());
            for element in assigned.elements() {
                let key = (element.topic().to_owned(), element.partition());
                let thread = match owners.get(&key) {
                    Some(&thread) => thread,
                    None => (0..counts.len())
                        .filter(|&thread| eligible(thread))
                        .min_by_key(|&thread| counts[thread])
                        .unwrap_or(0),
                };
                if owners.insert(key, thread).is_none() {
                    counts[thread] += 1;
                }
                if self.fetcher(thread).is_some() {
                    // Its fetcher forwards it when it starts it.
                    continue;
                }
                if let Some(queue) = queues.get(thread) {
                    // SAFETY: the client is live for the borrow of
                    // `consumer`, and the queue was made from it.
                    unsafe {
                        queue.forward_partition(consumer.client().native_ptr(), element.topic(), element.partition())
                    };
                }
            }
        });
    }

    fn commit_before_revoking(&self, consumer: &BaseConsumer<Self>, revoked: &TopicPartitionList) {
        self.update_owners(|owners| {
            for element in revoked.elements() {
                owners.remove(&(element.topic().to_owned(), element.partition()));
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

    /// The partitions `thread` owns now.
    fn partitions_of(&self, thread: usize) -> Vec<PartitionKey> {
        let Ok(owners) = self.owners.lock() else { return Vec::new() };
        owners.iter().filter(|(_, &owner)| owner == thread).map(|(key, _)| key.clone()).collect()
    }
}

/// How many of `owners`' partitions each of `threads` threads reads.
fn partitions_per_thread(owners: &BTreeMap<PartitionKey, usize>, threads: usize) -> Vec<u32> {
    let mut counts = vec![0u32; threads];
    for &thread in owners.values() {
        counts[thread] += 1;
    }
    counts
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
    /// rdkafka's own `rebalance` (pre-rebalance, assign or unassign,
    /// post-rebalance) in one place, with two steps its hooks cannot take:
    /// an assignment's partitions are positioned here
    /// (`position_at_assignment`), and the member assigns and unassigns only
    /// the partitions it fetches, the threads' fetchers the others
    /// (`split_by_thread`).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        event: rd_kafka_resp_err_t,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let unassign = |own: &TopicPartitionList| {
            if cooperative {
                consumer.incremental_unassign(own)
            } else {
                consumer.unassign()
            }
        };
        let changed = match event {
            rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let positioned = position_at_assignment(consumer, partitions);
                self.hand_out(consumer, partitions, positioned);
                let split = self.split_by_thread(partitions);
                let assigned =
                    if cooperative { consumer.incremental_assign(&split[0]) } else { consumer.assign(&split[0]) };
                self.start_fetchers(&split);
                self.assigned.store(true, Ordering::Relaxed);
                assigned
            }
            rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let split = self.split_by_thread(partitions);
                self.stop_fetchers(&split);
                self.commit_before_revoking(consumer, partitions);
                unassign(&split[0])
            }
            error => {
                tracing::error!(error = %RDKafkaErrorCode::from(error), "rebalance failed; giving up the assignment");
                let split = self.split_by_thread(partitions);
                self.stop_fetchers(&split);
                self.update_owners(BTreeMap::clear);
                self.assigned.store(false, Ordering::Relaxed);
                unassign(&split[0])
            }
        };
        if let Err(error) = changed {
            tracing::warn!(%error, "librdkafka refused an assignment change");
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

/// Positions each partition of `assigned` itself: at the group's committed
/// offset, or at the earliest record for one the group never committed,
/// as `auto.offset.reset=earliest` would (`config.rs`), but at once:
/// librdkafka resets a partition without a committed offset only after a
/// 100 ms backoff (`rd_kafka_offset_reset` with `__NO_OFFSET`), half of a
/// new worker's time to its first event (perf/results/worker.md,
/// 2026-12-05T08:30Z). A thread's own fetcher (`fetcher.rs`) needs the offset
/// anyway: it is outside the group. Returns false, leaving `assigned` for
/// librdkafka to position, when the group's offsets cannot be read within
/// `COMMITTED_QUERY_TIMEOUT`.
fn position_at_assignment(consumer: &BaseConsumer<GroupContext>, assigned: &mut TopicPartitionList) -> bool {
    let committed = match consumer.committed_offsets(assigned.clone(), COMMITTED_QUERY_TIMEOUT) {
        Ok(committed) => committed,
        Err(error) => {
            tracing::debug!(%error, "committed offsets unknown at assignment; librdkafka positions the partitions");
            return false;
        }
    };
    let mut positioned = true;
    for element in committed.elements() {
        let start = match (element.error(), element.offset()) {
            (Ok(()), Offset::Invalid) => Offset::Beginning,
            (Ok(()), committed @ Offset::Offset(_)) => committed,
            _ => {
                positioned = false;
                continue;
            }
        };
        let _ = assigned.set_partition_offset(element.topic(), element.partition(), start);
    }
    positioned
}

/// The member: the librdkafka consumer, whose context holds one fetch
/// queue per thread.
struct GroupMember {
    consumer: BaseConsumer<GroupContext>,
    /// The topic a reachability check asks about (the first named; none
    /// for a pattern alone: then the whole cluster's metadata).
    probe_topic: Option<String>,
    /// Held by the thread serving librdkafka's events: one at a time.
    serving_events: Mutex<()>,
    /// Whether its records carry their headers and own their payloads
    /// (a worker's threads: neither, see `reader`).
    headers: HeaderCopy,
}

impl GroupMember {
    /// The member's client for `threads` threads, with their fetch queues
    /// and fetchers, not yet in `group` (`subscribed` joins it): librdkafka
    /// connects and looks up the group's coordinator.
    fn connect(
        config: &KafkaConfig,
        group: &str,
        topics: &RawTopics,
        threads: usize,
        headers: HeaderCopy,
    ) -> Result<Arc<Self>, LogError> {
        let fetchers = (0..threads)
            .map(|thread| if thread == 0 { Ok(None) } else { ThreadFetcher::connect(config).map(Some) })
            .collect::<Result<Vec<_>, _>>()?;
        let consumer: BaseConsumer<GroupContext> =
            config.group_consumer_config(group).create_with_context(GroupContext::new(fetchers)).map_err(transport)?;
        let fetch_queues = (0..threads)
            .map(|thread| match consumer.context().fetcher(thread) {
                Some(fetcher) => Some(fetcher.queue()),
                // SAFETY: the client is live, and the queues are dropped before it (`Drop`).
                None => unsafe { FetchQueue::new(consumer.client().native_ptr()) },
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| LogError::Transport("librdkafka could not make a queue".to_owned()))?;
        // Before any subscription: the first assignment is forwarded too.
        if let Ok(mut slot) = consumer.context().fetch_queues.lock() {
            *slot = fetch_queues;
        }
        Ok(Arc::new(GroupMember {
            consumer,
            probe_topic: topics.names().first().cloned(),
            serving_events: Mutex::new(()),
            headers,
        }))
    }

    /// Joins the group over `topics`: Kafka's subscription takes the names
    /// and the `^pattern` together, and re-evaluates the pattern on every
    /// metadata refresh (`topic.metadata.refresh.interval.ms`).
    fn subscribed(self: Arc<Self>, topics: &RawTopics) -> Result<Arc<Self>, LogError> {
        self.consumer.subscribe(&topics.subscription()).map_err(transport)?;
        Ok(self)
    }

    fn context(&self) -> &GroupContext {
        self.consumer.context()
    }

    /// How a thread's consumer makes its records. A worker's filter threads
    /// (no headers) also read the payloads in place (`LentPayload`), the
    /// member leased to each thread: a count per thread, not one shared.
    fn reader(self: &Arc<Self>) -> RecordReader {
        match self.headers {
            HeaderCopy::Copied => RecordReader::new(HeaderCopy::Copied),
            HeaderCopy::Skipped => RecordReader::lending(HeaderCopy::Skipped, Arc::new(Arc::clone(self))),
        }
    }

    /// Thread `thread`'s fetch queue.
    fn fetch_queue(&self, thread: usize) -> Result<Arc<FetchQueue>, LogError> {
        let queues =
            self.context().fetch_queues.lock().map_err(|_| LogError::Transport("fetch queues lock poisoned".into()))?;
        queues.get(thread).cloned().ok_or_else(|| LogError::Transport(format!("no fetch queue for thread {thread}")))
    }

    /// Serves librdkafka's events unless another thread is serving them.
    fn serve_events(
        &self,
        max: usize,
        out: &mut Vec<Record>,
        reader: &mut RecordReader,
        positions: &mut PositionsBuilder<'_>,
    ) -> Result<usize, LogError> {
        match self.serving_events.try_lock() {
            Ok(_serving) => serve_queued_events(&self.consumer, max, out, reader, positions),
            Err(_) => Ok(0),
        }
    }

    /// Moves each partition of `firsts` that `thread` still owns back to
    /// its offset there, on the client fetching it (the member, or the
    /// thread's fetcher). Records of those partitions already fetched are
    /// dropped by librdkafka's version barrier, which the seek raises
    /// before it returns; the seek itself is applied in the background.
    /// A partition revoked meanwhile needs nothing: its next owner starts
    /// from the last commit (so does one handed back to another thread).
    fn rewind(&self, thread: usize, firsts: &Positions) {
        let Ok(owners) = self.context().owners.lock() else { return };
        let mut rewound = TopicPartitionList::new();
        for ((topic, partition), first) in firsts {
            if owners.get(&(topic.to_string(), *partition)) == Some(&thread) {
                let _ = rewound.add_partition_offset(topic, *partition, Offset::Offset(*first));
            }
        }
        drop(owners);
        if rewound.count() == 0 {
            return;
        }
        let sought = match self.context().fetcher(thread) {
            Some(fetcher) => fetcher.seek(rewound),
            None => self.consumer.seek_partitions(rewound, Duration::ZERO).map(|_| ()),
        };
        if let Err(error) = sought {
            // Then the records are read again only after a rebalance or a
            // restart, from the last commit: still never lost.
            tracing::warn!(%error, "could not rewind partitions read without a commit");
        }
    }
}

impl Drop for GroupMember {
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
        let mut reader = RecordReader::new(HeaderCopy::Skipped);
        let mut positions = PositionsBuilder::new(&mut not_committed);
        let _ = serve_queued_events(&self.consumer, usize::MAX, &mut discarded, &mut reader, &mut positions);
        // The fetch queues must go before the client: their queued records
        // hold references to the client's partitions. The threads'
        // consumers, which hold the member, are gone, so the context's
        // references are the last. A rebalance served while the client
        // closes then finds no queue and leaves the records where
        // librdkafka puts them.
        if let Ok(mut queues) = self.context().fetch_queues.lock() {
            queues.clear();
        }
    }
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

/// librdkafka events served per `poll`, at most: more than arrive between
/// two polls (statistics ten a second, a commit result per commit, a
/// rebalance now and then, errors during an outage).
const EVENTS_SERVED_PER_POLL: usize = 64;

/// Serves every event waiting in the consumer queue (at most
/// `EVENTS_SERVED_PER_POLL`), without waiting: rdkafka's `poll` serves one
/// event per call. The consumer queue holds no records unless one was
/// fetched before its partition was forwarded; those go to `out`.
pub(super) fn serve_queued_events<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    max: usize,
    out: &mut Vec<Record>,
    reader: &mut RecordReader,
    positions: &mut PositionsBuilder<'_>,
) -> Result<usize, LogError> {
    let mut read = 0;
    for _ in 0..EVENTS_SERVED_PER_POLL {
        if read >= max || queued_events(consumer) == 0 {
            break;
        }
        read += poll_into(consumer, max - read, Duration::ZERO, out, reader, positions)?;
    }
    Ok(read)
}

/// The events waiting in the consumer queue.
fn queued_events<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> usize {
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

/// One thread's consumer: it reads the partitions the member hands to its
/// thread, and commits them.
pub(super) struct KafkaGroupConsumer {
    /// This thread's; declared before `member`, so dropped before it.
    fetch_queue: Arc<FetchQueue>,
    member: Arc<GroupMember>,
    thread: usize,
    fetch_buffer: FetchBuffer,
    reader: RecordReader,
    /// Next offset per partition, of every record returned by `poll` since
    /// the last successful commit.
    uncommitted: Positions,
    /// The first offset returned per partition since the last successful
    /// commit: where a rewind goes (`Drop`).
    uncommitted_from: Positions,
    /// Next offset per partition ever returned, for the lag.
    positions: Positions,
    lag_by_topic: Vec<(Arc<str>, u64)>,
    lag: Option<u64>,
    lag_measured: Option<Instant>,
}

impl KafkaGroupConsumer {
    /// A member of its own in `group`, over `topics`.
    pub(super) fn subscribe(config: &KafkaConfig, group: &str, topics: &RawTopics) -> Result<Self, LogError> {
        Self::new(GroupMember::connect(config, group, topics, 1, HeaderCopy::Copied)?.subscribed(topics)?, 0)
    }

    fn new(member: Arc<GroupMember>, thread: usize) -> Result<Self, LogError> {
        Ok(KafkaGroupConsumer {
            fetch_queue: member.fetch_queue(thread)?,
            reader: member.reader(),
            member,
            thread,
            fetch_buffer: FetchBuffer::default(),
            uncommitted: BTreeMap::new(),
            uncommitted_from: BTreeMap::new(),
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
        let consumer = &self.member.consumer;
        match mode {
            CommitMode::Sync => consumer.commit(&offsets, mode).map_err(transport)?,
            CommitMode::Async => commit_in_background_reported(consumer, &offsets)?,
        }
        if let Ok(mut sent) = self.member.context().sent.lock() {
            sent.extend(
                self.uncommitted.iter().map(|((topic, partition), next)| ((topic.to_string(), *partition), *next)),
            );
        }
        self.uncommitted.clear();
        self.uncommitted_from.clear();
        Ok(())
    }

    /// The lag of this thread's partitions per topic: high watermark minus
    /// next position, summed per topic.
    fn measure_lag(&mut self) -> Option<()> {
        self.lag_by_topic.clear();
        for (topic_name, partition) in self.member.context().partitions_of(self.thread) {
            let topic = self.reader.names.get(&topic_name);
            let name = CString::new(topic_name).ok()?;
            let high = match self.member.context().fetcher(self.thread) {
                Some(fetcher) => fetcher.high_watermark(&name, partition)?,
                None => cached_high_watermark(&self.member.consumer, &name, partition)?,
            };
            let position = self.positions.get(&(Arc::clone(&topic), partition)).copied().unwrap_or(high);
            let lag = (high - position).max(0) as u64;
            match self.lag_by_topic.iter_mut().find(|(known, _)| *known == topic) {
                Some((_, sum)) => *sum += lag,
                None => self.lag_by_topic.push((topic, lag)),
            }
        }
        Some(())
    }
}

/// The high watermark of `partition` as of the consumer's last fetch
/// response. `fetch_watermarks` would ask the broker instead: one round
/// trip per partition, once a second, in the middle of the filter thread's
/// loop (a stall seen in the end-to-end latency's tail).
pub(super) fn cached_high_watermark<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &CStr,
    partition: i32,
) -> Option<i64> {
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is live for the borrow of `consumer`, the
    // topic is a NUL-terminated string, and the two out-pointers are valid
    // for writes; librdkafka only reads its cache under its own lock.
    let error = unsafe {
        rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (error == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

impl Drop for KafkaGroupConsumer {
    fn drop(&mut self) {
        // Records read and not committed (their matches were not
        // acknowledged) are read again. When this consumer was the
        // member's last holder the member leaves the group next, and the
        // partitions' next owners start from the last commit anyway.
        if !self.uncommitted_from.is_empty() && Arc::strong_count(&self.member) > 1 {
            self.member.rewind(self.thread, &self.uncommitted_from);
        }
    }
}

impl LogConsumer for KafkaGroupConsumer {
    fn poll(&mut self, max: usize, timeout: Duration, out: &mut Vec<Record>) -> Result<usize, LogError> {
        let mut positions = PositionsBuilder::with_first(&mut self.uncommitted, &mut self.uncommitted_from);
        // librdkafka's events first (rebalances, commit results, errors,
        // statistics), every one queued: served one a poll, a caller
        // polling with long waits left its assignment behind a growing
        // queue of the others.
        let mut read = self.member.serve_events(max, out, &mut self.reader, &mut positions)?;
        if let Some(fetcher) = self.member.context().fetcher(self.thread) {
            read += fetcher.serve_events(max - read, out, &mut self.reader, &mut positions)?;
        }
        let wait = if read == 0 { timeout } else { Duration::ZERO };
        let mut into =
            ReadInto { batch: &mut self.fetch_buffer, out, reader: &mut self.reader, positions: &mut positions };
        read += self.fetch_queue.read_into(max - read, wait, &mut into);
        positions.finish();
        self.positions.extend(self.uncommitted.iter().map(|(key, next)| (key.clone(), *next)));
        if self.lag_measured.is_none_or(|at| at.elapsed() >= LAG_REFRESH) {
            let measured = self.measure_lag();
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
        self.member.context().assigned.load(Ordering::Relaxed)
    }

    fn owned_partitions(&self) -> Option<u32> {
        Some(self.member.context().owned_counts[self.thread].load(Ordering::Relaxed))
    }

    fn take_commit_failures(&mut self) -> u64 {
        self.member.context().commit_failures.swap(0, Ordering::Relaxed)
    }

    fn check_reachable(&self, timeout: Duration) -> Result<(), LogError> {
        super::check_reachable(self.member.consumer.client(), self.member.probe_topic.as_deref(), timeout)
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
