//! What a first trial of keyrot-agent tripped on (issue "A new user's first hour"), one
//! regression test per rough edge: each failed before its fix.

mod support;

use std::time::{Duration, Instant};

use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

/// 1. The two-keys refusal's `aws iam` commands name the user and the profile: run exactly as
///    printed, they act on the profile's user, not on the default profile's.
#[test]
fn the_two_keys_refusal_prints_commands_that_act_on_the_right_user() {
    let user = moto().user("two-keys-work");
    let bystander = moto().user("two-keys-default");
    let (spare, _) = moto().add_key(&user);
    let env = TestEnv::new();
    env.write_credentials(format!(
        "{}{}",
        profile("default", &bystander),
        profile("work", &user)
    ));
    let run = env.run(&["now", "--profile", "work"]);
    run.failure(8);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("if it is unused"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let command = line
        .split("if it is unused: aws ")
        .nth(1)
        .and_then(|rest| rest.split(" (keyrot-agent").next())
        .unwrap();
    assert!(command.contains(" --user-name "), "{command}");
    assert!(command.contains(" --profile work"), "{command}");
    let args: Vec<&str> = command.split_whitespace().collect();
    env.aws(&args).success();
    assert!(
        moto().keys(&user).contains(&(spare.clone(), false)),
        "the printed command did not deactivate {spare}"
    );
    assert_eq!(
        moto().keys(&bystander),
        vec![(bystander.key_id.clone(), true)]
    );
    // With the spare Inactive, the rotation goes through (and deletes it).
    env.run(&["now", "--profile", "work"]).success();
}

/// 2. `recover --dry-run` with nothing in flight says so, not "nothing to rotate".
#[test]
fn recover_with_nothing_in_flight_says_so() {
    let user = moto().user("nothing-in-flight");
    let env = TestEnv::new();
    env.write_credentials(profile("default", &user));
    for args in [&["recover", "--dry-run"][..], &["recover"]] {
        let run = env.run(args);
        run.success();
        assert!(
            run.stdout
                .contains("nothing to recover: no rotation is in flight"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("no profile holds"), "{}", run.stdout);
    }
}

/// 3. `nwo` suggests `now`, not `undo`.
#[test]
fn a_typo_of_now_suggests_now() {
    let env = TestEnv::new();
    let run = env.run(&["nwo"]);
    run.failure(2);
    assert!(run.stderr.contains("'now'"), "{}", run.stderr);
    assert!(!run.stderr.contains("'undo'"), "{}", run.stderr);
}

/// 4. An error about two settings names the line that set them, and points at `config init
///    --print` (13).
#[test]
fn a_config_error_about_two_settings_names_its_line() {
    let user = moto().user("config-two-settings");
    let mut env = TestEnv::new();
    let path = env.use_config("# my settings\nmax_age = \"30d\"\n\ngrace = \"40d\"\n");
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now"]);
    run.failure(3);
    assert!(
        run.stderr.contains(&format!(
            "{}:4: grace (40d) must be shorter",
            path.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("config init --print"), "{}", run.stderr);
}

/// 5. `include = []` written in the file is shown as the file's, not as the default.
#[test]
fn config_show_names_the_line_of_an_empty_include() {
    let mut env = TestEnv::new();
    env.use_config("[profiles]\ninclude = []\n");
    let run = env.run(&["config", "show", "--json"]);
    run.success();
    assert_eq!(
        run.json()["settings"]["profiles.include"]["source"],
        "config file, line 2"
    );
}

/// 6. `now --all` rotates only the profiles the config manages, and says why it passed over
///    the others; a profile named with --profile is rotated regardless.
#[test]
fn now_all_respects_the_configs_include() {
    let prod = moto().user("include-prod");
    let dev = moto().user("include-dev");
    let mut env = TestEnv::new();
    env.use_config("[profiles]\ninclude = [\"prod*\"]\n");
    env.write_credentials(format!(
        "{}{}",
        profile("prod-eu", &prod),
        profile("dev", &dev)
    ));
    let run = env.run(&["now", "--all", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["keys"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["keys"][0]["profiles"][0], "prod-eu");
    assert_eq!(env.key_pair("dev").0, dev.key_id, "dev was rotated");
    let text = env.run(&["now", "--all", "--dry-run"]);
    assert!(text.stdout.contains("dev: not managed"), "{}", text.stdout);
    env.run(&["now", "--profile", "dev"]).success();
    assert_ne!(env.key_pair("dev").0, dev.key_id);
}

/// 8. Every label of the summary is as wide as the longest, so the profile names line up; the
///    per-step timings only with -v, a short "done in" otherwise.
#[test]
fn the_summary_lines_up_and_keeps_the_step_timings_for_verbose() {
    let user = moto().user("labels");
    let env = TestEnv::new();
    env.write_credentials(format!(
        "{}[sso]\nsso_session = corp\n",
        profile("default", &user)
    ));
    let dry = env.run(&["now", "--all", "--dry-run"]);
    dry.success();
    let column = |label: &str| {
        let line = dry
            .stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label}: {}", dry.stdout));
        line.len() - line[label.len()..].trim_start().len()
    };
    assert_eq!(column("would rotate"), 13, "{}", dry.stdout);
    assert_eq!(column("skipped"), 13, "{}", dry.stdout);

    let run = env.run(&["now"]);
    run.success();
    assert!(run.stdout.contains("done in "), "{}", run.stdout);
    assert!(!run.stdout.contains("verify on disk"), "{}", run.stdout);
    assert!(run.stdout.lines().all(|l| l.len() <= 100), "{}", run.stdout);
    let verbose = env.run(&["now", "-v"]);
    verbose.success();
    assert!(
        verbose.stdout.contains("verify on disk"),
        "{}",
        verbose.stdout
    );
    // -v shows keyrot-agent's own log lines, not the HTTP stack's.
    assert!(
        verbose.stderr.contains("keyrot_agent"),
        "{}",
        verbose.stderr
    );
    assert!(!verbose.stderr.contains("aws_smithy"), "{}", verbose.stderr);
    let quiet = env.run(&["now", "--quiet"]);
    quiet.success();
    assert_eq!(quiet.stdout, "");
}

/// 9. A profile that does not exist is "not found" for undo and keyring release; one not in
///    the keyring is "nothing to release" (exit 4, not 1); a misspelt `[profile.NAME]` table
///    is warned about.
#[test]
fn unknown_and_unkept_profiles_are_named_as_such() {
    let user = moto().user("no-such-profile");
    let mut env = TestEnv::new();
    env.use_config("[profile.defualt]\nauto_rotate = false\n");
    env.write_credentials(profile("default", &user));
    let undo = env.run(&["undo", "--profile", "nope"]);
    undo.failure(4);
    assert!(undo.stderr.contains("nope"), "{}", undo.stderr);
    assert!(undo.stderr.contains("not found"), "{}", undo.stderr);
    assert!(!undo.stderr.contains("nothing to undo"), "{}", undo.stderr);
    let release = env.run(&["keyring", "release", "--profile", "nope"]);
    release.failure(4);
    assert!(release.stderr.contains("not found"), "{}", release.stderr);
    let release = env.run(&["keyring", "release", "--profile", "default"]);
    release.failure(4);
    assert!(
        release.stderr.contains("not kept in the keyring"),
        "{}",
        release.stderr
    );
    let status = env.run(&["status"]);
    status.success();
    assert!(
        status.stderr.contains("[profile.defualt] names no profile"),
        "{}",
        status.stderr
    );
}

/// 10. An endpoint that answers 404 is "not an AWS endpoint" (exit 6); a closed port with a
///     misspelt region names the endpoint and the region.
#[test]
fn a_wrong_endpoint_or_region_is_named() {
    let user = moto().user("wrong-endpoint");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            use std::io::{Read, Write};
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
        }
    });
    let env = TestEnv::with_endpoint(&format!("http://127.0.0.1:{port}"));
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now", "--json"]);
    run.failure(6);
    assert_eq!(
        run.json()["keys"][0]["error"]["kind"],
        "not_an_aws_endpoint"
    );
    assert!(run.stderr.contains("not an AWS endpoint"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("http://127.0.0.1:{port}")),
        "{}",
        run.stderr
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut env = TestEnv::with_endpoint(&format!("http://127.0.0.1:{closed}"));
    env.extra_env
        .push(("AWS_REGION".into(), "us-eest-1".into()));
    env.write_credentials(profile("default", &user));
    let run = env.run(&["now"]);
    run.failure(6);
    assert!(
        run.stderr.contains(&format!("http://127.0.0.1:{closed}"))
            && run.stderr.contains("us-eest-1"),
        "{}",
        run.stderr
    );
}

/// 12. Ctrl-C during `now` says what was interrupted and what finishes it, and the file still
///     holds a working key; `recover` then finishes the rotation.
#[test]
fn ctrl_c_during_now_says_what_it_left_and_recover_finishes_it() {
    let user = moto().user("ctrl-c");
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(Duration::from_secs(5));
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    let child = env
        .command()
        .arg("now")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !proxy.seen().iter().any(|s| s.action == "CreateAccessKey") {
        assert!(start.elapsed() < Duration::from_secs(30), "never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted (Ctrl-C) while rotating default"),
        "{stderr}"
    );
    assert!(stderr.contains("keyrot-agent recover"), "{stderr}");
    assert_eq!(env.key_pair("default").0, user.key_id);
    assert_eq!(env.cli_identity("default"), user.arn);
    env.run(&["recover"]).success();
    let (id, _) = env.key_pair("default");
    assert_eq!(moto().keys(&user), vec![(id, true)]);
}

/// 13. `config init --print` and `config path`; an existing file is kept, and the refusal
///     points at --print; a per-profile setting under `[profiles]` points at `[profile.NAME]`.
#[test]
fn config_init_print_and_path() {
    let mut env = TestEnv::new();
    let path = env.use_config("max_age = \"30d\"\n");
    let print = env.run(&["config", "init", "--print"]);
    print.success();
    assert!(
        print.stdout.contains("max_parallel = 4"),
        "{}",
        print.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "max_age = \"30d\"\n"
    );
    let where_ = env.run(&["config", "path"]);
    where_.success();
    assert_eq!(where_.stdout.trim(), path.display().to_string());
    let init = env.run(&["config", "init"]);
    init.failure(2);
    assert!(
        init.stderr.contains("config init --print"),
        "{}",
        init.stderr
    );
    std::fs::write(&path, "[profiles]\nmax_age = \"30d\"\n").unwrap();
    let show = env.run(&["config", "show"]);
    show.failure(3);
    assert!(show.stderr.contains("[profile.NAME]"), "{}", show.stderr);
}

/// 14. `status` says "rolled back", not `rolled_back`, and STORAGE `-` for a profile that keeps
///     no key of its own (SSO, a role).
#[test]
fn status_words_and_storage_of_profiles_without_keys() {
    let user = moto().user("status-words");
    let proxy = Proxy::start(&moto().url);
    // The new key never works: the rotation rolls back.
    proxy.delay_new_keys(Duration::from_secs(3600));
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(format!(
        "{}[sso]\nsso_session = corp\n[role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = default\n",
        profile("default", &user)
    ));
    env.run(&["now", "--verify-timeout", "1s"]).failure(9);
    let status = env.run(&["status"]);
    status.success();
    assert!(status.stdout.contains("rolled back"), "{}", status.stdout);
    assert!(!status.stdout.contains("rolled_back"), "{}", status.stdout);
    for name in ["sso", "role"] {
        let row = status
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{}", status.stdout));
        assert!(!row.contains(" file "), "{row}");
    }
}
