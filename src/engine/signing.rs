//! The signing seam: how the IAM calls of a rotation (and of undo, settle, recovery, the date
//! refresh) are signed. The engine asks it for each call and does not care which way it is.
//!
//! - Without an MFA device, a user's own long-term keys sign: the old key until the new one is
//!   proven, then the new one (which retires the old).
//! - With one, every IAM call is signed with an MFA session: STS GetSessionToken, signed with the
//!   long-term key the call is made on behalf of, with the device's serial and one code, for
//!   [`mfa::SESSION_SECONDS`]. AWS documents that temporary credentials stay valid until they
//!   expire even when the key that obtained them is deactivated or deleted, so one session (one
//!   code) carries a whole rotation. Sessions are shared by every key of the same device (the
//!   same user) in one run, and a second code is never asked for inside the window of the last.
//!
//! A code comes from `--mfa-code` (once per run), else from `mfa_process`, else from the user at
//! the terminal (never in the agent), else not at all: the caller then stops, or keeps the
//! journal, and says what to run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::core::decide::Signed;
use crate::core::keys::{ErrorClass, KeyPair, SessionKey, Signer};
use crate::core::mfa::{self, Device};
use crate::edge::aws::{Aws, AwsError};
use crate::state::mfa::MfaFile;

/// How IAM calls for one profile are signed.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    mfa: Option<(Device, Arc<Sessions>)>,
}

/// Why no MFA session could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MfaError {
    /// No code was given and none can be asked for here.
    #[error("no MFA code for {serial} was given, and none can be asked for here")]
    NoCode { serial: String },
    /// STS refused the code (wrong, already used, or not of this device).
    #[error("the MFA code was not accepted ({detail})")]
    Rejected { serial: String, detail: String },
    /// `mfa_process` gave no code.
    #[error("mfa_process `{command}` gave no code: {detail}")]
    Process { command: String, detail: String },
    /// The device's serial is not one IAM takes.
    #[error("{0}")]
    BadSerial(String),
    /// GetSessionToken failed otherwise (network, a key STS does not take).
    #[error(transparent)]
    Aws(AwsError),
}

/// The MFA sessions of one run (a `now`, a `recover`, an agent round), by device serial, and
/// where codes come from.
pub struct Sessions {
    /// `--mfa-code`: used for the first session only.
    given: Mutex<Option<Zeroizing<String>>>,
    /// Whether the user may be asked at the terminal.
    prompt: bool,
    sessions: tokio::sync::Mutex<HashMap<String, SessionKey>>,
    record: MfaFile,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("prompt", &self.prompt)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// The sessions of one run: `given` is `--mfa-code`, `prompt` whether a terminal may be
    /// asked, `record` where used windows are remembered.
    pub fn new(given: Option<Zeroizing<String>>, prompt: bool, record: MfaFile) -> Arc<Sessions> {
        if let Some(code) = &given {
            crate::core::redact::register_code(code);
        }
        Arc::new(Sessions {
            given: Mutex::new(given),
            prompt,
            sessions: tokio::sync::Mutex::default(),
            record,
        })
    }

    /// A session for `device`, from this run's if one is still good, else a new one signed with
    /// `key` (one code).
    async fn session(
        &self,
        aws: &Aws,
        device: &Device,
        key: &KeyPair,
        profile: &str,
    ) -> Result<SessionKey, MfaError> {
        mfa::check_serial(&device.serial).map_err(MfaError::BadSerial)?;
        // Held across the code and the call: two keys of one device never ask for two codes.
        let mut sessions = self.sessions.lock().await;
        if let Some(s) = sessions.get(&device.serial)
            && mfa::session_usable(s.expiration, OffsetDateTime::now_utc())
        {
            return Ok(s.clone());
        }
        let code = self.code(device, profile).await?;
        crate::core::redact::register_code(&code);
        tracing::info!(profile, serial = %device.serial, "asking STS for an MFA session");
        let answer = aws
            .session_token(key, &device.serial, &code, mfa::SESSION_SECONDS)
            .await;
        self.record
            .code_used(&device.serial, mfa::window(OffsetDateTime::now_utc()));
        let session = answer.map_err(|e| {
            if e.message.as_deref().is_some_and(mfa::is_code_refusal)
                || (e.class == ErrorClass::AccessDenied && e.operation == "sts:GetSessionToken")
            {
                MfaError::Rejected {
                    serial: device.serial.clone(),
                    detail: e.detail(),
                }
            } else {
                MfaError::Aws(e)
            }
        })?;
        sessions.insert(device.serial.clone(), session.clone());
        crate::edge::failpoint::hit("after-mfa-session");
        Ok(session)
    }

    /// A code for `device`: `--mfa-code` once, else `mfa_process`, else the terminal.
    async fn code(&self, device: &Device, profile: &str) -> Result<Zeroizing<String>, MfaError> {
        if let Some(code) = self.given.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Ok(code);
        }
        if device.process.is_none() && !self.prompt {
            return Err(MfaError::NoCode {
                serial: device.serial.clone(),
            });
        }
        // A device shows one code per window, and IAM takes it once.
        if let Some(wait) = mfa::wait_for_next_code(
            self.record.last_window(&device.serial),
            OffsetDateTime::now_utc(),
        ) {
            if device.process.is_none() {
                crate::edge::terminal::tell(&format!(
                    "waiting {} s for the next code of {} (the last one was used already)",
                    wait.as_secs() + 1,
                    device.serial
                ));
            }
            tokio::time::sleep(wait).await;
        }
        let (serial, name) = (device.serial.clone(), profile.to_string());
        let code = match device.process.clone() {
            Some(command) => {
                let shown = command.clone();
                let got = tokio::task::spawn_blocking(move || {
                    crate::edge::mfa_code::from_process(
                        &command,
                        &serial,
                        &name,
                        crate::edge::mfa_code::PROCESS_TIMEOUT,
                    )
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                let text = got.map_err(|detail| MfaError::Process {
                    command: shown.clone(),
                    detail,
                })?;
                crate::core::redact::register(&text);
                crate::core::redact::register_code(text.trim());
                mfa::code(&text).map_err(|why| MfaError::Process {
                    command: shown,
                    detail: format!("its output is not a code ({why})"),
                })?
            }
            None => {
                let question = format!("MFA code for {serial} (profile {name}): ");
                let got = tokio::task::spawn_blocking(move || {
                    crate::edge::terminal::prompt(&question, crate::edge::terminal::PROMPT_TIMEOUT)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                let text = match got {
                    Ok(Some(text)) => text,
                    Ok(None) | Err(_) => {
                        return Err(MfaError::NoCode {
                            serial: device.serial.clone(),
                        });
                    }
                };
                crate::core::redact::register(&text);
                crate::core::redact::register_code(text.trim());
                mfa::code(&text).map_err(|why| MfaError::Rejected {
                    serial: device.serial.clone(),
                    detail: why.to_string(),
                })?
            }
        };
        Ok(Zeroizing::new(code))
    }
}

impl Signing {
    /// Signed with the user's own long-term keys.
    pub fn own_keys() -> Signing {
        Signing { mfa: None }
    }

    /// Signed with MFA sessions of `device`, from `sessions`.
    pub fn with_mfa(device: Device, sessions: Arc<Sessions>) -> Signing {
        Signing {
            mfa: Some((device, sessions)),
        }
    }

    /// The MFA device, if calls are signed with its sessions.
    pub fn device(&self) -> Option<&Device> {
        self.mfa.as_ref().map(|(d, _)| d)
    }

    /// What an IAM call made on behalf of `key` (for `profile`) is signed with, and whether IAM
    /// may not know that signer everywhere yet (`fresh`: `key` was created or made Active
    /// moments ago). With MFA, the first call of a run gets the session.
    pub async fn iam(
        &self,
        aws: &Aws,
        key: &KeyPair,
        fresh: bool,
        profile: &str,
    ) -> Result<(Signer, Signed), MfaError> {
        match &self.mfa {
            None => Ok((
                Signer::Key(key.clone()),
                if fresh {
                    Signed::WithFreshKey
                } else {
                    Signed::WithKnownKey
                },
            )),
            Some((device, sessions)) => {
                let session = sessions.session(aws, device, key, profile).await?;
                Ok((Signer::Session(session), Signed::WithKnownKey))
            }
        }
    }
}
