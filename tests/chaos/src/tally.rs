//! Counting what arrived: per event of the numbered set, how many times.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::events::{field, Events};

/// The arrivals of one stream (one filter id on the filtered topic, or one
/// `/ws` session).
pub struct Tally {
    /// Arrivals per event index.
    counts: Mutex<Vec<u32>>,
    /// Probe numbers seen (see `events::probe_event`).
    probes: Mutex<HashSet<u64>>,
    /// Records whose event is neither numbered nor a probe.
    pub unknown: AtomicUsize,
    /// Every arrival.
    pub total: AtomicUsize,
}

/// One tally's figures against an expected set.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub expected: usize,
    pub received: usize,
    pub missing: usize,
    pub duplicates: usize,
    /// Numbered events that arrived though they were not expected.
    pub unexpected: usize,
}

impl Tally {
    pub fn new(events: usize) -> Self {
        Tally {
            counts: Mutex::new(vec![0; events]),
            probes: Mutex::new(HashSet::new()),
            unknown: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    /// Records one arrival of the event whose JSON is `event`.
    pub fn record(&self, events: &Events, event: &[u8]) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let id = field(event, b"\"event_id\":\"");
        if let Some(probe) = id.and_then(|id| id.strip_prefix("probe-")).and_then(|n| n.parse().ok()) {
            self.probes.lock().unwrap().insert(probe);
        } else if let Some(index) = id.and_then(|id| events.index_of(id)) {
            self.counts.lock().unwrap()[index] += 1;
        } else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn saw_probe(&self, number: u64) -> bool {
        self.probes.lock().unwrap().contains(&number)
    }

    /// Distinct events of `expected` that arrived.
    pub fn received_of(&self, expected: &[usize]) -> usize {
        let counts = self.counts.lock().unwrap();
        expected.iter().filter(|&&i| counts[i] > 0).count()
    }

    /// The figures of `expected`, the matches among the events of `played`
    /// (arrivals of events outside `played` are not this count's business:
    /// a filter that went live mid-stream may match earlier ones).
    pub fn counts(&self, expected: &[usize], played: std::ops::Range<usize>) -> Counts {
        let counts = self.counts.lock().unwrap();
        let counts = &counts[played.clone()];
        let received = expected.iter().filter(|&&i| counts[i - played.start] > 0).count();
        let duplicates = counts.iter().map(|&c| c.saturating_sub(1) as usize).sum();
        let arrived = counts.iter().filter(|&&c| c > 0).count();
        Counts {
            expected: expected.len(),
            received,
            missing: expected.len() - received,
            duplicates,
            unexpected: arrived - received,
        }
    }
}
