//! `ciam-operator import-entra`: turns Microsoft Graph JSON exported from an Entra External
//! ID tenant into CustomerTenant, AppRegistration, UserFlow and Branding YAML.
//!
//! ```text
//!  *.json ──▶ graph::parse_document ──▶ Export ──▶ import() ──▶ Imported ──▶ render() ──▶ YAML
//!  (Graph      (kind from @odata.context,   identity_providers, extensions,      (CRD types, serialised
//!   responses)   @odata.type or shape)      applications, flows, branding        with serde-saphyr)
//!                                                  │
//!                                                  └──▶ notes: one line per item not imported
//! ```
//!
//! The CRDs' field names follow Graph's, so this is a mapping, not a translation. What has no
//! counterpart is never dropped unseen: it becomes a [`Note`] with its Graph path, printed on
//! stderr. Secrets are never carried over (Graph does not export them either); a note names the
//! Secret the person must create. Everything is read, mapped and rendered before anything is
//! written, so bad input leaves nothing half-written. This module uses `api` and `contract`
//! only: it needs no cluster and no runtime.

mod applications;
mod branding;
mod certificates;
mod checks;
mod extensions;
mod flows;
pub mod graph;
mod identity_providers;
mod output;

use output::write_files;
pub use output::{RenderedObject, render, stream};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::customer_tenant::{CustomAttribute, IdentityProvider};
use crate::api::{
    AppRegistration, Branding, CustomerTenant, CustomerTenantSpec, DeletionPolicy, UserFlow,
};

pub use graph::Document;

/// Arguments of `ciam-operator import-entra`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportEntraArgs {
    /// Graph JSON files (collections or single objects), or directories whose `*.json` files
    /// are read.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,

    /// Display name of the CustomerTenant; its object name is derived from it.
    #[arg(long)]
    pub tenant_name: String,

    /// The tenant's subdomain (a DNS label, immutable); defaults to one derived from
    /// `--tenant-name`.
    #[arg(long)]
    pub subdomain: Option<String>,

    /// ISO 3166-1 alpha-2 country of the data location (immutable; Graph exports of these
    /// resources do not carry it).
    #[arg(long, value_name = "CC")]
    pub country_code: String,

    /// Namespace written into every generated object (default: none, so `kubectl -n` decides).
    #[arg(long)]
    pub namespace: Option<String>,

    /// Write one `NN-kind-name.yaml` per object into this directory instead of printing a
    /// multi-document YAML stream.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Exit with an error when anything in the input could not be imported.
    #[arg(long)]
    pub strict: bool,
}

/// Why an import failed. Nothing is written when one of these is returned before writing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An input could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A directory held no `*.json` file.
    #[error("{0} holds no *.json file")]
    EmptyDirectory(PathBuf),
    /// An input is not JSON.
    #[error("{file} is not JSON: {source}")]
    NotJson {
        /// The file.
        file: String,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// An input is JSON but not a Graph response this import reads.
    #[error(
        "{file} is not a Microsoft Graph response this import reads ({why}); expected \
         applications, identity/authenticationEventsFlows (and their includeApplications), \
         organizationalBranding (and its localizations), identity/identityProviders or \
         identity/customAuthenticationExtensions"
    )]
    UnknownShape {
        /// The file.
        file: String,
        /// What was wrong.
        why: String,
    },
    /// A known kind of response with a field of the wrong type.
    #[error("{file}: {path}: {why}")]
    BadShape {
        /// The file.
        file: String,
        /// JSON path of the field.
        path: String,
        /// The deserializer's message.
        why: String,
    },
    /// A command-line value the CRDs would refuse.
    #[error("--{flag} {value:?} {why}")]
    InvalidFlag {
        /// The flag, without dashes.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is expected.
        why: &'static str,
    },
    /// An object could not be rendered as YAML.
    #[error("failed to render {name} as YAML: {source}")]
    Render {
        /// The object.
        name: String,
        /// Underlying serializer error.
        source: serde_saphyr::SerializeError,
    },
    /// An output file could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// `--strict` and something was not imported.
    #[error("{0} item(s) were not imported (listed above); --strict makes that an error")]
    Incomplete(usize),
}

/// Whether a note is about something left out or something the person must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Present in Graph, absent from the output (counted by `--strict`).
    Skipped,
    /// Imported, with a step left to the person (create a Secret, move an image).
    Action,
}

/// One line of the import's report: a Graph path and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Graph path, such as `applications[2].keyCredentials`.
    pub path: String,
    /// What was not imported and why, or what to do.
    pub message: String,
    /// Skipped or action.
    pub kind: NoteKind,
}

impl std::fmt::Display for Note {
    /// `path: message`, with control and invisible characters from the input escaped, so a
    /// crafted export cannot rewrite the terminal or hide words in the report.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = format!("{}: {}", self.path, self.message);
        for character in line.chars() {
            if crate::contract::is_refused_in_plain_text(character) {
                write!(formatter, "\\u{{{:04x}}}", u32::from(character))?;
            } else {
                write!(formatter, "{character}")?;
            }
        }
        Ok(())
    }
}

/// Everything read from the input files, by kind, in input order.
#[derive(Debug, Default, Clone)]
pub struct Export {
    /// `applications`.
    pub applications: Vec<graph::Application>,
    /// `identity/authenticationEventsFlows`.
    pub flows: Vec<graph::SignUpFlow>,
    /// `includeApplications` lists, by flow id.
    pub flow_applications: BTreeMap<String, Vec<String>>,
    /// Ids of the custom extensions flows call, by (flow id, event), from exports of the
    /// events' `customExtension`.
    pub flow_extensions: BTreeMap<(String, String), String>,
    /// The default `organizationalBranding`.
    pub branding: Option<graph::Branding>,
    /// `organizationalBranding/localizations`.
    pub localizations: Vec<graph::Branding>,
    /// `identity/identityProviders`.
    pub identity_providers: Vec<graph::IdentityProvider>,
    /// `identity/customAuthenticationExtensions`.
    pub extensions: Vec<graph::CustomExtension>,
    /// Problems met while collecting (a second default branding).
    pub notes: Vec<Note>,
}

impl Export {
    /// Adds one parsed file.
    pub fn add(&mut self, file: &str, document: Document) {
        match document {
            Document::Applications(items) => self.applications.extend(items),
            Document::Flows(items) => self.flows.extend(items),
            Document::FlowApplications { flow_id, apps } => {
                let app_ids = apps.into_iter().filter_map(|app| app.app_id);
                self.flow_applications
                    .entry(flow_id)
                    .or_default()
                    .extend(app_ids);
            }
            Document::FlowExtension {
                flow_id,
                event,
                extension,
            } => {
                if let Some(id) = extension.id.clone() {
                    self.flow_extensions.insert((flow_id, event), id.clone());
                    if !self
                        .extensions
                        .iter()
                        .any(|known| known.id.as_ref() == Some(&id))
                    {
                        self.extensions.push(*extension);
                    }
                }
            }
            Document::Branding(branding) if self.branding.is_none() => {
                self.branding = Some(*branding);
            }
            Document::Branding(_) => self.notes.push(Note {
                path: file.to_string(),
                message: "a second organizationalBranding is not imported (a tenant has one)"
                    .to_string(),
                kind: NoteKind::Skipped,
            }),
            Document::BrandingLocalizations(items) => self.localizations.extend(items),
            Document::IdentityProviders(items) => self.identity_providers.extend(items),
            Document::Extensions(items) => self.extensions.extend(items),
        }
    }
}

/// Settings of one import, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Display name of the tenant.
    pub tenant_name: String,
    /// Subdomain; derived from the tenant name when absent.
    pub subdomain: Option<String>,
    /// Data location.
    pub country_code: String,
    /// Namespace of the generated objects.
    pub namespace: Option<String>,
}

/// The objects an import produces, in the order they should be applied, and its report.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The tenant.
    pub tenant: CustomerTenant,
    /// The public certificates of apps that authenticate with them.
    pub config_maps: Vec<ConfigMap>,
    /// One per Graph application.
    pub apps: Vec<AppRegistration>,
    /// One per sign-up/sign-in flow.
    pub flows: Vec<UserFlow>,
    /// The branding, when the export had one.
    pub branding: Option<Branding>,
    /// What was not imported, and what is left to do.
    pub notes: Vec<Note>,
}

/// State shared by the per-kind mappings while one import runs.
#[derive(Debug, Default)]
struct Context {
    notes: Vec<Note>,
    /// ConfigMaps the mapped objects refer to (apps' certificates).
    config_maps: Vec<ConfigMap>,
    tenant: String,
    namespace: Option<String>,
    /// Object name of each imported application, by Graph `appId`.
    app_names: BTreeMap<String, String>,
    /// Apps already served by a flow (an app belongs to at most one).
    apps_in_flows: BTreeSet<String>,
    /// Identity providers of the tenant, by Graph id, with the name flows use.
    provider_names: BTreeMap<String, String>,
    providers: Vec<IdentityProvider>,
    provider_name_pool: checks::UniqueNames,
    custom_attributes: Vec<CustomAttribute>,
    /// Custom extensions by Graph id, with their path; `used` records which flows took.
    extensions: BTreeMap<String, (String, graph::CustomExtension)>,
    used_extensions: BTreeSet<String>,
}

impl Context {
    fn skipped(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.note(path, message, NoteKind::Skipped);
    }

    fn action(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.note(path, message, NoteKind::Action);
    }

    fn note(&mut self, path: impl Into<String>, message: impl Into<String>, kind: NoteKind) {
        self.notes.push(Note {
            path: path.into(),
            message: message.into(),
            kind,
        });
    }

    /// Metadata of a generated object.
    fn metadata(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.namespace.clone(),
            ..ObjectMeta::default()
        }
    }

    /// Reports every key of `other` that carries a value, except `ignored` ones and OData
    /// annotations: the fields of `path` with no counterpart in `target`.
    fn report_other(&mut self, path: &str, other: &graph::Other, ignored: &[&str], target: &str) {
        for (key, value) in other {
            if key.contains("@odata") || ignored.contains(&key.as_str()) || is_empty(value) {
                continue;
            }
            self.skipped(
                format!("{path}.{key}"),
                format!("not imported ({target} has no such field)"),
            );
        }
    }
}

/// Whether Graph wrote nothing meaningful: null, false, an empty string, list or object, or
/// an object of such values.
fn is_empty(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields
            .iter()
            .all(|(key, value)| key.starts_with("@odata") || is_empty(value)),
        _ => false,
    }
}

/// Maps an export to the CRDs' objects.
///
/// # Errors
/// `InvalidFlag` when the tenant name, subdomain or country code would be refused.
pub fn import(export: &Export, options: &Options) -> Result<Imported, ImportError> {
    let tenant_spec = tenant_spec(options)?;
    let mut context = Context {
        notes: export.notes.clone(),
        tenant: checks::kubernetes_name(&options.tenant_name, "tenant"),
        namespace: options.namespace.clone(),
        provider_name_pool: checks::UniqueNames::reserving(&["emailpassword", "emailotp"]),
        ..Context::default()
    };
    identity_providers::register_export(&mut context, &export.identity_providers);
    extensions::index(&mut context, &export.extensions);
    let apps = applications::map_all(&mut context, &export.applications);
    let flows = flows::map_all(&mut context, export);
    extensions::report_unused(&mut context);
    let branding = branding::map(
        &mut context,
        export.branding.as_ref(),
        &export.localizations,
    );
    let tenant_spec = CustomerTenantSpec {
        custom_attributes: non_empty(std::mem::take(&mut context.custom_attributes)),
        identity_providers: non_empty(std::mem::take(&mut context.providers)),
        ..tenant_spec
    };
    context.action(
        "CustomerTenant",
        "email (SMTP) settings are not part of Graph exports: set spec.email and its \
         smtpSecretRef so sign-up can send one-time passcodes",
    );
    let tenant = CustomerTenant {
        metadata: context.metadata(&context.tenant),
        spec: tenant_spec,
        status: None,
    };
    Ok(Imported {
        tenant,
        config_maps: std::mem::take(&mut context.config_maps),
        apps,
        flows,
        branding,
        notes: context.notes,
    })
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// The tenant's own fields, from the command line, checked like the CRD checks them.
fn tenant_spec(options: &Options) -> Result<CustomerTenantSpec, ImportError> {
    if !checks::is_display_name(&options.tenant_name, 256) {
        return Err(ImportError::InvalidFlag {
            flag: "tenant-name",
            value: options.tenant_name.clone(),
            why: "must be 1 to 256 characters without control or invisible characters",
        });
    }
    let subdomain = match &options.subdomain {
        Some(subdomain) => subdomain.clone(),
        None => checks::kubernetes_name(&options.tenant_name, "tenant"),
    };
    if !checks::is_dns_label(&subdomain) {
        return Err(ImportError::InvalidFlag {
            flag: "subdomain",
            value: subdomain,
            why: "must be a DNS label: lowercase letters, digits and '-', at most 63, \
                  starting and ending with a letter or digit",
        });
    }
    let country = &options.country_code;
    if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(ImportError::InvalidFlag {
            flag: "country-code",
            value: country.clone(),
            why: "must be an ISO 3166-1 alpha-2 code in capitals, such as US or DE",
        });
    }
    Ok(CustomerTenantSpec {
        display_name: options.tenant_name.clone(),
        subdomain,
        country_code: country.clone(),
        default_locale: None,
        supported_locales: None,
        allowed_namespaces: None,
        custom_attributes: None,
        identity_providers: None,
        email: None,
        password_policy: None,
        lockout: None,
        deletion_policy: DeletionPolicy::Delete,
    })
}

/// The `*.json` files named on the command line, directories expanded (sorted by name).
///
/// # Errors
/// `Read` when a path cannot be read, `EmptyDirectory` for a directory without JSON.
pub fn input_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for input in inputs {
        let read_error = |source| ImportError::Read {
            path: input.clone(),
            source,
        };
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(read_error)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| {
                    path.extension()
                        .is_some_and(|extension| extension == "json")
                })
                .collect();
            if found.is_empty() {
                return Err(ImportError::EmptyDirectory(input.clone()));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

/// Reads and parses every input into one export.
///
/// # Errors
/// The first file that cannot be read or is not a Graph response this import knows.
pub fn read_export(files: &[PathBuf]) -> Result<Export, ImportError> {
    let mut export = Export::default();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| ImportError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file.display().to_string();
        let document = graph::parse_document(&name, &text)?;
        if graph::has_more_pages(&text) {
            export.notes.push(Note {
                path: format!("{name}: @odata.nextLink"),
                message: "only this page is imported: export with $top=999, or save every \
                          page the nextLink leads to as a file of its own"
                    .to_string(),
                kind: NoteKind::Skipped,
            });
        }
        export.add(&name, document);
    }
    Ok(export)
}

/// Runs `ciam-operator import-entra`: reads, maps, renders, then writes (stdout or
/// `--out-dir`), and prints the notes on stderr.
///
/// # Errors
/// Any [`ImportError`]; with `--strict`, `Incomplete` after writing when something was
/// skipped.
pub fn run(args: ImportEntraArgs) -> Result<(), ImportError> {
    let files = input_files(&args.inputs)?;
    let export = read_export(&files)?;
    let options = Options {
        tenant_name: args.tenant_name,
        subdomain: args.subdomain,
        country_code: args.country_code,
        namespace: args.namespace,
    };
    let imported = import(&export, &options)?;
    let rendered = render(&imported)?;
    match &args.out_dir {
        Some(dir) => write_files(dir, &rendered)?,
        None => print!("{}", stream(&rendered)),
    }
    for note in &imported.notes {
        eprintln!("{note}");
    }
    let skipped = count(&imported.notes, NoteKind::Skipped);
    eprintln!(
        "import-entra: {} objects, {skipped} item(s) not imported, {} action(s) for you",
        rendered.len(),
        count(&imported.notes, NoteKind::Action)
    );
    if args.strict && skipped > 0 {
        return Err(ImportError::Incomplete(skipped));
    }
    Ok(())
}

fn count(notes: &[Note], kind: NoteKind) -> usize {
    notes.iter().filter(|note| note.kind == kind).count()
}

#[cfg(test)]
mod tests;
