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
