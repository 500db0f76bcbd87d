//! The one place that turns an error into the process's exit code and into the `kind` that
//! `--json`, the failure record and the agent's notifications carry. The codes are README.md's
//! table; the library's errors know nothing of them.

use crate::edge::service::ServiceError;
use crate::edge::store::StoreError;
use crate::engine::error::Error;

pub const OK: i32 = 0;
/// An unexpected error: a bug.
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
        Error::Store(_) => INTERNAL,
        Error::KeyRejected { .. } | Error::KeyNotListed { .. } | Error::OldKeyInactive { .. } => {
            KEY_REJECTED
        }
        Error::AccessDenied { .. } => ACCESS_DENIED,
        Error::Unreachable { .. } => UNREACHABLE,
        Error::Throttled { .. } => THROTTLED,
        Error::OtherKeyActive { .. } | Error::LimitExceeded { .. } => KEY_LIMIT,
        Error::NotVerified { .. } | Error::NotVerifiedOnDisk { .. } => NOT_VERIFIED,
        Error::RolledBack { cause, .. } => code(cause),
        Error::RecoveredRollback { .. } => NOT_VERIFIED,
        Error::Interrupted { .. } => UNREACHABLE,
        Error::Journal { .. } | Error::Recovery(_) => INTERNAL,
        Error::Config(_) => INVALID_FILE,
        Error::AgentRunning { .. } => AGENT_RUNNING,
        Error::Keyring { .. } => KEYRING,
        Error::OldKeyNotRetired { .. } => OLD_KEY_NOT_RETIRED,
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
        Error::Store(_) => "store",
        Error::Select(_) => "selection",
        Error::RootKey { .. } => "root_key",
        Error::NothingToUndo { .. } => "nothing_to_undo",
        Error::Keyring { .. } => "keyring",
        Error::KeyRejected { .. } => "key_rejected",
        Error::AccessDenied { .. } => "access_denied",
        Error::Unreachable { .. } => "unreachable",
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
        Error::Recovery(_) => "recovery",
        Error::Config(_) => "config",
        Error::AgentRunning { .. } => "agent_running",
        Error::NotVerifiedOnDisk { .. } => "not_verified_on_disk",
        Error::ChangedMeanwhile { .. } => "changed_meanwhile",
        Error::OldKeyNotRetired { .. } => "old_key_not_retired",
        Error::Aws { .. } => "aws",
        Error::Internal { .. } => "internal",
    }
}

/// The exit code of a `service` command's error.
pub fn service_code(e: &ServiceError) -> i32 {
    match e {
        ServiceError::Paths(_) => INVALID_FILE,
        ServiceError::NoTool { .. } => USAGE,
        ServiceError::CurrentExe(_)
        | ServiceError::Unrepresentable { .. }
        | ServiceError::Store(_)
        | ServiceError::NotStarted { .. }
        | ServiceError::NotStopped { .. } => INTERNAL,
    }
}
