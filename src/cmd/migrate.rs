//! `clicktail migrate`: Apply the registry's SQL migrations to PostgreSQL.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MigrateArgs {}

pub fn run(_args: MigrateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail migrate` is not implemented yet")
}
