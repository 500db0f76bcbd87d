//! `keyrot-agent recover`: under the lock, finish or roll back the rotation an earlier run left
//! in flight (or, with `--dry-run`, say what that would do), and settle old keys whose grace is
//! over.

use std::io::IsTerminal;

use time::OffsetDateTime;

use crate::commands::cli::RecoverArgs;
use crate::commands::now::show;
use crate::commands::render::Report;
use crate::commands::run::record;
use crate::edge::aws::RequestCounter;
use crate::edge::paths::Paths;
use crate::edge::store;
use crate::engine::error::Error;

/// Runs `recover`.
pub async fn run(paths: &Paths, options: &crate::engine::Options) -> Result<Report, Error> {
    let _lock = store::try_lock(&paths.lock_file())?;
    let counter = RequestCounter::default();
    let mut report = Report {
        credentials_file: paths.credentials.clone(),
        in_flight: None,
        all: false,
        dry_run: options.dry_run,
        keys: Vec::new(),
        skipped: Vec::new(),
        settled: Default::default(),
        requests: 0,
        recovery: true,
    };
    if options.dry_run {
        report.in_flight = crate::engine::recover::describe_pending(paths)?;
    } else {
        let agent = crate::engine::local::agent_config(paths)?;
        for key in crate::engine::recover::finish_pending(paths, &agent, options, &counter).await? {
            record(paths, &key);
            report.keys.push(key);
        }
        let sessions = options.sessions(paths);
        report.settled = crate::engine::grace::settle(
            paths,
            None,
            crate::engine::local::signing_of(paths, &agent, &sessions),
            &counter,
            OffsetDateTime::now_utc(),
        )
        .await;
    }
    report.requests = counter.get();
    Ok(report)
}

/// `keyrot-agent recover …`.
pub fn command(args: RecoverArgs) -> i32 {
    let mut options = crate::engine::Options {
        dry_run: args.dry_run,
        allow_root: false,
        verify_timeout: args.verify_timeout,
        progress: !args.json && std::io::stderr().is_terminal(),
        mfa: None,
        no_hooks: false,
    };
    let code = args.mfa_code;
    show(args.json, |paths| async move {
        options.mfa = Some(crate::commands::run::mfa_sessions(&paths, code));
        run(&paths, &options).await
    })
}
