//! Where a key lives and who else may use it, as IAM can show it: the description keyrot-agent
//! gives each key it creates (IAM shows a user tag whose key is an access key id as that key's
//! description), and whether the old key was used lately by something other than keyrot-agent.

use time::OffsetDateTime;

use crate::core::keys::LastUsed;

/// How recent a use of the old key by another service must be to be told about.
pub const RECENT: time::Duration = time::Duration::days(1);

/// The user name of an IAM user's ARN (`arn:aws:iam::ACCOUNT:user/PATH/NAME`); `None` for any
/// other kind of ARN.
pub fn user_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let path = resource.strip_prefix("user/")?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// The description of a key created on `host` on `day`: `keyrot-agent on HOST, YYYY-MM-DD`.
/// Characters a tag value cannot hold become `-`; it is cut to IAM's 256 characters.
pub fn description(host: &str, day: OffsetDateTime) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let date = day
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default();
    let text = format!("keyrot-agent on {}, {date}", host.trim());
    text.chars().take(256).collect()
}

/// Whether `last` is a use by a service other than IAM and STS (which keyrot-agent itself calls
/// with the key) within [`RECENT`] of `now`: then another machine or program may still hold
/// the key. Says so in words.
pub fn used_elsewhere(last: &LastUsed, now: OffsetDateTime) -> Option<String> {
    let date = last.date?;
    let service = last.service.as_deref()?;
    if matches!(service, "iam" | "sts") || now - date > RECENT {
        return None;
    }
    let when = date
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    Some(format!(
        "the old key was last used at {when} by {service} in {}: another machine or program may still hold it",
        last.region.as_deref().unwrap_or("an unknown region")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn user_names_of_arns() {
        for (arn, name) in [
            ("arn:aws:iam::123456789012:user/alice", Some("alice")),
            ("arn:aws:iam::123456789012:user/dev/team/bob", Some("bob")),
            ("arn:aws-cn:iam::123456789012:user/c", Some("c")),
            ("arn:aws:iam::123456789012:root", None),
            ("arn:aws:sts::123456789012:assumed-role/r/s", None),
            ("nonsense", None),
        ] {
            assert_eq!(user_name(arn), name, "{arn}");
        }
    }

    #[test]
    fn descriptions_are_tag_values() {
        let day = datetime!(2026-12-02 10:00 UTC);
        assert_eq!(
            description("laptop.example", day),
            "keyrot-agent on laptop.example, 2026-12-02"
        );
        assert_eq!(
            description("bad<host>;", day),
            "keyrot-agent on bad-host--, 2026-12-02"
        );
        assert!(description(&"x".repeat(400), day).chars().count() <= 256);
    }

    #[test]
    fn only_recent_use_by_other_services_counts() {
        let now = datetime!(2026-12-02 10:00 UTC);
        let used = |service: &str, hours: i64| LastUsed {
            date: Some(now - time::Duration::hours(hours)),
            service: Some(service.to_string()),
            region: Some("eu-west-1".into()),
        };
        let told = used_elsewhere(&used("s3", 2), now).unwrap();
        assert!(told.contains("by s3 in eu-west-1"), "{told}");
        assert_eq!(used_elsewhere(&used("iam", 1), now), None);
        assert_eq!(used_elsewhere(&used("sts", 1), now), None);
        assert_eq!(used_elsewhere(&used("s3", 30), now), None);
        assert_eq!(used_elsewhere(&LastUsed::default(), now), None);
    }
}
