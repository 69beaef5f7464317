//! One name for one setting across subcommands (issue 14, item 5).

use std::process::Command;

/// `clicktail ARGS` with no `CLICKTAIL_*` variable of the test's
/// environment: (success, stdout, stderr).
fn clicktail(args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clicktail"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLICKTAIL_") {
            command.env_remove(name);
        }
    }
    let output = command.args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// Every role that talks to Kafka takes `--brokers` (CLICKTAIL_KAFKA_BROKERS,
/// default 127.0.0.1:9092); the gateway's old `--kafka-brokers` is not shown.
#[test]
fn every_kafka_role_takes_brokers() {
    for role in ["worker", "gateway", "loadgen"] {
        let (success, help, _) = clicktail(&[role, "--help"]);
        assert!(success, "{role}");
        assert!(help.contains("--brokers <BROKERS>"), "{role}: {help}");
        assert!(help.contains("[env: CLICKTAIL_KAFKA_BROKERS=]"), "{role}: {help}");
        assert!(help.contains("[default: 127.0.0.1:9092]"), "{role}: {help}");
        assert!(!help.contains("kafka-brokers"), "{role}: {help}");
    }
}

/// Scripts written for the old gateway flag keep working: the gateway
/// parses both names and reaches its own configuration check (no token).
#[test]
fn the_gateway_still_accepts_kafka_brokers() {
    for flag in ["--brokers", "--kafka-brokers"] {
        let (success, _, stderr) =
            clicktail(&["gateway", flag, "127.0.0.1:1", "--database-url", "postgres://x@127.0.0.1:1/x"]);
        assert!(!success);
        assert!(stderr.contains("an admin token is required"), "{flag}: {stderr}");
    }
}
