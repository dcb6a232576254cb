//! Throwaway stores for the storage tests: a temporary SQLite file, or a fresh database on
//! the PostgreSQL server named by `CIAM_TEST_DATABASE_URL` (the variable
//! `tests/runtime_store.rs` reads), so the same tests run on both databases without leaving
//! rows behind for other suites.

use std::ops::Deref;
use std::path::PathBuf;

use super::{CodeRecord, GrantRecord, Store, UserRecord, now};
use crate::contract::owner::{Claim, Owner};

/// A store that removes its SQLite file when dropped.
pub(super) struct TestStore {
    store: Store,
    url: String,
    file: Option<PathBuf>,
}

impl TestStore {
    /// A second store on the same database, as another runtime replica would open it.
    pub(super) async fn replica(&self) -> Store {
        Store::connect(&self.url).await.expect("open a replica")
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// Opens a migrated store of its own for one test.
pub(super) async fn open() -> TestStore {
    let (url, file) = match std::env::var("CIAM_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (database_of_its_own(&url).await, None),
        _ => {
            let file =
                std::env::temp_dir().join(format!("ciam-store-unit-{}.db", uuid::Uuid::new_v4()));
            (format!("sqlite://{}", file.display()), Some(file))
        }
    };
    let store = Store::connect(&url).await.expect("open a test store");
    TestStore { store, url, file }
}

/// Creates a new database on the server of `url` and returns its URL; the server is a
/// throwaway one (scripts/postgres.sh), so the databases are left for it to discard.
async fn database_of_its_own(url: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let (address, options) = url
        .split_once('?')
        .map_or((url, None), |(address, options)| (address, Some(options)));
    let (server, _) = address
        .rsplit_once('/')
        .expect("a database URL with a path");
    let name = format!("ciam_unit_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the test database server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("create a test database");
    match options {
        Some(options) => format!("{server}/{name}?{options}"),
        None => format!("{server}/{name}"),
    }
}

/// A subdomain no other test of the same store uses.
pub(super) fn unique_subdomain() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Creates an unowned tenant and returns its ID.
pub(super) async fn tenant(store: &Store) -> String {
    let (tenant, _) = store
        .put_tenant(&unique_subdomain(), None, "{}", &Claim::default())
        .await
        .expect("create a tenant");
    tenant.tenant_id
}

/// A random identifier, for rows whose IDs must not collide across tests.
pub(super) fn unique_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A claim by the Kubernetes object with this UID.
pub(super) fn claim(uid: &str) -> Claim {
    Claim::by(Owner {
        kind: "AppRegistration".into(),
        namespace: "shop".into(),
        name: "web".into(),
        uid: uid.into(),
    })
}

/// An account with this email address and a few collected attributes.
pub(super) fn user_record(email: &str) -> UserRecord {
    UserRecord {
        id: unique_id(),
        email: email.to_string(),
        password_hash: "$argon2id$placeholder".into(),
        display_name: Some("Ann".into()),
        failed_sign_ins: 0,
        locked_until: 0,
        attributes: [("plan".to_string(), serde_json::json!("gold"))].into(),
        consents: [("terms".to_string(), 1_700_000_000)].into(),
    }
}

/// Creates an account in the tenant and returns its ID.
pub(super) async fn user(store: &Store, tenant_id: &str) -> String {
    let user = user_record(&format!("{}@example.com", unique_id()));
    store
        .create_user(tenant_id, &user)
        .await
        .expect("create a user");
    user.id
}

/// A grant of `openid profile` to client `web` for the user.
pub(super) fn grant_record(tenant_id: &str, user_id: &str) -> GrantRecord {
    GrantRecord {
        id: unique_id(),
        tenant_id: tenant_id.to_string(),
        client_id: "web".into(),
        user_id: user_id.to_string(),
        session_id: Some("session-1".into()),
        scope: "openid profile".into(),
        auth_time: now() - 5,
        revoked_at: None,
    }
}

/// An authorization code of the grant, with PKCE and a nonce, expiring at `expires_at`.
pub(super) fn code_record(grant_id: &str, expires_at: i64) -> CodeRecord {
    CodeRecord {
        grant_id: grant_id.to_string(),
        redirect_uri: "https://app.example.com/callback".into(),
        code_challenge: Some("challenge".into()),
        nonce: Some("nonce".into()),
        expires_at,
    }
}

/// Creates a grant with a code (digest returned) expiring at `expires_at`.
pub(super) async fn grant_with_code(
    store: &Store,
    tenant_id: &str,
    user_id: &str,
    expires_at: i64,
) -> (GrantRecord, String) {
    let grant = grant_record(tenant_id, user_id);
    let code_digest = unique_id();
    store
        .create_grant_with_code(&grant, &code_digest, &code_record(&grant.id, expires_at))
        .await
        .expect("create a grant");
    (grant, code_digest)
}

/// How many rows of `table` have `column = value`, whatever the queries of the store filter.
pub(super) async fn rows(store: &Store, table: &str, column: &str, value: &str) -> i64 {
    let count: i64 =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
            .bind(value)
            .fetch_one(&store.pool)
            .await
            .expect("count rows");
    count
}
