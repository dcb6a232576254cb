//! User flows, `/admin/v1/tenants/{tenant}/userflows/{name}`: at most ten per tenant, each
//! application served by one of them.

use super::document::AdminDocument;
use super::{OwnerClaim, Problem};
use crate::contract::owner::Claim;
use crate::contract::{self as model, FieldError, UserFlowSpec};
use crate::runtime::domain::admin::check_user_flow_placement;
use crate::runtime::store::Kind;
use crate::runtime::{AppState, Tenant};

/// The user flow routes' own part.
pub(super) struct UserFlows;

impl AdminDocument for UserFlows {
    const KIND: Kind = Kind::UserFlow;
    const WHAT: &'static str = "user flow";
    const KEY_FIELD: Option<&'static str> = Some("name");
    type Spec = UserFlowSpec;
    type Stored = UserFlowSpec;
    type Claim = OwnerClaim;

    fn validate(name: &str, spec: &UserFlowSpec) -> Vec<FieldError> {
        if !model::is_valid_object_name(name) {
            return vec![FieldError::new(
                "name",
                "must be a DNS subdomain name such as sign-up-sign-in",
            )];
        }
        model::validate_user_flow(spec)
    }

    async fn prepare(
        state: &AppState,
        tenant: &Tenant,
        name: &str,
        spec: UserFlowSpec,
        _claim: &Claim,
    ) -> Result<UserFlowSpec, Problem> {
        let flows = state.store.documents(Kind::UserFlow, &tenant.id).await?;
        check_user_flow_placement(&tenant.subdomain, name, &spec, &flows)?;
        Ok(spec)
    }
}
