//! The path trie of a compiled matcher and the walk that pulls, from a
//! parsed event, the values of exactly the paths that some filter reads.
//!
//! Subtrees that no path enters are skipped by their tape span, so the cost
//! of an event grows with the paths in use, not with the event's size.

use simd_json::Node;

use super::interner::Interner;
use crate::event::span;
use crate::language::Path;

/// A path read by some filter. Ids are stable while any filter uses the
/// path, so snapshots built at different times agree on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PathId(pub u32);

/// The paths of a filter set, reference-counted by the filters that read them.
pub(crate) type PathTable = Interner<Path>;

const ROOT: usize = 0;

#[derive(Default)]
struct TrieNode {
    children: Children,
    /// The path that ends here, when some filter reads it.
    path: Option<PathId>,
}

/// A key reduced to its length and at most sixteen of its bytes: the first
/// and last eight (overlapping when shorter), or four and four, or the first,
/// middle and last byte. For keys of up to 16 bytes these cover every byte,
/// so equal digests mean equal keys without comparing the bytes again.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyDigest {
    length: usize,
    head: u64,
    tail: u64,
}

/// Keys of at most this many bytes are identified by their digest alone.
const DIGEST_EXACT_BYTES_MAX: usize = 16;

impl KeyDigest {
    #[inline]
    fn of(key: &[u8]) -> Self {
        let length = key.len();
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        let half = |bytes: &[u8]| u64::from(u32::from_le_bytes(bytes.try_into().expect("four bytes")));
        let (head, tail) = if length >= 8 {
            (word(&key[..8]), word(&key[length - 8..]))
        } else if length >= 4 {
            (half(&key[..4]), half(&key[length - 4..]))
        } else if length > 0 {
            let spread = u64::from(key[0]) | u64::from(key[length / 2]) << 8 | u64::from(key[length - 1]) << 16;
            (spread, 0)
        } else {
            (0, 0)
        };
        KeyDigest { length, head, tail }
    }

    /// The home slot in a table of `1 << bits` slots (`bits` at least 1).
    #[inline]
    fn slot(&self, bits: u32) -> usize {
        let mixed = (self.head ^ self.tail.rotate_left(29) ^ self.length as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - bits)) as usize
    }
}

/// One child of a trie node.
struct Child {
    digest: KeyDigest,
    /// The key's bytes, compared only for keys over `DIGEST_EXACT_BYTES_MAX`.
    key: Box<str>,
    node: u32,
}

/// The children of a trie node, by key: an open-addressed table at most
/// half full, probed linearly. The walk looks up every key of every object
/// it enters (about 70 per clickstream event, most of them absent), so a
/// lookup hashes and compares a fixed digest (`KeyDigest`) instead of the
/// key's bytes. Against an `FxHashMap<Box<str>, u32>` (a hash over every
/// byte, then `memcmp`), see engine/DESIGN.md section 5 for the figures.
#[derive(Default)]
struct Children {
    /// `1 << bits` slots, or none when the node has no children.
    slots: Box<[Option<Child>]>,
    bits: u32,
    len: usize,
}

impl Children {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn get(&self, key: &str) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let digest = KeyDigest::of(key.as_bytes());
        let mask = self.slots.len() - 1;
        let mut slot = digest.slot(self.bits);
        // At most half full: every probe sequence reaches an empty slot.
        while let Some(child) = &self.slots[slot] {
            if child.digest == digest && (digest.length <= DIGEST_EXACT_BYTES_MAX || *child.key == *key) {
                return Some(child.node);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// The child at `key`, inserted as `new_node` when absent.
    fn get_or_insert(&mut self, key: &str, new_node: u32) -> u32 {
        if let Some(node) = self.get(key) {
            return node;
        }
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        self.place(Child { digest: KeyDigest::of(key.as_bytes()), key: key.into(), node: new_node });
        self.len += 1;
        new_node
    }

    fn grow(&mut self) {
        self.bits = (self.bits + 1).max(2);
        let old = std::mem::replace(&mut self.slots, (0..1usize << self.bits).map(|_| None).collect());
        for child in old.into_vec().into_iter().flatten() {
            self.place(child);
        }
    }

    fn place(&mut self, child: Child) {
        let mask = self.slots.len() - 1;
        let mut slot = child.digest.slot(self.bits);
        while self.slots[slot].is_some() {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = Some(child);
    }
}

/// All the paths of a filter set, sharing prefixes. Rebuilt when a path
/// appears or disappears, which is rare next to filter changes.
pub(crate) struct PathTrie {
    nodes: Vec<TrieNode>,
    /// Largest path id + 1, the size of per-path scratch arrays.
    path_capacity: usize,
}

impl PathTrie {
    pub fn build(table: &PathTable) -> Self {
        let mut nodes = vec![TrieNode::default()];
        for (id, path) in table.live() {
            let mut node = ROOT;
            for segment in &path.segments {
                let next = nodes.len() as u32;
                let child = nodes[node].children.get_or_insert(segment.as_str(), next);
                if child == next {
                    nodes.push(TrieNode::default());
                }
                node = child as usize;
            }
            nodes[node].path = Some(PathId(id));
        }
        PathTrie { nodes, path_capacity: table.capacity() }
    }
}

/// The values that one event has at each path of the trie. Reused from
/// event to event: only the paths touched by the last event are cleared.
#[derive(Default)]
pub(crate) struct ExtractedValues {
    /// Per path: tape indices of its values, arrays flattened into their elements.
    values: Vec<Vec<u32>>,
    /// Per path: the walk reached it (a `null` or an empty array counts).
    present: Vec<bool>,
    /// Paths whose `values` or `present` were set by the current event.
    touched: Vec<PathId>,
}

impl ExtractedValues {
    pub fn values(&self, path: PathId) -> &[u32] {
        &self.values[path.0 as usize]
    }

    pub fn is_present(&self, path: PathId) -> bool {
        self.present[path.0 as usize]
    }

    /// Paths reached by the current event, each once.
    pub fn touched(&self) -> &[PathId] {
        &self.touched
    }

    /// Walks the event's tape (root at index 0) along `trie`.
    pub fn extract(&mut self, trie: &PathTrie, tape: &[Node<'_>]) {
        for path in self.touched.drain(..) {
            self.values[path.0 as usize].clear();
            self.present[path.0 as usize] = false;
        }
        if self.values.len() < trie.path_capacity {
            self.values.resize_with(trie.path_capacity, Vec::new);
            self.present.resize(trie.path_capacity, false);
        }
        self.descend(trie, tape, 0, ROOT);
    }

    /// Applies the steps below `node` to the value at `index`: keys of an
    /// object, or the elements of an array (nested arrays flattened).
    fn descend(&mut self, trie: &PathTrie, tape: &[Node<'_>], index: usize, node: usize) {
        let children = &trie.nodes[node].children;
        match tape[index] {
            Node::Object { len, .. } => {
                let mut position = index + 1;
                for _ in 0..len {
                    let key = match tape[position] {
                        Node::String(key) => key,
                        _ => unreachable!("simd-json tapes hold a string before each object value"),
                    };
                    position += 1;
                    if let Some(child) = children.get(key) {
                        self.visit(trie, tape, position, child as usize);
                    }
                    position += span(tape, position);
                }
            }
            Node::Array { len, .. } => {
                let mut position = index + 1;
                for _ in 0..len {
                    self.descend(trie, tape, position, node);
                    position += span(tape, position);
                }
            }
            _ => {}
        }
    }

    /// The walk of `node`'s path reached the value at `index`.
    fn visit(&mut self, trie: &PathTrie, tape: &[Node<'_>], index: usize, node: usize) {
        let trie_node = &trie.nodes[node];
        if let Some(path) = trie_node.path {
            let slot = path.0 as usize;
            if !self.present[slot] {
                self.present[slot] = true;
                self.touched.push(path);
            }
            flatten_into(tape, index, &mut self.values[slot]);
        }
        if !trie_node.children.is_empty() {
            self.descend(trie, tape, index, node);
        }
    }
}

/// Pushes the value at `index`, or, for an array, its elements flattened.
fn flatten_into(tape: &[Node<'_>], index: usize, out: &mut Vec<u32>) {
    if let Node::Array { len, .. } = tape[index] {
        let mut position = index + 1;
        for _ in 0..len {
            flatten_into(tape, position, out);
            position += span(tape, position);
        }
    } else {
        out.push(index as u32);
    }
}

/// Calls `on_string` with every string value of the event (keys excluded).
pub(crate) fn for_each_string_value<'t>(tape: &'t [Node<'t>], index: usize, on_string: &mut impl FnMut(&'t str)) {
    match tape[index] {
        Node::String(text) => on_string(text),
        Node::Object { len, .. } => {
            let mut position = index + 1;
            for _ in 0..len {
                position += 1;
                for_each_string_value(tape, position, on_string);
                position += span(tape, position);
            }
        }
        Node::Array { len, .. } => {
            let mut position = index + 1;
            for _ in 0..len {
                for_each_string_value(tape, position, on_string);
                position += span(tape, position);
            }
        }
        Node::Static(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::Children;

    /// Keys that share prefixes, suffixes, lengths and digest bytes, of every
    /// length from 0 to 40, some present and some not: `Children` must agree
    /// with a plain map on all of them.
    #[test]
    fn children_agree_with_a_plain_map() {
        let mut keys = Vec::new();
        for length in 0..=40 {
            let base: String = (0..length).map(|index| char::from(b'a' + (index % 26) as u8)).collect();
            keys.push(base.clone());
            for position in 0..length {
                let mut bytes = base.clone().into_bytes();
                bytes[position] = b'Z';
                keys.push(String::from_utf8(bytes).expect("ASCII"));
            }
        }
        let mut children = Children::default();
        let mut reference = HashMap::new();
        for (index, key) in keys.iter().enumerate().filter(|(index, _)| index % 3 != 0) {
            assert_eq!(children.get_or_insert(key, index as u32), index as u32);
            reference.insert(key.as_str(), index as u32);
        }
        // A second insertion finds the first.
        for (key, &node) in &reference {
            assert_eq!(children.get_or_insert(key, u32::MAX), node);
        }
        for key in &keys {
            assert_eq!(children.get(key), reference.get(key.as_str()).copied(), "key {key:?}");
        }
        assert_eq!(Children::default().get("a"), None);
    }
}
