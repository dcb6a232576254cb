//! Passcode challenges on an in-memory store with a pinned clock: attempts, expiry, resends.

use super::*;
use crate::runtime::domain::fixture::{
    Fixture, PASSCODE_LIFETIME_SECONDS, PASSCODE_RESEND_SECONDS,
};
use crate::runtime::domain::throttles::MAX_UNUSED_PASSCODES;

const EMAIL: &str = "ada@example.com";
const NOW: i64 = 1_000_000;

async fn issued(fixture: &Fixture, deliver: bool) -> (ChallengeRecord, String) {
    let wanted = ChallengeFor {
        request_id: "request-1",
        purpose: Purpose::SignIn,
        email: EMAIL,
        payload: "user-1".to_string(),
        deliver,
    };
    let issued = issue(fixture.hosted(), &fixture.tenant.id, wanted, NOW)
        .await
        .expect("issue");
    let passcode = issued.passcode.clone().unwrap_or_else(|| "000000".into());
    (issued.challenge, passcode)
}

/// A code other than `passcode`.
fn wrong(passcode: &str) -> String {
    let first = passcode.parse::<u32>().expect("digits");
    format!("{:06}", (first + 1) % 1_000_000)
}

/// The challenge as stored now.
async fn stored(fixture: &Fixture, challenge: &ChallengeRecord) -> ChallengeRecord {
    fixture
        .store
        .challenge(&fixture.tenant.id, &challenge.id)
        .await
        .expect("read")
        .expect("stored")
}

#[tokio::test]
async fn the_emailed_code_opens_the_challenge_once() {
    let fixture = Fixture::new().await;
    let (challenge, passcode) = issued(&fixture, true).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    assert_eq!(
        check(hosted, throttles, &challenge, &passcode, NOW + 1)
            .await
            .expect("check"),
        Ok(())
    );
    assert!(spend(hosted, throttles, &challenge).await.expect("spend"));
    assert!(
        !spend(hosted, throttles, &challenge).await.expect("spend"),
        "single use"
    );
    let spent = stored(&fixture, &challenge).await;
    assert_eq!(
        check(hosted, throttles, &spent, &passcode, NOW + 2)
            .await
            .expect("check"),
        Err(Refusal::CodeExpired)
    );
}

#[tokio::test]
async fn after_the_allowed_wrong_codes_even_the_right_code_is_refused() {
    let fixture = Fixture::new().await;
    let (challenge, passcode) = issued(&fixture, true).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    for _ in 0..MAX_PASSCODE_ATTEMPTS {
        assert_eq!(
            check(hosted, throttles, &challenge, &wrong(&passcode), NOW)
                .await
                .expect("check"),
            Err(Refusal::CodeWrong)
        );
    }
    assert_eq!(
        check(hosted, throttles, &challenge, &passcode, NOW)
            .await
            .expect("check"),
        Err(Refusal::CodeAttempts)
    );
}

#[tokio::test]
async fn a_code_expires_with_its_lifetime() {
    let fixture = Fixture::new().await;
    let (challenge, passcode) = issued(&fixture, true).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    assert_eq!(challenge.expires_at, NOW + PASSCODE_LIFETIME_SECONDS);
    assert_eq!(
        check(
            hosted,
            throttles,
            &challenge,
            &passcode,
            NOW + PASSCODE_LIFETIME_SECONDS
        )
        .await
        .expect("check"),
        Err(Refusal::CodeExpired)
    );
}

#[tokio::test]
async fn no_code_opens_a_decoy_challenge() {
    let fixture = Fixture::new().await;
    let (challenge, passcode) = issued(&fixture, false).await;
    assert!(challenge.code_digest.is_empty());
    assert_eq!(
        check(
            fixture.hosted(),
            fixture.throttles(None),
            &challenge,
            &passcode,
            NOW
        )
        .await
        .expect("check"),
        Err(Refusal::CodeWrong)
    );
}

#[tokio::test]
async fn a_resend_waits_for_the_cool_down_and_replaces_the_code_and_its_tries() {
    let fixture = Fixture::new().await;
    let (challenge, old_passcode) = issued(&fixture, true).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    assert_eq!(
        resend(hosted, throttles, &challenge, NOW + 10)
            .await
            .expect("resend"),
        Err(Refusal::ResendTooSoon {
            seconds: PASSCODE_RESEND_SECONDS - 10
        })
    );
    for _ in 0..MAX_PASSCODE_ATTEMPTS {
        let _ = check(hosted, throttles, &challenge, &wrong(&old_passcode), NOW).await;
    }
    let later = NOW + PASSCODE_RESEND_SECONDS;
    let new_passcode = resend(hosted, throttles, &challenge, later)
        .await
        .expect("resend")
        .expect("resent")
        .expect("a code to send");
    let renewed = stored(&fixture, &challenge).await;
    assert_eq!(renewed.expires_at, later + PASSCODE_LIFETIME_SECONDS);
    assert_eq!(
        check(hosted, throttles, &renewed, &new_passcode, later)
            .await
            .expect("check"),
        Ok(()),
        "the new code has fresh tries"
    );
}

#[tokio::test]
async fn resends_count_against_the_address_send_limit() {
    let fixture = Fixture::new().await;
    let (challenge, _) = issued(&fixture, true).await;
    let (hosted, throttles) = (fixture.hosted(), fixture.throttles(None));
    let mut sent_at = NOW;
    for _ in 0..MAX_UNUSED_PASSCODES {
        sent_at += PASSCODE_RESEND_SECONDS;
        let current = stored(&fixture, &challenge).await;
        assert!(
            resend(hosted, throttles, &current, sent_at)
                .await
                .expect("resend")
                .is_ok()
        );
    }
    let current = stored(&fixture, &challenge).await;
    assert_eq!(
        resend(
            hosted,
            throttles,
            &current,
            sent_at + PASSCODE_RESEND_SECONDS
        )
        .await
        .expect("resend"),
        Err(Refusal::SendLimit)
    );
}

#[tokio::test]
async fn a_resent_decoy_stays_a_decoy() {
    let fixture = Fixture::new().await;
    let (challenge, _) = issued(&fixture, false).await;
    let resent = resend(
        fixture.hosted(),
        fixture.throttles(None),
        &challenge,
        NOW + PASSCODE_RESEND_SECONDS,
    )
    .await
    .expect("resend");
    assert_eq!(resent, Ok(None), "nothing to send");
}

#[tokio::test]
async fn a_challenge_of_another_request_is_not_found() {
    let fixture = Fixture::new().await;
    let (challenge, _) = issued(&fixture, true).await;
    let hosted = fixture.hosted();
    let found = find(hosted, &fixture.tenant.id, &challenge.id, "request-1")
        .await
        .expect("find");
    assert_eq!(found.map(|(_, purpose)| purpose), Some(Purpose::SignIn));
    assert!(
        find(hosted, &fixture.tenant.id, &challenge.id, "request-2")
            .await
            .expect("find")
            .is_none()
    );
}
