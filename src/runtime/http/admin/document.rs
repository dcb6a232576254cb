//! The routes every document kind of a tenant shares, written once: list, get, put and delete,
//! for a kind with named objects (`…/clients/{clientId}`) or with one object per tenant
//! (`…/branding`).
//!
//! ```text
//!  PUT    tenant exists? ─▶ validate (key, fields) ─▶ prepare (checks against stored) ─▶ store ─▶ 201 | 200
//!  GET    tenant exists? ─▶ stored? ─▶ view                                              404 otherwise
//!  DELETE tenant exists? ─▶ delete if the claim may                                      always 204
//! ```

use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AdminJson, Problem, require_tenant, respond, rfc3339, stored_json, to_json};
use crate::contract::FieldError;
use crate::contract::owner::Claim;
use crate::runtime::store::{Document, Kind};
use crate::runtime::{AppState, Tenant};

/// A kind of document stored per tenant, and what is its own in the shared routes.
pub(super) trait AdminDocument: Send + Sync + 'static {
    /// Where it is stored.
    const KIND: Kind;
    /// What messages call it: `client`, `user flow`, `branding`, `SMTP settings`.
    const WHAT: &'static str;
    /// The field naming an object in its view and in errors (`clientId`, `name`); `None` for a
    /// kind with one object per tenant.
    const KEY_FIELD: Option<&'static str>;
    /// The body of a `PUT`.
    type Spec: DeserializeOwned + Send + 'static;
    /// What is stored.
    type Stored: Serialize + DeserializeOwned + Send + Sync;
    /// Who writes: [`super::OwnerClaim`], or [`super::NoOwner`] for a kind without owners.
    type Claim: FromRequestParts<Arc<AppState>> + Into<Claim> + Send + 'static;

    /// What is wrong with `spec` written under `key` (empty when nothing is); a bad key is
    /// reported alone.
    fn validate(key: &str, spec: &Self::Spec) -> Vec<FieldError>;

    /// What to store for a valid `spec`, after the checks against the stored objects.
    fn prepare(
        state: &AppState,
        tenant: &Tenant,
        key: &str,
        spec: Self::Spec,
        claim: &Claim,
    ) -> impl Future<Output = Result<Self::Stored, Problem>> + Send;

    /// The identifier URI the stored object is indexed by, if any.
    fn identifier_uri(_stored: &Self::Stored) -> Option<&str> {
        None
    }

    /// What `GET` returns.
    fn view(document: &Document) -> Result<serde_json::Value, Problem> {
        let stored: Self::Stored = stored_json(document, Self::WHAT)?;
        Ok(document_view::<Self>(document, true, &stored))
    }
}

/// The view of a stored object: its key (for a named kind), tenant, times, owner (when `owned`)
/// and `spec`.
pub(super) fn document_view<D: AdminDocument + ?Sized>(
    document: &Document,
    owned: bool,
    spec: &impl Serialize,
) -> serde_json::Value {
    let mut view = serde_json::json!({
        "tenantId": document.tenant_id,
        "createdAt": rfc3339(document.created_at),
        "updatedAt": rfc3339(document.updated_at),
        "spec": spec,
    });
    if let Some(fields) = view.as_object_mut() {
        if let Some(key_field) = D::KEY_FIELD {
            fields.insert(key_field.to_string(), document.key.clone().into());
        }
        if owned {
            fields.insert("owner".to_string(), serde_json::json!(document.owner));
        }
    }
    view
}

/// `GET …/{kind}`: the tenant's objects of a named kind.
pub(super) fn list_route<D: AdminDocument>() -> MethodRouter<Arc<AppState>> {
    get(list::<D>)
}

/// `GET`, `PUT` and `DELETE …/{kind}/{key}`.
pub(super) fn named_routes<D: AdminDocument>() -> MethodRouter<Arc<AppState>> {
    get(get_named::<D>)
        .put(put_named::<D>)
        .delete(delete_named::<D>)
}

/// `GET`, `PUT` and `DELETE …/{kind}` for a kind with one object per tenant (keyed by the
/// tenant ID).
pub(super) fn singleton_routes<D: AdminDocument>() -> MethodRouter<Arc<AppState>> {
    get(get_single::<D>)
        .put(put_single::<D>)
        .delete(delete_single::<D>)
}

async fn list<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(&state, &subdomain).await?;
    let items = state
        .store
        .documents(D::KIND, &tenant.id)
        .await?
        .iter()
        .map(D::view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_named<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path((subdomain, key)): Path<(String, String)>,
) -> Result<Response, Problem> {
    read::<D>(&state, &subdomain, Some(key)).await
}

async fn put_named<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path((subdomain, key)): Path<(String, String)>,
    claim: D::Claim,
    AdminJson(spec): AdminJson<D::Spec>,
) -> Result<Response, Problem> {
    write::<D>(&state, &subdomain, Some(key), claim.into(), spec).await
}

async fn delete_named<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path((subdomain, key)): Path<(String, String)>,
    claim: D::Claim,
) -> Result<StatusCode, Problem> {
    delete::<D>(&state, &subdomain, Some(key), claim.into()).await
}

async fn get_single<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, Problem> {
    read::<D>(&state, &subdomain, None).await
}

async fn put_single<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    claim: D::Claim,
    AdminJson(spec): AdminJson<D::Spec>,
) -> Result<Response, Problem> {
    write::<D>(&state, &subdomain, None, claim.into(), spec).await
}

async fn delete_single<D: AdminDocument>(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    claim: D::Claim,
) -> Result<StatusCode, Problem> {
    delete::<D>(&state, &subdomain, None, claim.into()).await
}

/// Reads object `key` (the tenant's own object when `None`) of a tenant that must exist.
async fn read<D: AdminDocument>(
    state: &AppState,
    subdomain: &str,
    key: Option<String>,
) -> Result<Response, Problem> {
    let tenant = require_tenant(state, subdomain).await?;
    let missing = || match &key {
        Some(key) => format!("{} {key} does not exist", D::WHAT),
        None => format!("tenant {subdomain} has no {}", D::WHAT),
    };
    let document = state
        .store
        .document(D::KIND, &tenant.id, key.as_deref().unwrap_or(&tenant.id))
        .await?
        .ok_or_else(|| Problem::not_found(missing()))?;
    Ok(axum::Json(D::view(&document)?).into_response())
}

/// Validates, prepares and stores `spec` as object `key` (the tenant's own object when `None`).
async fn write<D: AdminDocument>(
    state: &AppState,
    subdomain: &str,
    key: Option<String>,
    claim: Claim,
    spec: D::Spec,
) -> Result<Response, Problem> {
    let tenant = require_tenant(state, subdomain).await?;
    let key = key.unwrap_or_else(|| tenant.id.clone());
    let errors = D::validate(&key, &spec);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let stored = D::prepare(state, &tenant, &key, spec, &claim).await?;
    let (document, created) = state
        .store
        .put_document(
            D::KIND,
            &tenant.id,
            &key,
            &to_json(&stored)?,
            D::identifier_uri(&stored),
            &claim,
        )
        .await?;
    Ok(respond(created, D::view(&document)?))
}

/// Deletes object `key` (the tenant's own object when `None`) if the claim may; deleting what
/// does not exist, or from a tenant that does not exist, succeeds.
async fn delete<D: AdminDocument>(
    state: &AppState,
    subdomain: &str,
    key: Option<String>,
    claim: Claim,
) -> Result<StatusCode, Problem> {
    if let Some(tenant) = state.tenant(subdomain).await? {
        let key = key.unwrap_or_else(|| tenant.id.clone());
        state
            .store
            .delete_document(D::KIND, &tenant.id, &key, &claim)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
