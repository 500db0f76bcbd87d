//! `keyrot-agent recover`, and the recovery every command that can change anything runs first:
//! finish or roll back the rotations an earlier run left in the journal, one after another,
//! oldest first.
//!
//! - Interrupted before the new key was recorded: its secret is lost. The key it made (a key of
//!   the user that existed at no earlier listing and is in no local profile) is deleted.
//! - Interrupted after: it resumes from the recorded phase; the new key's secret comes from the
//!   journal, which keeps it until the file holds it.
//! - Interrupted while rolling back: the rollback is finished.

use crate::core::config::Config;
use crate::core::mfa::{Device, From};
use crate::core::rotation::Phase;
use crate::edge::aws::{Aws, RequestCounter};
use crate::edge::paths::Paths;
use crate::edge::storage::HeldKeys;
use crate::edge::store;
use crate::engine::Options;
use crate::engine::error::Error;
use crate::engine::outcome::KeyReport;
use crate::engine::rotate::{Context, Rotator};
use crate::engine::signing::Signing;
use crate::state::journal::{Journal, Record};
use std::time::Duration;

fn journal_error(e: crate::state::journal::JournalError) -> Error {
    e.into()
}

/// What recovery would do about the journal's rotations, in words; `None` if nothing is in
/// flight.
pub fn describe_pending(paths: &Paths) -> Result<Option<String>, Error> {
    let journal = Journal::new(paths.journal_file());
    let records = journal.load().map_err(journal_error)?;
    Ok((!records.is_empty()).then(|| records.iter().map(describe).collect()))
}

/// A description of an in-flight rotation and of what recovery would do with it.
pub fn describe(r: &Record) -> String {
    let started = r
        .started_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let new = r.new_key_id.as_deref().unwrap_or("(not recorded)");
    let mut s = format!(
        "a rotation is in flight: profile(s) {} ({}), {} → {}, started {started}, last finished step: {}{}.\n",
        r.profiles.join(", "),
        r.user_arn,
        r.old_key_id,
        new,
        r.phase.name(),
        if r.rolling_back { ", rolling back" } else { "" }
    );
    let steps: Vec<String> = if r.rolling_back {
        vec![
            format!(
                "put {} back in {} if the file holds {new}",
                r.old_key_id,
                r.credentials_file.display()
            ),
            format!("delete the new key {new}"),
        ]
    } else if r.new_key_id.is_none() || r.phase == Phase::Planned {
        vec![format!(
            "find the key this rotation created (its secret was never recorded): a key of {} that is not {}, was not listed before the rotation, and is in no local profile; delete it. The credentials file keeps {}",
            r.user_arn, r.old_key_id, r.old_key_id
        )]
    } else {
        crate::core::rotation::remaining_steps(r.phase)
            .iter()
            .map(|step| step.replace("{old}", &r.old_key_id).replace("{new}", new))
            .collect()
    };
    s.push_str("recover would:\n");
    for step in steps {
        s.push_str(&format!("  - {step}\n"));
    }
    s
}

/// How the IAM calls of the recorded rotation are signed: with sessions of the MFA device the
/// record names (it signed the rotation so far), or of the device the files name now.
fn signing_for(record: &Record, paths: &Paths, agent: &Config, options: &Options) -> Signing {
    let now = crate::engine::local::load(paths)
        .ok()
        .and_then(|l| l.mfa_device(&record.primary, agent));
    let device = match (&record.mfa_serial, now) {
        (Some(serial), now) => Some(Device {
            serial: serial.clone(),
            from: From::Journal,
            process: now.filter(|d| &d.serial == serial).and_then(|d| d.process),
        }),
        (None, now) => now,
    };
    match device {
        Some(device) => Signing::with_mfa(device, options.sessions(paths)),
        None => Signing::own_keys(),
    }
}

/// Finishes or rolls back the journal's rotations, if there are any, oldest first: one report
/// each. The caller holds the lock.
pub async fn finish_pending(
    paths: &Paths,
    agent: &Config,
    options: &Options,
    counter: &RequestCounter,
) -> Result<Vec<KeyReport>, Error> {
    let journal = &Journal::new(paths.journal_file());
    let records = journal.load().map_err(journal_error)?;
    let mut reports = Vec::new();
    for record in records {
        reports.push(finish_one(paths, agent, options, counter, journal, record).await);
    }
    if !reports.is_empty() && !reports.iter().any(|r| r.in_flight) {
        crate::edge::storage::forget_backup(paths);
    }
    Ok(reports)
}

/// Finishes or rolls back the rotation of one journal record.
async fn finish_one(
    paths: &Paths,
    agent: &Config,
    options: &Options,
    counter: &RequestCounter,
    journal: &Journal,
    record: Record,
) -> KeyReport {
    tracing::warn!(profile = %record.primary, phase = record.phase.name(), "finishing a rotation an earlier run left in flight");
    // The file the rotation was writing, whatever this run's environment says.
    let mut paths = paths.clone();
    paths.credentials = record.credentials_file.clone();
    // The keys local profiles hold (read again for each record: the one before may have
    // changed them). A file or keyring entry that cannot be read makes them unknown, and then
    // nothing is deleted.
    let held = HeldKeys::read(&paths.credentials);
    let _ = store::remove_stale_temps(&paths.credentials);
    let _ = store::remove_stale_temps(journal.path());
    let _ = store::remove_stale_temps(&paths.backup_file());
    let key_counter = counter.child();
    let aws = Aws::load(&record.primary, key_counter.clone()).await;
    let signing = signing_for(&record, &paths, agent, options);
    let progress = crate::edge::terminal::Progress::new(options.progress);
    let turns = crate::engine::rotate::Turns::default();
    let ctx = Context {
        paths: &paths,
        aws: &aws,
        journal,
        dry_run: false,
        allow_root: true,
        verify_timeout: options.verify_timeout,
        progress: &progress,
        turns: &turns,
        held: held.as_ref(),
        // A resumed rotation keeps the grace it started with (in the record).
        grace: Duration::ZERO,
        signing: &signing,
        // Whatever hooks the rotation has not finished yet, as the config says now.
        hooks: &crate::engine::hooks::Hooks::of(&agent.for_profile(&record.primary), false),
    };
    let mut report = Rotator::resume(&ctx, record).run_resumed().await;
    report.requests = key_counter.get();
    crate::engine::rotate::remember_dates(&paths, &report);
    report
}
