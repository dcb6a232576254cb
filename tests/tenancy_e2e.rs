//! Tenancy boundaries end to end: a hostile team in the next namespace, sharing the victim's
//! CustomerTenant (`allowedNamespaces: All`), tries to take over the victim's app through
//! Secrets and AppRegistrations it is allowed to write. The real control plane, runtime and
//! operator; each test with its own namespaces, runtime and operator.
//!
//! Throughout, the victim's token keeps working, its runtime client is unchanged, every
//! pre-existing Secret keeps its resourceVersion and data, and deleting the attacker's objects
//! removes nothing of the victim's.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};

use ciam_operator::api::{AppRegistration, CustomerTenant};
use support::{
    Operator, Runtime, TestNamespace, client, client_credentials_token, create_or_replace,
    eventually, secret_value,
};

const WAIT: Duration = Duration::from_secs(90);

/// The victim's side: a tenant in its own namespace with a daemon app calling its API app.
struct Victim {
    namespace: TestNamespace,
    subdomain: String,
    client_id: String,
    /// The runtime's client record (spec and owner) before the attack.
    runtime_client: serde_json::Value,
    secret: Secret,
}

fn object(kind: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": kind, "metadata": { "name": name }, "spec": spec
    })
}

/// The `Ready` condition's (status, reason, message), once it has `reason`.
async fn wait_reason<K>(api: &Api<K>, name: &str, reason: &str) -> (String, String)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + serde::Serialize,
{
    eventually(&format!("{name} to report {reason}"), WAIT, || async {
        let value = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        let ready = value["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|condition| condition["type"] == "Ready")?
            .clone();
        (ready["reason"] == reason).then(|| {
            (
                ready["status"].as_str().unwrap_or_default().to_string(),
                ready["message"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
    .await
}

/// A client-credentials token for the victim's API with `secret`'s client ID.
async fn token_with(secret: &Secret, client_secret: &str) -> Result<(), String> {
    client_credentials_token(secret, client_secret, "api://warehouse/.default").await
}

/// Creates the victim's tenant (open to `allowed`), API app and daemon app, and waits until the
/// daemon holds a working client.
async fn victim(
    client: &Client,
    runtime: &Runtime,
    namespace: TestNamespace,
    allowed: &str,
) -> Victim {
    let subdomain = namespace.name.clone();
    let objects = [
        object(
            "CustomerTenant",
            "shop",
            serde_json::json!({ "displayName": "Shop", "subdomain": subdomain, "countryCode": "FR",
                                "allowedNamespaces": { "from": allowed } }),
        ),
        object(
            "AppRegistration",
            "warehouse",
            serde_json::json!({ "tenantRef": { "name": "shop" }, "displayName": "Warehouse", "type": "spa",
                                "redirectUris": ["https://warehouse.example/"],
                                "exposedApi": { "identifierUri": "api://warehouse",
                                                "scopes": [{ "value": "stock.read", "adminConsentDisplayName": "Read stock" }] } }),
        ),
        object(
            "AppRegistration",
            "reports",
            serde_json::json!({ "tenantRef": { "name": "shop" }, "displayName": "Reports", "type": "daemon",
                                "apiPermissions": [{ "appName": "warehouse", "scopes": ["stock.read"] }] }),
        ),
    ];
    for object in &objects {
        create_or_replace(client, &namespace.name, object)
            .await
            .expect("victim object accepted");
    }
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace.name);
    wait_reason(&apps, "reports", "Reconciled").await;
    let client_id = apps
        .get("reports")
        .await
        .unwrap()
        .status
        .unwrap()
        .client_id
        .unwrap();
    let secret = Api::<Secret>::namespaced(client.clone(), &namespace.name)
        .get("reports-credentials")
        .await
        .expect("the victim's Secret");
    token_with(&secret, &secret_value(&secret, "CLIENT_SECRET"))
        .await
        .expect("the victim gets a token");
    let runtime_client = runtime
        .admin_get(&format!("tenants/{subdomain}/clients/{client_id}"))
        .await
        .expect("the victim's runtime client");
    Victim {
        namespace,
        subdomain,
        client_id,
        runtime_client,
        secret,
    }
}

impl Victim {
    /// Asserts that nothing of the victim's changed: its Secret (resourceVersion and data), its
    /// runtime client (spec and owner) and its token.
    async fn assert_untouched(&self, client: &Client, runtime: &Runtime) {
        let secret = Api::<Secret>::namespaced(client.clone(), &self.namespace.name)
            .get("reports-credentials")
            .await
            .expect("the victim's Secret is still there");
        assert_eq!(secret.resource_version(), self.secret.resource_version());
        assert_eq!(secret.data, self.secret.data);
        let runtime_client = runtime
            .admin_get(&format!(
                "tenants/{}/clients/{}",
                self.subdomain, self.client_id
            ))
            .await
            .expect("the victim's runtime client is still there");
        assert_eq!(runtime_client["spec"], self.runtime_client["spec"]);
        assert_eq!(runtime_client["owner"], self.runtime_client["owner"]);
        token_with(&secret, &secret_value(&secret, "CLIENT_SECRET"))
            .await
            .expect("the victim still gets a token");
    }
}

fn plain_secret(name: &str, data: &[(&str, &str)]) -> Secret {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "stringData": data.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    }))
    .expect("Secret literal")
}

/// The attacker's daemon app on the victim's tenant, writing its credentials to `secret_name`.
fn thief(name: &str, victim: &Victim, secret_name: &str) -> serde_json::Value {
    object(
        "AppRegistration",
        name,
        serde_json::json!({ "tenantRef": { "name": "shop", "namespace": victim.namespace.name },
                            "displayName": "Totally legit", "type": "daemon",
                            "apiPermissions": [{ "appName": "warehouse", "appNamespace": victim.namespace.name,
                                                 "scopes": ["stock.read"] }],
                            "credentials": { "secretName": secret_name } }),
    )
}

/// Finding 1: a team that knows another app's client ID copies it into a Secret of its own
/// (plain, or with an owner reference forged to its own AppRegistration) and points its app
/// at it. Neither takes over the client; deleting them deletes nothing of the victim's.
#[tokio::test]
async fn a_copied_client_id_takes_over_nothing_across_namespaces() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-copy").await;
    let attacker = TestNamespace::create(&client, "attacker").await;
    let victim_namespace = TestNamespace::create(&client, "victim").await;
    let _operator = Operator::start(
        &runtime,
        &format!("{},{}", victim_namespace.name, attacker.name),
        300,
    );
    // The tenant is opened to other namespaces only after the attacker's Secrets are in
    // place, so the forged owner reference exists before the operator first looks.
    let victim = victim(&client, &runtime, victim_namespace, "Same").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &attacker.name);
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &attacker.name);
    let stolen = [
        ("CLIENT_ID", victim.client_id.as_str()),
        (
            "CLIENT_SECRET",
            "attacker-chosen-secret-of-more-than-32-characters",
        ),
    ];
    let copied = secrets
        .create(&PostParams::default(), &plain_secret("copied", &stolen))
        .await
        .unwrap();
    create_or_replace(&client, &attacker.name, &thief("copier", &victim, "copied"))
        .await
        .unwrap();
    create_or_replace(&client, &attacker.name, &thief("forger", &victim, "forged"))
        .await
        .unwrap();
    wait_reason(&apps, "forger", "RefNotPermitted").await;
    let forger = apps.get("forger").await.unwrap();
    let mut forged = plain_secret("forged", &stolen);
    forged.metadata.owner_references = Some(vec![forger.controller_owner_ref(&()).unwrap()]);
    let forged = secrets
        .create(&PostParams::default(), &forged)
        .await
        .unwrap();

    let open = serde_json::json!({ "spec": { "allowedNamespaces": { "from": "All" } } });
    Api::<CustomerTenant>::namespaced(client.clone(), &victim.namespace.name)
        .patch("shop", &PatchParams::default(), &Patch::Merge(&open))
        .await
        .unwrap();
    let (_, message) = wait_reason(&apps, "copier", "SecretConflict").await;
    assert!(message.contains("copied"), "{message}");
    let (status, message) = wait_reason(&apps, "forger", "ClientIdInUse").await;
    assert_eq!(status, "False");
    assert!(
        !message.contains(&victim.namespace.name) && !message.contains("reports"),
        "another namespace's app is not named: {message}"
    );
    let forger = apps.get("forger").await.unwrap();
    assert_eq!(forger.status.unwrap().client_id, None);
    for (before, name) in [(&copied, "copied"), (&forged, "forged")] {
        let after = secrets.get(name).await.unwrap();
        assert_eq!(
            after.resource_version(),
            before.resource_version(),
            "{name}"
        );
    }
    victim.assert_untouched(&client, &runtime).await;
    // The attacker's chosen secret is worth nothing.
    assert!(
        token_with(
            &victim.secret,
            "attacker-chosen-secret-of-more-than-32-characters"
        )
        .await
        .is_err()
    );

    // The runtime's own line: a write or deletion in the forger's name is refused.
    let path = format!("tenants/{}/clients/{}", victim.subdomain, victim.client_id);
    let forger_owner = forger_owner(&client, &attacker.name).await;
    let (status, body) = runtime
        .admin_as(reqwest::Method::DELETE, &path, Some(&forger_owner), None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["owner"]["namespace"], victim.namespace.name.as_str());
    // Refused as someone else's before anything about the stored client (its type) is judged.
    let mut as_web = victim.runtime_client["spec"].clone();
    as_web["type"] = "web".into();
    let (status, body) = runtime
        .admin_as(
            reqwest::Method::PUT,
            &path,
            Some(&forger_owner),
            Some(&as_web),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["title"], "Owned by another object", "{body}");

    for name in ["copier", "forger"] {
        apps.delete(name, &DeleteParams::default()).await.unwrap();
    }
    eventually("the attacker's apps to go", WAIT, || async {
        apps.list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        secrets.get_opt("copied").await.unwrap().is_some(),
        "never adopted, never collected"
    );
    victim.assert_untouched(&client, &runtime).await;
}

async fn forger_owner(client: &Client, namespace: &str) -> serde_json::Value {
    let forger = Api::<AppRegistration>::namespaced(client.clone(), namespace)
        .get("forger")
        .await
        .unwrap();
    serde_json::json!({ "kind": "AppRegistration", "namespace": namespace, "name": "forger",
                        "uid": forger.uid().unwrap() })
}

/// Finding 2: inside one namespace, an app whose `secretName` is another app's credentials
/// Secret overwrites nothing, and deleting it deletes nothing.
#[tokio::test]
async fn an_app_pointed_at_a_neighbours_secret_in_the_same_namespace_changes_nothing() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-same").await;
    let victim_namespace = TestNamespace::create(&client, "victim").await;
    let _operator = Operator::start(&runtime, &victim_namespace.name, 300);
    let victim = victim(&client, &runtime, victim_namespace, "Same").await;
    let namespace = victim.namespace.name.clone();
    let thief = object(
        "AppRegistration",
        "thief",
        serde_json::json!({ "tenantRef": { "name": "shop" }, "displayName": "Thief", "type": "daemon",
                            "credentials": { "secretName": "reports-credentials" } }),
    );
    create_or_replace(&client, &namespace, &thief)
        .await
        .unwrap();
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace);
    let (status, message) = wait_reason(&apps, "thief", "SecretConflict").await;
    assert_eq!(status, "False");
    assert!(message.contains("reports-credentials"), "{message}");
    victim.assert_untouched(&client, &runtime).await;

    apps.delete("thief", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the thief to go", WAIT, || async {
        apps.get_opt("thief").await.ok()?.is_none().then_some(())
    })
    .await;
    victim.assert_untouched(&client, &runtime).await;
}

/// Finding 3: the operator's rotation bookkeeping cannot be written through
/// `secretTemplate.annotations`; an edit that tries is refused at admission and the secret it
/// wanted to plant is refused by the runtime.
#[tokio::test]
async fn rotation_bookkeeping_cannot_be_planted_through_the_secret_template() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-template").await;
    let victim_namespace = TestNamespace::create(&client, "victim").await;
    let _operator = Operator::start(&runtime, &victim_namespace.name, 300);
    let victim = victim(&client, &runtime, victim_namespace, "Same").await;
    let namespace = victim.namespace.name.clone();
    let planted = "planted-secret-chosen-by-someone-without-secret-access";
    let hash = ciam_operator::runtime::crypto::client_secret_hash(planted);
    let patch = serde_json::json!({ "spec": { "credentials": { "secretTemplate": { "annotations": {
        "ciam.dev/previous-secret-hash": hash,
        "ciam.dev/previous-secret-expires-at": "2099-01-01T00:00:00Z",
    } } } } });
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace);
    let refused = apps
        .patch("reports", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect_err("reserved annotation keys are refused at admission");
    assert!(
        refused
            .to_string()
            .contains("key ciam.dev/previous-secret-")
            && refused.to_string().contains("reserved for the operator"),
        "the message names the key: {refused}"
    );
    // Wake the app with a harmless edit and let it settle.
    let touch = serde_json::json!({ "spec": { "displayName": "Reports (edited)" } });
    apps.patch("reports", &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .unwrap();
    eventually("the edit to reach the runtime", WAIT, || async {
        let stored = runtime
            .admin_get(&format!(
                "tenants/{}/clients/{}",
                victim.subdomain, victim.client_id
            ))
            .await?;
        (stored["spec"]["displayName"] == "Reports (edited)").then_some(())
    })
    .await;
    assert!(token_with(&victim.secret, planted).await.is_err());
    token_with(
        &victim.secret,
        &secret_value(&victim.secret, "CLIENT_SECRET"),
    )
    .await
    .expect("the real secret still works");
}

/// Finding 4: a `secretName` naming a Secret the operator did not create (or the
/// `existingSecretRef` Secret) is reported, left byte for byte as it was, and survives the
/// app's deletion.
#[tokio::test]
async fn a_secret_the_operator_did_not_create_is_never_adopted_or_collected() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-foreign").await;
    let victim_namespace = TestNamespace::create(&client, "victim").await;
    let _operator = Operator::start(&runtime, &victim_namespace.name, 300);
    let victim = victim(&client, &runtime, victim_namespace, "Same").await;
    let namespace = victim.namespace.name.clone();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let mine = secrets
        .create(
            &PostParams::default(),
            &plain_secret("mine", &[("DATABASE_URL", "postgres://db/app")]),
        )
        .await
        .unwrap();
    let brought = secrets
        .create(
            &PostParams::default(),
            &plain_secret(
                "byo-credentials",
                &[(
                    "CLIENT_SECRET",
                    "a-secret-from-an-external-secret-store-0123456789",
                )],
            ),
        )
        .await
        .unwrap();
    let adopter = object(
        "AppRegistration",
        "adopter",
        serde_json::json!({ "tenantRef": { "name": "shop" }, "displayName": "Adopter", "type": "daemon",
                            "credentials": { "secretName": "mine" } }),
    );
    // No secretName: the default name, <name>-credentials, is the brought Secret itself.
    let byo = object(
        "AppRegistration",
        "byo",
        serde_json::json!({ "tenantRef": { "name": "shop" }, "displayName": "BYO", "type": "daemon",
                            "credentials": { "existingSecretRef": { "name": "byo-credentials" } } }),
    );
    for app in [&adopter, &byo] {
        create_or_replace(&client, &namespace, app).await.unwrap();
    }
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &namespace);
    wait_reason(&apps, "adopter", "SecretConflict").await;
    let (_, message) = wait_reason(&apps, "byo", "SecretConflict").await;
    assert!(message.contains("existingSecretRef"), "{message}");
    for app in ["adopter", "byo"] {
        apps.delete(app, &DeleteParams::default()).await.unwrap();
    }
    eventually("the apps to go", WAIT, || async {
        let adopter = apps.get_opt("adopter").await.ok()?;
        let byo = apps.get_opt("byo").await.ok()?;
        (adopter.is_none() && byo.is_none()).then_some(())
    })
    .await;
    for before in [&mine, &brought] {
        let after = secrets
            .get(&before.name_any())
            .await
            .expect("the user's Secret survives");
        assert_eq!(after.resource_version(), before.resource_version());
        assert_eq!(after.data, before.data);
        assert!(after.owner_references().is_empty());
    }
    victim.assert_untouched(&client, &runtime).await;
}

/// Finding 6: `apiPermissions` naming an app of another tenant reads exactly like naming one
/// that does not exist.
#[tokio::test]
async fn api_permissions_tell_nothing_about_apps_of_other_tenants() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-permissions").await;
    let victim_namespace = TestNamespace::create(&client, "victim").await;
    let attacker = TestNamespace::create(&client, "prober").await;
    let _operator = Operator::start(
        &runtime,
        &format!("{},{}", victim_namespace.name, attacker.name),
        300,
    );
    let victim = victim(&client, &runtime, victim_namespace, "All").await;
    let tenant = object(
        "CustomerTenant",
        "own",
        serde_json::json!({ "displayName": "Own", "subdomain": attacker.name, "countryCode": "FR" }),
    );
    let prober = |name: &str, target: &str| {
        object(
            "AppRegistration",
            name,
            serde_json::json!({ "tenantRef": { "name": "own" }, "displayName": name, "type": "daemon",
                                "apiPermissions": [{ "appName": target, "appNamespace": victim.namespace.name,
                                                     "scopes": ["stock.read"] }] }),
        )
    };
    for object in [
        tenant,
        prober("existing", "warehouse"),
        prober("missing", "nothing-here"),
    ] {
        create_or_replace(&client, &attacker.name, &object)
            .await
            .unwrap();
    }
    let apps: Api<AppRegistration> = Api::namespaced(client.clone(), &attacker.name);
    let (status, existing) = wait_reason(&apps, "existing", "ApiPermissionPending").await;
    assert_eq!(status, "False");
    let (_, missing) = wait_reason(&apps, "missing", "ApiPermissionPending").await;
    assert_eq!(
        existing.replace("warehouse", "<app>"),
        missing.replace("nothing-here", "<app>"),
        "an app of another tenant reads like a missing one"
    );
    victim.assert_untouched(&client, &runtime).await;
}

/// Finding 9: a logo is recognised by its content. An HTML page that merely contains `<svg`,
/// and an SVG that runs a script, are `ContentInvalid`; a plain SVG logo is served.
#[tokio::test]
async fn a_logo_is_recognised_by_its_content() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-logo").await;
    let namespace = TestNamespace::create(&client, "logo").await;
    let _operator = Operator::start(&runtime, &namespace.name, 300);
    let logos = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "logos" },
        "data": {
            "page.svg": "<!doctype html><html><body><svg></svg><script>alert(1)</script></body></html>",
            "script.svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><script>alert(1)</script></svg>",
            "handler.svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><rect width=\"10\" height=\"10\"/></svg>",
            "plain.svg": "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><rect width=\"10\" height=\"10\" fill=\"#0f6cbd\"/></svg>",
        }
    });
    let tenant = object(
        "CustomerTenant",
        "shop",
        serde_json::json!({ "displayName": "Shop", "subdomain": namespace.name, "countryCode": "FR" }),
    );
    let branding = |key: &str| {
        object(
            "Branding",
            "shop",
            serde_json::json!({ "tenantRef": { "name": "shop" },
                                "default": { "bannerLogo": { "configMapKeyRef": { "name": "logos", "key": key } } } }),
        )
    };
    for object in [&logos, &tenant] {
        create_or_replace(&client, &namespace.name, object)
            .await
            .unwrap();
    }
    let brandings: Api<ciam_operator::api::Branding> =
        Api::namespaced(client.clone(), &namespace.name);
    for (key, reason) in [
        ("page.svg", "not"),
        ("script.svg", "script"),
        ("handler.svg", "onload"),
    ] {
        let applied = create_or_replace(&client, &namespace.name, &branding(key))
            .await
            .unwrap();
        let generation = applied.metadata.generation;
        let message = eventually(&format!("{key} to be refused"), WAIT, || async {
            let status = brandings.get("shop").await.ok()?.status?;
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
            (status.observed_generation == generation && ready.reason == "ContentInvalid")
                .then(|| ready.message.clone())
        })
        .await;
        assert!(
            message.contains("bannerLogo") && message.to_lowercase().contains(reason),
            "{key}: {message}"
        );
    }
    create_or_replace(&client, &namespace.name, &branding("plain.svg"))
        .await
        .unwrap();
    wait_reason(&brandings, "shop", "Reconciled").await;
    let stored = runtime
        .admin_get(&format!("tenants/{}/branding", namespace.name))
        .await
        .expect("branding in the runtime");
    assert!(
        stored["spec"]["default"]["bannerLogo"]
            .as_str()
            .is_some_and(|logo| logo.starts_with("data:image/svg+xml;base64,")),
        "{stored}"
    );
}

/// A tenant kept by `deletionPolicy: Retain` belongs to its vanished CustomerTenant: the same
/// team declaring it again in the same namespace takes it over (customers and tenant ID
/// kept); a CustomerTenant of another namespace with that subdomain does not.
#[tokio::test]
async fn a_retained_tenant_is_taken_over_only_from_its_own_namespace() {
    let client = client().await;
    let runtime = Runtime::start("tenancy-retain").await;
    let home = TestNamespace::create(&client, "home").await;
    let other = TestNamespace::create(&client, "other").await;
    let _operator = Operator::start(&runtime, &format!("{},{}", home.name, other.name), 300);
    // Not the namespace's name, so that messages can be checked for it.
    let subdomain = format!("kept{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let tenant = |name: &str| {
        object(
            "CustomerTenant",
            name,
            serde_json::json!({ "displayName": "Kept", "subdomain": subdomain, "countryCode": "FR",
                                "deletionPolicy": "Retain" }),
        )
    };
    let home_tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &home.name);
    let other_tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &other.name);
    create_or_replace(&client, &home.name, &tenant("kept"))
        .await
        .unwrap();
    wait_reason(&home_tenants, "kept", "Reconciled").await;
    let tenant_id = |tenant: CustomerTenant| tenant.status.unwrap().tenant_id.unwrap();
    let original_id = tenant_id(home_tenants.get("kept").await.unwrap());
    home_tenants
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the retained tenant's resource to go", WAIT, || async {
        home_tenants
            .get_opt("kept")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        runtime
            .admin_get(&format!("tenants/{subdomain}"))
            .await
            .is_some(),
        "Retain keeps the runtime's tenant"
    );

    create_or_replace(&client, &other.name, &tenant("squatter"))
        .await
        .unwrap();
    let (_, message) = wait_reason(&other_tenants, "squatter", "SubdomainInUse").await;
    assert!(!message.contains(&home.name), "{message}");

    create_or_replace(&client, &home.name, &tenant("kept-again"))
        .await
        .unwrap();
    wait_reason(&home_tenants, "kept-again", "Reconciled").await;
    assert_eq!(
        tenant_id(home_tenants.get("kept-again").await.unwrap()),
        original_id,
        "the same runtime tenant, taken over"
    );
    let stored = runtime
        .admin_get(&format!("tenants/{subdomain}"))
        .await
        .expect("the tenant");
    assert_eq!(stored["owner"]["name"], "kept-again", "{stored}");
}
