//! What the agent tells the user on the desktop, when, and how it is sent.
//!
//! The texts and the "not again so soon" rules are plain data ([`Notice`], [`Sent`]), here; the
//! one function that talks to the notification server is `edge::desktop::show`, the record of
//! what was sent is `state::notified`, and `engine::notify::Notifier` puts them together.
//!
//! Rules:
//! - a key entering its warn window, and a due key with `auto_rotate` off: at most once a day per
//!   profile;
//! - a rotation that succeeded: every time;
//! - a rotation that failed, or a problem that stops the agent (an invalid file, no network): once
//!   per problem, not once per retry. It may be shown again once it was solved, or when the
//!   problem changes;
//! - a notice never holds a secret: key ids, profile names and error messages only, and every
//!   text passes through the scrubber.
//!
//! A notification that cannot be shown is logged and never fatal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::core::redact::scrub;

/// How long a daily notice stays quiet.
const DAILY: time::Duration = time::Duration::days(1);

/// One thing to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A key entered its warn window.
    Warn {
        profile: String,
        due_at: OffsetDateTime,
        auto_rotate: bool,
    },
    /// A key is due and `auto_rotate` is off.
    Due { profile: String, age_days: i64 },
    /// A rotation finished.
    Rotated {
        profiles: Vec<String>,
        new_key_id: String,
        old_key_id: String,
        /// What went wrong without stopping it (a hook that failed under `continue`; the old
        /// key's recent use elsewhere).
        warnings: Vec<String>,
    },
    /// A rotation failed. `class` tells problems apart (the exit code's meaning).
    Failed {
        profiles: Vec<String>,
        class: String,
        reason: String,
        command: String,
    },
    /// Something stops the agent from doing its job at all.
    Problem {
        class: String,
        reason: String,
        fix: String,
    },
    /// An old key was made Active again during its grace: kept, not deleted.
    Reactivated { key_id: String },
    /// A key whose management needs MFA is due (or its age cannot be learned without a code),
    /// and the agent cannot get a code by itself. At most once a day per profile.
    NeedsMfa {
        profile: String,
        /// Whether the key is known to be due (else its age is unknown).
        due: bool,
        /// Whether an MFA device is named for the profile.
        device_set: bool,
    },
}

/// How a notice may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Daily,
    /// Once, until cleared or until its fingerprint changes.
    OncePerProblem,
    Always,
}

impl Notice {
    pub fn summary(&self) -> String {
        let text = match self {
            Notice::Warn {
                profile, due_at, ..
            } => format!("AWS key for '{profile}' is due on {}", day(*due_at)),
            Notice::Due { profile, .. } => format!("AWS key for '{profile}' is due for rotation"),
            Notice::Rotated { profiles, .. } => {
                format!("Rotated the AWS key for {}", names(profiles))
            }
            Notice::Failed { profiles, .. } => {
                format!("Could not rotate the AWS key for {}", names(profiles))
            }
            Notice::Problem { .. } => "keyrot-agent cannot check your AWS keys".to_string(),
            Notice::Reactivated { .. } => "An old AWS key was made Active again".to_string(),
            Notice::NeedsMfa {
                profile, due: true, ..
            } => format!("AWS key for '{profile}' is due; it needs your MFA code"),
            Notice::NeedsMfa { profile, .. } => {
                format!("AWS key for '{profile}' needs your MFA code")
            }
        };
        scrub(&text).into_owned()
    }

    pub fn body(&self) -> String {
        let text = match self {
            Notice::Warn {
                profile,
                due_at,
                auto_rotate: true,
            } => format!(
                "keyrot-agent will rotate it on {} (UTC). To rotate it now: keyrot-agent now --profile {profile}",
                minute(*due_at)
            ),
            Notice::Warn {
                profile,
                auto_rotate: false,
                ..
            } => format!(
                "auto_rotate is off for it. Rotate it with: keyrot-agent now --profile {profile}"
            ),
            Notice::Due { profile, age_days } => format!(
                "It is {age_days} days old and auto_rotate is off. Rotate it with: keyrot-agent now --profile {profile}"
            ),
            Notice::Rotated {
                new_key_id,
                old_key_id,
                warnings,
                ..
            } => {
                let mut text = format!(
                    "New key {new_key_id} is in use and proven; the old key {old_key_id} is retired."
                );
                for w in warnings {
                    text.push_str(&format!("\nWarning: {w}"));
                }
                text
            }
            Notice::Failed {
                reason, command, ..
            } => format!("{reason}\nYour current key still works. To retry: {command}"),
            Notice::Problem { reason, fix, .. } => format!("{reason}\n{fix}"),
            Notice::NeedsMfa {
                profile,
                device_set: false,
                ..
            } => format!(
                "Your account requires MFA to manage this key. Set mfa_serial for the profile in ~/.aws/config, then run: keyrot-agent now --profile {profile}"
            ),
            Notice::NeedsMfa {
                profile, due: true, ..
            } => format!(
                "Run: keyrot-agent now --profile {profile}\n(or set mfa_process, so that keyrot-agent can rotate it by itself)"
            ),
            Notice::NeedsMfa { profile, .. } => format!(
                "keyrot-agent cannot tell its age or rotate it without a code. Run: keyrot-agent now --profile {profile}"
            ),
            Notice::Reactivated { key_id } => format!(
                "Its grace ended, but {key_id} is Active again, so something uses it: keyrot-agent kept it instead of deleting it. Delete it yourself when nothing uses it any more."
            ),
        };
        scrub(&text).into_owned()
    }

    /// Failures are critical; the rest are normal.
    pub fn critical(&self) -> bool {
        matches!(self, Notice::Failed { .. } | Notice::Problem { .. })
    }

    /// The profiles it is about (empty for agent-wide problems).
    pub fn profiles(&self) -> Vec<String> {
        match self {
            Notice::Warn { profile, .. }
            | Notice::Due { profile, .. }
            | Notice::NeedsMfa { profile, .. } => vec![profile.clone()],
            Notice::Rotated { profiles, .. } | Notice::Failed { profiles, .. } => profiles.clone(),
            Notice::Problem { .. } | Notice::Reactivated { .. } => Vec::new(),
        }
    }

    /// The de-duplication key, the fingerprint within it, and how it may repeat.
    fn slot(&self) -> (String, String, Repeat) {
        match self {
            Notice::Warn { profile, .. } => {
                (format!("warn:{profile}"), String::new(), Repeat::Daily)
            }
            Notice::Due { profile, .. } => (format!("due:{profile}"), String::new(), Repeat::Daily),
            Notice::NeedsMfa { profile, .. } => {
                (format!("mfa:{profile}"), String::new(), Repeat::Daily)
            }
            Notice::Rotated { new_key_id, .. } => (
                format!("rotated:{new_key_id}"),
                String::new(),
                Repeat::Always,
            ),
            Notice::Failed {
                profiles, class, ..
            } => (
                format!("failed:{}", profiles.join(",")),
                class.clone(),
                Repeat::OncePerProblem,
            ),
            Notice::Reactivated { key_id } => (
                format!("reactivated:{key_id}"),
                String::new(),
                Repeat::Always,
            ),
            Notice::Problem { class, .. } => (
                format!("problem:{class}"),
                class.clone(),
                Repeat::OncePerProblem,
            ),
        }
    }
}

fn names(profiles: &[String]) -> String {
    let quoted: Vec<String> = profiles.iter().map(|p| format!("'{p}'")).collect();
    quoted.join(", ")
}

fn day(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

fn minute(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]"
    ))
    .unwrap_or_default()
}

/// What was shown, and when: the memory that keeps the agent from repeating itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    entries: BTreeMap<String, SentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SentEntry {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    fingerprint: String,
}

impl Sent {
    /// Whether `notice` may be shown at `now`.
    pub fn should_send(&self, notice: &Notice, now: OffsetDateTime) -> bool {
        let (key, fingerprint, repeat) = notice.slot();
        let Some(last) = self.entries.get(&key) else {
            return true;
        };
        match repeat {
            Repeat::Always => true,
            Repeat::Daily => now - last.at >= DAILY,
            Repeat::OncePerProblem => last.fingerprint != fingerprint,
        }
    }

    /// Remembers that `notice` was shown at `now`. A success clears the failures of its
    /// profiles, so the next failure is told again.
    pub fn record(&mut self, notice: &Notice, now: OffsetDateTime) {
        let (key, fingerprint, repeat) = notice.slot();
        if let Notice::Rotated { profiles, .. } = notice {
            self.solved(profiles);
        }
        if repeat != Repeat::Always {
            self.entries.insert(
                key,
                SentEntry {
                    at: now,
                    fingerprint,
                },
            );
        }
    }

    /// Forgets the failures of these profiles (they rotated, or were rotated by hand).
    pub fn solved(&mut self, profiles: &[String]) {
        self.entries.retain(|k, _| {
            !k.strip_prefix("failed:")
                .is_some_and(|ps| ps.split(',').any(|p| profiles.iter().any(|q| q == p)))
        });
    }

    /// Forgets the agent-wide problems that are not among `current` (they were solved).
    pub fn problems_now(&mut self, current: &[String]) {
        self.entries.retain(|k, _| {
            k.strip_prefix("problem:")
                .is_none_or(|class| current.iter().any(|c| c == class))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 12:00 UTC);

    fn warn(p: &str) -> Notice {
        Notice::Warn {
            profile: p.into(),
            due_at: datetime!(2026-11-08 09:30 UTC),
            auto_rotate: true,
        }
    }

    fn failed(p: &str, class: &str) -> Notice {
        Notice::Failed {
            profiles: vec![p.into()],
            class: class.into(),
            reason: "cannot reach IAM".into(),
            command: format!("keyrot-agent now --profile {p}"),
        }
    }

    #[test]
    fn warn_at_most_once_a_day_per_profile() {
        let mut s = Sent::default();
        assert!(s.should_send(&warn("work"), T0));
        s.record(&warn("work"), T0);
        assert!(!s.should_send(&warn("work"), T0 + time::Duration::hours(23)));
        assert!(s.should_send(&warn("home"), T0));
        assert!(s.should_send(&warn("work"), T0 + time::Duration::hours(24)));
    }

    #[test]
    fn a_failure_is_told_once_until_solved_or_changed() {
        let mut s = Sent::default();
        s.record(&failed("work", "unreachable"), T0);
        for h in 1..100 {
            assert!(!s.should_send(
                &failed("work", "unreachable"),
                T0 + time::Duration::hours(h)
            ));
        }
        assert!(s.should_send(&failed("work", "access_denied"), T0));
        s.record(
            &Notice::Rotated {
                profiles: vec!["work".into()],
                new_key_id: "AKIANEW".into(),
                old_key_id: "AKIAOLD".into(),
                warnings: Vec::new(),
            },
            T0,
        );
        assert!(s.should_send(&failed("work", "unreachable"), T0));
    }

    #[test]
    fn problems_clear_when_they_are_gone() {
        let mut s = Sent::default();
        let p = Notice::Problem {
            class: "invalid_file".into(),
            reason: "r".into(),
            fix: "f".into(),
        };
        s.record(&p, T0);
        s.problems_now(&["invalid_file".into()]);
        assert!(!s.should_send(&p, T0 + time::Duration::days(3)));
        s.problems_now(&[]);
        assert!(s.should_send(&p, T0));
    }

    #[test]
    fn texts_name_the_profile_and_the_command_and_no_secret() {
        let n = failed("work", "unreachable");
        assert_eq!(n.summary(), "Could not rotate the AWS key for 'work'");
        assert!(n.body().contains("keyrot-agent now --profile work"));
        let w = warn("work");
        assert_eq!(w.summary(), "AWS key for 'work' is due on 2026-11-08");
        assert!(w.body().contains("2026-11-08 09:30"), "{}", w.body());
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        crate::core::redact::register(secret);
        let leaky = Notice::Problem {
            class: "x".into(),
            reason: format!("bad value {secret}"),
            fix: "f".into(),
        };
        assert!(!leaky.body().contains(secret));
    }

    #[test]
    fn the_record_round_trips() {
        let mut s = Sent::default();
        s.record(&warn("work"), T0);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Sent>(&text).unwrap(), s);
    }
}
