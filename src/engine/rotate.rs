//! Carries one key through the rotation's phases, journaling every step, and resumes or rolls
//! back a rotation that a crash interrupted.
//!
//! Each phase has exactly one step function, which performs the effect that leads to the next
//! phase; the phase is persisted in the journal after every step, so the recorded phase is exactly
//! what recovery resumes from:
//!
//! ```text
//! (plan) ─► Planned ─create─► Created ─verify─► Verified ─write─► Written ─verify on disk─►
//!   VerifiedOnDisk ─post_rotate hooks, deactivate old─► OldDeactivated ─delete old─► OldDeleted
//!   ─finish─► (done)
//! ```
//!
//! `pre_rotate` hooks run at the end of planning, before the intent; `post_rotate` hooks run at
//! the start of the "deactivate old" step, each recorded in the journal before it starts and once
//! it has finished, so that recovery runs only the unfinished ones.
//!
//! A step that cannot go on stops the rotation in one of three ways: nothing had changed (the
//! journal goes), roll back (the file gets the old key back and the new key is deleted), or keep
//! the journal (the network is gone, or IAM refuses to retire the old key) so that `recover`, the
//! next `now` or the agent finish it later. At every instant the file holds a key that works.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::core::config::OnHookFailure;
use crate::core::decide::{self, Finish, Recovery, Restore, Signed, Stage, Verdict};
use crate::core::keys::ErrorClass;
use crate::core::keys::{KeyPair, KeyringError, Signer};
use crate::core::rotation::{self, Phase, RollbackNote, SlotPlan, SlotRefusal, Target};
use crate::edge::aws::{Aws, AwsError, DiskReadError};
use crate::edge::failpoint;
use crate::edge::paths::Paths;
use crate::edge::storage::{HeldKeys, Secrets, Slot, SwitchError};
use crate::edge::terminal::Progress;
use crate::engine::error::{Error, OtherKey};
use crate::engine::outcome::{HookRun, KeyReport, Outcome};
use crate::engine::retry::{self, Retry};
use crate::engine::signing::Signing;
use crate::state::cache::{Cache, KeyDates};
use crate::state::history::{Ended, History, HistoryLine, RotationFacts};
use crate::state::journal::{Journal, Record};

/// Records in the key cache what a rotation learned: the new key's creation, or the old key's.
pub fn remember_dates(paths: &Paths, report: &KeyReport) {
    let Some(user) = report.user_arn.clone() else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    let cache = Cache::new(paths.key_cache_file());
    let dates = |created| KeyDates {
        created,
        user_arn: user.clone(),
        checked_at: now,
        description: None,
    };
    match (&report.outcome, &report.new_key_id) {
        (Outcome::Rotated, Some(new)) => {
            let mut new_dates = dates(report.new_key_created.or(Some(now)));
            new_dates.description = report.description.clone();
            cache.update(
                &[(new.clone(), new_dates)],
                std::slice::from_ref(&report.old_key_id),
            )
        }
        _ if report.old_key_created.is_some() => cache.update(
            &[(report.old_key_id.clone(), dates(report.old_key_created))],
            &[],
        ),
        // Refused before the keys could be listed (MFA needed): the key's user is known, its
        // date stays what it was.
        _ if report.mfa_needed || report.mfa_serial.is_some() => {
            let known = cache.load().get(&report.old_key_id).and_then(|d| d.created);
            cache.update(&[(report.old_key_id.clone(), dates(known))], &[]);
        }
        _ => {}
    }
}

/// What the rotator needs from the run it is part of.
pub struct Context<'a> {
    pub paths: &'a Paths,
    pub aws: &'a Aws,
    pub journal: &'a Journal,
    pub dry_run: bool,
    pub allow_root: bool,
    pub verify_timeout: Duration,
    /// Where waiting for IAM is shown.
    pub progress: &'a Progress,
    /// Whose turn it is: one rotation per IAM user at a time.
    pub turns: &'a Turns,
    /// The keys local profiles hold; `None` when they cannot be read (then no key the user may
    /// hold is deleted).
    pub held: Option<&'a HeldKeys>,
    /// How long a fresh rotation keeps the old key Inactive before deleting it.
    pub grace: Duration,
    /// How its IAM calls are signed.
    pub signing: &'a Signing,
    /// The profile's hooks.
    pub hooks: &'a crate::engine::hooks::Hooks,
}

/// One rotation per IAM user at a time: rotations of different users run side by side, but a
/// user has room for two keys only, and a second rotation of the same user must see the keys the
/// first one left. A rotation takes its user's turn once it knows the user (after
/// GetCallerIdentity) and keeps it to its end.
#[derive(Default)]
pub struct Turns(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Turns {
    /// Waits for `user`'s turn; it ends when the guard is dropped.
    pub async fn take(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user.to_string())
            .or_default()
            .clone();
        turn.lock_owned().await
    }
}

/// How a step that cannot go on leaves things.
enum Halt {
    /// Nothing was changed (or what was made is already undone): the journal goes.
    NothingChanged(Error),
    /// Undo: the old key back in the file, the new key deleted.
    RollBack(Error),
    /// Keep the journal; a later run finishes the rotation.
    KeepJournal(Error),
}

type Step = Result<Phase, Halt>;

pub struct Rotator<'a> {
    ctx: &'a Context<'a>,
    profile: String,
    profiles: Vec<String>,
    old: KeyPair,
    new: Option<KeyPair>,
    arn: String,
    keys_before: Vec<String>,
    /// The journal record, once the intent is written.
    record: Option<Record>,
    /// The waits of every loop of this rotation, up to its deadline.
    retry: Retry,
    /// Where the profiles keep their pair.
    secrets: Secrets,
    /// What the journal keeps of the new key's secret (nothing when the store keeps its copy).
    new_kept: Option<SecretString>,
    /// Why an IAM call could not be signed (no MFA code could be had), when a cleanup had to
    /// stop for it: what the user must run is then this, not the step's own error.
    mfa_problem: Option<Error>,
    /// This rotation's turn of its user, once the user is known.
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub report: KeyReport,
}

fn ok_if_gone(r: Result<(), AwsError>) -> Result<(), AwsError> {
    r.or_else(|e| {
        if e.class == ErrorClass::NoSuchEntity {
            Ok(())
        } else {
            Err(e)
        }
    })
}

impl<'a> Rotator<'a> {
    /// A fresh rotation of `target`.
    pub fn start(ctx: &'a Context<'a>, target: &Target) -> Rotator<'a> {
        Rotator {
            ctx,
            profile: target.primary.clone(),
            profiles: target.profiles.clone(),
            old: target.pair(),
            new: None,
            arn: String::new(),
            keys_before: Vec::new(),
            record: None,
            retry: Retry::new(ctx.verify_timeout, retry::seed()),
            secrets: Secrets::new(target.storage, ctx.paths),
            new_kept: None,
            mfa_problem: None,
            turn: None,
            report: KeyReport::new(
                target.profiles.clone(),
                target.access_key_id.clone(),
                ctx.dry_run,
            ),
        }
    }

    /// The rotation a journal record describes, to be resumed.
    pub fn resume(ctx: &'a Context<'a>, record: Record) -> Rotator<'a> {
        let mut report = KeyReport::new(record.profiles.clone(), record.old_key_id.clone(), false);
        report.user_arn = Some(record.user_arn.clone());
        report.new_key_id = record.new_key_id.clone();
        report.resumed_from = Some(record.phase);
        report.new_key_created = Some(record.started_at);
        report.phase = Some(record.phase);
        let secrets = Secrets::new(record.stored_in.storage(), ctx.paths);
        let new = record.new_key_id.as_deref().and_then(|id| {
            secrets.recall(
                Slot::Pending(&record.primary),
                id,
                record.new_secret.as_ref(),
            )
        });
        let old_secret = secrets
            .recall(
                Slot::Previous(&record.primary),
                &record.old_key_id,
                Some(&record.old_secret),
            )
            .map(|k| k.secret)
            .unwrap_or_else(|| record.old_secret.clone());
        Rotator {
            ctx,
            profile: record.primary.clone(),
            profiles: record.profiles.clone(),
            old: KeyPair {
                id: record.old_key_id.clone(),
                secret: old_secret,
            },
            new,
            arn: record.user_arn.clone(),
            keys_before: record.keys_before.clone(),
            new_kept: record.new_secret.clone(),
            mfa_problem: None,
            turn: None,
            secrets,
            record: Some(record),
            retry: Retry::new(ctx.verify_timeout, retry::seed()),
            report,
        }
    }

    /// Runs a fresh rotation to its end.
    pub async fn run(mut self) -> KeyReport {
        let started = Instant::now();
        match self.plan().await {
            Ok(_) if self.ctx.dry_run => {
                self.report.timings.push(("identify", started.elapsed()));
                self.report.outcome = Outcome::Planned;
                return self.report;
            }
            Ok(phase) => {
                self.report.timings.push(("identify", started.elapsed()));
                self.report.phase = Some(phase);
                self.drive(phase).await;
            }
            Err(halt) => {
                self.report.timings.push(("identify", started.elapsed()));
                self.stop(halt).await;
            }
        }
        self.report.in_flight |= self.record.is_some();
        self.report
    }

    /// Finishes (or rolls back) the rotation of a journal record.
    pub async fn run_resumed(mut self) -> KeyReport {
        let record = self.record.clone().expect("resume has a record");
        if let Err(halt) = self.check_record(&record).await {
            self.stop(halt).await;
            self.report.in_flight |= self.record.is_some();
            return self.report;
        }
        match decide::recovery(record.phase, record.rolling_back, self.new.is_some()) {
            Recovery::FinishRollback => self.roll_back(None).await,
            Recovery::SweepOrphans => self.sweep_orphans().await,
            Recovery::Resume(phase) => self.drive(phase).await,
        }
        self.report.in_flight |= self.record.is_some();
        self.report
    }

    /// Before acting on a journal record: it must match what IAM says. The key the primary
    /// profile holds now must answer as the record's user; a record about to write its new key
    /// (from Verified on) must have a new key that answers as that user too; an intent must name
    /// the profile's key among the keys it listed, and not lie in the future. A record that does
    /// not match is kept, untouched, and refused loudly: keyrot-agent acts on no record it
    /// cannot tie to the user.
    async fn check_record(&mut self, record: &Record) -> Result<(), Halt> {
        let Some(held) = self.ctx.held else {
            return Err(Halt::KeepJournal(Error::Interrupted {
                profile: self.profile.clone(),
                operation: "recovery",
                detail: "the profiles cannot be read now to check the rotation in flight".into(),
            }));
        };
        let Some(current) = held.pair(&record.primary) else {
            return Err(self.damaged(format!("profile {} holds no key now", record.primary)));
        };
        if record.phase == Phase::Planned || self.new.is_none() {
            if !record.keys_before.contains(&record.old_key_id) {
                return Err(self.damaged("its intent does not list its own old key".into()));
            }
            if record.started_at > OffsetDateTime::now_utc() + time::Duration::minutes(15) {
                return Err(self.damaged("it was started in the future".into()));
            }
        }
        let aws = self.ctx.aws;
        let mut keys = vec![(current, "the key profile holds now")];
        if record.phase >= Phase::Verified
            && let Some(new) = self.new.clone()
        {
            keys.push((new, "the new key it would write"));
        }
        for (key, which) in keys {
            let answer = self
                .retry
                .run(
                    |e: &AwsError| decide::verdict(e.class, Signed::WithKnownKey, Stage::InFlight),
                    async |_| aws.identity(&key).await,
                )
                .await;
            match answer {
                Ok(id) if id.arn == record.user_arn => {}
                Ok(id) => {
                    return Err(self.damaged(format!(
                        "{which}, {}, belongs to {}, not to {}",
                        key.id, id.arn, record.user_arn
                    )));
                }
                Err(e) if e.class == ErrorClass::Unreachable => {
                    return Err(Halt::KeepJournal(self.interrupted(&e)));
                }
                Err(e) => {
                    return Err(self.damaged(format!(
                        "{which}, {}, does not work: {}",
                        key.id,
                        e.detail()
                    )));
                }
            }
        }
        Ok(())
    }

    /// A journal record that does not match what IAM and the profiles say: kept, untouched, and
    /// refused with `what` is wrong.
    fn damaged(&self, what: String) -> Halt {
        let journal = self.ctx.journal.path().display();
        Halt::KeepJournal(Error::StateDamaged(format!(
            "{journal} does not match what IAM and your profiles say ({what}); keyrot-agent will not act on it. If no rotation of yours was cut short, move the file away and check your keys in IAM"
        )))
    }

    /// Walks the phases from `phase` to the end, or to a stop.
    async fn drive(&mut self, mut phase: Phase) {
        loop {
            let started = Instant::now();
            let (name, result) = match phase {
                Phase::Planned => ("create", self.create().await),
                Phase::Created => ("verify", self.verify().await),
                Phase::Verified => ("write", self.write().await),
                Phase::Written => ("verify on disk", self.verify_on_disk().await),
                Phase::VerifiedOnDisk => ("deactivate old", self.deactivate_old().await),
                Phase::OldDeactivated => ("delete old", self.delete_old().await),
                Phase::OldDeleted => {
                    self.finish().await;
                    return;
                }
            };
            self.report.timings.push((name, started.elapsed()));
            match result {
                Ok(next) => {
                    tracing::info!(profile = %self.profile, phase = next.name(), "rotation step done");
                    phase = next;
                    self.report.phase = Some(next);
                    if let Err(e) = self.persist(next, name, started.elapsed()) {
                        // Without a journal the rotation must not go further. A new key whose
                        // secret could not be recorded is deleted at once.
                        if next == Phase::Created && self.delete_new_key().await {
                            self.new = None;
                            self.stop(Halt::NothingChanged(e)).await;
                        } else {
                            self.stop(Halt::KeepJournal(e)).await;
                        }
                        return;
                    }
                    failpoint::hit(match next {
                        Phase::Planned => "after-intent",
                        Phase::Created => "after-record",
                        Phase::Verified => "after-verify",
                        Phase::Written => "after-written",
                        Phase::VerifiedOnDisk => "after-verify-on-disk",
                        Phase::OldDeactivated => "after-deactivate",
                        Phase::OldDeleted => "after-delete",
                    });
                }
                Err(halt) => {
                    self.stop(halt).await;
                    return;
                }
            }
        }
    }

    /// Records `phase` (and, from Created on, the new key) in the journal when
    /// [`Phase::is_durable`]; the step's duration is kept for the history either way.
    fn persist(&mut self, phase: Phase, step: &str, took: Duration) -> Result<(), Error> {
        let Some(record) = self.record.as_mut() else {
            return Ok(());
        };
        record
            .durations_ms
            .push((step.to_string(), took.as_millis() as u64));
        if !phase.is_durable() {
            return Ok(());
        }
        record.phase = phase;
        if let Some(new) = &self.new {
            record.new_key_id = Some(new.id.clone());
            record.new_secret = self.new_kept.clone();
        }
        let record = record.clone();
        self.save(&record)
    }

    fn save(&self, record: &Record) -> Result<(), Error> {
        self.ctx.journal.save(record).map_err(|e| Error::Journal {
            profile: self.profile.clone(),
            what: e.to_string(),
        })
    }

    /// Ends the rotation after a stop: cleans up as the stop says and records the outcome.
    async fn stop(&mut self, stop: Halt) {
        match stop {
            Halt::NothingChanged(e) => {
                self.report.outcome = match e {
                    Error::RootKey { .. } => Outcome::Skipped,
                    _ => Outcome::Refused,
                };
                self.report.error = Some(e);
                self.close_journal(Ended::Refused);
            }
            Halt::RollBack(e) => self.roll_back(Some(e)).await,
            Halt::KeepJournal(e) => {
                tracing::warn!(profile = %self.profile, error = %e, "rotation interrupted; the journal is kept for recovery");
                self.report.outcome = Outcome::Interrupted;
                self.report.error = Some(e);
            }
        }
    }

    /// Removes the journal and appends the history line.
    fn close_journal(&mut self, outcome: Ended) {
        let Some(record) = self.record.take() else {
            return;
        };
        let line = HistoryLine {
            time: OffsetDateTime::now_utc(),
            profiles: record.profiles.clone(),
            old_key_id: record.old_key_id.clone(),
            new_key_id: self
                .new
                .as_ref()
                .map(|n| n.id.clone())
                .or(record.new_key_id.clone()),
            outcome,
            rotation: Some(RotationFacts {
                user: record.user_arn.clone(),
                resumed: self.report.resumed_from.map(|p| p.name().to_string()),
                old_key_inactive_until: self.report.grace_until,
                durations_ms: record.durations_ms.iter().cloned().collect(),
            }),
        };
        if let Err(e) = History::new(self.ctx.paths.history_file()).append(&line) {
            tracing::warn!(error = %e, "could not append to the history");
        }
        if let Err(e) = self.ctx.journal.remove(&record.old_key_id) {
            // The next run finds the record and finishes it again (every step is idempotent).
            tracing::warn!(error = %e, "could not remove the finished journal");
            self.report.in_flight = true;
        }
        // The rotation's own copies: the profiles hold what is in use now.
        self.secrets.forget(Slot::Pending(&record.primary));
        self.secrets.forget(Slot::Previous(&record.primary));
    }

    /// What an IAM call made on behalf of `key` is signed with, and how its failures are
    /// judged (`fresh`: `key` is this rotation's new key). With MFA, the first call gets the
    /// session (one code); an error says what the user must run.
    async fn signer(&mut self, key: &KeyPair, fresh: bool) -> Result<(Signer, Signed), Error> {
        if let Some(device) = self.ctx.signing.device() {
            self.report.mfa_serial = Some(device.serial.clone());
        }
        let in_flight =
            self.record.is_some() && (self.new.is_some() || self.report.resumed_from.is_some());
        self.ctx
            .signing
            .iam(self.ctx.aws, key, fresh, &self.profile)
            .await
            .map_err(|e| {
                let command = if in_flight {
                    "keyrot-agent recover --mfa-code CODE".to_string()
                } else {
                    format!(
                        "keyrot-agent now --profile {} --mfa-code CODE",
                        self.profile
                    )
                };
                Error::from_mfa(&self.profile, e, in_flight, command)
            })
    }

    /// As [`Rotator::signer`], for a cleanup that cannot stop the rotation: the problem is kept
    /// for the report.
    async fn cleanup_signer(&mut self, key: &KeyPair) -> Option<(Signer, Signed)> {
        match self.signer(key, false).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(profile = %self.profile, error = %e, "cannot sign the cleanup");
                self.mfa_problem = Some(e);
                None
            }
        }
    }

    /// An error from a step after the new key exists: the network going away keeps the journal.
    fn interrupted(&self, e: &AwsError) -> Error {
        Error::Interrupted {
            profile: self.profile.clone(),
            operation: e.operation,
            detail: e.detail(),
        }
    }

    /// GetCallerIdentity and ListAccessKeys with the old key; decide about the two-keys limit;
    /// write the intent to the journal.
    async fn plan(&mut self) -> Step {
        let profile = self.profile.clone();
        let old = self.old.clone();
        let aws = self.ctx.aws;
        let policy =
            |e: &AwsError| decide::verdict(e.class, Signed::WithKnownKey, Stage::BeforeChange);
        let identity = self
            .retry
            .run(policy, async |_| aws.identity(&old).await)
            .await
            .map_err(|e| Halt::NothingChanged(Error::from_identity(&profile, &old.id, e)))?;
        self.arn = identity.arn.clone();
        self.report.user_arn = Some(identity.arn.clone());
        self.turn = Some(self.ctx.turns.take(&identity.arn).await);
        if rotation::is_root_arn(&identity.arn) && !self.ctx.allow_root {
            return Err(Halt::NothingChanged(Error::RootKey {
                profile,
                arn: identity.arn,
            }));
        }
        if self.ctx.dry_run
            && let Some(device) = self.ctx.signing.device()
        {
            // A dry run asks for no code: it says that the rotation will need one.
            self.report.mfa_serial = Some(device.serial.clone());
            return Ok(Phase::Planned);
        }
        let (signer, signed) = self
            .signer(&old, false)
            .await
            .map_err(Halt::NothingChanged)?;
        let keys = self
            .retry
            .run(
                |e: &AwsError| decide::verdict(e.class, signed, Stage::BeforeChange),
                async |_| aws.list_keys(&signer).await,
            )
            .await;
        let mfa_record = crate::state::mfa::MfaFile::new(self.ctx.paths.mfa_file());
        let without_mfa = self.ctx.signing.device().is_none();
        let keys = keys.map_err(|e| {
            if without_mfa
                && e.class == ErrorClass::AccessDenied
                && e.message
                    .as_deref()
                    .is_some_and(crate::core::mfa::is_explicit_deny)
            {
                // The account's policy wants MFA: remembered, so the agent does not try again.
                mfa_record.learned(&identity.arn, true, OffsetDateTime::now_utc());
                self.report.mfa_needed = true;
                return Halt::NothingChanged(Error::MfaRequired {
                    profile: profile.clone(),
                    action: e.operation,
                    arn: identity.arn.clone(),
                });
            }
            Halt::NothingChanged(Error::from_aws(&profile, &identity.arn, e))
        })?;
        if without_mfa {
            mfa_record.learned(&identity.arn, false, OffsetDateTime::now_utc());
        }
        self.keys_before = keys.iter().map(|k| k.id.clone()).collect();
        self.report.old_key_created = keys.iter().find(|k| k.id == old.id).and_then(|k| k.created);
        match rotation::plan_slots(&old.id, &keys) {
            Ok(SlotPlan::Free) => {}
            Ok(SlotPlan::DeleteInactive { key_id }) => {
                // Deleted in the create step, after every local check has passed.
                self.report.deleted_inactive_key_id = Some(key_id);
            }
            Err(SlotRefusal::OtherKeyActive { key }) => {
                let last_used = aws.last_used(&signer, &key.id).await.ok();
                let used_by = self
                    .ctx
                    .held
                    .map(|h| h.holders(&key.id))
                    .unwrap_or_default();
                return Err(Halt::NothingChanged(Error::OtherKeyActive {
                    profile,
                    arn: identity.arn,
                    other: Box::new(OtherKey {
                        key,
                        last_used,
                        used_by,
                    }),
                }));
            }
            Err(SlotRefusal::KeyNotListed) => {
                return Err(Halt::NothingChanged(Error::KeyNotListed {
                    profile,
                    arn: identity.arn,
                    key_id: old.id,
                }));
            }
            Err(SlotRefusal::OldKeyInactive) => {
                return Err(Halt::NothingChanged(Error::OldKeyInactive {
                    profile,
                    key_id: old.id,
                }));
            }
        }
        if self.ctx.dry_run {
            return Ok(Phase::Planned);
        }
        self.pre_hooks().await?;
        // The intent: written before CreateAccessKey, so a crash after it can find its key. The
        // old pair's own copy comes first (in the keyring an entry; in the file, the record).
        let old_kept = self
            .secrets
            .stash(Slot::Previous(&self.profile), &self.old)
            .map_err(|e| self.keyring_stop(e))?;
        let record = Record {
            version: 1,
            credentials_file: self.ctx.paths.credentials.clone(),
            primary: self.profile.clone(),
            profiles: self.profiles.clone(),
            user_arn: self.arn.clone(),
            old_key_id: self.old.id.clone(),
            old_secret: old_kept.unwrap_or_else(|| SecretString::from(String::new())),
            keys_before: self.keys_before.clone(),
            started_at: OffsetDateTime::now_utc(),
            phase: Phase::Planned,
            new_key_id: None,
            new_secret: None,
            rolling_back: false,
            durations_ms: Vec::new(),
            grace_secs: self.ctx.grace.as_secs(),
            mfa_serial: self.ctx.signing.device().map(|d| d.serial.clone()),
            hooks_started: Vec::new(),
            hooks_done: Vec::new(),
            stored_in: self.secrets.storage().into(),
        };
        self.save(&record).map_err(Halt::NothingChanged)?;
        self.record = Some(record);
        failpoint::hit("after-intent");
        Ok(Phase::Planned)
    }

    /// Makes room (deletes the user's Inactive key, if any) and creates the new key.
    async fn create(&mut self) -> Step {
        if let Err(e) = self.secrets.check_writable() {
            return Err(Halt::NothingChanged(Error::Store(e)));
        }
        let old = self.old.clone();
        let aws = self.ctx.aws;
        let profile = self.profile.clone();
        let arn = self.arn.clone();
        let (signer, signed) = self
            .signer(&old, false)
            .await
            .map_err(Halt::NothingChanged)?;
        if let Some(inactive) = self.report.deleted_inactive_key_id.clone() {
            ok_if_gone(
                self.retry
                    .run(
                        |e: &AwsError| decide::verdict(e.class, signed, Stage::BeforeChange),
                        async |_| aws.delete_key(&signer, &inactive).await,
                    )
                    .await,
            )
            .map_err(|e| Halt::NothingChanged(Error::from_aws(&profile, &arn, e)))?;
            tracing::info!(key = %inactive, "deleted the user's Inactive key to make room");
        }
        // Sent without the SDK's retries: a retried CreateAccessKey whose first answer was lost
        // would leave a key whose secret nobody has. It is tried again here only when IAM
        // cannot have acted (Throttling), or after the keys it may have made were found and
        // deleted.
        let backoff = self.retry.backoff();
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut answer_lost = false;
        loop {
            let e = match aws.create_key(&signer).await {
                Ok(new) => return self.created(new).await,
                Err(e) => e,
            };
            let again = attempt + 1 < MAX_CREATE_ATTEMPTS;
            let wait = backoff.next(attempt, started.elapsed(), self.retry.jitter());
            match decide::create_stop(e.class, answer_lost) {
                decide::Stop::SweepFirst => {
                    // The answer may have been lost after IAM created a key: find and delete it.
                    answer_lost = true;
                    let all_gone = self.sweep_unseen_keys(false).await;
                    if decide::after_sweep(all_gone) == decide::Stop::KeepJournal {
                        // The journal (phase Planned) lets recovery find the key later.
                        return Err(Halt::KeepJournal(create_error(&profile, &arn, e, false)));
                    }
                    if e.class != ErrorClass::Other
                        && let (true, Some(wait)) = (again, wait)
                    {
                        tracing::debug!(attempt, error = %e, "CreateAccessKey failed; cleaned up, trying again");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Halt::NothingChanged(create_error(&profile, &arn, e, true)));
                }
                _ if e.class == ErrorClass::Throttled => {
                    // Throttling means IAM did not act: nothing to clean up.
                    if let (true, Some(wait)) = (again, wait) {
                        tracing::debug!(attempt, "CreateAccessKey throttled; trying again");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Halt::NothingChanged(Error::from_aws(&profile, &arn, e)));
                }
                _ => return Err(Halt::NothingChanged(Error::from_aws(&profile, &arn, e))),
            }
        }
    }

    /// CreateAccessKey answered: the new key is kept where its secret must be before anything
    /// else happens.
    async fn created(&mut self, new: KeyPair) -> Step {
        failpoint::hit("after-create");
        self.report.new_key_created = Some(OffsetDateTime::now_utc());
        self.report.new_key_id = Some(new.id.clone());
        if let Err(why) = crate::core::keys::writable_pair(&new.id, new.secret.expose_secret()) {
            // Nothing can be done with it: it goes at once, and nothing else changes.
            self.new = Some(new);
            let e = Error::MalformedKey {
                profile: self.profile.clone(),
                why,
            };
            if self.delete_new_key().await {
                self.new = None;
                return Err(Halt::NothingChanged(e));
            }
            return Err(Halt::KeepJournal(e));
        }
        match self.secrets.stash(Slot::Pending(&self.profile), &new) {
            Ok(kept) => self.new_kept = kept,
            Err(e) => {
                // Its secret is nowhere else: the key must go at once.
                self.new = Some(new);
                let stop = self.keyring_stop(e);
                if self.delete_new_key().await {
                    self.new = None;
                    return Err(stop);
                }
                return Err(match stop {
                    Halt::NothingChanged(e) => Halt::KeepJournal(e),
                    other => other,
                });
            }
        }
        self.new = Some(new);
        Ok(Phase::Created)
    }

    /// Deletes the user's keys that did not exist at the intent and that no local profile holds.
    /// Returns whether none is left (or none was made).
    async fn sweep_unseen_keys(&mut self, later: bool) -> bool {
        // Without knowing which keys the local profiles hold, no key may be deleted.
        let Some(held) = self.ctx.held else {
            return false;
        };
        let old = self.old.clone();
        let aws = self.ctx.aws;
        let Some((signer, signed)) = self.cleanup_signer(&old).await else {
            return false;
        };
        let policy = |e: &AwsError| decide::verdict(e.class, signed, Stage::InFlight);
        let Ok(keys) = self
            .retry
            .run(policy, async |_| aws.list_keys(&signer).await)
            .await
        else {
            return false;
        };
        let started = self.record.as_ref().map(|r| r.started_at);
        let mut unseen = decide::orphans(
            &keys,
            &self.keys_before,
            &old.id,
            |id| held.anyone_holds(id),
            started,
            later,
        );
        if later {
            // Recovery may run days after the crash: only a key never used can be the one whose
            // secret was lost.
            let mut never_used = Vec::new();
            for k in unseen {
                match aws.last_used(&signer, &k.id).await {
                    Ok(u) if decide::orphan_unused(&u) => never_used.push(k),
                    Ok(_) => {
                        tracing::warn!(key = %k.id, "a key created during the interrupted rotation has been used since: it is not deleted")
                    }
                    Err(e) => {
                        tracing::warn!(key = %k.id, error = %e, "cannot tell whether the key was used");
                        return false;
                    }
                }
            }
            unseen = never_used;
        }
        let mut all_gone = true;
        for key in unseen {
            tracing::warn!(key = %key.id, "deleting a key whose secret was lost");
            let id = key.id.clone();
            let gone = ok_if_gone(
                self.retry
                    .run(policy, async |_| aws.delete_key(&signer, &id).await)
                    .await,
            )
            .is_ok();
            if gone {
                self.report.orphans_deleted.push(key.id);
            }
            all_gone &= gone;
        }
        all_gone
    }

    /// Recovery of a rotation interrupted before its new key was recorded.
    async fn sweep_orphans(&mut self) {
        let started = Instant::now();
        if self.ctx.held.is_none() {
            // Without knowing which keys the file holds, no key may be deleted.
            self.report.outcome = Outcome::Interrupted;
            self.report.error = Some(Error::Interrupted {
                profile: self.profile.clone(),
                operation: "recovery",
                detail: format!(
                    "{} cannot be read right now",
                    self.ctx.paths.credentials.display()
                ),
            });
            return;
        }
        let all_gone = self.sweep_unseen_keys(true).await;
        self.report
            .timings
            .push(("find orphans", started.elapsed()));
        if all_gone {
            self.report.outcome = Outcome::OrphanDeleted;
            self.close_journal(Ended::OrphanDeleted);
        } else {
            self.report.outcome = Outcome::Interrupted;
            self.report.error = Some(self.mfa_problem.take().unwrap_or(Error::Interrupted {
                profile: self.profile.clone(),
                operation: "iam:DeleteAccessKey",
                detail: "could not list or delete the key an interrupted rotation created".into(),
            }));
        }
    }

    fn new_key(&self) -> KeyPair {
        self.new
            .clone()
            .expect("a new key exists from phase Created on")
    }

    /// Waits until the new key answers STS as the same user.
    async fn verify(&mut self) -> Step {
        let new = self.new_key();
        let aws = self.ctx.aws;
        let arn = self.arn.clone();
        let progress = self.ctx.progress;
        // STS with the new key itself: IAM may not know it everywhere yet.
        let result = self
            .retry
            .run(
                |e: &AwsError| decide::verdict(e.class, Signed::WithFreshKey, Stage::InFlight),
                async |attempt| {
                    progress.waiting(&new.id, attempt + 1);
                    aws.identity(&new).await
                },
            )
            .await;
        progress.done(&new.id);
        self.report.verify_attempts += self.retry.attempts;
        match result {
            Ok(identity) if identity.arn == arn => Ok(Phase::Verified),
            // A resumed record whose new key is someone else's: not this rotation's key, so
            // nothing is undone with it (see `check_record`).
            Ok(identity) if self.report.resumed_from.is_some() => Err(self.damaged(format!(
                "the new key it would write, {}, belongs to {}, not to {arn}",
                new.id, identity.arn
            ))),
            Ok(identity) => Err(Halt::RollBack(Error::NotProven {
                profile: self.profile.clone(),
                what: format!(
                    "the new key {} answered as {} instead of {arn}",
                    new.id, identity.arn
                ),
            })),
            Err(e) => Err(
                match decide::stop_after(decide::Step::Verify, Some(e.class)) {
                    decide::Stop::KeepJournal => Halt::KeepJournal(self.interrupted(&e)),
                    _ => Halt::RollBack(Error::NotVerified {
                        profile: self.profile.clone(),
                        new_key_id: new.id,
                        timeout_s: self.ctx.verify_timeout.as_secs(),
                        detail: e.detail(),
                    }),
                },
            ),
        }
    }

    /// Rewrites every profile that holds the old key to the new one.
    async fn write(&mut self) -> Step {
        let new = self.new_key();
        let e = match self.switch(&self.old.id.clone(), &new) {
            Ok(()) => return Ok(Phase::Written),
            Err(SwitchError::Changed) => Error::ChangedMeanwhile {
                profile: self.profile.clone(),
                path: self.ctx.paths.credentials.clone(),
                new_key_id: new.id,
            },
            Err(SwitchError::Store(e)) => e.into(),
            Err(SwitchError::Keyring(e)) => self.keyring_error(e),
        };
        Err(halt(decide::stop_after(decide::Step::Write, None), e))
    }

    fn keyring_error(&self, e: KeyringError) -> Error {
        Error::Keyring {
            profile: self.profile.clone(),
            source: e,
        }
    }

    /// A keyring failure before anything changed in AWS or in the profiles.
    fn keyring_stop(&self, e: KeyringError) -> Halt {
        Halt::NothingChanged(self.keyring_error(e))
    }

    /// Moves this rotation's profiles from key `from` to `to` where they keep their pair, as it
    /// is now. Profiles that already hold `to` are left as they are.
    fn switch(&self, from: &str, to: &KeyPair) -> Result<(), SwitchError> {
        self.secrets.switch(&self.profiles, from, to)
    }

    /// Whether every profile of this rotation holds `key_id` now; `None` when that cannot be
    /// read.
    fn all_hold(&self, key_id: &str) -> Option<bool> {
        self.secrets.all_hold(&self.profiles, key_id)
    }

    /// Which key the primary profile holds now.
    fn key_held(&self) -> Option<String> {
        self.secrets.key_of(&self.profile)
    }

    /// Reads the profile back through aws-config and checks the new key answers again.
    async fn verify_on_disk(&mut self) -> Step {
        let new = self.new_key();
        let aws = self.ctx.aws;
        let profile = self.profile.clone();
        let arn = self.arn.clone();
        let paths = self.ctx.paths;
        // A profile the SDK cannot read may be one another program is rewriting in place; the
        // new key answering with an error is judged as any call signed with a fresh key.
        let policy = |e: &DiskReadError| match e {
            DiskReadError::Provider(_) => Verdict::Transient,
            DiskReadError::Aws(e) => {
                decide::verdict(e.class, Signed::WithFreshKey, Stage::InFlight)
            }
        };
        let result = self
            .retry
            .run(policy, async |_| {
                aws.identity_from_disk(&profile, &paths.credentials, &paths.config)
                    .await
            })
            .await;
        let (detail, class) = match result {
            Ok((id, identity)) if id == new.id && identity.arn == arn => {
                return Ok(Phase::VerifiedOnDisk);
            }
            Ok((id, _)) if id != new.id => {
                // Someone else wrote the file after us, or something overrides it for the SDK.
                return Err(Halt::RollBack(
                    if self.key_held().as_deref() == Some(new.id.as_str()) {
                        Error::NotVerifiedOnDisk {
                            profile,
                            path: paths.credentials.clone(),
                            new_key_id: new.id,
                            detail: format!(
                                "the AWS SDK reads the key {id} for this profile, not the one in the file"
                            ),
                        }
                    } else {
                        Error::ChangedMeanwhile {
                            profile,
                            path: paths.credentials.clone(),
                            new_key_id: new.id,
                        }
                    },
                ));
            }
            Ok((_, identity)) => (format!("it answered as {}", identity.arn), None),
            Err(DiskReadError::Aws(e)) => (e.detail(), Some(e.class)),
            Err(e) => (e.to_string(), None),
        };
        let error = match decide::stop_after(decide::Step::VerifyOnDisk, class) {
            decide::Stop::KeepJournal => Error::Interrupted {
                profile,
                operation: "sts:GetCallerIdentity",
                detail,
            },
            _ => Error::NotVerifiedOnDisk {
                profile,
                path: paths.credentials.clone(),
                new_key_id: new.id,
                detail,
            },
        };
        Err(halt(
            decide::stop_after(decide::Step::VerifyOnDisk, class),
            error,
        ))
    }

    /// Makes sure every profile still holds the new key: a program that rewrote the file from a
    /// copy it read earlier may have put the old key back. Returns whether the file now holds it.
    fn repair_file(&self) -> bool {
        let new = self.new_key();
        if self.all_hold(&new.id) == Some(true) {
            return true;
        }
        tracing::warn!(profile = %self.profile, "the credentials file lost the new key (another program rewrote it); putting it back");
        match self.switch(&self.old.id.clone(), &new) {
            Ok(()) => {}
            Err(SwitchError::Changed) => tracing::warn!(
                "could not put the new key back: a profile holds neither the old nor the new key"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not put the new key back")
            }
        }
        self.all_hold(&new.id) == Some(true)
    }

    async fn deactivate_old(&mut self) -> Step {
        let started = Instant::now();
        self.post_hooks().await?;
        if !self.ctx.hooks.post.is_empty() {
            self.report.timings.push(("hooks", started.elapsed()));
        }
        if !self.repair_file() {
            // Never retire the old key while the file does not hold the new one.
            return Err(halt(
                decide::stop_after(decide::Step::Deactivate, None),
                Error::ChangedMeanwhile {
                    profile: self.profile.clone(),
                    path: self.ctx.paths.credentials.clone(),
                    new_key_id: self.new_key().id,
                },
            ));
        }
        let new = self.new_key();
        let signer = self.signer(&new, true).await.map_err(Halt::KeepJournal)?;
        self.tell_use_elsewhere(&signer.0).await;
        let result = self.retire_old(signer, false).await;
        if result.is_ok() {
            failpoint::hit("deactivated-unrecorded");
        }
        result.map(|()| Phase::OldDeactivated).map_err(|e| {
            halt(
                decide::stop_after(decide::Step::Deactivate, Some(e.class)),
                self.not_retired("deactivated", e),
            )
        })
    }

    async fn delete_old(&mut self) -> Step {
        let grace = self.record.as_ref().map(|r| r.grace_secs).unwrap_or(0);
        if grace > 0 {
            return self.keep_in_grace(grace);
        }
        failpoint::hit("before-delete");
        let new = self.new_key();
        let signer = self.signer(&new, true).await.map_err(Halt::KeepJournal)?;
        let result = self.retire_old(signer, true).await;
        if result.is_ok() {
            failpoint::hit("deleted-unrecorded");
        }
        result.map(|()| Phase::OldDeleted).map_err(|e| {
            halt(
                decide::stop_after(decide::Step::Delete, Some(e.class)),
                self.not_retired("deleted", e),
            )
        })
    }

    /// With a grace period: the old key stays Inactive, and is recorded (with its secret) for
    /// `undo` and for deletion when the grace is over.
    fn keep_in_grace(&mut self, grace_secs: u64) -> Step {
        let started = self
            .record
            .as_ref()
            .map(|r| r.started_at)
            .unwrap_or_else(OffsetDateTime::now_utc);
        let delete_after = started + time::Duration::seconds(grace_secs as i64);
        // The old pair's own copy: in the grace record, or (keyring) an entry of its own.
        let kept = self
            .secrets
            .stash(
                Slot::Grace {
                    old_key_id: &self.old.id,
                    primary: &self.profile,
                },
                &self.old,
            )
            .map_err(|e| Halt::KeepJournal(self.keyring_error(e)))?;
        let entry = crate::state::grace::Entry {
            primary: self.profile.clone(),
            profiles: self.profiles.clone(),
            user_arn: self.arn.clone(),
            old_key_id: self.old.id.clone(),
            old_secret: kept.unwrap_or_else(|| SecretString::from(String::new())),
            new_key_id: self.new_key().id,
            delete_after,
            stored_in: self.secrets.storage().into(),
        };
        crate::state::grace::GraceFile::new(self.ctx.paths.grace_file())
            .keep(entry)
            .map_err(|e| Halt::KeepJournal(e.into()))?;
        self.report.grace_until = Some(delete_after);
        Ok(Phase::OldDeleted)
    }

    /// Deactivates (or with `delete`, deletes) the old key, signed for the new one, retrying
    /// while the network, throttling or the new key's propagation get in the way. A key that is
    /// already gone counts as done.
    async fn retire_old(
        &mut self,
        (signer, signed): (Signer, Signed),
        delete: bool,
    ) -> Result<(), AwsError> {
        let old_id = self.old.id.clone();
        let aws = self.ctx.aws;
        ok_if_gone(
            self.retry
                .run(
                    |e: &AwsError| decide::verdict(e.class, signed, Stage::InFlight),
                    async |_| {
                        if delete {
                            aws.delete_key(&signer, &old_id).await
                        } else {
                            aws.set_key_active(&signer, &old_id, false).await
                        }
                    },
                )
                .await,
        )
    }

    /// The last look: the file must hold the new key, whatever other programs did meanwhile.
    async fn finish(&mut self) {
        self.report.phase = Some(Phase::OldDeleted);
        let new = self.new_key();
        let end = if self.repair_file() {
            Finish::Done
        } else {
            decide::finish(
                self.all_hold(&new.id),
                self.all_hold(&self.old.id),
                self.key_held().as_deref(),
            )
        };
        match end {
            Finish::Done => self.describe().await,
            Finish::OtherKeyChosen => {
                // The profile now holds a key of someone else's choosing: not ours to undo.
                tracing::warn!(profile = %self.profile, "the profile was given another key during the rotation; leaving it as it is");
            }
            Finish::KeepJournal => {
                // The journal keeps the new secret, so a later run can still put it back.
                self.report.outcome = Outcome::Interrupted;
                self.report.error = Some(Error::ChangedMeanwhile {
                    profile: self.profile.clone(),
                    path: self.ctx.paths.credentials.clone(),
                    new_key_id: new.id,
                });
                return;
            }
        }
        self.report.outcome = Outcome::Rotated;
        self.close_journal(Ended::Rotated);
    }

    /// Who the hooks are told the rotation is about.
    fn about(&self) -> (String, Vec<String>, String) {
        (
            self.profile.clone(),
            self.profiles.clone(),
            self.arn.clone(),
        )
    }

    /// `pre_rotate`, before anything changes: the first that fails vetoes the rotation.
    async fn pre_hooks(&mut self) -> Result<(), Halt> {
        self.report.hooks_skipped = self.ctx.hooks.skipped;
        let (profile, profiles, arn) = self.about();
        let about = crate::core::hooks::About {
            profile: &profile,
            profiles: &profiles,
            user_arn: &arn,
        };
        for hook in self.ctx.hooks.pre.clone() {
            let input = crate::core::hooks::pre_input(&about, &self.old.id);
            match crate::engine::hooks::run(&hook, input, self.ctx.hooks).await {
                Ok(()) => self.report.hooks.push((hook, HookRun::Ok)),
                Err(f) => {
                    self.report.hooks.push((hook, HookRun::Failed));
                    return Err(Halt::NothingChanged(Error::HookRefused {
                        profile,
                        hook: f.command,
                        detail: f.detail,
                    }));
                }
            }
        }
        Ok(())
    }

    /// `post_rotate`, once the new key is written and proven, before the old key is retired.
    /// Each is recorded in the journal before it starts and once it has finished, so recovery
    /// runs only the unfinished ones and a rollback knows which to run again with the old pair.
    async fn post_hooks(&mut self) -> Result<(), Halt> {
        self.report.hooks_skipped = self.ctx.hooks.skipped;
        let new = self.new_key();
        let (profile, profiles, arn) = self.about();
        for hook in self.ctx.hooks.post.clone() {
            let done = self
                .record
                .as_ref()
                .is_some_and(|r| r.hooks_done.contains(&hook));
            if done {
                continue;
            }
            self.note_hook(&hook, false)?;
            let about = crate::core::hooks::About {
                profile: &profile,
                profiles: &profiles,
                user_arn: &arn,
            };
            let input = crate::core::hooks::post_input(&about, &new, &self.old.id, false);
            match crate::engine::hooks::run(&hook, input, self.ctx.hooks).await {
                Ok(()) => {
                    self.report.hooks.push((hook.clone(), HookRun::Ok));
                    self.note_hook(&hook, true)?;
                    failpoint::hit("after-hook");
                }
                Err(f) => {
                    self.report.hooks.push((hook.clone(), HookRun::Failed));
                    let e = Error::HookFailed {
                        profile: profile.clone(),
                        hook: f.command,
                        detail: f.detail,
                    };
                    if self.ctx.hooks.on_failure == OnHookFailure::Continue {
                        // The rotation goes on; the rest of the hooks do not run.
                        tracing::warn!(error = %e, "a hook failed; going on (on_hook_failure = \"continue\")");
                        self.report.warnings.push(format!(
                            "{e}; the rotation went on (on_hook_failure = \"continue\"): whatever it updates may still hold the old key"
                        ));
                        self.note_hook(&hook, true)?;
                        return Ok(());
                    }
                    return Err(Halt::RollBack(e));
                }
            }
        }
        Ok(())
    }

    /// Records in the journal that `hook` started (or, with `finished`, finished).
    fn note_hook(&mut self, hook: &str, finished: bool) -> Result<(), Halt> {
        let Some(record) = self.record.as_mut() else {
            return Ok(());
        };
        let list = if finished {
            &mut record.hooks_done
        } else {
            &mut record.hooks_started
        };
        if !list.iter().any(|h| h == hook) {
            list.push(hook.to_string());
        }
        let record = record.clone();
        self.save(&record).map_err(Halt::KeepJournal)
    }

    /// After a rollback put the old key back: every `post_rotate` hook that was given the new
    /// pair is run again with the old one, so what it updated goes back too. A failure is
    /// reported; the rollback goes on.
    async fn revert_hooks(&mut self) {
        let Some(record) = self.record.clone() else {
            return;
        };
        let Some(new_id) = self.new.as_ref().map(|n| n.id.clone()) else {
            return;
        };
        let (profile, profiles, arn) = self.about();
        let about = crate::core::hooks::About {
            profile: &profile,
            profiles: &profiles,
            user_arn: &arn,
        };
        for hook in &record.hooks_started {
            let input = crate::core::hooks::post_input(&about, &self.old, &new_id, true);
            match crate::engine::hooks::run(hook, input, self.ctx.hooks).await {
                Ok(()) => self.report.hooks.push((hook.clone(), HookRun::Reverted)),
                Err(f) => {
                    tracing::warn!(hook = %hook, detail = %f.detail, "a hook failed when given the old key back");
                    self.report
                        .hooks
                        .push((hook.clone(), HookRun::RevertFailed));
                    self.report.warnings.push(format!(
                        "the post_rotate hook `{hook}` failed when given the old key back ({}): whatever it updates may hold the deleted new key; check it",
                        f.detail
                    ));
                }
            }
        }
    }

    /// Before the old key is retired: if IAM says it was used lately by a service other than
    /// IAM and STS, another machine or program may still hold it, and the user is told.
    async fn tell_use_elsewhere(&mut self, signer: &Signer) {
        let aws = self.ctx.aws;
        match aws.last_used(signer, &self.old.id).await {
            Ok(last) => {
                if let Some(text) =
                    crate::core::whereabouts::used_elsewhere(&last, OffsetDateTime::now_utc())
                {
                    let advice = if self.ctx.grace.is_zero()
                        && self.record.as_ref().is_none_or(|r| r.grace_secs == 0)
                    {
                        "; set grace (e.g. grace = \"7d\") to keep it Inactive, and undoable, for a while"
                    } else {
                        "; it stays Inactive during its grace, and keyrot-agent undo brings it back"
                    };
                    tracing::warn!(profile = %self.profile, "{text}");
                    self.report.warnings.push(format!("{text}{advice}"));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read when the old key was last used")
            }
        }
    }

    /// Once the rotation is done: the new key gets its description in IAM (a user tag named after
    /// it: "keyrot-agent on HOST, DATE"), and the old key's goes with it. Best effort.
    async fn describe(&mut self) {
        let Some(user) = crate::core::whereabouts::user_name(&self.arn).map(String::from) else {
            return;
        };
        let new = self.new_key();
        let Ok((signer, _)) = self.signer(&new, true).await else {
            return;
        };
        let aws = self.ctx.aws;
        let text = crate::core::whereabouts::description(
            &crate::edge::paths::hostname(),
            OffsetDateTime::now_utc(),
        );
        self.report.description = Some(match aws.tag_user(&signer, &user, &new.id, &text).await {
            Ok(()) => Ok(text),
            Err(e) => {
                tracing::info!(error = %e, "could not give the new key its description");
                Err(e.detail())
            }
        });
        // The old key's description goes with it, if keyrot-agent gave it one.
        let old_described = Cache::new(self.ctx.paths.key_cache_file())
            .load()
            .get(&self.old.id)
            .is_some_and(|d| matches!(d.description, Some(Ok(_))));
        let old_gone = self.report.grace_until.is_none();
        if old_gone && old_described {
            crate::engine::grace::undescribe(aws, &signer, &self.arn, &self.old.id).await;
        }
    }

    fn not_retired(&self, what: &'static str, e: AwsError) -> Error {
        if e.class == ErrorClass::Unreachable {
            return self.interrupted(&e);
        }
        Error::OldKeyNotRetired {
            profile: self.profile.clone(),
            new_key_id: self.report.new_key_id.clone().unwrap_or_default(),
            old_key_id: self.old.id.clone(),
            what,
            detail: e.detail(),
        }
    }

    /// Undoes a rotation: the old key goes back into the file (if the file holds the new one) and
    /// the new key is deleted. `error` is why; `None` when recovery finishes an earlier rollback.
    async fn roll_back(&mut self, error: Option<Error>) {
        if let Some(record) = self.record.as_mut()
            && !record.rolling_back
        {
            record.rolling_back = true;
            let record = record.clone();
            if let Err(e) = self.save(&record) {
                tracing::warn!(error = %e, "could not record the rollback in the journal");
            }
        }
        let started = Instant::now();
        let mut restored = true;
        if let Some(new) = self.new.clone() {
            let primary = self.key_held();
            let all_new = match primary.as_deref() {
                Some(id) if id != new.id => self.all_hold(&new.id),
                _ => None,
            };
            restored = match decide::restore(primary.as_deref(), &new.id, all_new) {
                Restore::PutOldBack => {
                    let old = self.old.clone();
                    self.switch(&new.id, &old).is_ok()
                }
                Restore::NothingToPutBack => true,
                // Unreadable right now: the new key must not be deleted while it may be in use.
                Restore::Unknown => false,
            };
            if restored {
                failpoint::hit("rollback-restored");
                self.revert_hooks().await;
            }
        }
        let deleted = if restored {
            self.delete_new_key().await
        } else {
            false
        };
        self.report.timings.push(("roll back", started.elapsed()));
        let rolled_back = restored && deleted;
        self.report.outcome = if rolled_back {
            Outcome::RolledBack
        } else {
            Outcome::Interrupted
        };
        let note = RollbackNote {
            restored,
            new_key_deleted: deleted,
        };
        self.report.error = match error {
            Some(e) => Some(e.with_rollback(note)),
            // Recovery finishing an earlier rollback: a success when it is complete.
            None if rolled_back => None,
            None => Some(Error::RecoveredRollback {
                profile: self.profile.clone(),
                new_key_id: self.new.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                note,
            }),
        };
        if let (false, Some(e)) = (rolled_back, self.mfa_problem.take()) {
            // What is left needs an MFA code: that is what the user must be told.
            if let Some(cause) = self.report.error.take() {
                tracing::warn!(profile = %self.profile, error = %cause, "rolling back");
            }
            self.report.error = Some(e);
        }
        if rolled_back {
            self.close_journal(Ended::RolledBack);
        }
    }

    /// Deletes the new key (signed with the old one). Returns whether it is gone.
    async fn delete_new_key(&mut self) -> bool {
        let Some(new) = self.new.clone() else {
            return true;
        };
        let old = self.old.clone();
        let aws = self.ctx.aws;
        let Some((signer, signed)) = self.cleanup_signer(&old).await else {
            return false;
        };
        match ok_if_gone(
            self.retry
                .run(
                    |e: &AwsError| decide::verdict(e.class, signed, Stage::InFlight),
                    async |_| aws.delete_key(&signer, &new.id).await,
                )
                .await,
        ) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(key = %new.id, error = %e, "could not delete the new key");
                false
            }
        }
    }
}

/// The engine's stop for a decided [`decide::Stop`], with the error that caused it.
fn halt(stop: decide::Stop, e: Error) -> Halt {
    match stop {
        decide::Stop::NothingChanged | decide::Stop::SweepFirst => Halt::NothingChanged(e),
        decide::Stop::RollBack => Halt::RollBack(e),
        decide::Stop::KeepJournal => Halt::KeepJournal(e),
    }
}

/// How many times CreateAccessKey is sent in one rotation at most (each retry after a failure
/// that may have made a key comes after that key was found and deleted).
const MAX_CREATE_ATTEMPTS: u32 = 4;

/// The error of a CreateAccessKey that failed in a way that may have made a key.
fn create_error(profile: &str, arn: &str, e: AwsError, new_key_deleted: bool) -> Error {
    match e.class {
        ErrorClass::Unreachable | ErrorClass::Transient if e.status.is_none() => {
            Error::Unreachable {
                profile: profile.to_string(),
                endpoint: e.endpoint.clone().unwrap_or_else(|| "the endpoint".into()),
                detail: e.detail(),
                new_key_deleted: Some(new_key_deleted),
            }
        }
        _ => Error::from_aws(profile, arn, e),
    }
}
