//! The `keyrot-agent` binary: parse the command line, run, print, exit. All work is in the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use keyrot_agent::commands::cli::{
    Cli, Command, ConfigCommand, KeyringCommand, NowArgs, RecoverArgs, RunArgs, StatusArgs,
    UndoArgs,
};
use keyrot_agent::commands::cli::{ServiceCommand, ServiceKind};
use keyrot_agent::commands::now;
use keyrot_agent::commands::report;
use keyrot_agent::core::redact::scrub;
use keyrot_agent::core::rotation::Selection;
use keyrot_agent::edge::paths::{self, Paths};
use keyrot_agent::engine::error::exit;
use keyrot_agent::engine::recover;

fn main() -> ExitCode {
    keyrot_agent::edge::logging::init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Now(args) => run_now(args),
        Command::Recover(args) => run_recover(args),
        Command::Undo(args) => run_undo(args),
        Command::Keyring(cmd) => run_keyring(cmd),
        Command::CredentialProcess { profile } => credential_process(&profile),
        Command::Config(cmd) => run_config(cmd),
        Command::Status(args) => run_status(args),
        Command::Run(args) => run_agent(args),
        Command::Service(cmd) => run_service(cmd),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `--all`, the named profiles, or else AWS_PROFILE / `default`.
fn selection(all: bool, profiles: Vec<String>) -> Selection {
    if all {
        Selection::All
    } else if profiles.is_empty() {
        Selection::Named(vec![paths::default_profile(|k: &str| std::env::var_os(k))])
    } else {
        Selection::Named(profiles)
    }
}

fn run_now(args: NowArgs) -> i32 {
    let options = now::Options {
        selection: selection(args.all, args.profiles),
        dry_run: args.dry_run,
        allow_root: args.allow_root,
        verify_timeout: args.verify_timeout,
        progress: !args.json && !args.no_progress && std::io::stderr().is_terminal(),
    };
    execute(args.json, |paths| async move {
        now::run(&paths, &options).await
    })
}

/// `credential-process`: the keyring only, no network, no runtime; one line on failure.
fn credential_process(profile: &str) -> i32 {
    match keyrot_agent::edge::keyring::load(profile) {
        Ok(key) => {
            println!("{}", keyrot_agent::edge::keyring::process_output(&key));
            exit::OK
        }
        Err(e) => {
            eprintln!("keyrot-agent credential-process: profile {profile}: {e}");
            exit::KEYRING
        }
    }
}

fn run_keyring(cmd: KeyringCommand) -> i32 {
    let result = run_command(false, |paths| async move {
        match cmd {
            KeyringCommand::Adopt { profiles, all } => {
                keyrot_agent::engine::adopt::adopt(&paths, &selection(all, profiles)).await
            }
            KeyringCommand::Release { profile } => {
                keyrot_agent::engine::adopt::release(&paths, &profile)
                    .await
                    .map(|m| vec![m])
            }
        }
    });
    match result {
        Ok(moved) => {
            for m in moved {
                println!(
                    "{}: key {} moved (proven through the AWS SDK)",
                    m.profiles.join(", "),
                    m.key_id
                );
            }
            exit::OK
        }
        Err(code) => code,
    }
}

fn run_undo(args: UndoArgs) -> i32 {
    let profile = args.profile.clone();
    let result = run_command(args.json, |paths| async move {
        keyrot_agent::engine::grace::run_undo(&paths, &profile, args.verify_timeout).await
    });
    match result {
        Ok(u) => {
            if args.json {
                let v = serde_json::json!({
                    "version": 1,
                    "profiles": u.profiles,
                    "restored_key_id": u.restored_key_id,
                    "deleted_key_id": u.deleted_key_id,
                    "exit_code": exit::OK,
                });
                println!("{}", scrub(&v.to_string()));
            } else {
                println!(
                    "undone    {}\n          {} is back (Active, proven, in the file); {} is deleted\n          the agent leaves this key alone until you run: keyrot-agent now --profile {}",
                    u.profiles.join(", "),
                    u.restored_key_id,
                    u.deleted_key_id,
                    args.profile
                );
            }
            exit::OK
        }
        Err(code) => code,
    }
}

fn run_recover(args: RecoverArgs) -> i32 {
    let options = now::Options {
        selection: Selection::All,
        dry_run: args.dry_run,
        allow_root: false,
        verify_timeout: args.verify_timeout,
        progress: !args.json && std::io::stderr().is_terminal(),
    };
    execute(args.json, |paths| async move {
        recover::run(&paths, &options).await
    })
}

/// Runs a command that produces a report, prints it (summary or JSON), and returns the exit code.
fn execute<F, Fut>(json: bool, command: F) -> i32
where
    F: FnOnce(Paths) -> Fut,
    Fut: std::future::Future<Output = Result<now::Report, keyrot_agent::engine::error::Error>>,
{
    match run_command(json, command) {
        Ok(report) => {
            let code = report.exit_code();
            if json {
                println!("{}", scrub(&report::json(&report, code).to_string()));
            } else {
                print!("{}", scrub(&report::human(&report)));
            }
            for k in &report.keys {
                if let Some(e) = &k.error {
                    eprintln!("keyrot-agent: {}", scrub(&e.to_string()));
                }
            }
            code
        }
        Err(code) => code,
    }
}

/// Resolves the paths and runs `command` to completion on a runtime. A failure is printed (as
/// JSON too with `json`) and its exit code comes back as the `Err`.
fn run_command<T, F, Fut>(json: bool, command: F) -> Result<T, i32>
where
    F: FnOnce(Paths) -> Fut,
    Fut: std::future::Future<Output = Result<T, keyrot_agent::engine::error::Error>>,
{
    let paths =
        Paths::resolve(|k: &str| std::env::var_os(k)).map_err(|e| print_error(json, &e.into()))?;
    let rt = runtime().map_err(|e| {
        eprintln!("keyrot-agent: cannot start: {e:#}");
        exit::INTERNAL
    })?;
    rt.block_on(command(paths))
        .map_err(|e| print_error(json, &e))
}

fn print_error(json: bool, e: &keyrot_agent::engine::error::Error) -> i32 {
    let code = e.exit_code();
    if json {
        let v =
            serde_json::json!({"version": 1, "error": report::json_error(e), "exit_code": code});
        println!("{}", scrub(&v.to_string()));
    }
    eprintln!("keyrot-agent: {}", scrub(&e.to_string()));
    code
}

fn run_agent(args: RunArgs) -> i32 {
    let options = keyrot_agent::commands::agent::RunOptions {
        notify: !args.no_notify,
    };
    let result = run_command(false, |paths| async move {
        keyrot_agent::commands::agent::run(&paths, &options).await
    });
    result.err().unwrap_or(exit::OK)
}

fn run_status(args: StatusArgs) -> i32 {
    let rows = run_command(args.json, |paths| async move {
        keyrot_agent::commands::status::run(&paths, args.refresh).await
    });
    match rows {
        Ok(rows) => {
            if args.json {
                println!(
                    "{}",
                    scrub(&keyrot_agent::commands::status::json(&rows).to_string())
                );
            } else {
                let color =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                print!(
                    "{}",
                    scrub(&keyrot_agent::commands::status::table(&rows, color))
                );
            }
            exit::OK
        }
        Err(code) => code,
    }
}

fn run_config(cmd: ConfigCommand) -> i32 {
    let paths = match Paths::resolve(|k: &str| std::env::var_os(k)) {
        Ok(p) => p,
        Err(e) => return print_error(false, &e.into()),
    };
    let path = &paths.agent_config;
    match cmd {
        ConfigCommand::Init { force } => {
            match keyrot_agent::edge::store::write_new(
                path,
                keyrot_agent::core::config::DEFAULT_FILE.as_bytes(),
                force,
            ) {
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
                    exit::INTERNAL
                }
            }
        }
        ConfigCommand::Show { json } => match keyrot_agent::engine::local::agent_config(&paths) {
            Ok(config) => {
                let rows = keyrot_agent::core::config::describe(&config);
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

fn run_service(cmd: ServiceCommand) -> i32 {
    use keyrot_agent::edge::service::{self, Context, Kind};
    let kind = |k: ServiceKind| match k {
        ServiceKind::Systemd => Kind::Systemd,
        ServiceKind::Launchd => Kind::Launchd,
        ServiceKind::Autostart => Kind::Autostart,
    };
    let fail = |e: service::ServiceError| {
        eprintln!("keyrot-agent: {}", scrub(&e.to_string()));
        e.exit_code()
    };
    let ctx = match Context::current() {
        Ok(ctx) => ctx,
        Err(e) => return fail(e),
    };
    match cmd {
        ServiceCommand::Install {
            dry_run,
            no_start,
            kind: k,
        } => {
            let k = k.map(kind).unwrap_or_else(Kind::detect);
            match service::install(&ctx, k, dry_run, !no_start) {
                Ok(report) => {
                    print!("{}", scrub(&report.to_string()));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        ServiceCommand::Uninstall { no_start, kind: k } => {
            match service::uninstall(&ctx, k.map(kind), !no_start) {
                Ok(report) => {
                    print!("{}", scrub(&report.to_string()));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        ServiceCommand::Status { json } => {
            let status = service::status(&ctx, Kind::detect());
            if json {
                println!("{}", scrub(&status.json().to_string()));
            } else {
                print!("{}", scrub(&status.human()));
            }
            exit::OK
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
