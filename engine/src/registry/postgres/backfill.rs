//! Backfill jobs and seams in PostgreSQL (`migrations/0005_backfill_jobs.sql`).
//!
//! The claim is one statement: the inner `SELECT ... FOR UPDATE SKIP
//! LOCKED` picks the oldest claimable row and locks it, so two workers
//! claiming at once get different jobs (or one gets none), never the same
//! (PostgreSQL docs, "The Locking Clause").

use postgres::Client;

use crate::log::PartitionId;
use crate::matcher::FilterId;
use crate::registry::{BackfillJob, BackfillOutcome, BackfillRequest, Seam};

pub(super) fn insert_job(
    client: &mut postgres::Transaction<'_>,
    filter: i64,
    request: &BackfillRequest,
) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO backfill_jobs (filter_id, since_ms, matches_max) VALUES ($1, $2, $3)",
        &[&filter, &request.since_ms, &(request.matches_max.min(i32::MAX as u32) as i32)],
    )?;
    Ok(())
}

pub(super) fn claim(client: &mut Client, claimer: &str, lease_ms: f64) -> Result<Option<BackfillJob>, postgres::Error> {
    let row = client.query_opt(
        "UPDATE backfill_jobs AS j
            SET claimed_by = $1, lease_until = now() + $2::float8 * interval '1 millisecond',
                attempts = j.attempts + 1
           FROM filters AS f
          WHERE j.filter_id = (SELECT filter_id FROM backfill_jobs
                                WHERE finished IS NULL AND (lease_until IS NULL OR lease_until < now())
                                ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED)
            AND f.id = j.filter_id
      RETURNING j.filter_id, f.expression, j.since_ms, j.matches_max, j.attempts,
                (extract(epoch FROM j.created) * 1000)::bigint, f.topics",
        &[&claimer, &lease_ms],
    )?;
    Ok(row.map(|row| BackfillJob {
        filter_id: FilterId(row.get::<_, i64>(0) as u64),
        expression: row.get(1),
        request: BackfillRequest { since_ms: row.get(2), matches_max: row.get::<_, i32>(3).max(0) as u32 },
        attempts: row.get::<_, i32>(4).max(0) as u32,
        created_ms: row.get(5),
        topics: row.get(6),
    }))
}

pub(super) fn renew(client: &mut Client, filter: i64, claimer: &str, lease_ms: f64) -> Result<bool, postgres::Error> {
    let updated = client.execute(
        "UPDATE backfill_jobs SET lease_until = now() + $3::float8 * interval '1 millisecond'
          WHERE filter_id = $1 AND claimed_by = $2 AND finished IS NULL",
        &[&filter, &claimer, &lease_ms],
    )?;
    Ok(updated == 1)
}

pub(super) fn finish(
    client: &mut Client,
    filter: i64,
    claimer: &str,
    outcome: &BackfillOutcome,
) -> Result<bool, postgres::Error> {
    let updated = client.execute(
        "UPDATE backfill_jobs SET finished = now(), lease_until = NULL,
                events_scanned = $3, matches = $4, complete = $5
          WHERE filter_id = $1 AND claimed_by = $2 AND finished IS NULL",
        &[&filter, &claimer, &(outcome.events_scanned as i64), &(outcome.matches as i64), &outcome.complete],
    )?;
    Ok(updated == 1)
}

pub(super) fn record_seams(client: &mut Client, seams: &[Seam]) -> Result<(), postgres::Error> {
    let filters: Vec<i64> = seams.iter().map(|seam| seam.filter_id.0 as i64).collect();
    let topics: Vec<&str> = seams.iter().map(|seam| seam.topic.as_str()).collect();
    let partitions: Vec<i32> = seams.iter().map(|seam| seam.partition.0 as i32).collect();
    let offsets: Vec<i64> = seams.iter().map(|seam| seam.offset).collect();
    // Seams of filters without a job (finished long ago, or never asked)
    // are filtered out rather than refused by the foreign key.
    client.execute(
        "INSERT INTO backfill_seams (filter_id, topic, partition, seam_offset)
         SELECT s.f, s.t, s.p, s.o FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[]) AS s(f, t, p, o)
          WHERE EXISTS (SELECT 1 FROM backfill_jobs j WHERE j.filter_id = s.f AND j.finished IS NULL)
         ON CONFLICT (filter_id, topic, partition) DO NOTHING",
        &[&filters, &topics, &partitions, &offsets],
    )?;
    Ok(())
}

pub(super) fn seams(client: &mut Client, filter: i64) -> Result<Vec<Seam>, postgres::Error> {
    let rows = client.query(
        "SELECT topic, partition, seam_offset FROM backfill_seams WHERE filter_id = $1 ORDER BY topic, partition",
        &[&filter],
    )?;
    Ok(rows
        .iter()
        .map(|row| Seam {
            filter_id: crate::matcher::FilterId(filter as u64),
            topic: row.get(0),
            partition: PartitionId(row.get::<_, i32>(1) as u32),
            offset: row.get(2),
        })
        .collect())
}
