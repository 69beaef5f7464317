//! The audit trail: one `info` line under target `clicktail::audit` per
//! filter an admin session starts or stops watching: who (the subject and
//! how it was proven), which criterion, the filter id, when, and from where.
//!
//! "From where" is the TCP peer and, labelled apart, the `X-Forwarded-For`
//! header as the client (or its proxy) sent it: the gateway does not know
//! which proxies to trust, so it records the claim without believing it.
//! Values a client chose are logged with `Debug` (quoted, escaped), so a
//! criterion cannot forge a log line.

use std::net::SocketAddr;

use clicktail_engine::clock::now_ms;
use clicktail_engine::matcher::FilterId;

use crate::auth::Principal;

/// Where audit lines go; filter on it (`RUST_LOG=clicktail::audit=info`).
pub const AUDIT_TARGET: &str = "clicktail::audit";

/// An admitted admin session: who and from where. Shared by the session
/// and the control thread, which registers its filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    pub principal: Principal,
    /// The TCP peer of the handshake.
    pub peer: SocketAddr,
    /// `X-Forwarded-For` as sent, not verified.
    pub forwarded_for: Option<String>,
}

/// Why a filter stopped being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The admin sent `unsubscribe`.
    Unsubscribed,
    /// The session closed with the filter still on.
    SessionClosed,
}

/// A filter was registered for `identity`'s session `session`.
pub fn subscribed(identity: &SessionIdentity, session: &str, filter: FilterId, criterion: &str) {
    tracing::info!(
        target: AUDIT_TARGET,
        action = "subscribe",
        sub = ?identity.principal.subject,
        auth = %identity.principal.method,
        filter = filter.0,
        criterion = ?criterion,
        session,
        at_ms = now_ms(),
        peer = %identity.peer,
        forwarded_for = ?identity.forwarded_for.as_deref().unwrap_or(""),
        "admin subscribed"
    );
}

/// A filter of `identity`'s session stopped (`criterion` if still known).
pub fn ended(identity: &SessionIdentity, session: &str, filter: FilterId, criterion: Option<&str>, why: Ended) {
    tracing::info!(
        target: AUDIT_TARGET,
        action = match why {
            Ended::Unsubscribed => "unsubscribe",
            Ended::SessionClosed => "session_closed",
        },
        sub = ?identity.principal.subject,
        auth = %identity.principal.method,
        filter = filter.0,
        criterion = ?criterion.unwrap_or(""),
        session,
        at_ms = now_ms(),
        peer = %identity.peer,
        forwarded_for = ?identity.forwarded_for.as_deref().unwrap_or(""),
        "admin unsubscribed"
    );
}
