//! The user's `mfa_process`: a command whose standard output is an MFA code (the terminal
//! prompt, the other way to get one, is `edge::terminal`'s).
//!
//! The code is a secret for its 30 seconds: it is registered with the scrubber, kept in a
//! zeroizing buffer, never put in argv or in any environment, and never logged.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::edge::child::{self, Env};

/// How long `mfa_process` may take (a hardware key may wait for a touch).
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` through `sh -c`, in the user's environment plus `KEYROT_MFA_SERIAL` and
/// `KEYROT_PROFILE` (neither is a secret), with no input, and returns its standard output,
/// trimmed. Past `timeout` its whole process group is killed. An error says what the command
/// printed on standard error (scrubbed, cut short).
pub fn from_process(
    command: &str,
    serial: &str,
    profile: &str,
    timeout: Duration,
) -> Result<Zeroizing<String>, String> {
    let extra = [
        ("KEYROT_MFA_SERIAL".to_string(), serial.to_string()),
        ("KEYROT_PROFILE".to_string(), profile.to_string()),
    ];
    let done = child::run(command, b"", Env::Inherit(&extra), None, timeout)
        .map_err(|e| format!("could not start it: {e}"))?;
    if !done.success() {
        let said = crate::core::hooks::tail(&done.stderr, 3, 300);
        let ending = done.ending(timeout);
        return Err(if said.is_empty() {
            ending
        } else {
            format!("{ending}; it said: {said}")
        });
    }
    let text = Zeroizing::new(String::from_utf8_lossy(&done.stdout).into_owned());
    Ok(Zeroizing::new(text.trim().to_string()))
}
