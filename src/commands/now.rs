//! `keyrot-agent now`: rotate the selected profiles' keys at once.
//!
//! Under the lock, the engine first finishes or rolls back any rotation an earlier run left in
//! the journal, then reads and checks the files (everything that could refuse the run happens
//! before any AWS call), and rotates each distinct key. This module renders what happened.

use std::io::IsTerminal;

use crate::commands::cli::NowArgs;
use crate::commands::render::{self, Report};
use crate::commands::run::{record, run_command, selection};
use crate::core::config::Config;
use crate::core::rotation::Selection;
use crate::edge::paths::Paths;
use crate::edge::store;
use crate::engine::error::Error;

/// How `now` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub selection: Selection,
    pub engine: crate::engine::Options,
}

/// Runs `now`. Errors that stop everything (a bad file, a busy lock, an unknown profile) come
/// back as `Err` before anything was changed; per-key outcomes are in the report.
pub async fn run(paths: &Paths, config: &Config, options: &Options) -> Result<Report, Error> {
    let _lock = store::try_lock(&paths.lock_file())?;
    let done = crate::engine::rotations::rotate_selected(
        paths,
        config,
        &options.selection,
        &options.engine,
    )
    .await?;
    for key in &done.keys {
        record(paths, key);
    }
    Ok(Report {
        credentials_file: paths.credentials.clone(),
        in_flight: done.in_flight,
        all: options.selection == Selection::All,
        dry_run: options.engine.dry_run,
        keys: done.keys,
        skipped: done.skipped,
        settled: done.settled,
        requests: done.requests,
        recovery: false,
    })
}

/// `keyrot-agent now …`.
pub fn command(args: NowArgs) -> i32 {
    let mut options = Options {
        selection: selection(args.all, args.profiles),
        engine: crate::engine::Options {
            dry_run: args.dry_run,
            allow_root: args.allow_root,
            verify_timeout: args.verify_timeout,
            progress: !args.json && !args.no_progress && std::io::stderr().is_terminal(),
            mfa: None,
            no_hooks: args.no_hooks,
        },
    };
    let code = args.mfa_code;
    show(args.json, |paths| async move {
        options.engine.mfa = Some(crate::commands::run::mfa_sessions(&paths, code));
        // The agent's settings (grace); a broken config file is refused here as everywhere.
        let config = crate::engine::local::agent_config(&paths)?;
        run(&paths, &config, &options).await
    })
}

/// Runs a command that produces a report, prints it (summary or JSON), and returns the exit
/// code.
pub(crate) fn show<F, Fut>(json: bool, command: F) -> i32
where
    F: FnOnce(Paths) -> Fut,
    Fut: std::future::Future<Output = Result<Report, Error>>,
{
    match run_command(json, command) {
        Ok(report) => {
            let code = report.exit_code();
            if json {
                println!(
                    "{}",
                    crate::core::redact::for_terminal(&render::json(&report, code).to_string())
                );
            } else if !(crate::commands::run::output().quiet && code == crate::commands::exit::OK) {
                print!(
                    "{}",
                    crate::core::redact::for_terminal(&render::human(
                        &report,
                        &crate::commands::run::output()
                    ))
                );
            }
            for k in &report.keys {
                if let Some(e) = &k.error {
                    eprintln!(
                        "keyrot-agent: {}",
                        crate::core::redact::for_terminal(&e.to_string())
                    );
                }
            }
            code
        }
        Err(code) => code,
    }
}
