//! A real Secret Service for one test: a private D-Bus session bus and gnome-keyring-daemon on
//! it, unlocked with a throwaway password and a fresh data directory, both started and killed by
//! PID. `SessionBus::start()` alone gives a bus with no Secret Service on it: the bus has no
//! service directories (`session-bus.conf`), so nothing is auto-started on it.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SessionBus {
    pub address: String,
    pid: i32,
    keyring: Option<Child>,
    _data: tempfile::TempDir,
}

impl SessionBus {
    /// A bus with nothing on it.
    pub fn start() -> SessionBus {
        let out = Command::new("dbus-daemon")
            .arg(concat!(
                "--config-file=",
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/session-bus.conf"
            ))
            .args([
                "--fork",
                "--nopidfile",
                "--print-address=1",
                "--print-pid=1",
            ])
            .stderr(Stdio::null())
            .output()
            .expect("dbus-daemon (package dbus) is needed");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        SessionBus {
            address: lines.next().expect("bus address").to_string(),
            pid: lines.next().expect("bus pid").trim().parse().unwrap(),
            keyring: None,
            _data: tempfile::tempdir().unwrap(),
        }
    }

    /// A bus with an unlocked gnome-keyring on it.
    pub fn with_keyring() -> SessionBus {
        let mut bus = SessionBus::start();
        bus.start_keyring(b"keyrot-test-password");
        bus
    }

    /// A bus with a gnome-keyring whose login collection stays locked: it was created under
    /// another password, as after a password change the keyring did not follow.
    pub fn with_locked_keyring() -> SessionBus {
        let mut bus = SessionBus::start();
        bus.start_keyring(b"first-password");
        let stored = Command::new("secret-tool")
            .args(["store", "--label", "x", "service", "test", "username", "x"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(b"x")?;
                c.wait()
            })
            .unwrap();
        assert!(stored.success());
        let mut first = bus.keyring.take().unwrap();
        let _ = first.kill();
        let _ = first.wait();
        let start = Instant::now();
        while bus.has_owner("org.freedesktop.secrets") {
            assert!(start.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(50));
        }
        bus.start_keyring(b"another-password");
        bus
    }

    fn start_keyring(&mut self, password: &[u8]) {
        let bus = self;
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_DATA_HOME", bus._data.path())
            .env("HOME", bus._data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring) is needed");
        child.stdin.take().unwrap().write_all(password).unwrap();
        bus.keyring = Some(child);
        let start = Instant::now();
        while !bus.has_owner("org.freedesktop.secrets") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "gnome-keyring never owned org.freedesktop.secrets"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone())]
    }

    pub fn has_owner(&self, name: &str) -> bool {
        let out = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply=literal",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("true")
    }

    /// `secret-tool store service S username U`: puts `secret` into the keyring as another
    /// program (or an earlier keyrot-agent) would have.
    pub fn store(&self, service: &str, user: &str, secret: &str) {
        let mut child = Command::new("secret-tool")
            .args([
                "store", "--label", user, "service", service, "username", user,
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .spawn()
            .expect("secret-tool (package libsecret-tools) is needed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// `secret-tool lookup service S username U`: what the keyring holds, if anything.
    pub fn lookup(&self, service: &str, user: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", service, "username", user])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("secret-tool (package libsecret-tools) is needed");
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        if let Some(mut k) = self.keyring.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
    }
}
