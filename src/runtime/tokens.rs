//! Builds, signs and verifies JWTs with per-tenant signing keys that rotate with overlap.
//!
//! ```text
//!  rotate:   next ──▶ current ──▶ retired (kept in JWKS until its tokens expired) ──▶ gone
//!             ▲ new key generated here, published before it ever signs
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::crypto::{self, CryptoError, KeyEncryptionKey, SigningAlgorithm};
use super::store::{self, SigningKeyRecord, Store, StoreError, key_state};

/// Lifetime of ID tokens (1 hour).
pub const ID_TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// Lifetime of each refresh token (14 days; every use rotates it).
pub const REFRESH_TOKEN_LIFETIME_SECONDS: i64 = 14 * 24 * 3600;

/// How long a retired key stays in JWKS: the longest token lifetime (24 h access tokens)
/// plus five minutes of clock skew, so no token it signed is left without its key.
pub const RETIRED_KEY_GRACE_SECONDS: i64 = 24 * 3600 + 300;

/// The `ver` claim of every token, as Entra's v2.0 endpoints issue.
pub const TOKEN_VERSION: &str = "2.0";

/// Errors of signing and verifying tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated or unsealed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The tenant has no current signing key.
    #[error("tenant {0} has no current signing key")]
    NoCurrentKey(String),
    /// A stored key is unusable.
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey {
        /// Key ID.
        kid: String,
        /// Why.
        reason: String,
    },
    /// The claims could not be encoded as JSON.
    #[error("failed to encode a token's claims: {0}")]
    Encode(String),
    /// A stored private key does not open with the key-encryption key.
    #[error("signing key {kid} of tenant {tenant_id} does not open with this key-encryption key")]
    Unsealable {
        /// Tenant ID.
        tenant_id: String,
        /// Key ID.
        kid: String,
    },
    /// The presented token is not valid (reason is safe to show the caller).
    #[error("{0}")]
    Invalid(String),
}

/// Claims of an ID token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's object ID.
    pub sub: String,
    /// Audience: the client ID.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Tenant ID.
    pub tid: String,
    /// User object ID.
    pub oid: String,
    /// Token version, `2.0`.
    pub ver: String,
    /// Nonce from the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Session ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Email (scope `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name (scope `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Username (scope `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Claims the user flow's `tokenClaims` map from the user's attributes.
    #[serde(flatten)]
    pub flow_claims: BTreeMap<String, serde_json::Value>,
}

/// Claims of an access token (user or app).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's object ID, or the client ID for app tokens.
    pub sub: String,
    /// Audience: the resource's client ID (or the requesting client's own ID when only
    /// OpenID Connect scopes were requested).
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token ID.
    pub jti: String,
    /// Tenant ID.
    pub tid: String,
    /// Object ID of the user or app.
    pub oid: String,
    /// Token version, `2.0`.
    pub ver: String,
    /// The client the token was issued to.
    pub azp: String,
    /// Delegated scopes, space-separated (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Application permissions (app tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// When the user authenticated (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant the token belongs to (user tokens), checked at userinfo so that revoking
    /// a grant (code or refresh-token replay) also stops its access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// Claims the user flow's `tokenClaims` map from the user's attributes (user tokens).
    #[serde(flatten)]
    pub flow_claims: BTreeMap<String, serde_json::Value>,
}

/// What an ID token says about the user and the authorization.
pub struct IdTokenInput<'a> {
    /// Issuer URL of the tenant.
    pub issuer: &'a str,
    /// Tenant ID.
    pub tenant_id: &'a str,
    /// Client ID (audience).
    pub client_id: &'a str,
    /// User object ID.
    pub user_id: &'a str,
    /// User email.
    pub email: &'a str,
    /// User display name.
    pub display_name: Option<&'a str>,
    /// Granted scopes.
    pub scopes: &'a [&'a str],
    /// Nonce to echo.
    pub nonce: Option<&'a str>,
    /// Authentication time.
    pub auth_time: i64,
    /// Session ID.
    pub session_id: Option<&'a str>,
    /// Issue time.
    pub now: i64,
    /// Claims from the user flow's `tokenClaims`.
    pub flow_claims: &'a BTreeMap<String, serde_json::Value>,
}

/// Builds ID-token claims; `email` and `profile` claims appear only with those scopes.
pub fn id_token_claims(input: &IdTokenInput<'_>) -> IdTokenClaims {
    let has = |scope: &str| input.scopes.contains(&scope);
    let mapped = |claim: &str| input.flow_claims.contains_key(claim);
    IdTokenClaims {
        iss: input.issuer.to_string(),
        sub: input.user_id.to_string(),
        aud: input.client_id.to_string(),
        exp: input.now + ID_TOKEN_LIFETIME_SECONDS,
        iat: input.now,
        nbf: input.now,
        tid: input.tenant_id.to_string(),
        oid: input.user_id.to_string(),
        ver: TOKEN_VERSION.to_string(),
        nonce: input.nonce.map(str::to_string),
        auth_time: input.auth_time,
        sid: input.session_id.map(str::to_string),
        // A flow claim with a standard name (say `email` without the email scope) replaces
        // the standard one, so the JSON never carries a name twice.
        email: (has("email") && !mapped("email")).then(|| input.email.to_string()),
        name: (has("profile") && !mapped("name"))
            .then(|| input.display_name.map(str::to_string))
            .flatten(),
        preferred_username: (has("profile") && !mapped("preferred_username"))
            .then(|| input.email.to_string()),
        flow_claims: input.flow_claims.clone(),
    }
}

/// Whose access token is issued and for what.
pub struct AccessTokenInput<'a> {
    /// Issuer URL of the tenant.
    pub issuer: &'a str,
    /// Tenant ID.
    pub tenant_id: &'a str,
    /// The client the token is issued to.
    pub client_id: &'a str,
    /// Audience.
    pub audience: &'a str,
    /// The user, or `None` for an app token (client credentials).
    pub user_id: Option<&'a str>,
    /// Delegated scopes (user tokens) or application permissions (app tokens).
    pub permissions: &'a [String],
    /// Authentication time (user tokens).
    pub auth_time: Option<i64>,
    /// Grant (user tokens).
    pub grant_id: Option<&'a str>,
    /// Lifetime in seconds.
    pub lifetime_seconds: i64,
    /// Issue time.
    pub now: i64,
    /// Claims from the user flow's `tokenClaims` (user tokens).
    pub flow_claims: &'a BTreeMap<String, serde_json::Value>,
}

/// Builds access-token claims: `scp` for user tokens, `roles` for app tokens.
pub fn access_token_claims(input: &AccessTokenInput<'_>) -> AccessTokenClaims {
    let subject = input.user_id.unwrap_or(input.client_id);
    let (scp, roles) = match input.user_id {
        Some(_) => (Some(input.permissions.join(" ")), None),
        None if input.permissions.is_empty() => (None, None),
        None => (None, Some(input.permissions.to_vec())),
    };
    AccessTokenClaims {
        iss: input.issuer.to_string(),
        sub: subject.to_string(),
        aud: input.audience.to_string(),
        exp: input.now + input.lifetime_seconds,
        iat: input.now,
        nbf: input.now,
        jti: uuid::Uuid::new_v4().to_string(),
        tid: input.tenant_id.to_string(),
        oid: subject.to_string(),
        ver: TOKEN_VERSION.to_string(),
        azp: input.client_id.to_string(),
        scp,
        roles,
        auth_time: input.auth_time,
        grant_id: input.grant_id.map(str::to_string),
        flow_claims: input
            .flow_claims
            .iter()
            .filter(|(name, _)| name.as_str() != "grant_id")
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    }
}

/// Per-tenant signing keys: generation, rotation, JWKS, signing and verification. Private
/// keys live sealed in the database; unsealed copies are cached by key ID.
pub struct Keyring {
    kek: Arc<KeyEncryptionKey>,
    signing: RwLock<HashMap<String, Arc<crypto::Signer>>>,
    verifying: RwLock<HashMap<String, Arc<(Algorithm, DecodingKey)>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Keyring(..)")
    }
}

fn jws_algorithm(name: &str) -> Option<Algorithm> {
    match SigningAlgorithm::parse(name)? {
        SigningAlgorithm::Es256 => Some(Algorithm::ES256),
        SigningAlgorithm::Rs256 => Some(Algorithm::RS256),
    }
}

fn seal_context(tenant_id: &str, kid: &str) -> Vec<u8> {
    format!("signing-key/{tenant_id}/{kid}").into_bytes()
}

/// A compact JWS (`header.claims.signature`, each base64url) of `claims`, signed by `signer`.
fn compact_jws<T: Serialize>(
    signer: &crypto::Signer,
    kid: &str,
    token_type: &str,
    claims: &T,
) -> Result<String, TokenError> {
    let header = serde_json::json!({
        "alg": signer.algorithm().as_str(),
        "kid": kid,
        "typ": token_type,
    });
    let claims =
        serde_json::to_vec(claims).map_err(|error| TokenError::Encode(error.to_string()))?;
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

impl Keyring {
    /// A keyring sealing keys with `kek`.
    pub fn new(kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            kek,
            signing: RwLock::new(HashMap::new()),
            verifying: RwLock::new(HashMap::new()),
        }
    }

    fn new_key(
        &self,
        tenant_id: &str,
        algorithm: SigningAlgorithm,
        state: &str,
    ) -> Result<SigningKeyRecord, TokenError> {
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let generated = crypto::generate_signing_key(algorithm, &kid)?;
        let sealed = self
            .kek
            .seal(&generated.private_der, &seal_context(tenant_id, &kid))?;
        Ok(SigningKeyRecord {
            kid,
            algorithm: algorithm.as_str().to_string(),
            state: state.to_string(),
            sealed_private_key: sealed,
            public_jwk: generated.public_jwk.to_string(),
            created_at: store::now(),
            retire_after: None,
        })
    }

    /// Makes sure the tenant has a current and a next key, generating what is missing.
    /// Safe to call repeatedly (for example on every tenant `PUT`).
    ///
    /// # Errors
    /// Key generation or storage failure.
    pub async fn ensure_keys(
        &self,
        store: &Store,
        tenant_id: &str,
        algorithm: SigningAlgorithm,
    ) -> Result<(), TokenError> {
        let keys = store.signing_keys(tenant_id).await?;
        for state in [key_state::CURRENT, key_state::NEXT] {
            if !keys.iter().any(|key| key.state == state) {
                let key = self.generate_blocking(tenant_id, algorithm, state).await?;
                store.insert_signing_key(tenant_id, &key).await?;
            }
        }
        Ok(())
    }

    async fn generate_blocking(
        &self,
        tenant_id: &str,
        algorithm: SigningAlgorithm,
        state: &str,
    ) -> Result<SigningKeyRecord, TokenError> {
        // RSA generation takes long enough to stall an async worker; ECDSA is instant.
        match algorithm {
            SigningAlgorithm::Es256 => self.new_key(tenant_id, algorithm, state),
            SigningAlgorithm::Rs256 => {
                tokio::task::block_in_place(|| self.new_key(tenant_id, algorithm, state))
            }
        }
    }

    /// Rotates the tenant's keys: next becomes current, current retires and stays published
    /// for [`RETIRED_KEY_GRACE_SECONDS`], and a new next key of `algorithm` is published.
    ///
    /// # Errors
    /// Key generation or storage failure.
    pub async fn rotate(
        &self,
        store: &Store,
        tenant_id: &str,
        algorithm: SigningAlgorithm,
    ) -> Result<(), TokenError> {
        self.ensure_keys(store, tenant_id, algorithm).await?;
        let next = self
            .generate_blocking(tenant_id, algorithm, key_state::NEXT)
            .await?;
        store
            .rotate_signing_keys(tenant_id, &next, store::now() + RETIRED_KEY_GRACE_SECONDS)
            .await?;
        Ok(())
    }

    /// Opens every stored private key once, so that a replaced or foreign key-encryption key
    /// stops the runtime at start-up rather than failing token requests later. Returns how
    /// many keys were checked.
    ///
    /// # Errors
    /// [`TokenError::Unsealable`] for the first key that does not open; storage failure.
    pub async fn check_sealed_keys(&self, store: &Store) -> Result<usize, TokenError> {
        let mut checked = 0;
        for tenant in store.tenants().await? {
            for key in store.signing_keys(&tenant.tenant_id).await? {
                self.kek
                    .open(
                        &key.sealed_private_key,
                        &seal_context(&tenant.tenant_id, &key.kid),
                    )
                    .map_err(|_| TokenError::Unsealable {
                        tenant_id: tenant.tenant_id.clone(),
                        kid: key.kid.clone(),
                    })?;
                checked += 1;
            }
        }
        Ok(checked)
    }

    /// The tenant's published keys as a JWK set.
    ///
    /// # Errors
    /// Storage failure or a corrupt stored JWK.
    pub async fn jwks(
        &self,
        store: &Store,
        tenant_id: &str,
    ) -> Result<serde_json::Value, TokenError> {
        let keys = store
            .signing_keys(tenant_id)
            .await?
            .into_iter()
            .map(|key| {
                serde_json::from_str::<serde_json::Value>(&key.public_jwk).map_err(|error| {
                    TokenError::BadKey {
                        kid: key.kid.clone(),
                        reason: error.to_string(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// The current key's signer, parsed once per key ID (a rotation brings a new one).
    fn signer(
        &self,
        tenant_id: &str,
        key: &SigningKeyRecord,
    ) -> Result<Arc<crypto::Signer>, TokenError> {
        if let Some(signer) = self
            .signing
            .read()
            .ok()
            .and_then(|cache| cache.get(&key.kid).cloned())
        {
            return Ok(signer);
        }
        let der = self
            .kek
            .open(&key.sealed_private_key, &seal_context(tenant_id, &key.kid))?;
        let algorithm =
            SigningAlgorithm::parse(&key.algorithm).ok_or_else(|| TokenError::BadKey {
                kid: key.kid.clone(),
                reason: format!("unknown algorithm {}", key.algorithm),
            })?;
        let signer = Arc::new(crypto::Signer::new(algorithm, &der)?);
        if let Ok(mut cache) = self.signing.write() {
            cache.insert(key.kid.clone(), signer.clone());
        }
        Ok(signer)
    }

    /// Signs `claims` with the tenant's current key; `token_type` becomes the `typ` header.
    ///
    /// # Errors
    /// No current key, an unusable key, or a signing failure.
    pub async fn sign<T: Serialize>(
        &self,
        store: &Store,
        tenant_id: &str,
        claims: &T,
        token_type: &str,
    ) -> Result<String, TokenError> {
        let keys = store.published_keys(tenant_id).await?;
        let current = keys
            .iter()
            .find(|key| key.state == key_state::CURRENT)
            .ok_or_else(|| TokenError::NoCurrentKey(tenant_id.to_string()))?;
        let signer = self.signer(tenant_id, current)?;
        compact_jws(&signer, &current.kid, token_type, claims)
    }

    fn verifying_key(
        &self,
        key: &SigningKeyRecord,
    ) -> Result<Arc<(Algorithm, DecodingKey)>, TokenError> {
        if let Some(cached) = self
            .verifying
            .read()
            .ok()
            .and_then(|cache| cache.get(&key.kid).cloned())
        {
            return Ok(cached);
        }
        let bad = |reason: String| TokenError::BadKey {
            kid: key.kid.clone(),
            reason,
        };
        let jwk: serde_json::Value =
            serde_json::from_str(&key.public_jwk).map_err(|error| bad(error.to_string()))?;
        let component = |name: &str| jwk[name].as_str().unwrap_or_default().to_string();
        let algorithm =
            jws_algorithm(&key.algorithm).ok_or_else(|| bad("unknown algorithm".into()))?;
        let decoding = match algorithm {
            Algorithm::RS256 => DecodingKey::from_rsa_components(&component("n"), &component("e")),
            _ => DecodingKey::from_ec_components(&component("x"), &component("y")),
        }
        .map_err(|error| bad(error.to_string()))?;
        let entry = Arc::new((algorithm, decoding));
        if let Ok(mut cache) = self.verifying.write() {
            cache.insert(key.kid.clone(), entry.clone());
        }
        Ok(entry)
    }

    /// Verifies a token issued by the tenant: signature by a published key, issuer, and
    /// (when `check_expiry`) `exp`/`nbf` with no leeway, since the runtime issued it on the
    /// same clock.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] with a reason that can be shown to the caller.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        store: &Store,
        tenant_id: &str,
        issuer: &str,
        token: &str,
        check_expiry: bool,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("the token is not a JWT".into()))?;
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("the token has no key ID".into()))?;
        let mut keys = store.published_keys(tenant_id).await?;
        if !keys.iter().any(|key| key.kid == kid) {
            // Perhaps rotated through another replica since the last poll: read the keys
            // again (at most once per tenant per second, whatever the token names).
            keys = store.reload_published_keys(tenant_id).await?;
        }
        let key = keys
            .iter()
            .find(|key| key.kid == kid)
            .ok_or_else(|| TokenError::Invalid("the token is signed by an unknown key".into()))?;
        let verifying = self.verifying_key(key)?;
        if header.alg != verifying.0 {
            return Err(TokenError::Invalid(
                "the token's algorithm does not match its key".into(),
            ));
        }
        let mut validation = Validation::new(verifying.0);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.validate_exp = check_expiry;
        validation.validate_nbf = check_expiry;
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims = ["exp", "iss", "sub"]
            .into_iter()
            .map(str::to_string)
            .collect();
        jsonwebtoken::decode::<T>(token, &verifying.1, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    TokenError::Invalid("the token has expired".into())
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    TokenError::Invalid("the token was issued by another tenant".into())
                }
                _ => TokenError::Invalid("the token is not valid".into()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_tokens_carry_the_required_claims_and_only_granted_profile_data() {
        let input = IdTokenInput {
            issuer: "https://id.example.com/contoso/v2.0",
            tenant_id: "t1",
            client_id: "c1",
            user_id: "u1",
            email: "ann@example.com",
            display_name: Some("Ann"),
            scopes: &["openid", "email"],
            nonce: Some("n-0S6"),
            auth_time: 100,
            session_id: None,
            now: 1000,
            flow_claims: &BTreeMap::from([("email".to_string(), serde_json::json!("x@y.z"))]),
        };
        let claims = id_token_claims(&input);
        assert_eq!(claims.iss, "https://id.example.com/contoso/v2.0");
        assert_eq!((claims.sub.as_str(), claims.oid.as_str()), ("u1", "u1"));
        assert_eq!(claims.aud, "c1");
        assert_eq!(claims.exp, 1000 + ID_TOKEN_LIFETIME_SECONDS);
        assert_eq!((claims.iat, claims.nbf), (1000, 1000));
        assert_eq!(claims.ver, "2.0");
        assert_eq!(claims.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(
            claims.email, None,
            "the flow's email claim replaces the standard one"
        );
        assert_eq!(claims.name, None);
        let json = serde_json::to_value(&claims).expect("serialize");
        assert_eq!(json["email"], "x@y.z");
    }

    #[test]
    fn app_tokens_carry_roles_and_user_tokens_carry_scp() {
        let permissions = vec!["orders.read".to_string()];
        let mut input = AccessTokenInput {
            issuer: "iss",
            tenant_id: "t1",
            client_id: "daemon",
            audience: "api",
            user_id: None,
            permissions: &permissions,
            auth_time: None,
            grant_id: None,
            lifetime_seconds: 600,
            now: 50,
            flow_claims: &BTreeMap::new(),
        };
        let app = access_token_claims(&input);
        assert_eq!(app.sub, "daemon");
        assert_eq!(app.roles, Some(permissions.clone()));
        assert_eq!(app.scp, None);
        assert_eq!(app.exp, 650);
        input.user_id = Some("u1");
        let user = access_token_claims(&input);
        assert_eq!(user.sub, "u1");
        assert_eq!(user.scp.as_deref(), Some("orders.read"));
        assert_eq!(user.roles, None);
        assert_eq!(user.azp, "daemon");
    }

    #[tokio::test]
    async fn a_token_signed_after_rotations_through_another_replica_verifies_before_the_poll() {
        let url = format!(
            "sqlite:file:tokens-{}?mode=memory&cache=shared",
            uuid::Uuid::new_v4().simple()
        );
        let store = Store::connect(&url).await.expect("store");
        let replica = Store::connect(&url).await.expect("another replica's store");
        let claim = crate::contract::owner::Claim::default();
        let spec = r#"{"displayName":"C","countryCode":"US"}"#;
        let (tenant, _) = store
            .put_tenant("contoso", None, spec, &claim)
            .await
            .expect("tenant");
        let kek = || Arc::new(KeyEncryptionKey::from_file_contents(&[7u8; 32]).expect("kek"));
        let (keyring, other) = (Keyring::new(kek()), Keyring::new(kek()));
        let algorithm = SigningAlgorithm::Es256;
        keyring
            .ensure_keys(&store, &tenant.tenant_id, algorithm)
            .await
            .expect("keys");
        let issuer = "https://id.example.com/contoso/v2.0";
        let claims = serde_json::json!({"iss": issuer, "sub": "s", "exp": store::now() + 60});
        keyring
            .sign(&store, &tenant.tenant_id, &claims, "at+jwt")
            .await
            .expect("this replica now holds the keys");

        // Two rotations: the key now signing was generated after this replica read the keys.
        for _ in 0..2 {
            other
                .rotate(&replica, &tenant.tenant_id, algorithm)
                .await
                .expect("rotate");
        }
        let token = other
            .sign(&replica, &tenant.tenant_id, &claims, "at+jwt")
            .await
            .expect("sign on the other replica");
        let verified: Result<serde_json::Value, _> = keyring
            .verify(&store, &tenant.tenant_id, issuer, &token, true)
            .await;

        assert!(verified.is_ok(), "{verified:?}");
    }
}
