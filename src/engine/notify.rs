//! The agent's notifier: the rules of `core::notices`, the record of `state::notified`, and
//! `edge::desktop::show`, in that order. Only the agent uses it.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::core::notices::{Notice, Sent};
use crate::core::redact::scrub;
use crate::edge::desktop::show;
use crate::state::notified::SentFile;

/// The agent's notifier: applies the rules, shows, remembers.
pub struct Notifier {
    /// `--no-notify` turns every notice off; the config's `notify` turns them off per profile.
    pub enabled: bool,
    file: SentFile,
    sent: Sent,
}

impl Notifier {
    pub fn new(path: PathBuf, enabled: bool) -> Notifier {
        let file = SentFile::new(path);
        let sent = file.load();
        Notifier {
            enabled,
            file,
            sent,
        }
    }

    /// Shows `notice` if the rules allow it and `wanted` (the config) says so.
    pub async fn notify(&mut self, notice: Notice, wanted: bool, now: OffsetDateTime) {
        if let Notice::Rotated { profiles, .. } = &notice {
            self.sent.solved(profiles);
        }
        if !self.enabled || !wanted || !self.sent.should_send(&notice, now) {
            self.file.save(&self.sent);
            return;
        }
        match show(&notice).await {
            Ok(()) => {
                tracing::info!(summary = %notice.summary(), "notification shown");
                self.sent.record(&notice, now);
            }
            Err(e) => {
                tracing::warn!(error = %scrub(&e), summary = %notice.summary(), "could not show a notification")
            }
        }
        self.file.save(&self.sent);
    }

    /// Forgets agent-wide problems that are no longer current.
    pub fn problems_now(&mut self, current: &[String]) {
        let before = self.sent.clone();
        self.sent.problems_now(current);
        if self.sent != before {
            self.file.save(&self.sent);
        }
    }
}
