//! Grants and their single-use values: authorization codes and rotating refresh tokens, each
//! redeemed exactly once, with replays reported to the caller.

use super::{Store, StoreError, integer, now, optional_integer, optional_text, query_error, text};

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

impl Store {
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
        // The happy path is one statement: the UPDATE spends the code and returns its row.
        // Only when it spends nothing does a SELECT tell an unknown code from a replay.
        const COLUMNS: &str = "grant_id, redirect_uri, code_challenge, nonce, expires_at";
        let spent = sqlx::query(&format!(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_digest = $2 AND used_at IS NULL \
             RETURNING {COLUMNS}"
        ))
        .bind(now())
        .bind(code_digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("redeem an authorization code"))?;
        let row = match spent {
            Some(row) => Some((row, true)),
            None => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM authorization_codes WHERE code_digest = $1"
            ))
            .bind(code_digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("read an authorization code"))?
            .map(|row| (row, false)),
        };
        let Some((row, spent)) = row else {
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
        // One statement on the happy path, as for codes.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_digest = $2 AND used_at IS NULL \
             RETURNING grant_id, expires_at",
        )
        .bind(now())
        .bind(token_digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("redeem a refresh token"))?;
        let row = match spent {
            Some(row) => Some((row, true)),
            None => sqlx::query(
                "SELECT grant_id, expires_at FROM refresh_tokens WHERE token_digest = $1",
            )
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error("read a refresh token"))?
            .map(|row| (row, false)),
        };
        let Some((row, spent)) = row else {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{self, grant_with_code, unique_id};

    #[tokio::test]
    async fn a_grant_is_read_back_with_what_was_granted() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (grant, _) = grant_with_code(&store, &tenant_id, &user_id, now() + 60).await;

        let stored = store.grant(&grant.id).await.expect("read").expect("found");
        assert_eq!(
            (
                stored.tenant_id.as_str(),
                stored.client_id.as_str(),
                stored.user_id.as_str(),
                stored.session_id.as_deref(),
                stored.scope.as_str(),
                stored.auth_time,
                stored.revoked_at,
            ),
            (
                tenant_id.as_str(),
                "web",
                user_id.as_str(),
                Some("session-1"),
                "openid profile",
                grant.auth_time,
                None,
            )
        );
        assert!(store.grant(&unique_id()).await.expect("read").is_none());
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_a_second_redemption_reports_the_replay() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let expires_at = now() + 60;
        let (grant, code_digest) = grant_with_code(&store, &tenant_id, &user_id, expires_at).await;

        let Ok(Redemption::Redeemed(code)) = store.redeem_code(&code_digest).await else {
            panic!("the first redemption spends the code");
        };
        assert_eq!(
            (
                code.grant_id.as_str(),
                code.redirect_uri.as_str(),
                code.code_challenge.as_deref(),
                code.nonce.as_deref(),
                code.expires_at,
            ),
            (
                grant.id.as_str(),
                "https://app.example.com/callback",
                Some("challenge"),
                Some("nonce"),
                expires_at,
            )
        );
        let Ok(Redemption::Replayed(replayed)) = store.redeem_code(&code_digest).await else {
            panic!("a second redemption is a replay");
        };
        assert_eq!(
            replayed.grant_id, grant.id,
            "the replay names the grant to revoke"
        );
        assert!(matches!(
            store.redeem_code(&unique_id()).await,
            Ok(Redemption::Unknown)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn simultaneous_redemptions_of_a_code_have_one_winner() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (_, code_digest) = grant_with_code(&store, &tenant_id, &user_id, now() + 60).await;

        let redemptions =
            futures::future::join_all((0..4).map(|_| store.redeem_code(&code_digest))).await;
        let winners = redemptions
            .iter()
            .filter(|redemption| matches!(redemption, Ok(Redemption::Redeemed(_))))
            .count();
        let replays = redemptions
            .iter()
            .filter(|redemption| matches!(redemption, Ok(Redemption::Replayed(_))))
            .count();
        assert_eq!((winners, replays), (1, 3));
    }

    #[tokio::test]
    async fn a_refresh_token_rotates_once_and_its_replay_names_the_family_to_revoke() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (grant, _) = grant_with_code(&store, &tenant_id, &user_id, now() + 60).await;
        let first = unique_id();
        let expires_at = now() + 3600;
        store
            .create_refresh_token(&grant.id, &first, expires_at)
            .await
            .expect("store the first token");

        let Ok(Redemption::Redeemed(token)) = store.redeem_refresh_token(&first).await else {
            panic!("the first use rotates the token");
        };
        assert_eq!(
            (token.grant_id.as_str(), token.expires_at),
            (grant.id.as_str(), expires_at)
        );
        let Ok(Redemption::Replayed(replayed)) = store.redeem_refresh_token(&first).await else {
            panic!("using the rotated token again is a replay");
        };
        store
            .revoke_grant(&replayed.grant_id)
            .await
            .expect("revoke");

        let revoked = store.grant(&grant.id).await.expect("read").expect("found");
        assert!(revoked.revoked_at.is_some(), "the whole family is revoked");
        assert!(matches!(
            store.redeem_refresh_token(&unique_id()).await,
            Ok(Redemption::Unknown)
        ));
    }

    #[tokio::test]
    async fn revoking_a_grant_keeps_the_time_of_the_first_revocation() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let user_id = test_support::user(&store, &tenant_id).await;
        let (grant, _) = grant_with_code(&store, &tenant_id, &user_id, now() + 60).await;
        sqlx::query("UPDATE grants SET revoked_at = $1 WHERE id = $2")
            .bind(1_000_i64)
            .bind(&grant.id)
            .execute(&store.pool)
            .await
            .expect("revoke long ago");

        store.revoke_grant(&grant.id).await.expect("revoke again");

        let stored = store.grant(&grant.id).await.expect("read").expect("found");
        assert_eq!(stored.revoked_at, Some(1_000));
    }
}
