//! `keyrot-agent status`: one row per profile, from what is known locally: the credentials and
//! config files, the key cache, the history, the journal and the config's schedule. It makes no
//! AWS call unless asked to (`--refresh`), so it works offline.
//!
//! Building the rows is a pure function of those inputs and "now"; the command around it reads
//! them and prints.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::core::config::Config;
use crate::core::profiles::Profile;
use crate::core::schedule::{self, KeyAge, Status};
use crate::state::cache::KeyDates;
use crate::state::failures::LastError;
use crate::state::history::HistoryLine;
use crate::state::journal::Record;

/// The last finished rotation of a profile, from the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRotation {
    pub time: String,
    pub outcome: String,
}

/// One row of the status table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub profile: String,
    /// The key id with its middle masked, e.g. `AKIA…WXYZ`, for the table.
    pub key: Option<String>,
    /// The whole key id (ids are not secrets), for `--json`: scripts join it with `now --json`.
    pub key_id: Option<String>,
    pub user: Option<String>,
    pub age_days: Option<i64>,
    pub due_at: Option<OffsetDateTime>,
    /// `ok`, `warn`, `due`, `unknown` (no creation date cached), `unmanaged` (excluded by the
    /// config) or `skipped` (no long-term key).
    pub state: String,
    pub storage: &'static str,
    pub last_rotation: Option<LastRotation>,
    /// A rotation in flight, or why the profile is skipped.
    pub note: Option<String>,
    /// The last rotation that failed, until one succeeds.
    pub last_error: Option<LastError>,
    /// Set when managing the key needs MFA (a device is named, or IAM said so).
    pub mfa: Option<MfaRow>,
    /// The key's description in IAM as keyrot-agent set it, or why it could not.
    pub description: Option<Result<String, String>>,
    /// What the user should know that does not stop rotation (a client that sees no key here).
    pub warnings: Vec<String>,
}

/// What `status` knows about a key that needs MFA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaRow {
    /// The device named for the profile (none: IAM said MFA is needed, and none is named).
    pub serial: Option<String>,
    /// Whether `mfa_process` lets the agent rotate it by itself.
    pub unattended: bool,
}

/// `AKIA…WXYZ`: enough to tell keys apart, not the whole id.
pub fn mask(key_id: &str) -> String {
    if key_id.len() <= 8 {
        return key_id.to_string();
    }
    format!("{}…{}", &key_id[..4], &key_id[key_id.len() - 4..])
}

/// What the table shows of a profile's last history line.
fn last_rotation(line: &HistoryLine) -> LastRotation {
    LastRotation {
        time: line
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        outcome: line.outcome.name().to_string(),
    }
}

/// Builds the rows.
pub fn rows(
    profiles: &[Profile],
    cache: &BTreeMap<String, KeyDates>,
    config: &Config,
    history: &BTreeMap<String, HistoryLine>,
    failures: &BTreeMap<String, LastError>,
    in_flight: &[Record],
    now: OffsetDateTime,
) -> Vec<Row> {
    let mut out = Vec::new();
    for p in profiles {
        let last_rotation = history.get(&p.name).map(last_rotation);
        let last_error = failures.get(&p.name).cloned();
        let flight = in_flight
            .iter()
            .find(|r| r.profiles.contains(&p.name))
            .map(|r| {
                format!(
                    "rotation in flight ({} → {}, after step '{}'): run keyrot-agent recover",
                    r.old_key_id,
                    r.new_key_id.as_deref().unwrap_or("?"),
                    r.phase.name()
                )
            });
        let Ok(key) = &p.status else {
            let reason = p.status.as_ref().err().map(|r| r.to_string());
            out.push(Row {
                profile: p.name.clone(),
                key: None,
                key_id: None,
                user: None,
                age_days: None,
                due_at: None,
                state: "skipped".into(),
                storage: if matches!(
                    p.status,
                    Err(crate::core::profiles::SkipReason::InKeyring
                        | crate::core::profiles::SkipReason::KeyringUnreadable(_))
                ) {
                    "keyring"
                } else if matches!(
                    p.status,
                    Err(crate::core::profiles::SkipReason::IncompleteKeyPair { .. }
                        | crate::core::profiles::SkipReason::NotAnIamUserKey
                        | crate::core::profiles::SkipReason::TemporaryCredentials
                        | crate::core::profiles::SkipReason::KeysAndCredentialProcess)
                ) {
                    // Keys in the file, that keyrot-agent does not rotate.
                    "file"
                } else {
                    // No key of its own anywhere (SSO, a role, credential_process, none).
                    "-"
                },
                last_rotation,
                note: flight.or(reason),
                last_error,
                mfa: None,
                description: None,
                warnings: Vec::new(),
            });
            continue;
        };
        let dates = cache.get(&key.access_key_id);
        let created = dates.and_then(|d| d.created);
        let (state, due_at) = match created {
            _ if !config.manages(&p.name) => ("unmanaged".to_string(), None),
            None => ("unknown".to_string(), None),
            Some(created) => {
                let plan = schedule::evaluate(
                    &[KeyAge {
                        profile: p.name.clone(),
                        key_id: key.access_key_id.clone(),
                        created,
                    }],
                    config,
                    now,
                );
                let d = &plan.decisions[0];
                let state = match d.status {
                    Status::Ok => "ok",
                    Status::Warn => "warn",
                    Status::Due => "due",
                };
                (state.to_string(), Some(d.due_at))
            }
        };
        out.push(Row {
            profile: p.name.clone(),
            key: Some(mask(&key.access_key_id)),
            key_id: Some(key.access_key_id.clone()),
            user: dates.map(|d| d.user_arn.clone()),
            age_days: created.map(|c| (now - c).whole_days()),
            due_at,
            state,
            storage: key.storage.name(),
            last_rotation,
            note: flight.or_else(|| {
                (created.is_none() && config.manages(&p.name))
                    .then(|| "age unknown: run keyrot-agent status --refresh".to_string())
            }),
            last_error,
            mfa: None,
            description: dates.and_then(|d| d.description.clone()),
            warnings: Vec::new(),
        });
    }
    out
}

fn date(d: Option<OffsetDateTime>) -> String {
    d.map(|d| {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        d.format(&f).unwrap_or_default()
    })
    .unwrap_or_else(|| "-".into())
}

/// The table, with the state coloured when `color` is set.
pub fn table(rows: &[Row], color: bool) -> String {
    use crate::core::redact::printable;
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                printable(&r.profile).into_owned(),
                r.key.clone().unwrap_or_else(|| "-".into()),
                r.user
                    .as_deref()
                    .and_then(|u| u.rsplit(':').next())
                    .unwrap_or("-")
                    .to_string(),
                r.age_days
                    .map(|d| format!("{d}d"))
                    .unwrap_or_else(|| "-".into()),
                date(r.due_at),
                r.state.clone(),
                r.storage.to_string(),
                r.last_rotation
                    .as_ref()
                    .map(|l| {
                        // The history's outcome names (rolled_back) as words.
                        format!(
                            "{} {}",
                            l.time.get(..10).unwrap_or(&l.time),
                            l.outcome.replace('_', " ")
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = [
        "PROFILE",
        "KEY",
        "USER",
        "AGE",
        "DUE",
        "STATE",
        "STORAGE",
        "LAST ROTATION",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            widths[i] = widths[i].max(v.chars().count());
        }
    }
    let mut out = String::new();
    let line = |vals: &[String], out: &mut String, state_color: Option<&str>| {
        for (i, v) in vals.iter().enumerate() {
            let pad = widths[i] - v.chars().count();
            match (i, state_color) {
                (5, Some(code)) => out.push_str(&format!("\x1b[{code}m{v}\x1b[0m")),
                _ => out.push_str(v),
            }
            if i + 1 < vals.len() {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(&header.map(String::from), &mut out, None);
    for (r, c) in rows.iter().zip(&cells) {
        let code = match r.state.as_str() {
            "due" => Some("31"),
            "warn" => Some("33"),
            "ok" => Some("32"),
            _ => None,
        };
        line(c, &mut out, if color { code } else { None });
        if let Some(note) = &r.note {
            out.push_str(&format!("  └ {}\n", printable(note)));
        }
        if let Some(Ok(d)) = &r.description {
            out.push_str(&format!("  └ {}\n", printable(d)));
        }
        for w in &r.warnings {
            out.push_str(&format!("  └ warning: {}\n", printable(w)));
        }
        if let Some(e) = &r.last_error {
            let when = e
                .time
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap_or_default();
            out.push_str(&format!(
                "  └ last error ({when} UTC): {}\n",
                printable(&first_line_of(&e.message))
            ));
        }
    }
    out
}

/// The first line of an error message, cut to fit a table's note; the whole message is in
/// `status --json` (an AccessDenied can carry a whole policy).
fn first_line_of(message: &str) -> String {
    const MAX: usize = 160;
    let first = message.lines().next().unwrap_or_default();
    let more = first.len() < message.trim_end().len();
    let mut out: String = first.chars().take(MAX).collect();
    if more || first.chars().count() > MAX {
        out.push_str(" … (the whole message: keyrot-agent status --json)");
    }
    out
}

pub fn json(rows: &[Row]) -> Value {
    json!({
        "version": 1,
        "profiles": rows.iter().map(|r| json!({
            "profile": r.profile,
            "key": r.key,
            "key_id": r.key_id,
            "user": r.user,
            "age_days": r.age_days,
            "due_at": r.due_at.and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok()),
            "state": r.state,
            "storage": r.storage,
            "last_rotation": r.last_rotation.as_ref().map(|l| json!({"time": l.time, "outcome": l.outcome})),
            "note": r.note,
            "mfa": r.mfa.as_ref().map(|m| json!({"serial": m.serial, "unattended": m.unattended})),
            "description": r.description.as_ref().and_then(|d| d.as_ref().ok()),
            "description_error": r.description.as_ref().and_then(|d| d.as_ref().err()),
            "warnings": r.warnings,
            "last_error": r.last_error.as_ref().map(|e| json!({
                "time": e.time.format(&time::format_description::well_known::Rfc3339).ok(),
                "kind": e.kind,
                "message": e.message,
            })),
        })).collect::<Vec<_>>(),
    })
}

/// `keyrot-agent status`: reads what is known locally (and, with `refresh`, asks AWS for the
/// keys' creation dates), and returns the rows.
pub async fn run(
    paths: &crate::edge::paths::Paths,
    refresh: bool,
) -> Result<Vec<Row>, crate::engine::error::Error> {
    let local = crate::engine::local::load(paths)?;
    let profiles = &local.profiles;
    let config = crate::engine::local::agent_config(paths)?;
    local.warn_unknown_tables(&config);
    let cache = crate::state::cache::Cache::new(paths.key_cache_file());
    if refresh {
        let sessions = crate::commands::run::mfa_sessions(paths, None);
        let failed = crate::engine::dates::refresh(
            profiles,
            &cache,
            &crate::state::mfa::MfaFile::new(paths.mfa_file()),
            |p| local.signing(p, &config, &sessions),
            |_, _| true,
        )
        .await;
        for (profile, e) in &failed {
            crate::commands::run::record_failure(paths, profile, e);
        }
    }
    let history = crate::state::history::History::new(paths.history_file()).last_per_profile();
    let in_flight = crate::state::journal::Journal::new(paths.journal_file())
        .load()
        .unwrap_or_default();
    let dates = cache.load();
    let mut rows = rows(
        profiles,
        &dates,
        &config,
        &history,
        &crate::state::failures::Failures::new(paths.failures_file()).load(),
        &in_flight,
        OffsetDateTime::now_utc(),
    );
    // Keys brought back by `undo`, and old keys waiting out their grace.
    let grace = crate::state::grace::GraceFile::new(paths.grace_file())
        .load()
        .unwrap_or_default();
    let mfa = crate::state::mfa::MfaFile::new(paths.mfa_file());
    for (row, p) in rows.iter_mut().zip(profiles) {
        let Ok(key) = &p.status else { continue };
        let device = local.mfa_device(&p.name, &config);
        let learned = dates
            .get(&key.access_key_id)
            .is_some_and(|d| mfa.needs_mfa(&d.user_arn));
        if device.is_some() || learned {
            let unattended = device.as_ref().is_some_and(|d| d.process.is_some());
            if !unattended && matches!(row.state.as_str(), "due" | "unknown") {
                row.state = "needs MFA".into();
                row.note = Some(if device.is_some() {
                    format!(
                        "needs your MFA code: run keyrot-agent now --profile {}",
                        p.name
                    )
                } else {
                    format!(
                        "the account requires MFA to manage this key: set mfa_serial for it in ~/.aws/config, then run keyrot-agent now --profile {}",
                        p.name
                    )
                });
            }
            row.mfa = Some(MfaRow {
                serial: device.map(|d| d.serial),
                unattended,
            });
        }
        if grace.held.contains(&key.access_key_id) {
            row.state = "held".into();
            row.note.get_or_insert_with(|| {
                format!(
                    "brought back by undo: the agent leaves it until you run keyrot-agent now --profile {}",
                    p.name
                )
            });
        }
        if let Some(e) = grace
            .entries
            .iter()
            .find(|e| e.new_key_id == key.access_key_id)
        {
            let until = e
                .delete_after
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap_or_default();
            row.note.get_or_insert_with(|| {
                format!(
                    "old key {} is Inactive until {until} UTC (keyrot-agent undo --profile {} brings it back)",
                    e.old_key_id, p.name
                )
            });
        }
    }
    for (unseen, at) in local.javascript_warnings(paths) {
        if let Some(row) = rows.iter_mut().find(|r| r.profile == unseen.profile) {
            row.warnings.push(format!("{at}: {unseen}"));
        }
    }
    // Last, and only when nothing more pressing is said: why a key has no description.
    for row in &mut rows {
        if let (None, Some(Err(why))) = (&row.note, &row.description) {
            row.note = Some(format!(
                "keyrot-agent could not give this key its description in IAM ({why}); add the optional iam:TagUser and iam:UntagUser to the policy to see which machine holds which key"
            ));
        }
    }
    Ok(rows)
}

/// `keyrot-agent status --compliance [--json]`: exit 0 only when every key passes every control.
fn compliance(json: bool) -> i32 {
    let subjects = crate::commands::run::run_command(json, |paths| async move {
        let sessions = crate::commands::run::mfa_sessions(&paths, None);
        crate::engine::compliance::run(&paths, &sessions).await
    });
    let subjects = match subjects {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = if subjects.iter().all(|s| s.passed()) {
        crate::commands::exit::OK
    } else {
        crate::commands::exit::NOT_COMPLIANT
    };
    let text = if json {
        json!({
            "version": 1,
            "keys": subjects.iter().map(|s| json!({
                "profiles": s.profiles,
                "key_id": s.key_id,
                "user": s.user_arn,
                "compliant": s.passed(),
                "controls": s.findings.iter().map(|f| json!({
                    "ids": f.control.ids(),
                    "title": f.control.title(),
                    "verdict": f.verdict.name(),
                    "detail": f.detail,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "compliant": code == crate::commands::exit::OK,
            "exit_code": code,
        })
        .to_string()
            + "\n"
    } else {
        let mut out = String::new();
        for s in &subjects {
            out.push_str(&format!(
                "{}  {}  {}\n",
                s.profiles.join(", "),
                s.key_id.as_deref().unwrap_or("(key not readable)"),
                s.user_arn.as_deref().unwrap_or("(user unknown)")
            ));
            for f in &s.findings {
                let mark = f.verdict.mark();
                out.push_str(&format!(
                    "  {mark}  {} ({}): {}\n",
                    f.control,
                    f.control.title(),
                    f.detail
                ));
            }
        }
        let passed = subjects.iter().filter(|s| s.passed()).count();
        out.push_str(&match subjects.len() {
            0 => "no profile holds a long-term access key: nothing to check\n".to_string(),
            n if passed == n => format!("all {n} key(s) compliant\n"),
            n => format!("{passed} of {n} key(s) compliant\n"),
        });
        out
    };
    print!("{}", crate::core::redact::for_terminal(&text));
    code
}

/// `keyrot-agent status …`.
pub fn command(args: crate::commands::cli::StatusArgs) -> i32 {
    if args.compliance {
        return compliance(args.json);
    }
    let rows = crate::commands::run::run_command(args.json, |paths| async move {
        run(&paths, args.refresh).await
    });
    match rows {
        Ok(rows) => {
            if args.json {
                println!(
                    "{}",
                    crate::core::redact::for_terminal(&json(&rows).to_string())
                );
            } else {
                let color = crate::commands::run::output().color;
                print!(
                    "{}",
                    crate::core::redact::for_terminal(&table(&rows, color))
                );
            }
            crate::commands::exit::OK
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::credentials::{FileKind, parse};
    use crate::core::profiles::classify;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    #[test]
    fn rows_from_local_knowledge() {
        let creds = parse(
            b"[default]\naws_access_key_id = AKIAAAAAAAAAAAAA0001\naws_secret_access_key = secret0001xx\n[fresh]\naws_access_key_id = AKIAAAAAAAAAAAAA0002\naws_secret_access_key = secret0002xx\n[sso]\nsso_session = x\n",
            FileKind::Credentials,
        )
        .unwrap();
        let profiles = classify(&creds, None);
        let mut cache = BTreeMap::new();
        cache.insert(
            "AKIAAAAAAAAAAAAA0001".to_string(),
            KeyDates {
                created: Some(NOW - time::Duration::days(100)),
                user_arn: "arn:aws:iam::1:user/alice".into(),
                checked_at: NOW,
                description: None,
            },
        );
        let history = crate::state::history::last_per_profile(
            "{\"time\":\"2026-03-01T00:00:00Z\",\"profiles\":[\"default\"],\"old_key_id\":\"AKIA0\",\"new_key_id\":\"AKIAAAAAAAAAAAAA0001\",\"outcome\":\"rotated\"}\nnot json\n",
        );
        let mut failures = BTreeMap::new();
        failures.insert(
            "fresh".to_string(),
            LastError {
                time: NOW - time::Duration::hours(2),
                kind: "unreachable".into(),
                message: "cannot reach AWS".into(),
            },
        );
        let rows = rows(
            &profiles,
            &cache,
            &Config::default(),
            &history,
            &failures,
            &[],
            NOW,
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].state, "due");
        assert_eq!(rows[0].key.as_deref(), Some("AKIA…0001"));
        assert_eq!(rows[0].age_days, Some(100));
        assert_eq!(rows[0].last_rotation.as_ref().unwrap().outcome, "rotated");
        assert_eq!(rows[1].state, "unknown");
        assert!(rows[1].note.as_ref().unwrap().contains("--refresh"));
        assert_eq!(rows[2].state, "skipped");
        let plain = table(&rows, false);
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.contains("last error (2026-05-31 22:00 UTC): cannot reach AWS"),
            "{plain}"
        );
        assert_eq!(
            json(&rows)["profiles"][1]["last_error"]["kind"],
            "unreachable"
        );
        assert!(plain.contains("alice"));
        assert!(table(&rows, true).contains("\x1b[31mdue"));
        assert!(!json(&rows).to_string().contains("secret"));
    }

    #[test]
    fn masking() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask("short"), "short");
    }
}
