//! A hash map whose clone is cheap and whose updates copy little: the
//! entries are spread over a fixed number of shards, each behind an `Arc`.
//!
//! The matcher's snapshots share these maps. Publishing a snapshot after one
//! change clones the shard array (64 pointers) and the one shard the change
//! touched (about 1/64 of the entries), not the whole index: that is what
//! keeps "one change in 50,000 filters, published" within milliseconds.
//! Lookups cost one extra indexing step over a plain `FxHashMap`.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use rustc_hash::{FxBuildHasher, FxHashMap};

/// Shard count: a power of two, so the shard is a mask of the hash.
const SHARDS: usize = 64;

#[derive(Clone)]
pub(crate) struct CowMap<K, V> {
    shards: Arc<[Arc<FxHashMap<K, V>>; SHARDS]>,
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        CowMap { shards: Arc::new(std::array::from_fn(|_| Arc::new(FxHashMap::default()))) }
    }
}

/// Which bits of the hash choose the shard: bits 32 to 37. Each shard's
/// table uses the hash too, its low bits for the bucket and its top 7 bits
/// as the tag compared before any key (hashbrown's control bytes). The shard
/// was first chosen by the top 6 bits, so the keys of one shard shared 6 of
/// the 7 tag bits: every other slot probed passed the tag and cost a key
/// comparison, a cache miss on the key's bytes. In a draining worker with
/// 10,000 `user.id` filters those comparisons were a quarter of the filter
/// threads' time (perf/results/worker.md, 2026-12-05).
const SHARD_SHIFT: u32 = 32;

fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    (FxBuildHasher.hash_one(key) >> SHARD_SHIFT) as usize % SHARDS
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[shard_of(key)].get(key)
    }

    /// Applies `update` to the entry of `key` (created with `V::default()`
    /// when missing); the entry is removed when `update` returns false.
    pub fn update<Q>(&mut self, key: &Q, make_key: impl FnOnce() -> K, update: impl FnOnce(&mut V) -> bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Default,
    {
        let shard = Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[shard_of(key)]);
        match shard.get_mut(key) {
            Some(value) => {
                if !update(value) {
                    shard.remove(key);
                }
            }
            None => {
                let mut value = V::default();
                if update(&mut value) {
                    shard.insert(make_key(), value);
                }
            }
        }
    }

    /// The number of entries (tests only: the matcher never needs it).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of one shard must spread over hashbrown's 128 tags (the
    /// top 7 bits of the hash), or most probes compare keys.
    #[test]
    fn the_keys_of_one_shard_spread_over_every_tag() {
        let mut tags = std::collections::BTreeSet::new();
        for index in 0..100_000 {
            let key = format!("u-{index}");
            if shard_of(key.as_str()) == 0 {
                tags.insert(FxBuildHasher.hash_one(key.as_str()) >> 57);
            }
        }
        assert_eq!(tags.len(), 128, "tags used by the keys of shard 0");
    }

    #[test]
    fn clones_share_until_written() {
        let mut map: CowMap<Arc<str>, u32> = CowMap::default();
        for index in 0..1000 {
            let key = format!("k{index}");
            map.update(
                key.as_str(),
                || key.as_str().into(),
                |value| {
                    *value += 1;
                    true
                },
            );
        }
        let snapshot = map.clone();
        map.update("k1", || "k1".into(), |_| false);
        map.update(
            "new",
            || "new".into(),
            |value| {
                *value = 7;
                true
            },
        );
        assert_eq!(snapshot.len(), 1000);
        assert_eq!(snapshot.get("k1"), Some(&1));
        assert_eq!(snapshot.get("new"), None);
        assert_eq!(map.len(), 1000);
        assert_eq!(map.get("k1"), None);
        assert_eq!(map.get("new"), Some(&7));
    }
}
