//! Keyring mode's commands: `keyring adopt`, `keyring release` (under the lock, after recovery;
//! the engine moves and proves the pairs) and `credential-process` (what AWS clients run for a
//! keyring profile: the keyring only, no network, no runtime, one line on failure).

use std::time::Duration;

use crate::commands::cli::KeyringCommand;
use crate::commands::exit;
use crate::commands::run::{begin, run_command, selection};
use crate::core::rotation::Selection;
use crate::edge::aws::RequestCounter;
use crate::edge::keyring;
use crate::edge::paths::{self, Paths};
use crate::engine::adopt::Moved;
use crate::engine::error::Error;

/// How long the recovery before a move waits for IAM at each step.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// `keyring adopt` under the lock, after recovery (the agent's `storage = "keyring"` too).
pub async fn adopt(paths: &Paths, selection: &Selection) -> Result<Vec<Moved>, Error> {
    let counter = RequestCounter::default();
    let (_lock, _) = begin(paths, RECOVERY_TIMEOUT, &counter).await?;
    let (exe, warning) = paths::this_program_on_path().map_err(|e| Error::Internal {
        profile: "-".into(),
        what: format!("cannot find this program's path: {e}"),
    })?;
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    crate::engine::adopt::adopt(paths, selection, &exe, &counter).await
}

/// `keyring release` under the lock, after recovery.
pub async fn release(paths: &Paths, profile: &str) -> Result<Moved, Error> {
    let counter = RequestCounter::default();
    let (_lock, _) = begin(paths, RECOVERY_TIMEOUT, &counter).await?;
    crate::engine::local::load(paths)?.require(profile)?;
    crate::engine::adopt::release(paths, profile, &counter).await
}

/// `keyrot-agent keyring adopt|release …`.
pub fn command(cmd: KeyringCommand) -> i32 {
    let result = run_command(false, |paths| async move {
        match cmd {
            KeyringCommand::Adopt { profiles, all } => {
                adopt(&paths, &selection(all, profiles)).await
            }
            KeyringCommand::Release { profile } => release(&paths, &profile).await.map(|m| vec![m]),
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

/// The account of `key_id` if keyrot-agent has learned it (its user's ARN in the key cache);
/// `None` otherwise, and on any doubt (a client needs no AccountId).
fn known_account(key_id: &str) -> Option<String> {
    let paths = Paths::resolve(paths::process_env).ok()?;
    let cache = crate::state::cache::Cache::new(paths.key_cache_file()).load();
    let arn = &cache.get(key_id)?.user_arn;
    crate::core::keys::account_of(arn).map(String::from)
}

/// `credential-process`: the keyring only, no network, no runtime; one line on failure.
pub fn credential_process(profile: &str) -> i32 {
    // An AWS client is waiting on this: a keyring that does not answer is an error in seconds.
    keyring::set_deadline(std::time::Duration::from_secs(10));
    match keyring::load(profile) {
        Ok(key) => {
            let account = known_account(&key.id);
            println!(
                "{}",
                *zeroize::Zeroizing::new(keyring::process_output(&key, account.as_deref()))
            );
            exit::OK
        }
        Err(e) => {
            eprintln!(
                "keyrot-agent credential-process: profile {profile}: {}",
                crate::core::redact::for_terminal(&e.to_string())
            );
            exit::KEYRING
        }
    }
}
