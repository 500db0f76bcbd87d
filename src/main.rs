//! The `keyrot-agent` binary: set up logging, parse the command line, run it, exit. All work is
//! in the library (`commands::run` and below).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = keyrot_agent::commands::cli::parse();
    keyrot_agent::edge::logging::init(cli.verbose, cli.quiet);
    let code = keyrot_agent::commands::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
