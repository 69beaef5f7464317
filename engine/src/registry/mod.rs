//! The registry seam: where filters live and how their changes reach workers.
//!
//! PostgreSQL (`postgres/`) is the production registry: a `filters` table, a
//! trigger that NOTIFYs every change, one LISTEN connection per watcher. The
//! in-memory registry (`memory/`) stands in for it in `clicktail demo` and in
//! fast tests. Both obey the same contract:
//!
//! - a watch first delivers `Change::Reset` with the full current set, then
//!   every later change, in commit order;
//! - after any reconnect it delivers a new `Reset` (LISTEN first, then
//!   SELECT, so no change falls into the gap).
//!
//! And the same liveness rule. A session filter belongs to a *node* (one
//! gateway process), which heartbeats every third of its TTL. The sweep
//! deletes a node's session filters only when the node has been silent for
//! a whole TTL *while the registry was up and watched by the sweeper*:
//! `max(last_seen, watched_since) + ttl < now`, all by the registry's clock,
//! where `watched_since` is when the database last started or the sweeper
//! last connected, whichever is later. An outage of any length therefore
//! deletes nothing: when the database returns, every node gets a full TTL
//! to heartbeat again before any of its rows can go. A node that was cut
//! off alone (the database and the sweepers were fine) does lose its rows;
//! its next heartbeat reports them missing and it re-creates them.
//! Session rows without a node (written by a gateway of the previous
//! release during an upgrade) expire by their own `expires`, but never
//! within `NODELESS_GRACE_MS` of `watched_since`.

use std::time::{Duration, SystemTime};

use crate::matcher::FilterId;

pub(crate) mod backfill;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use backfill::{BackfillJob, BackfillOutcome, BackfillRequest, Seam, LEASE_DEFAULT};

/// The grace a node-less session row (written by a gateway of schema
/// version 1, during an upgrade) gets after the database's start or the
/// sweeper's connection: that release's default TTL, 30 s, whose gateways
/// heartbeat every 10 s.
pub const NODELESS_GRACE_MS: u64 = 30_000;

/// Who a filter serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterKind {
    /// Owned by an admin's live session; expires unless kept fresh.
    Session,
    /// Created by `clicktail filters add` for a downstream consumer; never expires.
    Standing,
}

/// One row of the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRow {
    pub id: FilterId,
    /// The filter's source text, valid per `FILTERS.md`.
    pub expression: String,
    pub kind: FilterKind,
    /// Who created it: a gateway node and session, or a user name.
    pub owner: String,
    /// The gateway node whose heartbeats keep a session filter alive;
    /// `None` for standing filters.
    pub node: Option<String>,
    pub created: SystemTime,
    /// When it stops being live; `None` for standing filters.
    pub expires: Option<SystemTime>,
    /// The standing filter's unique name, if it was given one
    /// (`clicktail filters add --name`); `None` for session filters.
    pub name: Option<String>,
    /// The filter's match budget, delivered matches per second across all
    /// workers; `None` is its kind's default (see [`NewFilter::rate_max_per_s`]).
    pub rate_max_per_s: Option<u32>,
    /// The filter has an unfinished backfill job: the filter threads record
    /// its seams from the version of the set that makes it live.
    pub backfill_pending: bool,
    /// The raw topics it matches events of: names and at most one
    /// `^pattern`; `None` is every raw topic (see [`NewFilter::with_topics`]).
    pub topics: Option<Vec<String>>,
}

/// A filter to create.
#[derive(Clone, Debug)]
pub struct NewFilter {
    pub expression: String,
    pub kind: FilterKind,
    pub owner: String,
    /// The node that heartbeats a session filter; `None` for standing filters.
    pub node: Option<String>,
    /// The node's TTL: how long it may stay silent before its session
    /// filters go; `None` for standing filters.
    pub ttl: Option<Duration>,
    /// A unique name for a standing filter (see [`NewFilter::named`]).
    pub name: Option<String>,
    /// The match budget (see [`NewFilter::with_rate_max`]); `None` is the
    /// kind's default: a session filter gets the workers'
    /// `session_filter_rate_max_per_s`, a standing filter is unlimited.
    pub rate_max_per_s: Option<u32>,
    /// A backfill job to create with the filter, in the same transaction.
    pub backfill: Option<BackfillRequest>,
    /// The raw topics it matches events of; `None` is every one.
    pub topics: Option<Vec<String>>,
}

impl NewFilter {
    /// A filter for a downstream consumer: no expiry.
    pub fn standing(expression: impl Into<String>, owner: impl Into<String>) -> Self {
        NewFilter {
            expression: expression.into(),
            kind: FilterKind::Standing,
            owner: owner.into(),
            node: None,
            ttl: None,
            name: None,
            rate_max_per_s: None,
            backfill: None,
            topics: None,
        }
    }

    /// The same standing filter, named `name`: unique among filters,
    /// [`FILTER_NAME_BYTES_MAX`] bytes at most, of letters, digits, `-`,
    /// `_` and `.`, not all digits (so it is never mistaken for an id).
    /// Checked on insert.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A filter of a live admin session served by `node`, which lives
    /// while `node` heartbeats at least once per `ttl` (see the module's
    /// liveness rule). Inserting it counts as a heartbeat of `node`.
    pub fn session(
        expression: impl Into<String>,
        node: impl Into<String>,
        owner: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        NewFilter {
            expression: expression.into(),
            kind: FilterKind::Session,
            owner: owner.into(),
            node: Some(node.into()),
            ttl: Some(ttl),
            name: None,
            rate_max_per_s: None,
            backfill: None,
            topics: None,
        }
    }

    /// The same filter with a match budget of `rate_max_per_s` delivered
    /// matches per second across all workers (at least 1; checked on
    /// insert). Workers forward a uniform sample of at most that many and
    /// count every match (engine/DESIGN.md §8).
    pub fn with_rate_max(mut self, rate_max_per_s: u32) -> Self {
        self.rate_max_per_s = Some(rate_max_per_s);
        self
    }

    /// The same filter matching only events of `topics`: names and at
    /// most one `^pattern` (checked on insert, [`check_topics`]).
    pub fn with_topics(mut self, topics: Vec<String>) -> Self {
        self.topics = Some(topics);
        self
    }

    /// The same filter with a backfill job (`subscribe` with `since_ms` or
    /// `history`).
    pub fn with_backfill(mut self, request: BackfillRequest) -> Self {
        self.backfill = Some(request);
        self
    }
}

/// A change seen by a watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The whole current set; replaces whatever the watcher had.
    Reset(Vec<FilterRow>),
    /// A filter was created (or its expression replaced).
    Upsert(FilterRow),
    Delete(FilterId),
}

/// Checks a new filter's topics: 1 to 64 items, each a topic name or the
/// one `^pattern` (the syntax of `--raw-topics`).
pub fn check_topics(filter: &NewFilter) -> Result<(), RegistryError> {
    let Some(topics) = &filter.topics else { return Ok(()) };
    if topics.is_empty() || topics.len() > TOPICS_PER_FILTER_MAX {
        return Err(RegistryError::InvalidTopics(format!(
            "a filter names 1 to {TOPICS_PER_FILTER_MAX} topics (got {})",
            topics.len()
        )));
    }
    if topics.iter().any(|topic| topic.contains(',')) {
        return Err(RegistryError::InvalidTopics("a topic name has no comma".to_owned()));
    }
    crate::log::RawTopics::parse(&topics.join(","))
        .map(|_| ())
        .map_err(|error| RegistryError::InvalidTopics(error.to_string()))
}

/// The most topics one filter may name.
pub const TOPICS_PER_FILTER_MAX: usize = 64;

/// Checks a new filter's budget: at least one match per second (the
/// column's CHECK); "unlimited" is no budget at all, and only standing
/// filters may be unlimited.
pub fn check_rate_max(filter: &NewFilter) -> Result<(), RegistryError> {
    match filter.rate_max_per_s {
        Some(0) => Err(RegistryError::InvalidRateMax(
            "a match budget is at least 1 match per second; leave it unset for the default".to_owned(),
        )),
        Some(rate) if rate > RATE_MAX_PER_S_MAX => Err(RegistryError::InvalidRateMax(format!(
            "a match budget is at most {RATE_MAX_PER_S_MAX} matches per second (got {rate})"
        ))),
        _ => Ok(()),
    }
}

/// The largest budget a row can hold: the column is a PostgreSQL `integer`.
pub const RATE_MAX_PER_S_MAX: u32 = i32::MAX as u32;

/// The longest filter name, in bytes (the column's CHECK allows 256).
pub const FILTER_NAME_BYTES_MAX: usize = 128;

/// Checks a new filter's name against the rule of [`NewFilter::named`].
pub fn check_filter_name(filter: &NewFilter) -> Result<(), RegistryError> {
    let Some(name) = &filter.name else { return Ok(()) };
    let invalid = |reason: &str| RegistryError::InvalidName { name: name.clone(), reason: reason.to_owned() };
    if filter.kind != FilterKind::Standing {
        return Err(invalid("only standing filters have names"));
    }
    if name.is_empty() || name.len() > FILTER_NAME_BYTES_MAX {
        return Err(invalid(&format!("a name is 1 to {FILTER_NAME_BYTES_MAX} bytes")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(invalid("use letters, digits, '-', '_' and '.'"));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("a name of digits only would read as a filter id"));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("filter rejected: {0}")]
    InvalidFilter(#[from] crate::language::FilterError),
    #[error("match budget rejected: {0}")]
    InvalidRateMax(String),
    #[error("topics rejected: {0}")]
    InvalidTopics(String),
    #[error("filter name {name:?} rejected: {reason}")]
    InvalidName { name: String, reason: String },
    #[error(
        "a filter named {0:?} exists already (see `clicktail filters list`); pick another name or remove it first"
    )]
    DuplicateName(String),
    #[error("the registry schema is missing or outdated: run `clicktail migrate` ({0})")]
    Schema(String),
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

/// What a node's heartbeat found in the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// The ids the node still serves whose row is gone (swept while the
    /// node was cut off, or deleted by hand): the node must re-create them
    /// or tell their sessions.
    pub missing: Vec<FilterId>,
    /// Rows of the node that it no longer serves (their delete failed,
    /// e.g. during an outage), older than a TTL: deleted by this heartbeat.
    pub orphans_deleted: u64,
}

/// Creates, refreshes and deletes filters.
pub trait Registry: Send + Sync {
    /// Validates (with the engine's parser) and stores a filter; returns its id.
    fn insert(&self, filter: NewFilter) -> Result<FilterId, RegistryError>;
    /// Records that `node` is alive (now, by the registry's clock) with
    /// this `ttl`, pushes the expiry of `ids` (the session filters it
    /// serves) to now + `ttl`, reports those whose row is gone, and deletes
    /// the node's rows outside `ids` created more than a `ttl` ago.
    fn heartbeat(&self, node: &str, ids: &[FilterId], ttl: Duration) -> Result<HeartbeatOutcome, RegistryError>;
    /// Deletes the rows of `ids`; returns the ids that had one, in any
    /// order (the others were gone already), so a caller can say what it removed.
    fn delete(&self, ids: &[FilterId]) -> Result<Vec<FilterId>, RegistryError>;
    fn list(&self) -> Result<Vec<FilterRow>, RegistryError>;
    /// Deletes the session filters of gone nodes, and those nodes, by the
    /// liveness rule of this module; returns how many filters went. Safe
    /// to run on many processes at once.
    fn sweep_expired(&self) -> Result<u64, RegistryError>;
    /// Starts watching changes (see the module's contract).
    fn watch(&self) -> Result<Box<dyn RegistryWatch>, RegistryError>;
    /// Claims the oldest open backfill job whose lease is free or ran out,
    /// for `claimer`, until now + `lease`; `None` when there is none.
    /// At most one claimer holds a job at a time.
    fn claim_backfill(&self, claimer: &str, lease: Duration) -> Result<Option<BackfillJob>, RegistryError>;
    /// Extends `claimer`'s lease on `filter`'s job to now + `lease`; false
    /// when the claimer no longer holds it (it ran out and another took it,
    /// or the filter is gone): the claimer must stop.
    fn renew_backfill(&self, filter: FilterId, claimer: &str, lease: Duration) -> Result<bool, RegistryError>;
    /// Marks `filter`'s job finished with `outcome`, if `claimer` holds it.
    fn finish_backfill(&self, filter: FilterId, claimer: &str, outcome: BackfillOutcome)
        -> Result<bool, RegistryError>;
    /// Records seams; a (filter, topic, partition) that has one keeps it
    /// (first writer wins), and seams of filters without a job are dropped.
    fn record_seams(&self, seams: &[Seam]) -> Result<(), RegistryError>;
    /// The seams recorded for `filter`'s job, by topic and partition.
    fn seams(&self, filter: FilterId) -> Result<Vec<Seam>, RegistryError>;
    /// Records that a worker consumes `topics` now (the raw topics it
    /// resolved): they are offered to and checked for subscriptions.
    fn announce_topics(&self, topics: &[String]) -> Result<(), RegistryError>;
    /// The raw topics some worker announced within `within`, sorted.
    fn known_topics(&self, within: Duration) -> Result<Vec<String>, RegistryError>;
}

/// A stream of changes for one watcher.
pub trait RegistryWatch: Send {
    /// The next change, waiting at most `timeout`; `Ok(None)` on timeout.
    /// Reconnects by itself after a failure and then yields a `Reset`.
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Change>, RegistryError>;
}
