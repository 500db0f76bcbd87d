//! `status --compliance`: each local key against the controls auditors check access keys with.
//! A pure function of what IAM said about the key's user (its keys, their status and creation
//! dates) and "now", which the caller passes in.
//!
//! The controls, as published (the numbers are those of the CIS AWS Foundations Benchmark
//! v1.5.0–v4.0.1; later versions renumber them):
//! - CIS 1.14 and AWS Security Hub IAM.3 (the AWS Config rule `access-keys-rotated`, with its
//!   default `maxAccessKeyAge` of 90): every **active** access key of the user was created no
//!   more than 90 days ago. An Inactive key does not count.
//! - CIS 1.13: the user has no more than one active access key.
//! - CIS 1.4: the root user has no access key; checked only when the key is the root user's.
//!
//! The thresholds are the standards', not keyrot-agent's `max_age`: a key can be within the
//! configured schedule and still fail an auditor's 90 days.

use std::fmt;

use time::OffsetDateTime;

use crate::core::keys::KeyInfo;
pub use crate::core::verdict::Verdict;

/// The age, in whole days, past which CIS 1.14 and Security Hub IAM.3 fail an active key.
pub const MAX_KEY_AGE_DAYS: i64 = 90;

/// One control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// CIS 1.14, Security Hub IAM.3.
    RotatedWithin90Days,
    /// CIS 1.13.
    OneActiveKey,
    /// CIS 1.4.
    NoRootKey,
}

impl Control {
    /// The controls' identifiers, as `--json` gives them.
    pub fn ids(self) -> &'static [&'static str] {
        match self {
            Control::RotatedWithin90Days => &["CIS-1.14", "SecurityHub-IAM.3"],
            Control::OneActiveKey => &["CIS-1.13"],
            Control::NoRootKey => &["CIS-1.4"],
        }
    }

    /// What it asks, in words.
    pub fn title(self) -> &'static str {
        match self {
            Control::RotatedWithin90Days => "access keys rotated every 90 days or less",
            Control::OneActiveKey => "one active access key per user",
            Control::NoRootKey => "no access key for the root user",
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Control::RotatedWithin90Days => "CIS 1.14 / Security Hub IAM.3",
            Control::OneActiveKey => "CIS 1.13",
            Control::NoRootKey => "CIS 1.4",
        })
    }
}

/// One control's result for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub control: Control,
    pub verdict: Verdict,
    pub detail: String,
}

/// What IAM said about a key's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeys {
    pub user_arn: String,
    pub keys: Vec<KeyInfo>,
}

fn days(d: time::Duration) -> i64 {
    d.whole_days()
}

/// Every control for the local key `key_id`, given what IAM said about its user (or why it
/// could not be asked).
pub fn evaluate(
    profile: &str,
    key_id: &str,
    user: &Result<UserKeys, String>,
    now: OffsetDateTime,
) -> Vec<Finding> {
    let controls = [Control::RotatedWithin90Days, Control::OneActiveKey];
    let user = match user {
        Ok(u) => u,
        Err(why) => {
            return controls
                .into_iter()
                .map(|control| Finding {
                    control,
                    verdict: Verdict::Unknown,
                    detail: format!("not checked: {why}"),
                })
                .collect();
        }
    };
    let mut out = Vec::new();
    let active: Vec<&KeyInfo> = user.keys.iter().filter(|k| k.active).collect();
    let max_days = MAX_KEY_AGE_DAYS;

    // CIS 1.14 / IAM.3: every active key of the user, this one first. Ages are whole days (as
    // the AWS Config rule counts them): 90 days and some hours is still within.
    let this = user.keys.iter().find(|k| k.id == key_id);
    out.push(match this {
        None => Finding {
            control: Control::RotatedWithin90Days,
            verdict: Verdict::Unknown,
            detail: format!("IAM does not list {key_id} among its user's keys"),
        },
        Some(k) => {
            let mut old: Vec<(&str, i64)> = Vec::new();
            let mut undated: Vec<&str> = Vec::new();
            for a in &active {
                match a.created.map(|c| days(now - c)) {
                    Some(d) if d > max_days => old.push((&a.id, d)),
                    Some(_) => {}
                    None => undated.push(&a.id),
                }
            }
            let age = k
                .created
                .map(|c| format!("{} days old", days(now - c)))
                .unwrap_or_else(|| "of unknown age".into());
            if !old.is_empty() {
                let ours = old.iter().any(|(id, _)| *id == key_id);
                let others = old.iter().any(|(id, _)| *id != key_id);
                let fix = match (ours, others) {
                    (true, false) => format!("keyrot-agent now --profile {profile}"),
                    (true, true) => format!(
                        "keyrot-agent now --profile {profile} for this key; rotate or deactivate the other where it is used"
                    ),
                    _ => "rotate or deactivate it where it is used (keyrot-agent rotates only the keys your profiles hold)".into(),
                };
                Finding {
                    control: Control::RotatedWithin90Days,
                    verdict: Verdict::Fail,
                    detail: format!(
                        "{} (over {max_days} days); fix: {fix}",
                        old.iter()
                            .map(|(id, d)| format!("{id} is {d} days old"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                }
            } else if !undated.is_empty() {
                Finding {
                    control: Control::RotatedWithin90Days,
                    verdict: Verdict::Unknown,
                    detail: format!("IAM gave no creation date for {}", undated.join(", ")),
                }
            } else if !k.active {
                Finding {
                    control: Control::RotatedWithin90Days,
                    verdict: Verdict::Pass,
                    detail: format!("{key_id} is Inactive, so it does not count"),
                }
            } else {
                Finding {
                    control: Control::RotatedWithin90Days,
                    verdict: Verdict::Pass,
                    detail: format!(
                        "{key_id} is {age}{}",
                        if active.len() > 1 {
                            "; no other active key of the user is older than 90 days either"
                        } else {
                            ""
                        }
                    ),
                }
            }
        }
    });

    // CIS 1.13.
    out.push(if active.len() <= 1 {
        Finding {
            control: Control::OneActiveKey,
            verdict: Verdict::Pass,
            detail: format!("{} active key(s)", active.len()),
        }
    } else {
        let ids: Vec<&str> = active.iter().map(|k| k.id.as_str()).collect();
        let others: Vec<&str> = ids.iter().copied().filter(|i| *i != key_id).collect();
        // The root user has no user name: the call then names none.
        let user_name = crate::core::whereabouts::user_name(&user.user_arn)
            .map(|n| format!(" --user-name {n}"))
            .unwrap_or_default();
        Finding {
            control: Control::OneActiveKey,
            verdict: Verdict::Fail,
            detail: format!(
                "{} active keys: {}; fix: once {} is used nowhere, aws iam update-access-key --profile {profile}{user_name} --access-key-id {} --status Inactive",
                ids.len(),
                ids.join(", "),
                others.join(" and "),
                others.first().copied().unwrap_or("ID"),
            ),
        }
    });

    // CIS 1.4, for the root user's keys only.
    if user.user_arn.ends_with(":root") {
        out.push(Finding {
            control: Control::NoRootKey,
            verdict: Verdict::Fail,
            detail: "this is an access key of the account's root user; fix: make an IAM user for programmatic access and delete the root user's keys".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + day * 86_400).unwrap()
    }

    fn key(id: &str, active: bool, created_day: Option<i64>) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            active,
            created: created_day.map(at),
        }
    }

    fn verdicts(user_arn: &str, keys: Vec<KeyInfo>, now_day: i64) -> Vec<(Control, Verdict)> {
        let user = Ok(UserKeys {
            user_arn: user_arn.into(),
            keys,
        });
        evaluate("work", "AKIATHIS", &user, at(now_day))
            .into_iter()
            .map(|f| (f.control, f.verdict))
            .collect()
    }

    use Control::*;
    use Verdict::*;

    #[test]
    fn each_control_by_table() {
        let alice = "arn:aws:iam::1:user/alice";
        // (keys, now, expected)
        type Case = (Vec<KeyInfo>, i64, Vec<(Control, Verdict)>);
        let cases: Vec<Case> = vec![
            // One young key: compliant.
            (
                vec![key("AKIATHIS", true, Some(0))],
                10,
                vec![(RotatedWithin90Days, Pass), (OneActiveKey, Pass)],
            ),
            // Exactly 90 days is still within; a day more is not.
            (
                vec![key("AKIATHIS", true, Some(0))],
                90,
                vec![(RotatedWithin90Days, Pass), (OneActiveKey, Pass)],
            ),
            (
                vec![key("AKIATHIS", true, Some(0))],
                91,
                vec![(RotatedWithin90Days, Fail), (OneActiveKey, Pass)],
            ),
            // An old Inactive key left over does not count for either control.
            (
                vec![
                    key("AKIATHIS", true, Some(80)),
                    key("AKIAOLD", false, Some(0)),
                ],
                100,
                vec![(RotatedWithin90Days, Pass), (OneActiveKey, Pass)],
            ),
            // Two active keys: CIS 1.13 fails; an old second active key fails IAM.3 too.
            (
                vec![
                    key("AKIATHIS", true, Some(80)),
                    key("AKIAOTHER", true, Some(0)),
                ],
                100,
                vec![(RotatedWithin90Days, Fail), (OneActiveKey, Fail)],
            ),
            (
                vec![
                    key("AKIATHIS", true, Some(80)),
                    key("AKIAOTHER", true, Some(70)),
                ],
                100,
                vec![(RotatedWithin90Days, Pass), (OneActiveKey, Fail)],
            ),
            // No creation date: not a guess.
            (
                vec![key("AKIATHIS", true, None)],
                100,
                vec![(RotatedWithin90Days, Unknown), (OneActiveKey, Pass)],
            ),
            // IAM does not list the key.
            (
                vec![key("AKIAELSE", true, Some(99))],
                100,
                vec![(RotatedWithin90Days, Unknown), (OneActiveKey, Pass)],
            ),
        ];
        for (keys, now, want) in cases {
            assert_eq!(
                verdicts(alice, keys.clone(), now),
                want,
                "{keys:?} at day {now}"
            );
        }
        assert_eq!(
            verdicts(
                "arn:aws:iam::1:root",
                vec![key("AKIATHIS", true, Some(0))],
                1
            ),
            vec![
                (RotatedWithin90Days, Pass),
                (OneActiveKey, Pass),
                (NoRootKey, Fail)
            ]
        );
    }

    #[test]
    fn ninety_days_and_some_hours_is_within_and_the_words_agree() {
        let user = Ok(UserKeys {
            user_arn: "arn:aws:iam::1:user/a".into(),
            keys: vec![key("AKIATHIS", true, Some(0))],
        });
        let late = at(90) + time::Duration::hours(23);
        let found = evaluate("work", "AKIATHIS", &user, late);
        assert_eq!(found[0].verdict, Pass, "{}", found[0].detail);
        assert!(
            found[0].detail.contains("90 days old"),
            "{}",
            found[0].detail
        );
        let found = evaluate("work", "AKIATHIS", &user, at(91));
        assert_eq!(found[0].verdict, Fail);
        assert!(
            found[0]
                .detail
                .starts_with("AKIATHIS is 91 days old (over 90 days)")
        );
    }

    #[test]
    fn the_root_user_s_fix_names_no_user() {
        let user = Ok(UserKeys {
            user_arn: "arn:aws:iam::123456789012:root".into(),
            keys: vec![
                key("AKIATHIS", true, Some(0)),
                key("AKIAOTHER", true, Some(0)),
            ],
        });
        let found = evaluate("admin", "AKIATHIS", &user, at(1));
        assert!(
            found[1]
                .detail
                .ends_with("aws iam update-access-key --profile admin --access-key-id AKIAOTHER --status Inactive"),
            "{}",
            found[1].detail
        );
        assert_eq!(found[2].control, NoRootKey);
    }

    #[test]
    fn an_unanswered_question_is_unknown_never_pass() {
        let found = evaluate(
            "work",
            "AKIATHIS",
            &Err("IAM said access denied".into()),
            at(0),
        );
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.verdict == Unknown));
        assert!(found[0].detail.contains("access denied"));
    }

    #[test]
    fn details_name_the_keys_and_the_fix() {
        let user = Ok(UserKeys {
            user_arn: "arn:aws:iam::1:user/a".into(),
            keys: vec![
                key("AKIATHIS", true, Some(0)),
                key("AKIAOTHER", true, Some(95)),
            ],
        });
        let found = evaluate("work", "AKIATHIS", &user, at(100));
        assert!(
            found[0].detail.contains("AKIATHIS is 100 days old"),
            "{}",
            found[0].detail
        );
        assert!(found[0].detail.contains("keyrot-agent now --profile work"));
        assert!(
            found[1].detail.contains("AKIATHIS, AKIAOTHER"),
            "{}",
            found[1].detail
        );
        assert!(
            found[1].detail.contains(
                "--profile work --user-name a --access-key-id AKIAOTHER --status Inactive"
            ),
            "{}",
            found[1].detail
        );
        assert_eq!(
            Control::RotatedWithin90Days.to_string(),
            "CIS 1.14 / Security Hub IAM.3"
        );
    }
}
