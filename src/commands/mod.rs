//! The commands: one per subcommand. Each takes the lock, finishes what a crash left, calls the engine,
//! and renders its result.

pub mod agent;
pub mod cli;
pub mod now;
pub mod report;
pub mod status;
