//! How a `now` run is shown: a short human summary, or one JSON object for scripts.
//!
//! Both show key ids, ARNs, profiles and timings, never secrets: the data they are made from
//! holds no secret to begin with.

use std::time::Duration;

use serde_json::{Value, json};

use std::path::PathBuf;

use crate::commands::exit;
use crate::core::profiles::SkipReason;
use crate::engine::error::Error;
use crate::engine::grace::Settled;
use crate::engine::outcome::{HookRun, KeyReport, Outcome};

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Everything one `now` (or `recover`) did.
#[derive(Debug)]
pub struct Report {
    pub credentials_file: PathBuf,
    /// With `--dry-run`: the rotation an earlier run left in flight, which a real run would
    /// finish first.
    pub in_flight: Option<String>,
    /// `--all`: root keys are then skipped like other unrotatable profiles, not failures.
    pub all: bool,
    pub dry_run: bool,
    pub keys: Vec<KeyReport>,
    pub skipped: Vec<(String, SkipReason)>,
    /// What was done with old keys whose grace ended.
    pub settled: Settled,
    pub requests: usize,
    /// `recover` (not `now`): what "nothing" means differs.
    pub recovery: bool,
}

/// How the command line asked output to look: `-v`, `--quiet`, `--color`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub verbose: u8,
    pub quiet: bool,
    pub color: bool,
}

/// How wide the label that starts each line of the summary is, so that everything after it lines
/// up ("would rotate" is the longest).
const LABEL: usize = 12;

/// The indentation of a key's further lines: under the profile names.
const INDENT: &str = "             ";

/// `label` padded to [`LABEL`], in `color` (an ANSI SGR number) when colour is on.
fn label(label: &str, color: u8, output: &Output) -> String {
    let padded = format!("{label:<LABEL$}");
    if output.color {
        format!("\x1b[{color}m{padded}\x1b[0m")
    } else {
        padded
    }
}

impl Report {
    /// The process exit code: 0 when every key went as asked, else the first failure's code.
    pub fn exit_code(&self) -> i32 {
        self.keys
            .iter()
            .filter_map(|k| k.error.as_ref())
            .find(|e| !(self.all && matches!(e, Error::RootKey { .. })))
            .map(exit::code)
            .unwrap_or(exit::OK)
    }
}

/// The human summary: one block per key, then skipped profiles.
pub fn human(report: &Report, output: &Output) -> String {
    let mut out = String::new();
    if let Some(text) = &report.in_flight {
        out.push_str(&format!("{} {text}", label("in flight", YELLOW, output)));
    }
    for k in &report.keys {
        out.push_str(&human_key(k, output));
    }
    for (profile, reason) in &report.skipped {
        out.push_str(&format!(
            "{} {profile}: {reason}\n",
            label("skipped", YELLOW, output)
        ));
    }
    for id in &report.settled.deleted {
        out.push_str(&format!(
            "{} {id}: its grace is over (it was Inactive)\n",
            label("deleted", GREEN, output)
        ));
    }
    for id in &report.settled.undone {
        out.push_str(&format!(
            "{} {id}: finishing an undo that was cut short\n",
            label("deleted", GREEN, output)
        ));
    }
    for id in &report.settled.reactivated {
        out.push_str(&format!(
            "{} {id}: it was made Active again during its grace, so something uses it; keyrot-agent leaves it alone (delete it yourself when it is no longer used)\n",
            label("kept", YELLOW, output)
        ));
    }
    if report.keys.is_empty()
        && report.skipped.is_empty()
        && report.in_flight.is_none()
        && report.settled.is_empty()
    {
        out.push_str(if report.recovery {
            "nothing to recover: no rotation is in flight, and no old key's grace is over\n"
        } else {
            "nothing to rotate: no profile holds a long-term access key\n"
        });
    }
    out
}

const GREEN: u8 = 32;
const YELLOW: u8 = 33;
const RED: u8 = 31;

fn human_key(k: &KeyReport, output: &Output) -> String {
    let mut out = String::new();
    let profiles = k.profiles.join(", ");
    let arn = k.user_arn.as_deref().unwrap_or("(identity unknown)");
    let (head, color) = match k.outcome {
        Outcome::Rotated => ("rotated", GREEN),
        Outcome::Planned => ("would rotate", YELLOW),
        Outcome::Skipped => ("skipped", YELLOW),
        Outcome::Refused => ("refused", RED),
        Outcome::RolledBack => ("rolled back", RED),
        Outcome::Interrupted => ("interrupted", RED),
        Outcome::OrphanDeleted => ("cleaned up", GREEN),
    };
    out.push_str(&format!(
        "{} {profiles}  {arn}\n",
        label(head, color, output)
    ));
    if let Some(phase) = k.resumed_from {
        out.push_str(&format!(
            "{INDENT}(finishing a rotation interrupted after step '{}')\n",
            phase.name()
        ));
    }
    for id in &k.orphans_deleted {
        out.push_str(&format!(
            "{INDENT}deleted {id}, a key an interrupted rotation created but never recorded\n"
        ));
    }
    match (&k.new_key_id, k.dry_run) {
        (_, true) => {
            if k.error.is_none() {
                out.push_str(&format!(
                    "{INDENT}{} → (new key); would create, verify, write {}, then deactivate and delete {}\n",
                    k.old_key_id,
                    if k.profiles.len() == 1 { "the profile".to_string() } else { format!("{} profiles", k.profiles.len()) },
                    k.old_key_id
                ));
            }
        }
        (Some(new), false) => out.push_str(&format!("{INDENT}{} → {new}\n", k.old_key_id)),
        (None, false) => out.push_str(&format!("{INDENT}{}\n", k.old_key_id)),
    }
    match (&k.mfa_serial, k.dry_run) {
        (Some(serial), true) => out.push_str(&format!(
            "{INDENT}needs MFA: one code of {serial} (from --mfa-code, mfa_process, or asked at the terminal)\n"
        )),
        (Some(serial), false) => out.push_str(&format!(
            "{INDENT}signed with an MFA session of {serial}\n"
        )),
        (None, _) if k.mfa_needed => out.push_str(&format!(
            "{INDENT}needs MFA: the account denies key management without it\n"
        )),
        (None, _) => {}
    }
    if k.hooks_skipped {
        out.push_str(&format!("{INDENT}hooks skipped (--no-hooks)\n"));
    }
    for (hook, how) in &k.hooks {
        let what = match how {
            HookRun::Ok => "ran",
            HookRun::Failed => "FAILED",
            HookRun::Reverted => "ran again with the old key",
            HookRun::RevertFailed => "FAILED with the old key",
        };
        out.push_str(&format!("{INDENT}hook {what}: {hook}\n"));
    }
    for w in &k.warnings {
        out.push_str(&format!("{INDENT}warning: {w}\n"));
    }
    if let Some(until) = k.grace_until {
        let when = until
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_default();
        out.push_str(&format!(
            "{INDENT}{} is Inactive until {when}, then deleted; to bring it back until then: keyrot-agent undo --profile {}\n",
            k.old_key_id,
            k.profiles.first().map(String::as_str).unwrap_or("default")
        ));
    }
    if let Some(id) = &k.deleted_inactive_key_id {
        let verb = if k.dry_run { "would delete" } else { "deleted" };
        out.push_str(&format!(
            "{INDENT}{verb} the user's Inactive key {id} to make room\n"
        ));
    }
    if !k.timings.is_empty() {
        let steps: Vec<String> = k
            .timings
            .iter()
            .map(|(name, d)| {
                if *name == "verify" && k.verify_attempts > 1 {
                    format!(
                        "{name} {} ({} attempts)",
                        human_duration(*d),
                        k.verify_attempts
                    )
                } else {
                    format!("{name} {}", human_duration(*d))
                }
            })
            .collect();
        let total: Duration = k.timings.iter().map(|(_, d)| *d).sum();
        let requests = format!(
            "{} AWS request{}",
            k.requests,
            if k.requests == 1 { "" } else { "s" }
        );
        // Each step's time only with -v: the line is long.
        if output.verbose > 0 {
            out.push_str(&format!(
                "{INDENT}{} · total {} · {requests}\n",
                steps.join(" · "),
                human_duration(total),
            ));
        } else {
            out.push_str(&format!(
                "{INDENT}done in {} · {requests}\n",
                human_duration(total)
            ));
        }
    }
    out
}

/// The `--json` object.
pub fn json(report: &Report, exit_code: i32) -> Value {
    json!({
        "version": 1,
        "dry_run": report.dry_run,
        "in_flight": report.in_flight,
        "credentials_file": report.credentials_file.display().to_string(),
        "keys": report.keys.iter().map(json_key).collect::<Vec<_>>(),
        "skipped": report.skipped.iter().map(|(p, r)| json!({"profile": p, "reason": r.to_string()})).collect::<Vec<_>>(),
        "settled": {
            "deleted": report.settled.deleted,
            "undone": report.settled.undone,
            "reactivated": report.settled.reactivated,
        },
        "requests": report.requests,
        "exit_code": exit_code,
    })
}

fn json_key(k: &KeyReport) -> Value {
    let phases: serde_json::Map<String, Value> = k
        .timings
        .iter()
        .map(|(n, d)| (n.to_string(), json!(ms(*d))))
        .collect();
    json!({
        "profiles": k.profiles,
        "user_arn": k.user_arn,
        "old_key_id": k.old_key_id,
        "new_key_id": k.new_key_id,
        "outcome": k.outcome.name(),
        "resumed_from": k.resumed_from.map(|p| p.name()),
        "orphans_deleted": k.orphans_deleted,
        "phase": k.phase.map(|p| p.name()),
        "deleted_inactive_key_id": k.deleted_inactive_key_id,
        "old_key_inactive_until": k.grace_until.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "phases_ms": phases,
        "total_ms": ms(k.timings.iter().map(|(_, d)| *d).sum()),
        "verify_attempts": k.verify_attempts,
        "mfa": {"needed": k.mfa_serial.is_some() || k.mfa_needed, "serial": k.mfa_serial},
        "hooks": k.hooks.iter().map(|(c, h)| json!({"command": c, "result": h.name()})).collect::<Vec<_>>(),
        "hooks_skipped": k.hooks_skipped,
        "warnings": k.warnings,
        "requests": k.requests,
        "error": k.error.as_ref().map(json_error),
    })
}

/// An error as JSON: its kind, exit code and message.
pub fn json_error(e: &Error) -> Value {
    json!({"kind": crate::commands::exit::kind(e), "exit_code": crate::commands::exit::code(e), "message": e.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of a key's summary is indented under the profile names, none shows a
    /// placeholder: `{INDENT}` once reached the terminal as written, for `--no-hooks` and for a
    /// key whose account needs MFA.
    #[test]
    fn every_further_line_is_indented_and_no_placeholder_is_shown() {
        let mut k = KeyReport::new(vec!["work".into()], "AKIAOLD".into(), true);
        k.outcome = Outcome::Planned;
        k.hooks_skipped = true;
        k.mfa_needed = true;
        k.warnings.push("a warning".into());
        let text = human_key(
            &k,
            &Output {
                verbose: 0,
                quiet: false,
                color: false,
            },
        );
        assert!(!text.contains('{') && !text.contains('}'), "{text}");
        for line in text.lines().skip(1) {
            assert!(line.starts_with(INDENT), "{line:?} in\n{text}");
        }
        assert!(
            text.contains(&format!("{INDENT}hooks skipped (--no-hooks)")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{INDENT}needs MFA: the account denies")),
            "{text}"
        );
    }
}
