//! The commands: one module per subcommand. Each takes the lock, finishes what a crash left,
//! calls the engine, and renders its result. [`run`] dispatches a parsed command line and
//! returns the process's exit code; `main.rs` does nothing else.

pub mod agent;
pub mod cli;
pub mod config;
pub mod docs;
pub mod doctor;
pub mod exit;
pub mod keyring;
pub mod now;
pub mod recover;
pub mod render;
pub mod run;
pub mod service;
pub mod status;
pub mod undo;

use crate::commands::cli::{Cli, Command};

/// Runs a parsed command line; returns the process's exit code.
pub fn run(cli: Cli) -> i32 {
    crate::edge::process::harden();
    crate::edge::logging::scrub_panics();
    run::set_output(run::Output {
        verbose: cli.verbose,
        quiet: cli.quiet,
        color: match cli.color {
            cli::ColorChoice::Always => true,
            cli::ColorChoice::Never => false,
            cli::ColorChoice::Auto => {
                use std::io::IsTerminal;
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        },
    });
    run::allow(crate::edge::paths::Trust {
        fix_permissions: cli.fix_permissions,
        insecure_endpoint: cli.allow_insecure_endpoint,
    });
    match cli.command {
        Command::Now(args) => now::command(args),
        Command::Recover(args) => recover::command(args),
        Command::Undo(args) => undo::command(args),
        Command::Keyring(cmd) => keyring::command(cmd),
        Command::CredentialProcess { profile } => keyring::credential_process(&profile),
        Command::Config(cmd) => config::command(cmd),
        Command::Status(args) => status::command(args),
        Command::Run(args) => agent::command(args),
        Command::Service(cmd) => service::command(cmd),
        Command::Doctor { json, fix } => doctor::command(json, fix),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
    }
}
