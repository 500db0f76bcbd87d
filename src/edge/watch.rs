//! Wakes the agent when the files it reads change: the credentials file, the AWS config file and
//! its own config. It watches their directories (not recursively), because editors and
//! keyrot-agent itself replace files by renaming a new one into place, and a watch on the file
//! alone would stop at the first such rename. A file behind a symlink is watched at its target
//! too. The OS does the watching (inotify on Linux, FSEvents on macOS): nothing polls.
//!
//! Where a directory does not exist yet, or the OS refuses the watch, the agent still looks again
//! at least every hour and on SIGHUP; this is logged, never fatal.
//!
//! The agent's own writes (a rotation, a rollback that puts the old key back) change the same
//! files. [`Seen`] tells them apart from a user's edit, so that a rotation that keeps failing
//! and rolling back is retried on the agent's backoff, not again the moment it rolled back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

/// Starts watching `files`; each relevant change sends `()` on `changed`. Keep the returned
/// watcher alive for as long as the watch should last.
pub fn start(
    files: &[PathBuf],
    changed: UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let mut wanted: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files {
        wanted.insert(f.clone());
        if let Ok(real) = std::fs::canonicalize(f) {
            wanted.insert(real);
        }
    }
    let names = wanted.clone();
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            if event.paths.iter().any(|p| names.contains(p)) {
                let _ = changed.send(());
            }
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the files for changes; looking again hourly and on SIGHUP");
            return None;
        }
    };
    let dirs: BTreeSet<&Path> = wanted.iter().filter_map(|f| f.parent()).collect();
    for dir in dirs {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::debug!(dir = %dir.display(), error = %e, "not watching this directory");
        }
    }
    Some(watcher)
}

/// What the files looked like when a round read them, updated with the writes the round made
/// itself: a change is a reason to look again only when a file differs from both.
pub struct Seen {
    files: Vec<(PathBuf, Option<crate::edge::store::Fingerprint>)>,
}

impl Seen {
    /// The files as they are now, before a round reads them. Forgets earlier own writes.
    pub fn now(files: &[PathBuf]) -> Seen {
        let _ = crate::edge::store::take_own_writes();
        Seen {
            files: files
                .iter()
                .map(|f| {
                    let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
                    let print = crate::edge::store::fingerprint(&real);
                    (real, print)
                })
                .collect(),
        }
    }

    /// Takes in the round's own writes: each written file is as the round left it.
    pub fn add_own_writes(&mut self) {
        for (path, print) in crate::edge::store::take_own_writes() {
            for (f, seen) in &mut self.files {
                if *f == path {
                    *seen = Some(print);
                }
            }
        }
    }

    /// Whether any file differs from what the round read or wrote.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|(f, seen)| {
            let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            real != *f || crate::edge::store::fingerprint(&real) != *seen
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_writes_are_not_changes_and_edits_are() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "[default]\n").unwrap();
        let backup = dir.path().join("backup");
        let mut seen = Seen::now(std::slice::from_ref(&file));
        assert!(!seen.changed());
        // Our own replacement: not a change once taken in.
        crate::edge::store::replace_with(&file, &backup, |b: &[u8]| {
            let mut v = b.to_vec();
            v.extend_from_slice(b"x = 1\n");
            Ok::<_, std::io::Error>(v)
        })
        .unwrap();
        assert!(seen.changed());
        seen.add_own_writes();
        assert!(!seen.changed());
        // Someone else's edit, in place or by rename, is.
        std::fs::write(&file, "[default]\ny = 2\n").unwrap();
        assert!(seen.changed());
        let seen = Seen::now(std::slice::from_ref(&file));
        std::fs::write(dir.path().join("new"), "[other]\n").unwrap();
        std::fs::rename(dir.path().join("new"), &file).unwrap();
        assert!(seen.changed());
        // A file that appears or goes is a change too.
        let missing = dir.path().join("config");
        let seen = Seen::now(std::slice::from_ref(&missing));
        assert!(!seen.changed());
        std::fs::write(&missing, "").unwrap();
        assert!(seen.changed());
    }
}
