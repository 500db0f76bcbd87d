//! `keyrot-agent undo --profile P`: during the grace period, bring back the key the last
//! rotation of P replaced. Under the lock, after recovery; the engine does the rest.

use crate::commands::cli::UndoArgs;
use crate::commands::exit;
use crate::commands::run::{begin, run_command};
use crate::edge::aws::RequestCounter;

/// `keyrot-agent undo …`.
pub fn command(args: UndoArgs) -> i32 {
    let profile = args.profile.clone();
    let timeout = args.verify_timeout;
    let code = args.mfa_code;
    let result = run_command(args.json, |paths| async move {
        let counter = RequestCounter::default();
        let (_lock, _) = begin(&paths, timeout, &counter).await?;
        crate::engine::local::load(&paths)?.require(&profile)?;
        let agent = crate::engine::local::agent_config(&paths)?;
        let sessions = crate::commands::run::mfa_sessions(&paths, code);
        let signing = crate::engine::local::signing_of(&paths, &agent, &sessions)(&profile);
        crate::engine::grace::undo(&paths, &profile, &signing, timeout, &counter).await
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
                println!("{}", crate::core::redact::for_terminal(&v.to_string()));
            } else {
                println!(
                    "{}",
                    crate::core::redact::for_terminal(&format!(
                        "undone       {}\n             {} is back (Active, proven, in the file); {} is deleted\n             the agent leaves this key alone until you run: keyrot-agent now --profile {}",
                        u.profiles.join(", "),
                        u.restored_key_id,
                        u.deleted_key_id,
                        args.profile
                    ))
                );
            }
            exit::OK
        }
        Err(code) => code,
    }
}
