//! What the agent has told the user, and when (`notified.json` in the state directory, 0600): the
//! memory that keeps it from repeating itself across restarts. The rules are `core::notices`.

use std::path::PathBuf;

use crate::core::notices::Sent;
use crate::edge::store;

/// The file that holds [`Sent`] in the state directory.
#[derive(Debug, Clone)]
pub struct SentFile {
    path: PathBuf,
}

impl SentFile {
    pub fn new(path: PathBuf) -> SentFile {
        SentFile { path }
    }

    /// What was sent; unreadable means nothing (at worst a notice repeats once).
    pub fn load(&self) -> Sent {
        store::load_json(&self.path).unwrap_or_default()
    }

    pub fn save(&self, sent: &Sent) {
        store::save_json(&self.path, sent, "the notification record");
    }
}
