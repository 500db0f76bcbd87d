//! The OS keyring, for profiles whose secret is kept out of `~/.aws/credentials`.
//!
//! The `keyring` crate (4.x, on `keyring-core`) with its platform stores: the zbus Secret Service
//! store on Linux and the BSDs (gnome-keyring, KeePassXC), the Keychain on macOS, the Credential
//! Manager on Windows. One entry per profile: service `keyrot-agent`, user `profile:<name>`, so
//! `secret-tool lookup service keyrot-agent username profile:work` finds it. Its secret is a small
//! JSON object with the key id and the secret access key: the pair moves as one, so a reader can
//! never see a new id with an old secret.
//!
//! Every failure says which of the usual causes it is (no session bus, no Secret Service on it,
//! a locked collection) and what to do. This module never formats a secret.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

use crate::core::keys::{KeyPair, KeyringError};

/// The Secret Service "service" attribute of every entry.
pub const SERVICE: &str = "keyrot-agent";

/// The entry's user for a profile: what its `credential_process` serves.
pub fn user(profile: &str) -> String {
    format!("profile:{profile}")
}

/// While a rotation of `primary` is in flight: the new key, stored the moment CreateAccessKey
/// answers (the journal then records only its id).
pub fn pending(primary: &str) -> String {
    format!("pending:{primary}")
}

/// During a grace period (keyring mode): the old key, for `undo`.
pub fn grace(old_key_id: &str) -> String {
    format!("grace:{old_key_id}")
}

/// While a rotation of `primary` is in flight: the old key, for a rollback after the profile's
/// entry was switched.
pub fn previous(primary: &str) -> String {
    format!("previous:{primary}")
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: Zeroizing<String>,
}

fn classify(e: ::keyring::Error) -> KeyringError {
    classify_ref(&e)
}

fn classify_ref(e: &::keyring::Error) -> KeyringError {
    let text = e.to_string();
    let detail = match e {
        ::keyring::Error::PlatformFailure(inner) | ::keyring::Error::NoStorageAccess(inner) => {
            format!("{text}: {inner}")
        }
        _ => text,
    };
    if detail.contains("ServiceUnknown") || detail.contains("org.freedesktop.secrets") {
        KeyringError::NoSecretService
    } else if detail.contains("locked") || detail.contains("Locked") {
        KeyringError::Locked
    } else if detail.contains("DBUS_SESSION_BUS_ADDRESS")
        || detail.contains("Failed to connect")
        || detail.contains("failed to connect")
        || detail.contains("Address")
        || detail.contains("No such file or directory")
        || detail.contains("Connection refused")
    {
        KeyringError::NoBus(first_line(&detail))
    } else if matches!(e, ::keyring::Error::NoStorageAccess(_)) {
        KeyringError::Locked
    } else {
        KeyringError::Other(first_line(&detail))
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Refuses early, with the clear message, where there is plainly no session bus.
fn check_bus() -> Result<(), KeyringError> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let addr = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").filter(|a| !a.is_empty());
        let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).join("bus"))
            .filter(|p| p.exists());
        if addr.is_none() && runtime_bus.is_none() {
            return Err(KeyringError::NoBus(
                "DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus".into(),
            ));
        }
    }
    Ok(())
}

fn entry(name: &str) -> Result<::keyring::Entry, KeyringError> {
    check_bus()?;
    // The store is made once per process; if that failed, its own error says why.
    if let Err(e) = ::keyring::Entry::store_status() {
        return Err(classify_ref(e));
    }
    ::keyring::Entry::new(SERVICE, name).map_err(classify)
}

/// Stores `key` as the profile's entry (replacing what was there).
pub fn store(profile: &str, key: &KeyPair) -> Result<(), KeyringError> {
    store_as(&user(profile), key)
}

/// The profile's key pair.
pub fn load(profile: &str) -> Result<KeyPair, KeyringError> {
    load_from(&user(profile), profile)
}

/// Whether the keyring answers (for `doctor`): a lookup of an entry that does not exist comes
/// back "not found" from a Secret Service that is there and unlocked.
pub fn probe() -> Result<(), KeyringError> {
    match load_from("doctor:probe", "doctor:probe") {
        Ok(_) | Err(KeyringError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the profile's entry; a missing one is fine.
pub fn remove(profile: &str) -> Result<(), KeyringError> {
    remove_named(&user(profile))
}

/// How long a keyring call may take, in seconds (see [`set_deadline`]).
static DEADLINE_SECS: AtomicU64 = AtomicU64::new(30);

/// Sets how long every keyring call of this process may take before it is given up as
/// [`KeyringError::NoAnswer`]: about 10 s in `credential-process` (an AWS client waits on it),
/// 30 s elsewhere.
pub fn set_deadline(deadline: Duration) {
    DEADLINE_SECS.store(deadline.as_secs().max(1), Ordering::Relaxed);
}

/// Runs `call` on a thread of its own and waits for it at most the deadline. A Secret Service
/// that accepts the call and never answers then costs a stuck thread, never a stuck process:
/// the caller goes on (and a signal is handled) whatever the bus does.
///
/// Once a call went unanswered, the calls of the next few minutes fail at once: one run of
/// `now` or `status` asks the keyring several things, and a hung keyring must cost one
/// deadline, not one per question.
fn with_deadline<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KeyringError> + Send + 'static,
) -> Result<T, KeyringError> {
    static UNANSWERED_AT: Mutex<Option<Instant>> = Mutex::new(None);
    let secs = DEADLINE_SECS.load(Ordering::Relaxed);
    let last = *UNANSWERED_AT.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(300)) {
        return Err(KeyringError::NoAnswer(secs));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|e| KeyringError::Other(e.to_string()))?;
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| {
            *UNANSWERED_AT.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            Err(KeyringError::NoAnswer(secs))
        })
}

/// Stores `key` under the entry user `name`.
pub fn store_as(name: &str, key: &KeyPair) -> Result<(), KeyringError> {
    let stored = Stored {
        access_key_id: key.id.clone(),
        secret_access_key: Zeroizing::new(key.secret.expose_secret().to_string()),
    };
    let json = Zeroizing::new(
        serde_json::to_string(&stored).map_err(|e| KeyringError::Other(e.to_string()))?,
    );
    let name = name.to_string();
    with_deadline(move || entry(&name)?.set_password(&json).map_err(classify))
}

/// The key pair under the entry user `name` (`profile` names it in errors).
pub fn load_from(name: &str, profile: &str) -> Result<KeyPair, KeyringError> {
    let (name, owner) = (name.to_string(), profile.to_string());
    let json = Zeroizing::new(with_deadline(move || {
        entry(&name)?.get_password().map_err(|e| match e {
            ::keyring::Error::NoEntry => KeyringError::NotFound(owner),
            e => classify(e),
        })
    })?);
    let stored: Stored =
        serde_json::from_str(&json).map_err(|_| KeyringError::Damaged(profile.to_string()))?;
    crate::core::redact::register(&stored.secret_access_key);
    Ok(KeyPair {
        id: stored.access_key_id.clone(),
        secret: SecretString::from(stored.secret_access_key.to_string()),
    })
}

/// Deletes the entry user `name`; a missing one is fine.
pub fn remove_named(name: &str) -> Result<(), KeyringError> {
    let name = name.to_string();
    with_deadline(move || match entry(&name)?.delete_credential() {
        Ok(()) | Err(::keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(classify(e)),
    })
}

/// The JSON an AWS client expects from a `credential_process` (version 1), with `AccountId`
/// when the key's account is known (current SDKs use it for account-based endpoints).
pub fn process_output(key: &KeyPair, account: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "Version": 1,
        "AccessKeyId": key.id,
        "SecretAccessKey": key.secret.expose_secret(),
    });
    if let Some(account) = account {
        v["AccountId"] = account.into();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_output_is_what_clients_expect() {
        let key = KeyPair {
            id: "AKIAEXAMPLE".into(),
            secret: SecretString::from("s3cret".to_string()),
        };
        let v: serde_json::Value = serde_json::from_str(&process_output(&key, None)).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "AKIAEXAMPLE");
        assert_eq!(v["SecretAccessKey"], "s3cret");
        assert!(v.get("AccountId").is_none());
        let v: serde_json::Value =
            serde_json::from_str(&process_output(&key, Some("123456789012"))).unwrap();
        assert_eq!(v["AccountId"], "123456789012");
        assert_eq!(user("work"), "profile:work");
    }
}
