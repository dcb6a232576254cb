//! `scripts/cluster.sh` end to end on a control plane of its own: `up` starts it and then
//! reuses it, `status` reports it, `down` stops it and removes its state, and a restart keeps
//! the previous run's logs.
//!
//! The state directory is a fresh one (`CIAM_CLUSTER_DIR`), so the shared cluster the other
//! tests use is never stopped or restarted by this test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{repo_root, run_checked};

/// The control-plane components `scripts/cluster.sh` runs, each with a pid file and a log.
const COMPONENTS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// A control plane in a state directory of its own, stopped and removed when dropped (also
/// when the test fails half-way, so no daemons outlive it).
struct PrivateCluster {
    state_dir: PathBuf,
    kubectl: PathBuf,
}

impl PrivateCluster {
    fn new() -> Self {
        let state_dir = std::env::temp_dir().join(format!(
            "ciam-cluster-lifecycle-{}-{}",
            std::process::id(),
            support::free_port()
        ));
        let bin_dir = String::from_utf8(
            run_checked(
                Command::new(repo_root().join("scripts/build-k8s.sh")).arg("--print-bin-dir"),
            )
            .stdout,
        )
        .expect("bin dir is UTF-8");
        Self {
            state_dir,
            kubectl: Path::new(bin_dir.trim()).join("kubectl"),
        }
    }

    /// `scripts/cluster.sh <subcommand>` against this cluster's state directory.
    fn script(&self, subcommand: &str) -> Command {
        let mut command = Command::new(repo_root().join("scripts/cluster.sh"));
        command
            .arg(subcommand)
            .env("CIAM_CLUSTER_DIR", &self.state_dir)
            .current_dir(repo_root());
        command
    }

    fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    fn log(&self, component: &str) -> PathBuf {
        self.state_dir.join("logs").join(format!("{component}.log"))
    }

    /// The pid of every component, from the pid files `up` writes.
    fn pids(&self) -> BTreeMap<&'static str, u32> {
        COMPONENTS
            .iter()
            .map(|&component| {
                let file = self.state_dir.join("pids").join(format!("{component}.pid"));
                let pid = std::fs::read_to_string(&file)
                    .unwrap_or_else(|error| panic!("failed to read {}: {error}", file.display()));
                let pid = pid
                    .trim()
                    .parse()
                    .unwrap_or_else(|error| panic!("{}: not a pid ({error})", file.display()));
                (component, pid)
            })
            .collect()
    }

    /// What `kubectl get --raw /readyz` answers with this cluster's admin kubeconfig.
    fn readyz(&self) -> String {
        let output = run_checked(
            Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(self.kubeconfig())
                .args(["--request-timeout=10s", "get", "--raw", "/readyz"]),
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.script("down").output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Whether a process has exited. A process nobody has reaped yet (a zombie) has exited too.
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

fn text(output: &Output) -> String {
    format!(
        "exit status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The line of `scripts/cluster.sh status` output about `component`.
fn status_line<'a>(status: &'a str, component: &str) -> &'a str {
    status
        .lines()
        .find(|line| line.split_whitespace().next() == Some(component))
        .unwrap_or_else(|| panic!("`status` has no line for {component}:\n{status}"))
}

#[test]
fn up_reuses_status_reports_down_removes_and_logs_survive_a_restart() {
    let cluster = PrivateCluster::new();

    run_checked(&mut cluster.script("up"));
    assert_eq!(cluster.readyz(), "ok", "the kubeconfig `up` wrote works");
    let started = cluster.pids();

    // A second `up` finds the cluster healthy and leaves it alone.
    let reuse_began = Instant::now();
    let reuse = run_checked(&mut cluster.script("up"));
    let reuse_took = reuse_began.elapsed();
    assert!(
        String::from_utf8_lossy(&reuse.stderr).contains("already running and healthy"),
        "the second `up` did not reuse the cluster:\n{}",
        text(&reuse)
    );
    assert_eq!(
        cluster.pids(),
        started,
        "the second `up` restarted components"
    );
    assert!(
        reuse_took < Duration::from_secs(20),
        "reusing a healthy cluster took {reuse_took:?}"
    );
    assert_eq!(cluster.readyz(), "ok");

    let status = run_checked(&mut cluster.script("status"));
    let status = String::from_utf8_lossy(&status.stdout);
    for (component, pid) in &started {
        let line = status_line(&status, component);
        assert!(
            line.contains("running") && line.contains(&format!("pid {pid} ")),
            "`status` of a running cluster: {line:?}\n{status}"
        );
    }
    assert!(
        status_line(&status, "apiserver").ends_with(" ok"),
        "{status}"
    );

    run_checked(&mut cluster.script("down"));
    for (component, pid) in &started {
        assert!(
            has_exited(*pid),
            "{component} (pid {pid}) still runs after `down`"
        );
    }
    for removed in [
        "kubeconfig",
        "kube-controller-manager.kubeconfig",
        "pki",
        "pids",
        "etcd-data",
        "ports.env",
    ] {
        assert!(
            !cluster.state_dir.join(removed).exists(),
            "`down` left {removed} behind"
        );
    }
    for component in COMPONENTS {
        assert!(
            cluster.log(component).exists(),
            "`down` removed the log of {component}"
        );
    }

    // Read once the components have stopped, so nothing is appended afterwards.
    let logs_of_the_first_run: BTreeMap<&str, String> = COMPONENTS
        .iter()
        .map(|&component| {
            let log = std::fs::read_to_string(cluster.log(component))
                .unwrap_or_else(|error| panic!("{component} has no log: {error}"));
            (component, log)
        })
        .collect();

    let stopped = cluster.script("status").output().expect("status runs");
    assert!(
        !stopped.status.success(),
        "`status` of a stopped cluster succeeded:\n{}",
        text(&stopped)
    );
    let stopped = String::from_utf8_lossy(&stopped.stdout);
    for component in COMPONENTS {
        assert!(
            status_line(&stopped, component).ends_with("stopped"),
            "{stopped}"
        );
    }
    assert!(
        status_line(&stopped, "apiserver").ends_with("unreachable"),
        "{stopped}"
    );

    // A fresh start keeps the previous run's logs for diagnosis (an empty log is not worth
    // keeping, and `up` does not rotate one).
    run_checked(&mut cluster.script("up"));
    assert_eq!(cluster.readyz(), "ok");
    assert!(
        !logs_of_the_first_run["kube-apiserver"].is_empty(),
        "kube-apiserver logged nothing"
    );
    for (component, first_run) in &logs_of_the_first_run {
        if first_run.is_empty() {
            continue;
        }
        let previous = cluster.log(component).with_extension("log.1");
        let kept = std::fs::read_to_string(&previous).unwrap_or_else(|error| {
            panic!("the previous log of {component} was not kept as {previous:?}: {error}")
        });
        assert_eq!(
            &kept, first_run,
            "{previous:?} is not the first run's log of {component}"
        );
    }
    run_checked(&mut cluster.script("down"));
}
