//! Unit tests of the Entra import: each mapping on the documented-shape fixtures under
//! `tests/fixtures/entra/`, name sanitising, the report of what is not imported, bad input.

use std::path::PathBuf;

use serde_json::json;

use super::graph::parse_document;
use super::*;
use crate::api::AppType;

fn fixture(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/entra")
        .join(dir)
}

fn export_of(dirs: &[&str]) -> Export {
    let inputs: Vec<PathBuf> = dirs.iter().map(|dir| fixture(dir)).collect();
    read_export(&input_files(&inputs).expect("fixtures")).expect("fixtures parse")
}

fn options() -> Options {
    Options {
        tenant_name: "Woodgrove Customers".into(),
        subdomain: None,
        country_code: "US".into(),
        namespace: None,
    }
}

fn import_of(dirs: &[&str]) -> Imported {
    import(&export_of(dirs), &options()).expect("import")
}

/// An export made of JSON documents written in the test.
fn export_from(documents: &[serde_json::Value]) -> Export {
    let mut export = Export::default();
    for (index, document) in documents.iter().enumerate() {
        let name = format!("inline-{index}.json");
        export.add(
            &name,
            parse_document(&name, &document.to_string()).expect("document"),
        );
    }
    export
}

fn app<'a>(imported: &'a Imported, name: &str) -> &'a AppRegistration {
    imported
        .apps
        .iter()
        .find(|app| app.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no app {name}"))
}

fn note<'a>(imported: &'a Imported, path: &str) -> &'a Note {
    imported
        .notes
        .iter()
        .find(|note| note.path == path)
        .unwrap_or_else(|| panic!("no note at {path}: {:#?}", imported.notes))
}

fn applications(apps: serde_json::Value) -> serde_json::Value {
    json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications", "value": apps })
}

#[test]
fn applications_take_their_type_from_their_redirect_uris() {
    let imported = import_of(&["ready"]);
    let types: Vec<(&str, AppType)> = imported
        .apps
        .iter()
        .map(|app| (app.metadata.name.as_deref().unwrap(), app.spec.app_type))
        .collect();
    assert_eq!(
        types,
        [
            ("nightly-order-reports", AppType::Daemon),
            ("woodgrove-mobile-ios", AppType::Native),
            ("woodgrove-orders", AppType::Spa),
            ("woodgrove-storefront", AppType::Web),
        ]
    );
    let storefront = &app(&imported, "woodgrove-storefront").spec;
    assert_eq!(
        storefront.redirect_uris.as_deref().unwrap(),
        [
            "https://shop.woodgrove.example/signin-oidc",
            "http://localhost:3000/signin-oidc"
        ]
    );
    assert_eq!(
        storefront.post_logout_redirect_uris.as_deref().unwrap(),
        ["https://shop.woodgrove.example/signed-out"]
    );
    assert_eq!(storefront.tenant_ref.name, "woodgrove-customers");
}

#[test]
fn an_exposed_api_and_permissions_on_apps_of_the_same_import_are_mapped() {
    let imported = import_of(&["ready"]);
    let orders = app(&imported, "woodgrove-orders")
        .spec
        .exposed_api
        .clone()
        .unwrap();
    assert_eq!(
        orders.identifier_uri.as_deref(),
        Some("api://orders.woodgrove.example")
    );
    let scopes = orders.scopes.unwrap();
    assert_eq!(scopes[0].value, "Orders.Read");
    assert_eq!(
        scopes[0].user_consent_display_name.as_deref(),
        Some("See your orders")
    );
    let permissions = app(&imported, "woodgrove-storefront")
        .spec
        .api_permissions
        .clone()
        .unwrap();
    assert_eq!(
        permissions.len(),
        1,
        "Microsoft Graph permissions are not carried over"
    );
    assert_eq!(permissions[0].app_name, "woodgrove-orders");
    assert_eq!(permissions[0].scopes, ["Orders.Read", "Orders.Write"]);
    let graph = note(&imported, "applications[0].requiredResourceAccess[1]");
    assert_eq!(graph.kind, NoteKind::Skipped);
    assert!(graph.message.contains("Microsoft Graph"), "{graph}");
    let role = note(
        &imported,
        "applications[2].requiredResourceAccess[0].resourceAccess[0]",
    );
    assert!(role.message.contains("Orders.Read.All"), "{role}");
}

#[test]
fn what_has_no_counterpart_is_listed_with_its_graph_path() {
    let imported = import_of(&["ready"]);
    let without_content = note(&imported, "applications[2].keyCredentials[1]");
    assert_eq!(without_content.kind, NoteKind::Action);
    assert!(
        without_content
            .message
            .contains("$select=id,appId,displayName"),
        "{without_content}"
    );
    assert_eq!(
        note(&imported, "applications[1].appRoles").kind,
        NoteKind::Skipped
    );
    assert_eq!(
        note(&imported, "applications[0].passwordCredentials").kind,
        NoteKind::Action
    );
    assert_eq!(
        note(
            &imported,
            "branding/localizations[1].customCannotAccessYourAccountText"
        )
        .kind,
        NoteKind::Skipped
    );
    // Defaults and read-only bookkeeping are not noise in the report.
    assert!(
        !imported
            .notes
            .iter()
            .any(|note| note.path.contains("signInAudience")
                || note.path.contains("redirectUriSettings")
                || note.path.contains("contentCustomization")
                || note.path.contains("implicitGrantSettings")),
        "{:#?}",
        imported.notes
    );
}

#[test]
fn names_are_dns_labels_unique_and_independent_of_input_order() {
    let first = json!({ "appId": "11111111-1111-4111-8111-111111111111", "displayName": "Shop!! (EU)", "web": { "redirectUris": [] } });
    let second = json!({ "appId": "22222222-2222-4222-8222-222222222222", "displayName": "shop eu", "web": { "redirectUris": [] } });
    let unnamed = json!({ "appId": "33333333-3333-4333-8333-333333333333", "displayName": "Ünïcødé ✓", "web": { "redirectUris": [] } });
    let names = |apps: serde_json::Value| -> Vec<(String, String)> {
        let imported = import(&export_from(&[applications(apps)]), &options()).unwrap();
        let mut names: Vec<(String, String)> = imported
            .apps
            .iter()
            .map(|app| {
                (
                    app.spec.display_name.clone(),
                    app.metadata.name.clone().unwrap(),
                )
            })
            .collect();
        names.sort();
        names
    };
    let forward = names(json!([first, second, unnamed]));
    let backward = names(json!([unnamed, second, first]));
    assert_eq!(forward, backward);
    // Sorted by display name first: "shop eu" comes before "shop!! (eu)".
    assert_eq!(
        forward,
        [
            ("Shop!! (EU)".to_string(), "shop-eu-2".to_string()),
            ("shop eu".to_string(), "shop-eu".to_string()),
            ("Ünïcødé ✓".to_string(), "n-c-d".to_string()),
        ]
    );
    assert_eq!(checks::kubernetes_name("", "app-33333333"), "app-33333333");
    assert_eq!(checks::kubernetes_name("---", "fallback"), "fallback");
    let long = checks::kubernetes_name(&"a".repeat(300), "x");
    assert!(checks::is_dns_label(&long) && long.len() <= 40);
}

#[test]
fn redirect_uris_the_crd_refuses_are_reported_not_written() {
    let imported = import(
        &export_from(&[applications(json!([{
            "appId": "44444444-4444-4444-8444-444444444444",
            "displayName": "Legacy",
            "web": { "redirectUris": ["http://legacy.example/callback", "https://ok.example/cb", "https://*.example/cb"] },
            "spa": { "redirectUris": ["https://spa.example/"] }
        }]))]),
        &options(),
    )
    .unwrap();
    assert_eq!(
        imported.apps[0].spec.redirect_uris.as_deref().unwrap(),
        ["https://ok.example/cb"]
    );
    for path in [
        "applications[0].web.redirectUris[0]",
        "applications[0].web.redirectUris[2]",
        "applications[0].spa.redirectUris[0]",
    ] {
        assert_eq!(note(&imported, path).kind, NoteKind::Skipped);
    }
}

#[test]
fn a_flow_maps_methods_attributes_and_applications() {
    let imported = import_of(&["ready"]);
    let flow = &imported.flows[0];
    assert_eq!(flow.metadata.name.as_deref(), Some("woodgrove-shoppers"));
    assert_eq!(flow.spec.sign_in.methods, ["emailPassword", "emailOtp"]);
    assert_eq!(
        flow.spec.applications.as_deref().unwrap(),
        [
            "woodgrove-storefront",
            "woodgrove-orders",
            "woodgrove-mobile-ios"
        ],
        "from the separately exported includeApplications list"
    );
    let attributes = flow.spec.attributes.as_deref().unwrap();
    let names: Vec<&str> = attributes
        .iter()
        .map(|attribute| attribute.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "email",
            "displayName",
            "country",
            "LoyaltyNumber",
            "AcceptsTerms"
        ]
    );
    assert!(
        !attributes[0].hidden,
        "the email input is visible text here"
    );
    assert_eq!(attributes[2].options.as_ref().unwrap()[1].value, "FR");
    assert!(attributes[4].required);
    let custom: Vec<(&str, crate::api::customer_tenant::AttributeDataType)> = imported
        .tenant
        .spec
        .custom_attributes
        .iter()
        .flatten()
        .map(|attribute| (attribute.name.as_str(), attribute.data_type))
        .collect();
    use crate::api::customer_tenant::AttributeDataType;
    assert_eq!(
        custom,
        [
            ("LoyaltyNumber", AttributeDataType::String),
            ("AcceptsTerms", AttributeDataType::Boolean)
        ]
    );
}

#[test]
fn identity_providers_become_tenant_entries_whose_secrets_the_person_creates() {
    let imported = import_of(&["ready", "social"]);
    let providers = imported.tenant.spec.identity_providers.as_deref().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|provider| provider.name.as_str())
        .collect();
    assert_eq!(names, ["google", "facebook", "fabrikam-partners"]);
    let oidc = &providers[2];
    assert_eq!(
        oidc.issuer.as_deref(),
        Some("https://login.fabrikam.example/partners/v2.0")
    );
    assert_eq!(
        oidc.client_secret_ref.name,
        "woodgrove-customers-idp-fabrikam-partners"
    );
    assert_eq!(oidc.client_secret_ref.key, "clientSecret");
    let action = note(&imported, "identity/identityProviders[4]");
    assert_eq!(action.kind, NoteKind::Action);
    assert!(
        action
            .message
            .contains("create Secret woodgrove-customers-idp-fabrikam-partners")
    );
    assert_eq!(
        note(&imported, "identity/identityProviders[5]").kind,
        NoteKind::Skipped,
        "Apple"
    );
    let flow = imported
        .flows
        .iter()
        .find(|flow| flow.spec.display_name == "Woodgrove rewards members")
        .unwrap();
    assert_eq!(
        flow.spec.sign_in.methods,
        ["emailPassword", "google", "facebook", "fabrikam-partners"]
    );
}

#[test]
fn secrets_in_the_export_never_reach_the_output_or_the_report() {
    let imported = import_of(&["ready", "social"]);
    let yaml = stream(&render(&imported).unwrap());
    let report: String = imported
        .notes
        .iter()
        .map(|note| format!("{note}\n"))
        .collect();
    for text in [&yaml, &report] {
        assert!(!text.contains("fabrikam-oidc-secret-must-not-leak"));
        assert!(!text.contains("******"));
        assert!(!text.contains("Qx7"), "the password credential's hint");
    }
}

#[test]
fn custom_extensions_referenced_by_a_flow_become_its_extensions() {
    let imported = import_of(&["ready", "social"]);
    let flow = imported
        .flows
        .iter()
        .find(|flow| flow.spec.display_name == "Woodgrove rewards members")
        .unwrap();
    let extensions = flow.spec.extensions.as_ref().unwrap();
    let start = extensions.on_attribute_collection_start.as_ref().unwrap();
    assert_eq!(
        start.target_url,
        "https://extensions.woodgrove.example/attribute-collection/start"
    );
    assert_eq!(
        (start.timeout_in_milliseconds, start.maximum_retries),
        (2000, 1)
    );
    let submit = extensions.on_attribute_collection_submit.as_ref().unwrap();
    assert_eq!(
        (submit.timeout_in_milliseconds, submit.maximum_retries),
        (1500, 0),
        "the handler's override"
    );
    let token = note(&imported, "identity/customAuthenticationExtensions[2]");
    assert!(token.message.contains("onTokenIssuanceStart"), "{token}");
}

#[test]
fn a_handler_without_its_extension_is_reported() {
    let flow = json!({
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "id": "f1", "displayName": "Flow",
        "onAuthenticationMethodLoadStart": { "identityProviders": [
            { "@odata.type": "#microsoft.graph.builtInIdentityProvider", "id": "EmailPassword-OAUTH", "identityProviderType": "EmailPassword" }
        ] },
        "onAttributeCollectionSubmit": { "@odata.type": "#microsoft.graph.onAttributeCollectionSubmitCustomExtensionHandler", "configuration": null }
    });
    let imported = import(&export_from(&[json!({ "value": flow })]), &options()).unwrap();
    assert!(imported.flows[0].spec.extensions.is_none());
    let missing = note(
        &imported,
        "identity/authenticationEventsFlows[0].onAttributeCollectionSubmit",
    );
    assert!(missing.message.contains("customExtension"), "{missing}");

    // The event's customExtension, exported on its own, completes the flow.
    let extension = json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#identity/authenticationEventsFlows('f1')/microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/onAttributeCollectionSubmit/microsoft.graph.onAttributeCollectionSubmitCustomExtensionHandler/customExtension/$entity",
        "@odata.type": "#microsoft.graph.onAttributeCollectionSubmitCustomExtension",
        "id": "e1",
        "authenticationConfiguration": { "resourceId": "api://checks.example/e1" },
        "endpointConfiguration": { "targetUrl": "https://checks.example/submit" }
    });
    let imported = import(
        &export_from(&[json!({ "value": flow }), extension]),
        &options(),
    )
    .unwrap();
    let submit = imported.flows[0]
        .spec
        .extensions
        .as_ref()
        .unwrap()
        .on_attribute_collection_submit
        .as_ref()
        .unwrap();
    assert_eq!(submit.target_url, "https://checks.example/submit");
    assert!(
        imported
            .notes
            .iter()
            .all(|note| !note.path.contains("customAuthenticationExtensions")),
        "{:#?}",
        imported.notes
    );
}

#[test]
fn branding_images_are_cdn_urls_and_localizations_keep_their_language() {
    let imported = import_of(&["ready"]);
    let branding = imported.branding.as_ref().unwrap();
    let default = branding.spec.default.as_ref().unwrap();
    assert_eq!(default.background_color.as_deref(), Some("#F3F6FB"));
    let banner = default
        .banner_logo
        .as_ref()
        .unwrap()
        .url
        .as_deref()
        .unwrap();
    assert!(
        banner.starts_with("https://aadcdn.msftauthimages.net/d4e5f6a7-"),
        "{banner}"
    );
    assert!(
        note(&imported, "branding.bannerLogoRelativeUrl")
            .message
            .contains("ConfigMap")
    );
    assert_eq!(
        default
            .login_page_layout_configuration
            .as_ref()
            .unwrap()
            .layout_template_type,
        crate::api::branding::LayoutTemplateType::VerticalSplit
    );
    let french = &branding.spec.localizations.as_ref().unwrap()["fr-FR"];
    assert_eq!(
        french.username_hint_text.as_deref(),
        Some("vous@exemple.fr")
    );
    assert_eq!(
        branding.metadata.name.as_deref(),
        Some("woodgrove-customers")
    );
}

#[test]
fn branding_values_the_crd_refuses_are_reported() {
    let branding = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#branding",
        "id": "0", "backgroundColor": "blue", "customTermsOfUseUrl": "http://woodgrove.example/terms",
        "usernameHintText": "x".repeat(65), "customCSSRelativeUrl": "abc/customcss?ts=1", "cdnList": ["aadcdn.msftauthimages.net"]
    });
    let imported = import(&export_from(&[branding]), &options()).unwrap();
    for path in [
        "branding.backgroundColor",
        "branding.customTermsOfUseUrl",
        "branding.usernameHintText",
        "branding.customCSSRelativeUrl",
    ] {
        assert_eq!(note(&imported, path).kind, NoteKind::Skipped);
    }
    assert!(imported.branding.is_none(), "nothing valid was left");
}

#[test]
fn single_objects_and_the_documented_wrapped_flow_are_recognised() {
    let single_app = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
        "appId": "55555555-5555-4555-8555-555555555555", "displayName": "One", "spa": { "redirectUris": ["https://one.example/"] }
    });
    assert!(
        matches!(parse_document("a.json", &single_app.to_string()).unwrap(), Document::Applications(apps) if apps.len() == 1)
    );
    let by_type = json!({ "@odata.type": "#microsoft.graph.socialIdentityProvider", "id": "Google-OAUTH", "identityProviderType": "Google", "clientId": "x" });
    assert!(matches!(
        parse_document("b.json", &by_type.to_string()).unwrap(),
        Document::IdentityProviders(_)
    ));
    let includes = json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#identity/authenticationEventsFlows('0313cc37')/conditions/applications/includeApplications",
        "value": [{ "appId": "63856651-13d9-4784-9abf-20758d509e19" }]
    });
    match parse_document("c.json", &includes.to_string()).unwrap() {
        Document::FlowApplications { flow_id, apps } => {
            assert_eq!(flow_id, "0313cc37");
            assert_eq!(
                apps[0].app_id.as_deref(),
                Some("63856651-13d9-4784-9abf-20758d509e19")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let not_json = parse_document("x.json", "{ \"value\": [").unwrap_err();
    assert!(
        matches!(not_json, ImportError::NotJson { .. }),
        "{not_json}"
    );
    let users = json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": [{ "userPrincipalName": "a@b" }] });
    let unknown = parse_document("users.json", &users.to_string()).unwrap_err();
    assert!(unknown.to_string().contains("\"users\""), "{unknown}");
    let wrong = json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications", "value": [{ "web": { "redirectUris": "https://x.example/" } }] });
    let shape = parse_document("apps.json", &wrong.to_string()).unwrap_err();
    assert!(
        shape.to_string().contains("value[0].web.redirectUris"),
        "{shape}"
    );
    assert!(matches!(
        parse_document("list.json", "[1, 2]").unwrap_err(),
        ImportError::UnknownShape { .. }
    ));
}

#[test]
fn flags_the_crds_would_refuse_are_errors() {
    let export = Export::default();
    let bad_subdomain = Options {
        subdomain: Some("Woodgrove_EU".into()),
        ..options()
    };
    assert!(matches!(
        import(&export, &bad_subdomain),
        Err(ImportError::InvalidFlag {
            flag: "subdomain",
            ..
        })
    ));
    let bad_country = Options {
        country_code: "usa".into(),
        ..options()
    };
    assert!(matches!(
        import(&export, &bad_country),
        Err(ImportError::InvalidFlag {
            flag: "country-code",
            ..
        })
    ));
    let hidden = Options {
        tenant_name: "Woodgrove\u{202e}".into(),
        ..options()
    };
    assert!(matches!(
        import(&export, &hidden),
        Err(ImportError::InvalidFlag {
            flag: "tenant-name",
            ..
        })
    ));
    let imported = import(&export, &options()).unwrap();
    assert_eq!(imported.tenant.spec.subdomain, "woodgrove-customers");
}

#[test]
fn control_characters_from_the_input_are_escaped_in_the_report() {
    let app = json!({ "appId": "66666666-6666-4666-8666-666666666666", "displayName": "x", "web": { "redirectUris": [] },
        "evil\u{1b}[2Jfield": "value" });
    let imported = import(&export_from(&[applications(json!([app]))]), &options()).unwrap();
    let line = imported
        .notes
        .iter()
        .map(ToString::to_string)
        .find(|line| line.contains("evil"))
        .unwrap();
    assert!(
        !line.contains('\u{1b}') && line.contains("\\u{001b}"),
        "{line}"
    );
}

#[test]
fn files_are_numbered_in_apply_order() {
    let rendered = render(&import_of(&["ready"])).unwrap();
    let names: Vec<&str> = rendered
        .iter()
        .map(|object| object.file_name.as_str())
        .collect();
    assert_eq!(names[0], "01-customertenant-woodgrove-customers.yaml");
    assert_eq!(
        names[1],
        "02-configmap-nightly-order-reports-certificates.yaml"
    );
    assert_eq!(names[2], "03-appregistration-nightly-order-reports.yaml");
    assert_eq!(names[6], "07-userflow-woodgrove-shoppers.yaml");
    assert_eq!(names[7], "08-branding-woodgrove-customers.yaml");
    let documents = serde_saphyr::from_multiple::<serde_json::Value>(&stream(&rendered)).unwrap();
    assert_eq!(documents.len(), 8);
}

#[test]
fn a_paged_export_is_reported() {
    let dir = std::env::temp_dir().join(format!("ciam-import-paged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("applications.json");
    let page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/applications?$skiptoken=abc",
        "value": [{ "appId": "77777777-7777-4777-8777-777777777777", "displayName": "Paged", "web": { "redirectUris": [] } }]
    });
    std::fs::write(&file, page.to_string()).unwrap();
    let export = read_export(std::slice::from_ref(&file)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(export.applications.len(), 1);
    assert_eq!(export.notes.len(), 1);
    assert!(
        export.notes[0]
            .path
            .ends_with("applications.json: @odata.nextLink"),
        "{:?}",
        export.notes
    );
}

#[test]
fn yaml_keeps_every_value_a_string_whatever_it_looks_like() {
    let tricky = [
        "no",
        "null",
        "123",
        "- item",
        "key: value",
        "#not a comment",
        "'quoted'",
        "a\nb",
    ];
    let apps: Vec<serde_json::Value> = tricky
        .iter()
        .enumerate()
        .map(|(index, name)| {
            json!({ "appId": format!("88888888-8888-4888-8888-88888888888{index}"), "displayName": name,
                "web": { "redirectUris": [] } })
        })
        .collect();
    let imported = import(&export_from(&[applications(json!(apps))]), &options()).unwrap();
    let documents =
        serde_saphyr::from_multiple::<serde_json::Value>(&stream(&render(&imported).unwrap()))
            .unwrap();
    let mut names: Vec<String> = documents
        .iter()
        .filter(|document| document["kind"] == "AppRegistration")
        .map(|document| {
            document["spec"]["displayName"]
                .as_str()
                .expect("a string")
                .to_string()
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = tricky
        .iter()
        .map(|name| {
            if name.contains('\n') {
                "a-b".to_string()
            } else {
                name.to_string()
            }
        })
        .collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "a display name with a line break is refused like the CRD refuses it: the object name stands in"
    );
}

#[test]
fn a_certificate_with_its_content_becomes_a_config_map_the_app_lists() {
    let imported = import_of(&["ready"]);
    let reports = imported
        .apps
        .iter()
        .find(|app| app.spec.display_name == "Nightly order reports")
        .expect("the daemon");
    let credentials = reports.spec.credentials.as_ref().expect("credentials");
    assert_eq!(
        credentials.assertion_reuse,
        Some(crate::api::app_registration::AssertionReuse::AllowUntilExpiry)
    );
    let references = credentials.certificates.as_ref().expect("certificates");
    assert_eq!(
        references.len(),
        1,
        "the entry without content is not listed"
    );
    let reference = references[0]
        .config_map_key_ref
        .as_ref()
        .expect("ConfigMap");
    let config_map = imported
        .config_maps
        .iter()
        .find(|map| map.metadata.name.as_deref() == Some(reference.name.as_str()))
        .expect("the ConfigMap is imported");
    let pem = &config_map.data.as_ref().expect("data")[&reference.key];
    let parsed = crate::contract::certificate::parse_certificate(pem).expect("accepted");
    let expected = crate::contract::certificate::parse_certificate(include_str!(
        "../contract/testdata/rsa2048.crt"
    ))
    .expect("test certificate");
    assert_eq!(parsed.sha256_thumbprint, expected.sha256_thumbprint);
    let rendered = render(&imported).expect("renders");
    let names: Vec<&str> = rendered.iter().map(|o| o.file_name.as_str()).collect();
    let config_map_at = names
        .iter()
        .position(|n| n.contains("-configmap-"))
        .expect("rendered");
    let app_at = names
        .iter()
        .position(|n| n.contains("appregistration"))
        .expect("apps");
    assert!(
        config_map_at < app_at,
        "the ConfigMap is applied first: {names:?}"
    );
}
