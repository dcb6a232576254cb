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

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "columns").await;
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    let tenant: CustomerTenant = serde_json::from_value(serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant",
        "metadata": { "name": "contoso" },
        "spec": { "displayName": "Contoso", "subdomain": "contoso", "countryCode": "US" }
    }))
    .unwrap();
    tenants
        .create(&PostParams::default(), &tenant)
        .await
        .unwrap();
    let status = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant",
        "status": {
            "observedGeneration": 1,
            "tenantId": "6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11",
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Reconciled",
                "message": "tenant is serving", "lastTransitionTime": "2026-11-22T00:00:00Z",
                "observedGeneration": 1
            }]
        }
    });
    tenants
        .patch_status(
            "contoso",
            &PatchParams::apply("ciam-tests").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();

    let output = kubectl(&["get", "customertenants", "-n", &namespace.name]);
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "SUBDOMAIN", "READY", "REASON", "AGE"],
        "{text}"
    );
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..4],
        ["contoso", "contoso", "True", "Reconciled"],
        "{text}"
    );

    let wide = kubectl(&["get", "ctenant", "-n", &namespace.name, "-o", "wide"]);
    let wide = String::from_utf8_lossy(&wide.stdout);
    assert!(
        wide.contains("TENANT ID") && wide.contains("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"),
        "{wide}"
    );
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
