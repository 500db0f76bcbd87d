//! Logging setup: `tracing` to stderr through the secret-scrubbing writer.
//!
//! `KEYROT_LOG` (or `RUST_LOG`) sets the level, default `warn`. Whatever the level, the HTTP
//! stack's and D-Bus's wire logging is capped at `debug`, and every line goes through
//! [`crate::core::redact::ScrubbingStderr`], so no secret reaches the log even at `trace`.

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::prelude::*;

pub fn init() {
    let spec = std::env::var("KEYROT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".into());
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
        .with_writer(crate::core::redact::ScrubbingStderr::new)
        .with_ansi(false)
        .with_filter(wanted)
        .with_filter(cap);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
