use std::time::Duration;

use super::{MemoryRegistry, MemoryRegistryConfig};
use crate::matcher::FilterId;
use crate::registry::{Change, HeartbeatOutcome, NewFilter, Registry, RegistryError};

const NO_WAIT: Duration = Duration::ZERO;

fn session(expression: &str, ttl: Duration) -> NewFilter {
    NewFilter::session(expression, "node-a", "test", ttl)
}

fn session_of(node: &str, expression: &str, ttl: Duration) -> NewFilter {
    NewFilter::session(expression, node, format!("{node}/1.1"), ttl)
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
fn a_silent_nodes_session_filters_are_swept_and_standing_ones_kept() {
    let registry = MemoryRegistry::default();
    let gone = registry.insert(session_of("gone", "a == 1", Duration::ZERO)).unwrap();
    let kept = registry.insert(session_of("live", "a == 2", Duration::from_secs(60))).unwrap();
    let standing = registry.insert(NewFilter::standing("*", "ops")).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    assert_eq!(registry.sweep_expired().unwrap(), 1);
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), Some(Change::Delete(gone)));
    let left: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [kept, standing]);
    // The gone node's row went with its filters: a second sweep finds nothing.
    assert_eq!(registry.sweep_expired().unwrap(), 0);
}

#[test]
fn a_heartbeat_keeps_the_nodes_filters_without_notifying() {
    let registry = MemoryRegistry::default();
    let id = registry.insert(session_of("n", "a == 1", Duration::from_millis(1))).unwrap();
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    let outcome = registry.heartbeat("n", &[id], Duration::from_secs(60)).unwrap();
    assert_eq!(outcome, HeartbeatOutcome::default());
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(registry.sweep_expired().unwrap(), 0);
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), None);
    assert!(registry.list().unwrap()[0].expires.unwrap() > std::time::SystemTime::now());
}

#[test]
fn a_heartbeat_reports_missing_rows_and_deletes_the_nodes_orphans_only() {
    let registry = MemoryRegistry::default();
    let ttl = Duration::from_millis(1);
    let served = registry.insert(session_of("n", "a == 1", ttl)).unwrap();
    let deleted_by_hand = registry.insert(session_of("n", "a == 2", ttl)).unwrap();
    let orphan = registry.insert(session_of("n", "a == 3", ttl)).unwrap();
    let other_nodes = registry.insert(session_of("m", "a == 4", Duration::from_secs(60))).unwrap();
    let standing = registry.insert(NewFilter::standing("a == 5", "ops")).unwrap();
    registry.delete(&[deleted_by_hand]).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut watch = registry.watch().unwrap();
    watch.next_change(NO_WAIT).unwrap();
    let outcome = registry.heartbeat("n", &[served, deleted_by_hand], ttl).unwrap();
    assert_eq!(outcome, HeartbeatOutcome { missing: vec![deleted_by_hand], orphans_deleted: 1 });
    assert_eq!(watch.next_change(NO_WAIT).unwrap(), Some(Change::Delete(orphan)));
    let left: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [served, other_nodes, standing]);
}

#[test]
fn an_orphan_younger_than_the_ttl_is_kept() {
    // A row inserted but not yet routed looks like an orphan for a moment.
    let registry = MemoryRegistry::default();
    let young = registry.insert(session_of("n", "a == 1", Duration::from_secs(60))).unwrap();
    let outcome = registry.heartbeat("n", &[], Duration::from_secs(60)).unwrap();
    assert_eq!(outcome.orphans_deleted, 0);
    assert_eq!(registry.list().unwrap()[0].id, young);
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

#[test]
fn standing_filters_have_unique_valid_names() {
    let registry = MemoryRegistry::default();
    let named = registry.insert(NewFilter::standing("a == 1", "cli").named("bookings")).unwrap();
    let rows = registry.list().unwrap();
    assert_eq!(rows[0].id, named);
    assert_eq!(rows[0].name.as_deref(), Some("bookings"));
    let error = registry.insert(NewFilter::standing("b == 2", "cli").named("bookings")).unwrap_err();
    assert!(matches!(&error, RegistryError::DuplicateName(name) if name == "bookings"), "{error}");
    for bad in ["", "12", "has space", &"x".repeat(129)] {
        let error = registry.insert(NewFilter::standing("a == 1", "cli").named(bad)).unwrap_err();
        assert!(matches!(error, RegistryError::InvalidName { .. }), "{bad:?}: {error}");
    }
    let session_named = NewFilter { name: Some("s".to_owned()), ..session("a == 1", Duration::from_secs(60)) };
    assert!(matches!(registry.insert(session_named), Err(RegistryError::InvalidName { .. })));
    assert_eq!(registry.list().unwrap().len(), 1, "nothing refused was stored");
}

#[test]
fn a_filters_rate_max_is_kept_and_zero_is_refused() {
    let registry = MemoryRegistry::default();
    let id = registry.insert(NewFilter::standing("a == 1", "cli").with_rate_max(250)).unwrap();
    assert_eq!(registry.list().unwrap()[0].rate_max_per_s, Some(250));
    assert_eq!(registry.list().unwrap()[0].id, id);
    let error = registry.insert(session("a == 1", Duration::from_secs(60)).with_rate_max(0)).unwrap_err();
    assert!(matches!(error, RegistryError::InvalidRateMax(_)), "{error}");
    assert_eq!(registry.list().unwrap().len(), 1, "nothing refused was stored");
}

#[test]
fn backfill_jobs_are_claimed_by_one_holder_at_a_time_and_reclaimed_after_the_lease() {
    crate::registry::backfill::check_claim_contract(&MemoryRegistry::default());
}
