//! Customer accounts: creation (one per email address and tenant), look-up and password
//! changes.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;

use super::{Store, StoreError, integer, json_column, now, optional_text, query_error, text};

/// A customer account.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Object ID (the `oid` and `sub` claims).
    pub id: String,
    /// Normalised email address.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name, if collected.
    pub display_name: Option<String>,
    /// Consecutive failed sign-ins.
    pub failed_sign_ins: i64,
    /// Locked until this time (Unix seconds), 0 when not locked.
    pub locked_until: i64,
    /// Other attributes collected at sign-up, by attribute name.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Consents given at sign-up (ticked checkboxes such as terms of use), by attribute
    /// name, with their time (Unix seconds).
    pub consents: BTreeMap<String, i64>,
}

impl Store {
    fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
        Ok(UserRecord {
            id: text(row, "id")?,
            email: text(row, "email")?,
            password_hash: text(row, "password_hash")?,
            display_name: optional_text(row, "display_name")?,
            failed_sign_ins: integer(row, "failed_sign_ins")?,
            locked_until: integer(row, "locked_until")?,
            attributes: json_column(row, "attributes")?,
            consents: json_column(row, "consents")?,
        })
    }

    const USER_COLUMNS: &str = "id, email, password_hash, display_name, failed_sign_ins, locked_until, attributes, consents";

    /// Creates a user.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the email is already registered in the tenant.
    pub async fn create_user(&self, tenant_id: &str, user: &UserRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO users (id, tenant_id, email, password_hash, display_name, failed_sign_ins, locked_until, created_at, attributes, consents) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8)",
        )
        .bind(&user.id)
        .bind(tenant_id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.display_name.as_deref())
        .bind(now())
        .bind(serde_json::to_string(&user.attributes).unwrap_or_else(|_| "{}".to_string()))
        .bind(serde_json::to_string(&user.consents).unwrap_or_else(|_| "{}".to_string()))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if StoreError::is_unique_violation(&error) => Err(StoreError::Conflict(
                "an account with this email address already exists".to_string(),
            )),
            Err(source) => Err(StoreError::Query {
                operation: "create a user",
                source,
            }),
        }
    }

    /// Finds a user by normalised email.
    ///
    /// # Errors
    /// A failed query.
    pub async fn user_by_email(
        &self,
        tenant_id: &str,
        email: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM users WHERE tenant_id = $1 AND email = $2",
            Self::USER_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("find a user"))?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// Finds a user by ID.
    ///
    /// # Errors
    /// A failed query.
    pub async fn user(&self, tenant_id: &str, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM users WHERE tenant_id = $1 AND id = $2",
            Self::USER_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("read a user"))?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    /// Replaces a user's password hash.
    ///
    /// # Errors
    /// A failed query.
    pub async fn set_password(
        &self,
        tenant_id: &str,
        user_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(password_hash)
            .bind(tenant_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(query_error("set a password"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{self, unique_id, user_record};

    #[tokio::test]
    async fn an_account_is_found_by_email_and_by_id_with_everything_collected() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user = user_record("ann@example.com");
        store.create_user(&tenant_id, &user).await.expect("create");

        for found in [
            store.user_by_email(&tenant_id, "ann@example.com").await,
            store.user(&tenant_id, &user.id).await,
        ] {
            let found = found.expect("read").expect("found");
            assert_eq!(
                (
                    found.id.as_str(),
                    found.email.as_str(),
                    found.password_hash.as_str(),
                    found.display_name.as_deref(),
                    found.failed_sign_ins,
                    found.locked_until,
                ),
                (
                    user.id.as_str(),
                    "ann@example.com",
                    user.password_hash.as_str(),
                    Some("Ann"),
                    0,
                    0
                )
            );
            assert_eq!(found.attributes, user.attributes);
            assert_eq!(found.consents, user.consents);
        }
        assert!(
            store
                .user_by_email(&tenant_id, "bob@example.com")
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .user(&tenant_id, &unique_id())
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_email_address_registers_once_per_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        store
            .create_user(&tenant_id, &user_record("ann@example.com"))
            .await
            .expect("create");

        assert!(matches!(
            store.create_user(&tenant_id, &user_record("ann@example.com")).await,
            Err(StoreError::Conflict(message)) if message.contains("already exists")
        ));
        store
            .create_user(&other_tenant, &user_record("ann@example.com"))
            .await
            .expect("the same address in another tenant is another account");
    }

    #[tokio::test]
    async fn an_account_is_invisible_from_another_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        let user = user_record("ann@example.com");
        store.create_user(&tenant_id, &user).await.expect("create");

        assert!(
            store
                .user(&other_tenant, &user.id)
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .user_by_email(&other_tenant, "ann@example.com")
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_new_password_replaces_the_old_one_in_its_tenant_only() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        let user = user_record("ann@example.com");
        store.create_user(&tenant_id, &user).await.expect("create");

        store
            .set_password(&other_tenant, &user.id, "$argon2id$intruder")
            .await
            .expect("set elsewhere");
        let unchanged = store
            .user(&tenant_id, &user.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(unchanged.password_hash, user.password_hash);

        store
            .set_password(&tenant_id, &user.id, "$argon2id$new")
            .await
            .expect("set");
        let changed = store
            .user(&tenant_id, &user.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(changed.password_hash, "$argon2id$new");
    }
}
