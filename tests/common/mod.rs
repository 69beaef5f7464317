//! What the binary's integration tests share: the services' addresses and
//! a scratch directory per test.

#![allow(dead_code)]

use std::path::PathBuf;

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

/// An empty-or-new directory for `test` of the test file `file`, under
/// cargo's temporary directory for integration tests.
pub fn scratch_dir(file: &str, test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{file}-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
