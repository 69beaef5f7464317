//! `clicktail filters add|list|rm`: standing filters in the registry (no
//! session, no expiry), whose matches downstream applications consume from
//! the filtered topic by filter id.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use clap::Subcommand;
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{FilterKind, NewFilter, Registry};

#[derive(clap::Args)]
pub struct FiltersArgs {
    /// The registry's PostgreSQL URL.
    #[arg(long, env = "CLICKTAIL_DATABASE_URL", value_name = "URL", global = true)]
    database_url: Option<String>,
    /// The schema of the tables (default: the server's search_path).
    #[arg(long, env = "CLICKTAIL_DATABASE_SCHEMA", value_name = "NAME", global = true)]
    database_schema: Option<String>,
    #[command(subcommand)]
    action: FiltersAction,
}

#[derive(Subcommand)]
enum FiltersAction {
    /// Registers a standing filter and prints its id.
    Add {
        /// The filter, in the filter language (docs/filters.md).
        expression: String,
        /// Who owns it (a team, an application).
        #[arg(long, default_value = "cli")]
        owner: String,
        /// A unique name to find it by (`clicktail tail --name`): letters,
        /// digits, `-`, `_`, `.`, not digits only; refused if taken.
        #[arg(long)]
        name: Option<String>,
    },
    /// Lists every filter: id, kind, owner, expiry (Unix seconds or `-`), name (or `-`), expression.
    List,
    /// Deletes filters by id, printing `removed filter ID` for each; an id
    /// with no filter is an error (after the others are removed).
    Rm {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
}

pub fn run(args: FiltersArgs) -> anyhow::Result<ExitCode> {
    let Some(url) = args.database_url else {
        anyhow::bail!("no registry: pass --database-url or set CLICKTAIL_DATABASE_URL");
    };
    let mut config = PostgresConfig::new(&url);
    if let Some(schema) = &args.database_schema {
        config = config.in_schema(schema);
    }
    let registry = PostgresRegistry::connect(config)?;
    match args.action {
        FiltersAction::Add { expression, owner, name } => {
            let mut filter = NewFilter::standing(expression, owner);
            if let Some(name) = name {
                filter = filter.named(name);
            }
            let id = registry.insert(filter)?;
            println!("{id}");
        }
        FiltersAction::List => {
            for row in registry.list()? {
                let kind = match row.kind {
                    FilterKind::Session => "session",
                    FilterKind::Standing => "standing",
                };
                let expires = row
                    .expires
                    .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                    .map_or_else(|| "-".to_owned(), |d| d.as_secs().to_string());
                let name = row.name.as_deref().unwrap_or("-");
                // The name before the expression (the only field that may hold
                // spaces), after the columns scripts already cut by position.
                println!("{}\t{kind}\t{}\t{expires}\t{name}\t{}", row.id, row.owner, row.expression);
            }
        }
        FiltersAction::Rm { ids } => {
            // In the order given, each id once.
            let mut wanted: Vec<FilterId> = Vec::with_capacity(ids.len());
            for id in ids.into_iter().map(FilterId) {
                if !wanted.contains(&id) {
                    wanted.push(id);
                }
            }
            let removed = registry.delete(&wanted)?;
            let (removed, unknown): (Vec<FilterId>, Vec<FilterId>) =
                wanted.into_iter().partition(|id| removed.contains(id));
            for id in removed {
                println!("removed filter {id}");
            }
            if !unknown.is_empty() {
                let unknown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
                anyhow::bail!("no filter with id {} (see `clicktail filters list`)", unknown.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
