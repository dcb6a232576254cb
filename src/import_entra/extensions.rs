//! `identity/customAuthenticationExtensions` → the `extensions` of the UserFlows whose events
//! reference them (`onAttributeCollectionStart`, `onAttributeCollectionSubmit`).
//!
//! Token issuance and one-time-passcode extensions are attached through
//! `authenticationEventListeners`, which a flow export does not contain; they are reported so
//! the person adds them to the right UserFlow by hand.

use crate::api::user_flow::CustomAuthenticationExtension;

use super::Context;
use super::checks::{is_https_url, present};
use super::graph::{self, short_type};

/// The CRD's range of `timeoutInMilliseconds`.
const TIMEOUT_RANGE: (i64, i64) = (200, 2000);

/// Remembers every exported extension by id, for the flows that reference them.
pub(super) fn index(context: &mut Context, extensions: &[graph::CustomExtension]) {
    for (index, extension) in extensions.iter().enumerate() {
        let path = format!("identity/customAuthenticationExtensions[{index}]");
        match present(&extension.id) {
            Some(id) => {
                context
                    .extensions
                    .insert(id.to_string(), (path, extension.clone()));
            }
            None => context.skipped(path, "not imported: it has no id a flow could reference"),
        }
    }
}

/// The extension a flow's event handler calls, or `None` (with a note) when the handler names
/// none or one that is not in the export or cannot be expressed.
pub(super) fn for_handler(
    context: &mut Context,
    path: &str,
    handler: &graph::ExtensionHandler,
) -> Option<CustomAuthenticationExtension> {
    if !short_type(handler.odata_type.as_deref()).contains("customextension")
        && handler.custom_extension.is_none()
    {
        return None;
    }
    let Some(id) = handler
        .custom_extension
        .as_ref()
        .and_then(|reference| present(&reference.id))
    else {
        context.skipped(
            path,
            "not imported: the flow export does not say which custom extension this event \
             calls; export the event's customExtension too (docs/import-entra.md)",
        );
        return None;
    };
    let Some((extension_path, extension)) = context.extensions.get(id).cloned() else {
        context.skipped(
            path,
            format!(
                "not imported: custom extension {id} is not in the export (add \
                 identity/customAuthenticationExtensions)"
            ),
        );
        return None;
    };
    context.used_extensions.insert(id.to_string());
    let overrides = handler
        .configuration
        .as_ref()
        .and_then(|configuration| configuration.client_configuration.clone());
    convert(context, &extension_path, &extension, overrides.as_ref())
}

/// The CRD's extension from Graph's, with the handler's client configuration overriding the
/// extension's own.
fn convert(
    context: &mut Context,
    path: &str,
    extension: &graph::CustomExtension,
    overrides: Option<&graph::ClientConfiguration>,
) -> Option<CustomAuthenticationExtension> {
    let target_url = extension
        .endpoint_configuration
        .as_ref()
        .and_then(|endpoint| present(&endpoint.target_url))
        .filter(|url| is_https_url(url) && url.len() >= 9);
    let resource_id = extension
        .authentication_configuration
        .as_ref()
        .and_then(|authentication| present(&authentication.resource_id))
        .filter(|id| id.len() <= 1024);
    let (Some(target_url), Some(resource_id)) = (target_url, resource_id) else {
        context.skipped(
            path,
            "not imported: an extension needs an https endpointConfiguration.targetUrl and an \
             authenticationConfiguration.resourceId",
        );
        return None;
    };
    let configured = |pick: fn(&graph::ClientConfiguration) -> Option<i64>| {
        overrides
            .and_then(pick)
            .or_else(|| extension.client_configuration.as_ref().and_then(pick))
    };
    let timeout = configured(|configuration| configuration.timeout_in_milliseconds)
        .unwrap_or(TIMEOUT_RANGE.1);
    let clamped = timeout.clamp(TIMEOUT_RANGE.0, TIMEOUT_RANGE.1);
    if clamped != timeout {
        context.skipped(
            format!("{path}.clientConfiguration.timeoutInMilliseconds"),
            format!("{timeout} is outside 200–2000 and was imported as {clamped}"),
        );
    }
    let retries = configured(|configuration| configuration.maximum_retries).unwrap_or(1);
    Some(CustomAuthenticationExtension {
        target_url: target_url.to_string(),
        resource_id: resource_id.to_string(),
        timeout_in_milliseconds: i32::try_from(clamped).unwrap_or(2000),
        maximum_retries: i32::from(retries >= 1),
    })
}

/// Reports the exported extensions no imported flow references.
pub(super) fn report_unused(context: &mut Context) {
    let unused: Vec<(String, graph::CustomExtension)> = context
        .extensions
        .iter()
        .filter(|(id, _)| !context.used_extensions.contains(*id))
        .map(|(_, (path, extension))| (path.clone(), extension.clone()))
        .collect();
    for (path, extension) in unused {
        let kind = short_type(extension.odata_type.as_deref());
        let message = if kind.starts_with("ontokenissuancestart") {
            "not imported: token issuance extensions are attached by an \
             authenticationEventListener, which the flow export does not contain; add it to \
             the UserFlow's extensions.onTokenIssuanceStart by hand"
        } else if kind.starts_with("onotpsend") {
            "not imported: one-time-passcode extensions are attached by an \
             authenticationEventListener, which the flow export does not contain; add it to \
             the UserFlow's extensions.onOtpSend by hand"
        } else {
            "not imported: no imported user flow references it"
        };
        context.skipped(path, message);
    }
}
