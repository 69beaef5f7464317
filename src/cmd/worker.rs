//! `clicktail worker`: Run filter workers: consume the raw topic, match, produce to the filtered topic.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct WorkerArgs {}

pub fn run(_args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail worker` is not implemented yet")
}
