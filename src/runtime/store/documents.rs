//! Configuration objects of a tenant (clients, user flows, branding, SMTP settings) stored as
//! JSON specs keyed by tenant and name, with their owner enforced on every write.

use sqlx::any::AnyRow;

use super::{
    Store, StoreError, integer, now, owned_by_another, owner_column, owner_json, query_error, text,
};
use crate::contract::owner::{Claim, Owner};

/// A stored configuration object (tenant, client, user flow or branding).
#[derive(Clone, Debug)]
pub struct Document {
    /// The tenant it belongs to (its own ID for a tenant).
    pub tenant_id: String,
    /// Its key within the tenant (subdomain, client ID, flow name, or empty for branding).
    pub key: String,
    /// The spec as JSON.
    pub spec: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last update time (Unix seconds).
    pub updated_at: i64,
    /// The Kubernetes object that created it, when recorded (not for SMTP settings).
    pub owner: Option<Owner>,
}

/// The configuration tables keyed by tenant and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Clients, keyed by client ID.
    Client,
    /// User flows, keyed by name.
    UserFlow,
    /// Branding, one per tenant (empty key).
    Branding,
    /// SMTP settings, one per tenant (keyed by the tenant ID, like branding).
    Smtp,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Client => "clients",
            Kind::UserFlow => "user_flows",
            Kind::Branding => "brandings",
            Kind::Smtp => "smtp_settings",
        }
    }

    /// The object in words, for messages: `client 1f2e…`, `user flow shop.sign-in`.
    fn describe(self, key: &str) -> String {
        match self {
            Kind::Client => format!("client {key}"),
            Kind::UserFlow => format!("user flow {key}"),
            Kind::Branding => "the tenant's branding".to_string(),
            Kind::Smtp => "the tenant's SMTP settings".to_string(),
        }
    }

    fn key_column(self) -> &'static str {
        match self {
            Kind::Client => "client_id",
            Kind::UserFlow => "name",
            // Branding has one row per tenant; its "key" is the tenant ID again.
            Kind::Branding | Kind::Smtp => "tenant_id",
        }
    }
}

impl Store {
    fn document_from_row(kind: Kind, row: &AnyRow) -> Result<Document, StoreError> {
        Ok(Document {
            tenant_id: text(row, "tenant_id")?,
            key: text(row, kind.key_column())?,
            spec: text(row, "spec")?,
            created_at: integer(row, "created_at")?,
            updated_at: integer(row, "updated_at")?,
            owner: owner_column(row)?,
        })
    }

    fn columns(kind: Kind) -> String {
        match kind {
            Kind::Smtp => "tenant_id, spec, created_at, updated_at".to_string(),
            Kind::Branding => "tenant_id, spec, created_at, updated_at, owner".to_string(),
            _ => format!(
                "tenant_id, {}, spec, created_at, updated_at, owner",
                kind.key_column()
            ),
        }
    }

    /// Reads one document of a tenant from the database (the cached read is
    /// [`Store::document`]).
    pub(super) async fn load_document(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
    ) -> Result<Option<Document>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND {} = $2",
            Self::columns(kind),
            kind.table(),
            kind.key_column()
        );
        let row = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("read a configuration object"))?;
        row.as_ref()
            .map(|row| Self::document_from_row(kind, row))
            .transpose()
    }

    /// Lists the documents of a tenant from the database, ordered by key (the cached read is
    /// [`Store::documents`]).
    pub(super) async fn load_documents(
        &self,
        kind: Kind,
        tenant_id: &str,
    ) -> Result<Vec<Document>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 ORDER BY {}",
            Self::columns(kind),
            kind.table(),
            kind.key_column()
        );
        sqlx::query(&sql)
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("list configuration objects"))?
            .iter()
            .map(|row| Self::document_from_row(kind, row))
            .collect()
    }

    /// Creates or replaces a document. Returns the stored row and whether it was created.
    /// `identifier_uri` is indexed for clients and ignored otherwise.
    ///
    /// # Errors
    /// [`StoreError::OwnedByAnother`] when `claim` may not write the stored document (SMTP
    /// settings have no owner of their own: the tenant's decides); a failed query.
    pub async fn put_document(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
        spec: &str,
        identifier_uri: Option<&str>,
        claim: &Claim,
    ) -> Result<(Document, bool), StoreError> {
        let existed = self.load_document(kind, tenant_id, key).await?.is_some();
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        let Some((sql, binds_key, binds_identifier_uri)) = Self::owned_upsert(kind) else {
            sqlx::query(
                "INSERT INTO smtp_settings (tenant_id, spec, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (tenant_id) DO UPDATE \
                 SET spec = excluded.spec, updated_at = excluded.updated_at",
            )
            .bind(tenant_id)
            .bind(spec)
            .bind(now())
            .execute(&mut *transaction)
            .await
            .map_err(query_error("store a configuration object"))?;
            self.commit_config(transaction).await?;
            return self.stored_after_put(kind, tenant_id, key, existed).await;
        };
        let mut query = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(spec)
            .bind(now())
            .bind(claim.owner_uid())
            .bind(owner_json(claim))
            .bind(claim.replaces.as_deref());
        if binds_key {
            query = query.bind(key);
        }
        if binds_identifier_uri {
            query = query.bind(identifier_uri);
        }
        let written = query
            .execute(&mut *transaction)
            .await
            .map_err(query_error("store a configuration object"))?;
        self.commit_config(transaction).await?;
        if written.rows_affected() == 0
            && let Some(stored) = self.load_document(kind, tenant_id, key).await?
        {
            return Err(owned_by_another(kind.describe(key), &stored));
        }
        self.stored_after_put(kind, tenant_id, key, existed).await
    }

    /// The upsert of an owned configuration object, with whether it binds the key ($7) and the
    /// identifier URI ($8); `None` for SMTP settings, which have no owner of their own.
    ///
    /// The owner condition is part of the upsert, so two writers cannot both pass a check made
    /// before the write: a refused update affects no row.
    fn owned_upsert(kind: Kind) -> Option<(String, bool, bool)> {
        let owner_condition = |table: &str| {
            format!(
                " WHERE {table}.owner_uid IS NULL OR {table}.owner_uid = excluded.owner_uid \
                 OR {table}.owner_uid = $6"
            )
        };
        let (sql, table, binds_key, binds_identifier_uri) = match kind {
            Kind::Smtp => return None,
            Kind::Client => (
                "INSERT INTO clients (tenant_id, spec, created_at, updated_at, owner_uid, owner, client_id, identifier_uri) \
                 VALUES ($1, $2, $3, $3, $4, $5, $7, $8) \
                 ON CONFLICT (tenant_id, client_id) DO UPDATE \
                 SET identifier_uri = excluded.identifier_uri, spec = excluded.spec, updated_at = excluded.updated_at, \
                 owner_uid = excluded.owner_uid, owner = excluded.owner",
                "clients",
                true,
                true,
            ),
            Kind::UserFlow => (
                "INSERT INTO user_flows (tenant_id, spec, created_at, updated_at, owner_uid, owner, name) \
                 VALUES ($1, $2, $3, $3, $4, $5, $7) \
                 ON CONFLICT (tenant_id, name) DO UPDATE \
                 SET spec = excluded.spec, updated_at = excluded.updated_at, \
                 owner_uid = excluded.owner_uid, owner = excluded.owner",
                "user_flows",
                true,
                false,
            ),
            Kind::Branding => (
                "INSERT INTO brandings (tenant_id, spec, created_at, updated_at, owner_uid, owner) \
                 VALUES ($1, $2, $3, $3, $4, $5) \
                 ON CONFLICT (tenant_id) DO UPDATE \
                 SET spec = excluded.spec, updated_at = excluded.updated_at, \
                 owner_uid = excluded.owner_uid, owner = excluded.owner",
                "brandings",
                false,
                false,
            ),
        };
        Some((
            format!("{sql}{}", owner_condition(table)),
            binds_key,
            binds_identifier_uri,
        ))
    }

    /// Records the change in the configuration version, commits, and drops the cached copy.
    async fn commit_config(
        &self,
        mut transaction: sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        Self::bump_config_version(&mut transaction).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a configuration change"))?;
        self.config_written();
        Ok(())
    }

    async fn stored_after_put(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
        existed: bool,
    ) -> Result<(Document, bool), StoreError> {
        let stored = self
            .load_document(kind, tenant_id, key)
            .await?
            .ok_or_else(|| {
                StoreError::Conflict("the object was deleted concurrently".to_string())
            })?;
        Ok((stored, !existed))
    }

    /// Deletes a document. Returns whether it existed.
    ///
    /// # Errors
    /// [`StoreError::OwnedByAnother`] when `claim` may not delete it; a failed query.
    pub async fn delete_document(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
        claim: &Claim,
    ) -> Result<bool, StoreError> {
        let owner_condition = match kind {
            Kind::Smtp => "",
            _ => " AND (owner_uid IS NULL OR owner_uid = $3 OR owner_uid = $4)",
        };
        let sql = format!(
            "DELETE FROM {} WHERE tenant_id = $1 AND {} = $2{owner_condition}",
            kind.table(),
            kind.key_column()
        );
        let mut query = sqlx::query(&sql).bind(tenant_id).bind(key);
        if !owner_condition.is_empty() {
            query = query
                .bind(claim.owner_uid())
                .bind(claim.replaces.as_deref());
        }
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        let result = query
            .execute(&mut *transaction)
            .await
            .map_err(query_error("delete a configuration object"))?;
        self.commit_config(transaction).await?;
        if result.rows_affected() == 0
            && let Some(stored) = self.load_document(kind, tenant_id, key).await?
        {
            return Err(owned_by_another(kind.describe(key), &stored));
        }
        Ok(result.rows_affected() > 0)
    }

    /// Finds a client of a tenant by its exposed API's identifier URI in the database (the
    /// cached read is [`Store::client_by_identifier_uri`]).
    pub(super) async fn load_client_by_identifier_uri(
        &self,
        tenant_id: &str,
        identifier_uri: &str,
    ) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, client_id, spec, created_at, updated_at, owner FROM clients \
             WHERE tenant_id = $1 AND identifier_uri = $2",
        )
        .bind(tenant_id)
        .bind(identifier_uri)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("find a client by identifier URI"))?;
        row.as_ref()
            .map(|row| Self::document_from_row(Kind::Client, row))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{self, claim};

    fn owned_by(result: Result<impl std::fmt::Debug, StoreError>, uid: &str) -> bool {
        matches!(result, Err(StoreError::OwnedByAnother { owner, .. }) if owner.uid == uid)
    }

    #[tokio::test]
    async fn putting_a_document_creates_it_then_replaces_it() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let owner = claim("flow-uid");

        let (created, was_created) = store
            .put_document(
                Kind::UserFlow,
                &tenant_id,
                "sign-in",
                r#"{"v":1}"#,
                None,
                &owner,
            )
            .await
            .expect("create");
        let (replaced, was_created_again) = store
            .put_document(
                Kind::UserFlow,
                &tenant_id,
                "sign-in",
                r#"{"v":2}"#,
                None,
                &owner,
            )
            .await
            .expect("replace");

        assert!(was_created && !was_created_again);
        assert_eq!(
            (
                created.tenant_id.as_str(),
                created.key.as_str(),
                created.spec.as_str()
            ),
            (tenant_id.as_str(), "sign-in", r#"{"v":1}"#)
        );
        assert_eq!(replaced.spec, r#"{"v":2}"#);
        assert_eq!(replaced.created_at, created.created_at);
        assert_eq!(replaced.owner, owner.owner);
        let read = store
            .document(Kind::UserFlow, &tenant_id, "sign-in")
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.spec, r#"{"v":2}"#);
    }

    #[tokio::test]
    async fn documents_are_listed_by_key_within_their_kind_and_tenant() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        for (kind, tenant, key) in [
            (Kind::Client, &tenant_id, "b-client"),
            (Kind::Client, &tenant_id, "a-client"),
            (Kind::Client, &other_tenant, "c-client"),
            (Kind::UserFlow, &tenant_id, "flow"),
        ] {
            store
                .put_document(kind, tenant, key, "{}", None, &Claim::default())
                .await
                .expect("put");
        }

        let clients = store
            .documents(Kind::Client, &tenant_id)
            .await
            .expect("list");

        let keys: Vec<_> = clients.iter().map(|client| client.key.as_str()).collect();
        assert_eq!(keys, ["a-client", "b-client"]);
        assert!(
            store
                .document(Kind::Client, &other_tenant, "a-client")
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_client_is_found_by_the_identifier_uri_it_currently_exposes() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let put = |identifier_uri| {
            let (store, tenant_id) = (&store, &tenant_id);
            async move {
                store
                    .put_document(
                        Kind::Client,
                        tenant_id,
                        "api",
                        "{}",
                        identifier_uri,
                        &Claim::default(),
                    )
                    .await
                    .expect("put")
            }
        };
        put(Some("api://orders")).await;
        let found = store
            .client_by_identifier_uri(&tenant_id, "api://orders")
            .await
            .expect("find");
        assert_eq!(found.map(|client| client.key).as_deref(), Some("api"));

        put(Some("api://orders-v2")).await;

        let by_old = store
            .client_by_identifier_uri(&tenant_id, "api://orders")
            .await;
        assert!(by_old.expect("find").is_none());
        let by_new = store
            .client_by_identifier_uri(&tenant_id, "api://orders-v2")
            .await;
        assert!(by_new.expect("find").is_some());
    }

    #[tokio::test]
    async fn branding_and_smtp_settings_are_one_per_tenant_keyed_by_its_id() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        for kind in [Kind::Branding, Kind::Smtp] {
            store
                .put_document(
                    kind,
                    &tenant_id,
                    &tenant_id,
                    r#"{"v":1}"#,
                    None,
                    &claim("a"),
                )
                .await
                .expect("create");
            let (stored, created) = store
                .put_document(
                    kind,
                    &tenant_id,
                    &tenant_id,
                    r#"{"v":2}"#,
                    None,
                    &claim("a"),
                )
                .await
                .expect("replace");
            assert!(!created);
            assert_eq!(
                (stored.key.as_str(), stored.spec.as_str()),
                (tenant_id.as_str(), r#"{"v":2}"#)
            );
            assert_eq!(
                store.documents(kind, &tenant_id).await.expect("list").len(),
                1
            );
        }
        let smtp = store.document(Kind::Smtp, &tenant_id, &tenant_id).await;
        assert_eq!(
            smtp.expect("read").expect("found").owner,
            None,
            "SMTP settings have no owner"
        );
    }

    #[tokio::test]
    async fn only_the_owner_or_its_named_successor_may_replace_or_delete_a_client() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let put = |spec: &'static str, claim: Claim| {
            let (store, tenant_id) = (&store, &tenant_id);
            async move {
                store
                    .put_document(Kind::Client, tenant_id, "web", spec, None, &claim)
                    .await
            }
        };
        put(r#"{"v":1}"#, claim("victim")).await.expect("create");

        assert!(owned_by(
            put(r#"{"v":"thief"}"#, claim("thief")).await,
            "victim"
        ));
        assert!(owned_by(
            put(r#"{"v":"anonymous"}"#, Claim::default()).await,
            "victim"
        ));
        assert!(owned_by(
            store
                .delete_document(Kind::Client, &tenant_id, "web", &claim("thief"))
                .await,
            "victim"
        ));
        let kept = store.document(Kind::Client, &tenant_id, "web").await;
        assert_eq!(kept.expect("read").expect("found").spec, r#"{"v":1}"#);

        let successor = Claim {
            replaces: Some("victim".into()),
            ..claim("successor")
        };
        put(r#"{"v":2}"#, successor.clone())
            .await
            .expect("take over");
        assert!(owned_by(
            put(r#"{"v":3}"#, claim("victim")).await,
            "successor"
        ));
        assert!(
            store
                .delete_document(Kind::Client, &tenant_id, "web", &successor)
                .await
                .expect("delete")
        );
    }

    #[tokio::test]
    async fn a_refusal_names_the_object_and_its_owner() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        store
            .put_document(
                Kind::UserFlow,
                &tenant_id,
                "shop.sign-in",
                "{}",
                None,
                &claim("a"),
            )
            .await
            .expect("create");

        let refused = store
            .put_document(
                Kind::UserFlow,
                &tenant_id,
                "shop.sign-in",
                "{}",
                None,
                &claim("b"),
            )
            .await
            .expect_err("refused");

        assert!(
            refused
                .to_string()
                .starts_with("user flow shop.sign-in belongs to")
        );
    }

    #[tokio::test]
    async fn an_unowned_document_is_claimed_by_its_first_owned_write() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        store
            .put_document(
                Kind::Branding,
                &tenant_id,
                &tenant_id,
                "{}",
                None,
                &Claim::default(),
            )
            .await
            .expect("create without owner");

        let (claimed, _) = store
            .put_document(
                Kind::Branding,
                &tenant_id,
                &tenant_id,
                "{}",
                None,
                &claim("a"),
            )
            .await
            .expect("claim");

        assert_eq!(claimed.owner, claim("a").owner);
        assert!(owned_by(
            store
                .put_document(
                    Kind::Branding,
                    &tenant_id,
                    &tenant_id,
                    "{}",
                    None,
                    &Claim::default()
                )
                .await,
            "a"
        ));
    }

    #[tokio::test]
    async fn deleting_reports_whether_the_document_existed() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        for kind in [Kind::Client, Kind::Smtp] {
            store
                .put_document(kind, &tenant_id, &tenant_id, "{}", None, &Claim::default())
                .await
                .expect("create");
            let anonymous = Claim::default();
            let delete = || store.delete_document(kind, &tenant_id, &tenant_id, &anonymous);

            assert!(delete().await.expect("delete"));
            assert!(!delete().await.expect("delete again"));
            let gone = store.document(kind, &tenant_id, &tenant_id).await;
            assert!(gone.expect("read").is_none());
        }
    }
}
