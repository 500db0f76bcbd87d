//! `keyrot-agent now`: rotate the selected profiles' keys at once.
//!
//! Takes the lock, first finishes or rolls back any rotation an earlier run left in the journal,
//! then reads and checks the files (everything that could refuse the run happens here, before
//! any AWS call), and hands each distinct key to the `rotator`.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::profiles;
use crate::core::rotation::Selection;
use crate::edge::aws::{Aws, RequestCounter};
use crate::edge::paths::Paths;

use crate::edge::store;
use crate::engine::error::Error;
use crate::engine::recover;
use crate::engine::rotator::{Context, KeyReport, Rotator};
use crate::state::journal::Journal;

/// How `now` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub selection: Selection,
    pub dry_run: bool,
    pub allow_root: bool,
    /// How long to wait for IAM to accept a new key, and for each later retry loop.
    pub verify_timeout: Duration,
    /// Show a spinner on stderr while waiting.
    pub progress: bool,
}

impl Options {
    /// An unattended run (the agent, or the recovery another command does first): no dry run,
    /// no root keys, no spinner.
    pub fn unattended(selection: Selection, verify_timeout: Duration) -> Options {
        Options {
            selection,
            dry_run: false,
            allow_root: false,
            verify_timeout,
            progress: false,
        }
    }
}

/// Everything one `now` did.
#[derive(Debug)]
pub struct Report {
    pub credentials_file: PathBuf,
    /// With `--dry-run`: the rotation an earlier run left in flight, which a real run would
    /// finish first.
    pub in_flight: Option<String>,
    /// `--all`: root keys are then skipped like other unrotatable profiles, not failures.
    pub all: bool,
    pub dry_run: bool,
    pub keys: Vec<KeyReport>,
    pub skipped: Vec<(String, profiles::SkipReason)>,
    pub requests: usize,
}

impl Report {
    /// The process exit code: 0 when every key went as asked, else the first failure's code.
    pub fn exit_code(&self) -> i32 {
        self.keys
            .iter()
            .filter_map(|k| k.error.as_ref())
            .find(|e| !(self.all && matches!(e, Error::RootKey { .. })))
            .map(Error::exit_code)
            .unwrap_or(crate::engine::error::exit::OK)
    }
}

/// Runs `now`. Errors that stop everything (a bad file, a busy lock, an unknown profile) come
/// back as `Err` before anything was changed; per-key outcomes are in the report.
pub async fn run(paths: &Paths, options: &Options) -> Result<Report, Error> {
    let _lock = store::try_lock(&paths.lock_file())?;
    let journal = Journal::new(paths.journal_file());
    let counter = RequestCounter::default();
    let mut keys = Vec::new();
    let mut in_flight = None;
    // A key that recovery has just finished rotating is not rotated again.
    let mut just_rotated: Option<String> = None;
    // Whatever an earlier run left half done is finished (or undone) first.
    if options.dry_run {
        in_flight = recover::describe_pending(&journal)?;
        if in_flight.is_some() {
            // A real run would finish that rotation first; what comes after depends on it.
            return Ok(Report {
                credentials_file: paths.credentials.clone(),
                in_flight,
                all: options.selection == Selection::All,
                dry_run: true,
                keys,
                skipped: Vec::new(),
                requests: 0,
            });
        }
    } else if let Some(report) = recover::finish_pending(paths, &journal, options, &counter).await?
    {
        let still_pending = journal.load().ok().flatten().is_some();
        if report.outcome == crate::engine::rotator::Outcome::Rotated {
            just_rotated = report.new_key_id.clone();
        }
        keys.push(report);
        if still_pending {
            // It could not be finished now: nothing new starts while it is in flight.
            return Ok(Report {
                credentials_file: paths.credentials.clone(),
                in_flight: None,
                all: options.selection == Selection::All,
                dry_run: false,
                keys,
                skipped: Vec::new(),
                requests: counter.get(),
            });
        }
    }
    // The agent's settings (grace); a broken config file is refused here as everywhere.
    let agent_config = crate::engine::local::agent_config(paths)?;
    if !options.dry_run {
        // Old keys whose grace is over go; an interrupted undo is finished.
        crate::engine::grace::settle(paths, &counter, time::OffsetDateTime::now_utc()).await;
    }
    let local = crate::engine::local::load(paths)?;
    let mut selected = local.select(paths, &options.selection)?;
    selected
        .targets
        .retain(|t| Some(&t.access_key_id) != just_rotated.as_ref());
    if !options.dry_run {
        let _ = store::remove_stale_temps(journal.path());
        let _ = store::remove_stale_temps(&paths.backup_file());
        let removed = store::remove_stale_temps(&paths.credentials);
        if removed > 0 {
            tracing::warn!(
                removed,
                "removed temp files left by an interrupted keyrot-agent"
            );
        }
    }
    for target in selected.targets {
        let before = counter.get();
        let aws = Aws::load(&target.primary, counter.clone()).await;
        let ctx = Context {
            paths,
            aws: &aws,
            journal: &journal,
            dry_run: options.dry_run,
            allow_root: options.allow_root,
            verify_timeout: options.verify_timeout,
            progress: options.progress,
            held: local.held.as_ref(),
            grace: agent_config.for_profile(&target.primary).grace,
        };
        let mut report = Rotator::start(&ctx, &target).run().await;
        report.requests = counter.get() - before;
        remember_keys(paths, &report);
        let stop_here = journal.load().ok().flatten().is_some();
        keys.push(report);
        if stop_here {
            // This rotation is in flight (the network went away): the others wait for it.
            break;
        }
    }
    Ok(Report {
        credentials_file: paths.credentials.clone(),
        in_flight,
        all: options.selection == Selection::All,
        dry_run: options.dry_run,
        keys,
        skipped: selected.skipped,
        requests: counter.get(),
    })
}

/// Records what a rotation learned: in the key cache, the new key's creation or the old key's;
/// in the failure record, its failure or its success.
pub fn remember_keys(paths: &Paths, report: &KeyReport) {
    let attempt = match (&report.error, report.outcome) {
        _ if report.dry_run => crate::state::failures::Attempt::Neither,
        (_, crate::engine::rotator::Outcome::Rotated) => crate::state::failures::Attempt::Succeeded,
        (Some(e), _) => crate::state::failures::Attempt::Failed {
            kind: e.kind().to_string(),
            message: e.to_string(),
        },
        (None, _) => crate::state::failures::Attempt::Neither,
    };
    crate::state::failures::Failures::new(paths.failures_file()).record(&report.profiles, &attempt);
    let Some(user) = report.user_arn.clone() else {
        return;
    };
    let now = time::OffsetDateTime::now_utc();
    let cache = crate::state::cache::Cache::new(paths.key_cache_file());
    let dates = |created| crate::state::cache::KeyDates {
        created,
        user_arn: user.clone(),
        checked_at: now,
    };
    match (&report.outcome, &report.new_key_id) {
        (crate::engine::rotator::Outcome::Rotated, Some(new)) => cache.update(
            &[(new.clone(), dates(report.new_key_created.or(Some(now))))],
            std::slice::from_ref(&report.old_key_id),
        ),
        _ if report.old_key_created.is_some() => cache.update(
            &[(report.old_key_id.clone(), dates(report.old_key_created))],
            &[],
        ),
        _ => {}
    }
}
