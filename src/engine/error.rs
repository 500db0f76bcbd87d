//! The errors a user can meet, each with one clear sentence: what failed, where, and what to do.
//! Messages name key ids and profiles, never secrets. They know nothing of the command line:
//! `commands::exit` maps each to its exit code and `--json` kind.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::core::credentials::Problem;
use crate::core::keys::ErrorClass;
use crate::core::keys::{KeyInfo, KeyringError, LastUsed, SELF_SERVICE_POLICY};
use crate::core::rotation::{RollbackNote, SelectError};
use crate::edge::aws::AwsError;
use crate::edge::paths::PathsError;
use crate::edge::store::StoreError;

/// The user's other, Active key that blocks a rotation, and what is known about its use.
#[derive(Debug)]
pub struct OtherKey {
    pub key: KeyInfo,
    pub last_used: Option<LastUsed>,
    /// Local profiles that hold it.
    pub used_by: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", invalid_file(path, problems))]
    InvalidFile {
        path: PathBuf,
        problems: Vec<Problem>,
    },

    #[error(
        "no credentials file at {path}; create one with 'aws configure', or set AWS_SHARED_CREDENTIALS_FILE"
    )]
    NoCredentialsFile { path: PathBuf },

    #[error(transparent)]
    Paths(#[from] PathsError),

    #[error(transparent)]
    Store(StoreError),

    #[error("{}", select_errors(.0))]
    Select(Vec<SelectError>),

    #[error(
        "profile {profile}: {arn} is the account's root user; rotating root keys is refused unless you pass --allow-root (better: delete root access keys and use an IAM user)"
    )]
    RootKey { profile: String, arn: String },

    #[error(
        "profile {profile}: AWS does not accept the key {key_id} ({detail}); it may have been deleted, deactivated, or mistyped. Put a working key in the profile (aws configure --profile {profile}) and run again"
    )]
    KeyRejected {
        profile: String,
        key_id: String,
        detail: String,
    },

    #[error(
        "profile {profile}: access denied for {action}; {arn} needs permission to manage its own access keys. Attach this policy to the user (or ask your administrator to):\n{policy}",
        policy = SELF_SERVICE_POLICY
    )]
    AccessDenied {
        profile: String,
        action: &'static str,
        arn: String,
    },

    #[error(
        "profile {profile}: cannot reach AWS at {endpoint} ({detail}); check that endpoint and region (AWS_ENDPOINT_URL, AWS_REGION, or the profile's region and endpoint_url in ~/.aws/config), your network connection and proxy, then run again. Nothing was changed{}",
        after_create_note(.new_key_deleted)
    )]
    Unreachable {
        profile: String,
        endpoint: String,
        detail: String,
        new_key_deleted: Option<bool>,
    },

    #[error(
        "profile {profile}: {endpoint} answered {operation} with HTTP {status} and no AWS error: it is not an AWS endpoint. Check AWS_ENDPOINT_URL (or endpoint_url in ~/.aws/config) and the region. Nothing was changed"
    )]
    NotAnAwsEndpoint {
        profile: String,
        endpoint: String,
        operation: &'static str,
        status: u16,
    },

    #[error(
        "profile {profile}: AWS kept throttling or failing {operation} after retries ({detail}); wait a few minutes and run again"
    )]
    Throttled {
        profile: String,
        operation: &'static str,
        detail: String,
    },

    #[error("{}", other_key_active(profile, arn, other))]
    OtherKeyActive {
        profile: String,
        arn: String,
        other: Box<OtherKey>,
    },

    #[error(
        "profile {profile}: IAM refused a new key because {arn} already has two (LimitExceeded); delete the key you no longer use and run again"
    )]
    LimitExceeded { profile: String, arn: String },

    #[error(
        "profile {profile}: ListAccessKeys for {arn} does not list the key {key_id}; keyrot-agent rotates only the caller's own keys"
    )]
    KeyNotListed {
        profile: String,
        arn: String,
        key_id: String,
    },

    #[error(
        "profile {profile}: the key {key_id} is Inactive in IAM; reactivate it (aws iam update-access-key --access-key-id {key_id} --status Active with an identity that may, such as your administrator's) or put a working key in the profile"
    )]
    OldKeyInactive { profile: String, key_id: String },

    #[error(
        "profile {profile}: the new key {new_key_id} did not work within {timeout_s} s ({detail})"
    )]
    NotVerified {
        profile: String,
        new_key_id: String,
        timeout_s: u64,
        detail: String,
    },

    #[error(
        "profile {profile}: the AWS SDK could not use the new key {new_key_id} read back from {path} ({detail})"
    )]
    NotVerifiedOnDisk {
        profile: String,
        path: PathBuf,
        new_key_id: String,
        detail: String,
    },

    #[error(
        "profile {profile}: {path} was changed by another program during the rotation, so keyrot-agent did not keep the new key {new_key_id} in it; run again to rotate"
    )]
    ChangedMeanwhile {
        profile: String,
        path: PathBuf,
        new_key_id: String,
    },

    #[error("{cause}; {}", rollback_note(note))]
    RolledBack {
        cause: Box<Error>,
        note: RollbackNote,
    },

    #[error(
        "profile {profile}: finished rolling back the interrupted rotation to {new_key_id}; {}",
        rollback_note(note)
    )]
    RecoveredRollback {
        profile: String,
        new_key_id: String,
        note: RollbackNote,
    },

    #[error(
        "profile {profile}: the rotation was interrupted during {operation} ({detail}). Your credentials file holds a working key. Run 'keyrot-agent recover' when AWS can be reached again (the next 'keyrot-agent now' does it too) to finish it"
    )]
    Interrupted {
        profile: String,
        operation: &'static str,
        detail: String,
    },

    #[error(
        "profile {profile}: cannot write the rotation journal ({what}); nothing more is done without it. Check the permissions and free space of keyrot-agent's state directory"
    )]
    Journal { profile: String, what: String },

    #[error(
        "profile {profile}: IAM answered CreateAccessKey with a key pair that cannot be written: {why}. The new key was deleted and nothing was changed; check AWS_ENDPOINT_URL and the endpoint_url settings"
    )]
    MalformedKey { profile: String, why: &'static str },

    /// One of keyrot-agent's own records (the journal, the grace record) cannot be read.
    #[error("{0}")]
    StateDamaged(String),

    #[error(
        "{path} can be written by others ({why}): they could change the profiles keyrot-agent acts on or read the new secret. Nothing was changed. Run: {fix}   (or run keyrot-agent again with --fix-permissions)"
    )]
    WritableByOthers {
        path: PathBuf,
        why: String,
        fix: String,
    },

    #[error(
        "{from} sets the endpoint {endpoint}, and {why}: a new secret would cross the network in clear text. Nothing was changed. Use https://, or pass --allow-insecure-endpoint if you mean it"
    )]
    InsecureEndpoint {
        endpoint: String,
        from: String,
        why: &'static str,
    },

    #[error(
        "profile {keyring} (in the keyring) and profile {file} (in the file) hold the same key; run keyrot-agent keyring adopt --profile {file} (or release {keyring}) so that they move together"
    )]
    SplitAcrossStores { keyring: String, file: String },

    #[error("profile {profile}: {reason}")]
    Unrepresentable { profile: String, reason: String },

    /// A key moved, written back or brought back could not be proven to work from where it
    /// now is.
    #[error("profile {profile}: {what}")]
    NotProven { profile: String, what: String },

    #[error(
        "profile {profile}: this profile is not kept in the keyring by keyrot-agent (no keyrot-agent credential_process); nothing to release"
    )]
    NothingToRelease { profile: String },

    #[error(
        "profile {profile}: the old key is back and works, but the key {key_id} that replaced it could not be deleted ({detail}); run keyrot-agent recover"
    )]
    UndoNotFinished {
        profile: String,
        key_id: String,
        detail: String,
    },

    #[error(transparent)]
    Config(#[from] crate::core::config::LoadError),

    #[error(
        "keyrot-agent run is already running{}; only one agent runs per user",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    AgentRunning { pid: Option<u32> },

    #[error(
        "a rotation of a key in {path} is still in flight, and keyrot-agent's backup of the file is recovery's last resort until it is finished; run keyrot-agent recover once AWS can be reached, then doctor --fix again. Nothing was changed"
    )]
    InFlight { path: PathBuf },

    #[error(
        "profile {profile}: the new key {new_key_id} is in place and works, but the old key {old_key_id} could not be {what} ({detail}); delete it yourself: aws iam delete-access-key --access-key-id {old_key_id} --profile {profile}"
    )]
    OldKeyNotRetired {
        profile: String,
        new_key_id: String,
        old_key_id: String,
        what: &'static str,
        detail: String,
    },

    #[error("profile {profile}: {source}")]
    Aws { profile: String, source: AwsError },

    #[error("profile {profile}: {what}")]
    Internal { profile: String, what: String },

    #[error(
        "profile {profile}: IAM denied {action} to {arn} with an explicit deny: the account requires MFA for key management. Name your MFA device with mfa_serial = arn:aws:iam::ACCOUNT:mfa/NAME in [{section}] of ~/.aws/config (aws iam list-mfa-devices shows it), then run: keyrot-agent now --profile {profile}",
        section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") }
    )]
    MfaRequired {
        profile: String,
        action: &'static str,
        arn: String,
    },

    #[error(
        "profile {profile}: {what} needs a code from the MFA device {serial}, and none can be asked for here{}. Run: {command}   (or set mfa_process, so that keyrot-agent can get codes by itself)",
        if *.in_flight { "; the rotation stays in the journal and your credentials file holds a working key" } else { "; nothing was changed" }
    )]
    MfaCodeNeeded {
        profile: String,
        serial: String,
        what: &'static str,
        command: String,
        in_flight: bool,
    },

    #[error(
        "profile {profile}: the MFA code was not accepted ({detail}){}; wait for the next code of {serial} and run again",
        if *.in_flight { ". The rotation stays in the journal and your credentials file holds a working key" } else { ". Nothing was changed" }
    )]
    MfaCodeRejected {
        profile: String,
        serial: String,
        detail: String,
        in_flight: bool,
    },

    #[error("profile {profile}: mfa_process `{command}` gave no MFA code: {detail}")]
    MfaProcess {
        profile: String,
        command: String,
        detail: String,
    },

    #[error(
        "profile {profile}: the pre_rotate hook `{hook}` refused the rotation ({detail}); nothing was changed"
    )]
    HookRefused {
        profile: String,
        hook: String,
        detail: String,
    },

    #[error("profile {profile}: the post_rotate hook `{hook}` failed ({detail})")]
    HookFailed {
        profile: String,
        hook: String,
        detail: String,
    },

    #[error("profile {profile}: nothing to undo: {why}")]
    NothingToUndo { profile: String, why: String },

    #[error("profile {profile}: {source}; nothing was changed")]
    Keyring {
        profile: String,
        source: KeyringError,
    },
}

impl From<crate::state::grace::GraceError> for Error {
    fn from(e: crate::state::grace::GraceError) -> Self {
        match e {
            crate::state::grace::GraceError::Store(e) => e.into(),
            damaged => Error::StateDamaged(damaged.to_string()),
        }
    }
}

impl From<crate::state::journal::JournalError> for Error {
    fn from(e: crate::state::journal::JournalError) -> Self {
        match e {
            crate::state::journal::JournalError::Store(e) => e.into(),
            damaged => Error::StateDamaged(damaged.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { path } => Error::NoCredentialsFile { path },
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// The error of an MFA session that could not be had for `profile`. `in_flight`: a rotation
    /// is in the journal (recovery keeps it); `command` is what the user runs with a code.
    pub fn from_mfa(
        profile: &str,
        e: crate::engine::signing::MfaError,
        in_flight: bool,
        command: String,
    ) -> Error {
        use crate::engine::signing::MfaError;
        let profile = profile.to_string();
        match e {
            MfaError::NoCode { serial } => Error::MfaCodeNeeded {
                profile,
                serial,
                what: if in_flight {
                    "finishing the rotation in flight"
                } else {
                    "rotating its key"
                },
                command,
                in_flight,
            },
            MfaError::Rejected { serial, detail } => Error::MfaCodeRejected {
                profile,
                serial,
                detail,
                in_flight,
            },
            MfaError::Process { command, detail } => Error::MfaProcess {
                profile,
                command,
                detail,
            },
            MfaError::BadSerial(why) => Error::Internal {
                profile,
                what: format!("mfa_serial: {why}"),
            },
            MfaError::Aws(e) if in_flight => Error::Interrupted {
                profile,
                operation: e.operation,
                detail: e.detail(),
            },
            MfaError::Aws(e) => match e.class {
                ErrorClass::KeyRejected => Error::Aws { profile, source: e },
                _ => Error::from_aws(&profile, "", e),
            },
        }
    }

    /// This error, with what the rollback that followed it achieved.
    pub fn with_rollback(self, note: RollbackNote) -> Error {
        Error::RolledBack {
            cause: Box::new(self),
            note,
        }
    }

    /// Maps a failed AWS call made with a working key to the error a user should see.
    /// The error of GetCallerIdentity with a profile's own key `key_id`: a key STS does not
    /// take (or a 403) is that key's problem; anything else as [`Error::from_aws`].
    pub fn from_identity(profile: &str, key_id: &str, e: AwsError) -> Error {
        match e.class {
            ErrorClass::KeyRejected | ErrorClass::AccessDenied => Error::KeyRejected {
                profile: profile.to_string(),
                key_id: key_id.to_string(),
                detail: e.detail(),
            },
            _ => Error::from_aws(profile, "", e),
        }
    }

    pub fn from_aws(profile: &str, arn: &str, e: AwsError) -> Error {
        let profile = profile.to_string();
        match e.class {
            // With a key that has just answered STS, a 403 on IAM is a missing permission.
            ErrorClass::AccessDenied | ErrorClass::KeyRejected => Error::AccessDenied {
                profile,
                action: e.operation,
                arn: arn.to_string(),
            },
            ErrorClass::Unreachable => Error::Unreachable {
                profile,
                endpoint: e.endpoint.clone().unwrap_or_else(|| "the endpoint".into()),
                detail: e.detail(),
                new_key_deleted: None,
            },
            // A web server, not AWS: a 404 (or another 4xx) without an AWS error code.
            ErrorClass::Other
                if e.code.is_none() && e.status.is_some_and(|s| (400..500).contains(&s)) =>
            {
                Error::NotAnAwsEndpoint {
                    profile,
                    endpoint: e.endpoint.clone().unwrap_or_else(|| "the endpoint".into()),
                    operation: e.operation,
                    status: e.status.unwrap_or_default(),
                }
            }
            ErrorClass::Throttled | ErrorClass::Transient => Error::Throttled {
                profile,
                operation: e.operation,
                detail: e.detail(),
            },
            ErrorClass::LimitExceeded => Error::LimitExceeded {
                profile,
                arn: arn.to_string(),
            },
            _ => Error::Aws { profile, source: e },
        }
    }
}

fn invalid_file(path: &std::path::Path, problems: &[Problem]) -> String {
    let mut out = format!(
        "{} cannot be used safely: the AWS CLI and the AWS SDKs would reject it or read it differently. Nothing was changed.",
        path.display()
    );
    for p in problems.iter().take(20) {
        out.push_str(&format!(
            "\n  {}:{}: {}; {}",
            path.display(),
            p.line,
            p.kind.what(),
            p.kind.fix()
        ));
    }
    if problems.len() > 20 {
        out.push_str(&format!("\n  … and {} more", problems.len() - 20));
    }
    out
}

fn select_errors(errors: &[SelectError]) -> String {
    errors
        .iter()
        .map(|e| match e {
            SelectError::NotFound { profile, known } => format!(
                "profile {profile} not found in the credentials or config file (profiles there: {}); check the name or AWS_PROFILE",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
            SelectError::NotRotatable { profile, reason } => {
                format!("profile {profile} has no key to rotate: it {reason}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn after_create_note(deleted: &Option<bool>) -> &'static str {
    match deleted {
        None => "",
        Some(true) => " (the new key was deleted again)",
        Some(false) => {
            " (a new key was created and could not be deleted: see keyrot-agent's output for its id)"
        }
    }
}

fn rollback_note(note: &RollbackNote) -> String {
    match (note.restored, note.new_key_deleted) {
        (true, true) => "rolled back: the old key is in place and working, and the new key was deleted".into(),
        (true, false) => "the old key is in place and working, but the new key could not be deleted yet: 'keyrot-agent recover' (or the next run) deletes it".into(),
        (false, _) => "the old key could NOT be put back in the file: run 'keyrot-agent recover', or restore the file from keyrot-agent's backup".into(),
    }
}

pub fn format_date(d: Option<OffsetDateTime>) -> String {
    d.map(|d| {
        let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        d.to_offset(time::UtcOffset::UTC)
            .format(&f)
            .unwrap_or_default()
    })
    .unwrap_or_else(|| "unknown".into())
}

fn other_key_active(profile: &str, arn: &str, other: &OtherKey) -> String {
    let OtherKey {
        key,
        last_used,
        used_by,
    } = other;
    let mut s = format!(
        "profile {profile}: {arn} already has two active keys, so a new one cannot be created without deleting one, and keyrot-agent will not delete a key that may be in use. Nothing was changed.\n  other key: {} (created {})",
        key.id,
        format_date(key.created)
    );
    match last_used {
        Some(u) if u.date.is_some() => s.push_str(&format!(
            ", last used {} by {} in {}",
            format_date(u.date),
            u.service.as_deref().unwrap_or("an unknown service"),
            u.region.as_deref().unwrap_or("an unknown region")
        )),
        Some(_) => s.push_str(", never used"),
        None => {}
    }
    if !used_by.is_empty() {
        s.push_str(&format!(
            "; it is the key of local profile(s) {}",
            used_by.join(", ")
        ));
    }
    let who = aws_cli_target(profile, arn);
    s.push_str(&format!(
        "\n  if it is unused: aws iam update-access-key{who} --access-key-id {0} --status Inactive (keyrot-agent then deletes it on the next run), or aws iam delete-access-key{who} --access-key-id {0}",
        key.id
    ));
    s
}

/// The options that point an `aws iam` command at `arn`'s user, signed with `profile`'s key:
/// without them IAM acts on the caller of the default profile, another identity.
pub fn aws_cli_target(profile: &str, arn: &str) -> String {
    let user = crate::core::whereabouts::user_name(arn)
        .map(|u| format!(" --user-name {u}"))
        .unwrap_or_default();
    format!("{user} --profile {profile}")
}
