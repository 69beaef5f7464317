//! What `/healthz` and `/readyz` of a worker check: every thread's progress
//! and the facts readiness depends on, kept as atomics the threads write as
//! they go and the metrics listener reads.
//!
//! - Liveness: each thread (the control thread and every filter thread)
//!   stamps a heartbeat at every turn of its loop, idle polls and retry
//!   waits included. A thread that exited (a panic) or whose stamp is older
//!   than [`WorkerConfig::stall_max`](super::WorkerConfig::stall_max) is
//!   named in the failure: a process whose control thread died used to
//!   answer 200 while no filter change was applied any more.
//! - Readiness: the registry's full set is loaded and its watch is open,
//!   the matcher every filter thread uses is the control thread's newest
//!   (no rebuild pending or lost), and every filter thread is a member of
//!   the consumer group with its assignment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::LiveSlot;

/// Index of the control thread in [`WorkerHealth`]; filter thread `i` is `i + 1`.
pub(crate) const CONTROL: usize = 0;

/// The progress of one thread.
struct ThreadProgress {
    /// The thread's name, as in the logs (`clicktail-filter-0`).
    name: String,
    /// Milliseconds since [`WorkerHealth::started`] at the thread's last turn.
    beat_ms: AtomicU64,
    /// Set when the thread's body returned or unwound.
    exited: AtomicBool,
}

/// Shared by the worker threads (writers) and the metrics listener (reader).
pub struct WorkerHealth {
    /// The origin of the heartbeat stamps.
    started: Instant,
    /// The control thread, then each filter thread.
    threads: Vec<ThreadProgress>,
    /// A thread whose last turn is older than this is reported stuck.
    stall_max: Duration,
    /// Per filter thread: its consumer is in the group with its assignment.
    assigned: Vec<AtomicBool>,
    /// The control thread's registry watch is open (its last call answered).
    registry_connected: AtomicBool,
    /// The newest generation the control thread has started to build: the
    /// published one lags it while a rebuild runs, and for ever if the
    /// rebuild failed.
    wanted_generation: AtomicU64,
    /// The published filter set and what each filter thread loaded.
    live: Arc<LiveSlot>,
    /// The workers' stop flag: a stopping worker is neither healthy nor ready.
    stop: Arc<AtomicBool>,
}

impl WorkerHealth {
    pub(crate) fn new(filter_threads: usize, stall_max: Duration, live: Arc<LiveSlot>, stop: Arc<AtomicBool>) -> Self {
        let progress =
            |name: String| ThreadProgress { name, beat_ms: AtomicU64::new(0), exited: AtomicBool::new(false) };
        let threads = std::iter::once(progress("clicktail-control".to_owned()))
            .chain((0..filter_threads).map(|index| progress(format!("clicktail-filter-{index}"))))
            .collect();
        WorkerHealth {
            started: Instant::now(),
            threads,
            stall_max,
            assigned: (0..filter_threads).map(|_| AtomicBool::new(false)).collect(),
            registry_connected: AtomicBool::new(false),
            wanted_generation: AtomicU64::new(0),
            live,
            stop,
        }
    }

    /// The name of thread `thread` (see [`CONTROL`]).
    pub(crate) fn thread_name(&self, thread: usize) -> &str {
        &self.threads[thread].name
    }

    /// Records that `thread` made a turn of its loop now.
    pub(crate) fn beat(&self, thread: usize) {
        self.threads[thread].beat_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Marks `thread` as running until the returned guard drops (its body
    /// returned or unwound).
    pub(crate) fn running(self: &Arc<Self>, thread: usize) -> RunningMark {
        self.beat(thread);
        RunningMark { health: Arc::clone(self), thread }
    }

    pub(crate) fn set_assigned(&self, filter_thread: usize, assigned: bool) {
        self.assigned[filter_thread].store(assigned, Ordering::Relaxed);
    }

    pub(crate) fn set_registry_connected(&self, connected: bool) {
        self.registry_connected.store(connected, Ordering::Relaxed);
    }

    /// Called by the control thread before it builds `generation`.
    pub(crate) fn building(&self, generation: u64) {
        self.wanted_generation.store(generation, Ordering::Relaxed);
    }

    /// `Ok` while every thread runs and made a turn within `stall_max`;
    /// otherwise what is wrong, naming the threads.
    pub fn check_alive(&self) -> Result<(), String> {
        if self.stop.load(Ordering::Relaxed) {
            return Err("stopping".to_owned());
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        let stall_max_ms = self.stall_max.as_millis() as u64;
        let mut problems = Vec::new();
        for thread in &self.threads {
            let idle_ms = now_ms.saturating_sub(thread.beat_ms.load(Ordering::Relaxed));
            if thread.exited.load(Ordering::Relaxed) {
                problems.push(format!("thread {} exited", thread.name));
            } else if idle_ms > stall_max_ms {
                problems.push(format!("thread {} made no progress for {idle_ms} ms", thread.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// `Ok` when the worker is alive, the registry is loaded and watched,
    /// every filter thread matches with the newest filter set and holds
    /// its assignment; otherwise what is missing.
    pub fn check_ready(&self) -> Result<(), String> {
        self.check_alive()?;
        let published = self.live.load().generation;
        if published == 0 {
            return Err("the registry's filters are not loaded yet".to_owned());
        }
        if !self.registry_connected.load(Ordering::Relaxed) {
            return Err("the registry watch is not connected".to_owned());
        }
        let wanted = self.wanted_generation.load(Ordering::Relaxed);
        if published < wanted {
            return Err(format!("filter set generation {wanted} is not published (published: {published})"));
        }
        let on_every_thread = self.live.generation_on_every_thread();
        if on_every_thread < published {
            return Err(format!(
                "filter set generation {published} is not loaded by every filter thread (oldest: {on_every_thread})"
            ));
        }
        let unassigned: Vec<&str> = (0..self.assigned.len())
            .filter(|&index| !self.assigned[index].load(Ordering::Relaxed))
            .map(|index| self.thread_name(index + 1))
            .collect();
        if !unassigned.is_empty() {
            return Err(format!("no partition assignment yet for {}", unassigned.join(", ")));
        }
        Ok(())
    }
}

/// Marks a thread exited when dropped, including by a panic's unwinding.
pub(crate) struct RunningMark {
    health: Arc<WorkerHealth>,
    thread: usize,
}

impl Drop for RunningMark {
    fn drop(&mut self) {
        self.health.threads[self.thread].exited.store(true, Ordering::Relaxed);
    }
}
