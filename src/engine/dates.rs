//! What keyrot-agent learns from AWS about keys without changing anything: their creation dates
//! and users, for the schedule and `status`.

use time::OffsetDateTime;

use crate::core::compliance::UserKeys;
use crate::core::keys::{ErrorClass, Identity, KeyInfo, KeyPair};
use crate::core::profiles::Profile;
use crate::edge::aws::{Aws, AwsError, RequestCounter};
use crate::engine::error::Error;
use crate::engine::signing::{MfaError, Signing};
use crate::state::cache::{Cache, KeyDates};
use crate::state::mfa::MfaFile;

/// Why a key's date could not be learned.
enum NotLearned {
    /// GetCallerIdentity failed: the key itself.
    Key(AwsError),
    /// The key works (as this ARN), and ListAccessKeys failed.
    Aws(String, AwsError),
    /// The key's user (this ARN) needs MFA for ListAccessKeys, and no code can be had now: not
    /// a failure to retry soon (`status` and the agent say "needs MFA"). The check is recorded
    /// so that it is made again only a day later.
    NeedsMfa(String),
    Mfa(MfaError),
}

/// Asks AWS (GetCallerIdentity, and ListAccessKeys signed as `signing` says: the key itself, or
/// an MFA session) for the creation date of every rotatable key for which
/// `wanted(profile, cached)` says so, and records them. An explicit deny without a device is
/// remembered in `mfa` (the user needs MFA). Returns what could not be learned for another
/// reason, by profile (the cache keeps what it had for those): a key IAM does not know, or a
/// user that may not list its keys, is a problem the user must solve, and the agent tells it.
pub async fn refresh(
    profiles: &[Profile],
    cache: &Cache,
    mfa: &MfaFile,
    signing: impl Fn(&str) -> Signing,
    wanted: impl Fn(&str, Option<&KeyDates>) -> bool,
) -> Vec<(String, Error)> {
    let known = cache.load();
    let mut failed = Vec::new();
    let mut entries = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for p in profiles {
        let Ok(r) = &p.status else { continue };
        if seen.contains(&r.access_key_id) || !wanted(&p.name, known.get(&r.access_key_id)) {
            continue;
        }
        seen.push(r.access_key_id.clone());
        let aws = Aws::load(&p.name, RequestCounter::default()).await;
        let key = r.pair();
        let signing = signing(&p.name);
        let result = ask(&aws, &key, &signing, &p.name, mfa).await;
        match result {
            Ok((identity, keys)) => entries.push((
                key.id.clone(),
                KeyDates {
                    created: keys.iter().find(|k| k.id == key.id).and_then(|k| k.created),
                    user_arn: identity.arn,
                    checked_at: OffsetDateTime::now_utc(),
                    description: None,
                },
            )),
            Err(NotLearned::NeedsMfa(user_arn)) => {
                tracing::info!(profile = %p.name, "the key's creation date needs an MFA session, and no code can be had now");
                entries.push((
                    key.id.clone(),
                    KeyDates {
                        created: known.get(&key.id).and_then(|d| d.created),
                        user_arn,
                        checked_at: OffsetDateTime::now_utc(),
                        description: None,
                    },
                ));
            }
            Err(NotLearned::Key(e)) => {
                tracing::warn!(profile = %p.name, error = %e, "could not learn the key's creation date");
                failed.push((p.name.clone(), Error::from_identity(&p.name, &key.id, e)));
            }
            Err(NotLearned::Aws(arn, e)) => {
                tracing::warn!(profile = %p.name, error = %e, "could not learn the key's creation date");
                failed.push((p.name.clone(), Error::from_aws(&p.name, &arn, e)));
            }
            Err(NotLearned::Mfa(e)) => {
                tracing::warn!(profile = %p.name, error = %e, "could not learn the key's creation date");
                let error = Error::from_mfa(
                    &p.name,
                    e,
                    false,
                    format!("keyrot-agent now --profile {} --mfa-code CODE", p.name),
                );
                failed.push((p.name.clone(), error));
            }
        }
    }
    if !entries.is_empty() {
        cache.update(&entries, &[]);
    }
    failed
}

/// What IAM says about `key`'s user: GetCallerIdentity with the key, then ListAccessKeys signed
/// as `signing` says. An explicit deny without a device is remembered in `mfa` (the user needs
/// MFA); a listing without a device records that it does not.
async fn ask(
    aws: &Aws,
    key: &KeyPair,
    signing: &Signing,
    profile: &str,
    mfa: &MfaFile,
) -> Result<(Identity, Vec<KeyInfo>), NotLearned> {
    let identity = aws.identity(key).await.map_err(NotLearned::Key)?;
    let (signer, _) = match signing.iam(aws, key, false, profile).await {
        Ok(s) => s,
        Err(MfaError::NoCode { .. }) => return Err(NotLearned::NeedsMfa(identity.arn)),
        Err(e) => return Err(NotLearned::Mfa(e)),
    };
    let keys = match aws.list_keys(&signer).await {
        Ok(keys) => keys,
        Err(e)
            if signing.device().is_none()
                && e.class == ErrorClass::AccessDenied
                && e.message
                    .as_deref()
                    .is_some_and(crate::core::mfa::is_explicit_deny) =>
        {
            mfa.learned(&identity.arn, true, OffsetDateTime::now_utc());
            return Err(NotLearned::NeedsMfa(identity.arn));
        }
        Err(e) => return Err(NotLearned::Aws(identity.arn, e)),
    };
    if signing.device().is_none() {
        mfa.learned(&identity.arn, false, OffsetDateTime::now_utc());
    }
    Ok((identity, keys))
}

/// For `status --compliance`: every key of `profile`'s user as IAM lists it (status and
/// creation dates), or why IAM could not be asked, in words.
pub async fn user_keys(
    profile: &str,
    key: &KeyPair,
    signing: &Signing,
    mfa: &MfaFile,
) -> Result<UserKeys, String> {
    let aws = Aws::load(profile, RequestCounter::default()).await;
    match ask(&aws, key, signing, profile, mfa).await {
        Ok((identity, keys)) => Ok(UserKeys {
            user_arn: identity.arn,
            keys,
        }),
        Err(NotLearned::NeedsMfa(_)) => Err(format!(
            "its user needs MFA to list its keys; run this at a terminal (it asks for a code of the profile's mfa_serial), or set mfa_serial for [{profile}]"
        )),
        Err(NotLearned::Key(e)) => Err(Error::from_identity(profile, &key.id, e).to_string()),
        Err(NotLearned::Aws(arn, e)) => Err(Error::from_aws(profile, &arn, e).to_string()),
        Err(NotLearned::Mfa(e)) => Err(e.to_string()),
    }
}
