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
    pub key_id: String,
    /// Its user, when IAM could be asked.
    pub user_arn: Option<String>,
    pub findings: Vec<Finding>,
}

impl Subject {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.verdict == Verdict::Pass)
    }
}

/// Every long-term key the local profiles hold (a key shared by profiles once), in file order.
pub async fn run(
    paths: &Paths,
    sessions: &std::sync::Arc<Sessions>,
) -> Result<Vec<Subject>, Error> {
    let local = crate::engine::local::load(paths)?;
    let config = crate::engine::local::agent_config(paths)?;
    let mfa = MfaFile::new(paths.mfa_file());
    let mut out: Vec<Subject> = Vec::new();
    for p in &local.profiles {
        let Ok(r) = &p.status else { continue };
        if let Some(s) = out.iter_mut().find(|s| s.key_id == r.access_key_id) {
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
            key_id: key.id.clone(),
            user_arn: asked.as_ref().ok().map(|u| u.user_arn.clone()),
            findings: compliance::evaluate(&p.name, &key.id, &asked, OffsetDateTime::now_utc()),
        });
    }
    Ok(out)
}
