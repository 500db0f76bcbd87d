//! The engine: the only place that sequences effects (rotate, undo, adopt/release, recover, settle),
//! against the seams of the edges.

pub mod adopt;
pub mod error;
pub mod grace;
pub mod local;
pub mod notices;
pub mod recover;
pub mod rotator;
