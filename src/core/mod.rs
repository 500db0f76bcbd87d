//! The pure core: the file format, the profile rules, the rotation's rules and decisions, the schedule,
//! the config file's syntax, and the words of the domain. Nothing here touches the file system, the network,
//! the environment, an async runtime or the clock (`tests/architecture.rs` checks it).

pub mod compliance;
pub mod config;
pub mod credentials;
pub mod decide;
pub mod hooks;
pub mod keys;
pub mod mfa;
pub mod notices;
pub mod profiles;
pub mod redact;
pub mod rotation;
pub mod schedule;
pub mod trust;
pub mod verdict;
pub mod whereabouts;
