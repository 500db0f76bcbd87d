//! Property test of the credentials-file editor: for generated files in every style people keep
//! them (CRLF or LF, spacing, key case, comments, nested blocks, trailing whitespace, no final
//! newline, shared keys), replacing a key changes exactly the key id and secret values of every
//! section that held it, and not one other byte.

use keyrot_agent::core::credentials::{EditError, FileKind, NewKey, ProblemKind, parse};
use proptest::prelude::*;

const OLD_ID: &str = "AKIAOLDOLDOLDOLDOLD1";
const OLD_SECRET: &str = "old/Secret+000000000000000000000000000000";
const NEW_ID: &str = "AKIANEWNEWNEWNEWNEW2";
const NEW_SECRET: &str = "new/Secret+111111111111111111111111111111";
const OTHER: [(&str, &str); 2] = [
    (
        "AKIAOTHEROTHEROTHER3",
        "other/Secret+2222222222222222222222222222",
    ),
    (
        "AKIAOTHEROTHEROTHER4",
        "other/Secret+3333333333333333333333333333",
    ),
];

#[derive(Debug, Clone)]
enum Entry {
    KeyId {
        key: String,
        eq: String,
        trail: String,
    },
    Secret {
        key: String,
        eq: String,
        trail: String,
    },
    Setting {
        line: String,
    },
    Nested {
        head: String,
        subs: Vec<String>,
    },
    Comment(String),
    Blank(String),
}

#[derive(Debug, Clone)]
struct Section {
    header: String,
    /// Which key the section holds: 0 = the old key, 1..=2 = other keys, 3 = none.
    key: usize,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct File {
    preamble: Vec<Entry>,
    sections: Vec<Section>,
    crlf: Vec<bool>,
    final_newline: bool,
}

fn key_case(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(name.to_string()),
        Just(name.to_ascii_uppercase()),
        Just(name.replace("aws_", "Aws_").replace("_key", "_Key")),
    ]
}

fn eq() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" = ".to_string()),
        Just("=".to_string()),
        Just("\t=\t".to_string()),
        Just("  =  ".to_string()),
        Just(" =".to_string())
    ]
}

fn trail() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(String::new()), 1 => Just("  ".to_string()), 1 => Just("\t".to_string())]
}

fn filler() -> impl Strategy<Value = Entry> {
    prop_oneof![
        "(region|output|cli_pager) ?= ?[a-z0-9-]{1,12}".prop_map(|line| Entry::Setting { line }),
        "[#;][ -~]{0,30}".prop_map(Entry::Comment),
        "[ \t]{0,3}".prop_map(Entry::Blank),
        (
            "(s3|sts) ?=",
            proptest::collection::vec("[ \t]{1,4}[a-z_]{1,10} = [a-z0-9]{1,6}", 1..3)
        )
            .prop_map(|(head, subs)| Entry::Nested { head, subs }),
    ]
}

fn section(index: usize) -> impl Strategy<Value = Section> {
    (
        prop_oneof![
            Just(format!("[p{index}]")),
            Just(format!("[p{index}]   ")),
            Just(format!("[p{index}] # profile {index}")),
            Just(format!("[team.p{index}-prod]")),
        ],
        0..4usize,
        key_case("aws_access_key_id"),
        eq(),
        trail(),
        key_case("aws_secret_access_key"),
        eq(),
        trail(),
        proptest::collection::vec(filler(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(header, key, kid, e1, t1, ksec, e2, t2, mut fillers, secret_first)| {
                // One setting of each name per section: fillers with a repeated name become comments.
                let mut seen = std::collections::HashSet::new();
                for f in &mut fillers {
                    let name = match f {
                        Entry::Setting { line } | Entry::Nested { head: line, .. } => {
                            line.split('=').next().unwrap().trim().to_string()
                        }
                        _ => continue,
                    };
                    if !seen.insert(name) {
                        *f = Entry::Comment("# dup".into());
                    }
                }
                let mut entries = fillers;
                if key < 3 {
                    let id = Entry::KeyId {
                        key: kid,
                        eq: e1,
                        trail: t1,
                    };
                    let secret = Entry::Secret {
                        key: ksec,
                        eq: e2,
                        trail: t2,
                    };
                    let at = entries.len() / 2;
                    if secret_first {
                        entries.insert(at, id);
                        entries.insert(at, secret);
                    } else {
                        entries.insert(at, secret);
                        entries.insert(at, id);
                    }
                }
                Section {
                    header,
                    key,
                    entries,
                }
            },
        )
}

fn file() -> impl Strategy<Value = File> {
    (1..6usize)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(
                    prop_oneof![
                        "[#;][ -~]{0,20}".prop_map(Entry::Comment),
                        Just(Entry::Blank(String::new()))
                    ],
                    0..3,
                ),
                (0..n).map(section).collect::<Vec<_>>(),
                proptest::collection::vec(any::<bool>(), 64),
                any::<bool>(),
            )
        })
        .prop_map(|(preamble, sections, crlf, final_newline)| File {
            preamble,
            sections,
            crlf,
            final_newline,
        })
}

/// Renders the file with `ids[i]` as the key pair of sections holding key `i`.
fn render(f: &File, ids: &[(&str, &str); 3]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let entry = |e: &Entry, key: usize, lines: &mut Vec<String>| match e {
        Entry::KeyId { key: k, eq, trail } => lines.push(format!("{k}{eq}{}{trail}", ids[key].0)),
        Entry::Secret { key: k, eq, trail } => lines.push(format!("{k}{eq}{}{trail}", ids[key].1)),
        Entry::Setting { line } => lines.push(line.clone()),
        Entry::Nested { head, subs } => {
            lines.push(head.clone());
            lines.extend(subs.iter().cloned());
        }
        Entry::Comment(c) => lines.push(c.clone()),
        Entry::Blank(b) => lines.push(b.clone()),
    };
    for e in &f.preamble {
        entry(e, 0, &mut lines);
    }
    for s in &f.sections {
        lines.push(s.header.clone());
        for e in &s.entries {
            entry(e, s.key.min(2), &mut lines);
        }
    }
    // A blank line that ends a nested block would make the next indented line ambiguous; the
    // generator never indents after a blank line, so every rendering is valid.
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        out.push_str(l);
        if i + 1 < lines.len() || f.final_newline {
            out.push_str(if f.crlf[i % f.crlf.len()] {
                "\r\n"
            } else {
                "\n"
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replacing_a_key_changes_only_its_values(f in file()) {
        let before = render(&f, &[(OLD_ID, OLD_SECRET), OTHER[0], OTHER[1]]);
        let parsed = parse(before.as_bytes(), FileKind::Credentials);
        prop_assert!(parsed.is_ok(), "generated file refused: {:?}\n{before:?}", parsed.err());
        let parsed = parsed.unwrap();
        let holders: Vec<String> = f.sections.iter()
            .filter(|s| s.key == 0)
            .map(|s| s.header.trim_end().split(']').next().unwrap()[1..].to_string())
            .collect();
        let new = NewKey { access_key_id: NEW_ID, secret_access_key: NEW_SECRET };
        match parsed.replace_key(OLD_ID, &new) {
            Ok((after, changed)) => {
                prop_assert_eq!(&after, &render(&f, &[(NEW_ID, NEW_SECRET), OTHER[0], OTHER[1]]));
                prop_assert_eq!(changed, holders);
                // And the result reads back with the new key everywhere the old one was.
                let again = parse(after.as_bytes(), FileKind::Credentials).unwrap();
                prop_assert_eq!(again.sections().len(), parsed.sections().len());
            }
            Err(EditError::KeyNotFound(_)) => prop_assert!(holders.is_empty()),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn a_byte_order_mark_is_refused_and_nothing_is_edited(f in file()) {
        let text = format!("\u{feff}{}", render(&f, &[(OLD_ID, OLD_SECRET), OTHER[0], OTHER[1]]));
        let problems = parse(text.as_bytes(), FileKind::Credentials).unwrap_err();
        prop_assert_eq!(problems[0].line, 1);
        prop_assert_eq!(&problems[0].kind, &ProblemKind::ByteOrderMark);
    }
}
