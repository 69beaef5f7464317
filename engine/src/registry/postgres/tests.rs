//! Against the real server of `scripts/services.sh`, each test in its own
//! schema so tests run in parallel.

use std::time::{Duration, Instant};

use super::{migrate, servers, PostgresConfig, PostgresRegistry};
use crate::matcher::FilterId;
use crate::registry::{Change, FilterKind, NewFilter, Registry, RegistryError, RegistryWatch};

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
    NewFilter::session(expression, "test", ttl)
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
    assert_eq!(migrate(&config).unwrap(), [1]);
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
    registry.heartbeat(&[before], Duration::from_secs(120)).unwrap();
    assert_eq!(registry.delete(&[before, FilterId(u32::MAX as u64)]).unwrap(), [before], "only ids that had a row");
    assert_eq!(next(watch.as_mut()), Change::Delete(before));
    assert!(matches!(registry.insert(session("a ==", Duration::from_secs(1))), Err(RegistryError::InvalidFilter(_))));
    let listed: Vec<FilterId> = registry.list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(listed, [standing]);
}

#[test]
fn the_sweep_deletes_expired_rows_once_across_nodes() {
    let Some(url) = database_url() else { return };
    let config = fresh_schema(&url, "sweep");
    migrate(&config).unwrap();
    let nodes: Vec<PostgresRegistry> = (0..3).map(|_| PostgresRegistry::connect(config.clone()).unwrap()).collect();
    for n in 0..20 {
        nodes[0].insert(session(&format!("n == {n}"), Duration::ZERO)).unwrap();
    }
    let kept = nodes[0].insert(session("kept == 1", Duration::from_secs(60))).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let swept: u64 = std::thread::scope(|scope| {
        let sweeps: Vec<_> = nodes.iter().map(|node| scope.spawn(|| node.sweep_expired().unwrap())).collect();
        sweeps.into_iter().map(|s| s.join().unwrap()).sum()
    });
    assert_eq!(swept, 20, "every expired row deleted exactly once in total");
    let left: Vec<FilterId> = nodes[1].list().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [kept]);
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
