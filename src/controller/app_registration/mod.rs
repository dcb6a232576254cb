//! Reconciles an `AppRegistration` into a runtime client and writes its credentials Secret.
//!
//! Crash safety: the client ID and secret are written to the Secret before the runtime learns
//! the secret's hash, and are read back from the Secret on every reconcile, so a crash at any
//! point leaves either the old working credentials or the new ones, never none.

mod certificates;
mod conflicts;
mod credentials;
mod secret;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::watcher;

use super::conditions::{self, reasons};
use super::desired::desired_client;
use super::ownership::{SecretState, owner_of, read_secret};
use super::references::{TenantResolution, holds_place, precedence, resolve_tenant};
use super::{
    Context, Decision, Error, MANAGED_BY_LABEL, Ready, TenantScoped, on_metadata_change,
    on_tenant_change, publish, run_controllers,
};
use crate::api::{
    AppRegistration, AppRegistrationStatus, CustomerTenant, DeletionPolicy, UserFlow,
};
use crate::backend::{Backend, BackendError, Observed};
use crate::contract::owner::Claim;
use crate::contract::{ApiPermissionSpec, ClientSpec};
use certificates::{
    CERTIFICATE_EXPIRED, CERTIFICATE_INVALID, names_config_map, names_secret, read_certificates,
};
use conflicts::{claimant_of, client_id_in_use, earlier_claimant, secret_conflict};
pub use credentials::keys;
use credentials::{Credentials, plan_credentials, read_brought_secret, secret_name, secret_string};
use secret::{SecretWrite, write_secret};

/// The controllers of `AppRegistration`s: also woken by their tenant, their Secret, and the
/// ConfigMaps and Secrets they read certificates (or a brought secret) from.
pub fn controller<B: Backend>(context: Arc<Context<B>>) -> BoxFuture<'static, ()> {
    run_controllers::<AppRegistration, B>(context, |controller, context| {
        let secrets = context.apis::<Secret>();
        let controller = secrets.into_iter().fold(controller, |controller, api| {
            controller.owns(
                api,
                watcher::Config::default()
                    .labels(&format!("{}={}", MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1)),
            )
        });
        let controller = on_metadata_change(
            controller,
            context.apis::<kube::core::PartialObjectMeta<ConfigMap>>(),
            names_config_map,
        );
        let controller = on_metadata_change(
            controller,
            context.apis::<kube::core::PartialObjectMeta<Secret>>(),
            names_secret,
        );
        on_tenant_change(controller, context)
    })
}

super::reconciled!(AppRegistration, AppRegistrationStatus, tenant_scoped);

async fn apply<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<Decision<AppRegistrationStatus>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let mut status = app.status.clone().unwrap_or_default();
    let retry = Action::requeue(Duration::from_secs(30));
    let (tenant, subdomain) = match resolve_tenant(
        &context.client,
        &context.scope,
        &namespace,
        &app.spec.tenant_ref,
    )
    .await?
    {
        TenantResolution::Ready { tenant, subdomain } => (tenant, subdomain),
        TenantResolution::NotUsable { reason, message } => {
            return Ok(Decision::not_ready(status, (reason, message), retry));
        }
    };
    let name = secret_name(app);
    let uid = app.uid().unwrap_or_default();
    let existing = match read_secret(&context.client, &namespace, &name, &uid).await? {
        SecretState::Absent => None,
        SecretState::Owned(secret) => Some(*secret),
        SecretState::Foreign => {
            return Ok(Decision::not_ready(
                status,
                secret_conflict(app, &name),
                retry,
            ));
        }
    };
    let brought_secret = match read_brought_secret(app, context).await? {
        Ok(brought) => brought,
        Err(message) => {
            let problem = (reasons::SECRET_INVALID, message);
            return Ok(Decision::not_ready(status, problem, retry));
        }
    };
    let now = jiff::Timestamp::now();
    let certificates = match read_certificates(app, context, now).await? {
        Ok(certificates) => certificates,
        Err(message) => {
            status.certificates.clear();
            return Ok(Decision::not_ready(
                status,
                (CERTIFICATE_INVALID, message),
                retry,
            ));
        }
    };
    let mut credentials = plan_credentials(app, existing.as_ref(), brought_secret, now);
    credentials.certificates = certificates.send.clone();
    status.certificates = certificates.status.clone();
    if let Some(problem) =
        adoption_conflict(app, context, &subdomain, &credentials, existing.as_ref()).await?
    {
        status.client_id = None;
        return Ok(Decision::not_ready(status, problem, Action::await_change()));
    }
    let tenant_status = tenant.status.clone().unwrap_or_default();
    let written = SecretWrite {
        name: &name,
        tenant: &tenant_status,
        existing: existing.as_ref(),
    };
    let outcome = register(app, context, &subdomain, &credentials, &written).await?;
    let report = Report {
        name: &name,
        credentials: &credentials,
        existing: existing.as_ref(),
    };
    let mut decision = report_outcome(app, context, status, &report, outcome).await?;
    // Registered, but an expired certificate no longer works: say so by name.
    if let (Ready::True(_), Some(message)) = (&decision.ready, certificates.expired_message()) {
        decision.ready = Ready::False(CERTIFICATE_EXPIRED, message);
    }
    Ok(decision)
}

/// `ClientIdInUse` when the app takes its client ID from the Secret (nothing in status yet)
/// and another app has it. A freshly generated one needs no check (and no LIST of the
/// tenant's apps).
async fn adoption_conflict<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    subdomain: &str,
    credentials: &Credentials,
    existing: Option<&Secret>,
) -> Result<Option<(&'static str, String)>, Error> {
    let client_id = credentials.client_id.as_str();
    let reported = app
        .status
        .as_ref()
        .and_then(|status| status.client_id.as_deref());
    let adopting = reported != Some(client_id)
        && secret_string(existing, keys::CLIENT_ID).as_deref() == Some(client_id);
    if !adopting {
        return Ok(None);
    }
    let namespace = app.namespace().unwrap_or_default();
    Ok(claimant_of(app, subdomain, client_id, context)
        .await?
        .map(|claimant| client_id_in_use(client_id, &claimant, &namespace)))
}

/// What a reconcile did in the runtime: whether it corrected a client that differed, and the
/// `apiPermissions` targets still without a client ID.
struct Registration {
    corrected: bool,
    pending: Vec<String>,
}

/// Writes the Secret, then the runtime client; see the module docs for the order.
async fn register<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    subdomain: &str,
    credentials: &Credentials,
    written: &SecretWrite<'_>,
) -> Result<Result<Registration, BackendError>, Error> {
    let claim = Claim::by(owner_of(app));
    let (permissions, pending) = resolve_permissions(app, context).await?;
    // 1. The Secret first: whatever the runtime will accept is already in the app's hands.
    if let Some(old_secret) = &credentials.replacing {
        let both = desired(app, credentials, permissions.clone());
        stage_rotation(app, context, written, credentials, old_secret).await?;
        if let Err(error) = context
            .backend
            .apply_client(subdomain, &credentials.client_id, &both, &claim)
            .await
        {
            return Ok(Err(error));
        }
    }
    write_secret(app, context, written, credentials, None).await?;
    // 2. Then the runtime.
    let desired = desired(app, credentials, permissions);
    let outcome = sync_client(app, context, subdomain, &credentials.client_id, &desired).await;
    Ok(outcome.map(|corrected| Registration { corrected, pending }))
}

/// The runtime client for these credentials: the secrets' hashes and the certificates.
fn desired(
    app: &AppRegistration,
    credentials: &Credentials,
    permissions: Vec<ApiPermissionSpec>,
) -> ClientSpec {
    let mut client = desired_client(&app.spec, credentials.accepted.clone(), permissions);
    client.certificates = credentials.certificates.clone();
    client
}

/// A rotation stages the new secret beside the old one (the app still uses the old one) so
/// that the runtime can accept both before the app sees the new one, and no running instance
/// is ever refused.
async fn stage_rotation<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    written: &SecretWrite<'_>,
    credentials: &Credentials,
    old_secret: &str,
) -> Result<(), Error> {
    let staging = Credentials {
        client_id: credentials.client_id.clone(),
        secret: Some(old_secret.to_string()),
        accepted: credentials.accepted.clone(),
        annotations: written
            .existing
            .map(|secret| secret.annotations().clone())
            .unwrap_or_default(),
        expires_at: None,
        replacing: None,
        certificates: credentials.certificates.clone(),
    };
    let next_secret = credentials.secret.as_deref();
    write_secret(app, context, written, &staging, next_secret).await
}

/// Brings the runtime's client in line; returns whether a stored client differed.
///
/// A client stored before owners were recorded is claimed by the next owned write: only by
/// the app that reported it first.
async fn sync_client<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    subdomain: &str,
    client_id: &str,
    desired: &ClientSpec,
) -> Result<bool, BackendError> {
    let observed = context.backend.observe_client(subdomain, client_id).await?;
    if observed
        .as_ref()
        .is_some_and(|observed| observed.owner.is_none())
        && let Some(claimant) =
            earlier_claimant(app, client_id, context)
                .await
                .map_err(|error| BackendError::Unavailable {
                    operation: "list the tenant's AppRegistrations".into(),
                    detail: error.to_string(),
                })?
    {
        return Err(BackendError::OwnedByAnother {
            operation: format!("claim client {client_id}"),
            owner: Box::new(owner_of(&claimant)),
        });
    }
    let claim = Claim::by(owner_of(app));
    write_client(
        &context.backend,
        subdomain,
        client_id,
        observed,
        desired,
        &claim,
    )
    .await
}

/// Writes the client unless it is already the claimant's and as desired; returns whether a
/// stored client differed (drift, or a spec change).
async fn write_client<B: Backend>(
    backend: &B,
    subdomain: &str,
    client_id: &str,
    observed: Option<Observed<ClientSpec>>,
    desired: &ClientSpec,
    claim: &Claim,
) -> Result<bool, BackendError> {
    let ours = observed
        .as_ref()
        .is_some_and(|observed| observed.owner.as_ref() == claim.owner.as_ref());
    let same = observed
        .as_ref()
        .is_some_and(|observed| observed.spec == *desired);
    if !(ours && same) {
        backend
            .apply_client(subdomain, client_id, desired, claim)
            .await?;
    }
    Ok(!same)
}

/// What the status reports besides the outcome.
struct Report<'a> {
    name: &'a str,
    credentials: &'a Credentials,
    /// The Secret as read at the start of the reconcile.
    existing: Option<&'a Secret>,
}

/// Step 3, the status: Ready, waiting for permissions, or why the runtime refused.
async fn report_outcome<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    mut status: AppRegistrationStatus,
    report: &Report<'_>,
    outcome: Result<Registration, BackendError>,
) -> Result<Decision<AppRegistrationStatus>, Error> {
    let credentials = report.credentials;
    if matches!(&outcome, Ok(registration) if registration.corrected) {
        report_drift(app, context, credentials, report.existing).await;
    }
    status.user_flow = serving_flow(app, context).await?;
    status.secret_name = Some(report.name.to_string());
    status.secret_expires_at = credentials.expires_at.map(Time);
    // The client ID goes to status once the runtime took it as this app's; a refusal keeps
    // what status said before (a client ID the operator issued to this very app stays).
    if !matches!(outcome, Err(BackendError::OwnedByAnother { .. })) {
        status.client_id = Some(credentials.client_id.clone());
    }
    let namespace = app.namespace().unwrap_or_default();
    let (ready, action) = decide(outcome, credentials, &namespace, context.resync);
    Ok(Decision {
        status,
        ready,
        action,
    })
}

/// The `Ready` condition and the next reconcile for what the runtime did. Pure apart from
/// the clock.
fn decide(
    outcome: Result<Registration, BackendError>,
    credentials: &Credentials,
    namespace: &str,
    resync: Duration,
) -> (Ready, Action) {
    match outcome {
        Ok(registration) if !registration.pending.is_empty() => {
            let message = format!(
                "the client is registered; waiting for apiPermissions targets to get a client ID: {}",
                registration.pending.join(", ")
            );
            (
                Ready::False(reasons::API_PERMISSION_PENDING, message),
                Action::requeue(Duration::from_secs(2)),
            )
        }
        Ok(_) => (
            Ready::True("the client is registered and its credentials are in the Secret"),
            Action::requeue(next_resync(resync, credentials.expires_at)),
        ),
        Err(BackendError::OwnedByAnother { owner, .. }) => {
            let (reason, message) = client_id_in_use(&credentials.client_id, &owner, namespace);
            (Ready::False(reason, message), Action::await_change())
        }
        Err(error) => (Ready::BackendFailed(error), Action::await_change()),
    }
}

/// Publishes `DriftCorrected` when a client that differed was restored while the object was
/// Ready at this generation and no new secret was published: a difference made behind the
/// operator's back.
async fn report_drift<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    credentials: &Credentials,
    existing: Option<&Secret>,
) {
    let was_ready = app.status.as_ref().is_some_and(|status| {
        status.observed_generation == app.metadata.generation
            && conditions::find_ready(&status.conditions)
                .is_some_and(|ready| ready.status == "True")
    });
    let secret_unchanged = existing.is_some_and(|secret| {
        secret_string(Some(secret), keys::CLIENT_SECRET) == credentials.secret
    });
    if was_ready && secret_unchanged {
        publish(
            context,
            app,
            "DriftCorrected",
            "the runtime's client differed from the AppRegistration and was restored",
        )
        .await;
    }
}

/// The resync interval, shortened to wake up when the secret is due for rotation.
fn next_resync(resync: Duration, expires_at: Option<jiff::Timestamp>) -> Duration {
    let Some(expires) = expires_at else {
        return resync;
    };
    let until =
        u64::try_from(expires.as_second() - jiff::Timestamp::now().as_second()).unwrap_or(0);
    resync.min(Duration::from_secs(until.max(1)))
}

/// The oldest UserFlow in the app's namespace that lists it.
async fn serving_flow<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<Option<String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let mut flows: Vec<UserFlow> = context
        .list_in::<UserFlow>(&namespace)
        .await?
        .into_iter()
        .filter(|flow| {
            flow.spec
                .applications
                .iter()
                .flatten()
                .any(|listed| *listed == app.name_any())
        })
        .collect();
    flows.sort_by_key(|flow| {
        precedence(
            flow,
            holds_place(
                flow.status
                    .as_ref()
                    .map(|status| status.conditions.as_slice()),
            ),
        )
    });
    Ok(flows.first().map(ResourceExt::name_any))
}

/// Resolves `apiPermissions` to the client IDs of the apps exposing them; returns the
/// resolved ones and the names of those without a client ID yet.
///
/// A target resolves only when it is an app of the same CustomerTenant in a namespace the
/// operator watches; anything else reads exactly like an app that does not exist (pending),
/// so a reference tells a team nothing about other tenants' or namespaces' apps.
async fn resolve_permissions<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<(Vec<ApiPermissionSpec>, Vec<String>), Error> {
    let tenant_key = &app.tenant_key();
    let mut resolved = Vec::new();
    let mut pending = Vec::new();
    for permission in app.spec.api_permissions.iter().flatten() {
        let namespace = permission
            .app_namespace
            .clone()
            .unwrap_or_else(|| app.namespace().unwrap_or_default());
        let target = if context.scope.contains(&namespace) {
            Api::<AppRegistration>::namespaced(context.client.clone(), &namespace)
                .get_opt(&permission.app_name)
                .await
                .map_err(Error::kube(format!(
                    "read AppRegistration {namespace}/{}",
                    permission.app_name
                )))?
        } else {
            None
        };
        let client_id = target
            .filter(|target| target.tenant_key() == *tenant_key)
            .and_then(|target| target.status)
            .and_then(|status| status.client_id);
        match client_id {
            Some(client_id) => resolved.push(ApiPermissionSpec {
                resource_app_id: client_id,
                scopes: permission.scopes.clone(),
            }),
            None => pending.push(format!("{namespace}/{}", permission.app_name)),
        }
    }
    Ok((resolved, pending))
}

/// The runtime client a deleted app removes: none with `Retain`, none that never reached the
/// runtime (no client ID in status). Pure.
fn client_to_delete(app: &AppRegistration) -> Option<String> {
    if app.spec.deletion_policy == DeletionPolicy::Retain {
        return None;
    }
    app.status
        .as_ref()
        .and_then(|status| status.client_id.clone())
}

/// Removes the runtime client this app registered, unless `Retain`. Only a client ID the
/// operator reported in status is considered, and the runtime deletes it only for its owner:
/// an app never removes another app's client.
async fn cleanup<B: Backend>(app: &AppRegistration, context: &Context<B>) -> Result<Action, Error> {
    let Some(client_id) = client_to_delete(app) else {
        return Ok(Action::await_change());
    };
    let app_namespace = app.namespace().unwrap_or_default();
    let tenant_namespace = app
        .spec
        .tenant_ref
        .namespace
        .clone()
        .unwrap_or(app_namespace);
    let tenant = Api::<CustomerTenant>::namespaced(context.client.clone(), &tenant_namespace)
        .get_opt(&app.spec.tenant_ref.name)
        .await
        .map_err(Error::kube("read the app's CustomerTenant"))?;
    if let Some(tenant) = tenant {
        let claim = Claim::by(owner_of(app));
        match context
            .backend
            .delete_client(&tenant.spec.subdomain, &client_id, &claim)
            .await
        {
            Ok(()) => {}
            Err(BackendError::OwnedByAnother { .. }) => {
                tracing::warn!(
                    app = %app.name_any(),
                    namespace = ?app.namespace(),
                    client_id = %client_id,
                    "not deleting a runtime client that another object owns"
                );
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;
    use crate::contract::owner::Owner;

    fn app(name: &str, spec: serde_json::Value, status: serde_json::Value) -> AppRegistration {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration",
            "metadata": { "name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                          "creationTimestamp": "2026-12-06T10:00:00Z" },
            "spec": spec, "status": status
        }))
        .expect("valid app")
    }

    fn web(deletion_policy: &str, client_id: Option<&str>) -> AppRegistration {
        app(
            "shop",
            serde_json::json!({ "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web",
                                "deletionPolicy": deletion_policy }),
            serde_json::json!({ "clientId": client_id }),
        )
    }

    fn desired(display_name: &str) -> ClientSpec {
        let mut spec = web("Delete", None).spec;
        spec.display_name = display_name.into();
        desired_client(&spec, Vec::new(), Vec::new())
    }

    fn credentials() -> Credentials {
        plan_credentials(
            &web("Delete", Some("c-1")),
            None,
            None,
            jiff::Timestamp::now(),
        )
    }

    #[tokio::test]
    async fn a_client_changed_in_the_runtime_is_restored_and_an_unchanged_one_is_left_alone() {
        let backend = FakeBackend::default();
        let claim = Claim::by(owner_of(&web("Delete", None)));
        let wanted = desired("Shop");
        backend.put_client(
            "contoso",
            "c-1",
            Observed {
                spec: desired("Changed by hand"),
                owner: claim.owner.clone(),
            },
        );
        let observed = backend.observe_client("contoso", "c-1").await.unwrap();
        let corrected = write_client(&backend, "contoso", "c-1", observed, &wanted, &claim).await;
        assert!(corrected.unwrap(), "a changed client is re-applied");
        assert_eq!(backend.writes(), ["apply client c-1"]);

        let observed = backend.observe_client("contoso", "c-1").await.unwrap();
        let corrected = write_client(&backend, "contoso", "c-1", observed, &wanted, &claim).await;
        assert!(!corrected.unwrap());
        assert_eq!(
            backend.writes().len(),
            1,
            "an unchanged client is not written"
        );
    }

    #[tokio::test]
    async fn another_apps_client_is_refused_and_reported_as_client_id_in_use() {
        let backend = FakeBackend::default();
        let other = app(
            "other",
            web("Delete", None).spec_json(),
            serde_json::json!({}),
        );
        backend.put_client(
            "contoso",
            "c-1",
            Observed {
                spec: desired("Other"),
                owner: Some(owner_of(&other)),
            },
        );
        let claim = Claim::by(owner_of(&web("Delete", None)));
        let observed = backend.observe_client("contoso", "c-1").await.unwrap();
        let refused = write_client(
            &backend,
            "contoso",
            "c-1",
            observed,
            &desired("Shop"),
            &claim,
        )
        .await
        .map(|corrected| Registration {
            corrected,
            pending: Vec::new(),
        });
        let (ready, action) = decide(refused, &credentials(), "apps", Duration::from_secs(300));
        let Ready::False(reason, message) = ready else {
            panic!("expected Ready=False, got {ready:?}");
        };
        assert_eq!(reason, reasons::CLIENT_ID_IN_USE);
        assert!(message.contains("AppRegistration other"), "{message}");
        assert_eq!(action, Action::await_change());
        assert!(backend.writes().is_empty());
    }

    #[test]
    fn pending_permissions_are_reported_and_retried_soon() {
        let registration = Registration {
            corrected: false,
            pending: vec!["apps/api".into()],
        };
        let (ready, action) = decide(
            Ok(registration),
            &credentials(),
            "apps",
            Duration::from_secs(300),
        );
        assert!(matches!(ready, Ready::False(reason, ref message)
                if reason == reasons::API_PERMISSION_PENDING && message.ends_with("apps/api")));
        assert_eq!(action, Action::requeue(Duration::from_secs(2)));
    }

    #[test]
    fn a_registered_client_is_ready_until_the_next_resync() {
        let registration = Registration {
            corrected: false,
            pending: Vec::new(),
        };
        let (ready, action) = decide(
            Ok(registration),
            &credentials(),
            "apps",
            Duration::from_secs(300),
        );
        assert!(matches!(ready, Ready::True(_)));
        assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    }

    #[test]
    fn a_backend_failure_is_left_to_the_generic_mapping() {
        let error = BackendError::Unavailable {
            operation: "apply client c-1".into(),
            detail: "timeout".into(),
        };
        let (ready, _) = decide(Err(error), &credentials(), "apps", Duration::from_secs(300));
        assert!(matches!(
            ready,
            Ready::BackendFailed(BackendError::Unavailable { .. })
        ));
    }

    #[test]
    fn retain_keeps_the_runtime_client_and_delete_removes_only_a_reported_one() {
        assert_eq!(client_to_delete(&web("Retain", Some("c-1"))), None);
        assert_eq!(
            client_to_delete(&web("Delete", Some("c-1"))).as_deref(),
            Some("c-1")
        );
        assert_eq!(client_to_delete(&web("Delete", None)), None);
    }

    #[tokio::test]
    async fn an_app_deletes_its_own_client_but_never_another_apps() {
        let backend = FakeBackend::default();
        let mine = web("Delete", Some("c-1"));
        let other = app("other", mine.spec_json(), serde_json::json!({}));
        for (client_id, owner) in [("c-1", &mine), ("c-2", &other)] {
            let owner: Owner = owner_of(owner);
            backend.put_client(
                "contoso",
                client_id,
                Observed {
                    spec: desired("x"),
                    owner: Some(owner),
                },
            );
        }
        let claim = Claim::by(owner_of(&mine));
        backend
            .delete_client("contoso", "c-1", &claim)
            .await
            .unwrap();
        let refused = backend.delete_client("contoso", "c-2", &claim).await;
        assert!(matches!(refused, Err(BackendError::OwnedByAnother { .. })));
        assert!(
            backend
                .observe_client("contoso", "c-2")
                .await
                .unwrap()
                .is_some()
        );
    }

    trait SpecJson {
        fn spec_json(&self) -> serde_json::Value;
    }

    impl SpecJson for AppRegistration {
        fn spec_json(&self) -> serde_json::Value {
            serde_json::to_value(&self.spec).unwrap()
        }
    }
}
