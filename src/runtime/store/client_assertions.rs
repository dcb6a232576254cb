//! One-time use of client assertions: the `jti` of each accepted `private_key_jwt` assertion
//! is kept until the assertion expires (the `client_assertions` table), so a replay is seen.

use super::{Store, StoreError, query_error};

impl Store {
    /// Records that `client_id` used the assertion `jti`, valid until `expires_at` (Unix
    /// seconds). Returns `false` when the same client already used that `jti` and the row is
    /// still kept: a replay. Check and record are one statement, so two concurrent uses of
    /// one assertion cannot both succeed, even on two replicas sharing PostgreSQL.
    ///
    /// # Errors
    /// A failed query.
    pub async fn record_client_assertion(
        &self,
        tenant_id: &str,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO client_assertions (tenant_id, client_id, jti, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(query_error("record a client assertion"))?;
        Ok(inserted.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::store::now;
    use crate::runtime::store::test_support::{self, unique_id};

    #[tokio::test]
    async fn an_assertion_id_is_accepted_once_per_client() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let jti = unique_id();
        let expires_at = now() + 300;
        let record = |client_id: &'static str| {
            let (store, tenant_id, jti) = (&store, &tenant_id, &jti);
            async move {
                store
                    .record_client_assertion(tenant_id, client_id, jti, expires_at)
                    .await
                    .expect("record")
            }
        };
        assert!(record("client-a").await, "first use");
        assert!(!record("client-a").await, "replay");
        assert!(record("client-b").await, "another client's jti space");
    }
}
