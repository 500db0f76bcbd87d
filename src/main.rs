//! The `keyrot-agent` binary: parse the command line, run, print, exit. All work is in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use keyrot_agent::cli::{Cli, Command, NowArgs};
use keyrot_agent::error::exit;
use keyrot_agent::now;
use keyrot_agent::paths::{self, Paths};
use keyrot_agent::redact::scrub;
use keyrot_agent::report;
use keyrot_agent::rotation::Selection;

fn main() -> ExitCode {
    keyrot_agent::logging::init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Now(args) => run_now(args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run_now(args: NowArgs) -> i32 {
    let env = |k: &str| std::env::var_os(k);
    let selection = if args.all {
        Selection::All
    } else if args.profiles.is_empty() {
        Selection::Named(vec![paths::default_profile(env)])
    } else {
        Selection::Named(args.profiles.clone())
    };
    let options = now::Options {
        selection,
        dry_run: args.dry_run,
        allow_root: args.allow_root,
        verify_timeout: args.verify_timeout,
        progress: !args.json && !args.no_progress && std::io::stderr().is_terminal(),
    };
    let result = match Paths::resolve(env) {
        Ok(paths) => runtime().map(|rt| rt.block_on(now::run(&paths, &options))),
        Err(e) => Ok(Err(e.into())),
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyrot-agent: cannot start: {e:#}");
            return exit::INTERNAL;
        }
    };
    match result {
        Ok(report) => {
            let code = report.exit_code();
            if args.json {
                println!("{}", scrub(&report::json(&report, code).to_string()));
            } else {
                print!("{}", scrub(&report::human(&report)));
            }
            for k in &report.keys {
                if let Some(e) = &k.error {
                    eprintln!("keyrot-agent: {}", scrub(&e.to_string()));
                }
            }
            code
        }
        Err(e) => {
            let code = e.exit_code();
            if args.json {
                let v = serde_json::json!({"version": 1, "error": report::json_error(&e), "exit_code": code});
                println!("{}", scrub(&v.to_string()));
            }
            eprintln!("keyrot-agent: {}", scrub(&e.to_string()));
            code
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
