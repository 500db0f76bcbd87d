//! The terminal: the spinner shown on stderr while IAM propagates a new key (indicatif), only
//! shown when asked, which commands do when stderr is a terminal; and the question for an MFA
//! code, asked at the controlling terminal (`/dev/tty`, as sudo and ssh ask) without echo.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long the MFA prompt waits for the user.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// A spinner with a message and the time elapsed; cleared when finished or dropped.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    /// Starts a spinner showing `message`.
    pub fn start(message: String) -> Spinner {
        let s =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        s.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        s.set_message(message);
        s.enable_steady_tick(Duration::from_millis(100));
        // Dropped unfinished (Ctrl-C): its line goes too.
        Spinner(s.with_finish(indicatif::ProgressFinish::AndClear))
    }

    pub fn set_message(&self, message: String) {
        self.0.set_message(message);
    }

    /// Removes the spinner's line.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}

/// The one spinner of a run in which several keys may wait for IAM at once: it shows the key
/// that waits (and its attempt), or how many wait, and goes when none does.
pub struct Progress {
    enabled: bool,
    state: std::sync::Mutex<(Option<Spinner>, std::collections::BTreeMap<String, u32>)>,
}

impl Progress {
    /// A spinner on stderr when `enabled`, else nothing at all.
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            state: std::sync::Mutex::default(),
        }
    }

    /// `key_id` is waiting for IAM, at its `attempt` (from 1).
    pub fn waiting(&self, key_id: &str, attempt: u32) {
        if !self.enabled {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1.insert(key_id.to_string(), attempt);
        let message = match state.1.len() {
            1 => format!("waiting for IAM to accept the new key {key_id} (attempt {attempt})"),
            n => format!("waiting for IAM to accept {n} new keys"),
        };
        match &state.0 {
            Some(s) => s.set_message(message),
            None => state.0 = Some(Spinner::start(message)),
        }
    }

    /// `key_id` waits no more; the spinner's line goes with the last one.
    pub fn done(&self, key_id: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1.remove(key_id);
        if state.1.is_empty()
            && let Some(s) = state.0.take()
        {
            s.finish();
        }
    }
}

/// Restores the terminal's settings when dropped.
struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

/// The settings a prompt turned echo off from, while it asks: what [`restore`] puts back when
/// the process stops in the middle (Ctrl-C).
static ASKING: std::sync::Mutex<Option<(i32, libc::termios)>> = std::sync::Mutex::new(None);

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: tcsetattr with the settings tcgetattr gave for the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
        *ASKING.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Puts the terminal's echo back if a prompt is asking right now (the process is stopping).
pub fn restore() {
    if let Some((fd, saved)) = ASKING.lock().unwrap_or_else(|p| p.into_inner()).take() {
        // SAFETY: tcsetattr with the settings tcgetattr gave for the same descriptor, which
        // the prompt still holds open.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
}

/// Asks the user at the controlling terminal, with `question`, and reads one line without
/// echo. `Ok(None)` when there is no terminal to ask at.
pub fn prompt(question: &str, timeout: Duration) -> Result<Option<Zeroizing<String>>, String> {
    use std::os::fd::AsRawFd;
    let Ok(mut tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Ok(None);
    };
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open terminal descriptor; saved is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Ok(None);
    }
    let mut quiet = saved;
    quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
    quiet.c_lflag |= libc::ECHONL | libc::ICANON;
    let guard = EchoOff { fd, saved };
    *ASKING.lock().unwrap_or_else(|p| p.into_inner()) = Some((fd, saved));
    // SAFETY: fd is an open terminal descriptor; quiet is a valid termios.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    tty.write_all(question.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(|e| format!("could not ask at the terminal: {e}"))?;
    let mut line = Zeroizing::new(Vec::new());
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop(guard);
            let _ = tty.write_all(b"\n");
            return Err(format!("no code was typed within {} s", timeout.as_secs()));
        }
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, ms) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("could not read the terminal: {e}"));
        }
        if ready == 0 {
            continue;
        }
        let mut byte = [0u8; 1];
        match tty.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' || byte[0] == b'\r' => break,
            Ok(_) if line.len() < 64 => line.push(byte[0]),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("could not read the terminal: {e}")),
        }
    }
    drop(guard);
    let text = String::from_utf8_lossy(&line).trim().to_string();
    Ok(Some(Zeroizing::new(text)))
}

/// Tells the user at the terminal (if any) that a wait is going on.
pub fn tell(text: &str) {
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = writeln!(tty, "{text}");
    }
}
