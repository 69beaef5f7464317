//! `clicktail gateway`: Run a gateway node: admin sessions, delivery, browser ingest, UI.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct GatewayArgs {}

pub fn run(_args: GatewayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`clicktail gateway` is not implemented yet")
}
