//! The operator's command-line flags (`ciam-operator controller`).

/// Command-line settings of `ciam-operator controller`.
#[derive(Clone, Debug, clap::Args)]
pub struct ControllerConfig {
    /// Base URL of the embedded runtime's admin API.
    #[arg(
        long,
        env = "CIAM_BACKEND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub backend_url: String,

    /// File holding the admin API bearer token.
    #[arg(long, env = "CIAM_BACKEND_TOKEN_FILE")]
    pub backend_token_file: std::path::PathBuf,

    /// Seconds between drift re-checks of a Ready object.
    #[arg(long, env = "CIAM_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,

    /// Watch only these namespaces (comma-separated; for namespaced RBAC); every namespace
    /// when unset.
    #[arg(long, env = "CIAM_WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,

    /// Namespace of the leader-election Lease; leader election is off when unset (one replica).
    #[arg(long, env = "CIAM_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Address of the `/healthz`, `/readyz` and `/metrics` listener.
    #[arg(long, env = "CIAM_METRICS_ADDR", default_value = "127.0.0.1:8090")]
    pub metrics_addr: std::net::SocketAddr,

    /// Log lines as JSON objects instead of text.
    #[arg(long, env = "CIAM_LOG_JSON")]
    pub log_json: bool,

    /// Timeout of one backend request, in seconds.
    #[arg(long, env = "CIAM_BACKEND_TIMEOUT_SECONDS", default_value_t = 10)]
    pub backend_timeout_seconds: u64,
}
