//! Browser sessions, found by the digest of their cookie secret until they expire.

use super::{Store, StoreError, integer, query_error, text};

/// A browser session.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// Public session ID.
    pub id: String,
    /// The signed-in user.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: i64,
}

impl Store {
    /// Creates a session.
    ///
    /// # Errors
    /// A failed query.
    pub async fn create_session(
        &self,
        tenant_id: &str,
        session: &SessionRecord,
        secret_digest: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, secret_digest, tenant_id, user_id, auth_time, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id)
        .bind(secret_digest)
        .bind(tenant_id)
        .bind(&session.user_id)
        .bind(session.auth_time)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(query_error("create a session"))?;
        Ok(())
    }

    /// Finds an unexpired session of a tenant by the digest of its cookie secret.
    ///
    /// # Errors
    /// A failed query.
    pub async fn session(
        &self,
        tenant_id: &str,
        secret_digest: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, auth_time FROM sessions \
             WHERE tenant_id = $1 AND secret_digest = $2 AND expires_at > $3",
        )
        .bind(tenant_id)
        .bind(secret_digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read a session"))?;
        row.map(|row| {
            Ok(SessionRecord {
                id: text(&row, "id")?,
                user_id: text(&row, "user_id")?,
                auth_time: integer(&row, "auth_time")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    ///
    /// # Errors
    /// A failed query.
    pub async fn delete_session(
        &self,
        tenant_id: &str,
        secret_digest: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND secret_digest = $2")
            .bind(tenant_id)
            .bind(secret_digest)
            .execute(&self.pool)
            .await
            .map_err(query_error("delete a session"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::now;
    use crate::runtime::store::test_support::{self, unique_id};

    fn session_of(user_id: &str) -> SessionRecord {
        SessionRecord {
            id: unique_id(),
            user_id: user_id.to_string(),
            auth_time: now() - 30,
        }
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_digest_until_it_expires() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (live, expired) = (session_of(&user_id), session_of(&user_id));
        let (live_digest, expired_digest) = (unique_id(), unique_id());
        store
            .create_session(&tenant_id, &live, &live_digest, now() + 600)
            .await
            .expect("create");
        store
            .create_session(&tenant_id, &expired, &expired_digest, now() - 1)
            .await
            .expect("create");

        let found = store
            .session(&tenant_id, &live_digest, now())
            .await
            .expect("read")
            .expect("found");
        assert_eq!(
            (found.id.as_str(), found.user_id.as_str(), found.auth_time),
            (live.id.as_str(), user_id.as_str(), live.auth_time)
        );
        assert!(
            store
                .session(&tenant_id, &expired_digest, now())
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .session(&tenant_id, &unique_id(), now())
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_session_cookie_does_not_work_in_another_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let digest = unique_id();
        store
            .create_session(&tenant_id, &session_of(&user_id), &digest, now() + 600)
            .await
            .expect("create");

        assert!(
            store
                .session(&other_tenant, &digest, now())
                .await
                .expect("read")
                .is_none()
        );
        store
            .delete_session(&other_tenant, &digest)
            .await
            .expect("sign out elsewhere");
        assert!(
            store
                .session(&tenant_id, &digest, now())
                .await
                .expect("read")
                .is_some(),
            "signing out of another tenant leaves the session alone"
        );
    }

    #[tokio::test]
    async fn signing_out_ends_the_session() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let digest = unique_id();
        store
            .create_session(&tenant_id, &session_of(&user_id), &digest, now() + 600)
            .await
            .expect("create");

        store
            .delete_session(&tenant_id, &digest)
            .await
            .expect("delete");

        assert!(
            store
                .session(&tenant_id, &digest, now())
                .await
                .expect("read")
                .is_none()
        );
    }
}
