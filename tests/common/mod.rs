//! What the binary's integration tests share: the services' addresses and
//! a scratch directory per test.

#![allow(dead_code)]

use std::path::PathBuf;

// Not every test binary that includes this module uses it.
#[allow(unused_imports)]
pub use clicktail_test_support::services;

/// An empty-or-new directory for `test` of the test file `file`, under
/// cargo's temporary directory for integration tests.
pub fn scratch_dir(file: &str, test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{file}-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
