//! Dense numbers for the (topic, partition) pairs one filter thread reads,
//! and for its topics: the budget's partition bits, the seam tracker's
//! per-partition array and the per-topic counts index by them, as they
//! indexed by partition when a worker read one topic.
//!
//! The topics known when the pass starts (the subscription resolved
//! against the cluster) come first, in order, so their partitions number
//! `0..partitions_known`, the budget's denominator. A topic met later (a
//! pattern picked it up) gets numbers after those; the budget ignores them
//! until the next pass (`budget.rs` skips partitions past its bits).

use std::sync::Arc;

use crate::log::PartitionId;

/// Per topic: its name, and per partition its number (`u32::MAX`: none yet).
struct TopicEntry {
    name: Arc<str>,
    slots: Vec<u32>,
}

pub(crate) struct TopicSlots {
    topics: Vec<TopicEntry>,
    next_slot: u32,
    /// The entry of the last lookup: records come in runs of one topic.
    last: usize,
}

impl TopicSlots {
    /// Numbers the partitions of `known` (topic, partition count) first.
    pub(crate) fn new(known: &[(String, u32)]) -> TopicSlots {
        let mut slots = TopicSlots { topics: Vec::with_capacity(known.len()), next_slot: 0, last: 0 };
        for (name, partitions) in known {
            let topic = slots.topic_index_of(name);
            for partition in 0..*partitions {
                slots.slot_in(topic, PartitionId(partition));
            }
        }
        slots
    }

    /// The number of `topic` (0, 1, ... in the order first seen).
    #[inline]
    pub(crate) fn topic_index(&mut self, topic: &Arc<str>) -> usize {
        if let Some(entry) = self.topics.get(self.last) {
            if Arc::ptr_eq(&entry.name, topic) || entry.name == *topic {
                return self.last;
            }
        }
        self.last = self.topic_index_of(topic);
        self.last
    }

    #[cold]
    fn topic_index_of(&mut self, topic: &str) -> usize {
        if let Some(index) = self.topics.iter().position(|entry| &*entry.name == topic) {
            return index;
        }
        self.topics.push(TopicEntry { name: Arc::from(topic), slots: Vec::new() });
        self.topics.len() - 1
    }

    /// The number of `partition` of the topic numbered `topic`.
    #[inline]
    pub(crate) fn slot_in(&mut self, topic: usize, partition: PartitionId) -> u32 {
        let slots = &mut self.topics[topic].slots;
        match slots.get(partition.0 as usize) {
            Some(&slot) if slot != u32::MAX => slot,
            _ => {
                if slots.len() <= partition.0 as usize {
                    slots.resize(partition.0 as usize + 1, u32::MAX);
                }
                slots[partition.0 as usize] = self.next_slot;
                self.next_slot += 1;
                self.next_slot - 1
            }
        }
    }

    /// The name of the topic numbered `topic`.
    pub(crate) fn name(&self, topic: usize) -> &Arc<str> {
        &self.topics[topic].name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_partitions_come_first_and_a_later_topic_gets_the_next_numbers() {
        let mut slots = TopicSlots::new(&[("a".to_owned(), 2), ("b".to_owned(), 3)]);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"), Arc::from("c"));
        let got: Vec<(usize, u32)> = [(&b, 2), (&a, 1), (&c, 4), (&b, 0), (&c, 4)]
            .into_iter()
            .map(|(topic, partition)| {
                let index = slots.topic_index(topic);
                (index, slots.slot_in(index, PartitionId(partition)))
            })
            .collect();
        assert_eq!(got, [(1, 4), (0, 1), (2, 5), (1, 2), (2, 5)]);
        assert_eq!(&**slots.name(2), "c");
    }
}
