//! Reconciles a `Branding` into the runtime; a tenant has at most one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::conditions::{self, reasons};
use super::desired::{
    ConfigMapContent, branding_config_map_refs, config_map_value, desired_branding,
};
use super::ownership::{claim_for, describe_for, owner_of, write_needed};
use super::references::{TenantResolution, holds_place, precedence, resolve_tenant, tenant_key};
use super::{Context, Decision, Error, on_metadata_change, on_tenant_change, run_controllers};
use crate::api::{Branding, BrandingStatus};
use crate::backend::{Backend, BackendError};
use crate::contract::BrandingDocument;
use crate::contract::owner::Claim;
use k8s_openapi::api::core::v1::ConfigMap;

/// The controllers of `Branding`s: also woken by their tenant and by the ConfigMaps they
/// read (a metadata-only watch).
pub fn controller<B: Backend>(context: Arc<Context<B>>) -> BoxFuture<'static, ()> {
    run_controllers::<Branding, B>(context, |controller, context| {
        let controller = on_metadata_change(
            controller,
            context.apis::<kube::core::PartialObjectMeta<ConfigMap>>(),
            |branding: &Branding, config_map| {
                branding_config_map_refs(&branding.spec)
                    .iter()
                    .any(|reference| reference.name == config_map)
            },
        );
        on_tenant_change(controller, context)
    })
}

super::reconciled!(Branding, BrandingStatus, tenant_scoped);

/// Reads the ConfigMap keys a Branding refers to (`binaryData`, else `data`).
async fn read_config_maps<B: Backend>(
    branding: &Branding,
    context: &Context<B>,
) -> Result<ConfigMapContent, Error> {
    let namespace = branding.namespace().unwrap_or_default();
    let config_maps = Api::<ConfigMap>::namespaced(context.client.clone(), &namespace);
    let mut content = ConfigMapContent::new();
    for reference in branding_config_map_refs(&branding.spec) {
        let Some(config_map) = config_maps
            .get_opt(&reference.name)
            .await
            .map_err(Error::kube(format!(
                "read ConfigMap {namespace}/{}",
                reference.name
            )))?
        else {
            continue;
        };
        if let Some(bytes) = config_map_value(&config_map, &reference.key) {
            content.insert((reference.name, reference.key), bytes);
        }
    }
    Ok(content)
}

async fn apply<B: Backend>(
    branding: &Branding,
    context: &Context<B>,
) -> Result<Decision<BrandingStatus>, Error> {
    let namespace = branding.namespace().unwrap_or_default();
    let mut status = branding.status.clone().unwrap_or_default();
    let (subdomain, authority) = match resolve_tenant(
        &context.client,
        &context.scope,
        &namespace,
        &branding.spec.tenant_ref,
    )
    .await?
    {
        TenantResolution::Ready { tenant, subdomain } => {
            (subdomain, tenant.status.and_then(|status| status.authority))
        }
        TenantResolution::NotUsable { reason, message } => {
            let retry = Action::requeue(Duration::from_secs(30));
            return Ok(Decision::not_ready(status, (reason, message), retry));
        }
    };
    let key = tenant_key(&namespace, &branding.spec.tenant_ref);
    let same_tenant = context.list_for_tenant::<Branding>(&key).await?;
    if let Some(problem) = already_styled(branding, &same_tenant) {
        return Ok(Decision::not_ready(status, problem, Action::await_change()));
    }
    let content = read_config_maps(branding, context).await?;
    let desired = match desired_branding(&branding.spec, &content) {
        Ok(desired) => desired,
        // A ConfigMap change wakes the controller; retry now and then in case it was a
        // ConfigMap that did not exist yet.
        Err(message) => {
            let problem = (reasons::CONTENT_INVALID, message);
            return Ok(Decision::not_ready(
                status,
                problem,
                Action::requeue(Duration::from_secs(60)),
            ));
        }
    };
    let outcome = sync_branding(branding, context, &subdomain, &desired).await?;
    status.preview_url = authority;
    Ok(match outcome {
        Ok(()) => Decision::ready(
            status,
            "the tenant's pages use this branding",
            Action::requeue(context.resync),
        ),
        Err(BackendError::OwnedByAnother { owner, .. }) => {
            let message = format!(
                "{} already styles this tenant in the identity runtime; a tenant has one Branding",
                describe_for(&owner, &namespace)
            );
            let problem = (reasons::BRANDING_ALREADY_DEFINED, message);
            Decision::not_ready(status, problem, Action::await_change())
        }
        Err(error) => Decision::backend_failed(status, error),
    })
}

/// `BrandingAlreadyDefined` when an earlier Branding of the same tenant (not being deleted)
/// styles it. Pure.
fn already_styled(branding: &Branding, same_tenant: &[Branding]) -> Option<(&'static str, String)> {
    let age = |b: &Branding| {
        precedence(
            b,
            holds_place(b.status.as_ref().map(|status| status.conditions.as_slice())),
        )
    };
    let earlier = same_tenant
        .iter()
        .filter(|other| {
            other.uid() != branding.uid() && other.metadata.deletion_timestamp.is_none()
        })
        .find(|other| age(other) < age(branding))?;
    Some((
        reasons::BRANDING_ALREADY_DEFINED,
        format!(
            "Branding {}/{} already styles this tenant; a tenant has one Branding",
            earlier.namespace().unwrap_or_default(),
            earlier.name_any()
        ),
    ))
}

/// Writes the desired branding unless the runtime already has it as this Branding's.
async fn sync_branding<B: Backend>(
    branding: &Branding,
    context: &Context<B>,
    subdomain: &str,
    desired: &BrandingDocument,
) -> Result<Result<(), BackendError>, Error> {
    let observed = match context.backend.observe_branding(subdomain).await {
        Ok(observed) => observed,
        Err(error) => return Ok(Err(error)),
    };
    let Some(recorded) = write_needed(observed, desired, &owner_of(branding)) else {
        return Ok(Ok(()));
    };
    let claim = claim_for(&context.client, branding, recorded.as_ref()).await?;
    Ok(context
        .backend
        .apply_branding(subdomain, desired, &claim)
        .await)
}

async fn cleanup<B: Backend>(branding: &Branding, context: &Context<B>) -> Result<Action, Error> {
    let namespace = branding.namespace().unwrap_or_default();
    let (tenant_namespace, tenant_name) = tenant_key(&namespace, &branding.spec.tenant_ref);
    let tenant =
        Api::<crate::api::CustomerTenant>::namespaced(context.client.clone(), &tenant_namespace)
            .get_opt(&tenant_name)
            .await
            .map_err(Error::kube("read the branding's CustomerTenant"))?;
    // Only the Branding that is in effect removes the runtime's branding.
    let in_effect = branding
        .status
        .as_ref()
        .and_then(|status| conditions::find_ready(&status.conditions))
        .is_some_and(|ready| ready.status == "True");
    if let (Some(tenant), true) = (tenant, in_effect) {
        let claim = Claim::by(owner_of(branding));
        match context
            .backend
            .delete_branding(&tenant.spec.subdomain, &claim)
            .await
        {
            Ok(()) => {}
            Err(BackendError::OwnedByAnother { .. }) => tracing::warn!(
                branding = %branding.name_any(),
                "not deleting runtime branding that another object owns"
            ),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding(name: &str, created: &str, ready: Option<&str>) -> Branding {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "Branding",
            "metadata": { "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                          "creationTimestamp": created },
            "spec": { "tenantRef": { "name": "contoso" } },
            "status": { "conditions": ready.map(|reason| vec![serde_json::json!({
                "type": "Ready", "status": if reason == reasons::RECONCILED { "True" } else { "False" },
                "reason": reason, "message": "", "lastTransitionTime": created })]).unwrap_or_default() }
        }))
        .expect("valid branding")
    }

    #[test]
    fn a_second_branding_of_a_tenant_is_refused_and_names_the_first() {
        let first = branding("look", "2026-12-06T10:00:00Z", Some(reasons::RECONCILED));
        let second = branding("other-look", "2026-12-06T11:00:00Z", None);
        let both = [first.clone(), second.clone()];
        let (reason, message) = already_styled(&second, &both).expect("second is refused");
        assert_eq!(reason, reasons::BRANDING_ALREADY_DEFINED);
        assert!(
            message.starts_with("Branding shop/look already styles"),
            "{message}"
        );
        assert_eq!(already_styled(&first, &both), None);
    }

    #[test]
    fn a_branding_being_deleted_gives_way() {
        let mut first = branding("look", "2026-12-06T10:00:00Z", Some(reasons::RECONCILED));
        first.metadata.deletion_timestamp = Some(crate::controller::now());
        let second = branding("other-look", "2026-12-06T11:00:00Z", None);
        assert_eq!(already_styled(&second, &[first, second.clone()]), None);
    }
}
