//! Removal of expired short-lived rows, run periodically by the runtime.

use super::{Store, StoreError, now, query_error};

impl Store {
    /// Removes expired short-lived rows (requests, codes, sessions, refresh tokens, passcode
    /// challenges, used client assertion IDs).
    ///
    /// # Errors
    /// A failed query.
    pub async fn purge_expired(&self) -> Result<(), StoreError> {
        let now = now();
        for statement in [
            "DELETE FROM authorization_requests WHERE expires_at <= $1",
            "DELETE FROM authorization_codes WHERE expires_at <= $1",
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM passcode_challenges WHERE expires_at <= $1",
            "DELETE FROM client_assertions WHERE expires_at <= $1",
        ] {
            sqlx::query(statement)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(query_error("purge expired rows"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::SessionRecord;
    use crate::runtime::store::test_support::{self, grant_with_code, rows, unique_id};

    /// The short-lived rows of one tenant, all expiring at `expires_at`: the table, its key
    /// column and the row's key.
    async fn short_lived_rows(
        store: &Store,
        tenant_id: &str,
        user_id: &str,
        expires_at: i64,
    ) -> Vec<(&'static str, &'static str, String)> {
        let request_id = unique_id();
        store
            .create_authorization_request(tenant_id, &request_id, "{}", expires_at)
            .await
            .expect("request");
        let (grant, code_digest) = grant_with_code(store, tenant_id, user_id, expires_at).await;
        let refresh_digest = unique_id();
        store
            .create_refresh_token(&grant.id, &refresh_digest, expires_at)
            .await
            .expect("refresh token");
        let session = SessionRecord {
            id: unique_id(),
            user_id: user_id.to_string(),
            auth_time: expires_at - 600,
        };
        store
            .create_session(tenant_id, &session, &unique_id(), expires_at)
            .await
            .expect("session");
        let challenge = crate::runtime::store::ChallengeRecord {
            id: unique_id(),
            request_id: request_id.clone(),
            purpose: "sign_in".into(),
            email: "ann@example.com".into(),
            code_digest: "digest".into(),
            payload: "{}".into(),
            attempts: 0,
            sent_at: expires_at - 600,
            expires_at,
            used_at: None,
        };
        store
            .create_challenge(tenant_id, &challenge)
            .await
            .expect("challenge");
        let jti = unique_id();
        store
            .record_client_assertion(tenant_id, "client", &jti, expires_at)
            .await
            .expect("client assertion");
        vec![
            ("authorization_requests", "id", request_id),
            ("authorization_codes", "code_digest", code_digest),
            ("refresh_tokens", "token_digest", refresh_digest),
            ("sessions", "id", session.id),
            ("passcode_challenges", "id", challenge.id),
            ("client_assertions", "jti", jti),
        ]
    }

    #[tokio::test]
    async fn purging_removes_expired_rows_and_keeps_live_ones() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let expired = short_lived_rows(&store, &tenant_id, &user_id, now() - 1).await;
        let live = short_lived_rows(&store, &tenant_id, &user_id, now() + 600).await;

        store.purge_expired().await.expect("purge");

        for (table, column, key) in &expired {
            assert_eq!(
                rows(&store, table, column, key).await,
                0,
                "expired row of {table}"
            );
        }
        for (table, column, key) in &live {
            assert_eq!(
                rows(&store, table, column, key).await,
                1,
                "live row of {table}"
            );
        }
    }

    #[tokio::test]
    async fn purging_keeps_grants_accounts_and_configuration() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (grant, _) = grant_with_code(&store, &tenant_id, &user_id, now() - 1).await;

        store.purge_expired().await.expect("purge");

        assert_eq!(rows(&store, "grants", "id", &grant.id).await, 1);
        assert_eq!(rows(&store, "users", "id", &user_id).await, 1);
        assert_eq!(rows(&store, "tenants", "id", &tenant_id).await, 1);
    }
}
