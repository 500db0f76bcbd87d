//! A key that says where it lives: the description keyrot-agent gives each key it creates (a
//! user tag named after the key, which the IAM console shows as the key's description), and
//! the warning when the old key was used lately by something other than keyrot-agent. Against
//! moto through the proxy.

mod support;

use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

#[test]
fn each_new_key_is_described_and_the_old_description_goes_with_the_old_key() {
    let user = moto().user("describe");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    env.run(&["now", "--profile", "work"]).success();
    let first = env.key_pair("work").0;
    let tags = moto().tags(&user);
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags[0].0, first);
    assert!(
        tags[0].1.starts_with("keyrot-agent on ") && tags[0].1.contains(", 20"),
        "{tags:?}"
    );
    // status shows it.
    let row = &env.run(&["status", "--json"]).json()["profiles"][0];
    assert_eq!(row["description"], tags[0].1.as_str(), "{row}");
    // The next rotation describes the new key and removes the old one's description.
    env.run(&["now", "--profile", "work"]).success();
    let second = env.key_pair("work").0;
    let tags = moto().tags(&user);
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags[0].0, second);
}

#[test]
fn without_tag_permission_the_rotation_still_succeeds_and_status_says_why() {
    // Only the required statement of the documented policy: no iam:TagUser.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:CreateAccessKey","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed"],"Resource":"*"}]}"#;
    let user = moto().user_with_policy("describe-denied", policy);
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    let run = env.run(&["now", "--profile", "work"]);
    run.success();
    let new = env.key_pair("work").0;
    assert_eq!(moto().keys(&user), vec![(new, true)]);
    assert!(moto().tags(&user).is_empty());
    let row = &env.run(&["status", "--json"]).json()["profiles"][0];
    assert_eq!(row["description"], serde_json::Value::Null);
    assert!(
        row["note"]
            .as_str()
            .unwrap_or_default()
            .contains("could not give this key its description"),
        "{row}"
    );
    // What IAM said (moto's own 403 body, which the SDK reads as a bare status).
    assert!(
        row["note"].as_str().unwrap_or_default().contains("403"),
        "{row}"
    );
}

#[test]
fn an_old_key_used_elsewhere_lately_is_told_about() {
    // Another program uses the old key for S3 while the rotation is under way (a post_rotate
    // hook stands in for it): IAM's last-used record then names S3.
    let user = moto().user("used-elsewhere");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    env.use_config(&format!(
        "post_rotate = \"{}\"\n",
        support::other_program_using(env.dir.path(), &user)
    ));
    let run = env.run(&["now", "--profile", "work", "--json"]);
    run.success();
    let v = run.json();
    let warning = v["keys"][0]["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("the old key was last used at") && warning.contains("by s3"),
        "{v}"
    );
    assert!(warning.contains("set grace"), "{warning}");
    // The rotation itself went through.
    let new = env.key_pair("work").0;
    assert_eq!(moto().keys(&user), vec![(new, true)]);
    // Without another program, nothing is said.
    let quiet = TestEnv::with_endpoint(&proxy.url);
    let other = moto().user("used-only-here");
    quiet.write_credentials(profile("work", &other));
    let v = quiet.run(&["now", "--profile", "work", "--json"]).json();
    assert_eq!(v["keys"][0]["warnings"], serde_json::json!([]), "{v}");
}
