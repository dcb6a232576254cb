//! `applications` → `AppRegistration`s.
//!
//! The type follows the redirect URIs: `web.redirectUris` → `web`, else `spa.redirectUris` →
//! `spa`, else `publicClient.redirectUris` → `native`; an app with no redirect URI at all
//! cannot sign anyone in, so client credentials is the only flow it can use and it becomes a
//! `daemon` (an API-only registration too: its credentials then simply go unused). Object
//! names come from display names, sorted by (display name, appId) before uniqueness suffixes
//! are handed out, so re-running an import on a reordered export names every app the same.

use crate::api::AppRegistrationSpec;
use crate::api::app_registration::{ApiPermission, ApiScope, AppRegistration, AppType, ExposedApi};

use super::checks::{
    UniqueNames, is_display_name, is_plain_text, is_redirect_uri, is_scope_value, kubernetes_name,
    present,
};
use super::graph;
use super::{Context, certificates};

/// `appId` of Microsoft Graph, whose permissions (`openid`, `User.Read` …) have no counterpart.
const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Graph fields that describe the registration in Entra itself and mean nothing here.
const IGNORED: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "description",
    "notes",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "signInAudience",
    "disabledByMicrosoftStatus",
    "applicationTemplateId",
    "verifiedPublisher",
    "parentalControlSettings",
    "info",
    "certification",
    "serviceManagementReference",
    "samlMetadataUrl",
    "defaultRedirectUri",
    "tags",
    "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient",
    "oauth2RequirePostResponse",
    "requestSignatureVerification",
    "servicePrincipalLockConfiguration",
    "uniqueName",
    "nativeAuthenticationApisEnabled",
    "tokenEncryptionKeyId",
    "addIns",
    "keyCredentials",
    "passwordCredentials",
];

/// Maps every application; names are unique and stable.
pub(super) fn map_all(context: &mut Context, apps: &[graph::Application]) -> Vec<AppRegistration> {
    let mut order: Vec<usize> = (0..apps.len()).collect();
    order.sort_by_key(|&index| {
        let app = &apps[index];
        (
            app.display_name.clone().unwrap_or_default().to_lowercase(),
            app.app_id.clone().unwrap_or_default(),
        )
    });
    let mut names = UniqueNames::default();
    let mut named = Vec::new();
    for index in order {
        let app = &apps[index];
        let fallback = format!(
            "app-{}",
            app.app_id
                .as_deref()
                .unwrap_or("unnamed")
                .chars()
                .take(8)
                .collect::<String>()
        );
        let stem = kubernetes_name(app.display_name.as_deref().unwrap_or_default(), &fallback);
        let name = names.take(&stem);
        if let Some(app_id) = present(&app.app_id) {
            context.app_names.insert(app_id.to_string(), name.clone());
        }
        named.push((index, name));
    }
    named
        .into_iter()
        .map(|(index, name)| {
            let path = format!("applications[{index}]");
            let spec = map_one(context, &path, &name, &apps[index], apps);
            AppRegistration {
                metadata: context.metadata(&name),
                spec,
                status: None,
            }
        })
        .collect()
}

fn map_one(
    context: &mut Context,
    path: &str,
    name: &str,
    app: &graph::Application,
    apps: &[graph::Application],
) -> AppRegistrationSpec {
    let display_name = match present(&app.display_name).filter(|text| is_display_name(text, 256)) {
        Some(text) => text.to_string(),
        None => {
            context.skipped(
                format!("{path}.displayName"),
                format!("missing or not plain text of at most 256 characters; {name} is used"),
            );
            name.to_string()
        }
    };
    let (app_type, redirect_uris) = type_and_redirects(context, path, app);
    let post_logout_redirect_uris = post_logout(context, path, app, app_type);
    report_credentials(context, path, app, name, app_type);
    let credentials = certificates::map(
        context,
        path,
        name,
        app_type,
        app.key_credentials.as_deref().unwrap_or_default(),
        jiff::Timestamp::now(),
    );
    let exposed_api = exposed_api(context, path, app);
    let api_permissions = api_permissions(context, path, app, apps);
    context.report_other(path, &app.other, IGNORED, "AppRegistration");
    AppRegistrationSpec {
        tenant_ref: crate::api::TenantRef {
            name: context.tenant.clone(),
            namespace: None,
        },
        display_name,
        app_type,
        redirect_uris,
        post_logout_redirect_uris,
        exposed_api,
        api_permissions,
        access_token_lifetime: None,
        credentials,
        deletion_policy: crate::api::DeletionPolicy::Delete,
    }
}

/// The app's type from the platforms that have redirect URIs, and the URIs of that platform.
fn type_and_redirects(
    context: &mut Context,
    path: &str,
    app: &graph::Application,
) -> (AppType, Option<Vec<String>>) {
    let platforms = [
        (
            AppType::Web,
            "web",
            app.web.as_ref().and_then(|web| web.redirect_uris.clone()),
        ),
        (
            AppType::Spa,
            "spa",
            app.spa.as_ref().and_then(|spa| spa.redirect_uris.clone()),
        ),
        (
            AppType::Native,
            "publicClient",
            app.public_client
                .as_ref()
                .and_then(|native| native.redirect_uris.clone()),
        ),
    ];
    let chosen = platforms
        .iter()
        .find(|(_, _, uris)| uris.as_ref().is_some_and(|uris| !uris.is_empty()))
        .map(|(app_type, field, _)| (*app_type, *field));
    let Some((app_type, chosen_field)) = chosen else {
        return (AppType::Daemon, None);
    };
    let mut kept: Vec<String> = Vec::new();
    for (platform_type, field, uris) in &platforms {
        for (index, uri) in uris.iter().flatten().enumerate() {
            let uri_path = format!("{path}.{field}.redirectUris[{index}]");
            if *field != chosen_field {
                context.skipped(
                    uri_path,
                    format!(
                        "not imported: an AppRegistration has one type and this app is imported \
                         as {chosen_field}; register its {field} part as a second \
                         AppRegistration of type {platform_type:?}"
                    ),
                );
            } else if !is_redirect_uri(uri, app_type == AppType::Native) {
                context.skipped(
                    uri_path,
                    format!(
                        "{uri:?} is not imported: redirect URIs must be https with a host, \
                         http on localhost or 127.0.0.1, or (native apps) a custom scheme, \
                         without '#' or '*'"
                    ),
                );
            } else if !kept.contains(uri) && kept.len() < 100 {
                kept.push(uri.clone());
            }
        }
    }
    (app_type, (!kept.is_empty()).then_some(kept))
}

/// `web.logoutUrl` as the app's post-logout redirect URI.
fn post_logout(
    context: &mut Context,
    path: &str,
    app: &graph::Application,
    app_type: AppType,
) -> Option<Vec<String>> {
    let url = app.web.as_ref().and_then(|web| present(&web.logout_url))?;
    if app_type != AppType::Daemon && is_redirect_uri(url, app_type == AppType::Native) {
        return Some(vec![url.to_string()]);
    }
    context.skipped(
        format!("{path}.web.logoutUrl"),
        format!(
            "{url:?} is not imported: post-logout redirect URIs must be https (or http on \
             localhost) and apps without redirect URIs (daemons) have none"
        ),
    );
    None
}

/// Notes on credentials and grants that are not carried over.
fn report_credentials(
    context: &mut Context,
    path: &str,
    app: &graph::Application,
    name: &str,
    app_type: AppType,
) {
    if app
        .password_credentials
        .as_ref()
        .is_some_and(|secrets| !secrets.is_empty())
    {
        let what = if app_type.is_confidential() {
            format!(
                "client secrets are not imported: the operator generates a new one in Secret \
                 {name}-credentials; point the app at it"
            )
        } else {
            format!("client secrets are not imported: {app_type:?} apps are public clients")
        };
        context.action(format!("{path}.passwordCredentials"), what);
    }
    if app
        .app_roles
        .as_ref()
        .is_some_and(|roles| !roles.is_empty())
    {
        context.skipped(
            format!("{path}.appRoles"),
            "app roles are not imported (AppRegistrations have no app roles; expose scopes \
             instead)",
        );
    }
    let implicit = app
        .web
        .as_ref()
        .and_then(|web| web.implicit_grant_settings.as_ref());
    if implicit.is_some_and(|settings| {
        settings.enable_id_token_issuance == Some(true)
            || settings.enable_access_token_issuance == Some(true)
    }) {
        context.skipped(
            format!("{path}.web.implicitGrantSettings"),
            "the implicit grant is not imported: apps use the authorization code flow with PKCE",
        );
    }
    if let Some(web) = &app.web {
        context.report_other(
            &format!("{path}.web"),
            &web.other,
            &["redirectUriSettings"],
            "AppRegistration",
        );
    }
}

/// `identifierUris` and `api.oauth2PermissionScopes` as the exposed API.
fn exposed_api(context: &mut Context, path: &str, app: &graph::Application) -> Option<ExposedApi> {
    let mut identifier_uri = None;
    for (index, uri) in app.identifier_uris.iter().flatten().enumerate() {
        let valid = (uri.starts_with("api://") || uri.starts_with("https://"))
            && !uri.ends_with('/')
            && (7..=1024).contains(&uri.len());
        if valid && identifier_uri.is_none() {
            identifier_uri = Some(uri.clone());
        } else {
            context.skipped(
                format!("{path}.identifierUris[{index}]"),
                format!(
                    "{uri:?} is not imported: an exposed API has one identifier URI (api:// or \
                     https://, not ending in /)"
                ),
            );
        }
    }
    let api = app.api.as_ref();
    let mut scopes: Vec<ApiScope> = Vec::new();
    for (index, scope) in api
        .and_then(|api| api.oauth2_permission_scopes.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let scope_path = format!("{path}.api.oauth2PermissionScopes[{index}]");
        if let Some(scope) = exposed_scope(context, &scope_path, scope)
            && !scopes.iter().any(|known| known.value == scope.value)
        {
            scopes.push(scope);
        }
    }
    if let Some(api) = api {
        context.report_other(
            &format!("{path}.api"),
            &api.other,
            &["requestedAccessTokenVersion"],
            "AppRegistration",
        );
    }
    if identifier_uri.is_none() && scopes.is_empty() {
        return None;
    }
    Some(ExposedApi {
        identifier_uri,
        scopes: (!scopes.is_empty()).then_some(scopes),
    })
}

fn exposed_scope(
    context: &mut Context,
    path: &str,
    scope: &graph::PermissionScope,
) -> Option<ApiScope> {
    let value = present(&scope.value).unwrap_or_default();
    if scope.is_enabled == Some(false) {
        context.skipped(path, format!("disabled scope {value:?} is not imported"));
        return None;
    }
    if !is_scope_value(value) {
        context.skipped(
            path,
            format!("scope {value:?} is not imported: not a valid scope value"),
        );
        return None;
    }
    let mut text = |field: &str, value: &Option<String>, max: usize| {
        let text = present(value)?;
        if is_plain_text(text, max) {
            Some(text.to_string())
        } else {
            context.skipped(
                format!("{path}.{field}"),
                format!("not imported: more than {max} characters or hidden characters"),
            );
            None
        }
    };
    Some(ApiScope {
        value: value.to_string(),
        admin_consent_display_name: text(
            "adminConsentDisplayName",
            &scope.admin_consent_display_name,
            256,
        ),
        admin_consent_description: text(
            "adminConsentDescription",
            &scope.admin_consent_description,
            1024,
        ),
        user_consent_display_name: text(
            "userConsentDisplayName",
            &scope.user_consent_display_name,
            256,
        ),
        user_consent_description: text(
            "userConsentDescription",
            &scope.user_consent_description,
            1024,
        ),
    })
}

/// `requiredResourceAccess` on apps of the same import, as scopes of their AppRegistrations.
fn api_permissions(
    context: &mut Context,
    path: &str,
    app: &graph::Application,
    apps: &[graph::Application],
) -> Option<Vec<ApiPermission>> {
    let mut permissions = Vec::new();
    for (index, required) in app.required_resource_access.iter().flatten().enumerate() {
        let required_path = format!("{path}.requiredResourceAccess[{index}]");
        let resource_app_id = present(&required.resource_app_id).unwrap_or_default();
        let resource = apps
            .iter()
            .find(|candidate| candidate.app_id.as_deref() == Some(resource_app_id));
        let (Some(resource), Some(app_name)) =
            (resource, context.app_names.get(resource_app_id).cloned())
        else {
            let why = if resource_app_id == MICROSOFT_GRAPH_APP_ID {
                "Microsoft Graph permissions have no counterpart (openid, profile, email and \
                 offline_access are always available)"
            } else {
                "the resource app is not in this import"
            };
            context.skipped(
                required_path,
                format!("permissions on {resource_app_id} are not imported: {why}"),
            );
            continue;
        };
        let scopes = granted_scopes(context, &required_path, required, resource, &app_name);
        if !scopes.is_empty() && permissions.len() < 50 {
            permissions.push(ApiPermission {
                app_name,
                app_namespace: None,
                scopes,
            });
        }
    }
    (!permissions.is_empty()).then_some(permissions)
}

/// The values of the delegated scopes `required` grants on `resource`.
fn granted_scopes(
    context: &mut Context,
    path: &str,
    required: &graph::RequiredResourceAccess,
    resource: &graph::Application,
    resource_name: &str,
) -> Vec<String> {
    let exposed = resource
        .api
        .as_ref()
        .and_then(|api| api.oauth2_permission_scopes.as_ref());
    let mut scopes: Vec<String> = Vec::new();
    for (index, access) in required.resource_access.iter().flatten().enumerate() {
        let access_path = format!("{path}.resourceAccess[{index}]");
        let id = access.id.as_deref();
        if access.access_type.as_deref() == Some("Role") {
            let role = resource
                .app_roles
                .iter()
                .flatten()
                .find(|role| role.id.as_deref() == id);
            let value = role.and_then(|role| role.value.clone()).unwrap_or_default();
            context.skipped(
                access_path,
                format!(
                    "application permission (app role) {value:?} of {resource_name} is not \
                     imported: AppRegistrations have no app roles; expose a scope and list it \
                     in apiPermissions"
                ),
            );
            continue;
        }
        let scope = exposed
            .into_iter()
            .flatten()
            .find(|scope| scope.id.as_deref() == id);
        match scope
            .and_then(|scope| present(&scope.value))
            .filter(|value| is_scope_value(value))
        {
            Some(value) if !scopes.iter().any(|known| known == value) => {
                scopes.push(value.to_string())
            }
            Some(_) => {}
            None => context.skipped(
                access_path,
                format!(
                    "scope {} is not imported: {resource_name} exposes no such scope",
                    id.unwrap_or_default()
                ),
            ),
        }
    }
    scopes
}
