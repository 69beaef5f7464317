//! The PostgreSQL registry: the `filters` table of `migrations/`, changes
//! announced by a trigger's NOTIFY, one dedicated LISTEN connection per watch.
//!
//! - commands (`insert`, `heartbeat`, `delete`, `list`, `sweep_expired`)
//!   share one connection, reopened after a failure;
//! - a watch (`watch.rs`) owns its own connection: LISTEN first, then
//!   SELECT the whole table and yield it as `Change::Reset`, then follow
//!   notifications; after any failure it reconnects with bounded backoff
//!   and starts again with a `Reset`, so nothing falls into the gap;
//! - `heartbeat` and `sweep_expired` follow the liveness rule of
//!   [`crate::registry`] (`liveness.rs`): one statement each, safe on many
//!   nodes at once, since a row deleted by one node is skipped by the
//!   others (PostgreSQL docs, "Read Committed Isolation Level").
//!
//! Layout: `migrations.rs` (embedded SQL, `clicktail migrate`, start-up
//! check), `rows.rs` (row ↔ [`FilterRow`]), `liveness.rs` (heartbeat and
//! sweep), `watch.rs`, `tests.rs` (against the real server of
//! `scripts/services.sh`).

mod backfill;
mod liveness;
pub mod migrations;

mod rows;
mod watch;

#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, NoTls};

use super::{
    check_filter_name, check_rate_max, check_topics, BackfillJob, BackfillOutcome, FilterKind, FilterRow,
    HeartbeatOutcome, NewFilter, Registry, RegistryError, RegistryWatch, Seam,
};
use crate::language::parse_filter;
use crate::matcher::FilterId;

/// How to reach the registry.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// A libpq-style URL or key=value string.
    pub url: String,
    /// Bound on opening a connection (default 5 s).
    pub connect_timeout: Duration,
    /// The longest wait between a watch's reconnect attempts (default 5 s;
    /// attempts start 50 ms apart and double).
    pub reconnect_backoff_max: Duration,
    /// Notifications turned into changes per round trip (default 10,000).
    pub notifications_per_fetch_max: usize,
    /// The schema holding the tables (default: the server's search_path,
    /// normally `public`). Lets several deployments, or parallel tests,
    /// share one database. Letters, digits and `_` only.
    pub schema: Option<String>,
}

impl PostgresConfig {
    pub fn new(url: &str) -> Self {
        PostgresConfig {
            url: url.to_owned(),
            connect_timeout: Duration::from_secs(5),
            reconnect_backoff_max: Duration::from_secs(5),
            notifications_per_fetch_max: 10_000,
            schema: None,
        }
    }

    /// The same server, tables in `schema`.
    pub fn in_schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    pub(crate) fn connect(&self) -> Result<Client, RegistryError> {
        let mut config = postgres::Config::from_str(&self.url)
            .map_err(|error| RegistryError::Unavailable(format!("invalid database URL: {error}")))?;
        config
            .connect_timeout(self.connect_timeout)
            .application_name("clicktail")
            // TCP keepalives find a server that vanished without closing
            // the socket (libpq's `keepalives_idle`).
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        if let Some(schema) = &self.schema {
            if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(RegistryError::Unavailable(format!(
                    "schema name {schema:?} must be letters, digits and '_'"
                )));
            }
            // libpq's `options`: run-time parameters for the session.
            config.options(&format!("-c search_path={schema}"));
        }
        config.connect(NoTls).map_err(|error| {
            RegistryError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}; check the URL (CLICKTAIL_DATABASE_URL) and that the \
                 server runs (for development: `scripts/services.sh up`)",
                servers(&config),
                causes(&error)
            ))
        })
    }
}

/// The servers a connection config names, `host:port` each: what an
/// operator checks first. Never the URL itself, which may hold the password.
fn servers(config: &postgres::Config) -> String {
    // libpq's rules: no port means 5432, one port applies to every host.
    let port = |index: usize| match config.get_ports() {
        [] => 5432,
        [port] => *port,
        ports => ports.get(index).copied().unwrap_or(5432),
    };
    let hosts: Vec<String> = if config.get_hosts().is_empty() {
        config.get_hostaddrs().iter().enumerate().map(|(index, address)| format!("{address}:{}", port(index))).collect()
    } else {
        config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| match host {
                Host::Tcp(name) => format!("{name}:{}", port(index)),
                #[cfg(unix)]
                Host::Unix(directory) => format!("{}/.s.PGSQL.{}", directory.display(), port(index)),
            })
            .collect()
    };
    hosts.join(", ")
}

/// Why a connection failed, from the error's causes: `postgres::Error`
/// prints only its kind ("error connecting to server") and keeps the
/// reason ("Connection refused", the server's authentication error) as its
/// source.
fn causes(error: &postgres::Error) -> String {
    let mut text = String::new();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&error.to_string());
        cause = error.source();
    }
    if text.is_empty() {
        error.to_string()
    } else {
        text
    }
}

/// Opens a connection and applies the missing migrations (`clicktail migrate`).
pub fn migrate(config: &PostgresConfig) -> Result<Vec<i32>, RegistryError> {
    let mut client = config.connect()?;
    if let Some(schema) = &config.schema {
        // Validated by `connect`.
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .map_err(|error| RegistryError::Unavailable(format!("creating schema {schema}: {error}")))?;
    }
    migrations::apply(&mut client)
}

pub struct PostgresRegistry {
    config: PostgresConfig,
    /// The command connection; `None` after a failure, until the next command.
    client: Mutex<Option<Client>>,
}

impl PostgresRegistry {
    /// Connects and checks the schema: fails with a message pointing at
    /// `clicktail migrate` when the tables are missing or outdated.
    pub fn connect(config: PostgresConfig) -> Result<Self, RegistryError> {
        let mut client = config.connect()?;
        migrations::check(&mut client)?;
        Ok(PostgresRegistry { config, client: Mutex::new(Some(client)) })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        // A panic inside a command leaves at worst a broken connection,
        // which the next command replaces.
        self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `command` on the command connection, reconnecting first if it
    /// is known to be closed. When the connection turns out closed (the
    /// server restarted since the last command), an `idempotent` command is
    /// run once more on a new connection; others are not (an INSERT may
    /// have committed before the connection died): the caller decides.
    fn with_client<T>(
        &self,
        idempotent: bool,
        mut command: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, RegistryError> {
        let mut slot = self.lock();
        let attempts = if idempotent { 2 } else { 1 };
        let mut last_error = None;
        for _ in 0..attempts {
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = Some(self.config.connect()?);
            }
            let client = slot.as_mut().expect("connected just above");
            match command(client) {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let closed = client.is_closed() || error.is_closed();
                    if closed {
                        *slot = None;
                    }
                    last_error = Some(RegistryError::Unavailable(error.to_string()));
                    if !closed {
                        break;
                    }
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }
}

fn ids_as_i64(ids: &[FilterId]) -> Vec<i64> {
    ids.iter().map(|id| id.0 as i64).collect()
}

fn ttl_ms(ttl: Option<Duration>) -> Option<f64> {
    ttl.map(|ttl| ttl.as_secs_f64() * 1000.0)
}

impl Registry for PostgresRegistry {
    fn insert(&self, filter: NewFilter) -> Result<FilterId, RegistryError> {
        parse_filter(&filter.expression)?;
        check_filter_name(&filter)?;
        check_rate_max(&filter)?;
        check_topics(&filter)?;
        // Within `integer` by `check_rate_max`.
        let rate_max = filter.rate_max_per_s.map(|rate| rate as i32);
        let ttl = match filter.kind {
            FilterKind::Session => ttl_ms(Some(filter.ttl.unwrap_or(Duration::ZERO))),
            FilterKind::Standing => None,
        };
        // A session filter's node row is upserted with it (inserting counts
        // as a heartbeat), so no session filter exists without its node.
        // A taken name is the unique index `filters_name` refusing the row
        // (migration 3): one statement, so two concurrent adds of a name
        // cannot both succeed.
        // The filter and its backfill job are one transaction: a worker that
        // sees the filter sees its job (`rows.rs`, `backfill_pending`).
        let inserted: Result<i64, ()> = self.with_client(false, |client| {
            let mut transaction = client.transaction()?;
            let result = transaction.query_one(
                "WITH seen AS (
                     INSERT INTO nodes (name, last_seen, ttl_ms)
                     SELECT $4, now(), $5::float8::bigint WHERE $4::text IS NOT NULL
                     ON CONFLICT (name) DO UPDATE SET last_seen = now(), ttl_ms = excluded.ttl_ms)
                 INSERT INTO filters (expression, kind, owner, node, expires, name, rate_max_per_s, topics)
                 VALUES ($1, $2, $3, $4, now() + $5::float8 * interval '1 millisecond', $6, $7, $8)
                 RETURNING id",
                &[
                    &filter.expression,
                    &rows::kind_name(filter.kind),
                    &filter.owner,
                    &filter.node,
                    &ttl,
                    &filter.name,
                    &rate_max,
                    &filter.topics,
                ],
            );
            let id: i64 = match result {
                Ok(row) => row.get(0),
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(Err(())),
                Err(error) => return Err(error),
            };
            if let Some(request) = &filter.backfill {
                backfill::insert_job(&mut transaction, id, request)?;
            }
            transaction.commit()?;
            Ok(Ok(id))
        })?;
        let id = inserted.map_err(|()| RegistryError::DuplicateName(filter.name.clone().unwrap_or_default()))?;
        Ok(FilterId(id as u64))
    }

    fn heartbeat(&self, node: &str, ids: &[FilterId], ttl: Duration) -> Result<HeartbeatOutcome, RegistryError> {
        let ids = ids_as_i64(ids);
        let ttl_ms = ttl.as_secs_f64() * 1000.0;
        self.with_client(true, |client| liveness::heartbeat(client, node, &ids, ttl_ms))
    }

    fn delete(&self, ids: &[FilterId]) -> Result<Vec<FilterId>, RegistryError> {
        let ids = ids_as_i64(ids);
        // Retried once after a dropped connection: should the first attempt
        // have committed, the retry finds nothing and the ids it deleted go
        // unreported; the rows are gone either way.
        let rows = self
            .with_client(true, |client| client.query("DELETE FROM filters WHERE id = ANY($1) RETURNING id", &[&ids]))?;
        Ok(rows.iter().map(|row| FilterId(row.get::<_, i64>(0) as u64)).collect())
    }

    fn list(&self) -> Result<Vec<FilterRow>, RegistryError> {
        self.with_client(true, rows::select_all)?.into_iter().collect()
    }

    fn sweep_expired(&self) -> Result<u64, RegistryError> {
        self.with_client(true, liveness::sweep)
    }

    fn watch(&self) -> Result<Box<dyn RegistryWatch>, RegistryError> {
        Ok(Box::new(watch::PostgresWatch::new(self.config.clone())))
    }

    fn claim_backfill(&self, claimer: &str, lease: Duration) -> Result<Option<BackfillJob>, RegistryError> {
        let lease_ms = lease.as_secs_f64() * 1000.0;
        // Not retried after a dropped connection: the claim may have
        // committed, and then it is reclaimed once its lease runs out.
        self.with_client(false, |client| backfill::claim(client, claimer, lease_ms))
    }

    fn renew_backfill(&self, filter: FilterId, claimer: &str, lease: Duration) -> Result<bool, RegistryError> {
        let lease_ms = lease.as_secs_f64() * 1000.0;
        self.with_client(true, |client| backfill::renew(client, filter.0 as i64, claimer, lease_ms))
    }

    fn finish_backfill(
        &self,
        filter: FilterId,
        claimer: &str,
        outcome: BackfillOutcome,
    ) -> Result<bool, RegistryError> {
        self.with_client(true, |client| backfill::finish(client, filter.0 as i64, claimer, &outcome))
    }

    fn record_seams(&self, seams: &[Seam]) -> Result<(), RegistryError> {
        if seams.is_empty() {
            return Ok(());
        }
        self.with_client(true, |client| backfill::record_seams(client, seams))
    }

    fn announce_topics(&self, topics: &[String]) -> Result<(), RegistryError> {
        if topics.is_empty() {
            return Ok(());
        }
        self.with_client(true, |client| {
            client.execute(
                "INSERT INTO worker_topics (topic, last_seen) SELECT t, now() FROM unnest($1::text[]) AS t
                 ON CONFLICT (topic) DO UPDATE SET last_seen = now()",
                &[&topics],
            )?;
            Ok(())
        })
    }

    fn known_topics(&self, within: Duration) -> Result<Vec<String>, RegistryError> {
        let within_ms = within.as_secs_f64() * 1000.0;
        self.with_client(true, |client| {
            let rows = client.query(
                "SELECT topic FROM worker_topics
                  WHERE last_seen >= now() - $1::float8 * interval '1 millisecond' ORDER BY topic",
                &[&within_ms],
            )?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn seams(&self, filter: FilterId) -> Result<Vec<Seam>, RegistryError> {
        self.with_client(true, |client| backfill::seams(client, filter.0 as i64))
    }
}
