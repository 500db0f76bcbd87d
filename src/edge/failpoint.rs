//! Fault injection for the crash tests, compiled in only with the `failpoints` cargo feature.
//!
//! `KEYROT_FAILPOINTS` holds a comma-separated list of `name` (abort the process right there, as
//! `kill -9` or a power loss would) or `name=sleep(MS)` (pause, so a test can act in that
//! window). Without the feature, [`hit`] is an empty inline function and release builds carry
//! no trace of it. The `fail` crate was not used because its actions cannot abort the process
//! (its `panic` unwinds), and a crash test needs a real abort.

/// Every failpoint, in the order a rotation reaches them.
pub const ALL: &[&str] = &[
    "after-intent",
    "after-create",
    "after-record",
    "after-verify",
    "before-rename",
    "after-rename",
    "after-written",
    "after-verify-on-disk",
    "deactivated-unrecorded",
    "after-deactivate",
    "before-delete",
    "deleted-unrecorded",
    "after-delete",
];

/// Failpoints on the rollback path, reached only when a rotation is being undone.
pub const ROLLBACK: &[&str] = &["rollback-restored"];

/// Failpoints of keyring mode: the new key stored in its pending entry but not yet journaled;
/// a profile's entry switched to the new key.
pub const KEYRING: &[&str] = &["keyring-pending-stored", "keyring-profile-switched"];

/// Failpoints of `undo` (a grace period's way back).
pub const UNDO: &[&str] = &["undo-reactivated", "undo-written"];

/// Failpoints of MFA: a session was had (its code is spent) and nothing else was done yet.
pub const MFA: &[&str] = &["after-mfa-session"];

/// Failpoints of hooks: a `post_rotate` hook finished and was recorded.
pub const HOOKS: &[&str] = &["after-hook"];

#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    debug_assert!(
        ALL.contains(&name)
            || ROLLBACK.contains(&name)
            || UNDO.contains(&name)
            || KEYRING.contains(&name)
            || MFA.contains(&name)
            || HOOKS.contains(&name),
        "unknown failpoint {name}"
    );
    let Ok(spec) = std::env::var("KEYROT_FAILPOINTS") else {
        return;
    };
    for item in spec.split(',') {
        let (point, action) = item.split_once('=').unwrap_or((item, "abort"));
        if point.trim() != name {
            continue;
        }
        let action = action.trim();
        if let Some(ms) = action
            .strip_prefix("sleep(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let ms: u64 = ms.parse().unwrap_or(0);
            eprintln!("keyrot-agent: failpoint {name}: sleeping {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(ms));
        } else {
            eprintln!("keyrot-agent: failpoint {name}: aborting");
            std::process::abort();
        }
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
