//! One module per subcommand; `process` is the logging and signal handling
//! of the long-running ones. `lines`, the plain line reader `match` once
//! used, is kept as the reference its chunk reader is tested against.

pub mod demo;
#[cfg(feature = "cluster")]
pub mod filters;
pub mod fixtures;
#[cfg(feature = "cluster")]
pub mod gateway;
#[cfg(not(feature = "cluster"))]
pub mod left_out;
#[cfg(test)]
pub mod lines;
pub mod loadgen;
pub mod match_cmd;
#[cfg(feature = "cluster")]
pub mod migrate;
pub mod open_files;
pub mod process;
#[cfg(feature = "cluster")]
pub mod tail;
#[cfg(feature = "cluster")]
pub mod worker;
