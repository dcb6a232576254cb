//! Tenants, `/admin/v1/tenants/{subdomain}`: created with their signing keys, shown with the
//! URLs apps configure.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{AdminJson, OwnerClaim, Problem, respond, rfc3339, stored_json, to_json};
use crate::contract::{self as model, TenantSpec};
use crate::runtime::AppState;
use crate::runtime::domain::admin::tenant_write;
use crate::runtime::store::Document;

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

pub(super) async fn list_tenants(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let items = state
        .store
        .tenants()
        .await?
        .iter()
        .map(|document| tenant_view(&state, document))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

pub(super) async fn get_tenant(
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

pub(super) async fn put_tenant(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
    AdminJson(spec): AdminJson<TenantSpec>,
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
    let write = tenant_write(spec, state.settings.default_signing_algorithm);
    let (document, created) = state
        .store
        .put_tenant(
            &subdomain,
            write.requested_id.as_deref(),
            &to_json(&write.spec)?,
            &claim,
        )
        .await?;
    state
        .keys
        .keyring
        .ensure_keys(&state.store, &document.tenant_id, write.signing_algorithm)
        .await?;
    if created {
        tracing::info!(tenant = %subdomain, tenant_id = %document.tenant_id, "tenant created");
    }
    Ok(respond(created, tenant_view(&state, &document)?))
}

pub(super) async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    OwnerClaim(claim): OwnerClaim,
) -> Result<StatusCode, Problem> {
    if state.store.delete_tenant(&subdomain, &claim).await? {
        tracing::info!(tenant = %subdomain, "tenant deleted");
    }
    Ok(StatusCode::NO_CONTENT)
}
