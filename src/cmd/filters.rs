//! `clicktail filters add|list|rm`: standing filters in the registry (no
//! session, no expiry), whose matches downstream applications consume from
//! the filtered topic by filter id.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use clap::Subcommand;
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{FilterKind, NewFilter, Registry, RATE_MAX_PER_S_MAX};

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
        /// Its match budget: at most N matches per second (across all
        /// workers) go to the filtered topic, a uniform sample of them, and
        /// every match is counted in its `stats` records. Unlimited if unset.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(RATE_MAX_PER_S_MAX)))]
        rate_max: Option<u32>,
        /// Match only events of these raw topics: a comma-separated list of
        /// names and/or one `^pattern`, checked against the topics the
        /// workers announce (default: every raw topic).
        #[arg(long, value_name = "TOPICS")]
        topics: Option<String>,
    },
    /// Lists every filter: id, kind, owner, expiry (Unix seconds or `-`),
    /// name (or `-`), match budget per second (or `-`: unlimited for a
    /// standing filter, the workers' default for a session one), topics
    /// (comma-separated, or `-`: every raw topic), expression.
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
        FiltersAction::Add { expression, owner, name, rate_max, topics } => {
            let mut filter = NewFilter::standing(expression, owner);
            if let Some(name) = name {
                filter = filter.named(name);
            }
            if let Some(rate_max) = rate_max {
                filter = filter.with_rate_max(rate_max);
            }
            if let Some(topics) = topics {
                filter = filter.with_topics(checked_topics(&registry, &topics)?);
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
                let rate_max = row.rate_max_per_s.map_or_else(|| "-".to_owned(), |rate| rate.to_string());
                let topics = row.topics.as_ref().map_or_else(|| "-".to_owned(), |topics| topics.join(","));
                // Name, budget and topics before the expression (the only field
                // that may hold spaces), after the columns scripts already cut by position.
                println!(
                    "{}\t{kind}\t{}\t{expires}\t{name}\t{rate_max}\t{topics}\t{}",
                    row.id, row.owner, row.expression
                );
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

/// `--topics` as a list, each name one the workers announced and a
/// pattern matching one of them. Before any worker announced its topics
/// (a first deployment) the list is taken as given, with a warning.
fn checked_topics(registry: &PostgresRegistry, topics: &str) -> anyhow::Result<Vec<String>> {
    let list: Vec<String> = topics.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    let known = registry.known_topics(clicktail_gateway::topics::ANNOUNCED_WITHIN)?;
    if known.is_empty() {
        eprintln!("warning: no worker has announced its raw topics yet: --topics {topics} is not checked");
        return Ok(list);
    }
    clicktail_gateway::topics::checked_topic_list(list, || Ok(known))
        .map_err(|message| anyhow::anyhow!("--topics: {message}"))
}
