//! `clicktail loadgen`: Generate load and measure the pipeline end to end.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LoadgenArgs {}

pub fn run(_args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail loadgen` is not implemented yet")
}
