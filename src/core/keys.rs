//! The words of the domain: key pairs, what IAM and STS say about keys and their users, and why
//! the OS keyring could not give a pair. Plain data, shared by every layer; nothing here performs
//! I/O, and the `Debug` of a pair shows no secret.

use secrecy::SecretString;
use time::OffsetDateTime;

/// The IAM actions keyrot-agent needs, as a policy a user can attach to themselves. The second
/// statement is optional: without it the keys get no description (see `core::whereabouts`).
pub const SELF_SERVICE_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "RotateOwnAccessKeys",
      "Effect": "Allow",
      "Action": [
        "iam:ListAccessKeys",
        "iam:CreateAccessKey",
        "iam:UpdateAccessKey",
        "iam:DeleteAccessKey",
        "iam:GetAccessKeyLastUsed"
      ],
      "Resource": "arn:aws:iam::*:user/${aws:username}"
    },
    {
      "Sid": "DescribeOwnKeysOptional",
      "Effect": "Allow",
      "Action": [
        "iam:TagUser",
        "iam:UntagUser"
      ],
      "Resource": "arn:aws:iam::*:user/${aws:username}"
    }
  ]
}"#;

/// A key pair to sign with.
#[derive(Clone)]
pub struct KeyPair {
    pub id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Temporary credentials from STS GetSessionToken: a key pair, its session token, and when
/// they stop working. The `Debug` shows the key id and expiration only.
#[derive(Clone)]
pub struct SessionKey {
    pub pair: KeyPair,
    pub token: SecretString,
    pub expiration: OffsetDateTime,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &self.pair.id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// What an IAM call is signed with (see `engine::signing`, which chooses).
#[derive(Clone)]
pub enum Signer {
    /// A long-term access key of the user.
    Key(KeyPair),
    /// An MFA session of the user (GetSessionToken with the device's code).
    Session(SessionKey),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Key(k) => f.debug_tuple("Key").field(k).finish(),
            Signer::Session(s) => f.debug_tuple("Session").field(s).finish(),
        }
    }
}

/// Who a key belongs to, from STS GetCallerIdentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub arn: String,
    pub account: String,
}

/// The account id of an IAM ARN (`arn:PARTITION:iam::ACCOUNT:…`): twelve digits, else `None`.
pub fn account_of(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(""), Some(account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// When and where a key was last used, from GetAccessKeyLastUsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastUsed {
    pub date: Option<OffsetDateTime>,
    pub service: Option<String>,
    pub region: Option<String>,
}

/// One access key as ListAccessKeys reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub active: bool,
    pub created: Option<OffsetDateTime>,
}

/// Why the keyring could not be used. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "no D-Bus session bus ({0}): the keyring needs a desktop session; log in graphically, or start one with dbus-run-session"
    )]
    NoBus(String),
    #[error(
        "no Secret Service on the session bus: install and unlock gnome-keyring or KeePassXC (with its Secret Service integration on)"
    )]
    NoSecretService,
    #[error(
        "the keyring is locked: unlock it (for gnome-keyring, log in again or open Passwords and Keys), then run again"
    )]
    Locked,
    #[error("the keyring has no entry for profile {0} (service keyrot-agent, user profile:{0})")]
    NotFound(String),
    #[error(
        "the keyring entry for profile {0} is not one keyrot-agent wrote; delete it with your keyring tool"
    )]
    Damaged(String),
    #[error(
        "the keyring did not answer within {0} s: the Secret Service may be hung or waiting for a prompt; unlock or restart it (for gnome-keyring, log out and in again), then run again"
    )]
    NoAnswer(u64),
    #[error("the keyring failed: {0}")]
    Other(String),
}

/// Where a profile keeps its key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Storage {
    /// `aws_access_key_id` and `aws_secret_access_key` in the credentials file.
    #[default]
    File,
    /// The OS keyring, served to AWS clients by keyrot-agent's `credential_process`.
    Keyring,
}

impl Storage {
    pub fn name(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Keyring => "keyring",
        }
    }
}

/// What kind of failure an AWS call met, which decides whether to wait and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request's key was not accepted: InvalidClientTokenId, SignatureDoesNotMatch, or an
    /// unparsed 403. For a brand-new key this means "not propagated yet".
    KeyRejected,
    /// AccessDenied: the key works but lacks a permission.
    AccessDenied,
    /// Throttling after the SDK's own retries.
    Throttled,
    /// The endpoint could not be reached (DNS, connection refused, no network).
    Unreachable,
    /// A 5xx, a timeout, or a dropped connection.
    Transient,
    /// IAM's per-user key limit.
    LimitExceeded,
    /// The key or user does not exist (anymore).
    NoSuchEntity,
    Other,
}

/// Whether an access key pair from outside (an AWS answer) can be written into a credentials
/// file as it is: both values non-empty printable ASCII without spaces or the characters the
/// file format gives a meaning to. A pair that is not is refused before it is written anywhere.
pub fn writable_pair(access_key_id: &str, secret_access_key: &str) -> Result<(), &'static str> {
    if !plain(access_key_id) || access_key_id.len() > 128 {
        return Err("its access key id is not a plain word of letters and digits");
    }
    if !plain(secret_access_key) || secret_access_key.len() > 1024 {
        return Err(
            "its secret holds characters a credentials file cannot hold (a newline, a space, a control character)",
        );
    }
    Ok(())
}

/// Non-empty printable ASCII without the characters a credentials file gives a meaning to.
fn plain(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '#' && c != ';' && c != '[')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_an_arn_is_twelve_digits_or_nothing() {
        for (arn, want) in [
            ("arn:aws:iam::123456789012:user/alice", Some("123456789012")),
            (
                "arn:aws-cn:iam::123456789012:user/a/b",
                Some("123456789012"),
            ),
            ("arn:aws:iam::123456789012:root", Some("123456789012")),
            ("arn:aws:sts::123456789012:assumed-role/r/s", None),
            ("arn:aws:iam::12345678901:user/short", None),
            ("arn:aws:iam::12345678901x:user/x", None),
            ("arn:aws:iam:us-east-1:123456789012:user/regional", None),
            ("", None),
            ("not an arn", None),
        ] {
            assert_eq!(account_of(arn), want, "{arn}");
        }
    }

    #[test]
    fn an_answer_with_an_unwritable_key_pair_is_refused() {
        let ok = "AKIAIOSFODNN7EXAMPLE";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert!(writable_pair(ok, secret).is_ok());
        for (id, s) in [
            (ok, "abc\ndef"),
            (ok, "abc def"),
            (ok, ""),
            (ok, "a\u{1b}[2J"),
            ("AKIA\nX", secret),
            ("", secret),
            (ok, "x;y"),
        ] {
            assert!(writable_pair(id, s).is_err(), "{id:?} {s:?}");
        }
    }
}
