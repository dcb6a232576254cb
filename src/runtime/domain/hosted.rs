//! What the hosted-page flows share: the runtime parts they use, their typed error and the
//! reasons a submission is refused.

use crate::runtime::metrics::Metrics;
use crate::runtime::store::{Store, StoreError};

/// The parts of the runtime the sign-in, sign-up, verify and reset flows work with.
#[derive(Clone, Copy)]
pub struct Hosted<'a> {
    /// The database.
    pub store: &'a Store,
    /// Counts password verifications.
    pub metrics: &'a Metrics,
    /// Key of passcode digests.
    pub passcode_key: &'a [u8; 32],
    /// Passcode lifetime in seconds.
    pub passcode_lifetime_seconds: i64,
    /// Resend cool-down in seconds.
    pub passcode_resend_seconds: i64,
}

/// Why a flow step could not run to its end (the page shows a server error).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Argon2 (or its worker thread) failed.
    #[error("{0}")]
    PasswordHash(String),
    /// A pending account could not be written or read back.
    #[error(transparent)]
    PendingAccount(#[from] serde_json::Error),
    /// The stored pending account of a sign-up challenge does not parse.
    #[error("a pending account did not parse")]
    PendingAccountUnreadable,
}

/// Why a submission was refused; the page shows the matching message and lets the person
/// try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address does not look like one.
    EmailImplausible,
    /// Email or password left empty.
    CredentialsMissing,
    /// Unknown email or wrong password (never saying which).
    CredentialsWrong,
    /// The email or the client address is locked out.
    Locked,
    /// Too many passcodes sent and none used.
    SendLimit,
    /// The passcode is spent or expired.
    CodeExpired,
    /// The challenge's wrong-passcode allowance is used up.
    CodeAttempts,
    /// The passcode does not match.
    CodeWrong,
    /// A new passcode was asked for before the resend cool-down passed.
    ResendTooSoon {
        /// Seconds left to wait.
        seconds: i64,
    },
    /// The new password breaks the tenant's rules.
    PasswordRules,
}
