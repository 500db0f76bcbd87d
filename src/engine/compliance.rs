//! `status --compliance`: asks IAM about each local key's user (read-only: GetCallerIdentity and
//! ListAccessKeys, signed as key management is) and holds each key against the controls of
//! `core::compliance`.

use time::OffsetDateTime;

use crate::core::compliance::{self, Finding, Verdict};
use crate::core::keys::KeyPair;
use crate::edge::paths::Paths;
use crate::engine::error::Error;
use crate::engine::signing::Sessions;
use crate::state::mfa::MfaFile;

/// One local key and what the controls found.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The profiles that hold the key, in file order.
    pub profiles: Vec<String>,
    /// `None` for a profile whose key keyrot-agent cannot read (a keyring entry it cannot get,
    /// half a key pair): it is listed as not checked, never left out.
    pub key_id: Option<String>,
    /// Its user, when IAM could be asked.
    pub user_arn: Option<String>,
    pub findings: Vec<Finding>,
}

impl Subject {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.verdict == Verdict::Pass)
    }
}

/// Every long-term key the local profiles hold (a key shared by profiles once), in file order,
/// and every profile whose key cannot be checked as it is (`SkipReason::is_problem`), as not
/// checked: a key left out would count as compliant.
pub async fn run(
    paths: &Paths,
    sessions: &std::sync::Arc<Sessions>,
) -> Result<Vec<Subject>, Error> {
    let local = crate::engine::local::load(paths)?;
    let config = crate::engine::local::agent_config(paths)?;
    let mfa = MfaFile::new(paths.mfa_file());
    let mut out: Vec<Subject> = Vec::new();
    for p in &local.profiles {
        let r = match &p.status {
            Ok(r) => r,
            Err(reason) if reason.is_problem() => {
                out.push(Subject {
                    profiles: vec![p.name.clone()],
                    key_id: None,
                    user_arn: None,
                    findings: compliance::evaluate(
                        &p.name,
                        "",
                        &Err(format!("the profile is skipped: {reason}")),
                        OffsetDateTime::now_utc(),
                    ),
                });
                continue;
            }
            Err(_) => continue,
        };
        if let Some(s) = out
            .iter_mut()
            .find(|s| s.key_id.as_deref() == Some(r.access_key_id.as_str()))
        {
            s.profiles.push(p.name.clone());
            continue;
        }
        let key = KeyPair {
            id: r.access_key_id.clone(),
            secret: r.secret.clone(),
        };
        let signing = local.signing(&p.name, &config, sessions);
        let asked = crate::engine::dates::user_keys(&p.name, &key, &signing, &mfa).await;
        out.push(Subject {
            profiles: vec![p.name.clone()],
            key_id: Some(key.id.clone()),
            user_arn: asked.as_ref().ok().map(|u| u.user_arn.clone()),
            findings: compliance::evaluate(&p.name, &key.id, &asked, OffsetDateTime::now_utc()),
        });
    }
    Ok(out)
}
