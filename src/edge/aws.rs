//! The AWS edge: IAM and STS calls signed with a given key pair, and a classification of their
//! errors that the rotation can act on.
//!
//! Region, endpoint (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_IAM`/`_STS`, `endpoint_url` in the
//! profile), timeouts and retries come from the usual aws-config chain for the profile. Region
//! falls back to us-east-1 rather than asking the EC2 metadata service, which a laptop does not
//! have. Every HTTP attempt is counted so the user can see what a rotation cost.
//!
//! This module never logs or formats a secret: key pairs arrive as `SecretString` and go straight
//! into the SDK's `Credentials`, whose `Debug` redacts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_iam::config::{Intercept, RuntimeComponents};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::config_bag::ConfigBag;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::core::keys::{ErrorClass, Identity, KeyInfo, KeyPair, LastUsed, SessionKey, Signer};

/// The SDK's credentials for what signs an IAM call.
fn signer_credentials(signer: &Signer) -> Credentials {
    match signer {
        Signer::Key(key) => credentials(key),
        Signer::Session(session) => Credentials::new(
            session.pair.id.clone(),
            session.pair.secret.expose_secret().to_string(),
            Some(session.token.expose_secret().to_string()),
            Some(session.expiration.into()),
            "keyrot-agent-mfa",
        ),
    }
}

/// The SDK's credentials for a key pair.
fn credentials(key: &KeyPair) -> Credentials {
    Credentials::new(
        key.id.clone(),
        key.secret.expose_secret().to_string(),
        None,
        None,
        "keyrot-agent",
    )
}

/// A failed AWS call: which operation, its class, and AWS's own code and message (which never
/// contain secrets).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {}", self.detail())]
pub struct AwsError {
    pub operation: &'static str,
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: Option<String>,
    pub status: Option<u16>,
    /// Where the call went: the endpoint and the region, in words.
    pub endpoint: Option<String>,
}

impl AwsError {
    pub fn detail(&self) -> String {
        match (&self.code, &self.message, self.status) {
            (Some(c), Some(m), _) => format!("{c}: {m}"),
            (Some(c), None, _) => c.clone(),
            (None, Some(m), _) => m.clone(),
            (None, None, Some(s)) => format!("HTTP {s}"),
            (None, None, None) => match self.class {
                ErrorClass::Unreachable => "could not connect to the endpoint".into(),
                ErrorClass::Transient => "timed out or the connection dropped".into(),
                _ => "unknown error".into(),
            },
        }
    }
}

fn classify<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError as S;
    let status = match err {
        S::ResponseError(e) => Some(e.raw().status().as_u16()),
        S::ServiceError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    };
    let (code, message) = match err {
        S::ServiceError(e) => (
            e.err().code().map(String::from),
            e.err().message().map(String::from),
        ),
        _ => (None, None),
    };
    let class = match err {
        S::DispatchFailure(d) => {
            if d.is_timeout() {
                ErrorClass::Transient
            } else if d.is_io() {
                ErrorClass::Unreachable
            } else {
                ErrorClass::Transient
            }
        }
        S::TimeoutError(_) => ErrorClass::Transient,
        _ => match code.as_deref() {
            Some(
                "InvalidClientTokenId" | "SignatureDoesNotMatch" | "UnrecognizedClientException",
            ) => ErrorClass::KeyRejected,
            Some("AccessDenied" | "AccessDeniedException") => ErrorClass::AccessDenied,
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
                ErrorClass::Throttled
            }
            Some("LimitExceeded") => ErrorClass::LimitExceeded,
            Some("NoSuchEntity") => ErrorClass::NoSuchEntity,
            Some("ServiceUnavailable" | "InternalFailure" | "ServiceFailure") => {
                ErrorClass::Transient
            }
            _ => match status {
                Some(403) => ErrorClass::KeyRejected,
                Some(429) => ErrorClass::Throttled,
                Some(s) if s >= 500 => ErrorClass::Transient,
                _ => ErrorClass::Other,
            },
        },
    };
    let e = AwsError {
        operation,
        class,
        code,
        message,
        status,
        endpoint: None,
    };
    tracing::debug!(operation, class = ?e.class, detail = %e.detail(), "AWS call failed");
    e
}

/// Counts HTTP attempts (including the SDK's own retries). A child counts into its parent
/// too, so that a run's total and each key's share are both known while several keys are in
/// flight. A counter made [`RequestCounter::limited`] also bounds how many calls (its own and
/// its children's) are in flight at once.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    own: Arc<AtomicUsize>,
    parent: Option<Arc<AtomicUsize>>,
    limit: Option<Arc<tokio::sync::Semaphore>>,
}

impl RequestCounter {
    /// A counter under which at most `calls` AWS calls are in flight at once (at least one).
    pub fn limited(calls: usize) -> RequestCounter {
        RequestCounter {
            limit: Some(Arc::new(tokio::sync::Semaphore::new(calls.max(1)))),
            ..RequestCounter::default()
        }
    }

    /// Waits until one more call may be in flight; the call ends when the permit is dropped.
    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match &self.limit {
            Some(limit) => limit.acquire().await.ok(),
            None => None,
        }
    }

    pub fn get(&self) -> usize {
        self.own.load(Ordering::Relaxed)
    }

    /// A counter whose requests also count here.
    pub fn child(&self) -> RequestCounter {
        RequestCounter {
            own: Arc::default(),
            parent: Some(self.own.clone()),
            limit: self.limit.clone(),
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "keyrot-agent request counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.own.fetch_add(1, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The AWS settings of one profile (region, endpoints, timeouts), to which key pairs are added
/// per call.
#[derive(Clone)]
pub struct Aws {
    config: SdkConfig,
    counter: RequestCounter,
}

impl Aws {
    /// Loads the profile's AWS settings without credentials.
    pub async fn load(profile: &str, counter: RequestCounter) -> Aws {
        let region = RegionProviderChain::first_try(
            aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
        )
        .or_else(
            aws_config::profile::ProfileFileRegionProvider::builder()
                .profile_name(profile)
                .build(),
        )
        .or_else(aws_config::Region::new("us-east-1"));
        let config = aws_config::defaults(BehaviorVersion::latest())
            .profile_name(profile)
            .region(region)
            .no_credentials()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(15))
                    .build(),
            )
            .load()
            .await;
        Aws { config, counter }
    }

    pub fn requests(&self) -> usize {
        self.counter.get()
    }

    /// Where this profile's calls go, in words: the endpoint (AWS's own unless one is set) and
    /// the region.
    pub fn endpoint(&self) -> String {
        let region = self
            .config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(none)".into());
        match self.config.endpoint_url() {
            Some(url) => format!("{url} (region {region})"),
            None => format!("AWS's endpoints for region {region}"),
        }
    }

    /// `e`, saying where the call went.
    fn located(&self, mut e: AwsError) -> AwsError {
        e.endpoint = Some(self.endpoint());
        e
    }

    fn iam(&self, signer: &Signer) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::config::Builder::from(&self.config)
            .credentials_provider(signer_credentials(signer))
            .interceptor(self.counter.clone())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    fn sts(&self, credentials: Credentials) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(credentials)
            .interceptor(self.counter.clone())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// STS GetCallerIdentity signed with `key`.
    pub async fn identity(&self, key: &KeyPair) -> Result<Identity, AwsError> {
        self.identity_with(credentials(key)).await
    }

    async fn identity_with(&self, credentials: Credentials) -> Result<Identity, AwsError> {
        let _call = self.counter.permit().await;
        let out = self
            .sts(credentials)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.located(classify("sts:GetCallerIdentity", &e)))?;
        Ok(Identity {
            arn: out.arn().unwrap_or_default().to_string(),
            account: out.account().unwrap_or_default().to_string(),
        })
    }

    /// STS GetSessionToken signed with `key`, with an MFA device's `serial` and `code`, for
    /// `seconds`. Sent once, never retried by the SDK: a code is accepted only once, so a retry
    /// after a lost answer could only fail. The session's secret and token are registered for
    /// redaction at once.
    pub async fn session_token(
        &self,
        key: &KeyPair,
        serial: &str,
        code: &str,
        seconds: i32,
    ) -> Result<SessionKey, AwsError> {
        let _call = self.counter.permit().await;
        let out = self
            .sts(credentials(key))
            .get_session_token()
            .serial_number(serial)
            .token_code(code)
            .duration_seconds(seconds)
            .customize()
            .config_override(
                aws_sdk_sts::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| self.located(classify("sts:GetSessionToken", &e)))?;
        let malformed = |what: &str| AwsError {
            operation: "sts:GetSessionToken",
            class: ErrorClass::Other,
            code: None,
            message: Some(format!("the response {what}")),
            status: None,
            endpoint: None,
        };
        let Some(c) = out.credentials() else {
            return Err(malformed("held no credentials"));
        };
        crate::core::redact::register(c.secret_access_key());
        crate::core::redact::register(c.session_token());
        let expiration = OffsetDateTime::from_unix_timestamp(c.expiration().secs())
            .map_err(|_| malformed("held an impossible expiration"))?;
        Ok(SessionKey {
            pair: KeyPair {
                id: c.access_key_id().to_string(),
                secret: SecretString::from(c.secret_access_key().to_string()),
            },
            token: SecretString::from(c.session_token().to_string()),
            expiration,
        })
    }

    /// Reads the profile through aws-config's own profile credentials provider, as any SDK
    /// would, and returns the key id it found and the identity that key answers as.
    pub async fn identity_from_disk(
        &self,
        profile: &str,
        credentials_file: &std::path::Path,
        config_file: &std::path::Path,
    ) -> Result<(String, Identity), DiskReadError> {
        use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
        // The same two files keyrot-agent resolved (as the SDKs resolve them), named explicitly so
        // that a resumed rotation reads the file it wrote.
        let mut files =
            EnvConfigFiles::builder().with_file(EnvConfigFileKind::Credentials, credentials_file);
        // A named file must exist; the config file is optional, as it is for the SDKs.
        if config_file.exists() {
            files = files.with_file(EnvConfigFileKind::Config, config_file);
        }
        let files = files.build();
        let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_files(files)
            .profile_name(profile)
            .build();
        let credentials = provider.provide_credentials().await.map_err(|e| {
            DiskReadError::Provider(
                aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
            )
        })?;
        let id = credentials.access_key_id().to_string();
        let identity = self
            .identity_with(credentials)
            .await
            .map_err(DiskReadError::Aws)?;
        Ok((id, identity))
    }

    /// The caller's own access keys (ListAccessKeys without UserName).
    pub async fn list_keys(&self, signer: &Signer) -> Result<Vec<KeyInfo>, AwsError> {
        let _call = self.counter.permit().await;
        let out = self
            .iam(signer)
            .list_access_keys()
            .send()
            .await
            .map_err(|e| self.located(classify("iam:ListAccessKeys", &e)))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .map(|m| KeyInfo {
                id: m.access_key_id().unwrap_or_default().to_string(),
                active: m.status() == Some(&StatusType::Active),
                created: m
                    .create_date()
                    .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok()),
            })
            .collect())
    }

    /// Creates a new key for the caller. The secret is registered for redaction at once.
    pub async fn create_key(&self, signer: &Signer) -> Result<KeyPair, AwsError> {
        // Never retried by the SDK: if an answer is lost after IAM created a key, a retry would
        // create a second one. The caller cleans up instead.
        let _call = self.counter.permit().await;
        let out = self
            .iam(signer)
            .create_access_key()
            .customize()
            .config_override(
                aws_sdk_iam::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| self.located(classify("iam:CreateAccessKey", &e)))?;
        let Some(k) = out.access_key() else {
            return Err(AwsError {
                operation: "iam:CreateAccessKey",
                class: ErrorClass::Other,
                code: None,
                message: Some("the response held no access key".into()),
                status: None,
                endpoint: None,
            });
        };
        crate::core::redact::register(k.secret_access_key());
        Ok(KeyPair {
            id: k.access_key_id().to_string(),
            secret: SecretString::from(k.secret_access_key().to_string()),
        })
    }

    /// Sets `target` Inactive (or Active), signed with `key`.
    pub async fn set_key_active(
        &self,
        signer: &Signer,
        target: &str,
        active: bool,
    ) -> Result<(), AwsError> {
        let status = if active {
            StatusType::Active
        } else {
            StatusType::Inactive
        };
        let _call = self.counter.permit().await;
        self.iam(signer)
            .update_access_key()
            .access_key_id(target)
            .status(status)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:UpdateAccessKey", &e)))?;
        Ok(())
    }

    /// Deletes `target`, signed with `key`.
    pub async fn delete_key(&self, signer: &Signer, target: &str) -> Result<(), AwsError> {
        let _call = self.counter.permit().await;
        self.iam(signer)
            .delete_access_key()
            .access_key_id(target)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:DeleteAccessKey", &e)))?;
        Ok(())
    }

    /// IAM's policy simulator for `user_arn` and `actions` on the user itself (what `doctor`
    /// asks without changing anything): each action and whether it would be allowed.
    pub async fn simulate(
        &self,
        signer: &Signer,
        user_arn: &str,
        actions: &[&str],
    ) -> Result<Vec<(String, bool)>, AwsError> {
        let _call = self.counter.permit().await;
        let out = self
            .iam(signer)
            .simulate_principal_policy()
            .policy_source_arn(user_arn)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .resource_arns(user_arn)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:SimulatePrincipalPolicy", &e)))?;
        Ok(out
            .evaluation_results()
            .iter()
            .map(|r| {
                (
                    r.eval_action_name().to_string(),
                    r.eval_decision().as_str() == "allowed",
                )
            })
            .collect())
    }

    /// When `target` was last used.
    pub async fn last_used(&self, signer: &Signer, target: &str) -> Result<LastUsed, AwsError> {
        let _call = self.counter.permit().await;
        let out = self
            .iam(signer)
            .get_access_key_last_used()
            .access_key_id(target)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:GetAccessKeyLastUsed", &e)))?;
        let Some(u) = out.access_key_last_used() else {
            return Ok(LastUsed::default());
        };
        let known = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_string());
        Ok(LastUsed {
            date: u
                .last_used_date()
                .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok()),
            service: known(u.service_name()),
            region: known(u.region()),
        })
    }
}

impl Aws {
    /// Tags IAM user `user` with `key` = `value` (IAM shows a tag whose key is an access key id
    /// as that key's description).
    pub async fn tag_user(
        &self,
        signer: &Signer,
        user: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| AwsError {
                operation: "iam:TagUser",
                class: ErrorClass::Other,
                code: None,
                message: Some(e.to_string()),
                status: None,
                endpoint: None,
            })?;
        let _call = self.counter.permit().await;
        self.iam(signer)
            .tag_user()
            .user_name(user)
            .tags(tag)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:TagUser", &e)))?;
        Ok(())
    }

    /// Removes the tag `key` from IAM user `user`.
    pub async fn untag_user(&self, signer: &Signer, user: &str, key: &str) -> Result<(), AwsError> {
        let _call = self.counter.permit().await;
        self.iam(signer)
            .untag_user()
            .user_name(user)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| self.located(classify("iam:UntagUser", &e)))?;
        Ok(())
    }
}

/// Why reading the profile back from disk through the SDK failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiskReadError {
    #[error("the AWS SDK could not read the profile: {0}")]
    Provider(String),
    #[error(transparent)]
    Aws(AwsError),
}
