//! Certificate credentials end to end: an AppRegistration names public certificates in a
//! ConfigMap and a Secret of its namespace; the real operator reads them, reports their
//! thumbprints, and the real runtime accepts `private_key_jwt` client assertions signed by
//! their keys. Broken references and garbage are reported by name, and edits of the
//! referenced ConfigMap or Secret wake the app (the resync is far longer than the test).

mod support;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use ciam_operator::api::AppRegistration;
use ciam_operator::contract::certificate::parse_certificate;
use support::{
    Operator, Runtime, TestNamespace, client, create_or_replace, eventually, secret_value,
};

const WAIT: Duration = Duration::from_secs(90);
const RSA_CERTIFICATE: &str = include_str!("../src/contract/testdata/rsa2048.crt");
const RSA_KEY: &str = include_str!("../src/contract/testdata/rsa2048.key");
const EC_CERTIFICATE: &str = include_str!("../src/contract/testdata/p256.crt");
const EC_KEY: &str = include_str!("../src/contract/testdata/p256.key");
const EXPIRED_CERTIFICATE: &str = include_str!("../src/contract/testdata/expired.crt");
const CONFIG_MAP: &str = "daemon-certificates";
const SECRET: &str = "daemon-next-certificate";

/// The app's `Ready` condition once its status and reason are as given (and the status
/// describes the current generation); the panic shows the last condition seen.
async fn wait_ready(apps: &Api<AppRegistration>, status: &str, reason: &str) -> AppRegistration {
    eventually(
        &format!("daemon Ready={status} ({reason})"),
        WAIT,
        || async {
            let app = apps.get("daemon").await.ok()?;
            let app_status = app.status.as_ref()?;
            let current = app_status.observed_generation == app.metadata.generation;
            let ready = app_status
                .conditions
                .iter()
                .find(|condition| condition.type_ == "Ready")?;
            (current && ready.status == status && ready.reason == reason).then_some(app.clone())
        },
    )
    .await
}

fn ready_message(app: &AppRegistration) -> String {
    app.status
        .as_ref()
        .and_then(|status| status.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|ready| ready.message.clone())
        .unwrap_or_default()
}

/// A tenant, an API and a daemon permitted its scope, reading `certificates`.
fn objects(subdomain: &str, certificates: serde_json::Value) -> Vec<serde_json::Value> {
    let mut objects = support::tenant_with_api(subdomain);
    objects.push(daemon(certificates));
    objects
}

fn daemon(certificates: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": "daemon" },
        "spec": { "tenantRef": { "name": "t" }, "displayName": "Daemon", "type": "daemon",
                  "apiPermissions": [{ "appName": "api", "scopes": ["read"] }],
                  "credentials": { "certificates": certificates } }
    })
}

fn from_config_map(key: &str) -> serde_json::Value {
    serde_json::json!({ "configMapKeyRef": { "name": CONFIG_MAP, "key": key } })
}

async fn apply(client: &Client, namespace: &str, object: serde_json::Value) {
    create_or_replace(client, namespace, &object)
        .await
        .expect("object accepted");
}

fn config_map(data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": CONFIG_MAP }, "data": data
    })
}

/// Asks for a client-credentials token with a client assertion signed by `key_pem` and naming
/// `certificate` by its SHA-256 thumbprint; the error body when refused.
async fn token_with_assertion(
    credentials: &Secret,
    algorithm: Algorithm,
    key_pem: &str,
    certificate: &str,
) -> Result<(), String> {
    let client_id = secret_value(credentials, "CLIENT_ID");
    let issuer = secret_value(credentials, "ISSUER_URL");
    let token_endpoint = format!("{}/oauth2/v2.0/token", issuer.trim_end_matches("/v2.0"));
    let mut header = Header::new(algorithm);
    header.x5t_s256 = Some(
        parse_certificate(certificate)
            .expect("cert")
            .sha256_thumbprint,
    );
    let now = jiff::Timestamp::now().as_second();
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": token_endpoint,
        "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(key_pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(key_pem.as_bytes()),
    }
    .expect("signing key");
    let assertion = jsonwebtoken::encode(&header, &claims, &key).expect("signed");
    let response = reqwest::Client::new()
        .post(token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "api://reports/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(response.text().await.unwrap_or_default())
    }
}

#[tokio::test]
async fn certificates_from_a_config_map_and_a_secret_authenticate_the_app_and_problems_are_named() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-certs").await;
    let runtime = Runtime::start("certs").await;
    // A resync far beyond the test: every recovery below comes from a watch.
    let _operator = Operator::start(&runtime, &namespace.name, 3600);
    let ns = namespace.name.as_str();
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);

    // 1. One certificate from a ConfigMap: Ready, thumbprint in status, assertions work.
    apply(
        &client,
        ns,
        config_map(serde_json::json!({ "current.crt": RSA_CERTIFICATE })),
    )
    .await;
    for object in objects(ns, serde_json::json!([from_config_map("current.crt")])) {
        apply(&client, ns, object).await;
    }
    let app = wait_ready(&apps, "True", "Reconciled").await;
    let rsa = parse_certificate(RSA_CERTIFICATE).expect("parses");
    let reported = &app.status.as_ref().expect("status").certificates;
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].thumbprint, rsa.sha256_thumbprint);
    assert_eq!(reported[0].thumbprint_sha1, rsa.sha1_thumbprint);
    assert_eq!(
        reported[0].source,
        format!("configMap/{CONFIG_MAP}/current.crt")
    );
    assert_eq!(reported[0].expires_at.0, rsa.not_after);
    let credentials = secrets
        .get("daemon-credentials")
        .await
        .expect("credentials Secret");
    token_with_assertion(&credentials, Algorithm::RS256, RSA_KEY, RSA_CERTIFICATE)
        .await
        .expect("a token with the certificate");
    // The client secret keeps working beside the certificate.
    let client_secret = secret_value(&credentials, "CLIENT_SECRET");
    support::client_credentials_token(&credentials, &client_secret, "api://reports/.default")
        .await
        .expect("a token with the client secret");

    // 2. Rotation: a second certificate from a Secret that does not exist yet is named...
    let next = serde_json::json!({ "secretKeyRef": { "name": SECRET, "key": "tls.crt" } });
    apply(
        &client,
        ns,
        daemon(serde_json::json!([from_config_map("current.crt"), next])),
    )
    .await;
    let app = wait_ready(&apps, "False", "CertificateInvalid").await;
    let message = ready_message(&app);
    assert!(
        message.contains(&format!(
            "credentials.certificates[1] (secret/{SECRET}/tls.crt): Secret {SECRET} does not exist"
        )),
        "{message}"
    );
    // ...and its arrival wakes the app: both certificates work.
    apply(
        &client,
        ns,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": { "name": SECRET },
            "stringData": { "tls.crt": EC_CERTIFICATE }
        }),
    )
    .await;
    let app = wait_ready(&apps, "True", "Reconciled").await;
    assert_eq!(app.status.expect("status").certificates.len(), 2);
    token_with_assertion(&credentials, Algorithm::RS256, RSA_KEY, RSA_CERTIFICATE)
        .await
        .expect("the first certificate still works");
    token_with_assertion(&credentials, Algorithm::ES256, EC_KEY, EC_CERTIFICATE)
        .await
        .expect("the second certificate works");

    // 3. Garbage in the ConfigMap is reported by reference; the runtime keeps what worked.
    apply(
        &client,
        ns,
        config_map(serde_json::json!({ "current.crt": "hello, not a certificate" })),
    )
    .await;
    let app = wait_ready(&apps, "False", "CertificateInvalid").await;
    let message = ready_message(&app);
    assert!(
        message.contains(&format!(
            "credentials.certificates[0] (configMap/{CONFIG_MAP}/current.crt): the content is not a PEM X.509 certificate"
        )),
        "{message}"
    );
    assert!(
        !message.contains("[1]"),
        "the Secret's certificate is fine: {message}"
    );
    token_with_assertion(&credentials, Algorithm::ES256, EC_KEY, EC_CERTIFICATE)
        .await
        .expect("a bad edit does not break the registered client");

    // 4. Repairing the ConfigMap wakes the app again; an expired certificate beside it is
    // reported by name and not sent, while the others keep working.
    apply(
        &client,
        ns,
        config_map(serde_json::json!({
            "current.crt": RSA_CERTIFICATE, "old.crt": EXPIRED_CERTIFICATE
        })),
    )
    .await;
    wait_ready(&apps, "True", "Reconciled").await;
    let with_expired = serde_json::json!([
        from_config_map("current.crt"),
        next.clone(),
        from_config_map("old.crt")
    ]);
    apply(&client, ns, daemon(with_expired)).await;
    let app = wait_ready(&apps, "False", "CertificateExpired").await;
    let message = ready_message(&app);
    assert!(
        message.contains(&format!(
            "credentials.certificates[2] (configMap/{CONFIG_MAP}/old.crt) expired 2021-01-01T00:00:00Z"
        )),
        "{message}"
    );
    assert_eq!(
        app.status.expect("status").certificates.len(),
        3,
        "all are shown"
    );
    let client_id = secret_value(&credentials, "CLIENT_ID");
    let stored = runtime
        .admin_get(&format!("tenants/{ns}/clients/{client_id}"))
        .await
        .expect("the client in the runtime");
    assert_eq!(
        stored["spec"]["certificates"].as_array().map(Vec::len),
        Some(2),
        "the expired certificate is not sent: {stored}"
    );
    token_with_assertion(&credentials, Algorithm::RS256, RSA_KEY, RSA_CERTIFICATE)
        .await
        .expect("the valid certificates keep working");

    // 5. A certificate the app no longer lists stops working.
    let patch = serde_json::json!({ "spec": { "credentials": { "certificates": [next] } } });
    apps.patch("daemon", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patched");
    eventually("the removed certificate to be refused", WAIT, || async {
        token_with_assertion(&credentials, Algorithm::RS256, RSA_KEY, RSA_CERTIFICATE)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    token_with_assertion(&credentials, Algorithm::ES256, EC_KEY, EC_CERTIFICATE)
        .await
        .expect("the remaining certificate works");
}
