//! Pure functions from a resource's spec to the backend's desired state; no I/O.

use std::collections::BTreeMap;

use base64::Engine;

use crate::api::branding::{BrandingProperties, ImageSource};
use crate::api::{AppRegistrationSpec, BrandingSpec, ConfigMapKeyRef, CustomerTenantSpec};
use crate::contract::image_content;
use crate::contract::{
    ApiPermissionSpec, BrandingContent, BrandingDocument, BrandingImage, ClientSecretSpec,
    ClientSpec, EmailSpec, IdentityProviderSpec, TenantSpec,
};

/// ConfigMap content the branding refers to, by (ConfigMap name, key).
pub type ConfigMapContent = BTreeMap<(String, String), Vec<u8>>;

pub use crate::contract::branding::limits;

/// The runtime tenant a `CustomerTenant` asks for. `tenant_id` pins the identifier the
/// operator already reported, so a tenant recreated after a runtime data loss keeps its `tid`.
pub fn desired_tenant(spec: &CustomerTenantSpec, tenant_id: Option<&str>) -> TenantSpec {
    TenantSpec {
        tenant_id: tenant_id.map(str::to_string),
        subdomain: None,
        display_name: spec.display_name.clone(),
        country_code: spec.country_code.clone(),
        default_locale: spec.default_locale.clone(),
        supported_locales: spec.supported_locales.clone(),
        custom_attributes: spec.custom_attributes.clone(),
        identity_providers: spec.identity_providers.as_ref().map(|providers| {
            providers
                .iter()
                .map(|provider| IdentityProviderSpec {
                    name: provider.name.clone(),
                    provider_type: provider.provider_type,
                    display_name: provider.display_name.clone(),
                    client_id: provider.client_id.clone(),
                    issuer: provider.issuer.clone(),
                    scopes: provider.scopes.clone(),
                })
                .collect()
        }),
        email: spec.email.as_ref().map(|email| EmailSpec {
            from_address: email.from_address.clone(),
            from_name: email.from_name.clone(),
        }),
        password_policy: spec.password_policy.clone(),
        lockout: spec.lockout.clone(),
        signing_algorithm: None,
    }
}

/// Whether the runtime's stored tenant already matches the desired one (the identifier is
/// not part of the stored spec, so it is left out of the comparison).
pub fn tenant_matches(observed: &TenantSpec, desired: &TenantSpec) -> bool {
    let mut desired = desired.clone();
    desired.tenant_id = None;
    desired.subdomain = None;
    let mut observed = observed.clone();
    observed.tenant_id = None;
    observed.subdomain = None;
    // The runtime fills in its default algorithm; the operator does not choose one.
    observed.signing_algorithm = None;
    observed == desired
}

/// The runtime client an `AppRegistration` asks for, with the hashes of its valid secrets and
/// its API permissions resolved to client IDs.
pub fn desired_client(
    spec: &AppRegistrationSpec,
    client_secrets: Vec<ClientSecretSpec>,
    api_permissions: Vec<ApiPermissionSpec>,
) -> ClientSpec {
    ClientSpec {
        display_name: spec.display_name.clone(),
        app_type: spec.app_type,
        redirect_uris: spec.redirect_uris.clone().unwrap_or_default(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone().unwrap_or_default(),
        exposed_api: spec.exposed_api.clone(),
        api_permissions,
        access_token_lifetime: spec.access_token_lifetime.clone(),
        client_secrets,
        certificates: Vec::new(),
        assertion_reuse: spec
            .credentials
            .as_ref()
            .and_then(|credentials| credentials.assertion_reuse)
            .unwrap_or_default(),
    }
}

/// A ConfigMap key's bytes, from `binaryData` or `data` (Kubernetes keeps a key in only one
/// of them).
pub fn config_map_value(
    config_map: &k8s_openapi::api::core::v1::ConfigMap,
    key: &str,
) -> Option<Vec<u8>> {
    config_map
        .binary_data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|bytes| bytes.0.clone())
        .or_else(|| {
            config_map
                .data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|text| text.clone().into_bytes())
        })
}

/// Every ConfigMap key a Branding refers to.
pub fn branding_config_map_refs(spec: &BrandingSpec) -> Vec<ConfigMapKeyRef> {
    let mut refs = Vec::new();
    let properties = spec
        .default
        .iter()
        .chain(spec.localizations.iter().flat_map(BTreeMap::values));
    for properties in properties {
        for image in images(properties).into_iter().flatten() {
            refs.extend(image.source.config_map_key_ref.clone());
        }
        refs.extend(properties.custom_css.clone());
    }
    refs
}

struct Image<'a> {
    field: &'static str,
    source: &'a ImageSource,
    limit: usize,
}

fn images(properties: &BrandingProperties) -> [Option<Image<'_>>; 6] {
    fn image<'a>(
        field: &'static str,
        source: &'a Option<ImageSource>,
        limit: usize,
    ) -> Option<Image<'a>> {
        source.as_ref().map(|source| Image {
            field,
            source,
            limit,
        })
    }
    [
        image(
            "backgroundImage",
            &properties.background_image,
            limits::BACKGROUND_IMAGE,
        ),
        image("bannerLogo", &properties.banner_logo, limits::LOGO),
        image("headerLogo", &properties.header_logo, limits::HEADER_LOGO),
        image("squareLogo", &properties.square_logo, limits::LOGO),
        image("squareLogoDark", &properties.square_logo_dark, limits::LOGO),
        image("favicon", &properties.favicon, limits::FAVICON),
    ]
}

/// The bytes of a ConfigMap key a branding field refers to.
fn config_map_bytes<'a>(
    content: &'a ConfigMapContent,
    location: &str,
    reference: &ConfigMapKeyRef,
    field: &str,
) -> Result<&'a Vec<u8>, String> {
    content
        .get(&(reference.name.clone(), reference.key.clone()))
        .ok_or_else(|| {
            format!(
                "{location}.{field}: ConfigMap {} has no key {}",
                reference.name, reference.key
            )
        })
}

/// The `src` of a branding image: its https URL, or its ConfigMap content as a `data:` URI
/// once it is within its size limit and recognised as an image by its content (never by the
/// key's file name), with the check the runtime's admin API applies to that URI as well.
fn image_source(
    location: &str,
    image: &Image,
    content: &ConfigMapContent,
) -> Result<Option<String>, String> {
    let reference = match (&image.source.url, &image.source.config_map_key_ref) {
        (Some(url), _) => return Ok(Some(url.clone())),
        (None, Some(reference)) => reference,
        (None, None) => return Ok(None),
    };
    let bytes = config_map_bytes(content, location, reference, image.field)?;
    if bytes.len() > image.limit {
        return Err(format!(
            "{location}.{}: {} bytes is over the {} KB limit",
            image.field,
            bytes.len(),
            image.limit / 1024
        ));
    }
    let format = image_content::recognise(bytes)
        .map_err(|error| format!("{location}.{}: {error}", image.field))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Some(format!(
        "data:{};base64,{encoded}",
        format.media_type()
    )))
}

fn content_properties(
    location: &str,
    properties: &BrandingProperties,
    content: &ConfigMapContent,
) -> Result<BrandingContent, String> {
    let mut resolved: BTreeMap<&'static str, BrandingImage> = BTreeMap::new();
    for image in images(properties).into_iter().flatten() {
        if let Some(source) = image_source(location, &image, content)? {
            resolved.insert(image.field, BrandingImage::Inline(source));
        }
    }
    let custom_css = match &properties.custom_css {
        None => None,
        Some(reference) => {
            let bytes = config_map_bytes(content, location, reference, "customCSS")?;
            if bytes.len() > limits::CSS {
                return Err(format!(
                    "{location}.customCSS: {} bytes is over the 25 KB limit",
                    bytes.len()
                ));
            }
            Some(
                String::from_utf8(bytes.clone())
                    .map_err(|_| format!("{location}.customCSS: not UTF-8 text"))?,
            )
        }
    };
    let mut take = |field| resolved.remove(field);
    Ok(BrandingContent {
        background_color: properties.background_color.clone(),
        header_background_color: properties.header_background_color.clone(),
        background_image: take("backgroundImage"),
        banner_logo: take("bannerLogo"),
        header_logo: take("headerLogo"),
        square_logo: take("squareLogo"),
        square_logo_dark: take("squareLogoDark"),
        favicon: take("favicon"),
        custom_css,
        sign_in_page_text: properties.sign_in_page_text.clone(),
        username_hint_text: properties.username_hint_text.clone(),
        custom_privacy_and_cookies_text: properties.custom_privacy_and_cookies_text.clone(),
        custom_privacy_and_cookies_url: properties.custom_privacy_and_cookies_url.clone(),
        custom_terms_of_use_text: properties.custom_terms_of_use_text.clone(),
        custom_terms_of_use_url: properties.custom_terms_of_use_url.clone(),
        custom_forgot_my_password_text: properties.custom_forgot_my_password_text.clone(),
        custom_account_reset_credentials_url: properties
            .custom_account_reset_credentials_url
            .clone(),
        login_page_text_visibility_settings: properties.login_page_text_visibility_settings.clone(),
        login_page_layout_configuration: properties.login_page_layout_configuration.clone(),
    })
}

/// The runtime branding a `Branding` asks for, with ConfigMap content inlined (images as
/// `data:` URIs, CSS as text) and the size limits enforced.
///
/// # Errors
/// Names the field whose content is missing, too large or not an image.
pub fn desired_branding(
    spec: &BrandingSpec,
    content: &ConfigMapContent,
) -> Result<BrandingDocument, String> {
    let default = spec
        .default
        .as_ref()
        .map(|properties| content_properties("spec.default", properties, content))
        .transpose()?;
    let localizations = spec
        .localizations
        .as_ref()
        .map(|localizations| {
            localizations
                .iter()
                .map(|(locale, properties)| {
                    content_properties(&format!("spec.localizations.{locale}"), properties, content)
                        .map(|resolved| (locale.clone(), resolved))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        })
        .transpose()?;
    Ok(BrandingDocument {
        default,
        localizations,
        strings: spec.strings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;

    fn tenant_spec() -> CustomerTenantSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Contoso", "subdomain": "contoso", "countryCode": "US",
            "email": { "fromAddress": "no-reply@contoso.example", "smtpSecretRef": { "name": "smtp" } }
        }))
        .expect("valid spec")
    }

    #[test]
    fn the_desired_tenant_carries_the_spec_and_the_known_id() {
        let desired = desired_tenant(&tenant_spec(), Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"));
        assert_eq!(desired.display_name, "Contoso");
        assert_eq!(desired.country_code, "US");
        assert_eq!(
            desired.tenant_id.as_deref(),
            Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11")
        );
        assert_eq!(
            desired.email.expect("email").from_address,
            "no-reply@contoso.example"
        );
    }

    #[test]
    fn a_stored_tenant_matches_regardless_of_id_and_algorithm() {
        let desired = desired_tenant(&tenant_spec(), Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"));
        let mut observed = desired_tenant(&tenant_spec(), None);
        observed.signing_algorithm = Some(crate::runtime::crypto::SigningAlgorithm::Es256);
        assert!(tenant_matches(&observed, &desired));
        observed.display_name = "Changed behind our back".into();
        assert!(!tenant_matches(&observed, &desired));
    }

    #[test]
    fn config_map_content_is_inlined_within_the_limits() {
        let spec: BrandingSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": { "name": "t" },
            "default": {
                "bannerLogo": { "configMapKeyRef": { "name": "brand", "key": "logo.png" } },
                "favicon": { "url": "https://cdn.example/favicon.ico" },
                "customCSS": { "name": "brand", "key": "site.css" }
            }
        }))
        .unwrap();
        let mut content = ConfigMapContent::new();
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 16]].concat();
        content.insert(("brand".into(), "logo.png".into()), png);
        content.insert(
            ("brand".into(), "site.css".into()),
            b"main { color: red }".to_vec(),
        );
        let document = desired_branding(&spec, &content).expect("valid branding");
        let default = document.default.expect("default");
        assert!(
            default
                .banner_logo
                .unwrap()
                .source()
                .starts_with("data:image/png;base64,iVBORw0KGgo")
        );
        assert_eq!(
            default.favicon.unwrap().source(),
            "https://cdn.example/favicon.ico"
        );
        assert_eq!(default.custom_css.as_deref(), Some("main { color: red }"));

        content.insert(
            ("brand".into(), "site.css".into()),
            vec![b'a'; limits::CSS + 1],
        );
        let error = desired_branding(&spec, &content).unwrap_err();
        assert!(
            error.contains("spec.default.customCSS") && error.contains("25 KB"),
            "{error}"
        );
        content.remove(&("brand".to_string(), "logo.png".to_string()));
        let error = desired_branding(&spec, &content).unwrap_err();
        assert!(
            error.contains("ConfigMap brand has no key logo.png"),
            "{error}"
        );
    }

    #[test]
    fn config_map_images_are_recognised_by_their_content() {
        let spec: BrandingSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": { "name": "t" },
            "default": {
                "bannerLogo": { "configMapKeyRef": { "name": "brand", "key": "logo.svg" } }
            },
            "localizations": { "fr": {
                "favicon": { "configMapKeyRef": { "name": "brand", "key": "favicon.png" } }
            } }
        }))
        .unwrap();
        let with = |logo: &[u8], favicon: &[u8]| {
            let mut content = ConfigMapContent::new();
            content.insert(("brand".into(), "logo.svg".into()), logo.to_vec());
            content.insert(("brand".into(), "favicon.png".into()), favicon.to_vec());
            desired_branding(&spec, &content)
        };
        let logo = include_bytes!("../../tests/images/logo.svg");
        let png = include_bytes!("../../tests/images/pixel.png");
        let document = with(logo, png).expect("a plain SVG logo and a PNG are accepted");
        let banner = document.default.unwrap().banner_logo.unwrap();
        assert!(banner.source().starts_with("data:image/svg+xml;base64,"));

        let page = include_bytes!("../../tests/images/page-with-svg.html");
        assert_eq!(
            with(page, png).unwrap_err(),
            "spec.default.bannerLogo: not an SVG image: the root element is html, not svg in the SVG namespace"
        );
        let script = include_bytes!("../../tests/images/script.svg");
        assert_eq!(
            with(script, png).unwrap_err(),
            "spec.default.bannerLogo: SVG contains a script"
        );
        let onload = include_bytes!("../../tests/images/onload.svg");
        assert_eq!(
            with(logo, onload).unwrap_err(),
            "spec.localizations.fr.favicon: SVG contains an event-handler attribute (onload)"
        );
    }

    #[test]
    fn a_public_client_has_no_secrets_and_keeps_its_redirects() {
        let spec: AppRegistrationSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": { "name": "contoso" }, "displayName": "SPA", "type": "spa",
            "redirectUris": ["https://spa.example/"]
        }))
        .expect("valid spec");
        let client = desired_client(&spec, Vec::new(), Vec::new());
        assert_eq!(client.app_type, AppType::Spa);
        assert_eq!(client.redirect_uris, ["https://spa.example/"]);
        assert!(client.client_secrets.is_empty());
    }

    #[test]
    fn assertion_reuse_reaches_the_runtime_only_when_asked_for() {
        let spec = |credentials: serde_json::Value| -> AppRegistrationSpec {
            serde_json::from_value(serde_json::json!({
                "tenantRef": { "name": "contoso" }, "displayName": "Job", "type": "daemon",
                "credentials": credentials
            }))
            .expect("valid spec")
        };
        let default = desired_client(&spec(serde_json::json!({})), Vec::new(), Vec::new());
        let document = serde_json::to_value(&default).expect("JSON");
        assert!(document.get("assertionReuse").is_none(), "{document}");
        let msal = spec(serde_json::json!({ "assertionReuse": "AllowUntilExpiry" }));
        let document =
            serde_json::to_value(desired_client(&msal, Vec::new(), Vec::new())).expect("JSON");
        assert_eq!(document["assertionReuse"], "AllowUntilExpiry");
    }
}
