//! The command line, and nothing else: clap definitions and the parsing of values such as
//! durations. What each command does lives in its own module.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::core::config::parse_duration;

/// Keeps the AWS access keys in ~/.aws/credentials fresh: rotates them, proves the new key works,
/// and retires the old one, without ever leaving you without a working key.
#[derive(Debug, Parser)]
#[command(
    name = "keyrot-agent",
    version,
    about,
    long_about = None,
    help_template = HELP_TEMPLATE,
    after_help = AFTER_HELP
)]
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

    /// Show keyrot-agent's own log lines (-v: what it does, -vv: details); the HTTP stack's
    /// stay out. KEYROT_LOG, when set, wins.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set),
    /// always, or never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The top-level help: the commands in groups (clap lists them in one), then the options.
/// `tests` below keeps every visible command in it.
const HELP_TEMPLATE: &str = "\
{about-with-newline}
{usage-heading} {usage}

Everyday:
  now          Rotate access keys now (the profile in AWS_PROFILE, else [default])
  status       Show every profile: its key, age, when it is due, its last rotation
  undo         During the grace period: bring back the key the last rotation replaced
  doctor       Check everything keyrot-agent needs, change nothing, say what to fix

The agent:
  run          Rotate keys as they come due, until stopped (what the login item runs)
  service      Install, remove or inspect the login item that runs the agent

Keyring:
  keyring      Keep a profile's secret in the OS keyring instead of the file

Maintenance:
  recover      Finish or roll back a rotation that was interrupted
  config       Write, locate or show keyrot-agent's configuration file
  completions  Print the shell completion script (bash, zsh, fish)
  man          Print the manual page
  help         Print this message or the help of a command

Options:
{options}{after-help}";

const AFTER_HELP: &str = "\
Examples:
  keyrot-agent now --dry-run              what a rotation of AWS_PROFILE / [default] would do
  keyrot-agent now --profile work         rotate one profile's key (profiles sharing it follow)
  keyrot-agent now --all                  every profile the config manages, side by side
  keyrot-agent status                     ages, due dates and last rotations, offline
  keyrot-agent service install            start the agent at every login

Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid file, 4 nothing to rotate, 5 access
denied, 6 AWS unreachable, 7 throttled, 8 key limit, 9 new key not verified, 10 file changed
meanwhile, 11 busy, 12 old key not retired, 13 key rejected, 14 agent running, 15 keyring,
16 I/O, 17 MFA, 18 hook, 19 doctor found a problem, 20 not compliant, 130 interrupted (README, \"Exit codes\").";

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
    /// Print a keyring profile's key as credential_process JSON (what AWS clients run; not
    /// listed in the help, documented in README, "Keyring mode").
    #[command(hide = true)]
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
    /// Check everything keyrot-agent needs, change nothing, and say what to fix (exit 0 when
    /// nothing failed).
    Doctor {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// First fix what is safe to fix: write the credentials file's setting names in lower
        /// case (the JavaScript SDK reads no other; names inside a nested block stay), with the
        /// same atomic, lossless write as a rotation.
        #[arg(long)]
        fix: bool,
    },
    /// Print the shell completion script for bash, zsh or fish (the packages install them).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff; the packages install it as keyrot-agent(1)).
    Man,
}

/// A shell that `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
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

    /// Hold each key against CIS AWS Foundations (rotated within 90 days, one active key per
    /// user, no root key) and AWS Security Hub IAM.3, asking IAM (read-only); exit 20 unless
    /// every key passes.
    #[arg(long)]
    pub compliance: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented default config file (KEYROT_CONFIG, else ~/.config/keyrot-agent/config.toml).
    Init {
        /// Overwrite an existing file (your edits are lost: see --print).
        #[arg(long, conflicts_with = "print")]
        force: bool,
        /// Print the commented default file instead of writing it, to compare with yours.
        #[arg(long)]
        print: bool,
    },
    /// Print the path of the config file keyrot-agent reads (and whether it exists).
    Path,
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

    /// Rotate every profile that holds a long-term access key and is managed by the config's
    /// [profiles] include/exclude (a profile named with --profile is rotated regardless).
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

/// Parses the process's command line; on an unknown subcommand, suggests the closest one by
/// typing distance (a swapped pair of letters counts one), where clap's own similarity would
/// suggest `undo` for `nwo`.
pub fn parse() -> Cli {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let mut err = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    if err.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand)
    {
        let command = Cli::command();
        let names: Vec<&str> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .collect();
        if let Some(best) = closest(typed, &names) {
            let best = vec![best.to_string()];
            err.insert(
                ContextKind::SuggestedSubcommand,
                ContextValue::Strings(best),
            );
        }
    }
    err.exit()
}

/// The name among `names` closest to `typed` (at most two edits away), if any.
fn closest<'a>(typed: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (typing_distance(typed, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Edits (insert, delete, substitute, or swap two neighbours) from `a` to `b`.
fn typing_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
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

    /// Every command a user may run is in the grouped help, and the hidden one is not.
    #[test]
    fn the_grouped_help_lists_every_visible_command() {
        let command = Cli::command();
        for sub in command.get_subcommands() {
            let listed = HELP_TEMPLATE.contains(&format!("\n  {} ", sub.get_name()));
            assert_eq!(listed, !sub.is_hide_set(), "{}", sub.get_name());
        }
        assert!(HELP_TEMPLATE.contains("\n  help "));
    }

    /// `nwo` is `now` with two letters swapped; clap's own suggestion was `undo`, the one
    /// command that reverses a rotation.
    #[test]
    fn a_typo_suggests_the_closest_command() {
        let names = [
            "now", "recover", "undo", "keyring", "run", "status", "config", "service",
        ];
        assert_eq!(closest("nwo", &names), Some("now"));
        assert_eq!(closest("statsu", &names), Some("status"));
        assert_eq!(closest("recovr", &names), Some("recover"));
        assert_eq!(closest("frobnicate", &names), None);
        assert_eq!(typing_distance("nwo", "now"), 1);
        assert_eq!(typing_distance("nwo", "undo"), 2);
    }
}
