//! The verify step on an in-memory store: sign-up creates the account, reset sets the
//! password, and a weak new password keeps the code usable.

use super::*;
use crate::runtime::crypto;
use crate::runtime::domain::fixture::Fixture;
use crate::runtime::domain::passcodes::{ChallengeFor, issue};

const NOW: i64 = 1_000_000;

async fn challenge(
    fixture: &Fixture,
    purpose: Purpose,
    payload: String,
) -> (ChallengeRecord, String) {
    let wanted = ChallengeFor {
        request_id: "request-1",
        purpose,
        email: "ada@example.com",
        payload,
        deliver: true,
    };
    let issued = issue(fixture.hosted(), &fixture.tenant.id, wanted, NOW)
        .await
        .expect("issue");
    (issued.challenge, issued.passcode.expect("passcode"))
}

fn pending_account() -> String {
    serde_json::to_string(&PendingAccount {
        id: "new-user".into(),
        email: "ada@example.com".into(),
        password_hash: "!".into(),
        display_name: Some("Ada".into()),
        attributes: Default::default(),
        consents: Default::default(),
    })
    .expect("json")
}

#[tokio::test]
async fn a_verified_sign_up_creates_the_account_and_signs_in() {
    let fixture = Fixture::new().await;
    let (challenge, code) = challenge(&fixture, Purpose::SignUp, pending_account()).await;
    let form = VerifyForm {
        code: &code,
        new_password: String::new(),
    };
    let verified = submit(
        fixture.hosted(),
        fixture.throttles(None),
        &challenge,
        Purpose::SignUp,
        form,
        NOW,
    )
    .await
    .expect("submit");
    assert_eq!(
        verified,
        Ok(Verified::SignedIn {
            user_id: "new-user".into()
        })
    );
    let user = fixture
        .store
        .user_by_email(&fixture.tenant.id, "ada@example.com")
        .await
        .expect("read")
        .expect("created");
    assert_eq!(user.display_name.as_deref(), Some("Ada"));
}

#[tokio::test]
async fn a_sign_up_for_an_address_that_has_an_account_asks_to_sign_in() {
    let fixture = Fixture::new().await;
    fixture.user("ada@example.com", "!").await;
    let (challenge, code) = challenge(&fixture, Purpose::SignUp, pending_account()).await;
    let form = VerifyForm {
        code: &code,
        new_password: String::new(),
    };
    let verified = submit(
        fixture.hosted(),
        fixture.throttles(None),
        &challenge,
        Purpose::SignUp,
        form,
        NOW,
    )
    .await
    .expect("submit");
    assert_eq!(
        verified,
        Ok(Verified::AccountExists {
            email: "ada@example.com".into()
        })
    );
}

#[tokio::test]
async fn a_reset_refuses_a_weak_password_without_spending_the_code() {
    let fixture = Fixture::new().await;
    let user = fixture.user("ada@example.com", "!").await;
    let (challenge, code) = challenge(&fixture, Purpose::Reset, user.id.clone()).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    let weak = VerifyForm {
        code: &code,
        new_password: "short".into(),
    };
    assert_eq!(
        submit(hosted, throttles, &challenge, Purpose::Reset, weak, NOW)
            .await
            .expect("submit"),
        Err(Refusal::PasswordRules)
    );
    let strong = VerifyForm {
        code: &code,
        new_password: "N3w-Password".into(),
    };
    assert_eq!(
        submit(hosted, throttles, &challenge, Purpose::Reset, strong, NOW)
            .await
            .expect("submit"),
        Ok(Verified::SignedIn {
            user_id: user.id.clone()
        })
    );
    let stored = fixture
        .store
        .user(&fixture.tenant.id, &user.id)
        .await
        .expect("read")
        .expect("user");
    assert!(crypto::verify_password(
        "N3w-Password",
        &stored.password_hash
    ));
}
