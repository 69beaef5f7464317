//! One event-loop thread: accepts connections, reads and writes every
//! socket it owns without blocking (mio, edge-triggered), and applies the
//! commands other threads put in its inbox.
//!
//! Each loop registers the shared listener in its own poll: the kernel
//! wakes every loop on a new connection and the losers of the `accept` race
//! see `WouldBlock`. That spreads connections over loops without a hand-off
//! thread.
//!
//! Draining (SIGTERM, [`crate::Gateway::shutdown`]): once `Metrics::draining`
//! is set, each loop closes its copy of the listener, closes every admin
//! session with 1001 "going away" (RFC 6455 section 7.4.1) and releases its
//! filters, refuses new ingest batches, answers the ones in flight, closes
//! each ingest session once it has no batch in flight, and returns when no
//! connection is left (an HTTP request accepted before the drain is answered).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{self, Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::matcher::FilterId;
use crossbeam_channel::Sender;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Utf8Bytes, WebSocket};

use super::admin::AdminState;
use super::http_connection::{HttpConnection, HttpPhase, HttpStep, NewSocket, SocketRole};
use super::inbox::{LoopCommand, LoopInbox};
use super::outbound::Outbound;
use super::session_stream::SessionStream;
use super::websocket::{Incoming, Phase, WsConnection};
use crate::auth::Admission;
use crate::control::ControlRequest;
use crate::http::host::HostPolicy;
use crate::ids::{ConnectionAddress, ConnectionId, LoopId};
use crate::ingest::{validate, IngestJob, IngestLimits, ReplyChannel, ValidBatch};
use crate::protocol::hello::Hello;
use crate::protocol::ingest_batch::Nack;
use crate::schema_sample::SchemaSample;
use crate::{GatewayConfig, Metrics, RouteTable};

pub const LISTENER: Token = Token(usize::MAX);
pub const WAKER: Token = Token(usize::MAX - 1);

/// Readiness events taken from the poll per call.
const EVENTS_CAPACITY: usize = 1_024;
/// How often timers (idle, stalled, pings, HTTP deadlines) are checked.
const TICK: Duration = Duration::from_millis(250);

/// What every connection handler of a loop may use.
pub struct LoopContext {
    /// Which loop this is; part of every session address.
    pub id: LoopId,
    /// Every limit of the node.
    pub config: Arc<GatewayConfig>,
    /// Shared counters and gauges.
    pub metrics: Arc<Metrics>,
    /// Filter id → session, to unroute on release.
    pub routes: Arc<RouteTable>,
    /// Registry work for the control thread (bounded).
    pub control: Sender<ControlRequest>,
    /// Validated batches for the producer thread (bounded).
    pub ingest: Sender<IngestJob>,
    /// Bounds applied to each ingest batch.
    pub ingest_limits: IngestLimits,
    /// The `Host` names served (DNS rebinding).
    pub hosts: HostPolicy,
    /// Who may open `/ws`: the static token and the JWT keys.
    pub admission: Arc<Admission>,
    /// The workers' raw topics, offered in `hello`.
    pub known_topics: Arc<crate::topics::KnownTopics>,
    /// Paths and values of recent matches, for `GET /schema`.
    pub schema: Arc<SchemaSample>,
}

impl LoopContext {
    /// Unroutes `filters` now, and asks the control thread to delete their
    /// rows. Should that queue be full, the rows simply expire: with no
    /// route, no heartbeat keeps them alive.
    pub fn release(&self, filters: Vec<FilterId>) {
        for filter in &filters {
            if self.routes.remove(*filter) {
                self.metrics.filters_active.fetch_sub(1, Relaxed);
            }
        }
        if !filters.is_empty() && self.control.try_send(ControlRequest::Release { filters }).is_err() {
            tracing::warn!("control queue full: released filters will expire instead of being deleted");
        }
    }

    /// The tungstenite limits for a socket of `role` (RFC 6455 sizes).
    fn websocket_config(&self, role: SocketRole) -> WebSocketConfig {
        let message_bytes_max = match role {
            SocketRole::Admin => self.config.admin_message_bytes_max,
            SocketRole::Ingest => self.config.ingest_batch_bytes_max,
        };
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = match role {
            // No read buffer of tungstenite's own: idle sessions dominate,
            // and `SessionStream` holds bytes only while a frame is read.
            SocketRole::Admin => 0,
            // Few sessions, large batches: read them in 4 KiB steps.
            SocketRole::Ingest => 4 * 1024,
        };
        // tungstenite writes only control frames (text frames go through
        // `SessionStream`): each at once, so none waits in its buffer.
        config.write_buffer_size = 0;
        config.max_message_size = Some(message_bytes_max);
        config.max_frame_size = Some(message_bytes_max);
        config
    }
}

enum Connection {
    Http(HttpConnection),
    Admin(WsConnection, AdminState),
    Ingest(WsConnection),
}

pub struct EventLoop {
    /// This loop's epoll instance.
    pub poll: Poll,
    /// The shared listening socket, registered in every loop; dropped
    /// when a drain starts (the socket closes with the last loop's copy).
    pub listener: Option<TcpListener>,
    /// Commands from the delivery, control and ingest threads.
    pub inbox: LoopInbox,
    /// What connection handlers use.
    pub context: LoopContext,
    /// Set by `Gateway::stop`; checked after every poll.
    pub stop: Arc<AtomicBool>,
}

struct LoopState {
    /// Open connections by id. Boxed: the table keeps empty slots (up to
    /// half of it), which would otherwise each take a whole connection's
    /// size (~600 bytes), and a box moves in and out of it cheaply.
    connections: HashMap<usize, Box<Connection>>,
    /// The next connection id; ids are never reused.
    next_connection: usize,
    /// Connections with new frames to write after the inbox drain.
    dirty: Vec<usize>,
    /// Frames of one `writev`, reused by every connection of the loop.
    write_batch: Vec<Utf8Bytes>,
}

impl EventLoop {
    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut state = LoopState {
            connections: HashMap::new(),
            next_connection: 0,
            dirty: Vec::new(),
            write_batch: Vec::with_capacity(super::session_stream::FRAMES_PER_WRITE),
        };
        let mut next_tick = Instant::now() + TICK;
        let mut draining = false;
        while !self.stop.load(Ordering::Relaxed) {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() != ErrorKind::Interrupted {
                    tracing::error!(%error, "event loop: poll failed; stopping this loop");
                    break;
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(&mut state),
                    WAKER => {}
                    Token(id) => self.on_ready(&mut state, id),
                }
            }
            self.drain_inbox(&mut state);
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(&mut state, now);
            }
            if !draining && self.context.metrics.draining.load(Relaxed) {
                draining = true;
                self.start_drain(&mut state);
            }
            if draining {
                self.close_idle_ingest_sessions(&mut state);
                if Self::drained(&state) {
                    break;
                }
            }
        }
        let ids: Vec<usize> = state.connections.keys().copied().collect();
        for id in ids {
            if let Some(connection) = state.connections.remove(&id) {
                self.finish(connection);
            }
        }
    }

    /// The start of a drain: no new connections, every admin told 1001
    /// and its filters released at once (the rows go before the close
    /// handshake ends), ingest sessions closed as their batches are answered.
    fn start_drain(&mut self, state: &mut LoopState) {
        // Connections the kernel completed before the signal wait in the
        // listener's backlog; closing the listener would reset them. They
        // are accepted first and answered like any other during a drain
        // (`/readyz` 503, an upgrade closed with 1001).
        self.accept(state);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let now = Instant::now();
        for (id, connection) in state.connections.iter_mut() {
            if let Connection::Admin(ws, admin) = &mut **connection {
                ws.discard_queue(&self.context.metrics);
                ws.close(CloseCode::Away, "going away: the gateway is shutting down", now);
                self.context.release(std::mem::take(&mut admin.filters));
                state.dirty.push(*id);
            }
        }
        self.settle_dirty(state, now);
    }

    /// During a drain: closes with 1001 each ingest session whose batches
    /// were all answered.
    fn close_idle_ingest_sessions(&mut self, state: &mut LoopState) {
        let now = Instant::now();
        for (id, connection) in state.connections.iter_mut() {
            if let Connection::Ingest(ws) = &mut **connection {
                if ws.phase == Phase::Open && ws.batches_in_flight == 0 {
                    ws.close(CloseCode::Away, "going away: the gateway is shutting down", now);
                    state.dirty.push(*id);
                }
            }
        }
        self.settle_dirty(state, now);
    }

    /// True when a draining loop has nothing left to finish. Every
    /// connection counts, an HTTP one still reading its request too: a
    /// probe accepted before the drain gets its 503 rather than an empty
    /// answer (each is bounded by `http_timeout_ms`, and the whole drain by
    /// the shutdown grace).
    fn drained(state: &LoopState) -> bool {
        state.connections.is_empty()
    }

    fn settle_dirty(&mut self, state: &mut LoopState, now: Instant) {
        let mut dirty = std::mem::take(&mut state.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            if let Some(connection) = state.connections.remove(&id) {
                self.settle(state, id, connection, now);
            }
        }
        state.dirty = dirty;
    }

    fn accept(&mut self, state: &mut LoopState) {
        loop {
            let Some(listener) = &self.listener else { return };
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    // EMFILE and the like: leave the rest in the backlog
                    // until the next tick (which accepts again) rather than spin.
                    tracing::warn!(%error, "accept failed");
                    return;
                }
            };
            let metrics = &self.context.metrics;
            if metrics.connections_open.load(Relaxed) >= self.context.config.connections_max as i64 {
                metrics.connections_refused_total.fetch_add(1, Relaxed);
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let id = state.next_connection;
            state.next_connection += 1;
            if self.poll.registry().register(&mut stream, Token(id), Interest::READABLE | Interest::WRITABLE).is_err() {
                continue;
            }
            metrics.connections_open.fetch_add(1, Relaxed);
            state.connections.insert(id, Box::new(Connection::Http(HttpConnection::new(stream, peer, Instant::now()))));
            // Edge-triggered: bytes that arrived with the connection need a
            // read now; no further event would announce them.
            self.on_ready(state, id);
        }
    }

    fn on_ready(&mut self, state: &mut LoopState, id: usize) {
        let Some(mut connection) = state.connections.remove(&id) else { return };
        let now = Instant::now();
        let step = match &mut *connection {
            Connection::Http(http) => http.on_ready(ConnectionId(id), &self.context),
            Connection::Admin(ws, admin) => {
                let address = self.address(id);
                while let Incoming::Text(text) = ws.read(now) {
                    if ws.phase == Phase::Open {
                        admin.handle(&text, address, &mut ws.outbound, &self.context);
                    }
                }
                HttpStep::Keep
            }
            Connection::Ingest(ws) => {
                while let Incoming::Text(text) = ws.read(now) {
                    if ws.phase == Phase::Open {
                        self.ingest_message(ws, &text, id);
                    }
                }
                HttpStep::Keep
            }
        };
        match step {
            HttpStep::Keep => self.settle(state, id, connection, now),
            HttpStep::Close => self.finish(connection),
            HttpStep::Upgrade { socket, leftover } => {
                let Connection::Http(http) = *connection else { return };
                let upgraded = self.upgrade(http, socket, leftover, id, now);
                // Frames sent right behind the handshake are already in
                // the buffer and no new edge will announce them: read now.
                state.connections.insert(id, Box::new(upgraded));
                self.on_ready(state, id)
            }
        }
    }

    /// Writes what is queued, then keeps the connection or finishes it.
    fn settle(&self, state: &mut LoopState, id: usize, mut connection: Box<Connection>, now: Instant) {
        let metrics = &self.context.metrics;
        let done = match &mut *connection {
            Connection::Http(_) => false,
            Connection::Admin(ws, _) | Connection::Ingest(ws) => {
                let frames = ws.pump(metrics, now, &mut state.write_batch);
                metrics.frames_sent_total.fetch_add(frames as u64, Relaxed);
                ws.phase == Phase::Done
            }
        };
        if done {
            self.finish(connection);
        } else {
            state.connections.insert(id, connection);
        }
    }

    fn upgrade(
        &self,
        http: HttpConnection,
        socket: NewSocket,
        leftover: Vec<u8>,
        id: usize,
        now: Instant,
    ) -> Connection {
        let config = &self.context.config;
        let ws = WebSocket::from_partially_read(
            SessionStream::new(http.stream),
            leftover,
            Role::Server,
            Some(self.context.websocket_config(socket.role())),
        );
        let outbound = Outbound::new(config.session_queue_frames_max, config.session_queue_bytes_max);
        let mut connection = WsConnection::new(ws, outbound, now);
        if self.context.metrics.draining.load(Relaxed) {
            // Upgraded while the drain started: told at once, like the others.
            connection.close(CloseCode::Away, "going away: the gateway is shutting down", now);
        }
        match socket {
            NewSocket::Admin(identity) => {
                self.context.metrics.admin_sessions_open.fetch_add(1, Relaxed);
                let hello = Hello {
                    kind: "hello",
                    node: &config.node_name,
                    session: self.address(id).to_string(),
                    filters_max: config.session_filters_max,
                    subscribes_in_flight_max: config.session_subscribes_in_flight_max,
                    queue_frames_max: config.session_queue_frames_max,
                    queue_bytes_max: config.session_queue_bytes_max,
                    history_max: config.history_max,
                    message_bytes_max: config.admin_message_bytes_max,
                    topics: &self.context.known_topics.get(),
                };
                connection.outbound.offer_reply(Utf8Bytes::from(hello.frame()), &self.context.metrics);
                Connection::Admin(connection, AdminState::new(identity, self.address(id)))
            }
            NewSocket::Ingest => {
                self.context.metrics.ingest_sessions_open.fetch_add(1, Relaxed);
                Connection::Ingest(connection)
            }
        }
    }

    fn ingest_message(&self, ws: &mut WsConnection, text: &str, id: usize) {
        let metrics = &self.context.metrics;
        let refuse = |ws: &mut WsConnection, batch: Option<u64>, message: &str| {
            metrics.ingest_batches_refused_total.fetch_add(1, Relaxed);
            ws.outbound.offer_reply(Utf8Bytes::from(Nack::frame(batch, message)), metrics);
        };
        if metrics.draining.load(Relaxed) {
            return refuse(ws, None, "the gateway is shutting down: send the batch to another node");
        }
        match validate(text.as_bytes(), &self.context.ingest_limits) {
            Ok(ValidBatch { batch, events, rejected }) => {
                let job = IngestJob {
                    event_loop: self.context.id.0,
                    connection: ConnectionId(id),
                    reply: ReplyChannel::WebSocket,
                    batch,
                    events,
                    rejected,
                };
                if self.context.ingest.try_send(job).is_err() {
                    refuse(ws, Some(batch), "busy: retry later");
                } else {
                    ws.batches_in_flight += 1;
                }
            }
            Err(error) => refuse(ws, None, &error.to_string()),
        }
    }

    fn drain_inbox(&mut self, state: &mut LoopState) {
        self.inbox.wake_pending.store(false, Ordering::Release);
        let metrics = self.context.metrics.clone();
        while let Ok(command) = self.inbox.receiver.try_recv() {
            match command {
                LoopCommand::Event { connection, filter, frame } => {
                    if let Some(Connection::Admin(ws, _)) =
                        state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed)
                    {
                        if ws.phase == Phase::Open {
                            ws.outbound.offer_event(filter, frame, &metrics);
                            state.dirty.push(connection.0);
                        }
                    }
                }
                LoopCommand::Missed { connection, filter, count } => {
                    if let Some(Connection::Admin(ws, _)) =
                        state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed)
                    {
                        ws.outbound.count_missed(filter, count);
                    }
                }
                LoopCommand::Reply { connection, frame } => {
                    match state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed) {
                        Some(Connection::Admin(ws, _)) => {
                            ws.outbound.offer_reply(frame, &metrics);
                            state.dirty.push(connection.0);
                        }
                        // On an ingest session a reply is a batch's ack or nack.
                        Some(Connection::Ingest(ws)) => {
                            ws.batches_in_flight = ws.batches_in_flight.saturating_sub(1);
                            ws.outbound.offer_reply(frame, &metrics);
                            state.dirty.push(connection.0);
                        }
                        _ => {}
                    }
                }
                LoopCommand::SubscribeRefused { connection, frame } => {
                    if let Some(Connection::Admin(ws, admin)) =
                        state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed)
                    {
                        admin.subscribes_pending = admin.subscribes_pending.saturating_sub(1);
                        ws.outbound.offer_reply(frame, &metrics);
                        state.dirty.push(connection.0);
                    }
                }
                LoopCommand::Subscribed { connection, filter, reply, history } => {
                    match state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed) {
                        Some(Connection::Admin(ws, admin)) if ws.phase == Phase::Open => {
                            admin.subscribes_pending = admin.subscribes_pending.saturating_sub(1);
                            admin.filters.push(filter);
                            ws.outbound.add_filter(filter, &metrics);
                            ws.outbound.offer_reply(reply, &metrics);
                            for frame in history {
                                ws.outbound.offer_event(filter, frame, &metrics);
                            }
                            state.dirty.push(connection.0);
                        }
                        // The session left while its filter was being registered.
                        _ => self.context.release(vec![filter]),
                    }
                }
                LoopCommand::FilterReplaced { connection, old, new, frame } => {
                    let told = match state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed) {
                        Some(Connection::Admin(ws, admin)) if ws.phase == Phase::Open => {
                            let owned = admin.replace(old, new);
                            if owned {
                                // The lane follows the filter's id: events
                                // for `new` would otherwise be unrouted.
                                ws.outbound.remove_filter(old, &metrics);
                                if let Some(new) = new {
                                    ws.outbound.add_filter(new, &metrics);
                                }
                                ws.outbound.offer_reply(frame, &metrics);
                                state.dirty.push(connection.0);
                            }
                            owned
                        }
                        _ => false,
                    };
                    if !told {
                        // The session left, or unsubscribed `old`, meanwhile.
                        self.context.release(new.into_iter().collect());
                    }
                }
                LoopCommand::HttpResponse { connection, response } => {
                    if let Some(Connection::Http(http)) =
                        state.connections.get_mut(&connection.0).map(|boxed| &mut **boxed)
                    {
                        if matches!(http.phase, HttpPhase::AwaitingIngest) {
                            if let HttpStep::Close = http.respond(response) {
                                if let Some(closed) = state.connections.remove(&connection.0) {
                                    self.finish(closed);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.settle_dirty(state, Instant::now());
    }

    fn tick(&mut self, state: &mut LoopState, now: Instant) {
        // An accept that failed (EMFILE...) left connections in the backlog,
        // and the edge-triggered listener will not announce them again.
        self.accept(state);
        let config = &self.context.config;
        let (idle, stalled, ping, http_timeout) =
            (config.idle_timeout(), config.stalled_reader(), config.ping_interval(), config.http_timeout());
        let metrics = self.context.metrics.clone();
        let mut finished = Vec::new();
        for (id, connection) in state.connections.iter_mut() {
            match &mut **connection {
                Connection::Http(http) => {
                    if now.duration_since(http.opened) >= http_timeout {
                        finished.push(*id);
                    }
                }
                Connection::Admin(ws, _) | Connection::Ingest(ws) => {
                    ws.check_timers(idle, stalled, &metrics, now);
                    ws.release_idle_memory();
                    let pinged = ws.ping_if_quiet(ping, now);
                    if ws.phase == Phase::Done {
                        finished.push(*id);
                    } else if pinged || ws.phase != Phase::Open || ws.blocked_since.is_some() {
                        state.dirty.push(*id);
                    }
                }
            }
        }
        for id in finished {
            if let Some(connection) = state.connections.remove(&id) {
                self.finish(connection);
            }
        }
        let mut dirty = std::mem::take(&mut state.dirty);
        for id in dirty.drain(..) {
            if let Some(connection) = state.connections.remove(&id) {
                self.settle(state, id, connection, now);
            }
        }
        state.dirty = dirty;
    }

    /// Drops a connection and everything it owned.
    fn finish(&self, connection: Box<Connection>) {
        let metrics = &self.context.metrics;
        metrics.connections_open.fetch_sub(1, Relaxed);
        let mut stream: TcpStream = match *connection {
            Connection::Http(http) => http.stream,
            Connection::Admin(mut ws, admin) => {
                metrics.admin_sessions_open.fetch_sub(1, Relaxed);
                ws.discard_queue(metrics);
                admin.close(&self.context);
                ws.ws.into_inner().into_inner()
            }
            Connection::Ingest(mut ws) => {
                metrics.ingest_sessions_open.fetch_sub(1, Relaxed);
                ws.discard_queue(metrics);
                ws.ws.into_inner().into_inner()
            }
        };
        let _ = self.poll.registry().deregister(&mut stream);
    }

    fn address(&self, id: usize) -> ConnectionAddress {
        ConnectionAddress { event_loop: self.context.id, connection: ConnectionId(id) }
    }
}
