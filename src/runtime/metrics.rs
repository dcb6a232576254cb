//! Prometheus metrics of the runtime: HTTP requests per route, tokens issued per grant type,
//! failed client authentications, and the work done before authentication (password
//! verifications).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an HTTP request: listener, method, route template and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `public` or `admin`.
    pub listener: &'static str,
    /// HTTP method.
    pub method: String,
    /// Route template (never the raw path, which could hold identifiers).
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of a token outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// The grant type requested.
    pub grant_type: String,
    /// `issued` or the OAuth error code.
    pub outcome: String,
}

/// Labels of a failed client authentication at the token endpoint (never the client ID,
/// which the caller chooses, nor anything of the secret).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientAuthFailureLabels {
    /// Subdomain of the tenant (only existing tenants get this far).
    pub tenant: String,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub method: &'static str,
    /// Why it failed, for example `wrong_secret` or `unknown_client`.
    pub reason: &'static str,
}

/// Builds latency histograms with buckets from 0.5 ms to about 16 s.
#[derive(Clone, Copy, Debug)]
pub struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    }
}

/// The runtime's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RequestLabels, Histogram, LatencyBuckets>,
    tokens: Family<TokenLabels, Counter>,
    password_verifications: Counter,
    client_auth_failures: Family<ClientAuthFailureLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ciam_runtime");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds =
            Family::<RequestLabels, Histogram, LatencyBuckets>::new_with_constructor(
                LatencyBuckets,
            );
        let tokens = Family::<TokenLabels, Counter>::default();
        let password_verifications = Counter::default();
        let client_auth_failures = Family::<ClientAuthFailureLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by listener, method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by listener, method, route and status",
            request_seconds.clone(),
        );
        registry.register(
            "token_requests",
            "Token endpoint requests by grant type and outcome",
            tokens.clone(),
        );
        registry.register(
            "password_verifications",
            "Argon2 password verifications run by sign-in, whatever the account and the outcome",
            password_verifications.clone(),
        );
        registry.register(
            "client_authentication_failures",
            "Failed client authentications at the token endpoint by tenant, method and reason",
            client_auth_failures.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            tokens,
            password_verifications,
            client_auth_failures,
        }
    }

    /// Counts a token endpoint outcome.
    pub fn count_token(&self, grant_type: &str, outcome: &str) {
        // Bound label cardinality: unknown grant types share one label.
        let grant_type = match grant_type {
            "authorization_code" | "refresh_token" | "client_credentials" => grant_type,
            _ => "other",
        };
        self.tokens
            .get_or_create(&TokenLabels {
                grant_type: grant_type.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts one Argon2 password verification. Every sign-in with a password should run
    /// exactly one, so the counter shows when some account state skips the work.
    pub fn count_password_verification(&self) {
        self.password_verifications.inc();
    }

    /// Counts a failed client authentication.
    pub fn count_client_auth_failure(
        &self,
        tenant: &str,
        method: &'static str,
        reason: &'static str,
    ) {
        self.client_auth_failures
            .get_or_create(&ClientAuthFailureLabels {
                tenant: tenant.to_string(),
                method,
                reason,
            })
            .inc();
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.request_seconds.get_or_create(&labels).observe(seconds);
    }
}

/// Which listener a request came through, for the metrics middleware.
#[derive(Clone)]
pub struct ListenerMetrics {
    /// `public` or `admin`.
    pub listener: &'static str,
    /// Shared metrics.
    pub metrics: std::sync::Arc<Metrics>,
}

/// Middleware: measures every request and logs it at debug level by route template, never
/// with the query string (which may carry codes or tokens).
pub async fn track(
    State(context): State<ListenerMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::debug!(
        listener = context.listener,
        %method,
        %route,
        status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    context.metrics.observe(
        RequestLabels {
            listener: context.listener,
            method,
            route,
            status,
        },
        elapsed.as_secs_f64(),
    );
    response
}
