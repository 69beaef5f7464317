//! Stable, reference-counted ids for the keys that several filters share
//! (paths, full-text terms). An id stays the same while any filter uses its
//! key, so snapshots built at different times agree on it; freed ids are reused.

use std::borrow::Borrow;
use std::hash::Hash;

use rustc_hash::FxHashMap;

pub(crate) struct Interner<K> {
    ids: FxHashMap<K, u32>,
    /// Per id: the key and how many users hold it; `None` when free.
    entries: Vec<Option<(K, u32)>>,
    free: Vec<u32>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner { ids: FxHashMap::default(), entries: Vec::new(), free: Vec::new() }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    /// The id of `key`, taking one reference; `true` when the key is new.
    pub fn acquire<Q>(&mut self, key: &Q) -> (u32, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&id) = self.ids.get(key) {
            self.entries[id as usize].as_mut().expect("a mapped id is live").1 += 1;
            return (id, false);
        }
        let id = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() as u32 - 1
        });
        self.entries[id as usize] = Some((key.to_owned(), 1));
        self.ids.insert(key.to_owned(), id);
        (id, true)
    }

    /// Drops one reference; `true` when that was the last one and the id is free.
    pub fn release(&mut self, id: u32) -> bool {
        let entry = self.entries[id as usize].as_mut().expect("released ids are live");
        entry.1 -= 1;
        if entry.1 > 0 {
            return false;
        }
        let (key, _) = self.entries[id as usize].take().expect("checked above");
        self.ids.remove(&key);
        self.free.push(id);
        true
    }

    /// One past the largest id ever handed out.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Every live key with its id, by id.
    pub fn live(&self) -> impl Iterator<Item = (u32, &K)> {
        self.entries.iter().enumerate().filter_map(|(id, entry)| entry.as_ref().map(|(key, _)| (id as u32, key)))
    }
}
