//! Branding, `/admin/v1/tenants/{tenant}/branding`: one per tenant, checked on its own.

use super::document::AdminDocument;
use super::{OwnerClaim, Problem};
use crate::contract::owner::Claim;
use crate::contract::{self as model, BrandingDocument, FieldError};
use crate::runtime::store::Kind;
use crate::runtime::{AppState, Tenant};

/// The branding routes' own part.
pub(super) struct Branding;

impl AdminDocument for Branding {
    const KIND: Kind = Kind::Branding;
    const WHAT: &'static str = "branding";
    const KEY_FIELD: Option<&'static str> = None;
    type Spec = BrandingDocument;
    type Stored = BrandingDocument;
    type Claim = OwnerClaim;

    fn validate(_key: &str, spec: &BrandingDocument) -> Vec<FieldError> {
        model::validate_branding_document(spec)
    }

    async fn prepare(
        _state: &AppState,
        _tenant: &Tenant,
        _key: &str,
        spec: BrandingDocument,
        _claim: &Claim,
    ) -> Result<BrandingDocument, Problem> {
        Ok(spec)
    }
}
