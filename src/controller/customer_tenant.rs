//! Reconciles a `CustomerTenant` into a runtime tenant and reports its issuer and identifiers.

use std::sync::Arc;

use futures::Stream;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;

use super::conditions::{self, reasons};
use super::desired::{desired_tenant, tenant_matches};
use super::references::tenant_key;
use super::{Context, Error, FINALIZER, now, publish, write_status};
use crate::api::{AppRegistration, CustomerTenant, DeletionPolicy, UserFlow};
use crate::backend::{Backend, BackendError};

/// The controller of `CustomerTenant`s.
pub fn controller<B: Backend>(
    context: Arc<Context<B>>,
) -> impl Stream<
    Item = Result<
        (kube::runtime::reflector::ObjectRef<CustomerTenant>, Action),
        kube::runtime::controller::Error<kube::runtime::finalizer::Error<Error>, watcher::Error>,
    >,
> {
    let tenants = context.watched::<CustomerTenant>();
    Controller::new(tenants, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
}

async fn reconcile<B: Backend>(
    tenant: Arc<CustomerTenant>,
    context: Arc<Context<B>>,
) -> Result<Action, kube::runtime::finalizer::Error<Error>> {
    let _timer = super::metrics::reconcile_started(&context.metrics, "CustomerTenant");
    let namespace = tenant.namespace().unwrap_or_default();
    let api = Api::<CustomerTenant>::namespaced(context.client.clone(), &namespace);
    finalizer(&api, FINALIZER, tenant, |event| async {
        match event {
            FinalizerEvent::Apply(tenant) => apply(&tenant, &context).await,
            FinalizerEvent::Cleanup(tenant) => cleanup(&tenant, &context).await,
        }
    })
    .await
}

fn error_policy<B: Backend>(
    tenant: Arc<CustomerTenant>,
    error: &kube::runtime::finalizer::Error<Error>,
    context: Arc<Context<B>>,
) -> Action {
    tracing::warn!(tenant = %tenant.name_any(), namespace = ?tenant.namespace(), error = %error, "reconcile failed");
    super::on_error(&context.metrics, "CustomerTenant", error)
}

async fn apply<B: Backend>(tenant: &CustomerTenant, context: &Context<B>) -> Result<Action, Error> {
    let subdomain = &tenant.spec.subdomain;
    if let Some(owner) = earlier_tenant_with_subdomain(tenant, context).await? {
        let mut status = tenant.status.clone().unwrap_or_default();
        status.observed_generation = tenant.metadata.generation;
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::ready(
                false,
                reasons::SUBDOMAIN_IN_USE,
                format!(
                    "subdomain {subdomain} already belongs to CustomerTenant {owner}; subdomains are unique across the cluster"
                ),
                tenant.metadata.generation,
                now(),
            ),
        );
        write_status(&context.client, tenant, tenant.status.as_ref(), &status).await?;
        return Ok(Action::await_change());
    }
    let known_id = tenant
        .status
        .as_ref()
        .and_then(|status| status.tenant_id.as_deref());
    let desired = desired_tenant(&tenant.spec, known_id);

    let outcome = async {
        let observed = context.backend.observe_tenant(subdomain).await?;
        match observed {
            Some(observed) if tenant_matches(&observed.spec, &desired) => Ok((observed, false)),
            previous => {
                let applied = context.backend.apply_tenant(subdomain, &desired).await?;
                Ok::<_, BackendError>((applied, previous.is_some()))
            }
        }
    }
    .await;

    let (apps, flows) = count_dependents(tenant, context).await?;
    let mut status = tenant.status.clone().unwrap_or_default();
    status.app_count = Some(apps);
    status.user_flow_count = Some(flows);
    let generation = tenant.metadata.generation;
    let result = match outcome {
        Ok((observed, corrected)) => {
            let was_ready = status.observed_generation == generation
                && conditions::find_ready(&status.conditions).is_some_and(|c| c.status == "True");
            if corrected && was_ready {
                publish(
                    context,
                    tenant,
                    "DriftCorrected",
                    "the runtime's tenant differed from the spec and was restored",
                )
                .await;
            }
            status.tenant_id = Some(observed.tenant_id);
            status.issuer = Some(observed.issuer);
            status.authority = Some(observed.authority);
            status.discovery_url = Some(observed.discovery_url);
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(
                    true,
                    reasons::RECONCILED,
                    "the tenant is serving",
                    generation,
                    now(),
                ),
            );
            Ok(Action::requeue(context.resync))
        }
        Err(error) => {
            let reason = if error.is_transient() {
                reasons::BACKEND_UNAVAILABLE
            } else {
                reasons::BACKEND_REJECTED
            };
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(false, reason, error.to_string(), generation, now()),
            );
            Err(Error::Backend(error))
        }
    };
    status.observed_generation = generation;
    write_status(&context.client, tenant, tenant.status.as_ref(), &status).await?;
    result
}

async fn cleanup<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Action, Error> {
    let (apps, flows) = count_dependents(tenant, context).await?;
    let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
    let brandings = context
        .watched::<crate::api::Branding>()
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list Brandings"))?
        .items
        .iter()
        .filter(|branding| {
            tenant_key(
                &branding.namespace().unwrap_or_default(),
                &branding.spec.tenant_ref,
            ) == key
        })
        .count();
    if apps + flows > 0 || brandings > 0 {
        let message = format!(
            "{apps} AppRegistrations, {flows} UserFlows and {brandings} Brandings still reference this tenant; delete them first"
        );
        let mut status = tenant.status.clone().unwrap_or_default();
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::ready(
                false,
                reasons::DEPENDENTS_EXIST,
                message.clone(),
                tenant.metadata.generation,
                now(),
            ),
        );
        write_status(&context.client, tenant, tenant.status.as_ref(), &status).await?;
        return Err(Error::DependentsExist(message));
    }
    if tenant.spec.deletion_policy == DeletionPolicy::Delete {
        // Delete only the runtime tenant this resource created: never one that another
        // CustomerTenant with the same subdomain owns, and nothing if it never got that far.
        let ours = tenant
            .status
            .as_ref()
            .and_then(|status| status.tenant_id.clone());
        let observed = context
            .backend
            .observe_tenant(&tenant.spec.subdomain)
            .await?;
        if ours.is_some() && observed.map(|observed| observed.tenant_id) == ours {
            context
                .backend
                .delete_tenant(&tenant.spec.subdomain)
                .await?;
        }
    }
    Ok(Action::await_change())
}

/// The namespace/name of an older CustomerTenant (anywhere in the cluster) that already uses
/// this tenant's subdomain; the older one keeps it.
async fn earlier_tenant_with_subdomain<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Option<String>, Error> {
    let age = |t: &CustomerTenant| {
        (
            t.creation_timestamp().map(|time| time.0),
            t.namespace(),
            t.name_any(),
        )
    };
    let owner = context
        .watched::<CustomerTenant>()
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list CustomerTenants"))?
        .items
        .into_iter()
        .filter(|other| {
            other.uid() != tenant.uid() && other.spec.subdomain == tenant.spec.subdomain
        })
        .filter(|other| age(other) < age(tenant))
        .min_by_key(age);
    Ok(owner.map(|owner| {
        format!(
            "{}/{}",
            owner.namespace().unwrap_or_default(),
            owner.name_any()
        )
    }))
}

/// Counts the AppRegistrations and UserFlows (in any namespace) that reference the tenant.
async fn count_dependents<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<(i32, i32), Error> {
    let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
    let apps = context
        .watched::<AppRegistration>()
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list AppRegistrations"))?
        .items
        .iter()
        .filter(|app| tenant_key(&app.namespace().unwrap_or_default(), &app.spec.tenant_ref) == key)
        .count();
    let flows = context
        .watched::<UserFlow>()
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list UserFlows"))?
        .items
        .iter()
        .filter(|flow| {
            tenant_key(&flow.namespace().unwrap_or_default(), &flow.spec.tenant_ref) == key
        })
        .count();
    Ok((
        i32::try_from(apps).unwrap_or(i32::MAX),
        i32::try_from(flows).unwrap_or(i32::MAX),
    ))
}
