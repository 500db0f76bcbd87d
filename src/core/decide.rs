//! The rotation's decisions as plain functions over data, each with a table test: which AWS
//! failures are waited out, how a step that cannot go on leaves things, which keys the orphan
//! sweep may delete, how a rollback restores the old key, how a rotation is finished, what
//! recovery does with a journal record, and what `settle` does with a grace entry. The engine
//! carries them out; nothing here performs I/O or reads the clock.

use time::OffsetDateTime;

use crate::core::keys::{ErrorClass, KeyInfo, LastUsed};
use crate::core::rotation::Phase;

/// What an AWS failure means for whoever waits on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The key that signed the call is new (or newly active) and IAM does not know it
    /// everywhere yet: wait and try again.
    NotPropagatedYet,
    /// Throttling, a 5xx, a timeout, or (once something changed) the network: try again.
    Transient,
    /// Trying again will not help.
    Final,
}

/// Whether the key that signed a call is one IAM may not know everywhere yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// A key IAM has known for a while (the profile's old key, an MFA session).
    WithKnownKey,
    /// A key this rotation created, or `undo` made Active again.
    WithFreshKey,
}

/// Whether anything has changed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Nothing changed: a network failure ends the run (the user runs it again).
    BeforeChange,
    /// Something changed (a key exists that must be finished or undone): the network going
    /// away is waited out until the deadline.
    InFlight,
}

/// The one retry policy: what a failure of class `class` means for a call signed as `signed`
/// at stage `stage`.
pub fn verdict(class: ErrorClass, signed: Signed, stage: Stage) -> Verdict {
    match (class, signed, stage) {
        (ErrorClass::KeyRejected | ErrorClass::AccessDenied, Signed::WithFreshKey, _) => {
            Verdict::NotPropagatedYet
        }
        (ErrorClass::Throttled | ErrorClass::Transient, _, _) => Verdict::Transient,
        (ErrorClass::Unreachable, _, Stage::InFlight) => Verdict::Transient,
        _ => Verdict::Final,
    }
}

/// The steps of a rotation, each leading from one phase to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// GetCallerIdentity and ListAccessKeys with the old key, before the intent.
    Identify,
    /// Deleting the user's Inactive key to make room.
    MakeRoom,
    /// CreateAccessKey.
    Create,
    /// Waiting until the new key answers STS.
    Verify,
    /// Writing the new key where the profiles keep it.
    Write,
    /// Reading it back through the AWS SDK.
    VerifyOnDisk,
    /// Deactivating the old key.
    Deactivate,
    /// Deleting the old key.
    Delete,
}

/// How a step that cannot go on leaves things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nothing changed (or what was made is undone): the journal goes.
    NothingChanged,
    /// IAM may have made a key whose secret nobody has: find and delete it first, then stop
    /// with nothing changed (or keep the journal if it cannot be found and deleted).
    SweepFirst,
    /// Undo: the old key back where the profiles keep it, the new key deleted.
    RollBack,
    /// Keep the journal; a later run finishes the rotation.
    KeepJournal,
}

/// What a failure of class `class` (after the retries the policy allows) means at `step`.
/// `None` is a local failure: the file or the keyring could not be written or read.
pub fn stop_after(step: Step, class: Option<ErrorClass>) -> Stop {
    use ErrorClass::*;
    match (step, class) {
        (Step::Identify | Step::MakeRoom, _) => Stop::NothingChanged,
        // A throttled or refused CreateAccessKey made nothing; an answer lost, a 5xx or an
        // unexpected error may have.
        (Step::Create, Some(Unreachable | Transient | Other)) => Stop::SweepFirst,
        (Step::Create, _) => Stop::NothingChanged,
        // The new key exists. The network going away keeps it for later; anything else undoes it.
        (Step::Verify | Step::VerifyOnDisk, Some(Unreachable)) => Stop::KeepJournal,
        (Step::Verify | Step::Write | Step::VerifyOnDisk, _) => Stop::RollBack,
        // The profiles hold the new key, which works: never roll back from here.
        (Step::Deactivate | Step::Delete, _) => Stop::KeepJournal,
    }
}

/// What a failed CreateAccessKey means when an earlier attempt of the same rotation may have
/// made a key (`answer_lost_before`): a LimitExceeded then most likely comes from that key,
/// landing after the sweep looked (a slow endpoint), so it is swept again before giving up.
pub fn create_stop(class: ErrorClass, answer_lost_before: bool) -> Stop {
    match stop_after(Step::Create, Some(class)) {
        Stop::NothingChanged if class == ErrorClass::LimitExceeded && answer_lost_before => {
            Stop::SweepFirst
        }
        other => other,
    }
}

/// After the sweep of [`Stop::SweepFirst`]: nothing changed if no unknown key is left, else the
/// journal stays so that recovery finds it.
pub fn after_sweep(all_gone: bool) -> Stop {
    if all_gone {
        Stop::NothingChanged
    } else {
        Stop::KeepJournal
    }
}

/// How far a recovery that runs long after a crash trusts a key to be the one the crash lost:
/// created within this much of the intent (allowing for clock skew).
pub const ORPHAN_WINDOW: time::Duration = time::Duration::minutes(15);

/// The keys the orphan sweep may delete: the user's keys that were not there at the intent
/// (`before`), are not the old key, and no local profile holds. With `later` (recovery, maybe
/// days after the crash) only a key created around the intent can be the one whose secret was
/// lost; the user may have made others since. [`orphan_unused`] then checks each one's last use.
pub fn orphans(
    keys: &[KeyInfo],
    before: &[String],
    old_key_id: &str,
    held: impl Fn(&str) -> bool,
    started: Option<OffsetDateTime>,
    later: bool,
) -> Vec<KeyInfo> {
    keys.iter()
        .filter(|k| !before.contains(&k.id) && k.id != old_key_id && !held(&k.id))
        .filter(|k| {
            !later
                || match (started, k.created) {
                    (Some(s), Some(c)) => (c - s).abs() <= ORPHAN_WINDOW,
                    _ => false,
                }
        })
        .cloned()
        .collect()
}

/// Whether a key found by [`orphans`] long after the crash may be deleted: only one never used.
pub fn orphan_unused(last_used: &LastUsed) -> bool {
    last_used.date.is_none()
}

/// What a rollback does with where the profiles keep their pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// The profiles hold the new key: put the old one back, then delete the new key.
    PutOldBack,
    /// They never got the new key (or someone else replaced it): the new key can go.
    NothingToPutBack,
    /// What they hold cannot be read now: the new key must not be deleted, it may be in use.
    Unknown,
}

/// How to restore, given the key the primary profile holds now (`None`: unreadable) and whether
/// every profile holds the new key (`None`: unreadable).
pub fn restore(
    primary_holds: Option<&str>,
    new_key_id: &str,
    all_hold_new: Option<bool>,
) -> Restore {
    match primary_holds {
        None => Restore::Unknown,
        Some(id) if id == new_key_id => Restore::PutOldBack,
        Some(_) => match all_hold_new {
            Some(false) => Restore::NothingToPutBack,
            _ => Restore::Unknown,
        },
    }
}

/// How a rotation whose old key is retired ends, once the file was given one more chance to
/// hold the new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The profiles hold the new key: done.
    Done,
    /// They hold a key of someone else's choosing (neither ours): not ours to undo; done.
    OtherKeyChosen,
    /// They hold the old key again, or cannot be read: keep the journal (it has the new
    /// secret) so that a later run puts it back.
    KeepJournal,
}

/// The end of a rotation, from whether every profile holds the new key, the old key, and what
/// the primary holds.
pub fn finish(
    hold_new: Option<bool>,
    hold_old: Option<bool>,
    primary_holds: Option<&str>,
) -> Finish {
    match (hold_new, hold_old, primary_holds) {
        (Some(true), _, _) => Finish::Done,
        (Some(false), Some(false), Some(_)) => Finish::OtherKeyChosen,
        _ => Finish::KeepJournal,
    }
}

/// What recovery does with a journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// A rollback was under way: finish it.
    FinishRollback,
    /// The new key's secret was never recorded (or is gone): delete the key the crash
    /// orphaned.
    SweepOrphans,
    /// Go on from the recorded phase.
    Resume(Phase),
}

/// Recovery's choice for a record at `phase`, `rolling_back` or not, whose new pair is known
/// or not.
pub fn recovery(phase: Phase, rolling_back: bool, new_pair_known: bool) -> Recovery {
    if rolling_back {
        Recovery::FinishRollback
    } else if phase == Phase::Planned || !new_pair_known {
        Recovery::SweepOrphans
    } else {
        Recovery::Resume(phase)
    }
}

/// What `settle` does with one grace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Leave it for later.
    Keep,
    /// An `undo` put the old key back and stopped: delete the key that replaced it.
    FinishUndo,
    /// The grace is over: delete the old key.
    DeleteOld,
}

/// The facts `settle` decides one entry on.
#[derive(Debug, Clone, Copy)]
pub struct GraceFacts {
    /// Every profile of the entry holds the old key again.
    pub profiles_hold_old: bool,
    /// Some local profile holds the old key.
    pub anyone_holds_old: bool,
    /// Some local profile holds the key that replaced it.
    pub anyone_holds_new: bool,
    /// The grace is over.
    pub grace_over: bool,
}

/// `settle`'s choice for one entry. A key a local profile holds is never deleted.
pub fn settle(f: GraceFacts) -> Settle {
    if f.profiles_hold_old {
        if f.anyone_holds_new {
            Settle::Keep
        } else {
            Settle::FinishUndo
        }
    } else if !f.grace_over || f.anyone_holds_old {
        Settle::Keep
    } else {
        Settle::DeleteOld
    }
}

/// What IAM lists, for the caller, of a key `settle` is about to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InIam {
    Active,
    Inactive,
    /// Not among the caller's keys: deleted already, or never the caller's.
    Absent,
}

/// `settle`'s last look before deleting a key, from what IAM lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastLook {
    Delete,
    /// The user made the old key Active again during its grace: it is in use somewhere; leave it
    /// alone and tell the user.
    LeaveReactivated,
    /// Not the caller's key (any more): forget the entry, delete nothing.
    Forget,
}

/// Only a key IAM lists for the caller is deleted; an old key whose grace is over only if it
/// is still Inactive. (`finishing_undo`: the key is the one that replaced the old key, which is
/// Active by nature.)
pub fn last_look(in_iam: InIam, finishing_undo: bool) -> LastLook {
    match (in_iam, finishing_undo) {
        (InIam::Absent, _) => LastLook::Forget,
        (InIam::Active, false) => LastLook::LeaveReactivated,
        (InIam::Inactive, _) | (InIam::Active, true) => LastLook::Delete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_after_a_lost_create_answer_is_swept_again() {
        use ErrorClass::*;
        let cases = [
            (LimitExceeded, false, Stop::NothingChanged),
            (LimitExceeded, true, Stop::SweepFirst),
            (Throttled, true, Stop::NothingChanged),
            (AccessDenied, true, Stop::NothingChanged),
            (Unreachable, false, Stop::SweepFirst),
            (Transient, true, Stop::SweepFirst),
        ];
        for (class, lost, want) in cases {
            assert_eq!(create_stop(class, lost), want, "{class:?} lost={lost}");
        }
    }
    use ErrorClass::*;

    #[test]
    fn the_retry_policy() {
        use Signed::*;
        use Stage::*;
        use Verdict as V;
        #[rustfmt::skip]
        let table = [
            // class,        signed,        stage,        verdict
            (KeyRejected,   WithFreshKey,  InFlight,     V::NotPropagatedYet),
            (AccessDenied,  WithFreshKey,  InFlight,     V::NotPropagatedYet),
            (KeyRejected,   WithKnownKey,  InFlight,     V::Final),
            (AccessDenied,  WithKnownKey,  BeforeChange, V::Final),
            (Throttled,     WithKnownKey,  BeforeChange, V::Transient),
            (Transient,     WithKnownKey,  BeforeChange, V::Transient),
            (Transient,     WithFreshKey,  InFlight,     V::Transient),
            (Unreachable,   WithKnownKey,  BeforeChange, V::Final),
            (Unreachable,   WithKnownKey,  InFlight,     V::Transient),
            (Unreachable,   WithFreshKey,  InFlight,     V::Transient),
            (LimitExceeded, WithKnownKey,  BeforeChange, V::Final),
            (NoSuchEntity,  WithFreshKey,  InFlight,     V::Final),
            (Other,         WithKnownKey,  InFlight,     V::Final),
        ];
        for (class, signed, stage, want) in table {
            assert_eq!(
                verdict(class, signed, stage),
                want,
                "{class:?} {signed:?} {stage:?}"
            );
        }
    }

    #[test]
    fn how_each_step_stops() {
        use Step::*;
        use Stop::*;
        #[rustfmt::skip]
        let table = [
            (Identify,     Some(Unreachable),  NothingChanged),
            (Identify,     Some(AccessDenied), NothingChanged),
            (MakeRoom,     Some(Throttled),    NothingChanged),
            (Create,       Some(Throttled),    NothingChanged),
            (Create,       Some(AccessDenied), NothingChanged),
            (Create,       Some(LimitExceeded),NothingChanged),
            (Create,       Some(Unreachable),  SweepFirst),
            (Create,       Some(Transient),    SweepFirst),
            (Create,       Some(Other),        SweepFirst),
            (Verify,       Some(Unreachable),  KeepJournal),
            (Verify,       Some(KeyRejected),  RollBack),
            (Verify,       Some(Throttled),    RollBack),
            (Write,        None,               RollBack),
            (VerifyOnDisk, Some(Unreachable),  KeepJournal),
            (VerifyOnDisk, None,               RollBack),
            (VerifyOnDisk, Some(KeyRejected),  RollBack),
            (Deactivate,   Some(AccessDenied), KeepJournal),
            (Deactivate,   None,               KeepJournal),
            (Delete,       Some(Unreachable),  KeepJournal),
            (Delete,       Some(Other),        KeepJournal),
        ];
        for (step, class, want) in table {
            assert_eq!(stop_after(step, class), want, "{step:?} {class:?}");
        }
        assert_eq!(after_sweep(true), NothingChanged);
        assert_eq!(after_sweep(false), KeepJournal);
    }

    fn key(id: &str, created_min: Option<i64>) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            active: true,
            created: created_min.map(|m| T0 + time::Duration::minutes(m)),
        }
    }

    const T0: OffsetDateTime = time::macros::datetime!(2026-11-01 12:00 UTC);

    #[test]
    fn which_keys_the_orphan_sweep_may_delete() {
        let keys = [
            key("OLD", Some(-500)),
            key("BEFORE", Some(-100)),
            key("HELD", Some(1)),
            key("NEW", Some(1)),
            key("LATER", Some(60)),
            key("UNDATED", None),
        ];
        let before = ["OLD".to_string(), "BEFORE".to_string()];
        let held = |id: &str| id == "HELD";
        let ids = |v: Vec<KeyInfo>| v.into_iter().map(|k| k.id).collect::<Vec<_>>();
        // Right after a lost CreateAccessKey answer: every unknown key.
        assert_eq!(
            ids(orphans(&keys, &before, "OLD", held, Some(T0), false)),
            ["NEW", "LATER", "UNDATED"]
        );
        // Recovery, later: only a key created around the intent.
        assert_eq!(
            ids(orphans(&keys, &before, "OLD", held, Some(T0), true)),
            ["NEW"]
        );
        assert!(orphans(&keys, &before, "OLD", held, None, true).is_empty());
        assert!(orphan_unused(&LastUsed::default()));
        assert!(!orphan_unused(&LastUsed {
            date: Some(T0),
            ..LastUsed::default()
        }));
    }

    #[test]
    fn how_a_rollback_restores() {
        use Restore::*;
        #[rustfmt::skip]
        let table = [
            (None,        None,        Unknown),
            (Some("NEW"), Some(true),  PutOldBack),
            (Some("NEW"), Some(false), PutOldBack),
            (Some("OLD"), Some(false), NothingToPutBack),
            (Some("OLD"), None,        Unknown),
            (Some("X"),   Some(false), NothingToPutBack),
        ];
        for (primary, all_new, want) in table {
            assert_eq!(
                restore(primary, "NEW", all_new),
                want,
                "{primary:?} {all_new:?}"
            );
        }
    }

    #[test]
    fn how_a_rotation_ends() {
        use Finish::*;
        #[rustfmt::skip]
        let table = [
            (Some(true),  None,        None,      Done),
            (Some(false), Some(false), Some("X"), OtherKeyChosen),
            (Some(false), Some(true),  Some("OLD"), KeepJournal),
            (Some(false), Some(false), None,      KeepJournal),
            (None,        None,        None,      KeepJournal),
        ];
        for (new, old, primary, want) in table {
            assert_eq!(
                finish(new, old, primary),
                want,
                "{new:?} {old:?} {primary:?}"
            );
        }
    }

    #[test]
    fn recovery_per_record() {
        use Recovery::*;
        assert_eq!(recovery(Phase::Written, true, true), FinishRollback);
        assert_eq!(recovery(Phase::Planned, true, false), FinishRollback);
        assert_eq!(recovery(Phase::Planned, false, false), SweepOrphans);
        assert_eq!(recovery(Phase::Created, false, false), SweepOrphans);
        for phase in Phase::ALL.into_iter().skip(1) {
            assert_eq!(recovery(phase, false, true), Resume(phase));
        }
    }

    #[test]
    fn settle_deletes_only_what_iam_lists_for_the_user_and_never_a_reactivated_key() {
        use InIam::*;
        use LastLook::*;
        assert_eq!(last_look(Inactive, false), Delete);
        assert_eq!(last_look(Active, false), LeaveReactivated);
        assert_eq!(last_look(Absent, false), Forget);
        assert_eq!(last_look(Active, true), Delete);
        assert_eq!(last_look(Inactive, true), Delete);
        assert_eq!(last_look(Absent, true), Forget);
    }

    #[test]
    fn settle_never_deletes_a_held_key() {
        use Settle::*;
        let f = |profiles_hold_old, anyone_holds_old, anyone_holds_new, grace_over| GraceFacts {
            profiles_hold_old,
            anyone_holds_old,
            anyone_holds_new,
            grace_over,
        };
        #[rustfmt::skip]
        let table = [
            // hold old, anyone old, anyone new, over
            (f(true,  true,  false, false), FinishUndo),
            (f(true,  true,  true,  true),  Keep),
            (f(false, false, true,  false), Keep),
            (f(false, false, true,  true),  DeleteOld),
            (f(false, true,  true,  true),  Keep),
        ];
        for (facts, want) in table {
            assert_eq!(settle(facts), want, "{facts:?}");
        }
    }
}
