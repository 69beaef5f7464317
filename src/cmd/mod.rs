//! One module per subcommand; `process` is the logging and signal handling
//! of the long-running ones. `lines`, the plain line reader `match` once
//! used, is kept as the reference its chunk reader is tested against.

pub mod demo;
pub mod filters;
pub mod fixtures;
pub mod gateway;
#[cfg(test)]
pub mod lines;
pub mod loadgen;
pub mod match_cmd;
pub mod migrate;
pub mod open_files;
pub mod process;
pub mod tail;
pub mod worker;
