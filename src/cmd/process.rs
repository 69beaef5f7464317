//! What every long-running command (`demo`, `worker`, `gateway`) does the
//! same way: logging, and waiting for the signal to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

/// Structured logs to stderr; `RUST_LOG` overrides the default `info`.
/// Colours only on a terminal: a journal or a log file gets plain text.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// Blocks until SIGINT or SIGTERM.
pub fn wait_for_signal() -> anyhow::Result<()> {
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, signalled.clone()).context("installing the signal handler")?;
    }
    while !signalled.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
