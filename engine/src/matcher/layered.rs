//! A multi-pattern automaton that grows without being rebuilt whole.
//!
//! Building an Aho-Corasick automaton costs time in the number of patterns:
//! with 5,000 `endswith` needles, rebuilding it on every change made one
//! change cost 12–29 ms to publish (perf/results/worker.md). Here additions
//! go to a small *delta* automaton, rebuilt alone; removals leave their
//! pattern in place (a dead pattern only costs a false positive, which every
//! user of this type tolerates: hits are candidates, checked afterwards).
//! When the delta or the dead patterns grow past a fraction of the whole,
//! the next publish rebuilds one *base* automaton from the live patterns.

use std::collections::BTreeMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// The delta is folded into the base when it holds more than this many
/// patterns and more than a quarter of the base.
const DELTA_PATTERNS_MIN: usize = 64;

/// How the automata are built.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LayeredOptions {
    pub ascii_case_insensitive: bool,
}

/// The control side: live patterns with reference counts, and what the
/// published automata contain.
#[derive(Default)]
pub(crate) struct LayeredPatterns {
    options: LayeredOptions,
    live: BTreeMap<Vec<u8>, u32>,
    /// Patterns in the base automaton (live or dead).
    base: Vec<Vec<u8>>,
    /// Patterns added since the base was built, in the delta automaton.
    delta: Vec<Vec<u8>>,
    /// Patterns in the automata that are no longer live.
    dead: usize,
    /// The delta gained a pattern since the last publish.
    delta_changed: bool,
    base_layer: Option<Arc<Layer>>,
    delta_layer: Option<Arc<Layer>>,
}

/// One automaton and its patterns, by pattern index.
pub(crate) struct Layer {
    automaton: AhoCorasick,
    patterns: Vec<Vec<u8>>,
}

/// The snapshot side: the base and delta automata.
#[derive(Default)]
pub(crate) struct Layers {
    layers: Vec<Arc<Layer>>,
}

impl LayeredPatterns {
    pub fn new(options: LayeredOptions) -> Self {
        LayeredPatterns { options, ..LayeredPatterns::default() }
    }

    /// Counts one more use of `pattern`.
    pub fn add(&mut self, pattern: &[u8]) {
        let references = self.live.entry(pattern.to_vec()).or_insert(0);
        *references += 1;
        if *references > 1 {
            return;
        }
        // A pattern that died and comes back is still in the automata.
        if self.dead > 0
            && (self.base.iter().any(|known| known == pattern) || self.delta.iter().any(|known| known == pattern))
        {
            self.dead -= 1;
            return;
        }
        self.delta.push(pattern.to_vec());
        self.delta_changed = true;
    }

    /// Counts one use of `pattern` less.
    pub fn remove(&mut self, pattern: &[u8]) {
        let references = self.live.get_mut(pattern).expect("removed patterns were added");
        *references -= 1;
        if *references == 0 {
            self.live.remove(pattern);
            self.dead += 1;
        }
    }

    /// The automata for the current patterns: the delta rebuilt if it grew, or
    /// everything folded into a new base when the delta or the dead
    /// patterns have grown too large.
    pub fn publish(&mut self) -> Layers {
        let total = self.base.len() + self.delta.len();
        let fold = (self.live.is_empty() && total > 0)
            || (self.delta.len() > DELTA_PATTERNS_MIN && self.delta.len() * 4 > self.base.len())
            || self.dead * 2 > total;
        if fold {
            self.base = self.live.keys().cloned().collect();
            self.delta.clear();
            self.dead = 0;
            self.base_layer = self.build(&self.base);
            self.delta_layer = None;
        } else if self.delta_changed {
            self.delta_layer = self.build(&self.delta);
        }
        self.delta_changed = false;
        Layers { layers: self.base_layer.iter().chain(&self.delta_layer).cloned().collect() }
    }

    fn build(&self, patterns: &[Vec<u8>]) -> Option<Arc<Layer>> {
        if patterns.is_empty() {
            return None;
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(self.options.ascii_case_insensitive)
            // Standard semantics: overlapping searches report every pattern.
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .expect("patterns are within aho-corasick's limits");
        Some(Arc::new(Layer { automaton, patterns: patterns.to_vec() }))
    }
}

impl Layers {
    /// True when there is no pattern at all.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// True when some pattern (perhaps a dead one) occurs in `haystack`.
    #[inline]
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.layers.iter().any(|layer| layer.automaton.is_match(haystack))
    }

    /// Calls `hit` with every pattern (perhaps dead) occurring in
    /// `haystack` and where it starts; stops when `hit` returns true.
    #[inline]
    pub fn any_hit(&self, haystack: &[u8], mut hit: impl FnMut(&[u8], usize) -> bool) -> bool {
        self.layers.iter().any(|layer| {
            layer
                .automaton
                .find_overlapping_iter(haystack)
                .any(|found| hit(&layer.patterns[found.pattern().as_usize()], found.start()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(layers: &Layers, haystack: &str) -> Vec<String> {
        let mut found = Vec::new();
        layers.any_hit(haystack.as_bytes(), |pattern, _| {
            found.push(String::from_utf8(pattern.to_vec()).unwrap());
            false
        });
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn additions_go_to_the_delta_and_removals_stay_until_a_fold() {
        let mut patterns = LayeredPatterns::new(LayeredOptions::default());
        for index in 0..200 {
            patterns.add(format!("p{index:03}").as_bytes());
        }
        let first = patterns.publish();
        assert_eq!(first.layers.len(), 1, "the first publish folds everything into the base");
        patterns.add(b"new");
        let second = patterns.publish();
        assert_eq!(second.layers.len(), 2);
        assert_eq!(hits(&second, "a new p007"), ["new", "p007"]);
        patterns.remove(b"p007");
        let third = patterns.publish();
        // The dead pattern may still be reported; the live ones must be.
        assert!(hits(&third, "new p008").contains(&"p008".to_owned()));
        for index in (0..150).filter(|&index| index != 7) {
            patterns.remove(format!("p{index:03}").as_bytes());
        }
        let folded = patterns.publish();
        assert_eq!(hits(&folded, "p007 p100 p199"), ["p199"], "half the patterns dead: rebuilt from the live ones");
    }

    #[test]
    fn a_pattern_that_comes_back_is_found() {
        let mut patterns = LayeredPatterns::new(LayeredOptions { ascii_case_insensitive: true });
        patterns.add(b"abc");
        patterns.publish();
        patterns.remove(b"abc");
        patterns.publish();
        patterns.add(b"abc");
        assert!(patterns.publish().is_match(b"xxABCxx"));
        patterns.remove(b"abc");
        assert!(!patterns.publish().is_match(b"xxABCxx"), "no live pattern left: folded to nothing");
    }
}
