//! Opening a WebSocket from a chosen loopback source address, as many
//! browsers on different hosts would.
//!
//! Each source address has its own ephemeral port range (about 28,000 ports
//! by default), so spreading sessions over 127.0.0.2, 127.0.0.3, ... keeps
//! a large run clear of port exhaustion and exercises the gateway with many
//! peers, not one. Linux routes all of 127.0.0.0/8 to the loopback device,
//! so binding these needs no setup.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use super::LoadgenError;

/// The bound on the TCP connect and on the WebSocket handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest message accepted from the gateway: its event frames carry
/// events of at most 32 KiB (`ingest_event_bytes_max`) plus a header.
const MESSAGE_BYTES_MAX: usize = 64 * 1024;

/// The `index`-th source address of `count`: 127.0.0.2 ..= 127.0.0.{1 + count}.
pub fn source_address(index: usize, count: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (index % usize::from(count.max(1))) as u8)
}

/// Connects from `source` to `gateway` and performs the client handshake
/// for `path_and_query` (e.g. `/ws?token=...`). The socket is left blocking,
/// with `CONNECT_TIMEOUT` as its read and write timeout.
pub fn connect_websocket(
    source: Ipv4Addr,
    gateway: SocketAddr,
    path_and_query: &str,
) -> Result<WebSocket<TcpStream>, LoadgenError> {
    let failed =
        |stage: &'static str, reason: String| LoadgenError::Connect { source_address: source, gateway, stage, reason };
    let domain = if gateway.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(|e| failed("socket", e.to_string()))?;
    if gateway.is_ipv4() {
        socket.bind(&SocketAddr::from((source, 0)).into()).map_err(|e| failed("bind", e.to_string()))?;
    }
    socket.connect_timeout(&gateway.into(), CONNECT_TIMEOUT).map_err(|e| failed("connect", e.to_string()))?;
    let stream: TcpStream = socket.into();
    // Frames are small and latency is what is measured: no Nagle delay.
    stream.set_nodelay(true).map_err(|e| failed("nodelay", e.to_string()))?;
    stream.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(|e| failed("timeout", e.to_string()))?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT)).map_err(|e| failed("timeout", e.to_string()))?;
    let url = format!("ws://{gateway}{path_and_query}");
    let config =
        WebSocketConfig::default().max_message_size(Some(MESSAGE_BYTES_MAX)).max_frame_size(Some(MESSAGE_BYTES_MAX));
    let (websocket, _response) = tungstenite::client::client_with_config(url.as_str(), stream, Some(config))
        .map_err(|e| failed("handshake", e.to_string()))?;
    Ok(websocket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_cycle_from_127_0_0_2() {
        assert_eq!(source_address(0, 16), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(15, 16), Ipv4Addr::new(127, 0, 0, 17));
        assert_eq!(source_address(16, 16), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(3, 250), Ipv4Addr::new(127, 0, 0, 5));
    }
}
