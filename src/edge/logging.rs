//! Logging setup: `tracing` to stderr through the secret-scrubbing writer.
//!
//! `KEYROT_LOG` (or `RUST_LOG`) sets the level; without it, `warn`, or keyrot-agent's own
//! `info` (`-v`) or `debug` (`-vv`) lines with everyone else's warnings, or only errors
//! (`--quiet`). Whatever the level, the HTTP
//! stack's and D-Bus's wire logging is capped at `debug`, and every line goes through
//! [`ScrubbingStderr`], so no secret reaches the log even at `trace`.

use std::io::{self, Write};

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;

pub fn init(verbose: u8, quiet: bool) {
    let spec = std::env::var("KEYROT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level(verbose, quiet).into());
    let wanted = EnvFilter::builder().parse_lossy(spec);
    // These crates log request and response bodies at trace; cap them at debug.
    let cap = Targets::new()
        .with_default(Level::TRACE)
        .with_target("aws_smithy_runtime", Level::DEBUG)
        .with_target("aws_smithy_http_client", Level::DEBUG)
        .with_target("hyper", Level::DEBUG)
        .with_target("hyper_util", Level::DEBUG)
        .with_target("h2", Level::DEBUG)
        .with_target("rustls", Level::DEBUG)
        // D-Bus (keyring, notifications): message traces carry payloads, among them the
        // keyring's secrets.
        .with_target("zbus", Level::DEBUG)
        .with_target("secret_service", Level::DEBUG);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(ScrubbingStderr::new)
        .with_ansi(false)
        .with_filter(wanted)
        .with_filter(cap);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The log filter without KEYROT_LOG: `-v` and `-vv` open keyrot-agent's own lines only.
fn default_level(verbose: u8, quiet: bool) -> &'static str {
    match (verbose, quiet) {
        (_, true) => "error",
        (0, false) => "warn",
        (1, false) => "warn,keyrot_agent=info",
        _ => "warn,keyrot_agent=debug",
    }
}

/// A writer that buffers what it is given and writes it, scrubbed, to stderr when dropped.
/// `tracing_subscriber::fmt` makes one per event.
pub struct ScrubbingStderr {
    buf: Vec<u8>,
}

impl ScrubbingStderr {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }
}

impl Default for ScrubbingStderr {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for ScrubbingStderr {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = crate::core::redact::for_terminal(&text);
        let result = io::stderr().lock().write_all(clean.as_bytes());
        self.buf.clear();
        result
    }
}

impl Drop for ScrubbingStderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Makes a panic's message pass through [`scrub`] and [`printable`] before it is printed: a
/// panic that formats a value holding a secret prints `***`.
pub fn scrub_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "keyrot-agent: internal error{place}: {} (this is a bug; please report it)",
            crate::core::redact::for_terminal(&message)
        );
    }));
}
