//! The history: one secret-free line per finished rotation (or rollback, orphan cleanup, undo), in
//! `history.jsonl` in the state directory (0600). `status` shows each profile's last line.
//!
//! A rotation's line holds the user, the step durations, whether it finished a rotation an
//! earlier run started, and the end of the old key's grace; an undo's line only the keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::edge::store::{self, StoreError};

/// How a line's rotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Rotated,
    RolledBack,
    Refused,
    OrphanDeleted,
    Undone,
    /// A line written by a later version.
    #[serde(other)]
    Other,
}

impl Ended {
    pub fn name(self) -> &'static str {
        match self {
            Ended::Rotated => "rotated",
            Ended::RolledBack => "rolled_back",
            Ended::Refused => "refused",
            Ended::OrphanDeleted => "orphan_deleted",
            Ended::Undone => "undone",
            Ended::Other => "other",
        }
    }
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub profiles: Vec<String>,
    pub old_key_id: String,
    pub new_key_id: Option<String>,
    pub outcome: Ended,
    /// What a rotation's line says besides (an undo's line has none of it).
    #[serde(flatten)]
    pub rotation: Option<RotationFacts>,
}

/// The part of a line that only rotations have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationFacts {
    pub user: String,
    /// The step after which an earlier run was cut short, when this run finished it.
    pub resumed: Option<String>,
    /// With a grace period: when the old key is deleted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub old_key_inactive_until: Option<OffsetDateTime>,
    /// How long each step took, in milliseconds.
    pub durations_ms: BTreeMap<String, u64>,
}

/// The history file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    pub fn new(path: PathBuf) -> History {
        History { path }
    }

    /// Appends one line, durably. The line passes the scrubber.
    pub fn append(&self, line: &HistoryLine) -> Result<(), StoreError> {
        let mut text = serde_json::to_string(line).unwrap_or_default();
        text.push('\n');
        store::append_private(&self.path, crate::core::redact::scrub(&text).as_bytes())
    }

    /// The latest line of each profile. Lines that cannot be read are passed over.
    pub fn last_per_profile(&self) -> BTreeMap<String, HistoryLine> {
        // The last lines are enough: each profile's last rotation is among them.
        let text = store::read_state_tail(&self.path, store::MAX_STATE_FILE)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        last_per_profile(&text)
    }
}

/// The latest line of each profile in a history's text.
pub fn last_per_profile(text: &str) -> BTreeMap<String, HistoryLine> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Ok(line) = serde_json::from_str::<HistoryLine>(line) else {
            continue;
        };
        for p in &line.profiles {
            out.insert(p.clone(), line.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation() -> HistoryLine {
        HistoryLine {
            time: OffsetDateTime::UNIX_EPOCH,
            profiles: vec!["default".into(), "ci".into()],
            old_key_id: "AKIAOLD".into(),
            new_key_id: Some("AKIANEW".into()),
            outcome: Ended::Rotated,
            rotation: Some(RotationFacts {
                user: "arn:aws:iam::1:user/a".into(),
                resumed: None,
                old_key_inactive_until: None,
                durations_ms: BTreeMap::from([("create".to_string(), 7)]),
            }),
        }
    }

    #[test]
    fn lines_keep_the_format_earlier_versions_wrote() {
        // As the rotator and undo wrote them before the type existed (keys sorted by serde_json).
        let old_rotation = r#"{"durations_ms":{"create":7},"new_key_id":"AKIANEW","old_key_id":"AKIAOLD","old_key_inactive_until":null,"outcome":"rotated","profiles":["default","ci"],"resumed":null,"time":"1970-01-01T00:00:00Z","user":"arn:aws:iam::1:user/a"}"#;
        let old_undo = r#"{"new_key_id":"AKIAOLD","old_key_id":"AKIANEW","outcome":"undone","profiles":["default"],"time":"1970-01-01T00:00:00Z"}"#;
        let parsed: HistoryLine = serde_json::from_str(old_rotation).unwrap();
        assert_eq!(parsed, rotation());
        let undo: HistoryLine = serde_json::from_str(old_undo).unwrap();
        assert_eq!(undo.outcome, Ended::Undone);
        assert_eq!(undo.rotation, None);
        // What is written now reads back the same, with the same keys and values.
        let written: serde_json::Value = serde_json::to_value(rotation()).unwrap();
        let before: serde_json::Value = serde_json::from_str(old_rotation).unwrap();
        assert_eq!(written, before);
        let written: serde_json::Value = serde_json::to_value(&undo).unwrap();
        let before: serde_json::Value = serde_json::from_str(old_undo).unwrap();
        assert_eq!(written, before);
    }

    #[test]
    fn the_last_line_of_each_profile_counts_and_bad_lines_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path().join("history.jsonl"));
        h.append(&rotation()).unwrap();
        let mut later = rotation();
        later.profiles = vec!["default".into()];
        later.outcome = Ended::RolledBack;
        h.append(&later).unwrap();
        let text = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 2);
        let last = last_per_profile(&format!("{text}not json\n{{\"outcome\":\"rotated\"}}\n"));
        assert_eq!(last["default"].outcome, Ended::RolledBack);
        assert_eq!(last["ci"].outcome, Ended::Rotated);
        let future = r#"{"new_key_id":null,"old_key_id":"A","outcome":"teleported","profiles":["x"],"time":"1970-01-01T00:00:00Z"}"#;
        assert_eq!(last_per_profile(future)["x"].outcome, Ended::Other);
    }
}
