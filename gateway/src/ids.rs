//! Newtype ids, so a loop index is never mistaken for a connection token.

/// One of the gateway's event-loop threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoopId(pub usize);

/// A connection within its loop. Tokens are never reused (a counter per
/// loop), so a late delivery for a closed session cannot reach a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub usize);

/// Where a connection lives: its loop, then its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionAddress {
    pub event_loop: LoopId,
    pub connection: ConnectionId,
}

impl std::fmt::Display for ConnectionAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.event_loop.0, self.connection.0)
    }
}
