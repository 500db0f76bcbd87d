//! `keyrot-agent service install | uninstall | status`: the login item that runs the agent. The
//! work is in `edge::service`; this module turns the command line into its calls and renders.

use crate::commands::cli::{ServiceCommand, ServiceKind};
use crate::commands::exit;
use crate::edge::service::{self, Context, Kind, ServiceError};

fn kind(k: ServiceKind) -> Kind {
    match k {
        ServiceKind::Systemd => Kind::Systemd,
        ServiceKind::Launchd => Kind::Launchd,
        ServiceKind::Autostart => Kind::Autostart,
    }
}

fn fail(e: ServiceError) -> i32 {
    eprintln!(
        "keyrot-agent: {}",
        crate::core::redact::for_terminal(&e.to_string())
    );
    exit::service_code(&e)
}

/// `keyrot-agent service …`.
pub fn command(cmd: ServiceCommand) -> i32 {
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
                    print!("{}", crate::core::redact::for_terminal(&report.to_string()));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        ServiceCommand::Uninstall { no_start, kind: k } => {
            match service::uninstall(&ctx, k.map(kind), !no_start) {
                Ok(report) => {
                    print!("{}", crate::core::redact::for_terminal(&report.to_string()));
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        ServiceCommand::Status { json } => {
            let status = service::status(&ctx, Kind::detect());
            if json {
                println!(
                    "{}",
                    crate::core::redact::for_terminal(&status.json().to_string())
                );
            } else {
                print!("{}", crate::core::redact::for_terminal(&status.human()));
            }
            exit::OK
        }
    }
}
