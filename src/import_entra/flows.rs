//! `identity/authenticationEventsFlows` (`externalUsersSelfServiceSignUpEventsFlow`) →
//! `UserFlow`s: sign-in methods from `onAuthenticationMethodLoadStart`, sign-up attributes from
//! `onAttributeCollection`, apps from `conditions.applications` (and the flow's separately
//! exported `includeApplications` list), extensions from the attribute-collection events.
//!
//! Custom attributes (`extension_<appId>_<name>`) become the tenant's `customAttributes` under
//! `<name>`.

use std::collections::BTreeMap;

use crate::api::UserFlowSpec;
use crate::api::customer_tenant::{AttributeDataType, CustomAttribute};
use crate::api::user_flow::{
    AttributeOption, BUILT_IN_ATTRIBUTES, Extensions, InputType, SignIn, UserAttribute, UserFlow,
};

use super::checks::{
    UniqueNames, is_attribute_name, is_display_name, is_plain_text, kubernetes_name, present,
};
use super::graph;
use super::{Context, Export, extensions, identity_providers};

/// Graph fields of a flow that have no meaning here.
const IGNORED: &[&str] = &["id", "priority", "displayName"];

/// Maps every flow; a flow none of whose sign-in methods has a counterpart is left out.
pub(super) fn map_all(context: &mut Context, export: &Export) -> Vec<UserFlow> {
    let (flows, flow_applications) = (&export.flows, &export.flow_applications);
    let mut names = UniqueNames::default();
    let mut mapped = Vec::new();
    for (index, flow) in flows.iter().enumerate() {
        let path = format!("identity/authenticationEventsFlows[{index}]");
        let listed = present(&flow.id)
            .and_then(|id| flow_applications.get(id))
            .cloned()
            .unwrap_or_default();
        let flow = &with_exported_extensions(flow, &export.flow_extensions);
        if let Some(spec) = map_one(context, &path, flow, &listed) {
            let name = names.take(&kubernetes_name(&spec.display_name, "user-flow"));
            mapped.push(UserFlow {
                metadata: context.metadata(&name),
                spec,
                status: None,
            });
        }
    }
    for flow_id in flow_applications.keys() {
        if !flows
            .iter()
            .any(|flow| flow.id.as_deref() == Some(flow_id.as_str()))
        {
            context.skipped(
                format!("identity/authenticationEventsFlows('{flow_id}')/conditions/applications/includeApplications"),
                "not imported: the flow it belongs to is not in the export",
            );
        }
    }
    mapped
}

fn map_one(
    context: &mut Context,
    path: &str,
    flow: &graph::SignUpFlow,
    listed_app_ids: &[String],
) -> Option<UserFlowSpec> {
    let methods = sign_in_methods(context, path, flow);
    if methods.is_empty() {
        context.skipped(
            path,
            "the flow is not imported: none of its sign-in methods has a counterpart",
        );
        return None;
    }
    let display_name = present(&flow.display_name)
        .filter(|name| is_display_name(name, 256))
        .unwrap_or("Sign up and sign in")
        .to_string();
    report_flow_settings(context, path, flow);
    let applications = applications(context, path, flow, listed_app_ids);
    let attributes = attributes(context, &format!("{path}.onAttributeCollection"), flow);
    let extensions = flow_extensions(context, path, flow);
    Some(UserFlowSpec {
        tenant_ref: crate::api::TenantRef {
            name: context.tenant.clone(),
            namespace: None,
        },
        display_name,
        applications: (!applications.is_empty()).then_some(applications),
        sign_in: SignIn { methods },
        attributes: (!attributes.is_empty()).then_some(attributes),
        token_claims: None,
        mfa: None,
        extensions,
    })
}

/// `emailPassword`, `emailOtp` and identity provider names, in the export's order.
fn sign_in_methods(context: &mut Context, path: &str, flow: &graph::SignUpFlow) -> Vec<String> {
    let providers = flow
        .on_authentication_method_load_start
        .as_ref()
        .and_then(|start| start.identity_providers.as_ref());
    let mut methods: Vec<String> = Vec::new();
    for (index, provider) in providers.into_iter().flatten().enumerate() {
        let provider_path =
            format!("{path}.onAuthenticationMethodLoadStart.identityProviders[{index}]");
        let method = match identity_providers::local_method(provider) {
            Some(local) => Some(local.to_string()),
            None => identity_providers::method_name(context, &provider_path, provider),
        };
        if let Some(method) = method
            && !methods.contains(&method)
            && methods.len() < 10
        {
            methods.push(method);
        }
    }
    methods
}

/// Notes on flow-level settings that have no counterpart.
fn report_flow_settings(context: &mut Context, path: &str, flow: &graph::SignUpFlow) {
    if present(&flow.description).is_some() {
        context.skipped(
            format!("{path}.description"),
            "not imported (UserFlow has no description)",
        );
    }
    let sign_up = flow.on_interactive_auth_flow_start.as_ref();
    if sign_up.and_then(|start| start.is_sign_up_allowed) == Some(false) {
        context.skipped(
            format!("{path}.onInteractiveAuthFlowStart.isSignUpAllowed"),
            "not imported: sign-up cannot be switched off per flow (Branding's \
             loginPageTextVisibilitySettings.hideSignUp only hides the link)",
        );
    }
    if let Some(create) = &flow.on_user_create_start {
        if present(&create.user_type_to_create).is_some_and(|kind| kind != "member") {
            context.skipped(
                format!("{path}.onUserCreateStart.userTypeToCreate"),
                "not imported: every account is a customer account",
            );
        }
        if create
            .access_packages
            .as_ref()
            .is_some_and(|packages| !packages.is_empty())
        {
            context.skipped(
                format!("{path}.onUserCreateStart.accessPackages"),
                "access packages are not imported",
            );
        }
    }
    context.report_other(path, &flow.other, IGNORED, "UserFlow");
}

/// Object names of the apps the flow serves; an app already served by an earlier flow stays
/// there.
fn applications(
    context: &mut Context,
    path: &str,
    flow: &graph::SignUpFlow,
    listed_app_ids: &[String],
) -> Vec<String> {
    let conditions = flow
        .conditions
        .as_ref()
        .and_then(|conditions| conditions.applications.as_ref());
    if conditions.and_then(|applications| applications.include_all_applications) == Some(true) {
        context.skipped(
            format!("{path}.conditions.applications.includeAllApplications"),
            "not imported: a UserFlow lists its applications by name",
        );
    }
    let embedded = conditions
        .and_then(|applications| applications.include_applications.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|application| application.app_id.clone());
    let mut names = Vec::new();
    for app_id in embedded.chain(listed_app_ids.iter().cloned()) {
        let app_path = format!("{path}.conditions.applications.includeApplications('{app_id}')");
        let Some(name) = context.app_names.get(&app_id).cloned() else {
            context.skipped(
                app_path,
                "not imported: that application is not in the export",
            );
            continue;
        };
        if names.contains(&name) {
            continue;
        }
        if !context.apps_in_flows.insert(app_id) {
            context.skipped(
                app_path,
                format!("not imported: {name} already belongs to an earlier user flow"),
            );
            continue;
        }
        names.push(name);
    }
    names
}

/// The attribute page's inputs, in display order.
fn attributes(context: &mut Context, path: &str, flow: &graph::SignUpFlow) -> Vec<UserAttribute> {
    let Some(collection) = &flow.on_attribute_collection else {
        return Vec::new();
    };
    let definitions = collection.attributes.clone().unwrap_or_default();
    let page = collection.attribute_collection_page.as_ref();
    if page.is_some_and(|page| present(&page.custom_strings_file_id).is_some()) {
        context.skipped(
            format!("{path}.attributeCollectionPage.customStringsFileId"),
            "not imported: put the page's texts in the Branding's strings",
        );
    }
    let mut attributes: Vec<UserAttribute> = Vec::new();
    for (view_index, view) in page
        .and_then(|page| page.views.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let view_path = format!("{path}.attributeCollectionPage.views[{view_index}]");
        if present(&view.title).is_some() || present(&view.description).is_some() {
            context.skipped(
                format!("{view_path}.title"),
                "not imported: set the page title with the Branding string AttributeCollection_Title",
            );
        }
        for (index, input) in view.inputs.iter().flatten().enumerate() {
            let input_path = format!("{view_path}.inputs[{index}]");
            if let Some(attribute) = attribute(context, &input_path, input, &definitions)
                && !attributes.iter().any(|known| known.name == attribute.name)
                && attributes.len() < 50
            {
                attributes.push(attribute);
            }
        }
    }
    context.report_other(path, &collection.other, &["accessPackages"], "UserFlow");
    attributes
}

/// One input of the attribute page, or `None` (with a note) when the CRD would refuse it.
fn attribute(
    context: &mut Context,
    path: &str,
    input: &graph::AttributeInput,
    definitions: &[graph::FlowAttribute],
) -> Option<UserAttribute> {
    let id = present(&input.attribute).unwrap_or_default();
    let name = attribute_name(context, path, id, definitions)?;
    let label = present(&input.label).and_then(|label| {
        let fits = is_plain_text(label, 1024);
        if !fits {
            context.skipped(
                format!("{path}.label"),
                "not imported: more than 1024 characters or hidden characters",
            );
        }
        fits.then(|| label.to_string())
    });
    if name == "email" {
        // The email address is always collected and verified first; Entra lists it as a
        // hidden, prefilled input, which the CRD expresses as a plain visible text input.
        return Some(plain_attribute(name, label, InputType::Text));
    }
    let input_type = input_type(context, path, input.input_type.as_deref())?;
    let mut attribute = plain_attribute(name, label, input_type);
    attribute.required = input.required.unwrap_or(false);
    attribute.hidden = input.hidden.unwrap_or(false);
    attribute.editable = input.editable.unwrap_or(true);
    attribute.default_value = present(&input.default_value)
        .filter(|value| value.chars().count() <= 1024)
        .map(str::to_string);
    attribute.validation_reg_ex = present(&input.validation_reg_ex).and_then(|pattern| {
        let compiles = pattern.len() <= 512 && regex::Regex::new(pattern).is_ok();
        if !compiles {
            context.skipped(
                format!("{path}.validationRegEx"),
                "not imported: not a valid RE2 expression of at most 512 characters",
            );
        }
        compiles.then(|| pattern.to_string())
    });
    attribute.options = options(context, path, input, input_type)?;
    consistent(context, path, attribute)
}

fn plain_attribute(name: String, label: Option<String>, input_type: InputType) -> UserAttribute {
    UserAttribute {
        name,
        label,
        input_type,
        required: false,
        options: None,
        validation_reg_ex: None,
        default_value: None,
        hidden: false,
        editable: true,
    }
}

/// A built-in attribute's name, or a custom attribute's (`extension_<appId>_<name>` →
/// `<name>`), registered with the tenant.
fn attribute_name(
    context: &mut Context,
    path: &str,
    id: &str,
    definitions: &[graph::FlowAttribute],
) -> Option<String> {
    if BUILT_IN_ATTRIBUTES
        .iter()
        .any(|(built_in, _)| *built_in == id)
    {
        return Some(id.to_string());
    }
    let definition = definitions
        .iter()
        .find(|definition| definition.id.as_deref() == Some(id));
    let custom = definition.and_then(|definition| definition.user_flow_attribute_type.as_deref())
        == Some("custom")
        || id.starts_with("extension_");
    let name = custom_name(id);
    let shadows = BUILT_IN_ATTRIBUTES
        .iter()
        .any(|(built_in, _)| *built_in == name)
        || name == "password";
    if !custom || !is_attribute_name(name) || shadows {
        context.skipped(path, format!("attribute {id:?} is not imported: it is neither built in nor a custom attribute with a plain name"));
        return None;
    }
    let data_type = match definition.and_then(|definition| definition.data_type.as_deref()) {
        None | Some("string") => AttributeDataType::String,
        Some("boolean") => AttributeDataType::Boolean,
        Some("int64") => AttributeDataType::Int,
        Some(other) => {
            context.skipped(
                path,
                format!("attribute {id:?} is not imported: {other} attributes have no counterpart"),
            );
            return None;
        }
    };
    if !context
        .custom_attributes
        .iter()
        .any(|known| known.name == name)
        && context.custom_attributes.len() < 100
    {
        let description = definition
            .and_then(|definition| present(&definition.description))
            .filter(|text| text.chars().count() <= 256)
            .map(str::to_string);
        context.custom_attributes.push(CustomAttribute {
            name: name.to_string(),
            data_type,
            description,
        });
    }
    Some(name.to_string())
}

/// `Favoritecolor` out of `extension_6ea3bc85aec24b1c92ff4a117afb6621_Favoritecolor`.
fn custom_name(id: &str) -> &str {
    match id
        .strip_prefix("extension_")
        .and_then(|rest| rest.split_once('_'))
    {
        Some((app, name))
            if app.len() == 32 && app.bytes().all(|byte| byte.is_ascii_hexdigit()) =>
        {
            name
        }
        _ => id,
    }
}

fn input_type(context: &mut Context, path: &str, graph_type: Option<&str>) -> Option<InputType> {
    Some(match graph_type.unwrap_or("text") {
        "text" | "textBox" | "emailBox" => InputType::Text,
        "radioSingleSelect" => InputType::RadioSingleSelect,
        "checkboxSingleSelect" => InputType::CheckboxSingleSelect,
        "checkboxMultiSelect" => InputType::CheckboxMultiSelect,
        "boolean" => InputType::Boolean,
        "dropdownSingleSelect" | "dropdown" => InputType::Dropdown,
        "number" => InputType::Number,
        other => {
            context.skipped(
                format!("{path}.inputType"),
                format!("the attribute is not imported: input type {other:?} has no counterpart"),
            );
            return None;
        }
    })
}

/// The options of a selection input; `Err`-like `None` when a selection input has none.
fn options(
    context: &mut Context,
    path: &str,
    input: &graph::AttributeInput,
    input_type: InputType,
) -> Option<Option<Vec<AttributeOption>>> {
    let selection = matches!(
        input_type,
        InputType::RadioSingleSelect | InputType::CheckboxMultiSelect | InputType::Dropdown
    );
    if !selection {
        return Some(None);
    }
    let mut options: Vec<AttributeOption> = Vec::new();
    for (index, option) in input.options.iter().flatten().enumerate() {
        let (label, value) = (present(&option.label), present(&option.value));
        match (label, value) {
            (Some(label), Some(value))
                if is_display_name(label, 256) && value.chars().count() <= 256 =>
            {
                if !options.iter().any(|known| known.value == value) && options.len() < 500 {
                    options.push(AttributeOption {
                        label: label.to_string(),
                        value: value.to_string(),
                    });
                }
            }
            _ => context.skipped(
                format!("{path}.options[{index}]"),
                "not imported: an option needs a plain label and a value of at most 256 characters",
            ),
        }
    }
    if options.is_empty() {
        context.skipped(
            path,
            "the attribute is not imported: a selection input needs at least one option",
        );
        return None;
    }
    Some(Some(options))
}

/// The CRD's rules that tie an attribute's fields together.
fn consistent(
    context: &mut Context,
    path: &str,
    attribute: UserAttribute,
) -> Option<UserAttribute> {
    let consent = matches!(
        attribute.input_type,
        InputType::Boolean | InputType::CheckboxSingleSelect
    );
    let preticked = attribute.default_value.as_deref() == Some("true");
    if attribute.required && consent && (attribute.hidden || preticked) {
        context.skipped(
            path,
            "the attribute is not imported: a required checkbox must be shown and not pre-ticked",
        );
        return None;
    }
    if attribute.required && attribute.hidden && attribute.default_value.is_none() {
        context.skipped(
            path,
            "the attribute is not imported: a required hidden attribute needs a defaultValue",
        );
        return None;
    }
    Some(attribute)
}

/// The custom extensions of the attribute-collection events.
fn flow_extensions(
    context: &mut Context,
    path: &str,
    flow: &graph::SignUpFlow,
) -> Option<Extensions> {
    let mut mapped = Extensions::default();
    if let Some(handler) = &flow.on_attribute_collection_start {
        mapped.on_attribute_collection_start = extensions::for_handler(
            context,
            &format!("{path}.onAttributeCollectionStart"),
            handler,
        );
    }
    if let Some(handler) = &flow.on_attribute_collection_submit {
        mapped.on_attribute_collection_submit = extensions::for_handler(
            context,
            &format!("{path}.onAttributeCollectionSubmit"),
            handler,
        );
    }
    (mapped != Extensions::default()).then_some(mapped)
}

/// The flow with each attribute-collection handler pointing at the extension exported for that
/// event separately, when the flow export itself does not name it.
fn with_exported_extensions(
    flow: &graph::SignUpFlow,
    exported: &BTreeMap<(String, String), String>,
) -> graph::SignUpFlow {
    let mut flow = flow.clone();
    let flow_id = flow.id.clone().unwrap_or_default();
    for (event, handler) in [
        (
            "onAttributeCollectionStart",
            &mut flow.on_attribute_collection_start,
        ),
        (
            "onAttributeCollectionSubmit",
            &mut flow.on_attribute_collection_submit,
        ),
    ] {
        let Some(id) = exported.get(&(flow_id.clone(), event.to_string())) else {
            continue;
        };
        let handler = handler.get_or_insert_with(graph::ExtensionHandler::default);
        if handler
            .custom_extension
            .as_ref()
            .and_then(|reference| reference.id.as_ref())
            .is_none()
        {
            handler.custom_extension = Some(graph::ExtensionReference {
                id: Some(id.clone()),
            });
        }
    }
    flow
}
