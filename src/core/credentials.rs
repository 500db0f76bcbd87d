//! The AWS shared credentials and config file format: a lossless reader and a value editor.
//!
//! Two real clients read these files and they do not agree on everything: botocore (the AWS CLI,
//! boto3) uses Python's `configparser.RawConfigParser`, and the AWS SDKs use their own profile
//! parser (aws-config's `env_config::parse`). This module accepts the part of the INI dialect that
//! both read the same way and refuses every construct they read differently or reject, with the
//! line number, what is wrong and what to do. Whatever it accepts, it can rewrite losslessly: an
//! edit replaces the bytes of a value and nothing else, so BOM-free UTF-8, CRLF or LF, spacing,
//! key case, comments, order and a missing final newline all survive.
//!
//! This module is pure: it works on bytes and strings. It never touches the file system, the
//! network or the clock, and it never formats a secret into a message.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// Which of the two shared files a text came from. The syntax is the same; the meaning of section
/// names differs (`[name]` in the credentials file, `[profile name]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Credentials,
    Config,
}

/// The keys that hold key material. Their values are never printed.
pub const ACCESS_KEY_ID: &str = "aws_access_key_id";
pub const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
pub const SESSION_TOKEN: &str = "aws_session_token";
pub const CREDENTIAL_PROCESS: &str = "credential_process";

fn is_credential_key(key: &str) -> bool {
    matches!(key, ACCESS_KEY_ID | SECRET_ACCESS_KEY | SESSION_TOKEN)
}

/// One thing in a file that the agent will not work with, at a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub kind: ProblemKind,
}

/// Why a line is refused. Each variant explains itself through [`ProblemKind::what`] (what is
/// wrong, and how the real clients see it) and [`ProblemKind::fix`] (what the user can do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    NotUtf8,
    ByteOrderMark,
    LoneCarriageReturn,
    UnusualWhitespace(char),
    PropertyBeforeSection,
    ContinuationWithoutProperty,
    ContinuationAfterBlankLine,
    IndentedComment,
    IndentedSectionHeader,
    UnclosedSectionHeader,
    TextAfterSectionHeader,
    EmptySectionName,
    SpacesInsideBrackets,
    ReservedCharInSectionName(char),
    DefaultSectionUppercase,
    DuplicateSection {
        first_line: usize,
    },
    MissingEquals,
    ColonBeforeEquals,
    EmptyKey,
    NonAsciiKey,
    InlineComment,
    DuplicateKey {
        key: String,
        first_line: usize,
    },
    SubPropertyWithoutEquals,
    MultiLineCredential {
        key: String,
    },
    /// An indented `aws_access_key_id = …` (or secret, or token) line.
    IndentedKeyLine {
        key: String,
    },
    /// `[name]#…`: a comment right after the `]`.
    CommentAfterHeaderWithoutSpace,
    KeysInSectionSdksIgnore {
        section: String,
    },
    SameProfileTwice {
        first_line: usize,
    },
    SharedKeyWithoutSecret {
        section: String,
    },
}

impl ProblemKind {
    /// What is wrong, in one sentence, including how the AWS CLI and SDKs read it.
    pub fn what(&self) -> String {
        match self {
            Self::NotUtf8 => "the file is not valid UTF-8, which the AWS CLI cannot read".into(),
            Self::ByteOrderMark => "the file starts with a UTF-8 byte-order mark (BOM); the AWS CLI and the AWS SDKs both fail to read the first section".into(),
            Self::LoneCarriageReturn => "a carriage return (\\r) in the middle of a line: the AWS CLI reads it as a line break, the AWS SDKs do not".into(),
            Self::UnusualWhitespace(c) => format!("unusual whitespace character U+{:04X}: the AWS CLI and the AWS SDKs trim it differently", *c as u32),
            Self::PropertyBeforeSection => "a setting before the first [section] header; both the AWS CLI and the SDKs reject the file".into(),
            Self::ContinuationWithoutProperty => "an indented line that does not continue a setting; the AWS SDKs reject it".into(),
            Self::ContinuationAfterBlankLine => "an indented line after a blank line: the AWS CLI keeps the blank line in the value above, the AWS SDKs drop it".into(),
            Self::IndentedComment => "an indented comment: the AWS CLI skips it but the AWS SDKs read it as part of the value above".into(),
            Self::IndentedSectionHeader => "an indented [section] header: both readers take it as part of the value above, not as a new section".into(),
            Self::UnclosedSectionHeader => "a section header without a closing ']'".into(),
            Self::TextAfterSectionHeader => "text after the closing ']' of a section header: the AWS CLI ignores it, the AWS SDKs reject the file".into(),
            Self::EmptySectionName => "an empty section name '[]'".into(),
            Self::SpacesInsideBrackets => "spaces inside the brackets of a section header: the AWS CLI keeps them in the profile name, the AWS SDKs strip them".into(),
            Self::ReservedCharInSectionName(c) => format!("the character '{c}' in a section name: the AWS CLI and the AWS SDKs read the name differently"),
            Self::DefaultSectionUppercase => "a [DEFAULT] section: the AWS CLI copies its settings into every profile, the AWS SDKs treat it as a profile named DEFAULT".into(),
            Self::DuplicateSection { first_line } => format!("this section already appeared on line {first_line}: the AWS CLI rejects the file, the AWS SDKs merge the two"),
            Self::MissingEquals => "a line that is not 'key = value'; both the AWS CLI and the SDKs reject the file".into(),
            Self::ColonBeforeEquals => "a ':' before the '=': the AWS CLI splits the line at the ':', the AWS SDKs at the '='".into(),
            Self::EmptyKey => "a setting with no name before the '='".into(),
            Self::NonAsciiKey => "a setting name with non-ASCII letters: the AWS CLI and the AWS SDKs compare such names differently".into(),
            Self::InlineComment => "a comment after a value on the same line: the AWS CLI keeps it as part of the value, the AWS SDKs cut it off".into(),
            Self::DuplicateKey { key, first_line } => format!("'{key}' is set twice in this section (first on line {first_line}, names are case-insensitive): the AWS CLI rejects the file, the AWS SDKs use the last one"),
            Self::SubPropertyWithoutEquals => "a line in a nested block that is not 'key = value'; both the AWS CLI and the SDKs reject the file".into(),
            Self::MultiLineCredential { key } => format!("'{key}' continues on an indented line; a key split over lines cannot be used or rotated"),
            Self::IndentedKeyLine { key } => format!("an indented '{key} = …' line: the AWS CLI and the Rust SDK read it as part of the setting above, the JavaScript SDK as a key of its own"),
            Self::CommentAfterHeaderWithoutSpace => "a comment right after the closing ']': the AWS CLI and the Rust SDK read the header, the JavaScript SDK sees no section there and gives the settings below to the profile above".into(),
            Self::KeysInSectionSdksIgnore { section } => format!("the section [{section}] holds keys, and the AWS CLI reads them but the AWS SDKs ignore the section (profile names in the credentials file may use only letters, digits and _-/.%@:+, and no 'profile ' prefix)"),
            Self::SameProfileTwice { first_line } => format!("this section names the same profile as the section on line {first_line} (as [default] and [profile default] do): the AWS CLI and the AWS SDKs pick or merge them differently"),
            Self::SharedKeyWithoutSecret { section } => format!("[{section}] holds the access key id being rotated but no aws_secret_access_key, so it cannot be moved to the new key"),
        }
    }

    /// What the user can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::NotUtf8 => "save the file as UTF-8",
            Self::ByteOrderMark => {
                "save the file as UTF-8 without BOM (in Notepad: 'UTF-8', not 'UTF-8 with BOM')"
            }
            Self::LoneCarriageReturn => {
                "remove the stray carriage return or use LF/CRLF line endings throughout"
            }
            Self::UnusualWhitespace(_) => "replace it with a plain space or remove it",
            Self::PropertyBeforeSection => "move the setting under a [profile] header",
            Self::ContinuationWithoutProperty
            | Self::IndentedSectionHeader
            | Self::IndentedComment => "remove the indentation",
            Self::ContinuationAfterBlankLine => "remove the blank line or the indentation",
            Self::UnclosedSectionHeader
            | Self::TextAfterSectionHeader
            | Self::EmptySectionName
            | Self::SpacesInsideBrackets => "write the header as [name] on a line of its own",
            Self::ReservedCharInSectionName(_) => {
                "rename the profile to use only letters, digits and _-/.%@:+"
            }
            Self::DefaultSectionUppercase => "rename [DEFAULT] to [default] or remove it",
            Self::DuplicateSection { .. } => "merge the two sections into one",
            Self::MissingEquals | Self::SubPropertyWithoutEquals => {
                "write it as 'key = value', or start the line with '#' to make it a comment"
            }
            Self::ColonBeforeEquals => {
                "write the setting as 'key = value' without a ':' in the name"
            }
            Self::EmptyKey => "put the setting's name before the '='",
            Self::NonAsciiKey => "use the setting's plain ASCII name",
            Self::InlineComment => "move the comment to a line of its own starting with '#'",
            Self::DuplicateKey { .. } => "keep one of the two lines",
            Self::MultiLineCredential { .. } => "put the whole value on one line",
            Self::IndentedKeyLine { .. } => "remove the indentation, or the line",
            Self::CommentAfterHeaderWithoutSpace => {
                "put a space before the '#' or ';', or move the comment to a line of its own"
            }
            Self::KeysInSectionSdksIgnore { .. } => {
                "rename the section so that the AWS CLI and the SDKs read the same profile"
            }
            Self::SameProfileTwice { .. } => "merge the two sections into one",
            Self::SharedKeyWithoutSecret { .. } => {
                "add the key's aws_secret_access_key to it, or remove its aws_access_key_id"
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}; {}",
            self.line,
            self.kind.what(),
            self.kind.fix()
        )
    }
}

/// A setting inside a section: its lower-cased name and where its value sits in the text.
#[derive(Clone)]
pub struct Property {
    /// Lower-cased name, as both clients compare names.
    pub key: String,
    /// 1-based line number of the `key = value` line.
    pub line: usize,
    /// Byte range of the value on its first line, without surrounding spaces or tabs.
    value: Range<usize>,
    /// Byte range of the name as written (its case kept).
    name: Range<usize>,
    /// Whether indented continuation lines follow (a nested block such as `s3 =`).
    pub continued: bool,
}

/// A `[name]` section and its settings in file order.
#[derive(Clone)]
pub struct Section {
    /// The name between the brackets, exactly as written.
    pub name: String,
    /// 1-based line number of the header.
    pub line: usize,
    pub properties: Vec<Property>,
}

impl Section {
    pub fn property(&self, key: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.key == key)
    }
}

/// A parsed credentials or config file that both real clients read the same way.
///
/// It keeps the original text so that edits can be applied byte for byte. Its `Debug` output
/// shows structure only, never values: the text holds secrets.
#[derive(Clone)]
pub struct ParsedFile {
    text: String,
    kind: FileKind,
    sections: Vec<Section>,
    /// Section name → index of its (only) section, so that lookups stay linear in files of
    /// many profiles.
    index: HashMap<String, usize>,
}

/// The text holds the file's secrets: it is wiped from memory when the file is dropped.
impl Drop for ParsedFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.text);
    }
}

impl fmt::Debug for ParsedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.sections.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("ParsedFile")
            .field("kind", &self.kind)
            .field("bytes", &self.text.len())
            .field("sections", &names)
            .finish()
    }
}

/// One physical line: its content without the terminator, and its 1-based number.
struct RawLine<'a> {
    number: usize,
    start: usize,
    content: &'a str,
}

/// Splits text into lines on `\n`, dropping one `\r` before it. A `\r` anywhere else is reported.
fn split_lines<'a>(text: &'a str, problems: &mut Vec<Problem>) -> Vec<RawLine<'a>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut number = 1;
    while start < text.len() {
        let rest = &text[start..];
        let (len, next, terminated) = match rest.find('\n') {
            Some(i) => (i, start + i + 1, true),
            None => (rest.len(), text.len(), false),
        };
        let mut content = &rest[..len];
        // Only "\r\n" ends a line for both readers; a final "\r" without "\n" is kept by aws-config.
        if terminated && let Some(stripped) = content.strip_suffix('\r') {
            content = stripped;
        }
        if content.contains('\r') {
            problems.push(Problem {
                line: number,
                kind: ProblemKind::LoneCarriageReturn,
            });
        }
        lines.push(RawLine {
            number,
            start,
            content,
        });
        start = next;
        number += 1;
    }
    lines
}

/// Whitespace that Python's `str.strip()` removes but aws-config's `trim_matches([' ', '\t'])`
/// keeps. Lines containing it would be read differently.
fn unusual_whitespace(content: &str) -> Option<char> {
    content.chars().find(|&c| {
        c != ' ' && c != '\t' && c != '\r' && (c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
    })
}

const WHITESPACE: &[char] = &[' ', '\t'];
const COMMENT: &[char] = &['#', ';'];

fn trim(s: &str) -> &str {
    s.trim_matches(WHITESPACE)
}

/// Offset of `inner` (a subslice of `outer`) inside `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Whether a `#` or `;` follows a space or tab: aws-config starts a comment there, botocore does not.
fn has_inline_comment(content: &str) -> bool {
    let b = content.as_bytes();
    b.windows(2)
        .any(|w| (w[0] == b' ' || w[0] == b'\t') && (w[1] == b'#' || w[1] == b';'))
}

/// Profile names aws-config accepts in the credentials file (`validate_identifier`).
fn sdk_accepts_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

struct OpenProperty {
    section: usize,
    property: usize,
    nested: bool,
    blank_since: bool,
}

/// Parses a shared credentials or config file.
///
/// Returns every problem found (not only the first), each with its line, so a user can fix the
/// file in one pass. The file is accepted only if there are none.
pub fn parse(bytes: &[u8], kind: FileKind) -> Result<ParsedFile, Vec<Problem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            return Err(vec![Problem {
                line,
                kind: ProblemKind::NotUtf8,
            }]);
        }
    };
    let mut problems = Vec::new();
    if text.starts_with('\u{feff}') {
        return Err(vec![Problem {
            line: 1,
            kind: ProblemKind::ByteOrderMark,
        }]);
    }

    let mut sections: Vec<Section> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut open: Option<OpenProperty> = None;

    for line in split_lines(text, &mut problems) {
        let n = line.number;
        let content = line.content;
        if let Some(c) = unusual_whitespace(content) {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::UnusualWhitespace(c),
            });
            continue;
        }
        if trim(content).is_empty() {
            if let Some(o) = open.as_mut() {
                o.blank_since = true;
            }
            continue;
        }
        if content.starts_with(COMMENT) {
            // Both readers skip full-line comments without ending a multi-line value.
            continue;
        }
        if content.starts_with(WHITESPACE) {
            let body = trim(content);
            let kind = if body.starts_with(COMMENT) {
                Some(ProblemKind::IndentedComment)
            } else if body.starts_with('[') {
                Some(ProblemKind::IndentedSectionHeader)
            } else {
                match open.as_mut() {
                    None => Some(ProblemKind::ContinuationWithoutProperty),
                    Some(o) if o.blank_since => Some(ProblemKind::ContinuationAfterBlankLine),
                    Some(o) => {
                        let prop = &mut sections[o.section].properties[o.property];
                        prop.continued = true;
                        if is_credential_key(&prop.key) {
                            Some(ProblemKind::MultiLineCredential {
                                key: prop.key.clone(),
                            })
                        } else if let Some(key) = body
                            .split_once('=')
                            .map(|(k, _)| trim(k))
                            .filter(|k| !o.nested && is_credential_key(k))
                        {
                            // The JavaScript SDK trims every line and reads this as a key (names
                            // exactly as written; in a nested block it is `s3.<name>`, no key).
                            Some(ProblemKind::IndentedKeyLine {
                                key: key.to_string(),
                            })
                        } else if o.nested {
                            match body.split_once('=') {
                                Some((k, _)) if !trim(k).is_empty() && !has_inline_comment(k) => {
                                    None
                                }
                                _ => Some(ProblemKind::SubPropertyWithoutEquals),
                            }
                        } else {
                            None
                        }
                    }
                }
            };
            if let Some(kind) = kind {
                problems.push(Problem { line: n, kind });
            }
            continue;
        }
        if content.starts_with('[') {
            open = None;
            match parse_header(content) {
                Ok(name) => {
                    match index.get(name) {
                        Some(&first) => problems.push(Problem {
                            line: n,
                            kind: ProblemKind::DuplicateSection {
                                first_line: sections[first].line,
                            },
                        }),
                        None => {
                            index.insert(name.to_string(), sections.len());
                        }
                    }
                    sections.push(Section {
                        name: name.to_string(),
                        line: n,
                        properties: Vec::new(),
                    });
                }
                Err(kind) => {
                    problems.push(Problem { line: n, kind });
                    // Keep parsing the settings below under a placeholder so that their own
                    // problems are reported too.
                    sections.push(Section {
                        name: String::new(),
                        line: n,
                        properties: Vec::new(),
                    });
                }
            }
            continue;
        }
        // A `key = value` line.
        open = None;
        let Some(section_index) = sections.len().checked_sub(1) else {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::PropertyBeforeSection,
            });
            continue;
        };
        if has_inline_comment(content) {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::InlineComment,
            });
            continue;
        }
        // botocore splits at the first '=' or ':', aws-config at the first '='.
        match content.find(['=', ':']).map(|i| content.as_bytes()[i]) {
            None => {
                problems.push(Problem {
                    line: n,
                    kind: ProblemKind::MissingEquals,
                });
                continue;
            }
            Some(b':') => {
                problems.push(Problem {
                    line: n,
                    kind: ProblemKind::ColonBeforeEquals,
                });
                continue;
            }
            Some(_) => {}
        }
        let (raw_key, raw_value) = content.split_once('=').expect("an '=' was found above");
        let key = trim(raw_key);
        if key.is_empty() {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::EmptyKey,
            });
            continue;
        }
        if !key.is_ascii() {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::NonAsciiKey,
            });
            continue;
        }
        let name_start = line.start + offset_in(content, key);
        let name = name_start..name_start + key.len();
        let key = key.to_ascii_lowercase();
        let value = trim(raw_value);
        let value_start = line.start + offset_in(content, value);
        let section = &mut sections[section_index];
        if let Some(first) = section.property(&key) {
            problems.push(Problem {
                line: n,
                kind: ProblemKind::DuplicateKey {
                    key: key.clone(),
                    first_line: first.line,
                },
            });
            continue;
        }
        section.properties.push(Property {
            key,
            line: n,
            value: value_start..value_start + value.len(),
            name,
            continued: false,
        });
        open = Some(OpenProperty {
            section: section_index,
            property: section.properties.len() - 1,
            nested: value.is_empty(),
            blank_since: false,
        });
    }

    if kind == FileKind::Credentials {
        for section in &sections {
            let holds_keys = section.properties.iter().any(|p| is_credential_key(&p.key));
            if holds_keys && !section.name.is_empty() && !sdk_accepts_name(&section.name) {
                problems.push(Problem {
                    line: section.line,
                    kind: ProblemKind::KeysInSectionSdksIgnore {
                        section: section.name.clone(),
                    },
                });
            }
        }
    }

    if problems.is_empty() {
        Ok(ParsedFile {
            text: text.to_string(),
            kind,
            sections,
            index,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Reads `[name]` with an optional trailing comment, as both readers agree on it.
fn parse_header(content: &str) -> Result<&str, ProblemKind> {
    let content = content.trim_end_matches(WHITESPACE);
    let Some(close) = content.find(']') else {
        return Err(ProblemKind::UnclosedSectionHeader);
    };
    let name = &content[1..close];
    let after = &content[close + 1..];
    let rest = after.trim_start_matches(WHITESPACE);
    // botocore takes the name up to the *last* ']' on the line, aws-config cuts comments first.
    if !rest.is_empty() && (!rest.starts_with(COMMENT) || rest.contains(']')) {
        return Err(ProblemKind::TextAfterSectionHeader);
    }
    // The JavaScript SDK cuts a comment only after whitespace; otherwise the line does not end
    // in ']' and is no header for it.
    if !rest.is_empty() && rest.len() == after.len() {
        return Err(ProblemKind::CommentAfterHeaderWithoutSpace);
    }
    if name.is_empty() {
        return Err(ProblemKind::EmptySectionName);
    }
    if let Some(c) = name.chars().find(|c| "[#;".contains(*c)) {
        return Err(ProblemKind::ReservedCharInSectionName(c));
    }
    if name != trim(name) {
        return Err(ProblemKind::SpacesInsideBrackets);
    }
    if name == "DEFAULT" {
        return Err(ProblemKind::DefaultSectionUppercase);
    }
    Ok(name)
}

/// Whether a key id or secret can be written as a value that both clients read back verbatim.
fn safe(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '#' && c != ';' && c != '[')
}

/// A setting name [`ParsedFile::with_lowercase_names`] wrote in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub line: usize,
    pub from: String,
    pub to: String,
}

/// A replacement key pair for [`ParsedFile::replace_key`]. Both values go into the file verbatim.
pub struct NewKey<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

/// Why an edit could not be made. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("no profile holds the access key {0}")]
    KeyNotFound(String),
    #[error("profile [{profile}] holds the access key {key_id} but no aws_secret_access_key")]
    MissingSecret {
        profile: String,
        key_id: String,
        line: usize,
    },
    #[error("the replacement {0} contains characters that cannot be stored in the file")]
    UnsafeValue(&'static str),
    #[error("profile [{profile}] {why}")]
    Unsuitable { profile: String, why: &'static str },
}

/// The profile names whose key pair an edit replaced, in file order.
pub type ChangedProfiles = Vec<String>;

impl ParsedFile {
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.index.get(name).map(|&i| &self.sections[i])
    }

    /// The first-line value of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)?.property(key).map(|p| self.value(p))
    }

    pub fn value(&self, property: &Property) -> &str {
        &self.text[property.value.clone()]
    }

    /// The name of `property` as the file writes it (botocore and the Rust SDK read names in any
    /// case; the JavaScript SDK only as written).
    pub fn name_as_written(&self, property: &Property) -> &str {
        &self.text[property.name.clone()]
    }

    /// The text with every setting name that is not in lower case written in lower case (the
    /// names inside a nested block such as `s3 =` stay as written), so that every AWS client
    /// reads the same settings, and what was renamed; `None` when all already are. Every other
    /// byte stays.
    pub fn with_lowercase_names(&self) -> Option<(String, Vec<Renamed>)> {
        let lowered: Vec<&Property> = self
            .sections
            .iter()
            .flat_map(|s| &s.properties)
            .filter(|p| self.name_as_written(p) != p.key)
            .collect();
        if lowered.is_empty() {
            return None;
        }
        let mut edits: Vec<(Range<usize>, &str)> = lowered
            .iter()
            .map(|p| (p.name.clone(), p.key.as_str()))
            .collect();
        edits.sort_by_key(|(r, _)| r.start);
        let renamed = lowered
            .iter()
            .map(|p| Renamed {
                line: p.line,
                from: self.name_as_written(p).to_string(),
                to: p.key.clone(),
            })
            .collect();
        Some((self.splice(&edits), renamed))
    }

    /// The whole text, as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte range of the whole line that holds `p`, with its line ending.
    fn line_range(&self, p: &Property) -> Range<usize> {
        let start = self.text[..p.value.start].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[p.value.end..]
            .find('\n')
            .map_or(self.text.len(), |i| p.value.end + i + 1);
        start..end
    }

    /// The line ending of the line that holds `p` (`\r\n`, `\n`, or none at the end of file).
    fn line_ending(&self, p: &Property) -> &'static str {
        let line = &self.text[self.line_range(p)];
        if line.ends_with("\r\n") {
            "\r\n"
        } else if line.ends_with('\n') {
            "\n"
        } else {
            ""
        }
    }

    /// Keyring mode: the text with `profile`'s static key pair replaced by
    /// `credential_process = command`, on the line that held the key id. The secret's line goes.
    /// Every other byte stays.
    pub fn to_credential_process(&self, profile: &str, command: &str) -> Result<String, EditError> {
        let unsuitable = |why| EditError::Unsuitable {
            profile: profile.to_string(),
            why,
        };
        if command.is_empty()
            || command.trim() != command
            || command
                .chars()
                .any(|c| c.is_control() || c == '#' || c == ';')
        {
            return Err(EditError::UnsafeValue("credential_process command"));
        }
        let section = self
            .section(profile)
            .ok_or_else(|| unsuitable("is not in the file"))?;
        let id = section
            .property(ACCESS_KEY_ID)
            .ok_or_else(|| unsuitable("holds no aws_access_key_id"))?;
        let secret = section
            .property(SECRET_ACCESS_KEY)
            .ok_or_else(|| unsuitable("holds no aws_secret_access_key"))?;
        if section.property(SESSION_TOKEN).is_some() {
            return Err(unsuitable("holds a session token (temporary credentials)"));
        }
        if section.property(CREDENTIAL_PROCESS).is_some() {
            return Err(unsuitable("already has a credential_process"));
        }
        let id_line = self.line_range(id);
        let secret_line = self.line_range(secret);
        let mut eol = self.line_ending(id);
        if id_line.end == secret_line.start
            && secret_line.end == self.text.len()
            && self.line_ending(secret).is_empty()
        {
            // The pair ended the file without a final newline: so does its replacement.
            eol = "";
        }
        let replacement = format!("{CREDENTIAL_PROCESS} = {command}{eol}");
        let mut edits = [(id_line, replacement.as_str()), (secret_line, "")];
        edits.sort_by_key(|(r, _)| r.start);
        Ok(self.splice(&edits))
    }

    /// The reverse of [`ParsedFile::to_credential_process`]: `profile`'s `credential_process` line
    /// becomes the two lines of `key`.
    pub fn to_static_keys(&self, profile: &str, key: &NewKey<'_>) -> Result<String, EditError> {
        let unsuitable = |why| EditError::Unsuitable {
            profile: profile.to_string(),
            why,
        };
        if !safe(key.access_key_id) || !safe(key.secret_access_key) {
            return Err(EditError::UnsafeValue("key pair"));
        }
        let section = self
            .section(profile)
            .ok_or_else(|| unsuitable("is not in the file"))?;
        if section.property(ACCESS_KEY_ID).is_some()
            || section.property(SECRET_ACCESS_KEY).is_some()
        {
            return Err(unsuitable("already holds static keys"));
        }
        let process = section
            .property(CREDENTIAL_PROCESS)
            .ok_or_else(|| unsuitable("has no credential_process"))?;
        let eol = self.line_ending(process);
        let between = match eol {
            "" if self.text.contains("\r\n") => "\r\n",
            "" => "\n",
            e => e,
        };
        let lines = format!(
            "{ACCESS_KEY_ID} = {}{between}{SECRET_ACCESS_KEY} = {}{eol}",
            key.access_key_id, key.secret_access_key
        );
        Ok(self.splice(&[(self.line_range(process), lines.as_str())]))
    }

    /// The text with each range (sorted, disjoint) replaced.
    fn splice(&self, edits: &[(Range<usize>, &str)]) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut at = 0;
        for (range, value) in edits {
            out.push_str(&self.text[at..range.start]);
            out.push_str(value);
            at = range.end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// Returns the text with the key pair of every section whose `aws_access_key_id` equals
    /// `old_key_id` replaced by `new`. Every other byte is left as it was.
    pub fn replace_key(
        &self,
        old_key_id: &str,
        new: &NewKey<'_>,
    ) -> Result<(String, ChangedProfiles), EditError> {
        if !safe(new.access_key_id) {
            return Err(EditError::UnsafeValue("access key id"));
        }
        if !safe(new.secret_access_key) {
            return Err(EditError::UnsafeValue("secret access key"));
        }
        let mut edits: Vec<(Range<usize>, &str)> = Vec::new();
        let mut changed = Vec::new();
        for section in &self.sections {
            let Some(id) = section.property(ACCESS_KEY_ID) else {
                continue;
            };
            if self.value(id) != old_key_id {
                continue;
            }
            let Some(secret) = section.property(SECRET_ACCESS_KEY) else {
                return Err(EditError::MissingSecret {
                    profile: section.name.clone(),
                    key_id: old_key_id.to_string(),
                    line: section.line,
                });
            };
            edits.push((id.value.clone(), new.access_key_id));
            edits.push((secret.value.clone(), new.secret_access_key));
            changed.push(section.name.clone());
        }
        if changed.is_empty() {
            return Err(EditError::KeyNotFound(old_key_id.to_string()));
        }
        edits.sort_by_key(|(r, _)| r.start);
        Ok((self.splice(&edits), changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> ParsedFile {
        parse(text.as_bytes(), FileKind::Credentials).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn refused(text: &str) -> Vec<(usize, ProblemKind)> {
        match parse(text.as_bytes(), FileKind::Credentials) {
            Ok(_) => panic!("accepted: {text:?}"),
            Err(p) => p.into_iter().map(|p| (p.line, p.kind)).collect(),
        }
    }

    /// One line per case: the input and the first problem's line and kind.
    fn check_refused(text: &str, line: usize, kind: ProblemKind) {
        let got = refused(text);
        assert_eq!(got[0], (line, kind), "for {text:?}: {got:?}");
    }

    #[test]
    fn lowercasing_names_changes_only_the_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("[a]\naws_access_key_id = AKIA1\n", None),
            (
                "# AWS_ACCESS_KEY_ID = kept in a comment\r\n[a]\r\nAWS_ACCESS_KEY_ID\t=AKIA1 \r\nAws_Secret_Access_Key = S/+x\r\nregion=x\r\nS3 =\r\n  Max_Concurrent_Requests = 2\r\n[B]\r\nOutput = JSON",
                Some(
                    "# AWS_ACCESS_KEY_ID = kept in a comment\r\n[a]\r\naws_access_key_id\t=AKIA1 \r\naws_secret_access_key = S/+x\r\nregion=x\r\ns3 =\r\n  Max_Concurrent_Requests = 2\r\n[B]\r\noutput = JSON",
                ),
            ),
        ];
        for (text, want) in cases {
            let f = ok(text);
            let got = f.with_lowercase_names();
            assert_eq!(got.as_ref().map(|(t, _)| t.as_str()), *want);
            if let Some((got, renamed)) = got {
                assert!(
                    ok(&got).with_lowercase_names().is_none(),
                    "lowercasing is done once"
                );
                let lines: Vec<(usize, &str, &str)> = renamed
                    .iter()
                    .map(|r| (r.line, r.from.as_str(), r.to.as_str()))
                    .collect();
                assert_eq!(
                    lines,
                    [
                        (3, "AWS_ACCESS_KEY_ID", "aws_access_key_id"),
                        (4, "Aws_Secret_Access_Key", "aws_secret_access_key"),
                        (6, "S3", "s3"),
                        (9, "Output", "output"),
                    ]
                );
            }
        }
    }

    #[test]
    fn keyring_mode_edits_only_the_profile_s_key_lines() {
        let text = "# top\r\n[default]\r\nregion = x\r\naws_access_key_id = AKIA1\r\n;c\r\naws_secret_access_key = s1\r\n[other]\r\naws_access_key_id = AKIA2\r\naws_secret_access_key = s2";
        let f = ok(text);
        let cmd = "/usr/bin/keyrot-agent credential-process --profile default";
        let adopted = f.to_credential_process("default", cmd).unwrap();
        assert_eq!(
            adopted,
            format!(
                "# top\r\n[default]\r\nregion = x\r\ncredential_process = {cmd}\r\n;c\r\n[other]\r\naws_access_key_id = AKIA2\r\naws_secret_access_key = s2"
            )
        );
        let g = ok(&adopted);
        assert_eq!(g.get("default", CREDENTIAL_PROCESS), Some(cmd));
        let released = g
            .to_static_keys(
                "default",
                &NewKey {
                    access_key_id: "AKIA1",
                    secret_access_key: "s1",
                },
            )
            .unwrap();
        assert_eq!(
            released,
            "# top\r\n[default]\r\nregion = x\r\naws_access_key_id = AKIA1\r\naws_secret_access_key = s1\r\n;c\r\n[other]\r\naws_access_key_id = AKIA2\r\naws_secret_access_key = s2"
        );
        // The last profile, without a final newline.
        let h = ok(&released);
        let adopted = h.to_credential_process("other", cmd).unwrap();
        assert!(
            adopted.ends_with(&format!("[other]\r\ncredential_process = {cmd}")),
            "{adopted:?}"
        );
        let back = ok(&adopted)
            .to_static_keys(
                "other",
                &NewKey {
                    access_key_id: "AKIA2",
                    secret_access_key: "s2",
                },
            )
            .unwrap();
        assert_eq!(back, released);
        assert!(matches!(
            h.to_credential_process("default", "x # y"),
            Err(EditError::UnsafeValue(_))
        ));
        assert!(matches!(
            ok(&adopted).to_credential_process("other", cmd),
            Err(EditError::Unsuitable { .. })
        ));
    }

    #[test]
    fn reads_a_plain_file() {
        let f = ok(
            "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n[work]\nregion=eu-west-1\n",
        );
        assert_eq!(f.get("default", ACCESS_KEY_ID), Some("AKIA1"));
        assert_eq!(f.get("default", SECRET_ACCESS_KEY), Some("s1"));
        assert_eq!(f.get("work", "region"), Some("eu-west-1"));
        assert_eq!(f.sections().len(), 2);
    }

    #[test]
    fn keys_are_case_insensitive_and_values_trimmed() {
        let f = ok("[default]\r\nAWS_Access_Key_ID\t=\t AKIA1 \t\r\n");
        assert_eq!(f.get("default", ACCESS_KEY_ID), Some("AKIA1"));
    }

    #[test]
    fn accepts_what_both_readers_agree_on() {
        ok("");
        ok("# only a comment\n; another");
        ok("[default] # a comment\naws_access_key_id=AKIA1");
        ok("[default]\ns3 =\n  max_concurrent_requests = 20\n\tmultipart_threshold = 64MB\n");
        ok("[default]\nregion = us-east-1\n# comment between\n");
        ok("[a.b-c/d@e:f+g%]\naws_access_key_id = AKIA1\n");
        ok("[my profile]\nregion = us-east-1\n");
    }

    #[test]
    fn refuses_what_the_readers_disagree_on() {
        use ProblemKind::*;
        check_refused("\u{feff}[default]\n", 1, ByteOrderMark);
        check_refused("[default]\nregion = a\rb\n", 2, LoneCarriageReturn);
        check_refused(
            "[default]\nregion = a\u{a0}\n",
            2,
            UnusualWhitespace('\u{a0}'),
        );
        check_refused("region = x\n[default]\n", 1, PropertyBeforeSection);
        check_refused("[default]\n  x\n", 2, ContinuationWithoutProperty);
        check_refused(
            "[default]\nregion = a\n\n  b\n",
            4,
            ContinuationAfterBlankLine,
        );
        check_refused("[default]\nregion = a\n  # c\n", 3, IndentedComment);
        check_refused(
            "[default]\nregion = a\n  [work]\n",
            3,
            IndentedSectionHeader,
        );
        check_refused("[default\n", 1, UnclosedSectionHeader);
        check_refused("[default]x\n", 1, TextAfterSectionHeader);
        check_refused("[default] # see [docs]\n", 1, TextAfterSectionHeader);
        check_refused("[]\n", 1, EmptySectionName);
        check_refused("[ default ]\n", 1, SpacesInsideBrackets);
        check_refused("[a;b]\n", 1, ReservedCharInSectionName(';'));
        check_refused("[DEFAULT]\n", 1, DefaultSectionUppercase);
        check_refused("[a]\n[b]\n[a]\n", 3, DuplicateSection { first_line: 1 });
        check_refused("[a]\njunk\n", 2, MissingEquals);
        check_refused("[a]\naws_access_key_id: AKIA1\n", 2, ColonBeforeEquals);
        check_refused("[a]\n= x\n", 2, EmptyKey);
        check_refused("[a]\nK\u{212a}y = x\n", 2, NonAsciiKey);
        check_refused("[a]\naws_access_key_id = AKIA1 # mine\n", 2, InlineComment);
        check_refused(
            "[a]\nregion = x\nREGION = y\n",
            3,
            DuplicateKey {
                key: "region".into(),
                first_line: 2,
            },
        );
        check_refused("[a]\ns3 =\n  junk\n", 3, SubPropertyWithoutEquals);
        check_refused(
            "[a]\naws_access_key_id = AKIA1\n  more\n",
            3,
            MultiLineCredential {
                key: ACCESS_KEY_ID.into(),
            },
        );
        check_refused(
            "[profile work]\naws_access_key_id = AKIA1\n",
            1,
            KeysInSectionSdksIgnore {
                section: "profile work".into(),
            },
        );
    }

    #[test]
    fn a_final_carriage_return_without_newline_is_refused() {
        // aws-config's `str::lines()` keeps it in the value; botocore strips it.
        check_refused(
            "[default]\naws_secret_access_key = s\r",
            2,
            ProblemKind::LoneCarriageReturn,
        );
        check_refused("[default]\r", 1, ProblemKind::LoneCarriageReturn);
        ok("[default]\r\nregion = x\r\n");
    }

    #[test]
    fn reports_not_utf8_with_line() {
        let err = parse(b"[a]\n# caf\xe9\n", FileKind::Credentials).unwrap_err();
        assert_eq!(
            err,
            vec![Problem {
                line: 2,
                kind: ProblemKind::NotUtf8
            }]
        );
    }

    #[test]
    fn reports_every_problem() {
        let got = refused("[a]\njunk\n[a]\nx: y\n");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn config_file_names_are_not_checked_as_profiles() {
        parse(
            b"[profile work]\naws_access_key_id = AKIA1\n",
            FileKind::Config,
        )
        .unwrap();
    }

    const FILE: &str = "\
# keys\r
[default]\r
aws_access_key_id = AKIAOLD\r
AWS_SECRET_ACCESS_KEY=oldsecret   \r
region = eu-west-1\r
\r
[shared]\r
aws_access_key_id\t=\tAKIAOLD\r
aws_secret_access_key = oldsecret\r
[other]\r
aws_access_key_id = AKIAOTHER\r
aws_secret_access_key = othersecret";

    #[test]
    fn replaces_only_the_values_in_every_sharing_section() {
        let f = ok(FILE);
        let new = NewKey {
            access_key_id: "AKIANEW",
            secret_access_key: "newsecret",
        };
        let (out, changed) = f.replace_key("AKIAOLD", &new).unwrap();
        assert_eq!(changed, vec!["default", "shared"]);
        assert_eq!(
            out,
            FILE.replace("AKIAOLD", "AKIANEW")
                .replace("oldsecret", "newsecret")
        );
    }

    #[test]
    fn edit_errors() {
        let f = ok(FILE);
        let new = NewKey {
            access_key_id: "AKIANEW",
            secret_access_key: "s",
        };
        assert_eq!(
            f.replace_key("AKIAGONE", &new).unwrap_err(),
            EditError::KeyNotFound("AKIAGONE".into())
        );
        let bad = NewKey {
            access_key_id: "AKIA NEW",
            secret_access_key: "s",
        };
        assert!(matches!(
            f.replace_key("AKIAOLD", &bad),
            Err(EditError::UnsafeValue(_))
        ));
        let f = ok("[a]\naws_access_key_id = AKIAOLD\n");
        assert!(matches!(
            f.replace_key("AKIAOLD", &new),
            Err(EditError::MissingSecret { .. })
        ));
    }

    #[test]
    fn debug_shows_no_values() {
        let f = ok(FILE);
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("oldsecret"), "{dbg}");
    }
}
