//! The sign-up form's fields as the template shows them: labels (translated, Markdown links
//! allowed), controls, prefilled values and errors.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::user_flow::{InputType, UserAttribute};
use crate::runtime::domain::flows::{
    Submitted, escape_html, field_name, inline_markdown, max_length, plain_text, submitted_values,
};

/// One choice of a selection input, as the template shows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct OptionView {
    /// Text shown.
    pub label: String,
    /// Submitted value.
    pub value: String,
    /// Whether it is selected.
    pub checked: bool,
}

/// One input of the sign-up form, as the template shows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct FieldView {
    /// Form field name (`email`, or `attribute.<name>`).
    pub name: String,
    /// Element ID.
    pub id: String,
    /// Label as safe HTML (links allowed).
    pub label_html: String,
    /// Label as plain text (for the error summary).
    pub label_text: String,
    /// `email`, `text`, `number`, `radio`, `checkbox`, `multi` or `dropdown`.
    pub control: &'static str,
    /// Whether a value is required.
    pub required: bool,
    /// Current text value.
    pub value: String,
    /// Whether a single checkbox is ticked.
    pub checked: bool,
    /// Choices of selection inputs.
    pub options: Vec<OptionView>,
    /// `autocomplete` token, if any.
    pub autocomplete: &'static str,
    /// Error message shown next to the field.
    pub error: Option<String>,
    /// Most characters a text value may have (the server checks it too).
    pub max_length: usize,
}

/// Where the sign-up page finds an attribute's label.
pub struct FieldLabels<'a> {
    /// The label in the page language set by the tenant's Branding, if any.
    pub translated: &'a dyn Fn(&str) -> Option<String>,
    /// The built-in label (for attributes whose flow entry has none).
    pub built_in: &'a dyn Fn(&str) -> String,
}

fn control(input_type: InputType, name: &str) -> &'static str {
    match input_type {
        _ if name == "email" => "email",
        InputType::Text => "text",
        InputType::Number => "number",
        InputType::RadioSingleSelect => "radio",
        InputType::CheckboxSingleSelect | InputType::Boolean => "checkbox",
        InputType::CheckboxMultiSelect => "multi",
        InputType::Dropdown => "dropdown",
    }
}

fn autocomplete(name: &str) -> &'static str {
    match name {
        "email" => "email",
        "displayName" => "name",
        "givenName" => "given-name",
        "surname" => "family-name",
        "city" => "address-level2",
        "state" => "address-level1",
        "country" => "country-name",
        "postalCode" => "postal-code",
        "streetAddress" => "street-address",
        "jobTitle" => "organization-title",
        _ => "off",
    }
}

/// Builds the visible fields of the sign-up form, prefilled with `submitted` values (or the
/// attributes' defaults when nothing was submitted yet) and with `errors` next to them.
/// `optional_suffix` is appended to labels of optional fields.
pub fn field_views(
    attributes: &[UserAttribute],
    submitted: Option<&Submitted>,
    errors: &BTreeMap<String, String>,
    optional_suffix: &str,
    labels: &FieldLabels<'_>,
) -> Vec<FieldView> {
    attributes
        .iter()
        .filter(|attribute| !attribute.hidden)
        .map(|attribute| {
            let name = field_name(&attribute.name);
            let values: Vec<&str> = match submitted {
                Some(submitted) => submitted_values(submitted, &name),
                None => attribute.default_value.as_deref().into_iter().collect(),
            };
            let control = control(attribute.input_type, &attribute.name);
            // A translation from the Branding's strings beats the flow's own label, which
            // beats the built-in one: the flow's label is written in one language.
            let label = (labels.translated)(&attribute.name)
                .or_else(|| attribute.label.clone())
                .unwrap_or_else(|| (labels.built_in)(&attribute.name));
            // The email address is always required: it is the account's identifier.
            let required = attribute.required || attribute.name == "email";
            let mut label_html = inline_markdown(&label);
            if !required && control != "checkbox" {
                label_html.push_str(&escape_html(optional_suffix));
            }
            let multi_defaults: Vec<&str> = values
                .iter()
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .collect();
            FieldView {
                id: format!("field-{}", attribute.name),
                label_text: plain_text(&label),
                label_html,
                control,
                required,
                value: values.first().copied().unwrap_or_default().to_string(),
                checked: control == "checkbox"
                    && values.first().is_some_and(|value| *value == "true"),
                options: attribute
                    .options
                    .iter()
                    .flatten()
                    .map(|option| OptionView {
                        label: option.label.clone(),
                        value: option.value.clone(),
                        checked: multi_defaults.contains(&option.value.as_str()),
                    })
                    .collect(),
                autocomplete: autocomplete(&attribute.name),
                error: errors.get(&attribute.name).cloned(),
                max_length: max_length(&attribute.name),
                name,
            }
        })
        .collect()
}
