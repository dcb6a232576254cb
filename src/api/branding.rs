//! `Branding`: the look and language of a tenant's hosted pages (step 4 of the CIAM planning
//! guide), with the fields of Graph's `organizationalBranding`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    ConfigMapKeyRef, TenantRef, no_bidi_or_zero_width_rule, no_hidden_characters_rule,
};

/// Desired state of a tenant's branding. One Branding per tenant.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "ciam.dev",
    version = "v1alpha1",
    kind = "Branding",
    namespaced,
    status = "BrandingStatus",
    shortname = "brand",
    category = "ciam",
    doc = "Company branding and language customization of a tenant's hosted sign-up and \
           sign-in pages. A tenant has at most one Branding.",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantRef.name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Preview",
        type_ = "string",
        json_path = ".status.previewUrl",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BrandingSpec {
    /// The CustomerTenant whose pages this styles. Cannot be changed after creation.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantRef is immutable"))]
    pub tenant_ref: TenantRef,

    /// Branding used for every language without its own localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BrandingProperties>,

    /// Overrides per language, keyed by BCP 47 tag (for example `fr`, `de-CH`); fields left
    /// out fall back to `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 50))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$'))").message("localizations keys must be BCP 47 language tags such as en, fr or de-CH"))]
    pub localizations: Option<BTreeMap<String, BrandingProperties>>,

    /// Text overrides per language, keyed by BCP 47 tag, then by string key (Entra's keys
    /// where they exist: `SignIn_Title`, `SignIn_Description`, `SignUp_Title`,
    /// `AttributeCollection_Title`, `Attribute_City`, `Attribute_Password`, …); at most 200
    /// keys per language and 1024 characters per text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "localized_strings_schema")]
    pub strings: Option<BTreeMap<String, LocalizedStrings>>,
}

/// String overrides of one language: key → text (at most 1024 characters each).
pub type LocalizedStrings = BTreeMap<String, String>;

/// Schema of `strings`: maps cannot constrain their keys in OpenAPI, so CEL rules check the
/// language tags and the string keys, with sizes bounded so the rules stay within the API
/// server's cost budget.
fn localized_strings_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 20,
        "x-kubernetes-validations": [{
            "rule": "self.all(k, size(k) <= 35 && k.matches('^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$'))",
            "message": "strings keys must be BCP 47 language tags such as en, fr or de-CH"
        }],
        "additionalProperties": {
            "type": "object",
            "maxProperties": 200,
            "x-kubernetes-validations": [{
                "rule": "self.all(k, size(k) <= 128 && k.matches('^[A-Za-z][A-Za-z0-9_]*$'))",
                "message": "string keys must be identifiers such as SignIn_Title"
            }],
            "additionalProperties": { "type": "string", "maxLength": 1024 }
        }
    })
}

/// The fields of Graph's `organizationalBranding` (and its localizations).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrandingProperties {
    /// Page background colour as `#rgb` or `#rrggbb`, shown while the background image loads
    /// or when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"))]
    pub background_color: Option<String>,

    /// Header background colour as `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"))]
    pub header_background_color: Option<String>,

    /// Full-page background image (at most 300 KB; 1920×1080 recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<ImageSource>,

    /// Logo on the sign-in box (at most 50 KB; 245×36 recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_logo: Option<ImageSource>,

    /// Logo in the page header (at most 10 KB; 245×36 recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_logo: Option<ImageSource>,

    /// Square logo for light themes (at most 50 KB; 240×240 recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo: Option<ImageSource>,

    /// Square logo for dark themes (at most 50 KB; 240×240 recommended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo_dark: Option<ImageSource>,

    /// Browser tab icon (at most 5 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon: Option<ImageSource>,

    /// Style sheet applied to the hosted pages (ConfigMap key, at most 25 KB). It is
    /// sanitised: no scripts, and no resources from other origins.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "customCSS")]
    pub custom_css: Option<ConfigMapKeyRef>,

    /// Text at the bottom of the sign-in box (at most 1024 characters); supports
    /// `[text](url)`, `**bold**` and `*italic*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub sign_in_page_text: Option<String>,

    /// Hint shown in the username box (at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub username_hint_text: Option<String>,

    /// Text of the footer's privacy and cookies link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub custom_privacy_and_cookies_text: Option<String>,

    /// Target of the footer's privacy and cookies link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("customPrivacyAndCookiesUrl must be an https URL"))]
    pub custom_privacy_and_cookies_url: Option<String>,

    /// Text of the footer's terms of use link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub custom_terms_of_use_text: Option<String>,

    /// Target of the footer's terms of use link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("customTermsOfUseUrl must be an https URL"))]
    pub custom_terms_of_use_url: Option<String>,

    /// Text of the "forgot my password" link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub custom_forgot_my_password_text: Option<String>,

    /// Where "forgot my password" leads instead of the built-in reset (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("customAccountResetCredentialsUrl must be an https URL"))]
    pub custom_account_reset_credentials_url: Option<String>,

    /// Parts of the sign-in page to hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_text_visibility_settings: Option<LoginPageTextVisibilitySettings>,

    /// Page layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_layout_configuration: Option<LoginPageLayoutConfiguration>,
}

/// An image from an https URL or from a ConfigMap key (binary data).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.url) != has(self.configMapKeyRef)").message("an image needs exactly one of url or configMapKeyRef"))]
pub struct ImageSource {
    /// https URL of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("image url must be an https URL"))]
    pub url: Option<String>,

    /// ConfigMap key (in the Branding's namespace) holding the image bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeyRef>,
}

/// Graph's `loginPageTextVisibilitySettings`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginPageTextVisibilitySettings {
    /// Hide the "can't access your account" link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_cannot_access_your_account: Option<bool>,

    /// Hide the "forgot my password" link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_forgot_my_password: Option<bool>,

    /// Hide the footer's privacy and cookies link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_privacy_and_cookies: Option<bool>,

    /// Hide the footer's terms of use link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_terms_of_use: Option<bool>,

    /// Hide the "reset it now" link on the password reset page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_reset_it_now: Option<bool>,

    /// Hide the "sign up" link on the sign-in page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_sign_up: Option<bool>,
}

/// Graph's `loginPageLayoutConfiguration`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginPageLayoutConfiguration {
    /// `default` (centred box) or `verticalSplit` (box on one side, image on the other).
    #[serde(default)]
    pub layout_template_type: LayoutTemplateType,

    /// Show the page header (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_header_shown: Option<bool>,

    /// Show the page footer (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_footer_shown: Option<bool>,
}

/// Page layout template.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum LayoutTemplateType {
    /// Centred sign-in box.
    #[default]
    Default,
    /// Sign-in box on one side, background on the other.
    VerticalSplit,
}

/// Observed state of a branding.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrandingStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state, with a top-level `Ready` condition and PascalCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// URL of the tenant's sign-in page showing this branding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
}
