//! What each fuzz target checks, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and by
//! `tests/fuzz_corpus.rs`, which replays the committed corpus on stable Rust.
//!
//! Invariants: no input panics or hangs; a refusal is deterministic (the same input gives the
//! same problems); an accepted file reads the same when parsed again from its own text; an edit
//! changes only the values it replaces, and its result parses again; a state record that
//! deserializes serializes back to one that deserializes to the same thing.

#![allow(dead_code)]

use keyrot_agent::core::credentials::{self, FileKind, NewKey, ParsedFile};
use keyrot_agent::core::profiles;

/// A property as compared: its key, its line and its value.
type Setting = (String, usize, String);

/// The shape of a parsed file, values included, for comparisons: each section's name, line and
/// settings.
fn shape(file: &ParsedFile) -> Vec<(String, usize, Vec<Setting>)> {
    file.sections()
        .iter()
        .map(|s| {
            let props = s
                .properties
                .iter()
                .map(|p| (p.key.clone(), p.line, file.value(p).to_string()))
                .collect();
            (s.name.clone(), s.line, props)
        })
        .collect()
}

fn problems(r: &Result<ParsedFile, Vec<credentials::Problem>>) -> Option<Vec<String>> {
    r.as_ref().err().map(|ps| {
        ps.iter()
            .map(|p| format!("{}:{}", p.line, p.kind.what()))
            .collect()
    })
}

fn parse_checked(data: &[u8], kind: FileKind) -> Option<ParsedFile> {
    let first = credentials::parse(data, kind);
    let second = credentials::parse(data, kind);
    assert_eq!(
        problems(&first),
        problems(&second),
        "refusals are deterministic"
    );
    let file = first.ok()?;
    assert_eq!(
        file.text().as_bytes(),
        data,
        "the text is kept byte for byte"
    );
    let again = credentials::parse(file.text().as_bytes(), kind).expect("its own text parses");
    assert_eq!(shape(&file), shape(&again));
    Some(file)
}

/// The credentials file parser, and the profile rules over what it accepts.
pub fn credentials(data: &[u8]) {
    if let Some(file) = parse_checked(data, FileKind::Credentials) {
        let _ = profiles::classify(&file, None);
    }
}

/// The AWS config file parser, its checks, and the rules over both files.
pub fn config(data: &[u8]) {
    if let Some(file) = parse_checked(data, FileKind::Config) {
        let _ = profiles::config_problems(&file);
        let empty = credentials::parse(b"", FileKind::Credentials).expect("an empty file parses");
        let _ = profiles::classify(&empty, Some(&file));
        let _ = keyrot_agent::core::trust::endpoints_in(&file);
    }
    // keyrot-agent's own TOML config file.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keyrot_agent::core::config::parse(text);
    }
}

const NEW_ID: &str = "AKIAFUZZFUZZFUZZFUZZ";
const NEW_SECRET: &str = "fuzzSecretfuzzSecretfuzzSecretfuzzSecret";

/// parse → edit → parse: replacing each key changes exactly its profiles' two values, and
/// moving a profile to `credential_process` and back gives a file that parses.
pub fn edit(data: &[u8]) {
    let Some(file) = parse_checked(data, FileKind::Credentials) else {
        return;
    };
    let new = NewKey {
        access_key_id: NEW_ID,
        secret_access_key: NEW_SECRET,
    };
    let ids: Vec<String> = file
        .sections()
        .iter()
        .filter_map(|s| {
            file.get(&s.name, credentials::ACCESS_KEY_ID)
                .map(String::from)
        })
        .collect();
    for old in ids.iter().take(4) {
        let Ok((text, _changed)) = file.replace_key(old, &new) else {
            continue;
        };
        let edited = credentials::parse(text.as_bytes(), FileKind::Credentials)
            .expect("an edited file parses");
        let (before, after) = (shape(&file), shape(&edited));
        assert_eq!(before.len(), after.len());
        for ((name, line, props), (name2, line2, props2)) in before.iter().zip(&after) {
            assert_eq!((name, line), (name2, line2));
            let rotated = file.get(name, credentials::ACCESS_KEY_ID) == Some(old.as_str());
            assert_eq!(props.len(), props2.len());
            for ((k, l, v), (k2, l2, v2)) in props.iter().zip(props2) {
                assert_eq!((k, l), (k2, l2));
                match k.as_str() {
                    credentials::ACCESS_KEY_ID if rotated => assert_eq!(v2, NEW_ID),
                    credentials::SECRET_ACCESS_KEY if rotated => assert_eq!(v2, NEW_SECRET),
                    _ => assert_eq!(v, v2, "only the rotated values change"),
                }
            }
        }
    }
    for section in file.sections().iter().take(4) {
        let command = format!("keyrot-agent credential-process --profile {}", section.name);
        let Ok(text) = file.to_credential_process(&section.name, &command) else {
            continue;
        };
        let moved = credentials::parse(text.as_bytes(), FileKind::Credentials)
            .expect("a file moved to the keyring parses");
        if let Ok(back) = moved.to_static_keys(&section.name, &new) {
            credentials::parse(back.as_bytes(), FileKind::Credentials)
                .expect("a file moved back parses");
        }
    }
}

/// The state records keyrot-agent reads back: the journal, the grace record, the key-date
/// cache and a history line. Whatever deserializes serializes to something that deserializes
/// to the same bytes again.
pub fn state(data: &[u8]) {
    use keyrot_agent::state::{cache::KeyDates, grace, history::HistoryLine, journal};
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(data: &[u8]) {
        let Ok(value) = serde_json::from_slice::<T>(data) else {
            return;
        };
        let once = serde_json::to_vec(&value).expect("serializes");
        let back: T = serde_json::from_slice(&once).expect("its own output deserializes");
        assert_eq!(once, serde_json::to_vec(&back).expect("serializes"));
    }
    round_trip::<journal::Record>(data);
    round_trip::<grace::State>(data);
    round_trip::<std::collections::BTreeMap<String, KeyDates>>(data);
    round_trip::<HistoryLine>(data);
}
