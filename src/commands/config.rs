//! `keyrot-agent config init | show`: write the commented default config file, or print the
//! resolved settings and where each came from.

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
        ConfigCommand::Init { force } => {
            match store::write_new(path, crate::core::config::DEFAULT_FILE.as_bytes(), force) {
                Ok(true) => {
                    println!("wrote {}", path.display());
                    exit::OK
                }
                Ok(false) => {
                    eprintln!(
                        "keyrot-agent: {} already exists; pass --force to overwrite it",
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
                    let settings: serde_json::Map<String, serde_json::Value> = rows
                        .iter()
                        .map(|(k, v, s)| (k.clone(), serde_json::json!({"value": v, "source": s})))
                        .collect();
                    println!(
                        "{}",
                        serde_json::json!({"version": 1, "file": path.display().to_string(), "exists": path.exists(), "settings": settings})
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
