//! Test fixture of the OpenID Connect domain: one tenant with signing keys on an in-memory
//! SQLite store, and builders for its clients, APIs, users and authorization codes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::AppType;
use crate::api::app_registration::{ApiScope, ExposedApi};
use crate::contract::owner::Claim;
use crate::contract::{ApiPermissionSpec, ClientSecretSpec, ClientSpec, client_secret_hash};
use crate::runtime::Tenant;
use crate::runtime::crypto::{KeyEncryptionKey, SigningAlgorithm};
use crate::runtime::store::{self, Kind, SessionRecord, Store, UserRecord};
use crate::runtime::tokens::{AccessTokenClaims, Keyring};

use super::authorize::{AuthorizationRequest, CODE_LIFETIME_SECONDS, issue_code};
use super::client_auth::AuthenticatedClient;
use super::grants::Provider;

/// The redirect URI every fixture client registers.
pub(crate) const REDIRECT_URI: &str = "https://app.example.com/callback";

/// A PKCE code verifier.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9JlEcWB-w8DKxQvR0zCrRj5qU";
/// The S256 challenge of [`VERIFIER`].
pub(crate) const CHALLENGE: &str = "JQaEmNky-ev6eigvLjvKp8m9t9BYzOXyGTCjJpujvPw";

/// One tenant with signing keys on a fresh in-memory database.
pub(crate) struct Fixture {
    pub(crate) store: Store,
    pub(crate) keyring: Keyring,
    pub(crate) tenant: Tenant,
    pub(crate) issuer: String,
}

impl Fixture {
    pub(crate) async fn new() -> Self {
        let store = super::fixture::memory_store().await;
        let subdomain = "contoso";
        let spec = r#"{"displayName":"Contoso","countryCode":"US"}"#;
        let (document, _) = store
            .put_tenant(subdomain, None, spec, &Claim::default())
            .await
            .expect("create the tenant");
        let kek = KeyEncryptionKey::from_file_contents(&[7u8; 32]).expect("key-encryption key");
        let keyring = Keyring::new(Arc::new(kek));
        keyring
            .ensure_keys(&store, &document.tenant_id, SigningAlgorithm::Es256)
            .await
            .expect("signing keys");
        let tenant = Tenant {
            id: document.tenant_id,
            subdomain: subdomain.to_string(),
            spec: std::sync::Arc::new(serde_json::from_str(spec).expect("tenant spec")),
        };
        let issuer = format!("https://id.example.com/{subdomain}/v2.0");
        Self {
            store,
            keyring,
            tenant,
            issuer,
        }
    }

    pub(crate) fn provider(&self) -> Provider<'_> {
        Provider {
            store: &self.store,
            keyring: &self.keyring,
            tenant: &self.tenant,
            issuer: &self.issuer,
        }
    }

    /// Registers `spec` under a new client ID.
    pub(crate) async fn register(&self, spec: ClientSpec) -> AuthenticatedClient {
        let id = uuid::Uuid::new_v4().to_string();
        let identifier_uri = spec
            .exposed_api
            .as_ref()
            .and_then(|api| api.identifier_uri.clone());
        let json = serde_json::to_string(&spec).expect("client spec");
        self.store
            .put_document(
                Kind::Client,
                &self.tenant.id,
                &id,
                &json,
                identifier_uri.as_deref(),
                &Claim::default(),
            )
            .await
            .expect("register the client");
        AuthenticatedClient {
            id,
            spec: std::sync::Arc::new(spec),
        }
    }

    /// A web app (confidential) with `secret`, or a SPA (public) without one.
    pub(crate) async fn app(&self, secret: Option<&str>) -> AuthenticatedClient {
        let app_type = if secret.is_some() {
            AppType::Web
        } else {
            AppType::Spa
        };
        let mut spec = client_spec(app_type);
        spec.client_secrets = secret
            .map(|secret| ClientSecretSpec {
                hash: Some(client_secret_hash(secret)),
                value: None,
                expires_at: None,
            })
            .into_iter()
            .collect();
        self.register(spec).await
    }

    /// An API at `identifier_uri` exposing `scopes`.
    pub(crate) async fn api(&self, identifier_uri: &str, scopes: &[&str]) -> AuthenticatedClient {
        self.register(api_spec(identifier_uri, scopes)).await
    }

    /// A customer account.
    pub(crate) async fn user(&self) -> UserRecord {
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: format!("ada-{}@example.com", uuid::Uuid::new_v4().simple()),
            password_hash: String::new(),
            display_name: Some("Ada".into()),
            failed_sign_ins: 0,
            locked_until: 0,
            attributes: BTreeMap::new(),
            consents: BTreeMap::new(),
        };
        self.store
            .create_user(&self.tenant.id, &user)
            .await
            .expect("create the user");
        user
    }

    /// An authorization code for `client` and a new user, as issued at `now` after sign-in.
    pub(crate) async fn code(
        &self,
        client: &AuthenticatedClient,
        scope: &str,
        code_challenge: Option<&str>,
        now: i64,
    ) -> String {
        let user = self.user().await;
        let session = SessionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id,
            auth_time: now,
        };
        let request = AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri: REDIRECT_URI.into(),
            scope: scope.into(),
            state: None,
            nonce: Some("n-0S6_WzA2Mj".into()),
            code_challenge: code_challenge.map(str::to_string),
            login_hint: None,
            ui_locales: None,
            response_mode: Default::default(),
        };
        issue_code(
            &self.store,
            &self.tenant,
            &request,
            &session,
            CODE_LIFETIME_SECONDS,
            now,
        )
        .await
        .expect("issue a code")
    }
}

impl Fixture {
    /// The claims of an access token the tenant issued.
    pub(crate) async fn access_claims(&self, token: &str) -> AccessTokenClaims {
        self.keyring
            .verify(&self.store, &self.tenant.id, &self.issuer, token, true)
            .await
            .expect("a valid access token")
    }

    /// Whether the grant a token was issued from has been revoked.
    pub(crate) async fn revoked(&self, access_token: &str) -> bool {
        let claims = self.access_claims(access_token).await;
        let grant_id = claims.grant_id.expect("a user access token");
        let grant = self.store.grant(&grant_id).await.expect("read the grant");
        grant.expect("the grant").revoked_at.is_some()
    }
}

/// The current time (Unix seconds): issued tokens are verified against the real clock.
pub(crate) fn now() -> i64 {
    store::now()
}

/// A client of `app_type` with the fixture's redirect URI and nothing else.
pub(crate) fn client_spec(app_type: AppType) -> ClientSpec {
    ClientSpec {
        display_name: "App".into(),
        app_type,
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec![],
        exposed_api: None,
        api_permissions: vec![],
        access_token_lifetime: None,
        client_secrets: vec![],
        certificates: vec![],
        assertion_reuse: Default::default(),
    }
}

/// An API at `identifier_uri` exposing `scopes`.
pub(crate) fn api_spec(identifier_uri: &str, scopes: &[&str]) -> ClientSpec {
    let mut spec = client_spec(AppType::Web);
    spec.exposed_api = Some(ExposedApi {
        identifier_uri: Some(identifier_uri.into()),
        scopes: Some(
            scopes
                .iter()
                .map(|value| ApiScope {
                    value: value.to_string(),
                    admin_consent_display_name: None,
                    admin_consent_description: None,
                    user_consent_display_name: None,
                    user_consent_description: None,
                })
                .collect(),
        ),
    });
    spec
}

/// A permission to `scopes` of the API `resource_app_id`.
pub(crate) fn permission(resource_app_id: &str, scopes: &[&str]) -> ApiPermissionSpec {
    ApiPermissionSpec {
        resource_app_id: resource_app_id.into(),
        scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
    }
}
