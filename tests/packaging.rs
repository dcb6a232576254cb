//! Packaging end to end: the Helm chart (built Helm, real control plane), the plain manifests
//! in `deploy/`, the chart's RBAC proven by running the operator with its ServiceAccount's
//! token, and GitOps health as kstatus (the library Flux uses) and the Argo CD health check of
//! docs/install.md compute it.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::config::Kubeconfig;

use ciam_operator::api::{AppRegistration, CustomerTenant};
use support::{
    Operator, Runtime, TestNamespace, apply_examples, client, cluster, create_or_replace,
    eventually, kubectl_command, parse_documents, repo_root, run_checked,
};

const WAIT: Duration = Duration::from_secs(90);
const CHART: &str = "charts/ciam-operator";

/// A tool the project builds and caches (`scripts/build-*.sh`), by the path its script prints.
fn tool(script: &str, flag: &str, name: &str) -> PathBuf {
    let output = run_checked(Command::new(repo_root().join(script)).arg(flag));
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    let path = PathBuf::from(printed.lines().last().expect("a path").trim());
    if path.ends_with(name) {
        path
    } else {
        path.join(name)
    }
}

fn helm_command() -> Command {
    let mut command = Command::new(tool("scripts/build-helm.sh", "--print-bin-dir", "helm"));
    let home = std::env::temp_dir().join("ciam-helm-home");
    command
        .current_dir(repo_root())
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

fn helm(args: &[&str]) -> Output {
    run_checked(helm_command().args(args))
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

/// Runs `command` with `input` on its standard input; returns its output, whatever the exit.
fn with_input(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input written");
    child.wait_with_output().expect("the command ends")
}

/// `helm template` of the chart into `namespace` with a values file and extra flags.
fn render(release: &str, namespace: &str, values: &str, extra: &[&str]) -> String {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    args.extend(["-f", values]);
    args.extend(extra);
    stdout(&helm(&args))
}

#[tokio::test]
async fn the_chart_lints_and_every_rendering_passes_a_server_side_dry_run() {
    for values in [
        "ci/default-values.yaml",
        "ci/ha-values.yaml",
        "ci/namespaced-values.yaml",
    ] {
        let file = format!("{CHART}/{values}");
        let lint = helm(&["lint", "--strict", CHART, "-f", &file]);
        let text = stdout(&lint);
        assert!(text.contains("0 chart(s) failed"), "{values}: {text}");
    }

    let client = client().await;
    let release_ns = TestNamespace::create(&client, "e2e-chart").await;
    let team_a = TestNamespace::create(&client, "e2e-chart-a").await;
    let team_b = TestNamespace::create(&client, "e2e-chart-b").await;
    let watch = format!("watchNamespaces={{{},{}}}", team_a.name, team_b.name);
    let renderings = [
        (
            "default",
            render(
                "dry",
                &release_ns.name,
                &format!("{CHART}/ci/default-values.yaml"),
                &[],
            ),
        ),
        (
            "ha",
            render(
                "dry",
                &release_ns.name,
                &format!("{CHART}/ci/ha-values.yaml"),
                &[],
            ),
        ),
        (
            "namespaced",
            render(
                "dry",
                &release_ns.name,
                &format!("{CHART}/ci/namespaced-values.yaml"),
                &["--set", &watch],
            ),
        ),
    ];
    for (name, manifest) in &renderings {
        let kinds: Vec<String> = parse_documents(manifest)
            .iter()
            .map(|document| document["kind"].as_str().unwrap_or_default().to_string())
            .collect();
        for expected in ["Deployment", "Service", "ServiceAccount", "ConfigMap"] {
            assert!(
                kinds.iter().any(|kind| kind == expected),
                "{name}: no {expected} in {kinds:?}"
            );
        }
        let applied = with_input(
            kubectl_command(cluster()).args(["apply", "--dry-run=server", "-f", "-"]),
            manifest,
        );
        assert!(
            applied.status.success(),
            "{name}: the API server refused the rendering: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }

    // HA: two replicas of each, PostgreSQL from a Secret, PodDisruptionBudgets.
    let ha = parse_documents(&renderings[1].1);
    for document in ha.iter().filter(|d| d["kind"] == "Deployment") {
        assert_eq!(
            document["spec"]["replicas"], 2,
            "{}",
            document["metadata"]["name"]
        );
    }
    assert_eq!(
        ha.iter()
            .filter(|d| d["kind"] == "PodDisruptionBudget")
            .count(),
        2
    );
    assert!(!ha.iter().any(|d| d["kind"] == "PersistentVolumeClaim"));

    // Namespaced: Roles in the watched namespaces, nothing cluster-wide but the CRDs.
    let namespaced = parse_documents(&renderings[2].1);
    assert!(
        !namespaced
            .iter()
            .any(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding"),
        "namespaced mode renders cluster-wide RBAC"
    );
    for watched in [&team_a.name, &team_b.name] {
        assert!(
            namespaced
                .iter()
                .any(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == **watched),
            "no Role in {watched}"
        );
    }

    // Every container runs locked down.
    for (name, manifest) in &renderings {
        for document in parse_documents(manifest)
            .iter()
            .filter(|d| d["kind"] == "Deployment")
        {
            let pod = &document["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"],
                "RuntimeDefault"
            );
            for container in pod["containers"].as_array().expect("containers") {
                let security = &container["securityContext"];
                assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
                assert_eq!(security["capabilities"]["drop"][0], "ALL", "{name}");
                assert!(container["resources"]["requests"].is_object(), "{name}");
            }
        }
    }

    // Cluster mode, installed for real: the operator's ServiceAccount may do what the code
    // needs everywhere, and nothing else.
    let release = format!("cl-{}", release_ns.name);
    helm(&["install", &release, CHART, "--namespace", &release_ns.name]);
    let account = format!(
        "system:serviceaccount:{}:{release}-ciam-operator-controller",
        release_ns.name
    );
    let can = |verb: &str, resource: &str, namespace: Option<&str>| {
        let mut command = kubectl_command(cluster());
        command.args(["auth", "can-i", verb, resource, "--as", &account]);
        match namespace {
            Some(namespace) => command.args(["-n", namespace]),
            None => command.arg("--all-namespaces"),
        };
        let output = command.output().expect("kubectl runs");
        stdout(&output).trim() == "yes"
    };
    let other = Some(team_a.name.as_str());
    for (verb, resource, namespace) in [
        ("watch", "appregistrations.ciam.dev", None),
        ("patch", "customertenants.ciam.dev/status", None),
        ("patch", "secrets", other),
        ("get", "namespaces", None),
        ("create", "events.events.k8s.io", other),
    ] {
        assert!(
            can(verb, resource, namespace),
            "{account} cannot {verb} {resource}"
        );
    }
    for (verb, resource, namespace) in [
        ("delete", "secrets", other),
        ("update", "secrets", other),
        ("create", "pods", other),
        ("update", "customertenants.ciam.dev", other),
        ("delete", "appregistrations.ciam.dev", other),
        ("list", "nodes", None),
        ("create", "leases.coordination.k8s.io", other),
    ] {
        assert!(
            !can(verb, resource, namespace),
            "{account} may {verb} {resource}"
        );
    }
    for (verb, resource) in [
        ("create", "leases.coordination.k8s.io"),
        ("update", "leases.coordination.k8s.io/ciam-operator-leader"),
    ] {
        assert!(
            can(verb, resource, Some(&release_ns.name)),
            "{account} cannot {verb} {resource}"
        );
    }
    assert!(!can(
        "update",
        "leases.coordination.k8s.io/other",
        Some(&release_ns.name)
    ));
    helm(&["uninstall", &release, "--namespace", &release_ns.name]);

    // A runtime with two replicas on SQLite is refused with a clear message.
    let refused = helm_command()
        .args(["template", "x", CHART, "--set", "runtime.replicas=2"])
        .output()
        .expect("helm runs");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("postgres"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn the_plain_manifests_are_the_charts_rendering_and_the_api_server_accepts_them() {
    let check = Command::new(repo_root().join("scripts/render-deploy.sh"))
        .arg("--check")
        .output()
        .expect("the script runs");
    assert!(
        check.status.success(),
        "deploy/ differs from the chart; run scripts/render-deploy.sh:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // `kubectl apply -k deploy/` against the real API server, into a namespace of this test
    // (a dry run cannot create ciam-system for the objects in it).
    let client = client().await;
    let namespace = TestNamespace::create(&client, "e2e-deploy").await;
    let built = stdout(&run_checked(
        kubectl_command(cluster())
            .arg("kustomize")
            .arg(repo_root().join("deploy")),
    ));
    assert!(built.contains("namespace: ciam-system"), "{built}");
    let applied = with_input(
        kubectl_command(cluster()).args(["apply", "--server-side", "--dry-run=server", "-f", "-"]),
        &built.replace("ciam-system", &namespace.name),
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

/// A kubeconfig for the test cluster that authenticates with a ServiceAccount's token.
async fn kubeconfig_for(client: &Client, namespace: &str, account: &str, dir: &Path) -> PathBuf {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: None,
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("a token for the ServiceAccount")
        .status
        .and_then(|status| status.token)
        .expect("a token");
    let mut config = Kubeconfig::read_from(&cluster().kubeconfig).expect("admin kubeconfig");
    for auth in &mut config.auth_infos {
        auth.auth_info = Some(kube::config::AuthInfo {
            token: Some(token.clone().into()),
            ..Default::default()
        });
    }
    let path = dir.join(format!("{account}.kubeconfig.json"));
    std::fs::write(&path, serde_json::to_vec(&config).expect("serializable")).expect("written");
    path
}

/// kstatus's verdict on an object, as Flux and Argo CD compute it.
fn kstatus(object: &serde_json::Value) -> String {
    let tool = tool("scripts/build-kstatus.sh", "--print-path", "kstatus");
    let output = with_input(&mut Command::new(tool), &object.to_string());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_str(stdout(&output).lines().next().expect("a line")).expect("JSON");
    line["status"].as_str().expect("a status").to_string()
}

/// The Argo CD health check that docs/install.md gives for ciam.dev kinds.
fn argo_health_script() -> String {
    let docs = std::fs::read_to_string(repo_root().join("docs/install.md")).expect("install docs");
    let start = docs
        .find("resource.customizations.health.ciam.dev_*: |")
        .expect("the Argo CD health check in docs/install.md");
    docs[start..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON value as a Lua table constructor, the form Argo CD hands a health check as `obj`.
fn lua_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "nil".into(),
        serde_json::Value::Bool(flag) => flag.to_string(),
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::String(text) => {
            let mut quoted = String::from("\"");
            for byte in text.bytes() {
                match byte {
                    b'"' | b'\\' => {
                        quoted.push('\\');
                        quoted.push(byte as char);
                    }
                    0x20..=0x7e => quoted.push(byte as char),
                    _ => quoted.push_str(&format!("\\{byte:03}")),
                }
            }
            quoted.push('"');
            quoted
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(","))
        }
        serde_json::Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, value)| {
                    format!("[{}]={}", lua_value(&key.clone().into()), lua_value(value))
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// GitOps health of an object as `kstatus/argo`: kstatus's verdict (Flux) and the documented
/// Argo CD health check's, run by Lua 5.1 (the language level of Argo CD's gopher-lua).
fn health(object: &serde_json::Value) -> String {
    let program = format!(
        "obj = {}\nlocal function check()\n{}\nend\nprint(check().status)\n",
        lua_value(object),
        argo_health_script()
    );
    let output = with_input(Command::new("lua5.1").arg("-"), &program);
    assert!(
        output.status.success(),
        "the Argo CD health check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!("{}/{}", kstatus(object), stdout(&output).trim())
}

async fn object_json<K>(api: &Api<K>, name: &str) -> serde_json::Value
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + serde::Serialize,
{
    let mut value = serde_json::to_value(api.get(name).await.expect("the object")).expect("JSON");
    value["apiVersion"] = K::api_version(&()).to_string().into();
    value["kind"] = K::kind(&()).to_string().into();
    value
}

/// Every ciam.dev example's kstatus verdict, as `kind/name=status`.
async fn verdicts(client: &Client, namespace: &str, examples: &[serde_json::Value]) -> Vec<String> {
    let mut verdicts = Vec::new();
    for example in examples
        .iter()
        .filter(|e| e["apiVersion"] == "ciam.dev/v1alpha1")
    {
        let api = support::dynamic_api(client, namespace, example).await;
        let name = example["metadata"]["name"].as_str().expect("a name");
        let object = serde_json::to_value(api.get(name).await.expect("the object")).expect("JSON");
        verdicts.push(format!(
            "{}/{name}={}",
            example["kind"].as_str().unwrap(),
            health(&object)
        ));
    }
    verdicts
}

#[tokio::test]
async fn helm_install_grants_the_operator_enough_and_no_more_and_upgrade_keeps_credentials() {
    let client = client().await;
    let release_ns = TestNamespace::create(&client, "e2e-helm").await;
    let apps_ns = TestNamespace::create(&client, "e2e-helm-apps").await;
    let other_ns = TestNamespace::create(&client, "e2e-helm-other").await;
    let mut runtime = Runtime::start("helm").await;
    let watch = format!("watchNamespaces={{{}}}", apps_ns.name);
    let public_url = format!("runtime.publicUrl={}", runtime.public_url);
    helm(&[
        "install",
        "ciam-operator",
        CHART,
        "--namespace",
        &release_ns.name,
        "--set",
        &watch,
        "--set",
        &public_url,
    ]);

    // Every object of the release exists.
    let manifest = stdout(&helm(&[
        "get",
        "manifest",
        "ciam-operator",
        "--namespace",
        &release_ns.name,
    ]));
    let got = with_input(
        kubectl_command(cluster()).args(["get", "-f", "-", "-o", "name"]),
        &manifest,
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let created = stdout(&got);
    assert!(created.lines().count() >= 10, "{created}");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &release_ns.name);
    let admin_token = secrets
        .get("ciam-operator-admin-token")
        .await
        .expect("admin token Secret");
    let kek = secrets
        .get("ciam-operator-key-encryption-key")
        .await
        .expect("key-encryption key Secret");

    // The operator, with the chart's ServiceAccount and flags, reconciles the examples. They are
    // applied while the runtime is down: GitOps health says InProgress, then Current.
    let kubeconfig = kubeconfig_for(
        &client,
        &release_ns.name,
        "ciam-operator-controller",
        &runtime.dir,
    )
    .await;
    runtime.stop();
    let _operator = Operator::start_as(
        &runtime,
        &apps_ns.name,
        300,
        &kubeconfig,
        &["--leader-election-namespace", &release_ns.name],
    );
    let examples = apply_examples(&client, &apps_ns.name, &apps_ns.name).await;
    let tenants: Api<CustomerTenant> = Api::namespaced(client.clone(), &apps_ns.name);
    eventually("the tenant to wait for the runtime", WAIT, || async {
        let object = object_json(&tenants, "contoso").await;
        (health(&object) == "InProgress/Progressing").then_some(())
    })
    .await;
    runtime.resume().await;
    let all_current = eventually("every example to be Current", WAIT, || async {
        let verdicts = verdicts(&client, &apps_ns.name, &examples).await;
        verdicts
            .iter()
            .all(|v| v.ends_with("=Current/Healthy"))
            .then_some(verdicts)
    })
    .await;
    assert_eq!(all_current.len(), 6, "{all_current:?}");

    // An invalid object (a second Branding for the tenant) is Failed, not forever InProgress.
    let second = serde_json::json!({
        "apiVersion": "ciam.dev/v1alpha1", "kind": "Branding", "metadata": { "name": "second" },
        "spec": { "tenantRef": { "name": "contoso" }, "default": { "backgroundColor": "#000" } }
    });
    create_or_replace(&client, &apps_ns.name, &second)
        .await
        .unwrap();
    let brandings = support::dynamic_api(&client, &apps_ns.name, &second).await;
    eventually("the second Branding to be Failed", WAIT, || async {
        let object = serde_json::to_value(brandings.get("second").await.ok()?).ok()?;
        (health(&object) == "Failed/Degraded").then_some(())
    })
    .await;

    // Refused where it should be: Secrets and resources outside the watched namespace.
    let as_operator = Client::try_from(
        kube::Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&kubeconfig).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let foreign_secrets: Api<Secret> = Api::namespaced(as_operator.clone(), &other_ns.name);
    let refused = foreign_secrets
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, kube::Error::Api(ref s) if s.code == 403),
        "{refused:?}"
    );
    let everywhere: Api<AppRegistration> = Api::all(as_operator.clone());
    let refused = everywhere.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(refused, kube::Error::Api(ref s) if s.code == 403),
        "{refused:?}"
    );
    let own_secrets: Api<Secret> = Api::namespaced(as_operator, &apps_ns.name);
    own_secrets
        .list(&ListParams::default())
        .await
        .expect("its own namespace is readable");

    // An upgrade keeps the admin token, the key-encryption key and every app's credentials.
    let app_secrets: Api<Secret> = Api::namespaced(client.clone(), &apps_ns.name);
    let before = app_secrets
        .get("nightly-reports-credentials")
        .await
        .expect("daemon Secret");
    helm(&[
        "upgrade",
        "ciam-operator",
        CHART,
        "--namespace",
        &release_ns.name,
        "--set",
        &watch,
        "--set",
        &public_url,
        "--set",
        "operator.resyncSeconds=120",
    ]);
    assert_eq!(
        secrets.get("ciam-operator-admin-token").await.unwrap().data,
        admin_token.data,
        "helm upgrade changed the admin token"
    );
    assert_eq!(
        secrets
            .get("ciam-operator-key-encryption-key")
            .await
            .unwrap()
            .data,
        kek.data
    );
    assert_eq!(
        app_secrets
            .get("nightly-reports-credentials")
            .await
            .unwrap()
            .data,
        before.data
    );
    let operator_args = stdout(&run_checked(kubectl_command(cluster()).args([
        "get",
        "deployment",
        "ciam-operator-controller",
        "-n",
        &release_ns.name,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].args}",
    ])));
    assert!(operator_args.contains("120"), "{operator_args}");
    helm(&[
        "uninstall",
        "ciam-operator",
        "--namespace",
        &release_ns.name,
    ]);
}
