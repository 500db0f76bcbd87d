//! What the local machine holds, loaded once per command: keyrot-agent's own config file for
//! now; the profiles of the shared files next.

use crate::core::config::{Config, LoadError, parse};
use crate::edge::paths::Paths;
use crate::edge::store::{self, StoreError};

/// keyrot-agent's config file; a missing file is the defaults. Errors carry `path:line`.
pub fn agent_config(paths: &Paths) -> Result<Config, LoadError> {
    let path = &paths.agent_config;
    let io = |error: String| LoadError::Io {
        path: path.clone(),
        error,
    };
    let Some(bytes) = store::read_optional(path).map_err(|e| match e {
        StoreError::Io { source, .. } => io(source.to_string()),
        other => io(other.to_string()),
    })?
    else {
        return Ok(Config::default());
    };
    let text = String::from_utf8(bytes).map_err(|_| io("it is not UTF-8 text".into()))?;
    parse(&text).map_err(|error| LoadError::Invalid {
        path: path.clone(),
        error,
    })
}
