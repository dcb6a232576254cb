//! The sign-in step: a password (with an optional passcode as second factor) or a passcode
//! alone, and the session that a successful sign-in starts.

use super::hosted::{FlowError, Hosted, Refusal};
use super::passcodes::{self, ChallengeFor, Issued, Purpose};
use super::passwords;
use super::sessions::{self, StartedSession};
use super::throttles::Throttles;
use crate::contract::UserFlowSpec;
use crate::runtime::domain::flows;
use crate::runtime::store::{Store, StoreError, UserRecord};

/// What the sign-in form sent.
pub struct SignInForm {
    /// The address, normalised.
    pub email: String,
    /// The password (empty for a passcode sign-in).
    pub password: String,
    /// Whether the person asked for a passcode instead of using a password.
    pub passwordless: bool,
}

/// What a sign-in submission leads to.
pub enum SignInOutcome {
    /// The flow does not offer the chosen method (no page of the runtime sends that).
    MethodNotOffered,
    /// Refused; the form is shown again with the reason.
    Refused(Refusal),
    /// A passcode challenge was created (sign-in without password, or the second factor).
    PasscodeSent(Issued),
    /// The person is signed in as `user_id`.
    SignedIn {
        /// The account.
        user_id: String,
    },
}

/// Runs a sign-in submission of the pending request `request_id` at `now`.
///
/// # Errors
/// Storage or Argon2 failure.
pub async fn submit(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    flow: &UserFlowSpec,
    request_id: &str,
    form: SignInForm,
    now: i64,
) -> Result<SignInOutcome, FlowError> {
    let method = if form.passwordless {
        flows::METHOD_EMAIL_OTP
    } else {
        flows::METHOD_EMAIL_PASSWORD
    };
    if !flow.offers(method) {
        return Ok(SignInOutcome::MethodNotOffered);
    }
    if form.passwordless {
        if !flows::is_plausible_email(&form.email) {
            return Ok(SignInOutcome::Refused(Refusal::EmailImplausible));
        }
        let issued = passcodes::issue_to_address(
            hosted,
            throttles,
            request_id,
            Purpose::SignIn,
            &form.email,
            now,
        )
        .await?;
        return Ok(issued.map_or_else(SignInOutcome::Refused, SignInOutcome::PasscodeSent));
    }
    let user = match with_password(hosted, throttles, &form, now).await? {
        Ok(user) => user,
        Err(refusal) => return Ok(SignInOutcome::Refused(refusal)),
    };
    if !flow.requires_mfa() {
        return Ok(SignInOutcome::SignedIn { user_id: user.id });
    }
    if !throttles.take_passcode_allowance(&form.email, now).await? {
        return Ok(SignInOutcome::Refused(Refusal::SendLimit));
    }
    let wanted = ChallengeFor {
        request_id,
        purpose: Purpose::Mfa,
        email: &user.email,
        payload: user.id.clone(),
        deliver: true,
    };
    let issued = passcodes::issue(hosted, &throttles.tenant.id, wanted, now).await?;
    Ok(SignInOutcome::PasscodeSent(issued))
}

/// Checks email and password; a wrong one counts against the address and the client.
async fn with_password(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    form: &SignInForm,
    now: i64,
) -> Result<Result<UserRecord, Refusal>, FlowError> {
    if form.email.is_empty() || form.password.is_empty() {
        return Ok(Err(Refusal::CredentialsMissing));
    }
    // Locked emails answer the same whether or not an account exists.
    if throttles.is_locked(&form.email, now).await? {
        return Ok(Err(Refusal::Locked));
    }
    let tenant = throttles.tenant;
    let user = hosted.store.user_by_email(&tenant.id, &form.email).await?;
    let check = passwords::password_check(
        user.as_ref().map(|user| user.password_hash.as_str()),
        passwords::decoy_hash(),
    );
    let verified = passwords::verify(hosted.metrics, form.password.clone(), check.phc.to_string())
        .await
        && check.can_sign_in;
    let Some(user) = user.filter(|_| verified) else {
        throttles.record_failure(&form.email, now).await?;
        tracing::info!(tenant = %tenant.subdomain, "sign-in failed: wrong email or password");
        return Ok(Err(Refusal::CredentialsWrong));
    };
    throttles.clear_failures(&form.email).await?;
    Ok(Ok(user))
}

/// Starts the session of a signed-in `user_id` and forgets the pending request it served.
///
/// # Errors
/// Storage failure.
pub async fn finish(
    store: &Store,
    tenant_id: &str,
    request_id: &str,
    user_id: &str,
    now: i64,
) -> Result<StartedSession, StoreError> {
    let started = sessions::start(store, tenant_id, user_id, now).await?;
    store.delete_authorization_request(request_id).await?;
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::crypto;
    use crate::runtime::domain::fixture::Fixture;

    const EMAIL: &str = "ada@example.com";
    const PASSWORD: &str = "Corr3ct-Horse";

    fn password_flow(mfa: bool) -> UserFlowSpec {
        let mut flow = serde_json::json!({
            "displayName": "F",
            "signIn": {"methods": [flows::METHOD_EMAIL_PASSWORD]},
        });
        if mfa {
            flow["mfa"] = serde_json::json!({"emailOtp": "Required"});
        }
        serde_json::from_value(flow).expect("flow")
    }

    fn form(password: &str) -> SignInForm {
        SignInForm {
            email: EMAIL.to_string(),
            password: password.to_string(),
            passwordless: false,
        }
    }

    #[tokio::test]
    async fn wrong_passwords_lock_the_address_even_for_the_right_password_until_the_window_passes()
    {
        let fixture = Fixture::with_spec(serde_json::json!({
            "lockout": {"threshold": 2, "durationSeconds": 60}
        }))
        .await;
        let user = fixture
            .user(EMAIL, &crypto::hash_password(PASSWORD).expect("hash"))
            .await;
        let (hosted, throttles, flow) = (
            fixture.hosted(),
            fixture.throttles(None),
            password_flow(false),
        );
        let now = crate::runtime::store::now();
        for _ in 0..2 {
            let outcome = submit(hosted, throttles, &flow, "r", form("wrong"), now)
                .await
                .expect("submit");
            assert!(matches!(
                outcome,
                SignInOutcome::Refused(Refusal::CredentialsWrong)
            ));
        }
        let outcome = submit(hosted, throttles, &flow, "r", form(PASSWORD), now)
            .await
            .expect("submit");
        assert!(matches!(outcome, SignInOutcome::Refused(Refusal::Locked)));
        let outcome = submit(hosted, throttles, &flow, "r", form(PASSWORD), now + 60)
            .await
            .expect("submit");
        assert!(matches!(outcome, SignInOutcome::SignedIn { user_id } if user_id == user.id));
    }

    #[tokio::test]
    async fn an_unknown_address_is_refused_like_a_wrong_password() {
        let fixture = Fixture::new().await;
        let outcome = submit(
            fixture.hosted(),
            fixture.throttles(None),
            &password_flow(false),
            "r",
            form(PASSWORD),
            1_000_000,
        )
        .await
        .expect("submit");
        assert!(matches!(
            outcome,
            SignInOutcome::Refused(Refusal::CredentialsWrong)
        ));
    }

    #[tokio::test]
    async fn a_flow_with_mfa_sends_a_passcode_after_the_right_password() {
        let fixture = Fixture::new().await;
        let user = fixture
            .user(EMAIL, &crypto::hash_password(PASSWORD).expect("hash"))
            .await;
        let outcome = submit(
            fixture.hosted(),
            fixture.throttles(None),
            &password_flow(true),
            "r",
            form(PASSWORD),
            1_000_000,
        )
        .await
        .expect("submit");
        let SignInOutcome::PasscodeSent(issued) = outcome else {
            panic!("expected a passcode");
        };
        assert_eq!(issued.challenge.payload, user.id);
        assert!(issued.passcode.is_some());
    }

    #[tokio::test]
    async fn a_method_the_flow_does_not_offer_is_not_run() {
        let fixture = Fixture::new().await;
        let outcome = submit(
            fixture.hosted(),
            fixture.throttles(None),
            &password_flow(false),
            "r",
            SignInForm {
                passwordless: true,
                ..form("")
            },
            1_000_000,
        )
        .await
        .expect("submit");
        assert!(matches!(outcome, SignInOutcome::MethodNotOffered));
    }
}
