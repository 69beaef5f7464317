//! The subcommands a build without the `cluster` feature leaves out (the
//! quick demo build, `--no-default-features`): asked for one, the binary
//! says why it is missing instead of clap's "unrecognized subcommand".

/// The subcommands that need Kafka or PostgreSQL.
const CLUSTER_COMMANDS: [&str; 5] = ["worker", "gateway", "migrate", "filters", "tail"];

/// Exits with status 2 (clap's usage status) when the first argument names
/// a left-out subcommand.
pub fn refuse_cluster_command() {
    let Some(command) = std::env::args().nth(1) else { return };
    if CLUSTER_COMMANDS.contains(&command.as_str()) {
        eprintln!(
            "clicktail: `{command}` needs Kafka and PostgreSQL, which this build leaves out \
             (built with --no-default-features); rebuild with the default features: cargo build --release"
        );
        std::process::exit(2);
    }
}
