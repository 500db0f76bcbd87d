//! `keyrot-agent now`: rotate the selected profiles' keys at once.
//!
//! This is the driver that performs the rotation's effects in the order `rotation` decides:
//! take the lock, read and check the files, then for each distinct key walk the phases
//! Planned → Created → Verified → Written → VerifiedOnDisk → OldDeactivated → OldDeleted, one step
//! at a time. The file never holds a key that has not answered STS, and any step that cannot
//! finish undoes what came before it, so the user always keeps a working key.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;

use crate::aws::{Aws, AwsError, ErrorClass, KeyPair, RequestCounter};
use crate::credentials::{self, FileKind, NewKey, ParsedFile};
use crate::error::{Error, OtherKey};
use crate::paths::Paths;
use crate::profiles;
use crate::rotation::{self, Backoff, Jitter, Phase, Selection, SlotPlan, SlotRefusal, Target};
use crate::store::{self, StoreError};

/// How `now` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub selection: Selection,
    pub dry_run: bool,
    pub allow_root: bool,
    /// How long to wait for IAM to accept a new key, and for each later retry loop.
    pub verify_timeout: Duration,
    /// Show a spinner on stderr while waiting.
    pub progress: bool,
}

/// What became of one key (and every profile that held it).
#[derive(Debug)]
pub struct KeyReport {
    pub profiles: Vec<String>,
    pub user_arn: Option<String>,
    pub old_key_id: String,
    pub new_key_id: Option<String>,
    /// The furthest phase reached.
    pub phase: Option<Phase>,
    pub dry_run: bool,
    /// An Inactive key deleted to make room (or, in a dry run, that would be).
    pub deleted_inactive_key_id: Option<String>,
    /// Wall time of each step, in order.
    pub timings: Vec<(&'static str, Duration)>,
    pub verify_attempts: u32,
    /// HTTP requests made for this key, retries included.
    pub requests: usize,
    pub error: Option<Error>,
}

impl KeyReport {
    pub fn rotated(&self) -> bool {
        self.phase == Some(Phase::OldDeleted)
    }

    pub fn outcome(&self) -> &'static str {
        match (&self.error, self.dry_run, self.phase) {
            (None, true, _) => "planned",
            (None, false, Some(Phase::OldDeleted)) => "rotated",
            (Some(Error::RootKey { .. }), _, _) => "skipped",
            (Some(Error::OldKeyNotRetired { .. }), _, _) => "rotated_old_key_remains",
            (Some(_), _, None | Some(Phase::Planned)) => "refused",
            (Some(_), _, _) => "rolled_back",
            (None, false, _) => "incomplete",
        }
    }
}

/// Everything one `now` did.
#[derive(Debug)]
pub struct Report {
    pub credentials_file: PathBuf,
    /// `--all`: root keys are then skipped like other unrotatable profiles, not failures.
    pub all: bool,
    pub dry_run: bool,
    pub keys: Vec<KeyReport>,
    pub skipped: Vec<(String, profiles::SkipReason)>,
    pub requests: usize,
}

impl Report {
    /// The process exit code: 0 when every key went as asked, else the first failure's code.
    pub fn exit_code(&self) -> i32 {
        self.keys
            .iter()
            .filter_map(|k| k.error.as_ref())
            .find(|e| !(self.all && matches!(e, Error::RootKey { .. })))
            .map(Error::exit_code)
            .unwrap_or(crate::error::exit::OK)
    }
}

fn parse_file(path: &std::path::Path, bytes: &[u8], kind: FileKind) -> Result<ParsedFile, Error> {
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
                crate::redact::register(value);
            }
        }
    }
}

/// Runs `now`. Errors that stop everything (a bad file, a busy lock, an unknown profile) come
/// back as `Err` before anything was changed; per-key failures are in the report.
pub async fn run(paths: &Paths, options: &Options) -> Result<Report, Error> {
    let _lock = store::try_lock(&paths.lock_file())?;
    let bytes = store::read(&paths.credentials)?;
    let creds = parse_file(&paths.credentials, &bytes, FileKind::Credentials)?;
    let config = match store::read_optional(&paths.config)? {
        Some(b) => Some(parse_file(&paths.config, &b, FileKind::Config)?),
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
    register_secrets(&creds);
    let classified = profiles::classify(&creds, config.as_ref());
    // Which local profiles hold which key, to say who uses "the other key" in a refusal.
    let all_profiles: Vec<(String, String)> = classified
        .iter()
        .filter_map(|p| {
            p.status
                .as_ref()
                .ok()
                .map(|r| (p.name.clone(), r.access_key_id.clone()))
        })
        .collect();
    let mut selected = rotation::select(classified, &options.selection).map_err(Error::Select)?;
    // Every profile that holds a key moves with it. Try each edit now, before any AWS call, so
    // that a file that cannot take the new key is refused while nothing has changed.
    for target in &mut selected.targets {
        let probe = NewKey {
            access_key_id: "AKIAPROBEPROBEPROBE0",
            secret_access_key: "probe",
        };
        match creds.replace_key(&target.access_key_id, &probe) {
            Ok((_, changed)) => target.profiles = changed,
            Err(credentials::EditError::MissingSecret { profile, line, .. }) => {
                return Err(Error::InvalidFile {
                    path: paths.credentials.clone(),
                    problems: vec![credentials::Problem {
                        line,
                        kind: credentials::ProblemKind::SharedKeyWithoutSecret { section: profile },
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
    let removed = store::remove_stale_temps(&paths.credentials);
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed temp files left by an interrupted keyrot-agent"
        );
    }
    let counter = RequestCounter::default();
    let mut keys = Vec::new();
    for target in selected.targets {
        let before = counter.get();
        let aws = Aws::load(&target.primary, counter.clone()).await;
        let mut driver = Driver::new(paths, options, &aws, &target, &all_profiles);
        driver.run().await;
        let mut report = driver.report;
        report.requests = counter.get() - before;
        keys.push(report);
    }
    Ok(Report {
        credentials_file: paths.credentials.clone(),
        all: options.selection == Selection::All,
        dry_run: options.dry_run,
        keys,
        skipped: selected.skipped,
        requests: counter.get(),
    })
}

/// Carries one key through the phases.
struct Driver<'a> {
    paths: &'a Paths,
    options: &'a Options,
    aws: &'a Aws,
    profile: String,
    old: KeyPair,
    new: Option<KeyPair>,
    arn: String,
    /// Local profiles and their key ids, to say who uses "the other key".
    local_keys: &'a [(String, String)],
    jitter: Jitter,
    /// Attempts made by the last `retry`.
    attempts: u32,
    /// The user's keys before CreateAccessKey, to recognise a key created by a lost answer.
    keys_before: Vec<String>,
    report: KeyReport,
}

impl<'a> Driver<'a> {
    fn new(
        paths: &'a Paths,
        options: &'a Options,
        aws: &'a Aws,
        target: &Target,
        local_keys: &'a [(String, String)],
    ) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        Driver {
            paths,
            options,
            aws,
            profile: target.primary.clone(),
            old: KeyPair {
                id: target.access_key_id.clone(),
                secret: target.secret.clone(),
            },
            new: None,
            arn: String::new(),
            local_keys,
            jitter: Jitter::new(seed),
            attempts: 0,
            keys_before: Vec::new(),
            report: KeyReport {
                profiles: target.profiles.clone(),
                user_arn: None,
                old_key_id: target.access_key_id.clone(),
                new_key_id: None,
                phase: None,
                dry_run: options.dry_run,
                deleted_inactive_key_id: None,
                timings: Vec::new(),
                verify_attempts: 0,
                requests: 0,
                error: None,
            },
        }
    }

    async fn run(&mut self) {
        let mut phase: Option<Phase> = None;
        loop {
            let started = Instant::now();
            let step = match phase {
                None => ("identify", self.plan().await),
                Some(Phase::Planned) if self.options.dry_run => return,
                Some(Phase::Planned) => ("create", self.create().await),
                Some(Phase::Created) => ("verify", self.verify().await),
                Some(Phase::Verified) => ("write", self.write().await),
                Some(Phase::Written) => ("verify on disk", self.verify_on_disk().await),
                Some(Phase::VerifiedOnDisk) => ("deactivate old", self.deactivate_old().await),
                Some(Phase::OldDeactivated) => ("delete old", self.delete_old().await),
                Some(Phase::OldDeleted) => return,
            };
            self.report.timings.push((step.0, started.elapsed()));
            match step.1 {
                Ok(next) => {
                    tracing::info!(profile = %self.profile, phase = next.name(), "rotation step done");
                    phase = Some(next);
                    self.report.phase = phase;
                }
                Err(e) => {
                    tracing::info!(profile = %self.profile, error = %e, "rotation stopped");
                    self.report.error = Some(e);
                    return;
                }
            }
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::with_deadline(self.options.verify_timeout)
    }

    /// Retries `op` while `retry` says the error may pass, with backoff, until the deadline.
    /// Returns the last error when it gives up.
    async fn retry<T>(
        &mut self,
        retry: impl Fn(&AwsError) -> bool,
        mut op: impl AsyncFnMut(u32) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let backoff = self.backoff();
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            self.attempts = attempt + 1;
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if retry(&e) => {
                    let Some(wait) = backoff.next(attempt, start.elapsed(), self.jitter.sample())
                    else {
                        return Err(e);
                    };
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// GetCallerIdentity and ListAccessKeys with the old key; decide about the two-keys limit.
    async fn plan(&mut self) -> Result<Phase, Error> {
        let profile = self.profile.clone();
        let old = self.old.clone();
        let aws = self.aws;
        let identity = self
            .retry(AwsError::is_transient, async |_| aws.identity(&old).await)
            .await
            .map_err(|e| match e.class {
                ErrorClass::KeyRejected | ErrorClass::AccessDenied => Error::KeyRejected {
                    profile: profile.clone(),
                    key_id: old.id.clone(),
                    detail: e.detail(),
                },
                _ => Error::from_aws(&profile, "", e),
            })?;
        self.arn = identity.arn.clone();
        self.report.user_arn = Some(identity.arn.clone());
        if rotation::is_root_arn(&identity.arn) && !self.options.allow_root {
            return Err(Error::RootKey {
                profile,
                arn: identity.arn,
            });
        }
        let keys = self
            .retry(AwsError::is_transient, async |_| aws.list_keys(&old).await)
            .await
            .map_err(|e| Error::from_aws(&profile, &identity.arn, e))?;
        self.keys_before = keys.iter().map(|k| k.id.clone()).collect();
        match rotation::plan_slots(&old.id, &keys) {
            Ok(SlotPlan::Free) => {}
            Ok(SlotPlan::DeleteInactive { key_id }) => {
                // Deleted in the create step, after every local check has passed.
                self.report.deleted_inactive_key_id = Some(key_id);
            }
            Err(SlotRefusal::OtherKeyActive { key }) => {
                let last_used = aws.last_used(&old, &key.id).await.ok();
                let used_by = self
                    .local_keys
                    .iter()
                    .filter(|(_, id)| *id == key.id)
                    .map(|(p, _)| p.clone())
                    .collect();
                return Err(Error::OtherKeyActive {
                    profile,
                    arn: identity.arn,
                    other: Box::new(OtherKey {
                        key,
                        last_used,
                        used_by,
                    }),
                });
            }
            Err(SlotRefusal::KeyNotListed) => {
                return Err(Error::KeyNotListed {
                    profile,
                    arn: identity.arn,
                    key_id: old.id,
                });
            }
            Err(SlotRefusal::OldKeyInactive) => {
                return Err(Error::OldKeyInactive {
                    profile,
                    key_id: old.id,
                });
            }
        }
        Ok(Phase::Planned)
    }

    /// Makes room (deletes the user's Inactive key, if any) and creates the new key.
    async fn create(&mut self) -> Result<Phase, Error> {
        let old = self.old.clone();
        let aws = self.aws;
        let profile = self.profile.clone();
        let arn = self.arn.clone();
        if let Some(inactive) = self.report.deleted_inactive_key_id.clone() {
            self.retry(AwsError::is_transient, async |_| {
                aws.delete_key(&old, &inactive).await
            })
            .await
            .or_else(|e| {
                if e.class == ErrorClass::NoSuchEntity {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| Error::from_aws(&profile, &arn, e))?;
            tracing::info!(key = %inactive, "deleted the user's Inactive key to make room");
        }
        // Sent once (no SDK retries): a retried CreateAccessKey whose first answer was lost would
        // leave a key whose secret nobody has.
        match aws.create_key(&old).await {
            Ok(new) => {
                self.report.new_key_id = Some(new.id.clone());
                self.new = Some(new);
                Ok(Phase::Created)
            }
            Err(e)
                if matches!(
                    e.class,
                    ErrorClass::Unreachable | ErrorClass::Transient | ErrorClass::Other
                ) =>
            {
                // The answer may have been lost after IAM created a key: find and delete it.
                let deleted = self.delete_unseen_keys().await;
                // No answer at all (refused, dropped, timed out) is a network problem.
                match e.class {
                    ErrorClass::Unreachable | ErrorClass::Transient if e.status.is_none() => {
                        Err(Error::Unreachable {
                            profile,
                            detail: e.detail(),
                            new_key_deleted: Some(deleted),
                        })
                    }
                    _ => Err(Error::from_aws(&profile, &arn, e)),
                }
            }
            Err(e) => Err(Error::from_aws(&profile, &arn, e)),
        }
    }

    /// Deletes keys of the user that did not exist before CreateAccessKey. Returns whether none
    /// is left (or none was made).
    async fn delete_unseen_keys(&mut self) -> bool {
        let old = self.old.clone();
        let aws = self.aws;
        let Ok(keys) = self
            .retry(
                |e| e.is_transient() || e.class == ErrorClass::Unreachable,
                async |_| aws.list_keys(&old).await,
            )
            .await
        else {
            return false;
        };
        let mut all_gone = true;
        let unseen: Vec<_> = keys
            .into_iter()
            .filter(|k| !self.keys_before.contains(&k.id))
            .collect();
        for key in unseen {
            tracing::warn!(key = %key.id, "deleting a key whose creation answer was lost");
            let id = key.id.clone();
            let gone = self
                .retry(AwsError::is_transient, async |_| {
                    aws.delete_key(&old, &id).await
                })
                .await
                .is_ok();
            all_gone &= gone;
        }
        all_gone
    }

    fn new_key(&self) -> KeyPair {
        self.new
            .clone()
            .expect("a new key exists from phase Created on")
    }

    /// Waits until the new key answers STS as the same user.
    async fn verify(&mut self) -> Result<Phase, Error> {
        let new = self.new_key();
        let aws = self.aws;
        let arn = self.arn.clone();
        let spinner = self.spinner(&new.id);
        let result = self
            .retry(
                |e| {
                    e.is_transient()
                        || matches!(e.class, ErrorClass::KeyRejected | ErrorClass::AccessDenied)
                },
                async |attempt| {
                    if let Some(s) = &spinner {
                        s.set_message(format!(
                            "waiting for IAM to accept the new key {} (attempt {})",
                            new.id,
                            attempt + 1
                        ));
                    }
                    aws.identity(&new).await
                },
            )
            .await;
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        self.report.verify_attempts = self.attempts;
        match result {
            Ok(identity) if identity.arn == arn => Ok(Phase::Verified),
            Ok(identity) => {
                let deleted = self.delete_new_key().await;
                Err(Error::Internal {
                    profile: self.profile.clone(),
                    what: format!(
                        "the new key answered as {} instead of {arn}; it was {}deleted and the file was not changed",
                        identity.arn,
                        if deleted { "" } else { "NOT " }
                    ),
                })
            }
            Err(e) => {
                let deleted = self.delete_new_key().await;
                if e.class == ErrorClass::Unreachable {
                    return Err(Error::Unreachable {
                        profile: self.profile.clone(),
                        detail: e.detail(),
                        new_key_deleted: Some(deleted),
                    });
                }
                Err(Error::NotVerified {
                    profile: self.profile.clone(),
                    new_key_id: new.id,
                    timeout_s: self.options.verify_timeout.as_secs(),
                    detail: e.detail(),
                    new_key_deleted: deleted,
                })
            }
        }
    }

    fn spinner(&self, key_id: &str) -> Option<indicatif::ProgressBar> {
        if !self.options.progress {
            return None;
        }
        let s =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        s.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        s.set_message(format!("waiting for IAM to accept the new key {key_id}"));
        s.enable_steady_tick(Duration::from_millis(100));
        Some(s)
    }

    /// Deletes the new key (signed with the old one) after a failed rotation. Returns whether it
    /// is gone.
    async fn delete_new_key(&mut self) -> bool {
        let Some(new) = self.new.clone() else {
            return true;
        };
        let old = self.old.clone();
        let aws = self.aws;
        let result = self
            .retry(
                |e| e.is_transient() || e.class == ErrorClass::Unreachable,
                async |_| aws.delete_key(&old, &new.id).await,
            )
            .await;
        match result {
            Ok(()) => true,
            Err(e) if e.class == ErrorClass::NoSuchEntity => true,
            Err(e) => {
                tracing::warn!(key = %new.id, error = %e, "could not delete the new key after a failed rotation");
                false
            }
        }
    }

    /// Rewrites every profile that holds the old key, under the lock, if the file still holds it.
    async fn write(&mut self) -> Result<Phase, Error> {
        let new = self.new_key();
        match self.swap_in_file(&self.old.id.clone(), &new) {
            Ok(()) => Ok(Phase::Written),
            Err(SwapError::Changed) => {
                let deleted = self.delete_new_key().await;
                Err(Error::ChangedMeanwhile {
                    profile: self.profile.clone(),
                    path: self.paths.credentials.clone(),
                    new_key_id: new.id,
                    new_key_deleted: deleted,
                })
            }
            Err(SwapError::Other(e)) => {
                let deleted = self.delete_new_key().await;
                Err(Error::Internal {
                    profile: self.profile.clone(),
                    what: format!(
                        "could not write {}: {e}; the file was not changed and the new key was {}deleted",
                        self.paths.credentials.display(),
                        if deleted { "" } else { "NOT " }
                    ),
                })
            }
        }
    }

    /// Replaces `from` with `to` in the credentials file as it is now on disk.
    fn swap_in_file(&self, from: &str, to: &KeyPair) -> Result<(), SwapError> {
        let path = &self.paths.credentials;
        let current = store::read(path).map_err(|e| SwapError::Other(e.to_string()))?;
        let parsed =
            credentials::parse(&current, FileKind::Credentials).map_err(|_| SwapError::Changed)?;
        // Every profile of this rotation must still hold the key being replaced.
        for p in &self.report.profiles {
            if parsed.get(p, credentials::ACCESS_KEY_ID) != Some(from) {
                return Err(SwapError::Changed);
            }
        }
        let (text, _changed) = parsed
            .replace_key(
                from,
                &NewKey {
                    access_key_id: &to.id,
                    secret_access_key: to.secret.expose_secret(),
                },
            )
            .map_err(|e| SwapError::Other(e.to_string()))?;
        store::replace(path, &current, text.as_bytes(), &self.paths.backup_file()).map_err(|e| {
            match e {
                StoreError::ChangedMeanwhile { .. } => SwapError::Changed,
                other => SwapError::Other(other.to_string()),
            }
        })
    }

    /// Whether the credentials file on disk holds `key_id` in this rotation's primary profile.
    fn file_holds(&self, key_id: &str) -> bool {
        store::read(&self.paths.credentials)
            .ok()
            .and_then(|b| credentials::parse(&b, FileKind::Credentials).ok())
            .is_some_and(|f| f.get(&self.profile, credentials::ACCESS_KEY_ID) == Some(key_id))
    }

    /// Reads the profile back through aws-config and checks the new key answers again.
    async fn verify_on_disk(&mut self) -> Result<Phase, Error> {
        let new = self.new_key();
        let aws = self.aws;
        let profile = self.profile.clone();
        let arn = self.arn.clone();
        let backoff = self.backoff();
        let start = Instant::now();
        let mut attempt = 0;
        let detail = loop {
            let failure = match aws.identity_from_disk(&profile).await {
                Ok((id, identity)) if id == new.id && identity.arn == arn => {
                    return Ok(Phase::VerifiedOnDisk);
                }
                Ok((id, _)) if id != new.id => {
                    if !self.file_holds(&new.id) {
                        // Someone else wrote the file after us: leave it alone. The new key is
                        // in no file, so it goes.
                        let deleted = self.delete_new_key().await;
                        return Err(Error::ChangedMeanwhile {
                            profile,
                            path: self.paths.credentials.clone(),
                            new_key_id: new.id,
                            new_key_deleted: deleted,
                        });
                    }
                    // The file holds the new key but the SDK reads another one for the profile
                    // (something overrides the file): roll back below.
                    format!(
                        "the AWS SDK reads the key {id} for this profile, not the one in the file"
                    )
                }
                Ok((_, identity)) => format!("it answered as {}", identity.arn),
                Err(e) => e.to_string(),
            };
            match backoff.next(attempt, start.elapsed(), self.jitter.sample()) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break failure,
            }
            attempt += 1;
        };
        // Put the old key back, then delete the new one.
        let old = self.old.clone();
        let restored = self.swap_in_file(&new.id, &old).is_ok();
        let deleted = if restored {
            self.delete_new_key().await
        } else {
            false
        };
        Err(Error::NotVerifiedOnDisk {
            profile,
            path: self.paths.credentials.clone(),
            new_key_id: new.id,
            detail,
            restored,
            new_key_deleted: deleted,
        })
    }

    async fn deactivate_old(&mut self) -> Result<Phase, Error> {
        let new = self.new_key();
        let old_id = self.old.id.clone();
        let aws = self.aws;
        self.retry(
            |e| e.is_transient() || e.class == ErrorClass::KeyRejected,
            async |_| aws.set_key_active(&new, &old_id, false).await,
        )
        .await
        .or_else(|e| {
            if e.class == ErrorClass::NoSuchEntity {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| self.not_retired("deactivated", e))?;
        Ok(Phase::OldDeactivated)
    }

    async fn delete_old(&mut self) -> Result<Phase, Error> {
        let new = self.new_key();
        let old_id = self.old.id.clone();
        let aws = self.aws;
        self.retry(
            |e| e.is_transient() || e.class == ErrorClass::KeyRejected,
            async |_| aws.delete_key(&new, &old_id).await,
        )
        .await
        .or_else(|e| {
            if e.class == ErrorClass::NoSuchEntity {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| self.not_retired("deleted", e))?;
        Ok(Phase::OldDeleted)
    }

    fn not_retired(&self, what: &'static str, e: AwsError) -> Error {
        Error::OldKeyNotRetired {
            profile: self.profile.clone(),
            new_key_id: self.report.new_key_id.clone().unwrap_or_default(),
            old_key_id: self.old.id.clone(),
            what,
            detail: e.detail(),
        }
    }
}

enum SwapError {
    Changed,
    Other(String),
}
