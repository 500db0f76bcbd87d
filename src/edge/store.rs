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
//!
//! Nothing read is trusted further than it must be. Every file is opened without blocking (a
//! FIFO or a device is refused, not waited on), must be a regular file, and is read up to a size
//! limit. keyrot-agent's state directory must be a real directory that belongs to the user and
//! that nobody else can write; its files are opened without following symbolic links.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The largest credentials or config file keyrot-agent reads. A file of 100,000 profiles is
/// about 8 MiB; a real one is a few kilobytes.
pub const MAX_SHARED_FILE: u64 = 16 * 1024 * 1024;
/// The largest file of keyrot-agent's own that it reads (a journal is a few kilobytes).
pub const MAX_STATE_FILE: u64 = 1024 * 1024;

/// The bytes of a file that may hold secrets: wiped from memory when dropped.
pub type Secret = zeroize::Zeroizing<Vec<u8>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },
    #[error(
        "{path} is not a regular file (it is {kind}); keyrot-agent reads only regular files. Point it at the file itself"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{path} is larger than keyrot-agent reads ({size} bytes, the limit is {limit}); check that it is the file you mean"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error(
        "keyrot-agent's state directory {path} {why}: someone else could plant records there that keyrot-agent would act on. Nothing was changed. Remove it, or make it yours and private (chown, chmod 700), and run again"
    )]
    UnsafeStateDir { path: PathBuf, why: String },
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
        "{path} was changed by another program while keyrot-agent was writing it; nothing was written"
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

/// Creates `dir` (and parents) with mode 0700 if it does not exist; an existing one must be
/// [`check_private_dir`]'s kind of directory.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("create directory", dir))?;
            check_private_dir(dir)
        }
        Err(e) => Err(io_err("inspect", dir)(e)),
        Ok(_) => check_private_dir(dir),
    }
}

/// Whether `dir` may hold keyrot-agent's records: a real directory (not a symbolic link), owned
/// by this user, that no one else can write. A missing directory is fine (it holds nothing).
pub fn check_private_dir(dir: &Path) -> Result<(), StoreError> {
    let unsafe_dir = |why: String| StoreError::UnsafeStateDir {
        path: dir.to_path_buf(),
        why,
    };
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("inspect", dir)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    if meta.uid() != current_uid() {
        return Err(unsafe_dir(format!(
            "belongs to uid {}, not to you (uid {})",
            meta.uid(),
            current_uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "can be written by others (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// What kind of file a non-regular file is, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The one way keyrot-agent opens a file: `options` plus `O_NONBLOCK|O_CLOEXEC` (a FIFO does
/// not wait for a peer), and `O_NOFOLLOW` unless `follow`; then the file must be a regular one.
/// A link where none is followed (or a loop of links) is [`StoreError::NotRegular`]; any other
/// failure to open is `on_error`'s.
fn open_checked(
    path: &Path,
    options: &mut OpenOptions,
    follow: bool,
    on_error: impl FnOnce(io::Error) -> StoreError,
) -> Result<File, StoreError> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = options
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => StoreError::NotRegular {
                path: path.to_path_buf(),
                kind: "a symbolic link",
            },
            _ => on_error(e),
        })?;
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if !meta.is_file() {
        return Err(StoreError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    Ok(file)
}

/// Opens `path` for reading without blocking (a FIFO does not wait for a writer) and checks that
/// it is a regular file of at most `limit` bytes. With `follow` false, a symbolic link is
/// refused rather than followed.
fn open_regular(path: &Path, follow: bool, limit: u64) -> Result<File, StoreError> {
    let file = open_checked(path, OpenOptions::new().read(true), follow, |e| {
        match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound {
                path: path.to_path_buf(),
            },
            _ => io_err("read", path)(e),
        }
    })?;
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if meta.len() > limit {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit,
        });
    }
    Ok(file)
}

/// Reads an open regular file to its end, refusing more than `limit` bytes (it may grow while
/// being read).
fn read_capped(file: &mut File, path: &Path, limit: u64) -> Result<Secret, StoreError> {
    let mut buf = Secret::default();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(io_err("read", path))?;
    if buf.len() as u64 > limit {
        return Err(StoreError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Takes the lock at `path` without waiting. When another process holds it, returns
/// [`StoreError::Busy`] with that process's pid if it wrote one.
pub fn try_lock(path: &Path) -> Result<Lock, StoreError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    // Never through a symbolic link, never blocking on a FIFO: the lock must be our own file.
    let mut file = open_checked(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
        false,
        io_err("open lock file", path),
    )?;
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

/// Reads a whole credentials or config file (a symbolic link is followed): a regular file of at
/// most [`MAX_SHARED_FILE`] bytes. A missing file is [`StoreError::NotFound`].
pub fn read(path: &Path) -> Result<Secret, StoreError> {
    let mut file = open_regular(path, true, MAX_SHARED_FILE)?;
    read_capped(&mut file, path, MAX_SHARED_FILE)
}

/// Reads one of keyrot-agent's own files in its state directory, if it exists: the directory
/// must be private ([`check_private_dir`]), the file a regular file (not a link) of at most
/// [`MAX_STATE_FILE`] bytes.
pub fn read_state(path: &Path) -> Result<Option<Secret>, StoreError> {
    if let Some(dir) = path.parent() {
        check_private_dir(dir)?;
    }
    let mut file = match open_regular(path, false, MAX_STATE_FILE) {
        Ok(f) => f,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    read_capped(&mut file, path, MAX_STATE_FILE).map(Some)
}

/// The last `max` bytes (at most) of one of keyrot-agent's own append-only files (the history),
/// from the start of a line; the directory and file are checked as by [`read_state`].
pub fn read_state_tail(path: &Path, max: u64) -> Result<Option<Secret>, StoreError> {
    use std::io::Seek;
    if let Some(dir) = path.parent() {
        check_private_dir(dir)?;
    }
    let mut file = match open_regular(path, false, u64::MAX) {
        Ok(f) => f,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata().map_err(io_err("inspect", path))?.len();
    let from = len.saturating_sub(max);
    file.seek(io::SeekFrom::Start(from))
        .map_err(io_err("read", path))?;
    let mut buf = read_capped(&mut file, path, max)?;
    if from > 0 {
        // Drop the partial first line.
        let cut = buf
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1);
        buf.drain(..cut);
    }
    Ok(Some(buf))
}

/// How long a file must have been left alone (by its modification time) for one read of it to
/// count as settled. A program that rewrites a file in place truncates it, then writes: a read
/// in between sees a file modified a moment ago.
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a file read between `before` and `after` (its metadata) was settled: unchanged
/// during the read, and either left alone for [`QUIET`] before it or exactly as this process
/// last wrote it.
fn settled(path: &Path, before: &fs::Metadata, after: &fs::Metadata) -> bool {
    let print = Fingerprint::of(after);
    if Fingerprint::of(before) != print {
        return false;
    }
    let quiet = after
        .modified()
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age >= QUIET);
    quiet
        || OWN_WRITES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|(p, f)| *f == print && fs::canonicalize(path).is_ok_and(|real| real == *p))
}

/// Reads a file that another program may be rewriting in place, so that a file caught empty or
/// half-written is not taken for the file. One read is enough when the file was [`settled`];
/// otherwise it reads again a moment later until two reads agree.
pub fn read_settled(path: &Path) -> Result<Secret, StoreError> {
    let mut file = open_regular(path, true, MAX_SHARED_FILE)?;
    let before = file.metadata().map_err(io_err("inspect", path))?;
    let first = read_capped(&mut file, path, MAX_SHARED_FILE)?;
    let after = file.metadata().map_err(io_err("inspect", path))?;
    if settled(path, &before, &after) {
        return Ok(first);
    }
    drop(file);
    let mut last = first;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let now = read(path)?;
        // An empty file changed a moment ago is a writer between its truncate and its write
        // (a slow one, on a busy machine): two reads of it agreeing prove nothing.
        if now == last && !(now.is_empty() && changed_within(path, QUIET)) {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// Whether the file at `path` was modified less than `age` ago.
fn changed_within(path: &Path, age: std::time::Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .is_some_and(|elapsed| elapsed < age)
}

/// Reads a file that may be absent (the config file).
pub fn read_optional(path: &Path) -> Result<Option<Secret>, StoreError> {
    match read(path) {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why [`replace_with`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError<E: std::error::Error + 'static> {
    /// The edit refused the file as it is now on disk.
    #[error(transparent)]
    Edit(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many times [`replace_with`] redoes its edit when other programs keep writing the file.
const MAX_ROUNDS: usize = 16;

/// How many times an edit that refuses the file is retried, a moment apart, before the refusal
/// stands: a program rewriting the file in place leaves it empty or partial for an instant.
const EDIT_RETRIES: usize = 5;

/// Replaces the file at `path` with `edit(current contents)`, atomically, and returns what it
/// wrote. `edit` must be a pure function of the bytes it is given; it runs again whenever the
/// file turns out to have changed, so other programs' writes are kept, not lost.
///
/// - The file is read, edited, and the result written to a temp file (0600 before any byte goes
///   in, then the original's mode and owner), which is fsynced.
/// - Right before the rename, the file is read again; if it changed, the round starts over.
/// - The previous contents become the one backup, then the temp file is renamed over the target
///   (a symlink's target; the link stays) and the directory is fsynced.
/// - A program that writes in place (as `aws configure set` does) may have written into the old
///   file between that last read and the rename. Its bytes then live only in the replaced inode,
///   which is still open here: they are read back once they settle, and the edit is redone on
///   top of them.
///
/// Once a rename has happened the function never reports failure for what follows: the new file
/// is in place and the caller must not roll back a file that was written.
pub fn replace_with<E: std::error::Error + 'static>(
    path: &Path,
    backup: &Path,
    mut edit: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Secret, ReplaceError<E>> {
    // A symlink is kept; what it points at is replaced.
    let target = fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_err("resolve", path)(e),
    })?;
    let mut expected = read_settled(&target)?;
    let mut base = expected.clone();
    let mut written: Option<Secret> = None;
    let mut refusals = 0;
    // Set when another program's version could not take the edit after ours was written: theirs
    // is put back (it is the newest intent) and the edit's refusal is returned.
    let mut give_back: Option<E> = None;
    for _ in 0..MAX_ROUNDS {
        let new = if give_back.is_some() {
            base.clone()
        } else {
            match edit(&base) {
                Ok(new) => Secret::new(new),
                Err(_) if written.is_none() && refusals < EDIT_RETRIES => {
                    refusals += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    expected = read_settled(&target)?;
                    base = expected.clone();
                    continue;
                }
                Err(e) if written.is_none() => return Err(ReplaceError::Edit(e)),
                Err(e) => {
                    tracing::warn!(path = %target.display(), "another program changed the file in a way that no longer takes keyrot-agent's edit; its version is put back");
                    give_back = Some(e);
                    base.clone()
                }
            }
        };
        if new == expected && written.is_some() && give_back.is_none() {
            break;
        }
        let meta = fs::metadata(&target).map_err(io_err("inspect", &target))?;
        let temp = write_temp(&target, &new, Some(&meta))?;
        let result = (|| {
            let mut old = open_regular(&target, true, MAX_SHARED_FILE)?;
            let current = read_capped(&mut old, &target, MAX_SHARED_FILE)?;
            if *current != *expected {
                return Ok(Err(()));
            }
            write_backup(backup, &expected)?;
            // A write by another program from here on is found in the displaced file below.
            crate::edge::failpoint::hit("before-rename");
            let displaced = swap_into_place(&temp, &target, old)?;
            Ok(Ok(displaced))
        })();
        let displaced = match result {
            Ok(Ok(displaced)) => Secret::new(displaced),
            Ok(Err(())) => {
                // Changed since we read it: start over from what is there now, once it settles.
                let _ = fs::remove_file(&temp);
                expected = read_settled(&target)?;
                base = expected.clone();
                continue;
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                if written.is_none() {
                    return Err(ReplaceError::Store(e));
                }
                tracing::warn!(error = %e, "could not re-apply the edit after a concurrent write");
                break;
            }
        };
        crate::edge::failpoint::hit("after-rename");
        record_own_write(&target);
        if let Err(e) = sync_dir(&target) {
            tracing::warn!(error = %e, "the file was replaced, but its directory could not be fsynced");
        }
        written = Some(new.clone());
        if let Some(e) = give_back.take() {
            return Err(ReplaceError::Edit(e));
        }
        if displaced == expected {
            return Ok(new);
        }
        tracing::info!(
            "another program wrote the file during the replacement; redoing the edit on top of its version"
        );
        base = displaced;
        expected = new;
    }
    match written {
        Some(w) => Ok(w),
        // Never got a quiet moment to write in.
        None => Err(ReplaceError::Store(StoreError::ChangedMeanwhile {
            path: path.to_path_buf(),
        })),
    }
}

/// What a file looks like from outside (device, inode, size, modification and change times):
/// enough to tell that someone changed it, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    fn of(m: &fs::Metadata) -> Fingerprint {
        Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The fingerprint of `path` (a symlink is followed), or `None` when it cannot be looked at.
pub fn fingerprint(path: &Path) -> Option<Fingerprint> {
    fs::metadata(path).ok().map(|m| Fingerprint::of(&m))
}

/// The files this process replaced, each with its fingerprint right after the replacement: the
/// agent must not take its own writes for a user's edit (see `edge::watch::Seen`).
static OWN_WRITES: std::sync::Mutex<Vec<(PathBuf, Fingerprint)>> =
    std::sync::Mutex::new(Vec::new());

fn record_own_write(target: &Path) {
    if let Some(f) = fingerprint(target) {
        let mut own = OWN_WRITES.lock().unwrap_or_else(|p| p.into_inner());
        own.retain(|(p, _)| p != target);
        own.push((target.to_path_buf(), f));
    }
}

/// The files this process replaced since the last call (by their resolved paths), each with
/// its fingerprint right after its last replacement.
pub fn take_own_writes() -> Vec<(PathBuf, Fingerprint)> {
    std::mem::take(&mut *OWN_WRITES.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Puts `temp` in place of `target` and returns what `target` held at that instant, once
/// settled. On Linux the two are exchanged atomically (`renameat2(RENAME_EXCHANGE)`), so even a
/// program that replaced `target` by rename after our last check is seen; elsewhere, or where the
/// file system cannot exchange, a plain rename is used and the replaced inode (`old`, still open)
/// is read back, which catches in-place writers.
fn swap_into_place(temp: &Path, target: &Path, old: File) -> Result<Vec<u8>, StoreError> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let (Ok(from), Ok(to)) = (
            CString::new(temp.as_os_str().as_bytes()),
            CString::new(target.as_os_str().as_bytes()),
        ) else {
            return Err(io_err("replace", target)(io::Error::other(
                "path contains NUL",
            )));
        };
        // SAFETY: both are valid NUL-terminated paths; AT_FDCWD with absolute or relative paths.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            // `temp` now names what was in place: read it once it settles, then remove it.
            let displaced = File::open(temp).map(settled_contents);
            let _ = fs::remove_file(temp);
            return displaced.map_err(io_err("read back", target));
        }
        let err = io::Error::last_os_error();
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP)
        ) {
            return Err(io_err("replace", target)(err));
        }
    }
    fs::rename(temp, target).map_err(io_err("replace", target))?;
    Ok(settled_contents(old))
}

/// Reads a file that another program may be writing in place (truncate, then write) until two
/// reads a moment apart agree.
fn settled_contents(mut file: File) -> Vec<u8> {
    use std::io::Seek;
    let read_all = |file: &mut File| {
        let mut buf = Vec::new();
        let _ = file.seek(io::SeekFrom::Start(0));
        let _ = file.read_to_end(&mut buf);
        buf
    };
    let before = file.metadata();
    let mut last = read_all(&mut file);
    // Left alone for a while and unchanged while read: no writer is half-way through it. (The
    // rename changed its ctime, not its mtime.)
    if let (Ok(before), Ok(after)) = (before, file.metadata())
        && Fingerprint::of(&before) == Fingerprint::of(&after)
        && after
            .modified()
            .ok()
            .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= QUIET)
    {
        return last;
    }
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = read_all(&mut file);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Writes a new, non-secret file (the agent's config) atomically, mode 0644, creating its
/// directory. An existing file is left alone unless `overwrite`.
pub fn write_new(path: &Path, contents: &[u8], overwrite: bool) -> Result<bool, StoreError> {
    if path.exists() && !overwrite {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err("create directory", dir))?;
    }
    let temp = write_temp(path, contents, None)?;
    let result = fs::set_permissions(&temp, fs::Permissions::from_mode(0o644))
        .map_err(io_err("set the mode of", &temp))
        .and_then(|()| fs::rename(&temp, path).map_err(io_err("write", path)))
        .and_then(|()| sync_dir(path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| true)
}

/// Writes `contents` to `path` atomically (a 0600 temp file renamed into place, in a private
/// directory) but not durably: no fsync of the file or the directory. For soft state only.
pub fn write_soft(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let temp = write_temp_with(path, contents, None, false)?;
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        io_err("write", path)(e)
    })
}

/// Writes `contents` to `path` atomically and durably, mode 0600, creating a private directory.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    write_backup(path, contents)
}

/// A small JSON state file of keyrot-agent's (a cache, a record of what was shown): its value,
/// or `None` when it is missing or unreadable, which such files may be.
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    read_state(path)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Writes a JSON state file (0600, atomically). A failure is logged with `what`, never fatal.
///
/// Such a file is soft state (a cache, a record of what was shown or tried), so it is written
/// atomically but without fsyncs ([`write_soft`]): a power cut may lose the last update or leave
/// the file unreadable, which [`load_json`] takes as missing.
pub fn save_json<T: serde::Serialize>(path: &Path, value: &T, what: &str) {
    match serde_json::to_vec_pretty(value) {
        Ok(bytes) => {
            if let Err(e) = write_soft(path, &bytes) {
                tracing::warn!(error = %e, "could not update {what}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not encode {what}"),
    }
}

/// Appends `bytes` to the private file at `path` (0600, created with a private directory if
/// missing) and fsyncs it.
pub fn append_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let mut f = open_append(path)?;
    f.write_all(bytes).map_err(io_err("append to", path))?;
    f.sync_all().map_err(io_err("append to", path))
}

/// Opens a private file of the state directory for appending: created 0600 if missing, never
/// through a symbolic link, never blocking on a FIFO, and a regular file.
fn open_append(path: &Path) -> Result<File, StoreError> {
    open_checked(
        path,
        OpenOptions::new().create(true).append(true).mode(0o600),
        false,
        io_err("append to", path),
    )
}

/// Opens the private file at `path` (0600, created if missing) for appending: a log another
/// process writes.
pub fn open_private_append(path: &Path) -> Result<File, StoreError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    open_append(path)
}

/// The mode bits of `path` (a symbolic link followed) and of the directory it is in, or `None`
/// when either cannot be inspected (then the read that follows reports why).
/// The permission bits of the directory at `path`, if it is one.
pub fn dir_mode(path: &Path) -> Option<u32> {
    let meta = fs::metadata(path).ok()?;
    meta.is_dir().then(|| meta.mode() & 0o7777)
}

pub fn modes(path: &Path) -> Option<(u32, u32)> {
    let target = fs::canonicalize(path).ok()?;
    let meta = fs::metadata(&target).ok()?;
    if !meta.is_file() {
        return None;
    }
    let file = meta.mode() & 0o7777;
    let dir = fs::metadata(target.parent()?).ok()?.mode() & 0o7777;
    Some((file, dir))
}

/// Takes the write bits for group and others off `path` and off the directory it is in (a
/// symbolic link followed), and the read bits off the file: what `--fix-permissions` does.
pub fn make_private(path: &Path) -> Result<(), StoreError> {
    let target = fs::canonicalize(path).map_err(io_err("inspect", path))?;
    let mode = fs::metadata(&target)
        .map_err(io_err("inspect", path))?
        .mode()
        & 0o7777;
    fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o700))
        .map_err(io_err("change the mode of", &target))?;
    if let Some(dir) = target.parent() {
        let dmode = fs::metadata(dir).map_err(io_err("inspect", dir))?.mode() & 0o7777;
        if dmode & 0o022 != 0 && dmode & 0o1000 == 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(dmode & !0o022))
                .map_err(io_err("change the mode of", dir))?;
        }
    }
    Ok(())
}

/// Whether this process can replace `path` (create a temp file in its directory and rename it
/// over the file), asked before anything is created in AWS so that an unwritable `~/.aws` is
/// found while there is nothing to roll back.
pub fn check_can_replace(path: &Path) -> Result<(), StoreError> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(dir) = target.parent() else {
        return Ok(());
    };
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io_err("write into", dir)(io::Error::other(e)))?;
    // SAFETY: access() with a valid C string.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(io_err("write into", dir)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Removes the directory `dir` if it is empty; returns whether it is gone.
pub fn remove_empty_dir(dir: &Path) -> bool {
    fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// Removes `path` durably (the directory is fsynced). A missing file is fine.
pub fn remove_durably(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path)(e)),
    }
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
    write_temp_with(target, contents, like, true)
}

/// [`write_temp`], with the fsync only when `sync`.
fn write_temp_with(
    target: &Path,
    contents: &[u8],
    like: Option<&fs::Metadata>,
    sync: bool,
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
            file.set_permissions(fs::Permissions::from_mode(
                crate::core::trust::written_mode(meta.mode() & 0o7777),
            ))
            .map_err(io_err("keep the mode of", target))?;
        }
        if sync {
            file.sync_all().map_err(io_err("fsync", &temp))?;
        }
        Ok(())
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

    /// A slow in-place writer (truncate, a pause, then write) is waited for: two reads of the
    /// empty file a moment apart are not taken for the file. (Before, they were, and a rotation
    /// started while `aws configure set` was writing said "profile default not found".)
    #[test]
    fn a_file_emptied_a_moment_ago_is_read_once_its_writer_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, "[default]\nregion = a\n").unwrap();
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(0).unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(40));
                fs::write(&path, "[default]\nregion = b\n").unwrap();
            })
        };
        let read = read_settled(&path).unwrap();
        writer.join().unwrap();
        assert_eq!(&*read, b"[default]\nregion = b\n");
    }

    #[test]
    fn one_read_is_enough_only_for_a_quiet_file_or_our_own_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        let backup = dir.path().join("backup");
        fs::write(&file, "[a]\n").unwrap();
        let meta = || fs::metadata(&file).unwrap();
        // Someone else wrote it a moment ago: read again.
        let fresh = meta();
        assert!(!settled(&file, &fresh, &fresh));
        // Left alone for a second: one read.
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(past)
            .unwrap();
        let quiet = meta();
        assert!(settled(&file, &quiet, &quiet));
        // Changed while it was read: read again.
        fs::write(&file, "[a]\nx = 1\n").unwrap();
        assert!(!settled(&file, &quiet, &meta()));
        // Just written by this process, and untouched since: one read.
        replace_with(&file, &backup, |b: &[u8]| {
            Ok::<_, io::Error>([b, b"y = 2\n"].concat())
        })
        .unwrap();
        let ours = meta();
        assert!(settled(&file, &ours, &ours));
    }

    #[test]
    fn replace_keeps_mode_writes_backup_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let backup = dir.path().join("state/credentials.backup");
        replace_with(&path, &backup, |_| Ok::<_, std::io::Error>(b"new".to_vec())).unwrap();
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
        replace_with(&link, &dir.path().join("b"), |_| {
            Ok::<_, std::io::Error>(b"new".to_vec())
        })
        .unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn an_edit_that_refuses_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"someone else's").unwrap();
        let err = replace_with(&path, &dir.path().join("b"), |_| {
            Err::<Vec<u8>, _>(std::io::Error::other("not mine"))
        })
        .unwrap_err();
        assert!(matches!(err, ReplaceError::Edit(_)));
        assert_eq!(fs::read(&path).unwrap(), b"someone else's");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_write_into_the_replaced_file_is_merged_not_lost() {
        // The edit appends a line; a concurrent in-place writer changes the first line while
        // the edit runs (simulated inside the edit on its first call).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(&path, b"region = a\n").unwrap();
        let mut calls = 0;
        let p = path.clone();
        let written = replace_with(&path, &dir.path().join("b"), |base| {
            calls += 1;
            if calls == 1 {
                // Another program rewrites the file in place after we read it.
                fs::write(&p, b"region = b\n").unwrap();
            }
            let mut out = base.to_vec();
            if !out.ends_with(b"key = new\n") {
                out.extend_from_slice(b"key = new\n");
            }
            Ok::<_, std::io::Error>(out)
        })
        .unwrap();
        assert_eq!(written.as_slice(), b"region = b\nkey = new\n");
        assert_eq!(fs::read(&path).unwrap(), b"region = b\nkey = new\n");
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
