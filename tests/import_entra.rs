//! `ciam-operator import-entra` end to end: the real binary turns the Graph fixtures under
//! `tests/fixtures/entra/` into YAML, which goes to the real kube-apiserver; with the real
//! operator and runtime the objects become Ready. Identity providers and custom extensions are
//! not served by the runtime yet, so the set with them is only checked for admission.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use support::{
    Operator, Runtime, TestNamespace, client, create_or_replace, dynamic_api, repo_root,
};

const WAIT: Duration = Duration::from_secs(90);

fn fixtures(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/entra").join(name)
}

/// Runs `ciam-operator import-entra` with `args`.
fn import_entra(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ciam-operator"))
        .arg("import-entra")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The documents of every file written to `dir`, in file-name order.
fn written_objects(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            support::parse_documents(&std::fs::read_to_string(file).expect("readable"))
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "ciam-import-{name}-{}-{}",
        std::process::id(),
        support::free_port()
    ))
}

/// Waits until the object's `Ready` condition is True; on timeout the panic shows the last
/// condition seen.
async fn wait_ready(client: &Client, namespace: &str, object: &serde_json::Value) {
    let api = dynamic_api(client, namespace, object).await;
    let name = object["metadata"]["name"].as_str().expect("name");
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(found)) = api.get_opt(name).await {
            let found = serde_json::to_value(&found).expect("serializable");
            if let Some(ready) = found["status"]["conditions"]
                .as_array()
                .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready"))
            {
                if ready["status"] == "True" {
                    return;
                }
                last = ready.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "{} {name} did not become Ready within {WAIT:?}; last condition: {last}",
        object["kind"]
    );
}

#[tokio::test]
async fn the_imported_tenant_without_social_sign_in_becomes_ready() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "import-entra").await;
    let out = temp_dir("ready");
    let output = import_entra(&[
        fixtures("ready").to_str().unwrap(),
        "--tenant-name",
        "Woodgrove Customers",
        "--subdomain",
        &namespace.name,
        "--country-code",
        "US",
        "--namespace",
        &namespace.name,
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "import failed:\n{stderr}");
    assert!(
        stderr.contains(
            "applications[2].keyCredentials: 1 public certificate(s) written to ConfigMap \
             nightly-order-reports-certificates"
        ) && stderr
            .contains("applications[2].keyCredentials[1]: the export has no certificate content"),
        "{stderr}"
    );
    let objects = written_objects(&out);
    let kinds: Vec<(String, String)> = objects
        .iter()
        .map(|object| {
            (
                object["kind"].as_str().unwrap().to_string(),
                object["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 8, "{kinds:?}");

    let runtime = Runtime::start("import-entra").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    for object in &objects {
        create_or_replace(&client, &namespace.name, object)
            .await
            .unwrap_or_else(|error| panic!("{} refused: {error}", object["metadata"]["name"]));
    }
    for object in objects
        .iter()
        .filter(|object| object["kind"] != "ConfigMap")
    {
        wait_ready(&client, &namespace.name, object).await;
    }
    // The certificate Entra had reached the app: its thumbprint is in the app's status.
    let expected = ciam_operator::contract::certificate::parse_certificate(include_str!(
        "../src/contract/testdata/rsa2048.crt"
    ))
    .expect("test certificate");
    let apps: Api<ciam_operator::api::AppRegistration> =
        Api::namespaced(client.clone(), &namespace.name);
    let reports = apps.get("nightly-order-reports").await.expect("the daemon");
    let status = reports.status.expect("status");
    assert_eq!(status.certificates.len(), 1, "{:?}", status.certificates);
    assert_eq!(
        status.certificates[0].thumbprint,
        expected.sha256_thumbprint
    );
    // What an app team checks after the migration: the Secret their app mounts.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    let storefront = secrets
        .get("woodgrove-storefront-credentials")
        .await
        .expect("web app Secret");
    let data = storefront.data.as_ref().expect("data");
    assert!(data.contains_key("CLIENT_ID") && data.contains_key("CLIENT_SECRET"));
    let issuer = support::secret_value(&storefront, "ISSUER_URL");
    assert!(
        issuer.contains(&format!("/{}/", namespace.name)),
        "{issuer}"
    );
    let mobile = secrets
        .get("woodgrove-mobile-ios-credentials")
        .await
        .expect("native app Secret");
    assert!(
        !mobile.data.as_ref().unwrap().contains_key("CLIENT_SECRET"),
        "a public client has no secret"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[tokio::test]
async fn the_full_export_with_social_sign_in_and_extensions_passes_admission() {
    let client = client().await;
    let namespace = TestNamespace::create(&client, "import-entra-full").await;
    let output = import_entra(&[
        fixtures("ready").to_str().unwrap(),
        fixtures("social").to_str().unwrap(),
        "--tenant-name",
        "Woodgrove Customers",
        "--subdomain",
        &namespace.name,
        "--country-code",
        "US",
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "import failed:\n{stderr}");
    assert!(
        !text(&output.stdout).contains("fabrikam-oidc-secret-must-not-leak")
            && !stderr.contains("must-not-leak")
    );
    // The Secrets the report asks for, created as the person would.
    let secret_names: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.split("create Secret ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert_eq!(
        secret_names,
        [
            "woodgrove-customers-idp-google",
            "woodgrove-customers-idp-facebook",
            "woodgrove-customers-idp-fabrikam-partners"
        ]
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace.name);
    for name in &secret_names {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }, "stringData": { "clientSecret": "created-by-the-person" }
        }))
        .expect("secret literal");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("Secret created");
    }
    let objects = support::parse_documents(&text(&output.stdout));
    let mut admitted = Vec::new();
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    for object in &objects {
        let api = dynamic_api(&client, &namespace.name, object).await;
        let dynamic: kube::api::DynamicObject =
            serde_json::from_value(object.clone()).expect("object");
        let created = api
            .create(&dry_run, &dynamic)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "{} {} refused: {error}",
                    object["kind"], object["metadata"]["name"]
                )
            });
        admitted.push(format!(
            "{}/{}",
            object["kind"].as_str().unwrap(),
            created.name_any()
        ));
    }
    assert_eq!(
        admitted,
        [
            "CustomerTenant/woodgrove-customers",
            "ConfigMap/nightly-order-reports-certificates",
            "AppRegistration/nightly-order-reports",
            "AppRegistration/woodgrove-mobile-ios",
            "AppRegistration/woodgrove-orders",
            "AppRegistration/woodgrove-rewards",
            "AppRegistration/woodgrove-storefront",
            "UserFlow/woodgrove-shoppers",
            "UserFlow/woodgrove-rewards-members",
            "Branding/woodgrove-customers",
        ]
    );
    let tenant = &objects[0];
    assert_eq!(
        tenant["spec"]["identityProviders"].as_array().map(Vec::len),
        Some(3)
    );
    let rewards = &objects[8];
    assert_eq!(
        rewards["spec"]["signIn"]["methods"],
        serde_json::json!(["emailPassword", "google", "facebook", "fabrikam-partners"])
    );
    assert!(rewards["spec"]["extensions"]["onAttributeCollectionSubmit"]["targetUrl"].is_string());
}

#[test]
fn strict_mode_fails_when_something_was_skipped_and_bad_input_writes_nothing() {
    let strict_out = temp_dir("strict");
    let strict = import_entra(&[
        fixtures("ready").to_str().unwrap(),
        "--tenant-name",
        "Woodgrove",
        "--country-code",
        "US",
        "--out-dir",
        strict_out.to_str().unwrap(),
        "--strict",
    ]);
    assert!(!strict.status.success());
    assert!(
        text(&strict.stderr).contains("--strict"),
        "{}",
        text(&strict.stderr)
    );
    let lenient = import_entra(&[
        fixtures("ready").to_str().unwrap(),
        "--tenant-name",
        "Woodgrove",
        "--country-code",
        "US",
    ]);
    assert!(lenient.status.success(), "{}", text(&lenient.stderr));

    for bad in ["not-json.json", "unknown-shape.json", "wrong-type.json"] {
        let out = temp_dir("bad");
        let output = import_entra(&[
            fixtures("ready").to_str().unwrap(),
            fixtures("bad").join(bad).to_str().unwrap(),
            "--tenant-name",
            "Woodgrove",
            "--country-code",
            "US",
            "--out-dir",
            out.to_str().unwrap(),
        ]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{bad} was accepted");
        assert!(stderr.contains(bad), "the error names the file: {stderr}");
        assert!(!out.exists(), "{bad}: nothing may be written");
    }
    let _ = std::fs::remove_dir_all(strict_out);
}
