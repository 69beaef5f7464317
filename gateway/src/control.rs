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
use clicktail_engine::registry::{BackfillRequest, NewFilter, Registry, RegistryError};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use tungstenite::Utf8Bytes;

use crate::audit::{self, SessionIdentity};
use crate::ids::ConnectionAddress;
use crate::protocol::subscribe::{granted_rate_max, SubscribeError, Subscribed};
use crate::routes::Standing;
use crate::server::inbox::{LoopCommand, LoopHandle};
use crate::topics::{granted_topics, KnownTopics, ANNOUNCED_WITHIN};
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
        /// The last N matches asked for, already capped by `history_max`.
        history: usize,
        /// Matches since this Unix time in ms, if asked.
        since_ms: Option<i64>,
        reference: Option<String>,
        /// The subscribe's `rate_max`, not checked yet (`granted_rate_max`).
        rate_max: Option<serde_json::Value>,
        /// The subscribe's `topics`, not checked yet (`topics::granted_topics`).
        topics: Option<serde_json::Value>,
    },
    /// Delete these filters of a session (unsubscribe, or the session closed).
    Release { filters: Vec<FilterId> },
}

/// How often the workers' topics are read while none is known.
const TOPICS_REFRESH_WHILE_EMPTY: Duration = Duration::from_secs(1);

pub struct ControlThread {
    /// Where filters are inserted, refreshed and deleted.
    pub registry: Arc<dyn Registry>,
    /// Filter id → session; written here on subscribe and release.
    pub routes: Arc<RouteTable>,
    /// Each event loop's inbox, indexed by `LoopId`, for the replies.
    pub loops: Vec<LoopHandle>,
    /// Filters active, refusals, readiness.
    pub metrics: Arc<Metrics>,
    /// The most history matches a subscription gets (`history_max`).
    pub history_max: usize,
    /// Recorded in each row's owner, with the session.
    pub node_name: String,
    /// This process's row in the registry's `nodes` table, unique per start
    /// (`reassert::node_id`): its heartbeats keep this node's filters alive.
    pub node_id: String,
    /// Lifetime of a row between heartbeats (`filter_ttl_ms`).
    pub filter_ttl: Duration,
    /// The highest `rate_max` a subscribe is granted (`--session-filter-rate-cap-per-s`).
    pub rate_cap_per_s: u32,
    /// The workers' raw topics, refreshed at each heartbeat, for `hello`.
    pub known_topics: Arc<KnownTopics>,
}

impl ControlThread {
    pub fn run(self, requests: Receiver<ControlRequest>) {
        let heartbeat_every = self.filter_ttl / 3;
        let mut next_heartbeat = Instant::now() + heartbeat_every;
        let mut next_sweep = Instant::now() + self.filter_ttl;
        self.refresh_known_topics();
        let mut next_topics = Instant::now() + TOPICS_REFRESH_WHILE_EMPTY;
        loop {
            let wake =
                if self.known_topics.get().is_empty() { next_heartbeat.min(next_topics) } else { next_heartbeat };
            match requests.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(request) => self.handle(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            // Until a worker announced its topics (a gateway started first),
            // once a second: `hello` then offers them soon after.
            if now >= next_topics {
                next_topics = now + TOPICS_REFRESH_WHILE_EMPTY;
                if self.known_topics.get().is_empty() {
                    self.refresh_known_topics();
                }
            }
            if now >= next_heartbeat {
                next_heartbeat = now + heartbeat_every;
                self.heartbeat();
                self.refresh_known_topics();
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

    /// Reads the topics the workers announced; on failure the last list stays.
    fn refresh_known_topics(&self) {
        match self.registry.known_topics(ANNOUNCED_WITHIN) {
            Ok(topics) => self.known_topics.set(topics),
            Err(error) => tracing::debug!(%error, "could not read the workers' topics; keeping the last list"),
        }
    }

    fn handle(&self, request: ControlRequest) {
        match request {
            ControlRequest::Subscribe {
                owner,
                identity,
                criterion,
                history,
                since_ms,
                reference,
                rate_max,
                topics,
            } => {
                let backfill = self.backfill_request(history, since_ms);
                let request = SubscribeRequest {
                    criterion: &criterion,
                    backfill,
                    reference: reference.as_deref(),
                    topics: topics.as_ref(),
                };
                self.subscribe(owner, &identity, request, rate_max.as_ref())
            }
            ControlRequest::Release { filters } => self.release(&filters),
        }
    }

    /// The backfill job a subscribe asks for: `history: N` alone is the
    /// last N matches (from the workers' look-back); `since_ms` is the
    /// matches since then, the newest `history_max` (or N) of them.
    fn backfill_request(&self, history: usize, since_ms: Option<i64>) -> Option<BackfillRequest> {
        let matches_max = match (history, since_ms) {
            (0, None) => return None,
            (0, Some(_)) => self.history_max,
            (wanted, _) => wanted.min(self.history_max),
        };
        Some(BackfillRequest { since_ms, matches_max: matches_max.min(u32::MAX as usize) as u32 })
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
        request: SubscribeRequest<'_>,
        rate_max: Option<&serde_json::Value>,
    ) {
        let SubscribeRequest { criterion, backfill, reference, topics } = request;
        let Some(handle) = self.loops.get(owner.event_loop.0) else { return };
        let refuse = |frame: String| {
            self.metrics.subscribe_refused_total.fetch_add(1, Relaxed);
            let _ = handle.send_and_wake(
                LoopCommand::SubscribeRefused { connection: owner.connection, frame: Utf8Bytes::from(frame) },
                INBOX_SEND_TIMEOUT,
            );
        };
        let rate_max = match granted_rate_max(rate_max, self.rate_cap_per_s) {
            Ok(granted) => granted,
            Err(message) => return refuse(SubscribeError::frame(reference, message, None)),
        };
        let known = || {
            let known = self.registry.known_topics(ANNOUNCED_WITHIN)?;
            self.known_topics.set(known.clone());
            Ok(known)
        };
        let topics = match granted_topics(topics, known) {
            Ok(granted) => granted,
            Err(message) => return refuse(SubscribeError::frame(reference, message, None)),
        };
        let row_owner: Arc<str> = row_owner(&self.node_name, owner, &identity.principal.subject).into();
        let mut new_filter = NewFilter::session(criterion, &self.node_id, row_owner.to_string(), self.filter_ttl);
        new_filter.rate_max_per_s = rate_max;
        new_filter.topics = topics.clone();
        // The job goes in with the row (one transaction): the workers that
        // make the filter live record its seams from the first event.
        if let Some(request) = backfill {
            new_filter = new_filter.with_backfill(request);
        }
        let filter = match self.registry.insert(new_filter) {
            Ok(filter) => filter,
            Err(error) => {
                let frame = match &error {
                    RegistryError::InvalidFilter(invalid) => {
                        SubscribeError::frame(reference, invalid.message.clone(), Some(invalid.column))
                    }
                    other => SubscribeError::frame(reference, format!("could not register the filter: {other}"), None),
                };
                return refuse(frame);
            }
        };
        // Route before acknowledging: the first match can only follow the
        // workers' reaction to the insert, which is slower than this.
        self.routes.insert(
            filter,
            owner,
            Standing {
                criterion: Arc::from(criterion),
                row_owner,
                rate_max_per_s: rate_max,
                topics: topics.as_deref().map(Arc::from),
            },
        );
        self.metrics.filters_active.fetch_add(1, Relaxed);
        audit::subscribed(identity, &owner.to_string(), filter, criterion);
        // The history itself comes from the workers through the filtered
        // topic, like live matches, ending with `history_done`.
        let history_max = backfill.map_or(0, |request| request.matches_max as usize);
        let ttl_ms = self.filter_ttl.as_millis() as u64;
        let reply = Subscribed::frame(reference, filter.0, criterion, ttl_ms, history_max, rate_max, topics.as_deref());
        let command = LoopCommand::Subscribed {
            connection: owner.connection,
            filter,
            reply: Utf8Bytes::from(reply),
            history: Vec::new(),
        };
        if handle.send_and_wake(command, INBOX_SEND_TIMEOUT).is_err() {
            // The loop is saturated or gone: nobody will own this filter.
            self.release(&[filter]);
        }
    }
}

/// A subscribe's fields, as the control thread receives them.
struct SubscribeRequest<'a> {
    criterion: &'a str,
    backfill: Option<BackfillRequest>,
    reference: Option<&'a str>,
    /// Not checked yet (`topics::granted_topics`).
    topics: Option<&'a serde_json::Value>,
}

/// The registry row's owner: `node/session/subject`, e.g.
/// `gateway/0.3/alice@example.com` (the subject is the JWT's `sub`, `token`
/// or `anonymous`). Operators read it in `clicktail filters list`.
pub(crate) fn row_owner(node_name: &str, session: ConnectionAddress, subject: &str) -> String {
    format!("{node_name}/{session}/{subject}")
}
