//! The `clicktail` binary: a thin dispatcher over the workspace's crates.
//!
//! Each subcommand lives in its own file under `src/cmd/`; this file only
//! parses the command line and hands over.

#[cfg(feature = "cluster")]
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cmd;

// mimalloc as the global allocator: the hot loops allocate little, but the
// control paths (rebuilds, gateway buffers) allocate a lot of small objects
// across threads, where mimalloc beats glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "clicktail", version, about = "Live tail for clickstreams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of the largest arguments (the demo's
// and the gateway's) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run everything in one process (in-memory log and registry) and serve the UI.
    Demo(cmd::demo::DemoArgs),
    /// Match events (a file or stdin) against filters (a file or -e), offline.
    Match(cmd::match_cmd::MatchArgs),
    #[cfg(feature = "cluster")]
    /// Run filter workers: raw topic -> matches -> filtered topic.
    Worker(cmd::worker::WorkerArgs),
    #[cfg(feature = "cluster")]
    /// Run a gateway node: admin sessions over WebSocket, ingest, UI.
    Gateway(cmd::gateway::GatewayArgs),
    #[cfg(feature = "cluster")]
    /// Apply the registry's SQL migrations to PostgreSQL.
    Migrate(cmd::migrate::MigrateArgs),
    #[cfg(feature = "cluster")]
    /// Manage standing filters (add, list, rm).
    Filters(cmd::filters::FiltersArgs),
    #[cfg(feature = "cluster")]
    /// Print a standing filter's matches (or every filter's) from the filtered topic.
    Tail(cmd::tail::TailArgs),
    /// Generate load and measure the pipeline end to end.
    Loadgen(cmd::loadgen::LoadgenArgs),
    /// Generate realistic clickstream fixtures (events, filter sets).
    Fixtures(cmd::fixtures::FixturesArgs),
}

fn main() -> std::process::ExitCode {
    cmd::process::exit_on_panic();
    #[cfg(debug_assertions)]
    cmd::process::panic_a_thread_if_asked();
    #[cfg(not(feature = "cluster"))]
    cmd::left_out::refuse_cluster_command();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Match(args) => cmd::match_cmd::run(args),
        #[cfg(feature = "cluster")]
        Command::Worker(args) => cmd::worker::run(args),
        #[cfg(feature = "cluster")]
        Command::Gateway(mut args) => {
            // Whether `connections_max` is the operator's number or the
            // default decides if a short open-file limit is a warning.
            let source =
                matches.subcommand_matches("gateway").and_then(|gateway| gateway.value_source("connections_max"));
            args.connections_max_chosen = matches!(source, Some(ValueSource::CommandLine | ValueSource::EnvVariable));
            cmd::gateway::run(args)
        }
        #[cfg(feature = "cluster")]
        Command::Migrate(args) => cmd::migrate::run(args),
        #[cfg(feature = "cluster")]
        Command::Filters(args) => cmd::filters::run(args),
        #[cfg(feature = "cluster")]
        Command::Tail(args) => cmd::tail::run(args),
        Command::Loadgen(args) => cmd::loadgen::run(args),
        Command::Fixtures(args) => cmd::fixtures::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("clicktail: {}", cmd::process::describe_error(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
