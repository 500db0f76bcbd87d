//! What one check found, in one vocabulary for `doctor` and `status --compliance`: the same
//! words in `--json`, the same marks in text.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// It works, but something should be fixed (it does not fail a run).
    Warn,
    /// It could not be found out (without changing something, an MFA code, or an answer from
    /// IAM); the detail says why. Never counted as a pass.
    Unknown,
}

impl Verdict {
    /// The word `--json` gives.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Unknown => "unknown",
        }
    }

    /// The four-column mark that starts a line of text.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Unknown => "??  ",
        }
    }
}
