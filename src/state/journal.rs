//! The write-ahead journal of the rotations in flight.
//!
//! The secret of a new access key is shown exactly once, by CreateAccessKey. Before that call
//! keyrot-agent writes an intent record (profiles, user, old key, the user's keys at that moment);
//! the moment the call answers, it records the new key and its secret, durably, before doing
//! anything else; after every further step it records the phase. A process killed at any point
//! leaves a record that says exactly where to resume. The record is removed when the rotation is
//! complete or rolled back, and a secret-free line is appended to the history (`history`).
//!
//! Rotations of different users run side by side, so the journal holds one record per rotation
//! in flight, keyed by the old key's id: `{"rotations": [record, …]}`. Each save writes every
//! record the run holds (the others exactly as they were last saved), so the file on disk is
//! always the latest durable state of every rotation. A journal from before concurrent
//! rotations (one bare record) is read as a list of one.
//!
//! It lives in the state directory (0700), 0600, written with the same
//! temp-file, fsync, rename and directory fsync as the credentials file. It holds the old and new
//! secrets only while a rotation is in flight: the same secrets the credentials file and its
//! backup already hold, with the same protection.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::core::rotation::Phase;
use crate::edge::storage::StoredIn;
use crate::edge::store::{self, StoreError};

/// The journal of one rotation. Its `Debug` shows no secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// The credentials file being rotated (absolute, as resolved then).
    pub credentials_file: PathBuf,
    /// The profile whose settings are used and which is read back through the SDK.
    pub primary: String,
    /// Every profile that held the old key.
    pub profiles: Vec<String>,
    pub user_arn: String,
    pub old_key_id: String,
    #[serde(with = "secret")]
    pub old_secret: SecretString,
    /// The user's key ids when the intent was written: a key not among them, and in no local
    /// profile, was made by this rotation.
    pub keys_before: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "phase")]
    pub phase: Phase,
    pub new_key_id: Option<String>,
    #[serde(with = "optional_secret")]
    pub new_secret: Option<SecretString>,
    /// Set once a rollback has begun: recovery then finishes the rollback.
    pub rolling_back: bool,
    /// How long each step took, in order, across resumptions.
    pub durations_ms: Vec<(String, u64)>,
    /// How long the old key stays Inactive before deletion (the `grace` setting when the
    /// rotation started); 0 deletes it at once.
    #[serde(default)]
    pub grace_secs: u64,
    /// The MFA device whose session signed the rotation's IAM calls: recovery needs a session of
    /// it too, whatever the config says by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    /// `post_rotate` hooks started with the new pair (recorded before each runs): a rollback
    /// runs them again with the old pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks_started: Vec<String>,
    /// `post_rotate` hooks that finished: recovery does not run them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks_done: Vec<String>,
    /// Where the profiles keep their pair. In the keyring the secrets are not in this record
    /// (`old_secret` is empty, `new_secret` absent) but in the rotation's own keyring entries
    /// (`edge::storage::Slot`).
    #[serde(flatten)]
    pub stored_in: StoredIn,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("primary", &self.primary)
            .field("profiles", &self.profiles)
            .field("user_arn", &self.user_arn)
            .field("old_key_id", &self.old_key_id)
            .field("phase", &self.phase)
            .field("new_key_id", &self.new_key_id)
            .field("rolling_back", &self.rolling_back)
            .finish_non_exhaustive()
    }
}

/// Serde for a secret that is stored (0600) and registered with the scrubber when read back.
pub(crate) mod secret {
    use super::*;
    pub fn serialize<S: serde::Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
        let s = String::deserialize(de)?;
        crate::core::redact::register(&s);
        Ok(SecretString::from(s))
    }
}

mod optional_secret {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        s: &Option<SecretString>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose_secret()),
            None => ser.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        de: D,
    ) -> Result<Option<SecretString>, D::Error> {
        let s = Option::<String>::deserialize(de)?;
        Ok(s.map(|s| {
            crate::core::redact::register(&s);
            SecretString::from(s)
        }))
    }
}

mod phase {
    use super::*;
    pub fn serialize<S: serde::Serializer>(p: &Phase, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(p.name())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Phase, D::Error> {
        let s = String::deserialize(de)?;
        Phase::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown phase {s}")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the rotation journal {path} is unreadable ({reason}); keyrot-agent will not guess. Check the keys in IAM and in your credentials file, then remove the journal"
    )]
    Corrupt { path: PathBuf, reason: String },
}

/// The journal file, and the records of this run's rotations in flight. Shared by the rotations
/// of one run; every change is written at once, durably.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    records: std::sync::Mutex<Vec<Record>>,
}

/// What the file holds.
#[derive(Serialize)]
struct OnDisk<'a> {
    rotations: &'a [Record],
}

impl Journal {
    /// The journal at `path`, holding no record until [`Journal::load`] reads the file.
    pub fn new(path: PathBuf) -> Journal {
        Journal {
            path,
            records: std::sync::Mutex::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The records of the rotations in flight, oldest first, as the file holds them; later saves
    /// keep the ones not saved again.
    pub fn load(&self) -> Result<Vec<Record>, JournalError> {
        let Some(bytes) = store::read_state(&self.path)? else {
            *self.records() = Vec::new();
            return Ok(Vec::new());
        };
        let corrupt = |e: serde_json::Error| JournalError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        let mut records: Vec<Record> = match value {
            serde_json::Value::Object(mut map) if map.contains_key("rotations") => {
                serde_json::from_value(map.remove("rotations").unwrap_or_default())
                    .map_err(corrupt)?
            }
            // A journal written before rotations ran side by side: one record.
            other => vec![serde_json::from_value(other).map_err(corrupt)?],
        };
        records.sort_by_key(|r| r.started_at);
        *self.records() = records.clone();
        Ok(records)
    }

    /// Writes `record` (replacing the one of the same old key) with the others, durably (temp,
    /// fsync, rename, directory fsync), mode 0600.
    pub fn save(&self, record: &Record) -> Result<(), JournalError> {
        let mut records = self.records();
        match records
            .iter_mut()
            .find(|r| r.old_key_id == record.old_key_id)
        {
            Some(r) => *r = record.clone(),
            None => records.push(record.clone()),
        }
        self.write(&records)
    }

    /// Removes the record of the rotation of `old_key_id` (durably); the file goes with the
    /// last record.
    pub fn remove(&self, old_key_id: &str) -> Result<(), JournalError> {
        let mut records = self.records();
        records.retain(|r| r.old_key_id != old_key_id);
        if records.is_empty() {
            store::remove_durably(&self.path)?;
            Ok(())
        } else {
            self.write(&records)
        }
    }

    fn write(&self, records: &[Record]) -> Result<(), JournalError> {
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(&OnDisk { rotations: records }).map_err(|e| {
                JournalError::Corrupt {
                    path: self.path.clone(),
                    reason: e.to_string(),
                }
            })?,
        );
        store::write_private(&self.path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            version: 1,
            credentials_file: "/h/.aws/credentials".into(),
            primary: "default".into(),
            profiles: vec!["default".into(), "ci".into()],
            user_arn: "arn:aws:iam::1:user/a".into(),
            old_key_id: "AKIAOLD".into(),
            old_secret: SecretString::from("old-secret-value-123".to_string()),
            keys_before: vec!["AKIAOLD".into()],
            started_at: OffsetDateTime::UNIX_EPOCH,
            phase: Phase::Created,
            new_key_id: Some("AKIANEW".into()),
            new_secret: Some(SecretString::from("new-secret-value-456".to_string())),
            rolling_back: false,
            durations_ms: vec![("create".into(), 7)],
            grace_secs: 0,
            mfa_serial: None,
            hooks_started: Vec::new(),
            hooks_done: Vec::new(),
            stored_in: Default::default(),
        }
    }

    #[test]
    fn round_trips_durably_with_private_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("state/rotation.journal"));
        assert!(j.load().unwrap().is_empty());
        j.save(&record()).unwrap();
        let back = j.load().unwrap().pop().unwrap();
        assert_eq!(back.phase, Phase::Created);
        assert_eq!(
            back.new_secret.unwrap().expose_secret(),
            "new-secret-value-456"
        );
        let mode = std::fs::metadata(j.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        j.remove("AKIAOLD").unwrap();
        assert!(j.load().unwrap().is_empty());
        assert!(!j.path().exists());
    }

    #[test]
    fn the_storage_is_written_as_it_always_was() {
        use crate::core::keys::Storage;
        let v = serde_json::to_value(record()).unwrap();
        assert_eq!(v["in_keyring"], false);
        let mut keyring = v.clone();
        keyring["in_keyring"] = true.into();
        let back: Record = serde_json::from_value(keyring).unwrap();
        assert_eq!(back.stored_in.storage(), Storage::Keyring);
        // A record from before keyring mode has no flag: the file.
        let mut old = v;
        old.as_object_mut().unwrap().remove("in_keyring");
        let back: Record = serde_json::from_value(old).unwrap();
        assert_eq!(back.stored_in.storage(), Storage::File);
    }

    #[test]
    fn several_rotations_share_the_file_and_each_save_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("rotation.journal"));
        let a = record();
        let mut b = record();
        b.old_key_id = "AKIAOTHER".into();
        b.started_at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1);
        j.save(&b).unwrap();
        j.save(&a).unwrap();
        let mut a2 = a.clone();
        a2.phase = Phase::Verified;
        j.save(&a2).unwrap();
        // Another run reads both, oldest first, with the latest phase of each.
        let read = Journal::new(j.path().to_path_buf()).load().unwrap();
        let seen: Vec<_> = read
            .iter()
            .map(|r| (r.old_key_id.as_str(), r.phase))
            .collect();
        assert_eq!(
            seen,
            [("AKIAOLD", Phase::Verified), ("AKIAOTHER", Phase::Created)]
        );
        j.remove("AKIAOLD").unwrap();
        let left = Journal::new(j.path().to_path_buf()).load().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].old_key_id, "AKIAOTHER");
        j.remove("AKIAOTHER").unwrap();
        assert!(!j.path().exists());
    }

    #[test]
    fn a_journal_of_one_bare_record_is_read() {
        // As every version before concurrent rotations wrote it.
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("rotation.journal"));
        std::fs::write(j.path(), serde_json::to_vec(&record()).unwrap()).unwrap();
        let read = j.load().unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].old_key_id, "AKIAOLD");
        // The next save writes the list, keeping it.
        let mut other = record();
        other.old_key_id = "AKIAOTHER".into();
        j.save(&other).unwrap();
        assert_eq!(
            Journal::new(j.path().to_path_buf()).load().unwrap().len(),
            2
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", record());
        assert!(!shown.contains("secret-value"), "{shown}");
    }

    #[test]
    fn a_corrupt_journal_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("rotation.journal"));
        std::fs::write(j.path(), "{ half").unwrap();
        assert!(matches!(j.load(), Err(JournalError::Corrupt { .. })));
    }
}
