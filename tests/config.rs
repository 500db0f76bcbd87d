//! `keyrot-agent config init` and `config show`: the commented default file, the resolved values
//! with their sources, and errors that name the line.

mod support;

use support::TestEnv;

fn config_path(env: &TestEnv) -> std::path::PathBuf {
    env.dir.path().join("config/keyrot-agent/config.toml")
}

#[test]
fn init_writes_the_documented_defaults_once() {
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    env.run(&["config", "init"]).success();
    let text = std::fs::read_to_string(config_path(&env)).unwrap();
    for field in [
        "max_age",
        "warn_before",
        "auto_rotate",
        "grace",
        "verify_timeout",
        "notify",
        "include",
        "exclude",
    ] {
        assert!(
            text.contains(field),
            "{field} is not documented in the default file"
        );
    }
    // README documents every field too.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for field in [
        "max_age",
        "warn_before",
        "auto_rotate",
        "grace",
        "verify_timeout",
        "notify",
        "profiles.include",
        "profiles.exclude",
    ] {
        assert!(
            readme.contains(&format!("`{field}`")),
            "{field} is not documented in README.md"
        );
    }
    let again = env.run(&["config", "init"]);
    again.failure(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    env.run(&["config", "init", "--force"]).success();
}

#[test]
fn show_resolves_values_and_their_sources() {
    let env = TestEnv::with_endpoint("http://127.0.0.1:9");
    let run = env.run(&["config", "show", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["exists"], false);
    // Typed values: durations in seconds, booleans, numbers, lists; the written form beside.
    assert_eq!(v["version"], 2);
    assert_eq!(v["settings"]["max_age"]["value"], 90 * 86400);
    assert_eq!(v["settings"]["max_age"]["text"], "90d");
    assert_eq!(v["settings"]["auto_rotate"]["value"], true);
    assert_eq!(v["settings"]["max_parallel"]["value"], 4);
    assert_eq!(
        v["settings"]["profiles.include"]["value"],
        serde_json::json!([])
    );
    assert!(v["settings"]["mfa_process"]["value"].is_null());
    assert_eq!(v["settings"]["max_age"]["source"], "default");

    let path = config_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "# mine\nmax_age = \"30d\"\n[profile.prod]\nauto_rotate = false\n",
    )
    .unwrap();
    let run = env.run(&["config", "show", "--json"]);
    run.success();
    let v = run.json();
    assert_eq!(v["settings"]["max_age"]["value"], 30 * 86400);
    assert_eq!(v["settings"]["max_age"]["source"], "config file, line 2");
    assert_eq!(v["settings"]["profile.prod"]["value"]["auto_rotate"], false);
    assert!(
        v["settings"]["profile.prod"]["text"]
            .as_str()
            .unwrap()
            .contains("auto_rotate false")
    );
    let human = env.run(&["config", "show"]);
    human.success();
    assert!(
        human.stdout.contains("max_age") && human.stdout.contains("30d"),
        "{}",
        human.stdout
    );
}

#[test]
fn a_bad_config_names_the_line() {
    let mut env = TestEnv::with_endpoint("http://127.0.0.1:9");
    let path = env.dir.path().join("elsewhere.toml");
    env.extra_env
        .push(("KEYROT_CONFIG".into(), path.display().to_string()));
    std::fs::write(&path, "max_age = \"90d\"\nwarn_before = \"a week\"\n").unwrap();
    let run = env.run(&["config", "show"]);
    run.failure(3);
    assert!(
        run.stderr.contains(&format!("{}:2:", path.display())),
        "{}",
        run.stderr
    );
    std::fs::write(&path, "max_age = \"90d\"\nmaxage = \"1d\"\n").unwrap();
    let run = env.run(&["config", "show"]);
    run.failure(3);
    assert!(
        run.stderr.contains(":2:") && run.stderr.contains("maxage"),
        "{}",
        run.stderr
    );
}
