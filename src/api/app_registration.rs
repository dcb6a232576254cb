//! `AppRegistration`: the trust relationship between an application and a tenant (step 2 of
//! the CIAM planning guide). The operator writes the app's credentials to a Secret.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::{Message, Rule};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    ConfigMapKeyRef, DNS_SUBDOMAIN_PATTERN, DeletionPolicy, SecretKeyRef, TenantRef,
    no_bidi_or_zero_width_rule, no_hidden_characters_rule,
};

/// CEL condition on a URI `u`: https with a host (and no user information), or http on the
/// loopback host, where a browser's redirect never leaves the machine. The first character
/// of the authority excludes `:` so that `https://:443/` (a port without a host) fails too.
const HTTPS_OR_LOOPBACK_CEL: &str = "u.matches('^https://[^/?#@:][^/?#@]*([/?].*)?$') || \
     u.matches('^http://(localhost|127[.]0[.]0[.]1)(:[0-9]{1,5})?([/?].*)?$')";

/// CEL condition on a URI `u`: a custom scheme with something after the colon, as mobile and
/// desktop apps register. Schemes a browser would execute or read locally are excluded, and
/// so are http and https: without the `//` and a host they are not custom schemes but
/// malformed web URIs (`https:foo`).
const CUSTOM_SCHEME_CEL: &str = "(u.matches('^[a-z][a-z0-9+.-]*:.') && \
     !u.matches('^(https?|javascript|data|file|vbscript):'))";

/// The CEL rule that every entry of the URI list `field` is a redirect target the app's type
/// may use: with `native`, the rule for native apps (which also accepts custom schemes);
/// without, the rule for every other type.
fn redirect_target_rule(field: &str, native: bool) -> String {
    if native {
        format!(
            "self.type != 'native' || !has(self.{field}) || \
             self.{field}.all(u, {HTTPS_OR_LOOPBACK_CEL} || {CUSTOM_SCHEME_CEL})"
        )
    } else {
        format!(
            "self.type == 'native' || !has(self.{field}) || \
             self.{field}.all(u, {HTTPS_OR_LOOPBACK_CEL})"
        )
    }
}

/// CEL condition on a label or annotation key `k`: the key is the operator's own, under
/// `ciam.dev/` or a subdomain of it (the operator keeps its rotation bookkeeping, such as
/// `ciam.dev/previous-secret-hash`, in the credentials Secret's annotations).
const OPERATOR_ANNOTATION_CEL: &str =
    "k.startsWith('ciam.dev/') || k.matches('^[^/]*[.]ciam[.]dev/')";

/// CEL condition on a label key `k`: an operator key, or the label that marks the Secrets the
/// operator writes.
const OPERATOR_LABEL_CEL: &str = "k.startsWith('ciam.dev/') || \
     k.matches('^[^/]*[.]ciam[.]dev/') || k == 'app.kubernetes.io/managed-by'";

/// The rule that no key of the map `self` is reserved (`reserved`, a CEL condition on `k`).
/// Its message names the first reserved key, so the refusal says which key to remove; `what`
/// is `label` or `annotation`, `why` says what the operator uses such keys for.
fn reserved_key_rule(what: &str, reserved: &str, why: &str) -> Rule {
    Rule::new(format!("self.all(k, !({reserved}))")).message(Message::Expression(format!(
        "'{what} key ' + self.filter(k, {reserved})[0] + ' is reserved for the operator ({why})'"
    )))
}

/// Desired state of an app registration.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "ciam.dev",
    version = "v1alpha1",
    kind = "AppRegistration",
    namespaced,
    status = "AppRegistrationStatus",
    shortname = "appreg",
    category = "ciam",
    doc = "An application registered with a customer tenant. The operator gives it a client ID \
           and, for confidential apps, a client secret, in a Secret the app mounts with envFrom.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Client ID", type_ = "string", json_path = ".status.clientId"),
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
        name = "Secret",
        type_ = "string",
        json_path = ".status.secretName",
        priority = 1
    ),
    printcolumn(
        name = "User Flow",
        type_ = "string",
        json_path = ".status.userFlow",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'daemon' || ((!has(self.redirectUris) || size(self.redirectUris) == 0) && (!has(self.postLogoutRedirectUris) || size(self.postLogoutRedirectUris) == 0))").message("daemon apps use client credentials only and cannot have redirectUris or postLogoutRedirectUris"))]
#[x_kube(validation = Rule::new(redirect_target_rule("redirectUris", false)).message("redirectUris must use https with a host, or http only on localhost or 127.0.0.1; custom schemes are allowed only for native apps"))]
#[x_kube(validation = Rule::new(redirect_target_rule("redirectUris", true)).message("redirectUris of native apps must use https with a host, http on localhost or 127.0.0.1, or a custom scheme such as com.example.app:/callback; javascript, data, file and vbscript URIs are never allowed"))]
#[x_kube(validation = Rule::new(redirect_target_rule("postLogoutRedirectUris", false)).message("postLogoutRedirectUris must use https with a host, or http only on localhost or 127.0.0.1; custom schemes are allowed only for native apps"))]
#[x_kube(validation = Rule::new(redirect_target_rule("postLogoutRedirectUris", true)).message("postLogoutRedirectUris of native apps must use https with a host, http on localhost or 127.0.0.1, or a custom scheme such as com.example.app:/signed-out; javascript, data, file and vbscript URIs are never allowed"))]
#[x_kube(validation = Rule::new("self.type in ['web', 'daemon'] || !has(self.credentials) || (!has(self.credentials.existingSecretRef) && !has(self.credentials.rotation))").message("spa and native apps are public clients without a client secret: credentials.existingSecretRef and credentials.rotation apply only to web and daemon apps"))]
#[x_kube(validation = Rule::new("self.type in ['web', 'daemon'] || !has(self.credentials) || !has(self.credentials.certificates) || size(self.credentials.certificates) == 0").message("spa and native apps are public clients: credentials.certificates apply only to web and daemon apps"))]
pub struct AppRegistrationSpec {
    /// The CustomerTenant this app is registered in. Cannot be changed after creation.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantRef is immutable"))]
    pub tenant_ref: TenantRef,

    /// Name of the app shown to customers on consent and sign-in pages.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub display_name: String,

    /// Kind of app: `web` (confidential, server-side), `spa` (public, browser, PKCE),
    /// `native` (public, mobile or desktop, PKCE) or `daemon` (client credentials only).
    /// Cannot be changed after creation.
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("type is immutable"))]
    pub app_type: AppType,

    /// Where the runtime may send customers back with an authorization code; matched
    /// exactly. https with a host, or http on localhost/127.0.0.1; custom schemes (such as
    /// `com.example.app:/callback`) only for native apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    #[x_kube(validation = Rule::new("self.all(u, !u.contains('#') && !u.contains('*'))").message("redirectUris must not contain a fragment (#) or a wildcard (*)"))]
    #[x_kube(validation = Rule::new("self.all(u, self.exists_one(v, v == u))").message("redirectUris must not contain duplicates"))]
    pub redirect_uris: Option<Vec<String>>,

    /// Where the runtime may send customers after sign-out (`post_logout_redirect_uri`);
    /// matched exactly, same scheme rules as `redirectUris`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    #[x_kube(validation = Rule::new("self.all(u, !u.contains('#') && !u.contains('*'))").message("postLogoutRedirectUris must not contain a fragment (#) or a wildcard (*)"))]
    #[x_kube(validation = Rule::new("self.all(u, self.exists_one(v, v == u))").message("postLogoutRedirectUris must not contain duplicates"))]
    pub post_logout_redirect_uris: Option<Vec<String>>,

    /// An API this app exposes, with the scopes other apps may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_api: Option<ExposedApi>,

    /// Scopes of other AppRegistrations' exposed APIs that this app may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub api_permissions: Option<Vec<ApiPermission>>,

    /// Lifetime of access tokens issued to this app, as a duration between 5m and 24h
    /// (for example `1h`, the default, or `90m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = r"^([0-9]+(h|m|s))+$"))]
    #[x_kube(validation = Rule::new("!self.matches('^([0-9]+(h|m|s))+$') || (duration(self) >= duration('5m') && duration(self) <= duration('24h'))").message("accessTokenLifetime must be between 5m and 24h"))]
    pub access_token_lifetime: Option<String>,

    /// Where and how the app's credentials are delivered and rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,

    /// Whether the client is removed from the identity runtime when this resource is deleted
    /// (`Delete`, the default) or kept (`Retain`).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Kind of application, which decides the OAuth flows it may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AppType {
    /// A confidential server-side web app: authorization code with a client secret.
    Web,
    /// A single-page app in the browser: public client, authorization code with PKCE.
    Spa,
    /// A mobile or desktop app: public client, authorization code with PKCE.
    Native,
    /// A service without users: client credentials only.
    Daemon,
}

impl AppType {
    /// Whether the app holds a client secret (a confidential client).
    pub fn is_confidential(self) -> bool {
        matches!(self, AppType::Web | AppType::Daemon)
    }
}

/// An API exposed by an app.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExposedApi {
    /// Identifier (audience) of the API, `api://…` or an https URL; defaults to
    /// `api://{clientId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 7, max = 1024))]
    #[x_kube(validation = Rule::new("(self.startsWith('api://') || self.startsWith('https://')) && !self.endsWith('/')").message("identifierUri must start with api:// or https:// and must not end with /"))]
    pub identifier_uri: Option<String>,

    /// Delegated permissions (scopes) other apps may request on behalf of a customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new("self.all(s, self.exists_one(t, t.value == s.value))").message("exposedApi.scopes values must be unique"))]
    pub scopes: Option<Vec<ApiScope>>,
}

/// A scope exposed by an API (Graph's `permissionScope`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiScope {
    /// Scope value as it appears in the `scp` claim (for example `orders.read`).
    #[schemars(
        length(min = 1, max = 120),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    )]
    pub value: String,

    /// Short name of the permission shown to administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub admin_consent_display_name: Option<String>,

    /// What the permission allows, shown to administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub admin_consent_description: Option<String>,

    /// Short name of the permission shown to customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub user_consent_display_name: Option<String>,

    /// What the permission allows, shown to customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub user_consent_description: Option<String>,
}

/// Permission to request scopes of another app's exposed API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiPermission {
    /// Name of the AppRegistration exposing the API.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub app_name: String,

    /// Namespace of that AppRegistration; defaults to this app's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub app_namespace: Option<String>,

    /// Scope values of that API this app may request.
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 120)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub scopes: Vec<String>,
}

/// Delivery and rotation of an app's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.existingSecretRef) && has(self.rotation))").message("rotation cannot be combined with existingSecretRef: a secret you bring is rotated by you"))]
#[x_kube(validation = Rule::new("!has(self.secretName) || !has(self.existingSecretRef) || self.secretName != self.existingSecretRef.name").message("secretName must differ from existingSecretRef.name: the operator writes the secretName Secret and only reads the Secret you bring"))]
pub struct Credentials {
    /// Name of the Secret the operator writes (default `<name>-credentials`), in this
    /// namespace and owned by this AppRegistration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub secret_name: Option<String>,

    /// Labels and annotations added to the written Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,

    /// Use a client secret you provide (for example from External Secrets or Sealed Secrets)
    /// instead of one the operator generates. Its name must differ from `secretName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_secret_ref: Option<ExistingSecretRef>,

    /// Periodic rotation of the generated client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,

    /// Public certificates (PEM X.509, RSA of at least 2048 bits or EC P-256) whose private
    /// keys may sign `private_key_jwt` client assertions at the token endpoint, as Entra's
    /// certificate credentials (MSAL's `clientCertificate`). Web and daemon apps only; at
    /// most 4. Rotate by adding the next certificate, then removing the old one: every
    /// listed certificate that has not expired works. The client secret keeps working too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    #[x_kube(validation = Rule::new("self.all(c, self.exists_one(d, d == c))").message("credentials.certificates must not contain duplicates"))]
    pub certificates: Option<Vec<CertificateRef>>,

    /// Whether a certificate-signed client assertion may be presented more than once.
    /// `Refuse` (default): each assertion's `jti` is accepted once (RFC 7523 §3), so a copied
    /// assertion is useless. `AllowUntilExpiry`: the same assertion works until its `exp`, as
    /// Entra accepts it; MSAL's `clientCertificate` option reuses one assertion for about ten
    /// minutes, so a web app that redeems several codes in that time needs this (or a fresh
    /// assertion per request through MSAL's `clientAssertion` callback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion_reuse: Option<AssertionReuse>,
}

/// Whether a client assertion may be presented more than once (`credentials.assertionReuse`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum AssertionReuse {
    /// Each assertion is accepted once.
    #[default]
    Refuse,
    /// An assertion is accepted again until it expires.
    AllowUntilExpiry,
}

impl AssertionReuse {
    /// Whether this is the default, `Refuse` (the admin API leaves it out then).
    pub fn is_refuse(&self) -> bool {
        *self == AssertionReuse::Refuse
    }
}

/// Where a public certificate is read from: a key of a ConfigMap or of a Secret in the
/// AppRegistration's namespace, holding one PEM certificate (`-----BEGIN CERTIFICATE-----`).
/// Only the public certificate: never put the private key there.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMapKeyRef) != has(self.secretKeyRef)").message("a certificate needs exactly one of configMapKeyRef or secretKeyRef"))]
pub struct CertificateRef {
    /// ConfigMap key (in this namespace) holding the PEM certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeyRef>,

    /// Secret key (in this namespace) holding the PEM certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

impl CertificateRef {
    /// How status and messages name the reference: `configMap/<name>/<key>` or
    /// `secret/<name>/<key>`.
    pub fn describe(&self) -> String {
        match (&self.config_map_key_ref, &self.secret_key_ref) {
            (Some(reference), _) => format!("configMap/{}/{}", reference.name, reference.key),
            (None, Some(reference)) => format!("secret/{}/{}", reference.name, reference.key),
            (None, None) => "an empty certificate reference".into(),
        }
    }
}

/// Labels and annotations for the credentials Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    /// Labels added to the Secret. Keys under `ciam.dev/` and `app.kubernetes.io/managed-by`
    /// are reserved for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = reserved_key_rule("label", OPERATOR_LABEL_CEL, "keys under ciam.dev/ and app.kubernetes.io/managed-by mark the Secrets it writes"))]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations added to the Secret. Keys under `ciam.dev/` are reserved for the
    /// operator's bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = reserved_key_rule("annotation", OPERATOR_ANNOTATION_CEL, "keys under ciam.dev/ hold its rotation bookkeeping"))]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A client secret provided by the user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExistingSecretRef {
    /// Name of the Secret in this namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// Key holding the client secret (default `CLIENT_SECRET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: Option<String>,
}

/// Rotation schedule of a generated client secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.every.matches('^([0-9]+(h|m|s))+$') || !self.overlap.matches('^([0-9]+(h|m|s))+$') || duration(self.overlap) < duration(self.every)").message("rotation.overlap must be shorter than rotation.every"))]
pub struct Rotation {
    /// How often a new secret is issued (for example `720h`); at least 1m.
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^([0-9]+(h|m|s))+$"))]
    #[x_kube(validation = Rule::new("!self.matches('^([0-9]+(h|m|s))+$') || duration(self) >= duration('1m')").message("rotation.every must be at least 1m"))]
    pub every: String,

    /// How long the previous secret keeps working after a new one is issued, so running
    /// instances can pick up the new one (for example `24h`); at least 10s.
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^([0-9]+(h|m|s))+$"))]
    #[x_kube(validation = Rule::new("!self.matches('^([0-9]+(h|m|s))+$') || duration(self) >= duration('10s')").message("rotation.overlap must be at least 10s"))]
    pub overlap: String,
}

/// Observed state of an app registration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRegistrationStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state, with a top-level `Ready` condition and PascalCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Client ID (UUID) of the app, stable for the life of this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,

    /// Name of the Secret holding the app's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// When the current client secret stops working (with rotation configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<Time>,

    /// The UserFlow that serves this app's sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_flow: Option<String>,

    /// The certificates of `spec.credentials.certificates` as read, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,
}

/// A certificate credential as the operator read it (public data only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// Where it was read: `configMap/<name>/<key>` or `secret/<name>/<key>`.
    pub source: String,

    /// SHA-256 thumbprint of the certificate (DER), base64url without padding: the value of
    /// the `x5t#S256` header of the client's assertions.
    pub thumbprint: String,

    /// SHA-1 thumbprint, base64url without padding: the `x5t` header older libraries send.
    pub thumbprint_sha1: String,

    /// When the certificate expires; after that it no longer authenticates the app.
    pub expires_at: Time,
}
