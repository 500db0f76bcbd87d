//! What keyrot-agent learned about MFA, so that it neither tries and fails every round nor asks
//! for a code twice in one window: the users IAM said need MFA for key management (from an
//! explicit deny), and the TOTP window each device's last code was used in. `mfa.json` in the
//! state directory (0600). It holds no secret: ARNs, device serials and window numbers only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::edge::store;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaState {
    /// User ARN → when IAM last denied it key management without MFA.
    #[serde(default)]
    pub needs_mfa: BTreeMap<String, Learned>,
    /// Device serial → the TOTP window (`core::mfa::window`) its last code was used in.
    #[serde(default)]
    pub last_window: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The MFA record of a state directory.
#[derive(Debug, Clone)]
pub struct MfaFile {
    path: PathBuf,
}

impl MfaFile {
    pub fn new(path: PathBuf) -> MfaFile {
        MfaFile { path }
    }

    /// The record; a missing or unreadable one is empty (it only saves a try).
    pub fn load(&self) -> MfaState {
        store::load_json(&self.path).unwrap_or_default()
    }

    /// Whether IAM said `user_arn` needs MFA for key management.
    pub fn needs_mfa(&self, user_arn: &str) -> bool {
        self.load().needs_mfa.contains_key(user_arn)
    }

    /// Remembers that `user_arn` needs MFA (`true`) or that it managed its keys without (`false`).
    pub fn learned(&self, user_arn: &str, needs: bool, now: OffsetDateTime) {
        let mut state = self.load();
        let changed = if needs {
            state
                .needs_mfa
                .insert(user_arn.to_string(), Learned { at: now })
                .is_none()
        } else {
            state.needs_mfa.remove(user_arn).is_some()
        };
        if changed {
            store::save_json(&self.path, &state, "the MFA record");
        }
    }

    /// The window the last code of `serial` was used in.
    pub fn last_window(&self, serial: &str) -> Option<i64> {
        self.load().last_window.get(serial).copied()
    }

    /// Remembers that a code of `serial` was used in `window`.
    pub fn code_used(&self, serial: &str, window: i64) {
        let mut state = self.load();
        state.last_window.insert(serial.to_string(), window);
        store::save_json(&self.path, &state, "the MFA record");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let f = MfaFile::new(dir.path().join("mfa.json"));
        assert!(!f.needs_mfa("arn:a"));
        f.learned("arn:a", true, OffsetDateTime::UNIX_EPOCH);
        assert!(f.needs_mfa("arn:a"));
        f.code_used("arn:aws:iam::1:mfa/a", 42);
        assert_eq!(f.last_window("arn:aws:iam::1:mfa/a"), Some(42));
        f.learned("arn:a", false, OffsetDateTime::UNIX_EPOCH);
        assert!(!f.needs_mfa("arn:a"));
        assert_eq!(f.last_window("arn:aws:iam::1:mfa/a"), Some(42));
    }
}
