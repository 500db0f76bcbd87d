//! The agent's configuration: a TOML file with a documented default for every field, resolved in
//! one place.
//!
//! The file is `config.toml` in the platform's config directory (`~/.config/keyrot-agent/` on
//! Linux), or the path in `KEYROT_CONFIG`. Every field is optional. Durations are written as
//! people write them ("90d", "12h"). An unknown key or a bad value is an error that names the
//! line; nothing falls back to a default silently. Pure: [`parse`] works on text; the engine's
//! loader reads the file.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use crate::core::keys::Storage;

/// The settings that apply to one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Rotate a key once it is this old.
    pub max_age: Duration,
    /// Notify this long before a key is due.
    pub warn_before: Duration,
    /// Rotate due keys; when false, only notify.
    pub auto_rotate: bool,
    /// How long the old key stays Inactive before it is deleted.
    pub grace: Duration,
    /// How long to wait for IAM to accept a new key.
    pub verify_timeout: Duration,
    /// Send desktop notifications.
    pub notify: bool,
    /// Where the agent keeps the profile's secret: the credentials file, or the OS keyring
    /// (the agent then adopts the profile by itself).
    pub storage: Storage,
    /// The MFA device key management needs (only in `[profile.P]`: each IAM user has its own).
    pub mfa_serial: Option<String>,
    /// A command whose standard output is the current MFA code.
    pub mfa_process: Option<String>,
    /// Commands run before CreateAccessKey; a non-zero exit vetoes the rotation.
    pub pre_rotate: Vec<String>,
    /// Commands run once the new key is written and proven, before the old one is retired.
    pub post_rotate: Vec<String>,
    /// How long a hook may run before its process group is killed.
    pub hook_timeout: Duration,
    /// What a failed `post_rotate` hook does to the rotation.
    pub on_hook_failure: OnHookFailure,
    /// Environment variables passed to hooks besides HOME, PATH and LANG.
    pub hook_env: Vec<String>,
}

/// What a failed `post_rotate` hook does to the rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHookFailure {
    /// The old key goes back, the new key is deleted, and the hooks are run again with the old
    /// pair.
    Rollback,
    /// The rotation goes on; the failure is reported.
    Continue,
}

impl OnHookFailure {
    pub fn name(self) -> &'static str {
        match self {
            OnHookFailure::Rollback => "rollback",
            OnHookFailure::Continue => "continue",
        }
    }
}

/// A hook setting: one command, or a list run in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum Commands {
    One(String),
    Many(Vec<String>),
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_age: Duration::from_secs(90 * 86400),
            warn_before: Duration::from_secs(7 * 86400),
            auto_rotate: true,
            grace: Duration::ZERO,
            verify_timeout: Duration::from_secs(60),
            notify: true,
            storage: Storage::File,
            mfa_serial: None,
            mfa_process: None,
            pre_rotate: Vec::new(),
            post_rotate: Vec::new(),
            hook_timeout: Duration::from_secs(60),
            on_hook_failure: OnHookFailure::Rollback,
            hook_env: Vec::new(),
        }
    }
}

/// Where a resolved value came from, for `config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { line: usize },
    Profile { profile: String, line: usize },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File { line } => write!(f, "config file, line {line}"),
            Source::Profile { profile, line } => write!(f, "[profile.{profile}], line {line}"),
        }
    }
}

/// The whole configuration, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: Settings,
    /// The most AWS calls keyrot-agent has in flight at once, when it rotates the keys of several
    /// IAM users side by side.
    pub max_parallel: usize,
    /// Glob patterns (`*`, `?`) of profiles to manage; empty means all.
    pub include: Vec<String>,
    /// Glob patterns of profiles to leave alone; they win over `include`.
    pub exclude: Vec<String>,
    overrides: BTreeMap<String, Overrides>,
    sources: BTreeMap<String, Source>,
}

/// The default of `max_parallel`: see ARCHITECTURE.md, "Many keys at once".
pub const MAX_PARALLEL: usize = 4;

/// The most `max_parallel` may be.
const MAX_PARALLEL_LIMIT: i64 = 16;

impl Default for Config {
    fn default() -> Config {
        Config {
            global: Settings::default(),
            max_parallel: MAX_PARALLEL,
            include: Vec::new(),
            exclude: Vec::new(),
            overrides: BTreeMap::new(),
            sources: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Overrides {
    max_age: Option<(Duration, usize)>,
    warn_before: Option<(Duration, usize)>,
    auto_rotate: Option<(bool, usize)>,
    grace: Option<(Duration, usize)>,
    verify_timeout: Option<(Duration, usize)>,
    notify: Option<(bool, usize)>,
    storage: Option<(Storage, usize)>,
    mfa_serial: Option<(String, usize)>,
    mfa_process: Option<(String, usize)>,
    pre_rotate: Option<(Vec<String>, usize)>,
    post_rotate: Option<(Vec<String>, usize)>,
    hook_timeout: Option<(Duration, usize)>,
    on_hook_failure: Option<(OnHookFailure, usize)>,
    hook_env: Option<(Vec<String>, usize)>,
}

/// A problem in the config file, at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    max_age: Option<Spanned<String>>,
    warn_before: Option<Spanned<String>>,
    auto_rotate: Option<Spanned<bool>>,
    grace: Option<Spanned<String>>,
    verify_timeout: Option<Spanned<String>>,
    notify: Option<Spanned<bool>>,
    storage: Option<Spanned<String>>,
    mfa_serial: Option<Spanned<String>>,
    mfa_process: Option<Spanned<String>>,
    pre_rotate: Option<Spanned<Commands>>,
    post_rotate: Option<Spanned<Commands>>,
    hook_timeout: Option<Spanned<String>>,
    on_hook_failure: Option<Spanned<String>>,
    hook_env: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfiles {
    include: Option<Spanned<Vec<String>>>,
    exclude: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    max_age: Option<Spanned<String>>,
    warn_before: Option<Spanned<String>>,
    auto_rotate: Option<Spanned<bool>>,
    grace: Option<Spanned<String>>,
    verify_timeout: Option<Spanned<String>>,
    notify: Option<Spanned<bool>>,
    storage: Option<Spanned<String>>,
    mfa_serial: Option<Spanned<String>>,
    mfa_process: Option<Spanned<String>>,
    pre_rotate: Option<Spanned<Commands>>,
    post_rotate: Option<Spanned<Commands>>,
    hook_timeout: Option<Spanned<String>>,
    on_hook_failure: Option<Spanned<String>>,
    hook_env: Option<Spanned<Vec<String>>>,
    max_parallel: Option<Spanned<i64>>,
    profiles: Option<RawProfiles>,
    profile: Option<BTreeMap<String, RawSettings>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// One of a few words, each naming a `T`; any other word is refused with the list.
fn choice<T: Copy>(
    text: &str,
    value: &Spanned<String>,
    key: &str,
    what: &str,
    options: &[(&str, T)],
) -> Result<(T, usize), ConfigError> {
    let line = line_of(text, value.span().start);
    let given = value.get_ref().as_str();
    match options.iter().find(|(word, _)| *word == given) {
        Some((_, t)) => Ok((*t, line)),
        None => {
            let words: Vec<String> = options.iter().map(|(w, _)| format!("\"{w}\"")).collect();
            Err(ConfigError {
                line,
                message: format!("{key}: '{given}' is not {what}; use {}", words.join(" or ")),
            })
        }
    }
}

fn duration(
    text: &str,
    value: &Spanned<String>,
    key: &str,
) -> Result<(Duration, usize), ConfigError> {
    let line = line_of(text, value.span().start);
    parse_duration(value.get_ref())
        .map(|d| (d, line))
        .map_err(|e| ConfigError {
            line,
            message: format!("{key}: {e}"),
        })
}

/// Parses durations as people write them: `90`, `500ms`, `60s`, `2m`, `12h`, `90d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write it like 30s, 5m, 12h or 90d"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" | "hr" | "hours" => value * 3600.0,
        "d" | "day" | "days" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}'; use ms, s, m, h or d"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1e10).contains(&seconds) {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a config file's text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if let Some(serial) = &raw.mfa_serial {
        return Err(ConfigError {
            line: line_of(text, serial.span().start),
            message:
                "mfa_serial belongs in a [profile.NAME] table: each IAM user has its own MFA device"
                    .into(),
        });
    }
    let mut config = Config::default();
    let top = RawSettings {
        max_age: raw.max_age,
        warn_before: raw.warn_before,
        auto_rotate: raw.auto_rotate,
        grace: raw.grace,
        verify_timeout: raw.verify_timeout,
        notify: raw.notify,
        storage: raw.storage,
        mfa_serial: None,
        mfa_process: raw.mfa_process,
        pre_rotate: raw.pre_rotate,
        post_rotate: raw.post_rotate,
        hook_timeout: raw.hook_timeout,
        on_hook_failure: raw.on_hook_failure,
        hook_env: raw.hook_env,
    };
    let top = overrides(text, &top)?;
    apply(&mut config.global, &top, &mut config.sources, None);
    check(&config.global, &[&top], 1)?;
    if let Some(n) = &raw.max_parallel {
        let line = line_of(text, n.span().start);
        let value = *n.get_ref();
        if !(1..=MAX_PARALLEL_LIMIT).contains(&value) {
            return Err(ConfigError {
                line,
                message: format!(
                    "max_parallel: {value} is out of range; give a number from 1 to {MAX_PARALLEL_LIMIT} (the default is {MAX_PARALLEL})"
                ),
            });
        }
        config.max_parallel = value as usize;
        config
            .sources
            .insert("max_parallel".into(), Source::File { line });
    }
    if let Some(p) = raw.profiles {
        for (key, list, into) in [
            ("profiles.include", p.include, &mut config.include),
            ("profiles.exclude", p.exclude, &mut config.exclude),
        ] {
            if let Some(list) = list {
                let line = line_of(text, list.span().start);
                config.sources.insert(key.into(), Source::File { line });
                *into = list.into_inner();
            }
        }
    }
    for (name, raw) in raw.profile.unwrap_or_default() {
        let o = overrides(text, &raw)?;
        config.overrides.insert(name, o);
    }
    for (name, own) in &config.overrides {
        let settings = config.for_profile(name);
        check(&settings, &[own, &top], config.line_of_profile(name))?;
    }
    Ok(config)
}

fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    let mut message = e.message().to_string();
    // `[profiles]` (which profiles) and `[profile.NAME]` (one profile's settings) are one
    // letter apart.
    let field = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    if let Some(field) = field
        && message.contains("`include`")
        && is_profile_setting(field)
    {
        message.push_str(&format!(
            "; [profiles] only takes include and exclude: did you mean a [profile.NAME] table, which sets {field} for one profile?"
        ));
    }
    ConfigError { line, message }
}

/// Whether `field` is a setting a `[profile.NAME]` table takes: asked of the table's own
/// definition (`RawSettings`), so that no second list of the settings can drift from it.
fn is_profile_setting(field: &str) -> bool {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return false;
    }
    match toml::from_str::<RawFile>(&format!("[profile.probe]\n{field} = 0\n")) {
        Ok(_) => true,
        // Known, but 0 is not its type.
        Err(e) => !e.message().starts_with("unknown field"),
    }
}

fn overrides(text: &str, raw: &RawSettings) -> Result<Overrides, ConfigError> {
    let flag = |v: &Option<Spanned<bool>>| {
        v.as_ref()
            .map(|b| (*b.get_ref(), line_of(text, b.span().start)))
    };
    Ok(Overrides {
        max_age: raw
            .max_age
            .as_ref()
            .map(|v| duration(text, v, "max_age"))
            .transpose()?,
        warn_before: raw
            .warn_before
            .as_ref()
            .map(|v| duration(text, v, "warn_before"))
            .transpose()?,
        auto_rotate: flag(&raw.auto_rotate),
        grace: raw
            .grace
            .as_ref()
            .map(|v| duration(text, v, "grace"))
            .transpose()?,
        verify_timeout: raw
            .verify_timeout
            .as_ref()
            .map(|v| duration(text, v, "verify_timeout"))
            .transpose()?,
        notify: flag(&raw.notify),
        storage: raw
            .storage
            .as_ref()
            .map(|v| {
                choice(
                    text,
                    v,
                    "storage",
                    "a storage",
                    &[("file", Storage::File), ("keyring", Storage::Keyring)],
                )
            })
            .transpose()?,
        mfa_serial: raw
            .mfa_serial
            .as_ref()
            .map(|v| {
                let line = line_of(text, v.span().start);
                crate::core::mfa::check_serial(v.get_ref().trim())
                    .map(|()| (v.get_ref().trim().to_string(), line))
                    .map_err(|e| ConfigError {
                        line,
                        message: format!("mfa_serial: {e}"),
                    })
            })
            .transpose()?,
        mfa_process: raw
            .mfa_process
            .as_ref()
            .map(|v| {
                let line = line_of(text, v.span().start);
                if v.get_ref().trim().is_empty() {
                    Err(ConfigError {
                        line,
                        message: "mfa_process: give the command that prints the code, like \"ykman oath accounts code --single aws\"".into(),
                    })
                } else {
                    Ok((v.get_ref().clone(), line))
                }
            })
            .transpose()?,
        pre_rotate: hooks(text, raw.pre_rotate.as_ref(), "pre_rotate")?,
        post_rotate: hooks(text, raw.post_rotate.as_ref(), "post_rotate")?,
        hook_timeout: raw
            .hook_timeout
            .as_ref()
            .map(|v| duration(text, v, "hook_timeout"))
            .transpose()?,
        on_hook_failure: raw
            .on_hook_failure
            .as_ref()
            .map(|v| {
                choice(
                    text,
                    v,
                    "on_hook_failure",
                    "a choice",
                    &[
                        ("rollback", OnHookFailure::Rollback),
                        ("continue", OnHookFailure::Continue),
                    ],
                )
            })
            .transpose()?,
        hook_env: raw
            .hook_env
            .as_ref()
            .map(|v| {
                let line = line_of(text, v.span().start);
                match v.get_ref().iter().find(|n| !env_name(n)) {
                    Some(bad) => Err(ConfigError {
                        line,
                        message: format!(
                            "hook_env: '{}' is not an environment variable's name",
                            crate::core::redact::printable(bad)
                        ),
                    }),
                    None => Ok((v.get_ref().clone(), line)),
                }
            })
            .transpose()?,
    })
}

/// A hook setting: commands that are not empty.
fn hooks(
    text: &str,
    raw: Option<&Spanned<Commands>>,
    key: &str,
) -> Result<Option<(Vec<String>, usize)>, ConfigError> {
    let Some(v) = raw else { return Ok(None) };
    let line = line_of(text, v.span().start);
    let commands = match v.get_ref() {
        Commands::One(c) => vec![c.clone()],
        Commands::Many(list) => list.clone(),
    };
    if commands.iter().any(|c| c.trim().is_empty()) {
        return Err(ConfigError {
            line,
            message: format!("{key}: a hook is a command to run through sh -c; this one is empty"),
        });
    }
    Ok(Some((commands, line)))
}

/// Whether `name` can be an environment variable's name.
fn env_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

fn apply(
    s: &mut Settings,
    o: &Overrides,
    sources: &mut BTreeMap<String, Source>,
    profile: Option<&str>,
) {
    let mut note = |key: &str, line: usize| {
        let source = match profile {
            Some(p) => Source::Profile {
                profile: p.to_string(),
                line,
            },
            None => Source::File { line },
        };
        sources.insert(key.to_string(), source);
    };
    if let Some((v, l)) = o.max_age {
        s.max_age = v;
        note("max_age", l);
    }
    if let Some((v, l)) = o.warn_before {
        s.warn_before = v;
        note("warn_before", l);
    }
    if let Some((v, l)) = o.auto_rotate {
        s.auto_rotate = v;
        note("auto_rotate", l);
    }
    if let Some((v, l)) = o.grace {
        s.grace = v;
        note("grace", l);
    }
    if let Some((v, l)) = o.storage {
        s.storage = v;
        note("storage", l);
    }
    if let Some((v, l)) = o.verify_timeout {
        s.verify_timeout = v;
        note("verify_timeout", l);
    }
    if let Some((v, l)) = o.notify {
        s.notify = v;
        note("notify", l);
    }
    if let Some((v, l)) = &o.mfa_serial {
        s.mfa_serial = Some(v.clone());
        note("mfa_serial", *l);
    }
    if let Some((v, l)) = &o.mfa_process {
        s.mfa_process = Some(v.clone());
        note("mfa_process", *l);
    }
    if let Some((v, l)) = &o.pre_rotate {
        s.pre_rotate = v.clone();
        note("pre_rotate", *l);
    }
    if let Some((v, l)) = &o.post_rotate {
        s.post_rotate = v.clone();
        note("post_rotate", *l);
    }
    if let Some((v, l)) = o.hook_timeout {
        s.hook_timeout = v;
        note("hook_timeout", l);
    }
    if let Some((v, l)) = o.on_hook_failure {
        s.on_hook_failure = v;
        note("on_hook_failure", l);
    }
    if let Some((v, l)) = &o.hook_env {
        s.hook_env = v.clone();
        note("hook_env", *l);
    }
}

/// Values that parse but make no sense (or that this version cannot honour yet). Each error
/// points at the line of the value it is about: the first of `layers` (a profile's table, then
/// the top of the file) that sets it, else `fallback`.
fn check(s: &Settings, layers: &[&Overrides], fallback: usize) -> Result<(), ConfigError> {
    let line_of = |keys: &[fn(&Overrides) -> Option<usize>]| {
        layers
            .iter()
            .find_map(|o| keys.iter().find_map(|key| key(o)))
            .unwrap_or(fallback)
    };
    let grace = |o: &Overrides| o.grace.map(|v| v.1);
    let max_age = |o: &Overrides| o.max_age.map(|v| v.1);
    let warn_before = |o: &Overrides| o.warn_before.map(|v| v.1);
    let hook_timeout = |o: &Overrides| o.hook_timeout.map(|v| v.1);
    let verify_timeout = |o: &Overrides| o.verify_timeout.map(|v| v.1);
    if s.max_age < Duration::from_secs(1) {
        return Err(ConfigError {
            line: line_of(&[max_age]),
            message: "max_age must be at least 1s".into(),
        });
    }
    if s.grace >= s.max_age {
        // The old key would still be waiting when its successor is rotated.
        return Err(ConfigError {
            line: line_of(&[grace, max_age]),
            message: format!(
                "grace ({}) must be shorter than max_age ({})",
                show_duration(s.grace),
                show_duration(s.max_age)
            ),
        });
    }
    if s.warn_before >= s.max_age {
        return Err(ConfigError {
            line: line_of(&[warn_before, max_age]),
            message: format!(
                "warn_before ({}) must be shorter than max_age ({})",
                show_duration(s.warn_before),
                show_duration(s.max_age)
            ),
        });
    }
    if s.hook_timeout < Duration::from_secs(1) {
        return Err(ConfigError {
            line: line_of(&[hook_timeout]),
            message: "hook_timeout must be at least 1s".into(),
        });
    }
    if s.verify_timeout < Duration::from_secs(1) {
        return Err(ConfigError {
            line: line_of(&[verify_timeout]),
            message: "verify_timeout must be at least 1s".into(),
        });
    }
    Ok(())
}

/// Matches `*` (any run) and `?` (one character) against the whole name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl Config {
    /// Whether the agent manages `profile`.
    pub fn manages(&self, profile: &str) -> bool {
        let included =
            self.include.is_empty() || self.include.iter().any(|g| glob_match(g, profile));
        included && !self.exclude.iter().any(|g| glob_match(g, profile))
    }

    /// The settings for `profile`: the global ones, overridden by its `[profile.NAME]` table.
    pub fn for_profile(&self, profile: &str) -> Settings {
        let mut s = self.global.clone();
        if let Some(o) = self.overrides.get(profile) {
            apply(&mut s, o, &mut BTreeMap::new(), Some(profile));
        }
        s
    }

    /// Where each global value came from.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// The line of `[profile.NAME]`'s first setting (1 when it sets none that is tracked).
    pub fn line_of_profile(&self, profile: &str) -> usize {
        self.overrides
            .get(profile)
            .and_then(|o| {
                [
                    o.max_age.map(|v| v.1),
                    o.warn_before.map(|v| v.1),
                    o.grace.map(|v| v.1),
                    o.verify_timeout.map(|v| v.1),
                ]
                .into_iter()
                .flatten()
                .min()
            })
            .unwrap_or(1)
    }

    /// Profiles with their own table.
    pub fn profiles_with_overrides(&self) -> impl Iterator<Item = &str> {
        self.overrides.keys().map(String::as_str)
    }
}

/// A duration as it would be written in the file.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    for (unit, len) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s.is_multiple_of(len) {
            return format!("{}{unit}", s / len);
        }
    }
    format!("{s}s")
}

/// The commented default file that `config init` writes. Every field is documented here and in
/// README.md.
pub const DEFAULT_FILE: &str = r#"# keyrot-agent configuration. Every setting is optional; the values below are the defaults.
# Durations are written like 90d, 12h, 30m or 45s.

# Rotate a key once it is this old. 90 days is the CIS AWS Foundations Benchmark's limit.
max_age = "90d"

# Send a desktop notification this long before a key is due (at most once a day per profile).
warn_before = "7d"

# Rotate keys that are due. When false, the agent only notifies you.
auto_rotate = true

# How long the old key stays Inactive before it is deleted. 0s deletes it as soon as the new
# key is proven. During the grace, `keyrot-agent undo --profile NAME` makes the old key Active
# again, puts it back in the file and deletes the new one. The old secret is kept (0600) in the
# state directory until then. Must be shorter than max_age.
grace = "0s"

# How long to wait for IAM to accept a new key before rolling back.
verify_timeout = "60s"

# Desktop notifications (key due soon, rotated, failed). The --no-notify flag also turns them off.
notify = true

# Where a profile's secret is kept: "file" (~/.aws/credentials) or "keyring" (the OS keyring:
# the agent moves the key there by itself, as `keyrot-agent keyring adopt` does, and AWS clients
# get it through credential_process). Going back to "file" does not move anything: run
# `keyrot-agent keyring release --profile NAME`.
storage = "file"

# Hooks: commands run through `sh -c` in your home directory, with HOME, PATH, LANG and the
# variables named in hook_env. Each may be one command or a list run in order. See README, "Hooks".
# pre_rotate runs before a new key is created; a non-zero exit vetoes the rotation.
# pre_rotate = []
# post_rotate runs once the new key is written and proven, before the old key is retired. Its
# standard input is one JSON object with the new pair (AccessKeyId, SecretAccessKey) and
# OldAccessKeyId. A failure rolls the rotation back (and runs it again with the old pair).
# post_rotate = ["~/.config/keyrot-agent/hooks/s3cfg.sh"]
hook_timeout = "60s"
# "rollback" (the default) or "continue" (keep the new key and report the failure).
on_hook_failure = "rollback"
hook_env = []

# Keys of different IAM users are rotated side by side (keys of one user one after another).
# This is the most AWS calls keyrot-agent has in flight at once, from 1 (one call at a time)
# to 16.
max_parallel = 4

[profiles]
# Glob patterns (* and ?) of the profiles the agent manages. Empty: every profile with a key.
include = []
# Glob patterns of profiles to leave alone. They win over include.
exclude = []

# Any setting above can be overridden for one profile:
# [profile.prod]
# max_age = "30d"
# auto_rotate = false

# MFA, for accounts whose policy denies key management without it. The device is read from
# mfa_serial in the profile's section of ~/.aws/config, as the AWS CLI reads it; set here, it wins.
# [profile.work]
# mfa_serial = "arn:aws:iam::123456789012:mfa/alice"
# The code comes from --mfa-code, a prompt on a terminal, or this command's standard output
# (the agent can rotate by itself only with it). It may also be set once at the top.
# mfa_process = "ykman oath accounts code --single aws"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_parses_to_the_defaults() {
        let c = parse(DEFAULT_FILE).unwrap();
        assert_eq!(c.global, Settings::default());
        assert_eq!(c.max_parallel, MAX_PARALLEL);
        assert!(c.manages("anything"));
    }

    /// A profile setting under `[profiles]` is told about `[profile.NAME]`.
    #[test]
    fn a_profile_setting_under_profiles_points_at_profile_tables() {
        let e = parse("[profiles]\nmax_age = \"30d\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("did you mean a [profile.NAME] table"),
            "{}",
            e.message
        );
        let e = parse("[profiles]\nincluded = []\n").unwrap_err();
        assert!(!e.message.contains("[profile.NAME]"), "{}", e.message);
    }

    /// `include = []` written in the file is shown as coming from the file (before, "default").
    #[test]
    fn an_empty_list_set_in_the_file_comes_from_the_file() {
        let c = parse("[profiles]\ninclude = []\n").unwrap();
        assert_eq!(c.source("profiles.include"), Source::File { line: 2 });
        assert_eq!(c.source("profiles.exclude"), Source::Default);
        let rows = describe(&c);
        let include = rows.iter().find(|r| r.0 == "profiles.include").unwrap();
        assert_eq!(include.2, "config file, line 2");
    }

    /// A rule about two settings points at the line that set them (before, always line 1).
    #[test]
    fn an_error_about_two_settings_names_the_line_that_set_them() {
        let e = parse("# keys\nmax_age = \"30d\"\n\ngrace = \"40d\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (4, "grace (40d) must be shorter than max_age (30d)")
        );
        let e = parse("notify = true\nwarn_before = \"31d\"\nmax_age = \"30d\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        // Only max_age set: its line.
        let e = parse("notify = true\n\nmax_age = \"3d\"\n").unwrap_err();
        assert_eq!(e.line, 3, "{}", e.message);
        // A profile's table that makes the pair wrong: its own line.
        let e =
            parse("grace = \"10d\"\n[profile.p]\nnotify = true\nmax_age = \"5d\"\n").unwrap_err();
        assert_eq!(e.line, 4, "{}", e.message);
    }

    #[test]
    fn max_parallel_is_a_small_positive_number() {
        assert_eq!(parse("").unwrap().max_parallel, MAX_PARALLEL);
        let c = parse("max_parallel = 1\n").unwrap();
        assert_eq!(c.max_parallel, 1);
        assert_eq!(c.source("max_parallel"), Source::File { line: 1 });
        for bad in ["0", "-3", "17", "100000"] {
            let e = parse(&format!("grace = \"0s\"\nmax_parallel = {bad}\n")).unwrap_err();
            assert_eq!(e.line, 2, "{bad}");
            assert!(e.message.contains("from 1 to 16"), "{bad}: {}", e.message);
        }
        let e = parse("max_parallel = \"4\"\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.global, Settings::default());
        assert_eq!(c.source("max_age"), Source::Default);
    }

    #[test]
    fn values_and_their_sources() {
        let c = parse("max_age = \"30d\"\nnotify = false\n[profile.prod]\nmax_age = \"7d\"\nwarn_before = \"1d\"\n").unwrap();
        assert_eq!(c.global.max_age, Duration::from_secs(30 * 86400));
        assert!(!c.global.notify);
        assert_eq!(c.source("max_age"), Source::File { line: 1 });
        let prod = c.for_profile("prod");
        assert_eq!(prod.max_age, Duration::from_secs(7 * 86400));
        assert!(!prod.notify, "inherits the global value");
        assert_eq!(
            c.for_profile("dev").max_age,
            Duration::from_secs(30 * 86400)
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("max_age = \"90d\"\nmax_agee = \"1d\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown field `max_agee`"), "{e}");
        let e = parse("\nwarn_before = \"soon\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("warn_before"), "{e}");
        let e = parse("notify = \"yes\"\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("[profile.x]\nmax_age = \"1d\"\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse("max_age = \"1d\"\nwarn_before = \"2d\"\n").unwrap_err();
        assert!(e.message.contains("shorter than max_age"), "{e}");
        let e = parse("max_age = \"7d\"\ngrace = \"7d\"\n").unwrap_err();
        assert!(e.message.contains("shorter than max_age"), "{e}");
        assert_eq!(
            parse("grace = \"2d\"\n").unwrap().global.grace,
            Duration::from_secs(2 * 86400)
        );
        let e = parse("\nstorage = \"vault\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "storage: 'vault' is not a storage; use \"file\" or \"keyring\""
        );
        let e = parse("[profile.x]\non_hook_failure = \"ignore\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "on_hook_failure: 'ignore' is not a choice; use \"rollback\" or \"continue\""
        );
    }

    #[test]
    fn mfa_settings_belong_to_profiles() {
        let c = parse("mfa_process = \"ykman oath accounts code --single aws\"\n[profile.work]\nmfa_serial = \"arn:aws:iam::123456789012:mfa/alice\"\n").unwrap();
        let work = c.for_profile("work");
        assert_eq!(
            work.mfa_serial.as_deref(),
            Some("arn:aws:iam::123456789012:mfa/alice")
        );
        assert_eq!(
            work.mfa_process.as_deref(),
            Some("ykman oath accounts code --single aws"),
            "inherits the global command"
        );
        assert_eq!(c.for_profile("other").mfa_serial, None);
        let e = parse("\nmfa_serial = \"arn:aws:iam::123456789012:mfa/alice\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("[profile.NAME]"), "{e}");
        let e = parse("[profile.w]\nmfa_serial = \"nope\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not an MFA device serial"), "{e}");
        let e = parse("[profile.w]\nmfa_process = \" \"\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn hooks_are_one_command_or_a_list() {
        let c = parse("post_rotate = \"~/bin/s3cfg.sh\"\nhook_env = [\"AWS_REGION\"]\n[profile.work]\npost_rotate = [\"a\", \"b\"]\npre_rotate = \"check-deploy\"\non_hook_failure = \"continue\"\nhook_timeout = \"5s\"\n").unwrap();
        assert_eq!(c.global.post_rotate, vec!["~/bin/s3cfg.sh".to_string()]);
        assert_eq!(c.global.on_hook_failure, OnHookFailure::Rollback);
        let w = c.for_profile("work");
        assert_eq!(w.post_rotate, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(w.pre_rotate, vec!["check-deploy".to_string()]);
        assert_eq!(w.on_hook_failure, OnHookFailure::Continue);
        assert_eq!(w.hook_timeout, Duration::from_secs(5));
        assert_eq!(w.hook_env, vec!["AWS_REGION".to_string()], "inherited");
        for (text, line, what) in [
            ("\npost_rotate = \"\"\n", 2, "empty"),
            ("on_hook_failure = \"ignore\"\n", 1, "not a choice"),
            ("hook_env = [\"A B\"]\n", 1, "not an environment"),
            ("hook_timeout = \"0s\"\n", 1, "at least 1s"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn include_and_exclude() {
        let c =
            parse("[profiles]\ninclude = [\"work-*\", \"default\"]\nexclude = [\"work-legacy\"]\n")
                .unwrap();
        assert!(c.manages("default"));
        assert!(c.manages("work-eu"));
        assert!(!c.manages("work-legacy"));
        assert!(!c.manages("personal"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*-prod", "team-prod"));
        assert!(!glob_match("*-prod", "team-prod2"));
    }

    #[test]
    fn durations_are_parsed_as_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn durations_are_shown_as_written() {
        assert_eq!(show_duration(Duration::from_secs(90 * 86400)), "90d");
        assert_eq!(show_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(show_duration(Duration::from_secs(61)), "61s");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}:{}: {}; fix the setting (`keyrot-agent config init --print` shows every setting and its default)", error.line, error.message, path = path.display())]
    Invalid {
        path: std::path::PathBuf,
        error: ConfigError,
    },
    #[error("cannot read {path}: {error}", path = path.display())]
    Io {
        path: std::path::PathBuf,
        error: String,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join("; ")
    }
}

/// A profile's hook settings, for `config show` (empty when there are none).
fn hooks_of(s: &Settings) -> String {
    let mut out = String::new();
    if !s.pre_rotate.is_empty() {
        out.push_str(&format!(", pre_rotate {}", list(&s.pre_rotate)));
    }
    if !s.post_rotate.is_empty() {
        out.push_str(&format!(", post_rotate {}", list(&s.post_rotate)));
    }
    out
}

/// The resolved settings as `config show` prints them: (name, value, source).
pub fn describe(config: &Config) -> Vec<(String, String, String)> {
    let g = &config.global;
    let mut rows = vec![
        (
            "max_age".to_string(),
            show_duration(g.max_age),
            config.source("max_age").to_string(),
        ),
        (
            "warn_before".to_string(),
            show_duration(g.warn_before),
            config.source("warn_before").to_string(),
        ),
        (
            "auto_rotate".to_string(),
            g.auto_rotate.to_string(),
            config.source("auto_rotate").to_string(),
        ),
        (
            "grace".to_string(),
            show_duration(g.grace),
            config.source("grace").to_string(),
        ),
        (
            "verify_timeout".to_string(),
            show_duration(g.verify_timeout),
            config.source("verify_timeout").to_string(),
        ),
        (
            "notify".to_string(),
            g.notify.to_string(),
            config.source("notify").to_string(),
        ),
        (
            "storage".to_string(),
            g.storage.name().to_string(),
            config.source("storage").to_string(),
        ),
        (
            "mfa_process".to_string(),
            g.mfa_process.clone().unwrap_or_else(|| "(none)".into()),
            config.source("mfa_process").to_string(),
        ),
        (
            "pre_rotate".to_string(),
            list(&g.pre_rotate),
            config.source("pre_rotate").to_string(),
        ),
        (
            "post_rotate".to_string(),
            list(&g.post_rotate),
            config.source("post_rotate").to_string(),
        ),
        (
            "hook_timeout".to_string(),
            show_duration(g.hook_timeout),
            config.source("hook_timeout").to_string(),
        ),
        (
            "on_hook_failure".to_string(),
            g.on_hook_failure.name().to_string(),
            config.source("on_hook_failure").to_string(),
        ),
        (
            "hook_env".to_string(),
            list(&g.hook_env),
            config.source("hook_env").to_string(),
        ),
        (
            "max_parallel".to_string(),
            config.max_parallel.to_string(),
            config.source("max_parallel").to_string(),
        ),
        (
            "profiles.include".to_string(),
            if config.include.is_empty() {
                "(all)".to_string()
            } else {
                config.include.join(", ")
            },
            config.source("profiles.include").to_string(),
        ),
        (
            "profiles.exclude".to_string(),
            if config.exclude.is_empty() {
                "(none)".to_string()
            } else {
                config.exclude.join(", ")
            },
            config.source("profiles.exclude").to_string(),
        ),
    ];
    for p in config.profiles_with_overrides() {
        let s = config.for_profile(p);
        rows.push((
            format!("profile.{p}"),
            format!(
                "max_age {}, warn_before {}, auto_rotate {}, grace {}, verify_timeout {}, notify {}, storage {}{}{}",
                show_duration(s.max_age),
                show_duration(s.warn_before),
                s.auto_rotate,
                show_duration(s.grace),
                show_duration(s.verify_timeout),
                s.notify,
                s.storage.name(),
                s.mfa_serial
                    .as_ref()
                    .map(|m| format!(", mfa_serial {m}"))
                    .unwrap_or_default(),
                s.mfa_process
                    .as_ref()
                    .map(|m| format!(", mfa_process {m}"))
                    .unwrap_or_default(),
            ) + &hooks_of(&s),
            format!("[profile.{p}]"),
        ));
    }
    rows
}
