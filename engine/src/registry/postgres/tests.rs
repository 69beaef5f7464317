//! Against the real server of `scripts/services.sh`, each test in its own
//! schema so tests run in parallel.

use std::time::{Duration, Instant};

use super::{migrate, servers, PostgresConfig, PostgresRegistry};
use crate::matcher::FilterId;
use crate::registry::{Change, FilterKind, HeartbeatOutcome, NewFilter, Registry, RegistryError, RegistryWatch};

/// The server URL; a missing variable fails the test (services are part
/// of the test setup) unless `CLICKTAIL_SKIP_SERVICES=1`.
fn database_url() -> Option<String> {
    match std::env::var("CLICKTAIL_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CLICKTAIL_SKIP_SERVICES").as_deref() == Ok("1") => None,
        Err(_) => panic!(
            "CLICKTAIL_DATABASE_URL is not set: run `scripts/services.sh up` and `source .cache/services/env` \
             (or set CLICKTAIL_SKIP_SERVICES=1 to skip service tests)"
        ),
    }
}

fn fresh_schema(url: &str, name: &str) -> PostgresConfig {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    PostgresConfig::new(url).in_schema(&format!("t_{name}_{}_{nanos}", std::process::id()))
}

fn session(expression: &str, ttl: Duration) -> NewFilter {
    NewFilter::session(expression, "node-a", "test", ttl)
}

fn session_of(node: &str, expression: &str, ttl: Duration) -> NewFilter {
    NewFilter::session(expression, node, format!("{node}/1.1"), ttl)
}

/// Polls `condition` every 50 ms for at most 20 s.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn next(watch: &mut dyn RegistryWatch) -> Change {
    let started = Instant::now();
    loop {
        if let Some(change) = watch.next_change(Duration::from_millis(200)).unwrap() {
            return change;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no change within 10 s");
    }
}

#[test]
fn an_unmigrated_database_is_a_schema_error_that_names_the_command() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "nomigrate");
    let error = PostgresRegistry::connect(config).err().unwrap();
    assert!(matches!(error, RegistryError::Schema(_)), "{error}");
    assert!(error.to_string().contains("clicktail migrate"), "{error}");
}

#[test]
fn migrate_is_idempotent() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "idem");
    let every: Vec<i32> = super::migrations::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(every[..5], [1, 2, 3, 4, 5]);
    assert_eq!(migrate(&config).unwrap(), every);
    assert!(migrate(&config).unwrap().is_empty());
    PostgresRegistry::connect(config).unwrap();
}

#[test]
fn a_watch_resets_then_follows_inserts_updates_and_deletes() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "watch");
    migrate(&config).unwrap();
    let registry = PostgresRegistry::connect(config.clone()).unwrap();
    let before = registry.insert(session("a == 1", Duration::from_secs(60))).unwrap();
    let mut watch = registry.watch().unwrap();
    match next(watch.as_mut()) {
        Change::Reset(rows) => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].id, before);
            assert_eq!(rows[0].expression, "a == 1");
            assert_eq!(rows[0].kind, FilterKind::Session);
            assert!(rows[0].expires.is_some());
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    let standing = registry.insert(NewFilter::standing("*", "ops")).unwrap();
    match next(watch.as_mut()) {
        Change::Upsert(row) => {
            assert_eq!(row.id, standing);
            assert_eq!((row.kind, row.expires), (FilterKind::Standing, None));
        }
        other => panic!("expected an upsert, got {other:?}"),
    }
    // A heartbeat changes no expression: no notification.
    registry.heartbeat("node-a", &[before], Duration::from_secs(120)).unwrap();
    assert_eq!(registry.delete(&[before, FilterId(u32::MAX as u64)]).unwrap(), [before], "only ids that had a row");
    assert_eq!(next(watch.as_mut()), Change::Delete(before));
    assert!(matches!(registry.insert(session("a ==", Duration::from_secs(1))), Err(RegistryError::InvalidFilter(_))));
    let listed: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(listed, [standing]);
}

#[test]
fn the_sweep_deletes_a_silent_nodes_rows_once_across_sweepers() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "sweep");
    migrate(&config).unwrap();
    let ttl = Duration::from_millis(300);
    let sweepers: Vec<PostgresRegistry> = (0..3).map(|_| PostgresRegistry::connect(config.clone()).unwrap()).collect();
    for n in 0..20 {
        sweepers[0].insert(session_of("silent", &format!("n == {n}"), ttl)).unwrap();
    }
    let kept = sweepers[0].insert(session_of("live", "kept == 1", Duration::from_secs(60))).unwrap();
    let standing = sweepers[0].insert(NewFilter::standing("*", "ops")).unwrap();
    // The sweepers' connections must be a TTL old, and the node silent for one.
    std::thread::sleep(ttl + Duration::from_millis(100));
    let swept: u64 = std::thread::scope(|scope| {
        let sweeps: Vec<_> = sweepers.iter().map(|node| scope.spawn(|| node.sweep_expired().unwrap())).collect();
        sweeps.into_iter().map(|s| s.join().unwrap()).sum()
    });
    assert_eq!(swept, 20, "every row of the silent node deleted exactly once in total");
    let left: Vec<FilterId> = sweepers[1].list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [kept, standing]);
    assert_eq!(sweepers[2].sweep_expired().unwrap(), 0);
}

/// The rule after an outage: a sweeper that (re)connected less than a TTL
/// ago deletes nothing, however stale a node's heartbeat, because the node
/// may have been unable to reach the database until just now too. Once the
/// sweeper has watched for a whole TTL, a node still silent is gone.
#[test]
fn a_sweeper_that_just_reconnected_waits_a_full_ttl_before_deleting() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "outage");
    migrate(&config).unwrap();
    let ttl = Duration::from_secs(2);
    let writer = PostgresRegistry::connect(config.clone()).unwrap();
    let filter = writer.insert(session_of("cut-off", "a == 1", ttl)).unwrap();
    // The node falls silent for longer than its TTL...
    std::thread::sleep(ttl + Duration::from_millis(200));
    // ...and a sweeper comes (back) now: its connection is brand new.
    // Instants taken *before* each call: the database stamps the
    // connection and the heartbeat during the call, so a sweep a TTL after
    // those stamps may come a few ms before a TTL after the call returned.
    let connecting = Instant::now();
    let sweeper = PostgresRegistry::connect(config.clone()).unwrap();
    assert_eq!(sweeper.sweep_expired().unwrap(), 0, "swept a node the sweeper has not watched for a TTL");
    // The node heartbeats within that TTL: it keeps its filter for good.
    let heartbeat_sent = Instant::now();
    let outcome = writer.heartbeat("cut-off", &[filter], ttl).unwrap();
    assert_eq!(outcome, HeartbeatOutcome::default());
    assert_eq!(sweeper.sweep_expired().unwrap(), 0);
    // Had it stayed silent, the first sweep a TTL after both the heartbeat
    // and the sweeper's connection deletes it.
    wait_until("the sweep of the silent node", || {
        let swept = sweeper.sweep_expired().unwrap();
        if swept == 0 {
            return false;
        }
        assert_eq!(swept, 1);
        assert!(connecting.elapsed() >= ttl && heartbeat_sent.elapsed() >= ttl, "swept early");
        true
    });
    assert!(writer.list().unwrap().is_empty());
}

#[test]
fn a_heartbeat_reports_missing_rows_and_deletes_the_nodes_orphans_only() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "heartbeat");
    migrate(&config).unwrap();
    let registry = PostgresRegistry::connect(config).unwrap();
    let ttl = Duration::from_millis(200);
    let served = registry.insert(session_of("n", "a == 1", ttl)).unwrap();
    let deleted_by_hand = registry.insert(session_of("n", "a == 2", ttl)).unwrap();
    let orphan = registry.insert(session_of("n", "a == 3", ttl)).unwrap();
    let young_orphan_ttl = Duration::from_secs(60);
    let other_nodes = registry.insert(session_of("m", "a == 4", young_orphan_ttl)).unwrap();
    let standing = registry.insert(NewFilter::standing("a == 5", "ops")).unwrap();
    registry.delete(&[deleted_by_hand]).unwrap();
    // Younger than a TTL, an unserved row may be a subscription in flight: kept.
    let outcome = registry.heartbeat("n", &[served, deleted_by_hand], young_orphan_ttl).unwrap();
    assert_eq!(outcome, HeartbeatOutcome { missing: vec![deleted_by_hand], orphans_deleted: 0 });
    std::thread::sleep(ttl + Duration::from_millis(50));
    let outcome = registry.heartbeat("n", &[served, deleted_by_hand], ttl).unwrap();
    assert_eq!(outcome, HeartbeatOutcome { missing: vec![deleted_by_hand], orphans_deleted: 1 });
    let rows = registry.list().unwrap();
    let left: Vec<FilterId> = rows.iter().map(|r| r.id).collect();
    assert_eq!(left, [served, other_nodes, standing]);
    assert!(!left.contains(&orphan));
    assert_eq!(rows[0].node.as_deref(), Some("n"));
    assert_eq!(rows[2].node, None);
}

/// A connection error names the servers as libpq reads the URL, never the
/// URL itself (it may hold the password).
#[test]
fn servers_are_named_by_host_and_port() {
    let named = |url: &str| servers(&url.parse().unwrap());
    assert_eq!(named("postgres://app:secret@db.internal/clicktail"), "db.internal:5432");
    assert_eq!(named("postgres://app:secret@127.0.0.1:55432/clicktail"), "127.0.0.1:55432");
    assert_eq!(named("host=a,b port=5433 user=app password=secret"), "a:5433, b:5433");
    assert_eq!(named("host=a,b port=5433,5434"), "a:5433, b:5434");
    assert_eq!(named("host=/run/postgresql"), "/run/postgresql/.s.PGSQL.5432");
}

/// Nothing listens on port 1: the error names the server, the cause and
/// how to start the development services.
#[test]
fn a_refused_connection_says_where_and_why() {
    let config = PostgresConfig::new("postgres://app:secret@127.0.0.1:1/clicktail");
    let error = PostgresRegistry::connect(config).err().expect("nothing listens on port 1").to_string();
    assert!(error.starts_with("registry unavailable: cannot connect to PostgreSQL at 127.0.0.1:1: "), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
    assert!(error.contains("`scripts/services.sh up`"), "{error}");
    assert!(!error.contains("secret"), "{error}");
}

#[test]
fn a_standing_filter_name_is_stored_and_unique() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "names");
    migrate(&config).unwrap();
    let registry = PostgresRegistry::connect(config).unwrap();
    let named = registry.insert(NewFilter::standing("a == 1", "cli").named("bookings")).unwrap();
    let unnamed = registry.insert(NewFilter::standing("b == 2", "cli")).unwrap();
    let error = registry.insert(NewFilter::standing("c == 3", "cli").named("bookings")).unwrap_err();
    assert!(matches!(&error, RegistryError::DuplicateName(name) if name == "bookings"), "{error}");
    let names: Vec<(FilterId, Option<String>)> =
        registry.list().unwrap().into_iter().map(|row| (row.id, row.name)).collect();
    assert_eq!(names, [(named, Some("bookings".to_owned())), (unnamed, None)]);
}

/// Issue 12 item 1: a filter's budget is stored, listed and carried by the
/// watch (its `Reset` and its `Upsert`); NULL stays the kind's default and
/// 0 is refused before it reaches the table.
#[test]
fn a_filters_rate_max_is_stored_and_watched() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "ratemax");
    migrate(&config).unwrap();
    let registry = PostgresRegistry::connect(config).unwrap();
    let standing = registry.insert(NewFilter::standing("a == 1", "cli").with_rate_max(250)).unwrap();
    let mut watch = registry.watch().unwrap();
    match next(watch.as_mut()) {
        Change::Reset(rows) => {
            assert_eq!(rows.iter().map(|row| (row.id, row.rate_max_per_s)).collect::<Vec<_>>(), [(standing, Some(250))])
        }
        other => panic!("expected a Reset, got {other:?}"),
    }
    let budgeted_session = registry.insert(session("b == 2", Duration::from_secs(60)).with_rate_max(40)).unwrap();
    match next(watch.as_mut()) {
        Change::Upsert(row) => assert_eq!((row.id, row.rate_max_per_s), (budgeted_session, Some(40))),
        other => panic!("expected an Upsert, got {other:?}"),
    }
    let default = registry.insert(session("c == 3", Duration::from_secs(60))).unwrap();
    let error = registry.insert(NewFilter::standing("d == 4", "cli").with_rate_max(0)).unwrap_err();
    assert!(matches!(error, RegistryError::InvalidRateMax(_)), "{error}");
    let error = registry.insert(NewFilter::standing("d == 4", "cli").with_rate_max(u32::MAX)).unwrap_err();
    assert!(matches!(error, RegistryError::InvalidRateMax(_)), "{error}");
    let listed: Vec<(FilterId, Option<u32>)> =
        registry.list().unwrap().into_iter().map(|row| (row.id, row.rate_max_per_s)).collect();
    assert_eq!(listed, [(standing, Some(250)), (budgeted_session, Some(40)), (default, None)]);
}

#[test]
fn backfill_jobs_are_claimed_by_one_holder_at_a_time_and_reclaimed_after_the_lease() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "backfill");
    migrate(&config).unwrap();
    crate::registry::backfill::check_claim_contract(&PostgresRegistry::connect(config).unwrap());
}
