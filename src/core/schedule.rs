//! The schedule policy: for each managed profile, whether its key is fine, due soon, or due, and
//! the next instant anything changes.
//!
//! A pure function of the keys' creation dates, the configuration and "now", which the caller
//! passes in: nothing here reads the clock. Each key is due a little *before* `max_age`, by a
//! stable per-key jitter, so that a company whose developers all installed on the same day does
//! not rotate everyone in the same minute, and no key ever passes its maximum age.

use std::time::Duration;

use time::OffsetDateTime;

use crate::core::config::Config;

/// One key the agent knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAge {
    pub profile: String,
    pub key_id: String,
    pub created: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Younger than the warn window.
    Ok,
    /// Within `warn_before` of being due.
    Warn,
    /// Due: rotate now (or notify, without `auto_rotate`).
    Due,
}

/// What the policy says about one profile's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub profile: String,
    pub key_id: String,
    pub status: Status,
    pub warn_at: OffsetDateTime,
    pub due_at: OffsetDateTime,
    pub auto_rotate: bool,
}

/// The policy's answer: a decision per managed profile, and when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    /// The earliest future instant at which some decision changes; `None` if nothing will.
    pub next_change: Option<OffsetDateTime>,
}

/// The stable jitter of a key: a fraction of `window` derived from the key id (FNV-1a with a
/// final mix), the same
/// on every run and every machine.
pub fn jitter(key_id: &str, window: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's high bits barely move for ids that differ in the last characters: mix them in.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    let fraction = (h >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64(window.as_secs_f64() * fraction)
}

/// The jitter window for a maximum age: a twentieth of it, at most 12 hours.
pub fn jitter_window(max_age: Duration) -> Duration {
    (max_age / 20).min(Duration::from_secs(12 * 3600))
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// Evaluates the policy at `now`.
pub fn evaluate(keys: &[KeyAge], config: &Config, now: OffsetDateTime) -> Plan {
    let mut decisions = Vec::new();
    let mut next_change: Option<OffsetDateTime> = None;
    for k in keys.iter().filter(|k| config.manages(&k.profile)) {
        let s = config.for_profile(&k.profile);
        let early = jitter(&k.key_id, jitter_window(s.max_age));
        let due_at = k.created + to_time(s.max_age) - to_time(early);
        let warn_at = due_at - to_time(s.warn_before);
        let status = if now >= due_at {
            Status::Due
        } else if now >= warn_at {
            Status::Warn
        } else {
            Status::Ok
        };
        for t in [warn_at, due_at] {
            if t > now && next_change.is_none_or(|n| t < n) {
                next_change = Some(t);
            }
        }
        decisions.push(Decision {
            profile: k.profile.clone(),
            key_id: k.key_id.clone(),
            status,
            warn_at,
            due_at,
            auto_rotate: s.auto_rotate,
        });
    }
    Plan {
        decisions,
        next_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::parse;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn key(profile: &str, id: &str, created: OffsetDateTime) -> KeyAge {
        KeyAge {
            profile: profile.into(),
            key_id: id.into(),
            created,
        }
    }

    fn days(n: i64) -> time::Duration {
        time::Duration::days(n)
    }

    /// One line per case: config, key age at "now", expected status.
    fn check(config: &str, age: time::Duration, expected: Status) {
        let c = parse(config).unwrap();
        let plan = evaluate(&[key("default", "AKIAEXAMPLEKEY000001", T0)], &c, T0 + age);
        assert_eq!(
            plan.decisions[0].status, expected,
            "config {config:?}, age {age}"
        );
    }

    #[test]
    fn statuses_follow_age() {
        check("", days(1), Status::Ok);
        check("", days(80), Status::Ok);
        check("", days(84), Status::Warn);
        check("", days(90), Status::Due);
        check("", days(400), Status::Due);
        check(
            "max_age = \"30d\"\nwarn_before = \"2d\"",
            days(27),
            Status::Ok,
        );
        check(
            "max_age = \"30d\"\nwarn_before = \"2d\"",
            days(29),
            Status::Warn,
        );
        check(
            "max_age = \"10s\"\nwarn_before = \"5s\"",
            time::Duration::seconds(6),
            Status::Warn,
        );
    }

    #[test]
    fn a_key_is_never_due_after_its_maximum_age() {
        let c = parse("").unwrap();
        for i in 0..200 {
            let id = format!("AKIA{i:016}");
            let d = &evaluate(&[key("p", &id, T0)], &c, T0).decisions[0];
            assert!(d.due_at <= T0 + days(90));
            assert!(d.due_at >= T0 + days(90) - time::Duration::hours(12));
        }
    }

    #[test]
    fn jitter_is_stable_and_spread() {
        let w = Duration::from_secs(12 * 3600);
        assert_eq!(jitter("AKIAONE", w), jitter("AKIAONE", w));
        let spread: std::collections::BTreeSet<u64> = (0..100)
            .map(|i| jitter(&format!("AKIA{i}"), w).as_secs() / 3600)
            .collect();
        assert!(spread.len() >= 10, "{spread:?}");
        assert_eq!(
            jitter_window(Duration::from_secs(20)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn next_change_is_the_earliest_future_threshold() {
        let c = parse("max_age = \"10d\"\nwarn_before = \"2d\"").unwrap();
        let keys = [key("a", "AKIAA", T0), key("b", "AKIAB", T0 + days(3))];
        let plan = evaluate(&keys, &c, T0 + days(1));
        let a = &plan.decisions[0];
        assert_eq!(plan.next_change, Some(a.warn_at));
        // Once everything is due, nothing changes any more.
        let plan = evaluate(&keys, &c, T0 + days(30));
        assert!(plan.decisions.iter().all(|d| d.status == Status::Due));
        assert_eq!(plan.next_change, None);
    }

    #[test]
    fn excluded_profiles_and_per_profile_settings() {
        let c = parse("[profiles]\nexclude = [\"legacy*\"]\n[profile.prod]\nmax_age = \"30d\"\nwarn_before = \"1d\"\nauto_rotate = false\n").unwrap();
        let keys = [
            key("legacy-x", "AKIA1", T0),
            key("prod", "AKIA2", T0),
            key("dev", "AKIA3", T0),
        ];
        let plan = evaluate(&keys, &c, T0 + days(45));
        let names: Vec<&str> = plan.decisions.iter().map(|d| d.profile.as_str()).collect();
        assert_eq!(names, ["prod", "dev"]);
        assert_eq!(plan.decisions[0].status, Status::Due);
        assert!(!plan.decisions[0].auto_rotate);
        assert_eq!(plan.decisions[1].status, Status::Ok);
    }
}
