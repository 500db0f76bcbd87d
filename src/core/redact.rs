//! Keeps secrets out of everything the process prints.
//!
//! Secrets are held as `secrecy::SecretString` and never formatted on purpose. As a second line
//! of defence, every secret the process learns is registered here, and every byte it writes to
//! stdout, stderr or a log goes through [`scrub`] (the log through `edge::logging`'s writer),
//! which replaces any registered secret with `***`. That also covers what third-party crates log at `RUST_LOG=trace` (raw HTTP bodies, for
//! instance), which no type system can prevent.

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard};

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn secrets() -> MutexGuard<'static, Vec<String>> {
    SECRETS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers `secret` so that [`scrub`] hides it, also in its URL-encoded form.
pub fn register(secret: &str) {
    if secret.len() < 8 {
        // Too short to be a real secret and too likely to match ordinary text.
        return;
    }
    let mut list = secrets();
    let encoded = url_encode(secret);
    for s in [secret.to_string(), encoded] {
        if !list.contains(&s) {
            list.push(s);
        }
    }
    // Longest first, so that a secret containing another is replaced whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let list = secrets();
    if !list.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in list.iter() {
        out = out.replace(s.as_str(), "***");
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_registered_secrets_and_their_url_encoding() {
        register("abc/DEF+ghi123456");
        assert_eq!(scrub("x abc/DEF+ghi123456 y"), "x *** y");
        assert_eq!(scrub("body=abc%2FDEF%2Bghi123456"), "body=***");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn ignores_short_strings() {
        register("short");
        assert_eq!(scrub("short"), "short");
    }
}
