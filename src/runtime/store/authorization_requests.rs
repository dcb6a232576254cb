//! Validated authorization requests waiting while the user signs in.

use super::{Store, StoreError, query_error, text};

impl Store {
    /// Stores a validated authorization request waiting for sign-in.
    ///
    /// # Errors
    /// A failed query.
    pub async fn create_authorization_request(
        &self,
        tenant_id: &str,
        id: &str,
        parameters: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_requests (id, tenant_id, parameters, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(parameters)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(query_error("store an authorization request"))?;
        Ok(())
    }

    /// Reads an unexpired authorization request's parameters.
    ///
    /// # Errors
    /// A failed query.
    pub async fn authorization_request(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT parameters FROM authorization_requests WHERE tenant_id = $1 AND id = $2 AND expires_at > $3",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read an authorization request"))?;
        row.map(|row| text(&row, "parameters")).transpose()
    }

    /// Removes an authorization request once it is answered.
    ///
    /// # Errors
    /// A failed query.
    pub async fn delete_authorization_request(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(query_error("delete an authorization request"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::store::now;
    use crate::runtime::store::test_support::{self, unique_id};

    #[tokio::test]
    async fn a_request_waits_for_sign_in_until_it_expires() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let (waiting, expired) = (unique_id(), unique_id());
        store
            .create_authorization_request(
                &tenant_id,
                &waiting,
                r#"{"client_id":"web"}"#,
                now() + 600,
            )
            .await
            .expect("store");
        store
            .create_authorization_request(&tenant_id, &expired, "{}", now() - 1)
            .await
            .expect("store");

        assert_eq!(
            store
                .authorization_request(&tenant_id, &waiting, now())
                .await
                .expect("read")
                .as_deref(),
            Some(r#"{"client_id":"web"}"#)
        );
        assert_eq!(
            store
                .authorization_request(&tenant_id, &expired, now())
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn a_request_belongs_to_its_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        let id = unique_id();
        store
            .create_authorization_request(&tenant_id, &id, "{}", now() + 600)
            .await
            .expect("store");

        assert_eq!(
            store
                .authorization_request(&other_tenant, &id, now())
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn an_answered_request_is_gone() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let id = unique_id();
        store
            .create_authorization_request(&tenant_id, &id, "{}", now() + 600)
            .await
            .expect("store");

        store
            .delete_authorization_request(&id)
            .await
            .expect("delete");
        store
            .delete_authorization_request(&id)
            .await
            .expect("deleting twice is harmless");

        assert_eq!(
            store
                .authorization_request(&tenant_id, &id, now())
                .await
                .expect("read"),
            None
        );
    }
}
