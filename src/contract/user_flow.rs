//! User flows: `PUT /admin/v1/tenants/{subdomain}/userflows/{name}`.

use serde::{Deserialize, Serialize};

use crate::api::user_flow::{Extensions, Mfa, SignIn, TokenClaim, UserAttribute};

use super::*;

/// Sign-in method: email and password.
pub const METHOD_EMAIL_PASSWORD: &str = "emailPassword";

/// Sign-in method: passwordless email one-time passcode.
pub const METHOD_EMAIL_OTP: &str = "emailOtp";

/// Claims a flow may not set, because the runtime owns them.
pub const RESERVED_CLAIMS: [&str; 20] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "tid",
    "oid",
    "ver",
    "nonce",
    "azp",
    "scp",
    "roles",
    "auth_time",
    "at_hash",
    "c_hash",
    "sid",
    "acr",
    "amr",
];

/// A tenant has at most this many user flows (as in Entra External ID).
pub const MAX_USER_FLOWS: usize = 10;

/// A user flow (`PUT /admin/v1/tenants/{subdomain}/userflows/{name}`), mirroring
/// `UserFlowSpec` with `applications` resolved to client IDs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserFlowSpec {
    /// Name of the flow.
    pub display_name: String,
    /// Client IDs of the apps this flow serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// How customers sign in.
    pub sign_in: SignIn,
    /// What sign-up collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<UserAttribute>>,
    /// Attributes added to tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_claims: Option<Vec<TokenClaim>>,
    /// Multifactor authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<Mfa>,
    /// Custom authentication extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Extensions>,
}

/// What the runtime says of a user-flow field it stores but cannot honour yet.
pub const NOT_SUPPORTED_YET: &str = "is not supported by this runtime yet";

/// Fields of a user flow that this runtime cannot honour yet, as (path, what it asks for):
/// sign-in through an identity provider and custom authentication extensions. A flow that
/// uses them is refused rather than served without them, so nobody believes a sign-in option
/// or a safeguard is on when it is not.
pub fn unsupported_user_flow_fields(spec: &UserFlowSpec) -> Vec<(String, String)> {
    let local = [METHOD_EMAIL_PASSWORD, METHOD_EMAIL_OTP];
    let mut fields: Vec<(String, String)> = spec
        .sign_in
        .methods
        .iter()
        .enumerate()
        .filter(|(_, method)| !local.contains(&method.as_str()))
        .map(|(index, method)| {
            (
                format!("signIn.methods[{index}]"),
                format!("sign-in with identity provider {method}"),
            )
        })
        .collect();
    if let Some(extensions) = &spec.extensions {
        for (event, extension) in [
            ("onTokenIssuanceStart", &extensions.on_token_issuance_start),
            (
                "onAttributeCollectionStart",
                &extensions.on_attribute_collection_start,
            ),
            (
                "onAttributeCollectionSubmit",
                &extensions.on_attribute_collection_submit,
            ),
            ("onOtpSend", &extensions.on_otp_send),
        ] {
            if extension.is_some() {
                fields.push((
                    format!("extensions.{event}"),
                    format!("the {event} custom authentication extension"),
                ));
            }
        }
    }
    fields
}

/// Refuses hidden and bidirectional characters in the flow's name and in the labels sign-up
/// shows: attribute labels (a consent checkbox's among them) and option labels.
fn check_flow_labels(errors: &mut Vec<FieldError>, spec: &UserFlowSpec) {
    check_plain_text(errors, "displayName", &spec.display_name);
    for (index, attribute) in spec.attributes.iter().flatten().enumerate() {
        if let Some(label) = &attribute.label {
            check_plain_text(errors, &format!("attributes[{index}].label"), label);
        }
        for (option_index, option) in attribute.options.iter().flatten().enumerate() {
            check_plain_text(
                errors,
                &format!("attributes[{index}].options[{option_index}].label"),
                &option.label,
            );
        }
    }
}

/// Checks a user flow spec; an empty list means it is valid.
pub fn validate_user_flow(spec: &UserFlowSpec) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = unsupported_user_flow_fields(spec)
        .into_iter()
        .map(|(field, what)| FieldError::new(field, format!("{what} {NOT_SUPPORTED_YET}")))
        .collect();
    check_length(&mut errors, "displayName", &spec.display_name, 1, 256);
    check_flow_labels(&mut errors, spec);
    for (index, application) in spec.applications.iter().enumerate() {
        if !is_valid_uuid(application) {
            errors.push(FieldError::new(
                format!("applications[{index}]"),
                "must be a client ID (UUID)",
            ));
        }
        if spec.applications[..index].contains(application) {
            errors.push(FieldError::new(
                format!("applications[{index}]"),
                "duplicates an earlier entry",
            ));
        }
    }
    if spec.sign_in.methods.is_empty() || spec.sign_in.methods.len() > 10 {
        errors.push(FieldError::new(
            "signIn.methods",
            "must list 1 to 10 methods",
        ));
    }
    for (index, attribute) in spec.attributes.iter().flatten().enumerate() {
        if let Some(pattern) = &attribute.validation_reg_ex
            && regex::Regex::new(pattern).is_err()
        {
            errors.push(FieldError::new(
                format!("attributes[{index}].validationRegEx"),
                "must be a valid regular expression (RE2 syntax)",
            ));
        }
    }
    for (index, claim) in spec.token_claims.iter().flatten().enumerate() {
        if RESERVED_CLAIMS.contains(&claim.claim_name.as_str()) {
            errors.push(FieldError::new(
                format!("tokenClaims[{index}].claimName"),
                "must not be a reserved token claim",
            ));
        }
    }
    errors
}
