//! What the integration tests of every crate share: the addresses of the
//! services `scripts/services.sh` runs, and the script itself for the tests
//! that stop and start them. A crate of its own because each crate's
//! `tests/common` is compiled into that crate's test binaries only.

/// The services' addresses (brokers, database URL) from `scripts/services.sh`;
/// `None` to skip when `CLICKTAIL_SKIP_SERVICES=1`, a panic when they are
/// missing otherwise.
pub fn services() -> Option<(String, String)> {
    match (std::env::var("CLICKTAIL_KAFKA_BROKERS"), std::env::var("CLICKTAIL_DATABASE_URL")) {
        (Ok(brokers), Ok(database)) => Some((brokers, database)),
        _ if std::env::var("CLICKTAIL_SKIP_SERVICES").as_deref() == Ok("1") => None,
        _ => panic!(
            "CLICKTAIL_KAFKA_BROKERS and CLICKTAIL_DATABASE_URL must be set: run `scripts/services.sh up` and \
             `source .cache/services/env` (or set CLICKTAIL_SKIP_SERVICES=1 to skip service tests)"
        ),
    }
}

/// Runs `scripts/services.sh ARGS` (or `$CLICKTAIL_SERVICES_SCRIPT`): the
/// outage tests stop and start the services with it.
pub fn services_script(args: &[&str]) {
    let script = std::env::var("CLICKTAIL_SERVICES_SCRIPT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/services.sh").to_owned());
    let status = std::process::Command::new(&script)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("cannot run {script}: {error}"));
    assert!(status.success(), "{script} {args:?} failed");
}
