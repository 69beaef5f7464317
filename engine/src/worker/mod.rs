//! Filter workers: the raw topics in (one or many, `--raw-topics`), one
//! record per (event, filter) out to the filtered topic, filters followed
//! live from the registry.
//!
//! A worker process runs one control thread and `threads` filter threads
//! (one per core by default, each pinned). Each filter thread is a member
//! of one consumer group over the raw topic and processes batches:
//! poll → match → produce, and once per commit interval flush → commit
//! (see `filter_thread.rs` for the at-least-once argument). The control
//! thread follows the registry and publishes each rebuilt matcher with an
//! atomic swap; the filter threads load it after every poll, with no lock.
//!
//! The same code runs on Kafka + PostgreSQL (`clicktail worker`) and on
//! the in-memory log + registry (`clicktail demo`, fast tests): see
//! [`spawn_workers`].
//!
//! Layout:
//! - `config.rs`: [`WorkerConfig`] and its defaults, the retry backoff;
//! - `filtered_record.rs`: the filtered topic's wire format and partition mapping;
//! - `live.rs`: the published filter set ([`LiveFilters`]);
//! - `control.rs`: the control thread (registry → rebuild → publish, expiry
//!   sweep, writing the backfill seams the filter threads report);
//! - `backfill/`: time travel: the runner threads that claim backfill jobs
//!   and scan the raw topic's retention, and the seams;
//! - `filter_thread.rs`: one filter thread's batch loop;
//! - `topic_slots.rs`: dense numbers for the (topic, partition) pairs a
//!   filter thread reads (budget shares, seams, per-topic counts);
//! - `health.rs`: [`WorkerHealth`], what `/healthz` and `/readyz` check;
//! - `metrics.rs`: metric names, [`WorkerStats`], the `/metrics`, `/healthz`
//!   and `/readyz` endpoint.

mod backfill;
mod budget;
mod config;
mod control;
mod filter_thread;
pub mod filtered_record;
mod health;
#[cfg(test)]
mod health_tests;
mod live;
pub mod metrics;
mod scopes;
mod topic_slots;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use config::{BackfillConfig, WorkerConfig};
pub use health::WorkerHealth;
pub use live::LiveFilters;
pub use metrics::WorkerStats;

use control::ControlThread;
use filter_thread::FilterThread;
use live::LiveSlot;

use crate::log::{Log, LogError, RawTopics, SharedGroup};
use crate::matcher::FilterSet;
use crate::registry::Registry;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("topic {topic:?} is not usable: {source} (create it first, e.g. `scripts/services.sh topics-create`)")]
    Topic { topic: String, source: LogError },
    /// No broker answered the topic check: the brokers, not a topic, are at fault.
    #[error(transparent)]
    Brokers(LogError),
    #[error("cannot start worker thread {name:?}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("worker thread {name:?} panicked; see the log above")]
    Panicked { name: String },
}

/// Runs worker threads until [`WorkerHandle::stop`] (or a drop of the handle).
pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<(String, JoinHandle<()>)>,
    live: Arc<LiveSlot>,
    stats: Arc<WorkerStats>,
    health: Arc<WorkerHealth>,
}

/// Starts a control thread and the filter threads of `config` over `log`
/// and `registry`. Returns once the threads run; they wait for the
/// registry's first full load before consuming anything.
///
/// Fails when the raw or filtered topic does not exist (topics are created
/// by the operator, never implicitly), or when no broker answers.
pub fn spawn_workers(
    config: WorkerConfig,
    log: Arc<dyn Log>,
    registry: Arc<dyn Registry>,
) -> Result<WorkerHandle, WorkerError> {
    // Named topics must exist; a pattern may match none yet.
    let named =
        config.raw_topics.names().iter().chain([&config.filtered_topic]).chain(config.dead_letter_topic.as_ref());
    for topic in named {
        log.partition_count(topic).map_err(|source| match source {
            LogError::Unreachable { .. } => WorkerError::Brokers(source),
            source => WorkerError::Topic { topic: topic.clone(), source },
        })?;
    }
    let mut set = FilterSet::new(config.matcher_options);
    let live = Arc::new(LiveSlot::empty(&mut set, config.thread_count()));
    let stats = Arc::new(WorkerStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let health =
        Arc::new(WorkerHealth::new(config.thread_count(), config.stall_max, Arc::clone(&live), Arc::clone(&stop)));
    let mut handle = WorkerHandle {
        stop: Arc::clone(&stop),
        threads: Vec::new(),
        live: Arc::clone(&live),
        stats: Arc::clone(&stats),
        health: Arc::clone(&health),
    };
    let (seams_out, seams_in) = backfill::seams::channel();
    let control = ControlThread {
        config: config.clone(),
        registry: Arc::clone(&registry),
        log: Arc::clone(&log),
        seams: seams_in,
        live: Arc::clone(&live),
        stats: Arc::clone(&stats),
        stop: Arc::clone(&stop),
        health: Arc::clone(&health),
    };
    handle.spawn("clicktail-control".to_owned(), move || control.run(set))?;
    let cores = if config.pin_threads { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
    // One group member for every filter thread (`SharedGroup`).
    let group: Arc<dyn SharedGroup> =
        Arc::from(log.shared_group(&config.group_id, &config.raw_topics, config.thread_count()));
    for index in 0..config.thread_count() {
        let thread = FilterThread {
            index,
            config: config.clone(),
            log: Arc::clone(&log),
            group: Arc::clone(&group),
            live: Arc::clone(&live),
            stats: Arc::clone(&stats),
            stop: Arc::clone(&stop),
            health: Arc::clone(&health),
            core: (!cores.is_empty()).then(|| cores[index % cores.len()]),
            seams: seams_out.clone(),
        };
        handle.spawn(format!("clicktail-filter-{index}"), move || thread.run())?;
    }
    // Off the filter threads (and unpinned): a scan competes with live
    // matching only for the scheduler, never inside its loop.
    for index in 0..config.backfill.threads {
        let runner = backfill::BackfillRunner {
            index,
            config: config.clone(),
            log: Arc::clone(&log),
            registry: Arc::clone(&registry),
            stats: Arc::clone(&stats),
            stop: Arc::clone(&stop),
            claimer: backfill::claimer_name(index),
        };
        handle.spawn(format!("clicktail-backfill-{index}"), move || runner.run())?;
    }
    Ok(handle)
}

/// The raw topics `topics` consumes now, each with its partition count,
/// sorted by name: the names, and the topics of the log the pattern matches.
pub(crate) fn resolve_raw_topics(log: &dyn Log, topics: &RawTopics) -> Result<Vec<(String, u32)>, LogError> {
    let existing = if topics.pattern().is_some() { log.topic_names()? } else { Vec::new() };
    topics
        .resolve(existing.iter().map(String::as_str))
        .into_iter()
        .map(|topic| {
            let partitions = log.partition_count(&topic)?;
            Ok((topic, partitions))
        })
        .collect()
}

impl WorkerHandle {
    fn spawn(&mut self, name: String, body: impl FnOnce() + Send + 'static) -> Result<(), WorkerError> {
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(body)
            .map_err(|source| WorkerError::Spawn { name: name.clone(), source })?;
        self.threads.push((name, thread));
        Ok(())
    }

    /// The flag that stops the workers when set; register it with a signal
    /// handler (`signal_hook::flag::register(SIGTERM, flag)`).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Asks every thread to stop: each filter thread finishes its batch and
    /// commits; the group member leaves with the last of them.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The filter set the threads currently match against.
    pub fn live_filters(&self) -> Arc<LiveFilters> {
        self.live.load()
    }

    /// The oldest filter-set generation any filter thread may still match
    /// with: a filter published in generation `g` is live on every thread
    /// once this is `>= g`. Each thread records the version it loads after
    /// every poll, busy or idle (so within one batch or one `poll_timeout`).
    pub fn generation_on_every_thread(&self) -> u64 {
        self.live.generation_on_every_thread()
    }

    /// True once every filter thread matches with the filter set published
    /// now (or a newer one): what [`Self::live_filters`] shows is then in
    /// force for every event read from here on.
    pub fn live_filters_on_every_thread(&self) -> bool {
        self.generation_on_every_thread() >= self.live.load().generation
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Liveness and readiness, as `/healthz` and `/readyz` report them.
    pub fn health(&self) -> Arc<WorkerHealth> {
        Arc::clone(&self.health)
    }

    /// Stops (if not already asked) and waits for every thread.
    pub fn join(mut self) -> Result<(), WorkerError> {
        self.stop();
        self.join_threads()
    }

    fn join_threads(&mut self) -> Result<(), WorkerError> {
        let mut result = Ok(());
        for (name, thread) in self.threads.drain(..) {
            if thread.join().is_err() && result.is_ok() {
                result = Err(WorkerError::Panicked { name });
            }
        }
        result
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop();
        let _ = self.join_threads();
    }
}
