//! `clicktail migrate`: applies the registry's SQL migrations (`migrations/`,
//! embedded in the binary) to PostgreSQL. Idempotent; safe to run on many
//! nodes at once (an advisory lock serialises them).

use std::process::ExitCode;

use clicktail_engine::registry::postgres::{migrate, migrations, PostgresConfig};

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The registry's PostgreSQL URL.
    #[arg(long, env = "CLICKTAIL_DATABASE_URL", value_name = "URL")]
    database_url: String,
    /// The schema for the tables (default: the server's search_path, normally `public`).
    #[arg(long, env = "CLICKTAIL_DATABASE_SCHEMA", value_name = "NAME")]
    database_schema: Option<String>,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let mut config = PostgresConfig::new(&args.database_url);
    if let Some(schema) = &args.database_schema {
        config = config.in_schema(schema);
    }
    let applied = migrate(&config)?;
    if applied.is_empty() {
        println!("registry schema already at version {}", migrations::latest_version());
    } else {
        for version in applied {
            println!("applied migration {version}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
