//! What every long-running command (`demo`, `worker`, `gateway`) does the
//! same way: logging, and waiting for the signal to stop.

use anyhow::Context;

/// Structured logs to stderr; `RUST_LOG` overrides the default `info`.
/// Colours only on a terminal: a journal or a log file gets plain text.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// Blocks until SIGINT or SIGTERM, and returns as soon as one arrives (the
/// drain that follows turns `/readyz` to 503 at once).
pub fn wait_for_signal() -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
        .context("installing the signal handler")?;
    let signal = signals.forever().next();
    tracing::info!(?signal, "signal received: stopping");
    Ok(())
}

/// An error and its causes on one line, each cause once. Many of the
/// workspace's errors already quote their source in their own message
/// (`filter rejected: column 21: ...`), which a plain `{:#}` would then
/// print again; a cause is added only when the line does not hold it yet.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::describe_error;

    /// Like the workspace's errors: its message quotes its source.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "filter rejected: {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let quoting = anyhow::Error::new(Quoting(std::io::Error::other("column 21: expected a criterion")));
        assert_eq!(describe_error(&quoting), "filter rejected: column 21: expected a criterion");
        let wrapped = quoting.context("subscribing");
        assert_eq!(describe_error(&wrapped), "subscribing: filter rejected: column 21: expected a criterion");
        let plain = anyhow::Error::new(std::io::Error::other("refused")).context("connecting to the broker");
        assert_eq!(describe_error(&plain), "connecting to the broker: refused");
    }
}
