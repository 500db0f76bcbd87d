//! `keyrot-agent run`: the agent loop a login item runs.
//!
//! One instance per user (a lock in the state directory). On start it finishes any interrupted
//! rotation (`recover`). Then, in a loop:
//! - it reads the config and the credentials file;
//! - it learns the keys' creation dates from the cache, asking AWS at most once a day per key;
//! - it asks the schedule policy what is due, and rotates what is due (through `now`).
//!
//! Between rounds it sleeps until the next instant anything changes, waking at least every hour,
//! because laptops sleep and wall-clock time jumps. SIGHUP starts a new round at once.
//! SIGTERM/SIGINT stop it cleanly; a rotation in flight is left to the journal.
//!
//! It makes no AWS call while nothing is due and every cached date is fresh. After a failure it
//! backs off, doubling from a minute up to an hour.
//!
//! Not yet here (issue 4): desktop notifications, watching the files for changes.

use std::time::Duration;

use time::OffsetDateTime;

use crate::cache::Cache;
use crate::config::Config;
use crate::credentials::{FileKind, parse};
use crate::error::Error;
use crate::now::{self, Options};
use crate::paths::Paths;
use crate::profiles::{self, Profile};
use crate::rotation::Selection;
use crate::schedule::{self, KeyAge, Status};
use crate::store::{self, StoreError};

/// How often a cached creation date is checked against AWS.
const REFRESH_EVERY: time::Duration = time::Duration::days(1);
/// The longest sleep between rounds.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// What a round decided about the next one.
struct Round {
    /// When to look again.
    sleep: Duration,
    /// Whether anything failed (for backoff).
    failed: bool,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(paths: &Paths) -> Result<(), Error> {
    let _instance = match store::try_lock(&paths.state_dir.join("agent.lock")) {
        Ok(lock) => lock,
        Err(StoreError::Busy { pid }) => return Err(Error::AgentRunning { pid }),
        Err(e) => return Err(e.into()),
    };
    // A bad config stops the agent at start, with its line; later it keeps the last good one.
    let mut config = crate::config::load(&paths.agent_config)?;
    tracing::info!("keyrot-agent run: started");
    // First, whatever an earlier run left half done.
    let recover_options = Options {
        selection: Selection::All,
        dry_run: false,
        allow_root: false,
        verify_timeout: config.global.verify_timeout,
        progress: false,
    };
    match crate::recover::run(paths, &recover_options).await {
        Ok(report) => {
            for k in &report.keys {
                tracing::warn!(profiles = ?k.profiles, outcome = k.outcome.name(), "finished an interrupted rotation");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not run recovery at start; the next rotation will")
        }
    }
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut backoff = Duration::from_secs(60);
    loop {
        match crate::config::load(&paths.agent_config) {
            Ok(c) => config = c,
            Err(e) => {
                tracing::error!(error = %e, "the config file is invalid; keeping the previous settings")
            }
        }
        let round = round(paths, &config).await;
        let sleep = if round.failed {
            let s = backoff.min(round.sleep);
            backoff = (backoff * 2).min(MAX_SLEEP);
            s
        } else {
            backoff = Duration::from_secs(60);
            round.sleep
        };
        tracing::info!(sleep_s = sleep.as_secs(), "sleeping until the next change");
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = hangup.recv() => tracing::info!("SIGHUP: looking again now"),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("keyrot-agent run: stopped");
    Ok(())
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, Error> {
    tokio::signal::unix::signal(kind).map_err(|e| Error::Internal {
        profile: "-".into(),
        what: format!("cannot handle signals: {e}"),
    })
}

/// One round: learn the dates, rotate what is due, and say when to look again.
async fn round(paths: &Paths, config: &Config) -> Round {
    let options = |selection, verify_timeout| Options {
        selection,
        dry_run: false,
        allow_root: false,
        verify_timeout,
        progress: false,
    };
    let profiles = match read_profiles(paths) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the credentials; trying again later");
            return Round {
                sleep: MAX_SLEEP,
                failed: true,
            };
        }
    };
    let cache = Cache::new(&paths.state_dir);
    // Only managed keys whose cached date is missing or more than a day old are asked about.
    let now_utc = OffsetDateTime::now_utc();
    let mut failed = !crate::cache::refresh(&profiles, &cache, |profile, cached| {
        config.manages(profile)
            && !cached
                .is_some_and(|d| d.created.is_some() && now_utc - d.checked_at < REFRESH_EVERY)
    })
    .await;
    let keys: Vec<KeyAge> = {
        let dates = cache.load();
        profiles
            .iter()
            .filter_map(|p| {
                let r = p.status.as_ref().ok()?;
                let created = dates.get(&r.access_key_id)?.created?;
                Some(KeyAge {
                    profile: p.name.clone(),
                    key_id: r.access_key_id.clone(),
                    created,
                })
            })
            .collect()
    };
    let plan = schedule::evaluate(&keys, config, now_utc);
    let mut due: Vec<String> = Vec::new();
    for d in &plan.decisions {
        match d.status {
            Status::Due if d.auto_rotate => due.push(d.profile.clone()),
            Status::Due => {
                tracing::warn!(profile = %d.profile, "key is due but auto_rotate is off")
            }
            Status::Warn => {
                tracing::info!(profile = %d.profile, due_at = %d.due_at, "key is due soon")
            }
            Status::Ok => {}
        }
    }
    let mut rotated = false;
    if !due.is_empty() {
        let timeout = due
            .iter()
            .map(|p| config.for_profile(p).verify_timeout)
            .max()
            .unwrap_or(Duration::from_secs(60));
        match now::run(paths, &options(Selection::Named(due.clone()), timeout)).await {
            Ok(report) => {
                for k in &report.keys {
                    match &k.error {
                        None => {
                            tracing::info!(profiles = ?k.profiles, new = ?k.new_key_id, "rotated")
                        }
                        Some(e) => {
                            failed = true;
                            tracing::error!(profiles = ?k.profiles, error = %e, "rotation failed");
                        }
                    }
                }
                rotated = report.keys.iter().any(|k| k.error.is_none());
            }
            Err(e) => {
                failed = true;
                tracing::error!(error = %e, "could not rotate");
            }
        }
    }
    // After a rotation the dates changed: look again at once to compute the next wake-up.
    let sleep = if rotated {
        Duration::ZERO
    } else {
        plan.next_change
            .map(|t| (t - now_utc).try_into().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
    };
    Round { sleep, failed }
}

fn read_profiles(paths: &Paths) -> Result<Vec<Profile>, Error> {
    let bytes = store::read_settled(&paths.credentials)?;
    let creds = parse(&bytes, FileKind::Credentials).map_err(|problems| Error::InvalidFile {
        path: paths.credentials.clone(),
        problems,
    })?;
    let config = match store::read_optional(&paths.config)? {
        Some(b) => Some(
            parse(&b, FileKind::Config).map_err(|problems| Error::InvalidFile {
                path: paths.config.clone(),
                problems,
            })?,
        ),
        None => None,
    };
    Ok(profiles::classify(&creds, config.as_ref()))
}
