//! One module per subcommand.

pub mod fixtures;
pub mod lines;
pub mod match_cmd;
