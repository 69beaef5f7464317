//! Reading `filters` rows into [`FilterRow`]s.

use postgres::{Client, Row};

use crate::matcher::FilterId;
use crate::registry::{FilterKind, FilterRow, RegistryError};

/// `backfill_pending` is read from the job table in the same snapshot as
/// the row: a job is inserted in the filter's transaction, so the first
/// read of a filter that has one already says so.
pub(super) const COLUMNS: &str = "id, expression, kind, owner, created, expires, node, name, rate_max_per_s, \
     EXISTS (SELECT 1 FROM backfill_jobs j WHERE j.filter_id = filters.id AND j.finished IS NULL), topics";

pub(super) fn kind_name(kind: FilterKind) -> &'static str {
    match kind {
        FilterKind::Session => "session",
        FilterKind::Standing => "standing",
    }
}

pub(super) fn from_row(row: &Row) -> Result<FilterRow, RegistryError> {
    let kind = match row.get::<_, &str>(2) {
        "session" => FilterKind::Session,
        "standing" => FilterKind::Standing,
        // The table's CHECK constraint forbids it; a newer schema might not.
        other => return Err(RegistryError::Schema(format!("unknown filter kind {other:?}"))),
    };
    Ok(FilterRow {
        id: FilterId(row.get::<_, i64>(0) as u64),
        expression: row.get(1),
        kind,
        owner: row.get(3),
        created: row.get(4),
        expires: row.get(5),
        node: row.get(6),
        name: row.get(7),
        // The column's CHECK keeps it positive.
        rate_max_per_s: row.get::<_, Option<i32>>(8).and_then(|rate| u32::try_from(rate).ok()),
        backfill_pending: row.get(9),
        topics: row.get(10),
    })
}

/// Every row, in id order. Row-level failures are kept per row.
pub(super) fn select_all(client: &mut Client) -> Result<Vec<Result<FilterRow, RegistryError>>, postgres::Error> {
    let rows = client.query(&format!("SELECT {COLUMNS} FROM filters ORDER BY id"), &[])?;
    Ok(rows.iter().map(from_row).collect())
}

/// The rows among `ids` that exist now.
pub(super) fn select_ids(
    client: &mut Client,
    ids: &[i64],
) -> Result<Vec<Result<FilterRow, RegistryError>>, postgres::Error> {
    let rows = client.query(&format!("SELECT {COLUMNS} FROM filters WHERE id = ANY($1)"), &[&ids])?;
    Ok(rows.iter().map(from_row).collect())
}
