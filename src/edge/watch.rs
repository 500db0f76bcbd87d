//! Wakes the agent when the files it reads change: the credentials file, the AWS config file and
//! its own config. It watches their directories (not recursively), because editors and
//! keyrot-agent itself replace files by renaming a new one into place, and a watch on the file
//! alone would stop at the first such rename. A file behind a symlink is watched at its target
//! too. The OS does the watching (inotify on Linux, FSEvents on macOS): nothing polls.
//!
//! Where a directory does not exist yet, or the OS refuses the watch, the agent still looks again
//! at least every hour and on SIGHUP; this is logged, never fatal.

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
