//! Prometheus metrics of the operator and its `/healthz`, `/readyz` and `/metrics` endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming the kind reconciled.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `CustomerTenant`, `AppRegistration`, `UserFlow` or `Branding`.
    pub kind: &'static str,
}

/// Labels of a failed reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The kind reconciled.
    pub kind: &'static str,
    /// Short error class (`kube`, `unavailable`, `rejected`, `waiting`, …).
    pub error: &'static str,
}

/// Labels of a backend call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// `apply`, `observe` or `delete`.
    pub operation: &'static str,
    /// `tenant`, `client`, `userflow` or `branding`.
    pub object: &'static str,
}

/// Histogram buckets from 1 ms to about 30 s.
#[derive(Clone, Copy, Debug)]
pub struct SecondsBuckets;

impl MetricConstructor<Histogram> for SecondsBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    }
}

/// The operator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles started, per kind.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconciles that failed, per kind and error class.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile durations, per kind.
    pub reconcile_seconds: Family<KindLabels, Histogram, SecondsBuckets>,
    /// Backend request latency, per operation and object.
    pub backend_seconds: Family<BackendLabels, Histogram, SecondsBuckets>,
    /// Differences found in the backend and corrected, per kind.
    pub drift_corrections: Family<KindLabels, Counter>,
    /// Whether the operator has started: a standby replica is ready too, so rolling updates
    /// of a two-replica Deployment make progress while the old leader still holds the Lease.
    pub ready: AtomicBool,
    /// 1 while this replica holds the leader Lease (or runs without leader election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ciam_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_seconds = Family::new_with_constructor(SecondsBuckets);
        let backend_seconds = Family::new_with_constructor(SecondsBuckets);
        let drift_corrections = Family::<KindLabels, Counter>::default();
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and reconciles",
            leader.clone(),
        );
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed",
            reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_seconds.clone(),
        );
        registry.register(
            "backend_request_duration_seconds",
            "Latency of identity backend requests",
            backend_seconds.clone(),
        );
        registry.register(
            "drift_corrections",
            "Backend objects found changed and restored",
            drift_corrections.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_seconds,
            backend_seconds,
            drift_corrections,
            ready: AtomicBool::new(false),
            leader,
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The router of the operator's health and metrics listener.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(metrics): State<Arc<Metrics>>| async move {
                if metrics.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(metrics): State<Arc<Metrics>>| async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }),
        )
        .with_state(metrics)
}

/// Observes the duration of one reconcile when dropped.
pub struct ReconcileTimer {
    metrics: Arc<Metrics>,
    kind: &'static str,
    started: std::time::Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics
            .reconcile_seconds
            .get_or_create(&KindLabels { kind: self.kind })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Counts a reconcile of `kind` and times it until the returned guard is dropped.
pub fn reconcile_started(metrics: &Arc<Metrics>, kind: &'static str) -> ReconcileTimer {
    metrics.reconciles.get_or_create(&KindLabels { kind }).inc();
    ReconcileTimer {
        metrics: metrics.clone(),
        kind,
        started: std::time::Instant::now(),
    }
}

impl crate::backend::CallObserver for Metrics {
    fn call_finished(
        &self,
        operation: &'static str,
        object: &'static str,
        elapsed: std::time::Duration,
    ) {
        self.backend_seconds
            .get_or_create(&BackendLabels { operation, object })
            .observe(elapsed.as_secs_f64());
    }
}
