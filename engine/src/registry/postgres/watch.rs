//! One watch of the PostgreSQL registry, on its own connection.
//!
//! On every (re)connect: `LISTEN` first, then `SELECT` the whole table (a
//! `Change::Reset`); notifications that arrive in between are applied
//! after the reset, and applying one twice is harmless (a notification
//! only names a row; its current state is read again). Then each batch of
//! notifications costs one `SELECT ... WHERE id = ANY(...)`.
//!
//! A notification is delivered only once its transaction commits, and in
//! commit order (PostgreSQL docs, "NOTIFY"), so the changes follow the
//! table's history.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::{rows, PostgresConfig};
use crate::matcher::FilterId;
use crate::registry::{Change, FilterRow, RegistryError, RegistryWatch};

/// The first wait before a reconnect attempt; doubles up to the configured maximum.
const RECONNECT_WAIT_FIRST: Duration = Duration::from_millis(50);

/// What a notification says happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Inserted,
    Updated,
    Deleted,
}

/// Parses a trigger payload `I:<id>`, `U:<id>` or `D:<id>`.
fn parse_payload(payload: &str) -> Option<(Operation, i64)> {
    let (operation, id) = payload.split_once(':')?;
    let operation = match operation {
        "I" => Operation::Inserted,
        "U" => Operation::Updated,
        "D" => Operation::Deleted,
        _ => return None,
    };
    Some((operation, id.parse().ok()?))
}

pub(super) struct PostgresWatch {
    config: PostgresConfig,
    /// The LISTEN connection; `None` while disconnected.
    client: Option<Client>,
    /// Changes read but not yet returned (at most one batch of notifications).
    pending: VecDeque<Change>,
    /// When disconnected: the earliest next attempt, and the wait after it.
    retry_at: Option<Instant>,
    retry_wait: Duration,
}

impl PostgresWatch {
    pub(super) fn new(config: PostgresConfig) -> Self {
        PostgresWatch {
            config,
            client: None,
            pending: VecDeque::new(),
            retry_at: None,
            retry_wait: RECONNECT_WAIT_FIRST,
        }
    }

    /// LISTEN, then SELECT everything: the `Reset` of a fresh connection.
    fn connect(&mut self) -> Result<Change, RegistryError> {
        let mut client = self.config.connect()?;
        super::migrations::check(&mut client)?;
        let unavailable = |error: postgres::Error| RegistryError::Unavailable(error.to_string());
        // The trigger's channel is `<schema>.filters` for the schema the
        // table lives in: the first of this connection's search_path.
        let schema: String = client.query_one("SELECT current_schema()", &[]).map_err(unavailable)?.get(0);
        let channel = format!("{schema}.filters").replace('"', "\"\"");
        client.batch_execute(&format!("LISTEN \"{channel}\"")).map_err(unavailable)?;
        let rows: Vec<FilterRow> =
            rows::select_all(&mut client).map_err(unavailable)?.into_iter().collect::<Result<_, _>>()?;
        self.client = Some(client);
        Ok(Change::Reset(rows))
    }

    fn disconnected(&mut self, error: &dyn std::fmt::Display) {
        tracing::warn!(%error, retry_ms = self.retry_wait.as_millis() as u64, "registry watch disconnected; reconnecting");
        self.client = None;
        self.pending.clear();
        self.retry_at = Some(Instant::now() + self.retry_wait);
        self.retry_wait = (self.retry_wait * 2).min(self.config.reconnect_backoff_max);
    }

    /// Waits up to `timeout` for notifications and turns every one
    /// received into changes in `pending`.
    fn follow(&mut self, timeout: Duration) -> Result<(), postgres::Error> {
        let client = self.client.as_mut().expect("follow is called when connected");
        let mut received: Vec<(Operation, i64)> = Vec::new();
        let mut unreadable = false;
        {
            let mut notifications = client.notifications();
            let mut note = |payload: &str| match parse_payload(payload) {
                Some(parsed) => received.push(parsed),
                None => unreadable = true,
            };
            match notifications.timeout_iter(timeout).next()? {
                None => return Ok(()),
                Some(notification) => note(notification.payload()),
            }
            let mut already_here = notifications.iter();
            for _ in 1..self.config.notifications_per_fetch_max {
                match already_here.next()? {
                    Some(notification) => note(notification.payload()),
                    None => break,
                }
            }
        }
        if unreadable {
            // A payload from another schema version: resynchronise fully.
            tracing::warn!("unreadable registry notification; reloading the whole set");
            let rows = rows::select_all(client)?;
            self.pending.push_back(match rows.into_iter().collect::<Result<Vec<_>, _>>() {
                Ok(rows) => Change::Reset(rows),
                Err(error) => {
                    tracing::warn!(%error, "registry rows unreadable");
                    return Ok(());
                }
            });
            return Ok(());
        }
        let wanted: Vec<i64> =
            received.iter().filter(|(operation, _)| *operation != Operation::Deleted).map(|(_, id)| *id).collect();
        let mut current = std::collections::HashMap::new();
        if !wanted.is_empty() {
            for row in rows::select_ids(client, &wanted)? {
                match row {
                    Ok(row) => {
                        current.insert(row.id.0 as i64, row);
                    }
                    Err(error) => tracing::warn!(%error, "registry row unreadable; skipped"),
                }
            }
        }
        for (operation, id) in received {
            // A row inserted then deleted before we read it is a delete.
            let change = match (operation, current.get(&id)) {
                (Operation::Deleted, _) | (_, None) => Change::Delete(FilterId(id as u64)),
                (_, Some(row)) => Change::Upsert(row.clone()),
            };
            self.pending.push_back(change);
        }
        Ok(())
    }
}

impl RegistryWatch for PostgresWatch {
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Change>, RegistryError> {
        if let Some(change) = self.pending.pop_front() {
            return Ok(Some(change));
        }
        if self.client.is_none() {
            if let Some(at) = self.retry_at {
                let now = Instant::now();
                if now < at {
                    std::thread::sleep(timeout.min(at - now));
                    return Ok(None);
                }
            }
            return match self.connect() {
                Ok(reset) => {
                    self.retry_at = None;
                    self.retry_wait = RECONNECT_WAIT_FIRST;
                    tracing::info!("registry watch connected");
                    Ok(Some(reset))
                }
                // A missing schema is an operator's error, not an outage.
                Err(error @ RegistryError::Schema(_)) => Err(error),
                Err(error) => {
                    self.disconnected(&error);
                    Ok(None)
                }
            };
        }
        if let Err(error) = self.follow(timeout) {
            self.disconnected(&error);
        }
        Ok(self.pending.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_payload, Operation};

    #[test]
    fn payloads_parse_and_garbage_does_not() {
        assert_eq!(parse_payload("I:42"), Some((Operation::Inserted, 42)));
        assert_eq!(parse_payload("U:7"), Some((Operation::Updated, 7)));
        assert_eq!(parse_payload("D:9223372036854775807"), Some((Operation::Deleted, i64::MAX)));
        for bad in ["", "I", "X:1", "I:", "I:abc", "D:-"] {
            assert_eq!(parse_payload(bad), None, "{bad:?}");
        }
    }
}
