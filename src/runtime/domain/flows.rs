//! Applies user flows: which flow serves a client, what its sign-up form collects and
//! checks, and which claims it adds to tokens.
//!
//! Everything here is pure except [`flow_for_client`], which reads the tenant's flows.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::customer_tenant::{AttributeDataType, CustomAttribute};
use crate::api::user_flow::{BUILT_IN_ATTRIBUTES, InputType, MfaMode, UserAttribute};

use crate::contract::UserFlowSpec;
use crate::runtime::store::{Store, StoreError};

pub use crate::contract::user_flow::{METHOD_EMAIL_OTP, METHOD_EMAIL_PASSWORD, RESERVED_CLAIMS};

/// Longest value of a custom text attribute.
const CUSTOM_TEXT_MAX: usize = 1024;

/// The user flow that lists `client_id`, with its name.
///
/// # Errors
/// Storage failure or a stored flow that no longer parses.
pub async fn flow_for_client(
    store: &Store,
    tenant_id: &str,
    client_id: &str,
) -> Result<Option<(String, UserFlowSpec)>, StoreError> {
    Ok(store
        .user_flows(tenant_id)
        .await?
        .iter()
        .find(|(_, spec)| spec.applications.iter().any(|id| id == client_id))
        .map(|(name, spec)| (name.clone(), UserFlowSpec::clone(spec))))
}

impl UserFlowSpec {
    /// Whether the flow offers `method` (`emailPassword`, `emailOtp` or a provider name).
    pub fn offers(&self, method: &str) -> bool {
        self.sign_in.methods.iter().any(|offered| offered == method)
    }

    /// Whether a one-time passcode is required after the first factor.
    pub fn requires_mfa(&self) -> bool {
        self.mfa
            .as_ref()
            .is_some_and(|mfa| mfa.email_otp == MfaMode::Required)
    }

    /// The attributes sign-up collects, in order; `email` comes first unless the flow places
    /// it elsewhere, because it is always collected.
    pub fn sign_up_attributes(&self) -> Vec<UserAttribute> {
        let mut attributes = self.attributes.clone().unwrap_or_default();
        if !attributes.iter().any(|attribute| attribute.name == "email") {
            attributes.insert(0, plain_attribute("email", true));
        }
        attributes
    }
}

fn plain_attribute(name: &str, required: bool) -> UserAttribute {
    UserAttribute {
        name: name.to_string(),
        label: None,
        input_type: InputType::Text,
        required,
        options: None,
        validation_reg_ex: None,
        default_value: None,
        hidden: false,
        editable: true,
    }
}

/// Default English label of a built-in attribute, or the attribute name itself.
pub fn default_label(name: &str) -> String {
    match name {
        "email" => "Email address",
        "displayName" => "Display name",
        "givenName" => "Given name",
        "surname" => "Surname",
        "city" => "City",
        "country" => "Country or region",
        "postalCode" => "Postal code",
        "state" => "State or province",
        "streetAddress" => "Street address",
        "jobTitle" => "Job title",
        other => other,
    }
    .to_string()
}

/// Escapes text for HTML.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Renders the small Markdown subset labels and branding texts allow — `[text](https://…)`
/// links, `**bold**` and `*italic*` — as HTML; everything else is escaped. Links must be
/// `https:` (or `http:`) and open in a new tab without an opener.
pub fn inline_markdown(text: &str) -> String {
    let mut html = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[')
            && let Some((label, tail)) = after.split_once("](")
            && !label.contains('[')
            && let Some((url, remainder)) = tail.split_once(')')
            && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(char::is_whitespace)
        {
            html.push_str(&format!(
                "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a>",
                escape_html(url),
                inline_emphasis(label)
            ));
            rest = remainder;
            continue;
        }
        let next = rest[1..]
            .find('[')
            .map_or(rest.len(), |position| position + 1);
        html.push_str(&inline_emphasis(&rest[..next]));
        rest = &rest[next..];
    }
    html
}

/// The text of the Markdown subset without its markup: link texts, no emphasis markers.
pub fn plain_text(markdown: &str) -> String {
    let mut text = String::new();
    let mut rest = markdown;
    while let Some(start) = rest.find('[') {
        text.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.split_once("](").and_then(|(label, tail)| {
            tail.split_once(')')
                .map(|(_, remainder)| (label, remainder))
        }) {
            Some((label, remainder)) if !label.contains('[') => {
                text.push_str(label);
                rest = remainder;
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.replace("**", "").replace('*', "")
}

fn inline_emphasis(text: &str) -> String {
    let mut html = String::new();
    let mut rest = text;
    'characters: while let Some(character) = rest.chars().next() {
        for (marker, tag) in [("**", "strong"), ("*", "em")] {
            if let Some(after) = rest.strip_prefix(marker)
                && let Some(end) = after.find(marker)
                && end > 0
                && !after.starts_with(' ')
            {
                html.push_str(&format!("<{tag}>{}</{tag}>", escape_html(&after[..end])));
                rest = &after[end + marker.len()..];
                continue 'characters;
            }
        }
        html.push_str(&escape_html(&character.to_string()));
        rest = &rest[character.len_utf8()..];
    }
    html
}

/// Form field name of an attribute.
pub fn field_name(attribute: &str) -> String {
    if attribute == "email" {
        "email".to_string()
    } else {
        format!("attribute.{attribute}")
    }
}

/// Values submitted with a form: every `(name, value)` pair in order.
pub type Submitted = [(String, String)];

pub(crate) fn submitted_values<'a>(submitted: &'a Submitted, name: &str) -> Vec<&'a str> {
    submitted
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

/// Why a submitted attribute value was refused (a key into the page strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// A required value is missing.
    Required,
    /// A required checkbox (such as consent to terms) is not ticked.
    MustAccept,
    /// The value is longer than allowed.
    TooLong,
    /// The value does not match the attribute's pattern.
    Pattern,
    /// Not a whole number.
    NotANumber,
    /// Not one of the offered options.
    UnknownOption,
    /// Not an email address.
    InvalidEmail,
}

impl FieldProblem {
    /// The key of the message in the page strings.
    pub fn message_key(self) -> &'static str {
        match self {
            FieldProblem::Required => "error_required",
            FieldProblem::MustAccept => "error_must_accept",
            FieldProblem::TooLong => "error_too_long",
            FieldProblem::Pattern => "error_pattern",
            FieldProblem::NotANumber => "error_number",
            FieldProblem::UnknownOption => "error_option",
            FieldProblem::InvalidEmail => "error_email",
        }
    }
}

/// What a valid sign-up submission yields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectedAttributes {
    /// Normalised email address.
    pub email: String,
    /// Display name, if collected.
    pub display_name: Option<String>,
    /// Every other attribute's value (strings, numbers, booleans, string arrays).
    pub values: BTreeMap<String, Value>,
    /// Required single checkboxes the customer ticked (consents), recorded with their time.
    pub consents: Vec<String>,
}

/// Normalises an email address for storage and lookup.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether `email` looks like an address (the passcode proves it is one).
pub fn is_plausible_email(email: &str) -> bool {
    email.len() <= 256
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && !domain.contains('@')
        })
}

/// Most characters a value of attribute `name` may have.
pub(crate) fn max_length(name: &str) -> usize {
    BUILT_IN_ATTRIBUTES
        .iter()
        .find(|(built_in, _)| *built_in == name)
        .map_or(CUSTOM_TEXT_MAX, |(_, length)| *length)
}

fn anchored_match(pattern: &str, value: &str) -> bool {
    // An invalid pattern refuses nothing: the administrator's mistake must not lock every
    // customer out (the admin API reports it on PUT).
    regex::Regex::new(&format!("^(?:{pattern})$")).map_or(true, |regex| regex.is_match(value))
}

/// The trimmed, non-empty values submitted for an attribute (its default when hidden).
fn raw_values(attribute: &UserAttribute, submitted: &Submitted) -> Vec<String> {
    if attribute.hidden {
        attribute.default_value.iter().cloned().collect()
    } else {
        submitted_values(submitted, &field_name(&attribute.name))
            .into_iter()
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .collect()
    }
}

/// A single checkbox: a required one must be ticked.
fn checkbox_value(
    attribute: &UserAttribute,
    first: Option<&str>,
) -> Result<Option<Value>, FieldProblem> {
    let ticked = first == Some("true");
    if attribute.required && !ticked {
        Err(FieldProblem::MustAccept)
    } else {
        Ok(Some(Value::Bool(ticked)))
    }
}

/// A multi-select: every value one of the options.
fn multi_select_value(
    attribute: &UserAttribute,
    options: &[&str],
    raw: &[String],
) -> Result<Option<Value>, FieldProblem> {
    if raw.iter().any(|value| !options.contains(&value.as_str())) {
        Err(FieldProblem::UnknownOption)
    } else if attribute.required && raw.is_empty() {
        Err(FieldProblem::Required)
    } else {
        Ok((!raw.is_empty())
            .then(|| Value::Array(raw.iter().cloned().map(Value::String).collect())))
    }
}

/// A radio group or dropdown: one of the options.
fn single_select_value(
    attribute: &UserAttribute,
    options: &[&str],
    first: Option<String>,
) -> Result<Option<Value>, FieldProblem> {
    match first {
        None if attribute.required => Err(FieldProblem::UnknownOption),
        None => Ok(None),
        Some(value) if options.contains(&value.as_str()) => Ok(Some(Value::String(value))),
        Some(_) => Err(FieldProblem::UnknownOption),
    }
}

/// A number field.
fn number_value(
    attribute: &UserAttribute,
    first: Option<String>,
) -> Result<Option<Value>, FieldProblem> {
    match first {
        None if attribute.required => Err(FieldProblem::Required),
        None => Ok(None),
        Some(value) => value
            .parse::<i64>()
            .map(|number| Some(Value::from(number)))
            .map_err(|_| FieldProblem::NotANumber),
    }
}

/// A text field: length, email shape, the attribute's pattern, then the custom attribute's
/// data type.
fn text_value(
    attribute: &UserAttribute,
    custom: &[CustomAttribute],
    first: Option<String>,
) -> Result<Option<Value>, FieldProblem> {
    let name = attribute.name.as_str();
    match first {
        None if attribute.required || name == "email" => Err(FieldProblem::Required),
        None => Ok(None),
        Some(value) if value.chars().count() > max_length(name) => Err(FieldProblem::TooLong),
        Some(value) if name == "email" && !is_plausible_email(&value) => {
            Err(FieldProblem::InvalidEmail)
        }
        Some(value)
            if attribute
                .validation_reg_ex
                .as_deref()
                .is_some_and(|pattern| !anchored_match(pattern, &value)) =>
        {
            Err(FieldProblem::Pattern)
        }
        Some(value) => {
            let data_type = custom
                .iter()
                .find(|custom| custom.name == name)
                .map(|custom| custom.data_type);
            match data_type {
                Some(AttributeDataType::Int) => value
                    .parse::<i64>()
                    .map(|number| Some(Value::from(number)))
                    .map_err(|_| FieldProblem::NotANumber),
                Some(AttributeDataType::Boolean) => {
                    Ok(Some(Value::Bool(matches!(value.as_str(), "true" | "yes"))))
                }
                _ => Ok(Some(Value::String(value))),
            }
        }
    }
}

/// Checks one attribute's submitted value; `None` when an optional attribute is left empty.
fn attribute_value(
    attribute: &UserAttribute,
    custom: &[CustomAttribute],
    submitted: &Submitted,
) -> Result<Option<Value>, FieldProblem> {
    let raw = raw_values(attribute, submitted);
    let options: Vec<&str> = attribute
        .options
        .iter()
        .flatten()
        .map(|option| option.value.as_str())
        .collect();
    let first = raw.first().cloned();
    match attribute.input_type {
        InputType::CheckboxSingleSelect | InputType::Boolean => {
            checkbox_value(attribute, first.as_deref())
        }
        InputType::CheckboxMultiSelect => multi_select_value(attribute, &options, &raw),
        InputType::RadioSingleSelect | InputType::Dropdown => {
            single_select_value(attribute, &options, first)
        }
        InputType::Number => number_value(attribute, first),
        InputType::Text => text_value(attribute, custom, first),
    }
}

/// Checks a submitted sign-up form against the flow's attributes. Returns the collected
/// values, or the problem of every refused attribute by attribute name.
///
/// # Errors
/// The problems, by attribute name.
pub fn collect_attributes(
    attributes: &[UserAttribute],
    custom: &[CustomAttribute],
    submitted: &Submitted,
) -> Result<CollectedAttributes, BTreeMap<String, FieldProblem>> {
    let mut collected = CollectedAttributes::default();
    let mut problems = BTreeMap::new();
    for attribute in attributes {
        let name = attribute.name.as_str();
        match attribute_value(attribute, custom, submitted) {
            Err(problem) => {
                problems.insert(name.to_string(), problem);
            }
            Ok(None) => {}
            Ok(Some(value)) => {
                // A required checkbox is a consent (terms, privacy); an optional one, such as
                // a newsletter, is only a value.
                let single_checkbox = matches!(
                    attribute.input_type,
                    InputType::CheckboxSingleSelect | InputType::Boolean
                );
                if single_checkbox && attribute.required && value == Value::Bool(true) {
                    collected.consents.push(name.to_string());
                }
                match name {
                    "email" => {
                        collected.email = normalize_email(value.as_str().unwrap_or_default());
                    }
                    "displayName" => collected.display_name = value.as_str().map(str::to_string),
                    _ => {
                        collected.values.insert(name.to_string(), value);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(collected)
    } else {
        Err(problems)
    }
}

/// The claims a flow's `tokenClaims` add for a user: each mapped attribute that has a value.
/// Reserved claims are never overwritten.
pub fn token_claims(
    flow: Option<&UserFlowSpec>,
    email: &str,
    display_name: Option<&str>,
    attributes: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut claims = BTreeMap::new();
    for claim in flow
        .and_then(|flow| flow.token_claims.as_ref())
        .into_iter()
        .flatten()
    {
        if RESERVED_CLAIMS.contains(&claim.claim_name.as_str()) {
            continue;
        }
        let value = match claim.attribute.as_str() {
            "email" => Some(Value::String(email.to_string())),
            "displayName" => display_name.map(|name| Value::String(name.to_string())),
            other => attributes.get(other).cloned(),
        };
        if let Some(value) = value {
            claims.insert(claim.claim_name.clone(), value);
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::user_flow::{AttributeOption, TokenClaim};

    fn attribute(name: &str, input_type: InputType, required: bool) -> UserAttribute {
        UserAttribute {
            input_type,
            options: matches!(
                input_type,
                InputType::RadioSingleSelect | InputType::Dropdown | InputType::CheckboxMultiSelect
            )
            .then(|| {
                ["a", "b"]
                    .into_iter()
                    .map(|value| AttributeOption {
                        label: value.to_uppercase(),
                        value: value.to_string(),
                    })
                    .collect()
            }),
            ..plain_attribute(name, required)
        }
    }

    fn pairs(values: &[(&str, &str)]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn markdown_allows_links_and_emphasis_and_escapes_the_rest() {
        assert_eq!(
            inline_markdown("I accept the [terms](https://example.com/t?a=1&b=2) **now**"),
            "I accept the <a href=\"https://example.com/t?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener noreferrer\">terms</a> <strong>now</strong>"
        );
        assert_eq!(inline_markdown("*x* <b>"), "<em>x</em> &lt;b&gt;");
        assert_eq!(
            inline_markdown("[x](javascript:alert(1))"),
            "[x](javascript:alert(1))"
        );
        assert_eq!(inline_markdown("a * b"), "a * b");
        assert_eq!(
            plain_text("I accept the [terms](https://x.example) **now**"),
            "I accept the terms now"
        );
    }

    #[test]
    fn every_input_type_is_collected_and_checked() {
        let attributes = vec![
            attribute("email", InputType::Text, true),
            attribute("displayName", InputType::Text, false),
            attribute("plan", InputType::RadioSingleSelect, true),
            attribute("region", InputType::Dropdown, false),
            attribute("topics", InputType::CheckboxMultiSelect, true),
            attribute("age", InputType::Number, false),
            attribute("newsletter", InputType::Boolean, false),
            attribute("terms", InputType::CheckboxSingleSelect, true),
        ];
        let collected = collect_attributes(
            &attributes,
            &[],
            &pairs(&[
                ("email", " Ann@Example.com "),
                ("attribute.plan", "a"),
                ("attribute.topics", "a"),
                ("attribute.topics", "b"),
                ("attribute.age", "42"),
                ("attribute.terms", "true"),
            ]),
        )
        .expect("valid");
        assert_eq!(collected.email, "ann@example.com");
        assert_eq!(collected.values["topics"], serde_json::json!(["a", "b"]));
        assert_eq!(collected.values["age"], serde_json::json!(42));
        assert_eq!(collected.values["newsletter"], serde_json::json!(false));
        assert_eq!(collected.consents, ["terms"]);

        let problems = collect_attributes(
            &attributes,
            &[],
            &pairs(&[
                ("email", "nope"),
                ("attribute.plan", "z"),
                ("attribute.age", "old"),
            ]),
        )
        .expect_err("invalid");
        assert_eq!(problems["email"], FieldProblem::InvalidEmail);
        assert_eq!(problems["plan"], FieldProblem::UnknownOption);
        assert_eq!(problems["topics"], FieldProblem::Required);
        assert_eq!(problems["age"], FieldProblem::NotANumber);
        assert_eq!(problems["terms"], FieldProblem::MustAccept);
    }

    #[test]
    fn patterns_match_the_whole_value() {
        let mut code = attribute("memberCode", InputType::Text, true);
        code.validation_reg_ex = Some("[A-Z]{3}[0-9]{2}".into());
        let ok = collect_attributes(
            &[code.clone()],
            &[],
            &pairs(&[("attribute.memberCode", "ABC12")]),
        );
        assert!(ok.is_ok());
        let problems = collect_attributes(
            &[attribute("email", InputType::Text, true), code],
            &[],
            &pairs(&[("email", "a@b.co"), ("attribute.memberCode", "ABC123")]),
        )
        .expect_err("pattern");
        assert_eq!(problems["memberCode"], FieldProblem::Pattern);
    }

    #[test]
    fn token_claims_map_attributes_and_skip_reserved_names() {
        let flow = UserFlowSpec {
            display_name: "f".into(),
            applications: vec![],
            sign_in: crate::api::user_flow::SignIn {
                methods: vec!["emailPassword".into()],
            },
            attributes: None,
            token_claims: Some(vec![
                TokenClaim {
                    attribute: "email".into(),
                    claim_name: "mail".into(),
                },
                TokenClaim {
                    attribute: "plan".into(),
                    claim_name: "extension_plan".into(),
                },
                TokenClaim {
                    attribute: "plan".into(),
                    claim_name: "sub".into(),
                },
                TokenClaim {
                    attribute: "city".into(),
                    claim_name: "city".into(),
                },
            ]),
            mfa: None,
            extensions: None,
        };
        let attributes = BTreeMap::from([("plan".to_string(), Value::from("gold"))]);
        let claims = token_claims(Some(&flow), "a@b.co", None, &attributes);
        assert_eq!(
            claims,
            BTreeMap::from([
                ("mail".to_string(), Value::from("a@b.co")),
                ("extension_plan".to_string(), Value::from("gold")),
            ])
        );
    }
}
