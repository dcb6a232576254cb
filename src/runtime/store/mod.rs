//! Storage of configuration, accounts and grants in SQLite or PostgreSQL through sqlx.
//!
//! One set of queries serves both databases: they are written in the SQL both understand
//! (`$n` placeholders, `ON CONFLICT`, TEXT and BIGINT columns) and run through sqlx's `Any`
//! driver. Bearer values (codes, refresh tokens, session cookies) are stored as digests only.
//!
//! This module holds the connection ([`Store`]), its errors and the column readers shared by
//! the queries; each concern adds its own `impl Store` block in a file of its own:
//!
//! | file                     | rows                                                        |
//! |--------------------------|-------------------------------------------------------------|
//! | `config_cache`           | configuration served from memory, invalidated across replicas |
//! | `tenants`                | tenants, and the cascade when one is deleted                |
//! | `documents`              | clients, user flows, branding, SMTP settings                |
//! | `signing_keys`           | a tenant's signing keys and their rotation                  |
//! | `users`                  | customer accounts                                           |
//! | `throttles`              | failed sign-ins and lockouts, per account and per subject   |
//! | `sessions`               | browser sessions                                            |
//! | `authorization_requests` | authorization requests waiting for sign-in                  |
//! | `grants`                 | grants, authorization codes, refresh tokens                 |
//! | `challenges`             | one-time passcode challenges                                |
//! | `purge`                  | removal of expired rows                                     |

mod authorization_requests;
mod challenges;
mod client_assertions;
mod config_cache;
mod documents;
mod grants;
mod purge;
mod sessions;
mod signing_keys;
mod tenants;
mod throttles;
mod users;

#[cfg(test)]
mod test_support;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::contract::owner::{Claim, Owner};

pub use challenges::ChallengeRecord;
pub use config_cache::{TenantConfig, UNKNOWN_KEY_RELOAD_INTERVAL, UserFlows};
pub use documents::{Document, Kind};
pub use grants::{CodeRecord, GrantRecord, Redemption, RefreshRecord};
pub use sessions::SessionRecord;
pub use signing_keys::{SigningKeyRecord, key_state};
pub use users::UserRecord;

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

/// The database, shared by all handlers, with the configuration it serves from memory (one
/// copy shared by every clone).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    cache: std::sync::Arc<config_cache::ConfigCache>,
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
        let store = Self {
            pool,
            cache: std::sync::Arc::default(),
        };
        // The version seen before anything is cached: a later change drops what is read now.
        store.refresh_config().await?;
        Ok(store)
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
}
