//! The only module that writes to disk: the process lock, and atomic replacement of the
//! credentials file with a backup of the previous version.
//!
//! A replacement never leaves a half-written file: the new text goes into a temp file in the
//! same directory (created 0600 before any secret is written), is fsynced, gets the original's
//! mode and owner, and is renamed over the target; then the directory is fsynced. A symlinked
//! credentials file keeps its link: the link's target is replaced. Right before the rename the
//! target is read again, and if anyone changed it since it was read, nothing is replaced.
//!
//! The lock is a separate file in the state directory that is never renamed, so every
//! keyrot-agent process locks the same inode. It is std's advisory `File::try_lock` (flock on
//! Unix), held for the whole run and released when the process exits, even on `kill -9`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "another keyrot-agent{} is rotating keys right now; run this again when it has finished",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy { pid: Option<u32> },
    #[error(
        "{path} was changed by another program while keyrot-agent was rotating; nothing was written"
    )]
    ChangedMeanwhile { path: PathBuf },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Holds the process lock until dropped (or until the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create directory", dir))
}

/// Takes the lock at `path` without waiting. When another process holds it, returns
/// [`StoreError::Busy`] with that process's pid if it wrote one.
pub fn try_lock(path: &Path) -> Result<Lock, StoreError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open lock file", path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StoreError::Busy {
                pid: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", path)(e)),
    }
    // The pid is only for the "busy" message; the lock itself is the flock.
    file.set_len(0).map_err(io_err("write lock file", path))?;
    file.write_all(std::process::id().to_string().as_bytes())
        .map_err(io_err("write lock file", path))?;
    Ok(Lock { _file: file })
}

/// Reads a whole file. A missing file is [`StoreError::NotFound`].
pub fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_err("read", path)(e),
    })
}

/// Reads a file that may be absent (the config file).
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match read(path) {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the file at `path` with `new`, atomically, provided it still holds `expected`.
/// `expected` is first saved as the one backup at `backup`.
pub fn replace(path: &Path, expected: &[u8], new: &[u8], backup: &Path) -> Result<(), StoreError> {
    // A symlink is kept; what it points at is replaced.
    let target = fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_err("resolve", path)(e),
    })?;
    let meta = fs::metadata(&target).map_err(io_err("inspect", &target))?;
    let temp = write_temp(&target, new, Some(&meta))?;
    let result = (|| {
        let current = read(&target)?;
        if current != expected {
            return Err(StoreError::ChangedMeanwhile {
                path: path.to_path_buf(),
            });
        }
        write_backup(backup, expected)?;
        fs::rename(&temp, &target).map_err(io_err("replace", &target))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    // The new file is in place: a failed directory fsync no longer undoes that, so it is
    // reported but is not an error (the caller must not roll back a file that was written).
    if let Err(e) = sync_dir(&target) {
        tracing::warn!(error = %e, "the credentials file was replaced, but its directory could not be fsynced");
    }
    Ok(())
}

/// Removes temp files that an earlier keyrot-agent, killed between writing and renaming, left
/// next to `target`. Call it only while holding the lock. Returns how many were removed.
pub fn remove_stale_temps(target: &Path) -> usize {
    let target = fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let Some(dir) = target.parent() else { return 0 };
    let prefix = temp_prefix(&target);
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix)
            && name.ends_with(".tmp")
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Writes the backup atomically, mode 0600.
fn write_backup(backup: &Path, contents: &[u8]) -> Result<(), StoreError> {
    if let Some(dir) = backup.parent() {
        ensure_private_dir(dir)?;
    }
    let temp = write_temp(backup, contents, None)?;
    let result = fs::rename(&temp, backup)
        .map_err(io_err("write backup", backup))
        .and_then(|()| sync_dir(backup));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The prefix of every temp file keyrot-agent creates next to a file it replaces.
pub fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.keyrot-")
}

/// Creates a temp file next to `target`, mode 0600 from the first byte, writes `contents`,
/// applies `like`'s mode and owner, and fsyncs it.
fn write_temp(
    target: &Path,
    contents: &[u8],
    like: Option<&fs::Metadata>,
) -> Result<PathBuf, StoreError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = dir.join(format!(
        "{}{}-{nanos}.tmp",
        temp_prefix(target),
        std::process::id()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_err("create temp file in", dir))?;
    let result = (|| {
        file.write_all(contents).map_err(io_err("write", &temp))?;
        if let Some(meta) = like {
            // Same owner and mode as the file it replaces. chown to one's own ids always works;
            // a file owned by someone else can only be replaced by root, who may chown.
            if meta.uid() != current_uid() || meta.gid() != current_gid() {
                std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))
                    .map_err(io_err("keep the owner of", target))?;
            }
            file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(io_err("keep the mode of", target))?;
        }
        file.sync_all().map_err(io_err("fsync", &temp))
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn current_gid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// Makes a rename in `file`'s directory durable.
fn sync_dir(file: &Path) -> Result<(), StoreError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_mode_writes_backup_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let backup = dir.path().join("state/credentials.backup");
        replace(&path, b"old", b"new", &backup).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read(&backup).unwrap(), b"old");
        assert_eq!(fs::metadata(&backup).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("keyrot-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn replace_follows_symlink_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles-credentials");
        let link = dir.path().join("credentials");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace(&link, b"old", b"new", &dir.path().join("b")).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn replace_refuses_when_changed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"someone else's").unwrap();
        let err = replace(&path, b"old", b"new", &dir.path().join("b")).unwrap_err();
        assert!(matches!(err, StoreError::ChangedMeanwhile { .. }));
        assert_eq!(fs::read(&path).unwrap(), b"someone else's");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"x").unwrap();
        fs::write(dir.path().join(".credentials.keyrot-1-2.tmp"), b"secret").unwrap();
        fs::write(dir.path().join(".credentials.other.tmp"), b"keep").unwrap();
        assert_eq!(remove_stale_temps(&path), 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn second_lock_is_busy_with_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/lock");
        let _held = try_lock(&path).unwrap();
        match try_lock(&path) {
            Err(StoreError::Busy { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
    }
}
