//! Node heartbeats and the sweep, in SQL: the liveness rule of
//! [`crate::registry`] with the database's own clock.
//!
//! `watched_since` is the later of `pg_postmaster_start_time()` (the
//! server's last start) and this connection's `backend_start` (PostgreSQL
//! docs, "System Information Functions" and "pg_stat_activity"). After a
//! restart of the server, or after the sweeper's connection broke and was
//! reopened, no node counts as gone before a full TTL has passed: long
//! enough for every live gateway, retrying every third of its TTL, to
//! heartbeat again. A node's `last_seen` alone would not do: after an
//! outage longer than the TTL it is stale for every node, live or not.

use postgres::Client;

use crate::matcher::FilterId;
use crate::registry::{HeartbeatOutcome, NODELESS_GRACE_MS};

/// The later of the server's start and this connection's: since when the
/// sweeper has watched the database without a break it knows of.
const WATCHED_SINCE: &str = "greatest(pg_postmaster_start_time(),
    (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()))";

/// Deletes the gone nodes and their session filters in one statement;
/// returns the filters deleted. Concurrent sweeps are safe: a node row
/// deleted by one is skipped by the others (Read Committed re-checks the
/// row), so each filter is deleted once.
pub(super) fn sweep(client: &mut Client) -> Result<u64, postgres::Error> {
    client.execute(
        &format!(
            "WITH gone AS (
                 DELETE FROM nodes
                 WHERE greatest(last_seen, {WATCHED_SINCE}) + ttl_ms * interval '1 millisecond' < now()
                 RETURNING name)
             DELETE FROM filters
             WHERE kind = 'session'
               AND (node IN (SELECT name FROM gone)
                    OR (node IS NULL
                        AND greatest(expires, {WATCHED_SINCE} + {NODELESS_GRACE_MS} * interval '1 millisecond')
                            < now()))"
        ),
        &[],
    )
}

/// One heartbeat of `node`: upserts its row, refreshes the expiry of
/// `ids`, reports the missing ones, deletes its orphans. One statement, so
/// one round trip whatever the number of filters.
pub(super) fn heartbeat(
    client: &mut Client,
    node: &str,
    ids: &[i64],
    ttl_ms: f64,
) -> Result<HeartbeatOutcome, postgres::Error> {
    let row = client.query_one(
        "WITH seen AS (
             INSERT INTO nodes (name, last_seen, ttl_ms) VALUES ($1, now(), $3::float8::bigint)
             ON CONFLICT (name) DO UPDATE SET last_seen = now(), ttl_ms = excluded.ttl_ms),
         kept AS (
             UPDATE filters SET expires = now() + $3::float8 * interval '1 millisecond'
             WHERE id = ANY($2) AND kind = 'session'
             RETURNING id),
         orphans AS (
             DELETE FROM filters
             WHERE node = $1 AND NOT (id = ANY($2))
               AND created < now() - $3::float8 * interval '1 millisecond'
             RETURNING id)
         SELECT coalesce((SELECT array_agg(id) FROM kept), '{}'::bigint[]),
                (SELECT count(*) FROM orphans)",
        &[&node, &ids, &ttl_ms],
    )?;
    let kept: Vec<i64> = row.get(0);
    let orphans_deleted: i64 = row.get(1);
    let kept: std::collections::HashSet<i64> = kept.into_iter().collect();
    let missing = ids.iter().filter(|id| !kept.contains(id)).map(|id| FilterId(*id as u64)).collect();
    Ok(HeartbeatOutcome { missing, orphans_deleted: orphans_deleted as u64 })
}
