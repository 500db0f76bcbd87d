//! Which profiles hold a long-term access key that keyrot-agent can rotate, and why the others
//! are skipped.
//!
//! A profile is what the AWS clients see after merging `[name]` from the credentials file over
//! `[profile name]` from the config file. keyrot-agent rotates only profiles whose credentials are
//! a static `AKIA…` key pair in the credentials file and nothing else: both the AWS CLI and the
//! SDKs then use exactly that pair. Pure: works on parsed files, never on disk or network.

use std::collections::{HashMap, HashSet};
use std::fmt;

use secrecy::SecretString;

use crate::core::keys::Storage;

use crate::core::credentials::{
    ACCESS_KEY_ID, FileKind, ParsedFile, Problem, ProblemKind, SECRET_ACCESS_KEY, SESSION_TOKEN,
    Section,
};

/// A profile whose long-term key can be rotated.
#[derive(Clone)]
pub struct Rotatable {
    pub access_key_id: String,
    pub secret: SecretString,
    /// Line of `aws_access_key_id` in the credentials file (0 for a keyring profile).
    pub line: usize,
    /// Where the pair lives.
    pub storage: Storage,
}

impl Rotatable {
    /// Its key pair.
    pub fn pair(&self) -> crate::core::keys::KeyPair {
        crate::core::keys::KeyPair {
            id: self.access_key_id.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// Why a profile is not rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    TemporaryCredentials,
    AssumesRole,
    WebIdentity,
    Sso,
    LoginSession,
    CredentialProcess,
    /// keyrot-agent's own credential_process: the key is in the keyring (until it is read).
    InKeyring,
    /// A keyring profile whose entry cannot be read now.
    KeyringUnreadable(crate::core::keys::KeyringError),
    KeysAndCredentialProcess,
    IncompleteKeyPair {
        missing: &'static str,
    },
    KeysInConfigFile {
        line: usize,
    },
    NotAnIamUserKey,
    NoCredentials,
    /// `--all` passes over a profile the config's `[profiles]` include/exclude leaves out.
    NotManaged,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TemporaryCredentials => write!(
                f,
                "temporary credentials (ASIA… key or a session token) expire by themselves"
            ),
            Self::AssumesRole => write!(
                f,
                "assumes a role (role_arn / credential_source); rotate its source profile instead"
            ),
            Self::WebIdentity => write!(f, "uses a web identity token, not an access key"),
            Self::Sso => write!(f, "uses IAM Identity Center (SSO), not an access key"),
            Self::LoginSession => write!(f, "uses a console login session, not an access key"),
            Self::CredentialProcess => write!(f, "gets its credentials from credential_process"),
            Self::InKeyring => write!(f, "kept in the keyring (not read yet)"),
            Self::KeyringUnreadable(why) => {
                write!(f, "kept in the keyring, which cannot be read now: {why}")
            }
            Self::KeysAndCredentialProcess => write!(
                f,
                "has both static keys and credential_process: the AWS CLI uses the keys but the SDKs run the process; remove one of them"
            ),
            Self::IncompleteKeyPair { missing } => {
                write!(f, "has no {missing}, so its key cannot be used or rotated")
            }
            Self::KeysInConfigFile { line } => write!(
                f,
                "its key is in the config file (line {line}); keyrot-agent rewrites only the credentials file, so move the two key lines there"
            ),
            Self::NotAnIamUserKey => write!(
                f,
                "its key id does not look like an IAM user's long-term key (AKIA…)"
            ),
            Self::NoCredentials => write!(f, "holds no access key"),
            Self::NotManaged => write!(
                f,
                "not managed: the config's [profiles] include/exclude leaves it out (name it with --profile to rotate it anyway)"
            ),
        }
    }
}

impl SkipReason {
    /// Skipped because of something the user should fix: the profile holds a long-term key (or
    /// part of one) that keyrot-agent cannot use as it is.
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Self::IncompleteKeyPair { .. }
                | Self::KeysAndCredentialProcess
                | Self::KeysInConfigFile { .. }
                | Self::KeyringUnreadable(_)
        )
    }
}

/// Whether a `credential_process` value is keyrot-agent's own (a keyring profile).
pub fn is_ours(command: &str) -> bool {
    command.contains("keyrot-agent") && command.contains(" credential-process --profile ")
}

/// Why a `credential_process` line for keyrot-agent cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefused {
    #[error(
        "the path of this program ({0}) cannot be written into credential_process; install keyrot-agent under a plain path"
    )]
    Program(String),
    #[error("this profile name cannot be written into credential_process")]
    Profile,
}

/// The `credential_process` value that serves `profile` from the keyring: this program, quoted
/// for both botocore (shlex) and the SDKs (`sh -c`).
pub fn credential_process_command(
    exe: &std::path::Path,
    profile: &str,
) -> Result<String, CommandRefused> {
    let quote = |s: &str| -> Option<String> {
        let plain = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./+-@:,=".contains(c));
        if plain {
            Some(s.to_string())
        } else if s.contains('\'') || s.chars().any(|c| c.is_control() || c == '#' || c == ';') {
            None
        } else {
            Some(format!("'{s}'"))
        }
    };
    let exe_text = exe
        .to_str()
        .and_then(quote)
        .ok_or_else(|| CommandRefused::Program(exe.display().to_string()))?;
    let name = quote(profile).ok_or(CommandRefused::Profile)?;
    Ok(format!("{exe_text} credential-process --profile {name}"))
}

/// One profile and what keyrot-agent makes of it.
#[derive(Clone)]
pub struct Profile {
    pub name: String,
    pub status: Result<Rotatable, SkipReason>,
}

/// The profile name a config-file section stands for, if it is a profile.
pub fn config_profile_name(section: &str) -> Option<&str> {
    if section == "default" {
        return Some("default");
    }
    let rest = section.strip_prefix("profile")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_matches([' ', '\t']))
}

/// Config-file sections that name the same profile (`[default]` and `[profile default]`, or
/// `[profile a]` and `[profile  a]`): the AWS CLI keeps one, the SDKs prefer or merge another.
pub fn config_problems(config: &ParsedFile) -> Vec<Problem> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for s in config.sections() {
        let Some(name) = config_profile_name(&s.name) else {
            continue;
        };
        match seen.get(name) {
            Some(first_line) => problems.push(Problem {
                line: s.line,
                kind: ProblemKind::SameProfileTwice {
                    first_line: *first_line,
                },
            }),
            None => {
                seen.insert(name, s.line);
            }
        }
    }
    problems
}

/// `mfa_serial` and `mfa_process` of `profile` as the AWS CLI reads them: the profile's
/// credentials-file section over its first config-file section. Empty values count as unset.
pub fn aws_mfa(
    credentials: &ParsedFile,
    config: Option<&ParsedFile>,
    profile: &str,
) -> (Option<String>, Option<String>) {
    let section = config.and_then(|c| {
        c.sections()
            .iter()
            .find(|s| config_profile_name(&s.name) == Some(profile))
            .map(|s| (c, s))
    });
    let get = |key: &str| -> Option<String> {
        credentials
            .get(profile, key)
            .or_else(|| section.and_then(|(c, s)| s.property(key).map(|p| c.value(p))))
            .filter(|v| !v.trim().is_empty())
            .map(String::from)
    };
    (get("mfa_serial"), get("mfa_process"))
}

/// Every profile named in either file, in credentials-file order, then config-only profiles.
pub fn classify(credentials: &ParsedFile, config: Option<&ParsedFile>) -> Vec<Profile> {
    debug_assert_eq!(credentials.kind(), FileKind::Credentials);
    let mut names: Vec<String> = credentials
        .sections()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let mut known: HashSet<String> = names.iter().cloned().collect();
    // The config file's first section for each profile it names.
    let mut in_config: HashMap<&str, &Section> = HashMap::new();
    if let Some(config) = config {
        for s in config.sections() {
            if let Some(name) = config_profile_name(&s.name) {
                in_config.entry(name).or_insert(s);
                if known.insert(name.to_string()) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let section = config.zip(in_config.get(name.as_str()).copied());
            let status = classify_one(&name, credentials, section);
            Profile { name, status }
        })
        .collect()
}

fn classify_one(
    name: &str,
    credentials: &ParsedFile,
    config_section: Option<(&ParsedFile, &Section)>,
) -> Result<Rotatable, SkipReason> {
    // The merged view: the credentials file wins over the config file, as in both clients.
    let get = |key: &str| -> Option<&str> {
        credentials
            .get(name, key)
            .or_else(|| config_section.and_then(|(c, s)| s.property(key).map(|p| c.value(p))))
            .filter(|v| !v.is_empty())
    };
    if get("role_arn").is_some() && get("web_identity_token_file").is_none() {
        return Err(SkipReason::AssumesRole);
    }
    if get("credential_source").is_some() {
        return Err(SkipReason::AssumesRole);
    }
    if get("web_identity_token_file").is_some() {
        return Err(SkipReason::WebIdentity);
    }
    if [
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| get(k).is_some())
    {
        return Err(SkipReason::Sso);
    }
    if get("login_session").is_some() {
        return Err(SkipReason::LoginSession);
    }
    let id = credentials
        .get(name, ACCESS_KEY_ID)
        .filter(|v| !v.is_empty());
    let secret = credentials
        .get(name, SECRET_ACCESS_KEY)
        .filter(|v| !v.is_empty());
    if let Some(process) = get("credential_process") {
        return Err(if id.is_some() || secret.is_some() {
            SkipReason::KeysAndCredentialProcess
        } else if is_ours(process) {
            SkipReason::InKeyring
        } else {
            SkipReason::CredentialProcess
        });
    }
    let token = credentials
        .get(name, SESSION_TOKEN)
        .filter(|v| !v.is_empty());
    match (id, secret) {
        (None, None) => {
            if let Some((_, section)) = config_section
                && let Some(p) = section.property(ACCESS_KEY_ID)
            {
                return Err(SkipReason::KeysInConfigFile { line: p.line });
            }
            Err(SkipReason::NoCredentials)
        }
        (Some(_), None) => Err(SkipReason::IncompleteKeyPair {
            missing: SECRET_ACCESS_KEY,
        }),
        (None, Some(_)) => Err(SkipReason::IncompleteKeyPair {
            missing: ACCESS_KEY_ID,
        }),
        (Some(id), Some(secret)) => {
            if token.is_some() || id.starts_with("ASIA") {
                return Err(SkipReason::TemporaryCredentials);
            }
            if !id.starts_with("AKIA") {
                return Err(SkipReason::NotAnIamUserKey);
            }
            let line = credentials
                .section(name)
                .and_then(|s| s.property(ACCESS_KEY_ID))
                .map(|p| p.line)
                .unwrap_or(0);
            crate::core::redact::register(secret);
            Ok(Rotatable {
                access_key_id: id.to_string(),
                secret: SecretString::from(secret.to_string()),
                line,
                storage: Storage::File,
            })
        }
    }
}

/// A rotated profile whose key the AWS SDK for JavaScript does not see: botocore and the Rust SDK
/// read setting names in any case, the JavaScript SDK (every Node.js program, the AWS CDK) only
/// in lower case, so `AWS_ACCESS_KEY_ID = …` is no key for it. Such a profile is rotated; the
/// user is told, with the line and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnseenKey {
    pub profile: String,
    /// The first key line whose name is not in lower case.
    pub line: usize,
    /// Its name as written.
    pub written: String,
}

impl UnseenKey {
    /// What is wrong, without the fix.
    pub fn what(&self) -> String {
        format!(
            "`{}` in [{}] is read by the AWS CLI and the Rust SDK, but the JavaScript SDK (Node.js programs, the AWS CDK) reads key names only in lower case and finds no key in this profile",
            crate::core::redact::printable(&self.written),
            crate::core::redact::printable(&self.profile),
        )
    }
}

impl fmt::Display for UnseenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; run `keyrot-agent doctor --fix` to write the names in lower case",
            self.what()
        )
    }
}

/// The rotatable profiles of the credentials file whose key or secret name is not written in
/// lower case, in file order.
pub fn unseen_by_javascript(credentials: &ParsedFile, profiles: &[Profile]) -> Vec<UnseenKey> {
    profiles
        .iter()
        .filter(|p| matches!(&p.status, Ok(r) if r.storage == Storage::File))
        .filter_map(|p| {
            let section = credentials.section(&p.name)?;
            [ACCESS_KEY_ID, SECRET_ACCESS_KEY]
                .iter()
                .filter_map(|k| section.property(k))
                .find(|prop| credentials.name_as_written(prop) != prop.key)
                .map(|prop| UnseenKey {
                    profile: p.name.clone(),
                    line: prop.line,
                    written: credentials.name_as_written(prop).to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::credentials::parse;

    fn statuses(creds: &str, config: &str) -> Vec<(String, Result<String, SkipReason>)> {
        let c = parse(creds.as_bytes(), FileKind::Credentials).unwrap();
        let k = parse(config.as_bytes(), FileKind::Config).unwrap();
        classify(&c, Some(&k))
            .into_iter()
            .map(|p| (p.name, p.status.map(|r| r.access_key_id)))
            .collect()
    }

    fn check(creds: &str, config: &str, expect: &[(&str, Result<&str, SkipReason>)]) {
        let got = statuses(creds, config);
        let want: Vec<(String, Result<String, SkipReason>)> = expect
            .iter()
            .map(|(n, r)| (n.to_string(), r.clone().map(str::to_string)))
            .collect();
        assert_eq!(got, want);
    }

    const KEYS: &str = "aws_access_key_id = AKIA0001\naws_secret_access_key = secret0001xx\n";

    #[test]
    fn plain_static_key() {
        check(
            &format!("[default]\n{KEYS}"),
            "",
            &[("default", Ok("AKIA0001"))],
        );
    }

    #[test]
    fn skip_reasons() {
        use SkipReason::*;
        check(
            "[t]\naws_access_key_id = ASIA1\naws_secret_access_key = s\n",
            "",
            &[("t", Err(TemporaryCredentials))],
        );
        check(
            &format!("[t]\n{KEYS}aws_session_token = tok\n"),
            "",
            &[("t", Err(TemporaryCredentials))],
        );
        check(
            "[p]\ncredential_process = /bin/x\n",
            "",
            &[("p", Err(CredentialProcess))],
        );
        check(
            &format!("[p]\n{KEYS}"),
            "[profile p]\ncredential_process = /bin/x\n",
            &[("p", Err(KeysAndCredentialProcess))],
        );
        check(
            &format!("[r]\n{KEYS}"),
            "[profile r]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = b\n",
            &[("r", Err(AssumesRole))],
        );
        check("", "[profile s]\nsso_session = corp\n", &[("s", Err(Sso))]);
        check(
            "",
            "[default]\nsso_start_url = https://x\n",
            &[("default", Err(Sso))],
        );
        check(
            "[i]\naws_access_key_id = AKIA1\n",
            "",
            &[(
                "i",
                Err(IncompleteKeyPair {
                    missing: SECRET_ACCESS_KEY,
                }),
            )],
        );
        check("[o]\nregion = x\n", "", &[("o", Err(NoCredentials))]);
        check(
            "",
            &format!("[profile c]\n{KEYS}"),
            &[("c", Err(KeysInConfigFile { line: 2 }))],
        );
        check(
            "[x]\naws_access_key_id = XYZ1\naws_secret_access_key = s\n",
            "",
            &[("x", Err(NotAnIamUserKey))],
        );
    }

    #[test]
    fn mfa_settings_are_read_as_the_cli_reads_them() {
        let creds = parse(
            b"[work]\naws_access_key_id = AKIAWORKWORKWORKWORK\naws_secret_access_key = s\n[over]\nmfa_serial = arn:aws:iam::1:mfa/creds\n",
            FileKind::Credentials,
        )
        .unwrap();
        let config = parse(
            b"[profile work]\nmfa_serial = arn:aws:iam::1:mfa/work\nmfa_process = ykman oath accounts code --single aws\n[profile over]\nmfa_serial = arn:aws:iam::1:mfa/config\n[profile empty]\nmfa_serial =\n",
            FileKind::Config,
        )
        .unwrap();
        let table: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "work",
                Some("arn:aws:iam::1:mfa/work"),
                Some("ykman oath accounts code --single aws"),
            ),
            ("over", Some("arn:aws:iam::1:mfa/creds"), None),
            ("empty", None, None),
            ("none", None, None),
        ];
        for (profile, serial, process) in table {
            let (s, p) = aws_mfa(&creds, Some(&config), profile);
            assert_eq!(
                (s.as_deref(), p.as_deref()),
                (*serial, *process),
                "{profile}"
            );
        }
        assert_eq!(aws_mfa(&creds, None, "work"), (None, None));
    }

    #[test]
    fn config_sections_naming_one_profile_twice_are_problems() {
        let k = parse(b"[default]\nregion = x\n[profile default]\ncredential_process = /bin/x\n[profile a]\n[profile  a]\n[sso-session a]\n", FileKind::Config).unwrap();
        let lines: Vec<usize> = config_problems(&k).iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 6]);
    }

    #[test]
    fn config_only_profiles_follow_credentials_ones() {
        let got = statuses(
            &format!("[b]\n{KEYS}"),
            "[profile a]\nregion = x\n[sso-session corp]\nsso_region = x\n",
        );
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }
    #[test]
    fn keys_whose_names_are_not_lower_case_are_unseen_by_javascript() {
        // (file, expected (profile, line, name as written))
        type Case = (&'static str, &'static [(&'static str, usize, &'static str)]);
        let cases: &[Case] = &[
            (
                "[default]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = s\n",
                &[],
            ),
            (
                "[default]\nAWS_ACCESS_KEY_ID = AKIAEXAMPLE000000001\nAWS_SECRET_ACCESS_KEY = s\n",
                &[("default", 2, "AWS_ACCESS_KEY_ID")],
            ),
            // Only the secret's name: still no key for the JavaScript SDK.
            (
                "[work]\nregion = x\naws_access_key_id = AKIAEXAMPLE000000001\nAws_Secret_Access_Key = s\n",
                &[("work", 4, "Aws_Secret_Access_Key")],
            ),
            // A setting other than the key's: not a missing key.
            (
                "[a]\nRegion = x\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = s\n",
                &[],
            ),
            // Temporary credentials are not rotated, so not reported.
            (
                "[t]\nAWS_ACCESS_KEY_ID = ASIAEXAMPLE000000001\naws_secret_access_key = s\naws_session_token = t\n",
                &[],
            ),
        ];
        for (text, want) in cases {
            let c = parse(text.as_bytes(), FileKind::Credentials).unwrap();
            let got: Vec<(String, usize, String)> = unseen_by_javascript(&c, &classify(&c, None))
                .into_iter()
                .map(|u| (u.profile, u.line, u.written))
                .collect();
            let want: Vec<(String, usize, String)> = want
                .iter()
                .map(|(p, l, w)| (p.to_string(), *l, w.to_string()))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
