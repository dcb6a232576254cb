//! Command-line interface of the single `ciam-operator` binary.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::api;

/// Customer identity (CIAM) on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "ciam-operator", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds {
        /// Write `<kind>.yaml` files into this directory instead of printing to stdout.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Run the embedded identity runtime: OpenID Connect provider, hosted pages and admin API.
    Runtime(Box<crate::runtime::RuntimeConfig>),
    /// Run the operator: reconcile the ciam.dev resources into the identity runtime.
    Controller(crate::controller::ControllerConfig),
    /// Turn Microsoft Graph JSON exported from Entra External ID into CustomerTenant,
    /// AppRegistration, UserFlow and Branding YAML; what cannot be mapped is listed on stderr.
    ImportEntra(crate::import_entra::ImportEntraArgs),
}

/// Errors of the command-line front end.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A CRD could not be rendered as YAML.
    #[error("failed to render the {kind} CRD as YAML: {source}")]
    Render {
        /// File stem of the CRD.
        kind: &'static str,
        /// Underlying serializer error.
        source: serde_saphyr::SerializeError,
    },
    /// The identity runtime failed to start or stopped with an error.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The operator could not start.
    #[error(transparent)]
    Controller(#[from] crate::controller::StartError),
    /// `import-entra` failed.
    #[error(transparent)]
    ImportEntra(#[from] crate::import_entra::ImportError),
    /// A file could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// Path of the file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

/// Runs the parsed command line.
///
/// # Errors
/// Returns what failed, with the object or path involved.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Crds { out_dir } => write_crds(out_dir.as_deref()),
        Command::Runtime(config) => Ok(crate::runtime::run(*config)?),
        Command::Controller(config) => Ok(crate::controller::start(config)?),
        Command::ImportEntra(args) => Ok(crate::import_entra::run(args)?),
    }
}

/// Prints every CRD to stdout, or writes one `<kind>.yaml` per CRD into `out_dir`.
fn write_crds(out_dir: Option<&Path>) -> Result<(), CliError> {
    for (kind, crd) in api::crds() {
        let yaml = api::crd_yaml(&crd).map_err(|source| CliError::Render { kind, source })?;
        match out_dir {
            Some(dir) => {
                let path = dir.join(format!("{kind}.yaml"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, yaml))
                    .map_err(|source| CliError::Write { path, source })?;
            }
            None => print!("{yaml}"),
        }
    }
    Ok(())
}
