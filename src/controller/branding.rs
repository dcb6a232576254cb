//! Reconciles a `Branding` into the runtime; a tenant has at most one.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::conditions::{self, reasons};
use super::references::{TenantResolution, resolve_tenant, tenant_key};
use super::{Context, Error, FINALIZER, now, write_status};
use crate::api::branding::BrandingProperties;
use crate::api::{Branding, BrandingSpec};
use crate::backend::Backend;
use crate::runtime::model::BrandingSpec as RuntimeBranding;

type ControllerError =
    kube::runtime::controller::Error<kube::runtime::finalizer::Error<Error>, watcher::Error>;

/// The controller of `Branding`s.
pub fn controller<B: Backend>(
    context: Arc<Context<B>>,
) -> impl Stream<Item = Result<(ObjectRef<Branding>, Action), ControllerError>> {
    let controller = Controller::new(context.watched::<Branding>(), watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            context.watched::<crate::api::CustomerTenant>(),
            watcher::Config::default(),
            move |tenant| {
                let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|branding| {
                        tenant_key(
                            &branding.namespace().unwrap_or_default(),
                            &branding.spec.tenant_ref,
                        ) == key
                    })
                    .map(|branding| ObjectRef::from_obj(&*branding))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
}

async fn reconcile<B: Backend>(
    branding: Arc<Branding>,
    context: Arc<Context<B>>,
) -> Result<Action, kube::runtime::finalizer::Error<Error>> {
    let _timer = super::metrics::reconcile_started(&context.metrics, "Branding");
    let api = Api::<Branding>::namespaced(
        context.client.clone(),
        &branding.namespace().unwrap_or_default(),
    );
    finalizer(&api, FINALIZER, branding, |event| async {
        match event {
            FinalizerEvent::Apply(branding) => apply(&branding, &context).await,
            FinalizerEvent::Cleanup(branding) => cleanup(&branding, &context).await,
        }
    })
    .await
}

fn error_policy<B: Backend>(
    branding: Arc<Branding>,
    error: &kube::runtime::finalizer::Error<Error>,
    context: Arc<Context<B>>,
) -> Action {
    tracing::warn!(branding = %branding.name_any(), namespace = ?branding.namespace(), error = %error, "reconcile failed");
    super::on_error(&context.metrics, "Branding", error)
}

/// Fields whose content lives in a ConfigMap, which the runtime cannot take yet. Pure.
pub fn config_map_fields(spec: &BrandingSpec) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |prefix: String, properties: &BrandingProperties| {
        let images = [
            ("backgroundImage", &properties.background_image),
            ("bannerLogo", &properties.banner_logo),
            ("headerLogo", &properties.header_logo),
            ("squareLogo", &properties.square_logo),
            ("squareLogoDark", &properties.square_logo_dark),
            ("favicon", &properties.favicon),
        ];
        for (name, image) in images {
            if image
                .as_ref()
                .is_some_and(|image| image.config_map_key_ref.is_some())
            {
                fields.push(format!("{prefix}.{name}.configMapKeyRef"));
            }
        }
        if properties.custom_css.is_some() {
            fields.push(format!("{prefix}.customCSS"));
        }
    };
    if let Some(default) = &spec.default {
        check("spec.default".into(), default);
    }
    for (locale, properties) in spec.localizations.iter().flatten() {
        check(format!("spec.localizations.{locale}"), properties);
    }
    fields
}

async fn apply<B: Backend>(branding: &Branding, context: &Context<B>) -> Result<Action, Error> {
    let namespace = branding.namespace().unwrap_or_default();
    let generation = branding.metadata.generation;
    let mut status = branding.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let mut not_ready = |reason: &str, message: String| {
        status.conditions = conditions::merge(
            &status.conditions,
            conditions::ready(false, reason, message, generation, now()),
        );
    };

    let (subdomain, authority) =
        match resolve_tenant(&context.client, &namespace, &branding.spec.tenant_ref).await? {
            TenantResolution::Ready { tenant, subdomain } => {
                (subdomain, tenant.status.and_then(|status| status.authority))
            }
            TenantResolution::NotUsable { reason, message } => {
                not_ready(reason, message);
                write_status(&context.client, branding, branding.status.as_ref(), &status).await?;
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        };

    let key = tenant_key(&namespace, &branding.spec.tenant_ref);
    let earlier = context
        .watched::<Branding>()
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list Brandings"))?
        .items
        .into_iter()
        .filter(|other| {
            other.uid() != branding.uid() && other.metadata.deletion_timestamp.is_none()
        })
        .filter(|other| {
            tenant_key(
                &other.namespace().unwrap_or_default(),
                &other.spec.tenant_ref,
            ) == key
        })
        .find(|other| {
            let age = |b: &Branding| {
                (
                    b.creation_timestamp().map(|time| time.0),
                    b.namespace(),
                    b.name_any(),
                )
            };
            age(other) < age(branding)
        });
    if let Some(earlier) = earlier {
        not_ready(
            reasons::BRANDING_ALREADY_DEFINED,
            format!(
                "Branding {}/{} already styles this tenant; a tenant has one Branding",
                earlier.namespace().unwrap_or_default(),
                earlier.name_any()
            ),
        );
        write_status(&context.client, branding, branding.status.as_ref(), &status).await?;
        return Ok(Action::await_change());
    }

    let unsupported = config_map_fields(&branding.spec);
    if !unsupported.is_empty() {
        not_ready(
            reasons::UNSUPPORTED_BY_BACKEND,
            format!(
                "the identity runtime cannot serve ConfigMap content yet: {}; use https URLs for now",
                unsupported.join(", ")
            ),
        );
        write_status(&context.client, branding, branding.status.as_ref(), &status).await?;
        return Ok(Action::await_change());
    }

    let desired = RuntimeBranding {
        default: branding.spec.default.clone(),
        localizations: branding.spec.localizations.clone(),
        strings: branding.spec.strings.clone(),
    };
    let outcome = async {
        let observed = context.backend.observe_branding(&subdomain).await?;
        if observed.as_ref() != Some(&desired) {
            context.backend.apply_branding(&subdomain, &desired).await?;
        }
        Ok::<_, crate::backend::BackendError>(())
    }
    .await;
    status.preview_url = authority;
    let result = match outcome {
        Ok(()) => {
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(
                    true,
                    reasons::RECONCILED,
                    "the tenant's pages use this branding",
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
    write_status(&context.client, branding, branding.status.as_ref(), &status).await?;
    result
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
        context
            .backend
            .delete_branding(&tenant.spec.subdomain)
            .await?;
    }
    Ok(Action::await_change())
}
