//! `organizationalBranding` and its `localizations` → the tenant's `Branding`.
//!
//! Images are exported as `…RelativeUrl` paths on Microsoft's CDN (`cdnList`); they become
//! `url` images, with a note that clusters without internet access should move them into a
//! ConfigMap. The custom CSS is only a CDN path too, and the CRD takes CSS from a ConfigMap
//! alone, so it is reported for the person to download.

use std::collections::BTreeMap;

use crate::api::BrandingSpec;
use crate::api::branding::{
    Branding, BrandingProperties, ImageSource, LayoutTemplateType, LoginPageLayoutConfiguration,
    LoginPageTextVisibilitySettings,
};

use super::Context;
use super::checks::{is_colour, is_https_url, is_language_tag, is_plain_text, present};
use super::graph;

/// Graph fields of a branding that carry nothing to import (read-only bookkeeping).
const IGNORED: &[&str] = &["id", "cdnList"];

/// Maps the default branding and its localizations; `None` when the export has neither.
pub(super) fn map(
    context: &mut Context,
    default: Option<&graph::Branding>,
    localizations: &[graph::Branding],
) -> Option<Branding> {
    let mut default_properties = default.map(|branding| properties(context, "branding", branding));
    let mut by_language: BTreeMap<String, BrandingProperties> = BTreeMap::new();
    for (index, localization) in localizations.iter().enumerate() {
        let path = format!("branding/localizations[{index}]");
        let id = present(&localization.id).unwrap_or_default();
        if id == "0" || id == "default" {
            if default_properties.is_none() {
                default_properties = Some(properties(context, &path, localization));
            }
            continue;
        }
        if !is_language_tag(id) || by_language.len() >= 50 {
            context.skipped(path, format!("localization {id:?} is not imported: not a BCP 47 language tag, or more than 50"));
            continue;
        }
        let mapped = properties(context, &path, localization);
        if mapped != BrandingProperties::default() {
            by_language.insert(id.to_string(), mapped);
        }
    }
    let default_properties =
        default_properties.filter(|properties| *properties != BrandingProperties::default());
    if default_properties.is_none() && by_language.is_empty() {
        return None;
    }
    let spec = BrandingSpec {
        tenant_ref: crate::api::TenantRef {
            name: context.tenant.clone(),
            namespace: None,
        },
        default: default_properties,
        localizations: (!by_language.is_empty()).then_some(by_language),
        strings: None,
    };
    Some(Branding {
        metadata: context.metadata(&context.tenant.clone()),
        spec,
        status: None,
    })
}

/// One branding's (or localization's) fields.
fn properties(context: &mut Context, path: &str, branding: &graph::Branding) -> BrandingProperties {
    let cdn = branding
        .cdn_list
        .iter()
        .flatten()
        .map(|host| host.trim())
        .find(|host| !host.is_empty())
        .map(str::to_string);
    let mut image = |field: &str, relative: &Option<String>| {
        image(context, path, field, relative, cdn.as_deref())
    };
    let mut mapped = BrandingProperties {
        background_image: image(
            "backgroundImageRelativeUrl",
            &branding.background_image_relative_url,
        ),
        banner_logo: image("bannerLogoRelativeUrl", &branding.banner_logo_relative_url),
        header_logo: image("headerLogoRelativeUrl", &branding.header_logo_relative_url),
        square_logo: image("squareLogoRelativeUrl", &branding.square_logo_relative_url),
        square_logo_dark: image(
            "squareLogoDarkRelativeUrl",
            &branding.square_logo_dark_relative_url,
        ),
        favicon: image("faviconRelativeUrl", &branding.favicon_relative_url),
        ..BrandingProperties::default()
    };
    texts(context, path, branding, &mut mapped);
    mapped.login_page_text_visibility_settings = visibility(
        context,
        path,
        branding.login_page_text_visibility_settings.as_ref(),
    );
    mapped.login_page_layout_configuration = layout(
        context,
        path,
        branding.login_page_layout_configuration.as_ref(),
    );
    if present(&branding.custom_css_relative_url).is_some() {
        context.skipped(
            format!("{path}.customCSSRelativeUrl"),
            "custom CSS is not imported: download it from the CDN into a ConfigMap and set \
             customCSS (configMapKeyRef)",
        );
    }
    context.report_other(path, &branding.other, IGNORED, "Branding");
    mapped
}

/// A CDN image as a `url` image source.
fn image(
    context: &mut Context,
    path: &str,
    field: &str,
    relative: &Option<String>,
    cdn: Option<&str>,
) -> Option<ImageSource> {
    let relative = present(relative)?;
    let field_path = format!("{path}.{field}");
    let url = cdn.map(|host| format!("https://{host}/{}", relative.trim_start_matches('/')));
    let Some(url) = url.filter(|url| is_https_url(url)) else {
        context.skipped(
            field_path,
            "the image is not imported: the export has no usable cdnList to resolve it",
        );
        return None;
    };
    context.action(
        field_path,
        format!(
            "imported as the url {url}; clusters without internet access should store the \
             image in a ConfigMap and use configMapKeyRef instead"
        ),
    );
    Some(ImageSource {
        url: Some(url),
        config_map_key_ref: None,
    })
}

/// Colours, texts and links, each checked like the CRD checks it.
fn texts(
    context: &mut Context,
    path: &str,
    branding: &graph::Branding,
    mapped: &mut BrandingProperties,
) {
    let mut colour = |field: &str, value: &Option<String>| {
        let value = present(value)?;
        if is_colour(value) {
            return Some(value.to_string());
        }
        context.skipped(
            format!("{path}.{field}"),
            format!("{value:?} is not imported: colours are #rgb or #rrggbb"),
        );
        None
    };
    mapped.background_color = colour("backgroundColor", &branding.background_color);
    mapped.header_background_color =
        colour("headerBackgroundColor", &branding.header_background_color);
    let mut text = |field: &str, value: &Option<String>, max: usize| {
        let value = present(value)?;
        if is_plain_text(value, max) {
            return Some(value.to_string());
        }
        context.skipped(
            format!("{path}.{field}"),
            format!("not imported: more than {max} characters or hidden characters"),
        );
        None
    };
    mapped.sign_in_page_text = text("signInPageText", &branding.sign_in_page_text, 1024)
        .filter(|value| value.chars().count() <= 1024);
    mapped.username_hint_text = text("usernameHintText", &branding.username_hint_text, 64);
    mapped.custom_privacy_and_cookies_text = text(
        "customPrivacyAndCookiesText",
        &branding.custom_privacy_and_cookies_text,
        256,
    );
    mapped.custom_terms_of_use_text = text(
        "customTermsOfUseText",
        &branding.custom_terms_of_use_text,
        256,
    );
    mapped.custom_forgot_my_password_text = text(
        "customForgotMyPasswordText",
        &branding.custom_forgot_my_password_text,
        256,
    );
    let mut link = |field: &str, value: &Option<String>| {
        let value = present(value)?;
        if is_https_url(value) {
            return Some(value.to_string());
        }
        context.skipped(
            format!("{path}.{field}"),
            format!("{value:?} is not imported: links must be https URLs"),
        );
        None
    };
    mapped.custom_privacy_and_cookies_url = link(
        "customPrivacyAndCookiesUrl",
        &branding.custom_privacy_and_cookies_url,
    );
    mapped.custom_terms_of_use_url = link("customTermsOfUseUrl", &branding.custom_terms_of_use_url);
    mapped.custom_account_reset_credentials_url = link(
        "customAccountResetCredentialsUrl",
        &branding.custom_account_reset_credentials_url,
    );
}

/// `loginPageTextVisibilitySettings`: the switches the CRD has; the others are reported when on.
fn visibility(
    context: &mut Context,
    path: &str,
    settings: Option<&BTreeMap<String, serde_json::Value>>,
) -> Option<LoginPageTextVisibilitySettings> {
    let mut mapped = LoginPageTextVisibilitySettings::default();
    for (key, value) in settings.into_iter().flatten() {
        let Some(hidden) = value.as_bool() else {
            continue;
        };
        let slot = match key.as_str() {
            "hideCannotAccessYourAccount" => &mut mapped.hide_cannot_access_your_account,
            "hideForgotMyPassword" => &mut mapped.hide_forgot_my_password,
            "hidePrivacyAndCookies" => &mut mapped.hide_privacy_and_cookies,
            "hideTermsOfUse" => &mut mapped.hide_terms_of_use,
            "hideResetItNow" => &mut mapped.hide_reset_it_now,
            "hideSignUp" => &mut mapped.hide_sign_up,
            _ => {
                if hidden {
                    context.skipped(
                        format!("{path}.loginPageTextVisibilitySettings.{key}"),
                        "not imported (Branding has no such switch)",
                    );
                }
                continue;
            }
        };
        *slot = Some(hidden);
    }
    (mapped != LoginPageTextVisibilitySettings::default()).then_some(mapped)
}

/// `loginPageLayoutConfiguration`.
fn layout(
    context: &mut Context,
    path: &str,
    layout: Option<&graph::LayoutConfiguration>,
) -> Option<LoginPageLayoutConfiguration> {
    let layout = layout?;
    let template = match layout.layout_template_type.as_deref() {
        None | Some("default") => LayoutTemplateType::Default,
        Some("verticalSplit") => LayoutTemplateType::VerticalSplit,
        Some(other) => {
            context.skipped(
                format!("{path}.loginPageLayoutConfiguration.layoutTemplateType"),
                format!("{other:?} is not imported: layouts are default and verticalSplit"),
            );
            LayoutTemplateType::Default
        }
    };
    Some(LoginPageLayoutConfiguration {
        layout_template_type: template,
        is_header_shown: layout.is_header_shown,
        is_footer_shown: layout.is_footer_shown,
    })
}
