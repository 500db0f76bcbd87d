//! `keyrot-agent doctor`: one line per check, `--json`, exit 0 only when nothing failed, and
//! nothing changed by it (no key created, no file written).

mod support;

use support::desktop::Desktop;
use support::proxy::{Failure, Proxy};
use support::{TestEnv, moto, profile};

fn verdict<'a>(v: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v}"));
    (
        c["verdict"].as_str().unwrap(),
        c["detail"].as_str().unwrap(),
    )
}

/// A fresh machine: the files and the key pass; no login item and no agent fail, each with its
/// fix; without a desktop session, notifications fail. Nothing is changed.
#[test]
fn a_fresh_setup_is_checked_and_told_what_is_missing() {
    let user = moto().user("doctor-fresh");
    let env = TestEnv::new();
    let text = format!(
        "{}[sso]\nsso_session = corp\n[half]\naws_access_key_id = AKIAHALFHALFHALFHALF\n",
        profile("default", &user)
    );
    env.write_credentials(&text);
    let run = env.run(&["doctor", "--json"]);
    run.failure(19);
    let v = run.json();
    assert_eq!(verdict(&v, "files").0, "pass");
    let (ok, detail) = verdict(&v, "profile default");
    assert_eq!(ok, "pass");
    assert!(
        detail.contains(&user.arn) && detail.contains(&user.key_id),
        "{detail}"
    );
    assert!(verdict(&v, "profile sso").1.contains("skipped"));
    assert_eq!(verdict(&v, "profile half").0, "fail");
    // ListAccessKeys passes; create/update/delete are checked with the policy simulator when
    // IAM allows it, and "unknown" (not a guess) when it does not.
    let (perm, detail) = verdict(&v, "profile default: permissions");
    assert!(perm == "pass" || perm == "unknown", "{detail}");
    assert!(detail.contains("may list"), "{detail}");
    assert_eq!(verdict(&v, "journal").0, "pass");
    assert_eq!(verdict(&v, "login item").0, "fail");
    assert_eq!(verdict(&v, "agent").0, "fail");
    assert_eq!(verdict(&v, "notifications").0, "fail");
    assert_eq!(env.credentials_text(), text);
    assert_eq!(moto().keys(&user).len(), 1);

    let human = env.run(&["doctor"]);
    human.failure(19);
    assert!(
        human.stdout.contains("fix: keyrot-agent service install"),
        "{}",
        human.stdout
    );
    run.assert_no_secret(&[&user.secret]);
    human.assert_no_secret(&[&user.secret]);
}

/// A user that may not list its keys fails with the policy to attach; a rotation in flight is
/// named with `recover`; with a desktop session, the notification server passes.
#[test]
fn a_missing_permission_and_a_rotation_in_flight_fail_with_their_fix() {
    let desktop = Desktop::start();
    let user = moto().user("doctor-denied");
    let proxy = Proxy::start(&moto().url);
    proxy.fail("ListAccessKeys", Failure::access_denied("ListAccessKeys"));
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());
    env.write_credentials(profile("default", &user));
    std::fs::create_dir_all(env.state_dir()).unwrap();
    let run = env.run(&["doctor", "--json"]);
    run.failure(19);
    let v = run.json();
    let (perm, detail) = verdict(&v, "profile default: permissions");
    assert_eq!(perm, "fail", "{detail}");
    assert!(detail.contains("iam:ListAccessKeys"), "{detail}");
    assert_eq!(verdict(&v, "notifications").0, "pass", "{v}");
}

/// A rotation left in flight is a failed check that names `recover`.
#[cfg(feature = "failpoints")]
#[test]
fn a_rotation_in_flight_is_named_with_recover() {
    let user = moto().user("doctor-inflight");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    env.assert_crashes_at("after-verify", &["now"]);
    let run = env.run(&["doctor", "--json"]);
    run.failure(19);
    let v = run.json();
    let (j, detail) = verdict(&v, "journal");
    assert_eq!(j, "fail");
    assert!(detail.contains("in flight"), "{detail}");
    let fix = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "journal")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("keyrot-agent recover"), "{fix}");
    env.run(&["recover"]).success();
}

/// Key names written in upper case (`AWS_ACCESS_KEY_ID = …`): the AWS CLI uses the key, a
/// Node.js program (the AWS SDK for JavaScript) finds none. keyrot-agent rotates it, and `now`,
/// `status` and `doctor` each warn with the file's line and the fix; `doctor --fix` writes the
/// names in lower case with nothing else changed, after which the Node.js program authenticates
/// with the very key the AWS CLI uses.
#[test]
fn upper_case_key_names_are_rotated_warned_about_and_fixed() {
    let user = moto().user("doctor-case");
    let other = moto().user("doctor-case-other");
    let env = TestEnv::new();
    let text = format!(
        "# team keys\r\n[default]\r\nAWS_ACCESS_KEY_ID = {}\r\nAws_Secret_Access_Key\t=  {}\r\nRegion = eu-west-1\r\n\r\n{}",
        user.key_id,
        user.secret,
        profile("other", &other).replace('\n', "\r\n")
    );
    env.write_credentials(&text);
    let path = env.credentials_path();
    let line = format!("{}:3:", path.display());

    // Before: the CLI uses the key, Node.js finds none.
    assert_eq!(env.cli_identity("default"), user.arn);
    let js = env.js_identity("default");
    assert!(js.is_err(), "{js:?}");
    assert_eq!(
        env.js_identity("other").unwrap()["Arn"].as_str(),
        Some(other.arn.as_str())
    );

    let v = env.run(&["doctor", "--json"]).json();
    let (w, detail) = verdict(&v, "profile default: key names");
    assert_eq!(w, "warn");
    assert!(
        detail.starts_with(&line) && detail.contains("AWS_ACCESS_KEY_ID"),
        "{detail}"
    );
    let fix = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "profile default: key names")
        .unwrap()["fix"]
        .clone();
    assert_eq!(fix, "keyrot-agent doctor --fix");
    assert!(!v["checks"].to_string().contains("profile other: key names"));

    let status = env.run(&["status", "--json"]);
    status.success();
    let rows = status.json();
    let warnings = |name: &str| {
        rows["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["profile"] == name)
            .unwrap()["warnings"]
            .clone()
    };
    assert!(warnings("default")[0].as_str().unwrap().starts_with(&line));
    assert_eq!(warnings("other"), serde_json::json!([]));
    let table = env.run(&["status"]);
    assert!(table.stdout.contains("warning: "), "{}", table.stdout);

    // Rotated, with the warning; only the values change, the names stay as written.
    let now = env.run(&["now", "--json"]);
    now.success();
    let report = now.json();
    let key = &report["keys"][0];
    assert_eq!(key["outcome"], "rotated");
    assert!(
        key["warnings"].to_string().contains(&line),
        "{}",
        key["warnings"]
    );
    let (new_id, new_secret) = env.key_pair("default");
    assert_ne!(new_id, user.key_id);
    let rotated = text
        .replace(&user.key_id, &new_id)
        .replace(&user.secret, &new_secret);
    assert_eq!(env.credentials_text(), rotated);
    let human = env.run(&["now", "--dry-run"]);
    assert!(human.stdout.contains(&line), "{}", human.stdout);

    // --fix: the names, and nothing else.
    let fix = env.run(&["doctor", "--fix"]);
    assert!(
        fix.stdout.contains(&format!(
            "fixed {}:3: AWS_ACCESS_KEY_ID → aws_access_key_id",
            path.display()
        )),
        "{}",
        fix.stdout
    );
    assert!(
        fix.stdout
            .contains(":4: Aws_Secret_Access_Key → aws_secret_access_key")
    );
    assert!(fix.stdout.contains(":5: Region → region"));
    assert!(!fix.stdout.contains("key names"), "{}", fix.stdout);
    fix.assert_no_secret(&[&new_secret, &other.secret]);
    let fixed = rotated
        .replace("AWS_ACCESS_KEY_ID", "aws_access_key_id")
        .replace("Aws_Secret_Access_Key", "aws_secret_access_key")
        .replace("Region", "region");
    assert_eq!(env.credentials_text(), fixed);
    // keyrot-agent's backup of the file (which held its secrets) is not left behind.
    assert!(!env.state_dir().join("credentials.backup").exists());
    let js = env.js_identity("default").unwrap();
    assert_eq!(js["Arn"].as_str(), Some(user.arn.as_str()));
    assert_eq!(js["AccessKeyId"].as_str(), Some(new_id.as_str()));
    assert_eq!(env.cli_identity("default"), user.arn);

    // Again: nothing to do, nothing written.
    let again = env.run(&["doctor", "--fix", "--json"]);
    assert_eq!(again.json()["fixed"], serde_json::json!([]));
    assert_eq!(env.credentials_text(), fixed);
}

/// Keyring mode against a real Secret Service (gnome-keyring on a private bus): doctor finds the
/// adopted key in the keyring and the keyring answering. With the keyring locked, the profile
/// and the keyring fail, each with what to do; nothing is changed.
#[test]
fn keyring_mode_is_checked_against_a_real_secret_service() {
    use support::secrets::SessionBus;
    let bus = SessionBus::with_keyring();
    let user = moto().user("doctor-keyring");
    let mut env = TestEnv::new();
    env.extra_env.extend(bus.env());
    env.write_credentials(profile("default", &user));
    env.run(&["keyring", "adopt", "--profile", "default"])
        .success();
    let adopted = env.credentials_text();
    let v = env.run(&["doctor", "--json"]).json();
    assert_eq!(verdict(&v, "keyring").0, "pass", "{v}");
    let (p, detail) = verdict(&v, "profile default");
    assert_eq!(p, "pass", "{detail}");
    assert!(
        detail.contains("in the keyring") && detail.contains(&user.arn),
        "{detail}"
    );
    assert_eq!(env.credentials_text(), adopted);

    // The same file, on a session whose keyring stays locked.
    let locked = SessionBus::with_locked_keyring();
    let mut env2 = TestEnv::new();
    env2.extra_env.extend(locked.env());
    env2.write_credentials(&adopted);
    let run = env2.run(&["doctor", "--json"]);
    run.failure(19);
    let v = run.json();
    let (p, detail) = verdict(&v, "profile default");
    assert_eq!(p, "fail", "{detail}");
    assert!(detail.contains("keyring"), "{detail}");
    assert_eq!(verdict(&v, "keyring").0, "fail", "{v}");
    assert_eq!(env2.credentials_text(), adopted);
    assert_eq!(moto().keys(&user).len(), 1);
}

/// `doctor --fix` changes nothing while a rotation an interrupted run left cannot be finished
/// (AWS unreachable): the file, keyrot-agent's backup (recovery's last resort) and the journal
/// stay, and it says what to run. Once recovery can reach AWS, `--fix` finishes the rotation
/// first, says so, then fixes the names.
#[test]
fn fix_waits_for_a_rotation_in_flight() {
    let user = moto().user("doctor-fix-inflight");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(format!(
        "[default]\nAWS_ACCESS_KEY_ID = {}\naws_secret_access_key = {}\n",
        user.key_id, user.secret
    ));
    env.assert_crashes_at("after-written", &["now"]);
    let before = env.credentials_text();
    let backup = env.state_dir().join("credentials.backup");
    let journal = env.state_dir().join("rotation.journal");
    assert!(journal.exists() && backup.exists());

    proxy.go_down();
    let run = env.run(&["doctor", "--fix"]);
    run.failure(6);
    assert!(run.stderr.contains("still in flight"), "{}", run.stderr);
    assert!(
        run.stderr.contains("keyrot-agent recover"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), before);
    assert!(journal.exists() && backup.exists());

    // With AWS back: the rotation is finished first, then the names are fixed.
    let mut env = env;
    env.endpoint = moto().url.clone();
    let run = env.run(&["doctor", "--fix"]);
    assert!(
        run.stderr
            .contains("first finished a rotation an interrupted run left"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("AWS_ACCESS_KEY_ID → aws_access_key_id"),
        "{}",
        run.stdout
    );
    assert!(!journal.exists());
    let (id, _) = env.key_pair("default");
    assert_eq!(moto().keys(&user), vec![(id, true)]);
}
