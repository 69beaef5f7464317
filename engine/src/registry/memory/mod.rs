//! The in-memory registry: filters in this process, with the same contract
//! as the PostgreSQL registry (validation on insert, expiry, a `Reset`
//! first on every watch, then changes in order). For `clicktail demo` and
//! fast tests.
//!
//! Each watcher has a bounded queue ([`MemoryRegistryConfig::watch_queue_max`]).
//! A watcher that falls that far behind is not allowed to block writers:
//! its queue is dropped and it receives a fresh `Reset` instead, exactly
//! what a PostgreSQL watcher gets after a reconnect.
//!
//! Node liveness follows the rule of [`crate::registry`]; this registry
//! cannot be down, so the sweeper has watched it since it was created.
//!
//! Layout: `mod.rs` (the registry), `watch.rs` (one watcher), `tests.rs`.

mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use watch::{MemoryWatch, WatcherQueue};

use super::{
    check_filter_name, check_rate_max, check_topics, BackfillJob, BackfillOutcome, BackfillRequest, Change, FilterKind,
    FilterRow, HeartbeatOutcome, NewFilter, Registry, RegistryError, RegistryWatch, Seam,
};
use crate::language::parse_filter;
use crate::log::PartitionId;
use crate::matcher::FilterId;

/// Limits of the in-memory registry.
#[derive(Clone, Copy, Debug)]
pub struct MemoryRegistryConfig {
    /// Changes queued per watcher before it is resynchronised with a
    /// `Reset` (default 65,536).
    pub watch_queue_max: usize,
    /// Upper bound on stored filters; inserts beyond it are rejected
    /// (default 1,000,000).
    pub filters_max: usize,
}

impl Default for MemoryRegistryConfig {
    fn default() -> Self {
        MemoryRegistryConfig { watch_queue_max: 65_536, filters_max: 1_000_000 }
    }
}

/// A gateway node's last heartbeat.
struct NodeSeen {
    last_seen: SystemTime,
    /// How long the node may stay silent before it counts as gone.
    ttl: Duration,
}

/// A backfill job, as the `backfill_jobs` table holds it.
struct JobState {
    request: BackfillRequest,
    created: SystemTime,
    claimed_by: Option<String>,
    lease_until: Option<SystemTime>,
    attempts: u32,
    finished: Option<BackfillOutcome>,
    /// First writer wins per partition.
    seams: BTreeMap<(String, PartitionId), i64>,
}

pub(crate) struct RegistryState {
    rows: BTreeMap<FilterId, FilterRow>,
    /// Backfill jobs by filter; removed with their filter.
    jobs: BTreeMap<FilterId, JobState>,
    /// Every node with session filters, by name.
    nodes: HashMap<String, NodeSeen>,
    /// When this registry came up: the `watched_since` of the liveness rule.
    started: SystemTime,
    /// The id of the next insert; ids are never reused, as with `bigserial`.
    next_id: u64,
    /// The raw topics workers announced, and when last.
    worker_topics: BTreeMap<String, SystemTime>,
    watchers: Vec<Arc<WatcherQueue>>,
}

impl RegistryState {
    fn publish(&mut self, change: Change) {
        // Watchers whose `MemoryWatch` was dropped are forgotten here.
        self.watchers.retain(|queue| Arc::strong_count(queue) > 1);
        for queue in &self.watchers {
            queue.push(change.clone());
        }
    }

    /// A row as a watcher reads it now: `backfill_pending` follows its job.
    pub(crate) fn snapshot(&self) -> Vec<FilterRow> {
        self.rows
            .values()
            .map(|row| FilterRow {
                backfill_pending: self.jobs.get(&row.id).is_some_and(|job| job.finished.is_none()),
                ..row.clone()
            })
            .collect()
    }

    /// Deletes a filter's row and its job (the foreign key's cascade).
    fn remove_row(&mut self, id: FilterId) -> bool {
        self.jobs.remove(&id);
        self.rows.remove(&id).is_some()
    }

    /// `claimer`'s unfinished job of `filter`, if it holds it.
    fn held_job(&mut self, filter: FilterId, claimer: &str) -> Option<&mut JobState> {
        self.jobs.get_mut(&filter).filter(|job| job.finished.is_none() && job.claimed_by.as_deref() == Some(claimer))
    }
}

/// An in-memory filter registry. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryRegistry {
    state: Arc<Mutex<RegistryState>>,
    config: MemoryRegistryConfig,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        MemoryRegistry::new(MemoryRegistryConfig::default())
    }
}

impl MemoryRegistry {
    pub fn new(config: MemoryRegistryConfig) -> Self {
        MemoryRegistry {
            state: Arc::new(Mutex::new(RegistryState {
                rows: BTreeMap::new(),
                jobs: BTreeMap::new(),
                nodes: HashMap::new(),
                started: SystemTime::now(),
                next_id: 1,
                worker_topics: BTreeMap::new(),
                watchers: Vec::new(),
            })),
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, RegistryState> {
        // Every update below is complete before anything can panic, so a
        // poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn expiry(now: SystemTime, ttl: Option<Duration>) -> Option<SystemTime> {
    ttl.map(|ttl| now.checked_add(ttl).unwrap_or(now))
}

impl Registry for MemoryRegistry {
    fn insert(&self, filter: NewFilter) -> Result<FilterId, RegistryError> {
        parse_filter(&filter.expression)?;
        check_filter_name(&filter)?;
        check_rate_max(&filter)?;
        check_topics(&filter)?;
        let mut state = self.lock();
        if let Some(name) = &filter.name {
            if state.rows.values().any(|row| row.name.as_ref() == Some(name)) {
                return Err(RegistryError::DuplicateName(name.clone()));
            }
        }
        if state.rows.len() >= self.config.filters_max {
            return Err(RegistryError::Unavailable(format!(
                "the in-memory registry holds its maximum of {} filters",
                self.config.filters_max
            )));
        }
        let id = FilterId(state.next_id);
        state.next_id += 1;
        let now = SystemTime::now();
        if let (Some(node), FilterKind::Session) = (&filter.node, filter.kind) {
            // Inserting counts as a heartbeat of the node, as in PostgreSQL.
            let ttl = filter.ttl.unwrap_or(Duration::ZERO);
            state.nodes.insert(node.clone(), NodeSeen { last_seen: now, ttl });
        }
        let node = match filter.kind {
            FilterKind::Session => filter.node,
            FilterKind::Standing => None,
        };
        let row = FilterRow {
            id,
            expression: filter.expression,
            kind: filter.kind,
            owner: filter.owner,
            node,
            created: now,
            expires: expiry(now, filter.ttl),
            name: filter.name,
            rate_max_per_s: filter.rate_max_per_s,
            backfill_pending: filter.backfill.is_some(),
            topics: filter.topics,
        };
        if let Some(request) = filter.backfill {
            let job = JobState {
                request,
                created: now,
                claimed_by: None,
                lease_until: None,
                attempts: 0,
                finished: None,
                seams: BTreeMap::new(),
            };
            state.jobs.insert(id, job);
        }
        state.rows.insert(id, row.clone());
        state.publish(Change::Upsert(row));
        Ok(id)
    }

    fn heartbeat(&self, node: &str, ids: &[FilterId], ttl: Duration) -> Result<HeartbeatOutcome, RegistryError> {
        let mut state = self.lock();
        let now = SystemTime::now();
        state.nodes.insert(node.to_owned(), NodeSeen { last_seen: now, ttl });
        let expires = expiry(now, Some(ttl));
        let mut missing = Vec::new();
        for id in ids {
            // Only session filters expire; a heartbeat never gives a standing one an expiry.
            match state.rows.get_mut(id).filter(|row| row.kind == FilterKind::Session) {
                Some(row) => row.expires = expires,
                None => missing.push(*id),
            }
        }
        // Like the PostgreSQL trigger, an expiry change is not a change of
        // the matched set, so watchers are not told.
        let served: std::collections::HashSet<FilterId> = ids.iter().copied().collect();
        let orphans: Vec<FilterId> = state
            .rows
            .values()
            .filter(|row| row.node.as_deref() == Some(node) && !served.contains(&row.id))
            .filter(|row| row.created.checked_add(ttl).is_some_and(|old_enough| old_enough < now))
            .map(|row| row.id)
            .collect();
        for id in &orphans {
            state.remove_row(*id);
            state.publish(Change::Delete(*id));
        }
        Ok(HeartbeatOutcome { missing, orphans_deleted: orphans.len() as u64 })
    }

    fn delete(&self, ids: &[FilterId]) -> Result<Vec<FilterId>, RegistryError> {
        let mut state = self.lock();
        let mut deleted = Vec::new();
        for id in ids {
            if state.remove_row(*id) {
                state.publish(Change::Delete(*id));
                deleted.push(*id);
            }
        }
        Ok(deleted)
    }

    fn list(&self) -> Result<Vec<FilterRow>, RegistryError> {
        Ok(self.lock().snapshot())
    }

    fn sweep_expired(&self) -> Result<u64, RegistryError> {
        let mut state = self.lock();
        let now = SystemTime::now();
        let watched_since = state.started;
        let gone: Vec<String> = state
            .nodes
            .iter()
            .filter(|(_, seen)| seen.last_seen.max(watched_since).checked_add(seen.ttl).is_some_and(|at| at < now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &gone {
            state.nodes.remove(name);
        }
        let nodeless_grace = Duration::from_millis(super::NODELESS_GRACE_MS);
        let nodeless_expired = |row: &FilterRow| {
            row.node.is_none()
                && row.kind == FilterKind::Session
                && row.expires.is_some_and(|at| at.max(watched_since + nodeless_grace) < now)
        };
        let swept: Vec<FilterId> = state
            .rows
            .values()
            .filter(|row| row.node.as_ref().is_some_and(|node| gone.contains(node)) || nodeless_expired(row))
            .map(|row| row.id)
            .collect();
        for id in &swept {
            state.remove_row(*id);
            state.publish(Change::Delete(*id));
        }
        Ok(swept.len() as u64)
    }

    fn claim_backfill(&self, claimer: &str, lease: Duration) -> Result<Option<BackfillJob>, RegistryError> {
        let mut state = self.lock();
        let now = SystemTime::now();
        let claimable = state
            .jobs
            .iter()
            .filter(|(_, job)| job.finished.is_none() && job.lease_until.is_none_or(|until| until < now))
            .min_by_key(|(id, job)| (job.created, **id))
            .map(|(id, _)| *id);
        let Some(filter_id) = claimable else { return Ok(None) };
        let row = state.rows.get(&filter_id);
        let (expression, topics) = row.map(|row| (row.expression.clone(), row.topics.clone())).unwrap_or_default();
        let job = state.jobs.get_mut(&filter_id).expect("found just above");
        job.claimed_by = Some(claimer.to_owned());
        job.lease_until = Some(expiry(now, Some(lease)).unwrap_or(now));
        job.attempts += 1;
        let created_ms = job.created.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Ok(Some(BackfillJob {
            filter_id,
            expression,
            topics,
            request: job.request,
            attempts: job.attempts,
            created_ms,
        }))
    }

    fn renew_backfill(&self, filter: FilterId, claimer: &str, lease: Duration) -> Result<bool, RegistryError> {
        let mut state = self.lock();
        let Some(job) = state.held_job(filter, claimer) else { return Ok(false) };
        let now = SystemTime::now();
        job.lease_until = Some(expiry(now, Some(lease)).unwrap_or(now));
        Ok(true)
    }

    fn finish_backfill(
        &self,
        filter: FilterId,
        claimer: &str,
        outcome: BackfillOutcome,
    ) -> Result<bool, RegistryError> {
        let mut state = self.lock();
        let Some(job) = state.held_job(filter, claimer) else { return Ok(false) };
        job.finished = Some(outcome);
        job.lease_until = None;
        Ok(true)
    }

    fn record_seams(&self, seams: &[Seam]) -> Result<(), RegistryError> {
        let mut state = self.lock();
        for seam in seams {
            if let Some(job) = state.jobs.get_mut(&seam.filter_id).filter(|job| job.finished.is_none()) {
                job.seams.entry((seam.topic.clone(), seam.partition)).or_insert(seam.offset);
            }
        }
        Ok(())
    }

    fn announce_topics(&self, topics: &[String]) -> Result<(), RegistryError> {
        let now = SystemTime::now();
        let mut state = self.lock();
        for topic in topics {
            state.worker_topics.insert(topic.clone(), now);
        }
        Ok(())
    }

    fn known_topics(&self, within: Duration) -> Result<Vec<String>, RegistryError> {
        let since = SystemTime::now().checked_sub(within).unwrap_or(SystemTime::UNIX_EPOCH);
        let state = self.lock();
        Ok(state.worker_topics.iter().filter(|(_, seen)| **seen >= since).map(|(topic, _)| topic.clone()).collect())
    }

    fn seams(&self, filter: FilterId) -> Result<Vec<Seam>, RegistryError> {
        let state = self.lock();
        let seam = |((topic, partition), offset): (&(String, PartitionId), &i64)| Seam {
            filter_id: filter,
            topic: topic.clone(),
            partition: *partition,
            offset: *offset,
        };
        Ok(state.jobs.get(&filter).map(|job| job.seams.iter().map(seam).collect()).unwrap_or_default())
    }

    fn watch(&self) -> Result<Box<dyn RegistryWatch>, RegistryError> {
        let mut state = self.lock();
        let queue = Arc::new(WatcherQueue::new(self.config.watch_queue_max));
        // Registered and snapshotted under one lock: no change falls between.
        queue.push(Change::Reset(state.snapshot()));
        state.watchers.push(Arc::clone(&queue));
        Ok(Box::new(MemoryWatch::new(queue, Arc::clone(&self.state))))
    }
}
