//! The shell completion scripts and the manual page the packages ship (`packaging/completions/`,
//! `packaging/man/`) are exactly what `keyrot-agent completions` and `keyrot-agent man` print
//! now: a command or option added without regenerating them fails here. Regenerate with
//! `KEYROT_UPDATE_DOCS=1 cargo test --test docs`. And the README's "try it locally by hand"
//! recipe works as written.

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

/// The README's "Try it locally" recipe, run as written (with this build first on `PATH`, as
/// step 1 of "Getting started" would put it there): moto, a user with the policy moto needs, a
/// throwaway credentials file, `doctor`, `now --dry-run`, `now`, and the AWS CLI reading the new
/// key. It starts and stops its own moto.
#[test]
fn the_readme_recipe_by_hand_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let at = readme
        .find("By hand, the same thing is")
        .expect("the README's by-hand recipe");
    let start = readme[at..].find("```sh\n").unwrap() + at + "```sh\n".len();
    let end = readme[start..].find("```\n").unwrap() + start;
    let recipe = &readme[start..end];
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_keyrot-agent"))
        .parent()
        .unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", recipe])
        .current_dir(root)
        .env("PATH", path)
        // Nothing of the caller's AWS or desktop setup is used.
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/keyrot-test-no-bus",
        );
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("would rotate default"), "{stdout}");
    assert!(stdout.contains("rotated      default"), "{stdout}");
    assert!(stdout.contains(":user/alice"), "{stdout}");
    // IAM holds one key, Active, and it is not the first one.
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("\tActive"), "{stdout}");
    assert!(!stdout.contains("Traceback"), "{stdout}\n{stderr}");
}

/// CI runs exactly the test command the README opens with (its second line), from the root.
#[test]
fn ci_runs_the_readme_s_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).unwrap();
    let test_line = block.lines().nth(1).unwrap();
    let command = test_line.split('#').next().unwrap().trim();
    assert_eq!(command, "bash scripts/test.sh");
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run must run `{command}` as README.md gives it"
    );
    assert!(
        ci.contains("cd \"$(dirname \"$0\")/..\""),
        "from the repository root"
    );
}
