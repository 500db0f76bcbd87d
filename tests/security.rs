//! Hardening, each test a gap a red-team review found: keyrot-agent trusts nothing in its state
//! directory that it cannot tie to the user, never deletes a key the user made Active again,
//! reads only bounded regular files, keeps secrets out of files others can reach, refuses a
//! cleartext endpoint, and prints nothing from outside raw to the terminal.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::proxy::{Failure, Proxy};
use support::{Run, TestEnv, moto, profile};

/// The uid that plays "someone else on this machine".
const OTHER_UID: u32 = 65534;

/// Runs `cmd` as `OTHER_UID` through the real `setpriv`.
fn as_other(args: &[&str]) {
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &OTHER_UID.to_string(),
            "--regid",
            &OTHER_UID.to_string(),
            "--clear-groups",
        ])
        .args(args)
        .output()
        .expect("setpriv");
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// A command's end, its wall time and its peak memory (KiB), killed if it outlives `limit`.
struct Bounded {
    run: Run,
    elapsed: Duration,
    max_rss_kib: i64,
}

// The child is reaped by wait4 (which also gives its peak memory), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_bounded(mut cmd: Command, limit: Duration) -> Bounded {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let start = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            return Bounded {
                run: Run {
                    code,
                    stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
                    stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
                },
                elapsed: start.elapsed(),
                max_rss_kib: usage.ru_maxrss,
            };
        }
        if start.elapsed() > limit {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!(
                "{cmd:?} did not end within {limit:?}; stderr: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---- 1. The state directory and its files ----

/// A state directory another uid made first (a shared XDG_STATE_HOME), with a `lock` link to a
/// private file of the victim: refused before anything is opened through it.
#[test]
fn a_state_directory_someone_else_made_is_refused_and_nothing_is_touched() {
    let user = moto().user("foreigndir");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    chmod(env.credentials_path().parent().unwrap(), 0o700);
    chmod(&env.credentials_path(), 0o600);
    let shared = env.dir.path().join("state");
    std::fs::create_dir(&shared).unwrap();
    chmod(env.dir.path(), 0o755);
    chmod(&shared, 0o1777);
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    chmod(&victim, 0o600);
    let planted = env.state_dir();
    as_other(&["mkdir", "-m", "0755", planted.to_str().unwrap()]);
    as_other(&[
        "ln",
        "-s",
        victim.to_str().unwrap(),
        planted.join("lock").to_str().unwrap(),
    ]);

    for args in [&["now", "--dry-run"][..], &["now"], &["recover"]] {
        let run = env.run(args);
        run.failure(3);
        assert!(
            run.stderr.contains("belongs to uid 65534"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("Nothing was changed"), "{}", run.stderr);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(env.key_pair("default").0, user.key_id);
}

#[test]
fn a_state_directory_others_can_write_or_a_linked_one_is_refused() {
    let user = moto().user("opendir");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    let state = env.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o777);
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(
        run.stderr.contains("can be written by others"),
        "{}",
        run.stderr
    );

    std::fs::remove_dir(&state).unwrap();
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    chmod(&elsewhere, 0o700);
    std::os::unix::fs::symlink(&elsewhere, &state).unwrap();
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Even in the user's own directory, the lock is never opened through a link.
#[test]
fn a_lock_link_truncates_nothing() {
    let user = moto().user("locklink");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    let state = env.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o700);
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, state.join("lock")).unwrap();
    let run = env.run(&["now", "--dry-run"]);
    run.failure(3);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

fn grace_json(env: &TestEnv) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.state_dir().join("grace.json")).unwrap()).unwrap()
}

fn write_grace_json(env: &TestEnv, v: &serde_json::Value) {
    std::fs::write(
        env.state_dir().join("grace.json"),
        serde_json::to_vec_pretty(v).unwrap(),
    )
    .unwrap();
}

/// A grace record planted in the user's state directory, naming an unrelated Active key of the
/// user (one their CI uses) as an "old key" whose grace is over: the key is not deleted.
#[test]
fn a_planted_grace_record_never_gets_an_active_key_deleted() {
    // A real record, as a template.
    let template_user = moto().user("gracetemplate");
    let mut template = TestEnv::new();
    template.use_config("grace = \"1s\"\n");
    template.write_credentials(profile("default", &template_user));
    template.run(&["now"]).success();
    let mut v = grace_json(&template);

    let user = moto().user("plantgrace");
    let (ci_key, ci_secret) = moto().add_key(&user);
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    env.run(&["status"]).success();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    chmod(&env.state_dir(), 0o700);
    let entry = &mut v["entries"][0];
    entry["user_arn"] = user.arn.clone().into();
    entry["old_key_id"] = ci_key.clone().into();
    entry["old_secret"] = ci_secret.clone().into();
    entry["new_key_id"] = user.key_id.clone().into();
    entry["delete_after"] = "2020-01-01T00:00:00Z".into();
    write_grace_json(&env, &v);

    let run = env.run(&["recover", "--json"]);
    run.success();
    let mut keys = moto().keys(&user);
    keys.sort();
    let mut want = vec![(ci_key.clone(), true), (user.key_id.clone(), true)];
    want.sort();
    assert_eq!(keys, want, "the Active key was deleted");
    let out = run.json();
    assert_eq!(out["settled"]["reactivated"][0], ci_key.as_str(), "{out}");
    run.assert_no_secret(&[&ci_secret, &user.secret]);
}

/// Gap 2: the user made the old key Active again during its grace (their CI needed it). When
/// the grace ends it is left alone, the user is told once, and it is held like a key `undo`
/// brought back.
#[test]
fn a_key_made_active_again_during_its_grace_is_left_alone_and_told_once() {
    let user = moto().user("reactivated");
    let mut env = TestEnv::new();
    env.use_config("grace = \"1s\"\n");
    env.write_credentials(profile("default", &user));
    env.run(&["now"]).success();
    let new = env.key_pair("default").0;
    moto().set_active(&user, &user.key_id, true);
    std::thread::sleep(Duration::from_millis(1500));

    let run = env.run(&["recover"]);
    run.success();
    assert!(
        run.stdout.contains(&user.key_id) && run.stdout.contains("Active again"),
        "{}",
        run.stdout
    );
    let mut keys = moto().keys(&user);
    keys.sort();
    let mut want = vec![(user.key_id.clone(), true), (new.clone(), true)];
    want.sort();
    assert_eq!(keys, want);
    // Told once: the record is gone, and the next run says nothing of it.
    let grace = env.state_dir().join("grace.json");
    assert!(!grace.exists() || grace_json(&env)["entries"].as_array().unwrap().is_empty());
    let again = env.run(&["recover"]);
    again.success();
    assert!(!again.stdout.contains("Active again"), "{}", again.stdout);
    assert_eq!(moto().keys(&user).len(), 2);
}

/// A journal record whose new key is someone else's (planted after a crash): refused, and the
/// victim's file keeps the victim's key.
#[test]
fn a_journal_record_with_another_users_key_is_refused() {
    let victim = moto().user("journalvictim");
    let stranger = moto().user("journalstranger");
    let env = TestEnv::new();
    let original = profile("default", &victim);
    env.write_credentials(&original);
    env.assert_crashes_at("after-verify", &["now"]);
    let path = env.state_dir().join("rotation.journal");
    let mut journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let record = &mut journal["rotations"][0];
    record["new_key_id"] = stranger.key_id.clone().into();
    record["new_secret"] = stranger.secret.clone().into();
    std::fs::write(&path, serde_json::to_vec(&journal).unwrap()).unwrap();

    for args in [&["recover"][..], &["now"]] {
        let run = env.run(args);
        run.failure(3);
        assert!(
            run.stderr.contains("does not match") && run.stderr.contains(&stranger.arn),
            "{}",
            run.stderr
        );
        run.assert_no_secret(&[&victim.secret, &stranger.secret]);
        assert_eq!(env.credentials_text(), original);
        assert!(path.exists(), "the record is kept for the user to look at");
    }
    assert_eq!(
        moto().keys(&stranger),
        vec![(stranger.key_id.clone(), true)]
    );
}

// ---- 3. Non-regular and unbounded inputs ----

fn assert_refused_quickly(env: &TestEnv, args: &[&str], says: &str) {
    let mut cmd = env.command();
    cmd.args(args);
    let b = run_bounded(cmd, Duration::from_secs(20));
    b.run.failure(3);
    assert!(b.run.stderr.contains(says), "{args:?}: {}", b.run.stderr);
    assert!(b.max_rss_kib < 64 * 1024, "{args:?}: {} KiB", b.max_rss_kib);
    assert!(!env.state_dir().join("credentials.backup").exists());
}

#[test]
fn a_fifo_or_a_device_as_the_credentials_file_is_refused_without_blocking() {
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    let path = env.credentials_path();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for args in [&["status"][..], &["now"], &["now", "--dry-run"]] {
        assert_refused_quickly(&env, args, "is not a regular file (it is a FIFO)");
    }
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    for args in [&["status"][..], &["now"]] {
        assert_refused_quickly(&env, args, "(it is a device)");
    }
}

#[test]
fn a_huge_credentials_file_is_refused_in_bounded_memory() {
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    let file = std::fs::File::create(env.credentials_path()).unwrap();
    file.set_len(200 * 1024 * 1024).unwrap();
    for args in [&["status"][..], &["now"]] {
        assert_refused_quickly(&env, args, "is larger than keyrot-agent reads");
    }
}

/// 40,000 sections in the credentials file and 80,000 in the config file: read, checked and
/// classified in linear time (these took about a minute each with a quadratic parse).
#[test]
fn many_profiles_are_read_in_linear_time() {
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    let mut creds = String::new();
    for i in 0..40_000 {
        creds.push_str(&format!("[p{i}]\nregion = us-east-1\n"));
    }
    env.write_credentials(&creds);
    let mut config = String::new();
    for i in 0..80_000 {
        config.push_str(&format!("[profile c{i}]\nregion = eu-west-1\n"));
    }
    env.write_config(&config);
    let mut cmd = env.command();
    cmd.args(["status", "--json"]);
    // A generous bound that only a quadratic parse misses (debug build, shared CI machine).
    let b = run_bounded(cmd, Duration::from_secs(60));
    b.run.success();
    let v = b.run.json();
    assert_eq!(v["profiles"].as_array().unwrap().len(), 120_000);
    eprintln!("120,000 profiles: {:?}, {} KiB", b.elapsed, b.max_rss_kib);
}

// ---- 6. Permissions ----

#[test]
fn a_credentials_file_others_can_write_is_refused_then_fixed_on_request() {
    let user = moto().user("perms");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let dir = env.credentials_path().parent().unwrap().to_path_buf();
    chmod(&dir, 0o777);
    chmod(&env.credentials_path(), 0o666);
    for args in [&["now"][..], &["status"]] {
        let run = env.run(args);
        run.failure(3);
        assert!(
            run.stderr.contains("can be written by others") && run.stderr.contains("chmod"),
            "{}",
            run.stderr
        );
        assert_eq!(env.credentials_text(), original);
    }
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);

    let run = env.run(&["now", "--fix-permissions"]);
    run.success();
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(mode(&dir) & 0o022, 0);
    assert_ne!(env.key_pair("default").0, user.key_id);
}

#[test]
fn a_credentials_file_others_can_read_gets_a_warning_and_keeps_its_mode() {
    let user = moto().user("readable");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    chmod(&env.credentials_path(), 0o644);
    let status = env.run(&["status"]);
    status.success();
    assert!(
        status.stderr.contains("can be read by other users"),
        "{}",
        status.stderr
    );
    let run = env.run(&["now"]);
    run.success();
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    // The new file is never wider than the old.
    assert_eq!(mode(&env.credentials_path()), 0o644);
}

// ---- 7. The backup ----

#[test]
fn no_backup_outlives_a_rotation_nor_keeps_a_removed_profile() {
    let user = moto().user("backup");
    let gone = moto().user("backupgone");
    let env = TestEnv::new();
    env.write_credentials(format!(
        "{}{}",
        profile("default", &user),
        profile("removed", &gone)
    ));
    env.run(&["now"]).success();
    // The user removes a profile; the next rotation must not leave its secret behind.
    env.write_credentials(
        profile("default", &user)
            .replace(&user.key_id, &env.key_pair("default").0)
            .replace(&user.secret, &env.key_pair("default").1),
    );
    env.run(&["now"]).success();
    let backup = env.state_dir().join("credentials.backup");
    assert!(!backup.exists());
    for entry in std::fs::read_dir(env.state_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&gone.secret));
        assert!(!text.contains(&user.secret));
    }
}

// ---- 8. Endpoints ----

#[test]
fn a_cleartext_endpoint_off_this_machine_is_refused() {
    let user = moto().user("cleartext");
    let env = TestEnv::with_endpoint("http://192.0.2.1:5000");
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(
        run.stderr.contains("AWS_ENDPOINT_URL") && run.stderr.contains("--allow-insecure-endpoint"),
        "{}",
        run.stderr
    );
    // From the config file too, with its line.
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    env.write_config("[default]\nregion = us-east-1\nendpoint_url = http://iam.example.com\n");
    let mut cmd = env.command();
    cmd.env_remove("AWS_ENDPOINT_URL").arg("now");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config:3"), "{err}");
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

// ---- 10. Output ----

#[test]
fn escape_sequences_in_an_aws_error_never_reach_the_terminal() {
    let user = moto().user("escape");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    proxy.fail(
        "CreateAccessKey",
        Failure {
            status: 400,
            code: "InvalidInput",
            // C1 controls (8-bit CSI and OSC), which XML allows and terminals obey: a link, a
            // cleared screen, red text.
            message: "no \u{9d}8;;https://evil.example/\u{9c}click here\u{9d}8;;\u{9c} \u{9b}2J\u{9b}31mred".into(),
        },
    );
    for args in [&["now"][..], &["now", "--json"]] {
        let run = env.run(args);
        assert_ne!(run.code, Some(0));
        for out in [&run.stdout, &run.stderr] {
            for c in ['\u{9b}', '\u{9c}', '\u{9d}', '\u{1b}'] {
                assert!(!out.contains(c), "{out:?}");
            }
        }
        assert!(run.stderr.contains("click here"), "{}", run.stderr);
    }
}

#[test]
fn control_characters_in_a_profile_name_are_not_printed() {
    let user = moto().user("ctlname");
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    env.write_credentials(profile("evil\u{1b}name\u{7}x\u{9b}", &user));
    for args in [&["status"][..], &["now"]] {
        let run = env.run(args);
        assert_ne!(run.code, Some(0));
        for out in [&run.stdout, &run.stderr] {
            for c in ['\u{1b}', '\u{7}', '\u{9b}'] {
                assert!(!out.contains(c), "{out:?}");
            }
        }
        assert!(run.stderr.contains("evil"), "{}", run.stderr);
    }
}

#[test]
fn secrets_of_the_config_file_are_scrubbed_too() {
    let user = moto().user("cfgsecret");
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    env.write_credentials(profile("default", &user));
    let secret = "cfgSECRETcfgSECRETcfgSECRETcfgSECRET0000";
    env.write_config(&format!(
        "[profile inconfig]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\naws_secret_access_key = {secret}\n"
    ));
    let run = {
        let mut cmd = env.command();
        cmd.env("KEYROT_LOG", "trace").args(["status", "--json"]);
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    };
    run.success();
    run.assert_no_secret(&[secret]);
}

// ---- 4. A keyring that never answers ----

/// A session bus that accepts connections and never says a word.
fn silent_bus(dir: &Path) -> (String, std::thread::JoinHandle<()>) {
    let path = dir.join("silent-bus");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => return,
            }
        }
    });
    (format!("unix:path={}", path.display()), handle)
}

fn keyring_profile_env(user: &support::User) -> (TestEnv, String) {
    let mut env = TestEnv::with_endpoint(&moto().url);
    env.write_credentials(format!(
        "[default]\ncredential_process = {} credential-process --profile default\n",
        env!("CARGO_BIN_EXE_keyrot-agent")
    ));
    let _ = user;
    let (addr, _bus) = silent_bus(env.dir.path());
    env.extra_env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), addr.clone()));
    (env, addr)
}

#[test]
fn a_keyring_that_never_answers_costs_seconds_not_forever() {
    let user = moto().user("silentbus");
    let (env, _) = keyring_profile_env(&user);

    // What every AWS client of an adopted profile runs: an error within about 10 s.
    let mut cmd = env.command();
    cmd.args(["credential-process", "--profile", "default"]);
    let b = run_bounded(cmd, Duration::from_secs(25));
    b.run.failure(15);
    assert!(
        b.run.stderr.contains("did not answer within 10 s"),
        "{}",
        b.run.stderr
    );
    assert!(b.elapsed < Duration::from_secs(20), "{:?}", b.elapsed);

    // And the AWS CLI gets that error instead of hanging.
    let start = Instant::now();
    let cli = env.aws(&["sts", "get-caller-identity", "--profile", "default"]);
    assert_ne!(cli.code, Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(40),
        "{:?}",
        start.elapsed()
    );

    // `now` ends too (the deadline elsewhere is about 30 s), with the keyring's exit code.
    let mut cmd = env.command();
    cmd.args(["now"]);
    let b = run_bounded(cmd, Duration::from_secs(60));
    assert!(
        b.run.stderr.contains("did not answer"),
        "{:?}: {}",
        b.run.code,
        b.run.stderr
    );
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

#[test]
fn the_agent_stops_on_sigterm_while_the_keyring_hangs() {
    let user = moto().user("silentagent");
    let (env, _) = keyring_profile_env(&user);
    let mut cmd = env.command();
    cmd.args(["run", "--no-notify"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Let it get stuck in the keyring.
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the agent ended early");
    let sent = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "{status:?}");
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the agent ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- 5. No secret in a core dump ----

/// keyrot-agent makes itself undumpable before it reads a secret: no core file (RLIMIT_CORE
/// 0), and no core through a dump helper or ptrace by the same user (the dumpable flag, which
/// makes its /proc files root's). Checked on a long-running process, run as another uid so
/// that the flag is visible.
#[test]
fn a_running_keyrot_agent_cannot_be_dumped_or_attached() {
    let user = moto().user("nodump");
    let env = TestEnv::with_endpoint(&moto().url);
    env.write_credentials(profile("default", &user));
    chmod(env.dir.path(), 0o755);
    chmod(&env.home, 0o755);
    chmod(env.credentials_path().parent().unwrap(), 0o755);
    chmod(&env.credentials_path(), 0o644);
    let shared = env.dir.path().join("state");
    std::fs::create_dir_all(&shared).unwrap();
    chmod(&shared, 0o1777);
    for d in ["config", "data", "cache"] {
        let p = env.dir.path().join(d);
        std::fs::create_dir_all(&p).unwrap();
        chmod(&p, 0o1777);
    }
    let mut cmd = env.command();
    cmd.args(["run", "--no-notify"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .uid(OTHER_UID)
        .gid(OTHER_UID);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    // An undumpable process's /proc files belong to root, not to the user it runs as.
    use std::os::unix::fs::MetadataExt;
    let environ = std::fs::metadata(format!("/proc/{pid}/environ")).unwrap();
    assert_eq!(environ.uid(), 0, "the process is dumpable");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
}

// ---- CreateAccessKey's answer, and where the new key must go ----

/// A forging endpoint answers CreateAccessKey with a secret that holds a newline. It is never
/// written; the new key is deleted at once, and the message says what happened (it used to say
/// "changed by another program").
#[test]
fn a_forged_secret_that_cannot_be_written_is_refused_and_its_key_deleted() {
    let user = moto().user("forged");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    proxy.forge_secret("forgedSECRETforgedSECRET&#10;[evil]");
    let run = env.run(&["now", "--json"]);
    run.failure(9);
    assert_eq!(run.json()["keys"][0]["error"]["kind"], "malformed_key");
    assert!(run.stderr.contains("cannot be written"), "{}", run.stderr);
    run.assert_no_secret(&[&user.secret]);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert!(!env.state_dir().join("rotation.journal").exists());
}

/// An `~/.aws` the user cannot write into is found before a key is created, not after (it
/// used to be found at the write, then rolled back). Run as a second uid: root writes anywhere.
#[test]
fn an_unwritable_aws_directory_is_found_before_any_key_is_created() {
    let user = moto().user("rodir");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    let status = Command::new("chown")
        .args(["-R", &format!("{OTHER_UID}:{OTHER_UID}")])
        .arg(env.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    chmod(env.credentials_path().parent().unwrap(), 0o555);
    let out = env
        .command()
        .arg("now")
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(16), "{stderr}");
    assert!(stderr.contains("cannot write into"), "{stderr}");
    assert!(
        !proxy.seen().iter().any(|s| s.action == "CreateAccessKey"),
        "a key was created"
    );
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

/// A slow endpoint: CreateAccessKey's answer is lost at once and its key lands only after the
/// sweep has looked, so the retry meets LimitExceeded. That key is swept again and deleted,
/// and the rotation finishes; no key whose secret nobody has is left behind (it used to be,
/// with exit 8).
#[test]
fn a_key_that_lands_after_the_sweep_looked_is_swept_again_not_left_behind() {
    let user = moto().user("latecreate");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    proxy.late_create(Duration::from_millis(400));
    let run = env.run(&["now"]);
    run.success();
    let (new, _) = env.key_pair("default");
    assert_ne!(new, user.key_id);
    assert_eq!(
        moto().keys(&user),
        vec![(new, true)],
        "a key was left behind"
    );
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.action == "CreateAccessKey")
        .map(|s| s.status)
        .collect::<Vec<_>>();
    assert!(creates.len() >= 3, "{creates:?}");
}
