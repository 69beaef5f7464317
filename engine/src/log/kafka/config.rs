//! Every librdkafka setting the log uses, each with why. Option names and
//! semantics: librdkafka's CONFIGURATION.md.

use rdkafka::ClientConfig;

/// `fetch.queue.backoff.ms`: how long a partition's fetching pauses once
/// its prefetch queue is full (`queued.min.messages`, 100,000 records per
/// partition, or `queued.max.messages.kbytes`). librdkafka's default,
/// 1,000 ms, is longer than a worker takes to drain a full queue: on a
/// backlog every filter thread sat idle for about half a second each time
/// its queue filled (0.27x drain ratio, perf/results/worker.md); 10 ms
/// resumes fetching as soon as there is room, for one extra wake-up per
/// partition per 10 ms while the queue is full.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// `statistics.interval.ms` of a group member: not for the statistics
/// (`GroupContext` drops them unparsed) but for the timer. librdkafka
/// serves a classic-protocol group's state machine, heartbeats included,
/// from its main thread's loop, which sleeps until its next operation or
/// timer, at most 1 s (`rd_kafka_thread_main`). Fetching does not wake it,
/// so a member heartbeated about once a second whatever
/// `heartbeat.interval.ms` said, and learnt that late that the group was
/// rebalancing. With this 100 ms timer, over 12 drain rounds, a starting
/// worker's two filter threads were both reading 0.17-0.20 s after its
/// start in 6 and 1.15-1.20 s in the others, against 0.15-0.19 s in 4 of
/// 21 and 1.05-1.58 s without (perf/results/worker.md, 2026-12-05); the
/// slow rounds still wait for librdkafka's own limit of one join a second
/// (`rkcg_join_intvl`, not configurable). The cost: one statistics
/// document of a few KiB built ten times a second.
const GROUP_LOOP_WAKE_MS: &str = "100";

/// Connection and tuning of the Kafka log.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// `client.id` prefix, shown in broker logs and metrics (default `clicktail`).
    pub client_id: String,
    /// `linger.ms`: how long the producer waits to fill a batch (default 5).
    /// A worker keeps producing between its flushes (one per commit
    /// interval), so records leave in batches of up to 5 ms of matches; a
    /// flush sends whatever is lingering at once.
    pub linger_ms: u32,
    /// `message.timeout.ms`: how long librdkafka keeps retrying a message
    /// before reporting it failed (default 120,000). Longer than a broker
    /// restart, so a restart delays a batch instead of failing it.
    pub message_timeout_ms: u32,
    /// `queue.buffering.max.messages`: the producer's local queue bound
    /// (default 200,000); `send` past it returns `QueueFull`.
    pub producer_queue_messages_max: u32,
    /// `session.timeout.ms`: how soon the group notices a dead member
    /// (SIGKILL) and hands its partitions over (default 6,000, the broker's
    /// `group.min.session.timeout.ms`; librdkafka's 45,000 would stall a
    /// crashed worker's partitions for 45 s).
    pub session_timeout_ms: u32,
    /// `queued.max.messages.kbytes`: the bound on records prefetched per
    /// consumer (default 32,768 KiB).
    pub consumer_prefetch_kbytes_max: u32,
    /// `socket.timeout.ms` and metadata request timeout (default 10,000).
    pub request_timeout_ms: u64,
    /// How often a group member refreshes the cluster's metadata
    /// (`topic.metadata.refresh.interval.ms`), which is also how soon a
    /// `^pattern` subscription picks up a topic created after it started
    /// (default 30 s; librdkafka's own default is 5 minutes).
    pub metadata_refresh_ms: u32,
}

impl KafkaConfig {
    pub fn new(brokers: &str) -> Self {
        KafkaConfig {
            brokers: brokers.to_owned(),
            client_id: "clicktail".to_owned(),
            linger_ms: 5,
            message_timeout_ms: 120_000,
            producer_queue_messages_max: 200_000,
            session_timeout_ms: 6_000,
            consumer_prefetch_kbytes_max: 32_768,
            request_timeout_ms: 10_000,
            metadata_refresh_ms: 30_000,
        }
    }

    fn common(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("{}-{role}", self.client_id))
            .set("socket.timeout.ms", self.request_timeout_ms.to_string())
            // Reconnect quickly after a broker restart, backing off to 1 s
            // (`reconnect.backoff.ms` / `reconnect.backoff.max.ms`).
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "1000")
            // librdkafka's own log goes through the `log` facade of rdkafka;
            // keep its level at warnings (`log_level`, syslog levels).
            .set("log_level", "4");
        config
    }

    pub(crate) fn metadata_client_config(&self) -> ClientConfig {
        self.common("metadata")
    }

    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut config = self.common("producer");
        config
            // `acks=all`: a record is acknowledged once every in-sync replica
            // has it; the worker commits raw offsets only after that.
            .set("acks", "all")
            // `enable.idempotence=true`: the producer's own retries (after a
            // broker restart) neither duplicate nor reorder records.
            .set("enable.idempotence", "true")
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            .set("queue.buffering.max.messages", self.producer_queue_messages_max.to_string())
            // `compression.type=lz4`: filtered records repeat the event's
            // JSON keys; lz4 is the cheapest codec librdkafka ships. Against
            // `none` on this 2-core machine with the broker local (drain
            // benchmark, 2,000,000 events, 0.225 records per event, two runs
            // each): lz4 552k-675k events/s, none 463k-710k: within the
            // run-to-run noise, so the smaller log and network volume wins.
            .set("compression.type", "lz4");
        config
    }

    pub(crate) fn group_consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.common("consumer");
        config
            .set("group.id", group)
            // `partition.assignment.strategy=cooperative-sticky`: a member
            // joining or leaving moves only the partitions that must move;
            // the others keep flowing through the rebalance.
            .set("partition.assignment.strategy", "cooperative-sticky")
            // `enable.auto.commit=false`: offsets are committed explicitly,
            // after the batch's matches are acknowledged (at-least-once).
            .set("enable.auto.commit", "false")
            // `enable.auto.offset.store=false`: nothing is stored behind our back either.
            .set("enable.auto.offset.store", "false")
            // `auto.offset.reset=earliest`: a new group starts at the oldest
            // record, so nothing produced before the first worker is skipped.
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            // `heartbeat.interval.ms`: a member learns that the group is
            // rebalancing from a heartbeat's answer, so a filter thread that
            // joins (a new worker, a restarted one) waits for partitions up to
            // one interval per rebalance round (cooperative-sticky takes two).
            // 500 ms instead of a third of the session timeout (2 s): in the
            // drain benchmark the second thread got its partitions only after
            // the first had read most of the backlog. A third of the session
            // timeout at most, as librdkafka recommends.
            .set("heartbeat.interval.ms", (self.session_timeout_ms / 3).clamp(100, 500).to_string())
            .set("statistics.interval.ms", GROUP_LOOP_WAKE_MS)
            // `enable.partition.eof=false`: reaching the end of a partition is not an event.
            .set("enable.partition.eof", "false")
            // `fetch.wait.max.ms`: the broker answers an empty fetch after
            // 100 ms instead of 500, keeping an idle poll responsive.
            .set("fetch.wait.max.ms", "100")
            .set("queued.max.messages.kbytes", self.consumer_prefetch_kbytes_max.to_string())
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
            // A pattern subscription is re-evaluated on each refresh.
            .set("topic.metadata.refresh.interval.ms", self.metadata_refresh_ms.to_string());
        config
    }

    /// A filter thread's own fetcher (`fetcher.rs`): assigned partitions
    /// by its group member, outside the group; it never commits.
    pub(crate) fn fetcher_config(&self) -> ClientConfig {
        let mut config = self.assigned_consumer_config("fetcher");
        // Only after an offset is out of range (the member positions every
        // partition it hands over): as the group's own reset.
        config.set("auto.offset.reset", "earliest");
        config
    }

    pub(crate) fn tail_consumer_config(&self) -> ClientConfig {
        self.assigned_consumer_config("tail")
    }

    /// A consumer of partitions assigned by hand, never committing.
    fn assigned_consumer_config(&self, role: &str) -> ClientConfig {
        let mut config = self.common(role);
        config
            // A group id is required by librdkafka's consumer API even with
            // manual assignment; nothing is ever committed under it.
            .set("group.id", format!("{}-{role}-unused", self.client_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .set("queued.max.messages.kbytes", self.consumer_prefetch_kbytes_max.to_string())
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
        config
    }
}
