//! `keyrot-agent run`: the agent loop a login item runs.
//!
//! One instance per user (a lock in the state directory). On start it finishes any interrupted
//! rotation (`recover`). Then, in a loop:
//! - it reads the config and the credentials file;
//! - it learns the keys' creation dates from the cache, asking AWS at most once a day per key;
//! - it asks the schedule policy what is due, and rotates what is due (through `now`).
//!
//! Between rounds it sleeps until the next instant anything changes, waking at least every hour,
//! because laptops sleep and wall-clock time jumps. A change to the credentials file, the AWS
//! config or its own config (`watch`), or SIGHUP, starts a new round at once.
//! SIGTERM/SIGINT stop it cleanly; a rotation in flight is left to the journal.
//!
//! It makes no AWS call while nothing is due and every cached date is fresh. After a failure it
//! backs off, doubling from a minute up to an hour.
//!
//! It tells the user what matters on the desktop (`notices`): a key entering its warn window, a
//! rotation done or failed, a due key it may not rotate, a problem that stops it. Each problem
//! once, not once per retry.

use std::time::Duration;

use time::OffsetDateTime;

use crate::commands::cli::RunArgs;
use crate::commands::exit;
use crate::commands::now::{self, Options};
use crate::core::config::Config;

use crate::core::keys::Storage;
use crate::core::notices::Notice;
use crate::core::profiles::Profile;
use crate::core::rotation::Selection;
use crate::core::schedule::{self, KeyAge, Status};
use crate::edge::paths::Paths;
use crate::edge::store::{self, StoreError};
use crate::engine::error::Error;
use crate::engine::notify::Notifier;
use crate::engine::signing::Sessions;
use crate::state::cache::Cache;
use crate::state::mfa::MfaFile;

/// How often a cached creation date is checked against AWS.
const REFRESH_EVERY: time::Duration = time::Duration::days(1);
/// The longest sleep between rounds.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// How long to let a burst of file changes settle before looking.
const SETTLE: Duration = Duration::from_millis(300);

/// What a round decided about the next one.
struct Round {
    /// When to look again.
    sleep: Duration,
    /// Whether anything failed (for backoff).
    failed: bool,
}

/// How `run` was asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Desktop notifications (`--no-notify` turns them off; the config can too).
    pub notify: bool,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(paths: &Paths, options: &RunOptions) -> Result<(), Error> {
    let _instance = match store::try_lock(&paths.agent_lock()) {
        Ok(lock) => lock,
        Err(StoreError::Busy { pid }) => return Err(Error::AgentRunning { pid }),
        Err(e) => return Err(e.into()),
    };
    // A bad config stops the agent at start, with its line; later it keeps the last good one.
    let mut config = crate::engine::local::agent_config(paths)?;
    tracing::info!("keyrot-agent run: started");
    say(&format!(
        "keyrot-agent run: started (pid {}); watching {} (and the config files) for keys that come due",
        std::process::id(),
        paths.credentials.display()
    ));
    // First, whatever an earlier run left half done.
    let recover_options = crate::engine::Options::unattended(config.global.verify_timeout);
    let mut notifier = Notifier::new(paths.notified_file(), options.notify);
    // Signals are ours from here on. A stop request interrupts whatever is going on: a rotation
    // cut short is exactly a crash at an await point, which the journal is made for.
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let recovered = tokio::select! {
        r = crate::commands::recover::run(paths, &recover_options) => r,
        _ = terminate.recv() => {
            stopped();
            return Ok(());
        }
        _ = interrupt.recv() => {
            stopped();
            return Ok(());
        }
    };
    match recovered {
        Ok(report) => {
            for k in &report.keys {
                tracing::warn!(profiles = ?k.profiles, outcome = k.outcome.name(), "finished an interrupted rotation");
                if let Some(n) = rotation_notice(k) {
                    let wanted = k.profiles.iter().any(|p| config.for_profile(p).notify);
                    notifier.notify(n, wanted, OffsetDateTime::now_utc()).await;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not run recovery at start; the next rotation will")
        }
    }
    let (changed_tx, mut changed) = tokio::sync::mpsc::unbounded_channel();
    let watched = [
        paths.credentials.clone(),
        paths.config.clone(),
        paths.agent_config.clone(),
    ];
    let _watcher = crate::edge::watch::start(&watched, changed_tx);
    let mut backoff = Duration::from_secs(60);
    'rounds: loop {
        let mut seen = crate::edge::watch::Seen::now(&watched);
        let mut problems = Vec::new();
        match crate::engine::local::agent_config(paths) {
            Ok(c) => config = c,
            Err(e) => {
                tracing::error!(error = %e, "the config file is invalid; keeping the previous settings");
                problems.push(Notice::Problem {
                    class: "config".into(),
                    reason: e.to_string(),
                    fix: "Fix that line; until then keyrot-agent keeps its previous settings."
                        .into(),
                });
            }
        }
        let round = tokio::select! {
            r = round(paths, &config, &mut notifier, &mut problems) => r,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let classes: Vec<String> = problems
            .iter()
            .filter_map(|n| match n {
                Notice::Problem { class, .. } => Some(class.clone()),
                _ => None,
            })
            .collect();
        notifier.problems_now(&classes);
        for n in problems {
            notifier
                .notify(n, config.global.notify, OffsetDateTime::now_utc())
                .await;
        }
        let sleep = if round.failed {
            let s = backoff.min(round.sleep);
            backoff = (backoff * 2).min(MAX_SLEEP);
            s
        } else {
            backoff = Duration::from_secs(60);
            round.sleep
        };
        tracing::info!(sleep_s = sleep.as_secs(), "sleeping until the next change");
        say(&format!(
            "next look {}, or as soon as a file changes",
            when(OffsetDateTime::now_utc() + sleep)
        ));
        // The round's own writes (a rotation, a rollback) are not a reason to look again.
        seen.add_own_writes();
        let wake = tokio::time::Instant::now() + sleep;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: looking again now");
                    break;
                }
                Some(()) = changed.recv() => {
                    // Let a burst of writes settle, then look once.
                    tokio::time::sleep(SETTLE).await;
                    while changed.try_recv().is_ok() {}
                    if seen.changed() {
                        tracing::info!("a watched file changed: looking again now");
                        break;
                    }
                    tracing::debug!("only keyrot-agent's own writes changed the files");
                }
                _ = terminate.recv() => break 'rounds,
                _ = interrupt.recv() => break 'rounds,
            }
        }
    }
    stopped();
    Ok(())
}

fn stopped() {
    tracing::info!("keyrot-agent run: stopped");
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, Error> {
    tokio::signal::unix::signal(kind).map_err(|e| Error::Internal {
        profile: "-".into(),
        what: format!("cannot handle signals: {e}"),
    })
}

/// What to tell the user about one key's rotation.
/// One line on standard output for whoever watches the foreground agent (or its journal): it
/// started, each rotation or failure, when it looks next. The log lines are for `-v`.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", crate::core::redact::for_terminal(line));
    let _ = out.flush();
}

/// An instant, as the agent's lines say it: local time is not known here, so UTC.
fn when(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "at [year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_default()
}

fn rotation_notice(k: &crate::engine::outcome::KeyReport) -> Option<Notice> {
    use crate::engine::outcome::Outcome;
    match (&k.error, k.outcome) {
        (None, Outcome::Rotated) => Some(Notice::Rotated {
            profiles: k.profiles.clone(),
            new_key_id: k.new_key_id.clone().unwrap_or_default(),
            old_key_id: k.old_key_id.clone(),
            warnings: k.warnings.clone(),
        }),
        (Some(e), outcome) => Some(Notice::Failed {
            profiles: k.profiles.clone(),
            class: exit::kind(e).to_string(),
            reason: e.to_string(),
            command: if outcome == Outcome::Interrupted {
                "keyrot-agent recover".to_string()
            } else {
                format!(
                    "keyrot-agent now --profile {}",
                    k.profiles.first().map(String::as_str).unwrap_or("default")
                )
            },
        }),
        _ => None,
    }
}

/// One round: learn the dates, rotate what is due, tell the user, and say when to look again.
/// Agent-wide problems go to `problems`.
async fn round(
    paths: &Paths,
    config: &Config,
    notifier: &mut Notifier,
    problems: &mut Vec<Notice>,
) -> Round {
    let local = match read_profiles_telling(paths, problems) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the credentials; trying again later");
            problems.push(Notice::Problem {
                class: exit::kind(&e).to_string(),
                reason: e.to_string(),
                fix: "keyrot-agent looks again when the file changes.".into(),
            });
            return Round {
                sleep: MAX_SLEEP,
                failed: true,
            };
        }
    };
    // storage = "keyring": the agent moves those profiles' keys into the keyring itself.
    let to_adopt = wanted_in_keyring(&local.profiles, config);
    let adopt_failed = !to_adopt.is_empty() && !adopt(paths, to_adopt, problems).await;
    let local = read_profiles(paths).unwrap_or(local);
    let profiles = &local.profiles;
    // The round's MFA sessions: codes only from mfa_process (the agent cannot prompt).
    let mfa = MfaFile::new(paths.mfa_file());
    let sessions = Sessions::new(None, false, mfa.clone());
    let signing = |p: &str| local.signing(p, config, &sessions);
    let grace = crate::state::grace::GraceFile::new(paths.grace_file());
    for key_id in settle_if_due(paths, &grace, signing).await.reactivated {
        let n = Notice::Reactivated { key_id };
        notifier
            .notify(n, config.global.notify, OffsetDateTime::now_utc())
            .await;
    }
    // A deletion that is overdue could not be done now (offline?): retry with the backoff.
    let next_deletion = grace.next_deletion();
    let deletion_stuck = next_deletion.is_some_and(|t| t <= OffsetDateTime::now_utc());
    let next_deletion = next_deletion.filter(|_| !deletion_stuck);
    // Only managed keys whose cached date is missing or more than a day old are asked about.
    let now_utc = OffsetDateTime::now_utc();
    let cache = Cache::new(paths.key_cache_file());
    // A key whose user needs MFA, without a code to be had, is looked at once a day.
    let not_learned =
        crate::engine::dates::refresh(profiles, &cache, &mfa, signing, |profile, cached| {
            config.manages(profile)
                && !cached.is_some_and(|d| {
                    (d.created.is_some() || mfa.needs_mfa(&d.user_arn))
                        && now_utc - d.checked_at < REFRESH_EVERY
                })
        })
        .await;
    let refreshed = not_learned.is_empty();
    // A key whose date cannot be learned is never due: its problem (a missing permission, a key
    // IAM does not take) is told once, and `status` shows it, instead of a warning every round.
    for (profile, e) in &not_learned {
        if matches!(
            e,
            Error::Unreachable { .. } | Error::Throttled { .. } | Error::Interrupted { .. }
        ) {
            // Offline or busy: retried on the backoff, not a problem to tell.
            continue;
        }
        crate::commands::run::record_failure(paths, profile, e);
        let n = Notice::Failed {
            profiles: vec![profile.clone()],
            class: exit::kind(e).to_string(),
            reason: e.to_string(),
            command: format!("keyrot-agent now --profile {profile}"),
        };
        notifier
            .notify(n, config.for_profile(profile).notify, now_utc)
            .await;
    }
    // Keys brought back by `undo` are left alone until the user rotates them.
    let dates = cache.load();
    let keys = ages(profiles, &dates, &grace.held());
    let plan = schedule::evaluate(&keys, config, now_utc);
    let due = tell_schedule(&plan, &keys, config, notifier, now_utc).await;
    // Keys that need an MFA code the agent cannot get: told, not tried.
    let (due, blocked) = split_mfa_blocked(&local, config, &dates, &mfa, due);
    for n in blocked {
        let wanted = n.profiles().iter().any(|p| config.for_profile(p).notify);
        notifier.notify(n, wanted, now_utc).await;
    }
    let (rotated, rotation_failed) =
        rotate_due(paths, config, due, sessions, notifier, problems).await;
    Round {
        sleep: next_sleep(rotated, [plan.next_change, next_deletion], now_utc),
        failed: !refreshed || rotation_failed || deletion_stuck || adopt_failed,
    }
}

/// Splits the `due` profiles into those the agent can rotate and notices for the others: keys
/// whose management needs MFA (a device is set, or IAM said so) and for which no `mfa_process`
/// can give a code. A managed key of that kind whose age is unknown is told about too.
fn split_mfa_blocked(
    local: &crate::engine::local::Local,
    config: &Config,
    dates: &std::collections::BTreeMap<String, crate::state::cache::KeyDates>,
    mfa: &MfaFile,
    due: Vec<String>,
) -> (Vec<String>, Vec<Notice>) {
    let mut notices = Vec::new();
    let mut rotate = Vec::new();
    let mut seen = Vec::new();
    for p in &local.profiles {
        let Ok(r) = &p.status else { continue };
        if !config.manages(&p.name) || seen.contains(&r.access_key_id) {
            continue;
        }
        seen.push(r.access_key_id.clone());
        let device = local.mfa_device(&p.name, config);
        let known = dates.get(&r.access_key_id);
        let needs = device.is_some() || known.is_some_and(|d| mfa.needs_mfa(&d.user_arn));
        let by_itself = device.as_ref().is_some_and(|d| d.process.is_some());
        let is_due = due.contains(&p.name);
        if !needs || by_itself {
            continue;
        }
        let age_unknown = known.and_then(|d| d.created).is_none();
        if is_due || age_unknown {
            notices.push(Notice::NeedsMfa {
                profile: p.name.clone(),
                due: is_due,
                device_set: device.is_some(),
            });
        }
    }
    for p in due {
        if !notices
            .iter()
            .any(|n| matches!(n, Notice::NeedsMfa { profile, .. } if *profile == p))
        {
            rotate.push(p);
        }
    }
    (rotate, notices)
}

/// The managed profiles whose config wants them in the keyring and that are still in the file.
fn wanted_in_keyring(profiles: &[Profile], config: &Config) -> Vec<String> {
    profiles
        .iter()
        .filter(|p| {
            config.manages(&p.name)
                && config.for_profile(&p.name).storage == Storage::Keyring
                && p.status.as_ref().is_ok_and(|r| r.storage == Storage::File)
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Moves `names` into the keyring; returns false when that failed (told once as a problem).
async fn adopt(paths: &Paths, names: Vec<String>, problems: &mut Vec<Notice>) -> bool {
    match crate::commands::keyring::adopt(paths, &Selection::Named(names)).await {
        Ok(moved) => {
            for m in moved {
                tracing::info!(profiles = ?m.profiles, key = %m.key_id, "moved the key into the keyring (storage = \"keyring\")");
            }
            true
        }
        Err(e) if exit::kind(&e) == "busy" => true,
        Err(e) => {
            tracing::error!(error = %e, "could not move a key into the keyring");
            problems.push(Notice::Problem {
                class: "keyring".into(),
                reason: e.to_string(),
                fix: "The key stays in the credentials file, where it works; keyrot-agent tries again later.".into(),
            });
            false
        }
    }
}

/// Old keys whose grace is over go (under the lock; if another keyrot-agent holds it, later).
async fn settle_if_due(
    paths: &Paths,
    grace: &crate::state::grace::GraceFile,
    signing: impl Fn(&str) -> crate::engine::signing::Signing,
) -> crate::engine::grace::Settled {
    if grace.next_deletion().is_some()
        && let Ok(_lock) = store::try_lock(&paths.lock_file())
    {
        let counter = crate::edge::aws::RequestCounter::default();
        return crate::engine::grace::settle(
            paths,
            None,
            signing,
            &counter,
            OffsetDateTime::now_utc(),
        )
        .await;
    }
    Default::default()
}

/// Each rotatable key's age, from the cached creation dates; keys without a date, and keys
/// `held` after an undo, are left out.
fn ages(
    profiles: &[Profile],
    dates: &std::collections::BTreeMap<String, crate::state::cache::KeyDates>,
    held: &[String],
) -> Vec<KeyAge> {
    profiles
        .iter()
        .filter_map(|p| {
            let r = p.status.as_ref().ok()?;
            if held.contains(&r.access_key_id) {
                return None;
            }
            let created = dates.get(&r.access_key_id)?.created?;
            Some(KeyAge {
                profile: p.name.clone(),
                key_id: r.access_key_id.clone(),
                created,
            })
        })
        .collect()
}

/// Tells the user about keys that are due soon, or due with `auto_rotate` off; returns the
/// profiles to rotate now.
async fn tell_schedule(
    plan: &schedule::Plan,
    keys: &[KeyAge],
    config: &Config,
    notifier: &mut Notifier,
    now_utc: OffsetDateTime,
) -> Vec<String> {
    let mut due = Vec::new();
    for d in &plan.decisions {
        let wanted = config.for_profile(&d.profile).notify;
        match d.status {
            Status::Due if d.auto_rotate => due.push(d.profile.clone()),
            Status::Due => {
                tracing::warn!(profile = %d.profile, "key is due but auto_rotate is off");
                let age_days = keys
                    .iter()
                    .find(|k| k.profile == d.profile)
                    .map(|k| (now_utc - k.created).whole_days())
                    .unwrap_or_default();
                let n = Notice::Due {
                    profile: d.profile.clone(),
                    age_days,
                };
                notifier.notify(n, wanted, now_utc).await;
            }
            Status::Warn => {
                tracing::info!(profile = %d.profile, due_at = %d.due_at, "key is due soon");
                let n = Notice::Warn {
                    profile: d.profile.clone(),
                    due_at: d.due_at,
                    auto_rotate: d.auto_rotate,
                };
                notifier.notify(n, wanted, now_utc).await;
            }
            Status::Ok => {}
        }
    }
    due
}

/// Rotates the `due` profiles (as `now` does) and tells the user how each went. Returns whether
/// any key was rotated, and whether anything failed.
async fn rotate_due(
    paths: &Paths,
    config: &Config,
    due: Vec<String>,
    sessions: std::sync::Arc<Sessions>,
    notifier: &mut Notifier,
    problems: &mut Vec<Notice>,
) -> (bool, bool) {
    if due.is_empty() {
        return (false, false);
    }
    let timeout = due
        .iter()
        .map(|p| config.for_profile(p).verify_timeout)
        .max()
        .unwrap_or(Duration::from_secs(60));
    let mut engine = crate::engine::Options::unattended(timeout);
    engine.mfa = Some(sessions);
    let options = Options {
        selection: Selection::Named(due),
        engine,
    };
    match now::run(paths, config, &options).await {
        Ok(report) => {
            let mut failed = false;
            for k in &report.keys {
                match &k.error {
                    None => {
                        tracing::info!(profiles = ?k.profiles, new = ?k.new_key_id, "rotated");
                        say(&format!(
                            "rotated {}: {} → {}",
                            k.profiles.join(", "),
                            k.old_key_id,
                            k.new_key_id.as_deref().unwrap_or("?")
                        ));
                    }
                    Some(e) => {
                        failed = true;
                        tracing::info!(profiles = ?k.profiles, error = %e, "rotation failed");
                        let text = e.to_string();
                        say(&format!(
                            "failed  {}: {}",
                            k.profiles.join(", "),
                            text.lines().next().unwrap_or_default()
                        ));
                    }
                }
                if let Some(n) = rotation_notice(k) {
                    let wanted = k.profiles.iter().any(|p| config.for_profile(p).notify);
                    notifier.notify(n, wanted, OffsetDateTime::now_utc()).await;
                }
            }
            (report.keys.iter().any(|k| k.error.is_none()), failed)
        }
        Err(e) => {
            tracing::error!(error = %e, "could not rotate");
            // Another keyrot-agent holding the lock is not a problem to report.
            if exit::kind(&e) != "busy" {
                problems.push(Notice::Problem {
                    class: exit::kind(&e).to_string(),
                    reason: e.to_string(),
                    fix: "keyrot-agent tries again later.".into(),
                });
            }
            (false, true)
        }
    }
}

/// How long to sleep: not at all after a rotation (the dates changed: look again to compute the
/// next wake-up), else until the earliest of `changes`, at most [`MAX_SLEEP`].
fn next_sleep(
    rotated: bool,
    changes: [Option<OffsetDateTime>; 2],
    now: OffsetDateTime,
) -> Duration {
    if rotated {
        return Duration::ZERO;
    }
    changes
        .into_iter()
        .flatten()
        .min()
        .map(|t| (t - now).try_into().unwrap_or(Duration::ZERO))
        .unwrap_or(MAX_SLEEP)
        .min(MAX_SLEEP)
}

fn read_profiles(paths: &Paths) -> Result<crate::engine::local::Local, Error> {
    read_profiles_telling(paths, &mut Vec::new())
}

/// The profiles; a credentials file others can read becomes a problem to notify (once, until
/// it is fixed).
fn read_profiles_telling(
    paths: &Paths,
    problems: &mut Vec<Notice>,
) -> Result<crate::engine::local::Local, Error> {
    let local = crate::engine::local::load(paths)?;
    if let Some(reason) = local.exposure.clone() {
        problems.push(Notice::Problem {
            class: "readable_by_others".into(),
            reason,
            fix: "keyrot-agent goes on rotating meanwhile.".into(),
        });
    }
    Ok(local)
}

/// `keyrot-agent run …`.
pub fn command(args: RunArgs) -> i32 {
    let options = RunOptions {
        notify: !args.no_notify,
    };
    let paths = match crate::commands::run::resolve_paths() {
        Ok(p) => p,
        Err(e) => return crate::commands::run::print_error(false, &e),
    };
    // The agent runs on a thread of its own, and this thread only waits for it or for a stop
    // signal: whatever the agent is stuck in (a keyring that does not answer, a slow disk),
    // SIGTERM stops the process at once. A rotation cut short is exactly a crash at an await
    // point, which the journal is made for.
    // This thread's runtime, and its signal handlers, come first: a SIGTERM that arrives while
    // the agent starts is ours from the start.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyrot-agent: cannot start: {e}");
            return exit::INTERNAL;
        }
    };
    let signals = {
        let _entered = rt.enter();
        signal(tokio::signal::unix::SignalKind::terminate())
            .and_then(|t| Ok((t, signal(tokio::signal::unix::SignalKind::interrupt())?)))
    };
    let (mut terminate, mut interrupt) = match signals {
        Ok(s) => s,
        Err(e) => return crate::commands::run::print_error(false, &e),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let agent = std::thread::Builder::new()
        .name("agent".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run(&paths, &options)),
                Err(e) => Err(Error::Internal {
                    profile: "-".into(),
                    what: format!("cannot start: {e}"),
                }),
            };
            let _ = done_tx.send(result);
        });
    if let Err(e) = agent {
        eprintln!("keyrot-agent: cannot start: {e}");
        return exit::INTERNAL;
    }
    let result = rt.block_on(async move {
        tokio::select! {
            r = done_rx => r.unwrap_or(Ok(())),
            _ = terminate.recv() => {
                stopped();
                Ok(())
            }
            _ = interrupt.recv() => {
                stopped();
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => crate::commands::run::print_error(false, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    #[test]
    fn the_agent_sleeps_until_the_next_change_and_at_most_an_hour() {
        let minute = time::Duration::minutes(1);
        assert_eq!(
            next_sleep(true, [Some(NOW + minute), None], NOW),
            Duration::ZERO
        );
        assert_eq!(next_sleep(false, [None, None], NOW), MAX_SLEEP);
        assert_eq!(
            next_sleep(false, [Some(NOW + minute * 5), Some(NOW + minute)], NOW),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_sleep(false, [Some(NOW - minute), None], NOW),
            Duration::ZERO
        );
        assert_eq!(
            next_sleep(false, [Some(NOW + time::Duration::days(3)), None], NOW),
            MAX_SLEEP
        );
    }

    #[test]
    fn which_profiles_the_agent_moves_into_the_keyring() {
        use crate::core::credentials::{FileKind, parse};
        let creds = parse(
            b"[a]\naws_access_key_id = AKIAAAAAAAAAAAAA0001\naws_secret_access_key = secret0001xx\n[b]\naws_access_key_id = AKIAAAAAAAAAAAAA0002\naws_secret_access_key = secret0002xx\n[c]\nregion = x\n",
            FileKind::Credentials,
        )
        .unwrap();
        let profiles = crate::core::profiles::classify(&creds, None);
        let config = crate::core::config::parse(
            "[profiles]\nexclude = [\"b\"]\n[profile.a]\nstorage = \"keyring\"\n[profile.b]\nstorage = \"keyring\"\n",
        )
        .unwrap();
        assert_eq!(wanted_in_keyring(&profiles, &config), ["a"]);
        assert!(wanted_in_keyring(&profiles, &Config::default()).is_empty());
    }
}
