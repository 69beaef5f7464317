//! The small HTTP/1.1 surface of the gateway: parse one request head, route
//! it, answer and close. Every response carries `Connection: close`: the UI
//! is loaded once per page (a page, a stylesheet and about twenty small
//! modules, all preloaded at once by index.html), and keep-alive would only
//! keep idle sockets around.
//!
//! Layout:
//! - `request.rs`: the parsed request head (httparse) and its limits;
//! - `response.rs`: response bytes;
//! - `host.rs`: which `Host` names are served (DNS rebinding);
//! - `upgrade.rs`: the WebSocket opening handshake (RFC 6455 section 4.2),
//!   with the Origin and token checks;
//! - `assets.rs`: the UI and `tracker.js`, embedded at build time.

pub mod assets;
pub mod host;
pub mod request;
pub mod response;
pub mod upgrade;
