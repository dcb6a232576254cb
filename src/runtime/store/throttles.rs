//! Counting failed sign-ins and locking out: per account (the user's own counter) and per
//! subject such as an email address or a client IP (the `sign_in_throttle` table).

use super::{Store, StoreError, integer, query_error};

impl Store {
    /// Records the outcome of a password check: resets the counter on success, or counts a
    /// failure and locks the account until `lock_until` once `threshold` is reached.
    ///
    /// # Errors
    /// A failed query.
    pub async fn record_sign_in_attempt(
        &self,
        user_id: &str,
        succeeded: bool,
        threshold: i64,
        lock_until: i64,
    ) -> Result<(), StoreError> {
        let query = if succeeded {
            sqlx::query("UPDATE users SET failed_sign_ins = 0, locked_until = 0 WHERE id = $1")
                .bind(user_id)
        } else {
            sqlx::query(
                "UPDATE users SET failed_sign_ins = failed_sign_ins + 1, \
                 locked_until = CASE WHEN failed_sign_ins + 1 >= $2 THEN $3 ELSE locked_until END \
                 WHERE id = $1",
            )
            .bind(user_id)
            .bind(threshold)
            .bind(lock_until)
        };
        query
            .execute(&self.pool)
            .await
            .map_err(query_error("record a sign-in attempt"))?;
        if !succeeded {
            // After a lock, start counting afresh.
            sqlx::query(
                "UPDATE users SET failed_sign_ins = 0 WHERE id = $1 AND failed_sign_ins >= $2",
            )
            .bind(user_id)
            .bind(threshold)
            .execute(&self.pool)
            .await
            .map_err(query_error("reset the failure counter"))?;
        }
        Ok(())
    }

    /// Until when `subject` (`email:…` or `ip:…`) is locked out; 0 when it is not.
    ///
    /// # Errors
    /// A failed query.
    pub async fn locked_until(&self, tenant_id: &str, subject: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT locked_until FROM sign_in_throttle WHERE tenant_id = $1 AND subject = $2",
        )
        .bind(tenant_id)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read a sign-in throttle"))?;
        row.as_ref()
            .map(|row| integer(row, "locked_until"))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Counts a failed attempt of `subject`; at `threshold` failures the subject is locked
    /// until `lock_until` and the count starts again. Returns whether it is now locked.
    ///
    /// # Errors
    /// A failed query.
    pub async fn record_failure(
        &self,
        tenant_id: &str,
        subject: &str,
        threshold: i64,
        lock_until: i64,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_throttle (tenant_id, subject, failures, locked_until) VALUES ($1, $2, 1, 0) \
             ON CONFLICT (tenant_id, subject) DO UPDATE SET failures = sign_in_throttle.failures + 1",
        )
        .bind(tenant_id)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(query_error("count a failed sign-in"))?;
        let locked = sqlx::query(
            "UPDATE sign_in_throttle SET failures = 0, locked_until = $1 \
             WHERE tenant_id = $2 AND subject = $3 AND failures >= $4",
        )
        .bind(lock_until)
        .bind(tenant_id)
        .bind(subject)
        .bind(threshold)
        .execute(&self.pool)
        .await
        .map_err(query_error("lock a sign-in subject"))?;
        Ok(locked.rows_affected() > 0)
    }

    /// Forgets the failed attempts of `subject` after a success.
    ///
    /// # Errors
    /// A failed query.
    pub async fn clear_failures(&self, tenant_id: &str, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_throttle WHERE tenant_id = $1 AND subject = $2")
            .bind(tenant_id)
            .bind(subject)
            .execute(&self.pool)
            .await
            .map_err(query_error("clear failed sign-ins"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support;

    const LOCK_UNTIL: i64 = 4_000_000_000;

    async fn fail(store: &Store, tenant_id: &str, subject: &str) -> bool {
        store
            .record_failure(tenant_id, subject, 3, LOCK_UNTIL)
            .await
            .expect("count a failure")
    }

    #[tokio::test]
    async fn a_subject_is_locked_at_the_threshold_and_its_count_starts_again() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let subject = "email:ann@example.com";

        let outcomes = [
            fail(&store, &tenant_id, subject).await,
            fail(&store, &tenant_id, subject).await,
            fail(&store, &tenant_id, subject).await,
        ];

        assert_eq!(outcomes, [false, false, true], "the third failure locks");
        assert_eq!(
            store.locked_until(&tenant_id, subject).await.expect("read"),
            LOCK_UNTIL
        );
        assert!(
            !fail(&store, &tenant_id, subject).await,
            "after a lock the count starts again"
        );
    }

    #[tokio::test]
    async fn a_subject_never_seen_is_not_locked() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;

        assert_eq!(
            store
                .locked_until(&tenant_id, "ip:192.0.2.1")
                .await
                .expect("read"),
            0
        );
    }

    #[tokio::test]
    async fn a_success_forgets_the_failures_and_the_lock() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let subject = "ip:192.0.2.1";
        for _ in 0..3 {
            fail(&store, &tenant_id, subject).await;
        }

        store
            .clear_failures(&tenant_id, subject)
            .await
            .expect("clear");
        store
            .clear_failures(&tenant_id, subject)
            .await
            .expect("clearing twice is harmless");

        assert_eq!(
            store.locked_until(&tenant_id, subject).await.expect("read"),
            0
        );
        assert!(!fail(&store, &tenant_id, subject).await);
        assert!(
            !fail(&store, &tenant_id, subject).await,
            "two failures after the clear"
        );
    }

    #[tokio::test]
    async fn failures_count_per_subject_and_per_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        for _ in 0..2 {
            fail(&store, &tenant_id, "email:ann@example.com").await;
        }

        assert!(!fail(&store, &tenant_id, "email:bob@example.com").await);
        assert!(!fail(&store, &other_tenant, "email:ann@example.com").await);
        assert!(fail(&store, &tenant_id, "email:ann@example.com").await);
        assert_eq!(
            store
                .locked_until(&other_tenant, "email:ann@example.com")
                .await
                .expect("read"),
            0
        );
    }

    async fn counters(store: &Store, tenant_id: &str, user_id: &str) -> (i64, i64) {
        let user = store
            .user(tenant_id, user_id)
            .await
            .expect("read")
            .expect("found");
        (user.failed_sign_ins, user.locked_until)
    }

    #[tokio::test]
    async fn an_account_locks_after_the_threshold_of_wrong_passwords() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        for _ in 0..2 {
            store
                .record_sign_in_attempt(&user_id, false, 3, LOCK_UNTIL)
                .await
                .expect("record");
        }
        assert_eq!(counters(&store, &tenant_id, &user_id).await, (2, 0));

        store
            .record_sign_in_attempt(&user_id, false, 3, LOCK_UNTIL)
            .await
            .expect("record");

        assert_eq!(
            counters(&store, &tenant_id, &user_id).await,
            (0, LOCK_UNTIL),
            "locked, and counting afresh"
        );
    }

    #[tokio::test]
    async fn a_correct_password_resets_the_account_counter_and_lock() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        for _ in 0..4 {
            store
                .record_sign_in_attempt(&user_id, false, 3, LOCK_UNTIL)
                .await
                .expect("record");
        }
        assert_eq!(
            counters(&store, &tenant_id, &user_id).await,
            (1, LOCK_UNTIL)
        );

        store
            .record_sign_in_attempt(&user_id, true, 3, LOCK_UNTIL)
            .await
            .expect("record");

        assert_eq!(counters(&store, &tenant_id, &user_id).await, (0, 0));
    }
}
