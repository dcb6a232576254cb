//! Clients (app registrations), `/admin/v1/tenants/{tenant}/clients/{clientId}`: a UUID key, a
//! type that never changes, and an identifier URI no other client of the tenant exposes.

use super::document::AdminDocument;
use super::{OwnerClaim, Problem};
use crate::contract::owner::Claim;
use crate::contract::{self as model, ClientSpec, FieldError};
use crate::runtime::domain::admin::{check_client_overwrite, check_identifier_uri};
use crate::runtime::store::Kind;
use crate::runtime::{AppState, Tenant};

/// The client routes' own part.
pub(super) struct Clients;

impl AdminDocument for Clients {
    const KIND: Kind = Kind::Client;
    const WHAT: &'static str = "client";
    const KEY_FIELD: Option<&'static str> = Some("clientId");
    type Spec = ClientSpec;
    type Stored = ClientSpec;
    type Claim = OwnerClaim;

    fn validate(client_id: &str, spec: &ClientSpec) -> Vec<FieldError> {
        if !model::is_valid_uuid(client_id) {
            return vec![FieldError::new("clientId", "must be a UUID")];
        }
        model::validate_client(spec)
    }

    async fn prepare(
        state: &AppState,
        tenant: &Tenant,
        client_id: &str,
        spec: ClientSpec,
        claim: &Claim,
    ) -> Result<ClientSpec, Problem> {
        let spec = model::normalize_client(spec);
        if let Some(existing) = state
            .store
            .document(Kind::Client, &tenant.id, client_id)
            .await?
        {
            check_client_overwrite(client_id, &spec, &existing, claim)?;
        }
        if let Some(identifier_uri) = spec.identifier_uri() {
            let holder = state
                .store
                .client_by_identifier_uri(&tenant.id, identifier_uri)
                .await?;
            check_identifier_uri(client_id, identifier_uri, holder.as_ref())?;
        }
        Ok(spec)
    }

    fn identifier_uri(spec: &ClientSpec) -> Option<&str> {
        spec.identifier_uri()
    }
}
