//! `clicktail gateway`: one gateway node on Kafka and PostgreSQL: admin
//! sessions, delivery by filter id, browser ingest, the UI. All settings are
//! in [`GatewayConfig`] (flags or `CLICKTAIL_*`); this file only connects
//! the two adapters, waits for a signal and drains (`--shutdown-grace-ms`).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_gateway::{Gateway, GatewayConfig};

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Kafka bootstrap servers (`host:port[,...]`).
    // `--brokers` as in `worker` and `loadgen`; `--kafka-brokers`, the
    // gateway's first name for it, stays a hidden alias for old scripts.
    #[arg(long = "brokers", alias = "kafka-brokers", value_name = "BROKERS")]
    #[arg(env = "CLICKTAIL_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    /// The registry's PostgreSQL URL.
    #[arg(long = "database-url", env = "CLICKTAIL_DATABASE_URL")]
    pub database_url: String,

    /// The schema of the registry's tables (default: the server's search_path).
    #[arg(long = "database-schema", env = "CLICKTAIL_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,

    #[command(flatten)]
    pub gateway: GatewayConfig,
    /// `--connections-max` (or its variable) was given, not defaulted: set
    /// by `main` from the parse.
    #[arg(skip)]
    pub connections_max_chosen: bool,
}

pub fn run(mut args: GatewayArgs) -> anyhow::Result<ExitCode> {
    super::process::init_tracing();
    let stop = super::process::StopSignals::install()?;
    if let Err(error) = clicktail_engine::small_pages::use_small_pages() {
        tracing::warn!(%error, "could not turn transparent huge pages off: idle sessions will cost more memory");
    }
    // A configuration mistake (no token) is reported as such even when
    // Kafka or PostgreSQL are away too: it is checked before connecting.
    args.gateway.validate()?;
    let log = KafkaLog::new(KafkaConfig::new(&args.kafka_brokers)).context("connecting to Kafka")?;
    let mut postgres = PostgresConfig::new(&args.database_url);
    if let Some(schema) = &args.database_schema {
        postgres = postgres.in_schema(schema);
    }
    let registry = PostgresRegistry::connect(postgres).context("connecting to the PostgreSQL registry")?;
    args.gateway.connections_max =
        super::open_files::fit_connections_max(args.gateway.connections_max, args.connections_max_chosen);
    let grace = args.gateway.shutdown_grace();
    let gateway = Gateway::start(args.gateway, Arc::new(log), Arc::new(registry))?;
    println!("clicktail gateway: listening on http://{}", gateway.local_address());
    stop.wait();
    gateway.shutdown(grace);
    Ok(ExitCode::SUCCESS)
}
