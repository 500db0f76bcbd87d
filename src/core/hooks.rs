//! Rotation hooks as data: what each hook is told on its standard input, which environment it
//! gets, and what of its output is shown. The edge `edge::child` runs them; the engine decides
//! when.
//!
//! - `pre_rotate` is told the current key (no secret) before CreateAccessKey; a non-zero exit
//!   vetoes the rotation.
//! - `post_rotate` is told the new pair and the old key's id once the new key is written and
//!   proven, before the old key is retired. After a rollback it is told the old pair again
//!   (`RolledBack: true`), so that what it updated goes back too.
//!
//! The secret goes to the hook only on its standard input: never in argv or the environment,
//! which other users can read through `ps` or `/proc`.

use secrecy::ExposeSecret;
use serde_json::json;
use zeroize::Zeroizing;

use crate::core::keys::KeyPair;

/// The version of the hooks' JSON input.
pub const VERSION: u32 = 1;

/// The variables every hook gets (besides those listed in `hook_env`).
pub const BASE_ENV: &[&str] = &["HOME", "PATH", "LANG"];

/// Who the rotation is about.
#[derive(Debug, Clone)]
pub struct About<'a> {
    pub profile: &'a str,
    pub profiles: &'a [String],
    pub user_arn: &'a str,
}

/// `pre_rotate`'s standard input.
pub fn pre_input(about: &About<'_>, access_key_id: &str) -> Zeroizing<Vec<u8>> {
    let v = json!({
        "Version": VERSION,
        "Hook": "pre_rotate",
        "Profile": about.profile,
        "Profiles": about.profiles,
        "UserArn": about.user_arn,
        "AccessKeyId": access_key_id,
    });
    Zeroizing::new(v.to_string().into_bytes())
}

/// `post_rotate`'s standard input: the pair now in use, and the key it replaced. After a
/// rollback the pair is the old one again and `OldAccessKeyId` the new key, being deleted.
pub fn post_input(
    about: &About<'_>,
    pair: &KeyPair,
    old_access_key_id: &str,
    rolled_back: bool,
) -> Zeroizing<Vec<u8>> {
    // Built by hand so that the secret is in no intermediate value that is not wiped.
    let head = json!({
        "Version": VERSION,
        "Hook": "post_rotate",
        "Profile": about.profile,
        "Profiles": about.profiles,
        "UserArn": about.user_arn,
        "AccessKeyId": pair.id,
        "OldAccessKeyId": old_access_key_id,
        "RolledBack": rolled_back,
    })
    .to_string();
    let mut out = Zeroizing::new(Vec::with_capacity(head.len() + 80));
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"SecretAccessKey\":");
    let quoted = Zeroizing::new(
        serde_json::to_string(pair.secret.expose_secret()).unwrap_or_else(|_| "\"\"".into()),
    );
    out.extend_from_slice(quoted.as_bytes());
    out.push(b'}');
    out
}

/// The environment a hook runs with: HOME, PATH, LANG and the names in `hook_env`, from
/// `lookup` (unset ones are left out).
pub fn environment(
    hook_env: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for name in BASE_ENV
        .iter()
        .map(|s| s.to_string())
        .chain(hook_env.iter().cloned())
    {
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        if let Some(value) = lookup(&name) {
            out.push((name, value));
        }
    }
    out
}

/// The last `lines` lines of what a hook printed, at most `chars` characters: scrubbed of
/// every registered secret and of control characters, for a message.
pub fn tail(output: &[u8], lines: usize, chars: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let scrubbed = crate::core::redact::scrub(text.trim_end()).into_owned();
    let last: Vec<&str> = scrubbed.lines().rev().take(lines).collect();
    let joined = last.into_iter().rev().collect::<Vec<_>>().join(" / ");
    let shown = crate::core::redact::printable(&joined).into_owned();
    let count = shown.chars().count();
    if count > chars {
        let skip = count - chars;
        format!("…{}", shown.chars().skip(skip).collect::<String>())
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn about() -> (Vec<String>, &'static str) {
        (
            vec!["work".to_string(), "ci".to_string()],
            "arn:aws:iam::1:user/a",
        )
    }

    #[test]
    fn inputs_are_one_json_object() {
        let (profiles, arn) = about();
        let a = About {
            profile: "work",
            profiles: &profiles,
            user_arn: arn,
        };
        let pre: serde_json::Value = serde_json::from_slice(&pre_input(&a, "AKIAOLD")).unwrap();
        assert_eq!(pre["Version"], 1);
        assert_eq!(pre["AccessKeyId"], "AKIAOLD");
        assert_eq!(pre["Profiles"], json!(["work", "ci"]));
        assert!(pre.get("SecretAccessKey").is_none());
        let pair = KeyPair {
            id: "AKIANEW".into(),
            secret: SecretString::from("s\"e/cret+".to_string()),
        };
        let post: serde_json::Value =
            serde_json::from_slice(&post_input(&a, &pair, "AKIAOLD", false)).unwrap();
        assert_eq!(post["AccessKeyId"], "AKIANEW");
        assert_eq!(post["SecretAccessKey"], "s\"e/cret+");
        assert_eq!(post["OldAccessKeyId"], "AKIAOLD");
        assert_eq!(post["RolledBack"], false);
        assert_eq!(post["UserArn"], arn);
    }

    #[test]
    fn the_environment_is_minimal() {
        let env = environment(
            &["AWS_REGION".into(), "HOME".into(), "UNSET".into()],
            |n| match n {
                "HOME" => Some("/home/a".into()),
                "PATH" => Some("/usr/bin".into()),
                "AWS_REGION" => Some("eu-west-1".into()),
                _ => None,
            },
        );
        assert_eq!(
            env,
            vec![
                ("HOME".to_string(), "/home/a".to_string()),
                ("PATH".to_string(), "/usr/bin".to_string()),
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
            ]
        );
    }

    #[test]
    fn the_tail_is_short_and_clean() {
        assert_eq!(tail(b"a\nb\nc\nd\n", 2, 100), "c / d");
        assert_eq!(tail(b"xxxxxxxxxx", 1, 4), "…xxxx");
        assert_eq!(tail(b"bad \x1b[31m\n", 1, 100), "bad �[31m");
    }
}
