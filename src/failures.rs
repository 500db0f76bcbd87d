//! The last failure of each profile's rotation, so that `status` can show it after the fact (the
//! agent runs unattended; nobody saw its log). A success clears it. The file is `failures.json`
//! in the state directory (0600); it holds messages that have passed the scrubber, never a secret.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::redact::scrub;
use crate::rotator::{KeyReport, Outcome};
use crate::store;

/// A profile's last failed rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The error's kind, as in `--json` (`unreachable`, `access_denied`, …).
    pub kind: String,
    pub message: String,
}

/// What one rotation means for the record: the profiles to set, the profiles to clear.
pub fn apply(
    all: &mut BTreeMap<String, LastError>,
    report: &KeyReport,
    now: OffsetDateTime,
) -> bool {
    let before = all.clone();
    if report.dry_run {
        return false;
    }
    match (&report.error, report.outcome) {
        (_, Outcome::Rotated) => {
            for p in &report.profiles {
                all.remove(p);
            }
        }
        (Some(e), _) => {
            for p in &report.profiles {
                all.insert(
                    p.clone(),
                    LastError {
                        time: now,
                        kind: e.kind().to_string(),
                        message: scrub(&e.to_string()).into_owned(),
                    },
                );
            }
        }
        (None, _) => {}
    }
    *all != before
}

/// The record in a state directory.
#[derive(Debug, Clone)]
pub struct Failures {
    path: PathBuf,
}

impl Failures {
    pub fn new(state_dir: &Path) -> Failures {
        Failures {
            path: state_dir.join("failures.json"),
        }
    }

    /// Every profile's last failure; unreadable means none known.
    pub fn load(&self) -> BTreeMap<String, LastError> {
        store::load_json(&self.path).unwrap_or_default()
    }

    /// Records what `report` says. Failures to write are logged only.
    pub fn record(&self, report: &KeyReport) {
        let mut all = self.load();
        if !apply(&mut all, report, OffsetDateTime::now_utc()) {
            return;
        }
        store::save_json(&self.path, &all, "the failure record");
    }
}
