//! The shell completion scripts and the manual page the packages ship (`packaging/completions/`,
//! `packaging/man/`) are exactly what `keyrot-agent completions` and `keyrot-agent man` print
//! now: a command or option added without regenerating them fails here. Regenerate with
//! `KEYROT_UPDATE_DOCS=1 cargo test --test docs`.

use std::path::Path;
use std::process::Command;

fn check(args: &[&str], file: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyrot-agent"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    if std::env::var_os("KEYROT_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
        return;
    }
    let shipped = std::fs::read(&path).unwrap_or_default();
    assert!(
        shipped == out.stdout,
        "{file} is not what `keyrot-agent {}` prints; run KEYROT_UPDATE_DOCS=1 cargo test --test docs",
        args.join(" ")
    );
}

#[test]
fn the_shipped_completions_and_man_page_are_current() {
    check(
        &["completions", "bash"],
        "packaging/completions/keyrot-agent.bash",
    );
    check(
        &["completions", "zsh"],
        "packaging/completions/_keyrot-agent",
    );
    check(
        &["completions", "fish"],
        "packaging/completions/keyrot-agent.fish",
    );
    check(&["man"], "packaging/man/keyrot-agent.1");
}

/// The bash script is valid bash, and completes the subcommands (the hidden
/// credential-process aside).
#[test]
fn the_bash_completion_completes_commands() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/completions/keyrot-agent.bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(keyrot-agent st); COMP_CWORD=1; _keyrot__agent keyrot-agent st keyrot-agent; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(words.lines().any(|w| w == "status"), "{words}");
}
