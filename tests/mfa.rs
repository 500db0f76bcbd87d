//! Keys of users whose policy requires MFA for key management, end to end: moto behind the
//! test proxy, which enforces AWS's documented self-service policy ("manage your own
//! credentials, with MFA") as IAM does (explicit deny for long-term keys, GetSessionToken with
//! a one-time code, session-signed calls re-signed for moto). Checked with the real AWS CLI.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::proxy::Proxy;
use support::{TestEnv, User, moto, profile};

/// Codes that appear nowhere else in the tests' output (not in moto's account id).
const CODE: &str = "482913";
const SECOND_CODE: &str = "730518";

/// The IAM actions a rotation makes.
const IAM_ACTIONS: &[&str] = &[
    "ListAccessKeys",
    "GetAccessKeyLastUsed",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
];

struct Setup {
    user: User,
    proxy: Proxy,
    env: TestEnv,
    serial: String,
}

/// A user under the MFA policy, its key in profile `work`, its device named in ~/.aws/config
/// (or not, with `device` false).
fn setup(prefix: &str, device: bool) -> Setup {
    let user = moto().user(prefix);
    let proxy = Proxy::start(&moto().url);
    let serial = format!("arn:aws:iam::123456789012:mfa/{}", user.name);
    proxy.require_mfa(&user, &serial);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    if device {
        env.write_config(&format!(
            "[profile work]\nregion = us-east-1\nmfa_serial = {serial}\n"
        ));
    } else {
        env.write_config("[profile work]\nregion = us-east-1\n");
    }
    Setup {
        user,
        proxy,
        env,
        serial,
    }
}

/// The rotation ended well: the real AWS CLI works with the file's new key, IAM holds only it.
#[track_caller]
fn assert_rotated(s: &Setup) -> String {
    let (new, _) = s.env.key_pair("work");
    assert_ne!(new, s.user.key_id, "not rotated");
    assert_eq!(s.env.cli_identity("work"), s.user.arn);
    assert_eq!(moto().keys(&s.user), vec![(new.clone(), true)]);
    assert!(
        !s.env.state_dir().join("rotation.journal").exists(),
        "a journal was left"
    );
    new
}

/// Every IAM call the proxy saw carried the session token; exactly `sessions` GetSessionToken.
#[track_caller]
fn assert_all_iam_signed_with_sessions(proxy: &Proxy, sessions: usize) {
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| IAM_ACTIONS.contains(&s.action.as_str()))
    );
    assert_eq!(proxy.key_management_without_session(), Vec::<String>::new());
    let tokens = seen
        .iter()
        .filter(|s| s.action == "GetSessionToken")
        .count();
    assert_eq!(tokens, sessions, "{seen:#?}");
    for m in proxy.sessions() {
        assert_eq!(m.duration_secs, 900);
        assert!(m.with_mfa);
    }
}

/// Nothing a command printed holds the code, a session secret or a session token.
#[track_caller]
fn assert_nothing_leaked(run: &support::Run, proxy: &Proxy, extra: &[&str]) {
    let mut secrets: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    for m in proxy.sessions() {
        secrets.push(m.secret.clone());
        secrets.push(m.token.clone());
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    run.assert_no_secret(&refs);
}

#[test]
fn a_code_on_the_command_line_signs_the_whole_rotation_with_one_session() {
    let s = setup("mfa-flag", true);
    s.proxy.accept_mfa_code(&s.serial, CODE);
    let run = s
        .env
        .command()
        .env("RUST_LOG", "trace")
        .args(["now", "--profile", "work", "--mfa-code", CODE, "--json"])
        .output()
        .unwrap();
    let run = support::Run {
        code: run.status.code(),
        stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
    };
    run.success();
    let new = assert_rotated(&s);
    assert_all_iam_signed_with_sessions(&s.proxy, 1);
    let minted = &s.proxy.sessions()[0];
    assert_eq!(
        minted.parent_key_id, s.user.key_id,
        "signed with the old key"
    );
    let v = run.json();
    assert_eq!(v["keys"][0]["new_key_id"], new.as_str());
    assert_eq!(v["keys"][0]["mfa"]["needed"], true);
    assert_eq!(v["keys"][0]["mfa"]["serial"], s.serial.as_str());
    // A plain rotation's seven requests, GetAccessKeyLastUsed for the old key, TagUser for the
    // new key's description, and one GetSessionToken.
    assert_eq!(v["keys"][0]["requests"], 10, "{v}");
    // GetCallerIdentity with the keys themselves (no session): the new key is proven as itself.
    assert!(
        s.proxy
            .seen()
            .iter()
            .filter(|x| x.action == "GetCallerIdentity")
            .all(|x| !x.session)
    );
    // At trace level, neither the code nor the session's secret or token is printed.
    assert!(run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"));
    assert_nothing_leaked(&run, &s.proxy, &[CODE, &s.user.secret]);
    for file in ["rotation.journal", "history.jsonl", "mfa.json", "keys.json"] {
        let text = std::fs::read_to_string(s.env.state_dir().join(file)).unwrap_or_default();
        for m in s.proxy.sessions() {
            assert!(
                !text.contains(&m.secret) && !text.contains(&m.token),
                "{file}"
            );
        }
        assert!(!text.contains(CODE), "{file}");
    }
}

#[test]
fn mfa_process_gives_the_code_and_sees_no_secret() {
    let mut s = setup("mfa-process", true);
    s.proxy.accept_mfa_code(&s.serial, CODE);
    let script = s.env.dir.path().join("code.sh");
    let seen_env = s.env.dir.path().join("env.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv > '{}'\necho \"  {CODE}  \"\n",
            seen_env.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    s.env.use_config(&format!(
        "[profile.work]\nmfa_process = \"{}\"\n",
        script.display()
    ));
    let run = s.env.run(&["now", "--profile", "work"]);
    run.success();
    assert_rotated(&s);
    assert_all_iam_signed_with_sessions(&s.proxy, 1);
    assert_nothing_leaked(&run, &s.proxy, &[CODE]);
    let env = std::fs::read_to_string(&seen_env).unwrap();
    assert!(
        env.contains(&format!("KEYROT_MFA_SERIAL={}", s.serial)),
        "{env}"
    );
    assert!(env.contains("KEYROT_PROFILE=work"), "{env}");
    assert!(!env.contains(&s.user.secret), "the process saw a secret");
    assert!(!env.contains("AWS_SECRET_ACCESS_KEY"), "{env}");
}

#[test]
fn a_terminal_is_asked_for_the_code_without_echo() {
    let s = setup("mfa-tty", true);
    s.proxy.accept_mfa_code(&s.serial, CODE);
    let command = format!(
        "{} now --profile work",
        std::env::var("KEYROT_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyrot-agent").to_string())
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .envs(s.env.env())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    let mut text = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&text).contains("MFA code for") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no prompt: {}",
            String::from_utf8_lossy(&text)
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            text.extend(chunk);
        }
    }
    // Typed once the prompt is up: echo is off by then.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{CODE}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "it never ended");
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            text.extend(chunk);
        }
    };
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(300)) {
        text.extend(chunk);
    }
    drop(stdin);
    let text = String::from_utf8_lossy(&text).into_owned();
    assert!(status.success(), "{text}");
    assert!(
        text.contains(&format!("MFA code for {} (profile work)", s.serial)),
        "{text}"
    );
    assert!(!text.contains(CODE), "the code was echoed: {text}");
    assert_rotated(&s);
    assert_all_iam_signed_with_sessions(&s.proxy, 1);
}

#[test]
fn without_a_device_the_explicit_deny_is_explained_and_remembered() {
    let s = setup("mfa-nodevice", false);
    let before = s.env.credentials();
    let run = s.env.run(&["now", "--profile", "work"]);
    run.failure(17);
    assert!(
        run.stderr.contains("requires MFA for key management"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("mfa_serial = arn:aws:iam::ACCOUNT:mfa/NAME in [profile work]"),
        "{}",
        run.stderr
    );
    assert_eq!(s.env.credentials(), before);
    assert_eq!(moto().keys(&s.user), vec![(s.user.key_id.clone(), true)]);
    let json = s.env.run(&["now", "--profile", "work", "--json"]);
    json.failure(17);
    let v = json.json();
    assert_eq!(v["keys"][0]["error"]["kind"], "mfa_required");
    assert_eq!(v["keys"][0]["mfa"]["needed"], true);
    // Remembered: status says so without asking AWS.
    let requests = s.proxy.seen().len();
    let status = s.env.run(&["status", "--json"]);
    status.success();
    let row = &status.json()["profiles"][0];
    assert_eq!(row["state"], "needs MFA", "{row}");
    assert!(
        row["note"].as_str().unwrap().contains("set mfa_serial"),
        "{row}"
    );
    assert_eq!(s.proxy.seen().len(), requests);
}

#[test]
fn a_wrong_or_reused_code_is_not_accepted_and_nothing_changes() {
    let s = setup("mfa-wrong", true);
    s.proxy.accept_mfa_code(&s.serial, CODE);
    let before = s.env.credentials();
    let wrong = s
        .env
        .run(&["now", "--profile", "work", "--mfa-code", "000000"]);
    wrong.failure(17);
    assert!(
        wrong.stderr.contains("the MFA code was not accepted"),
        "{}",
        wrong.stderr
    );
    assert!(
        wrong.stderr.contains("Nothing was changed"),
        "{}",
        wrong.stderr
    );
    assert_eq!(s.env.credentials(), before);
    assert_eq!(moto().keys(&s.user), vec![(s.user.key_id.clone(), true)]);
    assert!(!s.env.state_dir().join("rotation.journal").exists());
    // The good code works once...
    s.env
        .run(&["now", "--profile", "work", "--mfa-code", CODE])
        .success();
    let new = assert_rotated(&s);
    // ...and not twice.
    let again = s.env.run(&["now", "--profile", "work", "--mfa-code", CODE]);
    again.failure(17);
    assert!(again.stderr.contains("not accepted"), "{}", again.stderr);
    assert_eq!(s.env.key_pair("work").0, new);
    assert_eq!(moto().keys(&s.user), vec![(new, true)]);
    // A code that is not six digits is a usage error, before anything.
    let bad = s
        .env
        .run(&["now", "--profile", "work", "--mfa-code", "12ab"]);
    bad.failure(2);
    assert!(bad.stderr.contains("six digits"), "{}", bad.stderr);
}

#[test]
fn no_code_and_no_terminal_says_what_to_run() {
    let s = setup("mfa-nocode", true);
    let before = s.env.credentials();
    let run = s.env.run(&["now", "--profile", "work"]);
    run.failure(17);
    assert!(
        run.stderr
            .contains("keyrot-agent now --profile work --mfa-code CODE"),
        "{}",
        run.stderr
    );
    assert_eq!(s.env.credentials(), before);
    assert!(s.proxy.sessions().is_empty());
}

#[test]
fn a_dry_run_says_mfa_is_needed_without_asking() {
    let s = setup("mfa-dry", true);
    let run = s.env.run(&["now", "--profile", "work", "--dry-run"]);
    run.success();
    assert!(
        run.stdout.contains("needs MFA: one code of"),
        "{}",
        run.stdout
    );
    assert!(
        !s.proxy.seen().iter().any(|x| x.action == "GetSessionToken"),
        "a dry run asked STS for a session"
    );
    let v = s
        .env
        .run(&["now", "--profile", "work", "--dry-run", "--json"])
        .json();
    assert_eq!(v["keys"][0]["mfa"]["needed"], true);
    assert_eq!(v["keys"][0]["outcome"], "planned");
    // Without a device, a dry run finds out from IAM's explicit deny.
    let n = setup("mfa-dry-nodev", false);
    let run = n.env.run(&["now", "--profile", "work", "--dry-run"]);
    run.failure(17);
    assert!(run.stderr.contains("requires MFA"), "{}", run.stderr);
}

#[test]
fn keys_of_one_user_share_a_session_and_different_users_each_have_theirs() {
    // Two users, each under MFA, each with its own device; mfa_process answers per device.
    let a = setup("mfa-two-a", true);
    let b_user = moto().user("mfa-two-b");
    let b_serial = format!("arn:aws:iam::123456789012:mfa/{}", b_user.name);
    a.proxy.require_mfa(&b_user, &b_serial);
    a.proxy.accept_mfa_code(&a.serial, CODE);
    a.proxy.accept_mfa_code(&b_serial, SECOND_CODE);
    let mut env = TestEnv::with_endpoint(&a.proxy.url);
    env.write_credentials(format!(
        "{}{}",
        profile("work", &a.user),
        profile("other", &b_user)
    ));
    env.write_config(&format!(
        "[profile work]\nmfa_serial = {}\n[profile other]\nmfa_serial = {b_serial}\n",
        a.serial
    ));
    // The device's current code is in a file per device, as an authenticator would show it.
    let codes = env.dir.path().to_path_buf();
    std::fs::write(codes.join("code-a"), CODE).unwrap();
    std::fs::write(codes.join("code-b"), SECOND_CODE).unwrap();
    let script = env.dir.path().join("code.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$KEYROT_MFA_SERIAL\" in\n  {}) cat '{d}/code-a' ;;\n  {b_serial}) cat '{d}/code-b' ;;\nesac\n",
            a.serial,
            d = codes.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    // grace keeps each old key Inactive for 2 s: the next run deletes it (an IAM call for the
    // same user) before it rotates again, with one session.
    env.use_config(&format!(
        "grace = \"2s\"\nmfa_process = \"{}\"\n[profile.other]\ngrace = \"0s\"\n",
        script.display()
    ));
    env.run(&["now", "--all"]).success();
    assert_eq!(a.proxy.sessions().len(), 2, "one session per user");
    let parents: Vec<String> = a
        .proxy
        .sessions()
        .iter()
        .map(|m| m.parent_key_id.clone())
        .collect();
    assert!(parents.contains(&a.user.key_id) && parents.contains(&b_user.key_id));
    // The next codes come in the next window: the run waits for it rather than reuse a code.
    a.proxy.accept_mfa_code(&a.serial, SECOND_CODE);
    std::fs::write(codes.join("code-a"), SECOND_CODE).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let before = a.proxy.sessions().len();
    let run = env.run(&["now", "--profile", "work", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(
        v["settled"]["deleted"][0],
        a.user.key_id.as_str(),
        "the old key's grace ended: {v}"
    );
    assert_eq!(
        a.proxy.sessions().len(),
        before + 1,
        "settle and the rotation of one user share one session"
    );
    assert_eq!(
        a.proxy.key_management_without_session(),
        Vec::<String>::new()
    );
}

#[test]
fn recovery_after_a_crash_asks_for_a_new_code_or_keeps_the_journal() {
    if !cfg!(feature = "failpoints") {
        return;
    }
    // Crashed after the old key was deactivated: what is left is IAM's (delete the old key).
    for point in [
        "after-intent",
        "after-verify",
        "after-verify-on-disk",
        "after-deactivate",
    ] {
        let s = setup(&format!("mfa-crash-{point}"), true);
        s.proxy.accept_mfa_code(&s.serial, CODE);
        s.env
            .assert_crashes_at(point, &["now", "--profile", "work", "--mfa-code", CODE]);
        assert_eq!(s.env.cli_identity("work"), s.user.arn, "{point}");
        // No code, no terminal: the journal stays, and the message says what to run.
        let run = s.env.run(&["recover"]);
        run.failure(17);
        assert!(
            run.stderr.contains("keyrot-agent recover --mfa-code CODE"),
            "{point}: {}",
            run.stderr
        );
        assert!(
            s.env.state_dir().join("rotation.journal").exists(),
            "{point}"
        );
        assert_eq!(s.env.cli_identity("work"), s.user.arn, "{point}");
        // With a new code, it is finished.
        s.proxy.accept_mfa_code(&s.serial, SECOND_CODE);
        let run = s.env.run(&["recover", "--mfa-code", SECOND_CODE]);
        run.success();
        if point == "after-intent" {
            // Nothing was created: the old key stays.
            assert_eq!(moto().keys(&s.user), vec![(s.user.key_id.clone(), true)]);
            assert_eq!(s.env.cli_identity("work"), s.user.arn);
        } else {
            assert_rotated(&s);
        }
        assert_eq!(s.proxy.sessions().len(), 2, "{point}");
        assert_nothing_leaked(&run, &s.proxy, &[CODE, SECOND_CODE]);
    }
    // Crashed right after the session was had: nothing changed; its code is spent.
    let s = setup("mfa-crash-session", true);
    s.proxy.accept_mfa_code(&s.serial, CODE);
    s.env.assert_crashes_at(
        "after-mfa-session",
        &["now", "--profile", "work", "--mfa-code", CODE],
    );
    assert_eq!(moto().keys(&s.user), vec![(s.user.key_id.clone(), true)]);
    assert!(!s.env.state_dir().join("rotation.journal").exists());
    s.proxy.accept_mfa_code(&s.serial, SECOND_CODE);
    s.env
        .run(&["now", "--profile", "work", "--mfa-code", SECOND_CODE])
        .success();
    assert_rotated(&s);
}
