//! Tenants: one row per subdomain, with its immutable ID, spec and owner; deleting one removes
//! everything stored under it.

use sqlx::any::AnyRow;

use super::{
    Document, Store, StoreError, integer, now, owned_by_another, owner_column, owner_json,
    query_error, text,
};
use crate::contract::owner::Claim;

impl Store {
    fn tenant_from_row(row: &AnyRow) -> Result<Document, StoreError> {
        Ok(Document {
            tenant_id: text(row, "id")?,
            key: text(row, "subdomain")?,
            spec: text(row, "spec")?,
            created_at: integer(row, "created_at")?,
            updated_at: integer(row, "updated_at")?,
            owner: owner_column(row)?,
        })
    }

    /// Reads a tenant by subdomain from the database (the cached read is [`Store::tenant`]).
    pub(super) async fn load_tenant(
        &self,
        subdomain: &str,
    ) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT id, subdomain, spec, created_at, updated_at, owner FROM tenants WHERE subdomain = $1",
        )
        .bind(subdomain)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read a tenant"))?;
        row.as_ref().map(Self::tenant_from_row).transpose()
    }

    /// Lists all tenants ordered by subdomain.
    ///
    /// # Errors
    /// A failed query.
    pub async fn tenants(&self) -> Result<Vec<Document>, StoreError> {
        sqlx::query(
            "SELECT id, subdomain, spec, created_at, updated_at, owner FROM tenants ORDER BY subdomain",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("list tenants"))?
        .iter()
        .map(Self::tenant_from_row)
        .collect()
    }

    /// Creates or replaces a tenant's spec. Returns the stored row and whether it was created.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `requested_id` differs from the stored tenant ID or is
    /// used by another tenant; [`StoreError::OwnedByAnother`] when `claim` may not write the
    /// stored tenant; otherwise a failed query.
    pub async fn put_tenant(
        &self,
        subdomain: &str,
        requested_id: Option<&str>,
        spec: &str,
        claim: &Claim,
    ) -> Result<(Document, bool), StoreError> {
        let now = now();
        if let Some(existing) = self.load_tenant(subdomain).await? {
            if requested_id.is_some_and(|id| id != existing.tenant_id) {
                return Err(StoreError::Conflict(format!(
                    "tenantId is immutable: tenant {subdomain} has ID {}",
                    existing.tenant_id
                )));
            }
            let stored = self.update_tenant(subdomain, spec, claim, now).await?;
            return Ok((stored, false));
        }
        let id = requested_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let stored = self.insert_tenant(&id, subdomain, spec, claim, now).await?;
        Ok((stored, true))
    }

    /// Replaces the spec of an existing tenant if `claim` may write it.
    async fn update_tenant(
        &self,
        subdomain: &str,
        spec: &str,
        claim: &Claim,
        now: i64,
    ) -> Result<Document, StoreError> {
        // The owner condition is part of the UPDATE, so a concurrent claim cannot slip in
        // between a check and the write.
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        let updated = sqlx::query(
            "UPDATE tenants SET spec = $1, updated_at = $2, owner_uid = $4, owner = $5 \
             WHERE subdomain = $3 AND (owner_uid IS NULL OR owner_uid = $4 OR owner_uid = $6)",
        )
        .bind(spec)
        .bind(now)
        .bind(subdomain)
        .bind(claim.owner_uid())
        .bind(owner_json(claim))
        .bind(claim.replaces.as_deref())
        .execute(&mut *transaction)
        .await
        .map_err(query_error("update a tenant"))?;
        Self::bump_config_version(&mut transaction).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a tenant update"))?;
        self.config_written();
        let stored = self.stored_tenant(subdomain).await?;
        if updated.rows_affected() == 0 {
            return Err(owned_by_another(format!("tenant {subdomain}"), &stored));
        }
        Ok(stored)
    }

    /// Creates a tenant with ID `id`.
    async fn insert_tenant(
        &self,
        id: &str,
        subdomain: &str,
        spec: &str,
        claim: &Claim,
        now: i64,
    ) -> Result<Document, StoreError> {
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, subdomain, spec, created_at, updated_at, owner_uid, owner) \
             VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(id)
        .bind(subdomain)
        .bind(spec)
        .bind(now)
        .bind(claim.owner_uid())
        .bind(owner_json(claim))
        .execute(&mut *transaction)
        .await;
        match inserted {
            Ok(_) => {
                Self::bump_config_version(&mut transaction).await?;
                transaction
                    .commit()
                    .await
                    .map_err(query_error("commit a new tenant"))?;
                self.config_written();
                self.stored_tenant(subdomain).await
            }
            Err(error) if StoreError::is_unique_violation(&error) => Err(StoreError::Conflict(
                format!("tenant {subdomain} or tenant ID {id} already exists"),
            )),
            Err(source) => Err(StoreError::Query {
                operation: "create a tenant",
                source,
            }),
        }
    }

    /// The tenant just written, which a concurrent deletion may have removed again.
    async fn stored_tenant(&self, subdomain: &str) -> Result<Document, StoreError> {
        self.load_tenant(subdomain).await?.ok_or_else(|| {
            StoreError::Conflict(format!("tenant {subdomain} was deleted concurrently"))
        })
    }

    /// Deletes a tenant and everything in it. Returns whether it existed.
    ///
    /// # Errors
    /// [`StoreError::OwnedByAnother`] when `claim` may not delete it; a failed query.
    pub async fn delete_tenant(&self, subdomain: &str, claim: &Claim) -> Result<bool, StoreError> {
        let Some(tenant) = self.load_tenant(subdomain).await? else {
            return Ok(false);
        };
        if !claim.may_write(tenant.owner.as_ref()) {
            return Err(owned_by_another(format!("tenant {subdomain}"), &tenant));
        }
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        // Children first, so deletion does not depend on foreign-key enforcement settings.
        for statement in [
            "DELETE FROM authorization_codes WHERE grant_id IN (SELECT id FROM grants WHERE tenant_id = $1)",
            "DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE tenant_id = $1)",
            "DELETE FROM grants WHERE tenant_id = $1",
            "DELETE FROM sessions WHERE tenant_id = $1",
            "DELETE FROM authorization_requests WHERE tenant_id = $1",
            "DELETE FROM users WHERE tenant_id = $1",
            "DELETE FROM signing_keys WHERE tenant_id = $1",
            "DELETE FROM clients WHERE tenant_id = $1",
            "DELETE FROM user_flows WHERE tenant_id = $1",
            "DELETE FROM brandings WHERE tenant_id = $1",
            "DELETE FROM smtp_settings WHERE tenant_id = $1",
            "DELETE FROM passcode_challenges WHERE tenant_id = $1",
            "DELETE FROM sign_in_throttle WHERE tenant_id = $1",
            "DELETE FROM tenants WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(&tenant.tenant_id)
                .execute(&mut *transaction)
                .await
                .map_err(query_error("delete a tenant"))?;
        }
        Self::bump_config_version(&mut transaction).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a tenant deletion"))?;
        self.config_written();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{
        self, claim, grant_with_code, rows, unique_id, unique_subdomain,
    };
    use crate::runtime::store::{
        ChallengeRecord, Kind, SessionRecord, SigningKeyRecord, key_state,
    };

    fn owned_by(result: Result<impl std::fmt::Debug, StoreError>, uid: &str) -> bool {
        matches!(result, Err(StoreError::OwnedByAnother { owner, .. }) if owner.uid == uid)
    }

    #[tokio::test]
    async fn putting_a_new_subdomain_creates_the_tenant_and_putting_it_again_updates_it() {
        let store = test_support::open().await;
        let subdomain = unique_subdomain();
        let id = unique_id();

        let (created, was_created) = store
            .put_tenant(&subdomain, Some(&id), r#"{"v":1}"#, &Claim::default())
            .await
            .expect("create");
        let (updated, was_created_again) = store
            .put_tenant(&subdomain, None, r#"{"v":2}"#, &Claim::default())
            .await
            .expect("update");

        assert!(was_created && !was_created_again);
        assert_eq!(
            (
                created.tenant_id.as_str(),
                created.key.as_str(),
                created.spec.as_str()
            ),
            (id.as_str(), subdomain.as_str(), r#"{"v":1}"#)
        );
        assert_eq!(
            (updated.tenant_id.as_str(), updated.spec.as_str()),
            (id.as_str(), r#"{"v":2}"#)
        );
        assert_eq!(updated.created_at, created.created_at);
        let read = store
            .tenant(&subdomain)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.spec, r#"{"v":2}"#);
        assert!(
            store
                .tenant(&unique_subdomain())
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_tenant_without_a_requested_id_gets_a_fresh_one() {
        let store = test_support::open().await;

        let (first, _) = store
            .put_tenant(&unique_subdomain(), None, "{}", &Claim::default())
            .await
            .expect("create");
        let (second, _) = store
            .put_tenant(&unique_subdomain(), None, "{}", &Claim::default())
            .await
            .expect("create");

        assert!(uuid::Uuid::parse_str(&first.tenant_id).is_ok());
        assert_ne!(first.tenant_id, second.tenant_id);
    }

    #[tokio::test]
    async fn tenants_are_listed_by_subdomain() {
        let store = test_support::open().await;
        let prefix = unique_subdomain();
        for subdomain in ["b", "c", "a"] {
            store
                .put_tenant(
                    &format!("{prefix}{subdomain}"),
                    None,
                    "{}",
                    &Claim::default(),
                )
                .await
                .expect("create");
        }

        let tenants = store.tenants().await.expect("list");

        let ours: Vec<_> = tenants
            .iter()
            .filter_map(|tenant| tenant.key.strip_prefix(&prefix))
            .collect();
        assert_eq!(ours, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_tenant_keeps_its_id_and_no_two_tenants_share_one() {
        let store = test_support::open().await;
        let subdomain = unique_subdomain();
        let id = unique_id();
        store
            .put_tenant(&subdomain, Some(&id), "{}", &Claim::default())
            .await
            .expect("create");

        let changed = store
            .put_tenant(&subdomain, Some(&unique_id()), "{}", &Claim::default())
            .await;
        let reused = store
            .put_tenant(&unique_subdomain(), Some(&id), "{}", &Claim::default())
            .await;

        assert!(
            matches!(changed, Err(StoreError::Conflict(message)) if message.contains("immutable"))
        );
        assert!(
            matches!(reused, Err(StoreError::Conflict(message)) if message.contains("already exists"))
        );
    }

    #[tokio::test]
    async fn only_the_owner_or_its_named_successor_may_replace_or_delete_a_tenant() {
        let store = test_support::open().await;
        let subdomain = unique_subdomain();
        let (unowned, _) = store
            .put_tenant(&subdomain, None, "{}", &Claim::default())
            .await
            .expect("create without owner");
        assert_eq!(unowned.owner, None);
        let (claimed, _) = store
            .put_tenant(&subdomain, None, "{}", &claim("first"))
            .await
            .expect("the first owned write claims it");
        assert_eq!(claimed.owner, claim("first").owner);

        let put = |claim: Claim| {
            let (store, subdomain) = (&store, &subdomain);
            async move { store.put_tenant(subdomain, None, "{}", &claim).await }
        };
        assert!(owned_by(put(claim("other")).await, "first"));
        assert!(owned_by(put(Claim::default()).await, "first"));
        assert!(owned_by(
            store.delete_tenant(&subdomain, &claim("other")).await,
            "first"
        ));

        let successor = Claim {
            replaces: Some("first".into()),
            ..claim("successor")
        };
        let (taken, _) = put(successor.clone()).await.expect("take over");
        assert_eq!(taken.owner, successor.owner);
        assert!(
            store
                .delete_tenant(&subdomain, &successor)
                .await
                .expect("delete")
        );
        assert!(
            !store
                .delete_tenant(&subdomain, &successor)
                .await
                .expect("delete again")
        );
    }

    /// Stores one row of every kind under the tenant; returns (table, key column, key).
    async fn fill(store: &Store, tenant_id: &str) -> Vec<(&'static str, &'static str, String)> {
        let later = now() + 600;
        let user_id = test_support::user(store, tenant_id).await;
        let (grant, code_digest) = grant_with_code(store, tenant_id, &user_id, later).await;
        let (refresh_digest, session_id, request_id) = (unique_id(), unique_id(), unique_id());
        store
            .create_refresh_token(&grant.id, &refresh_digest, later)
            .await
            .expect("refresh");
        let session = SessionRecord {
            id: session_id.clone(),
            user_id: user_id.clone(),
            auth_time: 0,
        };
        store
            .create_session(tenant_id, &session, &unique_id(), later)
            .await
            .expect("session");
        store
            .create_authorization_request(tenant_id, &request_id, "{}", later)
            .await
            .expect("request");
        let challenge = ChallengeRecord {
            id: unique_id(),
            request_id: request_id.clone(),
            purpose: "mfa".into(),
            email: "ann@example.com".into(),
            code_digest: "digest".into(),
            payload: "{}".into(),
            attempts: 0,
            sent_at: 0,
            expires_at: later,
            used_at: None,
        };
        store
            .create_challenge(tenant_id, &challenge)
            .await
            .expect("challenge");
        store
            .record_failure(tenant_id, "ip:192.0.2.1", 5, later)
            .await
            .expect("failure");
        let key = SigningKeyRecord {
            kid: unique_id(),
            algorithm: "ES256".into(),
            state: key_state::CURRENT.into(),
            sealed_private_key: "sealed".into(),
            public_jwk: "{}".into(),
            created_at: 0,
            retire_after: None,
        };
        store
            .insert_signing_key(tenant_id, &key)
            .await
            .expect("key");
        for kind in [Kind::Client, Kind::UserFlow, Kind::Branding, Kind::Smtp] {
            store
                .put_document(kind, tenant_id, tenant_id, "{}", None, &Claim::default())
                .await
                .expect("document");
        }
        vec![
            ("users", "id", user_id),
            ("grants", "id", grant.id),
            ("authorization_codes", "code_digest", code_digest),
            ("refresh_tokens", "token_digest", refresh_digest),
            ("sessions", "id", session_id),
            ("authorization_requests", "id", request_id),
            ("passcode_challenges", "id", challenge.id),
            ("signing_keys", "kid", key.kid),
            ("sign_in_throttle", "tenant_id", tenant_id.to_string()),
            ("clients", "tenant_id", tenant_id.to_string()),
            ("user_flows", "tenant_id", tenant_id.to_string()),
            ("brandings", "tenant_id", tenant_id.to_string()),
            ("smtp_settings", "tenant_id", tenant_id.to_string()),
            ("tenants", "id", tenant_id.to_string()),
        ]
    }

    #[tokio::test]
    async fn deleting_a_tenant_removes_everything_stored_under_it_and_nothing_else() {
        let store = test_support::open().await;
        let subdomain = unique_subdomain();
        let (doomed, _) = store
            .put_tenant(&subdomain, None, "{}", &Claim::default())
            .await
            .expect("create");
        let kept = test_support::tenant(&store).await;
        let doomed_rows = fill(&store, &doomed.tenant_id).await;
        let kept_rows = fill(&store, &kept).await;

        assert!(
            store
                .delete_tenant(&subdomain, &Claim::default())
                .await
                .expect("delete")
        );

        for (table, column, key) in &doomed_rows {
            assert_eq!(
                rows(&store, table, column, key).await,
                0,
                "{table} of the deleted tenant"
            );
        }
        for (table, column, key) in &kept_rows {
            assert_eq!(
                rows(&store, table, column, key).await,
                1,
                "{table} of another tenant"
            );
        }
    }
}
