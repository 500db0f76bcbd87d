//! The one retry loop: an operation is tried again, with backoff, while its failure's
//! [`Verdict`] (`core::decide::verdict`, the one policy) says waiting may help, until the
//! deadline. Every loop of the engine that waits on AWS (a new key's propagation, the old key's
//! retirement, a rollback, undo's reactivated key, recovery) is this one.

use std::time::{Duration, Instant};

use crate::core::decide::Verdict;
use crate::core::rotation::{Backoff, Jitter};

/// A deadline and its waits.
pub struct Retry {
    backoff: Backoff,
    jitter: Jitter,
    /// Attempts made by the last [`Retry::run`].
    pub attempts: u32,
}

impl Retry {
    /// Retries until `deadline` has passed, with waits jittered from `seed`.
    pub fn new(deadline: Duration, seed: u64) -> Retry {
        Retry {
            backoff: Backoff::with_deadline(deadline),
            jitter: Jitter::new(seed),
            attempts: 0,
        }
    }

    /// One jitter sample in `[0, 1)`, for loops of their own (CreateAccessKey's).
    pub fn jitter(&mut self) -> f64 {
        self.jitter.sample()
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Runs `op` (given the attempt's number, from 0) until it succeeds, its failure is
    /// [`Verdict::Final`], or the next wait would end past the deadline; returns its last result.
    pub async fn run<T, E: std::fmt::Display>(
        &mut self,
        verdict: impl Fn(&E) -> Verdict,
        mut op: impl AsyncFnMut(u32) -> Result<T, E>,
    ) -> Result<T, E> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            self.attempts = attempt + 1;
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if verdict(&e) != Verdict::Final => {
                    let Some(wait) =
                        self.backoff
                            .next(attempt, start.elapsed(), self.jitter.sample())
                    else {
                        return Err(e);
                    };
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A seed for the jitter that differs between processes and runs.
pub fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}
