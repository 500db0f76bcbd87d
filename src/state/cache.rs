//! What keyrot-agent knows about keys without asking AWS: each key's creation date and user, and
//! when that was last checked. `status` works offline from it; `now`, the agent and
//! `status --refresh` fill it (`engine::dates::refresh` is the one place that asks AWS for the
//! dates). It lives in the state directory (`keys.json`, 0600) and holds no secret.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::edge::store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDates {
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    pub user_arn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The description keyrot-agent gave the key in IAM (`Ok`), or why it could not (`Err`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Result<String, String>>,
}

/// The cache file of a state directory.
#[derive(Debug, Clone)]
pub struct Cache {
    path: PathBuf,
}

impl Cache {
    pub fn new(path: PathBuf) -> Cache {
        Cache { path }
    }

    /// Every known key; an unreadable or missing cache is empty (it is only a cache).
    pub fn load(&self) -> BTreeMap<String, KeyDates> {
        store::load_json(&self.path).unwrap_or_default()
    }

    /// Records `entries` (key id → dates) and forgets `gone` keys. Failures are logged only.
    pub fn update(&self, entries: &[(String, KeyDates)], gone: &[String]) {
        let mut all = self.load();
        for id in gone {
            all.remove(id);
        }
        for (id, dates) in entries {
            let mut dates = dates.clone();
            // A refresh learns dates, not descriptions: the one keyrot-agent gave stays.
            if dates.description.is_none() {
                dates.description = all.get(id).and_then(|d| d.description.clone());
            }
            all.insert(id.clone(), dates);
        }
        store::save_json(&self.path, &all, "the key cache");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forget() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(dir.path().join("keys.json"));
        assert!(c.load().is_empty());
        let d = KeyDates {
            created: Some(OffsetDateTime::UNIX_EPOCH),
            user_arn: "arn".into(),
            checked_at: OffsetDateTime::UNIX_EPOCH,
            description: None,
        };
        c.update(
            &[("AKIA1".into(), d.clone()), ("AKIA2".into(), d.clone())],
            &[],
        );
        c.update(&[], &["AKIA1".into()]);
        let all = c.load();
        assert_eq!(all.len(), 1);
        assert_eq!(all["AKIA2"], d);
    }
}
