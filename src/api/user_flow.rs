//! `UserFlow`: the sign-up and sign-in experience of a set of apps (step 3 of the CIAM
//! planning guide), named after Graph's `externalUsersSelfServiceSignUpEventsFlow`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    DNS_SUBDOMAIN_PATTERN, TenantRef, no_bidi_or_zero_width_rule, no_hidden_characters_rule,
};

/// Built-in user attributes with Entra's maximum value lengths.
pub const BUILT_IN_ATTRIBUTES: [(&str, usize); 10] = [
    ("email", 256),
    ("displayName", 256),
    ("givenName", 64),
    ("surname", 64),
    ("city", 128),
    ("country", 128),
    ("postalCode", 40),
    ("state", 128),
    ("streetAddress", 1024),
    ("jobTitle", 128),
];

/// Desired state of a user flow.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "ciam.dev",
    version = "v1alpha1",
    kind = "UserFlow",
    namespaced,
    status = "UserFlowStatus",
    shortname = "uflow",
    category = "ciam",
    doc = "A sign-up and sign-in user flow: how customers of the listed apps sign in, what \
           sign-up collects, which claims tokens carry and which extensions are called.",
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
        name = "Apps",
        type_ = "string",
        json_path = ".spec.applications",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct UserFlowSpec {
    /// The CustomerTenant this flow belongs to. Cannot be changed after creation.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantRef is immutable"))]
    pub tenant_ref: TenantRef,

    /// Name of the flow, for administrators.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub display_name: String,

    /// Names of the AppRegistrations (in this namespace) whose sign-ins this flow serves.
    /// An app belongs to at most one user flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN)))]
    #[x_kube(validation = Rule::new("self.all(a, self.exists_one(b, b == a))").message("applications must not list the same app twice"))]
    pub applications: Option<Vec<String>>,

    /// How customers sign in.
    pub sign_in: SignIn,

    /// What sign-up collects, in display order. The email address is always collected and
    /// verified; list `email` to choose its position and label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new("self.all(a, self.exists_one(b, b.name == a.name))").message("attributes must not contain the same attribute twice"))]
    pub attributes: Option<Vec<UserAttribute>>,

    /// Attributes added to ID and access tokens, with their claim names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[x_kube(validation = Rule::new("self.all(c, self.exists_one(d, d.claimName == c.claimName))").message("tokenClaims must not use the same claimName twice"))]
    pub token_claims: Option<Vec<TokenClaim>>,

    /// Multifactor authentication after the first factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<Mfa>,

    /// Custom authentication extensions called during the flow, with Entra's event contracts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Extensions>,
}

/// Sign-in options of a flow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    /// Enabled methods: `emailPassword`, `emailOtp` (passwordless one-time passcode) and
    /// names of the tenant's identity providers.
    #[schemars(
        length(min = 1, max = 10),
        inner(
            length(min = 1, max = 63),
            regex(pattern = r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
        )
    )]
    #[x_kube(validation = Rule::new("self.all(m, self.exists_one(n, n == m))").message("signIn.methods must not list the same method twice"))]
    pub methods: Vec<String>,
}

/// An attribute collected at sign-up.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(self.inputType in ['radioSingleSelect', 'checkboxMultiSelect', 'dropdown']) || (has(self.options) && size(self.options) > 0)").message("radioSingleSelect, checkboxMultiSelect and dropdown attributes need at least one option"))]
#[x_kube(validation = Rule::new("self.inputType in ['radioSingleSelect', 'checkboxMultiSelect', 'dropdown'] || !has(self.options)").message("options apply only to radioSingleSelect, checkboxMultiSelect and dropdown attributes"))]
#[x_kube(validation = Rule::new("!(self.required && self.inputType in ['boolean', 'checkboxSingleSelect']) || (!self.hidden && (!has(self.defaultValue) || self.defaultValue != 'true'))").message("a required boolean or checkboxSingleSelect attribute (such as consent to terms) must be shown and must not be pre-ticked"))]
#[x_kube(validation = Rule::new("!(self.required && self.hidden) || has(self.defaultValue)").message("a required hidden attribute needs a defaultValue"))]
#[x_kube(validation = Rule::new("self.name != 'email' || (self.inputType == 'text' && !self.hidden)").message("the email attribute must be a visible text input"))]
pub struct UserAttribute {
    /// A built-in attribute (`email`, `displayName`, `givenName`, `surname`, `city`,
    /// `country`, `postalCode`, `state`, `streetAddress`, `jobTitle`) or the name of one of
    /// the tenant's `customAttributes`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z][A-Za-z0-9]*$"))]
    pub name: String,

    /// Label shown next to the input; may contain `[text](https://…)` links, which is how a
    /// terms-of-use consent checkbox is written. Defaults to the translated attribute name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub label: Option<String>,

    /// Kind of input control.
    #[serde(default)]
    pub input_type: InputType,

    /// Whether sign-up cannot complete without a value (for a checkbox: without ticking it).
    #[serde(default)]
    pub required: bool,

    /// Choices of a radio, dropdown or multi-select checkbox input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["value".into()]))]
    pub options: Option<Vec<AttributeOption>>,

    /// Regular expression (RE2 syntax) a text value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub validation_reg_ex: Option<String>,

    /// Value filled in before the customer edits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub default_value: Option<String>,

    /// Collect the attribute without showing it (the default value is stored).
    #[serde(default)]
    pub hidden: bool,

    /// Whether the customer may change the value later on profile pages (default true).
    #[serde(default = "default_true")]
    pub editable: bool,
}

fn default_true() -> bool {
    true
}

/// Input control of an attribute.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum InputType {
    /// A single-line text box (the default).
    #[default]
    Text,
    /// Radio buttons; exactly one option is chosen.
    RadioSingleSelect,
    /// A single checkbox (for consent or a yes/no question).
    CheckboxSingleSelect,
    /// Several checkboxes; any number of options are chosen.
    CheckboxMultiSelect,
    /// A yes/no checkbox stored as a boolean.
    Boolean,
    /// A drop-down list; exactly one option is chosen.
    Dropdown,
    /// A whole-number input.
    Number,
}

/// One choice of a selection input.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeOption {
    /// Text shown to the customer.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub label: String,

    /// Value stored when the option is chosen.
    #[schemars(length(min = 1, max = 256))]
    pub value: String,
}

/// An attribute added to tokens as a claim.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenClaim {
    /// Name of a built-in or tenant custom attribute.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z][A-Za-z0-9]*$"))]
    pub attribute: String,

    /// Name of the claim in the token.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
    )]
    #[x_kube(validation = Rule::new("!(self in ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'tid', 'oid', 'ver', 'nonce', 'azp', 'scp', 'roles', 'auth_time', 'at_hash', 'c_hash', 'sid', 'acr', 'amr'])").message("claimName must not be a reserved token claim"))]
    pub claim_name: String,
}

/// Multifactor authentication settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mfa {
    /// `Required`: after the first factor, a one-time passcode is sent to the customer's
    /// email; `Disabled` (the default): no second factor. (Not `Off`: YAML 1.1 parsers, and
    /// so kubectl, read an unquoted `Off` as the boolean false.)
    #[serde(default)]
    pub email_otp: MfaMode,
}

/// Whether a second factor is required.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum MfaMode {
    /// No second factor.
    #[default]
    Disabled,
    /// A second factor on every sign-in.
    Required,
}

/// Custom authentication extensions, by the event that calls them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Extensions {
    /// Called before a token is issued; returns `provideClaimsForToken` claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_token_issuance_start: Option<CustomAuthenticationExtension>,

    /// Called before the sign-up attribute page is shown; may prefill values or block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_attribute_collection_start: Option<CustomAuthenticationExtension>,

    /// Called when the attribute page is submitted; may continue, modify values, show a
    /// validation error or block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_attribute_collection_submit: Option<CustomAuthenticationExtension>,

    /// Called to deliver a one-time passcode through the customer's own email or SMS provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_otp_send: Option<CustomAuthenticationExtension>,
}

/// An HTTPS endpoint called with Entra's custom authentication extension contract
/// (Graph's `customAuthenticationExtension`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomAuthenticationExtension {
    /// The endpoint URL (https).
    #[schemars(length(min = 9, max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("targetUrl must be an https URL"))]
    pub target_url: String,

    /// Audience of the bearer token the runtime sends with each call, which the endpoint
    /// checks (for example `api://extensions.example.com/<id>`).
    #[schemars(length(min = 1, max = 1024))]
    pub resource_id: String,

    /// How long to wait for the endpoint, 200 to 2000 ms (default 2000).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 200, max = 2000))]
    pub timeout_in_milliseconds: i32,

    /// Retries after a timeout or error, 0 or 1 (default 1).
    #[serde(default = "default_retries")]
    #[schemars(range(min = 0, max = 1))]
    pub maximum_retries: i32,
}

fn default_timeout_ms() -> i32 {
    2000
}

fn default_retries() -> i32 {
    1
}

/// Observed state of a user flow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserFlowStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state, with a top-level `Ready` condition and PascalCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Applications this flow serves, resolved to their client IDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<ResolvedApplication>,
}

/// An application a flow serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedApplication {
    /// Name of the AppRegistration.
    pub name: String,

    /// Its client ID, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}
