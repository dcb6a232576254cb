//! Validation of the admin API's objects, as a writer of each would meet it.

use super::*;
use crate::api::app_registration::AppType;

#[test]
fn branding_strings_must_name_a_text_of_the_pages() {
    let document: BrandingDocument = serde_json::from_value(serde_json::json!({
        "strings": { "fr": {
            "SignIn_Title": "Connexion",
            "sign_in_button": "Se connecter",
            "Attribute_loyaltyNumber": "Numéro de fidélité",
            "SignIn_Titel": "typo"
        } }
    }))
    .expect("shape");
    let errors = validate_branding_document(&document);
    let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(fields, ["strings.fr.SignIn_Titel"], "{errors:?}");
}

#[test]
fn identity_providers_and_extensions_are_refused_by_name() {
    let flow: UserFlowSpec = serde_json::from_value(serde_json::json!({
        "displayName": "Social",
        "signIn": { "methods": ["emailPassword", "google"] },
        "extensions": { "onOtpSend": {
            "targetUrl": "https://otp.example/send", "resourceId": "api://otp"
        } }
    }))
    .expect("shape");
    let errors = validate_user_flow(&flow);
    let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
    assert_eq!(fields, ["signIn.methods[1]", "extensions.onOtpSend"]);
    assert!(
        errors[0]
            .reason
            .contains("identity provider google is not supported")
    );
}

fn web_client(redirect_uris: &[&str]) -> ClientSpec {
    ClientSpec {
        display_name: "Web".into(),
        app_type: AppType::Web,
        redirect_uris: redirect_uris.iter().map(|uri| uri.to_string()).collect(),
        post_logout_redirect_uris: vec![],
        exposed_api: None,
        api_permissions: vec![],
        access_token_lifetime: None,
        client_secrets: vec![ClientSecretSpec {
            hash: None,
            value: Some("x".repeat(43)),
            expires_at: None,
        }],
        certificates: vec![],
        assertion_reuse: Default::default(),
    }
}

#[test]
fn redirect_uris_match_exactly() {
    let client = web_client(&["https://app.example.com/callback"]);
    assert!(client.has_redirect_uri("https://app.example.com/callback"));
    assert!(!client.has_redirect_uri("https://app.example.com/callback/"));
    assert!(!client.has_redirect_uri("https://APP.example.com/callback"));
    assert!(!client.has_redirect_uri("https://app.example.com/callback?x=1"));
}

#[test]
fn redirect_uri_rules_follow_the_app_type() {
    assert!(validate_client(&web_client(&["http://127.0.0.1:3000/cb"])).is_empty());
    assert!(validate_client(&web_client(&["https://app.example.com/cb"])).is_empty());
    let errors = validate_client(&web_client(&["http://app.example.com/cb"]));
    assert_eq!(errors[0].field, "redirectUris[0]");
    assert!(!validate_client(&web_client(&["com.example.app:/cb"])).is_empty());
    assert!(!validate_client(&web_client(&["https://a.example.com/cb#x"])).is_empty());
    let mut native = web_client(&["com.example.app:/cb"]);
    native.app_type = AppType::Native;
    native.client_secrets.clear();
    assert!(validate_client(&native).is_empty());
}

#[test]
fn client_secrets_are_hashed_and_checked_with_expiry() {
    let client = normalize_client(web_client(&[]));
    assert!(client.client_secrets[0].value.is_none());
    let now = jiff::Timestamp::now();
    assert!(client.secret_matches(&"x".repeat(43), now));
    assert!(!client.secret_matches("wrong", now));
    let mut expired = client.clone();
    expired.client_secrets[0].expires_at = Some(now - jiff::SignedDuration::from_secs(1));
    assert!(!expired.secret_matches(&"x".repeat(43), now));
}

#[test]
fn durations_parse_like_the_crd() {
    assert_eq!(parse_duration_seconds("1h30m"), Some(5400));
    assert_eq!(parse_duration_seconds("90s"), Some(90));
    assert_eq!(parse_duration_seconds("1d"), None);
    assert_eq!(parse_duration_seconds("10"), None);
}

fn fields(errors: Vec<FieldError>) -> Vec<String> {
    errors.into_iter().map(|error| error.field).collect()
}

#[test]
fn tenant_names_refuse_hidden_and_bidirectional_characters() {
    let spec: TenantSpec = serde_json::from_value(serde_json::json!({
        "displayName": "Contoso \u{202E}nigol", "countryCode": "US",
        "identityProviders": [
            { "name": "google", "type": "google", "displayName": "Google", "clientId": "a" },
            { "name": "corp", "type": "google", "displayName": "Co\u{200B}rp", "clientId": "b" }
        ],
        "email": { "fromAddress": "no-reply@contoso.example", "fromName": "Contoso\r\nBcc: x@y.example" }
    }))
    .expect("shape");
    let errors = validate_tenant(&spec, "contoso");
    assert!(
        errors
            .iter()
            .all(|error| error.reason.contains("U+202A-U+202E"))
    );
    assert_eq!(
        fields(errors),
        [
            "displayName",
            "identityProviders[1].displayName",
            "email.fromName"
        ]
    );
}

#[test]
fn client_names_refuse_hidden_and_bidirectional_characters() {
    let mut client = web_client(&[]);
    client.display_name = "Payroll\u{2066}".into();
    client.exposed_api = Some(
        serde_json::from_value(serde_json::json!({ "scopes": [
            { "value": "orders.read", "adminConsentDisplayName": "Read orders" },
            { "value": "orders.write", "userConsentDisplayName": "Write\u{FEFF} orders" }
        ] }))
        .expect("shape"),
    );
    assert_eq!(
        fields(validate_client(&client)),
        ["displayName", "exposedApi.scopes[1].userConsentDisplayName"]
    );
}

#[test]
fn flow_labels_refuse_hidden_and_bidirectional_characters() {
    let flow: UserFlowSpec = serde_json::from_value(serde_json::json!({
        "displayName": "Sign up\u{061C}",
        "signIn": { "methods": ["emailPassword"] },
        "attributes": [
            { "name": "termsAccepted", "inputType": "boolean", "required": true,
              "label": "I agree to the [terms](https://contoso.example/terms)\u{202D} and more" },
            { "name": "country", "inputType": "dropdown", "options": [
                { "label": "France", "value": "FR" },
                { "label": "Germany\u{180E}", "value": "DE" }
            ] }
        ]
    }))
    .expect("shape");
    assert_eq!(
        fields(validate_user_flow(&flow)),
        [
            "displayName",
            "attributes[0].label",
            "attributes[1].options[1].label"
        ]
    );
}

#[test]
fn branding_labels_refuse_hidden_characters_and_prose_keeps_them() {
    let document: BrandingDocument = serde_json::from_value(serde_json::json!({
        // A right-to-left mark is how Hebrew or Arabic prose places punctuation.
        "default": { "signInPageText": "\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200F}!" },
        "localizations": { "fr": { "customTermsOfUseText": "Conditions\u{2060} d'utilisation" } }
    }))
    .expect("shape");
    assert_eq!(
        fields(validate_branding_document(&document)),
        ["localizations.fr.customTermsOfUseText"]
    );
}

fn inline(media_type: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{media_type};base64,{encoded}")
}

#[test]
fn inline_branding_images_are_checked_by_their_content() {
    let logo = include_bytes!("../../tests/images/logo.svg");
    let png = include_bytes!("../../tests/images/pixel.png");
    let ico = include_bytes!("../../tests/images/pixel.ico");
    let script = include_bytes!("../../tests/images/script.svg");
    let page = include_bytes!("../../tests/images/page-with-svg.html");
    let document: BrandingDocument = serde_json::from_value(serde_json::json!({
        "default": {
            "bannerLogo": inline("image/svg+xml", logo),
            "headerLogo": inline("image/svg+xml", script),
            "squareLogo": inline("image/svg+xml", page),
            "squareLogoDark": inline("image/svg+xml", png),
            "favicon": inline("image/vnd.microsoft.icon", ico),
            "backgroundImage": inline("image/png", png)
        }
    }))
    .expect("shape");
    let errors = validate_branding_document(&document);
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|error| (error.field.as_str(), error.reason.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{errors:?}");
    assert_eq!(found[0], ("default.headerLogo", "SVG contains a script"));
    assert_eq!(found[1].0, "default.squareLogo");
    assert_eq!(
        found[2],
        (
            "default.squareLogoDark",
            "the content is image/png, not the image/svg+xml the data URI names"
        )
    );
}

#[test]
fn tenant_validation_names_the_field() {
    let spec: TenantSpec = serde_json::from_value(serde_json::json!({
        "displayName": "", "countryCode": "usa"
    }))
    .expect("shape");
    let fields: Vec<_> = validate_tenant(&spec, "contoso")
        .into_iter()
        .map(|error| error.field)
        .collect();
    assert_eq!(fields, ["displayName", "countryCode"]);
}
