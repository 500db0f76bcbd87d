//! `keyrot-agent now` end to end: the real binary against moto (SigV4 enforced), checked with the
//! real AWS CLI, in an isolated HOME per test.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use support::proxy::{Failure, Proxy};
use support::{TestEnv, User, moto, profile};

/// Everything a successful rotation must leave behind.
#[track_caller]
fn assert_rotated(env: &TestEnv, user: &User, profile: &str, original: &str) -> (String, String) {
    let (new_id, new_secret) = env.key_pair(profile);
    assert_ne!(new_id, user.key_id);
    // Only the two values changed, in every profile that held the key.
    let expected = original
        .replace(&user.key_id, &new_id)
        .replace(&user.secret, &new_secret);
    assert_eq!(env.credentials_text(), expected);
    // Real clients read what was written: the AWS CLI, and a Node.js program (the AWS SDK for
    // JavaScript), which sees the key only where its names are written in lower case.
    assert_eq!(env.cli_identity(profile), user.arn);
    let js = env.js_identity(profile);
    // Only the key's two names matter (a `Region = …` does not hide the key).
    let names_lower_case = keyrot_agent::core::credentials::parse(
        expected.as_bytes(),
        keyrot_agent::core::credentials::FileKind::Credentials,
    )
    .is_ok_and(|f| {
        f.section(profile).is_some_and(|s| {
            s.properties
                .iter()
                .filter(|p| p.key == "aws_access_key_id" || p.key == "aws_secret_access_key")
                .all(|p| f.name_as_written(p) == p.key)
        })
    });
    if names_lower_case {
        let js = js.unwrap();
        assert_eq!(js["Arn"].as_str(), Some(user.arn.as_str()));
        assert_eq!(js["AccessKeyId"].as_str(), Some(new_id.as_str()));
    } else {
        assert!(js.is_err(), "{js:?}");
    }
    // IAM holds exactly the new key; the old one no longer authenticates.
    assert_eq!(moto().keys(user), vec![(new_id.clone(), true)]);
    assert_eq!(moto().whoami(&user.key_id, &user.secret), None);
    assert_eq!(
        moto().whoami(&new_id, &new_secret).as_deref(),
        Some(user.arn.as_str())
    );
    (new_id, new_secret)
}

#[test]
fn rotates_the_default_profile_losslessly() {
    let user = moto().user("alice");
    let env = TestEnv::new();
    let original = format!(
        "# my keys\r\n[default]\r\nAWS_Access_Key_ID\t=  {}  \r\naws_secret_access_key={}\r\nregion = us-east-1\r\ns3 =\r\n  max_concurrent_requests = 20\r\n\r\n; other\r\n[other]\r\nregion = eu-west-1",
        user.key_id, user.secret
    );
    env.write_credentials(&original);
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();

    let mut cmd = env.command();
    cmd.env("RUST_LOG", "trace").arg("now");
    let out = cmd.output().unwrap();
    let run = support::Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    run.success();
    let (new_id, new_secret) = assert_rotated(&env, &user, "default", &original);
    run.assert_no_secret(&[&user.secret, &new_secret]);
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "trace logging was on"
    );
    assert!(
        run.stdout.contains(&format!("{} → {new_id}", user.key_id)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&user.arn));
    // Seven for the rotation itself, GetAccessKeyLastUsed for the old key (is it used elsewhere?) and
    // TagUser for the new key's description.
    assert!(run.stdout.contains("9 AWS requests"), "{}", run.stdout);

    // Mode kept; the backup, which held the old secret during the rotation, is gone once it
    // completed; nothing else appeared in ~/.aws.
    let meta = std::fs::metadata(env.credentials_path()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);
    assert!(!env.state_dir().join("credentials.backup").exists());
    let in_aws: Vec<_> = std::fs::read_dir(env.home.join(".aws"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(in_aws, ["credentials"]);
}

#[test]
fn json_reports_the_requests_and_every_phase() {
    let user = moto().user("json");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--json"]);
    run.success();
    let v = run.json();
    let k = &v["keys"][0];
    assert_eq!(k["outcome"], "rotated");
    assert_eq!(k["requests"], 9);
    assert_eq!(v["requests"], 9);
    assert_eq!(k["user_arn"], user.arn.as_str());
    assert_eq!(k["old_key_id"], user.key_id.as_str());
    assert_eq!(k["phase"], "old-deleted");
    for phase in [
        "identify",
        "create",
        "verify",
        "write",
        "verify on disk",
        "deactivate old",
        "delete old",
    ] {
        assert!(k["phases_ms"][phase].is_u64(), "{phase} missing in {k}");
    }
    let (new_id, _) = assert_rotated(&env, &user, "default", &original);
    assert_eq!(k["new_key_id"], new_id.as_str());
}

#[test]
fn profiles_sharing_the_key_move_together() {
    let user = moto().user("shared");
    let other = moto().user("other");
    let env = TestEnv::new();
    let original = format!(
        "{}\n{}\n{}",
        profile("default", &user),
        profile("ci", &user),
        profile("work", &other)
    );
    env.write_credentials(&original);
    env.run(&["now", "--profile", "ci"]).success();
    let (new_id, _) = assert_rotated(&env, &user, "ci", &original);
    assert_eq!(env.key_pair("default").0, new_id);
    assert_eq!(env.cli_identity("default"), user.arn);
    // The other user's key was not touched.
    assert_eq!(env.key_pair("work").0, other.key_id);
    assert_eq!(moto().keys(&other), vec![(other.key_id.clone(), true)]);
}

#[test]
fn aws_profile_picks_the_profile() {
    let user = moto().user("envprof");
    let env = TestEnv::new();
    let original = profile("work", &user);
    env.write_credentials(&original);
    let mut cmd = env.command();
    let out = cmd.env("AWS_PROFILE", "work").arg("now").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_rotated(&env, &user, "work", &original);
}

#[test]
fn all_rotates_every_long_term_key_and_says_why_others_are_skipped() {
    let a = moto().user("all-a");
    let b = moto().user("all-b");
    let env = TestEnv::new();
    let original = format!(
        "{}{}{}[temp]\naws_access_key_id = ASIAEXAMPLETEMPORARY\naws_secret_access_key = x\naws_session_token = y\n\
         [proc]\ncredential_process = /bin/false\n[regiononly]\nregion = eu-west-1\n",
        profile("default", &a),
        profile("b", &b),
        profile("a-again", &a)
    );
    env.write_credentials(&original);
    env.write_config("[profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n[sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://x\n");
    let run = env.run(&["now", "--all", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["keys"][0]["profiles"],
        serde_json::json!(["default", "a-again"])
    );
    assert_eq!(v["requests"], 18);
    let skipped: Vec<String> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["profile"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped, ["temp", "proc", "regiononly", "sso"]);
    assert!(
        v["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("temporary")
    );
    assert!(v["skipped"][3]["reason"].as_str().unwrap().contains("SSO"));
    let (new_a, _) = env.key_pair("default");
    let (new_b, _) = env.key_pair("b");
    assert_eq!(moto().keys(&a), vec![(new_a, true)]);
    assert_eq!(moto().keys(&b), vec![(new_b, true)]);
    assert_eq!(env.cli_identity("a-again"), a.arn);
    assert_eq!(env.cli_identity("b"), b.arn);
}

#[test]
fn dry_run_changes_nothing_and_makes_only_read_only_calls() {
    let user = moto().user("dry");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--dry-run", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["keys"][0]["outcome"], "planned");
    assert_eq!(v["requests"], 2);
    let actions: Vec<String> = proxy.seen().into_iter().map(|s| s.action).collect();
    assert_eq!(actions, ["GetCallerIdentity", "ListAccessKeys"]);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    let human = env.run(&["now", "--dry-run"]);
    human.success();
    assert!(human.stdout.contains("would rotate"), "{}", human.stdout);
}

#[test]
fn an_inactive_second_key_is_deleted_to_make_room() {
    let user = moto().user("inactive");
    let (spare, _) = moto().add_key(&user);
    moto().set_active(&user, &spare, false);
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.success();
    assert!(
        run.stdout
            .contains(&format!("deleted the user's Inactive key {spare}")),
        "{}",
        run.stdout
    );
    assert_rotated(&env, &user, "default", &original);
}

#[test]
fn an_active_second_key_is_refused_and_nothing_changes() {
    let user = moto().user("twoactive");
    let (spare, _) = moto().add_key(&user);
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let before = moto().keys(&user);
    let run = env.run(&["now"]);
    run.failure(8);
    assert!(run.stderr.contains(&spare), "{}", run.stderr);
    assert!(run.stderr.contains("two active keys"), "{}", run.stderr);
    assert!(run.stderr.contains("never used"), "{}", run.stderr);
    assert!(run.stderr.contains("created 20"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), before);
}

#[test]
fn a_new_key_that_propagates_slowly_is_waited_for() {
    let user = moto().user("slow");
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_millis(1500));
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    // Whenever IAM still rejects a key, that key must not be in the file.
    let path = env.credentials_path();
    let violations = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let v = violations.clone();
    proxy.on_reject(move |seen| {
        if std::fs::read_to_string(&path)
            .unwrap()
            .contains(&seen.key_id)
        {
            v.lock().unwrap().push(seen.key_id.clone());
        }
    });
    let run = env.run(&["now", "--json"]);
    run.success();
    assert!(
        violations.lock().unwrap().is_empty(),
        "the file held a key IAM rejected"
    );
    let v = run.json();
    assert!(v["keys"][0]["verify_attempts"].as_u64().unwrap() > 1, "{v}");
    assert!(
        v["keys"][0]["phases_ms"]["verify"].as_u64().unwrap() >= 1500,
        "{v}"
    );
    // The file never held the new key before it answered STS: it was written after verify.
    let (new_id, _) = assert_rotated(&env, &user, "default", &original);
    let seen = proxy.seen();
    let first_ok = seen
        .iter()
        .position(|s| s.key_id == new_id && s.action == "GetCallerIdentity" && s.status == 200)
        .unwrap();
    assert!(
        seen[..first_ok]
            .iter()
            .any(|s| s.key_id == new_id && s.status == 403)
    );
    // The old key was retired with the new key's signature.
    for action in ["UpdateAccessKey", "DeleteAccessKey"] {
        let s = seen.iter().find(|s| s.action == action).unwrap();
        assert_eq!(s.key_id, new_id, "{action} must be signed with the new key");
    }
}

#[test]
fn a_new_key_that_never_works_is_rolled_back() {
    let user = moto().user("never");
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_secs(3600));
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--verify-timeout", "2s"]);
    run.failure(9);
    assert!(
        run.stderr.contains("did not work within 2 s"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("was deleted"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert_eq!(env.cli_identity("default"), user.arn);
}

#[test]
fn a_key_that_fails_when_read_back_from_disk_restores_the_old_key() {
    let user = moto().user("flap");
    let proxy = Proxy::start(&moto().url);
    // The new key answers once (in memory), then never again (when read from disk).
    proxy.new_keys_work_times(1);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = format!("# keep me\n{}", profile("default", &user));
    env.write_credentials(&original);
    let run = env.run(&["now", "--verify-timeout", "2s"]);
    run.failure(9);
    assert!(
        run.stderr.contains("rolled back: the old key is in place"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

#[test]
fn a_profile_changed_during_rotation_is_not_overwritten_and_the_new_key_is_deleted() {
    let user = moto().user("race");
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let path = env.credentials_path();
    let edited = original.replace(&user.key_id, "AKIAEDITEDMEANWHILE0");
    let edited_clone = edited.clone();
    proxy.after_create(move || std::fs::write(&path, &edited_clone).unwrap());
    let run = env.run(&["now"]);
    run.failure(10);
    assert!(
        run.stderr.contains("changed by another program"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), edited);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

#[test]
fn root_keys_are_skipped_unless_allowed() {
    let user = moto().user("root");
    let proxy = Proxy::start(&moto().url);
    proxy.root_identity();
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(4);
    assert!(
        run.stderr.contains("root user") && run.stderr.contains("--allow-root"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
    // With --all, a root key is skipped like any profile that cannot be rotated.
    let run = env.run(&["now", "--all", "--json"]);
    run.success();
    assert_eq!(run.json()["keys"][0]["outcome"], "skipped");
    assert_eq!(env.credentials_text(), original);
    // With --allow-root it goes ahead (the proxy says root; the rotation itself is the user's).
    env.run(&["now", "--allow-root"]).success();
    assert_ne!(env.key_pair("default").0, user.key_id);
}

#[test]
fn access_denied_names_the_action_and_prints_the_policy() {
    // A user whose policy lacks iam:CreateAccessKey (moto answers with an unparsed 403).
    let policy = support::self_service_policy().replace("\"iam:CreateAccessKey\",", "");
    let user = moto().user_with_policy("denied", &policy);
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(5);
    assert!(run.stderr.contains("iam:CreateAccessKey"), "{}", run.stderr);
    assert!(
        run.stderr.contains("\"iam:ListAccessKeys\""),
        "policy printed: {}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);

    // The same with a real IAM AccessDenied body.
    let user = moto().user("denied-real");
    let proxy = Proxy::start(&moto().url);
    proxy.fail("ListAccessKeys", Failure::access_denied("ListAccessKeys"));
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now"]);
    run.failure(5);
    assert!(
        run.stderr.contains("access denied for iam:ListAccessKeys"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreachable_endpoint_is_one_clear_sentence() {
    let user = moto().user("offline");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = TestEnv::with_endpoint(&format!("http://127.0.0.1:{port}"));
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(6);
    assert!(run.stderr.contains("cannot reach AWS"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
}

#[test]
fn throttling_after_retries_and_limit_exceeded_have_their_codes() {
    let user = moto().user("throttle");
    let proxy = Proxy::start(&moto().url);
    proxy.fail("ListAccessKeys", Failure::throttling());
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--verify-timeout", "1s"]);
    run.failure(7);
    assert!(run.stderr.contains("throttling"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);

    let user = moto().user("limit");
    let proxy = Proxy::start(&moto().url);
    proxy.fail("CreateAccessKey", Failure::limit_exceeded());
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(8);
    assert!(run.stderr.contains("LimitExceeded"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn a_rejected_old_key_is_reported() {
    let user = moto().user("badkey");
    let env = TestEnv::new();
    let original = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}x\n",
        user.key_id, user.secret
    );
    env.write_credentials(&original);
    let run = env.run(&["now"]);
    run.failure(13);
    assert!(
        run.stderr.contains("does not accept the key"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn missing_profile_and_missing_file() {
    let env = TestEnv::new();
    let run = env.run(&["now"]);
    run.failure(4);
    assert!(
        run.stderr.contains("no credentials file at"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("aws configure"), "{}", run.stderr);

    let user = moto().user("missing");
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now", "--profile", "wrok"]);
    run.failure(4);
    assert!(
        run.stderr.contains("profile wrok not found") && run.stderr.contains("default"),
        "{}",
        run.stderr
    );

    env.write_config("[profile sso]\nsso_session = corp\n");
    let run = env.run(&["now", "--profile", "sso", "--json"]);
    run.failure(4);
    assert_eq!(run.json()["error"]["kind"], "selection");
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn a_second_keyrot_agent_is_told_one_is_running() {
    let user = moto().user("busy");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    std::fs::create_dir_all(env.state_dir()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.state_dir().join("lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let run = env.run(&["now"]);
    run.failure(11);
    assert!(
        run.stderr.contains("another keyrot-agent"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    drop(lock);
    env.run(&["now"]).success();
}

#[test]
fn a_symlinked_credentials_file_keeps_its_link_and_owner() {
    let user = moto().user("symlink");
    let env = TestEnv::new();
    let real = env.dir.path().join("dotfiles-credentials");
    let original = profile("default", &user);
    std::fs::write(&real, &original).unwrap();
    std::os::unix::fs::symlink(&real, env.credentials_path()).unwrap();
    // As root, give the file to another owner to see it kept.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        std::os::unix::fs::chown(&real, Some(4242), Some(4343)).unwrap();
    }
    env.run(&["now"]).success();
    let link = std::fs::symlink_metadata(env.credentials_path()).unwrap();
    assert!(link.file_type().is_symlink());
    assert_rotated(&env, &user, "default", &original);
    if as_root {
        let meta = std::fs::metadata(&real).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("keyrot-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn files_real_clients_would_misread_are_refused_with_file_and_line() {
    let user = moto().user("refuse");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credentials");
    let mut refused = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ini") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Err(problems) = keyrot_agent::core::credentials::parse(
            &bytes,
            keyrot_agent::core::credentials::FileKind::Credentials,
        ) else {
            continue;
        };
        refused += 1;
        // Put a real, working key into the broken file: it must still not be touched.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let fake = text
            .match_indices("AKIAFIXTURE")
            .map(|(i, _)| &text[i..(i + 20).min(text.len())])
            .find(|id| id.len() == 20 && id[11..].bytes().all(|b| b.is_ascii_digit()));
        let real = match fake {
            Some(fake) if std::str::from_utf8(&bytes).is_ok() => {
                text.replace(fake, &user.key_id).into_bytes()
            }
            _ => bytes.clone(),
        };
        let still_refused = keyrot_agent::core::credentials::parse(
            &real,
            keyrot_agent::core::credentials::FileKind::Credentials,
        );
        assert!(still_refused.is_err(), "{}", path.display());
        let env = TestEnv::new();
        env.write_credentials(&real);
        let run = env.run(&["now", "--all"]);
        run.failure(3);
        let location = format!("{}:{}:", env.credentials_path().display(), problems[0].line);
        assert!(
            run.stderr.contains(&location),
            "{}: {}",
            path.display(),
            run.stderr
        );
        assert!(run.stderr.contains("Nothing was changed"), "{}", run.stderr);
        run.assert_no_secret(&[&user.secret]);
        assert_eq!(env.credentials(), real, "{} was modified", path.display());
        assert!(!env.state_dir().join("credentials.backup").exists());
    }
    assert!(refused >= 20, "{refused}");
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
}

#[test]
fn a_broken_config_file_is_refused_too() {
    let user = moto().user("badconfig");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.write_config("[default]\nregion = us-east-1\n[default]\noutput = json\n");
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(
        run.stderr
            .contains(&format!("{}:3:", env.home.join(".aws/config").display())),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn a_terminal_sees_progress_while_iam_propagates() {
    let user = moto().user("tty");
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_millis(1200));
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    // `script` gives the binary a real pseudo-terminal.
    let command = format!("{} now", env!("CARGO_BIN_EXE_keyrot-agent"));
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .envs(env.env())
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("waiting for IAM to accept the new key"),
        "{text}"
    );
    assert!(!text.contains(&user.secret));
    // Without a terminal there is no spinner.
    let plain = env.run(&["now"]);
    plain.success();
    assert!(
        !plain.stderr.contains("waiting for IAM"),
        "{}",
        plain.stderr
    );
}

#[test]
fn files_and_endpoints_are_found_as_the_sdks_find_them() {
    let user = moto().user("paths");
    // AWS_ENDPOINT_URL points nowhere; the service-specific variables win, as in the SDKs.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = TestEnv::with_endpoint(&format!("http://127.0.0.1:{dead}"));
    env.extra_env
        .push(("AWS_ENDPOINT_URL_IAM".into(), moto().url.clone()));
    env.extra_env
        .push(("AWS_ENDPOINT_URL_STS".into(), moto().url.clone()));
    // The credentials file lives elsewhere, named by AWS_SHARED_CREDENTIALS_FILE.
    let elsewhere = env.dir.path().join("elsewhere-credentials");
    env.extra_env.push((
        "AWS_SHARED_CREDENTIALS_FILE".into(),
        elsewhere.display().to_string(),
    ));
    let original = profile("default", &user);
    std::fs::write(&elsewhere, &original).unwrap();
    let run = env.run(&["now"]);
    run.success();
    let text = std::fs::read_to_string(&elsewhere).unwrap();
    assert_ne!(text, original);
    assert!(
        !env.credentials_path().exists(),
        "~/.aws/credentials must not be created"
    );
    let (new_id, _) = {
        let p = keyrot_agent::core::credentials::parse(
            text.as_bytes(),
            keyrot_agent::core::credentials::FileKind::Credentials,
        )
        .unwrap();
        (
            p.get("default", "aws_access_key_id").unwrap().to_string(),
            (),
        )
    };
    assert_eq!(moto().keys(&user), vec![(new_id, true)]);
}

#[test]
fn a_profile_sharing_the_key_without_its_secret_is_refused_before_any_change() {
    let user = moto().user("nosecret");
    let (spare, _) = moto().add_key(&user);
    moto().set_active(&user, &spare, false);
    let env = TestEnv::new();
    let original = format!(
        "{}\n[half]\naws_access_key_id = {}\nregion = eu-west-1\n",
        profile("default", &user),
        user.key_id
    );
    env.write_credentials(&original);
    let before = moto().keys(&user);
    let run = env.run(&["now"]);
    run.failure(3);
    let location = format!("{}:5:", env.credentials_path().display());
    assert!(
        run.stderr.contains(&location) && run.stderr.contains("[half]"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    // Not even the Inactive key was deleted.
    assert_eq!(moto().keys(&user), before);
}

#[test]
fn a_config_naming_a_profile_twice_is_refused() {
    let user = moto().user("twice");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.write_config(
        "[default]\nregion = us-east-1\n[profile default]\ncredential_process = /bin/false\n",
    );
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(
        run.stderr
            .contains(&format!("{}:3:", env.home.join(".aws/config").display())),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user).len(), 1);
}

#[test]
fn a_lost_create_answer_leaves_no_orphan_key() {
    let user = moto().user("lost");
    let proxy = Proxy::start(&moto().url);
    proxy.drop_answer("CreateAccessKey");
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--verify-timeout", "5s"]);
    run.failure(6);
    assert!(
        run.stderr.contains("the new key was deleted again"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    // IAM created a key each time, the agent never saw its secret, and deleted it.
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    // CreateAccessKey is tried again only after the keys were listed and the unknown one was
    // deleted, and only a few times.
    let actions: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.action != "GetCallerIdentity")
        .map(|s| s.action.clone())
        .collect();
    let creates: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "CreateAccessKey")
        .map(|(i, _)| i)
        .collect();
    assert!((2..=4).contains(&creates.len()), "{actions:?}");
    for pair in creates.windows(2) {
        let between = &actions[pair[0] + 1..pair[1]];
        assert!(
            between.contains(&"ListAccessKeys".to_string())
                && between.contains(&"DeleteAccessKey".to_string()),
            "CreateAccessKey retried without a cleanup: {actions:?}"
        );
    }
}

/// A throttled CreateAccessKey did nothing in IAM: it is tried again with backoff.
#[test]
fn a_throttled_create_is_retried() {
    let user = moto().user("createthrottled");
    let proxy = Proxy::start(&moto().url);
    proxy.fail_times("CreateAccessKey", Failure::throttling(), 2);
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    let run = env.run(&["now", "--json"]);
    run.success();
    assert_rotated(&env, &user, "default", &original);
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.action == "CreateAccessKey")
        .count();
    assert_eq!(creates, 3);
}

/// A CreateAccessKey whose answer is lost, or that answers 503 after IAM acted, may have made a
/// key whose secret nobody has: it is found and deleted, and the rotation tries again.
#[test]
fn a_create_lost_or_answered_5xx_is_cleaned_up_and_tried_again() {
    for (name, arm) in [
        (
            "lost",
            Box::new(|p: &Proxy| p.drop_answer_times("CreateAccessKey", 1)) as Box<dyn Fn(&Proxy)>,
        ),
        (
            "503",
            Box::new(|p: &Proxy| {
                p.fail_after_forward("CreateAccessKey", Failure::unavailable(), 2)
            }),
        ),
    ] {
        let user = moto().user("createretry");
        let proxy = Proxy::start(&moto().url);
        arm(&proxy);
        let env = TestEnv::with_endpoint(&proxy.url);
        let original = profile("default", &user);
        env.write_credentials(&original);
        let run = env.run(&["now", "--json"]);
        run.success();
        let v = run.json();
        let orphans = v["keys"][0]["orphans_deleted"].as_array().unwrap().len();
        assert!(orphans >= 1, "{name}: {v}");
        assert_rotated(&env, &user, "default", &original);
    }
}

#[test]
fn temp_files_left_by_a_killed_run_are_removed() {
    let user = moto().user("stale");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let stale = env.home.join(".aws/.credentials.keyrot-12345-678.tmp");
    std::fs::write(&stale, "[default]\naws_access_key_id = AKIASTALE\n").unwrap();
    env.run(&["now"]).success();
    assert!(!stale.exists());
    assert_rotated(&env, &user, "default", &original);
}

/// One retry policy: a call signed with the new key that IAM answers AccessDenied or
/// InvalidClientTokenId is a key not propagated yet, whichever step makes it. Retiring the old
/// key waits it out as verifying does (before, only verification did, and the rotation stopped
/// with the old key still Active, exit 12).
#[test]
fn retiring_the_old_key_waits_out_a_new_key_iam_does_not_know_everywhere_yet() {
    let user = moto().user("retirewait");
    let proxy = Proxy::start(&moto().url);
    proxy.fail_times(
        "UpdateAccessKey",
        Failure::access_denied("UpdateAccessKey"),
        2,
    );
    let env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("default", &user);
    env.write_credentials(&original);
    env.run(&["now"]).success();
    assert_rotated(&env, &user, "default", &original);
}
