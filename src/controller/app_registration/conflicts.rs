//! Who else holds what an app wants: a Secret it did not create, or a client ID another app
//! reported first; and the messages that say so without naming other teams' objects.

use kube::ResourceExt;

use super::super::ownership::{describe_for, owner_of};
use super::super::references::precedence;
use super::super::{Context, Error, TenantScoped};
use crate::api::AppRegistration;
use crate::backend::Backend;
use crate::contract::owner::Owner;

use super::super::conditions::reasons;

/// `SecretConflict`: the Secret the app would write is someone else's.
pub(super) fn secret_conflict(app: &AppRegistration, name: &str) -> (&'static str, String) {
    let brought = super::credentials::brings_secret(app, name);
    let message = if brought {
        format!(
            "credentials.secretName {name} is the existingSecretRef Secret; the operator never writes a Secret it did not create: choose another secretName"
        )
    } else {
        format!(
            "Secret {name} already exists and was not created by the operator for this AppRegistration; it is left untouched: choose another credentials.secretName or delete that Secret"
        )
    };
    (reasons::SECRET_CONFLICT, message)
}

/// `ClientIdInUse`: another AppRegistration holds the client ID; named only to its namespace.
pub(super) fn client_id_in_use(
    client_id: &str,
    claimant: &Owner,
    namespace: &str,
) -> (&'static str, String) {
    (
        reasons::CLIENT_ID_IN_USE,
        format!(
            "client ID {client_id} is already registered by {}; delete this app's credentials Secret so that the operator issues a new client ID",
            describe_for(claimant, namespace)
        ),
    )
}

/// Who else holds `client_id`, if anyone: the runtime's recorded owner when it has one (one
/// GET; also what a reconcile that saw its own Secret before its own status finds: itself),
/// otherwise the app that reported the ID first (a LIST, for clients stored before owners
/// were recorded or missing from the runtime).
pub(super) async fn claimant_of<B: Backend>(
    app: &AppRegistration,
    subdomain: &str,
    client_id: &str,
    context: &Context<B>,
) -> Result<Option<Owner>, Error> {
    let me = owner_of(app);
    let recorded = context
        .backend
        .observe_client(subdomain, client_id)
        .await?
        .and_then(|observed| observed.owner);
    match recorded {
        Some(owner) if owner.uid == me.uid => Ok(None),
        Some(owner) => Ok(Some(owner)),
        None => Ok(earlier_claimant(app, client_id, context)
            .await?
            .map(|claimant| owner_of(&claimant))),
    }
}

/// The other AppRegistration of the same tenant that reported `client_id` first, if any.
pub(super) async fn earlier_claimant<B: Backend>(
    app: &AppRegistration,
    client_id: &str,
    context: &Context<B>,
) -> Result<Option<AppRegistration>, Error> {
    let apps = context
        .list_for_tenant::<AppRegistration>(&app.tenant_key())
        .await?;
    Ok(first_to_report(app, client_id, apps))
}

/// Among `apps` (of the same tenant), the other app that reported `client_id` first: the
/// client ID is its, whatever a Secret says. Status is written only by the operator, so a
/// client ID in status is one the operator issued; among two apps reporting the same one, the
/// older app had it first (a thief needs to see it before copying it). Pure.
pub(super) fn first_to_report(
    app: &AppRegistration,
    client_id: &str,
    apps: Vec<AppRegistration>,
) -> Option<AppRegistration> {
    let reported = |app: &AppRegistration| {
        app.status
            .as_ref()
            .and_then(|status| status.client_id.as_deref())
            == Some(client_id)
    };
    let mine = precedence(app, false);
    apps.into_iter().find(|other| {
        other.uid() != app.uid()
            && reported(other)
            && (!reported(app) || precedence(other, false) < mine)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, created: &str, client_id: Option<&str>) -> AppRegistration {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration",
            "metadata": { "name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                          "creationTimestamp": created },
            "spec": { "tenantRef": {"name": "t"}, "displayName": name, "type": "web" },
            "status": { "clientId": client_id }
        }))
        .expect("valid app")
    }

    #[test]
    fn a_client_id_copied_from_another_apps_secret_stays_that_apps() {
        let owner = app("shop", "2026-12-06T10:00:00Z", Some("c-1"));
        let copier = app("copier", "2026-12-06T11:00:00Z", None);
        let apps = vec![owner.clone(), copier.clone()];
        let claimant = first_to_report(&copier, "c-1", apps.clone()).expect("shop had it first");
        assert_eq!(claimant.name_any(), "shop");
        assert!(first_to_report(&owner, "c-1", apps).is_none());
    }

    #[test]
    fn of_two_apps_reporting_one_client_id_the_older_keeps_it() {
        let older = app("older", "2026-12-06T10:00:00Z", Some("c-1"));
        let newer = app("newer", "2026-12-06T11:00:00Z", Some("c-1"));
        let apps = vec![older.clone(), newer.clone()];
        assert!(first_to_report(&older, "c-1", apps.clone()).is_none());
        assert_eq!(
            first_to_report(&newer, "c-1", apps).map(|app| app.name_any()),
            Some("older".into())
        );
    }

    #[test]
    fn the_client_id_in_use_message_names_another_namespace_only_vaguely() {
        let owner = owner_of(&app("shop", "2026-12-06T10:00:00Z", None));
        let (_, here) = client_id_in_use("c-1", &owner, "apps");
        let (_, elsewhere) = client_id_in_use("c-1", &owner, "team-b");
        assert!(here.contains("AppRegistration shop"), "{here}");
        assert!(!elsewhere.contains("shop"), "{elsewhere}");
    }
}
