//! A tenant's branding: `PUT /admin/v1/tenants/{subdomain}/branding`, its size limits and
//! the string keys its `strings` may set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::api::branding::{
    LocalizedStrings, LoginPageLayoutConfiguration, LoginPageTextVisibilitySettings,
};

use super::*;

/// Byte limits of branding content (Entra's), for content sent inline and for content the
/// operator reads from ConfigMaps alike.
pub mod limits {
    /// Background image.
    pub const BACKGROUND_IMAGE: usize = 300 * 1024;
    /// Banner logo and square logos.
    pub const LOGO: usize = 50 * 1024;
    /// Header logo.
    pub const HEADER_LOGO: usize = 10 * 1024;
    /// Favicon.
    pub const FAVICON: usize = 5 * 1024;
    /// Custom CSS.
    pub const CSS: usize = 25 * 1024;
}

/// Largest decoded size of each branding image, in bytes, by field name.
pub const IMAGE_LIMITS: [(&str, usize); 6] = [
    ("backgroundImage", limits::BACKGROUND_IMAGE),
    ("bannerLogo", limits::LOGO),
    ("headerLogo", limits::HEADER_LOGO),
    ("squareLogo", limits::LOGO),
    ("squareLogoDark", limits::LOGO),
    ("favicon", limits::FAVICON),
];

/// Largest custom style sheet, in bytes.
pub const MAX_CUSTOM_CSS_BYTES: usize = limits::CSS;

/// A branding image as the runtime receives it: the content itself, because the runtime
/// cannot read ConfigMaps.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum BrandingImage {
    /// A `data:image/…;base64,…` URI (inline content, from a ConfigMap) or an `https://` URL.
    Inline(String),
    /// The CRD's `{"url": "https://…"}` form, accepted as well.
    Url {
        /// The https URL.
        url: String,
    },
}

impl BrandingImage {
    /// The URI to put in `src`.
    pub fn source(&self) -> &str {
        match self {
            BrandingImage::Inline(source) | BrandingImage::Url { url: source } => source,
        }
    }
}

/// Branding of the hosted pages for one language (`organizationalBranding`'s fields), with
/// content in place of ConfigMap references: images as `data:` URIs or https URLs and the
/// custom style sheet as text.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingContent {
    /// Page background colour, `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// Header background colour, `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_background_color: Option<String>,
    /// Full-page background image (≤ 300 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<BrandingImage>,
    /// Logo on the sign-in box (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_logo: Option<BrandingImage>,
    /// Logo in the page header (≤ 10 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_logo: Option<BrandingImage>,
    /// Square logo, light theme (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo: Option<BrandingImage>,
    /// Square logo, dark theme (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo_dark: Option<BrandingImage>,
    /// Browser tab icon (≤ 5 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon: Option<BrandingImage>,
    /// Style sheet text (≤ 25 KB), sanitised before use.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "customCSS")]
    pub custom_css: Option<String>,
    /// Text under the sign-in form; `[text](https://…)`, `**bold**`, `*italic*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_page_text: Option<String>,
    /// Placeholder of the email box on the sign-in page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_hint_text: Option<String>,
    /// Text of the footer's privacy link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_text: Option<String>,
    /// Target of the footer's privacy link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_url: Option<String>,
    /// Text of the footer's terms link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_text: Option<String>,
    /// Target of the footer's terms link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_url: Option<String>,
    /// Text of the forgot-password link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_forgot_my_password_text: Option<String>,
    /// Where the forgot-password link leads instead of the built-in reset (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_account_reset_credentials_url: Option<String>,
    /// Parts of the sign-in page to hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_text_visibility_settings: Option<LoginPageTextVisibilitySettings>,
    /// Page layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_layout_configuration: Option<LoginPageLayoutConfiguration>,
}

impl BrandingContent {
    /// `self` with every field that `overrides` sets replaced (a localization over the
    /// default).
    pub fn overlaid(&self, overrides: &BrandingContent) -> BrandingContent {
        macro_rules! pick {
            ($($field:ident),*) => {
                BrandingContent { $($field: overrides.$field.clone().or_else(|| self.$field.clone()),)* }
            };
        }
        pick!(
            background_color,
            header_background_color,
            background_image,
            banner_logo,
            header_logo,
            square_logo,
            square_logo_dark,
            favicon,
            custom_css,
            sign_in_page_text,
            username_hint_text,
            custom_privacy_and_cookies_text,
            custom_privacy_and_cookies_url,
            custom_terms_of_use_text,
            custom_terms_of_use_url,
            custom_forgot_my_password_text,
            custom_account_reset_credentials_url,
            login_page_text_visibility_settings,
            login_page_layout_configuration
        )
    }

    fn images(&self) -> [(&'static str, Option<&BrandingImage>); 6] {
        [
            ("backgroundImage", self.background_image.as_ref()),
            ("bannerLogo", self.banner_logo.as_ref()),
            ("headerLogo", self.header_logo.as_ref()),
            ("squareLogo", self.square_logo.as_ref()),
            ("squareLogoDark", self.square_logo_dark.as_ref()),
            ("favicon", self.favicon.as_ref()),
        ]
    }
}

/// The branding the admin API accepts (`PUT /admin/v1/tenants/{subdomain}/branding`):
/// `BrandingSpec` with ConfigMap content inlined (see [`BrandingContent`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingDocument {
    /// Branding for every language without its own localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BrandingContent>,
    /// Overrides per BCP 47 language tag, laid field by field over `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localizations: Option<BTreeMap<String, BrandingContent>>,
    /// Text overrides per language and page string key (the keys of the runtime's
    /// `locales/en.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<BTreeMap<String, LocalizedStrings>>,
}

fn is_hex_colour(value: &str) -> bool {
    let digits = value.strip_prefix('#').unwrap_or_default();
    matches!(digits.len(), 3 | 6) && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Whether `url` is an https URL safe to place in an attribute or a CSS `url()`.
pub fn is_safe_https_url(url: &str) -> bool {
    url.len() <= 2048
        && url.len() > "https://".len()
        && url.starts_with("https://")
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'()<>\\`".contains(c))
}

/// Media types a branding `data:` URI may declare.
const IMAGE_MEDIA_TYPES: [&str; 7] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
];

/// Checks an image: an https URL, or a base64 `data:image/…` URI within `limit` bytes whose
/// content is the image its media type names (recognised as the operator recognises
/// ConfigMap content, by [`image_content::recognise`]: magic bytes, or a checked SVG).
fn check_image(source: &str, limit: usize) -> Result<(), String> {
    let Some(rest) = source.strip_prefix("data:") else {
        return if is_safe_https_url(source) {
            Ok(())
        } else {
            Err("must be an https URL or a data:image/…;base64 URI".into())
        };
    };
    let Some((media, data)) = rest.split_once(";base64,") else {
        return Err("a data URI must be data:image/<type>;base64,<content>".into());
    };
    if !IMAGE_MEDIA_TYPES.contains(&media) {
        return Err(format!(
            "media type must be one of {}",
            IMAGE_MEDIA_TYPES.join(", ")
        ));
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| "the data URI's content is not valid base64".to_string())?;
    if decoded.len() > limit {
        return Err(format!(
            "must be at most {} KB, found {} bytes",
            limit / 1024,
            decoded.len()
        ));
    }
    let format = image_content::recognise(&decoded).map_err(|error| error.to_string())?;
    if !format.is_named_by(media) {
        return Err(format!(
            "the content is {}, not the {media} the data URI names",
            format.media_type()
        ));
    }
    Ok(())
}

/// Branding texts shown as names or labels (link texts, the username hint), which refuse
/// the characters [`is_refused_in_plain_text`] names, with their longest length. The sign-in
/// page text is prose and only has a length.
fn branding_label_texts(content: &BrandingContent) -> [(&'static str, &Option<String>, usize); 4] {
    [
        ("usernameHintText", &content.username_hint_text, 64),
        (
            "customPrivacyAndCookiesText",
            &content.custom_privacy_and_cookies_text,
            256,
        ),
        (
            "customTermsOfUseText",
            &content.custom_terms_of_use_text,
            256,
        ),
        (
            "customForgotMyPasswordText",
            &content.custom_forgot_my_password_text,
            256,
        ),
    ]
}

fn check_branding_texts(errors: &mut Vec<FieldError>, prefix: &str, content: &BrandingContent) {
    if let Some(text) = &content.sign_in_page_text
        && text.chars().count() > 1024
    {
        errors.push(FieldError::new(
            format!("{prefix}.signInPageText"),
            "must be at most 1024 characters",
        ));
    }
    for (field, text, max) in branding_label_texts(content) {
        let Some(text) = text else { continue };
        let path = format!("{prefix}.{field}");
        if text.chars().count() > max {
            errors.push(FieldError::new(
                &path,
                format!("must be at most {max} characters"),
            ));
        }
        check_plain_text(errors, &path, text);
    }
}

fn check_branding_content(errors: &mut Vec<FieldError>, prefix: &str, content: &BrandingContent) {
    for (field, colour) in [
        ("backgroundColor", &content.background_color),
        ("headerBackgroundColor", &content.header_background_color),
    ] {
        if let Some(colour) = colour
            && !is_hex_colour(colour)
        {
            errors.push(FieldError::new(
                format!("{prefix}.{field}"),
                "must be #rgb or #rrggbb",
            ));
        }
    }
    for (field, image) in content.images() {
        let limit = IMAGE_LIMITS
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(0, |(_, limit)| *limit);
        if let Some(image) = image
            && let Err(reason) = check_image(image.source(), limit)
        {
            errors.push(FieldError::new(format!("{prefix}.{field}"), reason));
        }
    }
    if let Some(css) = &content.custom_css
        && css.len() > MAX_CUSTOM_CSS_BYTES
    {
        errors.push(FieldError::new(
            format!("{prefix}.customCSS"),
            format!("must be at most 25 KB, found {} bytes", css.len()),
        ));
    }
    check_branding_texts(errors, prefix, content);
    for (field, url) in [
        (
            "customPrivacyAndCookiesUrl",
            &content.custom_privacy_and_cookies_url,
        ),
        ("customTermsOfUseUrl", &content.custom_terms_of_use_url),
        (
            "customAccountResetCredentialsUrl",
            &content.custom_account_reset_credentials_url,
        ),
    ] {
        if let Some(url) = url
            && !is_safe_https_url(url)
        {
            errors.push(FieldError::new(
                format!("{prefix}.{field}"),
                "must be an https URL",
            ));
        }
    }
}

/// Whether `key` of a Branding's `strings` names text the runtime shows: Entra's key or the
/// runtime's own (see `branding::string_override_key`), or an attribute label
/// `Attribute_<attributeName>`.
fn is_known_string_key(key: &str) -> bool {
    string_override_key(key).is_some()
        || key.strip_prefix("Attribute_").is_some_and(|name| {
            name.chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

const UNKNOWN_STRING_KEY: &str = "is not a text of the hosted pages: use one of Entra's keys (such as SignIn_Title or Attribute_City), a key of the runtime's locale files, or Attribute_<attributeName>";

/// Checks a branding document; an empty list means it is valid.
pub fn validate_branding_document(spec: &BrandingDocument) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(default) = &spec.default {
        check_branding_content(&mut errors, "default", default);
    }
    for (language, content) in spec.localizations.iter().flatten() {
        if !is_bcp47(language) {
            errors.push(FieldError::new(
                format!("localizations.{language}"),
                "keys must be BCP 47 language tags such as en, fr or de-CH",
            ));
        }
        check_branding_content(&mut errors, &format!("localizations.{language}"), content);
    }
    for (language, texts) in spec.strings.iter().flatten() {
        if !is_bcp47(language) {
            errors.push(FieldError::new(
                format!("strings.{language}"),
                "keys must be BCP 47 language tags such as en, fr or de-CH",
            ));
        }
        for (key, text) in texts {
            if !is_known_string_key(key) {
                errors.push(FieldError::new(
                    format!("strings.{language}.{key}"),
                    UNKNOWN_STRING_KEY,
                ));
            }
            if text.chars().count() > 1024 {
                errors.push(FieldError::new(
                    format!("strings.{language}.{key}"),
                    "must be at most 1024 characters",
                ));
            }
        }
    }
    errors
}

/// Entra's string keys (Graph `organizationalBranding` language customization) and the
/// runtime string each one sets. The runtime collects sign-up attributes on the sign-up page
/// itself, so Entra's attribute collection page keys set the sign-up page's strings; where
/// two keys set one string, the earlier in this table wins.
pub const ENTRA_STRING_KEYS: [(&str, &str); 18] = [
    ("SignIn_Title", "sign_in_title"),
    ("SignIn_Description", "sign_in_subtitle"),
    ("SignUp_Title", "sign_up_title"),
    ("SignUp_Description", "sign_up_subtitle"),
    ("AttributeCollection_Title", "sign_up_title"),
    ("AttributeCollection_Description", "sign_up_subtitle"),
    ("SisuOtc_Title", "verify_title_sign_in"),
    ("Attribute_Email", "attribute_email"),
    ("Attribute_Password", "new_password_label"),
    ("Attribute_DisplayName", "attribute_displayName"),
    ("Attribute_GivenName", "attribute_givenName"),
    ("Attribute_Surname", "attribute_surname"),
    ("Attribute_City", "attribute_city"),
    ("Attribute_Country", "attribute_country"),
    ("Attribute_PostalCode", "attribute_postalCode"),
    ("Attribute_State", "attribute_state"),
    ("Attribute_StreetAddress", "attribute_streetAddress"),
    ("Attribute_JobTitle", "attribute_jobTitle"),
];

/// The keys of the built-in English strings, borrowed from the compiled-in file (its keys are
/// plain identifiers, so they need no unescaping; a unit test checks the file parses).
pub fn internal_string_keys() -> &'static BTreeSet<&'static str> {
    static KEYS: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        serde_json::from_str::<BTreeMap<&'static str, serde::de::IgnoredAny>>(include_str!(
            "../runtime/locales/en.json"
        ))
        .map(|strings| strings.into_keys().collect())
        .unwrap_or_default()
    })
}

/// The runtime string an override key sets and its precedence (0 for the runtime's own key,
/// then Entra's keys in table order).
pub fn override_target(key: &str) -> Option<(&'static str, usize)> {
    if let Some(internal) = internal_string_keys().get(key) {
        return Some((internal, 0));
    }
    ENTRA_STRING_KEYS
        .iter()
        .position(|(entra, _)| *entra == key)
        .map(|index| (ENTRA_STRING_KEYS[index].1, index + 1))
}

/// The built-in string (a key of `locales/en.json`) that the `strings.<language>` override
/// `key` sets: Entra's key mapped to the runtime's (`SignIn_Title` → `sign_in_title`), or the
/// runtime's own key. `None` for a key the runtime does not know, including the labels of
/// custom attributes (see `runtime::domain::branding::attribute_label_override`).
pub fn string_override_key(key: &str) -> Option<&'static str> {
    override_target(key).map(|(internal, _)| internal)
}
