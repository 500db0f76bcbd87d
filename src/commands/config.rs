//! `keyrot-agent config init | path | show`: write (or print) the commented default config file,
//! say where it is, or print the resolved settings and where each came from.

use crate::commands::cli::ConfigCommand;
use crate::commands::exit;
use crate::commands::run::{print_error, resolve_paths};
use crate::edge::store;

/// `keyrot-agent config …`.
pub fn command(cmd: ConfigCommand) -> i32 {
    let paths = match resolve_paths() {
        Ok(p) => p,
        Err(e) => return print_error(false, &e),
    };
    let path = &paths.agent_config;
    match cmd {
        ConfigCommand::Init { print: true, .. } => {
            print!("{}", crate::core::config::DEFAULT_FILE);
            exit::OK
        }
        ConfigCommand::Path => {
            println!(
                "{}{}",
                path.display(),
                if path.exists() {
                    ""
                } else {
                    " (not present: every setting has its default)"
                }
            );
            exit::OK
        }
        ConfigCommand::Init { force, .. } => {
            match store::write_new(path, crate::core::config::DEFAULT_FILE.as_bytes(), force) {
                Ok(true) => {
                    println!("wrote {}", path.display());
                    exit::OK
                }
                Ok(false) => {
                    eprintln!(
                        "keyrot-agent: {} already exists and is kept; `keyrot-agent config init --print` shows the defaults to compare with it (--force overwrites it, and your edits are lost)",
                        path.display()
                    );
                    exit::USAGE
                }
                Err(e) => {
                    eprintln!("keyrot-agent: {e}");
                    exit::IO
                }
            }
        }
        ConfigCommand::Show { json } => match crate::engine::local::agent_config(&paths) {
            Ok(config) => {
                let rows = crate::core::config::describe(&config);
                if json {
                    let typed = typed(&config);
                    let settings: serde_json::Map<String, serde_json::Value> = rows
                        .iter()
                        .map(|(k, text, s)| {
                            let value =
                                typed.get(k).cloned().unwrap_or_else(|| text.clone().into());
                            (
                                k.clone(),
                                serde_json::json!({"value": value, "text": text, "source": s}),
                            )
                        })
                        .collect();
                    println!(
                        "{}",
                        crate::core::redact::for_terminal(&serde_json::json!({"version": 2, "file": path.display().to_string(), "exists": path.exists(), "settings": settings}).to_string())
                    );
                } else {
                    println!(
                        "# {}{}",
                        path.display(),
                        if path.exists() {
                            ""
                        } else {
                            " (not present: defaults)"
                        }
                    );
                    for (k, v, s) in rows {
                        println!("{k:<17} {v:<12} ({s})");
                    }
                }
                exit::OK
            }
            Err(e) => {
                eprintln!("keyrot-agent: {e}");
                exit::INVALID_FILE
            }
        },
    }
}

/// Each setting's value as JSON of its own type: booleans, numbers, lists, durations in seconds,
/// words as strings, an unset command as null; a `[profile.NAME]` table as an object of its
/// resolved settings.
fn typed(config: &crate::core::config::Config) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let settings = |s: &crate::core::config::Settings| {
        json!({
            "max_age": s.max_age.as_secs(),
            "warn_before": s.warn_before.as_secs(),
            "auto_rotate": s.auto_rotate,
            "grace": s.grace.as_secs(),
            "verify_timeout": s.verify_timeout.as_secs(),
            "notify": s.notify,
            "storage": s.storage.name(),
            "mfa_serial": s.mfa_serial,
            "mfa_process": s.mfa_process,
            "pre_rotate": s.pre_rotate,
            "post_rotate": s.post_rotate,
            "hook_timeout": s.hook_timeout.as_secs(),
            "on_hook_failure": s.on_hook_failure.name(),
            "hook_env": s.hook_env,
        })
    };
    let mut out = match settings(&config.global) {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    out.remove("mfa_serial");
    out.insert("max_parallel".into(), json!(config.max_parallel));
    out.insert("profiles.include".into(), json!(config.include));
    out.insert("profiles.exclude".into(), json!(config.exclude));
    for p in config.profiles_with_overrides() {
        out.insert(format!("profile.{p}"), settings(&config.for_profile(p)));
    }
    out
}
