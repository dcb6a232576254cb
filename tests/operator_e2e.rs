//! The operator end to end: the real control plane, the real runtime process and the real
//! operator process, each test in its own namespace with its own operator and runtime.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use ciam_operator::api::{AppRegistration, Branding, CustomerTenant, UserFlow};
use support::{
    Operator, Runtime, TestNamespace, client, create_or_replace, eventually, parse_documents,
    repo_root,
};

const WAIT: Duration = Duration::from_secs(90);

/// Applies `deploy/examples/` into `namespace`, giving the tenant a subdomain of its own.
async fn apply_examples(client: &Client, namespace: &str, subdomain: &str) {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("deploy/examples"))
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        for mut document in parse_documents(&std::fs::read_to_string(file).expect("readable")) {
            if document["kind"] == "CustomerTenant" {
                document["spec"]["subdomain"] = subdomain.into();
            }
            create_or_replace(client, namespace, &document)
                .await
                .expect("example accepted");
        }
    }
}

/// Waits until the object's `Ready` condition has `status` and `reason`; on timeout the panic
/// shows the last condition seen.
async fn wait_ready<K>(api: &Api<K>, name: &str, status: &str, reason: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(object)) = api.get_opt(name).await {
            let value = serde_json::to_value(&object).expect("serializable");
            if let Some(ready) = value["status"]["conditions"]
                .as_array()
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"))
            {
                if ready["status"] == status && ready["reason"] == reason {
                    return;
                }
                last = ready.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "{name} did not reach Ready={status} ({reason}) within {WAIT:?}; last condition: {last}"
    );
}

fn secret_value(secret: &Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().expect("data")[key].0;
    String::from_utf8(bytes.clone()).expect("UTF-8")
}

#[tokio::test]
async fn the_examples_become_ready_and_the_daemon_obtains_a_token() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-examples").await;
    let runtime = Runtime::start("examples").await;
    let operator = Operator::start(&runtime, &namespace.name, 300);
    let subdomain = namespace.name.clone();
    apply_examples(&client, &namespace.name, &subdomain).await;

    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    let flows: Api<UserFlow> = Api::namespaced(client.clone(), &namespace.name);
    let brandings: Api<Branding> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&tenants, "contoso", "True", "Reconciled").await;
    for app in ["storefront", "orders-api", "nightly-reports"] {
        wait_ready(&apps, app, "True", "Reconciled").await;
    }
    wait_ready(&flows, "shoppers", "True", "Reconciled").await;
    // The example's custom CSS lives in a ConfigMap the runtime cannot serve yet: reported by
    // name, never silently dropped.
    wait_ready(&brandings, "contoso", "False", "UnsupportedByBackend").await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    let daemon = secrets
        .get("nightly-reports-credentials")
        .await
        .expect("daemon Secret");
    let spa = secrets
        .get("orders-api-credentials")
        .await
        .expect("spa Secret");
    assert!(
        !spa.data.as_ref().unwrap().contains_key("CLIENT_SECRET"),
        "a public client has no secret"
    );

    let http = reqwest::Client::new();
    let discovery: serde_json::Value = http
        .get(secret_value(&daemon, "DISCOVERY_URL"))
        .send()
        .await
        .expect("discovery answers")
        .json()
        .await
        .expect("discovery is JSON");
    assert_eq!(discovery["issuer"], secret_value(&daemon, "ISSUER_URL"));
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .expect("token endpoint");

    let spa_app = apps.get("orders-api").await.unwrap();
    let identifier = spa_app.spec.exposed_api.unwrap().identifier_uri.unwrap();
    let response = http
        .post(token_endpoint)
        .basic_auth(
            secret_value(&daemon, "CLIENT_ID"),
            Some(secret_value(&daemon, "CLIENT_SECRET")),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &format!("{identifier}/.default")),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("token response is JSON");
    assert!(status.is_success(), "client credentials refused: {body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|token| token.split('.').count() == 3)
    );

    // No generated secret in the operator's log.
    let log = std::fs::read_to_string(&operator.log).expect("operator log");
    for secret in ["storefront-oidc", "nightly-reports-credentials"] {
        let value = secret_value(&secrets.get(secret).await.unwrap(), "CLIENT_SECRET");
        assert!(
            !log.contains(&value),
            "the operator log contains the secret of {secret}"
        );
    }
}

#[tokio::test]
async fn edits_and_deletions_reach_the_runtime() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-edits").await;
    let runtime = Runtime::start("edits").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let subdomain = namespace.name.clone();
    let tenant = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant", "metadata": { "name": "shop" },
        "spec": { "displayName": "Shop", "subdomain": subdomain, "countryCode": "FR" }
    });
    let app = |name: &str, policy: &str| {
        serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": name },
            "spec": { "tenantRef": { "name": "shop" }, "displayName": name, "type": "web",
                      "redirectUris": ["https://shop.example/cb"], "deletionPolicy": policy }
        })
    };
    create_or_replace(&client, &namespace.name, &tenant)
        .await
        .unwrap();
    create_or_replace(&client, &namespace.name, &app("kept", "Retain"))
        .await
        .unwrap();
    create_or_replace(&client, &namespace.name, &app("removed", "Delete"))
        .await
        .unwrap();
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "kept", "True", "Reconciled").await;
    wait_ready(&apps, "removed", "True", "Reconciled").await;
    let client_id = |app: AppRegistration| app.status.unwrap().client_id.unwrap();
    let kept_id = client_id(apps.get("kept").await.unwrap());
    let removed_id = client_id(apps.get("removed").await.unwrap());

    let patch =
        serde_json::json!({ "spec": { "redirectUris": ["https://shop.example/new-callback"] } });
    apps.patch("removed", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("the new redirect URI in the runtime", WAIT, || async {
        let stored = runtime
            .admin_get(&format!("tenants/{subdomain}/clients/{removed_id}"))
            .await?;
        (stored["spec"]["redirectUris"] == serde_json::json!(["https://shop.example/new-callback"]))
            .then_some(())
    })
    .await;

    apps.delete("removed", &DeleteParams::default())
        .await
        .unwrap();
    apps.delete("kept", &DeleteParams::default()).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    eventually(
        "the deleted app's client and Secret to go",
        WAIT,
        || async {
            let client_gone = runtime
                .admin_get(&format!("tenants/{subdomain}/clients/{removed_id}"))
                .await
                .is_none();
            let secret_gone = secrets.get_opt("removed-credentials").await.ok()?.is_none();
            (client_gone && secret_gone).then_some(())
        },
    )
    .await;
    eventually("the Retain app's resource to go", WAIT, || async {
        apps.get_opt("kept").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        runtime
            .admin_get(&format!("tenants/{subdomain}/clients/{kept_id}"))
            .await
            .is_some(),
        "deletionPolicy Retain keeps the client in the runtime"
    );
}

#[tokio::test]
async fn cross_object_rules_are_reported_on_the_later_object() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-rules").await;
    let other = TestNamespace::create(&client, "e2e-rules-other").await;
    let runtime = Runtime::start("rules").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let _other_operator = Operator::start(&runtime, &other.name, 300);
    apply_examples(&client, &namespace.name, &namespace.name).await;
    let flows: Api<UserFlow> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&flows, "shoppers", "True", "Reconciled").await;

    // A second flow claiming an app of the first.
    let second_flow = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "UserFlow", "metadata": { "name": "late" },
        "spec": { "tenantRef": { "name": "contoso" }, "displayName": "Late", "applications": ["storefront"],
                  "signIn": { "methods": ["emailOtp"] } }
    });
    create_or_replace(&client, &namespace.name, &second_flow)
        .await
        .unwrap();
    wait_ready(&flows, "late", "False", "AppAlreadyInFlow").await;
    wait_ready(&flows, "shoppers", "True", "Reconciled").await;

    // A second Branding for the same tenant.
    let second_branding = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "Branding", "metadata": { "name": "late" },
        "spec": { "tenantRef": { "name": "contoso" }, "default": { "backgroundColor": "#000" } }
    });
    create_or_replace(&client, &namespace.name, &second_branding)
        .await
        .unwrap();
    let brandings: Api<Branding> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&brandings, "late", "False", "BrandingAlreadyDefined").await;

    // An app in another namespace, while the tenant allows only its own.
    let foreign_app = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": "foreign" },
        "spec": { "tenantRef": { "name": "contoso", "namespace": namespace.name }, "displayName": "Foreign",
                  "type": "daemon" }
    });
    create_or_replace(&client, &other.name, &foreign_app)
        .await
        .unwrap();
    let other_apps: Api<AppRegistration> = Api::namespaced(client.clone(), &other.name);
    wait_ready(&other_apps, "foreign", "False", "RefNotPermitted").await;

    // Allowing every namespace lets it in, without touching the app.
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    let allow = serde_json::json!({ "spec": { "allowedNamespaces": { "from": "All" } } });
    tenants
        .patch("contoso", &PatchParams::default(), &Patch::Merge(&allow))
        .await
        .unwrap();
    wait_ready(&other_apps, "foreign", "True", "Reconciled").await;

    // Deleting the tenant waits for its dependents.
    tenants
        .delete("contoso", &DeleteParams::default())
        .await
        .unwrap();
    wait_ready(&tenants, "contoso", "False", "DependentsExist").await;
}
