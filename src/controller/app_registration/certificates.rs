//! Certificate credentials of an app: reads the ConfigMap and Secret keys that
//! `spec.credentials.certificates` names (in the app's own namespace only), checks each with
//! the contract's parser, and decides what the runtime gets and what status shows.
//!
//! ```text
//!  certificates[i] ─read─▶ PEM ─parse─▶ thumbprints, key, notAfter
//!                                         ├─ unreadable / not a certificate / key refused ─▶ CertificateInvalid
//!                                         ├─ expired ─▶ not sent; CertificateExpired
//!                                         └─ valid ───▶ sent to the runtime, shown in status
//! ```

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::Api;

use super::super::desired::config_map_value;
use super::super::{Context, Error};
use crate::api::AppRegistration;
use crate::api::app_registration::{CertificateRef, CertificateStatus};
use crate::backend::Backend;
use crate::contract::certificate::{CertificateSpec, first_certificate_block, parse_certificate};

/// A referenced certificate is missing, unreadable, not a certificate, or has a key the
/// runtime refuses.
pub const CERTIFICATE_INVALID: &str = "CertificateInvalid";
/// A referenced certificate has expired: it is not sent to the runtime.
pub const CERTIFICATE_EXPIRED: &str = "CertificateExpired";

/// What the certificates of an app come to.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct ResolvedCertificates {
    /// The unexpired certificates, for the runtime.
    pub send: Vec<CertificateSpec>,
    /// Every certificate read, for status.
    pub status: Vec<CertificateStatus>,
    /// Sources of the expired ones (reported, not sent).
    pub expired: Vec<String>,
}

impl ResolvedCertificates {
    /// The `CertificateExpired` message, when a certificate has expired.
    pub fn expired_message(&self) -> Option<String> {
        (!self.expired.is_empty()).then(|| {
            format!(
                "the client is registered, but these certificates have expired and no longer authenticate it: {}; add a new certificate and remove the expired one",
                self.expired.join(", ")
            )
        })
    }
}

/// The certificate references of an app.
pub(super) fn certificate_refs(app: &AppRegistration) -> &[CertificateRef] {
    app.spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.certificates.as_deref())
        .unwrap_or_default()
}

/// Whether the app names the ConfigMap `name` for a certificate.
pub(super) fn names_config_map(app: &AppRegistration, name: &str) -> bool {
    certificate_refs(app).iter().any(|reference| {
        reference
            .config_map_key_ref
            .as_ref()
            .is_some_and(|r| r.name == name)
    })
}

/// Whether the app names the Secret `name` for a certificate or as its brought secret.
pub(super) fn names_secret(app: &AppRegistration, name: &str) -> bool {
    let brought = super::credentials::brings_secret(app, name);
    brought
        || certificate_refs(app).iter().any(|reference| {
            reference
                .secret_key_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
}

/// Reads and judges the app's certificates at `now`; `Ok(Err(message))` is the
/// `CertificateInvalid` message.
///
/// # Errors
/// A failed read from the API server.
pub(super) async fn read_certificates<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    now: jiff::Timestamp,
) -> Result<Result<ResolvedCertificates, String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let mut contents = Vec::new();
    for reference in certificate_refs(app) {
        contents.push((
            reference.describe(),
            read_pem(context, &namespace, reference).await?,
        ));
    }
    Ok(judge_certificates(&contents, now))
}

/// The PEM text under a reference, or why there is none.
async fn read_pem<B: Backend>(
    context: &Context<B>,
    namespace: &str,
    reference: &CertificateRef,
) -> Result<Result<String, String>, Error> {
    if let Some(reference) = &reference.config_map_key_ref {
        let config_map = Api::<ConfigMap>::namespaced(context.client.clone(), namespace)
            .get_opt(&reference.name)
            .await
            .map_err(Error::kube(format!(
                "read ConfigMap {namespace}/{}",
                reference.name
            )))?;
        let Some(config_map) = config_map else {
            return Ok(Err(format!("ConfigMap {} does not exist", reference.name)));
        };
        let text = config_map_value(&config_map, &reference.key)
            .and_then(|bytes| String::from_utf8(bytes).ok());
        return Ok(text
            .ok_or_else(|| format!("ConfigMap {} has no key {}", reference.name, reference.key)));
    }
    let Some(reference) = &reference.secret_key_ref else {
        return Ok(Err("names neither a ConfigMap nor a Secret".into()));
    };
    let secret = Api::<Secret>::namespaced(context.client.clone(), namespace)
        .get_opt(&reference.name)
        .await
        .map_err(Error::kube(format!(
            "read Secret {namespace}/{}",
            reference.name
        )))?;
    let Some(secret) = secret else {
        return Ok(Err(format!("Secret {} does not exist", reference.name)));
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .map(|bytes| bytes.0.clone());
    Ok(match bytes.map(String::from_utf8) {
        Some(Ok(text)) => Ok(text),
        Some(Err(_)) => Err(format!(
            "Secret {} key {} is not PEM text",
            reference.name, reference.key
        )),
        None => Err(format!(
            "Secret {} has no key {}",
            reference.name, reference.key
        )),
    })
}

/// Judges the read certificates at `now`: every problem is named in one message (the first
/// makes the app not ready); expired ones are reported and kept from the runtime. Pure.
pub(super) fn judge_certificates(
    contents: &[(String, Result<String, String>)],
    now: jiff::Timestamp,
) -> Result<ResolvedCertificates, String> {
    let mut resolved = ResolvedCertificates::default();
    let mut problems = Vec::new();
    for (index, (source, content)) in contents.iter().enumerate() {
        let named = format!("credentials.certificates[{index}] ({source})");
        let pem = match content {
            Ok(pem) => pem,
            Err(why) => {
                problems.push(format!("{named}: {why}"));
                continue;
            }
        };
        let parsed = match parse_certificate(pem) {
            Ok(parsed) => parsed,
            Err(error) => {
                problems.push(format!("{named}: the content {error}"));
                continue;
            }
        };
        resolved.status.push(CertificateStatus {
            source: source.clone(),
            thumbprint: parsed.sha256_thumbprint.clone(),
            thumbprint_sha1: parsed.sha1_thumbprint.clone(),
            expires_at: Time(parsed.not_after),
        });
        if parsed.not_after <= now {
            resolved
                .expired
                .push(format!("{named} expired {}", parsed.not_after));
        } else if let Some(block) = first_certificate_block(pem) {
            // Only the app's own certificate travels: not its issuers, nor anything else
            // that shares the key (a private key put there by mistake stays behind).
            resolved.send.push(CertificateSpec {
                pem: format!("{block}\n"),
            });
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = include_str!("../../contract/testdata/rsa2048.crt");
    const EC: &str = include_str!("../../contract/testdata/p256.crt");
    const EXPIRED: &str = include_str!("../../contract/testdata/expired.crt");

    fn read(source: &str, pem: &str) -> (String, Result<String, String>) {
        (source.to_string(), Ok(pem.to_string()))
    }

    #[test]
    fn valid_certificates_are_sent_and_shown_with_thumbprint_and_expiry() {
        let contents = [
            read("configMap/app/a.crt", RSA),
            read("secret/app/b.crt", EC),
        ];
        let resolved = judge_certificates(&contents, jiff::Timestamp::now()).expect("valid");
        assert_eq!(resolved.send.len(), 2);
        let parsed = parse_certificate(RSA).expect("parses");
        assert_eq!(resolved.status[0].source, "configMap/app/a.crt");
        assert_eq!(resolved.status[0].thumbprint, parsed.sha256_thumbprint);
        assert_eq!(resolved.status[0].expires_at, Time(parsed.not_after));
        assert_eq!(resolved.expired_message(), None);
    }

    #[test]
    fn only_the_first_certificate_block_is_sent_never_a_key_beside_it() {
        let with_key_and_issuer = format!(
            "{}{RSA}{EC}",
            include_str!("../../contract/testdata/rsa2048.key")
        );
        let contents = [read("secret/app/tls.crt", &with_key_and_issuer)];
        let resolved = judge_certificates(&contents, jiff::Timestamp::now()).expect("valid");
        assert_eq!(
            resolved.send,
            [CertificateSpec {
                pem: format!("{}\n", RSA.trim())
            }]
        );
    }

    #[test]
    fn an_expired_certificate_is_reported_and_not_sent() {
        let contents = [
            read("configMap/app/old", EXPIRED),
            read("configMap/app/new", RSA),
        ];
        let resolved = judge_certificates(&contents, jiff::Timestamp::now()).expect("valid");
        assert_eq!(
            resolved.send,
            [CertificateSpec {
                pem: format!("{}\n", RSA.trim())
            }]
        );
        assert_eq!(resolved.status.len(), 2, "both are shown");
        let message = resolved.expired_message().expect("reported");
        assert!(
            message.contains(
                "credentials.certificates[0] (configMap/app/old) expired 2021-01-01T00:00:00Z"
            ),
            "{message}"
        );
    }

    #[test]
    fn missing_keys_garbage_and_refused_keys_are_named_by_their_reference() {
        let contents = [
            (
                "configMap/gone/tls.crt".to_string(),
                Err("ConfigMap gone does not exist".to_string()),
            ),
            read("configMap/app/garbage", "not a certificate"),
            read(
                "secret/app/small",
                include_str!("../../contract/testdata/rsa1024.crt"),
            ),
            read("configMap/app/fine", RSA),
        ];
        let message = judge_certificates(&contents, jiff::Timestamp::now()).expect_err("refused");
        assert!(message.starts_with("credentials.certificates[0] (configMap/gone/tls.crt): ConfigMap gone does not exist; "), "{message}");
        assert!(message.contains("credentials.certificates[1] (configMap/app/garbage): the content is not a PEM X.509 certificate"), "{message}");
        assert!(message.contains("credentials.certificates[2] (secret/app/small): the content has an RSA key of 1024 bits"), "{message}");
        assert!(!message.contains("[3]"), "{message}");
    }
}
