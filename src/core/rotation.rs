//! The rotation's rules as plain functions over data: which profiles move together, what to do
//! about IAM's two-keys limit, the phases a rotation passes through, and how long to wait between
//! attempts while IAM propagates a new key.
//!
//! Nothing here performs I/O or reads the clock; `now` (the command) performs the effects in the
//! order these functions decide. Nothing here formats a secret.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use secrecy::SecretString;

use crate::core::keys::{KeyInfo, Storage};
use crate::core::profiles::{Profile, SkipReason};

/// The phases of one rotation, in order. A rotation is exactly as far as its phase says; the
/// step from each phase to the next is one step of the `now` driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The old key's identity and the user's keys are known; nothing has changed yet.
    Planned,
    /// CreateAccessKey answered; the new key exists in IAM and its secret is held in memory.
    Created,
    /// The new key answered STS GetCallerIdentity as the same user.
    Verified,
    /// The credentials file holds the new key in every profile that shared the old one.
    Written,
    /// An SDK read the new key back from disk and it answered STS again.
    VerifiedOnDisk,
    /// The old key is Inactive.
    OldDeactivated,
    /// The old key is deleted: the rotation is complete.
    OldDeleted,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Planned,
        Phase::Created,
        Phase::Verified,
        Phase::Written,
        Phase::VerifiedOnDisk,
        Phase::OldDeactivated,
        Phase::OldDeleted,
    ];

    /// Whether reaching this phase is written to the journal, durably, before the rotation goes
    /// on. Only what recovery could not find again by repeating a step is: the intent (before
    /// CreateAccessKey: a crash after it must look for the key it made), the new key's secret
    /// (shown once), and "the file holds the new key and an SDK read it back" (from here on the
    /// old key is retired, and a rotation never rolls back). The journal keeps the last of these
    /// through the other phases, and recovery from it repeats steps that are idempotent (verifying; writing, a no-op once the file holds
    /// the new key; deactivating or deleting the old key, done once it is Inactive or gone) and
    /// makes the same choice about rolling back (before VerifiedOnDisk the old key is still
    /// Active, so a rollback is always possible). Each phase skipped saves a journal replacement:
    /// two fsyncs.
    pub fn is_durable(self) -> bool {
        matches!(
            self,
            Phase::Planned | Phase::Created | Phase::VerifiedOnDisk
        )
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Planned => "planned",
            Phase::Created => "created",
            Phase::Verified => "verified",
            Phase::Written => "written",
            Phase::VerifiedOnDisk => "verified-on-disk",
            Phase::OldDeactivated => "old-deactivated",
            Phase::OldDeleted => "old-deleted",
        }
    }
}

/// What is left to do after `phase`, in words (`{old}` and `{new}` stand for the key ids).
pub fn remaining_steps(phase: Phase) -> &'static [&'static str] {
    const STEPS: [&str; 6] = [
        "wait until the new key {new} answers STS as the same user (or roll back)",
        "write {new} into every profile that held {old} (unless they hold it already)",
        "read the profile back through the AWS SDK and check {new} with STS again (or roll back)",
        "deactivate the old key {old} (unless it is Inactive already)",
        "delete the old key {old} (unless it is gone already)",
        "check that the file still holds {new}, and close the journal",
    ];
    match phase {
        Phase::Planned | Phase::Created => &STEPS[0..],
        Phase::Verified => &STEPS[1..],
        Phase::Written => &STEPS[2..],
        Phase::VerifiedOnDisk => &STEPS[3..],
        Phase::OldDeactivated => &STEPS[4..],
        Phase::OldDeleted => &STEPS[5..],
    }
}

/// A set of profiles that hold the same key and therefore rotate together in one write.
pub struct Target {
    pub access_key_id: String,
    pub secret: SecretString,
    /// The first rotatable profile holding the key: its settings (region, endpoint) are used,
    /// and it is the one read back through the SDK.
    pub primary: String,
    /// Every profile in the credentials file holding this key, in file order.
    pub profiles: Vec<String>,
    /// Where the pair lives.
    pub storage: Storage,
}

impl Target {
    /// The key pair being rotated.
    pub fn pair(&self) -> crate::core::keys::KeyPair {
        crate::core::keys::KeyPair {
            id: self.access_key_id.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// Which profiles the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `--all`: every profile that holds a long-term key.
    All,
    /// `--profile` (repeatable), or `AWS_PROFILE`/`default` when none is given.
    Named(Vec<String>),
}

/// A request that cannot be carried out as asked. Nothing is changed when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    NotFound { profile: String, known: Vec<String> },
    NotRotatable { profile: String, reason: SkipReason },
}

/// What a selection comes to.
pub struct Selected {
    pub targets: Vec<Target>,
    /// Profiles passed over (with `--all`), and why.
    pub skipped: Vec<(String, SkipReason)>,
}

/// Turns the classified profiles and the user's selection into rotation targets: one per distinct
/// key, each carrying every profile that shares that key.
pub fn select(profiles: &[Profile], selection: &Selection) -> Result<Selected, Vec<SelectError>> {
    let by_name: HashMap<&str, &Profile> = profiles.iter().map(|p| (p.name.as_str(), p)).collect();
    let wanted: HashSet<&str> = match selection {
        Selection::All => by_name.keys().copied().collect(),
        Selection::Named(names) => {
            let mut errors = Vec::new();
            for name in names {
                match by_name.get(name.as_str()) {
                    None => errors.push(SelectError::NotFound {
                        profile: name.clone(),
                        known: profiles.iter().map(|p| p.name.clone()).collect(),
                    }),
                    Some(Profile {
                        status: Err(reason),
                        ..
                    }) => errors.push(SelectError::NotRotatable {
                        profile: name.clone(),
                        reason: reason.clone(),
                    }),
                    Some(_) => {}
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            names.iter().map(String::as_str).collect()
        }
    };
    let mut skipped = Vec::new();
    // Every profile sharing a wanted key moves with it, wanted or not: the keys in the order
    // their first wanted profile comes, each with all its holders in file order.
    let mut wanted_keys: Vec<&str> = Vec::new();
    let mut holders: HashMap<&str, Vec<&Profile>> = HashMap::new();
    for p in profiles {
        if let Ok(r) = &p.status {
            holders.entry(r.access_key_id.as_str()).or_default().push(p);
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for p in profiles {
        if !wanted.contains(p.name.as_str()) {
            continue;
        }
        match &p.status {
            Ok(r) => {
                if seen.insert(r.access_key_id.as_str()) {
                    wanted_keys.push(r.access_key_id.as_str());
                }
            }
            Err(reason) => skipped.push((p.name.clone(), reason.clone())),
        }
    }
    let targets = wanted_keys
        .into_iter()
        .filter_map(|key| {
            let list = holders.get(key)?;
            let first = list.first()?;
            let first_status = first.status.as_ref().ok()?;
            let names: Vec<String> = list.iter().map(|p| p.name.clone()).collect();
            Some(Target {
                access_key_id: key.to_string(),
                secret: first_status.secret.clone(),
                primary: names[0].clone(),
                profiles: names,
                storage: first_status.storage,
            })
        })
        .collect();
    Ok(Selected { targets, skipped })
}

/// How to make room for the new key under IAM's limit of two keys per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotPlan {
    /// There is a free slot.
    Free,
    /// The other key is Inactive; delete it first.
    DeleteInactive { key_id: String },
}

/// Why the rotation cannot start. Nothing has been changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRefusal {
    /// The user's other key is Active: deleting it could break whatever uses it.
    OtherKeyActive { key: KeyInfo },
    /// ListAccessKeys does not show the profile's key (it belongs to someone else?).
    KeyNotListed,
    /// The profile's key is Inactive in IAM.
    OldKeyInactive,
}

/// Decides what to do about the two-keys limit, given the user's keys and the key being rotated.
pub fn plan_slots(old_key_id: &str, keys: &[KeyInfo]) -> Result<SlotPlan, SlotRefusal> {
    let Some(old) = keys.iter().find(|k| k.id == old_key_id) else {
        return Err(SlotRefusal::KeyNotListed);
    };
    if !old.active {
        return Err(SlotRefusal::OldKeyInactive);
    }
    let others: Vec<&KeyInfo> = keys.iter().filter(|k| k.id != old_key_id).collect();
    match others.as_slice() {
        [] => Ok(SlotPlan::Free),
        [other] if !other.active => Ok(SlotPlan::DeleteInactive {
            key_id: other.id.clone(),
        }),
        [other, ..] => Err(SlotRefusal::OtherKeyActive {
            key: (*other).clone(),
        }),
    }
}

/// What a rollback achieved, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackNote {
    /// The old key is back in every profile (or was never replaced).
    pub restored: bool,
    /// The new key is gone from IAM.
    pub new_key_deleted: bool,
}

/// Whether an identity ARN is an account's root user.
pub fn is_root_arn(arn: &str) -> bool {
    arn.ends_with(":root")
}

/// The waits between attempts while IAM propagates a key.
///
/// Delays grow by a factor of 1.2 from `initial` up to `cap`, less up to 20% of jitter. A growth
/// factor of 1.2 keeps every wait at about a fifth of the time already spent (plus `initial`), so
/// the agent notices a key that starts working within ~20% of the propagation delay, while a key
/// that takes the whole deadline costs about 50 requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub cap: Duration,
    pub deadline: Duration,
}

impl Backoff {
    pub const GROWTH: f64 = 1.2;

    pub fn with_deadline(deadline: Duration) -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            deadline,
        }
    }

    /// The wait after failed attempt number `attempt` (0-based), given `jitter` in `[0, 1)`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let grown = self.initial.as_secs_f64() * Self::GROWTH.powi(attempt.min(64) as i32);
        let base = grown.min(self.cap.as_secs_f64());
        Duration::from_secs_f64(base * (1.0 - 0.2 * jitter.clamp(0.0, 1.0)))
    }

    /// The wait before the next attempt, or `None` when it would end past the deadline.
    pub fn next(&self, attempt: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
        let d = self.delay(attempt, jitter);
        (elapsed + d <= self.deadline).then_some(d)
    }
}

/// A small deterministic jitter source (xorshift), seeded by the caller.
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    pub fn sample(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::credentials::{FileKind, parse};
    use crate::core::profiles::classify;

    #[test]
    fn only_what_recovery_cannot_find_again_is_journaled() {
        let durable: Vec<Phase> = Phase::ALL.into_iter().filter(|p| p.is_durable()).collect();
        assert_eq!(
            durable,
            [Phase::Planned, Phase::Created, Phase::VerifiedOnDisk]
        );
        // Every phase before the old key is retired can roll back; the last durable phase
        // before retiring says the file holds the new key.
        assert!(Phase::VerifiedOnDisk < Phase::OldDeactivated);
    }

    fn key(id: &str, active: bool) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            active,
            created: None,
        }
    }

    #[test]
    fn slots() {
        assert_eq!(plan_slots("A", &[key("A", true)]), Ok(SlotPlan::Free));
        assert_eq!(
            plan_slots("A", &[key("B", false), key("A", true)]),
            Ok(SlotPlan::DeleteInactive { key_id: "B".into() })
        );
        assert_eq!(
            plan_slots("A", &[key("A", true), key("B", true)]),
            Err(SlotRefusal::OtherKeyActive {
                key: key("B", true)
            })
        );
        assert_eq!(
            plan_slots("A", &[key("B", true)]),
            Err(SlotRefusal::KeyNotListed)
        );
        assert_eq!(
            plan_slots("A", &[key("A", false)]),
            Err(SlotRefusal::OldKeyInactive)
        );
    }

    #[test]
    fn root() {
        assert!(is_root_arn("arn:aws:iam::123456789012:root"));
        assert!(!is_root_arn("arn:aws:iam::123456789012:user/root"));
    }

    #[test]
    fn backoff_grows_to_cap_and_respects_deadline() {
        let b = Backoff::with_deadline(Duration::from_secs(60));
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(100));
        assert!(b.delay(1, 0.0) > b.delay(0, 0.0));
        assert_eq!(b.delay(40, 0.0), Duration::from_secs(2));
        assert!(b.delay(40, 0.99) >= Duration::from_millis(1600));
        assert_eq!(b.next(3, Duration::from_secs(60), 0.0), None);
        // The whole deadline costs a bounded number of attempts.
        let (mut elapsed, mut attempts) = (Duration::ZERO, 0);
        while let Some(d) = b.next(attempts, elapsed, 0.5) {
            elapsed += d;
            attempts += 1;
        }
        assert!((40..70).contains(&attempts), "{attempts}");
    }

    #[test]
    fn backoff_wait_stays_near_a_fifth_of_elapsed() {
        let b = Backoff::with_deadline(Duration::from_secs(60));
        let mut elapsed = Duration::ZERO;
        for attempt in 0..30 {
            let d = b.delay(attempt, 0.0);
            assert!(d <= elapsed / 5 + b.initial + Duration::from_millis(1) || d == b.cap);
            elapsed += d;
        }
    }

    #[test]
    fn jitter_is_in_range() {
        let mut j = Jitter::new(42);
        for _ in 0..1000 {
            let x = j.sample();
            assert!((0.0..1.0).contains(&x));
        }
    }

    fn profiles(text: &str) -> Vec<Profile> {
        classify(
            &parse(text.as_bytes(), FileKind::Credentials).unwrap(),
            None,
        )
    }

    const FILE: &str = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1xxxxxxxx\n\
        [ci]\naws_access_key_id = AKIA1\naws_secret_access_key = s1xxxxxxxx\n\
        [work]\naws_access_key_id = AKIA2\naws_secret_access_key = s2xxxxxxxx\n\
        [sso]\nsso_session = x\n";

    #[test]
    fn shared_keys_move_together() {
        let s = select(&profiles(FILE), &Selection::Named(vec!["ci".into()])).unwrap();
        assert_eq!(s.targets.len(), 1);
        assert_eq!(s.targets[0].profiles, ["default", "ci"]);
        let s = select(&profiles(FILE), &Selection::All).unwrap();
        let keys: Vec<_> = s.targets.iter().map(|t| t.access_key_id.as_str()).collect();
        assert_eq!(keys, ["AKIA1", "AKIA2"]);
        assert_eq!(s.skipped, vec![("sso".to_string(), SkipReason::Sso)]);
    }

    #[test]
    fn named_selection_errors() {
        let err = select(
            &profiles(FILE),
            &Selection::Named(vec!["nope".into(), "sso".into()]),
        )
        .err()
        .unwrap();
        assert!(matches!(&err[0], SelectError::NotFound { profile, .. } if profile == "nope"));
        assert!(matches!(
            &err[1],
            SelectError::NotRotatable {
                reason: SkipReason::Sso,
                ..
            }
        ));
    }
}
