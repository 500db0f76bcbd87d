//! `keyrot-agent service install | uninstall | status` in a temp HOME: each kind writes exactly
//! its file, which the platform's own tools accept (`systemd-analyze verify`, Python's
//! `plistlib`, `desktop-file-validate`), and uninstall removes exactly it. `status` warns about a
//! unit that starts a missing or another program. Where a systemd user manager can be started
//! (root, `unshare`), the unit is also started for real and the agent seen running.
//!
//! None of these tests needs AWS: the endpoint is a closed port.

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Run, TestEnv};

const NO_AWS: &str = "http://127.0.0.1:9";
const BIN: &str = env!("CARGO_BIN_EXE_keyrot-agent");

fn env() -> TestEnv {
    TestEnv::with_endpoint(NO_AWS)
}

/// Every file and directory under the test's temp dir, relative, directories with a trailing
/// `/`; the state dir (the agent's lock and logs) is left out.
fn tree(env: &TestEnv) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "state" || rel == "runtime" {
                continue;
            }
            if path.is_dir() && !path.is_symlink() {
                out.insert(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(env.dir.path(), env.dir.path(), &mut out);
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn added(before: &BTreeSet<String>, after: &BTreeSet<String>) -> BTreeSet<String> {
    after.difference(before).cloned().collect()
}

/// Runs `exe` (a copy or link of the binary) in the test's environment.
fn run_exe(env: &TestEnv, exe: &Path, args: &[&str]) -> Run {
    let out = Command::new(exe)
        .args(args)
        .env_clear()
        .envs(env.env())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(
        found,
        "{tool} is needed for this test: install the Debian package {package} (scripts/test.sh does)"
    );
}

/// A private 0700 runtime dir, which `systemd-analyze --user` and `systemd --user` need.
fn runtime_dir(env: &TestEnv) -> PathBuf {
    let dir = env.dir.path().join("runtime");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    dir
}

#[track_caller]
fn systemd_verify(env: &TestEnv, unit: &Path) {
    require("systemd-analyze", "systemd");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(unit)
        .env_clear()
        .envs(env.env())
        .env("XDG_RUNTIME_DIR", runtime_dir(env))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify --user {}:\n{}{}\n{}",
        unit.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(unit).unwrap()
    );
}

/// `systemd-analyze security --user` rates the unit's exposure at most `limit` (0 is fully
/// sandboxed, 10 not at all; the unit without its sandbox rated 9.6).
#[track_caller]
fn systemd_exposure_at_most(env: &TestEnv, unit: &Path, limit: f64) {
    require("systemd-analyze", "systemd");
    // A runtime dir of its own, outside the tree the caller compares.
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--user", "--offline=true", "--no-pager"])
        .arg(unit)
        .env_clear()
        .envs(env.env())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("keyrot-agent.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= limit, "exposure {level} > {limit}:\n{text}");
}

/// The plist as Python's `plistlib` reads it, as JSON.
#[track_caller]
fn plistlib(plist: &Path) -> serde_json::Value {
    let out = Command::new(support::python())
        .args([
            "-c",
            "import json, plistlib, sys\nwith open(sys.argv[1], 'rb') as f:\n    print(json.dumps(plistlib.load(f)))",
        ])
        .arg(plist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plistlib refused {}: {}",
        plist.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[track_caller]
fn desktop_validate(entry: &Path) {
    require("desktop-file-validate", "desktop-file-utils");
    let out = Command::new("desktop-file-validate")
        .arg(entry)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !said.contains("error"),
        "desktop-file-validate {}: {said}\n{}",
        entry.display(),
        std::fs::read_to_string(entry).unwrap()
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn unit_path(env: &TestEnv) -> PathBuf {
    env.dir
        .path()
        .join("config/systemd/user/keyrot-agent.service")
}

fn plist_path(env: &TestEnv) -> PathBuf {
    env.home
        .join("Library/LaunchAgents/io.github.keyrot-agent.plist")
}

fn desktop_path(env: &TestEnv) -> PathBuf {
    env.dir.path().join("config/autostart/keyrot-agent.desktop")
}

#[test]
fn systemd_install_writes_exactly_the_unit_and_uninstall_removes_it() {
    let env = env();
    let before = tree(&env);
    let run = env.run(&["service", "install", "--kind", "systemd", "--no-start"]);
    run.success();
    let unit = unit_path(&env);
    assert!(
        run.stdout.contains(&unit.display().to_string()),
        "{}",
        run.stdout
    );
    let after = tree(&env);
    assert_eq!(
        added(&before, &after),
        set(&[
            "config/",
            "config/systemd/",
            "config/systemd/user/",
            "config/systemd/user/keyrot-agent.service",
        ])
    );
    assert_eq!(mode(&unit), 0o644);
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains(&format!("\nExecStart={BIN} run\n")), "{text}");
    assert!(text.contains("\nLimitCORE=0\n"), "{text}");
    systemd_verify(&env, &unit);
    systemd_exposure_at_most(&env, &unit, 4.5);

    // status: installed, starts this program, no warning.
    let v = env.run(&["service", "status", "--json"]).success().json();
    let systemd = &v["services"][0];
    assert_eq!(systemd["kind"], "systemd");
    assert_eq!(systemd["installed"], true);
    assert_eq!(systemd["exe"], BIN);
    assert_eq!(systemd["is_this_exe"], true);
    assert!(systemd["warning"].is_null(), "{v}");
    assert_eq!(v["agent"]["running"], false);

    // Installing again changes nothing else.
    env.run(&["service", "install", "--kind", "systemd", "--no-start"])
        .success();
    assert_eq!(tree(&env), after);

    let run = env.run(&["service", "uninstall", "--kind", "systemd", "--no-start"]);
    run.success();
    assert!(run.stdout.contains("removed"), "{}", run.stdout);
    assert_eq!(
        added(&tree(&env), &after),
        set(&["config/systemd/user/keyrot-agent.service"])
    );
    assert_eq!(
        added(&before, &tree(&env)),
        set(&["config/", "config/systemd/", "config/systemd/user/"])
    );
}

#[test]
fn launchd_install_writes_a_plist_that_plistlib_reads_with_the_required_keys() {
    let env = env();
    let before = tree(&env);
    env.run(&["service", "install", "--kind", "launchd", "--no-start"])
        .success();
    let after = tree(&env);
    assert_eq!(
        added(&before, &after),
        set(&[
            "home/Library/",
            "home/Library/LaunchAgents/",
            "home/Library/LaunchAgents/io.github.keyrot-agent.plist",
            "home/Library/Logs/",
            "home/Library/Logs/keyrot-agent/",
        ])
    );
    let plist = plist_path(&env);
    assert_eq!(mode(&plist), 0o644);
    let v = plistlib(&plist);
    let log = env
        .home
        .join("Library/Logs/keyrot-agent/agent.log")
        .display()
        .to_string();
    assert_eq!(v["Label"], "io.github.keyrot-agent");
    assert_eq!(v["ProgramArguments"], serde_json::json!([BIN, "run"]));
    assert_eq!(v["RunAtLoad"], true);
    assert_eq!(v["KeepAlive"]["SuccessfulExit"], false);
    assert_eq!(v["ProcessType"], "Background");
    assert_eq!(v["StandardOutPath"], log.as_str());
    assert_eq!(v["StandardErrorPath"], log.as_str());

    let status = env.run(&["service", "status", "--json"]).success().json();
    let launchd = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "launchd")
        .expect("an installed launchd service is listed on Linux too")
        .clone();
    assert_eq!(launchd["exe"], BIN);
    assert!(launchd["warning"].is_null(), "{status}");

    env.run(&["service", "uninstall", "--kind", "launchd", "--no-start"])
        .success();
    // The plist and keyrot-agent's (empty) log directory go.
    assert_eq!(
        added(&before, &tree(&env)),
        set(&[
            "home/Library/",
            "home/Library/LaunchAgents/",
            "home/Library/Logs/"
        ])
    );
}

#[test]
fn autostart_install_writes_a_valid_desktop_entry_and_uninstall_removes_it() {
    let env = env();
    let before = tree(&env);
    env.run(&["service", "install", "--kind", "autostart", "--no-start"])
        .success();
    let after = tree(&env);
    assert_eq!(
        added(&before, &after),
        set(&[
            "config/",
            "config/autostart/",
            "config/autostart/keyrot-agent.desktop",
        ])
    );
    let entry = desktop_path(&env);
    assert_eq!(mode(&entry), 0o644);
    desktop_validate(&entry);
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains(&format!("\nExec={BIN} run\n")), "{text}");

    env.run(&["service", "uninstall", "--kind", "autostart", "--no-start"])
        .success();
    assert_eq!(
        added(&before, &tree(&env)),
        set(&["config/", "config/autostart/"])
    );
}

#[test]
fn dry_run_prints_the_file_and_its_destination_and_writes_nothing() {
    let env = env();
    let before = tree(&env);
    for (kind, path, marker) in [
        ("systemd", unit_path(&env), "ExecStart="),
        ("launchd", plist_path(&env), "<key>ProgramArguments</key>"),
        ("autostart", desktop_path(&env), "Exec="),
    ] {
        let run = env.run(&["service", "install", "--kind", kind, "--dry-run"]);
        run.success();
        assert!(
            run.stdout.contains(&path.display().to_string()) && run.stdout.contains(marker),
            "{kind}: {}",
            run.stdout
        );
        assert!(run.stdout.contains(BIN), "{}", run.stdout);
    }
    assert_eq!(tree(&env), before);
    assert!(!env.state_dir().exists());
}

/// A program path with spaces and the characters each format escapes: every file still names
/// it exactly, by the platform tools' own reading.
#[test]
fn a_program_under_an_odd_path_is_named_exactly_in_every_format() {
    let env = env();
    let dir = env.dir.path().join("odd dir/100% $HOME &<a>;(b) #c");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("keyrot-agent");
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    let exe_text = exe.display().to_string();
    for kind in ["systemd", "launchd", "autostart"] {
        run_exe(
            &env,
            &exe,
            &["service", "install", "--kind", kind, "--no-start"],
        )
        .success();
    }
    // systemd finds the program (verify fails on an ExecStart that is not executable).
    let unit = std::fs::read_to_string(unit_path(&env)).unwrap();
    assert!(unit.contains("%%"), "{unit}");
    systemd_verify(&env, &unit_path(&env));
    assert_eq!(
        plistlib(&plist_path(&env))["ProgramArguments"][0],
        exe_text.as_str()
    );
    desktop_validate(&desktop_path(&env));

    let v = run_exe(&env, &exe, &["service", "status", "--json"])
        .success()
        .json();
    for s in v["services"].as_array().unwrap() {
        assert_eq!(s["exe"], exe_text.as_str(), "{v}");
        assert_eq!(s["is_this_exe"], true, "{v}");
    }
    // Seen from the real binary, each starts another program.
    let other = env.run(&["service", "status", "--json"]).success().json();
    for s in other["services"].as_array().unwrap() {
        assert_eq!(s["is_this_exe"], false, "{other}");
        assert!(
            s["warning"]
                .as_str()
                .unwrap()
                .contains("not this keyrot-agent"),
            "{other}"
        );
    }
}

#[test]
fn status_warns_when_the_unit_starts_a_missing_or_another_program() {
    let env = env();
    let unit = unit_path(&env);
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();

    // Written by hand, pointing at a program that is gone.
    let gone = env.dir.path().join("old/keyrot-agent");
    std::fs::write(
        &unit,
        format!(
            "[Unit]\nDescription=old\n\n[Service]\nExecStart={} run\n",
            gone.display()
        ),
    )
    .unwrap();
    let run = env.run(&["service", "status"]);
    run.success();
    assert!(
        run.stdout.contains("does not exist any more")
            && run.stdout.contains("keyrot-agent service install"),
        "{}",
        run.stdout
    );
    let v = env.run(&["service", "status", "--json"]).success().json();
    let s = &v["services"][0];
    assert_eq!(s["exe"], gone.display().to_string().as_str());
    assert_eq!(s["exe_exists"], false);
    assert!(
        s["warning"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );

    // Pointing at a program that exists but is not this one.
    std::fs::write(&unit, "[Service]\nExecStart=/bin/sh run\n").unwrap();
    let run = env.run(&["service", "status"]);
    run.success();
    assert!(
        run.stdout.contains("/bin/sh") && run.stdout.contains("not this keyrot-agent"),
        "{}",
        run.stdout
    );
    let v = env.run(&["service", "status", "--json"]).success().json();
    assert_eq!(v["services"][0]["exe_exists"], true);
    assert_eq!(v["services"][0]["is_this_exe"], false);

    // Installing again points it at this one, and the warning goes.
    env.run(&["service", "install", "--kind", "systemd", "--no-start"])
        .success();
    let v = env.run(&["service", "status", "--json"]).success().json();
    assert!(v["services"][0]["warning"].is_null(), "{v}");
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn uninstall_with_nothing_installed_says_so_and_succeeds() {
    let env = env();
    let before = tree(&env);
    let run = env.run(&["service", "uninstall"]);
    run.success();
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    let run = env.run(&["service", "uninstall", "--kind", "launchd"]);
    run.success();
    assert!(run.stdout.contains("no launchd service"), "{}", run.stdout);
    assert_eq!(tree(&env), before);
}

/// Stops a process on drop (SIGTERM), so that a failed assertion leaves nothing running.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0, libc::SIGTERM) };
    }
}

/// Stops a child on drop: SIGTERM, then SIGKILL if it lingers, and reaps it.
struct StopChild(std::process::Child);

impl Drop for StopChild {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(self.0.try_wait(), Ok(None)) {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent_pid(env: &TestEnv, extra: &[(&str, &Path)]) -> Option<u64> {
    let mut cmd = env.command();
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.args(["service", "status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["agent"]["running"] == true).then(|| v["agent"]["pid"].as_u64().unwrap())
}

#[test]
fn autostart_install_also_starts_the_agent_once() {
    let env = env();
    let run = env.run(&["service", "install", "--kind", "autostart"]);
    run.success();
    // The pid install printed is the agent's; it holds the agent's lock once it is up.
    let printed: i32 = run
        .stdout
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {}", run.stdout));
    let _guard = KillOnDrop(printed);
    let mut pid = None;
    wait_for(
        "the agent to take its lock",
        Duration::from_secs(20),
        || {
            pid = agent_pid(&env, &[]);
            pid.is_some()
        },
    );
    let pid = pid.unwrap();
    assert_eq!(pid, printed as u64);
    assert!(run.stdout.contains(&format!("pid {pid}")), "{}", run.stdout);
    let human = env.run(&["service", "status"]).success().stdout.clone();
    assert!(human.contains(&format!("running (pid {pid})")), "{human}");
    // Installing again does not start a second one.
    let again = env.run(&["service", "install", "--kind", "autostart"]);
    again.success();
    assert!(again.stdout.contains("already running"), "{}", again.stdout);

    let run = env.run(&["service", "uninstall", "--kind", "autostart"]);
    run.success();
    assert!(
        run.stdout.contains(&format!("kill {pid}")),
        "{}",
        run.stdout
    );
    assert!(!desktop_path(&env).exists());
}

/// Where a systemd user manager can run (root, `unshare`, systemd installed), the unit is
/// installed without `--no-start`, systemd starts the agent, and uninstall stops it.
///
/// `systemd --user` refuses to run unless the system was booted with systemd (it checks
/// `/run/systemd/system`); in a container without systemd as PID 1, a private mount namespace
/// with a tmpfs on `/run/systemd` gives it that directory without touching the host's.
#[test]
fn a_real_systemd_user_manager_starts_and_stops_the_agent() {
    let systemd = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(systemd) = systemd else {
        eprintln!("skipped: systemd is not installed");
        return;
    };
    if unsafe { libc::geteuid() } != 0 || !Path::new("/run/systemd").is_dir() {
        eprintln!("skipped: needs root and /run/systemd to give systemd --user a namespace");
        return;
    }
    let env = env();
    let runtime = runtime_dir(&env);
    let script = format!(
        "mount -t tmpfs tmpfs /run/systemd || exit 77; mkdir /run/systemd/system; exec {} --user",
        systemd.display()
    );
    let mut manager_env: Vec<(String, OsString)> = env.env();
    manager_env.push(("XDG_RUNTIME_DIR".into(), runtime.clone().into()));
    let manager = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_clear()
        .envs(manager_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(manager) = manager else {
        eprintln!("skipped: unshare is not available");
        return;
    };
    let mut manager = StopChild(manager);
    let socket = runtime.join("systemd/private");
    let start = Instant::now();
    while !socket.exists() {
        if let Ok(Some(status)) = manager.0.try_wait() {
            let mut said = String::new();
            use std::io::Read;
            let _ = manager.0.stderr.take().unwrap().read_to_string(&mut said);
            eprintln!("skipped: systemd --user could not start here ({status}): {said}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "systemd --user did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let systemctl = |args: &[&str]| -> String {
        let out = Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env_clear()
            .envs(manager_env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let xdg: [(&str, &Path); 1] = [("XDG_RUNTIME_DIR", &runtime)];
    let run_with_runtime = |args: &[&str]| {
        let out = env
            .command()
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(args)
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    let install = run_with_runtime(&["service", "install", "--kind", "systemd"]);
    install.success();
    assert!(install.stdout.contains("started"), "{}", install.stdout);
    let mut pid = None;
    wait_for(
        "the agent to come up under systemd",
        Duration::from_secs(30),
        || {
            pid = agent_pid(&env, &xdg);
            pid.is_some()
        },
    );
    let pid = pid.unwrap();
    assert_eq!(systemctl(&["is-active", "keyrot-agent.service"]), "active");
    assert_eq!(
        systemctl(&["is-enabled", "keyrot-agent.service"]),
        "enabled"
    );
    assert_eq!(
        systemctl(&[
            "show",
            "--property=MainPID",
            "--value",
            "keyrot-agent.service"
        ]),
        pid.to_string()
    );

    let uninstall = run_with_runtime(&["service", "uninstall", "--kind", "systemd"]);
    uninstall.success();
    assert!(uninstall.stdout.contains("stopped"), "{}", uninstall.stdout);
    wait_for("the agent to stop", Duration::from_secs(30), || {
        agent_pid(&env, &xdg).is_none()
    });
    assert!(!unit_path(&env).exists());
    assert!(
        !env.dir
            .path()
            .join("config/systemd/user/default.target.wants/keyrot-agent.service")
            .exists()
    );
}
