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

fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    // The high bits: FxHash mixes them best, and the shard's own table uses the low ones.
    (FxBuildHasher.hash_one(key) >> 58) as usize % SHARDS
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
