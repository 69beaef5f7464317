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
    pub created: SystemTime,
    /// When it stops being live; `None` for standing filters.
    pub expires: Option<SystemTime>,
}

/// A filter to create.
#[derive(Clone, Debug)]
pub struct NewFilter {
    pub expression: String,
    pub kind: FilterKind,
    pub owner: String,
    /// Lifetime from now until the next heartbeat; `None` for standing filters.
    pub ttl: Option<Duration>,
}

impl NewFilter {
    /// A filter for a downstream consumer: no expiry.
    pub fn standing(expression: impl Into<String>, owner: impl Into<String>) -> Self {
        NewFilter { expression: expression.into(), kind: FilterKind::Standing, owner: owner.into(), ttl: None }
    }

    /// A filter of a live admin session, which expires `ttl` after its last heartbeat.
    pub fn session(expression: impl Into<String>, owner: impl Into<String>, ttl: Duration) -> Self {
        NewFilter { expression: expression.into(), kind: FilterKind::Session, owner: owner.into(), ttl: Some(ttl) }
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

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("filter rejected: {0}")]
    InvalidFilter(#[from] crate::language::FilterError),
    #[error("the registry schema is missing or outdated: run `clicktail migrate` ({0})")]
    Schema(String),
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

/// Creates, refreshes and deletes filters.
pub trait Registry: Send + Sync {
    /// Validates (with the engine's parser) and stores a filter; returns its id.
    fn insert(&self, filter: NewFilter) -> Result<FilterId, RegistryError>;
    /// Pushes the expiry of `ids` to now + `ttl`.
    fn heartbeat(&self, ids: &[FilterId], ttl: Duration) -> Result<(), RegistryError>;
    /// Deletes the rows of `ids`; returns the ids that had one, in any
    /// order (the others were gone already), so a caller can say what it removed.
    fn delete(&self, ids: &[FilterId]) -> Result<Vec<FilterId>, RegistryError>;
    fn list(&self) -> Result<Vec<FilterRow>, RegistryError>;
    /// Deletes rows whose expiry has passed; safe to run on many nodes at once.
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
