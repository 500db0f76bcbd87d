//! `keyrot-agent doctor`: checks everything a rotation, the agent and its notifications need,
//! without changing anything, and says for each what is wrong and what to do. Read-only: AWS is
//! asked only GetCallerIdentity, ListAccessKeys and the policy simulator.

use std::time::Duration;

use crate::core::keys::{ErrorClass, Storage};
use crate::core::profiles::SkipReason;
use crate::core::trust::{self, Exposure};
use crate::edge::aws::{Aws, RequestCounter};
use crate::edge::paths::Paths;
use crate::edge::store;
use crate::engine::signing::{MfaError, Sessions};

pub use crate::core::verdict::Verdict;

/// One check: what it is about, what it found, and (when it did not pass) what to do.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    pub fix: Option<String>,
}

fn check(name: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        verdict,
        detail: detail.into(),
        fix: None,
    }
}

fn failed(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        fix: Some(fix.into()),
        ..check(name, Verdict::Fail, detail)
    }
}

/// The key-management actions a rotation needs besides listing.
const MANAGE: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
];

pub use crate::core::credentials::Renamed;

/// `doctor --fix`: writes every setting name of the credentials file in lower case (not those
/// inside a nested block), with the same lossless atomic write as a rotation, and says which.
/// The caller holds the lock and has finished what a crash left; if a rotation is still in
/// flight (AWS could not be reached), nothing is changed. A file that is refused is left as it
/// is.
pub fn fix(paths: &Paths) -> Result<Vec<Renamed>, crate::engine::error::Error> {
    if !crate::state::journal::Journal::new(paths.journal_file())
        .load()?
        .is_empty()
    {
        return Err(crate::engine::error::Error::InFlight {
            path: paths.credentials.clone(),
        });
    }
    crate::engine::local::load(paths)?;
    let store = crate::edge::storage::Secrets::new(Storage::File, paths);
    let renamed = match store.lowercase_names() {
        Ok(renamed) => renamed,
        Err(crate::edge::storage::SwitchError::Store(e)) => return Err(e.into()),
        // The file no longer parses: say why, as a load does; else it kept changing.
        Err(_) => {
            crate::engine::local::load(paths)?;
            return Err(crate::edge::store::StoreError::ChangedMeanwhile {
                path: paths.credentials.clone(),
            }
            .into());
        }
    };
    if !renamed.is_empty() {
        // No rotation is in flight, so the backup of the file before this write, which holds
        // its secrets, is not needed.
        crate::edge::storage::forget_backup(paths);
    }
    Ok(renamed)
}

/// Every check, in the order a user would fix them.
pub async fn run(paths: &Paths) -> Vec<Check> {
    let mut out = Vec::new();
    let config = match crate::engine::local::agent_config(paths) {
        Ok(c) => {
            out.push(check(
                "config",
                Verdict::Pass,
                format!(
                    "{} is valid (or absent: defaults)",
                    paths.agent_config.display()
                ),
            ));
            Some(c)
        }
        Err(e) => {
            out.push(failed("config", e.to_string(), "fix the line it names"));
            None
        }
    };
    let config = config.unwrap_or_default();
    let mut keyring_used = config.global.storage == Storage::Keyring;
    // Keyring profiles whose entry cannot be read, and why.
    let mut unreadable: Vec<(String, String)> = Vec::new();
    match crate::engine::local::load(paths) {
        Ok(local) => {
            out.push(check(
                "files",
                Verdict::Pass,
                format!(
                    "{} and {} read the same in the AWS CLI and the SDKs",
                    paths.credentials.display(),
                    paths.config.display()
                ),
            ));
            for (unseen, at) in local.javascript_warnings(paths) {
                out.push(Check {
                    fix: Some("keyrot-agent doctor --fix".into()),
                    ..check(
                        format!(
                            "profile {}: key names",
                            crate::core::redact::printable(&unseen.profile)
                        ),
                        Verdict::Warn,
                        format!("{at}: {}", unseen.what()),
                    )
                });
            }
            profiles(&mut out, &local, &config, paths).await;
            keyring_used |= local
                .profiles
                .iter()
                .any(|p| matches!(&p.status, Ok(k) if k.storage == Storage::Keyring));
            unreadable.extend(local.profiles.iter().filter_map(|p| match &p.status {
                Err(SkipReason::KeyringUnreadable(e)) => Some((p.name.clone(), e.to_string())),
                _ => None,
            }));
        }
        Err(e) => out.push(failed(
            "files",
            e.to_string(),
            "fix the file and line named above; nothing is rotated until then",
        )),
    }
    out.push(permissions(paths));
    out.push(journal(paths));
    out.extend(login_item());
    out.extend(bus(&config, keyring_used || !unreadable.is_empty(), &unreadable).await);
    out
}

/// Which profiles are rotated, skipped and why; for each rotated key, that it works and that
/// its user may manage its own keys.
async fn profiles(
    out: &mut Vec<Check>,
    local: &crate::engine::local::Local,
    config: &crate::core::config::Config,
    paths: &Paths,
) {
    local.warn_unknown_tables(config);
    let sessions = Sessions::new(
        None,
        false,
        crate::state::mfa::MfaFile::new(paths.mfa_file()),
    );
    let mut seen: Vec<String> = Vec::new();
    for p in &local.profiles {
        let name = format!("profile {}", crate::core::redact::printable(&p.name));
        let key = match &p.status {
            Err(reason) => {
                let problem = reason.is_problem();
                out.push(Check {
                    fix: problem.then(|| "see the reason; until then it is not rotated".into()),
                    ..check(
                        name,
                        if problem {
                            Verdict::Fail
                        } else {
                            Verdict::Pass
                        },
                        format!("skipped: {reason}"),
                    )
                });
                continue;
            }
            Ok(key) => key,
        };
        if !config.manages(&p.name) {
            out.push(check(
                name,
                Verdict::Pass,
                "not managed: the config's [profiles] include/exclude leaves it out",
            ));
            continue;
        }
        if seen.contains(&key.access_key_id) {
            out.push(check(
                name,
                Verdict::Pass,
                format!(
                    "rotated with the profile that holds the same key {}",
                    key.access_key_id
                ),
            ));
            continue;
        }
        seen.push(key.access_key_id.clone());
        let aws = Aws::load(&p.name, RequestCounter::default()).await;
        let pair = key.pair();
        let identity = match aws.identity(&pair).await {
            Ok(id) => id,
            Err(e) => {
                let error = crate::engine::error::Error::from_identity(&p.name, &pair.id, e);
                out.push(failed(
                    name,
                    format!("its key {} does not work: {error}", pair.id),
                    "put a working key in the profile (or check the endpoint and region)",
                ));
                continue;
            }
        };
        out.push(check(
            name.clone(),
            Verdict::Pass,
            format!(
                "rotated: key {} ({}) authenticates as {}, through {}",
                pair.id,
                match key.storage {
                    Storage::File => "in the credentials file",
                    Storage::Keyring => "in the keyring",
                },
                identity.arn,
                aws.endpoint()
            ),
        ));
        let signing = local.signing(&p.name, config, &sessions);
        if let Some(device) = signing.device() {
            out.push(check(
                format!("{name}: MFA"),
                Verdict::Pass,
                format!(
                    "key management needs MFA device {}; {}",
                    device.serial,
                    if device.process.is_some() {
                        "codes come from mfa_process, so the agent rotates it by itself"
                    } else {
                        "codes come from --mfa-code or the terminal; the agent only tells you when it is due"
                    }
                ),
            ));
        }
        let signer = match signing.iam(&aws, &pair, false, &p.name).await {
            Ok((signer, _)) => signer,
            Err(MfaError::NoCode { serial }) => {
                out.push(check(
                    format!("{name}: permissions"),
                    Verdict::Unknown,
                    format!("could not check without an MFA code of {serial}; `keyrot-agent now --profile {} --dry-run --mfa-code CODE` checks them", p.name),
                ));
                continue;
            }
            Err(e) => {
                out.push(failed(
                    format!("{name}: permissions"),
                    e.to_string(),
                    "see above",
                ));
                continue;
            }
        };
        match aws.list_keys(&signer).await {
            Ok(keys) => {
                let manage = match aws.simulate(&signer, &identity.arn, MANAGE).await {
                    Ok(results) => {
                        let denied: Vec<String> = results
                            .iter()
                            .filter(|(_, allowed)| !allowed)
                            .map(|(a, _)| a.clone())
                            .collect();
                        if denied.is_empty() && !results.is_empty() {
                            Ok(())
                        } else {
                            Err(denied)
                        }
                    }
                    Err(e) => {
                        out.push(check(
                            format!("{name}: permissions"),
                            Verdict::Unknown,
                            format!(
                                "{} may list its own keys ({} now); whether it may create, update and delete them could not be checked without changing anything (the policy simulator answered: {})",
                                identity.arn,
                                keys.len(),
                                e.detail()
                            ),
                        ));
                        continue;
                    }
                };
                match manage {
                    Ok(()) => out.push(check(
                        format!("{name}: permissions"),
                        Verdict::Pass,
                        format!(
                            "{} may list, create, update and delete its own keys ({} now)",
                            identity.arn,
                            keys.len()
                        ),
                    )),
                    Err(denied) => out.push(failed(
                        format!("{name}: permissions"),
                        format!("{} may not {}", identity.arn, denied.join(", ")),
                        "attach the self-service policy (README, \"The IAM permissions it needs\")",
                    )),
                }
            }
            Err(e) if e.class == ErrorClass::AccessDenied => out.push(failed(
                format!("{name}: permissions"),
                format!("{} may not list its own keys (iam:ListAccessKeys)", identity.arn),
                "attach the self-service policy (README, \"The IAM permissions it needs\"); if your account requires MFA for it, set mfa_serial for the profile",
            )),
            Err(e) => out.push(check(
                format!("{name}: permissions"),
                Verdict::Unknown,
                format!("could not ask IAM: {}", e.detail()),
            )),
        }
    }
}

/// The credentials file's and the state directory's permissions.
fn permissions(paths: &Paths) -> Check {
    let mut problems = Vec::new();
    if let Some((file, dir)) = store::modes(&paths.credentials) {
        match trust::exposure(file, dir) {
            Exposure::Private => {}
            Exposure::Readable => problems.push(format!(
                "{} can be read by others (mode {file:o}): chmod 600 '{}'",
                paths.credentials.display(),
                paths.credentials.display()
            )),
            Exposure::Writable => problems.push(format!(
                "{} or its directory can be written by others: chmod 600 '{}' and chmod go-w its directory",
                paths.credentials.display(),
                paths.credentials.display()
            )),
        }
    }
    if let Some(mode) = store::dir_mode(&paths.state_dir)
        && mode & 0o077 != 0
    {
        problems.push(format!(
            "the state directory {} is open to others (mode {mode:o}): chmod 700 it",
            paths.state_dir.display()
        ));
    }
    if problems.is_empty() {
        check(
            "permissions",
            Verdict::Pass,
            format!(
                "the credentials file and {} are private",
                paths.state_dir.display()
            ),
        )
    } else {
        failed("permissions", problems.join("; "), "run the commands named")
    }
}

/// Anything in flight in the journal.
fn journal(paths: &Paths) -> Check {
    match crate::state::journal::Journal::new(paths.journal_file()).load() {
        Ok(records) if records.is_empty() => {
            check("journal", Verdict::Pass, "no rotation is in flight")
        }
        Ok(records) => failed(
            "journal",
            format!(
                "{} rotation(s) in flight: {}",
                records.len(),
                records
                    .iter()
                    .map(|r| format!(
                        "{} ({} → {})",
                        r.profiles.join(", "),
                        r.old_key_id,
                        r.new_key_id.as_deref().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "run `keyrot-agent recover` (the files hold working keys meanwhile)",
        ),
        Err(e) => failed("journal", e.to_string(), "see above"),
    }
}

/// The login item: installed, what it starts, and whether the agent runs.
fn login_item() -> Vec<Check> {
    use crate::edge::service::{self, Agent, Context, Kind};
    let ctx = match Context::current() {
        Ok(ctx) => ctx,
        Err(e) => return vec![check("login item", Verdict::Unknown, e.to_string())],
    };
    let status = service::status(&ctx, Kind::detect());
    let mut out = Vec::new();
    let installed: Vec<_> = status.entries.iter().filter(|e| e.installed).collect();
    if installed.is_empty() {
        out.push(failed(
            "login item",
            "none is installed: the agent does not start at login",
            "keyrot-agent service install",
        ));
    } else if !status.warnings.is_empty() {
        out.push(failed(
            "login item",
            status.warnings.join("; "),
            "keyrot-agent service install",
        ));
    } else {
        for e in installed {
            out.push(check(
                "login item",
                Verdict::Pass,
                format!(
                    "{} at {} starts {}",
                    e.kind,
                    e.path.display(),
                    e.exe
                        .as_ref()
                        .map(|x| x.display().to_string())
                        .unwrap_or_default()
                ),
            ));
        }
    }
    out.push(match service::agent(&ctx) {
        Agent::Running { pid } => check(
            "agent",
            Verdict::Pass,
            format!(
                "runs{}",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            ),
        ),
        Agent::NotRunning => failed(
            "agent",
            "is not running: keys are rotated only when you run `keyrot-agent now`",
            "keyrot-agent service install (or start it: systemctl --user start keyrot-agent)",
        ),
    });
    out
}

/// The notification server and the keyring on the session bus.
async fn bus(
    config: &crate::core::config::Config,
    keyring_used: bool,
    unreadable: &[(String, String)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let server = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(crate::edge::desktop::server_name),
    )
    .await;
    out.push(match server {
        Ok(Ok(Ok(name))) => check(
            "notifications",
            Verdict::Pass,
            format!("the notification server {name} is on the session bus"),
        ),
        _ if !config.global.notify => check(
            "notifications",
            Verdict::Pass,
            "turned off in the config (notify = false)",
        ),
        Ok(Ok(Err(e))) => failed(
            "notifications",
            format!("no notification server answers on the session bus ({e})"),
            "run the agent in your desktop session (the login item does), or set notify = false",
        ),
        _ => failed(
            "notifications",
            "the notification server did not answer within 5 s",
            "check your desktop's notification daemon",
        ),
    });
    let probe = tokio::task::spawn_blocking(crate::edge::storage::keyring_available).await;
    out.push(match probe {
        // It answers, but not with every entry keyrot-agent keeps there (a locked collection
        // hides its items).
        Ok(Ok(())) if !unreadable.is_empty() => failed(
            "keyring",
            format!(
                "the Secret Service answers on the session bus, but cannot give the entry of {}",
                unreadable
                    .iter()
                    .map(|(p, why)| format!("profile {} ({why})", crate::core::redact::printable(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "unlock the keyring (a graphical login unlocks the login keyring; after a password change it may keep the old one); if the entry is gone, put the key back in the profile and run keyrot-agent keyring adopt",
        ),
        Ok(Ok(())) => check(
            "keyring",
            Verdict::Pass,
            "the Secret Service answers on the session bus",
        ),
        Ok(Err(e)) if keyring_used => failed("keyring", e.to_string(), "see above"),
        Ok(Err(e)) => check(
            "keyring",
            Verdict::Pass,
            format!("not used (keyring mode would need it: {e})"),
        ),
        Err(e) => check("keyring", Verdict::Unknown, e.to_string()),
    });
    out
}
