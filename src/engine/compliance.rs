//! `status --compliance`: asks IAM about each local key's user (read-only: GetCallerIdentity and
//! ListAccessKeys, signed as key management is) and holds each key against the controls of
//! `core::compliance`.

use time::OffsetDateTime;

use crate::core::compliance::{self, Finding, Verdict};
use crate::core::rotation::Selection;
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

/// Every long-term key the local profiles hold (a key shared by profiles once, as a rotation
/// takes it), and every profile whose key cannot be checked as it is
/// (`SkipReason::is_problem`), as not checked: a key left out would count as compliant. In the
/// order of each one's first profile in the files.
pub async fn run(
    paths: &Paths,
    sessions: &std::sync::Arc<Sessions>,
) -> Result<Vec<Subject>, Error> {
    let local = crate::engine::local::load(paths)?;
    let config = crate::engine::local::agent_config(paths)?;
    let mfa = MfaFile::new(paths.mfa_file());
    let now = OffsetDateTime::now_utc();
    let selected =
        crate::core::rotation::select(&local.profiles, &Selection::All).map_err(Error::Select)?;
    let mut out: Vec<Subject> = Vec::new();
    for target in &selected.targets {
        let key = target.pair();
        let signing = local.signing(&target.primary, &config, sessions);
        let asked = crate::engine::dates::user_keys(&target.primary, &key, &signing, &mfa).await;
        out.push(Subject {
            profiles: target.profiles.clone(),
            key_id: Some(key.id.clone()),
            user_arn: asked.as_ref().ok().map(|u| u.user_arn.clone()),
            findings: compliance::evaluate(&target.primary, &key.id, &asked, now),
        });
    }
    for (profile, reason) in selected.skipped.iter().filter(|(_, r)| r.is_problem()) {
        out.push(Subject {
            profiles: vec![profile.clone()],
            key_id: None,
            user_arn: None,
            findings: compliance::evaluate(
                profile,
                "",
                &Err(format!("the profile is skipped: {reason}")),
                now,
            ),
        });
    }
    let position = |name: &str| local.profiles.iter().position(|p| p.name == name);
    out.sort_by_key(|s| s.profiles.first().and_then(|p| position(p)));
    Ok(out)
}
