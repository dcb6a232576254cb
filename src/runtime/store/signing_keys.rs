//! A tenant's token signing keys (sealed private keys and public JWKs) and their rotation
//! through the states next → current → retired.

use super::{Store, StoreError, integer, now, optional_integer, query_error, text};

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

impl Store {
    /// Reads the tenant's keys still published at `now` from the database (the cached read is
    /// [`Store::signing_keys`]).
    pub(super) async fn load_signing_keys(
        &self,
        tenant_id: &str,
        now: i64,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(
            "SELECT kid, algorithm, state, sealed_private_key, public_jwk, created_at, retire_after \
             FROM signing_keys WHERE tenant_id = $1 AND (retire_after IS NULL OR retire_after > $2) \
             ORDER BY created_at, kid",
        )
        .bind(tenant_id)
        .bind(now)
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
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(query_error("begin a transaction"))?;
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
        .execute(&mut *transaction)
        .await
        .map_err(query_error("store a signing key"))?;
        Self::bump_config_version(&mut transaction).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a signing key"))?;
        self.config_written();
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
        Self::bump_config_version(&mut transaction).await?;
        transaction
            .commit()
            .await
            .map_err(query_error("commit a key rotation"))?;
        self.config_written();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store::test_support::{self, unique_id};

    fn key(state: &str, created_at: i64, retire_after: Option<i64>) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: unique_id(),
            algorithm: "ES256".into(),
            state: state.to_string(),
            sealed_private_key: "sealed".into(),
            public_jwk: r#"{"kty":"EC"}"#.into(),
            created_at,
            retire_after,
        }
    }

    fn states(keys: &[SigningKeyRecord]) -> Vec<(&str, &str)> {
        keys.iter()
            .map(|key| (key.kid.as_str(), key.state.as_str()))
            .collect()
    }

    #[tokio::test]
    async fn published_keys_are_listed_oldest_first_without_retired_keys_past_their_time() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let gone = key(key_state::RETIRED, now - 300, Some(now - 1));
        let retired = key(key_state::RETIRED, now - 200, Some(now + 600));
        let current = key(key_state::CURRENT, now - 100, None);
        let next = key(key_state::NEXT, now, None);
        for key in [&next, &gone, &current, &retired] {
            store
                .insert_signing_key(&tenant_id, key)
                .await
                .expect("insert");
        }

        let keys = store.signing_keys(&tenant_id).await.expect("list");

        assert_eq!(
            states(&keys),
            [
                (retired.kid.as_str(), key_state::RETIRED),
                (current.kid.as_str(), key_state::CURRENT),
                (next.kid.as_str(), key_state::NEXT),
            ]
        );
        let listed = &keys[1];
        assert_eq!(
            (
                listed.algorithm.as_str(),
                listed.sealed_private_key.as_str(),
                listed.public_jwk.as_str(),
                listed.created_at,
                listed.retire_after,
            ),
            ("ES256", "sealed", r#"{"kty":"EC"}"#, now - 100, None)
        );
    }

    #[tokio::test]
    async fn a_tenant_sees_only_its_own_keys() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let other_tenant = test_support::tenant(&store).await;
        store
            .insert_signing_key(&tenant_id, &key(key_state::CURRENT, now(), None))
            .await
            .expect("insert");

        assert!(
            store
                .signing_keys(&other_tenant)
                .await
                .expect("list")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn rotation_retires_the_current_key_promotes_the_next_and_adds_a_new_next() {
        let store = test_support::open().await;
        let tenant_id = test_support::tenant(&store).await;
        let now = now();
        let expired = key(key_state::RETIRED, now - 300, Some(now - 1));
        let current = key(key_state::CURRENT, now - 200, None);
        let next = key(key_state::NEXT, now - 100, None);
        for key in [&expired, &current, &next] {
            store
                .insert_signing_key(&tenant_id, key)
                .await
                .expect("insert");
        }
        let new_next = key(key_state::CURRENT, now, Some(1));

        store
            .rotate_signing_keys(&tenant_id, &new_next, now + 600)
            .await
            .expect("rotate");

        let keys = store.signing_keys(&tenant_id).await.expect("list");
        assert_eq!(
            states(&keys),
            [
                (current.kid.as_str(), key_state::RETIRED),
                (next.kid.as_str(), key_state::CURRENT),
                (new_next.kid.as_str(), key_state::NEXT),
            ],
            "the new key is stored as next whatever state it came with"
        );
        assert_eq!(keys[0].retire_after, Some(now + 600));
        assert_eq!(keys[2].retire_after, None);
        assert_eq!(
            test_support::rows(&store, "signing_keys", "kid", &expired.kid).await,
            0,
            "retired keys past their time are removed"
        );
    }
}
