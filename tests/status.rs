//! `keyrot-agent status`: works offline from the cache, `--refresh` asks AWS, a rotation updates
//! it, no colour off a terminal, and no secret in the output.

mod support;

use support::{TestEnv, moto, profile};

#[test]
fn status_offline_then_refreshed_then_after_a_rotation() {
    let user = moto().user("status");
    let env = TestEnv::new();
    env.write_credentials(format!(
        "{}[sso]\nsso_session = corp\n",
        profile("default", &user)
    ));

    // Nothing cached yet: the age is unknown, and no AWS call is made (the endpoint is not even
    // needed).
    let mut offline = TestEnv::with_endpoint("http://127.0.0.1:9");
    offline.home = env.home.clone();
    offline.extra_env.push((
        "XDG_STATE_HOME".into(),
        env.dir.path().join("state").display().to_string(),
    ));
    let run = offline.run(&["status", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["profiles"][0]["profile"], "default");
    assert_eq!(v["profiles"][0]["state"], "unknown");
    assert_eq!(v["profiles"][1]["state"], "skipped");
    let masked = format!("{}…{}", &user.key_id[..4], &user.key_id[16..]);
    assert_eq!(v["profiles"][0]["key"], masked.as_str());
    // The whole id too, as `now --json` gives it (ids are not secrets): scripts join the two.
    assert_eq!(v["profiles"][0]["key_id"], user.key_id.as_str());
    assert!(v["profiles"][1]["key_id"].is_null());

    // --refresh asks AWS for the creation date.
    let run = env.run(&["status", "--refresh", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["profiles"][0]["state"], "ok");
    assert_eq!(v["profiles"][0]["age_days"], 0);
    assert_eq!(v["profiles"][0]["user"], user.arn.as_str());
    assert!(
        v["profiles"][0]["due_at"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );

    // After a rotation: the new key, from the cache, with the last rotation.
    env.run(&["now"]).success();
    let run = offline.run(&["status"]);
    run.success();
    assert!(run.stdout.contains("rotated"), "{}", run.stdout);
    assert!(run.stdout.contains(" ok "), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "no colour off a terminal");
    assert!(!run.stdout.contains(&user.key_id), "key ids are masked");
    let text = env.credentials_text();
    let secret = text
        .lines()
        .find(|l| l.starts_with("aws_secret_access_key"))
        .unwrap()
        .split(" = ")
        .nth(1)
        .unwrap();
    run.assert_no_secret(&[secret, &user.secret]);
}

#[test]
fn status_with_a_short_max_age_says_due() {
    let user = moto().user("status-due");
    let mut env = TestEnv::new();
    env.use_config("max_age = \"2s\"\nwarn_before = \"1s\"\n");
    env.write_credentials(profile("default", &user));
    env.run(&["status", "--refresh"]).success();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["state"], "due");
}

/// A config file that names one profile twice is read differently by the AWS CLI and the SDKs:
/// `status` refuses it with its line, as every command does, instead of showing one reading.
#[test]
fn status_refuses_a_config_naming_a_profile_twice() {
    let user = moto().user("statustwice");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    env.write_config(
        "[default]\nregion = us-east-1\n[profile default]\ncredential_process = /bin/false\n",
    );
    let run = env.run(&["status"]);
    run.failure(3);
    assert!(
        run.stderr
            .contains(&format!("{}:3:", env.home.join(".aws/config").display())),
        "{}",
        run.stderr
    );
}

/// `status --compliance`: each key held against CIS 1.14 / Security Hub IAM.3 (every active key
/// of the user at most 90 days old, from IAM's own CreateDate) and CIS 1.13 (one active key per
/// user), with only read calls; exit 20 while one fails, and 0 once each is fixed as its line
/// says.
#[test]
fn compliance_holds_each_key_against_the_controls() {
    use support::proxy::Proxy;
    let proxy = Proxy::start(&moto().url);
    let fresh = moto().user("cis-fresh");
    let old = moto().user("cis-old");
    let two = moto().user("cis-two");
    let (second, _) = moto().add_key(&two);
    // IAM says this key is from 2020 (moto makes every key now).
    proxy.key_created(&old.key_id, "2020-01-01T00:00:00Z");
    let env = TestEnv::with_endpoint(&proxy.url);
    let text = format!(
        "{}{}{}[sso]\nsso_session = corp\n",
        profile("fresh", &fresh),
        profile("old", &old),
        profile("two", &two)
    );
    env.write_credentials(&text);

    let run = env.run(&["status", "--compliance", "--json"]);
    run.failure(20);
    run.assert_no_secret(&[&fresh.secret, &old.secret, &two.secret]);
    let v = run.json();
    assert_eq!(v["compliant"], false);
    assert_eq!(v["exit_code"], 20);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        3,
        "one entry per key; the SSO profile holds none: {v}"
    );
    let control = |k: &serde_json::Value, id: &str| {
        k["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["ids"].as_array().unwrap().iter().any(|i| i == id))
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {k}"))
    };
    assert_eq!(keys[0]["profiles"], serde_json::json!(["fresh"]));
    assert_eq!(keys[0]["compliant"], true);
    assert_eq!(keys[0]["user"], fresh.arn.as_str());
    let rotated = control(&keys[1], "SecurityHub-IAM.3");
    assert_eq!(rotated["verdict"], "fail");
    assert_eq!(control(&keys[1], "CIS-1.14"), rotated);
    let detail = rotated["detail"].as_str().unwrap();
    assert!(
        detail.contains(&old.key_id) && detail.contains("days old"),
        "{detail}"
    );
    assert!(
        detail.contains("keyrot-agent now --profile old"),
        "{detail}"
    );
    assert_eq!(control(&keys[1], "CIS-1.13")["verdict"], "pass");
    let one = control(&keys[2], "CIS-1.13");
    assert_eq!(one["verdict"], "fail");
    let detail = one["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "--profile two --user-name {} --access-key-id {second} --status Inactive",
            two.name
        )),
        "{detail}"
    );
    // Read-only: nothing but GetCallerIdentity and ListAccessKeys, and nothing changed.
    assert!(
        proxy
            .seen()
            .iter()
            .all(|s| s.action == "GetCallerIdentity" || s.action == "ListAccessKeys"),
        "{:?}",
        proxy.seen().iter().map(|s| &s.action).collect::<Vec<_>>()
    );
    assert_eq!(env.credentials_text(), text);
    assert_eq!(moto().keys(&two).len(), 2);

    let human = env.run(&["status", "--compliance"]);
    human.failure(20);
    assert!(human.stdout.contains("FAIL  CIS 1.13"), "{}", human.stdout);
    assert!(
        human.stdout.contains("1 of 3 key(s) compliant"),
        "{}",
        human.stdout
    );

    // Fixed as the lines say: the old key rotated, the second key deactivated.
    env.run(&["now", "--profile", "old"]).success();
    moto().set_active(&two, &second, false);
    let run = env.run(&["status", "--compliance"]);
    run.success();
    assert!(
        run.stdout.contains("all 3 key(s) compliant"),
        "{}",
        run.stdout
    );
}

/// A profile whose key cannot be used as it is (here half a pair) is listed as not checked, and
/// the run is not compliant: a key left out would pass unseen.
#[test]
fn compliance_lists_a_key_it_cannot_check() {
    let env = TestEnv::new();
    env.write_credentials("[half]\naws_access_key_id = AKIAHALFHALFHALFHALF\n");
    let run = env.run(&["status", "--compliance", "--json"]);
    run.failure(20);
    let v = run.json();
    let key = &v["keys"][0];
    assert_eq!(key["profiles"], serde_json::json!(["half"]), "{v}");
    assert_eq!(key["key_id"], serde_json::Value::Null);
    for c in key["controls"].as_array().unwrap() {
        assert_eq!(c["verdict"], "unknown", "{c}");
        assert!(
            c["detail"].as_str().unwrap().starts_with("not checked: "),
            "{c}"
        );
    }
    let human = env.run(&["status", "--compliance"]);
    human.failure(20);
    assert!(
        human.stdout.contains("0 of 1 key(s) compliant"),
        "{}",
        human.stdout
    );
}
