//! Storage of configuration, accounts and grants in SQLite or PostgreSQL through sqlx.
//!
//! One set of queries serves both databases: they are written in the SQL both understand
//! (`$n` placeholders, `ON CONFLICT`, TEXT and BIGINT columns) and run through sqlx's `Any`
//! driver. Bearer values (codes, refresh tokens, session cookies) are stored as digests only.

use std::collections::BTreeMap;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::contract::owner::{Claim, Owner};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL: expected sqlite:///path/file.db or postgres://…")]
    UnsupportedUrl,
    /// Connecting failed.
    #[error("failed to connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Migrating the schema failed.
    #[error("failed to migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("failed to {operation}: {source}")]
    Query {
        /// What was being done.
        operation: &'static str,
        /// The database error.
        source: sqlx::Error,
    },
    /// A stored JSON document no longer parses (written by another version?).
    #[error("stored {what} is not valid: {reason}")]
    Corrupt {
        /// Which kind of object.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
    /// A uniqueness rule was violated (for example an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// The object belongs to another Kubernetes object than the writer.
    #[error("{what} belongs to {owner}")]
    OwnedByAnother {
        /// The object, for example `client 1f2e…`.
        what: String,
        /// Its recorded owner.
        owner: Box<Owner>,
    },
}

impl StoreError {
    /// Whether the error is a uniqueness violation reported by the database.
    fn is_unique_violation(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Database(database) if database.is_unique_violation())
    }
}

fn query_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { operation, source }
}

/// Current time in Unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

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

/// A signing key row.
#[derive(Clone, Debug)]
pub struct SigningKeyRecord {
    /// Key ID.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub algorithm: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    /// Private key sealed with the key-encryption key.
    pub sealed_private_key: String,
    /// Public JWK as JSON.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: i64,
    /// For retired keys: when they leave the JWKS.
    pub retire_after: Option<i64>,
}

/// Signing key states.
pub mod key_state {
    /// Published in JWKS, not yet used to sign.
    pub const NEXT: &str = "next";
    /// Signs new tokens.
    pub const CURRENT: &str = "current";
    /// Published until `retire_after` so earlier tokens still validate.
    pub const RETIRED: &str = "retired";
}

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

/// A grant: one authorization and its token family.
#[derive(Clone, Debug)]
pub struct GrantRecord {
    /// Grant ID.
    pub id: String,
    /// Tenant ID.
    pub tenant_id: String,
    /// Client the grant was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// Session the grant came from.
    pub session_id: Option<String>,
    /// Granted scope, space-separated.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// When the grant was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// An authorization code row.
#[derive(Clone, Debug)]
pub struct CodeRecord {
    /// The grant the code belongs to.
    pub grant_id: String,
    /// Redirect URI used in the authorization request.
    pub redirect_uri: String,
    /// PKCE S256 challenge, if any.
    pub code_challenge: Option<String>,
    /// OIDC nonce, if any.
    pub nonce: Option<String>,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// Outcome of redeeming a single-use value (code or refresh token).
#[derive(Debug)]
pub enum Redemption<T> {
    /// First use: the value is now spent.
    Redeemed(T),
    /// The value had already been used: a replay.
    Replayed(T),
    /// No such value.
    Unknown,
}

/// A refresh token row.
#[derive(Clone, Debug)]
pub struct RefreshRecord {
    /// The grant (token family).
    pub grant_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// The database, shared by all handlers.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

/// The configuration tables keyed by tenant and name.
#[derive(Clone, Copy, Debug)]
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

fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(column)
        .map_err(query_error("read a text column"))
}

fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(column)
        .map_err(query_error("read a text column"))
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(&text(row, column)?).map_err(|error| StoreError::Corrupt {
        what: "user attributes",
        reason: error.to_string(),
    })
}

/// The `owner` column, absent on tables without one (SMTP settings).
fn owner_column(row: &AnyRow) -> Result<Option<Owner>, StoreError> {
    let Ok(owner) = row.try_get::<Option<String>, _>("owner") else {
        return Ok(None);
    };
    owner
        .map(|owner| {
            serde_json::from_str(&owner).map_err(|error| StoreError::Corrupt {
                what: "owner",
                reason: error.to_string(),
            })
        })
        .transpose()
}

/// The refusal of a write to `document` by someone other than its recorded owner.
fn owned_by_another(what: String, document: &Document) -> StoreError {
    match &document.owner {
        Some(owner) => StoreError::OwnedByAnother {
            what,
            owner: Box::new(owner.clone()),
        },
        None => StoreError::Conflict(format!("{what} was claimed concurrently; retry")),
    }
}

/// The owner as stored in the `owner` column.
fn owner_json(claim: &Claim) -> Option<String> {
    claim
        .owner
        .as_ref()
        .and_then(|owner| serde_json::to_string(owner).ok())
}

fn integer(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(column)
        .map_err(query_error("read an integer column"))
}

fn optional_integer(row: &AnyRow, column: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(query_error("read an integer column"))
}

impl Store {
    /// Connects to `url` (`sqlite:///path/file.db`, created if missing, or
    /// `postgres://user@host:port/db`) and applies the embedded migrations.
    ///
    /// # Errors
    /// An unsupported URL, a connection failure or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}mode=rwc")
        } else if is_sqlite || url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 8 } else { 16 })
            .after_connect(move |connection, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        // WAL lets readers proceed while one writer commits; NORMAL sync is
                        // durable across application crashes in WAL mode.
                        connection.execute("PRAGMA journal_mode = WAL").await?;
                        connection.execute("PRAGMA synchronous = NORMAL").await?;
                        connection.execute("PRAGMA foreign_keys = ON").await?;
                        connection.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        sqlx::migrate!("src/runtime/migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// The query error when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(query_error("reach the database"))
    }

    // ---- tenants -------------------------------------------------------------------------

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

    /// Finds a tenant by subdomain.
    ///
    /// # Errors
    /// A failed query.
    pub async fn tenant(&self, subdomain: &str) -> Result<Option<Document>, StoreError> {
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
        if let Some(existing) = self.tenant(subdomain).await? {
            if requested_id.is_some_and(|id| id != existing.tenant_id) {
                return Err(StoreError::Conflict(format!(
                    "tenantId is immutable: tenant {subdomain} has ID {}",
                    existing.tenant_id
                )));
            }
            // The owner condition is part of the UPDATE, so a concurrent claim cannot slip in
            // between a check and the write.
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
            .execute(&self.pool)
            .await
            .map_err(query_error("update a tenant"))?;
            let stored = self.tenant(subdomain).await?.ok_or_else(|| {
                StoreError::Conflict(format!("tenant {subdomain} was deleted concurrently"))
            })?;
            if updated.rows_affected() == 0 {
                return Err(owned_by_another(format!("tenant {subdomain}"), &stored));
            }
            return Ok((stored, false));
        }
        let id = requested_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, subdomain, spec, created_at, updated_at, owner_uid, owner) \
             VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(&id)
        .bind(subdomain)
        .bind(spec)
        .bind(now)
        .bind(claim.owner_uid())
        .bind(owner_json(claim))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(error) if StoreError::is_unique_violation(&error) => {
                return Err(StoreError::Conflict(format!(
                    "tenant {subdomain} or tenant ID {id} already exists"
                )));
            }
            Err(source) => {
                return Err(StoreError::Query {
                    operation: "create a tenant",
                    source,
                });
            }
        }
        let stored = self.tenant(subdomain).await?.ok_or_else(|| {
            StoreError::Conflict(format!("tenant {subdomain} was deleted concurrently"))
        })?;
        Ok((stored, true))
    }

    /// Deletes a tenant and everything in it. Returns whether it existed.
    ///
    /// # Errors
    /// [`StoreError::OwnedByAnother`] when `claim` may not delete it; a failed query.
    pub async fn delete_tenant(&self, subdomain: &str, claim: &Claim) -> Result<bool, StoreError> {
        let Some(tenant) = self.tenant(subdomain).await? else {
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
        transaction
            .commit()
            .await
            .map_err(query_error("commit a tenant deletion"))?;
        Ok(true)
    }

    // ---- clients, user flows, branding ---------------------------------------------------

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

    /// Reads one document of a tenant.
    ///
    /// # Errors
    /// A failed query.
    pub async fn document(
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

    /// Lists the documents of a tenant, ordered by key.
    ///
    /// # Errors
    /// A failed query.
    pub async fn documents(
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
        let existed = self.document(kind, tenant_id, key).await?.is_some();
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
            .execute(&self.pool)
            .await
            .map_err(query_error("store a configuration object"))?;
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
            .execute(&self.pool)
            .await
            .map_err(query_error("store a configuration object"))?;
        if written.rows_affected() == 0
            && let Some(stored) = self.document(kind, tenant_id, key).await?
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

    async fn stored_after_put(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
        existed: bool,
    ) -> Result<(Document, bool), StoreError> {
        let stored = self.document(kind, tenant_id, key).await?.ok_or_else(|| {
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
        let result = query
            .execute(&self.pool)
            .await
            .map_err(query_error("delete a configuration object"))?;
        if result.rows_affected() == 0
            && let Some(stored) = self.document(kind, tenant_id, key).await?
        {
            return Err(owned_by_another(kind.describe(key), &stored));
        }
        Ok(result.rows_affected() > 0)
    }

    /// Finds a client of a tenant by its exposed API's identifier URI.
    ///
    /// # Errors
    /// A failed query.
    pub async fn client_by_identifier_uri(
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

    // ---- signing keys ----------------------------------------------------------------------

    /// The tenant's signing keys that are still published (next, current and retired keys
    /// not yet past `retire_after`).
    ///
    /// # Errors
    /// A failed query.
    pub async fn signing_keys(&self, tenant_id: &str) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(
            "SELECT kid, algorithm, state, sealed_private_key, public_jwk, created_at, retire_after \
             FROM signing_keys WHERE tenant_id = $1 AND (retire_after IS NULL OR retire_after > $2) \
             ORDER BY created_at, kid",
        )
        .bind(tenant_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await
        .map_err(query_error("read signing keys"))?
        .iter()
        .map(|row| {
            Ok(SigningKeyRecord {
                kid: text(row, "kid")?,
                algorithm: text(row, "algorithm")?,
                state: text(row, "state")?,
                sealed_private_key: text(row, "sealed_private_key")?,
                public_jwk: text(row, "public_jwk")?,
                created_at: integer(row, "created_at")?,
                retire_after: optional_integer(row, "retire_after")?,
            })
        })
        .collect()
    }

    /// Adds a signing key in the given state.
    ///
    /// # Errors
    /// A failed query.
    pub async fn insert_signing_key(
        &self,
        tenant_id: &str,
        key: &SigningKeyRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, tenant_id, algorithm, state, sealed_private_key, public_jwk, created_at, retire_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.kid)
        .bind(tenant_id)
        .bind(&key.algorithm)
        .bind(&key.state)
        .bind(&key.sealed_private_key)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.retire_after)
        .execute(&self.pool)
        .await
        .map_err(query_error("store a signing key"))?;
        Ok(())
    }

    /// Rotates a tenant's keys in one transaction: the current key retires (published until
    /// `retire_after`), the next key becomes current and `new_next` becomes the next key.
    /// Retired keys past their time are removed.
    ///
    /// # Errors
    /// A failed query.
    pub async fn rotate_signing_keys(
        &self,
        tenant_id: &str,
        new_next: &SigningKeyRecord,
        retire_after: i64,
    ) -> Result<(), StoreError> {
        let now = now();
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        sqlx::query(
            "DELETE FROM signing_keys WHERE tenant_id = $1 AND state = $2 AND retire_after <= $3",
        )
        .bind(tenant_id)
        .bind(key_state::RETIRED)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(query_error("remove expired signing keys"))?;
        sqlx::query(
            "UPDATE signing_keys SET state = $1, retire_after = $2 WHERE tenant_id = $3 AND state = $4",
        )
        .bind(key_state::RETIRED)
        .bind(retire_after)
        .bind(tenant_id)
        .bind(key_state::CURRENT)
        .execute(&mut *transaction)
        .await
        .map_err(query_error("retire the current signing key"))?;
        sqlx::query("UPDATE signing_keys SET state = $1 WHERE tenant_id = $2 AND state = $3")
            .bind(key_state::CURRENT)
            .bind(tenant_id)
            .bind(key_state::NEXT)
            .execute(&mut *transaction)
            .await
            .map_err(query_error("activate the next signing key"))?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, tenant_id, algorithm, state, sealed_private_key, public_jwk, created_at, retire_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&new_next.kid)
        .bind(tenant_id)
        .bind(&new_next.algorithm)
        .bind(key_state::NEXT)
        .bind(&new_next.sealed_private_key)
        .bind(&new_next.public_jwk)
        .bind(new_next.created_at)
        .execute(&mut *transaction)
        .await
        .map_err(query_error("store the next signing key"))?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a key rotation"))
    }

    // ---- users and sessions ----------------------------------------------------------------

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
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, auth_time FROM sessions \
             WHERE tenant_id = $1 AND secret_digest = $2 AND expires_at > $3",
        )
        .bind(tenant_id)
        .bind(secret_digest)
        .bind(now())
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

    // ---- authorization requests, grants, codes, refresh tokens -----------------------------

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
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT parameters FROM authorization_requests WHERE tenant_id = $1 AND id = $2 AND expires_at > $3",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now())
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

    /// Creates a grant and its authorization code.
    ///
    /// # Errors
    /// A failed query.
    pub async fn create_grant_with_code(
        &self,
        grant: &GrantRecord,
        code_digest: &str,
        code: &CodeRecord,
    ) -> Result<(), StoreError> {
        let now = now();
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
        sqlx::query(
            "INSERT INTO grants (id, tenant_id, client_id, user_id, session_id, scope, auth_time, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )
        .bind(&grant.id)
        .bind(&grant.tenant_id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(grant.session_id.as_deref())
        .bind(&grant.scope)
        .bind(grant.auth_time)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(query_error("create a grant"))?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_digest, grant_id, redirect_uri, code_challenge, nonce, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(code_digest)
        .bind(&grant.id)
        .bind(&code.redirect_uri)
        .bind(code.code_challenge.as_deref())
        .bind(code.nonce.as_deref())
        .bind(code.expires_at)
        .execute(&mut *transaction)
        .await
        .map_err(query_error("store an authorization code"))?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a grant"))
    }

    /// Reads a grant.
    ///
    /// # Errors
    /// A failed query.
    pub async fn grant(&self, id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, client_id, user_id, session_id, scope, auth_time, revoked_at \
             FROM grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read a grant"))?;
        row.map(|row| {
            Ok(GrantRecord {
                id: text(&row, "id")?,
                tenant_id: text(&row, "tenant_id")?,
                client_id: text(&row, "client_id")?,
                user_id: text(&row, "user_id")?,
                session_id: optional_text(&row, "session_id")?,
                scope: text(&row, "scope")?,
                auth_time: integer(&row, "auth_time")?,
                revoked_at: optional_integer(&row, "revoked_at")?,
            })
        })
        .transpose()
    }

    /// Revokes a grant: its refresh tokens and the access tokens issued from it stop working.
    ///
    /// # Errors
    /// A failed query.
    pub async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(query_error("revoke a grant"))?;
        Ok(())
    }

    /// Spends an authorization code. Exactly one caller sees [`Redemption::Redeemed`]; later
    /// callers see [`Redemption::Replayed`].
    ///
    /// # Errors
    /// A failed query.
    pub async fn redeem_code(
        &self,
        code_digest: &str,
    ) -> Result<Redemption<CodeRecord>, StoreError> {
        let spent = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_digest = $2 AND used_at IS NULL",
        )
        .bind(now())
        .bind(code_digest)
        .execute(&self.pool)
        .await
        .map_err(query_error("redeem an authorization code"))?
        .rows_affected()
            == 1;
        let row = sqlx::query(
            "SELECT grant_id, redirect_uri, code_challenge, nonce, expires_at FROM authorization_codes WHERE code_digest = $1",
        )
        .bind(code_digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read an authorization code"))?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        let record = CodeRecord {
            grant_id: text(&row, "grant_id")?,
            redirect_uri: text(&row, "redirect_uri")?,
            code_challenge: optional_text(&row, "code_challenge")?,
            nonce: optional_text(&row, "nonce")?,
            expires_at: integer(&row, "expires_at")?,
        };
        Ok(if spent {
            Redemption::Redeemed(record)
        } else {
            Redemption::Replayed(record)
        })
    }

    /// Stores a refresh token of a grant.
    ///
    /// # Errors
    /// A failed query.
    pub async fn create_refresh_token(
        &self,
        grant_id: &str,
        token_digest: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_digest, grant_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(token_digest)
        .bind(grant_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(query_error("store a refresh token"))?;
        Ok(())
    }

    /// Spends a refresh token (rotation). Exactly one caller sees
    /// [`Redemption::Redeemed`]; a replay shows as [`Redemption::Replayed`].
    ///
    /// # Errors
    /// A failed query.
    pub async fn redeem_refresh_token(
        &self,
        token_digest: &str,
    ) -> Result<Redemption<RefreshRecord>, StoreError> {
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_digest = $2 AND used_at IS NULL",
        )
        .bind(now())
        .bind(token_digest)
        .execute(&self.pool)
        .await
        .map_err(query_error("redeem a refresh token"))?
        .rows_affected()
            == 1;
        let row =
            sqlx::query("SELECT grant_id, expires_at FROM refresh_tokens WHERE token_digest = $1")
                .bind(token_digest)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("read a refresh token"))?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        let record = RefreshRecord {
            grant_id: text(&row, "grant_id")?,
            expires_at: integer(&row, "expires_at")?,
        };
        Ok(if spent {
            Redemption::Redeemed(record)
        } else {
            Redemption::Replayed(record)
        })
    }

    // ---- one-time passcodes and throttling -----------------------------------------------

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

    /// Removes expired short-lived rows (requests, codes, sessions, refresh tokens).
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
