//! `keyrot-agent service install | uninstall | status`: the login item that runs `keyrot-agent
//! run`.
//!
//! Three kinds of login item, from templates in `packaging/` embedded at build time:
//! - `systemd`: a user unit, `$XDG_CONFIG_HOME/systemd/user/keyrot-agent.service` (Linux with a
//!   systemd user session), enabled and started with `systemctl --user`;
//! - `launchd`: a LaunchAgent, `~/Library/LaunchAgents/io.github.keyrot-agent.plist` (macOS),
//!   loaded with `launchctl bootstrap gui/$UID`;
//! - `autostart`: an XDG autostart entry, `$XDG_CONFIG_HOME/autostart/keyrot-agent.desktop`
//!   (Linux desktops without a systemd user session); install also starts the agent once, detached.
//!
//! The pure part is [`render`] (the file for a program path, escaped as each format requires) and
//! [`installed_exe`] (the program path read back from an installed file). The rest runs
//! `systemctl`/`launchctl` and writes through `store`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::edge::paths::{Paths, PathsError, state_file};
use crate::edge::store::{self, StoreError};

/// The launchd label, also the plist's file name.
pub const LAUNCHD_LABEL: &str = "io.github.keyrot-agent";
/// The systemd user unit's name.
pub const SYSTEMD_UNIT: &str = "keyrot-agent.service";
/// The XDG autostart entry's file name.
pub const AUTOSTART_FILE: &str = "keyrot-agent.desktop";

const SYSTEMD_TEMPLATE: &str = include_str!("../../packaging/systemd/keyrot-agent.service.in");
const LAUNCHD_TEMPLATE: &str = include_str!("../../packaging/launchd/keyrot-agent.plist.in");
const AUTOSTART_TEMPLATE: &str = include_str!("../../packaging/xdg/keyrot-agent.desktop.in");

/// How long a freshly spawned autostart agent must stay up to count as started.
const SPAWN_GRACE: Duration = Duration::from_millis(500);

/// A kind of login item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Systemd,
    Launchd,
    Autostart,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Systemd, Kind::Launchd, Kind::Autostart];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Systemd => "systemd",
            Kind::Launchd => "launchd",
            Kind::Autostart => "autostart",
        }
    }

    /// The kind this machine uses: launchd on macOS; on Linux systemd when it is running
    /// (`/run/systemd/system` exists) and `systemctl` is on PATH, else XDG autostart.
    pub fn detect() -> Kind {
        if cfg!(target_os = "macos") {
            Kind::Launchd
        } else if Path::new("/run/systemd/system").is_dir() && on_path("systemctl") {
            Kind::Systemd
        } else {
            Kind::Autostart
        }
    }

    /// The kinds that belong to this platform, which `status` always shows.
    fn native() -> &'static [Kind] {
        if cfg!(target_os = "macos") {
            &[Kind::Launchd]
        } else {
            &[Kind::Systemd, Kind::Autostart]
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Paths(#[from] PathsError),

    #[error("cannot find the path of this keyrot-agent program: {0}")]
    CurrentExe(io::Error),

    #[error(
        "{path} cannot be written into a {kind} file: it is not UTF-8 or holds control characters; install keyrot-agent under a plainer path"
    )]
    Unrepresentable { path: PathBuf, kind: Kind },

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(
        "cannot {action} the {kind} service here: {program} is not on PATH; pass --no-start to only {verb} the file"
    )]
    NoTool {
        kind: Kind,
        action: &'static str,
        program: &'static str,
        verb: &'static str,
    },

    #[error(
        "{path} was written, but the agent was not started: `{command}` failed: {detail}. Start it with `{hint}`, or remove the file with `keyrot-agent service uninstall --kind {kind} --no-start`"
    )]
    NotStarted {
        kind: Kind,
        path: PathBuf,
        command: String,
        detail: String,
        hint: String,
    },

    #[error(
        "the {kind} service was not stopped: `{command}` failed: {detail}. {path} was left in place; stop the service yourself, then run `keyrot-agent service uninstall --kind {kind} --no-start` to remove the file"
    )]
    NotStopped {
        kind: Kind,
        path: PathBuf,
        command: String,
        detail: String,
    },
}

/// Where things are for one user, and which program the login item starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` (when absolute), else `~/.config`.
    pub config_home: PathBuf,
    /// keyrot-agent's state directory (the agent's lock, the autostart agent's log).
    pub state_dir: PathBuf,
    /// The program the login item runs: this one.
    pub exe: PathBuf,
    pub uid: u32,
}

impl Context {
    /// From an environment lookup and the program's path.
    pub fn from_env(
        env: impl Fn(&str) -> Option<OsString>,
        exe: PathBuf,
        uid: u32,
    ) -> Result<Context, ServiceError> {
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(PathsError::NoHome)?;
        let config_home = match env("XDG_CONFIG_HOME").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => home.join(".config"),
        };
        let state_dir = Paths::resolve(&env)?.state_dir;
        Ok(Context {
            home,
            config_home,
            state_dir,
            exe,
            uid,
        })
    }

    /// From the process environment and `current_exe()`.
    pub fn current() -> Result<Context, ServiceError> {
        let exe = std::env::current_exe().map_err(ServiceError::CurrentExe)?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        Context::from_env(|k| std::env::var_os(k), exe, uid)
    }

    /// Where the login item of `kind` lives.
    pub fn file(&self, kind: Kind) -> PathBuf {
        match kind {
            Kind::Systemd => self.config_home.join("systemd/user").join(SYSTEMD_UNIT),
            Kind::Launchd => self
                .home
                .join("Library/LaunchAgents")
                .join(format!("{LAUNCHD_LABEL}.plist")),
            Kind::Autostart => self.config_home.join("autostart").join(AUTOSTART_FILE),
        }
    }

    /// The agent's lock; held while `keyrot-agent run` runs.
    pub fn agent_lock(&self) -> PathBuf {
        self.state_dir.join(state_file::AGENT_LOCK)
    }

    /// The log of an agent that install started for an autostart entry.
    pub fn autostart_log(&self) -> PathBuf {
        self.state_dir.join(state_file::AGENT_LOG)
    }
}

/// The directory of the LaunchAgent's log, `~/Library/Logs/keyrot-agent`.
pub fn launchd_log_dir(home: &Path) -> PathBuf {
    home.join("Library/Logs/keyrot-agent")
}

// ---------------------------------------------------------------------------------------------
// The pure part: render a file, and read the program back out of one.

/// The login item of `kind` that runs `exe run`. `home` places the LaunchAgent's log.
pub fn render(kind: Kind, exe: &Path, home: &Path) -> Result<String, ServiceError> {
    let exe_text = representable(exe, kind)?;
    Ok(match kind {
        Kind::Systemd => fill(
            SYSTEMD_TEMPLATE,
            &[("@EXEC_START@", &format!("{} run", systemd_word(exe_text)))],
        ),
        Kind::Launchd => {
            let log = launchd_log_dir(home).join("agent.log");
            let log = representable(&log, kind)?;
            fill(
                LAUNCHD_TEMPLATE,
                &[
                    ("@LABEL@", &xml_escape(LAUNCHD_LABEL)),
                    ("@EXE@", &xml_escape(exe_text)),
                    ("@LOG@", &xml_escape(log)),
                ],
            )
        }
        Kind::Autostart => fill(
            AUTOSTART_TEMPLATE,
            &[("@EXEC@", &format!("{} run", desktop_arg(exe_text)))],
        ),
    })
}

/// The program an installed file of `kind` starts, if it names one.
pub fn installed_exe(kind: Kind, text: &str) -> Option<PathBuf> {
    match kind {
        Kind::Systemd => {
            let value = key_value(text, "Service", "ExecStart")?;
            // Executable prefixes (`-`, `@`, `:`, `+`, `!`) are not part of the path.
            let value = value.trim_start_matches(['-', '@', ':', '+', '!']);
            // Specifiers are expanded on the whole line, then words are unquoted.
            systemd_first_word(&value.replace("%%", "%")).map(PathBuf::from)
        }
        Kind::Launchd => {
            let after = &text[text.find("<key>ProgramArguments</key>")?..];
            let start = after.find("<string>")? + "<string>".len();
            let len = after[start..].find("</string>")?;
            Some(PathBuf::from(xml_unescape(&after[start..start + len])?))
        }
        Kind::Autostart => {
            let value = desktop_unescape(&key_value(text, "Desktop Entry", "Exec")?);
            let word = desktop_first_word(&value)?;
            Some(PathBuf::from(word.replace("%%", "%")))
        }
    }
}

/// The path as text, if a file of `kind` can hold it: UTF-8 without control characters, and for
/// systemd without quotes or backslashes, which systemd refuses in an executable's name ("contains
/// special characters") however they are escaped.
fn representable(path: &Path, kind: Kind) -> Result<&str, ServiceError> {
    path.to_str()
        .filter(|s| {
            !s.is_empty()
                && !s.chars().any(char::is_control)
                && (kind != Kind::Systemd || !s.contains(['"', '\'', '\\']))
        })
        .ok_or_else(|| ServiceError::Unrepresentable {
            path: path.to_path_buf(),
            kind,
        })
}

/// Replaces each placeholder of the template once, in one pass, so that a value that happens to
/// contain a placeholder is not replaced again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    loop {
        let next = values
            .iter()
            .filter_map(|(key, value)| rest.find(key).map(|at| (at, *key, *value)))
            .min_by_key(|(at, _, _)| *at);
        match next {
            Some((at, key, value)) => {
                out.push_str(&rest[..at]);
                out.push_str(value);
                rest = &rest[at + key.len()..];
            }
            None => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// The value of `key` in `[section]` of an INI-like file (systemd units, desktop entries).
fn key_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            current = line[1..line.len() - 1].to_string();
        } else if current == section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// The executable of a systemd command line: `%` doubled (specifiers), and quoted when it holds
/// whitespace. `$` stays as it is: systemd substitutes variables in the arguments, never in the
/// executable's path. ([`representable`] has already refused quotes and backslashes.)
fn systemd_word(s: &str) -> String {
    let s = s.replace('%', "%%");
    if s.chars().any(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s
    }
}

/// The first word of a systemd command line, unquoted and C-unescaped as systemd does.
fn systemd_first_word(line: &str) -> Option<String> {
    let mut chars = line.trim_start().chars();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => match chars.next()? {
                'n' => word.push('\n'),
                't' => word.push('\t'),
                'r' => word.push('\r'),
                other => word.push(other),
            },
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => break,
            (_, c) => word.push(c),
        }
    }
    (!word.is_empty() && quote.is_none()).then_some(word)
}

/// The characters the Desktop Entry spec reserves in `Exec` arguments.
const DESKTOP_RESERVED: &str = " \t\n\"'\\><~|&;$*?#()`";

/// One argument of a desktop entry's `Exec` value, per the Desktop Entry spec: quoted (with `"`,
/// `` ` ``, `$` and `\` escaped) when it holds a reserved character; then the string escaping of
/// values (`\` doubled); then `%` doubled (field codes).
fn desktop_arg(s: &str) -> String {
    let quoted = if s.chars().any(|c| DESKTOP_RESERVED.contains(c)) {
        let mut out = String::from('"');
        for c in s.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    } else {
        s.to_string()
    };
    quoted.replace('\\', "\\\\").replace('%', "%%")
}

/// Undoes the string escapes of a desktop entry value (`\s`, `\n`, `\t`, `\r`, `\\`).
fn desktop_unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The first argument of an (unescaped) `Exec` value, unquoted per the Desktop Entry spec.
fn desktop_first_word(value: &str) -> Option<String> {
    let value = value.trim_start();
    let mut word = String::new();
    if let Some(quoted) = value.strip_prefix('"') {
        let mut chars = quoted.chars();
        loop {
            match chars.next()? {
                '"' => return Some(word),
                '\\' => word.push(chars.next()?),
                c => word.push(c),
            }
        }
    }
    word.extend(value.chars().take_while(|c| *c != ' '));
    (!word.is_empty()).then_some(word)
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';')? + at;
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or(entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Install, uninstall, status.

/// What `install` did.
#[derive(Debug)]
pub struct InstallReport {
    pub kind: Kind,
    pub path: PathBuf,
    /// The file's text (what was, or with `--dry-run` would be, written).
    pub text: String,
    pub dry_run: bool,
    /// The program the file it replaced started, when it started another one.
    pub replaced: Option<Option<PathBuf>>,
    /// How the agent was started, if it was.
    pub started: Option<String>,
    pub notes: Vec<String>,
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(
                f,
                "would write {} ({} service; nothing was changed):\n",
                self.path.display(),
                self.kind
            )?;
            f.write_str(&self.text)?;
            return Ok(());
        }
        match &self.replaced {
            None => writeln!(f, "wrote {}", self.path.display())?,
            Some(Some(old)) => writeln!(
                f,
                "wrote {} (it started {} before)",
                self.path.display(),
                old.display()
            )?,
            Some(None) => writeln!(
                f,
                "wrote {} (replacing the file there)",
                self.path.display()
            )?,
        }
        match (&self.started, self.kind) {
            (Some(how), _) => writeln!(f, "started: {how}")?,
            (None, Kind::Systemd) => writeln!(
                f,
                "not started or enabled (--no-start); to do it: systemctl --user daemon-reload && systemctl --user enable --now {SYSTEMD_UNIT}"
            )?,
            (None, Kind::Launchd) => writeln!(
                f,
                "not loaded (--no-start); launchd loads it at your next login"
            )?,
            (None, Kind::Autostart) => writeln!(
                f,
                "not started (--no-start); the desktop starts it at your next login"
            )?,
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// What `uninstall` did.
#[derive(Debug, Default)]
pub struct UninstallReport {
    pub lines: Vec<String>,
}

impl fmt::Display for UninstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Writes the login item of `kind` for `ctx.exe` and, when `start`, starts it. With `dry_run`,
/// only renders it.
pub fn install(
    ctx: &Context,
    kind: Kind,
    dry_run: bool,
    start: bool,
) -> Result<InstallReport, ServiceError> {
    let path = ctx.file(kind);
    let text = render(kind, &ctx.exe, &ctx.home)?;
    let mut report = InstallReport {
        kind,
        path: path.clone(),
        text,
        dry_run,
        replaced: None,
        started: None,
        notes: Vec::new(),
    };
    if dry_run {
        return Ok(report);
    }
    if start {
        require_tool(kind, "start", "write")?;
    }
    let old = store::read_optional(&path)?;
    if let Some(old) = &old
        && old.as_slice() != report.text.as_bytes()
    {
        let old_exe = std::str::from_utf8(old)
            .ok()
            .and_then(|t| installed_exe(kind, t));
        report.replaced = Some(old_exe.filter(|e| *e != ctx.exe));
    }
    if kind == Kind::Launchd {
        // launchd does not create the log's directory.
        store::ensure_private_dir(&launchd_log_dir(&ctx.home))?;
        if start && launchd_loaded(ctx) {
            // bootstrap refuses a label that is loaded: unload the old one first.
            let target = format!("gui/{}/{LAUNCHD_LABEL}", ctx.uid);
            if let Err(detail) = run_tool("launchctl", &["bootout", &target]) {
                report.notes.push(format!(
                    "note: could not unload the running LaunchAgent (launchctl bootout {target}: {detail})"
                ));
            }
        }
    }
    store::write_new(&path, report.text.as_bytes(), true)?;
    if start {
        report.started = Some(start_service(ctx, kind, &path, old.is_some())?);
    }
    if ctx.exe.components().any(|c| c.as_os_str() == "Cellar") {
        report.notes.push(format!(
            "warning: {} is inside Homebrew's Cellar and changes with every upgrade; with Homebrew, use `brew services start keyrot-agent` instead",
            ctx.exe.display()
        ));
    }
    let others: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| *k != kind && ctx.file(*k).exists())
        .collect();
    for other in others {
        report.notes.push(format!(
            "warning: a {other} service is installed too ({}); only one agent runs at a time. Remove it with `keyrot-agent service uninstall --kind {other}`",
            ctx.file(other).display()
        ));
    }
    Ok(report)
}

/// Stops (unless `!stop`) and removes the login item of `kind`, or with `None` of every kind of
/// this platform that is installed. Nothing installed is not an error.
pub fn uninstall(
    ctx: &Context,
    kind: Option<Kind>,
    stop: bool,
) -> Result<UninstallReport, ServiceError> {
    let kinds = match kind {
        Some(k) => vec![k],
        None => Kind::native().to_vec(),
    };
    let mut report = UninstallReport::default();
    let installed: Vec<Kind> = kinds
        .into_iter()
        .filter(|k| ctx.file(*k).exists())
        .collect();
    if installed.is_empty() {
        let what = match kind {
            Some(k) => format!(
                "no {k} service is installed ({} does not exist); nothing to do",
                ctx.file(k).display()
            ),
            None => "no keyrot-agent service is installed; nothing to do".to_string(),
        };
        report.lines.push(what);
        return Ok(report);
    }
    for kind in installed {
        let path = ctx.file(kind);
        if stop {
            require_tool(kind, "stop", "remove")?;
            stop_service(ctx, kind, &path, &mut report)?;
        }
        store::remove_durably(&path)?;
        report.lines.push(format!("removed {}", path.display()));
        match kind {
            Kind::Systemd => {
                // `disable` removed it already; with --no-start a stale enablement link would
                // point at nothing.
                let wants = ctx
                    .config_home
                    .join("systemd/user/default.target.wants")
                    .join(SYSTEMD_UNIT);
                if wants.is_symlink() && store::remove_durably(&wants).is_ok() {
                    report.lines.push(format!("removed {}", wants.display()));
                    store::remove_empty_dir(wants.parent().unwrap_or(&wants));
                }
                if stop && let Err(detail) = run_tool("systemctl", &["--user", "daemon-reload"]) {
                    report.lines.push(format!(
                        "note: systemctl --user daemon-reload failed ({detail}); systemd forgets the unit at its next reload"
                    ));
                }
            }
            Kind::Launchd => {
                let logs = launchd_log_dir(&ctx.home);
                if !store::remove_empty_dir(&logs) {
                    report
                        .lines
                        .push(format!("kept the agent's logs in {}", logs.display()));
                }
            }
            Kind::Autostart => {
                if let Agent::Running { pid } = agent(ctx) {
                    report.lines.push(format!(
                        "the agent is still running{}; it stops when you log out{}",
                        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                        pid.map(|p| format!(", or now with `kill {p}`"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(report)
}

fn require_tool(kind: Kind, action: &'static str, verb: &'static str) -> Result<(), ServiceError> {
    let program = match kind {
        Kind::Systemd => "systemctl",
        Kind::Launchd => "launchctl",
        Kind::Autostart => return Ok(()),
    };
    if on_path(program) {
        Ok(())
    } else {
        Err(ServiceError::NoTool {
            kind,
            action,
            program,
            verb,
        })
    }
}

/// Starts the service whose file was just written; returns what was run.
fn start_service(
    ctx: &Context,
    kind: Kind,
    path: &Path,
    existed: bool,
) -> Result<String, ServiceError> {
    let failed = |command: &str, detail: String, hint: &str| ServiceError::NotStarted {
        kind,
        path: path.to_path_buf(),
        command: command.to_string(),
        detail,
        hint: hint.to_string(),
    };
    match kind {
        Kind::Systemd => {
            let hint = format!(
                "systemctl --user daemon-reload && systemctl --user enable --now {SYSTEMD_UNIT}"
            );
            let mut steps: Vec<Vec<&str>> = vec![
                vec!["--user", "daemon-reload"],
                vec!["--user", "enable", "--now", SYSTEMD_UNIT],
            ];
            if existed {
                // A running agent keeps the old program until it is restarted.
                steps.push(vec!["--user", "restart", SYSTEMD_UNIT]);
            }
            for args in &steps {
                run_tool("systemctl", args)
                    .map_err(|d| failed(&format!("systemctl {}", args.join(" ")), d, &hint))?;
            }
            Ok(format!(
                "systemctl --user enable --now {SYSTEMD_UNIT} (logs: journalctl --user -u keyrot-agent)"
            ))
        }
        Kind::Launchd => {
            let domain = format!("gui/{}", ctx.uid);
            let path_text = path.display().to_string();
            let command = format!("launchctl bootstrap {domain} {path_text}");
            run_tool("launchctl", &["bootstrap", &domain, &path_text])
                .map_err(|d| failed(&command, d, &command))?;
            Ok(format!(
                "{command} (logs: {})",
                launchd_log_dir(&ctx.home).join("agent.log").display()
            ))
        }
        Kind::Autostart => {
            if let Agent::Running { pid } = agent(ctx) {
                return Ok(format!(
                    "the agent is already running{}; the entry starts it at your next login",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ));
            }
            let log_path = ctx.autostart_log();
            let command = format!("{} run", ctx.exe.display());
            let hint = format!("setsid {command} &");
            let pid =
                spawn_detached(&ctx.exe, &log_path).map_err(|d| failed(&command, d, &hint))?;
            Ok(format!(
                "{command} (pid {pid}, logs: {})",
                log_path.display()
            ))
        }
    }
}

/// Starts `exe run` in a session of its own, output appended to `log`, and checks that it is
/// still up a moment later.
fn spawn_detached(exe: &Path, log: &Path) -> Result<u32, String> {
    let open = || store::open_private_append(log).map_err(|e| e.to_string());
    let (out, err) = (open()?, open()?);
    let mut command = Command::new(exe);
    command
        .arg("run")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    std::thread::sleep(SPAWN_GRACE);
    match child.try_wait() {
        Ok(None) => Ok(child.id()),
        Ok(Some(status)) => Err(format!(
            "it exited at once ({status}); see {}",
            log.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn stop_service(
    ctx: &Context,
    kind: Kind,
    path: &Path,
    report: &mut UninstallReport,
) -> Result<(), ServiceError> {
    let failed = |command: String, detail: String| ServiceError::NotStopped {
        kind,
        path: path.to_path_buf(),
        command,
        detail,
    };
    match kind {
        Kind::Systemd => {
            let args = ["--user", "disable", "--now", SYSTEMD_UNIT];
            run_tool("systemctl", &args)
                .map_err(|d| failed(format!("systemctl {}", args.join(" ")), d))?;
            report.lines.push(format!(
                "stopped: systemctl --user disable --now {SYSTEMD_UNIT}"
            ));
        }
        Kind::Launchd => {
            if launchd_loaded(ctx) {
                let target = format!("gui/{}/{LAUNCHD_LABEL}", ctx.uid);
                run_tool("launchctl", &["bootout", &target])
                    .map_err(|d| failed(format!("launchctl bootout {target}"), d))?;
                report
                    .lines
                    .push(format!("stopped: launchctl bootout {target}"));
            }
        }
        Kind::Autostart => {}
    }
    Ok(())
}

fn launchd_loaded(ctx: &Context) -> bool {
    run_tool(
        "launchctl",
        &["print", &format!("gui/{}/{LAUNCHD_LABEL}", ctx.uid)],
    )
    .is_ok()
}

/// Runs a service manager's command; on failure, what it said (or how it ended).
fn run_tool(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said = said.trim();
    Err(if said.is_empty() {
        out.status.to_string()
    } else {
        format!("{said} ({})", out.status)
    })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            fs::metadata(dir.join(program)).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// Whether `keyrot-agent run` is running for this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    Running { pid: Option<u32> },
    NotRunning,
}

/// Asks the agent's lock: a shared lock is refused while an agent holds it. The probe creates
/// nothing and holds the lock only for an instant.
pub fn agent(ctx: &Context) -> Agent {
    let Ok(mut file) = File::open(ctx.agent_lock()) else {
        return Agent::NotRunning;
    };
    match file.try_lock_shared() {
        Ok(()) => Agent::NotRunning,
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Agent::Running {
                pid: text.trim().parse().ok(),
            }
        }
        Err(fs::TryLockError::Error(_)) => Agent::NotRunning,
    }
}

/// One kind's login item, as `status` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub path: PathBuf,
    pub installed: bool,
    /// The program it starts.
    pub exe: Option<PathBuf>,
    pub exe_exists: bool,
    /// Whether that is this program.
    pub is_this_exe: bool,
    pub warning: Option<String>,
}

/// What `service status` reports.
#[derive(Debug, Clone)]
pub struct Status {
    pub exe: PathBuf,
    pub detected: Kind,
    pub agent: Agent,
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// Looks at the login items of this platform's kinds (and of any other kind that is installed)
/// and at whether the agent runs.
pub fn status(ctx: &Context, detected: Kind) -> Status {
    let this = fs::canonicalize(&ctx.exe).unwrap_or_else(|_| ctx.exe.clone());
    let mut entries = Vec::new();
    for kind in Kind::ALL {
        let path = ctx.file(kind);
        let text = fs::read(&path).ok();
        if text.is_none() && !Kind::native().contains(&kind) && kind != detected {
            continue;
        }
        let installed = text.is_some();
        let exe = text
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| installed_exe(kind, t));
        let exe_exists = exe.as_ref().is_some_and(|e| e.is_file());
        let is_this_exe = exe
            .as_ref()
            .and_then(|e| fs::canonicalize(e).ok())
            .is_some_and(|e| e == this);
        let again = if kind == detected {
            "keyrot-agent service install".to_string()
        } else {
            format!("keyrot-agent service install --kind {kind}")
        };
        let warning = match (&exe, installed) {
            (_, false) => None,
            (None, true) => Some(format!(
                "warning: {} does not say which program to start; run `{again}` again",
                path.display()
            )),
            (Some(e), true) if !exe_exists => Some(format!(
                "warning: the {kind} service starts {}, which does not exist any more; run `{again}` again to point it at {}",
                e.display(),
                ctx.exe.display()
            )),
            (Some(e), true) if !is_this_exe => Some(format!(
                "warning: the {kind} service starts {}, which is not this keyrot-agent ({}); run `{again}` again if this one should run",
                e.display(),
                ctx.exe.display()
            )),
            _ => None,
        };
        entries.push(Entry {
            kind,
            path,
            installed,
            exe,
            exe_exists,
            is_this_exe,
            warning,
        });
    }
    let mut warnings: Vec<String> = entries.iter().filter_map(|e| e.warning.clone()).collect();
    let installed: Vec<&str> = entries
        .iter()
        .filter(|e| e.installed)
        .map(|e| e.kind.name())
        .collect();
    if installed.len() > 1 {
        warnings.push(format!(
            "warning: {} services are all installed; only one agent runs at a time, so uninstall all but one (`keyrot-agent service uninstall --kind KIND`)",
            installed.join(" and ")
        ));
    }
    Status {
        exe: ctx.exe.clone(),
        detected,
        agent: agent(ctx),
        entries,
        warnings,
    }
}

impl Status {
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, text: String| {
            out.push_str(&format!("{label:<11} {text}\n"));
        };
        line("program", self.exe.display().to_string());
        line(
            "agent",
            match self.agent {
                Agent::Running { pid: Some(pid) } => format!("running (pid {pid})"),
                Agent::Running { pid: None } => "running".to_string(),
                Agent::NotRunning => "not running".to_string(),
            },
        );
        for e in &self.entries {
            let text = match (&e.exe, e.installed) {
                (_, false) => format!("not installed ({})", e.path.display()),
                (Some(exe), true) => format!("installed: {} → {}", e.path.display(), exe.display()),
                (None, true) => format!("installed: {}", e.path.display()),
            };
            line(e.kind.name(), text);
        }
        if self.entries.iter().all(|e| !e.installed) {
            out.push_str(&format!(
                "no service is installed; `keyrot-agent service install` installs the {} service\n",
                self.detected
            ));
        }
        for w in &self.warnings {
            out.push_str(w);
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let (running, pid) = match self.agent {
            Agent::Running { pid } => (true, pid),
            Agent::NotRunning => (false, None),
        };
        let services: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kind": e.kind.name(),
                    "file": e.path.display().to_string(),
                    "installed": e.installed,
                    "exe": e.exe.as_ref().map(|p| p.display().to_string()),
                    "exe_exists": e.exe_exists,
                    "is_this_exe": e.is_this_exe,
                    "warning": e.warning,
                })
            })
            .collect();
        serde_json::json!({
            "version": 1,
            "exe": self.exe.display().to_string(),
            "default_kind": self.detected.name(),
            "agent": {"running": running, "pid": pid},
            "services": services,
            "warnings": self.warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "/Users/alice";

    fn round_trip(kind: Kind, exe: &str) {
        let text = render(kind, Path::new(exe), Path::new(HOME)).unwrap();
        assert_eq!(
            installed_exe(kind, &text),
            Some(PathBuf::from(exe)),
            "{kind} with {exe:?}:\n{text}"
        );
    }

    const ODD_PATHS: &[&str] = &[
        "/usr/bin/keyrot-agent",
        "/home/alice/.cargo/bin/keyrot-agent",
        "/home/a b/My Tools/keyrot-agent",
        "/opt/100%/keyrot-agent",
        "/opt/%h%%/keyrot-agent",
        "/opt/$HOME/$$/keyrot-agent",
        "/opt/a&b<c>d/keyrot-agent",
        "/opt/\"quoted\" 'single'/keyrot-agent",
        "/opt/back\\slash/x\\\\y/keyrot-agent",
        "/opt/semi;colon/`tick`/keyrot-agent",
        "/opt/~tilde/#hash/(paren)/*?|/keyrot-agent",
        "/opt/@EXE@/@LOG@/@EXEC_START@/keyrot-agent",
        "/opt/ünïcødé/keyrot-agent",
        "/opt/a=b/keyrot-agent",
    ];

    #[test]
    fn every_kind_round_trips_odd_paths() {
        for kind in Kind::ALL {
            for exe in ODD_PATHS {
                if kind == Kind::Systemd && exe.contains(['"', '\'', '\\']) {
                    // systemd refuses these in an executable's name, however escaped.
                    assert!(matches!(
                        render(kind, Path::new(exe), Path::new(HOME)),
                        Err(ServiceError::Unrepresentable { .. })
                    ));
                    continue;
                }
                round_trip(kind, exe);
            }
        }
    }

    #[test]
    fn systemd_unit_has_the_required_settings() {
        let text = render(
            Kind::Systemd,
            Path::new("/usr/bin/keyrot-agent"),
            Path::new(HOME),
        )
        .unwrap();
        for line in [
            "ExecStart=/usr/bin/keyrot-agent run",
            "Restart=on-failure",
            "RestartSec=30s",
            "UMask=0077",
            "NoNewPrivileges=yes",
            "LimitCORE=0",
            "WantedBy=default.target",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let prevent = format!(
            "RestartPreventExitStatus={} {} {}",
            crate::commands::exit::USAGE,
            crate::commands::exit::INVALID_FILE,
            crate::commands::exit::AGENT_RUNNING
        );
        assert!(text.lines().any(|l| l == prevent), "{prevent}:\n{text}");
        // Placeholders are `@NAME@`; `@system-service` is a syscall set.
        let placeholder = text
            .split('@')
            .skip(1)
            .any(|after| after.starts_with(|c: char| c.is_ascii_uppercase()));
        assert!(!placeholder, "a placeholder is left:\n{text}");
    }

    #[test]
    fn systemd_doubles_percent_and_quotes_whitespace() {
        let exec_start = |exe: &str| {
            let text = render(Kind::Systemd, Path::new(exe), Path::new(HOME)).unwrap();
            key_value(&text, "Service", "ExecStart").unwrap()
        };
        assert_eq!(exec_start("/opt/k%1"), "/opt/k%%1 run");
        assert_eq!(exec_start("/a b/%h/k"), "\"/a b/%%h/k\" run");
        // Variables are substituted in arguments only, never in the executable's path.
        assert_eq!(exec_start("/opt/$HOME/k"), "/opt/$HOME/k run");
    }

    #[test]
    fn launchd_plist_escapes_xml_and_logs_under_home() {
        let text = render(Kind::Launchd, Path::new("/a&b/<k>\"'"), Path::new(HOME)).unwrap();
        assert!(
            text.contains("<string>/a&amp;b/&lt;k&gt;&quot;&apos;</string>"),
            "{text}"
        );
        assert!(text.contains(&format!("<string>{LAUNCHD_LABEL}</string>")));
        assert!(text.contains("<string>/Users/alice/Library/Logs/keyrot-agent/agent.log</string>"));
        for key in [
            "RunAtLoad",
            "KeepAlive",
            "SuccessfulExit",
            "ProcessType",
            "StandardOutPath",
            "StandardErrorPath",
        ] {
            assert!(text.contains(&format!("<key>{key}</key>")), "{key}");
        }
    }

    #[test]
    fn desktop_exec_quotes_reserved_characters() {
        let exec = |exe: &str| {
            let text = render(Kind::Autostart, Path::new(exe), Path::new(HOME)).unwrap();
            key_value(&text, "Desktop Entry", "Exec").unwrap()
        };
        assert_eq!(exec("/usr/bin/keyrot-agent"), "/usr/bin/keyrot-agent run");
        assert_eq!(exec("/opt/100%/k"), "/opt/100%%/k run");
        // The spec's own examples: a `$` is `\\$`, a backslash four of them, inside quotes.
        assert_eq!(exec("/a b/$x"), "\"/a b/\\\\$x\" run");
        assert_eq!(exec("/a\\b"), "\"/a\\\\\\\\b\" run");
        assert_eq!(exec("/a\"b"), "\"/a\\\\\"b\" run");
    }

    #[test]
    fn paths_no_file_can_hold_are_refused() {
        for kind in Kind::ALL {
            assert!(matches!(
                render(kind, Path::new("/opt/new\nline/k"), Path::new(HOME)),
                Err(ServiceError::Unrepresentable { .. })
            ));
            use std::os::unix::ffi::OsStrExt;
            let not_utf8 = Path::new(std::ffi::OsStr::from_bytes(b"/opt/\xff/k"));
            assert!(matches!(
                render(kind, not_utf8, Path::new(HOME)),
                Err(ServiceError::Unrepresentable { .. })
            ));
        }
    }

    #[test]
    fn hand_written_files_are_read_too() {
        assert_eq!(
            installed_exe(
                Kind::Systemd,
                "[Unit]\nDescription=x\n[Service]\nExecStart=-/usr/local/bin/keyrot-agent run\n"
            ),
            Some(PathBuf::from("/usr/local/bin/keyrot-agent"))
        );
        assert_eq!(
            installed_exe(Kind::Systemd, "[Service]\nExecStart='/a b/k' run\n"),
            Some(PathBuf::from("/a b/k"))
        );
        assert_eq!(
            installed_exe(Kind::Systemd, "[Service]\nType=simple\n"),
            None
        );
        assert_eq!(
            installed_exe(
                Kind::Autostart,
                "[Desktop Entry]\nExec=\"/a\\sb/k\" run\n[Desktop Action x]\nExec=/other\n"
            ),
            Some(PathBuf::from("/a b/k"))
        );
        assert_eq!(
            installed_exe(
                Kind::Launchd,
                "<plist><dict><key>ProgramArguments</key><array><string>/a&#38;b/&#x6b;</string></array></dict></plist>"
            ),
            Some(PathBuf::from("/a&b/k"))
        );
    }

    #[test]
    fn the_packaged_unit_is_the_template_rendered_for_usr_bin() {
        let packaged = include_str!("../../packaging/deb/keyrot-agent.service");
        let rendered = render(
            Kind::Systemd,
            Path::new("/usr/bin/keyrot-agent"),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(
            packaged, rendered,
            "packaging/deb/keyrot-agent.service is out of date: regenerate it from packaging/systemd/keyrot-agent.service.in with ExecStart=/usr/bin/keyrot-agent run"
        );
    }

    #[test]
    fn locations_follow_home_and_xdg_config_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let ctx = Context::from_env(env(&[("HOME", "/h")]), "/bin/k".into(), 501).unwrap();
        assert_eq!(
            ctx.file(Kind::Systemd),
            PathBuf::from("/h/.config/systemd/user/keyrot-agent.service")
        );
        assert_eq!(
            ctx.file(Kind::Launchd),
            PathBuf::from("/h/Library/LaunchAgents/io.github.keyrot-agent.plist")
        );
        assert_eq!(
            ctx.file(Kind::Autostart),
            PathBuf::from("/h/.config/autostart/keyrot-agent.desktop")
        );
        let ctx = Context::from_env(
            env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]),
            "/bin/k".into(),
            501,
        )
        .unwrap();
        assert_eq!(
            ctx.file(Kind::Systemd),
            PathBuf::from("/x/systemd/user/keyrot-agent.service")
        );
        assert_eq!(
            ctx.file(Kind::Autostart),
            PathBuf::from("/x/autostart/keyrot-agent.desktop")
        );
        // A relative XDG_CONFIG_HOME is ignored, as the spec says.
        let ctx = Context::from_env(
            env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]),
            "/bin/k".into(),
            501,
        )
        .unwrap();
        assert_eq!(ctx.config_home, PathBuf::from("/h/.config"));
        assert!(matches!(
            Context::from_env(env(&[]), "/bin/k".into(), 501),
            Err(ServiceError::Paths(PathsError::NoHome))
        ));
    }
}
