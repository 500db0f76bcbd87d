//! `keyrot-agent doctor`: one line per check (`--json`: one object), exit 0 only when nothing
//! failed; a check that could not be made without changing something says so, and does not fail.
//! `--fix` first makes the one change that is safe to make (setting names in lower case), under
//! the lock, then checks.

use std::time::Duration;

use crate::commands::exit;
use crate::commands::run::{begin, run_command};
use crate::edge::aws::RequestCounter;
use crate::engine::doctor::{Check, Renamed, Verdict};

/// How long the recovery before `--fix` waits for IAM at each step: short, since `--fix` itself
/// needs no AWS and changes nothing while a rotation stays in flight (`recover` waits longer).
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// `keyrot-agent doctor …`.
pub fn command(json: bool, fix: bool) -> i32 {
    let result = run_command(json, |paths| async move {
        let renamed = if fix {
            // As every command that changes something: a rotation an interrupted run left is
            // finished first, and said.
            let (_lock, recovered) =
                begin(&paths, RECOVERY_TIMEOUT, &RequestCounter::default()).await?;
            for r in &recovered {
                eprintln!(
                    "keyrot-agent: first finished a rotation an interrupted run left: {} {} → {} ({})",
                    r.profiles.join(", "),
                    r.old_key_id,
                    r.new_key_id.as_deref().unwrap_or("-"),
                    r.outcome.name()
                );
            }
            Some(crate::engine::doctor::fix(&paths)?)
        } else {
            None
        };
        Ok::<_, crate::engine::error::Error>((
            renamed,
            crate::engine::doctor::run(&paths).await,
            paths.credentials.clone(),
        ))
    });
    let (renamed, checks, path) = match result {
        Ok(done) => done,
        Err(code) => return code,
    };
    let code = if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        exit::DOCTOR
    } else {
        exit::OK
    };
    let text = if json {
        serde_json::json!({
            "version": 2,
            "fixed": renamed.as_ref().map(|r| r.iter().map(|r| serde_json::json!({
                "line": r.line,
                "from": r.from,
                "to": r.to,
            })).collect::<Vec<_>>()),
            "checks": checks.iter().map(|c| serde_json::json!({
                "name": c.name,
                "verdict": c.verdict.name(),
                "detail": c.detail,
                "fix": c.fix,
            })).collect::<Vec<_>>(),
            "exit_code": code,
        })
        .to_string()
            + "\n"
    } else {
        renamed.map(|r| fixed(&r, &path)).unwrap_or_default() + &human(&checks)
    };
    print!("{}", crate::core::redact::for_terminal(&text));
    code
}

/// What `--fix` changed, a line each.
fn fixed(renamed: &[Renamed], path: &std::path::Path) -> String {
    if renamed.is_empty() {
        return format!(
            "--fix: nothing to fix in {}: its setting names are in lower case\n",
            path.display()
        );
    }
    renamed
        .iter()
        .map(|r| {
            format!(
                "fixed {}:{}: {} → {}\n",
                path.display(),
                r.line,
                crate::core::redact::printable(&r.from),
                r.to
            )
        })
        .collect()
}

fn human(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = c.verdict.mark();
        out.push_str(&format!("{mark} {}: {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     fix: {fix}\n"));
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "everything keyrot-agent needs is in place\n".to_string(),
        (0, w) => format!("everything keyrot-agent needs is in place; {w} warning(s)\n"),
        (f, _) => format!("{f} check(s) failed\n"),
    });
    out
}
