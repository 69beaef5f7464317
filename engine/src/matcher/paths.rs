//! The path trie of a compiled matcher and the walk that pulls, from a
//! parsed event, the values of exactly the paths that some filter reads.
//!
//! Subtrees that no path enters are skipped by their tape span, so the cost
//! of an event grows with the paths in use, not with the event's size.

use rustc_hash::FxHashMap;
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
    children: FxHashMap<Box<str>, u32>,
    /// The path that ends here, when some filter reads it.
    path: Option<PathId>,
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
                let child = *nodes[node].children.entry(segment.as_str().into()).or_insert(next);
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
                    if let Some(&child) = children.get(key) {
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
