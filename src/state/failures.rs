//! The last failure of each profile's rotation, so that `status` can show it after the fact (the
//! agent runs unattended; nobody saw its log). A success clears it. The file is `failures.json`
//! in the state directory (0600); it holds messages that have passed the scrubber, never a secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::core::redact::scrub;
use crate::edge::store;

/// A profile's last failed rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The error's kind, as in `--json` (`unreachable`, `access_denied`, …).
    pub kind: String,
    pub message: String,
}

/// What one rotation of some profiles came to, as far as this record is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The rotation finished: the profiles' last failure is forgotten.
    Succeeded,
    /// It failed: `kind` as in `--json`, and the message (scrubbed here).
    Failed { kind: String, message: String },
    /// Neither (a dry run, a refusal by choice): nothing to record.
    Neither,
}

/// Applies one attempt to the record; returns whether it changed.
pub fn apply(
    all: &mut BTreeMap<String, LastError>,
    profiles: &[String],
    attempt: &Attempt,
    now: OffsetDateTime,
) -> bool {
    let before = all.clone();
    match attempt {
        Attempt::Succeeded => {
            for p in profiles {
                all.remove(p);
            }
        }
        Attempt::Failed { kind, message } => {
            for p in profiles {
                all.insert(
                    p.clone(),
                    LastError {
                        time: now,
                        kind: kind.clone(),
                        message: scrub(message).into_owned(),
                    },
                );
            }
        }
        Attempt::Neither => {}
    }
    *all != before
}

/// The record in a state directory.
#[derive(Debug, Clone)]
pub struct Failures {
    path: PathBuf,
}

impl Failures {
    pub fn new(path: PathBuf) -> Failures {
        Failures { path }
    }

    /// Every profile's last failure; unreadable means none known.
    pub fn load(&self) -> BTreeMap<String, LastError> {
        store::load_json(&self.path).unwrap_or_default()
    }

    /// Records what an attempt on `profiles` came to. Failures to write are logged only.
    pub fn record(&self, profiles: &[String], attempt: &Attempt) {
        let mut all = self.load();
        if !apply(&mut all, profiles, attempt, OffsetDateTime::now_utc()) {
            return;
        }
        store::save_json(&self.path, &all, "the failure record");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_kept_until_a_success() {
        let mut all = BTreeMap::new();
        let now = OffsetDateTime::UNIX_EPOCH;
        let who = ["a".to_string(), "b".to_string()];
        let failed = Attempt::Failed {
            kind: "unreachable".into(),
            message: "cannot reach AWS".into(),
        };
        assert!(apply(&mut all, &who, &failed, now));
        assert!(!apply(&mut all, &who, &failed, now), "the same again");
        assert!(!apply(&mut all, &who, &Attempt::Neither, now));
        assert_eq!(all["b"].kind, "unreachable");
        assert!(apply(&mut all, &who[..1], &Attempt::Succeeded, now));
        assert_eq!(all.keys().collect::<Vec<_>>(), ["b"]);
    }
}
