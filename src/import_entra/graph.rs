//! The Microsoft Graph v1.0 response shapes the import reads, and how a file's kind is told.
//!
//! Every field is optional: Graph leaves out what was not `$select`ed and writes `null` for
//! what is unset. Fields the import has no use for land in `other`, so that a value the
//! import cannot carry over is reported by name instead of being dropped unseen.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ImportError;

/// Keys of a Graph object that the typed fields did not take.
pub type Other = BTreeMap<String, Value>;

/// An `application` (`GET /applications`).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Application {
    pub id: Option<String>,
    pub app_id: Option<String>,
    pub display_name: Option<String>,
    pub identifier_uris: Option<Vec<String>>,
    pub web: Option<WebApplication>,
    pub spa: Option<RedirectUris>,
    pub public_client: Option<RedirectUris>,
    pub api: Option<ApiApplication>,
    pub app_roles: Option<Vec<AppRole>>,
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    pub key_credentials: Option<Vec<Value>>,
    pub password_credentials: Option<Vec<Value>>,
    #[serde(flatten)]
    pub other: Other,
}

/// `webApplication`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct WebApplication {
    pub redirect_uris: Option<Vec<String>>,
    pub logout_url: Option<String>,
    pub implicit_grant_settings: Option<ImplicitGrantSettings>,
    #[serde(flatten)]
    pub other: Other,
}

/// `implicitGrantSettings`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ImplicitGrantSettings {
    pub enable_id_token_issuance: Option<bool>,
    pub enable_access_token_issuance: Option<bool>,
}

/// `spaApplication` and `publicClientApplication`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectUris {
    pub redirect_uris: Option<Vec<String>>,
}

/// `apiApplication`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiApplication {
    pub oauth2_permission_scopes: Option<Vec<PermissionScope>>,
    #[serde(flatten)]
    pub other: Other,
}

/// `permissionScope`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionScope {
    pub id: Option<String>,
    pub value: Option<String>,
    pub is_enabled: Option<bool>,
    pub admin_consent_display_name: Option<String>,
    pub admin_consent_description: Option<String>,
    pub user_consent_display_name: Option<String>,
    pub user_consent_description: Option<String>,
}

/// `appRole`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AppRole {
    pub id: Option<String>,
    pub value: Option<String>,
}

/// `requiredResourceAccess`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct RequiredResourceAccess {
    pub resource_app_id: Option<String>,
    pub resource_access: Option<Vec<ResourceAccess>>,
}

/// `resourceAccess`: `type` is `Scope` (delegated) or `Role` (application permission).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceAccess {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub access_type: Option<String>,
}

/// `externalUsersSelfServiceSignUpEventsFlow` (`GET /identity/authenticationEventsFlows`).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct SignUpFlow {
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub conditions: Option<Conditions>,
    pub on_interactive_auth_flow_start: Option<InteractiveAuthFlowStart>,
    pub on_authentication_method_load_start: Option<MethodLoadStart>,
    pub on_attribute_collection: Option<AttributeCollection>,
    pub on_attribute_collection_start: Option<ExtensionHandler>,
    pub on_attribute_collection_submit: Option<ExtensionHandler>,
    pub on_user_create_start: Option<UserCreateStart>,
    #[serde(flatten)]
    pub other: Other,
}

/// `authenticationConditions`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Conditions {
    pub applications: Option<ConditionApplications>,
}

/// `authenticationConditionsApplications`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ConditionApplications {
    pub include_all_applications: Option<bool>,
    pub include_applications: Option<Vec<ConditionApplication>>,
}

/// `authenticationConditionApplication`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ConditionApplication {
    pub app_id: Option<String>,
}

/// `onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct InteractiveAuthFlowStart {
    pub is_sign_up_allowed: Option<bool>,
}

/// `onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct MethodLoadStart {
    pub identity_providers: Option<Vec<IdentityProvider>>,
}

/// `onAttributeCollectionExternalUsersSelfServiceSignUp`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeCollection {
    pub attribute_collection_page: Option<AttributeCollectionPage>,
    pub attributes: Option<Vec<FlowAttribute>>,
    #[serde(flatten)]
    pub other: Other,
}

/// `authenticationAttributeCollectionPage`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeCollectionPage {
    pub custom_strings_file_id: Option<String>,
    pub views: Option<Vec<AttributeCollectionView>>,
}

/// `authenticationAttributeCollectionPageViewConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeCollectionView {
    pub title: Option<String>,
    pub description: Option<String>,
    pub inputs: Option<Vec<AttributeInput>>,
}

/// `authenticationAttributeCollectionInputConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeInput {
    pub attribute: Option<String>,
    pub label: Option<String>,
    pub input_type: Option<String>,
    pub default_value: Option<String>,
    pub hidden: Option<bool>,
    pub editable: Option<bool>,
    pub required: Option<bool>,
    pub validation_reg_ex: Option<String>,
    pub options: Option<Vec<AttributeOption>>,
}

/// `authenticationAttributeCollectionOptionConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AttributeOption {
    pub label: Option<String>,
    pub value: Option<String>,
}

/// `identityUserFlowAttribute`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct FlowAttribute {
    pub id: Option<String>,
    pub description: Option<String>,
    pub user_flow_attribute_type: Option<String>,
    pub data_type: Option<String>,
}

/// `onAttributeCollectionStartCustomExtensionHandler` and its submit counterpart.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionHandler {
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub custom_extension: Option<ExtensionReference>,
    pub configuration: Option<OverwriteConfiguration>,
}

/// The `customExtension` a handler points at (present with `$expand`).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionReference {
    pub id: Option<String>,
}

/// `customExtensionOverwriteConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct OverwriteConfiguration {
    pub client_configuration: Option<ClientConfiguration>,
}

/// `onUserCreateStartExternalUsersSelfServiceSignUp`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct UserCreateStart {
    pub user_type_to_create: Option<String>,
    pub access_packages: Option<Vec<Value>>,
}

/// An `identityProviderBase` (built-in, social, OIDC, Apple …), as listed by
/// `GET /identity/identityProviders` or inside a flow's `onAuthenticationMethodLoadStart`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct IdentityProvider {
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub identity_provider_type: Option<String>,
    pub client_id: Option<String>,
    pub issuer: Option<String>,
    pub well_known_endpoint: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub client_authentication: Option<Value>,
    pub inbound_claim_mapping: Option<Value>,
}

/// A `customAuthenticationExtension` (`GET /identity/customAuthenticationExtensions`).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomExtension {
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub endpoint_configuration: Option<EndpointConfiguration>,
    pub authentication_configuration: Option<AuthenticationConfiguration>,
    pub client_configuration: Option<ClientConfiguration>,
}

/// `httpRequestEndpoint`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointConfiguration {
    pub target_url: Option<String>,
}

/// `azureAdTokenAuthentication`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationConfiguration {
    pub resource_id: Option<String>,
}

/// `customExtensionClientConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientConfiguration {
    pub timeout_in_milliseconds: Option<i64>,
    pub maximum_retries: Option<i64>,
}

/// `organizationalBranding` or one of its `organizationalBrandingLocalization`s.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct Branding {
    pub id: Option<String>,
    pub background_color: Option<String>,
    pub header_background_color: Option<String>,
    pub cdn_list: Option<Vec<String>>,
    pub background_image_relative_url: Option<String>,
    pub banner_logo_relative_url: Option<String>,
    pub header_logo_relative_url: Option<String>,
    pub square_logo_relative_url: Option<String>,
    pub square_logo_dark_relative_url: Option<String>,
    pub favicon_relative_url: Option<String>,
    #[serde(rename = "customCSSRelativeUrl")]
    pub custom_css_relative_url: Option<String>,
    pub sign_in_page_text: Option<String>,
    pub username_hint_text: Option<String>,
    pub custom_privacy_and_cookies_text: Option<String>,
    pub custom_privacy_and_cookies_url: Option<String>,
    pub custom_terms_of_use_text: Option<String>,
    pub custom_terms_of_use_url: Option<String>,
    pub custom_forgot_my_password_text: Option<String>,
    pub custom_account_reset_credentials_url: Option<String>,
    pub login_page_text_visibility_settings: Option<BTreeMap<String, Value>>,
    pub login_page_layout_configuration: Option<LayoutConfiguration>,
    #[serde(flatten)]
    pub other: Other,
}

/// `loginPageLayoutConfiguration`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct LayoutConfiguration {
    pub layout_template_type: Option<String>,
    pub is_header_shown: Option<bool>,
    pub is_footer_shown: Option<bool>,
}

/// What one input file turned out to hold.
#[derive(Debug, Clone)]
pub enum Document {
    Applications(Vec<Application>),
    Flows(Vec<SignUpFlow>),
    /// `…/authenticationEventsFlows('{id}')/conditions/applications/includeApplications`.
    FlowApplications {
        flow_id: String,
        apps: Vec<ConditionApplication>,
    },
    /// The custom extension one event of a flow calls:
    /// `…/authenticationEventsFlows('{id}')/…/onAttributeCollectionSubmit/…/customExtension`.
    FlowExtension {
        flow_id: String,
        /// `onAttributeCollectionStart` or `onAttributeCollectionSubmit`.
        event: String,
        extension: Box<CustomExtension>,
    },
    Branding(Box<Branding>),
    BrandingLocalizations(Vec<Branding>),
    IdentityProviders(Vec<IdentityProvider>),
    Extensions(Vec<CustomExtension>),
}

/// The kinds of Graph response this import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Applications,
    Flows,
    FlowApplications,
    FlowExtension,
    Branding,
    BrandingLocalizations,
    IdentityProviders,
    Extensions,
}

/// Whether a Graph collection says more pages follow (`@odata.nextLink`).
pub fn has_more_pages(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .is_some_and(|json| json.get("@odata.nextLink").is_some())
}

/// Reads one file's JSON text as a Graph response: a collection (`{"value": [...]}`) or a
/// single object, its kind told by `@odata.context`, then `@odata.type`, then its shape.
///
/// # Errors
/// `NotJson` for text that is not JSON, `UnknownShape` for JSON this import does not know,
/// `BadShape` (with the JSON path) for a known kind whose fields have the wrong types.
pub fn parse_document(file: &str, text: &str) -> Result<Document, ImportError> {
    let json: Value = serde_json::from_str(text).map_err(|source| ImportError::NotJson {
        file: file.to_string(),
        source,
    })?;
    let Value::Object(object) = &json else {
        return Err(unknown(file, "the top level is not a JSON object"));
    };
    let context = object
        .get("@odata.context")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (items, single) = match object.get("value") {
        Some(Value::Array(items)) => (items.clone(), false),
        // `GET /identity/authenticationEventsFlows/{id}` is documented with the object
        // wrapped in `value`.
        Some(value @ Value::Object(_)) => (vec![value.clone()], true),
        Some(_) => return Err(unknown(file, "`value` is neither a list nor an object")),
        None => (vec![json.clone()], true),
    };
    let kind = kind_from_context(context)
        .or_else(|| items.first().and_then(kind_from_item))
        .ok_or_else(|| {
            let resource = context
                .split_once("$metadata#")
                .map(|(_, resource)| resource);
            match resource {
                Some(resource) => unknown(file, &format!("@odata.context names {resource:?}")),
                None if items.is_empty() && !single => {
                    unknown(file, "an empty collection without @odata.context")
                }
                None => unknown(
                    file,
                    "no @odata.context, @odata.type or field tells which Graph resource it is",
                ),
            }
        })?;
    build(file, kind, context, items)
}

fn unknown(file: &str, why: &str) -> ImportError {
    ImportError::UnknownShape {
        file: file.to_string(),
        why: why.to_string(),
    }
}

fn build(
    file: &str,
    kind: Kind,
    context: &str,
    items: Vec<Value>,
) -> Result<Document, ImportError> {
    let list = Value::Array(items);
    Ok(match kind {
        Kind::Applications => Document::Applications(typed(file, list)?),
        Kind::Flows => Document::Flows(typed(file, list)?),
        Kind::FlowApplications => Document::FlowApplications {
            flow_id: flow_id_in_context(context).unwrap_or_default(),
            apps: typed(file, list)?,
        },
        Kind::FlowExtension => {
            let mut extensions: Vec<CustomExtension> = typed(file, list)?;
            let lower = context.to_ascii_lowercase();
            let event = ["onAttributeCollectionStart", "onAttributeCollectionSubmit"]
                .into_iter()
                .find(|event| lower.contains(&format!("/{}/", event.to_ascii_lowercase())));
            match (extensions.len(), event) {
                (1, Some(event)) => Document::FlowExtension {
                    flow_id: flow_id_in_context(context).unwrap_or_default(),
                    event: event.to_string(),
                    extension: Box::new(extensions.remove(0)),
                },
                _ => {
                    return Err(unknown(
                        file,
                        "a flow's custom extension of an unknown event",
                    ));
                }
            }
        }
        Kind::Branding => {
            let mut brandings: Vec<Branding> = typed(file, list)?;
            match brandings.len() {
                1 => Document::Branding(Box::new(brandings.remove(0))),
                _ => Document::BrandingLocalizations(brandings),
            }
        }
        Kind::BrandingLocalizations => Document::BrandingLocalizations(typed(file, list)?),
        Kind::IdentityProviders => Document::IdentityProviders(typed(file, list)?),
        Kind::Extensions => Document::Extensions(typed(file, list)?),
    })
}

fn typed<T: DeserializeOwned>(file: &str, list: Value) -> Result<Vec<T>, ImportError> {
    serde_path_to_error::deserialize(list).map_err(|error| ImportError::BadShape {
        file: file.to_string(),
        path: format!("value{}", error.path()).replace("value.[", "value["),
        why: error.inner().to_string(),
    })
}

/// The resource named after `$metadata#` in an `@odata.context`.
fn kind_from_context(context: &str) -> Option<Kind> {
    let (_, resource) = context.split_once("$metadata#")?;
    let resource = resource.trim_end_matches("/$entity");
    let resource = resource.to_ascii_lowercase();
    if resource.contains("authenticationeventsflows") && resource.ends_with("/includeapplications")
    {
        Some(Kind::FlowApplications)
    } else if resource.contains("authenticationeventsflows")
        && resource.contains("/customextension")
    {
        Some(Kind::FlowExtension)
    } else if resource.contains("authenticationeventsflows") {
        Some(Kind::Flows)
    } else if resource.ends_with("branding/localizations") {
        Some(Kind::BrandingLocalizations)
    } else if resource == "branding" || resource.ends_with("/branding") {
        Some(Kind::Branding)
    } else if resource.ends_with("identityproviders") {
        Some(Kind::IdentityProviders)
    } else if resource.ends_with("customauthenticationextensions") {
        Some(Kind::Extensions)
    } else if resource == "applications" || resource.ends_with("/applications") {
        Some(Kind::Applications)
    } else {
        None
    }
}

/// `0313cc37-…` out of `…/authenticationEventsFlows('0313cc37-…')/conditions/…`.
fn flow_id_in_context(context: &str) -> Option<String> {
    let lower = context.to_ascii_lowercase();
    let start = lower.find("authenticationeventsflows('")? + "authenticationEventsFlows('".len();
    let end = context[start..].find('\'')? + start;
    Some(context[start..end].to_string())
}

/// The short `@odata.type` name, lowercased: `socialidentityprovider`.
pub fn short_type(odata_type: Option<&str>) -> String {
    let name = odata_type.unwrap_or_default().trim_start_matches('#');
    let name = name.rsplit('.').next().unwrap_or_default();
    name.to_ascii_lowercase()
}

/// Tells an item's kind by its `@odata.type`, or else by fields only that kind has.
fn kind_from_item(item: &Value) -> Option<Kind> {
    let object = item.as_object()?;
    let odata_type = short_type(object.get("@odata.type").and_then(Value::as_str));
    let has = |key: &str| object.contains_key(key);
    match odata_type.as_str() {
        "application" => return Some(Kind::Applications),
        "externalusersselfservicesignupeventsflow" => return Some(Kind::Flows),
        "organizationalbranding" => return Some(Kind::Branding),
        "organizationalbrandinglocalization" => return Some(Kind::BrandingLocalizations),
        name if name.ends_with("identityprovider") || name.ends_with("federation") => {
            return Some(Kind::IdentityProviders);
        }
        name if name.ends_with("customextension") => return Some(Kind::Extensions),
        _ => {}
    }
    if has("appId") && (has("web") || has("spa") || has("publicClient") || has("api")) {
        Some(Kind::Applications)
    } else if has("onAuthenticationMethodLoadStart") || has("onInteractiveAuthFlowStart") {
        Some(Kind::Flows)
    } else if has("cdnList") || has("bannerLogoRelativeUrl") || has("signInPageText") {
        Some(Kind::Branding)
    } else if has("identityProviderType") {
        Some(Kind::IdentityProviders)
    } else if has("endpointConfiguration") {
        Some(Kind::Extensions)
    } else if has("appId") && object.len() == 1 {
        Some(Kind::FlowApplications)
    } else {
        None
    }
}
