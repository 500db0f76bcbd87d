//! `keyrot-agent run`, end to end against moto behind the proxy and a real notification server
//! (dunst on a private D-Bus session under Xvfb): with `max_age` set to seconds, the agent warns,
//! rotates the key when it falls due and says so, makes no AWS request while nothing is due,
//! refuses a second instance, tells a failure once however often it retries, looks again when
//! its files change, and stops cleanly on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use support::desktop::Desktop;
use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

#[test]
fn the_agent_rotates_when_due_and_is_quiet_otherwise() {
    let desktop = Desktop::start();
    let user = moto().user("agent");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());
    env.use_config("max_age = \"8s\"\nwarn_before = \"5s\"\n");
    env.write_credentials(profile("default", &user));

    let mut agent = Agent::spawn(env.command().arg("run"));
    // The key is new: the agent learns its date, then sleeps until it is due (~6 s), rotates.
    let start = Instant::now();
    while env.key_pair("default").0 == user.key_id {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the agent never rotated"
        );
        assert!(
            agent.0.as_mut().unwrap().try_wait().unwrap().is_none(),
            "the agent exited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let new = env.key_pair("default").0;
    // Let it finish the rotation (old key deleted) and settle.
    let settled = Instant::now();
    while moto().keys(&user) != vec![(new.clone(), true)] {
        assert!(
            settled.elapsed() < Duration::from_secs(30),
            "{:?}",
            moto().keys(&user)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Nothing is due for ~3 s now: no AWS request at all.
    let before = proxy.seen().len();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        proxy.seen().len(),
        before,
        "AWS requests while nothing was due"
    );
    assert_eq!(env.cli_identity("default"), user.arn);

    // The warning came first, then the rotation's success, in dunst's history.
    let start = Instant::now();
    while desktop.total() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:#?}",
            desktop.peek()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // KEYROT_SCREENSHOT=path keeps a picture of them for the README.
    if let Some(path) = std::env::var_os("KEYROT_SCREENSHOT") {
        std::thread::sleep(Duration::from_millis(500));
        assert!(desktop.screenshot(std::path::Path::new(&path)));
    }
    let shown = desktop.notifications();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert_eq!(shown[0].appname, "keyrot-agent");
    assert!(
        shown[0]
            .summary
            .starts_with("AWS key for 'default' is due on"),
        "{shown:#?}"
    );
    assert!(
        shown[0].body.contains("keyrot-agent now --profile default"),
        "{shown:#?}"
    );
    assert_eq!(shown[1].summary, "Rotated the AWS key for 'default'");
    assert!(shown[1].body.contains(&new), "{shown:#?}");
    assert!(shown[1].body.contains(&user.key_id), "{shown:#?}");
    let secret = env.key_pair("default").1;
    for s in &shown {
        for text in [&s.summary, &s.body] {
            assert!(!text.contains(&secret) && !text.contains(&user.secret));
        }
    }

    // status reflects it.
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["last_rotation"]["outcome"], "rotated");
    assert_eq!(v["profiles"][0]["last_error"], serde_json::Value::Null);

    // A second agent is refused at once with its own exit code.
    let second = env.run(&["run"]);
    second.failure(14);
    assert!(
        second.stderr.contains("already running"),
        "{}",
        second.stderr
    );

    // SIGTERM stops it cleanly.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now();
    loop {
        if let Some(status) = agent.0.as_mut().unwrap().try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "the agent did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_config_stops_the_agent_at_start_with_its_line() {
    let mut env = TestEnv::with_endpoint("http://127.0.0.1:9");
    env.use_config("max_age = \"6s\"\nauto_rotate = maybe\n");
    let run = env.run(&["run"]);
    run.failure(3);
    assert!(run.stderr.contains(":2:"), "{}", run.stderr);
}

/// A running agent, killed if the test fails before stopping it.
struct Agent(Option<std::process::Child>);

impl Agent {
    fn spawn(cmd: &mut std::process::Command) -> Agent {
        Agent(Some(cmd.spawn().unwrap()))
    }
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sighup(agent: &Agent) {
    unsafe { libc::kill(agent.id() as i32, libc::SIGHUP) };
}

/// Forces three more rounds (SIGHUP); the failure was still told only once.
#[track_caller]
fn three_retries_tell_it_once(agent: &Agent, desktop: &Desktop) {
    for _ in 0..3 {
        sighup(agent);
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_eq!(
        desktop.count_starting("Could not rotate"),
        1,
        "{:#?}",
        desktop.notifications()
    );
}

fn stop(mut agent: Agent) {
    let mut child = agent.0.take().unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_failure_is_told_once_however_often_it_is_retried_then_the_success() {
    let desktop = Desktop::start();
    let user = moto().user("agentfail");
    let proxy = Proxy::start(&moto().url);
    let port = proxy.port();
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());

    env.use_config("max_age = \"4s\"\nwarn_before = \"0s\"\nverify_timeout = \"2s\"\n");
    env.write_credentials(profile("default", &user));
    let agent = Agent::spawn(env.command().arg("run"));
    // The agent learns the key's date while the network is up, then the network goes away.
    let start = Instant::now();
    while !proxy.seen().iter().any(|s| s.action == "ListAccessKeys") {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy.go_down();
    let failed = desktop.wait_for_summary("Could not rotate", Duration::from_secs(30));
    assert!(
        failed.body.contains("keyrot-agent now --profile default"),
        "{failed:?}"
    );
    // status shows the last error, offline.
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["last_error"]["kind"], "unreachable", "{v}");
    // Retries (SIGHUP forces them) do not repeat it.
    three_retries_tell_it_once(&agent, &desktop);
    assert_eq!(env.key_pair("default").0, user.key_id);
    // The network comes back: the next try rotates, and says so.
    let _back = Proxy::start_on(&moto().url, port);
    sighup(&agent);
    desktop.wait_for_summary("Rotated the AWS key for 'default'", Duration::from_secs(30));
    assert_ne!(env.key_pair("default").0, user.key_id);
    assert_eq!(env.cli_identity("default"), user.arn);
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(
        v["profiles"][0]["last_error"],
        serde_json::Value::Null,
        "{v}"
    );
    stop(agent);
}

#[test]
fn no_notify_and_the_config_silence_it_and_a_config_change_is_seen_at_once() {
    let desktop = Desktop::start();
    let user = moto().user("agentquiet");
    let other = moto().user("agentloud");
    let mut env = TestEnv::new();
    env.extra_env.extend(desktop.env());
    // Nothing is due for 90 days: the agent sleeps for an hour.
    let config = env.use_config("[profile.quiet]\nnotify = false\n");
    env.write_credentials(format!(
        "{}{}",
        profile("quiet", &user),
        profile("loud", &other)
    ));
    let agent = Agent::spawn(env.command().arg("run"));
    std::thread::sleep(Duration::from_millis(1500));
    // The config changes: the agent looks at once, and both keys are due.
    std::fs::write(
        &config,
        "max_age = \"1s\"\nwarn_before = \"0s\"\n[profile.quiet]\nnotify = false\n",
    )
    .unwrap();
    let start = Instant::now();
    while env.key_pair("quiet").0 == user.key_id || env.key_pair("loud").0 == other.key_id {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the agent did not see the config change"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    desktop.wait_for_summary("Rotated the AWS key for 'loud'", Duration::from_secs(20));
    // Stop before the new keys fall due again (1 s).
    stop(agent);
    let shown = desktop.notifications();
    assert!(
        shown.iter().all(|s| !s.summary.contains("'quiet'")),
        "{shown:#?}"
    );

    // --no-notify: nothing at all. A home and state of its own: the first agent may have been
    // stopped in the middle of a rotation of its profiles, which would be finished first.
    let user = moto().user("agentnone");
    let mut env = TestEnv::new();
    env.extra_env.extend(desktop.env());
    env.use_config("max_age = \"1s\"\nwarn_before = \"0s\"\n");
    env.write_credentials(profile("default", &user));
    let before = desktop.notifications().len();
    let agent = Agent::spawn(env.command().args(["run", "--no-notify"]));
    let start = Instant::now();
    while env.key_pair("default").0 == user.key_id {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop(agent);
    assert_eq!(desktop.notifications().len(), before);
}

#[test]
fn the_agent_deletes_the_old_key_when_its_grace_is_over() {
    let user = moto().user("agentgrace");
    let mut env = TestEnv::new();
    env.use_config("max_age = \"3s\"\nwarn_before = \"0s\"\ngrace = \"2s\"\n");
    env.write_credentials(profile("default", &user));
    let agent = Agent::spawn(env.command().arg("run"));
    let start = Instant::now();
    while env.key_pair("default").0 == user.key_id {
        assert!(start.elapsed() < Duration::from_secs(30), "never rotated");
        std::thread::sleep(Duration::from_millis(50));
    }
    // After the rotation the old key stays there, Inactive (for its 2 s of grace).
    while !moto().keys(&user).contains(&(user.key_id.clone(), false)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            moto().keys(&user)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its grace ends ~2 s later; the agent wakes for it and deletes it (before the new key is
    // due at ~3 s, the old one is gone).
    while moto().keys(&user).iter().any(|(k, _)| *k == user.key_id) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            moto().keys(&user)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(agent);
    assert!(moto().keys(&user).iter().all(|(k, _)| *k != user.key_id));
    assert_eq!(env.cli_identity("default"), user.arn);
}

#[test]
fn a_key_that_needs_an_mfa_code_is_told_about_and_rotated_once_mfa_process_is_set() {
    const CODE: &str = "482913";
    const LATER: &str = "730518";
    let desktop = Desktop::start();
    let user = moto().user("agentmfa");
    let proxy = Proxy::start(&moto().url);
    let serial = format!("arn:aws:iam::123456789012:mfa/{}", user.name);
    proxy.require_mfa(&user, &serial);
    proxy.accept_mfa_code(&serial, CODE);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());
    env.write_credentials(profile("work", &user));
    env.write_config(&format!("[profile work]\nmfa_serial = {serial}\n"));
    // A first rotation by hand: keyrot-agent knows the key's date from then on.
    env.run(&["now", "--profile", "work", "--mfa-code", CODE])
        .success();
    let first = env.key_pair("work").0;
    let config = env.use_config("max_age = \"5s\"\nwarn_before = \"1s\"\n");
    let agent = Agent::spawn(env.command().arg("run"));
    // It falls due; the agent cannot ask for a code: it says so on the desktop, and waits.
    let shown = desktop.wait_for_summary(
        "AWS key for 'work' is due; it needs your MFA code",
        Duration::from_secs(40),
    );
    assert!(
        shown.body.contains("keyrot-agent now --profile work"),
        "{shown:#?}"
    );
    let row = &env.run(&["status", "--json"]).json()["profiles"][0];
    assert_eq!(row["state"], "needs MFA", "{row}");
    assert_eq!(row["mfa"]["serial"], serial.as_str(), "{row}");
    assert_eq!(row["mfa"]["unattended"], false, "{row}");
    // Told once a day, not once a round; and never tried.
    sighup(&agent);
    std::thread::sleep(Duration::from_millis(1500));
    let told = desktop
        .notifications()
        .iter()
        .filter(|s| s.summary.contains("needs your MFA code"))
        .count();
    assert_eq!(told, 1, "told again after a new round");
    assert_eq!(env.key_pair("work").0, first);
    assert_eq!(
        proxy.sessions().len(),
        1,
        "the agent asked STS for a session"
    );
    // With mfa_process, the agent rotates it by itself.
    let script = env.dir.path().join("code.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho {LATER}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    proxy.accept_mfa_code(&serial, LATER);
    std::fs::write(
        &config,
        format!(
            "max_age = \"1h\"\nwarn_before = \"1s\"\n[profile.work]\nmfa_process = \"{}\"\nmax_age = \"5s\"\n",
            script.display()
        ),
    )
    .unwrap();
    let start = Instant::now();
    while env.key_pair("work").0 == first {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the agent never rotated with mfa_process"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let new = env.key_pair("work").0;
    let settled = Instant::now();
    while moto().keys(&user) != vec![(new.clone(), true)] {
        assert!(settled.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(agent);
    assert_eq!(env.cli_identity("work"), user.arn);
    assert_eq!(proxy.sessions().len(), 2);
    assert_eq!(proxy.key_management_without_session(), Vec::<String>::new());
}

#[test]
fn the_agent_runs_the_hooks_tells_a_failing_one_once_and_passes_on_a_last_use_warning() {
    let desktop = Desktop::start();
    let user = moto().user("agenthook");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());
    env.write_credentials(profile("default", &user));
    // A post_rotate hook that refuses: every rotation the agent tries is rolled back.
    let refusing = env.dir.path().join("refuse.sh");
    std::fs::write(
        &refusing,
        "#!/bin/sh\necho 'the vault is sealed' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&refusing, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = env.use_config(&format!(
        "max_age = \"3s\"\nwarn_before = \"0s\"\npost_rotate = \"{}\"\n",
        refusing.display()
    ));
    let agent = Agent::spawn(env.command().arg("run"));
    let failed = desktop.wait_for_summary("Could not rotate", Duration::from_secs(40));
    assert!(
        failed.body.contains("post_rotate") && failed.body.contains("the vault is sealed"),
        "{failed:?}"
    );
    // Retries roll back again and are not told again; the old key is the only one, and Active.
    three_retries_tell_it_once(&agent, &desktop);
    // One try, and one per SIGHUP: the rollback's own write to the credentials file does not
    // wake the agent again at once (it did: a failing hook made it create and delete a key
    // every half second).
    let creates = proxy
        .seen()
        .iter()
        .filter(|s| s.action == "CreateAccessKey")
        .count();
    assert!(
        (2..=4).contains(&creates),
        "{creates} CreateAccessKey calls"
    );
    let start = Instant::now();
    while env.key_pair("default").0 != user.key_id
        || moto().keys(&user) != vec![(user.key_id.clone(), true)]
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            moto().keys(&user)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The hook is replaced by one that stands for another program still using the old key (for
    // S3): the agent rotates, and its notification passes the last-use warning on.
    std::fs::write(
        &config,
        format!(
            "max_age = \"3s\"\nwarn_before = \"0s\"\npost_rotate = \"{}\"\n",
            support::other_program_using(env.dir.path(), &user)
        ),
    )
    .unwrap();
    let rotated =
        desktop.wait_for_summary("Rotated the AWS key for 'default'", Duration::from_secs(40));
    assert!(
        rotated.body.contains("the old key was last used at") && rotated.body.contains("by s3"),
        "{rotated:?}"
    );
    stop(agent);
    assert_ne!(env.key_pair("default").0, user.key_id);
    assert_eq!(env.cli_identity("default"), user.arn);
}

/// A user that may not list its own keys: the agent cannot learn the key's age, so the key is
/// never due. That is told once (not a warning line every round), and `status` shows it, on one
/// line (before, the agent only logged it, every round).
#[test]
fn a_user_without_permission_is_told_once_and_status_shows_it() {
    let desktop = Desktop::start();
    let user = moto().user("agentdenied");
    let proxy = Proxy::start(&moto().url);
    proxy.fail(
        "ListAccessKeys",
        support::proxy::Failure::access_denied("ListAccessKeys"),
    );
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env.extend(desktop.env());
    env.use_config("max_age = \"90d\"\n");
    env.write_credentials(profile("default", &user));
    let agent = Agent::spawn(env.command().arg("run"));
    let told = desktop.wait_for_summary("Could not rotate", Duration::from_secs(30));
    assert!(told.body.contains("access denied"), "{told:?}");
    assert!(
        told.body.contains("keyrot-agent now --profile default"),
        "{told:?}"
    );
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(
        v["profiles"][0]["last_error"]["kind"], "access_denied",
        "{v}"
    );
    // The table shows the error's first line only, not the whole policy it quotes.
    let table = env.run(&["status"]);
    table.success();
    let error_lines: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.contains("last error"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{}", table.stdout);
    assert!(error_lines[0].contains("status --json"), "{}", table.stdout);
    assert!(!table.stdout.contains("\"Statement\""), "{}", table.stdout);
    three_retries_tell_it_once(&agent, &desktop);
    stop(agent);
}

/// The foreground agent says it started, each rotation, and when it looks next, one line each on
/// standard output; its log lines (INFO) only with -v.
#[test]
fn the_foreground_agent_prints_a_line_per_event_and_logs_only_with_verbose() {
    let desktop = Desktop::start();
    let user = moto().user("agentlines");
    let mut env = TestEnv::new();
    env.extra_env.extend(desktop.env());
    env.use_config("max_age = \"4s\"\nwarn_before = \"0s\"\n");
    env.write_credentials(profile("default", &user));
    let child = env
        .command()
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while env.key_pair("default").0 == user.key_id {
        assert!(start.elapsed() < Duration::from_secs(60), "never rotated");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let new = env.key_pair("default").0;
    assert!(stdout.starts_with("keyrot-agent run: started"), "{stdout}");
    assert!(
        stdout.contains(&format!("rotated default: {} → {new}", user.key_id)),
        "{stdout}"
    );
    assert!(stdout.contains("next look at "), "{stdout}");
    assert!(!stderr.contains(" INFO "), "{stderr}");
}
