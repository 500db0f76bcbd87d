//! What the local machine holds, loaded once per command: both shared files, parsed and checked
//! as every AWS client reads them, their secrets registered with the scrubber, the profiles
//! classified with the keyring profiles resolved, and the keys the local profiles hold; and
//! keyrot-agent's own config file. Every command and the agent use this one loader, so that
//! none of them accepts a file another refuses.

use crate::core::config::{Config, LoadError, parse as parse_config};
use crate::core::credentials::{self, FileKind, ParsedFile};
use crate::core::profiles::{self, Profile, SkipReason};
use crate::core::rotation::{self, Selected, Selection};
use crate::core::trust::{self, Exposure};
use crate::edge::paths::Paths;
use crate::edge::storage::{self, HeldKeys, Secrets};
use crate::edge::store::{self, StoreError};
use crate::engine::error::Error;

/// The local profiles, as read once.
pub struct Local {
    pub credentials: ParsedFile,
    pub config: Option<ParsedFile>,
    /// Every profile of either file, classified as the files say (a keyring profile is
    /// `InKeyring`).
    pub classified: Vec<Profile>,
    /// The same, with each keyring profile carrying its entry's pair.
    pub profiles: Vec<Profile>,
    /// The keys local profiles hold; `None` when a keyring entry cannot be read (then no key
    /// the user may hold is deleted).
    pub held: Option<HeldKeys>,
    /// A warning that others can read the credentials file, for the agent to notify.
    pub exposure: Option<String>,
}

/// Reads both shared files, refuses what the AWS CLI and the SDKs would read differently (with
/// `file:line`), registers every secret in them with the scrubber, and classifies the profiles.
pub fn load(paths: &Paths) -> Result<Local, Error> {
    let exposure = check_permissions(paths)?;
    let bytes = store::read_settled(&paths.credentials)?;
    let creds = parse(&paths.credentials, &bytes, FileKind::Credentials)?;
    let config = match store::read_optional(&paths.config)? {
        Some(b) => Some(parse(&paths.config, &b, FileKind::Config)?),
        None => None,
    };
    if let Some(config) = &config {
        let problems = profiles::config_problems(config);
        if !problems.is_empty() {
            return Err(Error::InvalidFile {
                path: paths.config.clone(),
                problems,
            });
        }
    }
    check_endpoints(paths, config.as_ref())?;
    register_secrets(&creds);
    if let Some(config) = &config {
        register_secrets(config);
    }
    let classified = profiles::classify(&creds, config.as_ref());
    let profiles = storage::resolve(classified.clone());
    let held = HeldKeys::of(&creds).ok();
    Ok(Local {
        credentials: creds,
        config,
        classified,
        profiles,
        held,
        exposure,
    })
}

/// The credentials file and its directory must not be writable by others (nor the config file,
/// whose `credential_process` lines AWS clients run): refused, or made private with
/// `--fix-permissions`. A credentials file others can read is a warning, returned for the
/// agent to notify. Modes are never widened.
fn check_permissions(paths: &Paths) -> Result<Option<String>, Error> {
    let mut warning = None;
    for (path, secrets) in [(&paths.credentials, true), (&paths.config, false)] {
        let Some((file_mode, dir_mode)) = store::modes(path) else {
            continue;
        };
        match trust::exposure(file_mode, dir_mode) {
            Exposure::Writable if paths.trust.fix_permissions => {
                store::make_private(path)?;
                tracing::warn!(path = %path.display(), "others could write this file or its directory; made it private (--fix-permissions)");
            }
            Exposure::Writable => {
                let dir = path.parent().unwrap_or(path);
                return Err(Error::WritableByOthers {
                    path: path.clone(),
                    why: format!("mode {file_mode:o}, its directory {dir_mode:o}"),
                    fix: format!(
                        "chmod go-w '{}' && chmod 600 '{}'",
                        dir.display(),
                        path.display()
                    ),
                });
            }
            Exposure::Readable if secrets => {
                let text = format!(
                    "{} can be read by other users of this machine (mode {file_mode:o}); run: chmod 600 '{}'",
                    path.display(),
                    path.display()
                );
                tracing::warn!("{text}");
                warning = Some(text);
            }
            Exposure::Readable | Exposure::Private => {}
        }
    }
    Ok(warning)
}

/// Every endpoint a new secret could come back from (the environment's, the config file's)
/// must be https://, or plain http:// on this machine, unless `--allow-insecure-endpoint`.
fn check_endpoints(paths: &Paths, config: Option<&ParsedFile>) -> Result<(), Error> {
    if paths.trust.insecure_endpoint {
        return Ok(());
    }
    let from_file = config.map(trust::endpoints_in).unwrap_or_default();
    let all = paths.endpoints.iter().cloned().chain(
        from_file
            .into_iter()
            .map(|(line, url)| (format!("{}:{line}", paths.config.display()), url)),
    );
    for (from, endpoint) in all {
        if let Some(why) = trust::insecure_endpoint(&endpoint) {
            return Err(Error::InsecureEndpoint {
                endpoint,
                from,
                why,
            });
        }
    }
    Ok(())
}

impl Local {
    /// Whether a profile of this name is in either file.
    pub fn has_profile(&self, name: &str) -> bool {
        self.profiles.iter().any(|p| p.name == name)
    }

    /// `name` must be a profile of either file: else the error that lists the ones there.
    pub fn require(&self, name: &str) -> Result<(), Error> {
        if self.has_profile(name) {
            return Ok(());
        }
        Err(Error::Select(vec![rotation::SelectError::NotFound {
            profile: name.to_string(),
            known: self.profiles.iter().map(|p| p.name.clone()).collect(),
        }]))
    }

    /// Each rotatable profile of the credentials file whose key the JavaScript SDK does not see
    /// (its key names are not in lower case), with where: `file:line`.
    pub fn javascript_warnings(&self, paths: &Paths) -> Vec<(profiles::UnseenKey, String)> {
        profiles::unseen_by_javascript(&self.credentials, &self.classified)
            .into_iter()
            .map(|u| {
                let at = format!("{}:{}", paths.credentials.display(), u.line);
                (u, at)
            })
            .collect()
    }

    /// Warns about each `[profile.NAME]` table of keyrot-agent's config that names no profile of
    /// either file: most likely a misspelt name, whose settings then apply to nothing.
    pub fn warn_unknown_tables(&self, agent: &Config) {
        for name in agent.profiles_with_overrides() {
            if !self.has_profile(name) {
                tracing::warn!(
                    "keyrot-agent's config, line {}: [profile.{}] names no profile of the credentials or config file, so its settings apply to nothing; is the name misspelt? (profiles there: {})",
                    agent.line_of_profile(name),
                    crate::core::redact::printable(name),
                    self.profiles
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }

    /// The MFA device key management of `profile` needs: keyrot-agent's `[profile.P]` settings
    /// over the AWS files' `mfa_serial`/`mfa_process`.
    pub fn mfa_device(&self, profile: &str, agent: &Config) -> Option<crate::core::mfa::Device> {
        let (aws_serial, aws_process) =
            profiles::aws_mfa(&self.credentials, self.config.as_ref(), profile);
        let settings = agent.for_profile(profile);
        crate::core::mfa::device(
            settings.mfa_serial.as_deref(),
            settings.mfa_process.as_deref(),
            aws_serial.as_deref(),
            aws_process.as_deref(),
        )
    }

    /// How the IAM calls for `profile` are signed: with MFA sessions from `sessions` when a
    /// device is set, else with the profile's own keys.
    pub fn signing(
        &self,
        profile: &str,
        agent: &Config,
        sessions: &std::sync::Arc<crate::engine::signing::Sessions>,
    ) -> crate::engine::signing::Signing {
        match self.mfa_device(profile, agent) {
            Some(device) => crate::engine::signing::Signing::with_mfa(device, sessions.clone()),
            None => crate::engine::signing::Signing::own_keys(),
        }
    }

    /// What `selection` comes to: one target per key, every profile that holds it moving with
    /// it. Refused before any AWS call: a named keyring profile whose entry cannot be read (the
    /// keyring's own error), a key held both in the file and in the keyring, and a target whose
    /// profiles cannot all take a new key in one write.
    pub fn select(&self, paths: &Paths, selection: &Selection) -> Result<Selected, Error> {
        if let Selection::Named(names) = selection {
            for p in &self.profiles {
                if let Err(SkipReason::KeyringUnreadable(e)) = &p.status
                    && names.contains(&p.name)
                {
                    return Err(Error::Keyring {
                        profile: p.name.clone(),
                        source: e.clone(),
                    });
                }
            }
        }
        if let Some((keyring_one, file_one)) = storage::split_across_stores(&self.profiles) {
            return Err(Error::SplitAcrossStores {
                keyring: keyring_one,
                file: file_one,
            });
        }
        let mut selected = rotation::select(&self.profiles, selection).map_err(Error::Select)?;
        for target in &mut selected.targets {
            match Secrets::new(target.storage, paths).trial_switch(&self.credentials, target) {
                Ok(changed) => target.profiles = changed,
                Err(credentials::EditError::MissingSecret { profile, line, .. }) => {
                    return Err(Error::InvalidFile {
                        path: paths.credentials.clone(),
                        problems: vec![credentials::Problem {
                            line,
                            kind: credentials::ProblemKind::SharedKeyWithoutSecret {
                                section: profile,
                            },
                        }],
                    });
                }
                Err(e) => {
                    return Err(Error::Internal {
                        profile: target.primary.clone(),
                        what: e.to_string(),
                    });
                }
            }
        }
        Ok(selected)
    }
}

/// How the IAM calls of each profile are signed, as the files say now. When they cannot be read,
/// with the profiles' own keys (what IAM then answers says more).
pub fn signing_of(
    paths: &Paths,
    agent: &Config,
    sessions: &std::sync::Arc<crate::engine::signing::Sessions>,
) -> impl Fn(&str) -> crate::engine::signing::Signing {
    let local = load(paths).ok();
    let (agent, sessions) = (agent.clone(), sessions.clone());
    move |profile| match &local {
        Some(l) => l.signing(profile, &agent, &sessions),
        None => crate::engine::signing::Signing::own_keys(),
    }
}

fn parse(path: &std::path::Path, bytes: &[u8], kind: FileKind) -> Result<ParsedFile, Error> {
    credentials::parse(bytes, kind).map_err(|problems| Error::InvalidFile {
        path: path.to_path_buf(),
        problems,
    })
}

/// Registers every secret and session token in the file with the output scrubber, whether or
/// not its profile is rotated.
fn register_secrets(file: &ParsedFile) {
    for section in file.sections() {
        for key in [credentials::SECRET_ACCESS_KEY, credentials::SESSION_TOKEN] {
            if let Some(value) = file.get(&section.name, key) {
                crate::core::redact::register(value);
            }
        }
    }
}

/// keyrot-agent's config file; a missing file is the defaults. Errors carry `path:line`.
pub fn agent_config(paths: &Paths) -> Result<Config, LoadError> {
    let path = &paths.agent_config;
    let io = |error: String| LoadError::Io {
        path: path.clone(),
        error,
    };
    let Some(bytes) = store::read_optional(path).map_err(|e| match e {
        StoreError::Io { source, .. } => io(source.to_string()),
        other => io(other.to_string()),
    })?
    else {
        return Ok(Config::default());
    };
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| io("it is not UTF-8 text".into()))?;
    parse_config(&text).map_err(|error| LoadError::Invalid {
        path: path.clone(),
        error,
    })
}
