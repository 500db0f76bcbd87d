//! What the commands share: running one on a runtime with its paths, printing an error once,
//! the lock and the recovery before a change, and the failure record.

use std::future::Future;
use std::time::Duration;

use crate::commands::{exit, render};
use crate::core::rotation::Selection;
use crate::edge::aws::RequestCounter;
use crate::edge::paths::{self, Paths};
use crate::edge::store::{self, Lock};
use crate::engine::error::Error;
use crate::engine::outcome::{KeyReport, Outcome};
use crate::state::failures::{Attempt, Failures};

/// `--all`, the named profiles, or else AWS_PROFILE / `default`.
pub fn selection(all: bool, profiles: Vec<String>) -> Selection {
    if all {
        Selection::All
    } else if profiles.is_empty() {
        Selection::Named(vec![paths::default_profile(paths::process_env)])
    } else {
        Selection::Named(profiles)
    }
}

/// What the command line allowed, set once by [`crate::commands::run`].
static TRUST: std::sync::OnceLock<paths::Trust> = std::sync::OnceLock::new();

/// Records what the command line allowed, for every [`resolve_paths`] of this process.
pub fn allow(trust: paths::Trust) {
    let _ = TRUST.set(trust);
}

/// The paths of this process's environment, with what the command line allowed.
pub fn resolve_paths() -> Result<Paths, Error> {
    let mut paths = Paths::resolve(paths::process_env).map_err(Error::from)?;
    paths.trust = TRUST.get().copied().unwrap_or_default();
    Ok(paths)
}

/// Resolves the paths and runs `command` to completion on a runtime. A failure is printed (as
/// JSON too with `json`) and its exit code comes back as the `Err`.
pub fn run_command<T, F, Fut>(json: bool, command: F) -> Result<T, i32>
where
    F: FnOnce(Paths) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let paths = resolve_paths().map_err(|e| print_error(json, &e))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("keyrot-agent: cannot start: {e}");
            exit::INTERNAL
        })?;
    rt.block_on(command(paths))
        .map_err(|e| print_error(json, &e))
}

/// Prints `e` once (and as JSON on stdout with `json`); returns its exit code.
pub fn print_error(json: bool, e: &Error) -> i32 {
    let code = exit::code(e);
    if json {
        let v =
            serde_json::json!({"version": 1, "error": render::json_error(e), "exit_code": code});
        println!("{}", crate::core::redact::for_terminal(&v.to_string()));
    }
    eprintln!(
        "keyrot-agent: {}",
        crate::core::redact::for_terminal(&e.to_string())
    );
    code
}

/// What every command that changes anything does first: take the lock, and finish (or roll
/// back) the rotations an earlier run left in flight. The lock is held until the returned guard
/// is dropped.
pub async fn begin(
    paths: &Paths,
    verify_timeout: Duration,
    counter: &RequestCounter,
) -> Result<(Lock, Vec<KeyReport>), Error> {
    let lock = store::try_lock(&paths.lock_file())?;
    let options = crate::engine::Options::unattended(verify_timeout);
    let agent = crate::engine::local::agent_config(paths)?;
    let recovered =
        crate::engine::recover::finish_pending(paths, &agent, &options, counter).await?;
    for report in &recovered {
        record(paths, report);
    }
    Ok((lock, recovered))
}

/// The MFA sessions of a command a user runs: `--mfa-code` if given, and a prompt at the
/// terminal when standard input is one.
pub fn mfa_sessions(
    paths: &Paths,
    code: Option<String>,
) -> std::sync::Arc<crate::engine::signing::Sessions> {
    use std::io::IsTerminal;
    crate::engine::signing::Sessions::new(
        code.map(zeroize::Zeroizing::new),
        std::io::stdin().is_terminal(),
        crate::state::mfa::MfaFile::new(paths.mfa_file()),
    )
}

/// Records in the failure record what one rotation came to: its failure (kind and message), or
/// its success.
pub fn record(paths: &Paths, report: &KeyReport) {
    let attempt = match (&report.error, report.outcome) {
        _ if report.dry_run => Attempt::Neither,
        (_, Outcome::Rotated) => Attempt::Succeeded,
        (Some(e), _) => Attempt::Failed {
            kind: exit::kind(e).to_string(),
            message: e.to_string(),
        },
        (None, _) => Attempt::Neither,
    };
    Failures::new(paths.failures_file()).record(&report.profiles, &attempt);
}
