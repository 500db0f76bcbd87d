//! The edges: each module touches one outside thing (AWS, the OS keyring, the disk, the environment,
//! the terminal, the desktop, service managers, file watching).

pub mod aws;
pub mod child;
pub mod desktop;
pub mod failpoint;
pub mod keyring;
pub mod logging;
pub mod mfa_code;
pub mod paths;
pub mod process;
pub mod service;
pub mod storage;
pub mod store;
pub mod terminal;
pub mod watch;
