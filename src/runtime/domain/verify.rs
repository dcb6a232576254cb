//! The verify step: a passcode (and, for a reset, the new password) completes the sign-up,
//! sign-in, second factor or reset its challenge was issued for.

use super::hosted::{FlowError, Hosted, Refusal};
use super::passcodes::{self, PendingAccount, Purpose};
use super::passwords::{self, PasswordRules};
use super::throttles::Throttles;
use crate::runtime::store::{ChallengeRecord, StoreError, UserRecord};

/// What a verified passcode leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// The person is signed in as `user_id` (a new account for a sign-up).
    SignedIn {
        /// The account.
        user_id: String,
    },
    /// A sign-up whose address got an account meanwhile; the person should sign in.
    AccountExists {
        /// The address.
        email: String,
    },
}

/// What the verify form sent beside the challenge.
pub struct VerifyForm<'a> {
    /// The presented code.
    pub code: &'a str,
    /// The new password of a reset (empty otherwise).
    pub new_password: String,
}

/// Checks the code of `challenge` at `now` and completes what it was issued for.
///
/// # Errors
/// Storage or Argon2 failure, or a pending account that does not parse.
pub async fn submit(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    challenge: &ChallengeRecord,
    purpose: Purpose,
    form: VerifyForm<'_>,
    now: i64,
) -> Result<Result<Verified, Refusal>, FlowError> {
    let tenant = throttles.tenant;
    if let Err(refusal) = passcodes::check(hosted, throttles, challenge, form.code, now).await? {
        if refusal == Refusal::CodeWrong {
            tracing::info!(tenant = %tenant.subdomain, purpose = purpose.as_str(), "wrong passcode");
        }
        return Ok(Err(refusal));
    }
    // A reset checks the new password before spending the code, so a weak password can be
    // corrected with the same code.
    if purpose == Purpose::Reset && !PasswordRules::of(tenant).accepts(&form.new_password) {
        return Ok(Err(Refusal::PasswordRules));
    }
    if !passcodes::spend(hosted, throttles, challenge).await? {
        return Ok(Err(Refusal::CodeExpired));
    }
    let verified = match purpose {
        Purpose::SignUp => create_account(hosted, throttles, challenge).await?,
        Purpose::SignIn | Purpose::Mfa => Verified::SignedIn {
            user_id: challenge.payload.clone(),
        },
        Purpose::Reset => {
            let password_hash = passwords::hash(form.new_password).await?;
            hosted
                .store
                .set_password(&tenant.id, &challenge.payload, &password_hash)
                .await?;
            tracing::info!(tenant = %tenant.subdomain, user_id = %challenge.payload, "password reset");
            Verified::SignedIn {
                user_id: challenge.payload.clone(),
            }
        }
    };
    Ok(Ok(verified))
}

/// Creates the account a sign-up challenge holds.
async fn create_account(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    challenge: &ChallengeRecord,
) -> Result<Verified, FlowError> {
    let tenant = throttles.tenant;
    let Ok(account) = serde_json::from_str::<PendingAccount>(&challenge.payload) else {
        return Err(FlowError::PendingAccountUnreadable);
    };
    let user = UserRecord {
        id: account.id,
        email: account.email,
        password_hash: account.password_hash,
        display_name: account.display_name,
        failed_sign_ins: 0,
        locked_until: 0,
        attributes: account.attributes,
        consents: account.consents,
    };
    match hosted.store.create_user(&tenant.id, &user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Verified::AccountExists { email: user.email }),
        Err(error) => return Err(error.into()),
    }
    tracing::info!(tenant = %tenant.subdomain, user_id = %user.id, "account created");
    Ok(Verified::SignedIn { user_id: user.id })
}

#[cfg(test)]
mod tests;
