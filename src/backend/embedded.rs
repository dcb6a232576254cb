//! Client of the embedded identity runtime's admin API (`/admin/v1/…`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Backend, BackendError, CallObserver, Observed, ObservedTenant};
use crate::contract::owner::{self, Claim, Owner};
use crate::contract::{BrandingDocument, ClientSpec, SmtpSpec, TenantSpec, UserFlowSpec};

/// The embedded runtime's admin API, reached with a bearer token.
#[derive(Clone)]
pub struct EmbeddedBackend {
    http: reqwest::Client,
    base_url: String,
    token: String,
    observer: Option<std::sync::Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmbeddedBackend")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl EmbeddedBackend {
    /// A client of the admin API at `base_url` (for example `http://127.0.0.1:8081`).
    ///
    /// # Errors
    /// Fails when the HTTP client cannot be built (no TLS provider installed).
    pub fn new(base_url: &str, token: String, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            observer: None,
        })
    }

    /// Tells `observer` the latency of every request.
    pub fn with_observer(mut self, observer: std::sync::Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// One admin API request; a 404 or an empty success reads as `None`.
    async fn call<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        claim: Option<&Claim>,
        operation: impl Fn() -> String,
    ) -> Result<Option<T>, BackendError> {
        let response = self
            .send(method, path, body, claim)
            .await
            .map_err(|error| BackendError::Unavailable {
                operation: operation(),
                detail: without_url(error),
            })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let text = response
            .text()
            .await
            .map_err(|error| BackendError::Unavailable {
                operation: operation(),
                detail: without_url(error),
            })?;
        if !status.is_success() {
            return Err(failure(status, &text, operation()));
        }
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| BackendError::Unavailable {
                operation: operation(),
                detail: format!("unexpected response: {error}"),
            })
    }

    /// Sends the request with the token and the claim's headers, and tells the observer how
    /// long it took.
    async fn send<B: Serialize + Sync>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        claim: Option<&Claim>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let url = format!("{}/admin/v1/{path}", self.base_url);
        let method_label = method.clone();
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(claim) = claim {
            if let Some(owner) = &claim.owner {
                request = request.header(owner::HEADER, owner.header_value());
            }
            if let Some(replaces) = &claim.replaces {
                request = request.header(owner::REPLACES_HEADER, replaces);
            }
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = std::time::Instant::now();
        let sent = request.send().await;
        if let Some(observer) = &self.observer {
            let operation = match method_label {
                Method::PUT => "apply",
                Method::DELETE => "delete",
                _ => "observe",
            };
            observer.call_finished(operation, object_label(path), started.elapsed());
        }
        sent
    }

    async fn put<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        claim: &Claim,
        operation: impl Fn() -> String,
    ) -> Result<T, BackendError> {
        let response = self
            .call(Method::PUT, path, Some(body), Some(claim), &operation)
            .await?;
        response.ok_or_else(|| BackendError::NotFound {
            operation: operation(),
            detail: "the tenant does not exist in the identity runtime".to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        operation: impl Fn() -> String,
    ) -> Result<Option<T>, BackendError> {
        self.call::<(), T>(Method::GET, path, None, None, operation)
            .await
    }

    async fn delete(
        &self,
        path: &str,
        claim: &Claim,
        operation: impl Fn() -> String,
    ) -> Result<(), BackendError> {
        self.call::<(), serde_json::Value>(Method::DELETE, path, None, Some(claim), operation)
            .await
            .map(|_| ())
    }
}

/// The kind of object an admin API path addresses, for metrics.
fn object_label(path: &str) -> &'static str {
    if path.contains("/clients") {
        "client"
    } else if path.contains("/userflows") {
        "userflow"
    } else if path.ends_with("/branding") {
        "branding"
    } else if path.ends_with("/smtp") {
        "smtp"
    } else {
        "tenant"
    }
}

/// A transport error's description without the URL (which is not secret, but noisy).
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    };
    format!("{kind}: {}", error.without_url())
}

/// The error of a failed response: another owner's object (409 with `owner`), unavailable
/// (server errors, throttling, a refused token: retrying may help) or rejected.
fn failure(status: StatusCode, body: &str, operation: String) -> BackendError {
    if status == StatusCode::CONFLICT
        && let Some(owner) = problem_owner(body)
    {
        return BackendError::OwnedByAnother {
            operation,
            owner: Box::new(owner),
        };
    }
    let detail = problem_detail(status, body);
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::UNAUTHORIZED
    {
        BackendError::Unavailable { operation, detail }
    } else {
        BackendError::Rejected { operation, detail }
    }
}

/// The `owner` member of a 409 problem document: the object belongs to someone else.
fn problem_owner(body: &str) -> Option<Owner> {
    let problem: serde_json::Value = serde_json::from_str(body).ok()?;
    serde_json::from_value(problem.get("owner")?.clone()).ok()
}

/// The `detail` and field errors of an `application/problem+json` body, or the status.
fn problem_detail(status: StatusCode, body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<serde_json::Value>(body) else {
        return format!("HTTP {status}");
    };
    let mut detail = problem["detail"].as_str().unwrap_or("").to_string();
    if let Some(errors) = problem["errors"].as_array() {
        let fields: Vec<String> = errors
            .iter()
            .map(|error| {
                format!(
                    "{}: {}",
                    error["field"].as_str().unwrap_or("?"),
                    error["reason"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if !fields.is_empty() {
            detail = format!("{detail} ({})", fields.join("; "));
        }
    }
    if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        detail
    }
}

impl Backend for EmbeddedBackend {
    async fn apply_tenant(
        &self,
        subdomain: &str,
        tenant: &TenantSpec,
        claim: &Claim,
    ) -> Result<ObservedTenant, BackendError> {
        self.put(&format!("tenants/{subdomain}"), tenant, claim, || {
            format!("apply tenant {subdomain}")
        })
        .await
    }

    async fn observe_tenant(
        &self,
        subdomain: &str,
    ) -> Result<Option<ObservedTenant>, BackendError> {
        self.get(&format!("tenants/{subdomain}"), || {
            format!("observe tenant {subdomain}")
        })
        .await
    }

    async fn delete_tenant(&self, subdomain: &str, claim: &Claim) -> Result<(), BackendError> {
        self.delete(&format!("tenants/{subdomain}"), claim, || {
            format!("delete tenant {subdomain}")
        })
        .await
    }

    async fn apply_client(
        &self,
        subdomain: &str,
        client_id: &str,
        client: &ClientSpec,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        self.put::<_, serde_json::Value>(
            &format!("tenants/{subdomain}/clients/{client_id}"),
            client,
            claim,
            || format!("apply client {client_id} in tenant {subdomain}"),
        )
        .await
        .map(|_| ())
    }

    async fn observe_client(
        &self,
        subdomain: &str,
        client_id: &str,
    ) -> Result<Option<Observed<ClientSpec>>, BackendError> {
        self.get(&format!("tenants/{subdomain}/clients/{client_id}"), || {
            format!("observe client {client_id} in tenant {subdomain}")
        })
        .await
    }

    async fn delete_client(
        &self,
        subdomain: &str,
        client_id: &str,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        self.delete(
            &format!("tenants/{subdomain}/clients/{client_id}"),
            claim,
            || format!("delete client {client_id} in tenant {subdomain}"),
        )
        .await
    }

    async fn apply_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        flow: &UserFlowSpec,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        self.put::<_, serde_json::Value>(
            &format!("tenants/{subdomain}/userflows/{name}"),
            flow,
            claim,
            || format!("apply user flow {name} in tenant {subdomain}"),
        )
        .await
        .map(|_| ())
    }

    fn unsupported_user_flow_fields(&self, flow: &UserFlowSpec) -> Vec<(String, String)> {
        crate::contract::unsupported_user_flow_fields(flow)
    }

    async fn observe_user_flow(
        &self,
        subdomain: &str,
        name: &str,
    ) -> Result<Option<Observed<UserFlowSpec>>, BackendError> {
        self.get(&format!("tenants/{subdomain}/userflows/{name}"), || {
            format!("observe user flow {name} in tenant {subdomain}")
        })
        .await
    }

    async fn delete_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        self.delete(
            &format!("tenants/{subdomain}/userflows/{name}"),
            claim,
            || format!("delete user flow {name} in tenant {subdomain}"),
        )
        .await
    }

    async fn apply_branding(
        &self,
        subdomain: &str,
        branding: &BrandingDocument,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        self.put::<_, serde_json::Value>(
            &format!("tenants/{subdomain}/branding"),
            branding,
            claim,
            || format!("apply branding of tenant {subdomain}"),
        )
        .await
        .map(|_| ())
    }

    async fn observe_branding(
        &self,
        subdomain: &str,
    ) -> Result<Option<Observed<BrandingDocument>>, BackendError> {
        self.get(&format!("tenants/{subdomain}/branding"), || {
            format!("observe branding of tenant {subdomain}")
        })
        .await
    }

    async fn delete_branding(&self, subdomain: &str, claim: &Claim) -> Result<(), BackendError> {
        self.delete(&format!("tenants/{subdomain}/branding"), claim, || {
            format!("delete branding of tenant {subdomain}")
        })
        .await
    }

    async fn apply_smtp(
        &self,
        subdomain: &str,
        smtp: &SmtpSpec,
        password: Option<&str>,
    ) -> Result<(), BackendError> {
        let operation = || format!("apply SMTP settings of tenant {subdomain}");
        let mut body = serde_json::to_value(smtp).map_err(|error| BackendError::Rejected {
            operation: operation(),
            detail: error.to_string(),
        })?;
        if let Some(password) = password {
            // The runtime's type never serializes the password; it is added here, once,
            // for this request only.
            body["password"] = password.into();
            if let Some(fields) = body.as_object_mut() {
                fields.remove("passwordHash");
            }
        }
        self.put::<_, serde_json::Value>(
            &format!("tenants/{subdomain}/smtp"),
            &body,
            &Claim::default(),
            operation,
        )
        .await
        .map(|_| ())
    }

    async fn observe_smtp(&self, subdomain: &str) -> Result<Option<SmtpSpec>, BackendError> {
        let observed: Option<Observed<SmtpSpec>> = self
            .get(&format!("tenants/{subdomain}/smtp"), || {
                format!("observe SMTP settings of tenant {subdomain}")
            })
            .await?;
        Ok(observed.map(|observed| observed.spec))
    }

    async fn delete_smtp(&self, subdomain: &str) -> Result<(), BackendError> {
        self.delete(
            &format!("tenants/{subdomain}/smtp"),
            &Claim::default(),
            || format!("delete SMTP settings of tenant {subdomain}"),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_throttling_and_a_refused_token_are_worth_retrying() {
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::UNAUTHORIZED,
        ] {
            let error = failure(status, "", "apply client c-1".into());
            assert!(error.is_transient(), "{status}: {error}");
        }
    }

    #[test]
    fn a_refused_desired_state_names_the_fields() {
        let body = r#"{"detail":"invalid client","errors":[{"field":"redirectUris[0]","reason":"must be https"}]}"#;
        let error = failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            body,
            "apply client c-1".into(),
        );
        assert!(!error.is_transient());
        assert_eq!(
            error.to_string(),
            "failed to apply client c-1: the identity backend rejected it: invalid client (redirectUris[0]: must be https)"
        );
    }

    #[test]
    fn a_conflict_with_an_owner_is_another_objects() {
        let body = r#"{"detail":"owned","owner":{"kind":"AppRegistration","namespace":"apps","name":"shop","uid":"u1"}}"#;
        let error = failure(StatusCode::CONFLICT, body, "apply client c-1".into());
        assert!(
            matches!(error, BackendError::OwnedByAnother { ref owner, .. } if owner.name == "shop"),
            "{error:?}"
        );
        let without_owner = failure(StatusCode::CONFLICT, "{}", "apply client c-1".into());
        assert!(matches!(without_owner, BackendError::Rejected { .. }));
    }
}
