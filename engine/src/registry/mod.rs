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

pub mod memory;
pub mod postgres;

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
        }
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
}

/// A stream of changes for one watcher.
pub trait RegistryWatch: Send {
    /// The next change, waiting at most `timeout`; `Ok(None)` on timeout.
    /// Reconnects by itself after a failure and then yields a `Reset`.
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Change>, RegistryError>;
}
