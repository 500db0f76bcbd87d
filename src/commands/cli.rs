//! The command line, and nothing else: clap definitions and the parsing of values such as
//! durations. What each command does lives in its own module.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::core::config::parse_duration;

/// Keeps the AWS access keys in ~/.aws/credentials fresh: rotates them, proves the new key works,
/// and retires the old one, without ever leaving you without a working key.
#[derive(Debug, Parser)]
#[command(name = "keyrot-agent", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// If others can write the credentials or config file (or their directory), make them
    /// private and go on, instead of refusing.
    #[arg(long, global = true)]
    pub fix_permissions: bool,

    /// Accept a plain http:// endpoint that is not on this machine (the new secret would cross
    /// the network in clear text).
    #[arg(long, global = true)]
    pub allow_insecure_endpoint: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rotate access keys now (the profile in AWS_PROFILE, else [default]).
    Now(NowArgs),
    /// Finish or roll back a rotation that was interrupted (crash, kill, network loss).
    Recover(RecoverArgs),
    /// During the grace period: bring back the key the last rotation replaced (Active, proven,
    /// back in the file) and delete the new one.
    Undo(UndoArgs),
    /// Keyring mode: keep a profile's secret in the OS keyring instead of the file.
    #[command(subcommand)]
    Keyring(KeyringCommand),
    /// Print a keyring profile's key as credential_process JSON (what AWS clients run).
    CredentialProcess {
        /// The profile whose key to print.
        #[arg(long = "profile", short = 'p', value_name = "NAME")]
        profile: String,
    },
    /// The agent: rotate keys as they come due, until stopped (what the login item runs).
    Run(RunArgs),
    /// Show every profile: its key, age, when it is due, and its last rotation (offline).
    Status(StatusArgs),
    /// Write or show the agent's configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Install, remove or inspect the login item that runs the agent (systemd user service,
    /// LaunchAgent, or XDG autostart entry).
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the login item for this keyrot-agent and start it.
    Install {
        /// Print the file and where it would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only write the file; do not ask systemd/launchd to start it.
        #[arg(long)]
        no_start: bool,
        /// The kind of login item (default: launchd on macOS; systemd where a systemd user
        /// session runs, else autostart).
        #[arg(long, value_enum)]
        kind: Option<ServiceKind>,
    },
    /// Stop the agent's login item and remove its file.
    Uninstall {
        /// Only remove the file; do not ask systemd/launchd to stop it.
        #[arg(long)]
        no_start: bool,
        /// The kind of login item (default: every kind of this platform that is installed).
        #[arg(long, value_enum)]
        kind: Option<ServiceKind>,
    },
    /// Show which login items are installed, what they start, and whether the agent runs.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// A kind of login item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceKind {
    /// A systemd user unit (~/.config/systemd/user/keyrot-agent.service).
    Systemd,
    /// A macOS LaunchAgent (~/Library/LaunchAgents/io.github.keyrot-agent.plist).
    Launchd,
    /// An XDG autostart entry (~/.config/autostart/keyrot-agent.desktop).
    Autostart,
}

#[derive(Debug, Subcommand)]
pub enum KeyringCommand {
    /// Move a profile's key pair into the OS keyring; the file keeps a credential_process line.
    Adopt {
        /// The profile to adopt (repeatable); profiles sharing its key come along.
        #[arg(
            long = "profile",
            short = 'p',
            value_name = "NAME",
            conflicts_with = "all"
        )]
        profiles: Vec<String>,
        /// Every profile that holds a long-term key.
        #[arg(long)]
        all: bool,
    },
    /// Put a keyring profile's key pair back into the file, and out of the keyring.
    Release {
        #[arg(long = "profile", short = 'p', value_name = "NAME")]
        profile: String,
    },
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The profile whose last rotation to undo (profiles that shared the key go with it).
    #[arg(long = "profile", short = 'p', value_name = "NAME")]
    pub profile: String,

    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for IAM to accept the reactivated key.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub verify_timeout: Duration,

    /// The current code of the profile's MFA device, for accounts that require MFA to manage
    /// keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the
    /// terminal.
    #[arg(long, value_name = "CODE", value_parser = mfa_code)]
    pub mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Send no desktop notifications (the config's `notify = false` does the same).
    #[arg(long)]
    pub no_notify: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Ask AWS for the keys' creation dates (ListAccessKeys) instead of using the cache.
    #[arg(long)]
    pub refresh: bool,

    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented default config file (KEYROT_CONFIG, else ~/.config/keyrot-agent/config.toml).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the resolved settings and where each came from.
    Show {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Say what is in flight and what recovering would do; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object describing what happened.
    #[arg(long)]
    pub json: bool,

    /// How long to wait for IAM at each step before giving up for now.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub verify_timeout: Duration,

    /// The current code of the profile's MFA device, for accounts that require MFA to manage
    /// keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the
    /// terminal.
    #[arg(long, value_name = "CODE", value_parser = mfa_code)]
    pub mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub struct NowArgs {
    /// Rotate this profile's key (repeatable). Profiles sharing the key move with it.
    #[arg(
        long = "profile",
        short = 'p',
        value_name = "NAME",
        conflicts_with = "all"
    )]
    pub profiles: Vec<String>,

    /// Rotate every profile that holds a long-term access key.
    #[arg(long)]
    pub all: bool,

    /// Show what would happen; make only read-only AWS calls (GetCallerIdentity, ListAccessKeys).
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object describing what happened, instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Also rotate keys of an account's root user.
    #[arg(long)]
    pub allow_root: bool,

    /// How long to wait for IAM to accept a new key before giving up and rolling back
    /// (e.g. 60s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub verify_timeout: Duration,

    /// The current code of the profile's MFA device, for accounts that require MFA to manage
    /// keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the
    /// terminal.
    #[arg(long, value_name = "CODE", value_parser = mfa_code)]
    pub mfa_code: Option<String>,

    /// Never show the progress spinner.
    #[arg(long)]
    pub no_progress: bool,

    /// Skip the profiles' pre_rotate and post_rotate hooks for this run (the output says so).
    #[arg(long)]
    pub no_hooks: bool,
}

/// `--mfa-code`: six digits. An error never repeats what was typed.
fn mfa_code(text: &str) -> Result<String, String> {
    crate::core::mfa::code(text).map_err(|why| format!("{why} (like 123456)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
