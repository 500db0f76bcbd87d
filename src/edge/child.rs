//! Running a user's command (`mfa_process`, rotation hooks): `sh -c`, in a process group of its
//! own that is killed whole when it runs past its deadline, with its standard input given and
//! its output captured (at most [`MAX_OUTPUT`] bytes of each).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// How much of a command's standard output and error is kept.
pub const MAX_OUTPUT: u64 = 256 * 1024;

/// The environment a command runs with.
pub enum Env<'a> {
    /// keyrot-agent's own, plus these.
    Inherit(&'a [(String, String)]),
    /// Only these.
    Only(&'a [(String, String)]),
}

/// How a command ended.
pub struct Finished {
    /// `None`: it ran past its deadline, and its process group was killed.
    pub status: Option<ExitStatus>,
    /// What it printed (wiped when dropped: it may hold a code or a secret).
    pub stdout: Zeroizing<Vec<u8>>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// How it ended, in words.
    pub fn ending(&self, timeout: Duration) -> String {
        match self.status {
            None => format!(
                "it ran past its {} s and was stopped",
                timeout.as_secs_f64().ceil() as u64
            ),
            Some(s) => match s.code() {
                Some(c) => format!("it exited with status {c}"),
                None => format!("it was stopped ({s})"),
            },
        }
    }
}

/// Runs `command` through `sh -c` in `dir`, with `stdin` on its standard input, until it ends
/// or `timeout` passes.
pub fn run(
    command: &str,
    stdin: &[u8],
    env: Env<'_>,
    dir: Option<&Path>,
    timeout: Duration,
) -> std::io::Result<Finished> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    match env {
        Env::Inherit(extra) => {
            cmd.envs(extra.iter().map(|(k, v)| (k, v)));
        }
        Env::Only(vars) => {
            cmd.env_clear().envs(vars.iter().map(|(k, v)| (k, v)));
        }
    }
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let mut input = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let given = Zeroizing::new(stdin.to_vec());
    // A command that does not read its input must not block us: written on a thread, and a
    // broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&given);
        drop(input);
    });
    let out = std::thread::spawn(move || {
        let mut buf = Zeroizing::new(Vec::new());
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut buf);
        // Drain the rest so the command never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(MAX_OUTPUT).read_to_end(&mut buf);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        buf
    });
    let started = Instant::now();
    let group = child.id() as i32;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(10)),
            None => {
                // SAFETY: kill(2) with the child's own process group (it leads it).
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
        }
    };
    // Whatever it started in its group goes too, so the pipes close.
    // SAFETY: as above; a group that is gone already gives ESRCH, which is fine.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = writer.join();
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
