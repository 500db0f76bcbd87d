//! A small HTTP proxy between keyrot-agent and moto that makes moto behave like real IAM/STS
//! where moto does not: new keys that take time to propagate, Inactive keys that stop working,
//! failures answered with real AWS error bodies, and a network that throttles, stalls, drops
//! connections or goes away. Loopback only, one request per connection. Random faults come from
//! a seeded generator, so a failing run reproduces.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub action: String,
    pub key_id: String,
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
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
    /// The next CreateAccessKey is answered by a dropped connection at once and reaches IAM
    /// only this much later; creates after it wait until it has landed.
    late_create: Option<Duration>,
    /// Set once a late create has landed (or `None`: no late create in flight).
    late_landed: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>,
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

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.rules.lock().unwrap().seen.clone()
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

    // Decide whether to answer ourselves.
    let (failure, seen_index, fault) = {
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
        let status = failure.as_ref().map(|f| f.status).unwrap_or(0);
        r.seen.push(Seen {
            action: action.clone(),
            key_id: key_id.clone(),
            status,
            at: Instant::now(),
        });
        if failure.is_some()
            && let Some(hook) = &r.on_reject
        {
            hook(r.seen.last().unwrap());
        }
        (failure, r.seen.len() - 1, fault)
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
    let status: u16 = resp_head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let content_type = header(&resp_head, "content-type")
        .unwrap_or("text/xml")
        .to_string();
    let resp_text = String::from_utf8_lossy(&resp_body).into_owned();

    let hook = {
        let mut r = rules.lock().unwrap();
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
        if action == "CreateAccessKey" && status == 200 {
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
