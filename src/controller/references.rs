//! Resolves a `tenantRef`, honouring the tenant's `allowedNamespaces`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::conditions::{self, reasons};
use super::{Error, Scope};
use crate::api::customer_tenant::NamespacesFrom;
use crate::api::{CustomerTenant, TenantRef};

/// The tenant an object may use, or why not.
pub enum TenantResolution {
    /// The tenant exists, allows the reference and is Ready.
    Ready {
        /// The tenant.
        tenant: Box<CustomerTenant>,
        /// Its subdomain, the key of the tenant in the backend.
        subdomain: String,
    },
    /// The object must wait; `reason` and `message` go to its `Ready` condition.
    NotUsable {
        /// PascalCase reason.
        reason: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The namespace and name a `tenantRef` from `namespace` points at.
pub fn tenant_key(namespace: &str, tenant_ref: &TenantRef) -> (String, String) {
    (
        tenant_ref
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_string()),
        tenant_ref.name.clone(),
    )
}

/// Resolves the tenant referenced from an object in `namespace`.
///
/// # Errors
/// Fails only when the API server cannot be read; a missing, foreign or unready tenant is a
/// [`TenantResolution::NotUsable`].
pub async fn resolve_tenant(
    client: &Client,
    scope: &Scope,
    namespace: &str,
    tenant_ref: &TenantRef,
) -> Result<TenantResolution, Error> {
    let (tenant_namespace, name) = tenant_key(namespace, tenant_ref);
    if !scope.contains(&tenant_namespace) {
        return Ok(TenantResolution::NotUsable {
            reason: reasons::REF_NOT_PERMITTED,
            message: format!(
                "CustomerTenant {tenant_namespace}/{name} is in a namespace this operator does not watch; add {tenant_namespace} to its watched namespaces (--watch-namespace, Helm value watchNamespaces)"
            ),
        });
    }
    let tenant = Api::<CustomerTenant>::namespaced(client.clone(), &tenant_namespace)
        .get_opt(&name)
        .await
        .map_err(Error::kube(format!(
            "read CustomerTenant {tenant_namespace}/{name}"
        )))?;
    let Some(tenant) = tenant else {
        return Ok(TenantResolution::NotUsable {
            reason: reasons::TENANT_NOT_FOUND,
            message: format!("CustomerTenant {tenant_namespace}/{name} does not exist"),
        });
    };
    if tenant_namespace != namespace && !namespace_allowed(client, &tenant, namespace).await? {
        return Ok(TenantResolution::NotUsable {
            reason: reasons::REF_NOT_PERMITTED,
            message: format!(
                "CustomerTenant {tenant_namespace}/{name} does not allow references from namespace {namespace}; select it in the tenant's spec.allowedNamespaces"
            ),
        });
    }
    let ready = tenant.status.as_ref().is_some_and(|status| {
        status.tenant_id.is_some()
            && conditions::find_ready(&status.conditions).is_some_and(|c| c.status == "True")
    });
    if !ready {
        return Ok(TenantResolution::NotUsable {
            reason: reasons::TENANT_NOT_READY,
            message: format!("CustomerTenant {tenant_namespace}/{name} is not Ready yet"),
        });
    }
    let subdomain = tenant.spec.subdomain.clone();
    Ok(TenantResolution::Ready {
        tenant: Box::new(tenant),
        subdomain,
    })
}

/// Whether the tenant's `allowedNamespaces` selects `namespace`.
async fn namespace_allowed(
    client: &Client,
    tenant: &CustomerTenant,
    namespace: &str,
) -> Result<bool, Error> {
    let Some(allowed) = &tenant.spec.allowed_namespaces else {
        return Ok(false);
    };
    match allowed.from {
        NamespacesFrom::Same => Ok(tenant.namespace().as_deref() == Some(namespace)),
        NamespacesFrom::All => Ok(true),
        NamespacesFrom::Selector => {
            let Some(selector) = &allowed.selector else {
                return Ok(false);
            };
            let labels = match Api::<Namespace>::all(client.clone()).get(namespace).await {
                Ok(found) => found.metadata.labels.unwrap_or_default(),
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    return Err(Error::Waiting(format!(
                        "the operator may not read Namespace {namespace} (it runs with namespaced RBAC), so spec.allowedNamespaces.selector cannot be evaluated; use from: All, or grant it get on namespaces"
                    )));
                }
                Err(source) => {
                    return Err(Error::Kube {
                        operation: format!("read Namespace {namespace}"),
                        source,
                    });
                }
            };
            Ok(selector_matches(selector, &labels))
        }
    }
}

/// The order in which objects competing for one place (a subdomain, a tenant's Branding, its
/// ten user flows, an app's flow) get it: creation time first; within the same second (the
/// API server's resolution) an object that already holds its place comes first, so a newcomer
/// never displaces it; then namespace and name, so the order is total.
pub type Precedence = (Option<jiff::Timestamp>, bool, Option<String>, String);

/// The [`Precedence`] of `object`; `holding` says whether it holds its place (see
/// [`holds_place`]).
pub fn precedence<K: ResourceExt>(object: &K, holding: bool) -> Precedence {
    (
        object.creation_timestamp().map(|time| time.0),
        !holding,
        object.namespace(),
        object.name_any(),
    )
}

/// Whether an object holds its place among competitors: it has been judged (it has a `Ready`
/// condition) and did not lose a conflict. A transient failure (a backend timeout, a pending
/// app) keeps the place: were it to count, a same-second newcomer could slip in front while
/// the older object still serves in the backend, and the two would then each yield to the
/// other.
pub fn holds_place(conditions: Option<&[Condition]>) -> bool {
    conditions
        .and_then(conditions::find_ready)
        .is_some_and(|ready| ready.status == "True" || !conditions::lost_conflict(&ready.reason))
}

/// Evaluates a label selector against a label set.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector.match_labels.as_ref().is_none_or(|wanted| {
        wanted
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    });
    let expressions_match = selector
        .match_expressions
        .as_ref()
        .is_none_or(|expressions| {
            expressions.iter().all(|expression| {
                let values = expression.values.clone().unwrap_or_default();
                let actual = labels.get(&expression.key);
                match expression.operator.as_str() {
                    "In" => actual.is_some_and(|value| values.contains(value)),
                    "NotIn" => actual.is_none_or(|value| !values.contains(value)),
                    "Exists" => actual.is_some(),
                    "DoesNotExist" => actual.is_none(),
                    _ => false,
                }
            })
        });
    labels_match && expressions_match
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": { "team": "shop" },
            "matchExpressions": [{ "key": "env", "operator": "In", "values": ["prod", "staging"] }]
        }))
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selector_matches(
            &selector,
            &labels(&[("team", "shop"), ("env", "prod")])
        ));
        assert!(!selector_matches(
            &selector,
            &labels(&[("team", "shop"), ("env", "dev")])
        ));
        assert!(!selector_matches(&selector, &labels(&[("env", "prod")])));
    }
}
