//! Test harness: a shared moto_server with SigV4 enforced, per-test IAM users, an isolated
//! HOME/XDG environment per test, the real `keyrot-agent` binary, and the real AWS CLI.
//!
//! The README's test command starts moto once and passes it in `KEYROT_TEST_MOTO_URL` (with the
//! admin key); a plain `cargo test` starts one per test binary that stops when the binary exits.

#![allow(dead_code)]

pub mod desktop;
pub mod proxy;
pub mod secrets;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_credential_types::Credentials;
use aws_sdk_iam::types::StatusType;

pub const REGION: &str = "us-east-1";

/// The self-service policy keyrot-agent documents, with `Resource: "*"` because moto matches
/// policies only against `*`.
pub fn self_service_policy() -> String {
    keyrot_agent::core::keys::SELF_SERVICE_POLICY
        .replace("arn:aws:iam::*:user/${aws:username}", "*")
}

/// A policy document as compact JSON: moto re-encodes form bodies the way Python does before
/// checking signatures, and differs from the Rust SDK's encoding for spaces and newlines.
fn compact(policy: &str) -> String {
    serde_json::from_str::<serde_json::Value>(policy)
        .unwrap()
        .to_string()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub struct Moto {
    pub url: String,
    admin: Credentials,
}

/// The shared moto server.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let (url, id, secret) = match std::env::var("KEYROT_TEST_MOTO_URL") {
            Ok(url) => (
                url,
                std::env::var("KEYROT_TEST_ADMIN_KEY_ID").expect("KEYROT_TEST_ADMIN_KEY_ID"),
                std::env::var("KEYROT_TEST_ADMIN_SECRET").expect("KEYROT_TEST_ADMIN_SECRET"),
            ),
            Err(_) => start_moto(),
        };
        Moto {
            url,
            admin: Credentials::new(id, secret, None, None, "test-admin"),
        }
    })
}

fn start_moto() -> (String, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/start_moto.sh");
    let log = std::env::temp_dir().join(format!("keyrot-test-moto-{}.log", std::process::id()));
    let out = Command::new("bash")
        .arg(&script)
        .arg(&log)
        .arg(std::process::id().to_string())
        .output()
        .expect("run tests/support/start_moto.sh");
    assert!(
        out.status.success(),
        "could not start moto_server (install the test requirements: python3 -m pip install -r tests/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let vars: HashMap<&str, &str> = text
        .trim()
        .trim_start_matches("export ")
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    (
        vars["KEYROT_TEST_MOTO_URL"].to_string(),
        vars["KEYROT_TEST_ADMIN_KEY_ID"].to_string(),
        vars["KEYROT_TEST_ADMIN_SECRET"].to_string(),
    )
}

/// An IAM user made for one test, with one access key.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub arn: String,
    pub key_id: String,
    pub secret: String,
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Moto {
    fn iam_with(&self, creds: Credentials) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(creds)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    fn iam(&self) -> aws_sdk_iam::Client {
        self.iam_with(self.admin.clone())
    }

    /// A user with the documented self-service policy and one key.
    pub fn user(&self, prefix: &str) -> User {
        self.user_with_policy(prefix, &self_service_policy())
    }

    pub fn user_with_policy(&self, prefix: &str, policy: &str) -> User {
        let name = unique(prefix);
        block_on(async {
            let iam = self.iam();
            let u = iam.create_user().user_name(&name).send().await.unwrap();
            iam.put_user_policy()
                .user_name(&name)
                .policy_name("self-service")
                .policy_document(compact(policy))
                .send()
                .await
                .unwrap();
            let k = iam
                .create_access_key()
                .user_name(&name)
                .send()
                .await
                .unwrap();
            let k = k.access_key().unwrap();
            User {
                arn: u.user().unwrap().arn().to_string(),
                name: name.clone(),
                key_id: k.access_key_id().to_string(),
                secret: k.secret_access_key().to_string(),
            }
        })
    }

    /// Another key for `user`: (id, secret).
    pub fn add_key(&self, user: &User) -> (String, String) {
        block_on(async {
            let k = self
                .iam()
                .create_access_key()
                .user_name(&user.name)
                .send()
                .await
                .unwrap();
            let k = k.access_key().unwrap();
            (
                k.access_key_id().to_string(),
                k.secret_access_key().to_string(),
            )
        })
    }

    pub fn set_active(&self, user: &User, key_id: &str, active: bool) {
        block_on(async {
            self.iam()
                .update_access_key()
                .user_name(&user.name)
                .access_key_id(key_id)
                .status(if active {
                    StatusType::Active
                } else {
                    StatusType::Inactive
                })
                .send()
                .await
                .unwrap();
        })
    }

    /// The user's keys as (id, active), sorted by id.
    pub fn keys(&self, user: &User) -> Vec<(String, bool)> {
        block_on(async {
            let out = self
                .iam()
                .list_access_keys()
                .user_name(&user.name)
                .send()
                .await
                .unwrap();
            let mut keys: Vec<(String, bool)> = out
                .access_key_metadata()
                .iter()
                .map(|m| {
                    (
                        m.access_key_id().unwrap().to_string(),
                        m.status() == Some(&StatusType::Active),
                    )
                })
                .collect();
            keys.sort();
            keys
        })
    }

    /// The user's tags as (key, value), sorted (a tag named after an access key id is that
    /// key's description in the console).
    pub fn tags(&self, user: &User) -> Vec<(String, String)> {
        block_on(async {
            let out = self
                .iam()
                .list_user_tags()
                .user_name(&user.name)
                .send()
                .await
                .unwrap();
            let mut tags: Vec<(String, String)> = out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            tags.sort();
            tags
        })
    }

    /// Whether a key pair authenticates (STS GetCallerIdentity), and as whom.
    pub fn whoami(&self, key_id: &str, secret: &str) -> Option<String> {
        block_on(async {
            let conf = aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new(REGION))
                .endpoint_url(&self.url)
                .credentials_provider(Credentials::new(key_id, secret, None, None, "test"))
                .build();
            aws_sdk_sts::Client::from_conf(conf)
                .get_caller_identity()
                .send()
                .await
                .ok()
                .and_then(|o| o.arn().map(String::from))
        })
    }
}

/// The interpreter that has botocore and the AWS CLI installed, resolved once from the
/// caller's environment (the pyenv shim needs the real HOME, the tests do not keep it).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 on PATH");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Node.js and the pinned AWS SDK for JavaScript of `tests/oracle` (installed by
/// `scripts/test.sh` with `npm ci`): a command running `script` of that directory.
pub fn node(script: &str) -> Command {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle");
    assert!(
        dir.join("node_modules/@aws-sdk/credential-providers")
            .is_dir(),
        "the AWS SDK for JavaScript is not installed: run `npm ci --prefix tests/oracle` (scripts/test.sh does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script));
    cmd
}

/// What a command printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn failure(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    /// Asserts that none of `secrets` appears in anything the command printed.
    #[track_caller]
    pub fn assert_no_secret(&self, secrets: &[&str]) {
        for (i, s) in secrets.iter().enumerate() {
            assert!(!s.is_empty());
            for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
                if let Some(at) = text.find(s) {
                    // Say which secret and where, with the secret itself masked.
                    let from = text.floor_char_boundary(at.saturating_sub(200));
                    let to = text.ceil_char_boundary((at + s.len() + 200).min(text.len()));
                    let context = text[from..to].replace(s, "<SECRET>");
                    panic!("secret #{i} ({} chars) in {name}: …{context}…", s.len());
                }
            }
        }
    }
}

/// A fresh HOME and XDG tree for one test, pointed at moto (or at a proxy in front of it).
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub endpoint: String,
    pub extra_env: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        Self::with_endpoint(&moto().url)
    }

    pub fn with_endpoint(endpoint: &str) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        TestEnv {
            dir,
            home,
            endpoint: endpoint.to_string(),
            extra_env: Vec::new(),
        }
    }

    /// Writes keyrot-agent's own config file and points `KEYROT_CONFIG` at it. Returns its path,
    /// for tests that edit it later.
    pub fn use_config(&mut self, text: &str) -> PathBuf {
        let path = self.dir.path().join("keyrot.toml");
        std::fs::write(&path, text).unwrap();
        self.extra_env
            .push(("KEYROT_CONFIG".into(), path.display().to_string()));
        path
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.home.join(".aws/credentials")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/keyrot-agent")
    }

    /// Writes the credentials file mode 0600, as `aws configure` does (a file others can read
    /// gets a warning).
    pub fn write_credentials(&self, text: impl AsRef<[u8]>) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.credentials_path();
        std::fs::write(&path, text).unwrap();
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.home.join(".aws/config"), text).unwrap();
    }

    pub fn credentials(&self) -> Vec<u8> {
        std::fs::read(self.credentials_path()).unwrap()
    }

    pub fn credentials_text(&self) -> String {
        String::from_utf8(self.credentials()).unwrap()
    }

    pub fn env(&self) -> Vec<(String, OsString)> {
        let d = self.dir.path();
        let mut env: Vec<(String, OsString)> = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
            ("HOME".into(), self.home.clone().into()),
            ("XDG_STATE_HOME".into(), d.join("state").into()),
            ("XDG_CONFIG_HOME".into(), d.join("config").into()),
            ("XDG_DATA_HOME".into(), d.join("data").into()),
            ("XDG_CACHE_HOME".into(), d.join("cache").into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone().into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("NO_COLOR".into(), "1".into()),
            // No session bus unless a test brings its own (desktop, keyring): nothing reaches a
            // bus the machine may have at $XDG_RUNTIME_DIR/bus.
            (
                "DBUS_SESSION_BUS_ADDRESS".into(),
                "unix:path=/nonexistent/keyrot-test-no-bus".into(),
            ),
        ];
        for (k, v) in &self.extra_env {
            env.push((k.clone(), v.into()));
        }
        env
    }

    /// The real binary in this environment (`KEYROT_TEST_BIN` runs another build, such as an
    /// older release, against the same tests).
    pub fn command(&self) -> Command {
        let bin = std::env::var_os("KEYROT_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_keyrot-agent").into());
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .envs(self.env())
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs the binary with the failpoint `point` armed (`KEYROT_FAILPOINTS`).
    pub fn crash_at(&self, point: &str, args: &[&str]) -> Output {
        self.command()
            .env("KEYROT_FAILPOINTS", point)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs the binary with `point` armed and checks that it aborted there.
    pub fn assert_crashes_at(&self, point: &str, args: &[&str]) {
        use std::os::unix::process::ExitStatusExt;
        let out = self.crash_at(point, args);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{point}: expected an abort, got {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    /// A value of the credentials file as it is now on disk.
    pub fn value(&self, section: &str, key: &str) -> Option<String> {
        let text = self.credentials_text();
        keyrot_agent::core::credentials::parse(
            text.as_bytes(),
            keyrot_agent::core::credentials::FileKind::Credentials,
        )
        .unwrap()
        .get(section, key)
        .map(String::from)
    }

    /// The key pair `profile` holds in the credentials file now.
    pub fn key_pair(&self, profile: &str) -> (String, String) {
        (
            self.value(profile, "aws_access_key_id").unwrap(),
            self.value(profile, "aws_secret_access_key").unwrap(),
        )
    }

    /// The real AWS CLI (botocore) in this environment.
    pub fn aws(&self, args: &[&str]) -> Run {
        let out = Command::new(python())
            .arg("-m")
            .arg("awscli")
            .args(args)
            .env_clear()
            .envs(self.env())
            .output()
            .unwrap();
        Run::from(out)
    }

    /// What a Node.js program (the AWS SDK for JavaScript v3, `tests/oracle/js_identity.mjs`)
    /// gets for `profile` from the files as they are now: its GetCallerIdentity answer with the
    /// key id it used and the account id its credentials carried, or the SDK's error.
    pub fn js_identity(&self, profile: &str) -> Result<serde_json::Value, String> {
        let out = node("js_identity.mjs")
            .arg(profile)
            .env_clear()
            .envs(self.env())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "js_identity.mjs: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        match v.get("error") {
            Some(e) => Err(e.as_str().unwrap_or_default().to_string()),
            None => Ok(v),
        }
    }

    /// The ARN the real AWS CLI gets for `profile` from the files as they are now.
    pub fn cli_identity(&self, profile: &str) -> String {
        let r = self.aws(&[
            "sts",
            "get-caller-identity",
            "--profile",
            profile,
            "--output",
            "json",
        ]);
        r.success();
        r.json()["Arn"].as_str().unwrap().to_string()
    }
}

/// A credentials file for one profile holding `user`'s key.
/// A post_rotate hook that stands for another program still using `user`'s first key: it
/// lists S3 buckets with that key (the real AWS CLI, straight to moto), so that IAM's last-used
/// record of the key names S3. Returns the `post_rotate` value that runs it.
pub fn other_program_using(dir: &Path, user: &User) -> String {
    let script = dir.join("other-program.py");
    std::fs::write(
        &script,
        format!(
            "import os, subprocess, sys\nsys.stdin.read()\nenv = dict(os.environ, AWS_ACCESS_KEY_ID='{}', AWS_SECRET_ACCESS_KEY='{}', AWS_DEFAULT_REGION='eu-west-1')\nsubprocess.run([sys.executable, '-m', 'awscli', 's3api', 'list-buckets', '--endpoint-url', '{}'], env=env, capture_output=True)\n",
            user.key_id,
            user.secret,
            moto().url
        ),
    )
    .unwrap();
    format!("'{}' '{}'", python().display(), script.display())
}

pub fn profile(name: &str, user: &User) -> String {
    format!(
        "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        user.key_id, user.secret
    )
}
