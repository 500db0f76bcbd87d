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
