//! The control thread: follows the registry, keeps the local filter set,
//! rebuilds the compiled matcher once per burst of changes and publishes it
//! to the filter threads; also sweeps expired filters.
//!
//! A burst is everything the watch has ready when the first change of it
//! arrives (up to `rebuild_changes_max`): 1,000 subscriptions arriving
//! together are one rebuild, not 1,000.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::SystemTime;
use std::time::{Duration, Instant};

use super::config::{Backoff, WorkerConfig};
use super::health::{WorkerHealth, CONTROL};
use super::live::{LiveFilters, LiveSlot, Retired, ScopedMatcher};
use super::metrics::{self as names, WorkerStats};
use crate::log::{Log, RawTopics};
use crate::matcher::{FilterId, FilterSet, Matcher, MatcherOptions};
use crate::registry::{Change, FilterKind, FilterRow, Registry, RegistryWatch, Seam};

/// Seams written to the registry per turn at most; the rest wait a turn.
const SEAMS_PER_WRITE_MAX: usize = 4_096;

/// How long one wait on the watch lasts: the bound on noticing a stop request.
const WATCH_WAIT: Duration = Duration::from_millis(100);

pub(crate) struct ControlThread {
    pub(crate) config: WorkerConfig,
    pub(crate) registry: Arc<dyn Registry>,
    /// For the raw topics consumed now, announced to the registry.
    pub(crate) log: Arc<dyn Log>,
    pub(crate) live: Arc<LiveSlot>,
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Where each turn of the loop and the registry's state are recorded.
    pub(crate) health: Arc<WorkerHealth>,
    /// Seams from the filter threads, written to the registry each turn.
    pub(crate) seams: Receiver<Seam>,
}

/// The filters restricted to one topic list, and whether they changed
/// since their matcher was last built.
struct ScopeSet {
    topics: RawTopics,
    set: FilterSet,
    built: Option<Arc<Matcher>>,
}

/// The control thread's copy of the registry.
struct LocalSet {
    /// The filters of every raw topic.
    set: FilterSet,
    /// The filters restricted to some topics, by topic list (joined by `,`).
    scoped: BTreeMap<String, ScopeSet>,
    /// The scope of every scoped filter.
    scope_of: BTreeMap<FilterId, String>,
    options: MatcherOptions,
    /// The expression of every filter in `set`, to skip re-parsing
    /// unchanged filters on a `Reset`.
    expressions: BTreeMap<FilterId, String>,
    /// The budget of every budgeted filter in `set`, from its row; a
    /// filter missing here is unlimited.
    budgets: BTreeMap<FilterId, RowBudget>,
    /// Filters with a pending backfill job, and when each was created: their
    /// seams are watched (`backfill/seams.rs`) for `backfill.seam_wait_max`
    /// after creation at most, which bounds the watch list.
    backfills: BTreeMap<FilterId, SystemTime>,
    generation: u64,
}

/// A filter's match budget as its registry row gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowBudget {
    /// The row's own `rate_max_per_s`.
    Fixed(u32),
    /// A session filter without one: `session_filter_rate_max_per_s`.
    SessionDefault,
}

impl RowBudget {
    fn of(row: &FilterRow) -> Option<RowBudget> {
        match (row.rate_max_per_s, row.kind) {
            (Some(rate), _) => Some(RowBudget::Fixed(rate)),
            (None, FilterKind::Session) => Some(RowBudget::SessionDefault),
            (None, FilterKind::Standing) => None,
        }
    }

    /// Matches per second; `None` is unlimited (a session default of 0).
    fn rate_max_per_s(self, session_default: u32) -> Option<u32> {
        match self {
            RowBudget::Fixed(rate) => Some(rate),
            RowBudget::SessionDefault => Some(session_default).filter(|&rate| rate > 0),
        }
    }
}

impl LocalSet {
    fn upsert(&mut self, row: FilterRow) {
        // Before the unchanged-expression shortcut: a row re-read on a
        // `Reset` carries its budget too.
        match RowBudget::of(&row) {
            Some(budget) => self.budgets.insert(row.id, budget),
            None => self.budgets.remove(&row.id),
        };
        if row.backfill_pending {
            self.backfills.insert(row.id, row.created);
        } else {
            self.backfills.remove(&row.id);
        }
        let scope = row.topics.as_ref().map(|topics| topics.join(","));
        if self.expressions.get(&row.id) == Some(&row.expression) && self.scope_of.get(&row.id) == scope.as_ref() {
            return;
        }
        self.remove_compiled(row.id);
        let inserted = match &scope {
            None => self.set.insert_source(row.id, &row.expression),
            Some(key) => match self.scope_set(key) {
                Some(scope) => {
                    scope.built = None;
                    scope.set.insert_source(row.id, &row.expression)
                }
                None => {
                    // The registry checks topics on insert (`check_topics`).
                    tracing::warn!(filter_id = row.id.0, topics = %key, "registry filter topics do not parse; ignored");
                    metrics::counter!(names::INVALID_FILTERS).increment(1);
                    self.remove(row.id);
                    return;
                }
            },
        };
        match inserted {
            Ok(()) => {
                self.expressions.insert(row.id, row.expression);
                if let Some(key) = scope {
                    self.scope_of.insert(row.id, key);
                }
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

    /// The set of the filters restricted to `key`'s topics, new if need be;
    /// `None` when `key` does not parse.
    fn scope_set(&mut self, key: &str) -> Option<&mut ScopeSet> {
        if !self.scoped.contains_key(key) {
            let topics = RawTopics::parse(key).ok()?;
            let set = FilterSet::new(self.options);
            self.scoped.insert(key.to_owned(), ScopeSet { topics, set, built: None });
        }
        self.scoped.get_mut(key)
    }

    /// Takes `id` out of whichever compiled set holds it.
    fn remove_compiled(&mut self, id: FilterId) {
        match self.scope_of.remove(&id) {
            Some(key) => {
                if let Some(scope) = self.scoped.get_mut(&key) {
                    scope.set.remove(id);
                    scope.built = None;
                }
            }
            None => {
                self.set.remove(id);
            }
        }
    }

    fn remove(&mut self, id: FilterId) {
        self.remove_compiled(id);
        self.expressions.remove(&id);
        self.budgets.remove(&id);
        self.backfills.remove(&id);
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
        let mut local = LocalSet {
            set: initial,
            scoped: BTreeMap::new(),
            scope_of: BTreeMap::new(),
            options: self.config.matcher_options,
            expressions: BTreeMap::new(),
            budgets: BTreeMap::new(),
            backfills: BTreeMap::new(),
            generation: 0,
        };
        let mut seams_unwritten: Vec<Seam> = Vec::new();
        let mut backoff = Backoff::new(self.config.backoff_max);
        let mut watch: Option<Box<dyn RegistryWatch>> = None;
        let mut next_sweep = Instant::now();
        let mut next_announce = Instant::now();
        let mut retired = Retired::default();
        let _running = self.health.running(CONTROL);
        while !self.stop.load(Ordering::Relaxed) {
            self.health.beat(CONTROL);
            retired.collect();
            self.sweep_when_due(&mut next_sweep);
            self.announce_topics_when_due(&mut next_announce);
            self.write_seams(&mut seams_unwritten);
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
        // Only the scopes whose filters changed are compiled again.
        local.scoped.retain(|_, scope| scope.set.ids().next().is_some());
        let scoped: Vec<ScopedMatcher> = local
            .scoped
            .values_mut()
            .map(|scope| ScopedMatcher {
                topics: scope.topics.clone(),
                matcher: Arc::clone(scope.built.get_or_insert_with(|| Arc::new(scope.set.build()))),
            })
            .collect();
        let mut ids: Vec<FilterId> = local.set.ids().collect();
        ids.extend(local.scoped.values().flat_map(|scope| scope.set.ids()));
        ids.sort_unstable();
        let active = ids.len();
        let session_default = self.config.session_filter_rate_max_per_s;
        let rate_max_per_s = ids
            .iter()
            .map(|id| local.budgets.get(id).and_then(|budget| budget.rate_max_per_s(session_default)))
            .collect();
        // A job's seams are recorded from this version on: the one that
        // makes its filter live. Old jobs leave the watch list (a claimer
        // waits `seam_wait_max` at most, then needs no seam).
        let watch_from = SystemTime::now().checked_sub(self.config.backfill.seam_wait_max * 2);
        let seam_watch = local
            .backfills
            .iter()
            .filter(|(id, created)| {
                local.expressions.contains_key(id) && watch_from.is_none_or(|from| **created >= from)
            })
            .map(|(id, _)| *id)
            .collect();
        let replaced = self.live.publish(LiveFilters {
            matcher,
            scoped,
            ids,
            rate_max_per_s,
            seam_watch,
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

    /// Writes the seams the filter threads sent (first writer wins in the
    /// registry). On failure they wait for the next turn; past the queue's
    /// bound they are dropped, which a claimer survives (it cuts the
    /// partition at its end offset).
    fn write_seams(&self, unwritten: &mut Vec<Seam>) {
        while unwritten.len() < SEAMS_PER_WRITE_MAX {
            match self.seams.try_recv() {
                Ok(seam) => unwritten.push(seam),
                Err(_) => break,
            }
        }
        if unwritten.is_empty() {
            return;
        }
        match self.registry.record_seams(unwritten) {
            Ok(()) => unwritten.clear(),
            Err(error) => {
                tracing::warn!(%error, seams = unwritten.len(), "cannot record backfill seams; will retry");
                metrics::counter!(names::REGISTRY_ERRORS).increment(1);
                if unwritten.len() >= super::backfill::seams::SEAMS_QUEUED_MAX {
                    metrics::counter!(names::SEAMS_DROPPED).increment(unwritten.len() as u64);
                    unwritten.clear();
                }
            }
        }
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

    /// Writes the raw topics this worker consumes now to the registry,
    /// once per `topics_announce_interval`: gateways check and offer a
    /// subscription's `topics` against them. A failure waits for the next turn.
    fn announce_topics_when_due(&self, next: &mut Instant) {
        if Instant::now() < *next {
            return;
        }
        *next = Instant::now() + self.config.topics_announce_interval;
        let announced = super::resolve_raw_topics(self.log.as_ref(), &self.config.raw_topics)
            .map_err(|error| error.to_string())
            .and_then(|topics| {
                let names: Vec<String> = topics.into_iter().map(|(topic, _)| topic).collect();
                self.registry.announce_topics(&names).map_err(|error| error.to_string())
            });
        if let Err(error) = announced {
            tracing::debug!(%error, "could not announce the raw topics; next turn");
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
