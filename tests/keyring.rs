//! Keyring mode against a real Secret Service (gnome-keyring on a private session bus) and moto:
//! `keyring adopt` leaves no secret in the file and every client (the real AWS CLI through
//! `credential_process`, the Rust SDK) still works; `secret-tool` finds the entry; `release`
//! restores a working plaintext profile; without a Secret Service, a clear error and nothing
//! changed.

mod support;

use support::secrets::SessionBus;
use support::{TestEnv, moto, profile};

fn env_on(bus: &SessionBus) -> TestEnv {
    let mut env = TestEnv::new();
    env.extra_env.extend(bus.env());
    env
}

#[test]
fn adopt_serves_every_client_from_the_keyring_and_release_restores_the_file() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyring");
    let other = moto().user("keyringother");
    let env = env_on(&bus);
    let original = format!(
        "# keep me\n{}\n{}",
        profile("default", &user),
        profile("other", &other)
    );
    env.write_credentials(&original);

    let run = env.run(&["keyring", "adopt", "--profile", "default"]);
    run.success();
    run.assert_no_secret(&[&user.secret]);
    let text = env.credentials_text();
    assert!(!text.contains(&user.secret), "{text}");
    assert!(!text.contains(&user.key_id), "{text}");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_keyrot-agent")).unwrap();
    assert_eq!(
        text,
        original.replace(
            &format!(
                "aws_access_key_id = {}\naws_secret_access_key = {}\n",
                user.key_id, user.secret
            ),
            &format!(
                "credential_process = {} credential-process --profile default\n",
                exe.display()
            )
        ),
        "only the pair's lines changed"
    );
    // The real AWS CLI runs the credential process; the other profile is untouched.
    assert_eq!(env.cli_identity("default"), user.arn);
    assert_eq!(env.cli_identity("other"), other.arn);
    // secret-tool finds the entry.
    let stored = bus
        .lookup("keyrot-agent", "profile:default")
        .expect("secret-tool finds the entry");
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(v["AccessKeyId"], user.key_id.as_str());
    // credential-process prints what clients expect.
    let cp = env.run(&["credential-process", "--profile", "default"]);
    cp.success();
    let v = cp.json();
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], user.key_id.as_str());
    assert_eq!(v["SecretAccessKey"], user.secret.as_str());
    // No AccountId until keyrot-agent has learned the account (a client needs none); then it
    // is given, and a Node.js program (the JavaScript SDK, which runs the credential process
    // too) authenticates as the user and takes the account id.
    assert!(v.get("AccountId").is_none(), "{v}");
    env.run(&["status", "--refresh"]).success();
    let account = user.arn.split(':').nth(4).unwrap();
    let v = env
        .run(&["credential-process", "--profile", "default"])
        .json();
    assert_eq!(v["AccountId"], account, "{v}");
    let js = env.js_identity("default").unwrap();
    assert_eq!(js["Arn"].as_str(), Some(user.arn.as_str()));
    assert_eq!(js["AccountId"].as_str(), Some(account));
    assert_eq!(js["AccessKeyId"].as_str(), Some(user.key_id.as_str()));
    // status says where the secret is.
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["storage"], "keyring", "{v}");
    assert_eq!(v["profiles"][1]["storage"], "file", "{v}");

    let run = env.run(&["keyring", "release", "--profile", "default"]);
    run.success();
    assert_eq!(
        env.credentials_text(),
        original,
        "release restores the file"
    );
    assert_eq!(env.cli_identity("default"), user.arn);
    assert_eq!(bus.lookup("keyrot-agent", "profile:default"), None);
}

#[test]
fn without_a_secret_service_adopt_fails_clearly_and_changes_nothing() {
    let user = moto().user("nokeyring");
    // A bus with no Secret Service on it.
    let bus = SessionBus::start();
    let env = env_on(&bus);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["keyring", "adopt"]);
    run.failure(15);
    assert!(
        run.stderr
            .contains("no Secret Service on the session bus: install and unlock gnome-keyring"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert!(
        !bus.has_owner("org.freedesktop.secrets"),
        "nothing was started"
    );

    // No session bus at all.
    let env = TestEnv::new();
    env.write_credentials(&original);
    let run = env.run(&["keyring", "adopt"]);
    run.failure(15);
    assert!(
        run.stderr.contains("no D-Bus session bus"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    // A keyring profile cannot be rotated without its keyring: the keyring's error, exit 15.
    let adopted = SessionBus::with_keyring();
    let mut on_bus = env_on(&adopted);
    on_bus.write_credentials(&original);
    on_bus.run(&["keyring", "adopt"]).success();
    on_bus
        .extra_env
        .retain(|(k, _)| k != "DBUS_SESSION_BUS_ADDRESS");
    let adopted_text = on_bus.credentials_text();
    let now = on_bus.run(&["now"]);
    now.failure(15);
    assert!(
        now.stderr.contains("no D-Bus session bus"),
        "{}",
        now.stderr
    );
    assert_eq!(on_bus.credentials_text(), adopted_text);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    // credential-process fails in one line, with no secret.
    let cp = env.run(&["credential-process", "--profile", "default"]);
    cp.failure(15);
    assert_eq!(cp.stderr.lines().count(), 1, "{}", cp.stderr);
    assert!(cp.stdout.is_empty());
}

#[test]
fn credential_process_for_an_unknown_profile_is_one_clear_line() {
    let bus = SessionBus::with_keyring();
    let env = env_on(&bus);
    let cp = env.run(&["credential-process", "--profile", "nope"]);
    cp.failure(15);
    assert!(
        cp.stderr
            .contains("the keyring has no entry for profile nope"),
        "{}",
        cp.stderr
    );
    assert_eq!(cp.stderr.lines().count(), 1);
}

/// Every file under `dir`, read, for secret scans.
fn all_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else if let Ok(b) = std::fs::read(&path) {
            out.push((path, b));
        }
    }
    out
}

/// No file of the test's HOME, state or config holds `secret`.
fn assert_not_on_disk(env: &TestEnv, secret: &str, context: &str) {
    for (path, bytes) in all_files(env.dir.path()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{context}: a secret is on disk in {}",
            path.display()
        );
    }
}

fn keyring_key(bus: &SessionBus, profile: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(
        &bus.lookup("keyrot-agent", &format!("profile:{profile}"))
            .unwrap(),
    )
    .unwrap();
    (
        v["AccessKeyId"].as_str().unwrap().to_string(),
        v["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_rotation_in_keyring_mode_keeps_every_secret_off_the_disk() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringrot");
    let env = env_on(&bus);
    env.write_credentials(profile("default", &user));
    env.run(&["keyring", "adopt"]).success();
    let adopted = env.credentials_text();

    let run = env.run(&["now", "--json"]);
    run.success();
    let (new, new_secret) = keyring_key(&bus, "default");
    assert_ne!(new, user.key_id);
    assert_eq!(run.json()["keys"][0]["new_key_id"], new.as_str());
    assert_eq!(env.credentials_text(), adopted, "the file is not touched");
    assert_eq!(moto().keys(&user), vec![(new.clone(), true)]);
    assert_eq!(env.cli_identity("default"), user.arn);
    assert_not_on_disk(&env, &new_secret, "after the rotation");
    assert_not_on_disk(&env, &user.secret, "after the rotation");
    run.assert_no_secret(&[&new_secret, &user.secret]);
    // The rotation's own entries are gone.
    assert_eq!(bus.lookup("keyrot-agent", "pending:default"), None);
    assert_eq!(bus.lookup("keyrot-agent", "previous:default"), None);
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["storage"], "keyring");
    assert_eq!(v["profiles"][0]["last_rotation"]["outcome"], "rotated");
}

#[test]
fn keyring_mode_crash_matrix() {
    use std::os::unix::process::ExitStatusExt;
    let bus = SessionBus::with_keyring();
    let mut not_reached = Vec::new();
    let points = keyrot_agent::edge::failpoint::ALL
        .iter()
        .chain(keyrot_agent::edge::failpoint::KEYRING);
    for point in points {
        let user = moto().user("keyringcrash");
        let env = env_on(&bus);
        // Two profiles share the key: a crash can fall between switching their entries.
        env.write_credentials(format!(
            "{}{}",
            profile("default", &user),
            profile("twin", &user)
        ));
        env.run(&["keyring", "adopt"]).success();
        let adopted = env.credentials_text();
        let out = env.crash_at(point, &["now"]);
        let context = format!("crash at {point}");
        // Points of the file path (the rename) are not on keyring mode's path.
        let crashed = out.status.signal() == Some(libc::SIGABRT);
        if !crashed {
            not_reached.push(*point);
        }
        assert!(
            crashed || out.status.success(),
            "{context}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // At the crash: a working key for every client, at most two keys, no secret on disk.
        assert_eq!(env.cli_identity("default"), user.arn, "{context}");
        assert_eq!(env.cli_identity("twin"), user.arn, "{context}");
        assert!(moto().keys(&user).len() <= 2, "{context}");
        assert_eq!(env.credentials_text(), adopted, "{context}");
        assert_not_on_disk(&env, &user.secret, &context);
        // After recovery: exactly the keyring's key.
        env.run(&["recover"]).success();
        let (key, secret) = keyring_key(&bus, "default");
        assert_eq!(moto().keys(&user), vec![(key, true)], "{context}");
        assert_eq!(env.cli_identity("default"), user.arn, "{context}");
        assert_not_on_disk(&env, &secret, &context);
        assert!(
            !env.state_dir().join("rotation.journal").exists(),
            "{context}"
        );
        assert_eq!(
            bus.lookup("keyrot-agent", "pending:default"),
            None,
            "{context}"
        );
        assert_eq!(
            bus.lookup("keyrot-agent", "previous:default"),
            None,
            "{context}"
        );
        assert_eq!(
            keyring_key(&bus, "twin").0,
            keyring_key(&bus, "default").0,
            "{context}"
        );
        env.run(&["keyring", "release", "--profile", "default"])
            .success();
        env.run(&["keyring", "release", "--profile", "twin"])
            .success();
    }
    // Only the file's rename is off keyring mode's path.
    assert_eq!(not_reached, ["before-rename", "after-rename"]);
}

#[test]
fn with_storage_keyring_the_agent_adopts_by_itself_and_rotates_in_the_keyring() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringagent");
    let mut env = env_on(&bus);
    env.use_config("max_age = \"4s\"\nwarn_before = \"0s\"\nstorage = \"keyring\"\n");
    env.write_credentials(profile("default", &user));
    let mut agent = env.command().arg("run").spawn().unwrap();
    let start = std::time::Instant::now();
    let rotated = loop {
        if let Some(v) = bus.lookup("keyrot-agent", "profile:default") {
            let v: serde_json::Value = serde_json::from_str(&v).unwrap();
            if v["AccessKeyId"] != user.key_id.as_str()
                && moto().keys(&user).len() == 1
                && bus.lookup("keyrot-agent", "pending:default").is_none()
            {
                break v["AccessKeyId"].as_str().unwrap().to_string();
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(40),
            "the agent did not adopt and rotate: {}",
            env.credentials_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let status = agent.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // A rotation the SIGTERM cut short (the new key due again every 4 s) is finished first.
    env.run(&["recover"]).success();
    let text = env.credentials_text();
    assert!(text.contains("credential_process"), "{text}");
    assert!(!text.contains("aws_secret_access_key"), "{text}");
    assert_eq!(env.cli_identity("default"), user.arn);
    let (key, secret) = keyring_key(&bus, "default");
    assert_eq!(moto().keys(&user), vec![(key.clone(), true)]);
    assert_ne!(rotated, user.key_id);
    assert_not_on_disk(&env, &secret, "agent in keyring mode");
    assert_not_on_disk(&env, &user.secret, "agent in keyring mode");
}

#[test]
fn a_locked_keyring_is_named_and_nothing_changes() {
    let bus = SessionBus::with_locked_keyring();
    let user = moto().user("lockedkeyring");
    let env = env_on(&bus);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["keyring", "adopt"]);
    run.failure(15);
    assert!(
        run.stderr.contains("the keyring is locked"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

#[test]
fn grace_and_undo_in_keyring_mode_keep_the_old_secret_in_the_keyring() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringgrace");
    let mut env = env_on(&bus);
    let config = env.use_config("grace = \"1h\"\n");
    env.write_credentials(profile("default", &user));
    env.run(&["keyring", "adopt"]).success();
    let adopted = env.credentials_text();

    env.run(&["now"]).success();
    let (new, new_secret) = keyring_key(&bus, "default");
    let mut keys = moto().keys(&user);
    keys.sort();
    let mut expected = vec![(user.key_id.clone(), false), (new.clone(), true)];
    expected.sort();
    assert_eq!(keys, expected, "the old key stays, Inactive");
    let kept = bus
        .lookup("keyrot-agent", &format!("grace:{}", user.key_id))
        .expect("the old pair is kept in the keyring");
    assert!(kept.contains(&user.secret));
    assert_not_on_disk(&env, &user.secret, "during the grace");
    assert_not_on_disk(&env, &new_secret, "during the grace");

    env.run(&["undo", "--profile", "default"]).success();
    assert_eq!(keyring_key(&bus, "default").0, user.key_id);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(env.cli_identity("default"), user.arn);
    assert_eq!(env.credentials_text(), adopted);
    assert_eq!(
        bus.lookup("keyrot-agent", &format!("grace:{}", user.key_id)),
        None
    );
    assert_not_on_disk(&env, &user.secret, "after undo");

    // A grace that runs out: the old key and its keyring entry go.
    std::fs::write(&config, "grace = \"2s\"\n").unwrap();
    env.run(&["now"]).success();
    let (newer, _) = keyring_key(&bus, "default");
    assert_eq!(moto().keys(&user).len(), 2);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    env.run(&["recover"]).success();
    assert_eq!(moto().keys(&user), vec![(newer, true)]);
    assert_eq!(
        bus.lookup("keyrot-agent", &format!("grace:{}", user.key_id)),
        None
    );
    assert_eq!(env.cli_identity("default"), user.arn);
}

#[test]
fn keyring_mode_prints_no_secret_even_at_trace() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringtrace");
    let mut env = env_on(&bus);
    env.extra_env.push(("RUST_LOG".into(), "trace".into()));
    env.write_credentials(profile("default", &user));
    let adopt = env.run(&["keyring", "adopt"]);
    adopt.success();
    adopt.assert_no_secret(&[&user.secret]);
    assert!(!adopt.stderr.is_empty(), "trace logging is on");
    let now = env.run(&["now"]);
    now.success();
    let (_, new_secret) = keyring_key(&bus, "default");
    now.assert_no_secret(&[&user.secret, &new_secret]);
    let status = env.run(&["status"]);
    status.assert_no_secret(&[&new_secret]);
    let release = env.run(&["keyring", "release", "--profile", "default"]);
    release.success();
    release.assert_no_secret(&[&new_secret]);
}

#[test]
fn adopt_refuses_a_file_clients_would_misread_with_its_line_and_changes_nothing() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringbadfile");
    let env = env_on(&bus);
    // An inline comment: botocore keeps it in the value, aws-config does not.
    let original = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {} # mine\n",
        user.key_id, user.secret
    );
    env.write_credentials(&original);
    let run = env.run(&["keyring", "adopt"]);
    run.failure(3);
    assert!(run.stderr.contains("credentials:3"), "{}", run.stderr);
    run.assert_no_secret(&[&user.secret]);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(bus.lookup("keyrot-agent", "profile:default"), None);
}

/// A config file naming one profile twice is read differently by the AWS CLI and the SDKs:
/// `keyring adopt` refuses it with its line, as `now` does, and moves nothing.
#[test]
fn adopt_refuses_a_config_naming_a_profile_twice_and_changes_nothing() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringtwice");
    let env = env_on(&bus);
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.write_config(
        "[default]\nregion = us-east-1\n[profile default]\ncredential_process = /bin/false\n",
    );
    let run = env.run(&["keyring", "adopt"]);
    run.failure(3);
    assert!(
        run.stderr
            .contains(&format!("{}:3:", env.home.join(".aws/config").display())),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(bus.lookup("keyrot-agent", "profile:default"), None);
}

/// The agent's own adoption (`storage = "keyring"`) refuses the same config file: it reports
/// the problem and moves nothing.
#[test]
fn the_agent_does_not_adopt_from_a_config_naming_a_profile_twice() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringagenttwice");
    let mut env = env_on(&bus);
    env.use_config("storage = \"keyring\"\n");
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.write_config(
        "[default]\nregion = us-east-1\n[profile default]\ncredential_process = /bin/false\n",
    );
    let log = env.dir.path().join("agent.stderr");
    /// Stops the agent however the test ends.
    struct Agent(std::process::Child);
    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut agent = Agent(
        env.command()
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let config_line = format!("{}:3:", env.home.join(".aws/config").display());
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&config_line)
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the agent never reported the config file: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
    assert!(agent.0.wait().unwrap().success());
    assert_eq!(env.credentials_text(), original);
    assert_eq!(bus.lookup("keyrot-agent", "profile:default"), None);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

/// Recovery of a rotation cut short before its new key was recorded deletes the user's keys that
/// appeared since and that no local profile holds. A key held by a keyring profile is held too:
/// it is never deleted.
#[cfg(feature = "failpoints")]
#[test]
fn the_orphan_sweep_never_deletes_a_key_a_keyring_profile_holds() {
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringsweep");
    let env = env_on(&bus);
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.assert_crashes_at("after-intent", &["now"]);
    // Meanwhile the user made a second key and keeps it in a keyring profile.
    let (second, second_secret) = moto().add_key(&user);
    bus.store(
        "keyrot-agent",
        "profile:kept",
        &serde_json::json!({"AccessKeyId": second, "SecretAccessKey": second_secret}).to_string(),
    );
    env.write_credentials(format!(
        "{original}[kept]\ncredential_process = {} credential-process --profile kept\n",
        env!("CARGO_BIN_EXE_keyrot-agent")
    ));
    env.run(&["recover"]).success();
    assert_eq!(
        moto().keys(&user),
        {
            let mut keys = vec![(user.key_id.clone(), true), (second.clone(), true)];
            keys.sort();
            keys
        },
        "the keyring profile's key was deleted"
    );
    assert_eq!(env.cli_identity("kept"), user.arn);
    assert!(!env.state_dir().join("rotation.journal").exists());
}

/// Keyring mode's expected refusals have their exit codes (before, each exited 1, "an unexpected
/// error"): releasing a profile that is not in the keyring is 4 (nothing to do); a key held both
/// in the file and in the keyring is 3 (the files cannot be used as they are); an adopt whose
/// proof through the AWS SDK fails is 9 (not proven), and puts everything back.
#[test]
fn keyring_refusals_have_their_exit_codes() {
    use support::proxy::{Failure, Proxy};
    let bus = SessionBus::with_keyring();

    let user = moto().user("releasenothing");
    let env = env_on(&bus);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["keyring", "release", "--profile", "default"]);
    run.failure(4);
    assert!(run.stderr.contains("nothing to release"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);

    let user = moto().user("split");
    let env = env_on(&bus);
    bus.store(
        "keyrot-agent",
        "profile:kept",
        &serde_json::json!({"AccessKeyId": user.key_id, "SecretAccessKey": user.secret})
            .to_string(),
    );
    let split = format!(
        "{}[kept]\ncredential_process = {} credential-process --profile kept\n",
        profile("default", &user),
        env!("CARGO_BIN_EXE_keyrot-agent")
    );
    env.write_credentials(&split);
    let run = env.run(&["now", "--all"]);
    run.failure(3);
    assert!(run.stderr.contains("hold the same key"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), split);
    assert_eq!(moto().keys(&user).len(), 1);

    let user = moto().user("adoptunproven");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(bus.env());
    let original = profile("default", &user);
    env.write_credentials(&original);
    proxy.fail("GetCallerIdentity", Failure::invalid_token());
    let run = env.run(&["keyring", "adopt"]);
    run.failure(9);
    assert!(
        run.stderr.contains("static keys were put back"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(bus.lookup("keyrot-agent", "profile:default"), None);
}

#[test]
fn a_keyring_profile_under_mfa_rotates_with_one_session() {
    const CODE: &str = "482913";
    let bus = SessionBus::with_keyring();
    let user = moto().user("keyringmfa");
    let proxy = support::proxy::Proxy::start(&moto().url);
    let serial = format!("arn:aws:iam::123456789012:mfa/{}", user.name);
    proxy.require_mfa(&user, &serial);
    proxy.accept_mfa_code(&serial, CODE);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(bus.env());
    env.write_credentials(profile("work", &user));
    env.write_config(&format!("[profile work]\nmfa_serial = {serial}\n"));
    env.run(&["keyring", "adopt", "--profile", "work"])
        .success();
    let run = env.run(&["now", "--profile", "work", "--mfa-code", CODE]);
    run.success();
    let v = env.run(&["credential-process", "--profile", "work"]).json();
    let new = v["AccessKeyId"].as_str().unwrap().to_string();
    assert_ne!(new, user.key_id);
    assert_eq!(env.cli_identity("work"), user.arn);
    assert_eq!(moto().keys(&user), vec![(new.clone(), true)]);
    assert!(
        !env.credentials_text().contains(&new),
        "the new key is in the file"
    );
    assert_eq!(proxy.sessions().len(), 1);
    assert_eq!(proxy.key_management_without_session(), Vec::<String>::new());
    let m = &proxy.sessions()[0];
    run.assert_no_secret(&[&m.secret, &m.token, CODE]);
}
