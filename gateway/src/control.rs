//! The control thread: every registry call of the node, off the event loops.
//!
//! Registry calls block (PostgreSQL round trips), so the loops hand them
//! over a bounded channel and get the outcome back through their inbox. The
//! same thread keeps this node alive in the registry (one `heartbeat` call
//! every third of the TTL, which also re-asserts its filters: see
//! `reassert.rs`) and sweeps rows whose node died.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::{NewFilter, Registry, RegistryError};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use tungstenite::Utf8Bytes;

use crate::audit::{self, SessionIdentity};
use crate::history::History;
use crate::ids::ConnectionAddress;
use crate::protocol::subscribe::{SubscribeError, Subscribed};
use crate::routes::Standing;
use crate::server::inbox::{LoopCommand, LoopHandle};
use crate::{Metrics, RouteTable};

/// How long the control thread waits for room in a loop's inbox before it
/// gives up on a reply (and, for a subscription, deletes the new row).
pub(crate) const INBOX_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A registry operation asked by an event loop.
pub enum ControlRequest {
    /// Register `criterion` for `owner`. Not parsed yet: `Registry::insert`
    /// parses it here, compiling its regexes (tens of milliseconds for a
    /// pattern such as `\w{50}`), which must not happen on an event loop.
    Subscribe {
        owner: ConnectionAddress,
        /// Who asked: named in the row's owner and the audit line.
        identity: Arc<SessionIdentity>,
        criterion: String,
        history: usize,
        reference: Option<String>,
    },
    /// Delete these filters of a session (unsubscribe, or the session closed).
    Release { filters: Vec<FilterId> },
}

pub struct ControlThread {
    /// Where filters are inserted, refreshed and deleted.
    pub registry: Arc<dyn Registry>,
    /// Filter id → session; written here on subscribe and release.
    pub routes: Arc<RouteTable>,
    /// Each event loop's inbox, indexed by `LoopId`, for the replies.
    pub loops: Vec<LoopHandle>,
    /// Filters active, refusals, readiness.
    pub metrics: Arc<Metrics>,
    /// Recent raw events for `history` requests; `None` when off.
    pub history: Option<Arc<History>>,
    /// Recorded in each row's owner, with the session.
    pub node_name: String,
    /// This process's row in the registry's `nodes` table, unique per start
    /// (`reassert::node_id`): its heartbeats keep this node's filters alive.
    pub node_id: String,
    /// Lifetime of a row between heartbeats (`filter_ttl_ms`).
    pub filter_ttl: Duration,
}

impl ControlThread {
    pub fn run(self, requests: Receiver<ControlRequest>) {
        let heartbeat_every = self.filter_ttl / 3;
        let mut next_heartbeat = Instant::now() + heartbeat_every;
        let mut next_sweep = Instant::now() + self.filter_ttl;
        loop {
            match requests.recv_timeout(next_heartbeat.saturating_duration_since(Instant::now())) {
                Ok(request) => self.handle(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_heartbeat {
                next_heartbeat = now + heartbeat_every;
                self.heartbeat();
            }
            if now >= next_sweep {
                next_sweep = now + self.filter_ttl;
                match self.registry.sweep_expired() {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "swept expired filters"),
                    Err(error) => tracing::warn!(%error, "sweep of expired filters failed"),
                }
            }
        }
        // Shutdown: this node's sessions are gone, so are their filters.
        let ids = self.routes.ids();
        if !ids.is_empty() {
            if let Err(error) = self.registry.delete(&ids) {
                tracing::warn!(%error, filters = ids.len(), "could not delete filters at shutdown; they will expire");
            }
        }
    }

    fn handle(&self, request: ControlRequest) {
        match request {
            ControlRequest::Subscribe { owner, identity, criterion, history, reference } => {
                self.subscribe(owner, &identity, &criterion, history, reference.as_deref())
            }
            ControlRequest::Release { filters } => self.release(&filters),
        }
    }

    pub(crate) fn release(&self, filters: &[FilterId]) {
        for filter in filters {
            if self.routes.remove(*filter) {
                self.metrics.filters_active.fetch_sub(1, Relaxed);
            }
        }
        if let Err(error) = self.registry.delete(filters) {
            tracing::warn!(%error, filters = filters.len(), "could not delete filters; they will expire");
        }
    }

    fn subscribe(
        &self,
        owner: ConnectionAddress,
        identity: &SessionIdentity,
        criterion: &str,
        history: usize,
        reference: Option<&str>,
    ) {
        let Some(handle) = self.loops.get(owner.event_loop.0) else { return };
        let row_owner: Arc<str> = row_owner(&self.node_name, owner, &identity.principal.subject).into();
        let new_filter = NewFilter::session(criterion, &self.node_id, row_owner.to_string(), self.filter_ttl);
        let filter = match self.registry.insert(new_filter) {
            Ok(filter) => filter,
            Err(error) => {
                self.metrics.subscribe_refused_total.fetch_add(1, Relaxed);
                let frame = match &error {
                    RegistryError::InvalidFilter(invalid) => {
                        SubscribeError::frame(reference, invalid.message.clone(), Some(invalid.column))
                    }
                    other => SubscribeError::frame(reference, format!("could not register the filter: {other}"), None),
                };
                let _ = handle.send_and_wake(
                    LoopCommand::SubscribeRefused { connection: owner.connection, frame: Utf8Bytes::from(frame) },
                    INBOX_SEND_TIMEOUT,
                );
                return;
            }
        };
        // Route before acknowledging: the first match can only follow the
        // workers' reaction to the insert, which is slower than this.
        self.routes.insert(filter, owner, Standing { criterion: Arc::from(criterion), row_owner });
        self.metrics.filters_active.fetch_add(1, Relaxed);
        audit::subscribed(identity, &owner.to_string(), filter, criterion);
        let history = match (&self.history, history) {
            (Some(window), wanted) if wanted > 0 => window.recent_matches(filter, criterion, wanted),
            _ => Vec::new(),
        };
        let reply =
            Subscribed::frame(reference, filter.0, criterion, self.filter_ttl.as_millis() as u64, history.len());
        let command = LoopCommand::Subscribed {
            connection: owner.connection,
            filter,
            reply: Utf8Bytes::from(reply),
            history: history.into_iter().map(Utf8Bytes::from).collect(),
        };
        if handle.send_and_wake(command, INBOX_SEND_TIMEOUT).is_err() {
            // The loop is saturated or gone: nobody will own this filter.
            self.release(&[filter]);
        }
    }
}

/// The registry row's owner: `node/session/subject`, e.g.
/// `gateway/0.3/alice@example.com` (the subject is the JWT's `sub`, `token`
/// or `anonymous`). Operators read it in `clicktail filters list`.
pub(crate) fn row_owner(node_name: &str, session: ConnectionAddress, subject: &str) -> String {
    format!("{node_name}/{session}/{subject}")
}
