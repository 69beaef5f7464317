//! What every long-running command (`demo`, `worker`, `gateway`) does the
//! same way: logging, the panic policy, and waiting for the signal to stop.

use anyhow::Context;

/// Structured logs to stderr; `RUST_LOG` overrides the default `info`.
/// Colours only on a terminal: a journal or a log file gets plain text.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// The exit status of a process ended by a panic: Rust's own for a panic
/// on the main thread, so every panic reads the same to a supervisor.
pub const PANIC_EXIT_CODE: i32 = 101;

/// Makes a panic on any thread end the whole process with status 101,
/// after logging the thread's name, the location, the message and a
/// backtrace.
///
/// Without it, a panic ends only its own thread: a worker whose control
/// thread died kept its `/healthz` at 200 and matched with a filter set
/// that never changed again (issue 11). A process that exits is restarted
/// by systemd (`Restart=on-failure`) or Kubernetes; a zombie is not.
/// `panic = "unwind"` stays in `Cargo.toml`: this hook runs before any
/// unwinding and exits, and the test harness needs unwinding.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        let location = info.location().map(ToString::to_string).unwrap_or_else(|| "an unknown place".to_owned());
        let message = panic_message(info.payload());
        let backtrace = std::backtrace::Backtrace::force_capture();
        if tracing::dispatcher::has_been_set() {
            tracing::error!(thread, %location, message, %backtrace, "thread panicked; exiting the process");
        } else {
            eprintln!("clicktail: thread '{thread}' panicked at {location}: {message}; exiting\n{backtrace}");
        }
        std::process::exit(PANIC_EXIT_CODE);
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(a panic payload that is not text)"
    }
}

/// Test only, and only in debug builds (`cargo test` builds the binary so):
/// when `CLICKTAIL_TEST_PANIC_AFTER_MS` is set, a thread named
/// `clicktail-test-panic` panics after that many milliseconds. No input
/// makes a clicktail thread panic (that is the point), so this is how
/// `tests/panic_exit.rs` proves that a panicking thread ends a running
/// `demo`. A release build ignores the variable.
#[cfg(debug_assertions)]
pub fn panic_a_thread_if_asked() {
    let Some(after_ms) = std::env::var("CLICKTAIL_TEST_PANIC_AFTER_MS").ok().and_then(|ms| ms.parse().ok()) else {
        return;
    };
    let _ = std::thread::Builder::new().name("clicktail-test-panic".to_owned()).spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(after_ms));
        panic!("test panic asked by CLICKTAIL_TEST_PANIC_AFTER_MS");
    });
}

/// SIGINT and SIGTERM, caught from the start of a long-running command.
/// Installed before it connects or binds anything: a signal that arrives
/// while it starts (an orchestrator stopping a pod that was just scheduled)
/// is held until [`StopSignals::wait`] and honoured by the usual drain,
/// instead of killing the process by the default action.
pub struct StopSignals(signal_hook::iterator::Signals);

impl StopSignals {
    pub fn install() -> anyhow::Result<StopSignals> {
        let signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
            .context("installing the signal handler")?;
        Ok(StopSignals(signals))
    }

    /// Blocks until SIGINT or SIGTERM, and returns as soon as one arrives,
    /// or at once for one that arrived earlier (the drain that follows
    /// turns `/readyz` to 503 at once).
    pub fn wait(mut self) {
        let signal = self.0.forever().next();
        tracing::info!(?signal, "signal received: stopping");
    }

    /// Whether SIGINT or SIGTERM arrived since the last look, without
    /// blocking: for a command that also watches something else (the
    /// worker, whose threads may stop by themselves).
    #[cfg(feature = "cluster")]
    pub fn arrived(&mut self) -> bool {
        let signal = self.0.pending().next();
        if signal.is_some() {
            tracing::info!(?signal, "signal received: stopping");
        }
        signal.is_some()
    }
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
