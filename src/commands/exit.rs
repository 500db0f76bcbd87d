//! The one place that turns an error into the process's exit code and into the `kind` that
//! `--json`, the failure record and the agent's notifications carry. The codes are README.md's
//! table; the library's errors know nothing of them.

use crate::edge::service::ServiceError;
use crate::edge::store::StoreError;
use crate::engine::error::Error;

pub const OK: i32 = 0;
/// An unexpected error: a bug, or an AWS answer keyrot-agent does not know.
pub const INTERNAL: i32 = 1;
pub const USAGE: i32 = 2;
pub const INVALID_FILE: i32 = 3;
pub const NOTHING_TO_ROTATE: i32 = 4;
pub const ACCESS_DENIED: i32 = 5;
pub const UNREACHABLE: i32 = 6;
pub const THROTTLED: i32 = 7;
pub const KEY_LIMIT: i32 = 8;
pub const NOT_VERIFIED: i32 = 9;
pub const CHANGED_MEANWHILE: i32 = 10;
pub const BUSY: i32 = 11;
pub const OLD_KEY_NOT_RETIRED: i32 = 12;
pub const KEY_REJECTED: i32 = 13;
pub const AGENT_RUNNING: i32 = 14;
pub const KEYRING: i32 = 15;
/// A file or directory keyrot-agent needs could not be read or written (permissions, a full
/// disk, a file where a directory should be).
pub const IO: i32 = 16;
/// The account requires MFA for key management, and no code could be had or it was refused.
pub const MFA: i32 = 17;
/// A `pre_rotate` hook refused the rotation, or a `post_rotate` hook failed (and the rotation
/// was rolled back).
pub const HOOK: i32 = 18;

/// `doctor` found something that needs fixing.
pub const DOCTOR: i32 = 19;

/// `status --compliance`: a key fails a control, or it could not be checked.
pub const NOT_COMPLIANT: i32 = 20;

/// Stopped by Ctrl-C (SIGINT), as shells report a process killed by it.
pub const INTERRUPTED: i32 = 130;

/// The exit code of `e`.
pub fn code(e: &Error) -> i32 {
    match e {
        Error::InvalidFile { .. } | Error::Paths(_) => INVALID_FILE,
        Error::NoCredentialsFile { .. }
        | Error::Select(_)
        | Error::RootKey { .. }
        | Error::NothingToUndo { .. } => NOTHING_TO_ROTATE,
        Error::Store(StoreError::Busy { .. }) => BUSY,
        Error::Store(StoreError::ChangedMeanwhile { .. }) | Error::ChangedMeanwhile { .. } => {
            CHANGED_MEANWHILE
        }
        Error::Store(
            StoreError::NotRegular { .. }
            | StoreError::TooLarge { .. }
            | StoreError::UnsafeStateDir { .. },
        ) => INVALID_FILE,
        Error::Store(_) => IO,
        Error::KeyRejected { .. } | Error::KeyNotListed { .. } | Error::OldKeyInactive { .. } => {
            KEY_REJECTED
        }
        Error::AccessDenied { .. } => ACCESS_DENIED,
        Error::Unreachable { .. } | Error::NotAnAwsEndpoint { .. } => UNREACHABLE,
        Error::Throttled { .. } => THROTTLED,
        Error::OtherKeyActive { .. } | Error::LimitExceeded { .. } => KEY_LIMIT,
        Error::NotVerified { .. } | Error::NotVerifiedOnDisk { .. } => NOT_VERIFIED,
        Error::RolledBack { cause, .. } => code(cause),
        Error::RecoveredRollback { .. } => NOT_VERIFIED,
        Error::Interrupted { .. } => UNREACHABLE,
        Error::Journal { .. } => IO,
        Error::StateDamaged(_)
        | Error::SplitAcrossStores { .. }
        | Error::Unrepresentable { .. }
        | Error::WritableByOthers { .. }
        | Error::InsecureEndpoint { .. } => INVALID_FILE,
        Error::NotProven { .. } | Error::MalformedKey { .. } => NOT_VERIFIED,
        Error::NothingToRelease { .. } => NOTHING_TO_ROTATE,
        Error::UndoNotFinished { .. } => OLD_KEY_NOT_RETIRED,
        Error::Config(_) => INVALID_FILE,
        Error::AgentRunning { .. } => AGENT_RUNNING,
        Error::InFlight { .. } => UNREACHABLE,
        Error::Keyring { .. } => KEYRING,
        Error::OldKeyNotRetired { .. } => OLD_KEY_NOT_RETIRED,
        Error::MfaRequired { .. }
        | Error::MfaCodeNeeded { .. }
        | Error::MfaCodeRejected { .. }
        | Error::MfaProcess { .. } => MFA,
        Error::HookRefused { .. } | Error::HookFailed { .. } => HOOK,
        Error::Aws { .. } | Error::Internal { .. } => INTERNAL,
    }
}

/// A short machine-readable name of `e`, for `--json` and the records.
pub fn kind(e: &Error) -> &'static str {
    match e {
        Error::InvalidFile { .. } => "invalid_file",
        Error::NoCredentialsFile { .. } => "no_credentials_file",
        Error::Paths(_) => "no_home",
        Error::Store(StoreError::Busy { .. }) => "busy",
        Error::Store(StoreError::NotRegular { .. }) => "not_a_regular_file",
        Error::Store(StoreError::TooLarge { .. }) => "too_large",
        Error::Store(StoreError::UnsafeStateDir { .. }) => "unsafe_state_dir",
        Error::Store(_) => "store",
        Error::Select(_) => "selection",
        Error::RootKey { .. } => "root_key",
        Error::NothingToUndo { .. } => "nothing_to_undo",
        Error::Keyring { .. } => "keyring",
        Error::KeyRejected { .. } => "key_rejected",
        Error::AccessDenied { .. } => "access_denied",
        Error::Unreachable { .. } => "unreachable",
        Error::NotAnAwsEndpoint { .. } => "not_an_aws_endpoint",
        Error::Throttled { .. } => "throttled",
        Error::OtherKeyActive { .. } => "other_key_active",
        Error::LimitExceeded { .. } => "limit_exceeded",
        Error::KeyNotListed { .. } => "key_not_listed",
        Error::OldKeyInactive { .. } => "old_key_inactive",
        Error::NotVerified { .. } => "not_verified",
        Error::RolledBack { cause, .. } => kind(cause),
        Error::RecoveredRollback { .. } => "recovered_rollback",
        Error::Interrupted { .. } => "interrupted",
        Error::Journal { .. } => "journal",
        Error::StateDamaged(_) => "state_damaged",
        Error::WritableByOthers { .. } => "writable_by_others",
        Error::MalformedKey { .. } => "malformed_key",
        Error::InsecureEndpoint { .. } => "insecure_endpoint",
        Error::SplitAcrossStores { .. } => "split_across_stores",
        Error::Unrepresentable { .. } => "unrepresentable",
        Error::NotProven { .. } => "not_proven",
        Error::NothingToRelease { .. } => "nothing_to_release",
        Error::UndoNotFinished { .. } => "undo_not_finished",
        Error::Config(_) => "config",
        Error::AgentRunning { .. } => "agent_running",
        Error::InFlight { .. } => "in_flight",
        Error::NotVerifiedOnDisk { .. } => "not_verified_on_disk",
        Error::ChangedMeanwhile { .. } => "changed_meanwhile",
        Error::OldKeyNotRetired { .. } => "old_key_not_retired",
        Error::MfaRequired { .. } => "mfa_required",
        Error::MfaCodeNeeded { .. } => "mfa_code_needed",
        Error::MfaCodeRejected { .. } => "mfa_code_rejected",
        Error::MfaProcess { .. } => "mfa_process",
        Error::HookRefused { .. } => "hook_refused",
        Error::HookFailed { .. } => "hook_failed",
        Error::Aws { .. } => "aws",
        Error::Internal { .. } => "internal",
    }
}

/// The exit code of a `service` command's error.
pub fn service_code(e: &ServiceError) -> i32 {
    match e {
        ServiceError::Paths(_) => INVALID_FILE,
        ServiceError::NoTool { .. } => USAGE,
        ServiceError::Store(_) => IO,
        ServiceError::CurrentExe(_)
        | ServiceError::Unrepresentable { .. }
        | ServiceError::NotStarted { .. }
        | ServiceError::NotStopped { .. } => INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every exit code has its row in README.md's table, and the table has no other.
    #[test]
    fn the_readme_documents_every_exit_code() {
        let readme = include_str!("../../README.md");
        let table = &readme[readme.find("## Exit codes").expect("an exit-code section")..];
        let rows: Vec<i32> = table
            .lines()
            .skip_while(|l| !l.starts_with("| 0 |"))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1)?.trim().parse().ok())
            .collect();
        let codes = [
            OK,
            INTERNAL,
            USAGE,
            INVALID_FILE,
            NOTHING_TO_ROTATE,
            ACCESS_DENIED,
            UNREACHABLE,
            THROTTLED,
            KEY_LIMIT,
            NOT_VERIFIED,
            CHANGED_MEANWHILE,
            BUSY,
            OLD_KEY_NOT_RETIRED,
            KEY_REJECTED,
            AGENT_RUNNING,
            KEYRING,
            IO,
            MFA,
            HOOK,
            DOCTOR,
            NOT_COMPLIANT,
            INTERRUPTED,
        ];
        assert_eq!(rows, codes);
    }
}
