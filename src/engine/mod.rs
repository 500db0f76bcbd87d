//! The engine: the only place that sequences effects (rotate, undo, adopt/release, recover, settle),
//! against the seams of the edges.

pub mod adopt;
pub mod compliance;
pub mod dates;
pub mod doctor;
pub mod error;
pub mod grace;
pub mod hooks;
pub mod local;
pub mod notify;
pub mod outcome;
pub mod recover;
pub mod retry;
pub mod rotate;
pub mod rotations;
pub mod signing;

use std::time::Duration;

/// How a command asks the engine to work.
#[derive(Debug, Clone)]
pub struct Options {
    /// Make only read-only AWS calls and say what would happen.
    pub dry_run: bool,
    /// Also rotate an account root user's keys.
    pub allow_root: bool,
    /// How long to wait for IAM at each step (a new key's propagation, retries) before giving
    /// up for now.
    pub verify_timeout: Duration,
    /// Show a spinner on stderr while waiting.
    pub progress: bool,
    /// Where MFA codes come from, and the sessions of this run (shared by every key of one
    /// device). `None`: no code given, no terminal to ask at (`mfa_process` still works).
    pub mfa: Option<std::sync::Arc<signing::Sessions>>,
    /// `--no-hooks`: skip the profiles' rotation hooks for this run.
    pub no_hooks: bool,
}

impl Options {
    /// An unattended run (the agent, or the recovery another command does first): no dry run,
    /// no root keys, no spinner.
    pub fn unattended(verify_timeout: Duration) -> Options {
        Options {
            dry_run: false,
            allow_root: false,
            verify_timeout,
            progress: false,
            mfa: None,
            no_hooks: false,
        }
    }

    /// This run's MFA sessions: the ones given, or unattended ones (no code, no prompt).
    pub fn sessions(&self, paths: &crate::edge::paths::Paths) -> std::sync::Arc<signing::Sessions> {
        self.mfa.clone().unwrap_or_else(|| {
            signing::Sessions::new(
                None,
                false,
                crate::state::mfa::MfaFile::new(paths.mfa_file()),
            )
        })
    }
}
