//! Durability order, seen from the system calls: a full rotation runs under `strace`, and the
//! order of opens, fsyncs, renames and network sends is checked. This is what makes a missing
//! fsync or a misplaced journal write visible without pulling the power:
//! - every temp file is created with O_EXCL and mode 0600, and fsynced after its last write and
//!   before it is renamed into place; the directory is fsynced after the rename. Soft state
//!   (`keys.json`, the key-date cache, and the agent's records) is the exception: atomic, not
//!   durable, since keyrot-agent re-learns it when it is lost (`store::write_soft`);
//! - the journal's intent is durable before CreateAccessKey is sent;
//! - the new key is durable in the journal before anything else is sent after CreateAccessKey;
//! - the credentials file is replaced only after the new key answered STS.

mod support;

use std::collections::HashMap;
use std::process::Command;

use support::{TestEnv, moto, profile};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Open {
        path: String,
        flags: String,
        mode: String,
    },
    Write {
        path: String,
    },
    Fsync {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Send {
        action: String,
    },
}

/// Parses `strace -f -s N -e trace=...` output into events, following file descriptors.
fn events(trace: &str) -> Vec<Event> {
    let mut fds: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in trace.lines() {
        // "PID call(args) = result"
        let Some((_, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let result = call.rsplit_once(" = ").map(|(_, r)| r.trim()).unwrap_or("");
        let quoted: Vec<&str> = call.split('"').skip(1).step_by(2).collect();
        let first_arg: String = call
            .split_once('(')
            .map(|(_, a)| a.chars().take_while(|c| c.is_ascii_digit()).collect())
            .unwrap_or_default();
        let first_arg = first_arg.as_str();
        if call.starts_with("openat(") && !result.starts_with('-') {
            let path = quoted.first().copied().unwrap_or("").to_string();
            let rest: Vec<&str> = call.split(", ").collect();
            let flags = rest
                .get(2)
                .map(|f| f.split(')').next().unwrap_or(""))
                .unwrap_or("")
                .to_string();
            let mode = rest
                .get(3)
                .map(|m| m.split(')').next().unwrap_or(""))
                .unwrap_or("")
                .to_string();
            fds.insert(result.to_string(), path.clone());
            out.push(Event::Open { path, flags, mode });
        } else if call.starts_with("close(") {
            fds.remove(first_arg);
        } else if call.starts_with("fsync(") || call.starts_with("fdatasync(") {
            if let Some(path) = fds.get(first_arg) {
                out.push(Event::Fsync { path: path.clone() });
            }
        } else if call.starts_with("rename(") || call.starts_with("renameat") {
            if quoted.len() >= 2 {
                out.push(Event::Rename {
                    from: quoted[0].to_string(),
                    to: quoted[1].to_string(),
                });
            }
        } else if call.starts_with("write(")
            || call.starts_with("writev(")
            || call.starts_with("sendto(")
        {
            if let Some(path) = fds.get(first_arg) {
                out.push(Event::Write { path: path.clone() });
            } else if let Some(i) = call.find("Action=") {
                let action: String = call[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                out.push(Event::Send { action });
            }
        }
    }
    out
}

fn position(events: &[Event], from: usize, pred: impl Fn(&Event) -> bool) -> Option<usize> {
    events[from..].iter().position(pred).map(|i| i + from)
}

/// keyrot-agent's files that may be lost on a power cut (written by `store::save_json`).
const SOFT_STATE: [&str; 4] = ["keys.json", "notified.json", "failures.json", "mfa.json"];

/// Checks one atomic replacement: the rename of a temp file onto `target` at index `at`.
fn check_replacement(events: &[Event], at: usize, label: &str) {
    let Event::Rename { from, to } = &events[at] else {
        unreachable!()
    };
    let opened = events[..at]
        .iter()
        .rposition(|e| matches!(e, Event::Open { path, .. } if path == from))
        .unwrap_or_else(|| panic!("{label}: temp {from} never opened"));
    let Event::Open { flags, mode, .. } = &events[opened] else {
        unreachable!()
    };
    assert!(
        flags.contains("O_EXCL") && flags.contains("O_CREAT"),
        "{label}: temp opened with {flags}"
    );
    assert_eq!(mode, "0600", "{label}: temp created with mode {mode}");
    if SOFT_STATE
        .iter()
        .any(|name| to.ends_with(&format!("/{name}")))
    {
        return;
    }
    let last_write = events[..at]
        .iter()
        .rposition(|e| matches!(e, Event::Write { path } if path == from))
        .unwrap_or_else(|| panic!("{label}: nothing written to the temp file"));
    assert!(
        events[last_write..at]
            .iter()
            .any(|e| matches!(e, Event::Fsync { path } if path == from)),
        "{label}: the temp file is not fsynced between its last write and the rename"
    );
    let dir = std::path::Path::new(to)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        events[at..]
            .iter()
            .any(|e| matches!(e, Event::Fsync { path } if *path == dir)),
        "{label}: the directory {dir} is not fsynced after the rename"
    );
}

#[test]
fn a_rotation_fsyncs_and_journals_in_the_right_order() {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is not installed: run the README's test command, which installs it");
    }
    let user = moto().user("strace");
    let env = TestEnv::new();
    let original = profile("default", &user);
    env.write_credentials(&original);
    let trace = env.dir.path().join("trace.txt");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-s", "8192", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=openat,close,write,writev,sendto,fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg(env!("CARGO_BIN_EXE_keyrot-agent"))
        .arg("now")
        .env_clear()
        .envs(env.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let events = events(&text);
    // The trace holds secrets (file writes): never print it whole.
    let credentials = std::fs::canonicalize(env.credentials_path())
        .unwrap()
        .display()
        .to_string();
    let journal = env
        .state_dir()
        .join("rotation.journal")
        .display()
        .to_string();

    let renames: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::Rename { .. }))
        .map(|(i, _)| i)
        .collect();
    assert!(
        !renames.is_empty(),
        "no rename seen; parsed {} events",
        events.len()
    );
    if std::env::var("KEYROT_DEBUG_TRACE").is_ok() {
        for (i, e) in events.iter().enumerate() {
            eprintln!("{i}: {e:?}");
        }
    }
    for &i in &renames {
        check_replacement(&events, i, &format!("rename #{i}"));
    }
    // The key-date cache was written, atomically and without an fsync.
    assert!(
        renames
            .iter()
            .any(|&i| matches!(&events[i], Event::Rename { to, .. } if to.ends_with("/keys.json"))),
        "keys.json not written"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Fsync { path } if path.contains("/.keys.json."))),
        "the cache's temp file was fsynced"
    );
    fn renamed_to(to_path: &str) -> impl Fn(&Event) -> bool + '_ {
        move |e: &Event| matches!(e, Event::Rename { to, .. } if to == to_path)
    }
    let sent =
        |name: &'static str| move |e: &Event| matches!(e, Event::Send { action } if action == name);

    let state_dir = env.state_dir().display().to_string();
    let dir_synced = |from: usize, to: usize| {
        events[from..to]
            .iter()
            .any(|e| matches!(e, Event::Fsync { path } if *path == state_dir))
    };
    let create = position(&events, 0, sent("CreateAccessKey")).expect("CreateAccessKey sent");
    let intent = position(&events, 0, renamed_to(&journal)).expect("journal written");
    assert!(
        intent < create,
        "the intent must be renamed into place before CreateAccessKey is sent"
    );
    assert!(
        dir_synced(intent, create),
        "the intent's directory must be fsynced before CreateAccessKey is sent"
    );
    let next_send = position(&events, create + 1, |e| matches!(e, Event::Send { .. }))
        .expect("requests after create");
    let recorded = position(&events, create + 1, renamed_to(&journal)).expect("new key journaled");
    assert!(
        recorded < next_send,
        "the new key must be in the journal before anything else is sent"
    );
    assert!(
        dir_synced(recorded, next_send),
        "the new key's journal must be durable (directory fsynced) before anything else is sent"
    );
    let verify = position(&events, create + 1, sent("GetCallerIdentity")).expect("verify sent");
    let written = position(&events, 0, renamed_to(&credentials)).expect("credentials replaced");
    assert!(
        verify < written,
        "the file must be written only after the new key answered STS"
    );
    let deactivate = position(&events, 0, sent("UpdateAccessKey")).expect("deactivate sent");
    assert!(
        written < deactivate,
        "the old key must be retired only after the file holds the new one"
    );
    // "The file holds the new key, read back" is durable before the old key is retired: from
    // there on recovery never rolls back.
    let last_record = (0..deactivate)
        .rev()
        .find(|&i| renamed_to(&journal)(&events[i]))
        .expect("journal written before deactivation");
    assert!(
        written < last_record && dir_synced(last_record, deactivate),
        "the journal must say the file holds the new key, durably, before the old key is retired"
    );
    // The journal is replaced only for the phases recovery cannot find again (intent, new key,
    // verified on disk): each other replacement would be two more fsyncs.
    let replacements = renames
        .iter()
        .filter(|&&i| renamed_to(&journal)(&events[i]))
        .count();
    assert_eq!(replacements, 3, "journal replacements");
    let fsyncs = events
        .iter()
        .filter(|e| matches!(e, Event::Fsync { .. }))
        .count();
    // 3 journal replacements (temp + directory each: 6), the credentials file (temp, backup
    // temp, backup directory, exchange directory: 4), the history append (1), the journal's and
    // the backup's removal (2).
    assert_eq!(fsyncs, 13, "fsyncs in one rotation");
    assert!(!env.state_dir().join("rotation.journal").exists());
}
