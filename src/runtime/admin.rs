//! Serves the admin API: declarative tenants, clients, user flows, branding and signing keys.
//!
//! `PUT` takes a whole object, `GET` returns it for drift checks, `DELETE` removes it; the same
//! listener serves `/healthz`, `/readyz` and `/metrics`.
//!
//! ```text
//!  /admin/v1/tenants/{subdomain}                      tenant
//!      ├── /clients/{clientId}                        app registration
//!      ├── /userflows/{name}                          user flow
//!      ├── /branding                                  branding (one per tenant)
//!      └── /signing-keys, /signing-keys/rotate        key inventory and rotation
//! ```
//!
//! Every request needs `Authorization: Bearer <token from the admin token file>`. Errors are
//! RFC 9457 `application/problem+json` documents naming the field and the reason.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::metrics::{self, ListenerMetrics};
use super::store::{Document, Kind, StoreError};
use super::tokens::TokenError;
use super::{AppState, Tenant, email};
use crate::contract::owner::{self, Claim, Owner};
use crate::contract::{
    self as model, BrandingDocument, ClientSpec, FieldError, SmtpSpec, StoredSmtp, TenantSpec,
    UserFlowSpec,
};

/// Largest accepted request body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An RFC 9457 problem document.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// For a refused write to another object's property: who owns it.
    owner: Option<Box<Owner>>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            owner: None,
        }
    }

    fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Invalid object",
            detail,
            errors,
            owner: None,
        }
    }

    fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }])
    }

    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", what)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the runtime failed to complete the request; see its logs",
        )
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    problem_type: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a Owner>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            problem_type: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            owner: self.owner.as_deref(),
        };
        let mut response = (
            self.status,
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ciam-admin\""),
            );
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => {
                Problem::new(StatusCode::CONFLICT, "Conflict", message)
            }
            StoreError::OwnedByAnother { what, owner } => {
                tracing::warn!(object = %what, owner = %owner, "refused a write by another owner");
                Problem {
                    owner: Some(owner.clone()),
                    ..Problem::new(
                        StatusCode::CONFLICT,
                        "Owned by another object",
                        format!(
                            "{what} belongs to {owner}; only its owner may change or delete it"
                        ),
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "admin request failed in storage");
                Problem::internal()
            }
        }
    }
}

impl From<TokenError> for Problem {
    fn from(error: TokenError) -> Self {
        tracing::error!(error = %error, "admin request failed handling signing keys");
        Problem::internal()
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request body too large",
        format!("the body must be at most {MAX_BODY_BYTES} bytes"),
    )
}

fn is_json_media_type(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type == "application/json" || media_type.ends_with("+json")
}

fn unsupported_media_type() -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        "the body must be JSON with Content-Type: application/json",
    )
}

/// Refuses a body whose declared length is over [`MAX_BODY_BYTES`] before reading any of it,
/// so a client sending `Expect: 100-continue` is answered without uploading the body.
fn check_declared_length(headers: &HeaderMap) -> Result<(), Problem> {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    Ok(())
}

/// Reads a body of at most [`MAX_BODY_BYTES`] (413 beyond, also when sent chunked).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    check_declared_length(headers)?;
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

/// A JSON request body: `application/json`, at most [`MAX_BODY_BYTES`], answered with a
/// problem document when it is too large (413), of another type (415) or malformed or of the
/// wrong shape (400, naming the offending field).
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        check_declared_length(request.headers())?;
        if !is_json_media_type(request.headers()) {
            return Err(unsupported_media_type());
        }
        let (parts, body) = request.into_parts();
        let body = read_body(&parts.headers, body).await?;
        parse_json(&body).map(AdminJson)
    }
}

/// Who a write comes from: the `Ciam-Owner` and `Ciam-Owner-Replaces` headers (see
/// [`owner`]), refused with 400 naming the header when malformed.
pub struct OwnerClaim(pub Claim);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for OwnerClaim {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &'static str| -> Result<Option<&str>, Problem> {
            let mut values = parts.headers.get_all(name).iter();
            let value = values.next();
            if values.next().is_some() {
                return Err(header_problem(name, "must be sent once"));
            }
            value
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| header_problem(name, "must be visible ASCII"))
                })
                .transpose()
        };
        let owner = header(owner::HEADER)?
            .map(|value| {
                Owner::parse(value).map_err(|reason| header_problem(owner::HEADER, reason))
            })
            .transpose()?;
        let replaces = header(owner::REPLACES_HEADER)?
            .map(|value| {
                owner::parse_replaces(value)
                    .map_err(|reason| header_problem(owner::REPLACES_HEADER, reason))
            })
            .transpose()?;
        if replaces.is_some() && owner.is_none() {
            return Err(header_problem(
                owner::REPLACES_HEADER,
                "needs a Ciam-Owner header: only a declared owner can take over",
            ));
        }
        Ok(Self(Claim { owner, replaces }))
    }
}

fn header_problem(name: &str, reason: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "Invalid header",
        format!("{name}: {}", reason.into()),
    )
}

/// An optional JSON request body: none (empty), or JSON under the same rules as
/// [`AdminJson`]. For actions such as key rotation whose clients may send `{}`.
pub struct OptionalAdminJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalAdminJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = read_body(&parts.headers, body).await?;
        if body.is_empty() {
            return Ok(OptionalAdminJson(None));
        }
        if !is_json_media_type(&parts.headers) {
            return Err(unsupported_media_type());
        }
        parse_json(&body).map(|value| OptionalAdminJson(Some(value)))
    }
}

/// Middleware for the admin listener: a request whose endpoint takes no body (every `GET`,
/// `HEAD` and `DELETE`) is refused when it carries one: 413 when over [`MAX_BODY_BYTES`], else
/// 400. `PUT` and `POST` handlers read their bodies themselves.
async fn refuse_unexpected_body(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::PUT | Method::POST) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read_body(&parts.headers, body).await {
        Ok(bytes) if bytes.is_empty() => next.run(Request::from_parts(parts, Body::empty())).await,
        Ok(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "Unexpected request body",
            format!("{} requests to this endpoint take no body", parts.method),
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// Where a JSON shape error points: the path serde_path_to_error tracked (`clientSecrets[0].hash`,
/// `.` for the whole document), extended by the name of a missing field.
fn shape_error(path: &str, message: &str) -> FieldError {
    let parent = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match missing {
        Some(name) if parent.is_empty() => FieldError::new(name, "is required"),
        Some(name) => FieldError::new(format!("{parent}.{name}"), "is required"),
        None if parent.is_empty() => FieldError::new(ROOT_FIELD, message),
        None => FieldError::new(parent, message),
    }
}

/// The `field` of an error about the body as a whole (for example an array sent for an object).
pub const ROOT_FIELD: &str = "(body)";

/// serde_json's message without its " at line L column C" suffix (the path says where).
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message,
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let malformed = |error: &serde_json::Error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Malformed request body",
            format!(
                "malformed JSON at line {} column {}",
                error.line(),
                error.column()
            ),
        )
    };
    // Well-formedness first (trailing characters included): deserializing stops at the first
    // shape error, which in a truncated document would hide that it is truncated.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|error| malformed(&error))?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return malformed(&inner);
        }
        let field = shape_error(&path, &without_position(&inner));
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Malformed request body",
            detail: format!(
                "the JSON does not have the expected shape: {}: {}",
                field.field, field.reason
            ),
            errors: vec![field],
            owner: None,
        }
    })
}

/// Middleware: rejects requests without the admin bearer token (compared in constant time).
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if state.admin_token_matches(token.as_bytes()) => next.run(request).await,
        Some(_) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the bearer token is not valid",
        )
        .into_response(),
        None => Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "an Authorization: Bearer token is required",
        )
        .into_response(),
    }
}

/// The admin listener's router.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/admin/v1/tenants", get(list_tenants))
        .route(
            "/admin/v1/tenants/{tenant}",
            get(get_tenant).put(put_tenant).delete(delete_tenant),
        )
        .route("/admin/v1/tenants/{tenant}/clients", get(list_clients))
        .route(
            "/admin/v1/tenants/{tenant}/clients/{client_id}",
            get(get_client).put(put_client).delete(delete_client),
        )
        .route("/admin/v1/tenants/{tenant}/userflows", get(list_user_flows))
        .route(
            "/admin/v1/tenants/{tenant}/userflows/{name}",
            get(get_user_flow)
                .put(put_user_flow)
                .delete(delete_user_flow),
        )
        .route(
            "/admin/v1/tenants/{tenant}/branding",
            get(get_branding).put(put_branding).delete(delete_branding),
        )
        .route(
            "/admin/v1/tenants/{tenant}/smtp",
            get(get_smtp).put(put_smtp).delete(delete_smtp),
        )
        .route(
            "/admin/v1/tenants/{tenant}/signing-keys",
            get(list_signing_keys),
        )
        .route(
            "/admin/v1/tenants/{tenant}/signing-keys/rotate",
            post(rotate_signing_keys),
        )
        .route_layer(middleware::from_fn(refuse_unexpected_body))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let listener_metrics = ListenerMetrics {
        listener: "admin",
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .route_layer(middleware::from_fn(refuse_unexpected_body))
        .merge(api)
        .route_layer(middleware::from_fn_with_state(
            listener_metrics,
            metrics::track,
        ))
        .fallback(|| async { Problem::not_found("no such admin endpoint") })
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn render_metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    (headers, state.metrics.render()).into_response()
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|timestamp| timestamp.to_string())
        .unwrap_or_default()
}

fn stored_json<T: DeserializeOwned>(document: &Document, what: &'static str) -> Result<T, Problem> {
    serde_json::from_str(&document.spec).map_err(|error| {
        Problem::from(StoreError::Corrupt {
            what,
            reason: error.to_string(),
        })
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Problem> {
    serde_json::to_string(value).map_err(|error| {
        tracing::error!(error = %error, "failed to serialize a spec");
        Problem::internal()
    })
}

fn respond(created: bool, body: serde_json::Value) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

async fn require_tenant(state: &AppState, subdomain: &str) -> Result<Tenant, Problem> {
    state
        .tenant(subdomain)
        .await?
        .ok_or_else(|| Problem::not_found(format!("tenant {subdomain} does not exist")))
}

// ---- tenants --------------------------------------------------------------------------------

fn tenant_view(state: &AppState, document: &Document) -> Result<serde_json::Value, Problem> {
    let spec: TenantSpec = stored_json(document, "tenant")?;
    let issuer = state.issuer(&document.key);
    Ok(serde_json::json!({
        "tenantId": document.tenant_id,
        "subdomain": document.key,
        "authority": state.authority(&document.key),
        "issuer": issuer,
        "discoveryUrl": format!("{issuer}/.well-known/openid-configuration"),
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "owner": document.owner,
        "spec": spec,
    }))
}

async fn list_tenants(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let items = state
        .store
        .tenants()
        .await?
        .iter()
        .map(|document| tenant_view(&state, document))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_tenant(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let document = state
        .store
        .tenant(&subdomain)
        .await?
        .ok_or_else(|| Problem::not_found(format!("tenant {subdomain} does not exist")))?;
    Ok(axum::Json(tenant_view(&state, &document)?).into_response())
}

async fn put_tenant(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
    AdminJson(mut spec): AdminJson<TenantSpec>,
) -> Result<Response, Problem> {
    if !model::is_valid_subdomain(&subdomain) {
        return Err(Problem::field(
            "subdomain",
            "must be a DNS label: lowercase letters, digits and '-', at most 63 characters",
        ));
    }
    let errors = model::validate_tenant(&spec, &subdomain);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let requested_id = spec.tenant_id.take();
    spec.subdomain = None;
    let algorithm = spec
        .signing_algorithm
        .unwrap_or(state.default_signing_algorithm);
    let (document, created) = state
        .store
        .put_tenant(
            &subdomain,
            requested_id.as_deref(),
            &to_json(&spec)?,
            &claim,
        )
        .await?;
    state
        .keyring
        .ensure_keys(&state.store, &document.tenant_id, algorithm)
        .await?;
    if created {
        tracing::info!(tenant = %subdomain, tenant_id = %document.tenant_id, "tenant created");
    }
    Ok(respond(created, tenant_view(&state, &document)?))
}

async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
) -> Result<StatusCode, Problem> {
    if state.store.delete_tenant(&subdomain, &claim).await? {
        tracing::info!(tenant = %subdomain, "tenant deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- clients --------------------------------------------------------------------------------

fn client_view(document: &Document) -> Result<serde_json::Value, Problem> {
    let spec: ClientSpec = stored_json(document, "client")?;
    Ok(serde_json::json!({
        "clientId": document.key,
        "tenantId": document.tenant_id,
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "owner": document.owner,
        "spec": spec,
    }))
}

async fn list_clients(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let items = state
        .store
        .documents(Kind::Client, &tenant.id)
        .await?
        .iter()
        .map(client_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_client(
    State(state): State<Arc<AppState>>,
    Path((subdomain, client_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let document = state
        .store
        .document(Kind::Client, &tenant.id, &client_id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("client {client_id} does not exist")))?;
    Ok(axum::Json(client_view(&document)?).into_response())
}

async fn put_client(
    State(state): State<Arc<AppState>>,
    Path((subdomain, client_id)): Path<(String, String)>,
    OwnerClaim(claim): OwnerClaim,
    AdminJson(spec): AdminJson<ClientSpec>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    if !model::is_valid_uuid(&client_id) {
        return Err(Problem::field("clientId", "must be a UUID"));
    }
    let errors = model::validate_client(&spec);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let spec = model::normalize_client(spec);
    if let Some(existing) = state
        .store
        .document(Kind::Client, &tenant.id, &client_id)
        .await?
    {
        // Another owner learns nothing about the stored client, not even its type.
        if let Some(owner) = existing
            .owner
            .as_ref()
            .filter(|owner| !claim.may_write(Some(owner)))
        {
            return Err(StoreError::OwnedByAnother {
                what: format!("client {client_id}"),
                owner: Box::new(owner.clone()),
            }
            .into());
        }
        let existing: ClientSpec = stored_json(&existing, "client")?;
        if existing.app_type != spec.app_type {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "Conflict",
                "type is immutable: delete and recreate the client to change it",
            ));
        }
    }
    if let Some(identifier_uri) = spec.identifier_uri()
        && let Some(other) = state
            .store
            .client_by_identifier_uri(&tenant.id, identifier_uri)
            .await?
        && other.key != client_id
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "exposedApi.identifierUri {identifier_uri} is already used by client {}",
                other.key
            ),
        ));
    }
    let (document, created) = state
        .store
        .put_document(
            Kind::Client,
            &tenant.id,
            &client_id,
            &to_json(&spec)?,
            spec.identifier_uri(),
            &claim,
        )
        .await?;
    Ok(respond(created, client_view(&document)?))
}

async fn delete_client(
    State(state): State<Arc<AppState>>,
    Path((subdomain, client_id)): Path<(String, String)>,
    OwnerClaim(claim): OwnerClaim,
) -> Result<StatusCode, Problem> {
    if let Some(tenant) = state.tenant(&subdomain).await? {
        state
            .store
            .delete_document(Kind::Client, &tenant.id, &client_id, &claim)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- user flows -----------------------------------------------------------------------------

fn user_flow_view(document: &Document) -> Result<serde_json::Value, Problem> {
    let spec: UserFlowSpec = stored_json(document, "user flow")?;
    Ok(serde_json::json!({
        "name": document.key,
        "tenantId": document.tenant_id,
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "owner": document.owner,
        "spec": spec,
    }))
}

async fn list_user_flows(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let items = state
        .store
        .documents(Kind::UserFlow, &tenant.id)
        .await?
        .iter()
        .map(user_flow_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_user_flow(
    State(state): State<Arc<AppState>>,
    Path((subdomain, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let document = state
        .store
        .document(Kind::UserFlow, &tenant.id, &name)
        .await?
        .ok_or_else(|| Problem::not_found(format!("user flow {name} does not exist")))?;
    Ok(axum::Json(user_flow_view(&document)?).into_response())
}

async fn put_user_flow(
    State(state): State<Arc<AppState>>,
    Path((subdomain, name)): Path<(String, String)>,
    OwnerClaim(claim): OwnerClaim,
    AdminJson(spec): AdminJson<UserFlowSpec>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    if !model::is_valid_object_name(&name) {
        return Err(Problem::field(
            "name",
            "must be a DNS subdomain name such as sign-up-sign-in",
        ));
    }
    let errors = model::validate_user_flow(&spec);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let others = state.store.documents(Kind::UserFlow, &tenant.id).await?;
    let exists = others.iter().any(|document| document.key == name);
    if !exists && others.len() >= model::MAX_USER_FLOWS {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "Too many user flows",
            format!(
                "tenant {subdomain} already has {} user flows",
                model::MAX_USER_FLOWS
            ),
        ));
    }
    for other in others.iter().filter(|document| document.key != name) {
        let other_spec: UserFlowSpec = stored_json(other, "user flow")?;
        if let Some(shared) = spec
            .applications
            .iter()
            .find(|application| other_spec.applications.contains(application))
        {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "Application already in a user flow",
                format!(
                    "application {shared} is already served by user flow {}",
                    other.key
                ),
            ));
        }
    }
    let (document, created) = state
        .store
        .put_document(
            Kind::UserFlow,
            &tenant.id,
            &name,
            &to_json(&spec)?,
            None,
            &claim,
        )
        .await?;
    Ok(respond(created, user_flow_view(&document)?))
}

async fn delete_user_flow(
    State(state): State<Arc<AppState>>,
    Path((subdomain, name)): Path<(String, String)>,
    OwnerClaim(claim): OwnerClaim,
) -> Result<StatusCode, Problem> {
    if let Some(tenant) = state.tenant(&subdomain).await? {
        state
            .store
            .delete_document(Kind::UserFlow, &tenant.id, &name, &claim)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- branding -------------------------------------------------------------------------------

fn branding_view(document: &Document) -> Result<serde_json::Value, Problem> {
    let spec: BrandingDocument = stored_json(document, "branding")?;
    Ok(serde_json::json!({
        "tenantId": document.tenant_id,
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "owner": document.owner,
        "spec": spec,
    }))
}

async fn get_branding(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let document = state
        .store
        .document(Kind::Branding, &tenant.id, &tenant.id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("tenant {subdomain} has no branding")))?;
    Ok(axum::Json(branding_view(&document)?).into_response())
}

async fn put_branding(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
    AdminJson(spec): AdminJson<BrandingDocument>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let errors = model::validate_branding_document(&spec);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let (document, created) = state
        .store
        .put_document(
            Kind::Branding,
            &tenant.id,
            &tenant.id,
            &to_json(&spec)?,
            None,
            &claim,
        )
        .await?;
    Ok(respond(created, branding_view(&document)?))
}

async fn delete_branding(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
) -> Result<StatusCode, Problem> {
    if let Some(tenant) = state.tenant(&subdomain).await? {
        state
            .store
            .delete_document(Kind::Branding, &tenant.id, &tenant.id, &claim)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- SMTP settings --------------------------------------------------------------------------

fn smtp_view(document: &Document) -> Result<serde_json::Value, Problem> {
    let stored: StoredSmtp = stored_json(document, "SMTP settings")?;
    Ok(serde_json::json!({
        "tenantId": document.tenant_id,
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "spec": stored.spec,
    }))
}

async fn get_smtp(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let document = state
        .store
        .document(Kind::Smtp, &tenant.id, &tenant.id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("tenant {subdomain} has no SMTP settings")))?;
    Ok(axum::Json(smtp_view(&document)?).into_response())
}

async fn put_smtp(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    AdminJson(spec): AdminJson<SmtpSpec>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let errors = model::validate_smtp(&spec);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let previous = state
        .store
        .document(Kind::Smtp, &tenant.id, &tenant.id)
        .await?
        .map(|document| stored_json::<StoredSmtp>(&document, "SMTP settings"))
        .transpose()?;
    let stored = email::prepare_smtp(&state.kek, &tenant.id, spec, previous.as_ref())
        .map_err(|reason| Problem::invalid(vec![FieldError::new("passwordHash", reason)]))?;
    let (document, created) = state
        .store
        .put_document(
            Kind::Smtp,
            &tenant.id,
            &tenant.id,
            &to_json(&stored)?,
            None,
            &Claim::default(),
        )
        .await?;
    Ok(respond(created, smtp_view(&document)?))
}

async fn delete_smtp(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<StatusCode, Problem> {
    if let Some(tenant) = state.tenant(&subdomain).await? {
        state
            .store
            .delete_document(Kind::Smtp, &tenant.id, &tenant.id, &Claim::default())
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- signing keys ---------------------------------------------------------------------------

async fn signing_key_view(state: &AppState, tenant: &Tenant) -> Result<serde_json::Value, Problem> {
    let items: Vec<_> = state
        .store
        .signing_keys(&tenant.id)
        .await?
        .into_iter()
        .map(|key| {
            serde_json::json!({
                "kid": key.kid,
                "alg": key.algorithm,
                "state": key.state,
                "createdAt": rfc3339(key.created_at),
                "retireAfter": key.retire_after.map(rfc3339),
            })
        })
        .collect();
    Ok(serde_json::json!({ "items": items }))
}

async fn list_signing_keys(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    Ok(axum::Json(signing_key_view(&state, &tenant).await?).into_response())
}

/// Body of `POST …/signing-keys/rotate`: none, or `{}` (rotation takes no options; unknown
/// fields are refused so that a misspelt option is not silently ignored).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {}

async fn rotate_signing_keys(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OptionalAdminJson(_request): OptionalAdminJson<RotateRequest>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let algorithm = tenant
        .spec
        .signing_algorithm
        .unwrap_or(state.default_signing_algorithm);
    state
        .keyring
        .rotate(&state.store, &tenant.id, algorithm)
        .await?;
    tracing::info!(tenant = %subdomain, "signing keys rotated");
    Ok(axum::Json(signing_key_view(&state, &tenant).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_problem<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> Problem {
        match parse_json::<T>(body.as_bytes()) {
            Ok(value) => panic!("{body} parsed as {value:?}"),
            Err(problem) => problem,
        }
    }

    fn fields(problem: &Problem) -> Vec<(&str, &str)> {
        problem
            .errors
            .iter()
            .map(|error| (error.field.as_str(), error.reason.as_str()))
            .collect()
    }

    #[test]
    fn wrong_types_name_the_json_path_of_the_field() {
        let problem = shape_problem::<TenantSpec>(r#"{"displayName": 5, "countryCode": "US"}"#);
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            fields(&problem),
            [(
                "displayName",
                "invalid type: integer `5`, expected a string"
            )]
        );
        let nested = shape_problem::<ClientSpec>(
            r#"{"displayName": "A", "type": "web", "clientSecrets": [{"hash": "sha256:x"}, {"hash": true}]}"#,
        );
        assert_eq!(nested.errors[0].field, "clientSecrets[1].hash");
        let variant = shape_problem::<ClientSpec>(r#"{"displayName": "A", "type": "mobile"}"#);
        assert_eq!(variant.errors[0].field, "type");
        assert!(
            variant.errors[0]
                .reason
                .starts_with("unknown variant `mobile`")
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing = shape_problem::<TenantSpec>(r#"{"displayName": "Contoso"}"#);
        assert_eq!(fields(&missing), [("countryCode", "is required")]);
        let nested = shape_problem::<TenantSpec>(
            r#"{"displayName": "C", "countryCode": "US", "email": {"fromName": "C"}}"#,
        );
        assert_eq!(fields(&nested), [("email.fromAddress", "is required")]);
        let unknown = shape_problem::<TenantSpec>(
            r#"{"displayName": "C", "countryCode": "US", "colour": "red"}"#,
        );
        assert_eq!(unknown.errors[0].field, "colour");
        assert!(
            unknown.errors[0]
                .reason
                .starts_with("unknown field `colour`")
        );
        assert!(unknown.detail.contains("colour"));
        let whole = shape_problem::<TenantSpec>("[]");
        assert_eq!(whole.errors[0].field, ROOT_FIELD);
    }

    #[test]
    fn malformed_json_and_trailing_characters_are_malformed() {
        for body in [
            r#"{"displayName": "#,
            r#"{"displayName": "C", "countryCode": "US"} x"#,
            r#"{"colour": "red", "displayName": "#,
        ] {
            let problem = shape_problem::<TenantSpec>(body);
            assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            assert!(problem.errors.is_empty(), "{body}");
            assert!(
                problem.detail.starts_with("malformed JSON at line 1"),
                "{body}"
            );
        }
    }

    #[test]
    fn rotation_accepts_only_an_empty_object() {
        assert!(parse_json::<RotateRequest>(b"{}").is_ok());
        let problem = shape_problem::<RotateRequest>(r#"{"algorithm": "RS256"}"#);
        assert_eq!(problem.errors[0].field, "algorithm");
    }
}
