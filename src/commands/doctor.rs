//! `keyrot-agent doctor`: one line per check (`--json`: one object), exit 0 only when nothing
//! failed; a check that could not be made without changing something says so, and does not fail.

use crate::commands::exit;
use crate::commands::run::run_command;
use crate::engine::doctor::{Check, Verdict};

/// `keyrot-agent doctor …`.
pub fn command(json: bool) -> i32 {
    let checks = match run_command(json, |paths| async move {
        Ok::<_, crate::engine::error::Error>(crate::engine::doctor::run(&paths).await)
    }) {
        Ok(checks) => checks,
        Err(code) => return code,
    };
    let code = if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        exit::DOCTOR
    } else {
        exit::OK
    };
    let text = if json {
        serde_json::json!({
            "version": 1,
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
        human(&checks)
    };
    print!("{}", crate::core::redact::for_terminal(&text));
    code
}

fn human(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Pass => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "??  ",
        };
        out.push_str(&format!("{mark} {}: {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     fix: {fix}\n"));
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    out.push_str(&if failed == 0 {
        "everything keyrot-agent needs is in place\n".to_string()
    } else {
        format!("{failed} check(s) failed\n")
    });
    out
}
