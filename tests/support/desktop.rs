//! A real desktop session for one test: Xvfb, a private D-Bus session bus (`secrets::SessionBus`),
//! and the dunst
//! notification server on it, all from Debian's packages (the README's test command installs
//! them). Everything is started by PID and killed by PID when the guard drops; nothing touches a
//! bus or display the machine already has.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::secrets::SessionBus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// dunst's settings for the tests: notifications stay until closed, so a screenshot shows them.
const DUNSTRC: &str = include_str!("dunstrc");

pub struct Desktop {
    pub display: String,
    dunst: Child,
    bus: SessionBus,
    xvfb: Child,
    dir: tempfile::TempDir,
}

/// A notification as dunst recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub appname: String,
    pub summary: String,
    pub body: String,
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

impl Desktop {
    pub fn start() -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        // A display number no other test (or machine session) uses.
        let base = 90 + (std::process::id() % 400) * 10;
        let (display, xvfb) = loop {
            let n = base + NEXT_DISPLAY.fetch_add(1, Ordering::SeqCst);
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let child = Command::new("Xvfb")
                .args([
                    &format!(":{n}"),
                    "-screen",
                    "0",
                    "1024x768x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb (package xvfb) is needed: run the README's test command");
            break (format!(":{n}"), child);
        };
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{}", &display[1..]));
        wait_for(|| socket.exists(), "Xvfb to listen");
        let bus = SessionBus::start();
        let rc = dir.path().join("dunstrc");
        std::fs::write(&rc, DUNSTRC).unwrap();
        let dunst = Command::new("dunst")
            .arg("-config")
            .arg(&rc)
            .env("DISPLAY", &display)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dunst (package dunst) is needed");
        let desktop = Desktop {
            display,
            dunst,
            bus,
            xvfb,
            dir,
        };
        wait_for(
            || desktop.has_owner("org.freedesktop.Notifications"),
            "dunst to own org.freedesktop.Notifications",
        );
        desktop
    }

    /// The environment a program needs to reach this desktop.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DISPLAY".into(), self.display.clone()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.address.clone()),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.envs(self.env());
        c
    }

    pub fn has_owner(&self, name: &str) -> bool {
        self.bus.has_owner(name)
    }

    /// Every notification dunst has received, oldest first (`dunstctl history` after moving the
    /// displayed ones to the history).
    /// How many notifications shown so far have a summary that starts with `prefix`.
    pub fn count_starting(&self, prefix: &str) -> usize {
        self.notifications()
            .iter()
            .filter(|s| s.summary.starts_with(prefix))
            .count()
    }

    pub fn notifications(&self) -> Vec<Shown> {
        let mut all = self.history();
        all.extend(self.displayed());
        all
    }

    fn history(&self) -> Vec<Shown> {
        let out = self.command("dunstctl").arg("history").output().unwrap();
        assert!(out.status.success(), "dunstctl history: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let field =
            |n: &serde_json::Value, k: &str| n[k]["data"].as_str().unwrap_or("").to_string();
        let mut shown: Vec<(i64, Shown)> = v["data"][0]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                (
                    n["id"]["data"].as_i64().unwrap_or(0),
                    Shown {
                        appname: field(n, "appname"),
                        summary: field(n, "summary"),
                        body: field(n, "body"),
                    },
                )
            })
            .collect();
        shown.sort_by_key(|(id, _)| *id);
        shown.into_iter().map(|(_, s)| s).collect()
    }

    /// Moves what is on screen into the history (dunst lists only closed notifications there).
    fn displayed(&self) -> Vec<Shown> {
        let before = self.history().len();
        let _ = self.command("dunstctl").arg("close-all").status();
        wait_for(
            || self.count("displayed") == 0 && self.count("waiting") == 0,
            "dunst to close",
        );
        let after = self.history();
        after.into_iter().skip(before).collect()
    }

    /// How many notifications arrived, without closing any.
    pub fn total(&self) -> usize {
        self.count("displayed") + self.count("waiting") + self.count("history")
    }

    fn count(&self, what: &str) -> usize {
        let out = self
            .command("dunstctl")
            .args(["count", what])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Waits until a notification whose summary contains `text` has arrived.
    pub fn wait_for_summary(&self, text: &str, timeout: Duration) -> Shown {
        let start = Instant::now();
        loop {
            let all = self.peek();
            if let Some(s) = all.iter().find(|s| s.summary.contains(text)) {
                return s.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "no notification with '{text}' within {timeout:?}; dunst has: {all:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What dunst has received so far, without closing anything: the history plus the count on
    /// screen is not enough to read bodies, so this reads the history and, when something is on
    /// screen, closes it first.
    pub fn peek(&self) -> Vec<Shown> {
        if self.count("displayed") + self.count("waiting") > 0 {
            let _ = self.displayed();
        }
        self.history()
    }

    /// A PNG of the whole screen (ImageMagick's `import`).
    pub fn screenshot(&self, to: &Path) -> bool {
        self.command("import")
            .args(["-window", "root"])
            .arg(to)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.dunst.kill();
        let _ = self.dunst.wait();
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
