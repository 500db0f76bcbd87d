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

pub use crate::commands::render::Output;

static OUTPUT: std::sync::OnceLock<Output> = std::sync::OnceLock::new();

/// Records how output should look, for the whole process.
pub fn set_output(output: Output) {
    let _ = OUTPUT.set(output);
}

/// How output should look (plain, when never set).
pub fn output() -> Output {
    OUTPUT.get().copied().unwrap_or_default()
}

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
    let state = paths.clone();
    // Ctrl-C stops the command at its next await, exactly as a crash there would (the journal
    // is made for that), and says where that leaves the user.
    let done = rt.block_on(async move {
        tokio::select! {
            done = command(paths) => Some(done),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match done {
        Some(result) => result.map_err(|e| print_error(json, &e)),
        None => {
            crate::edge::terminal::restore();
            interrupted(&state);
            // A prompt still reading the terminal on a blocking thread is not waited for.
            rt.shutdown_background();
            Err(exit::INTERRUPTED)
        }
    }
}

/// What Ctrl-C left: a rotation in flight (the file still holds a working key; recovery
/// finishes it), or nothing changed.
fn interrupted(paths: &Paths) {
    let in_flight = crate::state::journal::Journal::new(paths.journal_file())
        .load()
        .unwrap_or_default();
    let text = if in_flight.is_empty() {
        "interrupted (Ctrl-C); no rotation is in flight. Your credentials file holds a working key"
            .to_string()
    } else {
        let profiles: Vec<String> = in_flight.iter().flat_map(|r| r.profiles.clone()).collect();
        format!(
            "interrupted (Ctrl-C) while rotating {}; your credentials file still holds a working key. Run `keyrot-agent recover` (or the next `keyrot-agent now` does it) to finish the rotation",
            profiles.join(", ")
        )
    };
    eprintln!("keyrot-agent: {}", crate::core::redact::for_terminal(&text));
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

/// Records in the failure record that learning about `profile`'s key failed with `e` (a key IAM
/// does not take, a user that may not list its keys), for `status` to show.
pub fn record_failure(paths: &Paths, profile: &str, e: &Error) {
    Failures::new(paths.failures_file()).record(&[profile.to_string()], &failed(e));
}

/// How the failure record keeps `e`: its kind and message.
fn failed(e: &Error) -> Attempt {
    Attempt::Failed {
        kind: exit::kind(e).to_string(),
        message: e.to_string(),
    }
}

/// Records in the failure record what one rotation came to: its failure (kind and message), or
/// its success.
pub fn record(paths: &Paths, report: &KeyReport) {
    let attempt = match (&report.error, report.outcome) {
        _ if report.dry_run => Attempt::Neither,
        (_, Outcome::Rotated) => Attempt::Succeeded,
        (Some(e), _) => failed(e),
        (None, _) => Attempt::Neither,
    };
    Failures::new(paths.failures_file()).record(&report.profiles, &attempt);
}
