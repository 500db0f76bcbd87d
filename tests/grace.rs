//! The grace period and `undo`, against moto: with `grace` set, a rotation leaves the old key
//! Inactive; `undo` brings it back (Active, proven, in the file, the new key deleted) and leaves
//! the file byte-identical to before the rotation; when the grace is over the old key is deleted;
//! an undo or a rotation cut short by a crash is finished by `recover`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use support::{TestEnv, User, moto, profile};

fn env_with_grace(grace: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.use_config(&format!("grace = \"{grace}\"\n"));
    env
}

fn two_profiles(user: &User) -> String {
    // A comment, a shared key, and another profile: all must come back byte for byte.
    format!(
        "# mine\n{}\n[other]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        profile("default", user),
        user.key_id,
        user.secret
    )
}

#[test]
fn grace_keeps_the_old_key_inactive_and_undo_brings_it_back() {
    let user = moto().user("grace");
    let env = env_with_grace("1h");
    let original = two_profiles(&user);
    env.write_credentials(&original);

    let run = env.run(&["now"]);
    run.success();
    assert!(
        run.stdout.contains("keyrot-agent undo --profile default"),
        "{}",
        run.stdout
    );
    let (new, new_secret) = env.key_pair("default");
    assert_eq!(env.key_pair("other").0, new);
    let mut keys = moto().keys(&user);
    keys.sort();
    let mut expected = vec![(user.key_id.clone(), false), (new.clone(), true)];
    expected.sort();
    assert_eq!(keys, expected, "the old key stays, Inactive");
    let grace_file = env.state_dir().join("grace.json");
    assert_eq!(
        std::fs::metadata(&grace_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v = env.run(&["status", "--json"]).json();
    assert!(
        v["profiles"][0]["note"]
            .as_str()
            .unwrap()
            .contains(&format!("old key {} is Inactive until", user.key_id)),
        "{v}"
    );

    let undo = env.run(&["undo", "--profile", "default"]);
    undo.success();
    undo.assert_no_secret(&[&user.secret, &new_secret]);
    assert_eq!(env.credentials_text(), original, "the file is as it was");
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(env.cli_identity("default"), user.arn);
    assert_eq!(env.cli_identity("other"), user.arn);
    // The history says so, and there is nothing left to undo.
    let history = std::fs::read_to_string(env.state_dir().join("history.jsonl")).unwrap();
    assert!(history.lines().last().unwrap().contains("\"undone\""));
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["state"], "held", "{v}");
    let again = env.run(&["undo", "--profile", "default"]);
    again.failure(4);
    assert!(again.stderr.contains("nothing to undo"), "{}", again.stderr);
}

#[test]
fn the_old_key_is_deleted_when_the_grace_is_over() {
    let user = moto().user("graceover");
    let env = env_with_grace("2s");
    env.write_credentials(profile("default", &user));
    env.run(&["now"]).success();
    let new = env.key_pair("default").0;
    assert_eq!(moto().keys(&user).len(), 2);
    // Within the grace, recovery keeps it.
    env.run(&["recover"]).success();
    assert_eq!(moto().keys(&user).len(), 2);
    std::thread::sleep(Duration::from_millis(2500));
    env.run(&["recover"]).success();
    assert_eq!(moto().keys(&user), vec![(new, true)]);
    assert_eq!(grace_entries(&env), 0);
    let undo = env.run(&["undo", "--profile", "default"]);
    undo.failure(4);
    assert!(undo.stderr.contains("grace"), "{}", undo.stderr);
}

#[test]
fn crashes_in_the_grace_steps_and_in_undo_are_finished_by_recovery() {
    // A rotation cut short right after deactivating the old key: recovery keeps it in grace.
    let user = moto().user("gracecrash");
    let env = env_with_grace("1h");
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.assert_crashes_at("after-deactivate", &["now"]);
    env.run(&["recover"]).success();
    let new = env.key_pair("default").0;
    assert_ne!(new, user.key_id);
    assert_eq!(moto().keys(&user).len(), 2);
    assert_eq!(grace_entries(&env), 1);

    // An undo cut short after reactivating: the file still holds the new key; undo again works.
    env.assert_crashes_at("undo-reactivated", &["undo", "--profile", "default"]);
    assert_eq!(env.key_pair("default").0, new);
    assert_eq!(env.cli_identity("default"), user.arn);
    assert!(moto().keys(&user).len() <= 2);

    // An undo cut short after writing the old key back: recovery deletes the new key.
    env.assert_crashes_at("undo-written", &["undo", "--profile", "default"]);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(env.cli_identity("default"), user.arn);
    env.run(&["recover"]).success();
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(grace_entries(&env), 0);
}

/// How many old keys the grace record lists (holds alone may remain in it).
fn grace_entries(env: &TestEnv) -> usize {
    std::fs::read_to_string(env.state_dir().join("grace.json"))
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(&t).unwrap()["entries"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .unwrap_or(0)
}

/// The exit codes of undo's expected refusals (before, both exited 1, "an unexpected error").
#[test]
fn undo_refusals_have_their_exit_codes() {
    use support::proxy::{Failure, Proxy};
    // The old key made Active again does not answer STS within the timeout: exit 9, and the
    // file still holds the new key.
    let user = moto().user("undoslow");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.use_config("grace = \"1h\"\n");
    env.write_credentials(profile("default", &user));
    env.run(&["now"]).success();
    let rotated = env.credentials_text();
    proxy.fail("GetCallerIdentity", Failure::invalid_token());
    let run = env.run(&[
        "undo",
        "--profile",
        "default",
        "--verify-timeout",
        "1s",
        "--json",
    ]);
    run.failure(9);
    assert_eq!(run.json()["error"]["kind"], "not_proven");
    assert!(run.stderr.contains("does not work yet"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), rotated);

    // A damaged grace record: exit 3, with what to do.
    let env = env_with_grace("1h");
    let user = moto().user("undodamaged");
    env.write_credentials(profile("default", &user));
    env.run(&["now"]).success();
    std::fs::write(env.state_dir().join("grace.json"), "{ half").unwrap();
    let run = env.run(&["undo", "--profile", "default"]);
    run.failure(3);
    assert!(run.stderr.contains("is damaged"), "{}", run.stderr);
    assert!(run.stderr.contains("move it away"), "{}", run.stderr);
}
