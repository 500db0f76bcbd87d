//! The terminal: the spinner shown on stderr while IAM propagates a new key (indicatif). Only
//! shown when asked, which commands do when stderr is a terminal.

use std::time::Duration;

/// A spinner with a message and the time elapsed; cleared when finished or dropped.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    /// Starts a spinner showing `message`.
    pub fn start(message: String) -> Spinner {
        let s =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        s.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        s.set_message(message);
        s.enable_steady_tick(Duration::from_millis(100));
        Spinner(s)
    }

    pub fn set_message(&self, message: String) {
        self.0.set_message(message);
    }

    /// Removes the spinner's line.
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}
