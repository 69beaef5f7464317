//! The suite's own Kafka clients: a rate-limited producer of the numbered
//! events (acks=all, idempotent, retrying through broker outages) and a
//! reader of the filtered topic that tallies records per filter id.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::events::Events;
use crate::tally::Tally;

/// How long librdkafka keeps retrying one record: longer than any outage a
/// scenario stages, so an outage delays records instead of failing them.
const MESSAGE_TIMEOUT_MS: &str = "180000";
/// Rounds of re-sending records whose delivery failed anyway.
const RESEND_ROUNDS_MAX: usize = 3;

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("broker.address.family", "v4").set("client.id", "clicktail-chaos");
    config
}

/// Collects the indices of records whose delivery failed.
struct FailedDeliveries(Mutex<Vec<usize>>);

impl ClientContext for FailedDeliveries {}

impl ProducerContext for FailedDeliveries {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        if result.is_err() {
            self.0.lock().unwrap().push(index);
        }
    }
}

/// A producer running in its own thread; its progress is readable while it runs.
pub struct Production {
    /// Events handed to the producer so far (in index order).
    pub sent: Arc<AtomicUsize>,
    join: JoinHandle<anyhow::Result<ProductionReport>>,
}

#[derive(Debug)]
pub struct ProductionReport {
    /// Events sent again after a failed delivery (each may arrive twice).
    pub resent: usize,
    pub seconds: f64,
}

impl Production {
    /// Produces `events.lines[range]` to `topic` at `rate_per_s` (0: as
    /// fast as the producer takes them), keyed by user id.
    pub fn start(
        brokers: &str,
        topic: &str,
        events: Arc<Events>,
        range: Range<usize>,
        rate_per_s: u32,
    ) -> anyhow::Result<Self> {
        let producer: BaseProducer<FailedDeliveries> = client_config(brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "200000")
            .create_with_context(FailedDeliveries(Mutex::new(Vec::new())))
            .context("creating the producer")?;
        let sent = Arc::new(AtomicUsize::new(0));
        let progress = sent.clone();
        let topic = topic.to_owned();
        let join = std::thread::spawn(move || produce(&producer, &topic, &events, range, rate_per_s, &progress));
        Ok(Production { sent, join })
    }

    pub fn finish(self) -> anyhow::Result<ProductionReport> {
        self.join.join().map_err(|_| anyhow::anyhow!("the producer thread panicked"))?
    }
}

fn produce(
    producer: &BaseProducer<FailedDeliveries>,
    topic: &str,
    events: &Events,
    range: Range<usize>,
    rate_per_s: u32,
    sent: &AtomicUsize,
) -> anyhow::Result<ProductionReport> {
    let started = Instant::now();
    for (n, index) in range.clone().enumerate() {
        if rate_per_s > 0 {
            let due = started + Duration::from_secs_f64(n as f64 / f64::from(rate_per_s));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                producer.poll(Duration::ZERO);
                std::thread::sleep(wait);
            }
        }
        send(producer, topic, events, index)?;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let mut resent = 0;
    for _ in 0..=RESEND_ROUNDS_MAX {
        producer.flush(Duration::from_secs(240)).context("flushing the producer")?;
        let failed = std::mem::take(&mut *producer.context().0.lock().unwrap());
        if failed.is_empty() {
            return Ok(ProductionReport { resent, seconds: started.elapsed().as_secs_f64() });
        }
        resent += failed.len();
        for index in failed {
            send(producer, topic, events, index)?;
        }
    }
    anyhow::bail!("records still undelivered after {RESEND_ROUNDS_MAX} rounds of re-sending")
}

fn send(producer: &BaseProducer<FailedDeliveries>, topic: &str, events: &Events, index: usize) -> anyhow::Result<()> {
    loop {
        let record = BaseRecord::with_opaque_to(topic, index).key(&events.keys[index]).payload(&events.lines[index]);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(50));
            }
            Err((error, _)) => return Err(error).context("producing an event"),
        }
    }
}

/// Produces single events (probes) synchronously.
pub struct Prober {
    producer: BaseProducer,
    topic: String,
    next: AtomicUsize,
}

impl Prober {
    pub fn new(brokers: &str, topic: &str) -> anyhow::Result<Self> {
        let producer =
            client_config(brokers).set("acks", "all").set("linger.ms", "0").create().context("creating the prober")?;
        Ok(Prober { producer, topic: topic.to_owned(), next: AtomicUsize::new(1) })
    }

    /// Sends a probe matching criterion `criterion`; its number.
    pub fn send(&self, criterion: usize) -> anyhow::Result<u64> {
        let number = self.next.fetch_add(1, Ordering::Relaxed) as u64 + u64::from(std::process::id()) * 1_000_000;
        let payload = crate::events::probe_event(criterion, number);
        self.producer
            .send(BaseRecord::<str, [u8]>::to(&self.topic).key("probe").payload(&payload))
            .map_err(|(error, _)| error)?;
        self.producer.flush(Duration::from_secs(30))?;
        Ok(number)
    }

    /// Sends probes (one a second) until `seen(number)` says one arrived:
    /// the filter is live. False at the deadline.
    pub fn until_live(&self, criterion: usize, seen: impl Fn(u64) -> bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut sent = Vec::new();
        while Instant::now() < deadline {
            if let Ok(number) = self.send(criterion) {
                sent.push(number);
            }
            let next_probe = Instant::now() + Duration::from_secs(1);
            while Instant::now() < next_probe.min(deadline) {
                if sent.iter().any(|&n| seen(n)) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        false
    }
}

/// Reads the whole filtered topic from the beginning and tallies each
/// record under its filter id.
pub struct FilteredReader {
    tallies: Arc<Mutex<HashMap<u64, Arc<Tally>>>>,
    /// Records that did not decode.
    pub undecodable: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl FilteredReader {
    pub fn start(brokers: &str, topic: &str, partitions: u32, events: Arc<Events>) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = client_config(brokers)
            .set("group.id", format!("chaos-reader-{topic}"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .context("creating the filtered-topic reader")?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let tallies: Arc<Mutex<HashMap<u64, Arc<Tally>>>> = Arc::default();
        let undecodable = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, u, s) = (tallies.clone(), undecodable.clone(), stop.clone());
        let join = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                // Errors (a broker away) are librdkafka's to recover from.
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else { continue };
                // Only `event` records carry a match (docs/filtered-topic.md);
                // a `stats` record of the same filter has an empty value.
                if !is_event(&message) {
                    continue;
                }
                let Some(payload) = message.payload() else { continue };
                // docs/filtered-topic.md: the key is the filter id in
                // decimal, the value the event unchanged.
                match filter_of(message.key()) {
                    Some(filter) => {
                        let tally = t
                            .lock()
                            .unwrap()
                            .entry(filter)
                            .or_insert_with(|| Arc::new(Tally::new(events.len())))
                            .clone();
                        tally.record(&events, payload);
                    }
                    None => {
                        u.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(FilteredReader { tallies, undecodable, stop, join: Some(join) })
    }

    /// The tally of filter `id` (empty until its first record).
    pub fn tally(&self, id: u64, events: usize) -> Arc<Tally> {
        self.tallies.lock().unwrap().entry(id).or_insert_with(|| Arc::new(Tally::new(events))).clone()
    }
}

impl Drop for FilteredReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// The filter id a filtered record's key names, if it is one.
fn filter_of(key: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(key?).ok()?.parse().ok()
}

/// True unless the record's `ct.kind` header names another kind than `event`.
fn is_event(message: &rdkafka::message::BorrowedMessage<'_>) -> bool {
    use rdkafka::message::Headers;
    let Some(headers) = message.headers() else { return true };
    headers.iter().all(|header| header.key != "ct.kind" || header.value == Some(&b"event"[..]))
}
