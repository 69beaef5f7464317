//! The socket side of the gateway: a few event-loop threads, each owning its
//! connections (HTTP requests, admin sessions, ingest sockets).
//!
//! Layout:
//! - `event_loop.rs`: the mio loop, accept, inbox drain, timers;
//! - `inbox.rs`: the bounded hand-off into a loop from other threads;
//! - `http_connection.rs`: reading and routing one HTTP request;
//! - `websocket.rs`: a WebSocket's reads, bounded writes, pings and close;
//! - `session_stream.rs`: the socket under a WebSocket, holding buffers only
//!   while bytes are in flight (idle sessions cost little);
//! - `listener.rs`: the listening socket (`--reuse-port` shares the port
//!   between gateway processes);
//! - `outbound.rs`: a session's bounded frame queue, one lane per filter
//!   written round robin (drop and count per filter);
//! - `admin.rs`: the admin requests, dispatched by message kind.

pub mod admin;
pub mod event_loop;
pub mod http_connection;
pub mod inbox;
pub mod listener;
pub mod outbound;
pub mod session_stream;
pub mod websocket;
