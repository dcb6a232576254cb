//! Rules of the admin API beyond one object's fields: what of a tenant is stored, a client
//! keeps its type and its own identifier URI, and a tenant has at most [`MAX_USER_FLOWS`] user
//! flows, each application served by one of them.
//!
//! Each check takes the stored documents it compares against, so it runs without a database.

use crate::contract::owner::Claim;
use crate::contract::{ClientSpec, MAX_USER_FLOWS, SigningAlgorithm, TenantSpec, UserFlowSpec};
use crate::runtime::store::{Document, StoreError};

/// Why a write conflicts with what is stored.
#[derive(Debug, thiserror::Error)]
pub enum AdminConflict {
    /// A new user flow beyond the tenant's limit.
    #[error("tenant {subdomain} already has {max} user flows")]
    TooManyUserFlows {
        /// The tenant's subdomain.
        subdomain: String,
        /// The limit.
        max: usize,
    },
    /// An application that another user flow already serves.
    #[error("application {application} is already served by user flow {flow}")]
    ApplicationInAnotherFlow {
        /// The application (client ID).
        application: String,
        /// The user flow that serves it.
        flow: String,
    },
    /// A client written with another type than the stored one.
    #[error("type is immutable: delete and recreate the client to change it")]
    ClientTypeChanged,
    /// An identifier URI that another client of the tenant already exposes.
    #[error("exposedApi.identifierUri {identifier_uri} is already used by client {client_id}")]
    IdentifierUriInUse {
        /// The URI.
        identifier_uri: String,
        /// The client that exposes it.
        client_id: String,
    },
    /// The stored object belongs to another owner, or a stored document no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A valid tenant spec as the store takes it.
#[derive(Debug)]
pub struct TenantWrite {
    /// The tenant ID the spec asks for (kept when the tenant exists, else used to create it).
    pub requested_id: Option<String>,
    /// The spec to store, without the tenant ID and subdomain (the stored row holds them).
    pub spec: TenantSpec,
    /// The algorithm of the tenant's signing keys.
    pub signing_algorithm: SigningAlgorithm,
}

/// Splits a valid tenant spec into what the store keeps apart, and picks the algorithm of its
/// signing keys: its own, else `default_algorithm`.
pub fn tenant_write(mut spec: TenantSpec, default_algorithm: SigningAlgorithm) -> TenantWrite {
    let requested_id = spec.tenant_id.take();
    spec.subdomain = None;
    let signing_algorithm = spec.signing_algorithm.unwrap_or(default_algorithm);
    TenantWrite {
        requested_id,
        spec,
        signing_algorithm,
    }
}

/// Checks that user flow `name` may serve `spec.applications` next to the tenant's stored
/// user flows (`flows`, possibly including an older `name`).
///
/// # Errors
/// [`AdminConflict::TooManyUserFlows`] for a new flow beyond [`MAX_USER_FLOWS`],
/// [`AdminConflict::ApplicationInAnotherFlow`] for an application another flow serves,
/// [`AdminConflict::Store`] for a stored flow that no longer parses.
pub fn check_user_flow_placement(
    subdomain: &str,
    name: &str,
    spec: &UserFlowSpec,
    flows: &[Document],
) -> Result<(), AdminConflict> {
    let exists = flows.iter().any(|document| document.key == name);
    if !exists && flows.len() >= MAX_USER_FLOWS {
        return Err(AdminConflict::TooManyUserFlows {
            subdomain: subdomain.to_string(),
            max: MAX_USER_FLOWS,
        });
    }
    for other in flows.iter().filter(|document| document.key != name) {
        let other_spec: UserFlowSpec = stored_spec(other, "user flow")?;
        if let Some(shared) = spec
            .applications
            .iter()
            .find(|application| other_spec.applications.contains(application))
        {
            return Err(AdminConflict::ApplicationInAnotherFlow {
                application: shared.clone(),
                flow: other.key.clone(),
            });
        }
    }
    Ok(())
}

/// Checks that `claim` may overwrite the stored client `existing` with `spec`.
///
/// # Errors
/// [`StoreError::OwnedByAnother`] (another owner learns nothing about the stored client, not
/// even its type), [`AdminConflict::ClientTypeChanged`], or a stored client that no longer
/// parses.
pub fn check_client_overwrite(
    client_id: &str,
    spec: &ClientSpec,
    existing: &Document,
    claim: &Claim,
) -> Result<(), AdminConflict> {
    if let Some(owner) = existing
        .owner
        .as_ref()
        .filter(|owner| !claim.may_write(Some(owner)))
    {
        return Err(StoreError::OwnedByAnother {
            what: format!("client {client_id}"),
            owner: Box::new(owner.clone()),
        }
        .into());
    }
    let existing: ClientSpec = stored_spec(existing, "client")?;
    if existing.app_type != spec.app_type {
        return Err(AdminConflict::ClientTypeChanged);
    }
    Ok(())
}

/// Checks that client `client_id` may expose `identifier_uri`, which `holder` (the tenant's
/// client exposing it, if any) already does.
///
/// # Errors
/// [`AdminConflict::IdentifierUriInUse`] when the holder is another client.
pub fn check_identifier_uri(
    client_id: &str,
    identifier_uri: &str,
    holder: Option<&Document>,
) -> Result<(), AdminConflict> {
    match holder {
        Some(other) if other.key != client_id => Err(AdminConflict::IdentifierUriInUse {
            identifier_uri: identifier_uri.to_string(),
            client_id: other.key.clone(),
        }),
        _ => Ok(()),
    }
}

/// The spec of a stored document, or [`StoreError::Corrupt`] naming `what` when it no longer
/// parses.
///
/// # Errors
/// A spec that does not parse as `T`.
pub fn stored_spec<T: serde::de::DeserializeOwned>(
    document: &Document,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(&document.spec).map_err(|error| StoreError::Corrupt {
        what,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::owner::Owner;

    fn document(key: &str, spec: serde_json::Value, owner: Option<Owner>) -> Document {
        Document {
            tenant_id: "tenant".to_string(),
            key: key.to_string(),
            spec: spec.to_string(),
            created_at: 0,
            updated_at: 0,
            owner,
        }
    }

    fn flow(key: &str, applications: &[&str]) -> Document {
        document(
            key,
            serde_json::json!({
                "displayName": "Flow",
                "signIn": {"methods": ["emailPassword"]},
                "applications": applications,
            }),
            None,
        )
    }

    fn flow_spec(applications: &[&str]) -> UserFlowSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Flow",
            "signIn": {"methods": ["emailPassword"]},
            "applications": applications,
        }))
        .expect("a user flow spec")
    }

    fn client(key: &str, app_type: &str, owner: Option<Owner>) -> Document {
        document(
            key,
            serde_json::json!({"displayName": "App", "type": app_type}),
            owner,
        )
    }

    fn client_spec(app_type: &str) -> ClientSpec {
        serde_json::from_value(serde_json::json!({"displayName": "App", "type": app_type}))
            .expect("a client spec")
    }

    #[test]
    fn a_tenant_is_stored_without_its_id_and_subdomain_and_keeps_its_own_algorithm() {
        let spec: TenantSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Contoso",
            "countryCode": "US",
            "tenantId": "0f9c7c5e-0000-4000-8000-000000000001",
            "subdomain": "contoso",
        }))
        .expect("a tenant spec");
        let write = tenant_write(spec.clone(), SigningAlgorithm::Rs256);
        assert_eq!(
            write.requested_id.as_deref(),
            Some("0f9c7c5e-0000-4000-8000-000000000001")
        );
        assert_eq!((write.spec.tenant_id, write.spec.subdomain), (None, None));
        assert_eq!(write.signing_algorithm, SigningAlgorithm::Rs256);
        let own = TenantSpec {
            signing_algorithm: Some(SigningAlgorithm::Es256),
            ..spec
        };
        assert_eq!(
            tenant_write(own, SigningAlgorithm::Rs256).signing_algorithm,
            SigningAlgorithm::Es256
        );
    }

    #[test]
    fn an_application_is_served_by_one_user_flow_only() {
        let flows = [flow("a", &["app-1"]), flow("b", &["app-2"])];
        let refused = check_user_flow_placement("contoso", "c", &flow_spec(&["app-2"]), &flows);
        assert_eq!(
            refused.map_err(|error| error.to_string()),
            Err("application app-2 is already served by user flow b".to_string())
        );
        assert!(check_user_flow_placement("contoso", "b", &flow_spec(&["app-2"]), &flows).is_ok());
    }

    #[test]
    fn a_tenant_holds_at_most_the_maximum_of_user_flows_but_may_rewrite_one() {
        let flows: Vec<Document> = (0..MAX_USER_FLOWS)
            .map(|index| flow(&format!("flow-{index}"), &[]))
            .collect();
        let refused = check_user_flow_placement("contoso", "one-more", &flow_spec(&[]), &flows);
        assert!(matches!(
            refused,
            Err(AdminConflict::TooManyUserFlows {
                max: MAX_USER_FLOWS,
                ..
            })
        ));
        assert!(check_user_flow_placement("contoso", "flow-0", &flow_spec(&[]), &flows).is_ok());
    }

    #[test]
    fn a_client_keeps_its_type_and_its_owner() {
        let owner = Owner::parse("kind=AppRegistration; namespace=team-a; name=web; uid=0f9c7c5e")
            .expect("an owner");
        let stored = client("id", "web", Some(owner));
        let stranger = Claim::default();
        assert!(matches!(
            check_client_overwrite("id", &client_spec("web"), &stored, &stranger),
            Err(AdminConflict::Store(StoreError::OwnedByAnother { .. }))
        ));
        let unowned = client("id", "web", None);
        assert!(matches!(
            check_client_overwrite("id", &client_spec("spa"), &unowned, &stranger),
            Err(AdminConflict::ClientTypeChanged)
        ));
        assert!(check_client_overwrite("id", &client_spec("web"), &unowned, &stranger).is_ok());
    }

    #[test]
    fn an_identifier_uri_belongs_to_one_client() {
        let holder = client("other", "web", None);
        assert!(check_identifier_uri("id", "api://x", Some(&holder)).is_err());
        assert!(check_identifier_uri("other", "api://x", Some(&holder)).is_ok());
        assert!(check_identifier_uri("id", "api://x", None).is_ok());
    }
}
