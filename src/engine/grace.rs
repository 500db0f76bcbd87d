//! The grace period: with `grace` set, a rotation leaves the old key Inactive (not deleted) for
//! that long, and `keyrot-agent undo --profile P` can bring it back until then.
//!
//! What is kept: one entry per rotated key in the grace record (`state::grace`). The entry goes
//! when the old key is deleted or brought back.
//!
//! [`settle`] runs under the lock in every changing command and in each agent round:
//! - an old key whose grace is over is deleted, unless a local profile holds it;
//! - an `undo` that was cut short after it put the old key back into the file is finished: the
//!   replacing key is deleted, unless a local profile holds it.
//!
//! An undone key is *held*: the agent does not rotate it again by itself (it would be due at
//! once), until the user runs `keyrot-agent now` for it.
//!
//! Keyring mode works the same way with the keyring in place of the file: the old pair is kept
//! in the keyring entry `grace:<old key id>` (never in `grace.json`), and `undo` switches the
//! profiles' entries back.

use std::time::Duration;

use time::OffsetDateTime;

use crate::core::decide::{self, GraceFacts, InIam, LastLook, Settle, Signed, Stage};
use crate::core::keys::ErrorClass;
use crate::core::keys::{KeyPair, Signer};
use crate::edge::aws::{Aws, AwsError, RequestCounter};
use crate::edge::failpoint;
use crate::edge::paths::Paths;
use crate::edge::storage::{HeldKeys, Secrets, SwitchError};
use crate::engine::error::Error;
use crate::engine::retry::{self, Retry};
use crate::engine::signing::Signing;
use crate::state::grace::{Entry, GraceFile};
use crate::state::history::{Ended, History, HistoryLine};

/// The old key pair of `entry`, wherever its secret is kept.
fn old_pair(entry: &Entry, paths: &Paths) -> Option<KeyPair> {
    Secrets::new(entry.stored_in.storage(), paths).recall(
        entry.slot(),
        &entry.old_key_id,
        Some(&entry.old_secret),
    )
}

/// Forgets the old pair's own copy, once `entry` is done with.
fn forget_old_pair(entry: &Entry, paths: &Paths) {
    Secrets::new(entry.stored_in.storage(), paths).forget(entry.slot());
}

/// What [`settle`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Old keys deleted because their grace was over.
    pub deleted: Vec<String>,
    /// Replacing keys deleted to finish an interrupted undo.
    pub undone: Vec<String>,
    /// Old keys the user made Active again during their grace: left alone, and forgotten.
    pub reactivated: Vec<String>,
}

impl Settled {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.undone.is_empty() && self.reactivated.is_empty()
    }
}

/// Deletes old keys whose grace is over and finishes interrupted undos. `held` is what the local
/// profiles hold (read here when not given; when unknown, nothing is deleted). The caller holds
/// the lock. Failures leave the entry for the next time, and are logged.
pub async fn settle(
    paths: &Paths,
    held: Option<&HeldKeys>,
    signing: impl Fn(&str) -> Signing,
    counter: &RequestCounter,
    now: OffsetDateTime,
) -> Settled {
    let grace = GraceFile::new(paths.grace_file());
    let mut done = Settled::default();
    let Ok(mut state) = grace.load() else {
        return done;
    };
    if state.entries.is_empty() {
        return done;
    }
    let read;
    let local = match held {
        Some(h) => h,
        None => match HeldKeys::read(&paths.credentials) {
            Some(h) => {
                read = h;
                &read
            }
            None => return done,
        },
    };
    let mut keep = Vec::new();
    for entry in std::mem::take(&mut state.entries) {
        let facts = GraceFacts {
            profiles_hold_old: local.holds(&entry.profiles, &entry.old_key_id),
            anyone_holds_old: local.anyone_holds(&entry.old_key_id),
            anyone_holds_new: local.anyone_holds(&entry.new_key_id),
            grace_over: entry.delete_after <= now,
        };
        let action = decide::settle(facts);
        // The primary profile signs: with the old key after an undo, the new key otherwise.
        let signer = local.pair(&entry.primary);
        let (action, Some(signer)) = (action, signer) else {
            keep.push(entry);
            continue;
        };
        let aws = Aws::load(&entry.primary, counter.clone()).await;
        let (target, finishing_undo) = match action {
            Settle::Keep => {
                if !facts.profiles_hold_old && facts.grace_over {
                    tracing::warn!(key = %entry.old_key_id, "a profile holds the key kept in grace; not deleting it");
                }
                keep.push(entry);
                continue;
            }
            // An undo put the old key back and stopped before deleting the replacing key.
            Settle::FinishUndo => (entry.new_key_id.clone(), true),
            Settle::DeleteOld => (entry.old_key_id.clone(), false),
        };
        // The record is keyrot-agent's own, but nothing is deleted on its word alone: only a
        // key IAM lists for the caller, and an old key only while it is Inactive.
        let signing = signing(&entry.primary);
        let sign = match signing.iam(&aws, &signer, false, &entry.primary).await {
            Ok((sign, _)) => sign,
            Err(e) => {
                tracing::warn!(profile = %entry.primary, error = %e, "cannot delete a key after its grace without an MFA session; trying again later");
                keep.push(entry);
                continue;
            }
        };
        let in_iam = match aws.list_keys(&sign).await {
            Ok(keys) => match keys.iter().find(|k| k.id == target) {
                Some(k) if k.active => InIam::Active,
                Some(_) => InIam::Inactive,
                None => InIam::Absent,
            },
            Err(e) => {
                tracing::warn!(error = %e.detail(), "could not list the keys before deleting one after its grace; trying again later");
                keep.push(entry);
                continue;
            }
        };
        match decide::last_look(in_iam, finishing_undo) {
            LastLook::Forget => {
                tracing::warn!(key = %target, "the key kept in grace is not the user's key (any more); nothing is deleted");
                forget_old_pair(&entry, paths);
            }
            LastLook::LeaveReactivated => {
                tracing::warn!(key = %target, "the old key was made Active again during its grace; it is left alone");
                forget_old_pair(&entry, paths);
                done.reactivated.push(target);
            }
            LastLook::Delete if finishing_undo => match retire(&aws, &sign, &target).await {
                Ok(()) => {
                    forget_old_pair(&entry, paths);
                    done.undone.push(target);
                    if !state.held.contains(&entry.old_key_id) {
                        state.held.push(entry.old_key_id.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not finish an interrupted undo; trying again later");
                    keep.push(entry);
                }
            },
            LastLook::Delete => match aws.delete_key(&sign, &target).await {
                Ok(()) => {
                    forget_old_pair(&entry, paths);
                    undescribe(&aws, &sign, &entry.user_arn, &target).await;
                    done.deleted.push(target);
                }
                Err(e) if e.class == ErrorClass::NoSuchEntity => forget_old_pair(&entry, paths),
                Err(e) => {
                    tracing::warn!(key = %target, error = %e.detail(), "could not delete the old key after its grace; trying again later");
                    keep.push(entry);
                }
            },
        }
    }
    state.entries = keep;
    // Holds on keys no profile holds any more are spent.
    state.held.retain(|k| local.anyone_holds(k));
    if let Err(e) = grace.save(&state) {
        tracing::warn!(error = %e, "could not update the grace record");
    }
    done
}

/// Removes the description (user tag) of `key_id`, a key just deleted. Best effort. The one
/// place a description goes: the end of a grace, `undo`, and a rotation without grace.
pub(crate) async fn undescribe(aws: &Aws, signer: &Signer, user_arn: &str, key_id: &str) {
    if let Some(user) = crate::core::whereabouts::user_name(user_arn)
        && let Err(e) = aws.untag_user(signer, user, key_id).await
    {
        tracing::debug!(error = %e, "could not remove a deleted key's description");
    }
}

/// Deactivates and deletes `target`, signed with `signer`. Gone already counts as done.
async fn retire(aws: &Aws, signer: &Signer, target: &str) -> Result<(), String> {
    let gone = |r: Result<(), crate::edge::aws::AwsError>| match r {
        Ok(()) => Ok(()),
        Err(e) if e.class == ErrorClass::NoSuchEntity => Ok(()),
        Err(e) => Err(e.detail()),
    };
    gone(aws.set_key_active(signer, target, false).await)?;
    gone(aws.delete_key(signer, target).await)
}

/// What `undo` did.
#[derive(Debug)]
pub struct Undone {
    pub profiles: Vec<String>,
    pub restored_key_id: String,
    pub deleted_key_id: String,
}

/// `keyrot-agent undo --profile P`: brings back the key that the last rotation of `profile`
/// replaced, while its grace lasts. The old key is made Active, proven with STS, written back
/// into every profile that held it, read back through the SDK; only then is the replacing key
/// deactivated and deleted. The caller holds the lock.
pub async fn undo(
    paths: &Paths,
    profile: &str,
    signing: &Signing,
    verify_timeout: Duration,
    counter: &RequestCounter,
) -> Result<Undone, Error> {
    let grace = GraceFile::new(paths.grace_file());
    let mut state = grace.load()?;
    let nothing = |why: String| Error::NothingToUndo {
        profile: profile.to_string(),
        why,
    };
    let Some(index) = state
        .entries
        .iter()
        .position(|e| e.profiles.iter().any(|p| p == profile))
    else {
        return Err(nothing(
            "no rotation of it is in its grace period (grace is 0, it has run out, or the old key was deleted)".into(),
        ));
    };
    let entry = state.entries[index].clone();
    let here = HeldKeys::read(&paths.credentials).ok_or_else(|| {
        nothing("the credentials file (or a keyring profile's entry) cannot be read".into())
    })?;
    let old = old_pair(&entry, paths).ok_or_else(|| {
        nothing(format!(
            "the old key {}'s secret is no longer in the keyring",
            entry.old_key_id
        ))
    })?;
    let aws = Aws::load(&entry.primary, counter.clone()).await;
    let internal = |what: String| Error::Internal {
        profile: profile.to_string(),
        what,
    };
    let not_proven = |what: String| Error::NotProven {
        profile: profile.to_string(),
        what,
    };
    if !here.holds(&entry.profiles, &entry.old_key_id) {
        if !here.holds(&entry.profiles, &entry.new_key_id) {
            return Err(nothing(format!(
                "the profiles {} no longer hold the key {} that replaced it; nothing was changed",
                entry.profiles.join(", "),
                entry.new_key_id
            )));
        }
        let new = here
            .pair(&entry.primary)
            .ok_or_else(|| internal("the profile has no secret".into()))?;
        // 1. The old key comes back to life, and must answer as the same user.
        let mfa = |e| {
            Error::from_mfa(
                profile,
                e,
                false,
                format!("keyrot-agent undo --profile {profile} --mfa-code CODE"),
            )
        };
        let (sign, _) = signing
            .iam(&aws, &new, false, &entry.primary)
            .await
            .map_err(mfa)?;
        aws.set_key_active(&sign, &old.id, true)
            .await
            .map_err(|e| match e.class {
                ErrorClass::NoSuchEntity => {
                    nothing(format!("the old key {} no longer exists in IAM", old.id))
                }
                _ => Error::from_aws(profile, &entry.user_arn, e),
            })?;
        failpoint::hit("undo-reactivated");
        // It has just been made Active: IAM may not accept it everywhere yet.
        let mut retry = Retry::new(verify_timeout, retry::seed());
        let answer = retry
            .run(
                |e: &AwsError| decide::verdict(e.class, Signed::WithFreshKey, Stage::InFlight),
                async |_| aws.identity(&old).await,
            )
            .await;
        match answer {
            Ok(id) if id.arn == entry.user_arn => {}
            Ok(id) => {
                return Err(not_proven(format!(
                    "the old key answers as {} instead of {}; nothing more was changed",
                    id.arn, entry.user_arn
                )));
            }
            Err(e) => {
                return Err(not_proven(format!(
                    "the old key {} was made Active but does not work yet ({}); the file still holds {}. Run undo again in a minute",
                    old.id,
                    e.detail(),
                    entry.new_key_id
                )));
            }
        }
        // 2. Back where the profiles keep their key.
        Secrets::new(entry.stored_in.storage(), paths)
            .switch(&entry.profiles, &entry.new_key_id, &old)
            .map_err(|e| match e {
                SwitchError::Changed => nothing(
                    "the profiles' keys changed meanwhile; nothing was written. Run undo again"
                        .into(),
                ),
                SwitchError::Store(e) => Error::from(e),
                SwitchError::Keyring(source) => Error::Keyring {
                    profile: profile.to_string(),
                    source,
                },
            })?;
        failpoint::hit("undo-written");
        // 3. Read back as any SDK would.
        match aws
            .identity_from_disk(&entry.primary, &paths.credentials, &paths.config)
            .await
        {
            Ok((id, identity)) if id == old.id && identity.arn == entry.user_arn => {}
            other => {
                return Err(not_proven(format!(
                    "the file holds the old key again, but reading it back failed ({}); run keyrot-agent recover",
                    match other {
                        Ok((id, _)) => format!("it read {id}"),
                        Err(e) => e.to_string(),
                    }
                )));
            }
        }
    }
    // 4. The replacing key goes, signed with the old one (settle would finish this too).
    let here = HeldKeys::read(&paths.credentials).ok_or_else(|| {
        not_proven(
            "the profiles cannot be read back now; run keyrot-agent recover to finish".into(),
        )
    })?;
    if !here.anyone_holds(&entry.new_key_id) {
        let not_finished = |detail: String| Error::UndoNotFinished {
            profile: profile.to_string(),
            key_id: entry.new_key_id.clone(),
            detail,
        };
        let (sign, _) = signing
            .iam(&aws, &old, false, &entry.primary)
            .await
            .map_err(|e| not_finished(e.to_string()))?;
        retire(&aws, &sign, &entry.new_key_id)
            .await
            .map_err(|detail| Error::UndoNotFinished {
                profile: profile.to_string(),
                key_id: entry.new_key_id.clone(),
                detail,
            })?;
        undescribe(&aws, &sign, &entry.user_arn, &entry.new_key_id).await;
    }
    forget_old_pair(&entry, paths);
    state.entries.remove(index);
    if !state.held.contains(&old.id) {
        state.held.push(old.id.clone());
    }
    grace.save(&state).map_err(Error::from)?;
    let line = HistoryLine {
        time: OffsetDateTime::now_utc(),
        profiles: entry.profiles.clone(),
        old_key_id: entry.new_key_id.clone(),
        new_key_id: Some(old.id.clone()),
        outcome: Ended::Undone,
        rotation: None,
    };
    if let Err(e) = History::new(paths.history_file()).append(&line) {
        tracing::warn!(error = %e, "could not append to the history");
    }
    crate::edge::storage::forget_backup(paths);
    Ok(Undone {
        profiles: entry.profiles,
        restored_key_id: old.id,
        deleted_key_id: entry.new_key_id,
    })
}
