//! The sign-up step: checks the submitted attributes and password, then holds the new
//! account in a passcode challenge until the email is verified.

use std::collections::BTreeMap;

use super::hosted::{FlowError, Hosted};
use super::passcodes::{self, ChallengeFor, Issued, PendingAccount, Purpose};
use super::passwords::{self, PasswordRules};
use super::throttles::Throttles;
use crate::contract::UserFlowSpec;
use crate::runtime::domain::flows::{self, CollectedAttributes, FieldProblem};

/// What a sign-up submission leads to.
pub enum SignUpOutcome {
    /// Some attributes or the password were refused; the form is shown again.
    Invalid {
        /// The problem of each refused attribute, by attribute name.
        fields: BTreeMap<String, FieldProblem>,
        /// Whether the password breaks the tenant's rules.
        password_refused: bool,
    },
    /// The address has had too many passcodes.
    SendLimit,
    /// The pending account waits in this challenge for the emailed code.
    PasscodeSent(Issued),
}

/// Runs a sign-up submission (`submitted` are the form's fields in order) of the pending
/// request `request_id` at `now`. The account is created only once the email is verified;
/// an email that already has an account gets a code too, and learns that only after proving
/// it owns the mailbox.
///
/// # Errors
/// Storage or Argon2 failure.
pub async fn submit(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    flow: &UserFlowSpec,
    request_id: &str,
    submitted: &flows::Submitted,
    now: i64,
) -> Result<SignUpOutcome, FlowError> {
    let tenant = throttles.tenant;
    let custom = tenant.spec.custom_attributes.clone().unwrap_or_default();
    let collected = flows::collect_attributes(&flow.sign_up_attributes(), &custom, submitted);
    let collect_password = flow.offers(flows::METHOD_EMAIL_PASSWORD);
    let password = submitted_value(submitted, "password");
    let password_refused = collect_password && !PasswordRules::of(tenant).accepts(&password);
    let collected = match collected {
        Ok(collected) if !password_refused => collected,
        result => {
            return Ok(SignUpOutcome::Invalid {
                fields: result.err().unwrap_or_default(),
                password_refused,
            });
        }
    };
    if !throttles
        .take_passcode_allowance(&collected.email, now)
        .await?
    {
        return Ok(SignUpOutcome::SendLimit);
    }
    let password_hash = if collect_password {
        passwords::hash(password).await?
    } else {
        // Passwordless accounts get no usable password: "!" is no PHC string.
        "!".to_string()
    };
    let wanted = ChallengeFor {
        request_id,
        purpose: Purpose::SignUp,
        email: &collected.email,
        payload: serde_json::to_string(&pending_account(&collected, password_hash, now))?,
        deliver: true,
    };
    let issued = passcodes::issue(hosted, &tenant.id, wanted, now).await?;
    Ok(SignUpOutcome::PasscodeSent(issued))
}

fn submitted_value(submitted: &flows::Submitted, name: &str) -> String {
    submitted
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// The account to create once the email is verified; consents are recorded at `now`.
fn pending_account(
    collected: &CollectedAttributes,
    password_hash: String,
    now: i64,
) -> PendingAccount {
    PendingAccount {
        id: uuid::Uuid::new_v4().to_string(),
        email: collected.email.clone(),
        password_hash,
        display_name: collected.display_name.clone(),
        attributes: collected.values.clone(),
        consents: collected
            .consents
            .iter()
            .map(|name| (name.clone(), now))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::fixture::Fixture;

    fn flow() -> UserFlowSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "F",
            "signIn": {"methods": [flows::METHOD_EMAIL_PASSWORD]},
        }))
        .expect("flow")
    }

    fn form(email: &str, password: &str) -> Vec<(String, String)> {
        vec![
            ("email".to_string(), email.to_string()),
            ("password".to_string(), password.to_string()),
        ]
    }

    #[tokio::test]
    async fn a_weak_password_and_a_bad_address_are_both_reported() {
        let fixture = Fixture::new().await;
        let outcome = submit(
            fixture.hosted(),
            fixture.throttles(None),
            &flow(),
            "r",
            &form("not-an-address", "weak"),
            1_000_000,
        )
        .await
        .expect("submit");
        let SignUpOutcome::Invalid {
            fields,
            password_refused,
        } = outcome
        else {
            panic!("expected the form again");
        };
        assert_eq!(fields.get("email"), Some(&FieldProblem::InvalidEmail));
        assert!(password_refused);
    }

    #[tokio::test]
    async fn a_valid_sign_up_waits_in_a_challenge_without_creating_the_account() {
        let fixture = Fixture::new().await;
        let outcome = submit(
            fixture.hosted(),
            fixture.throttles(None),
            &flow(),
            "r",
            &form(" Ada@Example.com ", "Corr3ct-Horse"),
            1_000_000,
        )
        .await
        .expect("submit");
        let SignUpOutcome::PasscodeSent(issued) = outcome else {
            panic!("expected a passcode");
        };
        assert_eq!(issued.challenge.email, "ada@example.com");
        let account: PendingAccount =
            serde_json::from_str(&issued.challenge.payload).expect("pending account");
        assert!(crate::runtime::crypto::verify_password(
            "Corr3ct-Horse",
            &account.password_hash
        ));
        assert!(
            fixture
                .store
                .user_by_email(&fixture.tenant.id, "ada@example.com")
                .await
                .expect("read")
                .is_none(),
            "the account exists only once the email is verified"
        );
    }
}
