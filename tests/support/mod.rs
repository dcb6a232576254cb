//! Test support: starts or reuses the local control plane, installs the CRDs and gives each
//! test its own namespace.
//!
//! The control plane is the real one from `scripts/cluster.sh` (etcd, kube-apiserver and
//! kube-controller-manager built from the Kubernetes Go modules). It is started at most once
//! per machine: concurrent test processes serialise on a lock file and reuse a running one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};

/// Where the running control plane can be reached.
pub struct ClusterInfo {
    /// Admin kubeconfig written by `scripts/cluster.sh up`.
    pub kubeconfig: PathBuf,
    /// The kubectl built at the same version as the API server.
    pub kubectl: PathBuf,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the control plane unless it is already running, and installs the CRDs generated
/// from the current Rust types. Runs once per test process.
pub fn cluster() -> &'static ClusterInfo {
    static CLUSTER: OnceLock<ClusterInfo> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster)
}

fn start_cluster() -> ClusterInfo {
    let root = repo_root();
    let state_dir = std::env::var_os("CIAM_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cluster"));
    std::fs::create_dir_all(&state_dir).expect("failed to create the cluster state directory");
    let lock = state_dir.with_extension("lock");
    let up = run_checked(
        // `-o`: the daemons `up` starts must not inherit the lock, or they hold it forever.
        Command::new("flock")
            .arg("-o")
            .arg(&lock)
            .arg(root.join("scripts/cluster.sh"))
            .arg("up")
            .current_dir(&root),
    );
    assert!(!up.stdout.is_empty() || up.status.success());
    let bin_dir = String::from_utf8(
        run_checked(Command::new(root.join("scripts/build-k8s.sh")).arg("--print-bin-dir")).stdout,
    )
    .expect("bin dir is UTF-8");
    let info = ClusterInfo {
        kubeconfig: state_dir.join("kubeconfig"),
        kubectl: Path::new(bin_dir.trim()).join("kubectl"),
    };
    install_crds(&info, &lock);
    info
}

/// Applies the CRDs of the current types (server-side) and waits until they are Established.
fn install_crds(info: &ClusterInfo, lock: &Path) {
    let dir = std::env::temp_dir().join(format!("ciam-crds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("failed to create a temp dir");
    let mut files = Vec::new();
    for (kind, crd) in ciam_operator::api::crds() {
        let path = dir.join(format!("{kind}.yaml"));
        std::fs::write(
            &path,
            ciam_operator::api::crd_yaml(&crd).expect("CRD renders"),
        )
        .expect("failed to write a CRD");
        files.push(path);
    }
    let mut apply = Command::new("flock");
    apply
        .arg("-o")
        .arg(lock)
        .arg(&info.kubectl)
        .arg("--kubeconfig")
        .arg(&info.kubeconfig);
    apply.args([
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=ciam-tests",
    ]);
    for file in &files {
        apply.arg("-f").arg(file);
    }
    run_checked(&mut apply);
    let mut wait = kubectl_command(info);
    wait.args(["wait", "--for=condition=Established", "--timeout=60s"]);
    for file in &files {
        wait.arg("-f").arg(file);
    }
    run_checked(&mut wait);
    let _ = std::fs::remove_dir_all(dir);
}

/// A `kubectl` command pointed at the test cluster.
pub fn kubectl_command(info: &ClusterInfo) -> Command {
    let mut command = Command::new(&info.kubectl);
    command.arg("--kubeconfig").arg(&info.kubeconfig);
    command
}

/// Runs kubectl against the test cluster and returns its output, whatever the exit status.
pub fn kubectl(args: &[&str]) -> Output {
    kubectl_command(cluster())
        .args(args)
        .output()
        .expect("failed to run kubectl")
}

/// Runs a command and panics with its output unless it succeeds.
pub fn run_checked(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("failed to run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A kube client for the test cluster.
pub async fn client() -> Client {
    let info = cluster();
    let kubeconfig = Kubeconfig::read_from(&info.kubeconfig).expect("kubeconfig is readable");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    Client::try_from(config).expect("client builds")
}

/// A namespace of one test, deleted (without waiting) when dropped.
pub struct TestNamespace {
    /// Name of the namespace.
    pub name: String,
}

impl TestNamespace {
    /// Creates a fresh namespace named after the test.
    pub async fn create(client: &Client, prefix: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "{prefix}-{:x}{:x}{}",
            std::process::id() % 0xffff,
            nanos % 0xfffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({ "metadata": { "name": name } }))
                .expect("namespace literal");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|error| panic!("failed to create namespace {name}: {error}"));
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // The test's operator may already be gone: release the finalizers it added, so the
        // namespace does not hang in Terminating.
        let listed = kubectl_command(cluster())
            .args(["get", "ciam", "-n", &self.name, "-o", "name"])
            .output();
        for object in listed.iter().flat_map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        }) {
            let _ = kubectl_command(cluster())
                .args([
                    "patch",
                    &object,
                    "-n",
                    &self.name,
                    "--type=merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ])
                .output();
        }
        let _ = kubectl_command(cluster())
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
    }
}

/// Parses a multi-document YAML file into JSON objects, skipping empty documents.
pub fn parse_documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(yaml)
        .expect("test manifest is valid YAML")
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

/// The dynamic API for an object's kind in a namespace.
pub async fn dynamic_api(
    client: &Client,
    namespace: &str,
    object: &serde_json::Value,
) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().expect("apiVersion is set");
    let kind = object["kind"].as_str().expect("kind is set");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|error| panic!("failed to discover {gvk:?}: {error}"));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Applies `deploy/examples/` into `namespace`, giving the tenant a subdomain of its own;
/// returns the objects as applied.
pub async fn apply_examples(
    client: &Client,
    namespace: &str,
    subdomain: &str,
) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("deploy/examples"))
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    let mut applied = Vec::new();
    for file in files {
        for mut document in parse_documents(&std::fs::read_to_string(file).expect("readable")) {
            if document["kind"] == "CustomerTenant" {
                document["spec"]["subdomain"] = subdomain.into();
            }
            create_or_replace(client, namespace, &document)
                .await
                .expect("example accepted");
            applied.push(document);
        }
    }
    applied
}

/// Creates an object, or replaces it when one of that name exists; returns the API error.
pub async fn create_or_replace(
    client: &Client,
    namespace: &str,
    object: &serde_json::Value,
) -> Result<DynamicObject, kube::Error> {
    let api = dynamic_api(client, namespace, object).await;
    let mut dynamic: DynamicObject =
        serde_json::from_value(object.clone()).expect("manifest is a Kubernetes object");
    match api.get_opt(&dynamic.name_any()).await? {
        Some(existing) => {
            dynamic.metadata.resource_version = existing.resource_version();
            api.replace(&dynamic.name_any(), &PostParams::default(), &dynamic)
                .await
        }
        None => api.create(&PostParams::default(), &dynamic).await,
    }
}

/// Deletes an object if it exists.
pub async fn delete(client: &Client, namespace: &str, object: &serde_json::Value) {
    let api = dynamic_api(client, namespace, object).await;
    let name = object["metadata"]["name"].as_str().expect("name is set");
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Polls `check` until it returns `Some`, panicking with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed when dropped.
pub struct ChildProcess(pub std::process::Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How one start of the runtime process ended.
enum Launch {
    Ready,
    PortTaken,
}

/// The last lines of a log file, for a failure message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The embedded identity runtime, started as a real process with a fresh SQLite database.
pub struct Runtime {
    /// Base URL of the public listener.
    pub public_url: String,
    /// Base URL of the admin listener.
    pub admin_url: String,
    /// The admin bearer token.
    pub admin_token: String,
    /// File holding the admin token.
    pub token_file: PathBuf,
    /// Working directory (database, keys, logs).
    pub dir: PathBuf,
    public_port: u16,
    admin_port: u16,
    process: Option<ChildProcess>,
}

impl Runtime {
    /// Starts the runtime and waits until `/readyz` answers.
    pub async fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ciam-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("runtime dir");
        let admin_token = format!("admin-{}-{}", std::process::id(), free_port()).repeat(2);
        let token_file = dir.join("admin-token");
        std::fs::write(&token_file, &admin_token).expect("token file");
        std::fs::write(
            dir.join("kek"),
            "8f2a1c9e7b3d4a6f5e0c1b2a3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60",
        )
        .expect("key file");
        let (public_port, admin_port) = (free_port(), free_port());
        let mut runtime = Self {
            public_url: format!("http://127.0.0.1:{public_port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            admin_token,
            token_file,
            dir,
            public_port,
            admin_port,
            process: None,
        };
        // A free port is only free until someone else binds it: a test running beside this
        // one may take it between `free_port` and the runtime's bind. Nothing depends on the
        // ports before the first start, so a collision there is retried on fresh ones.
        for _ in 0..3 {
            match runtime.launch().await {
                Launch::Ready => return runtime,
                Launch::PortTaken => runtime.move_to(free_port(), free_port()),
            }
        }
        panic!(
            "the runtime found its ports taken three times; see {}",
            runtime.log_path().display()
        )
    }

    fn move_to(&mut self, public_port: u16, admin_port: u16) {
        self.public_port = public_port;
        self.admin_port = admin_port;
        self.public_url = format!("http://127.0.0.1:{public_port}");
        self.admin_url = format!("http://127.0.0.1:{admin_port}");
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("runtime.log")
    }

    /// Stops the process (the database stays).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the process again on the same ports and database and waits until it is ready.
    pub async fn resume(&mut self) {
        match self.launch().await {
            Launch::Ready => {}
            Launch::PortTaken => panic!(
                "the runtime could not bind its ports again:\n{}",
                log_tail(&self.log_path())
            ),
        }
    }

    /// Starts the process and waits until `/readyz` answers, or until it exits.
    async fn launch(&mut self) -> Launch {
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(env!("CARGO_BIN_EXE_ciam-operator"))
            .args([
                "runtime",
                "--public-addr",
                &format!("127.0.0.1:{}", self.public_port),
            ])
            .args(["--admin-addr", &format!("127.0.0.1:{}", self.admin_port)])
            .args(["--public-url", &self.public_url])
            .arg("--admin-token-file")
            .arg(&self.token_file)
            .arg("--key-encryption-key-file")
            .arg(self.dir.join("kek"))
            .arg("--database")
            .arg(format!(
                "sqlite://{}",
                self.dir.join("runtime.db").display()
            ))
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("CIAM_LOG_FORMAT")
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("the runtime starts");
        self.process = Some(ChildProcess(child));
        let http = reqwest::Client::new();
        let readyz = format!("{}/readyz", self.admin_url);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            let output = output.get(log_start as usize..).unwrap_or_default();
            // Both listeners are bound once this line is written; until then `/readyz` on the
            // admin port could be answered by a neighbour's runtime holding that port.
            let ready = output.contains("identity runtime listening")
                && http
                    .get(&readyz)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
            if ready {
                return Launch::Ready;
            }
            let process = self.process.as_mut().expect("just started");
            if let Some(status) = process.0.try_wait().expect("the runtime's status") {
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                let output = output.get(log_start as usize..).unwrap_or_default();
                if output.contains("Address already in use") {
                    self.process = None;
                    return Launch::PortTaken;
                }
                panic!("the runtime exited ({status}) before it was ready:\n{output}");
            }
            assert!(
                Instant::now() < deadline,
                "timed out after 120s waiting for the runtime to be ready:\n{}",
                log_tail(&log_path)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends an admin API request and returns the status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.admin_as(method, path, None, body).await
    }

    /// Like [`Runtime::admin`], declaring `owner` (the stored `owner` object of a GET, or any
    /// JSON with kind, namespace, name and uid) in the `Ciam-Owner` header.
    pub async fn admin_as(
        &self,
        method: reqwest::Method,
        path: &str,
        owner: Option<&serde_json::Value>,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}/admin/v1/{path}", self.admin_url))
            .bearer_auth(&self.admin_token);
        if let Some(owner) = owner {
            let field = |name: &str| owner[name].as_str().unwrap_or_default().to_string();
            request = request.header(
                "Ciam-Owner",
                format!(
                    "kind={}; namespace={}; name={}; uid={}",
                    field("kind"),
                    field("namespace"),
                    field("name"),
                    field("uid")
                ),
            );
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("admin API answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// GET on the admin API; `None` for 404.
    pub async fn admin_get(&self, path: &str) -> Option<serde_json::Value> {
        let (status, body) = self.admin(reqwest::Method::GET, path, None).await;
        if status == 404 {
            return None;
        }
        assert!((200..300).contains(&status), "GET {path}: {status}");
        Some(body)
    }
}

/// The operator, started as a real process watching one namespace.
pub struct Operator {
    /// Its combined stdout and stderr.
    pub log: PathBuf,
    /// Base URL of its health and metrics listener.
    pub metrics_url: String,
    _process: ChildProcess,
}

impl Operator {
    /// Starts `ciam-operator controller` against the test cluster and `runtime`.
    pub fn start(runtime: &Runtime, namespace: &str, resync_seconds: u64) -> Self {
        Self::start_with(runtime, namespace, resync_seconds, &[])
    }

    /// Like [`Operator::start`], with extra command-line arguments.
    pub fn start_with(
        runtime: &Runtime,
        namespace: &str,
        resync_seconds: u64,
        extra: &[&str],
    ) -> Self {
        Self::start_as(
            runtime,
            namespace,
            resync_seconds,
            &cluster().kubeconfig,
            extra,
        )
    }

    /// Like [`Operator::start_with`], connecting with `kubeconfig` (for example a
    /// ServiceAccount's token) instead of the cluster admin's.
    pub fn start_as(
        runtime: &Runtime,
        namespace: &str,
        resync_seconds: u64,
        kubeconfig: &Path,
        extra: &[&str],
    ) -> Self {
        let log = runtime.dir.join(format!("operator-{namespace}.log"));
        // As with the runtime, the metrics port may be taken by a neighbouring test between
        // `free_port` and the operator's bind; that start is retried on a fresh port.
        for _ in 0..3 {
            let metrics_port = free_port();
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log file");
            let log_start = file.metadata().map(|m| m.len()).unwrap_or(0);
            let child = Command::new(env!("CARGO_BIN_EXE_ciam-operator"))
                .arg("controller")
                .args(["--backend-url", &runtime.admin_url])
                .arg("--backend-token-file")
                .arg(&runtime.token_file)
                .args(["--watch-namespace", namespace])
                .args(["--resync-seconds", &resync_seconds.to_string()])
                .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
                .args(extra)
                .env("KUBECONFIG", kubeconfig)
                .env("RUST_LOG", "info")
                .stdout(file.try_clone().expect("log handle"))
                .stderr(file)
                .spawn()
                .expect("the operator starts");
            let mut process = ChildProcess(child);
            if !port_was_taken(&mut process, &log, log_start) {
                return Self {
                    log,
                    metrics_url: format!("http://127.0.0.1:{metrics_port}"),
                    _process: process,
                };
            }
        }
        panic!(
            "the operator found its metrics port taken three times; see {}",
            log.display()
        )
    }
}

/// Waits until the operator has bound its metrics listener (it logs "operator starting") or
/// has exited; true when it exited because the port was taken.
fn port_was_taken(process: &mut ChildProcess, log: &Path, log_start: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let output = std::fs::read_to_string(log).unwrap_or_default();
        let output = output.get(log_start as usize..).unwrap_or_default();
        if output.contains("operator starting") {
            return false;
        }
        if process
            .0
            .try_wait()
            .expect("the operator's status")
            .is_some()
        {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            return output
                .get(log_start as usize..)
                .unwrap_or_default()
                .contains("Address already in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A key of a Secret's data as text.
pub fn secret_value(secret: &k8s_openapi::api::core::v1::Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().expect("data")[key].0;
    String::from_utf8(bytes.clone()).expect("UTF-8")
}

/// Asks the runtime for a client-credentials token for `scope` with the client ID and issuer in
/// `secret` and `client_secret`; the error body when refused.
pub async fn client_credentials_token(
    secret: &k8s_openapi::api::core::v1::Secret,
    client_secret: &str,
    scope: &str,
) -> Result<(), String> {
    let issuer = secret_value(secret, "ISSUER_URL");
    let token_endpoint = format!("{}/oauth2/v2.0/token", issuer.trim_end_matches("/v2.0"));
    let response = reqwest::Client::new()
        .post(token_endpoint)
        .basic_auth(secret_value(secret, "CLIENT_ID"), Some(client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(response.text().await.unwrap_or_default())
    }
}

/// A tenant `t` on `subdomain` and an app `api` exposing the scope `api://reports/read`, as
/// JSON objects to apply.
pub fn tenant_with_api(subdomain: &str) -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant", "metadata": { "name": "t" },
            "spec": { "displayName": "T", "subdomain": subdomain, "countryCode": "DE" }
        }),
        serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration", "metadata": { "name": "api" },
            "spec": { "tenantRef": { "name": "t" }, "displayName": "API", "type": "spa",
                      "redirectUris": ["https://api.example/"],
                      "exposedApi": { "identifierUri": "api://reports", "scopes": [{ "value": "read" }] } }
        }),
    ]
}
