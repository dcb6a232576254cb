//! The CRDs on a real kube-apiserver: they install, accept the examples, refuse invalid
//! objects with the intended messages, explain and print well, and the controller-manager
//! garbage-collects what custom resources own.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};

use ciam_operator::api::CustomerTenant;
use support::{
    TestNamespace, client, create_or_replace, eventually, kubectl, parse_documents, repo_root,
};

const API_VERSION: &str = "ciam.dev/v1alpha1";

#[tokio::test]
async fn all_four_crds_are_established() {
    let client = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for (_, crd) in ciam_operator::api::crds() {
        let name = crd.name_any();
        let live = crds
            .get(&name)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let established = live
            .status
            .and_then(|status| status.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|condition| condition.type_ == "Established" && condition.status == "True");
        assert!(established, "{name} is not Established");
    }
}

#[tokio::test]
async fn examples_are_accepted_by_the_api_server() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "examples").await;
    let examples = repo_root().join("deploy/examples");
    let output = kubectl(&[
        "apply",
        "-n",
        &namespace.name,
        "-f",
        examples.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "kubectl apply of deploy/examples failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut expected = Vec::new();
    for entry in std::fs::read_dir(&examples).expect("deploy/examples exists") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        for document in parse_documents(&text) {
            if document["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("ciam.dev/"))
            {
                expected.push(format!(
                    "{}/{}",
                    document["kind"].as_str().unwrap().to_lowercase(),
                    document["metadata"]["name"].as_str().unwrap()
                ));
            }
        }
    }
    let kinds: Vec<&str> = expected
        .iter()
        .map(|e| e.split('/').next().unwrap())
        .collect();
    for kind in ["customertenant", "appregistration", "userflow", "branding"] {
        assert!(kinds.contains(&kind), "deploy/examples has no {kind}");
    }

    let listed = kubectl(&["get", "ciam", "-n", &namespace.name, "-o", "name"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    for object in &expected {
        assert!(
            listed
                .lines()
                .any(|line| line.starts_with(object.split('/').next().unwrap())
                    && line.ends_with(object.split('/').nth(1).unwrap())),
            "{object} not found in `kubectl get ciam`:\n{listed}"
        );
    }
}

/// Every manifest under `tests/invalid/` is refused with the message its `# expect:` line
/// names. Files with two documents create the first and refuse the second as an update.
#[tokio::test]
async fn invalid_manifests_are_rejected_with_the_intended_message() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "invalid").await;
    let corpus = repo_root().join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .expect("tests/invalid exists")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "the corpus has only {} manifests",
        files.len()
    );

    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("readable");
        let expect = text
            .lines()
            .find_map(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name} has no `# expect:` line"))
            .to_string();
        let documents = parse_documents(&text);
        let (setup, refused) = documents.split_at(documents.len() - 1);
        for document in setup {
            if let Err(error) = create_or_replace(&client, &namespace.name, document).await {
                failures.push(format!("{name}: setup document was refused: {error}"));
            }
        }
        match create_or_replace(&client, &namespace.name, &refused[0]).await {
            Ok(_) => failures.push(format!(
                "{name}: accepted, expected refusal with {expect:?}"
            )),
            Err(kube::Error::Api(status)) if status.message.contains(&expect) => {}
            Err(error) => failures.push(format!(
                "{name}: refused with\n    {error}\n  expected {expect:?}"
            )),
        }
        for document in setup {
            support::delete(&client, &namespace.name, document).await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} manifests failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The redirect URIs apps really register pass the rules that refuse the malformed ones in
/// `tests/invalid/`: ports, queries, IPv6 hosts, loopback http and custom schemes.
#[tokio::test]
async fn redirect_uris_that_apps_use_are_accepted() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "redirects").await;
    let uris_by_type = [
        (
            "web",
            vec![
                "https://shop.contoso.example:8443/signin-oidc?region=eu",
                "https://[2001:db8::1]/signin-oidc",
                "https://shop.contoso.example",
                "http://localhost/signin-oidc",
                "http://127.0.0.1:8400/",
            ],
        ),
        (
            "spa",
            vec!["https://orders.contoso.example/", "http://localhost:5173/"],
        ),
        (
            "native",
            vec![
                "com.contoso.app:/oauth2redirect",
                "msauth.com.contoso.app://auth",
                "http://127.0.0.1:49152/",
                "https://contoso.example/app-callback",
            ],
        ),
    ];
    for (app_type, uris) in uris_by_type {
        let app = serde_json::json!({
            "apiVersion": API_VERSION, "kind": "AppRegistration",
            "metadata": { "name": format!("{app_type}-app") },
            "spec": {
                "tenantRef": { "name": "contoso" }, "displayName": "Contoso app",
                "type": app_type, "redirectUris": uris, "postLogoutRedirectUris": uris
            }
        });
        if let Err(error) = create_or_replace(&client, &namespace.name, &app).await {
            panic!("a {app_type} app with {uris:?} was refused: {error}");
        }
    }
}

/// The rules on names, labels and Secret template keys refuse only what they name: names in
/// any script (accents, CJK, Arabic, emoji), and the team's own labels and annotations, even
/// ones that merely resemble the operator's keys, are accepted.
#[tokio::test]
async fn names_in_any_script_and_the_teams_own_secret_keys_are_accepted() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "names").await;
    let names = [
        "Contoso Ünïcode — Café",
        "コントソ 株式会社",
        "كونتوسو",
        "Contoso ✓ 🛒",
    ];
    for (index, name) in names.iter().enumerate() {
        let app = serde_json::json!({
            "apiVersion": API_VERSION, "kind": "AppRegistration",
            "metadata": { "name": format!("app-{index}") },
            "spec": {
                "tenantRef": { "name": "contoso" }, "displayName": name, "type": "web",
                "exposedApi": { "scopes": [{ "value": "orders.read", "userConsentDisplayName": name }] },
                "credentials": {
                    "secretName": "shop-oidc",
                    "secretTemplate": {
                        "labels": { "app.kubernetes.io/part-of": "shop", "team": "payments" },
                        "annotations": {
                            "reloader.stakater.com/match": "true",
                            "notciam.dev/owner": "payments",
                            "ciam.dev.example.com/note": "not the operator's domain"
                        }
                    }
                }
            }
        });
        if let Err(error) = create_or_replace(&client, &namespace.name, &app).await {
            panic!("an app named {name:?} was refused: {error}");
        }
    }
}

#[tokio::test]
async fn kubectl_explain_prints_the_field_docs() {
    support::cluster();
    let output = kubectl(&["explain", "customertenant.spec"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "DNS label naming the tenant in URLs",
        "ISO 3166-1 alpha-2 country code of the data location",
        "allowedNamespaces",
        "deletionPolicy",
    ] {
        assert!(
            text.contains(expected),
            "`kubectl explain customertenant.spec` lacks {expected:?}:\n{text}"
        );
    }
    let output = kubectl(&[
        "explain",
        "appregistration.spec.credentials.rotation.overlap",
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("How long the previous secret keeps working"),
        "{text}"
    );
}

/// One kind's printer columns as `kubectl get` shows them: an object with the status the
/// operator would write, and what a user reads in the default and the `-o wide` table.
struct PrinterColumnsCase {
    /// What a user types after `kubectl get` (a plural or a short name).
    resource: &'static str,
    object: serde_json::Value,
    status: serde_json::Value,
    /// Headers of the default table, in order.
    columns: &'static [&'static str],
    /// Values of the object's row by header; `AGE` is checked separately.
    row: &'static [(&'static str, &'static str)],
    /// Headers of `-o wide`, in order.
    wide_columns: &'static [&'static str],
    /// Values only `-o wide` shows.
    wide_row: &'static [(&'static str, &'static str)],
}

/// The status the operator writes once `kind` serves: `Ready=True`, with `extra` fields.
fn ready_status(kind: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut status = serde_json::json!({
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Reconciled",
            "message": "serving", "lastTransitionTime": "2026-11-22T00:00:00Z",
            "observedGeneration": 1
        }]
    });
    for (key, value) in extra.as_object().expect("extra status is an object") {
        status[key] = value.clone();
    }
    serde_json::json!({ "apiVersion": API_VERSION, "kind": kind, "status": status })
}

fn printer_columns_cases() -> Vec<PrinterColumnsCase> {
    vec![
        PrinterColumnsCase {
            resource: "customertenants",
            object: serde_json::json!({
                "apiVersion": API_VERSION, "kind": "CustomerTenant",
                "metadata": { "name": "contoso" },
                "spec": { "displayName": "Contoso", "subdomain": "contoso-shop", "countryCode": "US" }
            }),
            status: ready_status(
                "CustomerTenant",
                serde_json::json!({
                    "tenantId": "6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11",
                    "issuer": "https://id.contoso.example/contoso-shop/v2.0"
                }),
            ),
            columns: &["NAME", "SUBDOMAIN", "READY", "REASON", "AGE"],
            row: &[
                ("NAME", "contoso"),
                ("SUBDOMAIN", "contoso-shop"),
                ("READY", "True"),
                ("REASON", "Reconciled"),
            ],
            wide_columns: &[
                "NAME",
                "SUBDOMAIN",
                "READY",
                "REASON",
                "TENANT ID",
                "ISSUER",
                "AGE",
            ],
            wide_row: &[
                ("TENANT ID", "6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"),
                ("ISSUER", "https://id.contoso.example/contoso-shop/v2.0"),
            ],
        },
        PrinterColumnsCase {
            resource: "appregistrations",
            object: serde_json::json!({
                "apiVersion": API_VERSION, "kind": "AppRegistration",
                "metadata": { "name": "storefront" },
                "spec": {
                    "tenantRef": { "name": "contoso" }, "displayName": "Storefront", "type": "web",
                    "redirectUris": ["https://shop.contoso.example/signin-oidc"]
                }
            }),
            status: ready_status(
                "AppRegistration",
                serde_json::json!({
                    "clientId": "0b7c2d2e-5f1a-4e0b-9a52-3c8d6f4e1a20",
                    "secretName": "storefront-credentials",
                    "userFlow": "shoppers"
                }),
            ),
            columns: &["NAME", "TYPE", "CLIENT ID", "READY", "REASON", "AGE"],
            row: &[
                ("NAME", "storefront"),
                ("TYPE", "web"),
                ("CLIENT ID", "0b7c2d2e-5f1a-4e0b-9a52-3c8d6f4e1a20"),
                ("READY", "True"),
                ("REASON", "Reconciled"),
            ],
            wide_columns: &[
                "NAME",
                "TYPE",
                "CLIENT ID",
                "READY",
                "REASON",
                "SECRET",
                "USER FLOW",
                "AGE",
            ],
            wide_row: &[
                ("SECRET", "storefront-credentials"),
                ("USER FLOW", "shoppers"),
            ],
        },
        PrinterColumnsCase {
            resource: "uflow",
            object: serde_json::json!({
                "apiVersion": API_VERSION, "kind": "UserFlow",
                "metadata": { "name": "shoppers" },
                "spec": {
                    "tenantRef": { "name": "contoso" }, "displayName": "Shoppers",
                    "applications": ["storefront"],
                    "signIn": { "methods": ["emailPassword"] }
                }
            }),
            status: ready_status("UserFlow", serde_json::json!({})),
            columns: &["NAME", "TENANT", "READY", "REASON", "AGE"],
            row: &[
                ("NAME", "shoppers"),
                ("TENANT", "contoso"),
                ("READY", "True"),
                ("REASON", "Reconciled"),
            ],
            wide_columns: &["NAME", "TENANT", "READY", "REASON", "APPS", "AGE"],
            wide_row: &[("APPS", r#"["storefront"]"#)],
        },
        PrinterColumnsCase {
            resource: "brand",
            object: serde_json::json!({
                "apiVersion": API_VERSION, "kind": "Branding",
                "metadata": { "name": "contoso-look" },
                "spec": {
                    "tenantRef": { "name": "contoso" },
                    "default": { "backgroundColor": "#0f6cbd" }
                }
            }),
            status: ready_status(
                "Branding",
                serde_json::json!({
                    "previewUrl": "https://id.contoso.example/contoso-shop/oauth2/v2.0/authorize"
                }),
            ),
            columns: &["NAME", "TENANT", "READY", "REASON", "AGE"],
            row: &[
                ("NAME", "contoso-look"),
                ("TENANT", "contoso"),
                ("READY", "True"),
                ("REASON", "Reconciled"),
            ],
            wide_columns: &["NAME", "TENANT", "READY", "REASON", "PREVIEW", "AGE"],
            wide_row: &[(
                "PREVIEW",
                "https://id.contoso.example/contoso-shop/oauth2/v2.0/authorize",
            )],
        },
    ]
}

/// A `kubectl get` table as a person reads it: a column starts where its header starts.
/// Headers such as `CLIENT ID` hold one space and kubectl pads columns with at least
/// two, so splitting on whitespace would not do; empty cells are blank.
fn read_table(text: &str) -> (Vec<String>, Vec<std::collections::BTreeMap<String, String>>) {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    let mut previous = ' ';
    let mut spaces_before = 2;
    for (offset, character) in header.char_indices() {
        if character != ' ' && previous == ' ' && spaces_before >= 2 {
            starts.push(offset);
        }
        spaces_before = if character == ' ' {
            spaces_before + 1
        } else {
            0
        };
        previous = character;
    }
    let cell = |line: &str, index: usize| -> String {
        let start = starts[index].min(line.len());
        let end = starts
            .get(index + 1)
            .map_or(line.len(), |&end| end.min(line.len()));
        line[start..end].trim().to_string()
    };
    let columns: Vec<String> = (0..starts.len()).map(|index| cell(header, index)).collect();
    let rows = lines
        .map(|line| {
            columns
                .iter()
                .enumerate()
                .map(|(index, column)| (column.clone(), cell(line, index)))
                .collect()
        })
        .collect();
    (columns, rows)
}

/// `kubectl get` (default and `-o wide`) shows each kind's printer columns with the values of
/// its spec and of the status the operator writes.
#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "columns").await;
    let mut failures = Vec::new();
    for case in printer_columns_cases() {
        let kind = case.object["kind"].as_str().unwrap().to_string();
        let name = case.object["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        create_or_replace(&client, &namespace.name, &case.object)
            .await
            .unwrap_or_else(|error| panic!("{kind}/{name} was refused: {error}"));
        support::dynamic_api(&client, &namespace.name, &case.object)
            .await
            .patch_status(
                &name,
                &PatchParams::apply("ciam-tests").force(),
                &Patch::Apply(&case.status),
            )
            .await
            .unwrap_or_else(|error| panic!("status of {kind}/{name} was refused: {error}"));

        for (wide, expected_columns) in [(false, case.columns), (true, case.wide_columns)] {
            let mut args = vec!["get", case.resource, "-n", &namespace.name];
            if wide {
                args.extend(["-o", "wide"]);
            }
            let output = kubectl(&args);
            let text = String::from_utf8_lossy(&output.stdout);
            let shown = format!(
                "`kubectl {}`:\n{text}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            let (columns, rows) = read_table(&text);
            if columns != expected_columns {
                failures.push(format!(
                    "{kind}: columns {columns:?}, expected {expected_columns:?} in {shown}"
                ));
                continue;
            }
            let Some(row) = rows.iter().find(|row| row["NAME"] == name) else {
                failures.push(format!("{kind}: no row for {name} in {shown}"));
                continue;
            };
            let expected_row = case
                .row
                .iter()
                .chain(if wide { case.wide_row } else { &[] });
            for (column, value) in expected_row {
                if row[*column] != *value {
                    failures.push(format!(
                        "{kind}: {column} is {:?}, expected {value:?} in {shown}",
                        row[*column]
                    ));
                }
            }
            let age = &row["AGE"];
            if !(age.starts_with(|c: char| c.is_ascii_digit())
                && age.ends_with(['s', 'm', 'h', 'd']))
            {
                failures.push(format!("{kind}: AGE is {age:?} in {shown}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_secret_owned_by_a_custom_resource_is_garbage_collected() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "gc").await;
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    let tenant: CustomerTenant = serde_json::from_value(serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant",
        "metadata": { "name": "owner" },
        "spec": { "displayName": "Owner", "subdomain": "owner", "countryCode": "DE" }
    }))
    .unwrap();
    let tenant = tenants
        .create(&PostParams::default(), &tenant)
        .await
        .unwrap();
    let owner = tenant.controller_owner_ref(&()).expect("tenant has a uid");
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "owned", "ownerReferences": [owner] },
        "stringData": { "CLIENT_ID": "not-a-secret" }
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    tenants
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the owned Secret to be garbage-collected",
        Duration::from_secs(60),
        || async {
            secrets
                .get_opt("owned")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_namespace_with_custom_resources_is_deleted() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "nsdel").await;
    let examples = repo_root().join("deploy/examples");
    let output = kubectl(&[
        "apply",
        "-n",
        &namespace.name,
        "-f",
        examples.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&namespace.name, &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the namespace to be deleted",
        Duration::from_secs(90),
        || async {
            namespaces
                .get_opt(&namespace.name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}
