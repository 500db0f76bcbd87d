//! `keyrot-agent run`, end to end against moto behind the proxy: with `max_age` set to seconds,
//! the agent rotates the key when it falls due, makes no AWS request while nothing is due,
//! refuses a second instance, and stops cleanly on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

#[test]
fn the_agent_rotates_when_due_and_is_quiet_otherwise() {
    let user = moto().user("agent");
    let proxy = Proxy::start(&moto().url);
    let mut env = TestEnv::with_endpoint(&proxy.url);
    let config = env.dir.path().join("keyrot.toml");
    std::fs::write(&config, "max_age = \"6s\"\nwarn_before = \"2s\"\n").unwrap();
    env.extra_env
        .push(("KEYROT_CONFIG".into(), config.display().to_string()));
    env.write_credentials(profile("default", &user));

    let mut agent = env.command().arg("run").spawn().unwrap();
    // The key is new: the agent learns its date, then sleeps until it is due (~6 s), rotates.
    let start = Instant::now();
    while env.key_pair("default").0 == user.key_id {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the agent never rotated"
        );
        assert!(agent.try_wait().unwrap().is_none(), "the agent exited");
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
    // Nothing is due for ~5 s now: no AWS request at all.
    let before = proxy.seen().len();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        proxy.seen().len(),
        before,
        "AWS requests while nothing was due"
    );
    assert_eq!(env.cli_identity("default"), user.arn);

    // status reflects it.
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["profiles"][0]["last_rotation"]["outcome"], "rotated");

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
        if let Some(status) = agent.try_wait().unwrap() {
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
    let config = env.dir.path().join("keyrot.toml");
    std::fs::write(&config, "max_age = \"6s\"\nauto_rotate = maybe\n").unwrap();
    env.extra_env
        .push(("KEYROT_CONFIG".into(), config.display().to_string()));
    let run = env.run(&["run"]);
    run.failure(3);
    assert!(run.stderr.contains(":2:"), "{}", run.stderr);
}
