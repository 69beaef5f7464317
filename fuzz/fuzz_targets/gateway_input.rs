//! Everything a remote peer can send the gateway, fed arbitrary bytes: an
//! HTTP request head, a stream of WebSocket frames (RFC 6455) read with the
//! gateway's limits, an admin `/ws` message, an `/ingest` batch. None may
//! panic; every WebSocket message read must respect the size limit.

#![no_main]

use std::io::Cursor;

use clicktail_gateway::http::request::Request;
use clicktail_gateway::protocol::ClientMessage;
use clicktail_gateway::{validate_ingest_batch, IngestLimits};
use libfuzzer_sys::fuzz_target;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

/// Small limits so the fuzzer reaches them.
const MESSAGE_BYTES_MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    match selector % 4 {
        0 => {
            let _ = Request::parse(input, 8192);
        }
        1 => {
            let mut config = WebSocketConfig::default();
            config.max_message_size = Some(MESSAGE_BYTES_MAX);
            config.max_frame_size = Some(MESSAGE_BYTES_MAX);
            let mut socket = WebSocket::from_raw_socket(Cursor::new(input.to_vec()), Role::Server, Some(config));
            // Each read consumes input or fails; the loop ends with the input.
            for _ in 0..input.len() + 1 {
                match socket.read() {
                    Ok(message) => {
                        assert!(message.len() <= MESSAGE_BYTES_MAX, "a message over the limit was accepted");
                        if let Ok(text) = message.to_text() {
                            let _ = ClientMessage::parse(text);
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(input) {
                let _ = ClientMessage::parse(text);
            }
        }
        _ => {
            let limits = IngestLimits { batch_bytes_max: 64 * 1024, batch_events_max: 100, event_bytes_max: 8192 };
            let _ = validate_ingest_batch(input, &limits);
        }
    }
});
