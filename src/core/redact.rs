//! Keeps secrets out of everything the process prints.
//!
//! Secrets are held as `secrecy::SecretString` and never formatted on purpose. As a second line
//! of defence, every secret the process learns is registered here, and every byte it writes to
//! stdout, stderr or a log goes through [`scrub`] (the log through `edge::logging`'s writer),
//! which replaces any registered secret with `***`. That also covers what third-party crates log at `RUST_LOG=trace` (raw HTTP bodies, for
//! instance), which no type system can prevent.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use aho_corasick::{AhoCorasick, MatchKind};

/// Every registered secret, in every form it may be printed in, and a matcher over all of them
/// (rebuilt when one is added), so that scrubbing is linear in the text whatever the number of
/// secrets.
#[derive(Default)]
struct Registry {
    /// The secrets registered, as given: one registered again (every agent round classifies
    /// the same file) costs one lookup, not three encodings.
    registered: HashSet<String>,
    known: HashSet<String>,
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static SECRETS: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    SECRETS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers `secret` so that [`scrub`] hides it, also URL-encoded (upper- and lower-case hex).
pub fn register(secret: &str) {
    if secret.len() < 8 {
        // Too short to be a real secret and too likely to match ordinary text.
        return;
    }
    add(secret);
}

/// Remembers a one-time code (an MFA code: six digits, too short for [`register`]) so that
/// [`scrub`] hides it too. Only this process's own codes are registered, for as long as it runs;
/// the same digits elsewhere in its output (a timestamp, say) are hidden as well, which costs
/// nothing but a `***`.
pub fn register_code(code: &str) {
    if code.len() >= 6 {
        add(code);
    }
}

fn add(secret: &str) {
    let mut guard = registry();
    let r = guard.get_or_insert_with(Registry::default);
    if r.registered.contains(secret) {
        return;
    }
    r.registered.insert(secret.to_string());
    for s in [
        secret.to_string(),
        url_encode(secret, false),
        url_encode(secret, true),
    ] {
        if r.known.insert(s.clone()) {
            r.patterns.push(s);
            r.matcher = None;
        }
    }
}

fn url_encode(s: &str, lower: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let digits: &[u8; 16] = if lower {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            out.push('%');
            out.push(digits[usize::from(b >> 4)] as char);
            out.push(digits[usize::from(b & 0xf)] as char);
        }
    }
    out
}

/// `text` with every registered secret replaced by `***`. A secret that contains another is
/// replaced whole.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut guard = registry();
    let Some(r) = guard.as_mut() else {
        return Cow::Borrowed(text);
    };
    if r.matcher.is_none() {
        r.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&r.patterns)
            .ok();
    }
    let Some(matcher) = &r.matcher else {
        // A matcher that cannot be built (it cannot happen with these patterns): replace one by
        // one, longest first.
        let mut patterns: Vec<&String> = r.patterns.iter().collect();
        patterns.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in patterns {
            out = out.replace(s.as_str(), "***");
        }
        return Cow::Owned(out);
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, out| {
        out.push_str("***");
        true
    });
    Cow::Owned(out)
}

/// `text` made safe to show a person: control characters (escape sequences, bells, carriage
/// returns, C1 codes) from outside, such as an AWS error message or a profile name, become
/// `�`, so that nothing printed can move the cursor, rewrite the screen or plant a link.
/// Newlines and tabs stay.
pub fn printable(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if bad(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

/// What a person is shown: [`scrub`]bed and [`printable`].
pub fn for_terminal(text: &str) -> String {
    printable(&scrub(text)).into_owned()
}

/// Text for a desktop notification body, which servers read as markup: [`for_terminal`], and
/// `&`, `<`, `>` escaped so that nothing becomes a link or a tag.
pub fn for_notification(text: &str) -> String {
    for_terminal(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_replaces_control_characters_only() {
        let cases = [
            ("plain text\nnext\tcol", "plain text\nnext\tcol"),
            ("\u{1b}[31mred", "\u{fffd}[31mred"),
            ("bell\u{7}", "bell\u{fffd}"),
            ("cr\rover", "cr\u{fffd}over"),
            ("c1\u{9b}2J", "c1\u{fffd}2J"),
            ("ünïcödé ok", "ünïcödé ok"),
        ];
        for (input, want) in cases {
            assert_eq!(printable(input), want, "{input:?}");
        }
        assert!(matches!(printable("fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn notification_text_has_no_markup() {
        assert_eq!(
            for_notification("<a href=\"x\">click</a> & \u{1b}"),
            "&lt;a href=\"x\"&gt;click&lt;/a&gt; &amp; \u{fffd}"
        );
    }

    #[test]
    fn scrubs_registered_secrets_and_their_url_encoding() {
        register("abc/DEF+ghi123456");
        assert_eq!(scrub("x abc/DEF+ghi123456 y"), "x *** y");
        assert_eq!(scrub("body=abc%2FDEF%2Bghi123456"), "body=***");
        assert_eq!(scrub("body=abc%2fDEF%2bghi123456"), "body=***");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn scrubs_a_registered_one_time_code() {
        register_code("48291");
        register_code("730518");
        assert_eq!(scrub("code 730518 and 48291"), "code *** and 48291");
    }

    #[test]
    fn ignores_short_strings() {
        register("short");
        assert_eq!(scrub("short"), "short");
    }
}
