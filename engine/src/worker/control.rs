//! The control thread: follows the registry, keeps the local filter set,
//! rebuilds the compiled matcher once per burst of changes and publishes it
//! to the filter threads; also sweeps expired filters.
//!
//! A burst is everything the watch has ready when the first change of it
//! arrives (up to `rebuild_changes_max`): 1,000 subscriptions arriving
//! together are one rebuild, not 1,000.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{Backoff, WorkerConfig};
use super::health::{WorkerHealth, CONTROL};
use super::live::{LiveFilters, LiveSlot, Retired};
use super::metrics::{self as names, WorkerStats};
use crate::matcher::{FilterId, FilterSet};
use crate::registry::{Change, FilterKind, FilterRow, Registry, RegistryWatch};

/// How long one wait on the watch lasts: the bound on noticing a stop request.
const WATCH_WAIT: Duration = Duration::from_millis(100);

pub(crate) struct ControlThread {
    pub(crate) config: WorkerConfig,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) live: Arc<LiveSlot>,
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Where each turn of the loop and the registry's state are recorded.
    pub(crate) health: Arc<WorkerHealth>,
}

/// The control thread's copy of the registry.
struct LocalSet {
    set: FilterSet,
    /// The expression of every filter in `set`, to skip re-parsing
    /// unchanged filters on a `Reset`.
    expressions: BTreeMap<FilterId, String>,
    /// The session filters in `set`: they get the session budget.
    sessions: BTreeSet<FilterId>,
    generation: u64,
}

impl LocalSet {
    fn upsert(&mut self, row: FilterRow) {
        if row.kind == FilterKind::Session {
            self.sessions.insert(row.id);
        }
        if self.expressions.get(&row.id) == Some(&row.expression) {
            return;
        }
        match self.set.insert_source(row.id, &row.expression) {
            Ok(()) => {
                self.expressions.insert(row.id, row.expression);
            }
            Err(error) => {
                // The registry validates on insert, so this is a row written
                // around it (by hand, or by a newer parser): skip it, loudly.
                tracing::warn!(filter_id = row.id.0, %error, "registry filter does not parse; ignored");
                metrics::counter!(names::INVALID_FILTERS).increment(1);
                self.remove(row.id);
            }
        }
    }

    fn remove(&mut self, id: FilterId) {
        self.set.remove(id);
        self.expressions.remove(&id);
        self.sessions.remove(&id);
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Reset(rows) => {
                let keep: std::collections::BTreeSet<FilterId> = rows.iter().map(|row| row.id).collect();
                let gone: Vec<FilterId> = self.expressions.keys().filter(|id| !keep.contains(id)).copied().collect();
                for id in gone {
                    self.remove(id);
                }
                rows.into_iter().for_each(|row| self.upsert(row));
            }
            Change::Upsert(row) => self.upsert(row),
            Change::Delete(id) => self.remove(id),
        }
    }
}

impl ControlThread {
    pub(crate) fn run(self, initial: FilterSet) {
        let mut local =
            LocalSet { set: initial, expressions: BTreeMap::new(), sessions: BTreeSet::new(), generation: 0 };
        let mut backoff = Backoff::new(self.config.backoff_max);
        let mut watch: Option<Box<dyn RegistryWatch>> = None;
        let mut next_sweep = Instant::now();
        let mut retired = Retired::default();
        let _running = self.health.running(CONTROL);
        while !self.stop.load(Ordering::Relaxed) {
            self.health.beat(CONTROL);
            retired.collect();
            self.sweep_when_due(&mut next_sweep);
            let Some(active) = watch.as_mut() else {
                match self.registry.watch() {
                    Ok(opened) => {
                        watch = Some(opened);
                        backoff.reset();
                    }
                    Err(error) => {
                        self.health.set_registry_connected(false);
                        tracing::warn!(%error, "cannot watch the registry; retrying");
                        metrics::counter!(names::REGISTRY_ERRORS).increment(1);
                        self.sleep_unless_stopped(backoff.next_wait());
                    }
                }
                continue;
            };
            match self.next_burst(active.as_mut(), &mut local) {
                Ok(0) => self.health.set_registry_connected(true),
                Ok(_) => {
                    self.health.set_registry_connected(true);
                    self.rebuild(&mut local, &mut retired);
                }
                Err(error) => {
                    self.health.set_registry_connected(false);
                    // The watch reconnects by itself; an error here means it
                    // gave up, so open a new one (which starts with a Reset).
                    tracing::warn!(%error, "registry watch failed; reopening");
                    metrics::counter!(names::REGISTRY_ERRORS).increment(1);
                    watch = None;
                    self.sleep_unless_stopped(backoff.next_wait());
                }
            }
        }
    }

    /// Applies the next change and everything else ready right now;
    /// returns how many changes were applied.
    fn next_burst(
        &self,
        watch: &mut dyn RegistryWatch,
        local: &mut LocalSet,
    ) -> Result<usize, crate::registry::RegistryError> {
        let Some(first) = watch.next_change(WATCH_WAIT)? else {
            return Ok(0);
        };
        local.apply(first);
        let mut applied = 1;
        while applied < self.config.rebuild_changes_max {
            match watch.next_change(Duration::ZERO)? {
                Some(change) => {
                    local.apply(change);
                    applied += 1;
                }
                None => break,
            }
        }
        Ok(applied)
    }

    fn rebuild(&self, local: &mut LocalSet, retired: &mut Retired) {
        let started = Instant::now();
        // Recorded first: should the build never return, `/readyz` shows
        // the generation it was building as not published.
        self.health.building(local.generation + 1);
        let matcher = local.set.build();
        local.generation += 1;
        let ids: Vec<FilterId> = local.set.ids().collect();
        let active = ids.len();
        let session_rate = Some(self.config.session_filter_rate_max_per_s).filter(|&rate| rate > 0);
        let rate_max_per_s =
            ids.iter().map(|id| if local.sessions.contains(id) { session_rate } else { None }).collect();
        let replaced = self.live.publish(LiveFilters {
            matcher,
            ids,
            rate_max_per_s,
            generation: local.generation,
            published_at: Instant::now(),
        });
        let took = started.elapsed();
        retired.push(replaced);
        metrics::counter!(names::REBUILDS).increment(1);
        metrics::histogram!(names::REBUILD_SECONDS).record(took.as_secs_f64());
        metrics::gauge!(names::ACTIVE_FILTERS).set(active as f64);
        WorkerStats::add(&self.stats.rebuilds, 1);
        tracing::debug!(
            generation = local.generation,
            active,
            took_us = took.as_micros() as u64,
            "filter set published"
        );
    }

    fn sweep_when_due(&self, next_sweep: &mut Instant) {
        let Some(interval) = self.config.sweep_interval else {
            return;
        };
        if Instant::now() < *next_sweep {
            return;
        }
        *next_sweep = Instant::now() + interval;
        match self.registry.sweep_expired() {
            Ok(0) => {}
            Ok(swept) => {
                tracing::info!(swept, "expired filters deleted");
                metrics::counter!(names::SWEPT_FILTERS).increment(swept);
            }
            Err(error) => {
                tracing::warn!(%error, "expiry sweep failed; will retry");
                metrics::counter!(names::REGISTRY_ERRORS).increment(1);
            }
        }
    }

    fn sleep_unless_stopped(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.stop.load(Ordering::Relaxed) && Instant::now() < until {
            // A deliberate wait is progress, not a stall.
            self.health.beat(CONTROL);
            std::thread::sleep(WATCH_WAIT.min(until.saturating_duration_since(Instant::now())));
        }
    }
}
