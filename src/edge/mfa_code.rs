//! The user's `mfa_process`: a command whose standard output is an MFA code (the terminal
//! prompt, the other way to get one, is `edge::terminal`'s).
//!
//! The code is a secret for its 30 seconds: it is registered with the scrubber, kept in a
//! zeroizing buffer, never put in argv or in any environment, and never logged.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How long `mfa_process` may take (a hardware key may wait for a touch).
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a process's output is kept.
const MAX_OUTPUT: usize = 4096;

/// Runs `command` through `sh -c`, in the user's environment plus `KEYROT_MFA_SERIAL` and
/// `KEYROT_PROFILE` (neither is a secret), with no standard input, and returns its standard
/// output, trimmed. Past `timeout` its whole process group is killed. An error says what the
/// command printed on standard error (scrubbed, cut short).
pub fn from_process(
    command: &str,
    serial: &str,
    profile: &str,
    timeout: Duration,
) -> Result<Zeroizing<String>, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("KEYROT_MFA_SERIAL", serial)
        .env("KEYROT_PROFILE", profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start it: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::new());
        let _ = (&mut stdout).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                // SAFETY: kill(2) with the child's own process group (it leads it).
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let said = String::from_utf8_lossy(&stderr);
    let scrubbed = crate::core::redact::scrub(said.trim()).into_owned();
    let said = crate::core::redact::printable(&scrubbed);
    let tail: String = {
        let chars: Vec<char> = said.chars().collect();
        chars[chars.len().saturating_sub(300)..].iter().collect()
    };
    let with_stderr = |what: String| {
        if tail.is_empty() {
            what
        } else {
            format!("{what}; it said: {tail}")
        }
    };
    match status {
        None => Err(with_stderr(format!(
            "it did not finish within {} s and was stopped",
            timeout.as_secs()
        ))),
        Some(s) if !s.success() => Err(with_stderr(format!("it failed ({s})"))),
        Some(_) => {
            let text = Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned());
            Ok(Zeroizing::new(text.trim().to_string()))
        }
    }
}
