//! Where things live: the shared AWS files, the default profile, and keyrot-agent's state.
//!
//! The shared files are found exactly as the AWS SDKs and the AWS CLI find them:
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` (with a leading `~` expanded), else
//! `~/.aws/credentials` and `~/.aws/config`, where `~` is `$HOME`. The profile is `AWS_PROFILE`,
//! else `default`. keyrot-agent's own files (the lock, the backup) live in the platform's state
//! directory from `directories`, never in `~/.aws`.
//!
//! This module reads the environment it is given and nothing else; it creates no directories.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Resolved locations for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub credentials: PathBuf,
    pub config: PathBuf,
    /// keyrot-agent's state directory (lock file, backup).
    pub state_dir: PathBuf,
    /// keyrot-agent's own config file: `KEYROT_CONFIG`, else `config.toml` in the platform's
    /// config directory.
    pub agent_config: PathBuf,
    /// The endpoints the environment sets (`AWS_ENDPOINT_URL`, and its IAM and STS forms), each
    /// with the variable's name.
    pub endpoints: Vec<(String, String)>,
    /// What the user allowed on the command line.
    pub trust: Trust,
}

/// What the user allowed beyond keyrot-agent's defaults (command-line flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trust {
    /// `--fix-permissions`: make a credentials file others can write private, then go on.
    pub fix_permissions: bool,
    /// `--allow-insecure-endpoint`: accept a plain `http://` endpoint that is not loopback.
    pub insecure_endpoint: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "cannot find your home directory: HOME is not set; set HOME, or point AWS_SHARED_CREDENTIALS_FILE at your credentials file"
    )]
    NoHome,
}

/// The name of every file keyrot-agent keeps in its state directory, spelled here once.
pub mod state_file {
    /// The lock that serializes keyrot-agent processes (never renamed or replaced).
    pub const LOCK: &str = "lock";
    /// The agent's single-instance lock.
    pub const AGENT_LOCK: &str = "agent.lock";
    /// The log of an agent started for an XDG autostart entry.
    pub const AGENT_LOG: &str = "agent.log";
    /// The credentials file as it was before keyrot-agent last wrote it.
    pub const BACKUP: &str = "credentials.backup";
    /// The write-ahead record of the rotation in flight.
    pub const JOURNAL: &str = "rotation.journal";
    /// One line per finished rotation or undo.
    pub const HISTORY: &str = "history.jsonl";
    /// The keys' creation dates and users.
    pub const KEY_CACHE: &str = "keys.json";
    /// Old keys kept Inactive during their grace, and keys held after `undo`.
    pub const GRACE: &str = "grace.json";
    /// The last failed rotation of each profile.
    pub const FAILURES: &str = "failures.json";
    /// What the agent has told the user, and when.
    pub const NOTIFIED: &str = "notified.json";
    /// Which users need MFA for key management, and when each device's last code was used.
    pub const MFA: &str = "mfa.json";
}

impl Paths {
    /// The lock file that serializes keyrot-agent processes. It is never renamed or replaced.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join(state_file::LOCK)
    }

    /// The agent's single-instance lock.
    pub fn agent_lock(&self) -> PathBuf {
        self.state_dir.join(state_file::AGENT_LOCK)
    }

    /// The one backup of the credentials file as it was before keyrot-agent last wrote it.
    pub fn backup_file(&self) -> PathBuf {
        self.state_dir.join(state_file::BACKUP)
    }

    /// The rotation journal.
    pub fn journal_file(&self) -> PathBuf {
        self.state_dir.join(state_file::JOURNAL)
    }

    /// The history of finished rotations.
    pub fn history_file(&self) -> PathBuf {
        self.state_dir.join(state_file::HISTORY)
    }

    /// The key-date cache.
    pub fn key_cache_file(&self) -> PathBuf {
        self.state_dir.join(state_file::KEY_CACHE)
    }

    /// The grace record.
    pub fn grace_file(&self) -> PathBuf {
        self.state_dir.join(state_file::GRACE)
    }

    /// The record of last failures.
    pub fn failures_file(&self) -> PathBuf {
        self.state_dir.join(state_file::FAILURES)
    }

    /// The record of what was notified.
    pub fn notified_file(&self) -> PathBuf {
        self.state_dir.join(state_file::NOTIFIED)
    }

    /// What keyrot-agent learned about MFA.
    pub fn mfa_file(&self) -> PathBuf {
        self.state_dir.join(state_file::MFA)
    }

    /// Resolves the paths from an environment lookup (the process environment in production,
    /// a map in tests).
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>) -> Result<Paths, PathsError> {
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let file = |var: &str, default: &str| -> Result<PathBuf, PathsError> {
            match env(var).filter(|v| !v.is_empty()) {
                Some(v) => expand_tilde(PathBuf::from(v), home.as_ref()),
                None => Ok(home
                    .as_ref()
                    .ok_or(PathsError::NoHome)?
                    .join(".aws")
                    .join(default)),
            }
        };
        let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")?;
        let config = file("AWS_CONFIG_FILE", "config")?;
        let state_dir = state_dir(&env, home.as_ref())?;
        let agent_config = match env("KEYROT_CONFIG").filter(|v| !v.is_empty()) {
            Some(v) => expand_tilde(PathBuf::from(v), home.as_ref())?,
            None => config_dir(&env, home.as_ref())?.join("config.toml"),
        };
        let endpoints = [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_IAM",
            "AWS_ENDPOINT_URL_STS",
        ]
        .into_iter()
        .filter_map(|var| {
            let v = env(var).filter(|v| !v.is_empty())?;
            Some((var.to_string(), v.to_string_lossy().into_owned()))
        })
        .collect();
        Ok(Paths {
            agent_config,
            credentials,
            config,
            state_dir,
            endpoints,
            trust: Trust::default(),
        })
    }
}

fn expand_tilde(path: PathBuf, home: Option<&PathBuf>) -> Result<PathBuf, PathsError> {
    match path.strip_prefix("~") {
        Ok(rest) => Ok(home.ok_or(PathsError::NoHome)?.join(rest)),
        Err(_) => Ok(path),
    }
}

/// The state directory: `$XDG_STATE_HOME/keyrot-agent` (default `~/.local/state/keyrot-agent`) on
/// Linux, the application-support directory on macOS.
fn state_dir(
    env: &impl Fn(&str) -> Option<OsString>,
    home: Option<&PathBuf>,
) -> Result<PathBuf, PathsError> {
    if cfg!(target_os = "linux") {
        // Resolved here rather than by `directories` so that the given environment is used.
        let base = match env("XDG_STATE_HOME").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => home.ok_or(PathsError::NoHome)?.join(".local").join("state"),
        };
        return Ok(base.join("keyrot-agent"));
    }
    directories::ProjectDirs::from("", "", "keyrot-agent")
        .map(|d| {
            d.state_dir()
                .unwrap_or_else(|| d.data_local_dir())
                .to_path_buf()
        })
        .ok_or(PathsError::NoHome)
}

/// keyrot-agent's config directory: `$XDG_CONFIG_HOME/keyrot-agent` (default
/// `~/.config/keyrot-agent`) on Linux, the platform's config directory elsewhere.
fn config_dir(
    env: &impl Fn(&str) -> Option<OsString>,
    home: Option<&PathBuf>,
) -> Result<PathBuf, PathsError> {
    if cfg!(target_os = "linux") {
        let base = match env("XDG_CONFIG_HOME").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => home.ok_or(PathsError::NoHome)?.join(".config"),
        };
        return Ok(base.join("keyrot-agent"));
    }
    directories::ProjectDirs::from("", "", "keyrot-agent")
        .map(|d| d.config_dir().to_path_buf())
        .ok_or(PathsError::NoHome)
}

/// This machine's name (for the description of the keys it creates); `localhost` when the
/// system does not say.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// The process environment, as [`Paths::resolve`] and [`default_profile`] take it.
pub fn process_env(key: &str) -> Option<OsString> {
    std::env::var_os(key)
}

/// This program's path, resolved (what a `credential_process` line names).
pub fn this_program() -> std::io::Result<PathBuf> {
    std::env::current_exe().and_then(std::fs::canonicalize)
}

/// The path to write where another program must find this one later (`credential_process`):
/// the entry on `PATH` that leads to this program (the symbolic link `cargo install`, Homebrew
/// or the `.deb` put there survives upgrades; the canonical path inside a Homebrew Cellar or the
/// Nix store does not), else the canonical path, with a warning when that path is versioned or
/// not on `PATH`. `resolve` canonicalizes a path (the file system in production).
pub fn stable_program(
    canonical: &Path,
    path_env: Option<OsString>,
    resolve: impl Fn(&Path) -> Option<PathBuf>,
) -> (PathBuf, Option<String>) {
    let name = canonical.file_name().unwrap_or_default();
    if let Some(path_env) = path_env {
        for dir in std::env::split_paths(&path_env) {
            if !dir.is_absolute() {
                continue;
            }
            let candidate = dir.join(name);
            if resolve(&candidate).as_deref() == Some(canonical) {
                return (candidate, None);
            }
        }
    }
    let text = canonical.to_string_lossy();
    let versioned = [
        "/Cellar/",
        "/nix/store/",
        "/.rustup/toolchains/",
        "/target/release/",
        "/target/debug/",
    ]
    .iter()
    .any(|part| text.contains(part));
    let why = if versioned {
        "is a versioned path that goes away with an upgrade or a rebuild"
    } else {
        "is not on PATH"
    };
    let warning = format!(
        "warning: {} {why}; credential_process will run it by that path. Install keyrot-agent on PATH (cargo install, Homebrew, the .deb) and run `keyrot-agent keyring adopt` again from there",
        canonical.display()
    );
    (canonical.to_path_buf(), Some(warning))
}

/// [`stable_program`] for this process: its `PATH`, the file system.
pub fn this_program_on_path() -> std::io::Result<(PathBuf, Option<String>)> {
    let canonical = this_program()?;
    Ok(stable_program(&canonical, process_env("PATH"), |p| {
        std::fs::canonicalize(p).ok()
    }))
}

/// The profile a bare `keyrot-agent now` rotates: `AWS_PROFILE`, else `default`.
pub fn default_profile(env: impl Fn(&str) -> Option<OsString>) -> String {
    env("AWS_PROFILE")
        .and_then(|p| p.into_string().ok())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).map(OsString::from)
    }

    #[test]
    fn the_stable_program_is_the_path_entry_that_leads_to_it() {
        let cellar = Path::new("/opt/homebrew/Cellar/keyrot-agent/1.2.0/bin/keyrot-agent");
        let links: HashMap<PathBuf, PathBuf> = [
            ("/opt/homebrew/bin/keyrot-agent", cellar),
            ("/usr/bin/keyrot-agent", Path::new("/usr/bin/keyrot-agent")),
        ]
        .into_iter()
        .map(|(a, b)| (PathBuf::from(a), b.to_path_buf()))
        .collect();
        let resolve = |p: &Path| links.get(p).cloned();
        let path = Some(OsString::from(
            "/home/u/bin:relative:/opt/homebrew/bin:/usr/bin",
        ));
        assert_eq!(
            stable_program(cellar, path.clone(), resolve),
            (PathBuf::from("/opt/homebrew/bin/keyrot-agent"), None)
        );
        let usr = Path::new("/usr/bin/keyrot-agent");
        assert_eq!(
            stable_program(usr, path.clone(), resolve),
            (usr.to_path_buf(), None)
        );
        // Only the versioned path: it is used, with a warning.
        let (p, warning) = stable_program(cellar, Some("/usr/bin".into()), resolve);
        assert_eq!(p, cellar);
        assert!(warning.unwrap().contains("versioned"));
        let (_, warning) = stable_program(Path::new("/srv/k/keyrot-agent"), None, resolve);
        assert!(warning.unwrap().contains("not on PATH"));
    }

    #[test]
    fn defaults_follow_home() {
        let p = Paths::resolve(env(&[("HOME", "/h")])).unwrap();
        assert_eq!(p.credentials, PathBuf::from("/h/.aws/credentials"));
        assert_eq!(p.config, PathBuf::from("/h/.aws/config"));
        if cfg!(target_os = "linux") {
            assert_eq!(p.state_dir, PathBuf::from("/h/.local/state/keyrot-agent"));
            assert_eq!(
                p.agent_config,
                PathBuf::from("/h/.config/keyrot-agent/config.toml")
            );
        }
        let p = Paths::resolve(env(&[("HOME", "/h"), ("KEYROT_CONFIG", "~/k.toml")])).unwrap();
        assert_eq!(p.agent_config, PathBuf::from("/h/k.toml"));
    }

    #[test]
    fn env_overrides_and_tilde() {
        let p = Paths::resolve(env(&[
            ("HOME", "/h"),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
            ("AWS_CONFIG_FILE", "/etc/aws-config"),
            ("XDG_STATE_HOME", "/s"),
        ]))
        .unwrap();
        assert_eq!(p.credentials, PathBuf::from("/h/creds"));
        assert_eq!(p.config, PathBuf::from("/etc/aws-config"));
        if cfg!(target_os = "linux") {
            assert_eq!(p.state_dir, PathBuf::from("/s/keyrot-agent"));
            assert_eq!(p.lock_file(), PathBuf::from("/s/keyrot-agent/lock"));
        }
    }

    #[test]
    fn no_home_is_a_clear_error() {
        assert!(matches!(Paths::resolve(env(&[])), Err(PathsError::NoHome)));
    }

    #[test]
    fn profile_default() {
        assert_eq!(default_profile(env(&[])), "default");
        assert_eq!(default_profile(env(&[("AWS_PROFILE", "work")])), "work");
    }
}
