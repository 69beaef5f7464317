//! `clicktail filters`: Manage standing filters in the registry (add, list, rm).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct FiltersArgs {}

pub fn run(_args: FiltersArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail filters` is not implemented yet")
}
