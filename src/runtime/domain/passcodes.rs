//! One-time passcodes sent by email: issuing a challenge (a decoy for unknown accounts),
//! resending under a cool-down, and checking a presented code against its allowance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hosted::{FlowError, Hosted, Refusal};
use super::throttles::Throttles;
use crate::runtime::store::{ChallengeRecord, StoreError};
use crate::runtime::{crypto, email};

/// Wrong passcodes a challenge tolerates before a new code must be sent.
pub const MAX_PASSCODE_ATTEMPTS: i64 = 5;

/// What a passcode challenge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the mailbox of a new account.
    SignUp,
    /// Signs in without a password.
    SignIn,
    /// The second factor after a password.
    Mfa,
    /// Proves the mailbox before a new password is set.
    Reset,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignUp => "sign_up",
            Purpose::SignIn => "sign_in",
            Purpose::Mfa => "mfa",
            Purpose::Reset => "reset",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Purpose::SignUp,
            Purpose::SignIn,
            Purpose::Mfa,
            Purpose::Reset,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == value)
    }
}

/// The account a sign-up creates once its email is verified.
#[derive(Serialize, Deserialize)]
pub struct PendingAccount {
    /// The new user's ID.
    pub id: String,
    /// The verified address.
    pub email: String,
    /// The Argon2 hash, or "!" for a passwordless account.
    pub password_hash: String,
    /// Display name, if collected.
    pub display_name: Option<String>,
    /// Other attributes.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Consents by name, with the time they were given.
    pub consents: BTreeMap<String, i64>,
}

/// A challenge just created or renewed, and the passcode to email (none for a decoy).
pub struct Issued {
    /// The stored challenge.
    pub challenge: ChallengeRecord,
    /// The code to send; `None` when nothing may be sent (an unknown account).
    pub passcode: Option<String>,
}

/// What a new challenge is about.
pub struct ChallengeFor<'a> {
    /// The pending authorization request it belongs to.
    pub request_id: &'a str,
    /// What succeeding does.
    pub purpose: Purpose,
    /// Where the code goes.
    pub email: &'a str,
    /// What succeeding unlocks: the pending account or the user ID.
    pub payload: String,
    /// False for unknown accounts: the challenge is a decoy that no code opens.
    pub deliver: bool,
}

/// Creates a challenge at `now`.
///
/// # Errors
/// Storage failure.
pub async fn issue(
    hosted: Hosted<'_>,
    tenant_id: &str,
    wanted: ChallengeFor<'_>,
    now: i64,
) -> Result<Issued, StoreError> {
    let id = crypto::random_token(24);
    let passcode = email::new_passcode();
    let challenge = ChallengeRecord {
        code_digest: if wanted.deliver {
            email::passcode_digest(hosted.passcode_key, &id, &passcode)
        } else {
            String::new()
        },
        id,
        request_id: wanted.request_id.to_string(),
        purpose: wanted.purpose.as_str().to_string(),
        email: wanted.email.to_string(),
        payload: wanted.payload,
        attempts: 0,
        sent_at: now,
        expires_at: now + hosted.passcode_lifetime_seconds,
        used_at: None,
    };
    hosted.store.create_challenge(tenant_id, &challenge).await?;
    Ok(Issued {
        challenge,
        passcode: wanted.deliver.then_some(passcode),
    })
}

/// A passcode to an address that may or may not have an account (passwordless sign-in,
/// password reset): refused while the address is locked or out of sends; the challenge of an
/// unknown address is a decoy, so the answer is the same either way.
///
/// # Errors
/// Storage failure.
pub async fn issue_to_address(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    request_id: &str,
    purpose: Purpose,
    email: &str,
    now: i64,
) -> Result<Result<Issued, Refusal>, StoreError> {
    if throttles.is_locked(email, now).await? {
        return Ok(Err(Refusal::Locked));
    }
    if !throttles.take_passcode_allowance(email, now).await? {
        return Ok(Err(Refusal::SendLimit));
    }
    let user = hosted
        .store
        .user_by_email(&throttles.tenant.id, email)
        .await?;
    let wanted = ChallengeFor {
        request_id,
        purpose,
        email,
        payload: user
            .as_ref()
            .map(|user| user.id.clone())
            .unwrap_or_default(),
        deliver: user.is_some(),
    };
    Ok(Ok(issue(hosted, &throttles.tenant.id, wanted, now).await?))
}

/// The challenge `id` of the pending request `request_id`, with its purpose; `None` when it
/// is unknown, belongs to another request or has no known purpose (a forged form).
///
/// # Errors
/// Storage failure.
pub async fn find(
    hosted: Hosted<'_>,
    tenant_id: &str,
    id: &str,
    request_id: &str,
) -> Result<Option<(ChallengeRecord, Purpose)>, StoreError> {
    Ok(hosted
        .store
        .challenge(tenant_id, id)
        .await?
        .filter(|challenge| challenge.request_id == request_id)
        .and_then(|challenge| {
            let purpose = Purpose::parse(&challenge.purpose)?;
            Some((challenge, purpose))
        }))
}

/// Sends a new code for an unspent challenge once the cool-down has passed and the address
/// has sends left; a decoy stays a decoy.
///
/// # Errors
/// Storage failure.
pub async fn resend(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    challenge: &ChallengeRecord,
    now: i64,
) -> Result<Result<Option<String>, Refusal>, StoreError> {
    if challenge.used_at.is_some() {
        return Ok(Err(Refusal::CodeExpired));
    }
    let wait = challenge.sent_at + hosted.passcode_resend_seconds - now;
    if wait > 0 {
        return Ok(Err(Refusal::ResendTooSoon { seconds: wait }));
    }
    if !throttles
        .take_passcode_allowance(&challenge.email, now)
        .await?
    {
        return Ok(Err(Refusal::SendLimit));
    }
    let passcode = email::new_passcode();
    let deliver = !challenge.code_digest.is_empty();
    let digest = if deliver {
        email::passcode_digest(hosted.passcode_key, &challenge.id, &passcode)
    } else {
        String::new()
    };
    hosted
        .store
        .renew_challenge(
            &challenge.id,
            &digest,
            now,
            now + hosted.passcode_lifetime_seconds,
        )
        .await?;
    Ok(Ok(deliver.then_some(passcode)))
}

/// Checks a presented code: refused when the challenge is spent or expired, the address
/// locked, the tries used up, or the code wrong (which counts as a failed sign-in).
///
/// # Errors
/// Storage failure.
pub async fn check(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    challenge: &ChallengeRecord,
    presented: &str,
    now: i64,
) -> Result<Result<(), Refusal>, StoreError> {
    if challenge.used_at.is_some() || challenge.expires_at <= now {
        return Ok(Err(Refusal::CodeExpired));
    }
    if throttles.is_locked(&challenge.email, now).await? {
        return Ok(Err(Refusal::Locked));
    }
    // The try is taken before the code is compared, so a burst of parallel guesses gets no
    // more than MAX_PASSCODE_ATTEMPTS comparisons.
    if !hosted
        .store
        .take_challenge_attempt(&challenge.id, MAX_PASSCODE_ATTEMPTS, now)
        .await?
    {
        // Spent and expired challenges were answered above, so no try left means too many.
        return Ok(Err(Refusal::CodeAttempts));
    }
    if !email::passcode_matches(
        hosted.passcode_key,
        &challenge.id,
        &challenge.code_digest,
        presented,
    ) {
        throttles.record_failure(&challenge.email, now).await?;
        return Ok(Err(Refusal::CodeWrong));
    }
    Ok(Ok(()))
}

/// Spends a checked challenge (true for exactly one caller) and clears the address's
/// throttles.
///
/// # Errors
/// Storage failure.
pub async fn spend(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    challenge: &ChallengeRecord,
) -> Result<bool, FlowError> {
    if !hosted.store.consume_challenge(&challenge.id).await? {
        return Ok(false);
    }
    throttles.clear_after_passcode(&challenge.email).await?;
    Ok(true)
}

#[cfg(test)]
mod tests;
