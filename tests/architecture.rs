//! The crate's layers, read from its own source: which module may import which, no module
//! cycles, and the size limits (functions, files) that keep each piece readable.
//!
//! ```text
//!  runtime:   http ──▶ domain ──▶ store / tokens / crypto ──▶ contract
//!  operator:  controller ──▶ backend ──▶ contract
//! ```
//!
//! Every `use` and every path naming a module (`crate::…`, `super::…`, an external crate) in
//! production code (`#[cfg(test)]` items are left out) is resolved to the module it points
//! at; the rules below are checked on that graph. `docs/architecture.md` explains the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// Longest production function, in lines (signature to closing brace).
const MAX_FUNCTION_LINES: usize = 80;

/// Most production lines in one file (lines outside `#[cfg(test)]` items).
const MAX_FILE_LINES: usize = 600;

/// A module (one source file) of the library.
struct Module {
    /// `runtime::http::oidc`, or empty for the crate root.
    path: Vec<String>,
    /// Where it lives, for messages.
    file: PathBuf,
    syntax: syn::File,
    source: String,
}

impl Module {
    fn name(&self) -> String {
        if self.path.is_empty() {
            "crate".to_string()
        } else {
            self.path.join("::")
        }
    }

    fn is_under(&self, prefix: &str) -> bool {
        is_under(&self.path, prefix)
    }
}

fn is_under(path: &[String], prefix: &str) -> bool {
    let prefix: Vec<&str> = prefix.split("::").collect();
    path.len() >= prefix.len() && path.iter().zip(&prefix).all(|(a, b)| a == b)
}

/// Every `.rs` file under `src/` except the binary's `main.rs`, parsed.
fn modules() -> Vec<Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files
        .into_iter()
        .filter(|file| file.file_name().is_some_and(|name| name != "main.rs"))
        .map(|file| {
            let relative = file.strip_prefix(&root).expect("under src");
            let mut path: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
                path.pop();
            }
            let source = std::fs::read_to_string(&file).expect("readable source");
            let syntax = syn::parse_file(&source)
                .unwrap_or_else(|error| panic!("{} does not parse: {error}", file.display()));
            Module {
                path,
                file,
                syntax,
                source,
            }
        })
        .collect()
}

fn collect_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(directory)
        .expect("readable directory")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, files);
        } else if entry.extension().is_some_and(|extension| extension == "rs") {
            files.push(entry);
        }
    }
}

fn is_test_only(attributes: &[syn::Attribute]) -> bool {
    attributes.iter().any(|attribute| {
        let path = attribute.path();
        path.is_ident("test")
            || (path.is_ident("cfg")
                && attribute
                    .parse_args::<syn::Expr>()
                    .is_ok_and(|expression| matches!(&expression, syn::Expr::Path(p) if p.path.is_ident("test"))))
    })
}

/// What a module refers to: absolute paths into the crate (`crate::…` after resolution) and
/// the external crates it names.
#[derive(Default)]
struct References {
    internal: BTreeSet<Vec<String>>,
    external: BTreeSet<String>,
}

struct Collector<'a> {
    module: &'a [String],
    children: BTreeSet<String>,
    references: References,
}

impl Collector<'_> {
    /// Resolves a path's leading segments against the module; `None` for a path that names no
    /// module (a local item, a prelude type, a generic parameter).
    fn resolve(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base: Vec<String> = self.module.to_vec();
        let mut rest = segments;
        match first.as_str() {
            "crate" => {
                base.clear();
                rest = &segments[1..];
            }
            "self" => rest = &segments[1..],
            "super" => {
                while rest.first().is_some_and(|segment| segment == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            "std" | "core" | "alloc" | "Self" => return,
            name if self.children.contains(name) => {}
            name if segments.len() > 1 && name.chars().next().is_some_and(char::is_lowercase) => {
                self.references.external.insert(name.to_string());
                return;
            }
            _ => return,
        }
        base.extend(rest.iter().cloned());
        self.references.internal.insert(base);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                prefix.push(name.ident.to_string());
                let full = prefix.clone();
                self.resolve_use(&full);
                prefix.pop();
            }
            syn::UseTree::Rename(rename) => {
                prefix.push(rename.ident.to_string());
                let full = prefix.clone();
                self.resolve_use(&full);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                let full = prefix.clone();
                self.resolve_use(&full);
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    /// `use x;` of a single segment names an external crate (or a child module).
    fn resolve_use(&mut self, segments: &[String]) {
        if segments.len() == 1 && !self.children.contains(&segments[0]) {
            if !["self", "super", "crate"].contains(&segments[0].as_str()) {
                self.references.external.insert(segments[0].clone());
            }
            return;
        }
        let trimmed: Vec<String> = segments
            .iter()
            .filter(|segment| segment.as_str() != "self" || segments[0] == "self")
            .cloned()
            .collect();
        self.resolve(&trimmed);
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attributes: &[syn::Attribute] = match item {
            syn::Item::Mod(module) => &module.attrs,
            syn::Item::Fn(function) => &function.attrs,
            syn::Item::Impl(block) => &block.attrs,
            syn::Item::Use(statement) => &statement.attrs,
            syn::Item::Struct(structure) => &structure.attrs,
            syn::Item::Const(constant) => &constant.attrs,
            _ => &[],
        };
        if is_test_only(attributes) {
            return;
        }
        if let syn::Item::Use(statement) = item {
            self.use_tree(&mut Vec::new(), &statement.tree);
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        if segments.len() > 1 {
            self.resolve(&segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
    }
}

/// The child modules a file declares (`mod x;`), which a bare `x::…` path may name.
fn children(module: &Module) -> BTreeSet<String> {
    module
        .syntax
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(declared) if !is_test_only(&declared.attrs) => {
                Some(declared.ident.to_string())
            }
            _ => None,
        })
        .collect()
}

fn references(module: &Module) -> References {
    let mut collector = Collector {
        module: &module.path,
        children: children(module),
        references: References::default(),
    };
    collector.visit_file(&module.syntax);
    collector.references
}

/// The module a resolved path lands in: the longest known module prefix.
fn target_module(known: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|length| path[..length].to_vec())
        .find(|prefix| known.contains(prefix))
}

/// (importing module prefix, forbidden internal prefixes, forbidden external crates, why).
const RULES: [(&str, &[&str], &[&str], &str); 9] = [
    (
        "contract",
        &["runtime", "controller", "backend", "cli"],
        &["axum", "sqlx", "kube"],
        "the contract is a leaf: runtime, backend and controller import it, never the reverse",
    ),
    (
        "runtime::domain",
        &["runtime::http", "controller", "backend"],
        &["axum", "http", "tower", "tower_http", "axum_extra"],
        "the domain knows no HTTP: handlers in runtime::http call it",
    ),
    (
        "runtime::store",
        &[
            "runtime::http",
            "runtime::domain",
            "runtime::tokens",
            "controller",
            "backend",
        ],
        &["axum", "http", "tower", "tower_http", "axum_extra"],
        "storage sits below the domain and knows no HTTP",
    ),
    (
        "runtime::tokens",
        &["runtime::http", "runtime::domain", "controller", "backend"],
        &["axum", "http"],
        "tokens sit below the domain",
    ),
    (
        "runtime::crypto",
        &[
            "runtime::http",
            "runtime::domain",
            "runtime::store",
            "runtime::tokens",
            "controller",
            "backend",
        ],
        &["axum", "http"],
        "crypto sits at the bottom of the runtime",
    ),
    (
        "runtime",
        &["controller", "backend"],
        &[],
        "the runtime is a separate process from the operator; they share only the contract",
    ),
    (
        "backend",
        &["controller", "runtime"],
        &[],
        "the backend seam speaks the contract; the controller reaches it, never the reverse",
    ),
    (
        "api",
        &["runtime", "controller", "backend"],
        &[],
        "the CRD types are a leaf",
    ),
    (
        "import_entra",
        &["runtime", "controller", "backend", "cli"],
        &["axum", "sqlx", "kube", "reqwest", "tokio"],
        "the Entra import only maps files to CRD types: it uses api and contract, never a \
         cluster, a backend or the runtime",
    ),
];

#[test]
fn no_module_imports_a_layer_above_it() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|module| module.path.clone()).collect();
    let mut violations = Vec::new();
    for module in &modules {
        let references = references(module);
        for (layer, internal, external, why) in RULES {
            if !module.is_under(layer) {
                continue;
            }
            for path in &references.internal {
                let Some(target) = target_module(&known, path) else {
                    continue;
                };
                if let Some(forbidden) = internal.iter().find(|prefix| is_under(&target, prefix)) {
                    violations.push(format!(
                        "{} uses {} ({forbidden}): {why}",
                        module.name(),
                        path.join("::")
                    ));
                }
            }
            for name in &references.external {
                if external.contains(&name.as_str()) {
                    violations.push(format!("{} uses the crate {name}: {why}", module.name()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "\n{}", violations.join("\n"));
}

#[test]
fn no_two_modules_depend_on_each_other() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|module| module.path.clone()).collect();
    // Edges between sibling modules only: a module may use its ancestors' items (shared
    // helpers in a `mod.rs`) and re-export its children.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for module in &modules {
        for path in references(module).internal {
            let Some(target) = target_module(&known, &path) else {
                continue;
            };
            let related = target.starts_with(&module.path) || module.path.starts_with(&target);
            if !related {
                edges.entry(module.path.clone()).or_default().insert(target);
            }
        }
    }
    let cycles = strongly_connected(&known, &edges);
    let described: Vec<String> = cycles
        .iter()
        .map(|cycle| {
            cycle
                .iter()
                .map(|path| path.join("::"))
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "module cycles:\n{}",
        described.join("\n")
    );
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn strongly_connected(
    nodes: &BTreeSet<Vec<String>>,
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        components: Vec<Vec<Vec<String>>>,
    }
    fn visit(state: &mut State, node: &Vec<String>) {
        let next = state.index.len();
        state.index.insert(node.clone(), next);
        state.low.insert(node.clone(), next);
        state.stack.push(node.clone());
        state.on_stack.insert(node.clone());
        let targets: Vec<Vec<String>> = state
            .edges
            .get(node)
            .map(|targets| targets.iter().cloned().collect())
            .unwrap_or_default();
        for target in targets {
            if !state.index.contains_key(&target) {
                visit(state, &target);
                let low = state.low[node].min(state.low[&target]);
                state.low.insert(node.clone(), low);
            } else if state.on_stack.contains(&target) {
                let low = state.low[node].min(state.index[&target]);
                state.low.insert(node.clone(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(&member);
                let done = member == *node;
                component.push(member);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.components
}

/// Production functions and their length in lines: free functions, methods and trait methods
/// with a body, outside `#[cfg(test)]` items and `#[test]` functions.
struct Functions {
    found: Vec<(String, usize, usize)>,
    test_lines: BTreeSet<usize>,
}

impl Functions {
    fn record(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let (start, end) = (span.start().line, span.end().line);
        self.found.push((name.to_string(), start, end - start + 1));
    }

    fn skip(&mut self, span: proc_macro2::Span) {
        self.test_lines.extend(span.start().line..=span.end().line);
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let test_only = match item {
            syn::Item::Mod(module) => is_test_only(&module.attrs),
            syn::Item::Fn(function) => is_test_only(&function.attrs),
            syn::Item::Impl(block) => is_test_only(&block.attrs),
            _ => false,
        };
        if test_only {
            self.skip(item.span());
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.record(&function.sig.ident, function.span());
        syn::visit::visit_item_fn(self, function);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        if is_test_only(&function.attrs) {
            self.skip(function.span());
            return;
        }
        self.record(&function.sig.ident, function.span());
        syn::visit::visit_impl_item_fn(self, function);
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if function.default.is_some() {
            self.record(&function.sig.ident, function.span());
        }
        syn::visit::visit_trait_item_fn(self, function);
    }
}

fn functions(module: &Module) -> Functions {
    let mut functions = Functions {
        found: Vec::new(),
        test_lines: BTreeSet::new(),
    };
    functions.visit_file(&module.syntax);
    functions
}

#[test]
fn no_production_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for module in modules() {
        for (name, start, lines) in functions(&module).found {
            if lines > MAX_FUNCTION_LINES {
                long.push(format!(
                    "{}:{start} {name}: {lines} lines",
                    module.file.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_file_holds_more_than_600_production_lines() {
    let mut large = Vec::new();
    for module in modules() {
        let test_lines = functions(&module).test_lines;
        let production = module
            .source
            .lines()
            .enumerate()
            .filter(|(index, line)| !test_lines.contains(&(index + 1)) && !line.trim().is_empty())
            .count();
        if production > MAX_FILE_LINES {
            large.push(format!(
                "{}: {production} production lines",
                module.file.display()
            ));
        }
    }
    assert!(
        large.is_empty(),
        "files over {MAX_FILE_LINES} production lines:\n{}",
        large.join("\n")
    );
}
