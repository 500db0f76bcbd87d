//! What became of each key the engine worked on: the outcome, the phases reached, timings,
//! requests and the error. Commands render it; it holds no secret.

use std::time::Duration;

use time::OffsetDateTime;

use crate::core::rotation::Phase;
use crate::engine::error::Error;

/// How a rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `--dry-run`: what would happen.
    Planned,
    Rotated,
    /// Not rotated by choice (a root key without `--allow-root`).
    Skipped,
    /// Stopped before anything changed.
    Refused,
    /// Undone: the file holds the old key and the new key is deleted.
    RolledBack,
    /// Stopped mid-way with the journal kept; `recover` finishes it. The file holds a working key.
    Interrupted,
    /// A rotation interrupted before its new key was recorded: the key it made was deleted.
    OrphanDeleted,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::Rotated => "rotated",
            Outcome::Skipped => "skipped",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled_back",
            Outcome::Interrupted => "interrupted",
            Outcome::OrphanDeleted => "orphan_deleted",
        }
    }
}

/// What became of one key (and every profile that held it).
#[derive(Debug)]
pub struct KeyReport {
    pub profiles: Vec<String>,
    pub user_arn: Option<String>,
    pub old_key_id: String,
    pub new_key_id: Option<String>,
    /// The furthest phase reached.
    pub phase: Option<Phase>,
    /// Set when this run finished a rotation an earlier run had started.
    pub resumed_from: Option<Phase>,
    pub outcome: Outcome,
    pub dry_run: bool,
    /// An Inactive key deleted to make room (or, in a dry run, that would be).
    pub deleted_inactive_key_id: Option<String>,
    /// When the old key was created, as ListAccessKeys said.
    pub old_key_created: Option<OffsetDateTime>,
    /// When the new key was created (as seen from here).
    pub new_key_created: Option<OffsetDateTime>,
    /// Keys found and deleted because a crash lost their secret.
    pub orphans_deleted: Vec<String>,
    /// Wall time of each step, in order.
    pub timings: Vec<(&'static str, Duration)>,
    pub verify_attempts: u32,
    /// HTTP requests made for this key, retries included.
    pub requests: usize,
    /// With a grace period: the old key is Inactive, and deleted after this instant.
    pub grace_until: Option<OffsetDateTime>,
    pub error: Option<Error>,
    /// The rotation is still recorded in the journal: it is in flight, and nothing new may
    /// start until it is finished.
    pub in_flight: bool,
    /// The MFA device whose session signs (or, in a dry run, would sign) the IAM calls.
    pub mfa_serial: Option<String>,
    /// IAM said this key's user needs MFA for key management, and no device is set.
    pub mfa_needed: bool,
    /// The hooks run, in order, and how each went.
    pub hooks: Vec<(String, HookRun)>,
    /// `--no-hooks` skipped the profile's hooks.
    pub hooks_skipped: bool,
    /// What went wrong without stopping the rotation (a hook with `on_hook_failure =
    /// "continue"`; the old key's recent use elsewhere), in words.
    pub warnings: Vec<String>,
    /// The description the new key was given in IAM (a user tag), or why it could not be.
    pub description: Option<Result<String, String>>,
}

/// How one hook went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookRun {
    /// `pre_rotate` or `post_rotate` succeeded.
    Ok,
    /// It failed (and, for `post_rotate`, what `on_hook_failure` says followed).
    Failed,
    /// Run again with the old pair after a rollback, and succeeded.
    Reverted,
    /// Run again with the old pair after a rollback, and failed.
    RevertFailed,
}

impl HookRun {
    pub fn name(self) -> &'static str {
        match self {
            HookRun::Ok => "ok",
            HookRun::Failed => "failed",
            HookRun::Reverted => "reverted",
            HookRun::RevertFailed => "revert_failed",
        }
    }
}

impl KeyReport {
    pub(crate) fn new(profiles: Vec<String>, old_key_id: String, dry_run: bool) -> KeyReport {
        KeyReport {
            profiles,
            user_arn: None,
            old_key_id,
            new_key_id: None,
            phase: None,
            resumed_from: None,
            outcome: Outcome::Refused,
            dry_run,
            deleted_inactive_key_id: None,
            old_key_created: None,
            new_key_created: None,
            orphans_deleted: Vec::new(),
            timings: Vec::new(),
            verify_attempts: 0,
            requests: 0,
            grace_until: None,
            error: None,
            in_flight: false,
            mfa_serial: None,
            mfa_needed: false,
            hooks: Vec::new(),
            hooks_skipped: false,
            warnings: Vec::new(),
            description: None,
        }
    }
}
