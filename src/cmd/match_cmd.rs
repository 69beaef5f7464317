//! `clicktail match`: placeholder until the engine lands.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MatchArgs {}

pub fn run(_args: MatchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
