//! The committed `crds/` (and the chart's copy in `charts/ciam-operator/crds/`) must be exactly
//! what the binary generates from the Rust types.

use std::path::{Path, PathBuf};

#[test]
fn crds_directory_matches_the_generated_yaml() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert_generated(&root.join("crds"));
}

#[test]
fn the_chart_ships_the_same_crds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert_generated(&root.join("charts/ciam-operator/crds"));
}

fn assert_generated(crds_dir: &Path) {
    let shown = crds_dir.display();
    let mut expected_files = Vec::new();
    for (kind, crd) in ciam_operator::api::crds() {
        let file = format!("{kind}.yaml");
        let generated = ciam_operator::api::crd_yaml(&crd).expect("CRD renders");
        let committed = std::fs::read_to_string(crds_dir.join(&file))
            .unwrap_or_else(|error| panic!("{shown}/{file} is missing ({error}); run `make crds`"));
        assert!(
            committed == generated,
            "{shown}/{file} differs from what `ciam-operator crds` generates; run `make crds`"
        );
        expected_files.push(file);
    }
    let mut present: Vec<String> = std::fs::read_dir(crds_dir)
        .expect("the CRD directory exists")
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "{shown} holds files the binary does not generate"
    );
}

#[test]
fn every_crd_has_status_printer_columns_and_short_names() {
    for (kind, crd) in ciam_operator::api::crds() {
        assert_eq!(crd.spec.scope, "Namespaced", "{kind}");
        assert_eq!(crd.spec.group, "ciam.dev", "{kind}");
        let names = &crd.spec.names;
        assert!(
            names.short_names.as_ref().is_some_and(|s| !s.is_empty()),
            "{kind}: short names"
        );
        assert_eq!(
            names.categories.as_deref(),
            Some(&["ciam".to_string()][..]),
            "{kind}"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind}: status subresource"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .as_ref()
            .expect("printer columns")
            .iter()
            .map(|column| column.name.as_str())
            .collect();
        for required in ["Ready", "Reason", "Age"] {
            assert!(
                columns.contains(&required),
                "{kind}: column {required} in {columns:?}"
            );
        }
    }
}

/// Every property in every schema carries a description (they become `kubectl explain` text).
#[test]
fn every_schema_property_is_documented() {
    fn walk(kind: &str, path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, property) in properties {
                let child = format!("{path}.{name}");
                // apiVersion, kind and metadata are described by Kubernetes itself.
                let standard =
                    path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&name.as_str());
                if !standard && property.get("description").is_none() {
                    missing.push(format!("{kind}{child}"));
                }
                walk(kind, &child, property, missing);
            }
        }
        for nested in ["items", "additionalProperties"] {
            if let Some(inner) = schema.get(nested).filter(|v| v.is_object()) {
                walk(kind, &format!("{path}[]"), inner, missing);
            }
        }
    }
    let mut missing = Vec::new();
    for (kind, crd) in ciam_operator::api::crds() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema serializes");
        walk(kind, "", &schema["openAPIV3Schema"], &mut missing);
    }
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:#?}"
    );
}
