//! `clicktail demo`: Run everything in one process with the in-memory log and registry.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail demo` is not implemented yet")
}
