//! The registry's SQL migrations (`migrations/` at the repository root,
//! embedded at build time), how they are applied, and the start-up check.

use postgres::error::SqlState;
use postgres::Client;

use crate::registry::RegistryError;

/// A migration: its version (increasing from 1) and its SQL.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. The last version is what this build needs.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_filters.sql", sql: include_str!("../../../../migrations/0001_filters.sql") },
    Migration { version: 2, name: "0002_nodes.sql", sql: include_str!("../../../../migrations/0002_nodes.sql") },
    Migration {
        version: 3,
        name: "0003_filter_names.sql",
        sql: include_str!("../../../../migrations/0003_filter_names.sql"),
    },
    Migration {
        version: 4,
        name: "0004_filter_rate_max.sql",
        sql: include_str!("../../../../migrations/0004_filter_rate_max.sql"),
    },
    Migration {
        version: 5,
        name: "0005_backfill_jobs.sql",
        sql: include_str!("../../../../migrations/0005_backfill_jobs.sql"),
    },
    Migration {
        version: 6,
        name: "0006_raw_topics.sql",
        sql: include_str!("../../../../migrations/0006_raw_topics.sql"),
    },
];

/// The schema version this build needs.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// An arbitrary, fixed key for `pg_advisory_xact_lock`: serialises
/// concurrent `clicktail migrate` runs (PostgreSQL docs, "Advisory Locks").
const MIGRATION_LOCK_KEY: i64 = 0x636c_6963_6b74_6169; // "clicktai"

/// Applies the migrations `client`'s database lacks, in one transaction;
/// returns the versions applied.
pub fn apply(client: &mut Client) -> Result<Vec<i32>, RegistryError> {
    let unavailable = |error: postgres::Error| RegistryError::Unavailable(format!("migrating: {error}"));
    let mut transaction = client.transaction().map_err(unavailable)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).map_err(unavailable)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS clicktail_schema_migrations (
                 version integer PRIMARY KEY,
                 name    text NOT NULL,
                 applied timestamptz NOT NULL DEFAULT now())",
        )
        .map_err(unavailable)?;
    let current: i32 = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM clicktail_schema_migrations", &[])
        .map_err(unavailable)?
        .get(0);
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        transaction
            .batch_execute(migration.sql)
            .map_err(|error| RegistryError::Unavailable(format!("migration {} failed: {error}", migration.name)))?;
        transaction
            .execute(
                "INSERT INTO clicktail_schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .map_err(unavailable)?;
        applied.push(migration.version);
    }
    transaction.commit().map_err(unavailable)?;
    Ok(applied)
}

/// Fails with [`RegistryError::Schema`] (whose message says to run
/// `clicktail migrate`) unless the database is at [`latest_version`].
pub fn check(client: &mut Client) -> Result<(), RegistryError> {
    let version: i32 = match client.query_one("SELECT coalesce(max(version), 0) FROM clicktail_schema_migrations", &[])
    {
        Ok(row) => row.get(0),
        Err(error) if error.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            return Err(RegistryError::Schema("the database has no clicktail schema".to_owned()))
        }
        Err(error) => return Err(RegistryError::Unavailable(format!("checking the schema: {error}"))),
    };
    if version < latest_version() {
        return Err(RegistryError::Schema(format!(
            "the database is at schema version {version}; this build needs {}",
            latest_version()
        )));
    }
    Ok(())
}
