//! `completions` and `man`: the shell completion scripts and the manual page, generated from the
//! command line's own definition (clap_complete, clap_mangen), so that they never drift from it.
//! The packages ship copies kept in `packaging/` (`tests/docs.rs` checks they are current).

use std::io::Write;

use clap::CommandFactory;

use crate::commands::cli::{Cli, Shell};
use crate::commands::exit;

/// `keyrot-agent completions SHELL`: the script on standard output.
pub fn completions(shell: Shell) -> i32 {
    let mut command = Cli::command();
    let mut out = Vec::new();
    let name = "keyrot-agent";
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut command, name, &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut command, name, &mut out)
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut command, name, &mut out)
        }
    }
    write_out(&out)
}

/// `keyrot-agent man`: the manual page (roff) on standard output.
pub fn man() -> i32 {
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
        eprintln!("keyrot-agent: could not render the manual page: {e}");
        return exit::INTERNAL;
    }
    write_out(&out)
}

fn write_out(bytes: &[u8]) -> i32 {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("keyrot-agent: could not write to standard output: {e}");
            exit::IO
        }
    }
}
