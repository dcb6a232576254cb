//! SMTP settings, `/admin/v1/tenants/{tenant}/smtp`: one per tenant, without owners; the
//! password is sealed before it is stored and never shown.

use super::document::{AdminDocument, document_view};
use super::{NoOwner, Problem, stored_json};
use crate::contract::owner::Claim;
use crate::contract::{self as model, FieldError, SmtpSpec, StoredSmtp};
use crate::runtime::store::{Document, Kind};
use crate::runtime::{AppState, Tenant, email};

/// The SMTP routes' own part.
pub(super) struct Smtp;

impl AdminDocument for Smtp {
    const KIND: Kind = Kind::Smtp;
    const WHAT: &'static str = "SMTP settings";
    const KEY_FIELD: Option<&'static str> = None;
    type Spec = SmtpSpec;
    type Stored = StoredSmtp;
    type Claim = NoOwner;

    fn validate(_key: &str, spec: &SmtpSpec) -> Vec<FieldError> {
        model::validate_smtp(spec)
    }

    /// Seals a new password, or keeps the stored one when the spec sends its hash back.
    async fn prepare(
        state: &AppState,
        tenant: &Tenant,
        key: &str,
        spec: SmtpSpec,
        _claim: &Claim,
    ) -> Result<StoredSmtp, Problem> {
        let previous = state
            .store
            .document(Kind::Smtp, &tenant.id, key)
            .await?
            .map(|document| stored_json::<StoredSmtp>(&document, Self::WHAT))
            .transpose()?;
        email::prepare_smtp(&state.keys.kek, &tenant.id, spec, previous.as_ref())
            .map_err(|reason| Problem::invalid(vec![FieldError::new("passwordHash", reason)]))
    }

    /// The settings without the sealed password and without an owner.
    fn view(document: &Document) -> Result<serde_json::Value, Problem> {
        let stored: StoredSmtp = stored_json(document, Self::WHAT)?;
        Ok(document_view::<Self>(document, false, &stored.spec))
    }
}
