//! The architecture's rules, checked over every source file as an ordinary test (as
//! rust-analyzer's tidy test does), so that ARCHITECTURE.md's sentences stay true:
//!
//! - `src/` is five layers that import only downwards: `core` < `edge` < `state` < `engine` <
//!   `commands` (< `main.rs`). A module may use its own layer or a lower one.
//! - The import graph between modules has no cycle.
//! - `core` does no I/O: no file system, network, environment, processes, threads, async runtime,
//!   AWS or keyring crates, terminal, and no clock.
//! - Only `edge` modules touch the outside: the file system, the network, the AWS SDK, the
//!   keyring, D-Bus notifications, file watching, the terminal's progress bar, libc.
//! - Only `edge::store` writes to disk.
//! - Only the storage seam (`edge::storage`) knows whether a profile's secret is in the keyring.
//! - Every state file's name is spelled once, in `edge::paths`.
//! - Only `commands` decides exit codes, and only `commands` prints.
//! - Some modules deliberately do not know others (`FORBIDDEN_IMPORTS`): `edge::store` knows
//!   nothing of the INI format, the state records nothing of AWS, the rotation nothing of the
//!   files' syntax, and the engine reaches the keyring only through the storage seam.
//!
//! The rules read the code as text: `crate::layer::module` paths and a list of tokens per rule.
//! Code under `#[cfg(test)]` is not checked (tests may do what they need), nor are comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LAYERS: [&str; 5] = ["core", "edge", "state", "engine", "commands"];

/// A source file as the rules see it.
struct Source {
    /// `core::credentials`, `engine`, `main`, …
    module: String,
    /// The code without comments and without its `#[cfg(test)]` module.
    code: String,
}

fn layer_rank(module: &str) -> usize {
    let layer = module.split("::").next().unwrap_or(module);
    LAYERS
        .iter()
        .position(|l| *l == layer)
        .unwrap_or(LAYERS.len())
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let parts: Vec<&str> = rel
                .iter()
                .map(|p| p.to_str().unwrap().trim_end_matches(".rs"))
                .collect();
            let module = match parts.as_slice() {
                ["main"] | ["lib"] => "main".to_string(),
                [layer, "mod"] => layer.to_string(),
                [layer, name] => format!("{layer}::{name}"),
                other => other.join("::"),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(Source {
                module,
                code: code_only(&text),
            });
        }
    }
    out.sort_by(|a, b| a.module.cmp(&b.module));
    out
}

/// The text without `//` comments and without `#[cfg(test)]` modules.
fn code_only(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect();
    let mut out = String::new();
    let mut skip_depth: Option<i64> = None;
    let mut depth: i64 = 0;
    let mut pending_cfg_test = false;
    for line in lines {
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if skip_depth.is_none() {
            if line.trim() == "#[cfg(test)]" {
                pending_cfg_test = true;
                continue;
            }
            if pending_cfg_test && line.trim_start().starts_with("mod ") {
                skip_depth = Some(depth);
                pending_cfg_test = false;
            } else {
                pending_cfg_test = false;
                out.push_str(line);
                out.push('\n');
            }
        }
        depth += opens - closes;
        if let Some(d) = skip_depth
            && depth <= d
        {
            skip_depth = None;
        }
    }
    out
}

/// The modules a source refers to through `crate::layer::module` (or `keyrot_agent::…` in
/// `main.rs`), `crate::layer::{module, …}`, and `crate::layer` alone.
fn imports(source: &Source) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for prefix in ["crate::", "keyrot_agent::"] {
        for (i, _) in source.code.match_indices(prefix) {
            let rest = &source.code[i + prefix.len()..];
            let layer = ident(rest);
            if !LAYERS.contains(&layer.as_str()) {
                continue;
            }
            let after = &rest[layer.len()..];
            let mut modules = Vec::new();
            if let Some(inner) = after.strip_prefix("::") {
                if let Some(group) = inner.strip_prefix('{') {
                    // `crate::layer::{a, b::c, self}`: the first segment of each item.
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    for item in group.split(',') {
                        let name = ident(item);
                        if !name.is_empty() && name != "self" {
                            modules.push(format!("{layer}::{name}"));
                        }
                    }
                } else {
                    let name = ident(inner);
                    if !name.is_empty() && name.chars().next().unwrap().is_lowercase() {
                        modules.push(format!("{layer}::{name}"));
                    }
                }
            }
            if modules.is_empty() {
                modules.push(layer.clone());
            }
            for m in modules {
                if m != source.module {
                    out.insert(m);
                }
            }
        }
    }
    out
}

/// Fails with every violation found, each as `rule: detail`.
fn check(found: BTreeSet<String>) {
    assert!(
        found.is_empty(),
        "\narchitecture rules broken:\n  {}\n(see ARCHITECTURE.md for each rule and why it holds)\n",
        found
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

fn found_violations() -> BTreeSet<String> {
    let sources = sources();
    let mut found = BTreeSet::new();
    // Layers import only downwards.
    for s in &sources {
        for m in imports(s) {
            if layer_rank(&m) > layer_rank(&s.module) {
                found.insert(format!("upwards: {} -> {m}", s.module));
            }
        }
    }
    // No cycle.
    let graph: BTreeMap<String, BTreeSet<String>> = sources
        .iter()
        .map(|s| (s.module.clone(), imports(s)))
        .collect();
    for cycle in cycles(&graph) {
        found.insert(format!("cycle: {}", cycle.join(" -> ")));
    }
    // What some modules deliberately do not know.
    for s in &sources {
        for (rule, module, forbidden) in FORBIDDEN_IMPORTS {
            if s.module == *module || s.module.starts_with(&format!("{module}::")) {
                for m in imports(s) {
                    if m == *forbidden || m.starts_with(&format!("{forbidden}::")) {
                        found.insert(format!("{rule}: {} uses {m}", s.module));
                    }
                }
            }
        }
    }
    // Token rules.
    for s in &sources {
        for (rule, applies, tokens) in TOKEN_RULES {
            if !applies(&s.module) {
                continue;
            }
            for t in *tokens {
                if contains_token(&s.code, t) {
                    found.insert(format!("{rule}: {} uses `{t}`", s.module));
                }
            }
        }
    }
    found
}

/// Whether `code` holds `token`. A token that starts with `::` (a crate's absolute path) or
/// with a letter must not continue an identifier or a path: `::keyring::` is the keyring crate,
/// not `crate::edge::keyring::`, and `aws_config` is not `my_aws_config`.
fn contains_token(code: &str, token: &str) -> bool {
    code.match_indices(token).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let boundary = |c: char| !(c.is_alphanumeric() || c == '_');
        match token.chars().next() {
            Some(':') => before.is_none_or(|c| boundary(c) && c != ':'),
            Some(c) if c.is_alphabetic() => before.is_none_or(boundary),
            _ => true,
        }
    })
}

/// (rule, a module or layer, a module or layer it must not use).
const FORBIDDEN_IMPORTS: &[(&str, &str, &str)] = &[
    (
        "store knows nothing of the INI format",
        "edge::store",
        "core::credentials",
    ),
    (
        "store knows nothing of the INI format",
        "edge::store",
        "core::profiles",
    ),
    ("state records know nothing of AWS", "state", "edge::aws"),
    (
        "the rotation decides nothing about the files' syntax",
        "engine::rotate",
        "core::credentials",
    ),
    (
        "only the storage seam reaches the keyring for the engine",
        "engine",
        "edge::keyring",
    ),
];

type Applies = fn(&str) -> bool;

/// (rule, which modules it applies to, tokens those modules must not contain).
const TOKEN_RULES: &[(&str, Applies, &[&str])] = &[
    (
        "core does no I/O",
        |m| m == "core" || m.starts_with("core::"),
        &[
            "std::fs",
            "fs::",
            "std::env",
            "env::var",
            "std::net",
            "std::process",
            "std::thread",
            "tokio",
            "async fn",
            "aws_sdk_",
            "aws_config::",
            "aws_smithy_",
            "aws_credential_types::",
            "aws_runtime::",
            "::keyring::",
            "keyring::Entry",
            "notify_rust",
            "SystemTime",
            "Instant::now",
            "now_utc",
            "File::",
            "OpenOptions",
            "libc::",
            "stdin()",
            "stdout()",
            "stderr()",
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
        ],
    ),
    (
        "only edges touch the outside",
        |m| !(m == "edge" || m.starts_with("edge::") || m == "main"),
        &[
            "std::fs",
            "std::net",
            "std::process::Command",
            "aws_sdk_",
            "aws_config::",
            "aws_smithy_",
            "aws_credential_types::",
            "aws_runtime::",
            "::keyring::",
            "keyring::Entry",
            "notify_rust",
            "use notify::",
            "::notify::",
            "indicatif",
            "libc::",
        ],
    ),
    (
        // The terminal edge opens /dev/tty (a device, not a file on disk) to ask for a code.
        "only store writes to disk",
        |m| m != "edge::store" && m != "edge::terminal",
        &[
            "fs::write",
            "File::create",
            "OpenOptions",
            "create_dir",
            "DirBuilder",
            "remove_file",
            "remove_dir",
            "fs::rename",
            "set_permissions",
            "fs::copy",
            "fchown",
            "os::unix::fs::symlink",
        ],
    ),
    (
        "only the storage seam knows the keyring flag",
        |m| m != "edge::storage",
        &["in_keyring"],
    ),
    (
        "state file names live in paths",
        |m| m != "edge::paths",
        &[
            "\"rotation.journal\"",
            "\"history.jsonl\"",
            "\"keys.json\"",
            "\"grace.json\"",
            "\"failures.json\"",
            "\"notified.json\"",
            "\"mfa.json\"",
            "\"agent.lock\"",
            "\"credentials.backup\"",
            "join(\"lock\")",
        ],
    ),
    (
        "only commands print",
        |m| {
            !(m == "commands"
                || m.starts_with("commands::")
                || m == "main"
                || m == "edge::failpoint")
        },
        &["println!", "print!(", "eprintln!", "eprint!("],
    ),
    (
        "only commands decide exit codes",
        |m| m != "commands" && !m.starts_with("commands::") && m != "main",
        &["exit_code", "exit::"],
    ),
];

/// Every elementary cycle's smallest rotation, found by a depth-first search from each node.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    // Only report each cycle once: from its smallest member.
                    if path.iter().all(|p| p >= start) {
                        let mut c = path.clone();
                        c.push(start.clone());
                        out.insert(c);
                    }
                } else if !path.contains(next) && next > start && path.len() < 8 {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    out
}

#[test]
fn the_layers_import_only_downwards_without_cycles_and_keep_their_rules() {
    check(found_violations());
}

/// Prints every violation: `cargo test --test architecture list -- --ignored --nocapture`.
#[test]
#[ignore]
fn list() {
    for v in found_violations() {
        println!("    {v:?},");
    }
}

#[test]
fn the_checks_themselves_see_what_they_should() {
    let s = Source {
        module: "core::x".into(),
        code: code_only(
            "use crate::edge::store;\n// use crate::commands::now;\nfn f() { crate::engine::rotate::go(); }\n#[cfg(test)]\nmod tests {\n    use crate::commands::y;\n}\nfn g() { crate::state::journal::x(); }\nuse crate::core::{keys::KeyPair, self, rotation};\n",
        ),
    };
    assert_eq!(
        imports(&s).into_iter().collect::<Vec<_>>(),
        [
            "core::keys",
            "core::rotation",
            "edge::store",
            "engine::rotate",
            "state::journal"
        ]
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&g).len(), 1);
}
