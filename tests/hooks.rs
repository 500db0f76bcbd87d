//! Rotation hooks, end to end: real scripts as `pre_rotate` and `post_rotate`, against moto
//! through the fault proxy, checked with the real AWS CLI. And the three shipped examples in
//! `packaging/hooks/`, run for real (`pass` with a throwaway GnuPG home).

mod support;

use std::path::{Path, PathBuf};

use support::proxy::Proxy;
use support::{TestEnv, User, moto, profile, python};

/// A post_rotate hook that records, one JSON line per run, what it was given, its own argv and
/// environment (from /proc), who the given key answers as (the real AWS CLI), and the state of
/// every key of the user at that instant (so the order of steps can be checked).
const RECORDER: &str = r#"
import json, os, subprocess, sys
given = json.load(sys.stdin)
log = sys.argv[1]
cmdline = open("/proc/self/cmdline", "rb").read().decode(errors="replace")
environ = open("/proc/self/environ", "rb").read().decode(errors="replace")
env = dict(os.environ)
env["AWS_ACCESS_KEY_ID"] = given.get("AccessKeyId", "")
env["AWS_SECRET_ACCESS_KEY"] = given.get("SecretAccessKey", "")
def cli(*args):
    out = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                         env=env, capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr}
record = {"given": given, "cwd": os.getcwd(), "cmdline": cmdline, "environ": environ}
if "SecretAccessKey" in given:
    record["identity"] = cli("sts", "get-caller-identity")
    record["keys"] = cli("iam", "list-access-keys")
with open(log, "a") as f:
    f.write(json.dumps(record) + "\n")
fail = os.environ.get("HOOK_FAIL", "")
if fail == "always" or (fail == "new" and not given.get("RolledBack", False) and "SecretAccessKey" in given):
    sys.stderr.write("cannot update the app with " + given.get("SecretAccessKey", "") + "\nthe app is down\n")
    sys.exit(3)
"#;

struct Setup {
    user: User,
    /// Kept alive for the test's length.
    _proxy: Proxy,
    env: TestEnv,
    log: PathBuf,
    original: String,
}

/// A user, its key in profile `work` (and `ci`, sharing it), and the recorder as the hook
/// `which` (`post_rotate` or `pre_rotate`), with `extra` config lines.
fn setup(prefix: &str, which: &str, extra: &str) -> Setup {
    let user = moto().user(prefix);
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    let original = format!(
        "# keep me\n{}[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        profile("work", &user),
        user.key_id,
        user.secret
    );
    env.write_credentials(&original);
    let script = env.dir.path().join("recorder.py");
    std::fs::write(&script, RECORDER).unwrap();
    let log = env.dir.path().join("hook.log");
    env.use_config(&format!(
        "{which} = \"'{}' '{}' '{}'\"\nhook_env = [\"AWS_ENDPOINT_URL\", \"AWS_REGION\", \"AWS_DEFAULT_REGION\", \"AWS_EC2_METADATA_DISABLED\", \"HOOK_FAIL\"]\n{extra}",
        python().display(),
        script.display(),
        log.display()
    ));
    Setup {
        user,
        _proxy: proxy,
        env,
        log,
        original,
    }
}

fn runs(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn key_status(record: &serde_json::Value, key_id: &str) -> Option<String> {
    record["keys"]["AccessKeyMetadata"]
        .as_array()?
        .iter()
        .find(|k| k["AccessKeyId"] == key_id)
        .map(|k| k["Status"].as_str().unwrap().to_string())
}

#[test]
fn post_rotate_gets_the_new_pair_on_stdin_while_the_old_key_is_still_active() {
    let s = setup("hook-post", "post_rotate", "");
    let run = s
        .env
        .command()
        .env("RUST_LOG", "trace")
        .args(["now", "--profile", "work"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stdout}\n{stderr}");
    let (new_id, new_secret) = s.env.key_pair("work");
    assert_ne!(new_id, s.user.key_id);
    assert_eq!(s.env.cli_identity("work"), s.user.arn);
    assert_eq!(moto().keys(&s.user), vec![(new_id.clone(), true)]);
    assert!(stdout.contains("hook ran:"), "{stdout}");

    let runs = runs(&s.log);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let r = &runs[0];
    let given = &r["given"];
    assert_eq!(given["Version"], 1);
    assert_eq!(given["Profile"], "work");
    assert_eq!(given["Profiles"], serde_json::json!(["work", "ci"]));
    assert_eq!(given["UserArn"], s.user.arn.as_str());
    assert_eq!(given["AccessKeyId"], new_id.as_str());
    assert_eq!(given["SecretAccessKey"], new_secret.as_str());
    assert_eq!(given["OldAccessKeyId"], s.user.key_id.as_str());
    assert_eq!(given["RolledBack"], false);
    // The new key works (the real AWS CLI), and the old one is still Active at that instant.
    assert_eq!(r["identity"]["Arn"], s.user.arn.as_str(), "{r:#}");
    assert_eq!(key_status(r, &s.user.key_id).as_deref(), Some("Active"));
    assert_eq!(key_status(r, &new_id).as_deref(), Some("Active"));
    // The secret is in neither its argv nor its environment; the environment is minimal.
    let cmdline = r["cmdline"].as_str().unwrap();
    let environ = r["environ"].as_str().unwrap();
    for secret in [&new_secret, &s.user.secret] {
        assert!(!cmdline.contains(secret.as_str()) && !environ.contains(secret.as_str()));
    }
    let names: Vec<&str> = environ
        .split('\0')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect();
    for name in &names {
        assert!(
            [
                "HOME",
                "PATH",
                "LANG",
                "AWS_ENDPOINT_URL",
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_EC2_METADATA_DISABLED",
                "HOOK_FAIL",
                // What sh itself sets.
                "PWD",
                "SHLVL",
                "_",
                "OLDPWD",
            ]
            .contains(name),
            "the hook got {name}: {names:?}"
        );
    }
    assert!(!names.contains(&"XDG_STATE_HOME"), "{names:?}");
    assert_eq!(r["cwd"], s.env.home.display().to_string());
    // Trace logging shows neither secret.
    for secret in [&new_secret, &s.user.secret] {
        assert!(!stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()));
    }
}

#[test]
fn a_failing_hook_rolls_back_and_is_given_the_old_pair_again() {
    let mut s = setup("hook-fail", "post_rotate", "");
    s.env.extra_env.push(("HOOK_FAIL".into(), "new".into()));
    let run = s.env.run(&["now", "--profile", "work"]);
    run.failure(18);
    assert!(
        run.stderr.contains("the post_rotate hook") && run.stderr.contains("exited with status 3"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("the app is down"), "{}", run.stderr);
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
    // The file is byte-identical, the old key Active and alone in IAM.
    assert_eq!(s.env.credentials_text(), s.original);
    assert_eq!(moto().keys(&s.user), vec![(s.user.key_id.clone(), true)]);
    assert_eq!(s.env.cli_identity("work"), s.user.arn);
    let runs = runs(&s.log);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let new_id = runs[0]["given"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let new_secret = runs[0]["given"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(runs[1]["given"]["RolledBack"], true);
    assert_eq!(runs[1]["given"]["AccessKeyId"], s.user.key_id.as_str());
    assert_eq!(runs[1]["given"]["SecretAccessKey"], s.user.secret.as_str());
    assert_eq!(runs[1]["given"]["OldAccessKeyId"], new_id.as_str());
    // The hook printed the new secret on stderr: what is shown of it is scrubbed.
    run.assert_no_secret(&[&new_secret, &s.user.secret]);
    let v = s.env.run(&["now", "--profile", "work", "--json"]);
    v.failure(18);
    let v = v.json();
    assert_eq!(v["keys"][0]["error"]["kind"], "hook_failed");
    assert_eq!(v["keys"][0]["outcome"], "rolled_back");
    assert_eq!(v["keys"][0]["hooks"][0]["result"], "failed");
    assert_eq!(v["keys"][0]["hooks"][1]["result"], "reverted");
    // status shows the failure.
    let st = s.env.run(&["status", "--json"]).json();
    assert_eq!(
        st["profiles"][0]["last_error"]["kind"], "hook_failed",
        "{st}"
    );
}

#[test]
fn a_hook_past_its_timeout_is_killed_with_its_children_and_rolls_back() {
    let user = moto().user("hook-timeout");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("work", &user);
    env.write_credentials(&original);
    let pids = env.dir.path().join("pids");
    env.use_config(&format!(
        "post_rotate = \"sleep 30 & echo $! >> '{}'; wait\"\nhook_timeout = \"1s\"\n",
        pids.display()
    ));
    let run = env.run(&["now", "--profile", "work"]);
    run.failure(18);
    assert!(run.stderr.contains("ran past its 1 s"), "{}", run.stderr);
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    // Run twice (the new pair, then the old): both sleeps were killed with their group.
    let pids = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        // Gone, or a zombie waiting for whoever reaps orphans here.
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        assert!(
            matches!(state, None | Some('Z') | Some('X')),
            "the hook's child {pid} outlived it: {stat}"
        );
    }
}

#[test]
fn on_hook_failure_continue_keeps_the_new_key_and_says_so() {
    let mut s = setup(
        "hook-continue",
        "post_rotate",
        "on_hook_failure = \"continue\"\n",
    );
    s.env.extra_env.push(("HOOK_FAIL".into(), "always".into()));
    let run = s.env.run(&["now", "--profile", "work", "--json"]);
    run.success();
    let v = run.json();
    let new_id = s.env.key_pair("work").0;
    assert_eq!(moto().keys(&s.user), vec![(new_id, true)]);
    assert_eq!(v["keys"][0]["outcome"], "rotated");
    let warning = v["keys"][0]["warnings"][0].as_str().unwrap();
    assert!(warning.contains("on_hook_failure"), "{warning}");
    assert_eq!(runs(&s.log).len(), 1);
}

#[test]
fn a_pre_rotate_veto_creates_no_key_and_says_which_hook_and_why() {
    let user = moto().user("hook-veto");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    let original = profile("work", &user);
    env.write_credentials(&original);
    let seen = env.dir.path().join("pre.json");
    env.use_config(&format!(
        "[profile.work]\npre_rotate = \"cat > '{}'; echo 'a deploy is running' >&2; exit 1\"\n",
        seen.display()
    ));
    let run = env.run(&["now", "--profile", "work"]);
    run.failure(18);
    assert!(
        run.stderr.contains("pre_rotate hook") && run.stderr.contains("a deploy is running"),
        "{}",
        run.stderr
    );
    assert_eq!(env.credentials_text(), original);
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    assert!(
        !proxy.seen().iter().any(|x| x.action == "CreateAccessKey"),
        "a key was created"
    );
    let given: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(given["AccessKeyId"], user.key_id.as_str());
    assert_eq!(given["UserArn"], user.arn.as_str());
    assert!(given.get("SecretAccessKey").is_none());
    let st = env.run(&["status", "--json"]).json();
    assert_eq!(st["profiles"][0]["last_error"]["kind"], "hook_refused");
    assert!(
        st["profiles"][0]["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("a deploy is running")
    );
    // --no-hooks skips it, and says so.
    let run = env.run(&["now", "--profile", "work", "--no-hooks"]);
    run.success();
    assert!(
        run.stdout.contains("hooks skipped (--no-hooks)"),
        "{}",
        run.stdout
    );
    assert_ne!(env.key_pair("work").0, user.key_id);
}

#[test]
fn a_crash_after_a_hook_is_finished_by_recover_without_running_it_again() {
    if !cfg!(feature = "failpoints") {
        return;
    }
    let user = moto().user("hook-crash");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    let (a, b) = (env.dir.path().join("a.log"), env.dir.path().join("b.log"));
    env.use_config(&format!(
        "post_rotate = [\"cat >> '{}'; echo >> '{}'\", \"cat >> '{}'; echo >> '{}'\"]\n",
        a.display(),
        a.display(),
        b.display(),
        b.display()
    ));
    // Crash after the first hook finished (the failpoint's first hit aborts).
    env.assert_crashes_at("after-hook", &["now", "--profile", "work"]);
    assert_eq!(env.cli_identity("work"), user.arn);
    assert_eq!(std::fs::read_to_string(&a).unwrap().lines().count(), 1);
    assert!(!b.exists());
    env.run(&["recover"]).success();
    // The first hook is not run again; the second runs once; the rotation is finished.
    assert_eq!(std::fs::read_to_string(&a).unwrap().lines().count(), 1);
    assert_eq!(std::fs::read_to_string(&b).unwrap().lines().count(), 1);
    let new_id = env.key_pair("work").0;
    assert_eq!(moto().keys(&user), vec![(new_id.clone(), true)]);
    let given: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&b).unwrap().trim()).unwrap();
    assert_eq!(given["AccessKeyId"], new_id.as_str());
}

/// The shipped example hooks, configured as the README shows.
fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/hooks")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn the_s3cfg_and_dotenv_examples_update_their_files_atomically() {
    let user = moto().user("hook-examples");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    let s3cfg = env.home.join(".s3cfg");
    std::fs::write(
        &s3cfg,
        format!(
            "[default]\naccess_key = {}\nhost_base = s3.amazonaws.com\nsecret_key = {}\nuse_https = True\n",
            user.key_id, user.secret
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s3cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dotenv = env.home.join("app.env");
    std::fs::write(
        &dotenv,
        format!(
            "# app\nDATABASE_URL=postgres://x\nexport AWS_ACCESS_KEY_ID=\"{}\"\nAWS_SECRET_ACCESS_KEY={}\n",
            user.key_id, user.secret
        ),
    )
    .unwrap();
    env.use_config(&format!(
        "post_rotate = [\"'{py}' '{}'\", \"'{py}' '{}' ~/app.env\"]\n",
        example("s3cfg.py"),
        example("dotenv.py"),
        py = python().display()
    ));
    env.run(&["now", "--profile", "work"]).success();
    let (id, secret) = env.key_pair("work");
    assert_eq!(
        std::fs::read_to_string(&s3cfg).unwrap(),
        format!(
            "[default]\naccess_key = {id}\nhost_base = s3.amazonaws.com\nsecret_key = {secret}\nuse_https = True\n"
        )
    );
    assert_eq!(
        std::fs::metadata(&s3cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&dotenv).unwrap(),
        format!(
            "# app\nDATABASE_URL=postgres://x\nexport AWS_ACCESS_KEY_ID=\"{id}\"\nAWS_SECRET_ACCESS_KEY={secret}\n"
        )
    );
    // Nothing left next to them.
    let leftovers: Vec<_> = std::fs::read_dir(&env.home)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".s3cfg.") || n.starts_with(".env."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_pass_example_stores_the_pair_in_a_real_password_store() {
    let user = moto().user("hook-pass");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("work", &user));
    // A throwaway GnuPG home with a key without passphrase, and a password store using it.
    let gnupg = env.dir.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = env.dir.path().join("password-store");
    let home = env.home.clone();
    let tool_env = |cmd: &mut std::process::Command| {
        cmd.env("GNUPGHOME", &gnupg)
            .env("PASSWORD_STORE_DIR", &store)
            .env("HOME", &home);
    };
    let mut keygen = std::process::Command::new("gpg");
    tool_env(&mut keygen);
    let out = keygen
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "keyrot-test@example.invalid",
            "default",
            "default",
            "never",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut init = std::process::Command::new("pass");
    tool_env(&mut init);
    let out = init
        .args(["init", "keyrot-test@example.invalid"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    env.extra_env
        .push(("GNUPGHOME".into(), gnupg.display().to_string()));
    env.extra_env
        .push(("PASSWORD_STORE_DIR".into(), store.display().to_string()));
    env.use_config(&format!(
        "post_rotate = \"'{}' '{}'\"\nhook_env = [\"GNUPGHOME\", \"PASSWORD_STORE_DIR\"]\n",
        python().display(),
        example("pass.py")
    ));
    let run = env.run(&["now", "--profile", "work"]);
    run.success();
    let (id, secret) = env.key_pair("work");
    let mut show = std::process::Command::new("pass");
    tool_env(&mut show);
    let out = show.args(["show", "aws/work"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{secret}\naws_access_key_id: {id}\n")
    );
    run.assert_no_secret(&[&secret]);
    let mut stop = std::process::Command::new("gpgconf");
    tool_env(&mut stop);
    let _ = stop.args(["--kill", "gpg-agent"]).status();
}
