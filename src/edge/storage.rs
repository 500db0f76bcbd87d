//! The storage seam: where a profile's key pair lives — the credentials file, or the OS keyring
//! (keyring mode) — and everything the engine does with it. The rotation, undo, keyring
//! adopt/release and recovery ask [`Secrets`] and never look at which store it is:
//!
//! - read the key a profile holds ([`Secrets::key_of`], [`Secrets::all_hold`]);
//! - move profiles from one key to another in one write ([`Secrets::switch`]);
//! - keep, recall and forget a rotation's own copy of a pair ([`Secrets::stash`],
//!   [`Secrets::recall`], [`Secrets::forget`]): in the file store that copy is the record's (the
//!   journal or the grace record holds the secret), in the keyring it is an entry of its own and
//!   the record holds none;
//! - move profiles between the two stores (`keyring adopt` and `release`).
//!
//! Every edit of the credentials file is made here, through one function ([`Secrets::edit_file`])
//! on top of `store::replace_with`. A third store (a password manager) is one more [`Storage`]
//! variant, handled here and nowhere else.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::core::credentials::{self, FileKind, NewKey, ParsedFile};
use crate::core::keys::{KeyPair, KeyringError, Storage};
use crate::core::profiles::{self, Profile, Rotatable, SkipReason};
use crate::core::rotation::Target;
use crate::edge::failpoint;
use crate::edge::keyring;
use crate::edge::paths::Paths;
use crate::edge::store::{self, ReplaceError, StoreError};

/// How records on disk (the journal, the grace record) carry a [`Storage`]: a field
/// `in_keyring`, `true` for the keyring, as they have since keyring mode came. Records flatten it
/// in, so that the flag is spelled here only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredIn {
    #[serde(default, with = "on_disk")]
    in_keyring: Storage,
}

impl StoredIn {
    pub fn storage(self) -> Storage {
        self.in_keyring
    }
}

impl From<Storage> for StoredIn {
    fn from(storage: Storage) -> StoredIn {
        StoredIn {
            in_keyring: storage,
        }
    }
}

mod on_disk {
    use serde::Deserialize;

    use crate::core::keys::Storage;

    pub fn serialize<S: serde::Serializer>(s: &Storage, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_bool(*s == Storage::Keyring)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Storage, D::Error> {
        Ok(if bool::deserialize(de)? {
            Storage::Keyring
        } else {
            Storage::File
        })
    }
}

/// A rotation's own copy of a pair, apart from the profiles'.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    /// The new key of the rotation of `primary`, from CreateAccessKey's answer until the
    /// rotation ends.
    Pending(&'a str),
    /// The old key of the rotation of `primary`, for a rollback after the profiles switched.
    Previous(&'a str),
    /// An old key kept Inactive during its grace, for `undo`.
    Grace {
        old_key_id: &'a str,
        primary: &'a str,
    },
}

/// Why [`Secrets::switch`] (or another move) wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// A profile holds neither key: another program changed it.
    #[error("a profile holds neither the key being replaced nor its replacement")]
    Changed,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// The one refusal of an edit of the credentials file: the file is not as the edit expects.
#[derive(Debug, thiserror::Error)]
#[error("the profiles do not hold what they held when checked")]
struct Refused;

/// Why moving profiles between the stores failed.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Switch(#[from] SwitchError),
    /// The keyring gave back something else than was stored.
    #[error(
        "the keyring gave back something else than was stored; nothing in the file was changed"
    )]
    ReadBack,
}

/// One profile's key, as the local machine holds it.
#[derive(Clone)]
pub struct Held {
    pub profile: String,
    pub key_id: String,
    /// Unknown for a profile that has an id but no secret.
    pub secret: Option<SecretString>,
}

impl Held {
    pub fn pair(&self) -> Option<KeyPair> {
        Some(KeyPair {
            id: self.key_id.clone(),
            secret: self.secret.clone()?,
        })
    }
}

/// Where a rotation's profiles keep their pair, and how to reach it.
#[derive(Debug, Clone)]
pub struct Secrets {
    storage: Storage,
    credentials: PathBuf,
    backup: PathBuf,
}

impl Secrets {
    /// Whether the new key can be written where it must go, asked before it is created: in the
    /// file store, whether the credentials file can be replaced.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        match self.storage {
            Storage::File => store::check_can_replace(&self.credentials),
            Storage::Keyring => Ok(()),
        }
    }

    /// The store `storage` for the credentials file of `paths` (keyring mode leaves the file as
    /// it is, but its profiles are named there).
    pub fn new(storage: Storage, paths: &Paths) -> Secrets {
        Secrets::at(storage, paths.credentials.clone(), paths.backup_file())
    }

    /// As [`Secrets::new`], for a given credentials file and backup.
    pub fn at(storage: Storage, credentials: PathBuf, backup: PathBuf) -> Secrets {
        Secrets {
            storage,
            credentials,
            backup,
        }
    }

    pub fn storage(&self) -> Storage {
        self.storage
    }

    pub fn credentials_file(&self) -> &Path {
        &self.credentials
    }

    /// Which key `profile` holds now; `None` when that cannot be read.
    pub fn key_of(&self, profile: &str) -> Option<String> {
        match self.storage {
            Storage::File => self
                .read_file()?
                .get(profile, credentials::ACCESS_KEY_ID)
                .map(String::from),
            Storage::Keyring => keyring::load(profile).ok().map(|k| k.id),
        }
    }

    /// Whether every one of `profiles` holds `key_id` now; `None` when that cannot be read.
    pub fn all_hold(&self, profiles: &[String], key_id: &str) -> Option<bool> {
        match self.storage {
            Storage::File => {
                let file = self.read_file()?;
                Some(
                    profiles
                        .iter()
                        .all(|p| file.get(p, credentials::ACCESS_KEY_ID) == Some(key_id)),
                )
            }
            Storage::Keyring => {
                let mut all = true;
                for p in profiles {
                    all &= keyring::load(p).ok()?.id == key_id;
                }
                Some(all)
            }
        }
    }

    /// Moves `profiles` from key `from` to the pair `to`: in the file in one atomic write, in
    /// the keyring entry by entry. Profiles that already hold `to` are left as they are; a
    /// profile that holds neither is [`SwitchError::Changed`], and nothing is written.
    pub fn switch(&self, profiles: &[String], from: &str, to: &KeyPair) -> Result<(), SwitchError> {
        match self.storage {
            Storage::File => self.edit_file(|parsed| {
                let holds = |id: &str| {
                    profiles
                        .iter()
                        .all(|p| parsed.get(p, credentials::ACCESS_KEY_ID) == Some(id))
                };
                if holds(&to.id) {
                    return Ok(None);
                }
                if !holds(from) {
                    return Err(Refused);
                }
                parsed
                    .replace_key(
                        from,
                        &NewKey {
                            access_key_id: &to.id,
                            secret_access_key: to.secret.expose_secret(),
                        },
                    )
                    .map(|(text, _)| Some(text))
                    .map_err(|_| Refused)
            }),
            Storage::Keyring => {
                for p in profiles {
                    let current = keyring::load(p)?;
                    if current.id == to.id {
                        continue;
                    }
                    if current.id != from {
                        return Err(SwitchError::Changed);
                    }
                    keyring::store(p, to)?;
                    failpoint::hit("keyring-profile-switched");
                }
                Ok(())
            }
        }
    }

    /// Before any AWS call: whether `target`'s profiles can take a new key in one write, and
    /// every profile of the file that holds its key (they all move with it).
    pub fn trial_switch(
        &self,
        file: &ParsedFile,
        target: &Target,
    ) -> Result<Vec<String>, credentials::EditError> {
        match self.storage {
            // Keyring mode writes each profile's entry; the file does not change.
            Storage::Keyring => Ok(target.profiles.clone()),
            Storage::File => {
                let probe = NewKey {
                    access_key_id: "AKIAPROBEPROBEPROBE0",
                    secret_access_key: "probe",
                };
                file.replace_key(&target.access_key_id, &probe)
                    .map(|(_, changed)| changed)
            }
        }
    }

    /// Keeps `pair` as the rotation's own copy in `slot`. Returns what a record on disk must
    /// keep of its secret: the secret itself in the file store (the record is the copy), nothing
    /// in the keyring (the entry is).
    pub fn stash(
        &self,
        slot: Slot<'_>,
        pair: &KeyPair,
    ) -> Result<Option<SecretString>, KeyringError> {
        match self.storage {
            Storage::File => Ok(Some(pair.secret.clone())),
            Storage::Keyring => {
                keyring::store_as(&entry(slot), pair)?;
                if matches!(slot, Slot::Pending(_)) {
                    failpoint::hit("keyring-pending-stored");
                }
                Ok(None)
            }
        }
    }

    /// The pair `key_id` from `slot`: from `recorded` (what a record kept) in the file store;
    /// in the keyring from the slot's entry, or from the profile's own entry if it already holds
    /// that key. `None` when its secret is nowhere.
    pub fn recall(
        &self,
        slot: Slot<'_>,
        key_id: &str,
        recorded: Option<&SecretString>,
    ) -> Option<KeyPair> {
        match self.storage {
            Storage::File => recorded
                .filter(|s| !s.expose_secret().is_empty())
                .map(|s| KeyPair {
                    id: key_id.to_string(),
                    secret: s.clone(),
                }),
            Storage::Keyring => {
                let (profile, fallback) = match slot {
                    Slot::Pending(p) | Slot::Previous(p) => (p, Some(keyring::user(p))),
                    Slot::Grace { primary, .. } => (primary, None),
                };
                [Some(entry(slot)), fallback]
                    .into_iter()
                    .flatten()
                    .filter_map(|e| keyring::load_from(&e, profile).ok())
                    .find(|k| k.id == key_id)
            }
        }
    }

    /// Forgets the copy in `slot` (a missing one is fine). Failures are logged only.
    pub fn forget(&self, slot: Slot<'_>) {
        if self.storage == Storage::Keyring
            && let Err(e) = keyring::remove_named(&entry(slot))
        {
            tracing::warn!(error = %e, "could not remove a keyring entry keyrot-agent no longer needs");
        }
    }

    /// Keyring adopt: `profiles` (which hold `pair` in the file) move into the keyring. The pair
    /// goes into each profile's entry and is read back; then, in one write, each profile's two
    /// key lines become its `credential_process` command from `commands`. When the file cannot
    /// be written, the entries are removed again.
    pub fn move_into_keyring(
        &self,
        profiles: &[String],
        pair: &KeyPair,
        commands: &[(String, String)],
    ) -> Result<(), MoveError> {
        for p in profiles {
            keyring::store(p, pair).map_err(SwitchError::from)?;
            let back = keyring::load(p).map_err(SwitchError::from)?;
            if back.id != pair.id || back.secret.expose_secret() != pair.secret.expose_secret() {
                return Err(MoveError::ReadBack);
            }
        }
        let result = self.edit_file(|parsed| {
            let mut text = parsed.text().to_string();
            for (p, command) in commands {
                let f = credentials::parse(text.as_bytes(), FileKind::Credentials)
                    .map_err(|_| Refused)?;
                if f.get(p, credentials::ACCESS_KEY_ID) != Some(pair.id.as_str()) {
                    return Err(Refused);
                }
                text = f.to_credential_process(p, command).map_err(|_| Refused)?;
            }
            Ok(Some(text))
        });
        if let Err(e) = result {
            forget_entries(profiles);
            return Err(e.into());
        }
        Ok(())
    }

    /// The reverse of [`Secrets::move_into_keyring`], for an adopt whose proof failed: the
    /// static keys go back, then the entries. If the file cannot be written the entries stay,
    /// and `keyring release` puts the keys back.
    pub fn move_back_to_file(&self, profiles: &[String], pair: &KeyPair) {
        let result = self.edit_file(|parsed| {
            let mut text = parsed.text().to_string();
            for p in profiles {
                let f = credentials::parse(text.as_bytes(), FileKind::Credentials)
                    .map_err(|_| Refused)?;
                text = f
                    .to_static_keys(
                        p,
                        &NewKey {
                            access_key_id: &pair.id,
                            secret_access_key: pair.secret.expose_secret(),
                        },
                    )
                    .map_err(|_| Refused)?;
            }
            Ok(Some(text))
        });
        match result {
            Ok(()) => forget_entries(profiles),
            Err(e) => {
                tracing::error!(error = %e, "could not put the static keys back; the keyring entry is kept, and keyrot-agent keyring release puts them back")
            }
        }
    }

    /// Keyring release: `profile`'s `credential_process` line becomes the two lines of `pair`
    /// again, in one write. The entry stays until [`forget_entries`].
    pub fn release_to_file(&self, profile: &str, pair: &KeyPair) -> Result<(), SwitchError> {
        self.edit_file(|parsed| {
            if !parsed
                .get(profile, credentials::CREDENTIAL_PROCESS)
                .is_some_and(profiles::is_ours)
            {
                return Err(Refused);
            }
            parsed
                .to_static_keys(
                    profile,
                    &NewKey {
                        access_key_id: &pair.id,
                        secret_access_key: pair.secret.expose_secret(),
                    },
                )
                .map(Some)
                .map_err(|_| Refused)
        })
    }

    /// The one path by which the credentials file is edited: `edit` gets the file as it is on
    /// disk now (again whenever another program wrote it meanwhile) and returns its new text,
    /// or `None` when it needs no change; then nothing is written at all (no temp file, no
    /// backup holding the file's secrets). A refusal, or a file that no longer parses, writes
    /// nothing and is [`SwitchError::Changed`].
    fn edit_file(
        &self,
        mut edit: impl FnMut(&ParsedFile) -> Result<Option<String>, Refused>,
    ) -> Result<(), SwitchError> {
        if self
            .read_file()
            .is_some_and(|parsed| matches!(edit(&parsed), Ok(None)))
        {
            return Ok(());
        }
        store::replace_with(&self.credentials, &self.backup, |bytes: &[u8]| {
            let parsed = credentials::parse(bytes, FileKind::Credentials).map_err(|_| Refused)?;
            Ok::<_, Refused>(match edit(&parsed)? {
                Some(text) => text.into_bytes(),
                None => bytes.to_vec(),
            })
        })
        .map(|_| ())
        .map_err(|e| match e {
            ReplaceError::Edit(_) => SwitchError::Changed,
            ReplaceError::Store(e) => SwitchError::Store(e),
        })
    }

    /// `doctor --fix`: every setting name of the credentials file written in lower case (not
    /// those inside a nested block), so the JavaScript SDK reads the keys the other clients
    /// read, in one atomic write; nothing else changes. Returns what was renamed, as written (the
    /// edit is redone if another program wrote the file meanwhile). A file already so is not
    /// written at all.
    pub fn lowercase_names(&self) -> Result<Vec<credentials::Renamed>, SwitchError> {
        let mut renamed = Vec::new();
        self.edit_file(|parsed| {
            Ok(parsed.with_lowercase_names().map(|(text, r)| {
                renamed = r;
                text
            }))
        })?;
        Ok(renamed)
    }

    fn read_file(&self) -> Option<ParsedFile> {
        let bytes = store::read_settled(&self.credentials).ok()?;
        credentials::parse(&bytes, FileKind::Credentials).ok()
    }
}

/// Whether the keyring answers now (for `doctor`).
pub fn keyring_available() -> Result<(), KeyringError> {
    keyring::probe()
}

/// The pair a keyring profile's entry holds.
pub fn keyring_pair(profile: &str) -> Result<KeyPair, KeyringError> {
    keyring::load(profile)
}

/// Removes the keyring entries of `profiles`. Failures are logged only.
pub fn forget_entries(profiles: &[String]) {
    for p in profiles {
        if let Err(e) = keyring::remove(p) {
            tracing::warn!(profile = %p, error = %e, "could not remove the keyring entry");
        }
    }
}

/// The keyring entry of a slot.
fn entry(slot: Slot<'_>) -> String {
    match slot {
        Slot::Pending(primary) => keyring::pending(primary),
        Slot::Previous(primary) => keyring::previous(primary),
        Slot::Grace { old_key_id, .. } => keyring::grace(old_key_id),
    }
}

/// Turns the profiles kept in the keyring into rotatable ones, with the pair their entry holds,
/// so that they are rotated, scheduled and shown like the others. One whose entry cannot be read
/// is skipped with the keyring's reason.
pub fn resolve(profiles: Vec<Profile>) -> Vec<Profile> {
    profiles
        .into_iter()
        .map(|mut p| {
            if matches!(p.status, Err(SkipReason::InKeyring)) {
                p.status = match keyring::load(&p.name) {
                    Ok(pair) => Ok(Rotatable {
                        access_key_id: pair.id,
                        secret: pair.secret,
                        line: 0,
                        storage: Storage::Keyring,
                    }),
                    Err(e) => Err(SkipReason::KeyringUnreadable(e)),
                };
            }
            p
        })
        .collect()
}

/// Two profiles that hold the same key in different stores, which cannot move as one: (the one
/// in the keyring, the one in the file).
pub fn split_across_stores(profiles: &[Profile]) -> Option<(String, String)> {
    // The first profile of each key, by store.
    let mut first: std::collections::HashMap<(&str, Storage), &str> =
        std::collections::HashMap::new();
    for p in profiles {
        if let Ok(r) = &p.status {
            first
                .entry((r.access_key_id.as_str(), r.storage))
                .or_insert(p.name.as_str());
        }
    }
    for p in profiles {
        let Ok(r) = &p.status else { continue };
        let other = match r.storage {
            Storage::File => Storage::Keyring,
            Storage::Keyring => Storage::File,
        };
        if let Some(q) = first.get(&(r.access_key_id.as_str(), other)) {
            return Some(match r.storage {
                Storage::Keyring => (p.name.clone(), q.to_string()),
                Storage::File => (q.to_string(), p.name.clone()),
            });
        }
    }
    None
}

/// Every key a local profile holds: the static keys of the credentials file (a profile with an
/// id and no secret too) and the pairs of the keyring profiles. A keyring entry that cannot be
/// read is an error: then which keys are held is unknown, and nothing may be deleted on their
/// account.
pub fn held_keys(credentials_file: &ParsedFile) -> Result<Vec<Held>, KeyringError> {
    let mut out = Vec::new();
    for section in credentials_file.sections() {
        let name = &section.name;
        let id = credentials_file
            .get(name, credentials::ACCESS_KEY_ID)
            .filter(|id| !id.is_empty());
        if let Some(id) = id {
            out.push(Held {
                profile: name.clone(),
                key_id: id.to_string(),
                secret: credentials_file
                    .get(name, credentials::SECRET_ACCESS_KEY)
                    .map(|s| SecretString::from(s.to_string())),
            });
        } else if credentials_file
            .get(name, credentials::CREDENTIAL_PROCESS)
            .is_some_and(profiles::is_ours)
        {
            let pair = keyring::load(name)?;
            out.push(Held {
                profile: name.clone(),
                key_id: pair.id,
                secret: Some(pair.secret),
            });
        }
    }
    Ok(out)
}

/// The keys the local profiles hold (see [`held_keys`]): the one answer to "may this key be
/// deleted?", used by the orphan sweep, `settle` and `undo`.
#[derive(Clone)]
pub struct HeldKeys(Vec<Held>);

impl HeldKeys {
    /// The keys held by the profiles of `credentials_file` (and its keyring profiles); `None`
    /// when the file or a keyring entry cannot be read now.
    pub fn read(credentials_file: &Path) -> Option<HeldKeys> {
        let bytes = store::read_settled(credentials_file).ok()?;
        let file = credentials::parse(&bytes, FileKind::Credentials).ok()?;
        HeldKeys::of(&file).ok()
    }

    /// The keys held by the profiles of a parsed credentials file (and its keyring profiles).
    pub fn of(credentials_file: &ParsedFile) -> Result<HeldKeys, KeyringError> {
        held_keys(credentials_file).map(HeldKeys)
    }

    /// Whether every one of `profiles` holds `key_id`.
    pub fn holds(&self, profiles: &[String], key_id: &str) -> bool {
        profiles
            .iter()
            .all(|p| self.0.iter().any(|h| &h.profile == p && h.key_id == key_id))
    }

    /// Whether any local profile holds `key_id`.
    pub fn anyone_holds(&self, key_id: &str) -> bool {
        self.0.iter().any(|h| h.key_id == key_id)
    }

    /// The profiles that hold `key_id`.
    pub fn holders(&self, key_id: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|h| h.key_id == key_id)
            .map(|h| h.profile.clone())
            .collect()
    }

    /// The pair `profile` holds, when its secret is known.
    pub fn pair(&self, profile: &str) -> Option<KeyPair> {
        self.0.iter().find(|h| h.profile == profile)?.pair()
    }
}

/// Removes keyrot-agent's backup of the credentials file once no rotation is in flight: it
/// holds the secrets of the file before the last write (old keys, profiles since removed), and
/// nothing needs them any more. While a rotation is in flight it stays, as the last resort its
/// messages point to.
pub fn forget_backup(paths: &Paths) {
    if let Err(e) = store::remove_durably(&paths.backup_file()) {
        tracing::warn!(error = %e, "could not remove keyrot-agent's backup of the credentials file; delete it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// An edit that finds nothing to change writes nothing: not the file (same inode), no temp
    /// file, and no backup holding the file's secrets. Recovery's write of a key the file
    /// already holds, and `doctor --fix` on a file already in lower case, take this path.
    #[test]
    fn an_edit_with_nothing_to_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let backup = dir.path().join("credentials.backup");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = AKIANEWNEWNEWNEWNEW1\naws_secret_access_key = s3cret\n",
        )
        .unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        let store = Secrets::at(Storage::File, path.clone(), backup.clone());
        let new = KeyPair {
            id: "AKIANEWNEWNEWNEWNEW1".into(),
            secret: SecretString::from("s3cret".to_string()),
        };
        store
            .switch(&["default".to_string()], "AKIAOLDOLDOLDOLDOLD1", &new)
            .unwrap();
        assert_eq!(store.lowercase_names().unwrap(), Vec::new());
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["credentials"], "no backup, no temp file");
    }
}
