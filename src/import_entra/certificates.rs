//! `applications[].keyCredentials` → a ConfigMap of public certificates and the
//! AppRegistration's `credentials.certificates`.
//!
//! Graph returns a certificate's content (`key`, base64 DER) only when one application is read
//! with `$select=keyCredentials`; a list export has `key: null`, which is reported with the
//! command that fetches it. Each certificate goes through the same parser the operator and
//! the runtime use (`contract::certificate`), so what is written is what will be accepted:
//! an unsupported key, garbage or an expired certificate is reported, not written. Entra
//! accepts a client assertion more than once (MSAL caches one for about ten minutes), so an
//! imported app with certificates keeps that behaviour: `assertionReuse: AllowUntilExpiry`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

use crate::api::app_registration::{AppType, AssertionReuse, CertificateRef, Credentials};
use crate::api::common::ConfigMapKeyRef;
use crate::contract::certificate::parse_certificate;

use super::Context;

/// How many certificates an AppRegistration may list (the CRD's limit).
const MAX_CERTIFICATES: usize = 4;

/// The app's certificates as a ConfigMap (added to the import's objects) and the credentials
/// that reference it; `None` when none could be imported (each reason is in the report).
pub(super) fn map(
    context: &mut Context,
    path: &str,
    app_name: &str,
    app_type: AppType,
    key_credentials: &[Value],
    now: jiff::Timestamp,
) -> Option<Credentials> {
    if key_credentials.is_empty() {
        return None;
    }
    if !app_type.is_confidential() {
        context.skipped(
            format!("{path}.keyCredentials"),
            format!(
                "{app_type:?} apps are public clients and cannot authenticate with certificates"
            ),
        );
        return None;
    }
    let config_map_name = format!("{app_name}-certificates");
    let mut data = BTreeMap::new();
    for (index, credential) in key_credentials.iter().enumerate() {
        let credential_path = format!("{path}.keyCredentials[{index}]");
        let Some(pem) = certificate_pem(context, &credential_path, credential, now) else {
            continue;
        };
        if data.len() == MAX_CERTIFICATES {
            context.skipped(
                credential_path,
                format!("an AppRegistration lists at most {MAX_CERTIFICATES} certificates"),
            );
            continue;
        }
        data.insert(format!("certificate-{index}.crt"), pem);
    }
    if data.is_empty() {
        return None;
    }
    let certificates = data
        .keys()
        .map(|key| CertificateRef {
            config_map_key_ref: Some(ConfigMapKeyRef {
                name: config_map_name.clone(),
                key: key.clone(),
            }),
            secret_key_ref: None,
        })
        .collect();
    context.action(
        format!("{path}.keyCredentials"),
        format!(
            "{} public certificate(s) written to ConfigMap {config_map_name}; the app keeps \
             signing with its private key, and assertionReuse: AllowUntilExpiry accepts MSAL's \
             reused assertions as Entra does (set Refuse for one-time assertions)",
            data.len()
        ),
    );
    context.config_maps.push(ConfigMap {
        metadata: context.metadata(&config_map_name),
        data: Some(data),
        ..ConfigMap::default()
    });
    Some(Credentials {
        certificates: Some(certificates),
        assertion_reuse: Some(AssertionReuse::AllowUntilExpiry),
        ..Credentials::default()
    })
}

/// One `keyCredential` as a PEM certificate the runtime will accept, or a note saying why not.
fn certificate_pem(
    context: &mut Context,
    path: &str,
    credential: &Value,
    now: jiff::Timestamp,
) -> Option<String> {
    let field = |name: &str| credential.get(name).and_then(Value::as_str);
    if field("type") != Some("AsymmetricX509Cert") || field("usage") != Some("Verify") {
        context.skipped(
            path,
            "only certificates that verify the app's signatures (type AsymmetricX509Cert, \
             usage Verify) are imported",
        );
        return None;
    }
    let Some(key) = field("key").filter(|key| !key.is_empty()) else {
        context.action(
            path,
            "the export has no certificate content (Graph returns it only when one application \
             is read with $select): export this application on its own with az rest --method \
             get --url 'https://graph.microsoft.com/v1.0/applications/<id>?$select=id,appId,\
             displayName,identifierUris,web,spa,publicClient,api,requiredResourceAccess,\
             keyCredentials' in place of its entry in the list, or list the public certificate \
             under credentials.certificates yourself",
        );
        return None;
    };
    let Ok(der) = STANDARD.decode(key) else {
        context.skipped(path, "key is not base64");
        return None;
    };
    let pem = pem_certificate(&der);
    match parse_certificate(&pem) {
        Ok(parsed) if parsed.not_after <= now => {
            context.skipped(
                path,
                format!("the certificate expired on {}", parsed.not_after),
            );
            None
        }
        Ok(_) => Some(pem),
        Err(error) => {
            context.skipped(path, format!("the certificate {error}"));
            None
        }
    }
}

/// DER bytes as a PEM `CERTIFICATE` block (64 characters per line).
fn pem_certificate(der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(key: Option<&str>, kind: &str, usage: &str) -> Value {
        serde_json::json!({ "type": kind, "usage": usage, "key": key })
    }

    fn der_of(pem: &str) -> String {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        body
    }

    #[test]
    fn expired_foreign_and_unusable_certificates_are_reported_not_written() {
        let mut context = Context::default();
        let expired = der_of(include_str!("../contract/testdata/expired.crt"));
        let small = der_of(include_str!("../contract/testdata/rsa1024.crt"));
        let credentials = [
            credential(Some(&expired), "AsymmetricX509Cert", "Verify"),
            credential(Some(&small), "AsymmetricX509Cert", "Verify"),
            credential(Some("not base64!"), "AsymmetricX509Cert", "Verify"),
            credential(Some(&expired), "Symmetric", "Sign"),
        ];
        let mapped = map(
            &mut context,
            "applications[0]",
            "job",
            AppType::Daemon,
            &credentials,
            jiff::Timestamp::now(),
        );
        assert!(mapped.is_none());
        assert!(context.config_maps.is_empty());
        let messages: Vec<String> = context.notes.iter().map(ToString::to_string).collect();
        assert!(
            messages[0].contains("keyCredentials[0]: the certificate expired on 202"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("keyCredentials[1]: the certificate has an RSA key of 1024 bits"),
            "{messages:?}"
        );
        assert!(
            messages[2].contains("keyCredentials[2]: key is not base64"),
            "{messages:?}"
        );
        assert!(
            messages[3].contains("keyCredentials[3]: only certificates that verify"),
            "{messages:?}"
        );
    }

    #[test]
    fn a_public_client_gets_no_certificates() {
        let mut context = Context::default();
        let valid = der_of(include_str!("../contract/testdata/p256.crt"));
        let credentials = [credential(Some(&valid), "AsymmetricX509Cert", "Verify")];
        let mapped = map(
            &mut context,
            "applications[1]",
            "spa",
            AppType::Spa,
            &credentials,
            jiff::Timestamp::now(),
        );
        assert!(mapped.is_none());
        assert!(context.notes[0].to_string().contains("public clients"));
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = pem_certificate(&[7u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
    }
}
