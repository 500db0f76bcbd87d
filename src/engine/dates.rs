//! What keyrot-agent learns from AWS about keys without changing anything: their creation dates
//! and users, for the schedule and `status`.

use time::OffsetDateTime;

use crate::core::keys::KeyPair;
use crate::core::profiles::Profile;
use crate::edge::aws::{Aws, RequestCounter};
use crate::state::cache::{Cache, KeyDates};

/// Asks AWS (GetCallerIdentity and ListAccessKeys, signed with each key itself) for the
/// creation date of every rotatable key for which `wanted(profile, cached)` says so, and records
/// them. Returns false if any of them could not be learned; the cache keeps what it had for those.
pub async fn refresh(
    profiles: &[Profile],
    cache: &Cache,
    wanted: impl Fn(&str, Option<&KeyDates>) -> bool,
) -> bool {
    let known = cache.load();
    let mut ok = true;
    let mut entries = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for p in profiles {
        let Ok(r) = &p.status else { continue };
        if seen.contains(&r.access_key_id) || !wanted(&p.name, known.get(&r.access_key_id)) {
            continue;
        }
        seen.push(r.access_key_id.clone());
        let aws = Aws::load(&p.name, RequestCounter::default()).await;
        let key = KeyPair {
            id: r.access_key_id.clone(),
            secret: r.secret.clone(),
        };
        let result = async {
            let identity = aws.identity(&key).await?;
            let keys = aws
                .list_keys(&crate::engine::signing::Signing::OwnKeys.iam(&key, false).0)
                .await?;
            Ok::<_, crate::edge::aws::AwsError>((identity, keys))
        }
        .await;
        match result {
            Ok((identity, keys)) => entries.push((
                key.id.clone(),
                KeyDates {
                    created: keys.iter().find(|k| k.id == key.id).and_then(|k| k.created),
                    user_arn: identity.arn,
                    checked_at: OffsetDateTime::now_utc(),
                },
            )),
            Err(e) => {
                ok = false;
                tracing::warn!(profile = %p.name, error = %e, "could not learn the key's creation date");
            }
        }
    }
    if !entries.is_empty() {
        cache.update(&entries, &[]);
    }
    ok
}
