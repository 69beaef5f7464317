//! A connection before (or instead of) a WebSocket: read one request,
//! route it, write the answer. Upgrades hand the socket to `websocket.rs`.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::TrySendError;
use mio::net::TcpStream;

use super::event_loop::LoopContext;
use crate::audit::SessionIdentity;
use crate::http::request::{Request, RequestError};
use crate::http::{assets, response, upgrade};
use crate::ids::ConnectionId;
use crate::ingest::{validate, IngestJob, ReplyChannel, ValidBatch};
use crate::protocol::ingest_batch::Nack;

/// Bytes read from a socket per `read` call.
const READ_CHUNK_BYTES: usize = 4 * 1024;

/// What the WebSocket will serve once upgraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    Admin,
    Ingest,
}

/// The WebSocket an upgrade opens; an admin socket with who admitted it.
pub enum NewSocket {
    Admin(Arc<SessionIdentity>),
    Ingest,
}

impl NewSocket {
    pub fn role(&self) -> SocketRole {
        match self {
            NewSocket::Admin(_) => SocketRole::Admin,
            NewSocket::Ingest => SocketRole::Ingest,
        }
    }
}

pub enum HttpPhase {
    Reading,
    /// A POST /ingest batch is with the producer thread.
    AwaitingIngest,
    Writing {
        bytes: Vec<u8>,
        written: usize,
        then: AfterWrite,
    },
}

pub enum AfterWrite {
    Close,
    Upgrade { socket: NewSocket, leftover: Vec<u8> },
}

pub struct HttpConnection {
    /// The socket; handed to tungstenite on upgrade.
    pub stream: TcpStream,
    /// The TCP peer, for the audit lines of an admin session.
    peer: SocketAddr,
    /// Bytes read so far (head and body), at most head + batch limits.
    buffer: Vec<u8>,
    /// For `http_timeout_ms`.
    pub opened: Instant,
    /// Reading, waiting for the producer, or writing.
    pub phase: HttpPhase,
}

/// What the event loop must do next with the connection.
pub enum HttpStep {
    Keep,
    Close,
    Upgrade { socket: NewSocket, leftover: Vec<u8> },
}

impl HttpConnection {
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Self {
        HttpConnection { stream, peer, buffer: Vec::new(), opened: now, phase: HttpPhase::Reading }
    }

    /// Handles readiness: reads while reading, writes while writing.
    pub fn on_ready(&mut self, id: ConnectionId, context: &LoopContext) -> HttpStep {
        if matches!(self.phase, HttpPhase::Reading) {
            if let Some(step) = self.read_request(id, context) {
                return step;
            }
        }
        self.write_pending()
    }

    /// Starts writing `bytes`, then closes.
    pub fn respond(&mut self, bytes: Vec<u8>) -> HttpStep {
        self.phase = HttpPhase::Writing { bytes, written: 0, then: AfterWrite::Close };
        self.write_pending()
    }

    fn write_pending(&mut self) -> HttpStep {
        let HttpPhase::Writing { bytes, written, .. } = &mut self.phase else { return HttpStep::Keep };
        while *written < bytes.len() {
            match self.stream.write(&bytes[*written..]) {
                Ok(0) => return HttpStep::Close,
                Ok(count) => *written += count,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return HttpStep::Keep,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return HttpStep::Close,
            }
        }
        match std::mem::replace(&mut self.phase, HttpPhase::Reading) {
            HttpPhase::Writing { then: AfterWrite::Upgrade { socket, leftover }, .. } => {
                HttpStep::Upgrade { socket, leftover }
            }
            _ => {
                let _ = self.stream.shutdown(std::net::Shutdown::Write);
                HttpStep::Close
            }
        }
    }

    /// `Some` when the request is complete (or refused), `None` to wait.
    fn read_request(&mut self, id: ConnectionId, context: &LoopContext) -> Option<HttpStep> {
        let config = &context.config;
        let buffer_max = config.http_head_bytes_max + config.ingest_batch_bytes_max;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let mut closed = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(count) => {
                    if self.buffer.len() + count > buffer_max {
                        return Some(self.respond(response::text(413, "request too large")));
                    }
                    self.buffer.extend_from_slice(&chunk[..count]);
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(HttpStep::Close),
            }
        }
        let request = match Request::parse(&self.buffer, config.http_head_bytes_max) {
            Ok(Some(request)) => request,
            Ok(None) if closed => return Some(HttpStep::Close),
            Ok(None) => return None,
            Err(RequestError::TooLarge { .. }) => {
                return Some(self.respond(response::text(431, "request head too large")))
            }
            Err(error) => return Some(self.respond(response::text(400, &error.to_string()))),
        };
        // Checked on the head, before waiting for a body whose length is in doubt.
        let content_length = match request.host().and_then(|_| request.content_length()) {
            Ok(content_length) => content_length,
            Err(error) => return Some(self.respond(response::text(400, &error.to_string()))),
        };
        let body_bytes = if request.method == "POST" { content_length } else { Some(0) };
        let Some(body_bytes) = body_bytes else {
            return Some(self.respond(response::text(411, "POST needs a Content-Length")));
        };
        if body_bytes > config.ingest_batch_bytes_max {
            return Some(self.respond(response::text(413, "batch too large")));
        }
        if self.buffer.len() < request.head_bytes + body_bytes {
            return if closed { Some(HttpStep::Close) } else { None };
        }
        Some(self.route(&request, id, context))
    }

    fn route(&mut self, request: &Request, id: ConnectionId, context: &LoopContext) -> HttpStep {
        let config = &context.config;
        let metrics = &context.metrics;
        if metrics.draining.load(Relaxed) && matches!(request.path.as_str(), "/ws" | "/ingest") {
            // Draining: probes and metrics are still answered on the
            // connections already accepted; no new session or batch.
            return self.respond(response::text(503, "the gateway is shutting down: use another node"));
        }
        // Every path but the probes, which say nothing a page could use and
        // which orchestrators call by the pod's address (see `host.rs`).
        let probe = matches!(request.path.as_str(), "/healthz" | "/readyz");
        if !probe && !request.host().is_ok_and(|host| context.hosts.allows(host)) {
            metrics.host_refused_total.fetch_add(1, Relaxed);
            return self.respond(response::text(403, "host not allowed: see --allowed-hosts"));
        }
        match (request.method.as_str(), request.path.as_str()) {
            (_, "/ws") => {
                if !upgrade::origin_allowed(request, &config.allowed_origins) {
                    metrics.origin_refused_total.fetch_add(1, Relaxed);
                    return self.respond(response::text(403, "origin not allowed"));
                }
                let admitted = match context.admission.admit(request) {
                    Ok(admitted) => admitted,
                    Err(refusal) => {
                        metrics.token_refused_total.fetch_add(1, Relaxed);
                        return self.respond(upgrade::refusal_response(&refusal));
                    }
                };
                let identity = SessionIdentity {
                    principal: admitted.principal,
                    peer: self.peer,
                    forwarded_for: request.header("x-forwarded-for").map(str::to_owned),
                };
                self.upgrade(request, NewSocket::Admin(Arc::new(identity)), admitted.subprotocol)
            }
            ("GET", "/schema") => self.schema(request, context),
            ("GET", "/ingest") => self.upgrade(request, NewSocket::Ingest, None),
            ("POST", "/ingest") => self.ingest_post(request, id, context),
            ("OPTIONS", "/ingest") => self.respond(response::build(
                204,
                "text/plain",
                b"",
                &[
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Allow-Methods", "POST"),
                    ("Access-Control-Allow-Headers", "content-type"),
                    ("Access-Control-Max-Age", "86400"),
                ],
            )),
            ("GET", "/healthz") => self.respond(response::text(200, "ok\n")),
            ("GET", "/readyz") => match metrics.readiness() {
                Ok(()) => self.respond(response::text(200, "ready\n")),
                Err(reason) => self.respond(response::text(503, &format!("{reason}\n"))),
            },
            ("GET", "/metrics") => {
                self.respond(response::build(200, "text/plain; version=0.0.4", metrics.render().as_bytes(), &[]))
            }
            ("GET", path) => match assets::find(path) {
                Some(asset) => {
                    let cors: &[(&str, &str)] =
                        if path == "/tracker.js" { &[("Access-Control-Allow-Origin", "*")] } else { &[] };
                    self.respond(response::build(200, asset.content_type, asset.body.as_bytes(), cors))
                }
                None => self.respond(response::text(404, "not found")),
            },
            _ => self.respond(response::text(405, "method not allowed")),
        }
    }

    /// `GET /schema`: the paths and values of recent matches
    /// (`schema_sample.rs`), to whoever `/ws` would admit.
    fn schema(&mut self, request: &Request, context: &LoopContext) -> HttpStep {
        if !upgrade::origin_allowed(request, &context.config.allowed_origins) {
            context.metrics.origin_refused_total.fetch_add(1, Relaxed);
            return self.respond(response::text(403, "origin not allowed"));
        }
        if let Err(refusal) = context.admission.admit(request) {
            context.metrics.token_refused_total.fetch_add(1, Relaxed);
            return self.respond(upgrade::refusal_response(&refusal));
        }
        let answer = context.schema.answer(Instant::now());
        self.respond(response::build(200, "application/json", answer.as_bytes(), &[]))
    }

    fn upgrade(&mut self, request: &Request, socket: NewSocket, subprotocol: Option<&str>) -> HttpStep {
        match upgrade::accept(request, subprotocol) {
            Ok(bytes) => {
                let leftover = self.buffer[request.head_bytes..].to_vec();
                self.buffer = Vec::new();
                self.phase = HttpPhase::Writing { bytes, written: 0, then: AfterWrite::Upgrade { socket, leftover } };
                self.write_pending()
            }
            Err(refusal) => self.respond(upgrade::refusal_response(&refusal)),
        }
    }

    fn ingest_post(&mut self, request: &Request, id: ConnectionId, context: &LoopContext) -> HttpStep {
        let body = &self.buffer[request.head_bytes..];
        let cors = [("Access-Control-Allow-Origin", "*")];
        let refuse = |status: u16, message: &str| {
            context.metrics.ingest_batches_refused_total.fetch_add(1, Relaxed);
            response::build(status, "application/json", Nack::frame(None, message).as_bytes(), &cors)
        };
        let ValidBatch { batch, events, rejected } = match validate(body, &context.ingest_limits) {
            Ok(valid) => valid,
            Err(error) => {
                let bytes = refuse(400, &error.to_string());
                return self.respond(bytes);
            }
        };
        let job =
            IngestJob { event_loop: context.id.0, connection: id, reply: ReplyChannel::Http, batch, events, rejected };
        match context.ingest.try_send(job) {
            Ok(()) => {
                self.phase = HttpPhase::AwaitingIngest;
                HttpStep::Keep
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let bytes = refuse(503, "busy: retry later");
                self.respond(bytes)
            }
        }
    }
}
