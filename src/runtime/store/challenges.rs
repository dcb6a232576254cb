//! One-time passcode challenges: the digest of the code sent by email, its tries, resends and
//! single use.

use sqlx::any::AnyRow;

use super::{Store, StoreError, integer, now, optional_integer, query_error, text};

/// A one-time passcode challenge (see the `passcode_challenges` table).
#[derive(Clone, Debug)]
pub struct ChallengeRecord {
    /// Random ID, carried by the verification form.
    pub id: String,
    /// The pending authorization request it belongs to.
    pub request_id: String,
    /// `sign_up`, `sign_in`, `mfa` or `reset`.
    pub purpose: String,
    /// Where the passcode was sent (normalised).
    pub email: String,
    /// HMAC of the passcode; empty for a decoy (no code matches).
    pub code_digest: String,
    /// What success unlocks (JSON).
    pub payload: String,
    /// Wrong passcodes so far.
    pub attempts: i64,
    /// When the current passcode was sent (resend cool-down).
    pub sent_at: i64,
    /// When the current passcode expires.
    pub expires_at: i64,
    /// When it was spent.
    pub used_at: Option<i64>,
}

impl Store {
    fn challenge_from_row(row: &AnyRow) -> Result<ChallengeRecord, StoreError> {
        Ok(ChallengeRecord {
            id: text(row, "id")?,
            request_id: text(row, "request_id")?,
            purpose: text(row, "purpose")?,
            email: text(row, "email")?,
            code_digest: text(row, "code_digest")?,
            payload: text(row, "payload")?,
            attempts: integer(row, "attempts")?,
            sent_at: integer(row, "sent_at")?,
            expires_at: integer(row, "expires_at")?,
            used_at: optional_integer(row, "used_at")?,
        })
    }

    /// Stores a new passcode challenge.
    ///
    /// # Errors
    /// A failed query.
    pub async fn create_challenge(
        &self,
        tenant_id: &str,
        challenge: &ChallengeRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO passcode_challenges (id, tenant_id, request_id, purpose, email, code_digest, payload, attempts, sent_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)",
        )
        .bind(&challenge.id)
        .bind(tenant_id)
        .bind(&challenge.request_id)
        .bind(&challenge.purpose)
        .bind(&challenge.email)
        .bind(&challenge.code_digest)
        .bind(&challenge.payload)
        .bind(challenge.sent_at)
        .bind(challenge.expires_at)
        .execute(&self.pool)
        .await
        .map_err(query_error("store a passcode challenge"))?;
        Ok(())
    }

    /// Reads a passcode challenge of a tenant.
    ///
    /// # Errors
    /// A failed query.
    pub async fn challenge(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, request_id, purpose, email, code_digest, payload, attempts, sent_at, expires_at, used_at \
             FROM passcode_challenges WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read a passcode challenge"))?;
        row.as_ref().map(Self::challenge_from_row).transpose()
    }

    /// Takes one of the challenge's `max_attempts` tries before its code is checked; false
    /// when none is left or the challenge is spent or expired. Reserving the try first, in
    /// one statement, keeps simultaneous guesses from all passing a limit checked earlier.
    ///
    /// # Errors
    /// A failed query.
    pub async fn take_challenge_attempt(
        &self,
        id: &str,
        max_attempts: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE passcode_challenges SET attempts = attempts + 1 \
             WHERE id = $1 AND attempts < $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(id)
        .bind(max_attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(query_error("count a passcode attempt"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Spends a challenge; true for exactly one caller (the passcode is single-use).
    ///
    /// # Errors
    /// A failed query.
    pub async fn consume_challenge(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE passcode_challenges SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(query_error("spend a passcode challenge"))?;
        Ok(result.rows_affected() == 1)
    }

    /// Replaces the passcode of an unspent challenge (resend): new digest, fresh attempts
    /// and expiry.
    ///
    /// # Errors
    /// A failed query.
    pub async fn renew_challenge(
        &self,
        id: &str,
        code_digest: &str,
        sent_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE passcode_challenges SET code_digest = $1, attempts = 0, sent_at = $2, expires_at = $3 \
             WHERE id = $4 AND used_at IS NULL",
        )
        .bind(code_digest)
        .bind(sent_at)
        .bind(expires_at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(query_error("renew a passcode challenge"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{self, unique_id};

    fn challenge_sent_at(sent_at: i64) -> ChallengeRecord {
        ChallengeRecord {
            id: unique_id(),
            request_id: "request-1".into(),
            purpose: "sign_up".into(),
            email: "ann@example.com".into(),
            code_digest: "digest-1".into(),
            payload: r#"{"email":"ann@example.com"}"#.into(),
            attempts: 7,
            sent_at,
            expires_at: sent_at + 600,
            used_at: Some(1),
        }
    }

    async fn stored(store: &Store, tenant_id: &str, id: &str) -> ChallengeRecord {
        store
            .challenge(tenant_id, id)
            .await
            .expect("read")
            .expect("found")
    }

    #[tokio::test]
    async fn a_new_challenge_starts_unspent_with_no_attempts_and_belongs_to_its_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        let sent = challenge_sent_at(now());
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");

        let read = stored(&store, &tenant_id, &sent.id).await;
        assert_eq!(
            (
                read.request_id.as_str(),
                read.purpose.as_str(),
                read.email.as_str(),
                read.code_digest.as_str(),
                read.payload.as_str(),
                read.sent_at,
                read.expires_at,
            ),
            (
                "request-1",
                "sign_up",
                "ann@example.com",
                "digest-1",
                sent.payload.as_str(),
                sent.sent_at,
                sent.expires_at,
            )
        );
        assert_eq!((read.attempts, read.used_at), (0, None));
        assert!(
            store
                .challenge(&other_tenant, &sent.id)
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn each_guess_takes_one_of_the_allowed_attempts() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let sent = challenge_sent_at(now);
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");

        let mut taken = Vec::new();
        for _ in 0..4 {
            taken.push(
                store
                    .take_challenge_attempt(&sent.id, 3, now)
                    .await
                    .expect("take"),
            );
        }

        assert_eq!(taken, [true, true, true, false]);
        assert_eq!(stored(&store, &tenant_id, &sent.id).await.attempts, 3);
    }

    #[tokio::test]
    async fn an_expired_or_spent_challenge_allows_no_attempt() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let sent = challenge_sent_at(now);
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");

        assert!(
            !store
                .take_challenge_attempt(&sent.id, 5, sent.expires_at)
                .await
                .expect("take"),
            "expired at its expiry time"
        );
        assert!(store.consume_challenge(&sent.id).await.expect("spend"));
        assert!(
            !store
                .take_challenge_attempt(&sent.id, 5, now)
                .await
                .expect("take")
        );
        assert!(
            !store
                .take_challenge_attempt(&unique_id(), 5, now)
                .await
                .expect("take")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_passcode_is_spent_exactly_once() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let sent = challenge_sent_at(now());
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");

        let (first, second) = tokio::join!(
            store.consume_challenge(&sent.id),
            store.consume_challenge(&sent.id)
        );

        let winners = [first.expect("first"), second.expect("second")];
        assert_eq!(winners.iter().filter(|won| **won).count(), 1);
        assert!(stored(&store, &tenant_id, &sent.id).await.used_at.is_some());
        assert!(!store.consume_challenge(&sent.id).await.expect("again"));
    }

    #[tokio::test]
    async fn a_resend_replaces_the_code_and_restores_the_attempts() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let sent = challenge_sent_at(now);
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");
        store
            .take_challenge_attempt(&sent.id, 3, now)
            .await
            .expect("take");

        store
            .renew_challenge(&sent.id, "digest-2", now + 60, now + 660)
            .await
            .expect("renew");

        let renewed = stored(&store, &tenant_id, &sent.id).await;
        assert_eq!(
            (
                renewed.code_digest.as_str(),
                renewed.attempts,
                renewed.sent_at,
                renewed.expires_at
            ),
            ("digest-2", 0, now + 60, now + 660)
        );
    }

    #[tokio::test]
    async fn a_spent_challenge_is_not_renewed() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let sent = challenge_sent_at(now);
        store
            .create_challenge(&tenant_id, &sent)
            .await
            .expect("create");
        store.consume_challenge(&sent.id).await.expect("spend");

        store
            .renew_challenge(&sent.id, "digest-2", now + 60, now + 660)
            .await
            .expect("renew");

        let kept = stored(&store, &tenant_id, &sent.id).await;
        assert_eq!((kept.code_digest.as_str(), kept.sent_at), ("digest-1", now));
    }
}
