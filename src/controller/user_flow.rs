//! Reconciles a `UserFlow` into the runtime, enforcing one flow per app and ten per tenant.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::watcher;

use super::conditions::reasons;
use super::ownership::{claim_for, owner_of, write_needed};
use super::references::{TenantResolution, holds_place, precedence, resolve_tenant, tenant_key};
use super::{Context, Decision, Error, TenantScoped, on_tenant_change, referring, run_controllers};
use crate::api::user_flow::ResolvedApplication;
use crate::api::{AppRegistration, UserFlow, UserFlowStatus};
use crate::backend::{Backend, BackendError};
use crate::contract::UserFlowSpec as RuntimeUserFlow;
use crate::contract::owner::Claim;

/// A tenant serves at most this many user flows.
pub const MAX_USER_FLOWS_PER_TENANT: usize = crate::contract::MAX_USER_FLOWS;

/// The controllers of `UserFlow`s: also woken by their tenant and by the apps they list.
pub fn controller<B: Backend>(context: Arc<Context<B>>) -> BoxFuture<'static, ()> {
    run_controllers::<UserFlow, B>(context, |controller, context| {
        let store = controller.store();
        let controller = context
            .apis::<DeserializeGuard<AppRegistration>>()
            .into_iter()
            .fold(controller, |controller, api| {
                let store = store.clone();
                controller.watches(api, watcher::Config::default(), move |app| {
                    let namespace = app.namespace();
                    let name = app.name_any();
                    referring(&store, |flow: &UserFlow| {
                        flow.namespace() == namespace
                            && flow
                                .spec
                                .applications
                                .iter()
                                .flatten()
                                .any(|listed| *listed == name)
                    })
                })
            });
        on_tenant_change(controller, context)
    })
}

super::reconciled!(UserFlow, UserFlowStatus, tenant_scoped);

/// Orders objects by age, then name: the earlier object keeps working on a conflict.
fn is_earlier(left: &UserFlow, right: &UserFlow) -> bool {
    let key = |flow: &UserFlow| {
        precedence(
            flow,
            holds_place(
                flow.status
                    .as_ref()
                    .map(|status| status.conditions.as_slice()),
            ),
        )
    };
    key(left) < key(right)
}

/// Why a flow may not serve, judged against the other flows of its tenant. Pure.
pub fn conflict(flow: &UserFlow, same_tenant: &[UserFlow]) -> Option<(&'static str, String)> {
    let others: Vec<&UserFlow> = same_tenant
        .iter()
        .filter(|other| other.uid() != flow.uid())
        .collect();
    let earlier = others
        .iter()
        .filter(|other| is_earlier(other, flow))
        .count();
    if earlier >= MAX_USER_FLOWS_PER_TENANT {
        return Some((
            reasons::TOO_MANY_USER_FLOWS,
            format!(
                "the tenant already has {MAX_USER_FLOWS_PER_TENANT} user flows; delete one or use another tenant"
            ),
        ));
    }
    for app in flow.spec.applications.iter().flatten() {
        if let Some(owner) = others.iter().find(|other| {
            is_earlier(other, flow)
                && other.namespace() == flow.namespace()
                && other
                    .spec
                    .applications
                    .iter()
                    .flatten()
                    .any(|listed| listed == app)
        }) {
            return Some((
                reasons::APP_ALREADY_IN_FLOW,
                format!(
                    "AppRegistration {app} already belongs to UserFlow {}; an app belongs to at most one user flow",
                    owner.name_any()
                ),
            ));
        }
    }
    None
}

async fn apply<B: Backend>(
    flow: &UserFlow,
    context: &Context<B>,
) -> Result<Decision<UserFlowStatus>, Error> {
    let namespace = flow.namespace().unwrap_or_default();
    let mut status = flow.status.clone().unwrap_or_default();
    let subdomain = match resolve_tenant(
        &context.client,
        &context.scope,
        &namespace,
        &flow.spec.tenant_ref,
    )
    .await?
    {
        TenantResolution::Ready { subdomain, .. } => subdomain,
        TenantResolution::NotUsable { reason, message } => {
            let retry = Action::requeue(Duration::from_secs(30));
            return Ok(Decision::not_ready(status, (reason, message), retry));
        }
    };
    let tenant = tenant_key(&namespace, &flow.spec.tenant_ref);
    let same_tenant: Vec<UserFlow> = context
        .list_for_tenant::<UserFlow>(&tenant)
        .await?
        .into_iter()
        .filter(|other| other.metadata.deletion_timestamp.is_none())
        .collect();
    if let Some(problem) = conflict(flow, &same_tenant) {
        return Ok(Decision::not_ready(status, problem, Action::await_change()));
    }
    status.applications = resolve_applications(flow, context, &tenant).await?;
    let desired = desired_flow(flow, &status.applications);
    if let Some(message) = unsupported(&context.backend, &desired) {
        let problem = (reasons::UNSUPPORTED_BY_BACKEND, message);
        return Ok(Decision::not_ready(status, problem, Action::await_change()));
    }
    let outcome = sync_flow(flow, context, &subdomain, &desired).await?;
    let pending = pending_applications(&status.applications);
    Ok(match (outcome, pending) {
        (Ok(()), Some(message)) => {
            let problem = (reasons::APPLICATION_PENDING, message);
            Decision::not_ready(status, problem, Action::requeue(Duration::from_secs(5)))
        }
        (Ok(()), None) => Decision::ready(
            status,
            "the user flow serves its applications",
            Action::requeue(context.resync),
        ),
        (Err(error), _) => Decision::backend_failed(status, error),
    })
}

/// The flow's applications with the client IDs their AppRegistrations report (none yet, or
/// none for an app of another tenant: a flow serves its tenant's apps only).
async fn resolve_applications<B: Backend>(
    flow: &UserFlow,
    context: &Context<B>,
    tenant: &(String, String),
) -> Result<Vec<ResolvedApplication>, Error> {
    let namespace = flow.namespace().unwrap_or_default();
    let apps = Api::<AppRegistration>::namespaced(context.client.clone(), &namespace);
    let mut resolved = Vec::new();
    for name in flow.spec.applications.iter().flatten() {
        let client_id = apps
            .get_opt(name)
            .await
            .map_err(Error::kube(format!(
                "read AppRegistration {namespace}/{name}"
            )))?
            .filter(|app| app.tenant_key() == *tenant)
            .and_then(|app| app.status)
            .and_then(|status| status.client_id);
        resolved.push(ResolvedApplication {
            name: name.clone(),
            client_id,
        });
    }
    Ok(resolved)
}

/// The flow as the runtime stores it, serving the applications that have a client ID. Pure.
fn desired_flow(flow: &UserFlow, applications: &[ResolvedApplication]) -> RuntimeUserFlow {
    RuntimeUserFlow {
        display_name: flow.spec.display_name.clone(),
        applications: applications
            .iter()
            .filter_map(|app| app.client_id.clone())
            .collect(),
        sign_in: flow.spec.sign_in.clone(),
        attributes: flow.spec.attributes.clone(),
        token_claims: flow.spec.token_claims.clone(),
        mfa: flow.spec.mfa.clone(),
        extensions: flow.spec.extensions.clone(),
    }
}

/// The `ApplicationPending` message when some listed apps have no client ID yet. Pure.
fn pending_applications(applications: &[ResolvedApplication]) -> Option<String> {
    let unresolved: Vec<&str> = applications
        .iter()
        .filter(|app| app.client_id.is_none())
        .map(|app| app.name.as_str())
        .collect();
    (!unresolved.is_empty()).then(|| {
        format!(
            "waiting for these AppRegistrations to get a client ID: {}",
            unresolved.join(", ")
        )
    })
}

/// The `UnsupportedByBackend` message when the backend cannot honour some of the fields.
fn unsupported<B: Backend>(backend: &B, desired: &RuntimeUserFlow) -> Option<String> {
    let unsupported = backend.unsupported_user_flow_fields(desired);
    if unsupported.is_empty() {
        return None;
    }
    let named: Vec<String> = unsupported
        .iter()
        .map(|(field, what)| format!("{field} ({what})"))
        .collect();
    Some(format!(
        "the identity backend cannot honour these fields yet: {}",
        named.join(", ")
    ))
}

/// Writes the desired flow unless the runtime already has it as this UserFlow's.
async fn sync_flow<B: Backend>(
    flow: &UserFlow,
    context: &Context<B>,
    subdomain: &str,
    desired: &RuntimeUserFlow,
) -> Result<Result<(), BackendError>, Error> {
    let name = backend_name(flow);
    let observed = match context.backend.observe_user_flow(subdomain, &name).await {
        Ok(observed) => observed,
        Err(error) => return Ok(Err(error)),
    };
    let Some(recorded) = write_needed(observed, desired, &owner_of(flow)) else {
        return Ok(Ok(()));
    };
    let claim = claim_for(&context.client, flow, recorded.as_ref()).await?;
    Ok(context
        .backend
        .apply_user_flow(subdomain, &name, desired, &claim)
        .await)
}

/// The flow's key in the backend: `namespace.name`, unique per tenant because namespaces hold
/// no dots, so flows of one tenant in different namespaces never collide.
pub fn backend_name(flow: &UserFlow) -> String {
    format!(
        "{}.{}",
        flow.namespace().unwrap_or_default(),
        flow.name_any()
    )
}

async fn cleanup<B: Backend>(flow: &UserFlow, context: &Context<B>) -> Result<Action, Error> {
    let namespace = flow.namespace().unwrap_or_default();
    let (tenant_namespace, tenant_name) = tenant_key(&namespace, &flow.spec.tenant_ref);
    let tenant =
        Api::<crate::api::CustomerTenant>::namespaced(context.client.clone(), &tenant_namespace)
            .get_opt(&tenant_name)
            .await
            .map_err(Error::kube("read the flow's CustomerTenant"))?;
    if let Some(tenant) = tenant {
        let claim = Claim::by(owner_of(flow));
        match context
            .backend
            .delete_user_flow(&tenant.spec.subdomain, &backend_name(flow), &claim)
            .await
        {
            Ok(()) => {}
            Err(BackendError::OwnedByAnother { .. }) => tracing::warn!(
                flow = %flow.name_any(),
                "not deleting a runtime user flow that another object owns"
            ),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(name: &str, ready: Option<(&str, &str)>) -> UserFlow {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "UserFlow",
            "metadata": { "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                          "creationTimestamp": "2026-12-06T10:00:00Z" },
            "spec": { "tenantRef": { "name": "contoso" }, "displayName": name,
                      "applications": ["storefront"], "signIn": { "methods": ["emailOtp"] } },
            "status": { "conditions": ready.map(|(status, reason)| vec![serde_json::json!({
                "type": "Ready", "status": status, "reason": reason, "message": "",
                "lastTransitionTime": "2026-12-06T10:00:01Z" })]).unwrap_or_default() }
        }))
        .unwrap()
    }

    #[test]
    fn a_same_second_newcomer_never_displaces_a_flow_that_failed_for_a_while() {
        // "shoppers" serves the app and is retrying a backend timeout; "late" (earlier by name)
        // was created in the same second and not judged yet.
        let shoppers = flow("shoppers", Some(("False", reasons::BACKEND_UNAVAILABLE)));
        let late = flow("late", None);
        let both = [shoppers.clone(), late.clone()];

        let (reason, message) = conflict(&late, &both).expect("late must yield");
        assert_eq!(reason, reasons::APP_ALREADY_IN_FLOW);
        assert!(message.contains("UserFlow shoppers"), "{message}");
        assert_eq!(conflict(&shoppers, &both), None);
    }

    #[test]
    fn a_flow_that_lost_gives_way_within_the_same_second() {
        let winner = flow("shoppers", Some(("True", reasons::RECONCILED)));
        let loser = flow("late", Some(("False", reasons::APP_ALREADY_IN_FLOW)));
        let both = [winner.clone(), loser.clone()];

        assert_eq!(conflict(&winner, &both), None);
        assert!(conflict(&loser, &both).is_some());
    }

    #[test]
    fn the_eleventh_flow_of_a_tenant_is_refused() {
        let flows: Vec<UserFlow> = (0..=MAX_USER_FLOWS_PER_TENANT)
            .map(|index| {
                let mut flow = flow(&format!("flow-{index:02}"), None);
                flow.spec.applications = Some(vec![format!("app-{index}")]);
                flow
            })
            .collect();
        let last = flows.last().unwrap();
        let (reason, message) = conflict(last, &flows).expect("the eleventh flow yields");
        assert_eq!(reason, reasons::TOO_MANY_USER_FLOWS);
        assert!(
            message.starts_with("the tenant already has 10 user flows"),
            "{message}"
        );
        assert_eq!(conflict(&flows[9], &flows), None);
    }

    #[test]
    fn only_apps_with_a_client_id_are_served() {
        let flow = flow("shoppers", None);
        let applications = [
            ResolvedApplication {
                name: "storefront".into(),
                client_id: Some("c-1".into()),
            },
            ResolvedApplication {
                name: "new".into(),
                client_id: None,
            },
        ];
        let desired = desired_flow(&flow, &applications);
        assert_eq!(desired.applications, ["c-1"]);
        assert_eq!(desired.display_name, "shoppers");
        assert_eq!(
            pending_applications(&applications).as_deref(),
            Some("waiting for these AppRegistrations to get a client ID: new")
        );
        assert_eq!(pending_applications(&applications[..1]), None);
    }

    #[test]
    fn fields_the_runtime_cannot_honour_are_named_and_nothing_else() {
        let backend = crate::backend::fake::FakeBackend::default();
        let mut flow = flow("shoppers", None);
        assert_eq!(unsupported(&backend, &desired_flow(&flow, &[])), None);

        flow.spec.sign_in.methods = vec!["emailOtp".into(), "google".into()];
        flow.spec.extensions = serde_json::from_value(serde_json::json!({
            "onTokenIssuanceStart": { "targetUrl": "https://ext.example.com/claims",
                                      "resourceId": "api://ext" }
        }))
        .expect("extensions");
        let message = unsupported(&backend, &desired_flow(&flow, &[])).expect("refused");
        assert!(
            message.starts_with("the identity backend cannot honour these fields yet: "),
            "{message}"
        );
        assert!(
            message.contains("signIn.methods[1] (sign-in with identity provider google)"),
            "{message}"
        );
        assert!(
            message.contains("extensions.onTokenIssuanceStart"),
            "{message}"
        );
        assert!(!message.contains("signIn.methods[0]"), "{message}");
    }

    #[test]
    fn the_backend_name_keeps_flows_of_different_namespaces_apart() {
        assert_eq!(backend_name(&flow("shoppers", None)), "shop.shoppers");
    }
}
