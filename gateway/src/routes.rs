//! Which session owns which filter id on this node.
//!
//! Written by the control thread (subscribe, release), read by the delivery
//! thread for every filtered record. A `RwLock` rather than an atomic swap:
//! writes are one entry at a time at human speed, reads take a shared lock
//! the writer holds for a single map insert, and the delivery thread takes
//! it once per polled batch, not per record.
//!
//! The criterion and row owner of every filter are kept beside (not in the
//! delivery's map): the control thread re-creates a filter from them when
//! its row was lost (`reassert.rs`), and the audit lines name the criterion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use clicktail_engine::matcher::FilterId;

use crate::ids::ConnectionAddress;

#[derive(Default)]
pub struct RouteTable {
    owners: RwLock<HashMap<FilterId, ConnectionAddress>>,
    /// What each routed filter is; written with `owners`.
    criteria: Mutex<HashMap<FilterId, Standing>>,
}

/// What a routed filter is, beside where it goes.
#[derive(Clone, Debug)]
pub struct Standing {
    pub criterion: Arc<str>,
    /// The registry row's owner (`node/session/subject`).
    pub row_owner: Arc<str>,
    /// The budget the row was given (`rate_max` granted on subscribe);
    /// `None` is the workers' default. A re-created row keeps it.
    pub rate_max_per_s: Option<u32>,
    /// The topics granted on subscribe (`None`: every one); kept likewise.
    pub topics: Option<Arc<[String]>>,
}

/// A routed filter: its session, criterion, row owner, budget and topics.
pub struct Route {
    pub session: ConnectionAddress,
    pub criterion: Arc<str>,
    pub row_owner: Arc<str>,
    pub rate_max_per_s: Option<u32>,
    pub topics: Option<Arc<[String]>>,
}

impl RouteTable {
    pub fn insert(&self, filter: FilterId, owner: ConnectionAddress, standing: Standing) {
        // Criteria first: a filter in `owners` always has its criterion.
        self.criteria().insert(filter, standing);
        self.write().insert(filter, owner);
    }

    /// Removes `filter`; returns whether it was routed here.
    pub fn remove(&self, filter: FilterId) -> bool {
        let removed = self.write().remove(&filter).is_some();
        self.criteria().remove(&filter);
        removed
    }

    /// The session, criterion and row owner of `filter`, if routed here.
    pub fn route(&self, filter: FilterId) -> Option<Route> {
        let session = *self.read().get(&filter)?;
        let Standing { criterion, row_owner, rate_max_per_s, topics } = self.criteria().get(&filter)?.clone();
        Some(Route { session, criterion, row_owner, rate_max_per_s, topics })
    }

    /// A read view for a batch of lookups.
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<FilterId, ConnectionAddress>> {
        // A panic elsewhere cannot leave the map half-updated (each update
        // is one map call), so a poisoned lock still guards a valid map.
        self.owners.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every filter id routed here, for the heartbeat.
    pub fn ids(&self) -> Vec<FilterId> {
        self.read().keys().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn criteria(&self) -> MutexGuard<'_, HashMap<FilterId, Standing>> {
        self.criteria.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<FilterId, ConnectionAddress>> {
        self.owners.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
