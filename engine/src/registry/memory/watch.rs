//! One watcher of the in-memory registry: a bounded queue of changes,
//! replaced by a single `Reset` when it overflows.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::RegistryState;
use crate::registry::{Change, RegistryError, RegistryWatch};

/// Changes waiting for one watcher.
pub(crate) struct WatcherQueue {
    pending: Mutex<Pending>,
    /// Signalled on every push.
    pushed: Condvar,
    /// Bound on `Pending::changes`.
    changes_max: usize,
}

struct Pending {
    changes: VecDeque<Change>,
    /// The queue overflowed: the watcher must resynchronise with a `Reset`.
    overflowed: bool,
}

impl WatcherQueue {
    pub(crate) fn new(changes_max: usize) -> Self {
        WatcherQueue {
            pending: Mutex::new(Pending { changes: VecDeque::new(), overflowed: false }),
            pushed: Condvar::new(),
            changes_max: changes_max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `change`; at the bound, drops the whole queue and marks it
    /// overflowed instead (the watcher will get a `Reset`).
    pub(crate) fn push(&self, change: Change) {
        let mut pending = self.lock();
        if pending.overflowed {
            return;
        }
        if pending.changes.len() >= self.changes_max {
            pending.changes.clear();
            pending.overflowed = true;
        } else {
            pending.changes.push_back(change);
        }
        self.pushed.notify_one();
    }
}

pub(crate) struct MemoryWatch {
    queue: Arc<WatcherQueue>,
    /// The registry, to take a snapshot after an overflow.
    registry: Arc<Mutex<RegistryState>>,
}

impl MemoryWatch {
    pub(crate) fn new(queue: Arc<WatcherQueue>, registry: Arc<Mutex<RegistryState>>) -> Self {
        MemoryWatch { queue, registry }
    }

    fn resynchronise(&self) -> Change {
        // Registry lock first, then the queue's (the order `publish` takes
        // them in): no change can be pushed between the snapshot and the
        // clearing of the overflow mark.
        let registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pending = self.queue.lock();
        pending.changes.clear();
        pending.overflowed = false;
        Change::Reset(registry.snapshot())
    }
}

impl RegistryWatch for MemoryWatch {
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Change>, RegistryError> {
        let mut pending = self.queue.lock();
        if pending.changes.is_empty() && !pending.overflowed {
            pending = self
                .queue
                .pushed
                .wait_timeout_while(pending, timeout, |p| p.changes.is_empty() && !p.overflowed)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        if pending.overflowed {
            drop(pending);
            return Ok(Some(self.resynchronise()));
        }
        Ok(pending.changes.pop_front())
    }
}
