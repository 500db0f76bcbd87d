//! MFA for key management: which device a profile uses, how its code is had, what IAM's answers
//! mean, and the rules about one-time codes. Plain functions over data.
//!
//! Accounts that attach AWS's documented self-service policy ("AWS: Allows MFA-authenticated IAM
//! users to manage their own credentials") deny every IAM action but a few unless
//! `aws:MultiFactorAuthPresent` is true. A rotation then calls STS GetSessionToken once, with the
//! device's serial and a code, and signs its IAM calls with the session.

use time::OffsetDateTime;

/// How long the session of one rotation lasts: the shortest AWS allows, which covers a rotation
/// (whose steps each give up well inside it).
pub const SESSION_SECONDS: i32 = 900;

/// A session is used only while at least this much of it is left; a shorter one could expire
/// between two calls of a rotation.
pub const SESSION_MARGIN: time::Duration = time::Duration::minutes(3);

/// The length of a TOTP time step: a code belongs to one 30-second window.
pub const TOTP_STEP_SECONDS: i64 = 30;

/// Where a profile's MFA device was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// `[profile.P]` of keyrot-agent's config file.
    AgentConfig,
    /// The profile's section of the AWS config (or credentials) file, as the AWS CLI reads it.
    AwsConfig,
    /// The rotation in flight, as its journal record says.
    Journal,
}

/// The MFA device a profile's key management needs, and how a code for it can be had without
/// asking anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device's serial number: a virtual device's ARN (`arn:aws:iam::ACCOUNT:mfa/NAME`) or a
    /// hardware token's serial.
    pub serial: String,
    pub from: From,
    /// A command whose standard output is the current code (`mfa_process`).
    pub process: Option<String>,
}

/// The device of a profile: keyrot-agent's `[profile.P]` settings win over the AWS config's
/// `mfa_serial`/`mfa_process`, each value on its own.
pub fn device(
    agent_serial: Option<&str>,
    agent_process: Option<&str>,
    aws_serial: Option<&str>,
    aws_process: Option<&str>,
) -> Option<Device> {
    fn nonempty(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let (serial, from) = match (nonempty(agent_serial), nonempty(aws_serial)) {
        (Some(s), _) => (s, From::AgentConfig),
        (None, Some(s)) => (s, From::AwsConfig),
        (None, None) => return None,
    };
    Some(Device {
        serial: serial.to_string(),
        from,
        process: nonempty(agent_process)
            .or(nonempty(aws_process))
            .map(String::from),
    })
}

/// Whether `serial` has the form IAM accepts for GetSessionToken's `SerialNumber` (9 to 256 of
/// letters, digits and `_+=/:,.@-`). Says what is wrong otherwise.
pub fn check_serial(serial: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c);
    if !(9..=256).contains(&serial.len()) || !serial.chars().all(ok_char) {
        return Err(format!(
            "'{}' is not an MFA device serial; use the device's ARN, like arn:aws:iam::123456789012:mfa/alice (aws iam list-mfa-devices shows it)",
            crate::core::redact::printable(serial)
        ));
    }
    Ok(())
}

/// A code as typed or printed: surrounding white space goes; it must be six digits.
pub fn code(text: &str) -> Result<String, &'static str> {
    let t = text.trim();
    if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_string())
    } else {
        Err("an MFA code is six digits")
    }
}

/// Whether IAM's AccessDenied message says a policy denies the action explicitly, as the
/// self-service policy does without MFA. The wording grows over time (a policy ARN, a link),
/// so only the words that matter are looked for.
pub fn is_explicit_deny(message: &str) -> bool {
    message.to_ascii_lowercase().contains("explicit deny")
}

/// Whether STS refused GetSessionToken because of the code or the serial (as opposed to the key
/// that signed it).
pub fn is_code_refusal(message: &str) -> bool {
    message.contains("MultiFactorAuthentication failed")
}

/// The TOTP window `t` falls in.
pub fn window(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(TOTP_STEP_SECONDS)
}

/// How long to wait before asking for a code at `now`, when the last code for the same device was
/// used in window `last`: a device shows the same code for its whole window, and IAM accepts a
/// code once, so a second code is never asked for inside the same window.
pub fn wait_for_next_code(last: Option<i64>, now: OffsetDateTime) -> Option<std::time::Duration> {
    let last = last?;
    let current = window(now);
    if current > last {
        return None;
    }
    let next = (last + 1) * TOTP_STEP_SECONDS;
    let nanos = i128::from(next) * 1_000_000_000 - now.unix_timestamp_nanos();
    Some(std::time::Duration::from_nanos(
        u64::try_from(nanos.max(0)).unwrap_or(0),
    ))
}

/// Whether a session that expires at `expiration` may still sign calls at `now`.
pub fn session_usable(expiration: OffsetDateTime, now: OffsetDateTime) -> bool {
    expiration - now > SESSION_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// (agent serial, agent process, AWS serial, AWS process) → (serial, from, process).
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<(&'a str, From, Option<&'a str>)>,
    );

    #[test]
    fn the_agent_config_wins_value_by_value() {
        let cases: &[Case] = &[
            (None, None, None, None, None),
            (None, Some("ykman"), None, None, None),
            (
                None,
                None,
                Some("arn:aws:iam::1:mfa/a"),
                None,
                Some(("arn:aws:iam::1:mfa/a", From::AwsConfig, None)),
            ),
            (
                Some("arn:aws:iam::1:mfa/k"),
                None,
                Some("arn:aws:iam::1:mfa/a"),
                Some("aws-proc"),
                Some(("arn:aws:iam::1:mfa/k", From::AgentConfig, Some("aws-proc"))),
            ),
            (
                Some(" "),
                Some("mine"),
                Some("arn:aws:iam::1:mfa/a"),
                Some("aws-proc"),
                Some(("arn:aws:iam::1:mfa/a", From::AwsConfig, Some("mine"))),
            ),
        ];
        for (ks, kp, as_, ap, want) in cases {
            let got = device(*ks, *kp, *as_, *ap);
            let want = want.as_ref().map(|(s, f, p)| Device {
                serial: s.to_string(),
                from: f.clone(),
                process: p.map(String::from),
            });
            assert_eq!(got, want, "{ks:?} {kp:?} {as_:?} {ap:?}");
        }
    }

    #[test]
    fn serials_and_codes() {
        assert!(check_serial("arn:aws:iam::123456789012:mfa/alice").is_ok());
        assert!(check_serial("GAHT12345678").is_ok());
        assert!(check_serial("short").is_err());
        assert!(check_serial("arn:aws:iam::1:mfa/a b").is_err());
        assert_eq!(code(" 012345\n").as_deref(), Ok("012345"));
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６"] {
            assert!(code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn explicit_denies_and_code_refusals_are_told_apart() {
        assert!(is_explicit_deny(
            "User: arn:aws:iam::1:user/a is not authorized to perform: iam:ListAccessKeys on resource: user a with an explicit deny in an identity-based policy"
        ));
        assert!(!is_explicit_deny(
            "User: arn:aws:iam::1:user/a is not authorized to perform: iam:ListAccessKeys on resource: user a because no identity-based policy allows the iam:ListAccessKeys action"
        ));
        assert!(is_code_refusal(
            "MultiFactorAuthentication failed with invalid MFA one time pass code. "
        ));
        assert!(!is_code_refusal(
            "The security token included in the request is invalid."
        ));
    }

    #[test]
    fn no_second_code_inside_one_window() {
        let t = datetime!(2026-12-02 10:00:10 UTC);
        assert_eq!(wait_for_next_code(None, t), None);
        assert_eq!(
            wait_for_next_code(Some(window(t)), t),
            Some(std::time::Duration::from_secs(20))
        );
        assert_eq!(wait_for_next_code(Some(window(t) - 1), t), None);
        let edge = datetime!(2026-12-02 10:00:29.5 UTC);
        assert_eq!(
            wait_for_next_code(Some(window(edge)), edge),
            Some(std::time::Duration::from_millis(500))
        );
    }

    #[test]
    fn a_session_is_used_only_with_time_to_spare() {
        let now = datetime!(2026-12-02 10:00 UTC);
        assert!(session_usable(now + time::Duration::minutes(15), now));
        assert!(!session_usable(now + time::Duration::minutes(3), now));
        assert!(!session_usable(now - time::Duration::minutes(1), now));
    }
}
