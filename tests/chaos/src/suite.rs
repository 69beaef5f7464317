//! The suite's settings and what every scenario shares: the binary, the
//! services, the numbered events, and a stage (topics and a registry
//! schema of its own) per scenario.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};

use crate::events::Events;

#[derive(clap::Parser, Debug)]
#[command(about = "The chaos suite: faults against real clicktail processes, Kafka and PostgreSQL")]
pub struct Args {
    /// The `clicktail` binary under test.
    #[arg(long, env = "CLICKTAIL_BIN")]
    pub bin: Option<PathBuf>,
    /// Kafka bootstrap servers of the services (scripts/services.sh).
    #[arg(long, env = "CLICKTAIL_KAFKA_BROKERS")]
    pub brokers: String,
    /// The services' PostgreSQL URL.
    #[arg(long, env = "CLICKTAIL_DATABASE_URL")]
    pub database_url: String,
    /// Run only these scenarios (comma separated; `--list` names them).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Numbered events generated for the suite (each scenario plays a prefix).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Logs, events and `summary.txt` (default `target/chaos`).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

pub struct Suite {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub brokers: String,
    pub database_url: String,
    pub work_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub events: std::sync::Arc<Events>,
    /// Distinguishes this run's topics, schemas and groups from any other's.
    pub run_id: String,
}

impl Suite {
    pub fn prepare(args: &Args) -> anyhow::Result<Self> {
        // The crate lives in <root>/tests/chaos.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize()?;
        let bin = args.bin.clone().unwrap_or_else(|| root.join("target/debug/clicktail"));
        if !bin.is_file() {
            bail!("no clicktail binary at {} (cargo build --bin clicktail, or pass --bin)", bin.display());
        }
        let work_dir = args.work_dir.clone().unwrap_or_else(|| root.join("target/chaos"));
        let logs_dir = work_dir.join("logs");
        std::fs::create_dir_all(&logs_dir)?;
        let events = std::sync::Arc::new(Events::load(&bin, &work_dir, args.events)?);
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        Ok(Suite {
            bin,
            root,
            brokers: args.brokers.clone(),
            database_url: args.database_url.clone(),
            work_dir,
            logs_dir,
            events,
            run_id: format!("{}{}", now % 1_000_000, std::process::id() % 1000),
        })
    }

    /// `scripts/services.sh ACTION` (restart-kafka, stop-postgres, ...),
    /// with the caller's service ports.
    pub fn services(&self, action: &str) -> anyhow::Result<()> {
        let output = Command::new(self.root.join("scripts/services.sh"))
            .arg(action)
            .output()
            .with_context(|| format!("running scripts/services.sh {action}"))?;
        if !output.status.success() {
            bail!("scripts/services.sh {action} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    /// Topics and a migrated registry schema for one scenario, removed when
    /// the stage is dropped.
    pub fn stage(&self, scenario: &str, brokers: &str) -> anyhow::Result<Stage> {
        let id = format!("{}_{}", scenario.replace('-', "_"), self.run_id);
        let stage = Stage {
            raw_topic: format!("chaos-{id}"),
            filtered_topic: format!("chaos-{id}.filtered"),
            schema: format!("chaos_{id}"),
            group: format!("chaos-{id}"),
            brokers: brokers.to_owned(),
            database_url: self.database_url.clone(),
            partitions: 4,
        };
        let log = KafkaLog::new(KafkaConfig::new(brokers))?;
        log.create_topic(&stage.raw_topic, stage.partitions)?;
        log.create_topic(&stage.filtered_topic, stage.partitions)?;
        let status = Command::new(&self.bin)
            .args(["migrate", "--database-url", &self.database_url, "--database-schema", &stage.schema])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("clicktail migrate into schema {} failed", stage.schema);
        }
        Ok(stage)
    }

    /// Runs `clicktail ARGS...` to completion; its stdout.
    pub fn clicktail(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(&self.bin).args(args).output()?;
        if !output.status.success() {
            bail!("clicktail {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `clicktail filters add CRITERION` in the stage's schema: its id.
    pub fn add_standing_filter(&self, stage: &Stage, criterion: &str) -> anyhow::Result<u64> {
        let out = self.clicktail(&[
            "filters",
            "add",
            "--database-url",
            &self.database_url,
            "--database-schema",
            &stage.schema,
            "--owner",
            "chaos",
            criterion,
        ])?;
        out.trim().parse().with_context(|| format!("clicktail filters add printed {out:?}"))
    }

    pub fn log_path(&self, scenario: &str, process: &str) -> PathBuf {
        self.logs_dir.join(format!("{scenario}-{process}.log"))
    }
}

/// One scenario's topics, registry schema and worker group.
pub struct Stage {
    pub raw_topic: String,
    pub filtered_topic: String,
    pub schema: String,
    pub group: String,
    pub brokers: String,
    pub database_url: String,
    pub partitions: u32,
}

impl Drop for Stage {
    fn drop(&mut self) {
        // Best effort: a broker that a scenario left down keeps its topics.
        if let Ok(log) = KafkaLog::new(KafkaConfig::new(&self.brokers)) {
            let _ = log.delete_topic(&self.raw_topic);
            let _ = log.delete_topic(&self.filtered_topic);
        }
        let _ = Command::new("psql")
            .args([&self.database_url, "-qc", &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
