//! keyrot-agent's own records (journal, history, key cache, grace, failures, what was notified), typed,
//! written only through `edge::store`.

pub mod cache;
pub mod failures;
pub mod grace;
pub mod history;
pub mod journal;
pub mod mfa;
pub mod notified;
