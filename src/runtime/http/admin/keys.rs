//! Signing keys of a tenant, `/admin/v1/tenants/{tenant}/signing-keys`: the inventory, and
//! rotation on request.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{OptionalAdminJson, Problem, require_tenant, rfc3339};
use crate::runtime::{AppState, Tenant};

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

pub(super) async fn list_signing_keys(
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

pub(super) async fn rotate_signing_keys(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OptionalAdminJson(_request): OptionalAdminJson<RotateRequest>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let algorithm = tenant
        .spec
        .signing_algorithm
        .unwrap_or(state.settings.default_signing_algorithm);
    state
        .keys
        .keyring
        .rotate(&state.store, &tenant.id, algorithm)
        .await?;
    tracing::info!(tenant = %subdomain, "signing keys rotated");
    Ok(axum::Json(signing_key_view(&state, &tenant).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::super::extract::parse_json;
    use super::*;

    #[test]
    fn rotation_accepts_only_an_empty_object() {
        assert!(parse_json::<RotateRequest>(b"{}").is_ok());
        let Err(problem) = parse_json::<RotateRequest>(br#"{"algorithm": "RS256"}"#) else {
            panic!("an option was accepted");
        };
        assert_eq!(problem.errors[0].field, "algorithm");
    }
}
