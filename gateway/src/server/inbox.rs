//! The bounded hand-off into an event loop from the gateway's other threads
//! (delivery, control, ingest), and the wake-up that goes with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clicktail_engine::matcher::FilterId;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use tungstenite::Utf8Bytes;

use crate::ids::ConnectionId;

/// Work for an event loop about one of its connections.
pub enum LoopCommand {
    /// An event frame of `filter` for an admin session: droppable when the
    /// filter's share of the session queue is full.
    Event { connection: ConnectionId, filter: FilterId, frame: Utf8Bytes },
    /// Frames of `filter` the delivery thread could not hand over (inbox
    /// full), to report to the session.
    Missed { connection: ConnectionId, filter: FilterId, count: u64 },
    /// A reply (never dropped: past the control lane's bound the session is closed).
    Reply { connection: ConnectionId, frame: Utf8Bytes },
    /// A subscription was refused by the control thread (invalid criterion,
    /// registry down): the reply, and one subscribe fewer in flight.
    SubscribeRefused { connection: ConnectionId, frame: Utf8Bytes },
    /// A subscription was registered: the session now owns `filter`.
    Subscribed { connection: ConnectionId, filter: FilterId, reply: Utf8Bytes, history: Vec<Utf8Bytes> },
    /// The registry row of `old` was lost: the session's filter is now
    /// `new` (`filter_replaced`), or nothing (`None`, `filter_lost`).
    /// `frame` tells the session which.
    FilterReplaced { connection: ConnectionId, old: FilterId, new: Option<FilterId>, frame: Utf8Bytes },
    /// The HTTP response to a request that waited on another thread (POST /ingest).
    HttpResponse { connection: ConnectionId, response: Vec<u8> },
}

/// The sending side of one loop's inbox.
#[derive(Clone)]
pub struct LoopHandle {
    sender: Sender<LoopCommand>,
    waker: Arc<mio::Waker>,
    /// Set by senders, cleared by the loop before it drains: one `wake`
    /// syscall per burst of commands instead of one per command.
    wake_pending: Arc<AtomicBool>,
}

/// The receiving side, owned by the loop.
pub struct LoopInbox {
    pub receiver: Receiver<LoopCommand>,
    pub wake_pending: Arc<AtomicBool>,
}

pub fn channel(waker: mio::Waker, capacity: usize) -> (LoopHandle, LoopInbox) {
    let (sender, receiver) = crossbeam_channel::bounded(capacity);
    let wake_pending = Arc::new(AtomicBool::new(false));
    (
        LoopHandle { sender, waker: Arc::new(waker), wake_pending: wake_pending.clone() },
        LoopInbox { receiver, wake_pending },
    )
}

impl LoopHandle {
    /// Queues `command` without waking the loop; call [`wake`](Self::wake)
    /// after a burst. Gives the command back when the inbox is full.
    pub fn push(&self, command: LoopCommand) -> Result<(), LoopCommand> {
        self.sender.try_send(command).map_err(|error| match error {
            TrySendError::Full(command) | TrySendError::Disconnected(command) => command,
        })
    }

    /// Queues `command`, waiting up to `timeout` for room, then wakes the loop.
    pub fn send_and_wake(&self, command: LoopCommand, timeout: std::time::Duration) -> Result<(), LoopCommand> {
        let result = self.sender.send_timeout(command, timeout).map_err(|error| error.into_inner());
        self.wake();
        result
    }

    pub fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake means the loop's poll is gone (shutdown); the
            // command will never be read, which is what shutdown means.
            let _ = self.waker.wake();
        }
    }
}
