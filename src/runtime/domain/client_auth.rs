//! Authenticates a client at the token endpoint from credentials the HTTP layer has already
//! read: a `client_secret_basic` pair, `client_secret_post` fields, a `private_key_jwt`
//! client assertion signed with one of the client's certificates (RFC 7523, checked in
//! [`super::client_assertion`]), or a public client's bare `client_id` (RFC 6749 §2.3).

use std::sync::Arc;

use crate::api::app_registration::AssertionReuse;
use crate::contract::ClientSpec;
use crate::runtime::store::{Store, StoreError};

use super::client_assertion::{
    AssertionFailure, Expectations, JWT_BEARER_ASSERTION_TYPE, peek, verify,
};

/// How a client presented its credentials (the `method` of a failure's metric and log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic`.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
    /// A `client_assertion` JWT signed with the key of one of the client's certificates.
    PrivateKeyJwt,
    /// A bare `client_id` (public clients).
    None,
}

impl AuthMethod {
    /// The method's name in discovery, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Basic => "client_secret_basic",
            AuthMethod::Post => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

/// Why a client failed to authenticate: the description it gets with `invalid_client`, and
/// the `reason` of the metric and the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthFailure {
    /// The `Basic` header does not decode to `id:secret`.
    #[error("the Basic authorization header is malformed")]
    MalformedBasic,
    /// No client ID anywhere.
    #[error("client authentication is required")]
    NoClientId,
    /// No such client in the tenant.
    #[error("unknown client")]
    UnknownClient,
    /// A confidential client sent no secret.
    #[error("this client must authenticate with its client secret")]
    SecretMissing,
    /// The secret matches no active secret of the client.
    #[error("client authentication failed")]
    WrongSecret,
    /// A public client sent a secret.
    #[error("public clients have no client secret")]
    SecretNotAllowed,
    /// The client assertion was refused.
    #[error("{0}")]
    Assertion(AssertionFailure),
}

impl ClientAuthFailure {
    /// The `reason` label of the metric and the log line.
    pub fn reason(self) -> &'static str {
        match self {
            ClientAuthFailure::MalformedBasic => "malformed_basic",
            ClientAuthFailure::NoClientId => "no_client_id",
            ClientAuthFailure::UnknownClient => "unknown_client",
            ClientAuthFailure::SecretMissing => "secret_missing",
            ClientAuthFailure::WrongSecret => "wrong_secret",
            ClientAuthFailure::SecretNotAllowed => "secret_not_allowed",
            ClientAuthFailure::Assertion(failure) => failure.reason(),
        }
    }

    /// Judges a known client's presented secret at `now` (Unix seconds).
    pub fn of_secret(spec: &ClientSpec, secret: Option<&str>, now: i64) -> Option<Self> {
        let now = jiff::Timestamp::from_second(now).unwrap_or_else(|_| jiff::Timestamp::now());
        match (spec.app_type.is_confidential(), secret) {
            (true, None) => Some(ClientAuthFailure::SecretMissing),
            (true, Some(secret)) if !spec.secret_matches(secret, now) => {
                Some(ClientAuthFailure::WrongSecret)
            }
            (false, Some(_)) => Some(ClientAuthFailure::SecretNotAllowed),
            _ => None,
        }
    }
}

/// What an `Authorization: Basic` header held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BasicCredentials {
    /// The request has no `Basic` header.
    Absent,
    /// A `Basic` header that does not decode to `id:secret`.
    Malformed,
    /// The decoded client ID and secret.
    Present {
        /// Client ID.
        client_id: String,
        /// Client secret.
        secret: String,
    },
}

/// The credentials a token request carries, already read from the header and the body.
#[derive(Clone, Debug)]
pub struct PresentedCredentials<'a> {
    /// The `Authorization: Basic` header.
    pub basic: BasicCredentials,
    /// The body's non-empty `client_id`.
    pub client_id: Option<&'a str>,
    /// The body's non-empty `client_secret`.
    pub client_secret: Option<&'a str>,
    /// The body's non-empty `client_assertion_type`.
    pub client_assertion_type: Option<&'a str>,
    /// The body's non-empty `client_assertion` (a JWT; never logged).
    pub client_assertion: Option<&'a str>,
}

impl PresentedCredentials<'_> {
    /// The method the client used (a `Basic` header wins, even a malformed one).
    pub fn method(&self) -> AuthMethod {
        if self.basic != BasicCredentials::Absent {
            AuthMethod::Basic
        } else if self.has_assertion() {
            AuthMethod::PrivateKeyJwt
        } else if self.client_secret.is_some() {
            AuthMethod::Post
        } else {
            AuthMethod::None
        }
    }

    /// Whether the request carries a client assertion (or its type alone).
    fn has_assertion(&self) -> bool {
        self.client_assertion.is_some() || self.client_assertion_type.is_some()
    }

    /// The client ID and the secret if one was sent, from the header or the body (never both).
    ///
    /// # Errors
    /// [`ClientAuthError::InvalidRequest`] for two methods at once or a body `client_id` that
    /// differs from the header's; [`ClientAuthError::Failed`] when no client ID can be read.
    fn identify(&self) -> Result<(String, Option<String>), ClientAuthError> {
        let failed = |failure| ClientAuthError::Failed {
            method: self.method(),
            client_id: String::new(),
            failure,
        };
        let (id, secret) = match &self.basic {
            BasicCredentials::Absent => {
                let id = self
                    .client_id
                    .ok_or_else(|| failed(ClientAuthFailure::NoClientId))?;
                return Ok((id.to_string(), self.client_secret.map(str::to_string)));
            }
            BasicCredentials::Malformed => return Err(failed(ClientAuthFailure::MalformedBasic)),
            BasicCredentials::Present { client_id, secret } => (client_id, secret),
        };
        if self.client_secret.is_some() {
            return Err(ClientAuthError::InvalidRequest(
                "use exactly one client authentication method",
            ));
        }
        if self.client_id.is_some_and(|body_id| body_id != id) {
            return Err(ClientAuthError::InvalidRequest(
                "client_id in the body differs from the authenticated client",
            ));
        }
        Ok((id.clone(), Some(secret.clone())))
    }
}

/// A client that proved who it is.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    /// Client ID.
    pub id: String,
    /// Its registration, shared with the configuration held in memory.
    pub spec: Arc<ClientSpec>,
}

/// Why a token request's client is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// The request is malformed (`invalid_request`); not counted as a failed authentication.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// Authentication failed (`invalid_client`).
    #[error("{failure}")]
    Failed {
        /// How the client presented its credentials.
        method: AuthMethod,
        /// The client ID it sent (empty when none could be read), as sent.
        client_id: String,
        /// Why it failed.
        failure: ClientAuthFailure,
    },
    /// Storage failed, or the stored client no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads a client's registration.
///
/// # Errors
/// Storage failure or a stored spec that no longer parses.
pub async fn load_client(
    store: &Store,
    tenant_id: &str,
    client_id: &str,
) -> Result<Option<Arc<ClientSpec>>, StoreError> {
    store.client_spec(tenant_id, client_id).await
}

/// The token endpoint a client authenticates at.
#[derive(Clone, Copy, Debug)]
pub struct TokenEndpoint<'a> {
    /// The tenant's ID.
    pub tenant_id: &'a str,
    /// What a client assertion's `aud` may be: the token endpoint's URL and the issuer.
    pub audiences: &'a [String],
}

/// Authenticates the client of a token request at `now` (Unix seconds).
///
/// # Errors
/// See [`ClientAuthError`].
pub async fn authenticate_client(
    store: &Store,
    endpoint: &TokenEndpoint<'_>,
    credentials: &PresentedCredentials<'_>,
    now: i64,
) -> Result<AuthenticatedClient, ClientAuthError> {
    if credentials.has_assertion() {
        return authenticate_with_assertion(store, endpoint, credentials, now).await;
    }
    let tenant_id = endpoint.tenant_id;
    let (client_id, secret) = credentials.identify()?;
    let failure = match load_client(store, tenant_id, &client_id).await? {
        None => ClientAuthFailure::UnknownClient,
        Some(spec) => match ClientAuthFailure::of_secret(&spec, secret.as_deref(), now) {
            None => {
                return Ok(AuthenticatedClient {
                    id: client_id,
                    spec,
                });
            }
            Some(failure) => failure,
        },
    };
    Err(ClientAuthError::Failed {
        method: credentials.method(),
        client_id,
        failure,
    })
}

/// Authenticates a client by its `private_key_jwt` assertion: the assertion's `iss` (or the
/// body's `client_id`) names the client, one of its current certificates must have signed it,
/// and its `jti` is recorded so that it is accepted once (unless the client allows reuse until
/// expiry).
///
/// # Errors
/// `invalid_request` when a secret comes too; otherwise a failed [`AssertionFailure`].
async fn authenticate_with_assertion(
    store: &Store,
    endpoint: &TokenEndpoint<'_>,
    credentials: &PresentedCredentials<'_>,
    now: i64,
) -> Result<AuthenticatedClient, ClientAuthError> {
    if credentials.basic != BasicCredentials::Absent || credentials.client_secret.is_some() {
        return Err(ClientAuthError::InvalidRequest(
            "use exactly one client authentication method",
        ));
    }
    let failed = |client_id: &str, failure| ClientAuthError::Failed {
        method: AuthMethod::PrivateKeyJwt,
        client_id: client_id.to_string(),
        failure,
    };
    let body_id = credentials.client_id.unwrap_or_default();
    let assertion_failed =
        |client_id: &str, failure| failed(client_id, ClientAuthFailure::Assertion(failure));
    if credentials.client_assertion_type != Some(JWT_BEARER_ASSERTION_TYPE) {
        return Err(assertion_failed(body_id, AssertionFailure::UnsupportedType));
    }
    let compact = credentials.client_assertion.unwrap_or_default();
    let assertion = peek(compact).map_err(|failure| assertion_failed(body_id, failure))?;
    let client_id = credentials
        .client_id
        .or(assertion.claims.iss.as_deref())
        .ok_or_else(|| failed("", ClientAuthFailure::NoClientId))?
        .to_string();
    let Some(spec) = load_client(store, endpoint.tenant_id, &client_id).await? else {
        return Err(failed(&client_id, ClientAuthFailure::UnknownClient));
    };
    let expected = Expectations {
        client_id: &client_id,
        audiences: endpoint.audiences,
        now,
    };
    let accepted = verify(&assertion, &spec.parsed_certificates(), &expected)
        .map_err(|failure| assertion_failed(&client_id, failure))?;
    let first_use = store
        .record_client_assertion(
            endpoint.tenant_id,
            &client_id,
            &accepted.jti,
            accepted.expires_at,
        )
        .await?;
    if !first_use && spec.assertion_reuse == AssertionReuse::Refuse {
        return Err(assertion_failed(&client_id, AssertionFailure::Replayed));
    }
    Ok(AuthenticatedClient {
        id: client_id,
        spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::oidc_fixture::{Fixture, now};

    /// The fixture tenant's token endpoint (no assertion audiences: these tests use secrets).
    fn endpoint(fixture: &Fixture) -> TokenEndpoint<'_> {
        TokenEndpoint {
            tenant_id: &fixture.tenant.id,
            audiences: &[],
        }
    }

    fn basic(client_id: &str, secret: &str) -> PresentedCredentials<'static> {
        PresentedCredentials {
            basic: BasicCredentials::Present {
                client_id: client_id.into(),
                secret: secret.into(),
            },
            client_id: None,
            client_secret: None,
            client_assertion_type: None,
            client_assertion: None,
        }
    }

    fn post<'a>(client_id: &'a str, secret: Option<&'a str>) -> PresentedCredentials<'a> {
        PresentedCredentials {
            basic: BasicCredentials::Absent,
            client_id: Some(client_id),
            client_secret: secret,
            client_assertion_type: None,
            client_assertion: None,
        }
    }

    async fn failure_of(
        fixture: &Fixture,
        credentials: &PresentedCredentials<'_>,
        now: i64,
    ) -> (AuthMethod, ClientAuthFailure) {
        match authenticate_client(&fixture.store, &endpoint(fixture), credentials, now).await {
            Err(ClientAuthError::Failed {
                method, failure, ..
            }) => (method, failure),
            other => panic!("expected a failed authentication, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_confidential_client_authenticates_with_its_secret_by_basic_or_post() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("s3cret")).await;
        for credentials in [basic(&app.id, "s3cret"), post(&app.id, Some("s3cret"))] {
            let client =
                authenticate_client(&fixture.store, &endpoint(&fixture), &credentials, now())
                    .await
                    .expect("authenticated");
            assert_eq!(client.id, app.id);
        }
    }

    #[tokio::test]
    async fn a_wrong_or_missing_secret_fails_and_names_the_method_used() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("s3cret")).await;
        assert_eq!(
            failure_of(&fixture, &basic(&app.id, "guess"), now()).await,
            (AuthMethod::Basic, ClientAuthFailure::WrongSecret)
        );
        assert_eq!(
            failure_of(&fixture, &post(&app.id, Some("guess")), now()).await,
            (AuthMethod::Post, ClientAuthFailure::WrongSecret)
        );
        assert_eq!(
            failure_of(&fixture, &post(&app.id, None), now()).await,
            (AuthMethod::None, ClientAuthFailure::SecretMissing)
        );
    }

    #[tokio::test]
    async fn an_expired_secret_no_longer_authenticates() {
        let fixture = Fixture::new().await;
        let mut spec = crate::runtime::domain::oidc_fixture::client_spec(crate::api::AppType::Web);
        let expires_at = jiff::Timestamp::from_second(now() + 60).expect("timestamp");
        spec.client_secrets.push(crate::contract::ClientSecretSpec {
            hash: Some(crate::contract::client_secret_hash("s3cret")),
            value: None,
            expires_at: Some(expires_at),
        });
        let app = fixture.register(spec).await;
        let credentials = post(&app.id, Some("s3cret"));
        let before =
            authenticate_client(&fixture.store, &endpoint(&fixture), &credentials, now()).await;
        assert!(before.is_ok());
        assert_eq!(
            failure_of(&fixture, &credentials, now() + 60).await,
            (AuthMethod::Post, ClientAuthFailure::WrongSecret)
        );
    }

    #[tokio::test]
    async fn a_public_client_sends_its_id_alone_and_never_a_secret() {
        let fixture = Fixture::new().await;
        let spa = fixture.app(None).await;
        let bare_id = post(&spa.id, None);
        let bare = authenticate_client(&fixture.store, &endpoint(&fixture), &bare_id, now()).await;
        assert!(bare.is_ok());
        assert_eq!(
            failure_of(&fixture, &post(&spa.id, Some("x")), now()).await,
            (AuthMethod::Post, ClientAuthFailure::SecretNotAllowed)
        );
        assert_eq!(
            failure_of(&fixture, &basic(&spa.id, "x"), now()).await,
            (AuthMethod::Basic, ClientAuthFailure::SecretNotAllowed)
        );
    }

    #[tokio::test]
    async fn unknown_missing_and_malformed_clients_fail() {
        let fixture = Fixture::new().await;
        let nobody = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            failure_of(&fixture, &post(&nobody, None), now()).await,
            (AuthMethod::None, ClientAuthFailure::UnknownClient)
        );
        let none = PresentedCredentials {
            basic: BasicCredentials::Absent,
            client_id: None,
            client_secret: None,
            client_assertion_type: None,
            client_assertion: None,
        };
        assert_eq!(
            failure_of(&fixture, &none, now()).await,
            (AuthMethod::None, ClientAuthFailure::NoClientId)
        );
        let malformed = PresentedCredentials {
            basic: BasicCredentials::Malformed,
            ..none
        };
        assert_eq!(
            failure_of(&fixture, &malformed, now()).await,
            (AuthMethod::Basic, ClientAuthFailure::MalformedBasic)
        );
    }

    #[tokio::test]
    async fn two_methods_at_once_or_disagreeing_ids_are_malformed_requests() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("s3cret")).await;
        let both = PresentedCredentials {
            client_secret: Some("s3cret"),
            ..basic(&app.id, "s3cret")
        };
        let disagreeing = PresentedCredentials {
            client_id: Some("someone-else"),
            ..basic(&app.id, "s3cret")
        };
        for credentials in [both, disagreeing] {
            let result =
                authenticate_client(&fixture.store, &endpoint(&fixture), &credentials, now()).await;
            assert!(
                matches!(result, Err(ClientAuthError::InvalidRequest(_))),
                "{result:?}"
            );
        }
        let agreeing = PresentedCredentials {
            client_id: Some(&app.id),
            ..basic(&app.id, "s3cret")
        };
        let result =
            authenticate_client(&fixture.store, &endpoint(&fixture), &agreeing, now()).await;
        assert!(result.is_ok());
    }

    const RSA_CERTIFICATE: &str = include_str!("../../contract/testdata/rsa2048.crt");
    const RSA_KEY: &str = include_str!("../../contract/testdata/rsa2048.key");
    const TOKEN_ENDPOINT: &str = "https://id.example.com/contoso/oauth2/v2.0/token";

    /// A daemon that authenticates with the RSA test certificate (and has no secret).
    async fn certificate_daemon(fixture: &Fixture) -> AuthenticatedClient {
        let mut spec =
            crate::runtime::domain::oidc_fixture::client_spec(crate::api::AppType::Daemon);
        spec.redirect_uris.clear();
        spec.certificates
            .push(crate::contract::certificate::CertificateSpec {
                pem: RSA_CERTIFICATE.into(),
            });
        fixture.register(spec).await
    }

    fn assertion_for(client_id: &str, jti: &str) -> String {
        let thumbprint = crate::contract::certificate::parse_certificate(RSA_CERTIFICATE)
            .expect("certificate")
            .sha256_thumbprint;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t_s256 = Some(thumbprint);
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": TOKEN_ENDPOINT,
            "exp": now() + 300, "iat": now(), "jti": jti,
        });
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).expect("key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }

    fn with_assertion<'a>(
        client_id: Option<&'a str>,
        assertion: &'a str,
    ) -> PresentedCredentials<'a> {
        PresentedCredentials {
            basic: BasicCredentials::Absent,
            client_id,
            client_secret: None,
            client_assertion_type: Some(JWT_BEARER_ASSERTION_TYPE),
            client_assertion: Some(assertion),
        }
    }

    async fn by_assertion(
        fixture: &Fixture,
        credentials: &PresentedCredentials<'_>,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let audiences = [TOKEN_ENDPOINT.to_string()];
        let endpoint = TokenEndpoint {
            tenant_id: &fixture.tenant.id,
            audiences: &audiences,
        };
        authenticate_client(&fixture.store, &endpoint, credentials, now()).await
    }

    fn assertion_failure(
        result: Result<AuthenticatedClient, ClientAuthError>,
    ) -> ClientAuthFailure {
        match result {
            Err(ClientAuthError::Failed {
                method: AuthMethod::PrivateKeyJwt,
                failure,
                ..
            }) => failure,
            other => panic!("expected a failed private_key_jwt authentication, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_assertion_authenticates_its_issuer_once_and_a_replay_fails() {
        let fixture = Fixture::new().await;
        let daemon = certificate_daemon(&fixture).await;
        let assertion = assertion_for(&daemon.id, "jti-1");
        let client = by_assertion(&fixture, &with_assertion(None, &assertion))
            .await
            .expect("authenticated by the assertion alone");
        assert_eq!(client.id, daemon.id);
        let replay = by_assertion(&fixture, &with_assertion(Some(&daemon.id), &assertion)).await;
        assert_eq!(
            assertion_failure(replay),
            ClientAuthFailure::Assertion(AssertionFailure::Replayed)
        );
        let fresh = assertion_for(&daemon.id, "jti-2");
        assert!(
            by_assertion(&fixture, &with_assertion(Some(&daemon.id), &fresh))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_client_that_allows_reuse_accepts_an_assertion_again_until_it_expires() {
        let fixture = Fixture::new().await;
        let mut spec = ClientSpec::clone(&certificate_daemon(&fixture).await.spec);
        spec.assertion_reuse = AssertionReuse::AllowUntilExpiry;
        let msal_like = fixture.register(spec).await;
        let assertion = assertion_for(&msal_like.id, "jti-1");
        for attempt in ["first", "second", "third"] {
            let presented = with_assertion(Some(&msal_like.id), &assertion);
            let client = by_assertion(&fixture, &presented).await;
            assert!(client.is_ok(), "{attempt} use: {client:?}");
        }
        // Every other check still applies: a copy for another client is refused.
        let other = certificate_daemon(&fixture).await;
        let result = by_assertion(&fixture, &with_assertion(Some(&other.id), &assertion)).await;
        assert_eq!(
            assertion_failure(result),
            ClientAuthFailure::Assertion(AssertionFailure::WrongIssuer)
        );
    }

    #[tokio::test]
    async fn the_body_client_id_must_be_the_assertions_issuer() {
        let fixture = Fixture::new().await;
        let daemon = certificate_daemon(&fixture).await;
        let other = certificate_daemon(&fixture).await;
        let assertion = assertion_for(&daemon.id, "jti-1");
        let result = by_assertion(&fixture, &with_assertion(Some(&other.id), &assertion)).await;
        assert_eq!(
            assertion_failure(result),
            ClientAuthFailure::Assertion(AssertionFailure::WrongIssuer)
        );
    }

    #[tokio::test]
    async fn a_client_without_that_certificate_or_an_unknown_client_fails() {
        let fixture = Fixture::new().await;
        let with_secret = fixture.app(Some("s3cret")).await;
        let assertion = assertion_for(&with_secret.id, "jti-1");
        let result = by_assertion(&fixture, &with_assertion(None, &assertion)).await;
        assert_eq!(
            assertion_failure(result),
            ClientAuthFailure::Assertion(AssertionFailure::UnknownCertificate)
        );
        let nobody = uuid::Uuid::new_v4().to_string();
        let assertion = assertion_for(&nobody, "jti-1");
        let result = by_assertion(&fixture, &with_assertion(None, &assertion)).await;
        assert_eq!(assertion_failure(result), ClientAuthFailure::UnknownClient);
    }

    #[tokio::test]
    async fn an_assertion_with_a_secret_or_of_another_type_is_refused() {
        let fixture = Fixture::new().await;
        let daemon = certificate_daemon(&fixture).await;
        let assertion = assertion_for(&daemon.id, "jti-1");
        let mixed = PresentedCredentials {
            client_secret: Some("s3cret"),
            ..with_assertion(Some(&daemon.id), &assertion)
        };
        let result = by_assertion(&fixture, &mixed).await;
        assert!(
            matches!(result, Err(ClientAuthError::InvalidRequest(_))),
            "{result:?}"
        );
        let mut with_basic = with_assertion(None, &assertion);
        with_basic.basic = BasicCredentials::Present {
            client_id: daemon.id.clone(),
            secret: "s3cret".into(),
        };
        let result = by_assertion(&fixture, &with_basic).await;
        assert!(
            matches!(result, Err(ClientAuthError::InvalidRequest(_))),
            "{result:?}"
        );
        let saml = PresentedCredentials {
            client_assertion_type: Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ..with_assertion(Some(&daemon.id), &assertion)
        };
        assert_eq!(
            assertion_failure(by_assertion(&fixture, &saml).await),
            ClientAuthFailure::Assertion(AssertionFailure::UnsupportedType)
        );
        // None of the refusals above used up the assertion.
        assert!(
            by_assertion(&fixture, &with_assertion(None, &assertion))
                .await
                .is_ok()
        );
    }
}
