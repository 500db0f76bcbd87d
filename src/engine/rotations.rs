//! A run of rotations, as `now` and the agent ask for one: what an earlier run left in flight
//! first, then old keys whose grace is over, then the selected keys, side by side.
//!
//! Keys of different IAM users are rotated at the same time: most of a rotation is waiting for
//! IAM to accept the new key, and those waits overlap. What is bounded is what AWS sees: at most
//! `max_parallel` calls in flight at once (the config; [`crate::edge::aws::RequestCounter`]).
//! Keys of one user go one after another ([`Turns`]). The file and journal writes are
//! synchronous on the run's single thread, so they never interleave; each rotation keeps its own
//! record in the journal. The reports come back in the order of the selection, whatever order
//! the rotations end in.

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
use crate::engine::rotate::{Context, Rotator, Turns, remember_dates};
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
/// rotated, keys of different users side by side. Errors that stop everything (a bad file, an unknown profile) come
/// back as `Err` before anything was changed; per-key outcomes are in the reports. The caller
/// holds the lock.
pub async fn rotate_selected(
    paths: &Paths,
    agent_config: &Config,
    selection: &Selection,
    options: &Options,
) -> Result<Rotations, Error> {
    let counter = RequestCounter::limited(agent_config.max_parallel);
    let mut done = Rotations::default();
    // Keys that recovery has just finished rotating are not rotated again.
    let mut just_rotated: Vec<String> = Vec::new();
    if options.dry_run {
        done.in_flight = crate::engine::recover::describe_pending(paths)?;
        if done.in_flight.is_some() {
            // A real run would finish those rotations first; what comes after depends on them.
            return Ok(done);
        }
    } else {
        let reports =
            crate::engine::recover::finish_pending(paths, agent_config, options, &counter).await?;
        let still_in_flight = reports.iter().any(|r| r.in_flight);
        for report in reports {
            if report.outcome == Outcome::Rotated
                && let Some(new) = &report.new_key_id
            {
                just_rotated.push(new.clone());
            }
            done.keys.push(report);
        }
        if still_in_flight {
            // It could not be finished now: nothing new starts while it is in flight.
            done.requests = counter.get();
            return Ok(done);
        }
    }
    // The files, read once: everything that could refuse the run happens before any change.
    let local = crate::engine::local::load(paths)?;
    local.warn_unknown_tables(agent_config);
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
        .retain(|t| !just_rotated.contains(&t.access_key_id));
    if *selection == Selection::All {
        // `--all` means every profile the config manages; one named with --profile is rotated
        // whatever the config says.
        let (managed, left_out): (Vec<_>, Vec<_>) = selected
            .targets
            .into_iter()
            .partition(|t| t.profiles.iter().any(|p| agent_config.manages(p)));
        selected.targets = managed;
        for t in left_out {
            selected
                .skipped
                .extend(t.profiles.into_iter().map(|p| (p, SkipReason::NotManaged)));
        }
    }
    done.skipped = selected.skipped;
    if !options.dry_run {
        remove_stale_temps(paths);
    }
    let journal = Journal::new(paths.journal_file());
    journal.load()?;
    let progress = crate::edge::terminal::Progress::new(options.progress);
    let turns = Turns::default();
    let rotations = selected.targets.iter().map(|target| {
        let (local, sessions, counter) = (&local, &sessions, &counter);
        let (journal, progress, turns) = (&journal, &progress, &turns);
        async move {
            let signing = local.signing(&target.primary, agent_config, sessions);
            let key_counter = counter.child();
            let aws = Aws::load(&target.primary, key_counter.clone()).await;
            let ctx = Context {
                paths,
                aws: &aws,
                journal,
                dry_run: options.dry_run,
                allow_root: options.allow_root,
                verify_timeout: options.verify_timeout,
                progress,
                turns,
                held: local.held.as_ref(),
                grace: agent_config.for_profile(&target.primary).grace,
                signing: &signing,
                hooks: &crate::engine::hooks::Hooks::of(
                    &agent_config.for_profile(&target.primary),
                    options.no_hooks,
                ),
            };
            let mut report = Rotator::start(&ctx, target).run().await;
            report.requests = key_counter.get();
            remember_dates(paths, &report);
            report
        }
    });
    // Every rotation starts at once; each one that is cut short (the network went away) keeps
    // its own record in the journal, and the others go on.
    done.keys
        .extend(futures_util::future::join_all(rotations).await);
    // Rotated, but a client will not see the key: say where, and the fix.
    for (unseen, at) in local.javascript_warnings(paths) {
        if let Some(k) = done
            .keys
            .iter_mut()
            .find(|k| k.profiles.contains(&unseen.profile))
        {
            k.warnings.push(format!("{at}: {unseen}"));
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
