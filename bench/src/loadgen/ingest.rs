//! Browser-like ingest: each connection is one `/ingest` WebSocket that
//! batches the events that came due since its last tick, as `tracker.js`
//! does (docs/protocol.md, "tracker.js"), and waits for the batch's `ack`
//! before sending the next: one batch in flight per connection, so a slow
//! gateway shows as latency, never as unbounded buffering here.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use super::connect::{connect_websocket, source_address};
use super::pacer::Pacer;
use super::stamp::{fill_sent, now_us, stamp_created, stamp_sent_placeholder};
use super::stats::LiveCounters;
use super::{LoadgenConfig, LoadgenError};
use crate::rng::mix64;
use crate::{Clickstream, ClickstreamConfig};

/// The bound on waiting for one batch's `ack` (the gateway's own flush
/// timeout is 5 s by default, `ingest_flush_timeout_ms`).
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One ingest connection's share of the run.
#[derive(Clone, Debug)]
pub struct IngestPlan {
    /// Which connection this is (0-based); picks its seed and source address.
    pub index: usize,
    /// This connection's share of the rate, events per second.
    pub rate_per_second: f64,
    /// This connection's share of the event count.
    pub event_count_max: u64,
}

/// Runs one ingest connection until its count, the duration, or `stop`.
/// An error ends this connection only; the run goes on with the others.
pub fn run_ingest_connection(
    config: &LoadgenConfig,
    gateway: SocketAddr,
    plan: &IngestPlan,
    counters: &LiveCounters,
    stop: &AtomicBool,
) -> Result<(), LoadgenError> {
    let source = source_address(plan.index, config.source_addresses);
    let mut websocket = connect_websocket(source, gateway, "/ingest")?;
    websocket.get_ref().set_read_timeout(Some(ACK_TIMEOUT)).map_err(LoadgenError::Io)?;
    let clickstream_config = ClickstreamConfig {
        seed: mix64(config.seed.wrapping_add(plan.index as u64 + 1)),
        users: config.users,
        start_ts_ms: now_us() / 1_000,
        events_per_second: (plan.rate_per_second as u32).max(1),
        ..ClickstreamConfig::default()
    };
    let mut clickstream = Clickstream::new(clickstream_config).map_err(LoadgenError::Generator)?;
    let started = Instant::now();
    let started_us = now_us();
    let pacer = Pacer::new(started, plan.rate_per_second);
    let mut batch = BatchBuilder::new(config.ingest_batch_events_max);
    let mut sent = 0u64;
    let mut next_tick = started;
    while sent < plan.event_count_max && started.elapsed() < config.duration && !stop.load(Relaxed) {
        next_tick += config.ingest_batch_interval;
        if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let due = pacer.due_now().min(plan.event_count_max);
        while sent < due {
            let in_this_batch = (due - sent).min(config.ingest_batch_events_max as u64);
            for index in sent..sent + in_this_batch {
                let due_us = started_us + pacer.due_time_of(index).as_micros() as u64;
                batch.add(&mut clickstream, due_us);
            }
            counters.events_sent.fetch_add(in_this_batch, Relaxed);
            send_and_await_ack(&mut websocket, batch.finish(now_us()), counters)?;
            sent += in_this_batch;
        }
    }
    let _ = websocket.close(None);
    let _ = websocket.flush();
    Ok(())
}

/// Sends one batch and reads until its `ack` or `nack`.
fn send_and_await_ack(
    websocket: &mut WebSocket<TcpStream>,
    batch: String,
    counters: &LiveCounters,
) -> Result<(), LoadgenError> {
    websocket.send(Message::text(batch)).map_err(LoadgenError::from)?;
    loop {
        match websocket.read().map_err(LoadgenError::from)? {
            Message::Text(text) => {
                let reply: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                match reply.get("type").and_then(|kind| kind.as_str()) {
                    Some("ack") => {
                        counters.replies_received.fetch_add(1, Relaxed);
                        let number = |field: &str| reply.get(field).and_then(|value| value.as_u64()).unwrap_or(0);
                        counters.events_acknowledged.fetch_add(number("accepted"), Relaxed);
                        counters.events_rejected.fetch_add(number("rejected"), Relaxed);
                        return Ok(());
                    }
                    Some("nack") => {
                        counters.replies_received.fetch_add(1, Relaxed);
                        counters.batches_refused.fetch_add(1, Relaxed);
                        return Ok(());
                    }
                    _ => {}
                }
            }
            Message::Close(frame) => {
                let reason = frame.map(|frame| frame.reason.to_string()).unwrap_or_default();
                return Err(LoadgenError::ClosedByGateway { reason });
            }
            _ => {}
        }
    }
}

/// Builds `{"batch":N,"events":[...]}` in one reused buffer.
struct BatchBuilder {
    /// The batch being built.
    text: Vec<u8>,
    /// One event's bytes, reused.
    event: Vec<u8>,
    /// Events in the current batch.
    events: usize,
    /// Where each event's send stamp goes in `text`, filled by `finish`.
    sent_stamps: Vec<usize>,
    /// The next batch number (echoed in the ack).
    number: u64,
}

impl BatchBuilder {
    fn new(events_max: usize) -> Self {
        BatchBuilder {
            text: Vec::with_capacity(events_max * 1_024),
            event: Vec::with_capacity(2_048),
            events: 0,
            sent_stamps: Vec::with_capacity(events_max),
            number: 1,
        }
    }

    /// Adds the next event, stamped as created at `created_us`.
    fn add(&mut self, clickstream: &mut Clickstream, created_us: u64) {
        if self.events == 0 {
            self.text.clear();
            self.text.extend_from_slice(format!("{{\"batch\":{},\"events\":[", self.number).as_bytes());
        } else {
            self.text.push(b',');
        }
        self.event.clear();
        clickstream.next_event(&mut self.event);
        stamp_created(&mut self.event, created_us);
        let sent_stamp = stamp_sent_placeholder(&mut self.event);
        if let Some(at) = sent_stamp {
            self.sent_stamps.push(self.text.len() + at);
        }
        self.text.extend_from_slice(&self.event);
        self.events += 1;
    }

    /// The batch's text, its events stamped as sent at `sent_us`; the
    /// builder starts the next batch.
    fn finish(&mut self, sent_us: u64) -> String {
        for at in self.sent_stamps.drain(..) {
            fill_sent(&mut self.text, at, sent_us);
        }
        if self.events == 0 {
            self.text.clear();
            self.text.extend_from_slice(format!("{{\"batch\":{},\"events\":[", self.number).as_bytes());
        }
        self.text.extend_from_slice(b"]}");
        self.events = 0;
        self.number += 1;
        // The generator writes UTF-8 only (malformed events are refused for
        // this target by `LoadgenConfig::validate`).
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_json_of_the_documented_shape() {
        let mut clickstream = Clickstream::new(ClickstreamConfig::default()).unwrap();
        let mut builder = BatchBuilder::new(10);
        for _ in 0..3 {
            builder.add(&mut clickstream, 1_000);
        }
        let first: serde_json::Value = serde_json::from_str(&builder.finish(2_000)).unwrap();
        assert_eq!(first["batch"], 1);
        assert_eq!(first["events"].as_array().unwrap().len(), 3);
        assert_eq!(first["events"][0]["loadgen_created_us"], 1_000);
        assert_eq!(first["events"][2]["loadgen_sent_us"], "0000000000002000");
        builder.add(&mut clickstream, 1_000);
        let second: serde_json::Value = serde_json::from_str(&builder.finish(2_000)).unwrap();
        assert_eq!((second["batch"].as_u64(), second["events"].as_array().unwrap().len()), (Some(2), 1));
    }
}
