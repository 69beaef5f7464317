//! The gateway's errors: what failed and where, for the binary to report.

use clicktail_engine::log::LogError;
use clicktail_engine::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid gateway configuration: {0}")]
    Config(String),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot start the event loop: {0}")]
    Poll(std::io::Error),
    #[error("cannot start thread {name}: {source}")]
    Thread { name: String, source: std::io::Error },
    #[error("log {what}: {source}")]
    Log { what: &'static str, source: LogError },
    #[error("registry {what}: {source}")]
    Registry { what: &'static str, source: RegistryError },
}
