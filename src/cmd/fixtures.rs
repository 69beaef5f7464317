//! `clicktail fixtures`: placeholder until the clickstream generator lands.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct FixturesArgs {}

pub fn run(_args: FixturesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
