//! The listening socket. With `reuse_port`, SO_REUSEPORT lets several
//! gateway processes bind the same address: the kernel hashes each new
//! connection (by its addresses and ports) to one of them, as nginx's
//! workers share a port. Each process is a whole node, so nothing else
//! is shared between them.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel queues before the loops accept them (it caps
/// this at `net.core.somaxconn`). Sessions arrive in bursts after a restart.
const BACKLOG: i32 = 4_096;

/// Binds `address`, non-blocking, with SO_REUSEADDR as std does, and
/// SO_REUSEPORT when `reuse_port`.
pub fn bind(address: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
