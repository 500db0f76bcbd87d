//! What keyrot-agent trusts of its environment, as plain decisions: the mode of the files that
//! hold secrets, and the endpoints a new secret may come back from.

use crate::core::credentials::ParsedFile;

/// What the mode bits of a file that holds secrets (or of its directory) allow others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only the owner reads or writes it.
    Private,
    /// Group or others can read it: the secrets leak to them, but nothing they do is acted on.
    Readable,
    /// Group or others can write it (a directory: replace the file in it). What they write
    /// would be read as the user's profiles, and the new secret written where they can reach.
    Writable,
}

/// The exposure of a file with mode `file_mode` in a directory with mode `dir_mode`. A sticky
/// directory (such as `/tmp`) keeps others from replacing a file they do not own.
pub fn exposure(file_mode: u32, dir_mode: u32) -> Exposure {
    let dir_writable = dir_mode & 0o022 != 0 && dir_mode & 0o1000 == 0;
    if file_mode & 0o022 != 0 || dir_writable {
        Exposure::Writable
    } else if file_mode & 0o044 != 0 {
        Exposure::Readable
    } else {
        Exposure::Private
    }
}

/// The mode a file of mode `mode` is given when keyrot-agent writes it: never wider, and never
/// writable by others.
pub fn written_mode(mode: u32) -> u32 {
    mode & 0o755
}

/// Why a new secret must not come back from `endpoint`, if it must not: a plain `http://`
/// endpoint is accepted only on the loopback interface, where the secret never crosses a
/// network.
pub fn insecure_endpoint(endpoint: &str) -> Option<&'static str> {
    let endpoint = endpoint.trim();
    let lower = endpoint.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return None;
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Some("it is not an https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<::core::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        None
    } else {
        Some("it is plain http:// to a host that is not this machine")
    }
}

/// The `endpoint_url` settings of the AWS config file, each with its line.
pub fn endpoints_in(config: &ParsedFile) -> Vec<(usize, String)> {
    config
        .sections()
        .iter()
        .flat_map(|s| s.properties.iter())
        .filter(|p| p.key == "endpoint_url")
        .map(|p| (p.line, config.value(p).to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_table() {
        let cases = [
            (0o600, 0o700, Exposure::Private),
            (0o400, 0o755, Exposure::Private),
            (0o640, 0o700, Exposure::Readable),
            (0o644, 0o755, Exposure::Readable),
            (0o620, 0o700, Exposure::Writable),
            (0o666, 0o755, Exposure::Writable),
            (0o600, 0o777, Exposure::Writable),
            (0o600, 0o770, Exposure::Writable),
            (0o600, 0o1777, Exposure::Private),
        ];
        for (file, dir, want) in cases {
            assert_eq!(exposure(file, dir), want, "{file:o} in {dir:o}");
        }
    }

    #[test]
    fn written_mode_never_widens_and_drops_write_for_others() {
        for (mode, want) in [
            (0o600, 0o600),
            (0o644, 0o644),
            (0o666, 0o644),
            (0o620, 0o600),
            (0o400, 0o400),
        ] {
            assert_eq!(written_mode(mode), want, "{mode:o}");
            assert_eq!(written_mode(mode) & !mode, 0);
        }
    }

    #[test]
    fn endpoint_table() {
        let ok = [
            "https://iam.amazonaws.com",
            "HTTPS://example.com",
            "http://127.0.0.1:5000",
            "http://127.8.9.1/",
            "http://localhost:4566",
            "http://[::1]:9000/x",
            "http://user@127.0.0.1:5",
            "http://moto.localhost",
        ];
        for e in ok {
            assert_eq!(insecure_endpoint(e), None, "{e}");
        }
        let refused = [
            "http://10.0.0.1:5000",
            "http://iam.example.com",
            "http://127.0.0.1.evil.com",
            "http://localhost@evil.com",
            "ftp://x",
            "iam.amazonaws.com",
        ];
        for e in refused {
            assert!(insecure_endpoint(e).is_some(), "{e}");
        }
    }
}
