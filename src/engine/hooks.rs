//! Running the rotation's hooks (`pre_rotate`, `post_rotate`): what `core::hooks` says they are
//! told, through `edge::child`, with the minimal environment, in the home directory, with a
//! deadline. Their output is logged at debug level (scrubbed) and its last lines are shown when
//! one fails.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::core::config::{OnHookFailure, Settings};
use crate::edge::child::{self, Env};

/// The hooks of one rotation, as the profile's settings say (none with `--no-hooks`).
#[derive(Debug, Clone)]
pub struct Hooks {
    pub pre: Vec<String>,
    pub post: Vec<String>,
    pub timeout: Duration,
    pub on_failure: OnHookFailure,
    pub env: Vec<String>,
    /// `--no-hooks`: the profile has hooks, and this run skips them.
    pub skipped: bool,
}

impl Hooks {
    /// The hooks of a profile with `settings`; none when `skip`.
    pub fn of(settings: &Settings, skip: bool) -> Hooks {
        let any = !settings.pre_rotate.is_empty() || !settings.post_rotate.is_empty();
        Hooks {
            pre: if skip {
                Vec::new()
            } else {
                settings.pre_rotate.clone()
            },
            post: if skip {
                Vec::new()
            } else {
                settings.post_rotate.clone()
            },
            timeout: settings.hook_timeout,
            on_failure: settings.on_hook_failure,
            env: settings.hook_env.clone(),
            skipped: skip && any,
        }
    }

    /// No hooks at all.
    pub fn none() -> Hooks {
        Hooks::of(&Settings::default(), false)
    }
}

/// Why a hook did not succeed.
#[derive(Debug, Clone)]
pub struct HookFailed {
    pub command: String,
    /// How it ended, and the last lines it printed on standard error (scrubbed, cut short).
    pub detail: String,
}

/// Runs one hook with `input` on its standard input. Blocking work runs off the runtime.
pub async fn run(
    command: &str,
    input: Zeroizing<Vec<u8>>,
    hooks: &Hooks,
) -> Result<(), HookFailed> {
    let lookup =
        |name: &str| crate::edge::paths::process_env(name).and_then(|v| v.into_string().ok());
    let env = crate::core::hooks::environment(&hooks.env, lookup);
    let home = lookup("HOME").map(std::path::PathBuf::from);
    let timeout = hooks.timeout;
    let cmd = command.to_string();
    tracing::info!(hook = %command, "running a hook");
    let done = tokio::task::spawn_blocking(move || {
        child::run(&cmd, &input, Env::Only(&env), home.as_deref(), timeout)
    })
    .await;
    let failed = |detail: String| HookFailed {
        command: command.to_string(),
        detail,
    };
    let done = match done {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(failed(format!("it could not be started: {e}"))),
        Err(e) => return Err(failed(format!("it could not be run: {e}"))),
    };
    tracing::debug!(
        hook = %command,
        stdout = %crate::core::hooks::tail(&done.stdout, 50, 4000),
        stderr = %crate::core::hooks::tail(&done.stderr, 50, 4000),
        "hook output"
    );
    if done.success() {
        return Ok(());
    }
    let said = crate::core::hooks::tail(&done.stderr, 5, 400);
    let ending = done.ending(timeout);
    Err(failed(if said.is_empty() {
        ending
    } else {
        format!("{ending}; it said: {said}")
    }))
}
