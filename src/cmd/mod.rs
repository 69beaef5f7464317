//! One module per subcommand; `lines` is shared input handling, `process`
//! the logging and signal handling of the long-running ones.

pub mod demo;
pub mod filters;
pub mod fixtures;
pub mod gateway;
pub mod lines;
pub mod loadgen;
pub mod match_cmd;
pub mod migrate;
pub mod open_files;
pub mod process;
pub mod tail;
pub mod worker;
