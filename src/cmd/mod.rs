//! One module per subcommand.

pub mod fixtures;
pub mod match_cmd;
