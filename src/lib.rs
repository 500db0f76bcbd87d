//! keyrot-agent keeps the AWS IAM access keys in `~/.aws/credentials` fresh.
//!
//! The library holds everything; the binary (`main.rs`) only parses the command line, sets up
//! logging, and turns results into output and exit codes. See ARCHITECTURE.md for the map.

pub mod commands;
pub mod core;
pub mod edge;
pub mod engine;
pub mod state;
