//! Differential test of the credentials-file reader: every fixture in
//! `tests/fixtures/credentials/` is read by keyrot-agent, by botocore (the AWS CLI's reader, via
//! `tests/oracle/botocore_read.py`), by aws-config's profile credentials provider (the Rust
//! SDK's reader) and by the AWS SDK for JavaScript v3 (`tests/oracle/js_read.mjs`, pinned npm
//! packages). Wherever keyrot-agent accepts a file, all four must agree on every profile's key id
//! and secret; otherwise keyrot-agent must refuse the file. The one allowed difference: the
//! JavaScript SDK sees no key in a profile whose key names are not in lower case, and exactly
//! there keyrot-agent warns (`profiles::unseen_by_javascript`). Each fixture's expected outcome
//! is pinned below, so a change in what is accepted or refused is seen.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use keyrot_agent::core::credentials::{self, FileKind, ProblemKind};
use keyrot_agent::core::profiles::{self, SkipReason};

/// What keyrot-agent must make of each fixture: `Ok` or the first refused line.
const EXPECTED: &[(&str, Result<(), usize>)] = &[
    ("assume-role", Ok(())),
    ("aws-configure-default", Ok(())),
    ("aws-configure-several-profiles", Ok(())),
    ("aws-configure-with-region-output", Ok(())),
    ("colon-separator", Err(2)),
    ("comment-right-after-header", Err(5)),
    ("comments-and-blank-lines", Ok(())),
    ("continuation-after-blank-line", Err(5)),
    ("continuation-under-access-key-id", Err(3)),
    ("credential-process", Ok(())),
    ("default-uppercase-section", Err(1)),
    ("duplicate-key", Err(4)),
    ("duplicate-key-case-differs", Err(4)),
    ("duplicate-section", Err(9)),
    ("empty-file", Ok(())),
    ("empty-section-name", Err(1)),
    ("empty-session-token", Ok(())),
    ("inconsistent-indentation", Err(3)),
    ("indented-comment-after-key", Err(3)),
    ("indented-key-after-setting", Err(5)),
    ("indented-keys", Err(2)),
    ("indented-section-header-after-key", Err(5)),
    ("indented-section-header-first", Err(1)),
    ("indented-uppercase-key-under-setting", Ok(())),
    ("inline-comment-after-value", Err(2)),
    ("latin1-comment", Err(1)),
    ("line-without-equals", Err(2)),
    ("lone-cr-between-settings", Err(4)),
    ("lone-cr-mid-line", Err(3)),
    ("many-profiles", Ok(())),
    ("mixed-crlf-lf", Ok(())),
    ("nested-block-before-keys", Ok(())),
    ("nested-block-holding-key-names", Ok(())),
    ("nested-s3-block", Ok(())),
    ("no-final-newline", Ok(())),
    ("no-final-newline-crlf", Ok(())),
    ("no-spaces-around-equals", Ok(())),
    ("odd-profile-names", Ok(())),
    ("only-comments", Ok(())),
    ("profile-prefix-in-credentials", Err(5)),
    ("property-before-section", Err(1)),
    ("region-output-only", Ok(())),
    ("root-account-keys", Ok(())),
    ("rootkey-csv-pasted", Ok(())),
    ("section-header-trailing-comment", Ok(())),
    ("shared-key-pair", Ok(())),
    ("space-in-profile-name", Err(5)),
    ("spaces-inside-brackets", Err(1)),
    ("sso-profiles", Ok(())),
    ("tabs-around-equals", Ok(())),
    ("temporary-credentials", Ok(())),
    ("trailing-junk-after-bracket", Err(1)),
    ("trailing-whitespace", Ok(())),
    ("uppercase-key-names", Ok(())),
    ("utf8-bom-lf", Err(1)),
    ("utf8-comment", Ok(())),
    ("value-on-next-line", Err(3)),
    ("windows-crlf", Ok(())),
    ("windows-crlf-bom", Err(1)),
];

type Keys = BTreeMap<String, (String, String)>;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credentials");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ini"))
        .collect();
    files.sort();
    files
}

/// One oracle's reading: per file, its profile names and each profile's (key id, secret), or
/// the error.
type Reading = BTreeMap<PathBuf, Result<(BTreeSet<String>, Keys), String>>;

/// The oracles' common JSON (see `tests/oracle/botocore_read.py`) as a [`Reading`].
fn reading(files: &[PathBuf], out: std::process::Output) -> Reading {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    files
        .iter()
        .map(|f| {
            let entry = &v[f.to_str().unwrap()];
            let result = match entry.get("ok") {
                Some(profiles) => {
                    let obj = profiles.as_object().unwrap();
                    let names = obj.keys().cloned().collect();
                    let keys = obj
                        .iter()
                        .filter_map(|(name, fields)| {
                            let id = fields.get("aws_access_key_id")?.as_str()?;
                            let secret = fields
                                .get("aws_secret_access_key")
                                .and_then(|s| s.as_str())
                                .unwrap_or("");
                            Some((name.clone(), (id.to_string(), secret.to_string())))
                        })
                        .collect();
                    Ok((names, keys))
                }
                None => Err(entry["error"].as_str().unwrap_or("?").to_string()),
            };
            (f.clone(), result)
        })
        .collect()
}

/// botocore's reading of every file.
fn botocore(files: &[PathBuf]) -> Reading {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/botocore_read.py");
    let out = Command::new(support::python())
        .arg(script)
        .args(files)
        .output()
        .unwrap();
    reading(files, out)
}

/// The AWS SDK for JavaScript's reading of every file (`tests/oracle/js_read.mjs`).
fn javascript(files: &[PathBuf], empty_config: &Path) -> Reading {
    let mut all = Reading::new();
    // A few hundred paths per run keep the command line short.
    for chunk in files.chunks(500) {
        let out = support::node("js_read.mjs")
            .arg(empty_config)
            .args(chunk)
            .output()
            .unwrap();
        all.extend(reading(chunk, out));
    }
    all
}

/// Where the JavaScript SDK parts from keyrot-agent on a profile keyrot-agent would use the key
/// of: `None` when it reads the same pair, or sees no key (no id or no secret) where that is
/// allowed: a rotated profile keyrot-agent warns about (`unseen`), or temporary credentials
/// whose key names are not in lower case (not rotated, so nothing to warn about).
fn javascript_differs(
    js: &Result<(BTreeSet<String>, Keys), String>,
    parsed: &credentials::ParsedFile,
    profile: &profiles::Profile,
    want: &(String, String),
    unseen: &[profiles::UnseenKey],
) -> Option<String> {
    let name = &profile.name;
    let warned = unseen.iter().any(|u| &u.profile == name);
    let may_see_none = warned
        || (profile.status.is_err()
            && parsed.section(name).is_some_and(|s| {
                s.properties
                    .iter()
                    .any(|p| parsed.name_as_written(p) != p.key)
            }));
    match js {
        Err(e) => Some(format!("[{name}] the JavaScript SDK fails: {e}")),
        Ok((_, keys)) => match keys.get(name).filter(|(_, secret)| !secret.is_empty()) {
            Some(pair) if pair == want && !warned => None,
            Some(pair) if pair == want => Some(format!(
                "[{name}] keyrot-agent warns that the JavaScript SDK sees no key, but it does"
            )),
            Some(_) => Some(format!(
                "[{name}] the JavaScript SDK reads another key pair"
            )),
            None if may_see_none => None,
            None => Some(format!(
                "[{name}] the JavaScript SDK sees no key, and keyrot-agent does not warn"
            )),
        },
    }
}

/// aws-config's reading of one profile of one file (with an empty config file).
fn aws_config(file: &Path, profile: &str, empty_config: &Path) -> Result<(String, String), String> {
    let files = ProfileFiles::builder()
        .with_file(ProfileFileKind::Credentials, file)
        .with_file(ProfileFileKind::Config, empty_config)
        .build();
    let provider = ProfileFileCredentialsProvider::builder()
        .profile_files(files)
        .profile_name(profile)
        .build();
    support::block_on(provider.provide_credentials())
        .map(|c| {
            (
                c.access_key_id().to_string(),
                c.secret_access_key().to_string(),
            )
        })
        .map_err(|e| format!("{e}"))
}

#[test]
fn keyrot_agent_botocore_and_aws_config_agree_or_the_file_is_refused() {
    let files = fixtures();
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "every fixture has an expected outcome"
    );
    let boto = botocore(&files);
    let tmp = tempfile::tempdir().unwrap();
    let empty_config = tmp.path().join("config");
    std::fs::write(&empty_config, "").unwrap();
    let js = javascript(&files, &empty_config);
    let mut failures = Vec::new();

    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap();
        let expected = EXPECTED.iter().find(|(n, _)| *n == name).map(|(_, e)| *e);
        let bytes = std::fs::read(file).unwrap();
        let agent = credentials::parse(&bytes, FileKind::Credentials);
        let got = match &agent {
            Ok(_) => Ok(()),
            Err(problems) => Err(problems[0].line),
        };
        if Some(got) != expected {
            failures.push(format!(
                "{name}: expected {expected:?}, keyrot-agent gave {got:?} ({agent:?})"
            ));
            continue;
        }
        let Ok(parsed) = agent else { continue };

        // Accepted: botocore must read it, and agree on every profile's key pair.
        let (boto_names, boto_keys) = match &boto[file] {
            Ok(v) => v.clone(),
            Err(e) => {
                failures.push(format!("{name}: accepted, but botocore fails: {e}"));
                continue;
            }
        };
        let agent_names: BTreeSet<String> =
            parsed.sections().iter().map(|s| s.name.clone()).collect();
        if agent_names != boto_names {
            failures.push(format!(
                "{name}: profiles differ: {agent_names:?} vs botocore {boto_names:?}"
            ));
        }
        let agent_keys: Keys = parsed
            .sections()
            .iter()
            .filter_map(|s| {
                let id = parsed.get(&s.name, "aws_access_key_id")?;
                let secret = parsed.get(&s.name, "aws_secret_access_key").unwrap_or("");
                Some((s.name.clone(), (id.to_string(), secret.to_string())))
            })
            .collect();
        if agent_keys != boto_keys {
            failures.push(format!("{name}: key pairs differ from botocore's"));
        }
        // aws-config must give the same pair for every profile keyrot-agent would use a key of,
        // and the JavaScript SDK too, or none where keyrot-agent warns that it sees none.
        let classified = profiles::classify(&parsed, None);
        let unseen = profiles::unseen_by_javascript(&parsed, &classified);
        for p in classified {
            let usable = match &p.status {
                Ok(_) => true,
                Err(SkipReason::TemporaryCredentials) => true,
                Err(_) => false,
            };
            if !usable {
                continue;
            }
            let want = &agent_keys[&p.name];
            if let Some(d) = javascript_differs(&js[file], &parsed, &p, want, &unseen) {
                failures.push(format!("{name}: {d}"));
            }
            match aws_config(file, &p.name, &empty_config) {
                Ok(pair) if &pair == want => {}
                Ok(_) => failures.push(format!(
                    "{name}: [{}] aws-config reads another key pair",
                    p.name
                )),
                Err(e) => failures.push(format!("{name}: [{}] aws-config fails: {e}", p.name)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every refusal says which line and why, and the reason is one of the documented kinds.
#[test]
fn refusals_name_a_line_and_a_reason() {
    for file in fixtures() {
        if let Err(problems) =
            credentials::parse(&std::fs::read(&file).unwrap(), FileKind::Credentials)
        {
            for p in problems {
                assert!(p.line >= 1);
                assert!(!p.kind.what().is_empty() && !p.kind.fix().is_empty());
                // Refusal messages never quote values (which could be secrets).
                let shown = format!("{} {}", p.kind.what(), p.kind.fix());
                assert!(!shown.contains("FIXTURE"), "{}: {shown}", file.display());
                if let ProblemKind::KeysInSectionSdksIgnore { section } = &p.kind {
                    assert!(!section.is_empty());
                }
            }
        }
    }
}

/// Lines that real files contain, and lines on which the readers are known to part ways.
const LINES: &[&str] = &[
    "[default]",
    "[work]",
    "[ci]",
    "[ default ]",
    "[a;b]",
    "[DEFAULT]",
    "[profile work]",
    "[work] # team",
    "[work]x",
    "  [work]",
    "[]",
    "[my profile]",
    "[a/b@c]",
    "[work] ; x]",
    "aws_access_key_id = {ID}",
    "AWS_ACCESS_KEY_ID={ID}",
    "aws_access_key_id:{ID}",
    "Aws_Access_Key_Id\t=\t{ID}  ",
    "aws_secret_access_key = {SECRET}",
    "aws_secret_access_key={SECRET}\t",
    "aws_session_token = tok",
    "aws_session_token =",
    "region = us-east-1",
    "output=json",
    "s3 =",
    "  max_concurrent_requests = 20",
    "\tjunk",
    "  # indented comment",
    "# comment",
    "; comment",
    "",
    "   ",
    "region = x # c",
    "region = x;c",
    "\tregion = x",
    "k=v=w",
    "= v",
    "just words",
    "region = x\u{a0}",
    "region = a\rb",
    "aws_access_key_id = {ID} # mine",
    "  continued",
    "aws_access_key_id =",
    // Where the JavaScript SDK parts from botocore and aws-config.
    "[work]# team",
    "[work];x",
    "  aws_access_key_id = {ID}",
    "\taws_secret_access_key = {SECRET}",
    "AWS_SECRET_ACCESS_KEY = {SECRET}",
    "  AWS_ACCESS_KEY_ID = {ID}",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let ids = [
        "AKIAGENERATED0000001",
        "AKIAGENERATED0000002",
        "ASIAGENERATED0000003",
    ];
    let secrets = [
        "genSecret1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "genSecret2+bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ];
    let crlf = rng.below(3) == 0;
    let mut out = String::new();
    if rng.below(20) == 0 {
        out.push('\u{feff}');
    }
    // Mostly well-formed files with a few odd lines, so that many are accepted.
    let n = 1 + rng.below(12);
    for i in 0..n {
        let line = if i == 0 && rng.below(4) != 0 {
            "[default]"
        } else if rng.below(6) == 0 {
            LINES[rng.below(LINES.len())]
        } else {
            LINES[[0, 1, 2, 14, 18, 22, 23, 32, 30][rng.below(9)]]
        };
        let line = line
            .replace("{ID}", ids[rng.below(ids.len())])
            .replace("{SECRET}", secrets[rng.below(secrets.len())]);
        out.push_str(&line);
        if i + 1 < n || rng.below(3) != 0 {
            out.push_str(if crlf && rng.below(10) != 0 {
                "\r\n"
            } else {
                "\n"
            });
        } else if rng.below(3) == 0 {
            // A final carriage return without a newline.
            out.push('\r');
        }
    }
    out.into_bytes()
}

/// Generated files: whatever keyrot-agent accepts, botocore and aws-config read the same way.
/// `KEYROT_DIFF_SEED` and `KEYROT_DIFF_CASES` explore further.
#[test]
fn generated_files_agree_or_are_refused() {
    let seed = std::env::var("KEYROT_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let cases: usize = std::env::var("KEYROT_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut rng = Rng(seed | 1);
    let tmp = tempfile::tempdir().unwrap();
    let empty_config = tmp.path().join("config");
    std::fs::write(&empty_config, "").unwrap();
    let files: Vec<PathBuf> = (0..cases)
        .map(|i| {
            let p = tmp.path().join(format!("case-{i:04}.ini"));
            std::fs::write(&p, generate(&mut rng)).unwrap();
            p
        })
        .collect();
    let boto = botocore(&files);
    let js = javascript(&files, &empty_config);
    let mut accepted = 0;
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let Ok(parsed) = credentials::parse(&bytes, FileKind::Credentials) else {
            continue;
        };
        accepted += 1;
        let show = || format!("{:?}", String::from_utf8_lossy(&bytes));
        let Ok((boto_names, boto_keys)) = boto[file].clone() else {
            failures.push(format!("accepted but botocore fails: {}", show()));
            continue;
        };
        let names: BTreeSet<String> = parsed.sections().iter().map(|s| s.name.clone()).collect();
        let keys: Keys = parsed
            .sections()
            .iter()
            .filter_map(|s| {
                let id = parsed.get(&s.name, "aws_access_key_id")?;
                Some((
                    s.name.clone(),
                    (
                        id.to_string(),
                        parsed
                            .get(&s.name, "aws_secret_access_key")
                            .unwrap_or("")
                            .to_string(),
                    ),
                ))
            })
            .collect();
        if names != boto_names || keys != boto_keys {
            failures.push(format!("botocore reads differently: {}", show()));
            continue;
        }
        let classified = profiles::classify(&parsed, None);
        let unseen = profiles::unseen_by_javascript(&parsed, &classified);
        for p in classified {
            if !matches!(&p.status, Ok(_) | Err(SkipReason::TemporaryCredentials)) {
                continue;
            }
            if let Some(d) = javascript_differs(&js[file], &parsed, &p, &keys[&p.name], &unseen) {
                failures.push(format!("{d}: {}", show()));
            }
            if aws_config(file, &p.name, &empty_config).as_ref() != Ok(&keys[&p.name]) {
                failures.push(format!(
                    "aws-config reads [{}] differently: {}",
                    p.name,
                    show()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {accepted} accepted files disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        accepted > cases / 10,
        "the generator should produce acceptable files too ({accepted}/{cases})"
    );
}
