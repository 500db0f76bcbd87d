//! The signing seam: how the IAM calls of a rotation (and of undo, settle, recovery) are signed.
//! The engine asks it for each call and does not care which way it is.
//!
//! Today a user's own long-term keys sign: the old key until the new one is proven, then the new
//! one (which retires the old). An MFA session from STS GetSessionToken, which signs every IAM
//! call of a rotation, is the next way.

use crate::core::decide::Signed;
use crate::core::keys::{KeyPair, Signer};

/// How IAM calls are signed.
#[derive(Debug, Clone, Default)]
pub enum Signing {
    /// With the user's own long-term keys.
    #[default]
    OwnKeys,
}

impl Signing {
    /// What an IAM call made on behalf of `key` is signed with, and whether IAM may not know
    /// that signer everywhere yet (`fresh`: `key` was created or made Active moments ago).
    pub fn iam(&self, key: &KeyPair, fresh: bool) -> (Signer, Signed) {
        match self {
            Signing::OwnKeys => (
                Signer::Key(key.clone()),
                if fresh {
                    Signed::WithFreshKey
                } else {
                    Signed::WithKnownKey
                },
            ),
        }
    }
}
