//! The operator end to end: the real control plane, the real runtime process and the real
//! operator process, each test in its own namespace with its own operator and runtime.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use ciam_operator::api::{AppRegistration, Branding, CustomerTenant, UserFlow};
use support::{
    Operator, Runtime, TestNamespace, apply_examples, client, client_credentials_token,
    create_or_replace, eventually, secret_value, tenant_with_api,
};

const WAIT: Duration = Duration::from_secs(90);

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
    wait_ready(&brandings, "contoso", "True", "Reconciled").await;
    // ConfigMap content reaches the runtime inline, and the SMTP Secret as settings.
    let branding = runtime
        .admin_get(&format!("tenants/{subdomain}/branding"))
        .await
        .expect("branding in the runtime");
    assert!(
        branding["spec"]["default"]["customCSS"]
            .as_str()
            .is_some_and(|css| css.contains(".ciam-card")),
        "custom CSS from the ConfigMap: {branding}"
    );
    // The example's logos come from its ConfigMap too, so the demo's pages show them offline.
    for image in ["bannerLogo", "favicon"] {
        assert!(
            branding["spec"]["default"][image]
                .as_str()
                .is_some_and(|uri| uri.starts_with("data:image/svg+xml")),
            "{image} from the ConfigMap: {branding}"
        );
    }
    let smtp = runtime
        .admin_get(&format!("tenants/{subdomain}/smtp"))
        .await
        .expect("SMTP settings in the runtime");
    assert_eq!(smtp["spec"]["host"], "127.0.0.1");
    assert_eq!(smtp["spec"]["port"], 2525);

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

    // The operator's own endpoints.
    let metrics = http
        .get(format!("{}/metrics", operator.metrics_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "ciam_operator_reconciles_total{kind=\"AppRegistration\"}",
        "ciam_operator_backend_request_duration_seconds_count{operation=\"apply\",object=\"client\"}",
        "ciam_operator_reconcile_duration_seconds_count{kind=\"CustomerTenant\"}",
    ] {
        assert!(
            metrics.contains(expected),
            "/metrics lacks {expected}:\n{metrics}"
        );
    }
    let ready = http
        .get(format!("{}/readyz", operator.metrics_url))
        .send()
        .await
        .unwrap();
    assert!(ready.status().is_success());

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
    let scope = format!("{},{}", namespace.name, other.name);
    let _operator = Operator::start(&runtime, &scope, 300);
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

fn daemon(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut app = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": name },
        "spec": { "tenantRef": { "name": "t" }, "displayName": name, "type": "daemon",
                  "apiPermissions": [{ "appName": "api", "scopes": ["read"] }] }
    });
    if let serde_json::Value::Object(fields) = extra {
        for (key, value) in fields {
            app["spec"][key] = value;
        }
    }
    app
}

/// Asks the runtime for a client-credentials token with the credentials in `secret`.
async fn token_with(secret: &Secret) -> Result<(), String> {
    let client_secret = secret_value(secret, "CLIENT_SECRET");
    client_credentials_token(secret, &client_secret, "api://reports/.default").await
}

async fn apply_all(client: &Client, namespace: &str, objects: &[serde_json::Value]) {
    for object in objects {
        create_or_replace(client, namespace, object)
            .await
            .expect("object accepted");
    }
}

#[tokio::test]
async fn an_outage_of_the_runtime_is_reported_and_recovers_by_itself() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-outage").await;
    let mut runtime = Runtime::start("outage").await;
    let _operator = Operator::start(&runtime, &namespace.name, 3);
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    apply_all(
        &client,
        &namespace.name,
        &[daemon("worker", serde_json::json!({}))],
    )
    .await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "worker", "True", "Reconciled").await;

    runtime.stop();
    let rename = serde_json::json!({ "spec": { "displayName": "Renamed while down" } });
    apps.patch("worker", &PatchParams::default(), &Patch::Merge(&rename))
        .await
        .unwrap();
    wait_ready(&apps, "worker", "False", "BackendUnavailable").await;
    wait_ready(&tenants, "t", "False", "BackendUnavailable").await;

    runtime.resume().await;
    wait_ready(&tenants, "t", "True", "Reconciled").await;
    wait_ready(&apps, "worker", "True", "Reconciled").await;
    let client_id = apps
        .get("worker")
        .await
        .unwrap()
        .status
        .unwrap()
        .client_id
        .unwrap();
    let stored = runtime
        .admin_get(&format!("tenants/{}/clients/{client_id}", namespace.name))
        .await
        .unwrap();
    assert_eq!(stored["spec"]["displayName"], "Renamed while down");
}

#[tokio::test]
async fn drift_is_corrected_with_an_event_and_a_deleted_secret_is_repaired() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-drift").await;
    let runtime = Runtime::start("drift").await;
    let _operator = Operator::start(&runtime, &namespace.name, 3);
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    apply_all(
        &client,
        &namespace.name,
        &[daemon("worker", serde_json::json!({}))],
    )
    .await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "worker", "True", "Reconciled").await;
    let client_id = apps
        .get("worker")
        .await
        .unwrap()
        .status
        .unwrap()
        .client_id
        .unwrap();
    let path = format!("tenants/{}/clients/{client_id}", namespace.name);

    // Changed behind the operator's back, by someone with the admin token who names the
    // recorded owner (without it, the runtime refuses to touch an owned client).
    let stored = runtime.admin_get(&path).await.unwrap();
    let owner = stored["owner"].clone();
    assert_eq!(owner["name"], "worker", "{stored}");
    let mut tampered = stored["spec"].clone();
    tampered["displayName"] = "tampered".into();
    let (status, _) = runtime
        .admin(reqwest::Method::PUT, &path, Some(&tampered))
        .await;
    assert_eq!(status, 409, "a write without the owner is refused");
    let (status, _) = runtime
        .admin_as(reqwest::Method::PUT, &path, Some(&owner), Some(&tampered))
        .await;
    assert!(status < 300, "tampering PUT answered {status}");
    eventually("the client to be restored", WAIT, || async {
        (runtime.admin_get(&path).await?["spec"]["displayName"] == "worker").then_some(())
    })
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), &namespace.name);
    eventually("a DriftCorrected event on the app", WAIT, || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .iter()
            .any(|event| {
                event.reason.as_deref() == Some("DriftCorrected")
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("worker")
            })
            .then_some(())
    })
    .await;

    // Deleted behind the operator's back.
    let (status, _) = runtime
        .admin_as(reqwest::Method::DELETE, &path, Some(&owner), None)
        .await;
    assert!(status < 300, "DELETE answered {status}");
    eventually("the deleted client to be recreated", WAIT, || async {
        runtime.admin_get(&path).await.map(|_| ())
    })
    .await;

    // The credentials Secret deleted: rewritten with the same client ID and working credentials.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    secrets
        .delete("worker-credentials", &DeleteParams::default())
        .await
        .unwrap();
    let repaired = eventually("the Secret to be rewritten", WAIT, || async {
        secrets.get_opt("worker-credentials").await.ok()?
    })
    .await;
    assert_eq!(secret_value(&repaired, "CLIENT_ID"), client_id);
    eventually("the rewritten credentials to work", WAIT, || async {
        token_with(&secrets.get("worker-credentials").await.ok()?)
            .await
            .ok()
    })
    .await;
}

#[tokio::test]
async fn rotation_never_breaks_a_client_that_keeps_requesting_tokens() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-rotation").await;
    let runtime = Runtime::start("rotation").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    let rotation =
        serde_json::json!({ "credentials": { "rotation": { "every": "1m", "overlap": "20s" } } });
    apply_all(&client, &namespace.name, &[daemon("rotating", rotation)]).await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "rotating", "True", "Reconciled").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);

    // An app that re-reads its Secret every few seconds, as a kubelet-mounted Secret would
    // be refreshed, and holds on to what it read in between.
    let first = secret_value(
        &secrets.get("rotating-credentials").await.unwrap(),
        "CLIENT_SECRET",
    );
    let mut seen = vec![first.clone()];
    let mut held = secrets.get("rotating-credentials").await.unwrap();
    let started = std::time::Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(80) {
        if let Err(error) = token_with(&held).await {
            panic!(
                "a token request failed after {:?} ({requests} succeeded before): {error}",
                started.elapsed()
            );
        }
        requests += 1;
        if requests % 5 == 0 {
            held = secrets.get("rotating-credentials").await.unwrap();
            let current = secret_value(&held, "CLIENT_SECRET");
            if seen.last() != Some(&current) {
                seen.push(current);
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        seen.len() >= 2,
        "the secret was not rotated within 80 s ({requests} requests)"
    );
    let status = apps.get("rotating").await.unwrap().status.unwrap();
    assert!(
        status.secret_expires_at.is_some(),
        "secretExpiresAt is reported"
    );
    // After the overlap the first secret stops working.
    let mut expired = held.clone();
    expired.data.as_mut().unwrap().insert(
        "CLIENT_SECRET".into(),
        k8s_openapi::ByteString(first.into_bytes()),
    );
    eventually(
        "the replaced secret to stop working after the overlap",
        Duration::from_secs(60),
        || async { token_with(&expired).await.is_err().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn killing_the_operator_at_random_moments_loses_nothing() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-crash").await;
    let runtime = Runtime::start("crash").await;
    let mut operator = Some(Operator::start(&runtime, &namespace.name, 300));
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "api", "True", "Reconciled").await;

    // A fixed pseudo-random schedule (so a failure can be replayed): kill after a varying
    // number of created apps, restart at once.
    let mut seed: u64 = 0x5eed_cafe;
    let mut next_kill = 3;
    for index in 0..50 {
        create_or_replace(
            &client,
            &namespace.name,
            &daemon(&format!("app-{index:02}"), serde_json::json!({})),
        )
        .await
        .unwrap();
        if index == next_kill {
            drop(operator.take()); // SIGKILL
            operator = Some(Operator::start(&runtime, &namespace.name, 300));
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            next_kill = index + 2 + (seed >> 60) as usize;
            tokio::time::sleep(Duration::from_millis((seed >> 52) % 700)).await;
        }
    }
    for index in 0..50 {
        wait_ready(&apps, &format!("app-{index:02}"), "True", "Reconciled").await;
    }

    let clients = runtime
        .admin_get(&format!("tenants/{}/clients", namespace.name))
        .await
        .unwrap();
    let stored: Vec<String> = clients["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientId"].as_str().unwrap().to_string())
        .collect();
    let mut expected = Vec::new();
    for app in apps.list(&Default::default()).await.unwrap().items {
        expected.push(app.status.unwrap().client_id.unwrap());
    }
    let (mut stored_sorted, mut expected_sorted) = (stored.clone(), expected.clone());
    stored_sorted.sort();
    expected_sorted.sort();
    assert_eq!(expected_sorted.len(), 51, "50 daemons and the API app");
    assert_eq!(
        stored_sorted, expected_sorted,
        "the runtime holds exactly the registered clients, nothing orphaned"
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    for index in 0..50 {
        let secret = secrets
            .get(&format!("app-{index:02}-credentials"))
            .await
            .unwrap();
        token_with(&secret)
            .await
            .unwrap_or_else(|error| panic!("app-{index:02}'s credentials fail: {error}"));
    }
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_follower_takes_over() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-leader").await;
    let runtime = Runtime::start("leader").await;
    let election = ["--leader-election-namespace", namespace.name.as_str()];
    let first = Operator::start_with(&runtime, &namespace.name, 300, &election);
    let http = reqwest::Client::new();
    let is_leader = |operator: &Operator| {
        let url = format!("{}/metrics", operator.metrics_url);
        let http = http.clone();
        async move {
            let Ok(response) = http.get(url).send().await else {
                return false;
            };
            let text = response.text().await.unwrap_or_default();
            text.lines().any(|line| line == "ciam_operator_leader 1")
        }
    };
    eventually("the first replica to lead", WAIT, || async {
        is_leader(&first).await.then_some(())
    })
    .await;
    let second = Operator::start_with(&runtime, &namespace.name, 300, &election);
    // The second replica is ready (a standby must not block a rolling update) but does not
    // lead while the first holds the Lease.
    eventually("the second replica to be ready", WAIT, || async {
        http.get(format!("{}/readyz", second.metrics_url))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
    assert!(!is_leader(&second).await, "two replicas lead at once");

    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "api", "True", "Reconciled").await;

    drop(first); // SIGKILL: the Lease is not released and must expire.
    eventually(
        "the second replica to take over",
        Duration::from_secs(60),
        || async { is_leader(&second).await.then_some(()) },
    )
    .await;
    apply_all(
        &client,
        &namespace.name,
        &[daemon("after-failover", serde_json::json!({}))],
    )
    .await;
    wait_ready(&apps, "after-failover", "True", "Reconciled").await;
}

#[tokio::test]
async fn flow_and_branding_edits_reach_the_runtime_and_an_eleventh_flow_is_refused() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-flows").await;
    let runtime = Runtime::start("flows").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let subdomain = namespace.name.clone();
    apply_examples(&client, &namespace.name, &subdomain).await;
    let flows: Api<UserFlow> = Api::namespaced(client.clone(), &namespace.name);
    let brandings: Api<Branding> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&flows, "shoppers", "True", "Reconciled").await;
    wait_ready(&brandings, "contoso", "True", "Reconciled").await;

    let attributes = serde_json::json!({ "spec": { "attributes": [
        { "name": "email" },
        { "name": "city", "label": "Home town", "required": true }
    ] } });
    flows
        .patch(
            "shoppers",
            &PatchParams::default(),
            &Patch::Merge(&attributes),
        )
        .await
        .unwrap();
    let flow_path = format!("tenants/{subdomain}/userflows/{}.shoppers", namespace.name);
    eventually("the new attributes in the runtime", WAIT, || async {
        let stored = runtime.admin_get(&flow_path).await?;
        (stored["spec"]["attributes"][1]["label"] == "Home town").then_some(())
    })
    .await;

    let colour = serde_json::json!({ "spec": { "default": { "backgroundColor": "#123456" } } });
    brandings
        .patch("contoso", &PatchParams::default(), &Patch::Merge(&colour))
        .await
        .unwrap();
    eventually("the new background colour in the runtime", WAIT, || async {
        let stored = runtime
            .admin_get(&format!("tenants/{subdomain}/branding"))
            .await?;
        (stored["spec"]["default"]["backgroundColor"] == "#123456").then_some(())
    })
    .await;

    // Ten more flows: with shoppers that makes eleven, and the latest (by creation time, then
    // name) is refused while the first ten keep working.
    for index in 1..=10 {
        let flow = serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "UserFlow", "metadata": { "name": format!("extra-{index:02}") },
            "spec": { "tenantRef": { "name": "contoso" }, "displayName": "Extra", "signIn": { "methods": ["emailOtp"] } }
        });
        create_or_replace(&client, &namespace.name, &flow)
            .await
            .unwrap();
    }
    // Exactly one of the eleven is refused; shoppers, which served first, is never displaced.
    // (Flows created within the same second are ordered by name, so which newcomer is refused
    // depends on the order the operator sees them in.)
    let refused = eventually("ten serving flows and one refused", WAIT, || async {
        let mut serving = Vec::new();
        let mut refused = Vec::new();
        for flow in flows.list(&Default::default()).await.ok()?.items {
            let ready = flow
                .status
                .as_ref()?
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")?
                .clone();
            match (ready.status.as_str(), ready.reason.as_str()) {
                ("True", "Reconciled") => serving.push(flow.metadata.name.clone()?),
                ("False", "TooManyUserFlows") => refused.push(flow.metadata.name.clone()?),
                _ => return None,
            }
        }
        (serving.len() == 10 && refused.len() == 1 && serving.iter().any(|name| name == "shoppers"))
            .then_some(refused)
    })
    .await;
    assert!(refused[0].starts_with("extra-"), "{refused:?}");
}

#[tokio::test]
async fn an_app_is_deleted_cleanly_after_its_tenant_was_removed_by_force() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-orphan").await;
    let runtime = Runtime::start("orphan").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "api", "True", "Reconciled").await;

    // Someone deletes the tenant and, as it waits for its app, strips its finalizer: the
    // operator never cleans it up. (Stripping first would race the operator, which puts its
    // finalizer back on a live object.)
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    tenants.delete("t", &DeleteParams::default()).await.unwrap();
    let no_finalizers = serde_json::json!({ "metadata": { "finalizers": null } });
    tenants
        .patch("t", &PatchParams::default(), &Patch::Merge(&no_finalizers))
        .await
        .unwrap();
    eventually("the tenant to be gone", WAIT, || async {
        tenants.get_opt("t").await.ok()?.is_none().then_some(())
    })
    .await;
    wait_ready(&apps, "api", "False", "TenantNotFound").await;

    // The app's own deletion still completes: its cleanup copes with the missing tenant.
    apps.delete("api", &DeleteParams::default()).await.unwrap();
    eventually("the app to be deleted", WAIT, || async {
        apps.get_opt("api").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_operator_serves_several_namespaces_and_subdomains_stay_unique() {
    let client = client().await;
    let first = TestNamespace::create(&client, "e2e-multi-a").await;
    let second = TestNamespace::create(&client, "e2e-multi-b").await;
    let runtime = Runtime::start("multi").await;
    let scope = format!("{},{}", first.name, second.name);
    let _operator = Operator::start(&runtime, &scope, 300);

    // The same subdomain in two namespaces: the earlier tenant keeps it.
    let subdomain = first.name.clone();
    apply_all(&client, &first.name, &tenant_with_api(&subdomain)).await;
    let first_tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &first.name);
    wait_ready(&first_tenants, "t", "True", "Reconciled").await;
    apply_all(&client, &second.name, &tenant_with_api(&subdomain)[..1]).await;
    let second_tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &second.name);
    wait_ready(&second_tenants, "t", "False", "SubdomainInUse").await;
    let taken = second_tenants.get("t").await.unwrap();
    let conditions = &taken.status.unwrap().conditions;
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True"),
        "a conflict needs a person: {conditions:?}"
    );
    wait_ready(&first_tenants, "t", "True", "Reconciled").await;

    // An app in the second namespace uses the first namespace's tenant once it is allowed;
    // the tenant's change alone wakes the app (the resync is 300 s).
    let foreign = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": "foreign" },
        "spec": { "tenantRef": { "name": "t", "namespace": first.name }, "displayName": "Foreign",
                  "type": "daemon" }
    });
    apply_all(&client, &second.name, &[foreign]).await;
    let second_apps: Api<AppRegistration> = Api::namespaced(client.clone(), &second.name);
    wait_ready(&second_apps, "foreign", "False", "RefNotPermitted").await;
    let allow = serde_json::json!({ "spec": { "allowedNamespaces": { "from": "All" } } });
    first_tenants
        .patch("t", &PatchParams::default(), &Patch::Merge(&allow))
        .await
        .unwrap();
    wait_ready(&second_apps, "foreign", "True", "Reconciled").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &second.name);
    let secret = secrets.get("foreign-credentials").await.unwrap();
    assert_eq!(
        secret_value(&secret, "ISSUER_URL"),
        format!("{}/{subdomain}/v2.0", runtime.public_url)
    );

    // A tenant in a namespace the operator does not watch is named as such.
    let unwatched = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": "unwatched" },
        "spec": { "tenantRef": { "name": "t", "namespace": "kube-system" }, "displayName": "Unwatched",
                  "type": "daemon" }
    });
    apply_all(&client, &second.name, &[unwatched]).await;
    wait_ready(&second_apps, "unwatched", "False", "RefNotPermitted").await;
    let conditions = second_apps
        .get("unwatched")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions;
    let message = &conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .message;
    assert!(message.contains("does not watch"), "{message}");

    // The tenant waits for the foreign app before it goes.
    first_tenants
        .delete("t", &DeleteParams::default())
        .await
        .unwrap();
    let message = eventually("the tenant to count the foreign app", WAIT, || async {
        let tenant = first_tenants.get("t").await.ok()?;
        let ready = tenant
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.reason == "DependentsExist").then_some(ready.message)
    })
    .await;
    assert!(message.contains("2 AppRegistrations"), "{message}");
}

#[tokio::test]
async fn an_undecodable_object_is_reported_and_its_controller_keeps_working() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-undecodable").await;
    let runtime = Runtime::start("undecodable").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    apply_all(&client, &namespace.name, &tenant_with_api(&namespace.name)).await;
    let broken = daemon("broken", serde_json::json!({}));
    apply_all(&client, &namespace.name, std::slice::from_ref(&broken)).await;
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&apps, "broken", "True", "Reconciled").await;

    // Something writes a timestamp the API server's schema admits (13 fractional digits) but
    // the operator's types cannot hold (nanoseconds at most).
    let dynamic = support::dynamic_api(&client, &namespace.name, &broken).await;
    let junk = serde_json::json!({ "status": { "secretExpiresAt": "2030-01-01T00:00:00.1234567891234Z" } });
    dynamic
        .patch_status("broken", &PatchParams::default(), &Patch::Merge(&junk))
        .await
        .unwrap();
    let (ready, conditions) = eventually("the broken app to be reported", WAIT, || async {
        let object = dynamic.get("broken").await.ok()?;
        let conditions = object.data["status"]["conditions"].as_array()?.clone();
        let ready = conditions.iter().find(|c| c["type"] == "Ready")?.clone();
        (ready["reason"] == "InvalidSpec").then_some((ready, conditions))
    })
    .await;
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("cannot read this object"),
        "{ready}"
    );
    assert!(
        conditions.iter().any(|c| c["type"] == "Stalled"),
        "{conditions:?}"
    );

    // The controller goes on: a new app becomes Ready.
    apply_all(
        &client,
        &namespace.name,
        &[daemon("healthy", serde_json::json!({}))],
    )
    .await;
    wait_ready(&apps, "healthy", "True", "Reconciled").await;

    // Once corrected, the broken app is Ready again and Stalled is gone.
    let fixed = serde_json::json!({ "status": { "secretExpiresAt": null } });
    dynamic
        .patch_status("broken", &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .unwrap();
    wait_ready(&apps, "broken", "True", "Reconciled").await;
    let conditions = apps.get("broken").await.unwrap().status.unwrap().conditions;
    assert!(
        conditions.iter().all(|c| c.type_ == "Ready"),
        "{conditions:?}"
    );
}

#[tokio::test]
async fn a_tenant_picks_up_its_smtp_secret_when_it_appears() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-smtp").await;
    let runtime = Runtime::start("smtp").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let tenant = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant", "metadata": { "name": "mail" },
        "spec": { "displayName": "Mail", "subdomain": namespace.name, "countryCode": "DE",
                  "email": { "fromAddress": "no-reply@example.com", "smtpSecretRef": { "name": "smtp" } } }
    });
    apply_all(&client, &namespace.name, &[tenant]).await;
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&tenants, "mail", "False", "SecretInvalid").await;

    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "smtp" },
        "stringData": { "host": "127.0.0.1", "port": "2526", "tls": "none" }
    });
    apply_all(&client, &namespace.name, &[secret]).await;
    wait_ready(&tenants, "mail", "True", "Reconciled").await;
    let smtp = runtime
        .admin_get(&format!("tenants/{}/smtp", namespace.name))
        .await
        .expect("SMTP settings in the runtime");
    assert_eq!(smtp["spec"]["port"], 2526, "{smtp}");

    // A later edit of the Secret reaches the runtime too.
    let edit = serde_json::json!({ "stringData": { "port": "2527" } });
    Api::<Secret>::namespaced(client.clone(), &namespace.name)
        .patch("smtp", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    eventually("the new port in the runtime", WAIT, || async {
        let smtp = runtime
            .admin_get(&format!("tenants/{}/smtp", namespace.name))
            .await?;
        (smtp["spec"]["port"] == 2527).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_flow_asking_for_what_the_runtime_cannot_do_yet_says_so_and_is_not_served() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-unsupported").await;
    let runtime = Runtime::start("unsupported").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let subdomain = namespace.name.clone();
    apply_all(&client, &namespace.name, &tenant_with_api(&subdomain)).await;
    let flow = |methods: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "UserFlow", "metadata": { "name": "social" },
            "spec": { "tenantRef": { "name": "t" }, "displayName": "Social", "applications": ["api"],
                      "signIn": { "methods": methods } }
        })
    };
    create_or_replace(
        &client,
        &namespace.name,
        &flow(serde_json::json!(["emailPassword", "google"])),
    )
    .await
    .unwrap();
    let flows: Api<UserFlow> = Api::namespaced(client.clone(), &namespace.name);
    wait_ready(&flows, "social", "False", "UnsupportedByBackend").await;
    let reported = flows.get("social").await.unwrap();
    let ready = reported
        .status
        .as_ref()
        .and_then(|status| status.conditions.iter().find(|c| c.type_ == "Ready"))
        .expect("a Ready condition")
        .clone();
    assert!(
        ready
            .message
            .contains("signIn.methods[1] (sign-in with identity provider google)"),
        "the field is named: {}",
        ready.message
    );
    let flow_path = format!("tenants/{subdomain}/userflows/{}.social", namespace.name);
    assert!(
        runtime.admin_get(&flow_path).await.is_none(),
        "a flow the runtime cannot honour in full is not served in part"
    );

    create_or_replace(
        &client,
        &namespace.name,
        &flow(serde_json::json!(["emailPassword"])),
    )
    .await
    .unwrap();
    wait_ready(&flows, "social", "True", "Reconciled").await;
    assert!(runtime.admin_get(&flow_path).await.is_some());
}
