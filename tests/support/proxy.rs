//! A small HTTP proxy between keyrot-agent and moto that makes moto behave like real IAM/STS
//! where moto does not: new keys that take time to propagate, Inactive keys that stop working,
//! failures answered with real AWS error bodies, and a network that throttles, stalls, drops
//! connections or goes away. Loopback only, one request per connection. Random faults come from
//! a seeded generator, so a failing run reproduces.
//!
//! It also emulates MFA-enforced IAM ([`Proxy::require_mfa`]), which moto does not evaluate: the
//! user's long-term keys are denied everything but the MFA self-service actions, GetSessionToken
//! checks one-time codes and mints session credentials of its own, and requests signed with those
//! are verified (token, SigV4 signature, expiry) and re-signed with the parent long-term key
//! before they reach moto, so moto's SigV4 check still runs.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::User;

/// A failure to answer instead of forwarding.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn access_denied(action: &str) -> Failure {
        Failure {
            status: 403,
            code: "AccessDenied",
            message: format!(
                "User: arn:aws:iam::123456789012:user/test is not authorized to perform: iam:{action} on resource: user test because no identity-based policy allows the iam:{action} action"
            ),
        }
    }
    pub fn throttling() -> Failure {
        Failure {
            status: 400,
            code: "Throttling",
            message: "Rate exceeded".into(),
        }
    }
    pub fn unavailable() -> Failure {
        Failure {
            status: 503,
            code: "ServiceUnavailable",
            message: "Service is unavailable. Please try again later.".into(),
        }
    }
    pub fn limit_exceeded() -> Failure {
        Failure {
            status: 409,
            code: "LimitExceeded",
            message: "Cannot exceed quota for AccessKeysPerUser: 2".into(),
        }
    }
    pub fn invalid_token() -> Failure {
        Failure {
            status: 403,
            code: "InvalidClientTokenId",
            message: "The security token included in the request is invalid.".into(),
        }
    }
    /// What AWS's "manage your own credentials, with MFA" policy answers `user` for `action`
    /// (e.g. "iam:ListAccessKeys") signed with a long-term key.
    pub fn explicit_deny(user: &str, action: &str) -> Failure {
        Failure {
            status: 403,
            code: "AccessDenied",
            message: format!(
                "User: arn:aws:iam::123456789012:user/{user} is not authorized to perform: {action} on resource: user {user} with an explicit deny in an identity-based policy"
            ),
        }
    }
    pub fn signature_mismatch() -> Failure {
        Failure {
            status: 403,
            code: "SignatureDoesNotMatch",
            message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        }
    }
    pub fn expired_token() -> Failure {
        Failure {
            status: 403,
            code: "ExpiredToken",
            message: "The security token included in the request is expired".into(),
        }
    }
    /// GetSessionToken with a serial number that is not the user's MFA device.
    pub fn mfa_serial_invalid() -> Failure {
        Failure {
            status: 403,
            code: "AccessDenied",
            message: "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user.".into(),
        }
    }
    /// GetSessionToken with a code that is wrong or used already.
    pub fn mfa_code_invalid() -> Failure {
        Failure {
            status: 403,
            code: "AccessDenied",
            message: "MultiFactorAuthentication failed with invalid MFA one time pass code. "
                .into(),
        }
    }
    /// GetSessionToken signed with session credentials.
    pub fn session_cannot_get_session() -> Failure {
        Failure {
            status: 403,
            code: "AccessDenied",
            message: "Cannot call GetSessionToken with session credentials".into(),
        }
    }
    /// A DurationSeconds outside GetSessionToken's 900 s to 36 h.
    pub fn bad_duration(secs: &str) -> Failure {
        let bound = if secs.parse::<u64>().is_ok_and(|s| s > MAX_SESSION_SECS) {
            format!("less than or equal to {MAX_SESSION_SECS}")
        } else {
            format!("greater than or equal to {MIN_SESSION_SECS}")
        };
        Failure {
            status: 400,
            code: "ValidationError",
            message: format!(
                "1 validation error detected: Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value {bound}"
            ),
        }
    }
}

/// GetSessionToken's bounds and default, in seconds (IAM users).
const MIN_SESSION_SECS: u64 = 900;
const MAX_SESSION_SECS: u64 = 129_600;
const DEFAULT_SESSION_SECS: u64 = 43_200;

/// The actions AWS's "manage your own credentials, with MFA" policy allows a long-term key
/// without MFA (GetCallerIdentity cannot be denied at all).
const ALLOWED_WITHOUT_MFA: &[&str] = &[
    "GetCallerIdentity",
    "GetSessionToken",
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "GetUser",
    "ListMFADevices",
    "ListVirtualMFADevices",
    "ResyncMFADevice",
];

/// Session credentials GetSessionToken minted.
#[derive(Clone, Debug)]
pub struct Minted {
    pub key_id: String,
    /// The long-term key that signed the GetSessionToken.
    pub parent_key_id: String,
    pub duration_secs: u64,
    /// Whether a valid MFA code came with it (without, IAM refuses the session).
    pub with_mfa: bool,
    pub secret: String,
    pub token: String,
}

/// A minted session as the proxy keeps it.
struct Session {
    minted: Minted,
    /// The IAM user it belongs to.
    user: String,
    expires_at: SystemTime,
}

/// A user under the MFA rule.
struct MfaUser {
    /// The ARN of the user's MFA device.
    serial: String,
    /// The long-term keys the proxy knows (id, secret), oldest first.
    keys: Vec<(String, String)>,
}

/// The MFA emulation's state.
#[derive(Default)]
struct Mfa {
    /// MFA users by name.
    users: HashMap<String, MfaUser>,
    /// Which MFA user each known long-term key belongs to.
    key_owner: HashMap<String, String>,
    /// Long-term keys deleted through the proxy (moto no longer has them).
    deleted: HashSet<String>,
    /// One-time codes GetSessionToken accepts now, by serial number.
    codes: HashMap<String, HashSet<String>>,
    sessions: Vec<Session>,
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub action: String,
    pub key_id: String,
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
    /// Whether it carried a session token (`X-Amz-Security-Token`).
    pub session: bool,
}

type Hook = Box<dyn Fn() + Send + Sync>;
type RejectHook = Box<dyn Fn(&Seen) + Send + Sync>;

#[derive(Default)]
struct Rules {
    /// New keys are rejected for this long after CreateAccessKey answers.
    propagation: Option<Duration>,
    /// New keys are accepted this many times, then rejected forever.
    new_keys_work_times: Option<usize>,
    /// Keys rejected until the given instant (None: forever), with their use count.
    rejected_until: HashMap<String, Option<Instant>>,
    new_key_uses: HashMap<String, usize>,
    /// When each delayed new key starts to work.
    propagated_at: HashMap<String, Instant>,
    /// Actions answered with a failure instead of forwarding, with how many times more (None:
    /// always).
    failures: HashMap<String, (Failure, Option<usize>)>,
    /// Actions forwarded to moto (so they take effect) and then answered with a failure, with
    /// how many times more.
    fail_after_forward: HashMap<String, (Failure, usize)>,
    root_identity: bool,
    /// Actions forwarded to moto whose answer is then dropped (connection closed, no reply), with
    /// how many times more (None: always).
    drop_answer: HashMap<String, Option<usize>>,
    /// Random faults: (rate, generator state).
    faults: Option<(f64, u64)>,
    /// Stop listening (connection refused from then on) after answering this action.
    down_after: Option<String>,
    after_create: Option<Hook>,
    on_reject: Option<RejectHook>,
    /// Replaces the secret in CreateAccessKey's answers (XML text, as it goes on the wire).
    forged_secret: Option<String>,
    /// Key id → the CreateDate ListAccessKeys answers with (moto cannot make an old key).
    created: HashMap<String, String>,
    /// The next CreateAccessKey is answered by a dropped connection at once and reaches IAM
    /// only this much later; creates after it wait until it has landed.
    late_create: Option<Duration>,
    /// Set once a late create has landed (or `None`: no late create in flight).
    late_landed: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>,
    mfa: Mfa,
    /// Long-term secrets the proxy knows: learned from CreateAccessKey's answers, or given.
    secrets: HashMap<String, String>,
    seen: Vec<Seen>,
}

pub struct Proxy {
    pub url: String,
    rules: Arc<Mutex<Rules>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        Self::start_on(upstream, 0)
    }

    /// Starts a proxy on a given port (0: any), e.g. to bring an endpoint back up.
    pub fn start_on(upstream: &str, port: u16) -> Proxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = (0..50)
            .find_map(|_| {
                TcpListener::bind(("127.0.0.1", port)).ok().or_else(|| {
                    thread::sleep(Duration::from_millis(100));
                    None
                })
            })
            .expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let rules = rules.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let rules = rules.clone();
                    let upstream = upstream.clone();
                    let stop = stop.clone();
                    thread::spawn(move || {
                        if let Ok(true) = handle(conn, &upstream, &rules) {
                            // Go down: no more connections are accepted.
                            stop.store(true, Ordering::SeqCst);
                            let _ = TcpStream::connect(("127.0.0.1", port));
                        }
                    });
                }
            });
        }
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            rules,
            stop,
            port,
        }
    }

    /// Newly created keys answer InvalidClientTokenId for `d` (IAM's propagation delay).
    pub fn delay_new_keys(&self, d: Duration) {
        self.rules.lock().unwrap().propagation = Some(d);
    }

    /// Newly created keys work `n` times, then are rejected forever.
    pub fn new_keys_work_times(&self, n: usize) {
        self.rules.lock().unwrap().new_keys_work_times = Some(n);
    }

    /// Requests signed with `key_id` are rejected from now on (as real IAM does for Inactive keys).
    pub fn reject_key(&self, key_id: &str) {
        self.rules
            .lock()
            .unwrap()
            .rejected_until
            .insert(key_id.to_string(), None);
    }

    /// Every request for `action` (e.g. "CreateAccessKey") fails with `failure`.
    pub fn fail(&self, action: &str, failure: Failure) {
        self.rules
            .lock()
            .unwrap()
            .failures
            .insert(action.to_string(), (failure, None));
    }

    /// The next `times` requests for `action` fail with `failure`; later ones are forwarded.
    pub fn fail_times(&self, action: &str, failure: Failure, times: usize) {
        self.rules
            .lock()
            .unwrap()
            .failures
            .insert(action.to_string(), (failure, Some(times)));
    }

    /// The next `times` requests for `action` are forwarded to moto, so they take effect, and
    /// then answered with `failure` (an answer that says "failed" although IAM acted).
    pub fn fail_after_forward(&self, action: &str, failure: Failure, times: usize) {
        self.rules
            .lock()
            .unwrap()
            .fail_after_forward
            .insert(action.to_string(), (failure, times));
    }

    /// Makes each request fail with probability `rate`, reproducibly from `seed`: Throttling
    /// (400), ServiceUnavailable (503), a stall of up to 1.5 s, a connection dropped before the
    /// request reaches moto, or one dropped after (the request took effect, the answer is lost).
    pub fn faults(&self, rate: f64, seed: u64) {
        self.rules.lock().unwrap().faults = Some((rate, seed | 1));
    }

    /// After answering `action`, stops listening: every later connection is refused.
    pub fn go_down_after(&self, action: &str) {
        self.rules.lock().unwrap().down_after = Some(action.to_string());
    }

    /// Stops listening now: every later connection is refused.
    pub fn go_down(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forwards `action` to moto, then closes the connection without answering: the request took
    /// effect but the client never hears of it.
    pub fn drop_answer(&self, action: &str) {
        self.rules
            .lock()
            .unwrap()
            .drop_answer
            .insert(action.to_string(), None);
    }

    /// As [`Proxy::drop_answer`], for the next `times` requests for `action` only.
    pub fn drop_answer_times(&self, action: &str, times: usize) {
        self.rules
            .lock()
            .unwrap()
            .drop_answer
            .insert(action.to_string(), Some(times));
    }

    /// GetCallerIdentity answers as the account's root user.
    pub fn root_identity(&self) {
        self.rules.lock().unwrap().root_identity = true;
    }

    /// Runs `hook` right after a CreateAccessKey answer has been passed on.
    /// A forging endpoint: CreateAccessKey's answers carry `xml_text` as the new secret (the
    /// key itself is real, and stays in IAM unless the client deletes it).
    pub fn forge_secret(&self, xml_text: &str) {
        self.rules.lock().unwrap().forged_secret = Some(xml_text.to_string());
    }

    /// An old key: ListAccessKeys says `key_id` was created at `rfc3339` (moto makes every key
    /// now, and has no clock to turn back).
    pub fn key_created(&self, key_id: &str, rfc3339: &str) {
        self.rules
            .lock()
            .unwrap()
            .created
            .insert(key_id.to_string(), rfc3339.to_string());
    }

    /// A slow endpoint: the next CreateAccessKey loses its answer at once (the connection
    /// drops) and creates its key only `delay` later, after the client has looked for it.
    /// A CreateAccessKey sent meanwhile is held until that key exists.
    pub fn late_create(&self, delay: Duration) {
        self.rules.lock().unwrap().late_create = Some(delay);
    }

    pub fn after_create(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.rules.lock().unwrap().after_create = Some(Box::new(hook));
    }

    /// Runs `hook` for every request the proxy rejects for a key, before it answers.
    pub fn on_reject(&self, hook: impl Fn(&Seen) + Send + Sync + 'static) {
        self.rules.lock().unwrap().on_reject = Some(Box::new(hook));
    }

    /// When a key created under [`Proxy::delay_new_keys`] started to work.
    pub fn propagated_at(&self, key_id: &str) -> Option<Instant> {
        self.rules
            .lock()
            .unwrap()
            .propagated_at
            .get(key_id)
            .copied()
    }

    /// Tells the proxy a key's secret (keys created through it are learned by themselves), so
    /// that it can fix moto's form-encoding quirk for requests that key signs
    /// (see [`python_form`]).
    pub fn learn_key(&self, user: &User) {
        self.rules
            .lock()
            .unwrap()
            .secrets
            .insert(user.key_id.clone(), user.secret.clone());
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.rules.lock().unwrap().seen.clone()
    }

    /// Emulates AWS's documented "manage your own credentials, with MFA" policy for `user`: every
    /// IAM action signed with one of the user's long-term keys is denied with an explicit deny,
    /// except the ones that policy allows without MFA; `serial` is the user's MFA device. The
    /// user's keys are `user.key_id` and those created for the user through the proxy.
    pub fn require_mfa(&self, user: &User, serial: &str) {
        let mut r = self.rules.lock().unwrap();
        r.mfa
            .key_owner
            .insert(user.key_id.clone(), user.name.clone());
        r.mfa.users.insert(
            user.name.clone(),
            MfaUser {
                serial: serial.to_string(),
                keys: vec![(user.key_id.clone(), user.secret.clone())],
            },
        );
    }

    /// GetSessionToken accepts `code` for `serial` once (a TOTP code cannot be used twice).
    pub fn accept_mfa_code(&self, serial: &str, code: &str) {
        self.rules
            .lock()
            .unwrap()
            .mfa
            .codes
            .entry(serial.to_string())
            .or_default()
            .insert(code.to_string());
    }

    /// The IAM calls a rotation makes (its key management) that reached the proxy signed with a
    /// long-term key instead of a session, by action: empty when every one carried a session.
    pub fn key_management_without_session(&self) -> Vec<String> {
        const KEY_MANAGEMENT: &[&str] = &[
            "ListAccessKeys",
            "GetAccessKeyLastUsed",
            "CreateAccessKey",
            "UpdateAccessKey",
            "DeleteAccessKey",
        ];
        self.seen()
            .into_iter()
            .filter(|s| KEY_MANAGEMENT.contains(&s.action.as_str()) && !s.session)
            .map(|s| s.action)
            .collect()
    }

    /// The sessions GetSessionToken minted so far, in order.
    pub fn sessions(&self) -> Vec<Minted> {
        let r = self.rules.lock().unwrap();
        r.mfa.sessions.iter().map(|s| s.minted.clone()).collect()
    }

    /// Every session minted so far expires now (time passing, without the wait).
    pub fn expire_sessions(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for s in &mut self.rules.lock().unwrap().mfa.sessions {
            s.expires_at = past;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sends one request upstream as it came, on a connection of its own, and reads the answer.
/// Returns (head, body).
fn forward(upstream: &str, head: &str, body: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream)?;
    let mut new_head = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        new_head.push_str(line);
        new_head.push_str("\r\n");
    }
    new_head.push_str("Connection: close\r\n\r\n");
    up.write_all(new_head.as_bytes())?;
    up.write_all(body)?;
    up.flush()?;
    let answer = read_message(&mut up, true)?;
    let _ = up.shutdown(Shutdown::Both);
    Ok(answer)
}

/// Reads one HTTP/1.1 message with a Content-Length body. Returns (head, body).
fn read_message(conn: &mut TcpStream, until_eof: bool) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    match header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => {
            while body.len() < len {
                let n = conn.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None if until_eof => {
            conn.read_to_end(&mut body)?;
        }
        None => {}
    }
    Ok((head, body))
}

fn param(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn xml_value(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

/// A form parameter, percent-decoded.
fn form_param(body: &str, name: &str) -> Option<String> {
    param(body, name).map(|v| percent_decode(&v))
}

/// Decodes the `%XX` escapes and `+` (a space) of a form value.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a SigV4 `Authorization` header (`AWS4-HMAC-SHA256 Credential=KEYID/DATE/REGION/
/// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`).
struct SigV4 {
    key_id: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_sigv4(auth: &str) -> Option<SigV4> {
    let field = |name: &str| {
        auth.split([',', ' '])
            .find_map(|part| part.trim().strip_prefix(name))
    };
    let mut scope = field("Credential=")?.split('/');
    let key_id = scope.next()?.to_string();
    let _date = scope.next()?;
    let region = scope.next()?.to_string();
    let service = scope.next()?.to_string();
    Some(SigV4 {
        key_id,
        region,
        service,
        signed_headers: field("SignedHeaders=")?
            .split(';')
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: field("Signature=")?.to_string(),
    })
}

/// An `X-Amz-Date` value (`20261202T220000Z`) as a time.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(value, format).ok()?;
    Some(t.assume_utc().into())
}

/// A time as STS writes an expiration (`2026-12-02T22:00:00Z`).
fn format_expiration(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(format)
        .expect("format an expiration")
}

/// The method and target of the request line (`POST / HTTP/1.1`).
fn request_target(head: &str) -> Option<(&str, &str)> {
    let mut parts = head.lines().next()?.split_whitespace();
    Some((parts.next()?, parts.next()?))
}

/// Signs the request `head` + `body` with aws-sigv4 for the region and service of `sig`'s scope:
/// `headers` (lowercase names) and those the signer adds itself (host, x-amz-date,
/// x-amz-security-token if `creds` has a token and `settings` includes it). Returns the headers
/// to add and the signature.
fn sigv4_sign(
    head: &str,
    body: &[u8],
    headers: Vec<(&str, &str)>,
    creds: Credentials,
    sig: &SigV4,
    time: SystemTime,
    settings: SigningSettings,
) -> Option<(Vec<(String, String)>, String)> {
    let (method, target) = request_target(head)?;
    let host = header(head, "host")?;
    let identity: Identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&sig.region)
        .name(&sig.service)
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        method,
        format!("http://{host}{target}"),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let (instructions, signature) = sign(request, &params).ok()?.into_parts();
    let added = instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((added, signature))
}

/// Whether the request's SigV4 signature is the one session credentials (`key_id`, `secret`,
/// `token`) give: the headers named in `SignedHeaders`, signed at the request's `X-Amz-Date`.
fn signature_matches(head: &str, body: &[u8], sig: &SigV4, secret: &str, token: &str) -> bool {
    let Some(time) = header(head, "x-amz-date").and_then(parse_amz_date) else {
        return false;
    };
    let mut headers = Vec::new();
    for name in &sig.signed_headers {
        // The signer adds these from the time and the credentials.
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let Some(value) = header(head, name) else {
            return false;
        };
        headers.push((name.as_str(), value));
    }
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    settings.session_token_mode = if sig
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token")
    {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let creds = Credentials::new(
        &sig.key_id,
        secret,
        Some(token.to_string()),
        None,
        "keyrot-test-proxy",
    );
    sigv4_sign(head, body, headers, creds, sig, time, settings)
        .is_some_and(|(_, signature)| signature == sig.signature)
}

/// `head` re-signed with a long-term key at the current time: the session's authorization,
/// token, date and payload hash are dropped, and host and content-type signed anew.
fn resign(head: &str, body: &[u8], sig: &SigV4, key_id: &str, secret: &str) -> Option<String> {
    const DROPPED: &[&str] = &[
        "authorization",
        "x-amz-security-token",
        "x-amz-date",
        "x-amz-content-sha256",
    ];
    let mut out: Vec<String> = head
        .split("\r\n")
        .enumerate()
        .filter(|(i, line)| {
            let name = line.split(':').next().unwrap_or_default().trim();
            *i == 0 || !DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d))
        })
        .map(|(_, line)| line.to_string())
        .collect();
    let headers: Vec<(&str, &str)> = ["content-type", "host"]
        .into_iter()
        .filter_map(|name| header(head, name).map(|v| (name, v)))
        .collect();
    let creds = Credentials::new(key_id, secret, None, None, "keyrot-test-proxy");
    let (added, _) = sigv4_sign(
        head,
        body,
        headers,
        creds,
        sig,
        SystemTime::now(),
        SigningSettings::default(),
    )?;
    out.extend(added.into_iter().map(|(k, v)| format!("{k}: {v}")));
    Some(out.join("\r\n"))
}

/// moto checks a form request's signature over the body as Python encodes it again, where a
/// space is `+`; the Rust SDK sends a space as `%20`, so a request whose values hold a space
/// (a tag value, say) fails moto's check although AWS accepts it. Such a request, once its
/// signature is verified with the key's `secret`, is forwarded with the body Python would
/// write, signed again with the same key. `None` when the signature does not verify (moto then
/// rejects the request as it came).
fn python_form(head: &str, body: &[u8], secret: &str) -> Option<(String, Vec<u8>)> {
    let sig = header(head, "authorization").and_then(parse_sigv4)?;
    if !signature_matches(head, body, &sig, secret, "") {
        return None;
    }
    let text = String::from_utf8_lossy(body).replace("%20", "+");
    let new_body = text.into_bytes();
    let head = resign(head, &new_body, &sig, &sig.key_id, secret)?;
    let head = head
        .split("\r\n")
        .map(|line| {
            let name = line.split(':').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("content-length") {
                format!("Content-Length: {}", new_body.len())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    Some((head, new_body))
}

/// `n` random characters from `alphabet`.
fn random_text(alphabet: &[u8], n: usize) -> String {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

/// What the MFA emulation does with a request.
enum Route {
    /// Forward it as it came.
    AsIs,
    /// Forward this head instead: a verified session request re-signed with a long-term key.
    Resign(String),
    /// GetSessionToken signed with a long-term key of an MFA user (name, key id): forward it
    /// (moto checks the signature), then answer with a session of the proxy's own.
    Mint { user: String, parent_key_id: String },
    /// Answer with this failure, without forwarding.
    Deny(Failure),
}

impl Mfa {
    /// Decides what to do with a request for `action`.
    fn route(&self, head: &str, body: &[u8], action: &str) -> Route {
        let Some(sig) = header(head, "authorization").and_then(parse_sigv4) else {
            return Route::AsIs;
        };
        let token = header(head, "x-amz-security-token");
        if let Some(session) = self.sessions.iter().find(|s| s.minted.key_id == sig.key_id) {
            return self.route_session(session, &sig, token, head, body, action);
        }
        let Some(user) = self.key_owner.get(&sig.key_id) else {
            return Route::AsIs;
        };
        // A deleted key, or a long-term key with a token: moto rejects them as IAM does.
        if self.deleted.contains(&sig.key_id) || token.is_some() {
            return Route::AsIs;
        }
        if action == "GetSessionToken" {
            return Route::Mint {
                user: user.clone(),
                parent_key_id: sig.key_id,
            };
        }
        if ALLOWED_WITHOUT_MFA.contains(&action) {
            return Route::AsIs;
        }
        Route::Deny(Failure::explicit_deny(
            user,
            &format!("{}:{action}", sig.service),
        ))
    }

    /// A request signed with a minted session's key: checks its token, signature, expiry and
    /// MFA, then re-signs it with a long-term key of the session's user.
    fn route_session(
        &self,
        session: &Session,
        sig: &SigV4,
        token: Option<&str>,
        head: &str,
        body: &[u8],
        action: &str,
    ) -> Route {
        let m = &session.minted;
        if token != Some(m.token.as_str()) {
            return Route::Deny(Failure::invalid_token());
        }
        if !signature_matches(head, body, sig, &m.secret, &m.token) {
            return Route::Deny(Failure::signature_mismatch());
        }
        if SystemTime::now() >= session.expires_at {
            return Route::Deny(Failure::expired_token());
        }
        if action == "GetSessionToken" {
            return Route::Deny(Failure::session_cannot_get_session());
        }
        if !m.with_mfa && sig.service == "iam" {
            return Route::Deny(Failure::invalid_token());
        }
        let Some((key_id, secret)) = self.signing_key(&session.user, &m.parent_key_id) else {
            // AWS would still answer; moto cannot without a key of the user.
            return Route::Deny(Failure {
                status: 500,
                code: "InternalFailure",
                message: format!(
                    "test proxy: no long-term key of {} left to re-sign a session request with",
                    session.user
                ),
            });
        };
        let head = resign(head, body, sig, key_id, secret).expect("re-sign a verified request");
        Route::Resign(head)
    }

    /// The long-term key to re-sign `user`'s session requests with: the parent, or once that is
    /// deleted (AWS keeps the session working, moto would not), the newest key left.
    fn signing_key(&self, user: &str, parent_key_id: &str) -> Option<(&str, &str)> {
        let keys = &self.users.get(user)?.keys;
        let alive = |(id, _): &&(String, String)| !self.deleted.contains(id);
        keys.iter()
            .filter(alive)
            .find(|(id, _)| id == parent_key_id)
            .or_else(|| keys.iter().rev().find(alive))
            .map(|(id, secret)| (id.as_str(), secret.as_str()))
    }

    /// GetSessionToken for `user`, signed with `parent_key_id`, with the form `request`: checks
    /// the duration and the MFA code (consuming it), mints a session and returns STS's answer.
    fn mint(&mut self, user: &str, parent_key_id: &str, request: &str) -> Result<String, Failure> {
        let duration_secs = match form_param(request, "DurationSeconds") {
            None => DEFAULT_SESSION_SECS,
            Some(d) => d
                .parse::<u64>()
                .ok()
                .filter(|s| (MIN_SESSION_SECS..=MAX_SESSION_SECS).contains(s))
                .ok_or_else(|| Failure::bad_duration(&d))?,
        };
        let serial = form_param(request, "SerialNumber");
        let code = form_param(request, "TokenCode");
        let with_mfa = serial.is_some() || code.is_some();
        if with_mfa {
            let serial = serial.unwrap_or_default();
            if self.users.get(user).map(|u| u.serial.as_str()) != Some(serial.as_str()) {
                return Err(Failure::mfa_serial_invalid());
            }
            let code = code.unwrap_or_default();
            let consumed = self
                .codes
                .get_mut(&serial)
                .is_some_and(|codes| codes.remove(&code));
            if !consumed {
                return Err(Failure::mfa_code_invalid());
            }
        }
        let minted = Minted {
            key_id: format!("ASIA{}", random_text(UPPER_ALNUM, 16)),
            parent_key_id: parent_key_id.to_string(),
            duration_secs,
            with_mfa,
            secret: random_text(BASE64, 40),
            token: random_text(BASE64, 300),
        };
        let expires_at = SystemTime::now() + Duration::from_secs(duration_secs);
        let answer = session_answer(&minted, expires_at);
        self.sessions.push(Session {
            minted,
            user: user.to_string(),
            expires_at,
        });
        Ok(answer)
    }

    /// Learns from an answer moto gave (status 200) to a forwarded `request`: the keys created
    /// for MFA users (CreateAccessKey), and the keys deleted (DeleteAccessKey).
    fn learn(&mut self, action: &str, request: &str, answer: &str) {
        match action {
            "CreateAccessKey" => {
                if let (Some(name), Some(id), Some(secret)) = (
                    xml_value(answer, "UserName"),
                    xml_value(answer, "AccessKeyId"),
                    xml_value(answer, "SecretAccessKey"),
                ) && let Some(user) = self.users.get_mut(&name)
                {
                    user.keys.push((id.clone(), secret));
                    self.key_owner.insert(id, name);
                }
            }
            "DeleteAccessKey" => {
                if let Some(id) = form_param(request, "AccessKeyId") {
                    self.deleted.insert(id);
                }
            }
            _ => {}
        }
    }
}

/// STS's GetSessionToken answer for a minted session.
fn session_answer(m: &Minted, expires_at: SystemTime) -> String {
    let request_id = [8, 4, 4, 4, 12].map(|n| random_text(HEX, n)).join("-");
    format!(
        "<GetSessionTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetSessionTokenResult>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n  </GetSessionTokenResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetSessionTokenResponse>\n",
        m.key_id,
        m.secret,
        m.token,
        format_expiration(expires_at)
    )
}

/// Whether moto's answer to a forwarded request shows that it authenticated it: a success, or
/// an AccessDenied (moto checks the signature first, then its policies; GetSessionToken needs
/// no permission on AWS, so a policy that does not allow it is no reason to refuse).
fn moto_authenticated(status: u16, answer: &str) -> bool {
    status == 200 || (status == 403 && answer.contains("<Code>AccessDenied</Code>"))
}

fn respond(
    conn: &mut TcpStream,
    status: u16,
    body: &[u8],
    content_type: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        409 => "Conflict",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn aws_error(service: &str, f: &Failure) -> Vec<u8> {
    let ns = if service == "sts" {
        "https://sts.amazonaws.com/doc/2011-06-15/"
    } else {
        "https://iam.amazonaws.com/doc/2010-05-08/"
    };
    format!(
        "<ErrorResponse xmlns=\"{ns}\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>\n</ErrorResponse>\n",
        f.code, f.message
    )
    .into_bytes()
}

/// Handles one connection. Returns whether the proxy should go down afterwards.
fn handle(mut conn: TcpStream, upstream: &str, rules: &Mutex<Rules>) -> std::io::Result<bool> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body) = read_message(&mut conn, false)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let action = param(&text, "Action").unwrap_or_default();
    let auth = header(&head, "authorization")
        .unwrap_or_default()
        .to_string();
    let scope = auth.split("Credential=").nth(1).unwrap_or_default();
    let mut parts = scope.split('/');
    let key_id = parts.next().unwrap_or_default().to_string();
    let service = parts.nth(2).unwrap_or_default().to_string();
    let session = header(&head, "x-amz-security-token").is_some();

    // Decide whether to answer ourselves.
    let (failure, seen_index, fault, route) = {
        let mut r = rules.lock().unwrap();
        let mut failure = match r.failures.get_mut(&action) {
            Some((f, None)) => Some(f.clone()),
            Some((f, Some(n))) if *n > 0 => {
                *n -= 1;
                Some(f.clone())
            }
            _ => None,
        };
        // A random fault for this request, if any.
        let mut fault = Fault::None;
        if let Some((rate, state)) = r.faults.as_mut() {
            let mut next = || {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                (*state >> 11) as f64 / (1u64 << 53) as f64
            };
            if next() < *rate {
                fault = match (next() * 5.0) as u32 {
                    0 => Fault::Fail(Failure::throttling()),
                    1 => Fault::Fail(Failure::unavailable()),
                    2 => Fault::Stall(Duration::from_millis(200 + (next() * 1300.0) as u64)),
                    3 => Fault::DropBefore,
                    _ => Fault::DropAfter,
                };
            }
        }
        if failure.is_none()
            && let Fault::Fail(f) = &fault
        {
            failure = Some(f.clone());
        }
        if failure.is_none() {
            let now = Instant::now();
            if let Some(until) = r.rejected_until.get(&key_id)
                && until.is_none_or(|u| now < u)
            {
                failure = Some(Failure::invalid_token());
            }
            if failure.is_none()
                && let Some(limit) = r.new_keys_work_times
                && let Some(uses) = r.new_key_uses.get_mut(&key_id)
            {
                *uses += 1;
                if *uses > limit {
                    failure = Some(Failure::invalid_token());
                }
            }
        }
        // MFA-enforced IAM: authorization, after the key itself was accepted.
        let mut route = Route::AsIs;
        if failure.is_none() {
            route = r.mfa.route(&head, &body, &action);
            if let Route::Deny(f) = &route {
                failure = Some(f.clone());
            }
        }
        let status = failure.as_ref().map(|f| f.status).unwrap_or(0);
        r.seen.push(Seen {
            action: action.clone(),
            key_id: key_id.clone(),
            status,
            at: Instant::now(),
            session,
        });
        if failure.is_some()
            && let Some(hook) = &r.on_reject
        {
            hook(r.seen.last().unwrap());
        }
        (failure, r.seen.len() - 1, fault, route)
    };
    match fault {
        Fault::DropBefore => {
            let _ = conn.shutdown(Shutdown::Both);
            return Ok(false);
        }
        Fault::Stall(d) => thread::sleep(d),
        _ => {}
    }
    if let Some(f) = failure {
        respond(&mut conn, f.status, &aws_error(&service, &f), "text/xml")?;
        return Ok(false);
    }
    // moto's form-encoding quirk, for requests signed with a long-term key the proxy knows.
    let (head, body) = match (&route, rules.lock().unwrap().secrets.get(&key_id).cloned()) {
        (Route::AsIs, Some(secret)) if !session && find(&body, b"%20").is_some() => {
            python_form(&head, &body, &secret).unwrap_or((head, body))
        }
        _ => (head, body),
    };
    let (head, mint) = match route {
        Route::Resign(resigned) => (resigned, None),
        Route::Mint {
            user,
            parent_key_id,
        } => (head, Some((user, parent_key_id))),
        Route::AsIs | Route::Deny(_) => (head, None),
    };

    if action == "CreateAccessKey" {
        let (late, landed) = {
            let mut r = rules.lock().unwrap();
            let late = r.late_create.take();
            if late.is_some() {
                r.late_landed = Some(Arc::new((Mutex::new(false), std::sync::Condvar::new())));
            }
            (late, r.late_landed.clone())
        };
        if let (Some(delay), Some(landed)) = (late, landed.clone()) {
            let _ = conn.shutdown(Shutdown::Both);
            let (upstream, head, body) = (upstream.to_string(), head.clone(), body.clone());
            thread::spawn(move || {
                thread::sleep(delay);
                let _ = forward(&upstream, &head, &body);
                *landed.0.lock().unwrap() = true;
                landed.1.notify_all();
            });
            return Ok(false);
        }
        if let Some(landed) = landed {
            let mut done = landed.0.lock().unwrap();
            while !*done {
                done = landed.1.wait(done).unwrap();
            }
        }
    }

    // Forward, one request per upstream connection.
    let (resp_head, mut resp_body) = forward(upstream, &head, &body)?;
    let mut status: u16 = resp_head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let mut content_type = header(&resp_head, "content-type")
        .unwrap_or("text/xml")
        .to_string();
    let resp_text = String::from_utf8_lossy(&resp_body).into_owned();

    let hook = {
        let mut r = rules.lock().unwrap();
        if let Some((user, parent_key_id)) = &mint
            && moto_authenticated(status, &resp_text)
        {
            (status, resp_body) = match r.mfa.mint(user, parent_key_id, &text) {
                Ok(xml) => (200, xml.into_bytes()),
                Err(f) => (f.status, aws_error(&service, &f)),
            };
            content_type = "text/xml".into();
        }
        if status == 200 {
            r.mfa.learn(&action, &text, &resp_text);
        }
        r.seen[seen_index].status = status;
        if action == "GetCallerIdentity"
            && r.root_identity
            && status == 200
            && let (Some(arn), Some(account)) = (
                xml_value(&resp_text, "Arn"),
                xml_value(&resp_text, "Account"),
            )
        {
            resp_body = resp_text
                .replace(&arn, &format!("arn:aws:iam::{account}:root"))
                .into_bytes();
        }
        // Real IAM stops accepting a key the moment it is Inactive (moto does not).
        if action == "UpdateAccessKey"
            && status == 200
            && let Some(target) = param(&text, "AccessKeyId")
        {
            match param(&text, "Status").as_deref() {
                Some("Inactive") => {
                    r.rejected_until.insert(target, None);
                }
                Some("Active") => {
                    r.rejected_until.remove(&target);
                }
                _ => {}
            }
        }
        if action == "CreateAccessKey"
            && status == 200
            && let (Some(forged), Some(real)) = (
                r.forged_secret.clone(),
                xml_value(&resp_text, "SecretAccessKey"),
            )
        {
            resp_body = resp_text
                .replace(
                    &format!("<SecretAccessKey>{real}</SecretAccessKey>"),
                    &format!("<SecretAccessKey>{forged}</SecretAccessKey>"),
                )
                .into_bytes();
        }
        if action == "ListAccessKeys" && status == 200 && !r.created.is_empty() {
            let text = String::from_utf8_lossy(&resp_body).into_owned();
            let members: Vec<String> = text
                .split("<member>")
                .map(|m| {
                    let Some((id, date)) = r
                        .created
                        .iter()
                        .find(|(id, _)| m.contains(&format!("<AccessKeyId>{id}</AccessKeyId>")))
                    else {
                        return m.to_string();
                    };
                    let _ = id;
                    match (m.find("<CreateDate>"), m.find("</CreateDate>")) {
                        (Some(a), Some(b)) => format!("{}<CreateDate>{date}{}", &m[..a], &m[b..]),
                        _ => m.to_string(),
                    }
                })
                .collect();
            resp_body = members.join("<member>").into_bytes();
        }
        if action == "CreateAccessKey" && status == 200 {
            if let (Some(id), Some(secret)) = (
                xml_value(&resp_text, "AccessKeyId"),
                xml_value(&resp_text, "SecretAccessKey"),
            ) {
                r.secrets.insert(id, secret);
            }
            if let Some(new_id) = xml_value(&resp_text, "AccessKeyId") {
                if let Some(d) = r.propagation {
                    let at = Instant::now() + d;
                    r.rejected_until.insert(new_id.clone(), Some(at));
                    r.propagated_at.insert(new_id.clone(), at);
                }
                if r.new_keys_work_times.is_some() {
                    r.new_key_uses.insert(new_id, 0);
                }
            }
            r.after_create.take()
        } else {
            None
        }
    };
    let (drop, late_failure) = {
        let mut r = rules.lock().unwrap();
        let drop = match r.drop_answer.get_mut(&action) {
            Some(None) => true,
            Some(Some(n)) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let late_failure = match r.fail_after_forward.get_mut(&action) {
            Some((f, n)) if *n > 0 => {
                *n -= 1;
                Some(f.clone())
            }
            _ => None,
        };
        (drop, late_failure)
    };
    if drop || matches!(fault, Fault::DropAfter) {
        let _ = conn.shutdown(Shutdown::Both);
        return Ok(false);
    }
    if let Some(f) = late_failure {
        respond(&mut conn, f.status, &aws_error(&service, &f), "text/xml")?;
        return Ok(false);
    }
    // The hook runs before the answer goes out, so the agent sees its effect.
    if let Some(hook) = hook {
        hook();
    }
    respond(&mut conn, status, &resp_body, &content_type)?;
    let go_down =
        rules.lock().unwrap().down_after.as_deref() == Some(action.as_str()) && status == 200;
    Ok(go_down)
}

enum Fault {
    None,
    Fail(Failure),
    Stall(Duration),
    DropBefore,
    DropAfter,
}
