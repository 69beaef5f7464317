//! clicktail's gateway: one port for HTTP and WebSocket that serves admin
//! sessions (subscribe with a criterion, receive every match), delivers
//! filtered records by filter id, takes browser events in (`/ingest`,
//! `tracker.js`) and serves the admin UI, health probes and metrics.
//!
//! Threads of a gateway node:
//! - `event_loops` event-loop threads (mio, edge-triggered, tungstenite's
//!   sync API over non-blocking sockets), each owning its connections;
//! - one delivery thread tailing the filtered topic (`delivery.rs`);
//! - one control thread for every registry call (`control.rs`);
//! - one ingest producer thread (`ingest/producer.rs`).
//!
//! A gateway reads only the filtered topic: history (`since_ms`, `history`)
//! is scanned by the workers and arrives on the filtered topic like live
//! matches (engine/src/worker/backfill/). The raw topic is only written, by
//! `/ingest`.
//!
//! They hand work over bounded channels only; see each module for its bound.
//!
//! Layout:
//! - [`config`]: [`GatewayConfig`], every limit with its default;
//! - [`protocol`]: one file per message kind of `/ws` and `/ingest`;
//! - `server/`: event loops, connections, bounded session queues;
//! - `http/`: request parsing, responses, the WebSocket handshake, assets;
//! - `delivery.rs`, `control.rs`, `ingest/`: the threads above;
//! - `filtered_format.rs`: reading filtered records, refusing unknown formats;
//! - `routes.rs`: filter id → owning session; `metrics.rs`: `/metrics`;
//! - `schema_sample.rs`: paths and values of recent matches (`/schema`);
//! - `reassert.rs`: the node's heartbeat, which re-creates lost filters;
//! - `auth/`: who may open `/ws` (static token, JWT); `audit.rs`: the
//!   audit lines of every subscribe and unsubscribe.

pub mod audit;
pub mod auth;
pub mod config;
mod control;
mod delivery;
mod error;
mod filter_stats;
mod filtered_format;
pub mod http;
mod ids;
mod ingest;
mod metrics;
pub mod protocol;
mod reassert;
mod routes;
mod schema_sample;
mod server;
pub mod topics;

pub use config::GatewayConfig;
pub use error::GatewayError;
/// Batch validation of `/ingest`, public for the fuzz target (`fuzz/fuzz_targets/gateway_input.rs`).
pub use ingest::{validate as validate_ingest_batch, IngestLimits};
pub use metrics::Metrics;
pub use routes::RouteTable;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clicktail_engine::log::Log;
use clicktail_engine::registry::Registry;
use mio::{Interest, Poll, Waker};

use server::event_loop::{EventLoop, LoopContext, LISTENER, WAKER};

/// A running gateway node. Dropping it does not stop it; call [`Gateway::stop`].
pub struct Gateway {
    /// The bound address (port 0 resolved).
    local_address: SocketAddr,
    /// The node's counters, also served at `/metrics`.
    metrics: Arc<Metrics>,
    /// Tells the loops and the delivery thread to end.
    stop: Arc<AtomicBool>,
    /// Every thread of the node, joined by `stop`.
    threads: Vec<JoinHandle<()>>,
    /// To wake the loops when stopping.
    wakers: Vec<server::inbox::LoopHandle>,
    /// The first `event_loops` of `threads` are the event loops.
    event_loops: usize,
}

impl Gateway {
    /// Binds, starts every thread and returns once the port accepts connections.
    pub fn start(
        config: GatewayConfig,
        log: Arc<dyn Log>,
        registry: Arc<dyn Registry>,
    ) -> Result<Gateway, GatewayError> {
        config.validate()?;
        let admission = Arc::new(auth::Admission::from_config(&config).map_err(GatewayError::Config)?);
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let routes = Arc::new(RouteTable::default());
        let known_topics = Arc::new(topics::KnownTopics::default());
        let schema = Arc::new(schema_sample::SchemaSample::default());
        let stop = Arc::new(AtomicBool::new(false));

        let std_listener = server::listener::bind(config.listen, config.reuse_port)
            .map_err(|source| GatewayError::Listen { address: config.listen, source })?;
        std_listener.set_nonblocking(true).map_err(GatewayError::Poll)?;
        let local_address = std_listener.local_addr().map_err(GatewayError::Poll)?;

        let mut polls = Vec::new();
        let mut handles = Vec::new();
        let mut inboxes = Vec::new();
        for _ in 0..config.event_loops {
            let poll = Poll::new().map_err(GatewayError::Poll)?;
            let waker = Waker::new(poll.registry(), WAKER).map_err(GatewayError::Poll)?;
            let (handle, inbox) = server::inbox::channel(waker, config.loop_inbox_max);
            polls.push(poll);
            handles.push(handle);
            inboxes.push(inbox);
        }

        // Fail at start, not later, when the topics or the registry are missing.
        let delivery_consumer = delivery::consumer(log.as_ref(), &config.filtered_topic)?;
        let producer = log.producer().map_err(|source| GatewayError::Log { what: "producer", source })?;
        log.partition_count(&config.raw_topic).map_err(|source| GatewayError::Log { what: "raw topic", source })?;
        registry.list().map_err(|source| GatewayError::Registry { what: "first contact", source })?;

        let (control_sender, control_receiver) = crossbeam_channel::bounded(config.control_queue_max);
        let (ingest_sender, ingest_receiver) = crossbeam_channel::bounded(config.ingest_queue_batches_max);

        let mut threads = Vec::new();
        let mut spawn = |name: String, body: Box<dyn FnOnce() + Send>| -> Result<(), GatewayError> {
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(body)
                .map_err(|source| GatewayError::Thread { name, source })?;
            threads.push(thread);
            Ok(())
        };

        for (index, (poll, inbox)) in polls.into_iter().zip(inboxes).enumerate() {
            let listener = std_listener.try_clone().map_err(GatewayError::Poll)?;
            let mut listener = mio::net::TcpListener::from_std(listener);
            poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(GatewayError::Poll)?;
            let event_loop = EventLoop {
                poll,
                listener: Some(listener),
                inbox,
                stop: stop.clone(),
                context: LoopContext {
                    id: ids::LoopId(index),
                    config: config.clone(),
                    metrics: metrics.clone(),
                    routes: routes.clone(),
                    control: control_sender.clone(),
                    ingest: ingest_sender.clone(),
                    ingest_limits: ingest::IngestLimits {
                        batch_bytes_max: config.ingest_batch_bytes_max,
                        batch_events_max: config.ingest_batch_events_max,
                        event_bytes_max: config.ingest_event_bytes_max,
                    },
                    hosts: config.host_policy(),
                    admission: admission.clone(),
                    known_topics: known_topics.clone(),
                    schema: schema.clone(),
                },
            };
            spawn(format!("gateway-loop-{index}"), Box::new(move || event_loop.run()))?;
        }
        drop((control_sender, ingest_sender));

        let delivery = delivery::DeliveryThread {
            consumer: delivery_consumer,
            routes: routes.clone(),
            loops: handles.clone(),
            metrics: metrics.clone(),
            stop: stop.clone(),
            schema,
        };
        spawn("gateway-delivery".into(), Box::new(move || delivery.run()))?;

        let control = control::ControlThread {
            registry,
            routes: routes.clone(),
            loops: handles.clone(),
            metrics: metrics.clone(),
            history_max: config.history_max,
            node_name: config.node_name.clone(),
            node_id: reassert::node_id(&config.node_name),
            filter_ttl: config.filter_ttl(),
            rate_cap_per_s: config.session_filter_rate_cap_per_s,
            known_topics: known_topics.clone(),
        };
        spawn("gateway-control".into(), Box::new(move || control.run(control_receiver)))?;

        let producer_thread = ingest::producer::ProducerThread {
            producer,
            topic: config.raw_topic.clone(),
            loops: handles.clone(),
            metrics: metrics.clone(),
            flush_timeout: std::time::Duration::from_millis(config.ingest_flush_timeout_ms),
        };
        spawn("gateway-ingest".into(), Box::new(move || producer_thread.run(ingest_receiver)))?;

        metrics.ready.store(true, Ordering::Relaxed);
        tracing::info!(address = %local_address, loops = config.event_loops, "gateway listening");
        let event_loops = config.event_loops;
        Ok(Gateway { local_address, metrics, stop, threads, wakers: handles, event_loops })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops the event loops and the delivery thread at once,
    /// dropping every connection without a close frame and releasing its
    /// filters; waits for them. For tests; a process drains instead
    /// ([`Gateway::shutdown`]).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in &self.wakers {
            handle.wake();
        }
        drop(self.wakers);
        for thread in self.threads {
            let _ = thread.join();
        }
    }

    /// Drains, then stops, within `grace` (`shutdown_grace_ms`; SIGTERM):
    /// `/readyz` answers 503 at once; the listener closes; every admin
    /// session gets close code 1001 (going away) and its filters are
    /// deleted from the registry; ingest batches in flight are answered
    /// (ack or nack) and new ones refused. When every loop is done, or the
    /// grace has passed, the rest stops as in [`Gateway::stop`]. Returns
    /// whether everything finished within the grace; threads still busy
    /// then (a registry call that hangs) are left to the process's exit.
    pub fn shutdown(mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        self.metrics.draining.store(true, Ordering::Relaxed);
        tracing::info!(grace_ms = grace.as_millis() as u64, "gateway draining");
        for handle in &self.wakers {
            handle.wake();
        }
        let loops_done = wait_until(deadline, || self.threads[..self.event_loops].iter().all(|t| t.is_finished()));
        if !loops_done {
            tracing::warn!("drain: sessions still open at the end of the grace; closing them without a handshake");
        }
        // The loops are gone (or told to go): the control thread deletes
        // what they released, then the rest stops.
        self.stop.store(true, Ordering::Relaxed);
        for handle in &self.wakers {
            handle.wake();
        }
        let all_done = wait_until(deadline.max(Instant::now() + STOP_WAIT_MIN), || {
            self.threads.iter().all(|thread| thread.is_finished())
        });
        if all_done {
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
            tracing::info!("gateway drained");
        } else {
            tracing::warn!("drain: threads still busy at the end of the grace; leaving them to the exit");
        }
        loops_done && all_done
    }
}

/// After a drain that used its whole grace, how long the other threads
/// still get to finish (the control thread deleting the rows of sessions
/// closed at the deadline).
const STOP_WAIT_MIN: Duration = Duration::from_millis(500);

/// Polls `done` until it holds or `deadline` passes; returns whether it held.
fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
