//! Keyring mode's commands: `keyring adopt` moves a profile's key pair into the OS keyring and
//! leaves `credential_process = <this program> credential-process --profile P` in its place;
//! `keyring release` puts the pair back into the file; `credential-process` serves it to every AWS
//! client.
//!
//! Both moves run under the same lock, after recovery, with the same atomic write and backup as a
//! rotation, and each is proven before it is kept: after `adopt` the profile is read back through
//! aws-config (which runs the credential process) and must answer STS with the same key; after
//! `release` the static keys are read back the same way. A failed proof puts things back as they
//! were. The keyring entry is written before the file changes, and removed only after. After
//! `adopt`, keyrot-agent's backup of the file no longer holds the secrets that moved.

use crate::core::credentials::{self, FileKind, ParsedFile};
use crate::core::keys::{KeyringError, Storage};
use crate::core::rotation::Selection;
use crate::edge::aws::{Aws, RequestCounter};
use std::path::Path;

use crate::edge::paths::Paths;
use crate::edge::storage::{self, MoveError, Secrets, SwitchError};
use crate::edge::store;
use crate::engine::error::Error;

/// What moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub profiles: Vec<String>,
    pub key_id: String,
}

fn parse(paths: &Paths, bytes: &[u8]) -> Result<ParsedFile, Error> {
    credentials::parse(bytes, FileKind::Credentials).map_err(|problems| Error::InvalidFile {
        path: paths.credentials.clone(),
        problems,
    })
}

fn changed(paths: &Paths, profile: &str) -> Error {
    Error::ChangedMeanwhile {
        profile: profile.to_string(),
        path: paths.credentials.clone(),
        new_key_id: String::new(),
    }
}

/// `keyring adopt`: the selected profiles' pairs move into the keyring, their files' lines
/// become `exe`'s `credential_process`, and each is proven through the AWS SDK. The caller holds
/// the lock and has finished what a crash left.
pub async fn adopt(
    paths: &Paths,
    selection: &Selection,
    exe: &Path,
    counter: &RequestCounter,
) -> Result<Vec<Moved>, Error> {
    // Profiles already in the keyring are not adopted again: they count as the files say.
    let local = crate::engine::local::load(paths)?;
    let selected =
        crate::core::rotation::select(&local.classified, selection).map_err(Error::Select)?;
    let mut moved = Vec::new();
    let file = Secrets::new(Storage::File, paths);
    for target in selected.targets {
        let pair = target.pair();
        // 1 and 2: into the keyring, one entry per profile, each read back; then the file:
        // every profile that held the pair gets the credential process.
        let commands: Vec<(String, String)> = target
            .profiles
            .iter()
            .map(|p| {
                crate::core::profiles::credential_process_command(exe, p)
                    .map(|c| (p.clone(), c))
                    .map_err(|e| Error::Unrepresentable {
                        profile: p.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        file.move_into_keyring(&target.profiles, &pair, &commands)
            .map_err(|e| match e {
                MoveError::ReadBack => {
                    keyring_error(&target.primary, KeyringError::Other(e.to_string()))
                }
                MoveError::Switch(e) => switch_error(paths, &target.primary, e),
            })?;
        // 3. Proof: aws-config runs the credential process and the key answers STS.
        let aws = Aws::load(&target.primary, counter.clone()).await;
        let proof = aws
            .identity_from_disk(&target.primary, &paths.credentials, &paths.config)
            .await;
        match proof {
            Ok((id, _)) if id == pair.id => moved.push(Moved {
                profiles: target.profiles.clone(),
                key_id: pair.id.clone(),
            }),
            other => {
                let why = match other {
                    Ok((id, _)) => format!("it read {id}"),
                    Err(e) => e.to_string(),
                };
                file.move_back_to_file(&target.profiles, &pair);
                return Err(Error::NotProven {
                    profile: target.primary.clone(),
                    what: format!(
                        "reading the profile back through credential_process failed ({why}); the static keys were put back and the keyring entry removed"
                    ),
                });
            }
        }
    }
    // The backup holds the file as it was before, with the secrets that just moved out of it.
    crate::edge::storage::forget_backup(paths);
    Ok(moved)
}

/// The error of a move that wrote nothing.
fn switch_error(paths: &Paths, profile: &str, e: SwitchError) -> Error {
    match e {
        SwitchError::Changed => changed(paths, profile),
        SwitchError::Store(e) => e.into(),
        SwitchError::Keyring(e) => keyring_error(profile, e),
    }
}

fn keyring_error(profile: &str, e: KeyringError) -> Error {
    Error::Keyring {
        profile: profile.to_string(),
        source: e,
    }
}

/// `keyring release`: the key pair goes back into the file, proven, then out of the keyring.
/// The caller holds the lock and has finished what a crash left.
pub async fn release(
    paths: &Paths,
    profile: &str,
    counter: &RequestCounter,
) -> Result<Moved, Error> {
    let bytes = store::read_settled(&paths.credentials)?;
    let creds = parse(paths, &bytes)?;
    let ours = creds
        .get(profile, credentials::CREDENTIAL_PROCESS)
        .is_some_and(crate::core::profiles::is_ours);
    if !ours {
        return Err(Error::NothingToRelease {
            profile: profile.to_string(),
        });
    }
    let pair = storage::keyring_pair(profile).map_err(|e| keyring_error(profile, e))?;
    let profiles = vec![profile.to_string()];
    Secrets::new(Storage::File, paths)
        .release_to_file(profile, &pair)
        .map_err(|e| switch_error(paths, profile, e))?;
    let aws = Aws::load(profile, counter.clone()).await;
    match aws
        .identity_from_disk(profile, &paths.credentials, &paths.config)
        .await
    {
        Ok((id, _)) if id == pair.id => {}
        other => {
            let why = match other {
                Ok((id, _)) => format!("it read {id}"),
                Err(e) => e.to_string(),
            };
            // The keyring entry stays: the key is in both places, and the file's copy is what
            // clients read now.
            return Err(Error::NotProven {
                profile: profile.to_string(),
                what: format!(
                    "the keys are back in the file, but reading them back failed ({why}); the keyring entry is kept"
                ),
            });
        }
    }
    storage::forget_entries(&profiles);
    Ok(Moved {
        profiles,
        key_id: pair.id,
    })
}
