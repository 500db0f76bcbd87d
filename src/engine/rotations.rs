//! A run of rotations, as `now` and the agent ask for one: what an earlier run left in flight
//! first, then old keys whose grace is over, then each selected key, one after another.

use time::OffsetDateTime;

use crate::core::config::Config;
use crate::core::profiles::SkipReason;
use crate::core::rotation::Selection;
use crate::edge::aws::{Aws, RequestCounter};
use crate::edge::paths::Paths;
use crate::edge::store;
use crate::engine::Options;
use crate::engine::error::Error;
use crate::engine::grace::Settled;
use crate::engine::outcome::{KeyReport, Outcome};
use crate::engine::rotate::{Context, Rotator, remember_dates};
use crate::state::journal::Journal;

/// What one run of rotations did.
#[derive(Debug, Default)]
pub struct Rotations {
    /// With `dry_run`: the rotation an earlier run left in flight, which a real run would finish
    /// first (in words).
    pub in_flight: Option<String>,
    /// One report per key: the rotation recovery finished first, if any, then the selected ones.
    pub keys: Vec<KeyReport>,
    /// Profiles passed over (with `--all`), and why.
    pub skipped: Vec<(String, SkipReason)>,
    /// What settle did with old keys in their grace.
    pub settled: Settled,
    /// HTTP requests made, retries included.
    pub requests: usize,
}

/// `now` and the agent's rotations: whatever an earlier run left in flight is finished (or
/// rolled back) first; old keys whose grace is over go; then every key `selection` comes to is
/// rotated, one after another. Errors that stop everything (a bad file, an unknown profile) come
/// back as `Err` before anything was changed; per-key outcomes are in the reports. The caller
/// holds the lock.
pub async fn rotate_selected(
    paths: &Paths,
    agent_config: &Config,
    selection: &Selection,
    options: &Options,
) -> Result<Rotations, Error> {
    let counter = RequestCounter::default();
    let mut done = Rotations::default();
    // A key that recovery has just finished rotating is not rotated again.
    let mut just_rotated: Option<String> = None;
    if options.dry_run {
        done.in_flight = crate::engine::recover::describe_pending(paths)?;
        if done.in_flight.is_some() {
            // A real run would finish that rotation first; what comes after depends on it.
            return Ok(done);
        }
    } else if let Some(report) =
        crate::engine::recover::finish_pending(paths, agent_config, options, &counter).await?
    {
        let still_in_flight = report.in_flight;
        if report.outcome == Outcome::Rotated {
            just_rotated = report.new_key_id.clone();
        }
        done.keys.push(report);
        if still_in_flight {
            // It could not be finished now: nothing new starts while it is in flight.
            done.requests = counter.get();
            return Ok(done);
        }
    }
    // The files, read once: everything that could refuse the run happens before any change.
    let local = crate::engine::local::load(paths)?;
    let sessions = options.sessions(paths);
    if !options.dry_run {
        // Old keys whose grace is over go; an interrupted undo is finished.
        done.settled = crate::engine::grace::settle(
            paths,
            local.held.as_ref(),
            |p| local.signing(p, agent_config, &sessions),
            &counter,
            OffsetDateTime::now_utc(),
        )
        .await;
    }
    let mut selected = local.select(paths, selection)?;
    selected
        .targets
        .retain(|t| Some(&t.access_key_id) != just_rotated.as_ref());
    done.skipped = selected.skipped;
    if !options.dry_run {
        remove_stale_temps(paths);
    }
    let journal = Journal::new(paths.journal_file());
    for target in selected.targets {
        let signing = local.signing(&target.primary, agent_config, &sessions);
        let key_counter = counter.child();
        let aws = Aws::load(&target.primary, key_counter.clone()).await;
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
            signing: &signing,
            hooks: &crate::engine::hooks::Hooks::of(
                &agent_config.for_profile(&target.primary),
                options.no_hooks,
            ),
        };
        let mut report = Rotator::start(&ctx, &target).run().await;
        report.requests = key_counter.get();
        remember_dates(paths, &report);
        let stop_here = report.in_flight;
        done.keys.push(report);
        if stop_here {
            // This rotation is in flight (the network went away): the others wait for it.
            break;
        }
    }
    if !options.dry_run && !done.keys.iter().any(|k| k.in_flight) {
        crate::edge::storage::forget_backup(paths);
    }
    done.requests = counter.get();
    Ok(done)
}

/// Removes the temp files a killed keyrot-agent left next to the files it writes. The caller
/// holds the lock.
pub fn remove_stale_temps(paths: &Paths) {
    let _ = store::remove_stale_temps(&paths.journal_file());
    let _ = store::remove_stale_temps(&paths.backup_file());
    let removed = store::remove_stale_temps(&paths.credentials);
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed temp files left by an interrupted keyrot-agent"
        );
    }
}
