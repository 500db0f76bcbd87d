//! What the process does to itself before it touches a secret: no core dump can hold one, and
//! no process of the same user can attach to it and read its memory.

/// Makes this process undumpable and unattachable: `RLIMIT_CORE` 0 (no core file, even on
/// SIGQUIT or a crash), and on Linux `PR_SET_DUMPABLE` 0 (no core through systemd-coredump or
/// apport either, no ptrace by the same user without CAP_SYS_PTRACE, and `/proc/<pid>/mem`,
/// `environ` and the like owned by root). On macOS, `PT_DENY_ATTACH` keeps debuggers away.
/// Failures are logged and ignored: the protection is a second line, never a reason to stop.
pub fn harden() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid, fully initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not set RLIMIT_CORE to 0");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "could not clear the dumpable flag");
        }
    }
    #[cfg(target_os = "macos")]
    {
        // SAFETY: ptrace(PT_DENY_ATTACH) takes no pointer that is dereferenced.
        unsafe { libc::ptrace(libc::PT_DENY_ATTACH, 0, std::ptr::null_mut(), 0) };
    }
}
