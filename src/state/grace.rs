//! The grace record (`grace.json` in the state directory, 0600): for each rotation made with
//! `grace`, the old key kept Inactive until its grace ends, and the keys brought back by `undo`,
//! which the agent leaves alone. In the file store it holds the old key's secret (putting the old
//! key back needs it; the same secret the credentials file held until the rotation, with the same
//! protection); in the keyring the old pair has an entry of its own and the record holds none.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::edge::storage::{Slot, StoredIn};
use crate::edge::store::{self, StoreError};

/// Why the grace record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GraceError {
    #[error(
        "{path} is damaged ({reason}); move it away to go on (it lists old keys kept Inactive)"
    )]
    Damaged { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A rotated key whose predecessor is Inactive and may still come back.
#[derive(Clone, Serialize, Deserialize)]
pub struct Entry {
    pub primary: String,
    pub profiles: Vec<String>,
    pub user_arn: String,
    pub old_key_id: String,
    #[serde(with = "crate::state::journal::secret")]
    pub old_secret: SecretString,
    pub new_key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub delete_after: OffsetDateTime,
    /// Where the profiles keep their pair. In the keyring, `old_secret` is empty here and the
    /// old pair is in its own keyring entry (`edge::storage::Slot::Grace`).
    #[serde(flatten)]
    pub stored_in: StoredIn,
}

impl Entry {
    /// Where the old pair's own copy is kept.
    pub fn slot(&self) -> Slot<'_> {
        Slot::Grace {
            old_key_id: &self.old_key_id,
            primary: &self.primary,
        }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("profiles", &self.profiles)
            .field("old_key_id", &self.old_key_id)
            .field("new_key_id", &self.new_key_id)
            .field("delete_after", &self.delete_after)
            .finish_non_exhaustive()
    }
}

/// Everything in `grace.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub entries: Vec<Entry>,
    /// Key ids brought back by `undo`: the agent leaves them alone.
    pub held: Vec<String>,
}

/// The file in a state directory.
#[derive(Debug, Clone)]
pub struct GraceFile {
    path: PathBuf,
}

impl GraceFile {
    pub fn new(path: PathBuf) -> GraceFile {
        GraceFile { path }
    }

    /// The state; a missing file is empty. An unreadable one is an error: it may hold the only
    /// way back to an old key.
    pub fn load(&self) -> Result<State, GraceError> {
        match store::read_state(&self.path)? {
            None => Ok(State::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| GraceError::Damaged {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), GraceError> {
        if state.entries.is_empty() && state.held.is_empty() {
            return Ok(store::remove_durably(&self.path)?);
        }
        // Serializing plain data into memory cannot fail.
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec_pretty(state).unwrap_or_default());
        Ok(store::write_private(&self.path, &bytes)?)
    }

    /// Adds (or replaces) the entry for `entry.old_key_id`.
    pub fn keep(&self, entry: Entry) -> Result<(), GraceError> {
        let mut state = self.load()?;
        state.entries.retain(|e| e.old_key_id != entry.old_key_id);
        state.entries.push(entry);
        self.save(&state)
    }

    /// The key ids the agent must not rotate by itself.
    pub fn held(&self) -> Vec<String> {
        self.load().map(|s| s.held).unwrap_or_default()
    }

    /// The earliest instant an old key is due for deletion.
    pub fn next_deletion(&self) -> Option<OffsetDateTime> {
        self.load()
            .ok()?
            .entries
            .iter()
            .map(|e| e.delete_after)
            .min()
    }

    /// Forgets the hold on `key_id` (the user rotated it by hand).
    pub fn release(&self, key_id: &str) {
        if let Ok(mut state) = self.load()
            && state.held.iter().any(|k| k == key_id)
        {
            state.held.retain(|k| k != key_id);
            if let Err(e) = self.save(&state) {
                tracing::warn!(error = %e, "could not update the grace record");
            }
        }
    }
}
