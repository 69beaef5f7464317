use std::time::Duration;

use super::{MemoryRegistry, MemoryRegistryConfig};
use crate::matcher::FilterId;
use crate::registry::{Change, NewFilter, Registry, RegistryError};

const NO_WAIT: Duration = Duration::ZERO;

fn session(expression: &str, ttl: Duration) -> NewFilter {
    NewFilter::session(expression, "test", ttl)
}

fn ids(change: &Change) -> Vec<u64> {
    match change {
        Change::Reset(rows) => rows.iter().map(|r| r.id.0).collect(),
        Change::Upsert(row) => vec![row.id.0],
        Change::Delete(id) => vec![id.0],
    }
}

#[test]
fn a_watch_starts_with_the_full_set_then_follows_changes_in_order() {
    let registry = MemoryRegistry::default();
    let first = registry.insert(session("a == 1", Duration::from_secs(60))).unwrap();
    let mut watch = registry.watch().unwrap();
    let second = registry.insert(session("b == 2", Duration::from_secs(60))).unwrap();
    assert_eq!(registry.delete(&[first, FilterId(999)]).unwrap(), [first], "only ids that had a row");
    let changes: Vec<Change> = std::iter::from_fn(|| watch.next_change(NO_WAIT).unwrap()).collect();
    assert_eq!(changes.len(), 3);
    assert!(matches!(changes[0], Change::Reset(_)));
    assert_eq!(ids(&changes[0]), [first.0]);
    assert!(matches!(&changes[1], Change::Upsert(row) if row.id == second && row.expression == "b == 2"));
    assert_eq!(changes[2], Change::Delete(first));
}

#[test]
fn invalid_filters_are_rejected_and_never_stored() {
    let registry = MemoryRegistry::default();
    let error = registry.insert(session("a ==", Duration::from_secs(1))).unwrap_err();
    assert!(matches!(error, RegistryError::InvalidFilter(_)));
    assert!(registry.list().unwrap().is_empty());
}

#[test]
fn expired_session_filters_are_swept_and_standing_ones_kept() {
    let registry = MemoryRegistry::default();
    let short = registry.insert(session("a == 1", Duration::ZERO)).unwrap();
    let kept = registry.insert(session("a == 2", Duration::from_secs(60))).unwrap();
    let standing = registry.insert(NewFilter::standing("*", "ops")).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    assert_eq!(registry.sweep_expired().unwrap(), 1);
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), Some(Change::Delete(short)));
    let left: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [kept, standing]);
}

#[test]
fn a_heartbeat_pushes_the_expiry_without_notifying() {
    let registry = MemoryRegistry::default();
    let id = registry.insert(session("a == 1", Duration::from_millis(1))).unwrap();
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    registry.heartbeat(&[id], Duration::from_secs(60)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(registry.sweep_expired().unwrap(), 0);
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), None);
}

#[test]
fn a_watcher_that_falls_behind_gets_a_reset_with_the_current_set() {
    let registry = MemoryRegistry::new(MemoryRegistryConfig { watch_queue_max: 2, ..MemoryRegistryConfig::default() });
    let mut watch = registry.watch().unwrap();
    let inserted: Vec<u64> =
        (0..5).map(|n| registry.insert(session(&format!("a == {n}"), Duration::from_secs(60))).unwrap().0).collect();
    let change = watch.next_change(NO_WAIT).unwrap().unwrap();
    assert!(matches!(change, Change::Reset(_)));
    assert_eq!(ids(&change), inserted);
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), None);
}

#[test]
fn next_change_waits_for_a_change_from_another_thread() {
    let registry = MemoryRegistry::default();
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    let writer = std::thread::spawn({
        let registry = registry.clone();
        move || {
            std::thread::sleep(Duration::from_millis(30));
            registry.insert(session("x == 1", Duration::from_secs(60))).unwrap()
        }
    });
    let change = watch.next_change(Duration::from_secs(5)).unwrap();
    let id = writer.join().unwrap();
    assert!(matches!(change, Some(Change::Upsert(row)) if row.id == id));
}
