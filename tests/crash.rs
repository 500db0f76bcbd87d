//! The crash matrix: `keyrot-agent now` is aborted (a real `abort()`, as `kill -9` or a power
//! loss would stop it) at every failpoint of a rotation, then `recover` or `now` runs normally.
//! At the instant of the crash and after recovery, checked against moto (behind the proxy, which
//! makes Inactive keys fail as real IAM does) and with the real AWS CLI:
//! - the file holds a key that authenticates as the same user;
//! - IAM holds at most two keys for the user, and after recovery exactly the key the file holds;
//! - the file is byte-identical outside the rotated values, and no temp file is left behind.
//!
//! Needs the binary built with the `failpoints` feature (the README's test command does that).

#![cfg(feature = "failpoints")]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use keyrot_agent::edge::failpoint;
use support::proxy::Proxy;
use support::{TestEnv, User, moto, profile};

fn original_file(user: &User) -> String {
    format!(
        "# work keys\r\n{}\r\n; shared with ci\r\n[ci]\r\naws_access_key_id={}\r\naws_secret_access_key={}\r\n[other]\r\nregion = eu-west-1",
        profile("default", user).replace('\n', "\r\n").trim_end(),
        user.key_id,
        user.secret
    )
}

/// The file holds a working key for the user, and IAM at most two keys.
#[track_caller]
fn assert_safe(env: &TestEnv, user: &User, when: &str) {
    let (id, _) = env.key_pair("default");
    assert_eq!(env.key_pair("ci").0, id, "{when}: shared profiles disagree");
    assert_eq!(
        env.cli_identity("default"),
        user.arn,
        "{when}: the file's key does not work"
    );
    let keys = moto().keys(user);
    assert!(keys.len() <= 2, "{when}: IAM holds {keys:?}");
}

/// After recovery: IAM holds exactly the file's key, the file changed only in its values, and
/// nothing is left over.
#[track_caller]
fn assert_settled(env: &TestEnv, user: &User, original: &str, when: &str) {
    assert_safe(env, user, when);
    let (id, secret) = env.key_pair("default");
    assert_eq!(
        moto().keys(user),
        vec![(id.clone(), true)],
        "{when}: IAM must hold exactly the file's key"
    );
    let expected = original
        .replace(&user.key_id, &id)
        .replace(&user.secret, &secret);
    assert_eq!(
        env.credentials_text(),
        expected,
        "{when}: bytes outside the values changed"
    );
    let leftovers: Vec<String> = std::fs::read_dir(env.home.join(".aws"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "credentials")
        .collect();
    assert!(leftovers.is_empty(), "{when}: left behind {leftovers:?}");
    assert!(
        !env.state_dir().join("rotation.journal").exists(),
        "{when}: journal left"
    );
    let state_temps: Vec<String> = std::fs::read_dir(env.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".keyrot-"))
        .collect();
    assert!(
        state_temps.is_empty(),
        "{when}: temp files left in the state dir: {state_temps:?}"
    );
}

fn crash_at(point: &str, then: &str) {
    let user = moto().user(&format!("crash-{point}"));
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = original_file(&user);
    env.write_credentials(&original);

    let out = env.crash_at(point, &["now"]);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{point}: expected an abort, got {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_safe(&env, &user, &format!("right after a crash at {point}"));

    let run = env.run(&[then]);
    run.success();
    assert_settled(
        &env,
        &user,
        &original,
        &format!("after a crash at {point} and `{then}`"),
    );
    let history =
        std::fs::read_to_string(env.state_dir().join("history.jsonl")).unwrap_or_default();
    assert!(!history.is_empty(), "{point}: no history line");
    // The backup held the old secret while the rotation was in flight; it is gone once the
    // rotation is finished.
    assert!(
        !env.state_dir().join("credentials.backup").exists(),
        "{point}: the backup outlived the rotation"
    );
    run.assert_no_secret(&[&user.secret]);
    assert!(!history.contains(&user.secret));
}

#[test]
fn every_failpoint_then_recover() {
    for point in failpoint::ALL {
        crash_at(point, "recover");
    }
}

#[test]
fn every_failpoint_then_now() {
    for point in failpoint::ALL {
        crash_at(point, "now");
    }
}

/// A kill while the keys of three users are rotated side by side (`now --all`), at the first
/// rotation to reach `point`; the others are wherever they are then. At that instant every
/// profile holds a key that works and IAM at most two keys per user; after `then`, each user
/// holds exactly its profile's key, the file changed only in its values, and nothing is left.
fn crash_during_concurrent_rotations(point: &str, then: &[&str]) {
    let users: Vec<User> = (0..3)
        .map(|i| moto().user(&format!("side-{point}-{i}")))
        .collect();
    let proxy = Proxy::start(&moto().url);
    // The new keys wait a moment for "IAM", so that the rotations overlap.
    proxy.delay_new_keys(Duration::from_millis(600));
    let env = TestEnv::with_endpoint(&proxy.url);
    let original: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            format!(
                "; user {i}\r\n{}",
                profile(&format!("p{i}"), u).replace('\n', "\r\n")
            )
        })
        .collect();
    env.write_credentials(&original);

    env.assert_crashes_at(point, &["now", "--all"]);
    for (i, user) in users.iter().enumerate() {
        let when = format!("right after a crash at {point}, p{i}");
        assert_eq!(env.cli_identity(&format!("p{i}")), user.arn, "{when}");
        let keys = moto().keys(user);
        assert!(keys.len() <= 2, "{when}: IAM holds {keys:?}");
    }

    env.run(then).success();
    let then = then.join(" ");
    let mut expected = original.clone();
    for (i, user) in users.iter().enumerate() {
        let (id, secret) = env.key_pair(&format!("p{i}"));
        assert_eq!(
            moto().keys(user),
            vec![(id.clone(), true)],
            "after a crash at {point} and `{then}`, p{i}: IAM must hold exactly the file's key"
        );
        expected = expected
            .replace(&user.key_id, &id)
            .replace(&user.secret, &secret);
    }
    assert_eq!(env.credentials_text(), expected, "{point}, {then}");
    assert!(
        !env.state_dir().join("rotation.journal").exists(),
        "{point}: journal left"
    );
    assert!(
        !env.state_dir().join("credentials.backup").exists(),
        "{point}: backup left"
    );
    let leftovers: Vec<String> = std::fs::read_dir(env.home.join(".aws"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "credentials")
        .collect();
    assert!(leftovers.is_empty(), "{point}: left behind {leftovers:?}");
}

#[test]
fn every_failpoint_during_concurrent_rotations_then_recover() {
    for point in failpoint::ALL {
        crash_during_concurrent_rotations(point, &["recover"]);
    }
}

#[test]
fn every_failpoint_during_concurrent_rotations_then_now() {
    for point in failpoint::ALL {
        crash_during_concurrent_rotations(point, &["now", "--all"]);
    }
}

/// Two rotations left in flight at once: `recover --dry-run` names both, and `recover`
/// finishes both.
#[test]
fn recovery_finishes_every_rotation_left_in_flight() {
    let users: Vec<User> = (0..2)
        .map(|i| moto().user(&format!("two-left-{i}")))
        .collect();
    let proxy = Proxy::start(&moto().url);
    // Both keys are created, and recorded, while "IAM" is still propagating the first one.
    proxy.delay_new_keys(Duration::from_millis(500));
    let env = TestEnv::with_endpoint(&proxy.url);
    let original: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| profile(&format!("p{i}"), u))
        .collect();
    env.write_credentials(&original);
    env.assert_crashes_at("after-verify", &["now", "--all"]);
    let journal = std::fs::read_to_string(env.state_dir().join("rotation.journal")).unwrap();
    let in_flight = users.iter().filter(|u| journal.contains(&u.key_id)).count();
    assert_eq!(in_flight, 2, "both rotations are in the journal");
    let dry = env.run(&["recover", "--dry-run"]);
    dry.success();
    assert_eq!(
        dry.stdout.matches("a rotation is in flight").count(),
        in_flight,
        "{}",
        dry.stdout
    );
    let run = env.run(&["recover", "--json"]);
    run.success();
    assert_eq!(run.json()["keys"].as_array().unwrap().len(), in_flight);
    for (i, user) in users.iter().enumerate() {
        let (id, _) = env.key_pair(&format!("p{i}"));
        assert_eq!(moto().keys(user), vec![(id, true)]);
    }
    assert!(!env.state_dir().join("rotation.journal").exists());
}

#[test]
fn recover_dry_run_describes_the_rotation_in_flight_and_changes_nothing() {
    let user = moto().user("inflight");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = original_file(&user);
    env.write_credentials(&original);
    env.assert_crashes_at("after-verify", &["now"]);
    let keys = moto().keys(&user);
    assert_eq!(keys.len(), 2);
    let new_id = keys
        .iter()
        .find(|(id, _)| *id != user.key_id)
        .unwrap()
        .0
        .clone();

    let run = env.run(&["recover", "--dry-run"]);
    run.success();
    assert!(
        run.stdout.contains("a rotation is in flight"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{} → {new_id}", user.key_id)),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("write {new_id} into every profile")),
        "{}",
        run.stdout
    );
    // `now --dry-run` shows it too, and nothing changed.
    let dry = env.run(&["now", "--dry-run", "--json"]);
    dry.success();
    assert!(dry.json()["in_flight"].as_str().unwrap().contains(&new_id));
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), keys);
    run.assert_no_secret(&[&user.secret]);

    let json = env.run(&["recover", "--json"]);
    json.success();
    let v = json.json();
    assert_eq!(v["keys"][0]["outcome"], "rotated");
    assert_eq!(v["keys"][0]["resumed_from"], "created");
    assert_settled(&env, &user, &original, "after recover");
}

#[test]
fn the_network_going_away_after_create_is_finished_later() {
    let user = moto().user("netdown");
    let proxy = Proxy::start(&moto().url);
    proxy.go_down_after("CreateAccessKey");
    let port = proxy.port();
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = original_file(&user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--verify-timeout", "2s"]);
    run.failure(6);
    assert!(
        run.stderr.contains("Run 'keyrot-agent recover'"),
        "{}",
        run.stderr
    );
    assert!(env.state_dir().join("rotation.journal").exists());
    // Still safe while offline: the file holds the old, working key.
    assert_eq!(env.key_pair("default").0, user.key_id);
    assert!(moto().keys(&user).len() <= 2);

    // While still offline, recovery reports and keeps the journal.
    let offline = env.run(&["recover", "--verify-timeout", "1s"]);
    offline.failure(6);
    assert!(env.state_dir().join("rotation.journal").exists());

    // The endpoint comes back on the same address.
    drop(proxy);
    let back = Proxy::start_on(&moto().url, port);
    assert_eq!(back.port(), port);
    env.run(&["recover"]).success();
    assert_settled(&env, &user, &original, "after the network came back");
}

#[test]
fn connection_refused_before_create_changes_nothing() {
    let user = moto().user("refused");
    let proxy = Proxy::start(&moto().url);
    proxy.go_down();
    std::thread::sleep(Duration::from_millis(50));
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = original_file(&user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(6);
    assert!(run.stderr.contains("cannot reach AWS"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
    assert!(!env.state_dir().join("rotation.journal").exists());
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn a_rollback_interrupted_by_a_crash_is_finished_by_recovery() {
    for point in failpoint::ROLLBACK {
        let user = moto().user("rollback-crash");
        let proxy = Proxy::start(&moto().url);
        // The new key never works, so the rotation rolls back, and dies while doing so.
        proxy.delay_new_keys(Duration::from_secs(3600));
        let env = TestEnv::with_endpoint(&proxy.url);
        let original = original_file(&user);
        env.write_credentials(&original);
        let out = env.crash_at(point, &["now", "--verify-timeout", "1s"]);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_safe(&env, &user, &format!("right after a crash at {point}"));
        let journal = std::fs::read_to_string(env.state_dir().join("rotation.journal")).unwrap();
        assert!(
            journal.contains("\"rolling_back\": true"),
            "{point}: the rollback is not recorded"
        );
        let run = env.run(&["recover", "--json"]);
        run.success();
        assert_eq!(run.json()["keys"][0]["outcome"], "rolled_back");
        assert_eq!(env.credentials_text(), original);
        assert_settled(
            &env,
            &user,
            &original,
            &format!("after a crash at {point} and recover"),
        );
    }
}

#[test]
fn recovery_never_deletes_a_key_the_user_made_and_used_since() {
    let user = moto().user("own-key");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = original_file(&user);
    env.write_credentials(&original);
    // Killed after the intent: the journal says a key may have been made.
    env.assert_crashes_at("after-intent", &["now"]);
    // Meanwhile the user makes a key of their own (say, for CI) and uses it.
    let (theirs, secret) = moto().add_key(&user);
    assert_eq!(
        moto().whoami(&theirs, &secret).as_deref(),
        Some(user.arn.as_str())
    );
    let run = env.run(&["recover", "--json"]);
    run.success();
    assert!(
        moto().keys(&user).iter().any(|(id, _)| *id == theirs),
        "the user's own key was deleted"
    );
    assert_eq!(env.credentials_text(), original);
}

#[test]
fn the_agent_finishes_an_interrupted_rotation_when_it_starts() {
    let user = moto().user("agent-recovers");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.use_config("max_age = \"90d\"\n");
    let original = original_file(&user);
    env.write_credentials(&original);
    env.assert_crashes_at("after-verify", &["now"]);
    let mut agent = env.command().arg("run").spawn().unwrap();
    let start = std::time::Instant::now();
    while env.state_dir().join("rotation.journal").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the agent did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());
    assert_settled(&env, &user, &original, "after the agent started");
}

/// keyrot-agent's own files that cannot be used have their exit codes (before, both exited 1,
/// "an unexpected error"): a damaged journal is 3 (a file that cannot be used as it is), a state
/// directory that cannot be created is 16 (a file keyrot-agent needs cannot be written).
#[test]
fn a_damaged_journal_and_an_unusable_state_directory_have_their_exit_codes() {
    let user = moto().user("statecodes");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(env.state_dir().join("rotation.journal"), "{ half").unwrap();
    let run = env.run(&["now", "--json"]);
    run.failure(3);
    assert_eq!(run.json()["error"]["kind"], "state_damaged");
    assert!(run.stderr.contains("rotation.journal"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);

    let mut env = TestEnv::new();
    let blocker = env.dir.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    env.extra_env
        .push(("XDG_STATE_HOME".into(), blocker.display().to_string()));
    env.write_credentials(&original);
    let run = env.run(&["now", "--json"]);
    run.failure(16);
    assert_eq!(run.json()["error"]["kind"], "store");
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
}
