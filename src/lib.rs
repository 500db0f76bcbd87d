//! keyrot-agent keeps the AWS IAM access keys in `~/.aws/credentials` fresh.
//!
//! The library holds everything; the binary (`main.rs`) only parses the command line, sets up
//! logging, and turns results into output and exit codes. See ARCHITECTURE.md for the map.

pub mod adopt;
pub mod agent;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod error;
pub mod failpoint;
pub mod failures;
pub mod grace;
pub mod journal;
pub mod keyring;
pub mod keys;
pub mod logging;
pub mod notices;
pub mod now;
pub mod paths;
pub mod profiles;
pub mod recover;
pub mod redact;
pub mod report;
pub mod rotation;
pub mod rotator;
pub mod schedule;
pub mod service;
pub mod status;
pub mod store;
pub mod watch;
