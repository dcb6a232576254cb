//! The password-reset step: a passcode to the address, which the verify step then trades for
//! a new password.

use super::hosted::{Hosted, Refusal};
use super::passcodes::{self, Issued, Purpose};
use super::throttles::Throttles;
use crate::runtime::domain::flows;
use crate::runtime::store::StoreError;

/// Asks for a reset passcode for `email` (normalised) at `now`. A locked address can no more
/// reset its password than sign in: the reset would be a way around the lockout. Unknown
/// addresses get a decoy challenge and the same answer.
///
/// # Errors
/// Storage failure.
pub async fn submit(
    hosted: Hosted<'_>,
    throttles: Throttles<'_>,
    request_id: &str,
    email: &str,
    now: i64,
) -> Result<Result<Issued, Refusal>, StoreError> {
    if !flows::is_plausible_email(email) {
        return Ok(Err(Refusal::EmailImplausible));
    }
    passcodes::issue_to_address(hosted, throttles, request_id, Purpose::Reset, email, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::fixture::Fixture;

    #[tokio::test]
    async fn a_known_address_gets_a_code_and_an_unknown_one_a_decoy_with_the_same_answer() {
        let fixture = Fixture::new().await;
        let user = fixture.user("ada@example.com", "!").await;
        let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
        let known = submit(hosted, throttles, "r", "ada@example.com", 1_000_000)
            .await
            .expect("submit")
            .expect("issued");
        assert_eq!(known.challenge.payload, user.id);
        assert!(known.passcode.is_some());
        let unknown = submit(hosted, throttles, "r", "bob@example.com", 1_000_000)
            .await
            .expect("submit")
            .expect("issued");
        assert!(
            unknown.passcode.is_none(),
            "nothing is sent to an unknown address"
        );
        assert!(
            unknown.challenge.code_digest.is_empty(),
            "no code opens a decoy"
        );
        assert_eq!(
            submit(hosted, throttles, "r", "not-an-address", 1_000_000)
                .await
                .expect("submit")
                .err(),
            Some(Refusal::EmailImplausible)
        );
    }
}
