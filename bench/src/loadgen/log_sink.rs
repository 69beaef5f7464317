//! Events straight into a log: the in-memory log in this process (the
//! generator's own ceiling) or Kafka through the engine's `KafkaLog`.
//!
//! One thread generates, stamps and sends; that is the "one core" of the
//! ceiling figure. Sends are keyed by `user.id`, as the gateway's ingest
//! keys them, so partitioning costs what it costs in production.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clicktail_engine::log::{Log, LogProducer, Message};

use super::pacer::Pacer;
use super::stamp::{now_us, stamp_created};
use super::stats::LiveCounters;
use super::{LoadgenConfig, LoadgenError};
use crate::{site_topics, Clickstream, ClickstreamConfig};

/// Events sent between flushes, and between checks of the clock. At
/// 1M events/s this is a flush every ~4 ms.
const SEND_CHUNK_EVENTS: u64 = 4_096;
/// The bound on one flush: past it the run reports the log as failing.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a paced sender sleeps when nothing is due.
const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// What a log run measured.
#[derive(Clone, Copy, Debug)]
pub struct LogRunOutcome {
    /// Events sent.
    pub events_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// From the first event to the last flush.
    pub elapsed: Duration,
}

/// Sends events to `topic` of `log` at the configured rate until the
/// duration, the count or `stop`, whichever comes first.
pub fn run_into_log(
    config: &LoadgenConfig,
    log: &dyn Log,
    topic: &str,
    counters: &LiveCounters,
    stop: &AtomicBool,
) -> Result<LogRunOutcome, LoadgenError> {
    let clickstream_config = ClickstreamConfig {
        seed: config.seed,
        users: config.users,
        malformed_per_million: config.malformed_per_million,
        start_ts_ms: now_us() / 1_000,
        events_per_second: config.rate_per_second.max(1),
        ..ClickstreamConfig::default()
    };
    let mut clickstream = Clickstream::new(clickstream_config).map_err(LoadgenError::Generator)?;
    let producer = log.producer().map_err(LoadgenError::Log)?;
    let count_max = config.event_count_max.unwrap_or(u64::MAX);
    let started = Instant::now();
    let started_us = now_us();
    let pacer = Pacer::new(started, f64::from(config.rate_per_second));
    let mut event = Vec::with_capacity(2_048);
    let mut payment = Vec::with_capacity(512);
    let (mut sent, mut bytes) = (0u64, 0u64);
    let refused = |error| {
        counters.batches_refused.fetch_add(1, Relaxed);
        LoadgenError::Log(error)
    };
    while sent < count_max && started.elapsed() < config.duration && !stop.load(Relaxed) {
        let chunk_end = pacer.due_now().min(count_max).min(sent + SEND_CHUNK_EVENTS);
        if chunk_end <= sent {
            std::thread::sleep(IDLE_SLEEP);
            continue;
        }
        while sent < chunk_end {
            event.clear();
            let generated = clickstream.next_event(&mut event);
            let topic = if config.site_topics { site_topics::topic_of(generated) } else { topic };
            // Paced: the intended time (see `Pacer::due_time_of`); unpaced
            // there is none, so the wall clock.
            let created_us = if config.rate_per_second == 0 {
                now_us()
            } else {
                started_us + pacer.due_time_of(sent).as_micros() as u64
            };
            stamp_created(&mut event, created_us);
            let key = user_key(&event).unwrap_or(b"anonymous");
            let timestamp_ms = (created_us / 1_000) as i64;
            let message = |payload| Message { key, payload, partition: None, timestamp_ms, headers: &[] };
            producer.send_or_flush_once(topic, message(&event), FLUSH_TIMEOUT).map_err(refused)?;
            sent += 1;
            bytes += event.len() as u64;
            // The payment service's record of a booking: a record more on
            // its own topic, not an event of the rate.
            if topic == site_topics::BOOKINGS && site_topics::payment_for(&event, &mut payment) {
                producer
                    .send_or_flush_once(site_topics::PAYMENTS, message(&payment), FLUSH_TIMEOUT)
                    .map_err(refused)?;
                bytes += payment.len() as u64;
            }
        }
        counters.events_sent.store(sent, Relaxed);
        flush(producer.as_ref(), counters, sent)?;
    }
    flush(producer.as_ref(), counters, sent)?;
    Ok(LogRunOutcome { events_sent: sent, bytes_sent: bytes, elapsed: started.elapsed() })
}

fn flush(producer: &dyn LogProducer, counters: &LiveCounters, sent: u64) -> Result<(), LoadgenError> {
    producer.flush(FLUSH_TIMEOUT).map_err(LoadgenError::Log)?;
    counters.events_acknowledged.store(sent, Relaxed);
    Ok(())
}

/// The `user.id` of a generated event, found without parsing (the
/// generator always writes `"user":{"id":"..."`; crawlers have `null`).
pub fn user_key(event: &[u8]) -> Option<&[u8]> {
    const NEEDLE: &[u8] = br#""user":{"id":""#;
    let start = memchr::memmem::find(event, NEEDLE)? + NEEDLE.len();
    let length = memchr::memchr(b'"', &event[start..])?;
    Some(&event[start..start + length])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktail_engine::log::memory::MemoryLog;
    use clicktail_engine::log::PartitionId;

    #[test]
    fn site_topics_split_the_events_by_type_with_a_payment_per_booking() {
        let log = MemoryLog::default();
        for topic in site_topics::TOPICS {
            log.create_topic(topic, 2).unwrap();
        }
        let config = LoadgenConfig { event_count_max: Some(2_000), site_topics: true, ..LoadgenConfig::default() };
        let outcome = run_into_log(&config, &log, "unused", &LiveCounters::default(), &AtomicBool::new(false)).unwrap();
        assert_eq!(outcome.events_sent, 2_000);
        let read = |topic: &str| {
            let mut consumer = log.group_consumer("check", topic).unwrap();
            let mut records = Vec::new();
            while consumer.poll(1_000, Duration::from_millis(50), &mut records).unwrap() > 0 {}
            records
        };
        let [bookings, pageviews, payments, searches] = site_topics::TOPICS.map(read);
        assert_eq!(bookings.len() + pageviews.len() + searches.len(), 2_000);
        let has = |records: &[clicktail_engine::log::Record], needle: &str| {
            records.iter().all(|record| memchr::memmem::find(&record.payload, needle.as_bytes()).is_some())
        };
        assert!(!bookings.is_empty() && has(&bookings, r#""type":"booking""#));
        assert!(!searches.is_empty() && has(&searches, r#""type":"search""#));
        assert_eq!(payments.len(), bookings.len());
        assert!(has(&payments, r#""amount""#) && !has(&payments, r#""type":"booking""#));
    }

    #[test]
    fn a_counted_run_lands_every_event_stamped_in_the_memory_log() {
        let log = MemoryLog::default();
        log.create_topic("raw", 2).unwrap();
        let config = LoadgenConfig { event_count_max: Some(500), ..LoadgenConfig::default() };
        let counters = LiveCounters::default();
        let outcome = run_into_log(&config, &log, "raw", &counters, &AtomicBool::new(false)).unwrap();
        assert_eq!(outcome.events_sent, 500);
        assert_eq!(counters.snapshot().events_acknowledged, 500);
        let mut consumer = log.group_consumer("check", "raw").unwrap();
        let mut records = Vec::new();
        while consumer.poll(1_000, Duration::from_millis(50), &mut records).unwrap() > 0 {}
        assert_eq!(records.len(), 500);
        assert!(records.iter().all(|record| memchr::memmem::find(&record.payload, b"loadgen_created_us").is_some()));
        assert!(records.iter().any(|record| record.partition == PartitionId(1)));
    }

    #[test]
    fn user_keys_are_found_without_parsing() {
        assert_eq!(user_key(br#"{"user":{"id":"u-7","x":1}}"#), Some(&b"u-7"[..]));
        assert_eq!(user_key(br#"{"user":null}"#), None);
    }
}
