//! Reconciles a `CustomerTenant` into a runtime tenant and reports its issuer and identifiers.

use std::sync::Arc;

use futures::future::BoxFuture;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::conditions::{self, reasons};
use super::desired::{desired_tenant, tenant_matches};
use super::ownership::{claim_for, describe_for, owner_of};
use super::references::{holds_place, precedence};
use super::{
    Context, Decision, Error, now, on_metadata_change, publish, run_controllers, write_status,
};
use crate::api::{AppRegistration, CustomerTenant, CustomerTenantStatus, DeletionPolicy, UserFlow};
use crate::backend::{Backend, BackendError, ObservedTenant};
use crate::contract::owner::{Claim, Owner};
use crate::contract::{SmtpSpec, SmtpTls, TenantSpec};
use k8s_openapi::api::core::v1::Secret;

/// The controllers of `CustomerTenant`s: also woken when the SMTP Secret a tenant names
/// changes (a metadata-only watch).
pub fn controller<B: Backend>(context: Arc<Context<B>>) -> BoxFuture<'static, ()> {
    run_controllers::<CustomerTenant, B>(context, |controller, context| {
        on_metadata_change(
            controller,
            context.apis::<kube::core::PartialObjectMeta<Secret>>(),
            |tenant: &CustomerTenant, secret| {
                tenant
                    .spec
                    .email
                    .as_ref()
                    .is_some_and(|email| email.smtp_secret_ref.name == secret)
            },
        )
    })
}

super::reconciled!(CustomerTenant, CustomerTenantStatus);

async fn apply<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Decision<CustomerTenantStatus>, Error> {
    let subdomain = &tenant.spec.subdomain;
    if let Some(owner) = earlier_tenant_with_subdomain(tenant, context).await? {
        let message = format!(
            "subdomain {subdomain} already belongs to {owner}; subdomains are unique across the cluster"
        );
        let status = tenant.status.clone().unwrap_or_default();
        let problem = (reasons::SUBDOMAIN_IN_USE, message);
        return Ok(Decision::not_ready(status, problem, Action::await_change()));
    }
    let outcome = sync_tenant(tenant, context).await?;
    // The SMTP connection for one-time passcodes, once the tenant exists. A missing or
    // malformed Secret is reported and the runtime keeps what it has.
    let (smtp_desired, secret_problem) = match read_smtp_secret(tenant, context).await? {
        None => (Some(None), None),
        Some(Ok(desired)) => (Some(Some(desired)), None),
        Some(Err(message)) => (None, Some(message)),
    };
    let outcome = match (outcome, smtp_desired) {
        (Ok(observed), Some(desired)) => reconcile_smtp(&context.backend, subdomain, desired)
            .await
            .map(|()| observed),
        (outcome, _) => outcome,
    };
    let (apps, flows) = count_dependents(tenant, context).await?;
    let mut status = tenant.status.clone().unwrap_or_default();
    status.app_count = Some(apps);
    status.user_flow_count = Some(flows);
    Ok(match outcome {
        Ok((observed, corrected)) => {
            report_drift(tenant, context, corrected).await;
            status.tenant_id = Some(observed.tenant_id);
            status.issuer = Some(observed.issuer);
            status.authority = Some(observed.authority);
            status.discovery_url = Some(observed.discovery_url);
            let action = Action::requeue(context.resync);
            match secret_problem {
                Some(message) => {
                    Decision::not_ready(status, (reasons::SECRET_INVALID, message), action)
                }
                None => Decision::ready(status, "the tenant is serving", action),
            }
        }
        Err(BackendError::OwnedByAnother { owner, .. }) => {
            let namespace = tenant.namespace().unwrap_or_default();
            let message = format!(
                "subdomain {subdomain} already belongs to {} in the identity runtime; subdomains are unique",
                describe_for(&owner, &namespace)
            );
            let problem = (reasons::SUBDOMAIN_IN_USE, message);
            Decision::not_ready(status, problem, Action::await_change())
        }
        Err(error) => Decision::backend_failed(status, error),
    })
}

/// Publishes `DriftCorrected` when the runtime's tenant was restored while the object was
/// Ready at this generation (a difference made behind the operator's back).
async fn report_drift<B: Backend>(tenant: &CustomerTenant, context: &Context<B>, corrected: bool) {
    let was_ready = tenant.status.as_ref().is_some_and(|status| {
        status.observed_generation == tenant.metadata.generation
            && conditions::find_ready(&status.conditions).is_some_and(|c| c.status == "True")
    });
    if corrected && was_ready {
        publish(
            context,
            tenant,
            "DriftCorrected",
            "the runtime's tenant differed from the spec and was restored",
        )
        .await;
    }
}

/// What the runtime's tenant needs.
#[derive(Debug, PartialEq)]
enum TenantWrite {
    /// Nothing: it is this object's and as desired.
    Unchanged(Box<ObservedTenant>),
    /// A write, claimed from the `recorded` owner; `corrected` when a stored tenant differed.
    Needed {
        recorded: Option<Owner>,
        corrected: bool,
    },
}

/// Decides whether the runtime's tenant needs a write. Pure.
fn tenant_write(observed: Option<ObservedTenant>, desired: &TenantSpec, me: &Owner) -> TenantWrite {
    let recorded = observed
        .as_ref()
        .and_then(|observed| observed.owner.clone());
    match observed {
        Some(observed)
            if recorded.as_ref() == Some(me) && tenant_matches(&observed.spec, desired) =>
        {
            TenantWrite::Unchanged(Box::new(observed))
        }
        previous => TenantWrite::Needed {
            recorded,
            corrected: previous.is_some_and(|previous| !tenant_matches(&previous.spec, desired)),
        },
    }
}

/// Brings the runtime's tenant in line with the spec; returns it and whether a stored tenant
/// was corrected.
async fn sync_tenant<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Result<(ObservedTenant, bool), BackendError>, Error> {
    let subdomain = &tenant.spec.subdomain;
    let known_id = tenant
        .status
        .as_ref()
        .and_then(|status| status.tenant_id.as_deref());
    let desired = desired_tenant(&tenant.spec, known_id);
    let observed = match context.backend.observe_tenant(subdomain).await {
        Ok(observed) => observed,
        Err(error) => return Ok(Err(error)),
    };
    match tenant_write(observed, &desired, &owner_of(tenant)) {
        TenantWrite::Unchanged(observed) => Ok(Ok((*observed, false))),
        TenantWrite::Needed {
            recorded,
            corrected,
        } => {
            let claim = claim_for(&context.client, tenant, recorded.as_ref()).await?;
            Ok(context
                .backend
                .apply_tenant(subdomain, &desired, &claim)
                .await
                .map(|applied| (applied, corrected)))
        }
    }
}

async fn cleanup<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Action, Error> {
    let (apps, flows) = count_dependents(tenant, context).await?;
    let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
    let brandings = context
        .list_for_tenant::<crate::api::Branding>(&key)
        .await?
        .len();
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
            let claim = Claim::by(owner_of(tenant));
            match context
                .backend
                .delete_tenant(&tenant.spec.subdomain, &claim)
                .await
            {
                Ok(()) => {}
                Err(BackendError::OwnedByAnother { .. }) => tracing::warn!(
                    subdomain = %tenant.spec.subdomain,
                    "not deleting a runtime tenant that another object owns"
                ),
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(Action::await_change())
}

/// The SMTP settings in the `email.smtpSecretRef` Secret, or what is wrong with it.
fn smtp_from_secret(secret: &Secret) -> Result<(SmtpSpec, Option<String>), String> {
    let value = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
    };
    let host = value("host").ok_or("has no host key")?;
    let port = value("port")
        .unwrap_or_else(|| "587".into())
        .parse::<u16>()
        .map_err(|_| "has a port that is not a number from 1 to 65535".to_string())?;
    let tls = match value("tls").as_deref().unwrap_or("starttls") {
        "starttls" => SmtpTls::Starttls,
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        _ => return Err("has a tls key that is not starttls, tls or none".into()),
    };
    let password = value("password");
    let spec = SmtpSpec {
        host,
        port,
        tls,
        username: value("username"),
        password: None,
        password_hash: password.as_deref().map(|password| {
            format!(
                "sha256:{}",
                crate::runtime::crypto::encode_hex(&crate::runtime::crypto::sha256(
                    password.as_bytes()
                ))
            )
        }),
    };
    Ok((spec, password))
}

async fn read_smtp_secret<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Option<Result<(SmtpSpec, Option<String>), String>>, Error> {
    let Some(email) = &tenant.spec.email else {
        return Ok(None);
    };
    let namespace = tenant.namespace().unwrap_or_default();
    let name = &email.smtp_secret_ref.name;
    let secret = Api::<Secret>::namespaced(context.client.clone(), &namespace)
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("read Secret {namespace}/{name}")))?;
    Ok(Some(match secret {
        None => Err(format!("email.smtpSecretRef: Secret {name} does not exist")),
        Some(secret) => smtp_from_secret(&secret)
            .map_err(|why| format!("email.smtpSecretRef: Secret {name} {why}")),
    }))
}

/// Brings the runtime's SMTP connection in line with the tenant's Secret (`None`: the tenant
/// has no email settings, so the runtime should have none either).
async fn reconcile_smtp<B: Backend>(
    backend: &B,
    subdomain: &str,
    desired: Option<(SmtpSpec, Option<String>)>,
) -> Result<(), BackendError> {
    let observed = backend.observe_smtp(subdomain).await?;
    match (desired, observed) {
        (Some((spec, password)), observed) if observed.as_ref() != Some(&spec) => {
            backend
                .apply_smtp(subdomain, &spec, password.as_deref())
                .await
        }
        (None, Some(_)) => backend.delete_smtp(subdomain).await,
        _ => Ok(()),
    }
}

/// The namespace/name of an older CustomerTenant (anywhere in the cluster) that already uses
/// this tenant's subdomain; the older one keeps it.
async fn earlier_tenant_with_subdomain<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<Option<String>, Error> {
    let age = |t: &CustomerTenant| {
        precedence(
            t,
            holds_place(t.status.as_ref().map(|status| status.conditions.as_slice())),
        )
    };
    let owner = context
        .list::<CustomerTenant>()
        .await?
        .into_iter()
        .filter(|other| {
            other.uid() != tenant.uid() && other.spec.subdomain == tenant.spec.subdomain
        })
        // One that was itself refused the subdomain holds nothing: the runtime, which records
        // who owns its tenant, decides between the rest.
        .filter(|other| !is_refused_its_subdomain(other))
        .filter(|other| age(other) < age(tenant))
        .min_by_key(age);
    let namespace = tenant.namespace().unwrap_or_default();
    Ok(owner.map(|owner| describe_for(&owner_of(&owner), &namespace)))
}

/// Whether a CustomerTenant reports `SubdomainInUse`.
fn is_refused_its_subdomain(tenant: &CustomerTenant) -> bool {
    tenant
        .status
        .as_ref()
        .and_then(|status| conditions::find_ready(&status.conditions))
        .is_some_and(|ready| ready.reason == reasons::SUBDOMAIN_IN_USE)
}

/// Counts the AppRegistrations and UserFlows (in any namespace) that reference the tenant.
async fn count_dependents<B: Backend>(
    tenant: &CustomerTenant,
    context: &Context<B>,
) -> Result<(i32, i32), Error> {
    let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
    let apps = context
        .list_for_tenant::<AppRegistration>(&key)
        .await?
        .len();
    let flows = context.list_for_tenant::<UserFlow>(&key).await?.len();
    Ok((
        i32::try_from(apps).unwrap_or(i32::MAX),
        i32::try_from(flows).unwrap_or(i32::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;

    fn tenant(name: &str, namespace: &str) -> CustomerTenant {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant",
            "metadata": { "name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}") },
            "spec": { "subdomain": "contoso", "displayName": "Contoso", "countryCode": "NL" }
        }))
        .expect("valid tenant")
    }

    fn smtp(host: &str) -> SmtpSpec {
        SmtpSpec {
            host: host.into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_hash: None,
        }
    }

    #[tokio::test]
    async fn a_tenant_changed_in_the_runtime_needs_a_write_and_counts_as_corrected() {
        let backend = FakeBackend::default();
        let mine = tenant("contoso", "idp");
        let desired = desired_tenant(&mine.spec, None);
        let claim = Claim::by(owner_of(&mine));
        let applied = backend
            .apply_tenant("contoso", &desired, &claim)
            .await
            .unwrap();
        let observed = backend.observe_tenant("contoso").await.unwrap();
        assert_eq!(
            tenant_write(observed, &desired, &owner_of(&mine)),
            TenantWrite::Unchanged(Box::new(applied)),
            "an unchanged tenant is not written"
        );

        let mut changed = desired.clone();
        changed.display_name = "Changed by hand".into();
        backend
            .apply_tenant("contoso", &changed, &claim)
            .await
            .unwrap();
        let observed = backend.observe_tenant("contoso").await.unwrap();
        assert_eq!(
            tenant_write(observed, &desired, &owner_of(&mine)),
            TenantWrite::Needed {
                recorded: Some(owner_of(&mine)),
                corrected: true
            }
        );
    }

    #[tokio::test]
    async fn a_subdomain_another_tenant_holds_is_refused_by_the_backend() {
        let backend = FakeBackend::default();
        let first = tenant("contoso", "team-a");
        let second = tenant("contoso", "team-b");
        let desired = desired_tenant(&first.spec, None);
        backend
            .apply_tenant("contoso", &desired, &Claim::by(owner_of(&first)))
            .await
            .unwrap();
        let refused = backend
            .apply_tenant("contoso", &desired, &Claim::by(owner_of(&second)))
            .await;
        let Err(BackendError::OwnedByAnother { owner, .. }) = refused else {
            panic!("expected OwnedByAnother, got {refused:?}");
        };
        assert_eq!(
            describe_for(&owner, "team-b"),
            "another CustomerTenant the operator manages"
        );
    }

    #[tokio::test]
    async fn smtp_is_written_when_it_differs_and_removed_with_the_email_settings() {
        let backend = FakeBackend::default();
        reconcile_smtp(&backend, "contoso", Some((smtp("mail.example"), None)))
            .await
            .unwrap();
        reconcile_smtp(&backend, "contoso", Some((smtp("mail.example"), None)))
            .await
            .unwrap();
        assert_eq!(backend.writes(), ["apply smtp contoso"]);
        reconcile_smtp(&backend, "contoso", None).await.unwrap();
        reconcile_smtp(&backend, "contoso", None).await.unwrap();
        assert_eq!(
            backend.writes(),
            ["apply smtp contoso", "delete smtp contoso"]
        );
    }

    #[test]
    fn an_smtp_secret_needs_a_host_and_a_known_tls_mode() {
        let secret = |entries: &[(&str, &str)]| Secret {
            data: Some(
                entries
                    .iter()
                    .map(|(key, value)| {
                        (
                            key.to_string(),
                            k8s_openapi::ByteString(value.as_bytes().to_vec()),
                        )
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        assert_eq!(
            smtp_from_secret(&secret(&[])).unwrap_err(),
            "has no host key"
        );
        let bad_tls = smtp_from_secret(&secret(&[("host", "mail"), ("tls", "ssl")]));
        assert_eq!(
            bad_tls.unwrap_err(),
            "has a tls key that is not starttls, tls or none"
        );
        let (spec, password) =
            smtp_from_secret(&secret(&[("host", "mail"), ("password", "pw")])).unwrap();
        assert_eq!((spec.port, spec.tls), (587, SmtpTls::Starttls));
        assert!(spec.password_hash.unwrap().starts_with("sha256:"));
        assert_eq!(password.as_deref(), Some("pw"));
    }

    #[test]
    fn a_tenant_refused_its_subdomain_holds_nothing() {
        let mut refused = tenant("contoso", "team-b");
        refused.status = Some(CustomerTenantStatus {
            conditions: vec![conditions::ready(
                false,
                reasons::SUBDOMAIN_IN_USE,
                "taken",
                None,
                now(),
            )],
            ..Default::default()
        });
        assert!(is_refused_its_subdomain(&refused));
        assert!(!is_refused_its_subdomain(&tenant("contoso", "team-a")));
    }
}
