//! Concurrency: two keyrot-agents at once, and keyrot-agent racing other programs that rewrite
//! the credentials file (the real `aws configure set`, and in-place writers forced into the
//! exact window between keyrot-agent's last check and its rename).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

#[test]
fn two_agents_at_once_rotate_exactly_once() {
    let user = moto().user("twice-at-once");
    let proxy = Proxy::start(&moto().url);
    // Slow propagation keeps the first one busy while the second starts.
    proxy.delay_new_keys(Duration::from_millis(1500));
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    let first = env.command().arg("now").spawn().unwrap();
    // Wait until the first one is mid-rotation (it holds the lock from start to end).
    let started = std::time::Instant::now();
    while !proxy.seen().iter().any(|s| s.action == "CreateAccessKey") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = env.run(&["now"]);
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    second.failure(11);
    assert!(
        second.stderr.contains("another keyrot-agent"),
        "{}",
        second.stderr
    );
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.action == "CreateAccessKey")
        .count();
    assert_eq!(creates, 1, "exactly one rotation");
    let key = env.value("default", "aws_access_key_id").unwrap();
    assert_eq!(moto().keys(&user), vec![(key, true)]);
}

/// `aws configure set` rewrites the file in place (truncate, then write) from a copy it read
/// a moment before. Running it in a loop on another profile while keyrot-agent rotates must lose
/// neither its updates nor keyrot-agent's.
#[test]
fn aws_configure_set_in_a_loop_loses_no_update() {
    let user = moto().user("configure-loop");
    let env = Arc::new(TestEnv::new());
    env.write_credentials(format!(
        "{}\n[other]\naws_access_key_id = AKIAOTHEROTHEROTHER1\naws_secret_access_key = otherSecret\naws_session_token = tok-0\n",
        profile("default", &user)
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let env = env.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            while !stop.load(Ordering::SeqCst) {
                last += 1;
                let token = format!("tok-{last}");
                env.aws(&[
                    "configure",
                    "set",
                    "aws_session_token",
                    &token,
                    "--profile",
                    "other",
                ])
                .success();
            }
            last
        })
    };
    let rotations: usize = std::env::var("KEYROT_RACE_ROTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rotated = 0;
    for _ in 0..rotations {
        // A stale copy written back between keyrot-agent's write and its read-back makes it roll
        // back safely (exit 10, the writer's version kept); anything else is a failure.
        let run = env.run(&["now"]);
        match run.code {
            Some(0) => rotated += 1,
            Some(10) => assert!(run.stderr.contains("rolled back"), "{}", run.stderr),
            _ => panic!("unexpected outcome:\n{}\n{}", run.stdout, run.stderr),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rotated > 0, "no rotation went through");
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().unwrap();
    // One more rotation after the writer's last write (nothing races it now) must keep it.
    env.run(&["now"]).success();
    assert!(last >= 1, "the writer ran {last} times");
    // No lost update: the writer's last value is there, and so is the last rotation's key.
    assert_eq!(
        env.value("other", "aws_session_token").as_deref(),
        Some(format!("tok-{last}").as_str())
    );
    let key = env.value("default", "aws_access_key_id").unwrap();
    assert_eq!(moto().keys(&user), vec![(key, true)]);
    assert_eq!(env.cli_identity("default"), user.arn);
}

#[cfg(feature = "failpoints")]
mod forced_races {
    use super::*;

    /// Starts `cmd` and returns once its stderr shows `marker` (a failpoint announcing its pause),
    /// with a thread that collects the rest of stderr.
    fn start_until(
        mut cmd: std::process::Command,
        marker: &str,
    ) -> (std::process::Child, std::thread::JoinHandle<String>) {
        use std::io::BufRead;
        let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let marker = marker.to_string();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let line = line.unwrap_or_default();
                if line.contains(&marker) {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the failpoint was never reached");
        (child, reader)
    }

    /// Writes `text` into the file in place, as `aws configure set` does.
    fn write_in_place(path: &std::path::Path, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Another program writes into the file between keyrot-agent's last check and its rename:
    /// its bytes land in the replaced file. They are found there and kept, with the new key.
    #[test]
    fn a_write_into_the_replaced_file_is_kept() {
        let user = moto().user("inode-race");
        let env = TestEnv::new();
        let original = format!("{}[other]\nregion = eu-west-1\n", profile("default", &user));
        env.write_credentials(&original);
        let path = env.credentials_path();
        let mut cmd = env.command();
        cmd.env("KEYROT_FAILPOINTS", "before-rename=sleep(1200)")
            .env("KEYROT_LOG", "keyrot_agent=info")
            .arg("now");
        let (mut child, reader) = start_until(cmd, "failpoint before-rename: sleeping");
        // keyrot-agent is asleep between its check and the rename.
        write_in_place(&path, &original.replace("eu-west-1", "ap-south-1"));
        let status = child.wait().unwrap();
        let stderr = reader.join().unwrap();
        assert!(status.success(), "{stderr}");
        // The write landed in the window after the last check, and was found afterwards.
        assert!(
            stderr.contains("redoing the edit on top of its version"),
            "{stderr}"
        );
        assert_eq!(
            env.value("other", "region").as_deref(),
            Some("ap-south-1"),
            "the other write was lost"
        );
        let key = env.value("default", "aws_access_key_id").unwrap();
        assert_ne!(key, user.key_id);
        assert_eq!(moto().keys(&user), vec![(key, true)]);
        assert_eq!(env.cli_identity("default"), user.arn);
    }

    /// Another program writes back a copy it read before the rotation (old key and all) after the
    /// new key was verified on disk: the new key is put back, with the other program's change,
    /// before the old key is retired.
    #[test]
    fn a_stale_copy_written_back_gets_the_new_key_again() {
        let user = moto().user("stale-copy");
        let env = TestEnv::new();
        let original = format!("{}[other]\nregion = eu-west-1\n", profile("default", &user));
        env.write_credentials(&original);
        let path = env.credentials_path();
        let mut cmd = env.command();
        cmd.env("KEYROT_FAILPOINTS", "after-verify-on-disk=sleep(1200)")
            .arg("now");
        let (mut child, reader) = start_until(cmd, "failpoint after-verify-on-disk: sleeping");
        write_in_place(&path, &original.replace("eu-west-1", "ap-south-1"));
        let status = child.wait().unwrap();
        let stderr = reader.join().unwrap();
        assert!(status.success(), "{stderr}");
        assert_eq!(env.value("other", "region").as_deref(), Some("ap-south-1"));
        let key = env.value("default", "aws_access_key_id").unwrap();
        assert_ne!(
            key, user.key_id,
            "the stale copy's old (deleted) key must not stay"
        );
        assert_eq!(moto().keys(&user), vec![(key, true)]);
        assert_eq!(env.cli_identity("default"), user.arn);
    }

    /// The same stale write before the new key was read back: the rotation rolls back, and the
    /// other program's version (with the old, still working key) stays.
    #[test]
    fn a_stale_copy_written_back_before_verification_rolls_back() {
        let user = moto().user("stale-early");
        let env = TestEnv::new();
        let original = format!("{}[other]\nregion = eu-west-1\n", profile("default", &user));
        env.write_credentials(&original);
        let path = env.credentials_path();
        let mut cmd = env.command();
        cmd.env("KEYROT_FAILPOINTS", "after-written=sleep(1200)")
            .arg("now");
        let (mut child, reader) = start_until(cmd, "failpoint after-written: sleeping");
        let theirs = original.replace("eu-west-1", "ap-south-1");
        write_in_place(&path, &theirs);
        let status = child.wait().unwrap();
        let stderr = reader.join().unwrap();
        assert_eq!(status.code(), Some(10), "{stderr}");
        assert_eq!(env.credentials_text(), theirs);
        assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
        assert_eq!(env.cli_identity("default"), user.arn);
    }
}

/// The position of the first request in `seen` for which `f` holds.
fn first(seen: &[support::proxy::Seen], f: impl Fn(&support::proxy::Seen) -> bool) -> usize {
    seen.iter().position(f).expect("no such request")
}

/// `now --all` rotates the keys of different users side by side: every new key is created
/// before the first old key is retired (one after another, each rotation would retire its old
/// key before the next one creates a key). The reports keep the file's order, although the
/// first profile finishes last, and every profile ends with a working key and IAM with one key
/// per user.
#[test]
fn keys_of_different_users_are_rotated_side_by_side_and_reported_in_order() {
    let users: Vec<_> = (0..4).map(|i| moto().user(&format!("side-{i}"))).collect();
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_millis(1500));
    let mut env = TestEnv::with_endpoint(&proxy.url);
    // The first profile's rotation ends last: its post_rotate hook takes a while.
    env.use_config("[profile.p0]\npost_rotate = \"cat >/dev/null; sleep 1\"\n");
    let text: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| format!("# user {i}\n{}\n", profile(&format!("p{i}"), u)))
        .collect();
    env.write_credentials(&text);

    let run = env.run(&["now", "--all", "--json"]);
    run.success();
    let v = run.json();
    let profiles: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["profiles"][0].as_str().unwrap())
        .collect();
    assert_eq!(profiles, ["p0", "p1", "p2", "p3"], "the file's order");
    for k in v["keys"].as_array().unwrap() {
        assert_eq!(k["outcome"], "rotated", "{k}");
    }
    let seen = proxy.seen();
    let last_create = seen
        .iter()
        .rposition(|s| s.action == "CreateAccessKey")
        .unwrap();
    let first_delete = first(&seen, |s| s.action == "DeleteAccessKey");
    assert!(
        last_create < first_delete,
        "the rotations ran one after another"
    );
    let mut expected = text.clone();
    for (i, u) in users.iter().enumerate() {
        let (id, secret) = env.key_pair(&format!("p{i}"));
        assert_eq!(moto().keys(u), vec![(id.clone(), true)]);
        assert_eq!(env.cli_identity(&format!("p{i}")), u.arn);
        expected = expected.replace(&u.key_id, &id).replace(&u.secret, &secret);
    }
    assert_eq!(env.credentials_text(), expected, "only the values changed");
    assert!(!env.state_dir().join("rotation.journal").exists());
    let secrets: Vec<&str> = users.iter().map(|u| u.secret.as_str()).collect();
    run.assert_no_secret(&secrets);

    // The text output: one block per key, in the same order.
    let again = env.run(&["now", "--all", "--dry-run"]);
    again.success();
    let at = |p: &str| {
        again
            .stdout
            .find(&format!(" {p} "))
            .unwrap_or_else(|| panic!("{p} not in {}", again.stdout))
    };
    assert!(at("p0") < at("p1") && at("p1") < at("p2") && at("p2") < at("p3"));
}

/// Two keys of one user are never rotated at once: a user has room for two keys only, and the
/// second rotation must see what the first one left. Here the user holds both its keys in two
/// profiles, so both rotations are refused (no room for a third key), one after the other: the
/// second one lists the keys only once the first one is done.
#[test]
fn keys_of_one_user_are_rotated_one_after_another() {
    let user = moto().user("one-user-two-keys");
    let (second_id, second_secret) = moto().add_key(&user);
    let proxy = Proxy::start(&moto().url);
    let env = TestEnv::with_endpoint(&proxy.url);
    let text = format!(
        "{}\n[b]\naws_access_key_id = {second_id}\naws_secret_access_key = {second_secret}\n",
        profile("a", &user)
    );
    env.write_credentials(&text);
    let run = env.run(&["now", "--all", "--json"]);
    run.failure(8);
    for k in run.json()["keys"].as_array().unwrap() {
        assert_eq!(k["outcome"], "refused", "{k}");
    }
    let seen = proxy.seen();
    let key_management: Vec<(&str, &str)> = seen
        .iter()
        .filter(|s| s.action != "GetCallerIdentity")
        .map(|s| (s.action.as_str(), s.key_id.as_str()))
        .collect();
    // Each rotation's calls come together: the signer changes once.
    let changes = key_management
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .count();
    assert_eq!(changes, 1, "interleaved: {key_management:?}");
    assert_eq!(env.credentials_text(), text);
    assert_eq!(moto().keys(&user).len(), 2);
}

/// `max_parallel` bounds the calls in flight, not the rotations: with one call at a time, the
/// keys of several users are still rotated, side by side.
#[test]
fn one_call_at_a_time_still_rotates_every_key() {
    let users: Vec<_> = (0..3)
        .map(|i| moto().user(&format!("serial-{i}")))
        .collect();
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_millis(800));
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.use_config("max_parallel = 1\n");
    let text: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| profile(&format!("p{i}"), u))
        .collect();
    env.write_credentials(&text);
    let run = env.run(&["now", "--all", "--json"]);
    run.success();
    for (i, u) in users.iter().enumerate() {
        let (id, _) = env.key_pair(&format!("p{i}"));
        assert_eq!(moto().keys(u), vec![(id, true)]);
    }
    let seen = proxy.seen();
    let last_create = seen
        .iter()
        .rposition(|s| s.action == "CreateAccessKey")
        .unwrap();
    assert!(last_create < first(&seen, |s| s.action == "DeleteAccessKey"));
    let config = env.run(&["config", "show", "--json"]);
    config.success();
    assert_eq!(config.json()["settings"]["max_parallel"]["value"], 1);
}
