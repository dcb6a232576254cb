//! Public certificates a confidential client authenticates with (`private_key_jwt` client
//! assertions): their shape in the admin API and the one parser the operator (to report
//! thumbprints and expiry) and the runtime (to verify assertions) share.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// At most this many certificates per client (enough to rotate: the current ones and the next).
pub const MAX_CLIENT_CERTIFICATES: usize = 4;

/// Longest PEM text of one certificate.
pub const MAX_CERTIFICATE_PEM_BYTES: usize = 16 * 1024;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A public certificate of a client, as PEM text (`-----BEGIN CERTIFICATE-----`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    /// The certificate in PEM form.
    pub pem: String,
}

/// The public key of a certificate, in the forms a JWT verifier needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateKey {
    /// An RSA key (RS256, PS256): big-endian modulus and exponent.
    Rsa {
        /// Modulus `n`.
        modulus: Vec<u8>,
        /// Public exponent `e`.
        exponent: Vec<u8>,
    },
    /// An EC key on P-256 (ES256): the point's coordinates.
    EcP256 {
        /// Coordinate `x` (32 bytes).
        x: Vec<u8>,
        /// Coordinate `y` (32 bytes).
        y: Vec<u8>,
    },
}

/// What a certificate tells a verifier: how assertions name it, its key and its validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCertificate {
    /// SHA-1 of the DER, base64url without padding (the JWS `x5t` header).
    pub sha1_thumbprint: String,
    /// SHA-256 of the DER, base64url without padding (the JWS `x5t#S256` header).
    pub sha256_thumbprint: String,
    /// The subject public key.
    pub key: CertificateKey,
    /// Start of validity.
    pub not_before: jiff::Timestamp,
    /// End of validity.
    pub not_after: jiff::Timestamp,
}

impl ParsedCertificate {
    /// Whether the certificate is valid at `now`.
    pub fn is_valid_at(&self, now: jiff::Timestamp) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether the JWS header's `x5t#S256`, `x5t` or `kid` names this certificate. Base64url
    /// padding is ignored: MSAL Python sends thumbprints with it (`…=`).
    pub fn is_named_by(&self, thumbprint: &str) -> bool {
        let unpadded = thumbprint
            .strip_suffix("==")
            .or_else(|| thumbprint.strip_suffix('='))
            .unwrap_or(thumbprint);
        unpadded == self.sha256_thumbprint || unpadded == self.sha1_thumbprint
    }
}

/// Why a certificate cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Longer than [`MAX_CERTIFICATE_PEM_BYTES`].
    #[error("is longer than {MAX_CERTIFICATE_PEM_BYTES} bytes")]
    TooLarge,
    /// Not one PEM `CERTIFICATE` block holding an X.509 certificate.
    #[error("is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----): {0}")]
    NotCertificate(String),
    /// A key type other than RSA or EC P-256.
    #[error("has an unsupported public key ({0}); use RSA (2048 bits or more) or EC P-256")]
    UnsupportedKey(String),
    /// An RSA key under [`MIN_RSA_BITS`].
    #[error("has an RSA key of {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooSmall(usize),
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// The first PEM `CERTIFICATE` block of `pem`, from its BEGIN to its END line. A `tls.crt`
/// (for example cert-manager's) holds the app's own certificate first and its issuers after
/// it; text around the block, such as a private key in the same file, is left out.
pub fn first_certificate_block(pem: &str) -> Option<&str> {
    let start = pem.find(PEM_BEGIN)?;
    let end = start + pem[start..].find(PEM_END)? + PEM_END.len();
    Some(&pem[start..end])
}

/// Parses the first certificate of a PEM text (see [`first_certificate_block`]) into its
/// thumbprints, public key and validity.
///
/// # Errors
/// A [`CertificateError`] naming what is wrong.
pub fn parse_certificate(pem: &str) -> Result<ParsedCertificate, CertificateError> {
    if pem.len() > MAX_CERTIFICATE_PEM_BYTES {
        return Err(CertificateError::TooLarge);
    }
    let block = first_certificate_block(pem)
        .ok_or_else(|| CertificateError::NotCertificate(format!("no {PEM_BEGIN} block")))?;
    let certificate = Certificate::from_pem(block.as_bytes())
        .map_err(|error| CertificateError::NotCertificate(error.to_string()))?;
    let der = certificate
        .to_der()
        .map_err(|error| CertificateError::NotCertificate(error.to_string()))?;
    let tbs = &certificate.tbs_certificate;
    let key_der = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|error| CertificateError::NotCertificate(error.to_string()))?;
    let algorithm = tbs.subject_public_key_info.algorithm.oid.to_string();
    Ok(ParsedCertificate {
        sha1_thumbprint: URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
        sha256_thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        key: public_key(&algorithm, &key_der)?,
        not_before: timestamp(tbs.validity.not_before.to_unix_duration()),
        not_after: timestamp(tbs.validity.not_after.to_unix_duration()),
    })
}

/// Object identifiers of the two key types (RFC 3279, RFC 5480).
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

/// The RSA or P-256 key of a `SubjectPublicKeyInfo` (DER) whose algorithm is `algorithm`.
fn public_key(algorithm: &str, key_der: &[u8]) -> Result<CertificateKey, CertificateError> {
    use p256::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    match algorithm {
        RSA_ENCRYPTION => {
            let key = rsa::RsaPublicKey::from_public_key_der(key_der)
                .map_err(|error| CertificateError::UnsupportedKey(format!("RSA: {error}")))?;
            let bits = key.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(CertificateError::RsaTooSmall(bits));
            }
            Ok(CertificateKey::Rsa {
                modulus: key.n().to_bytes_be(),
                exponent: key.e().to_bytes_be(),
            })
        }
        EC_PUBLIC_KEY => {
            let key = p256::PublicKey::from_public_key_der(key_der).map_err(|_| {
                CertificateError::UnsupportedKey("an EC key on a curve other than P-256".into())
            })?;
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
            match (point.x(), point.y()) {
                (Some(x), Some(y)) => Ok(CertificateKey::EcP256 {
                    x: x.to_vec(),
                    y: y.to_vec(),
                }),
                _ => Err(CertificateError::UnsupportedKey(
                    "EC point at infinity".into(),
                )),
            }
        }
        other => Err(CertificateError::UnsupportedKey(format!(
            "algorithm {other}"
        ))),
    }
}

fn timestamp(since_epoch: std::time::Duration) -> jiff::Timestamp {
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const RSA_2048: &str = include_str!("testdata/rsa2048.crt");
    pub(crate) const P256: &str = include_str!("testdata/p256.crt");

    fn openssl_fingerprint(pem: &str, digest: &str) -> Option<String> {
        let mut child = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", digest])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        use std::io::Write;
        child.stdin.take()?.write_all(pem.as_bytes()).ok()?;
        let output = child.wait_with_output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        let hex = text.trim().split('=').nth(1)?.replace(':', "");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&hex[index..index + 2], 16).expect("hex"))
            .collect();
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    #[test]
    fn thumbprints_are_the_base64url_sha1_and_sha256_of_the_der() {
        let parsed = parse_certificate(RSA_2048).expect("parses");
        assert_eq!(parsed.sha256_thumbprint.len(), 43);
        assert_eq!(parsed.sha1_thumbprint.len(), 27);
        // openssl's own fingerprints, when the CLI is on the machine.
        if let Some(sha256) = openssl_fingerprint(RSA_2048, "-sha256") {
            assert_eq!(parsed.sha256_thumbprint, sha256);
        }
        if let Some(sha1) = openssl_fingerprint(RSA_2048, "-sha1") {
            assert_eq!(parsed.sha1_thumbprint, sha1);
        }
        assert!(parsed.is_named_by(&parsed.sha1_thumbprint));
        assert!(!parsed.is_named_by("x"));
    }

    #[test]
    fn a_thumbprint_with_base64_padding_names_the_certificate_too() {
        // MSAL Python encodes x5t and x5t#S256 with padding.
        let parsed = parse_certificate(RSA_2048).expect("parses");
        assert!(parsed.is_named_by(&format!("{}=", parsed.sha1_thumbprint)));
        assert!(parsed.is_named_by(&format!("{}=", parsed.sha256_thumbprint)));
        assert!(!parsed.is_named_by(&format!("{}==x", parsed.sha1_thumbprint)));
        assert!(!parsed.is_named_by("="));
    }

    #[test]
    fn rsa_and_p256_keys_are_read_with_their_validity() {
        let rsa = parse_certificate(RSA_2048).expect("rsa");
        assert!(matches!(&rsa.key, CertificateKey::Rsa { modulus, .. } if modulus.len() == 256));
        assert!(rsa.is_valid_at(jiff::Timestamp::now()));
        let ec = parse_certificate(P256).expect("p256");
        assert!(
            matches!(&ec.key, CertificateKey::EcP256 { x, y } if x.len() == 32 && y.len() == 32)
        );
        let expired = parse_certificate(include_str!("testdata/expired.crt")).expect("expired");
        assert!(!expired.is_valid_at(jiff::Timestamp::now()));
        assert_eq!(expired.not_after.to_string(), "2021-01-01T00:00:00Z");
    }

    #[test]
    fn small_rsa_other_curves_and_garbage_are_refused() {
        assert_eq!(
            parse_certificate(include_str!("testdata/rsa1024.crt")),
            Err(CertificateError::RsaTooSmall(1024))
        );
        assert!(matches!(
            parse_certificate(include_str!("testdata/p384.crt")),
            Err(CertificateError::UnsupportedKey(_))
        ));
        assert!(matches!(
            parse_certificate("hello"),
            Err(CertificateError::NotCertificate(_))
        ));
        let key = include_str!("testdata/p256.key");
        assert!(matches!(
            parse_certificate(key),
            Err(CertificateError::NotCertificate(_))
        ));
        let huge = format!("{RSA_2048}{}", " ".repeat(MAX_CERTIFICATE_PEM_BYTES));
        assert_eq!(parse_certificate(&huge), Err(CertificateError::TooLarge));
        let truncated = &RSA_2048[..RSA_2048.len() / 2];
        assert!(matches!(
            parse_certificate(truncated),
            Err(CertificateError::NotCertificate(_))
        ));
    }

    #[test]
    fn the_first_certificate_of_a_chain_or_a_file_with_its_key_is_the_one_read() {
        let leaf = parse_certificate(RSA_2048).expect("leaf");
        let chain = format!("{RSA_2048}{P256}");
        assert_eq!(parse_certificate(&chain), Ok(leaf.clone()));
        let with_key = format!("{}{RSA_2048}", include_str!("testdata/rsa2048.key"));
        assert_eq!(parse_certificate(&with_key), Ok(leaf));
        let block = first_certificate_block(&with_key).expect("a block");
        assert_eq!(block, RSA_2048.trim());
        assert!(!block.contains("PRIVATE KEY"));
    }
}

#[cfg(test)]
mod client_tests {
    use crate::api::AppType;
    use crate::contract::certificate::CertificateSpec;
    use crate::contract::{ClientSpec, validate_client};

    fn daemon_with(certificates: &[&str]) -> ClientSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Daemon",
            "type": "daemon",
            "certificates": certificates.iter().map(|pem| serde_json::json!({"pem": pem})).collect::<Vec<_>>(),
        }))
        .expect("the admin API's shape")
    }

    fn fields(spec: &ClientSpec) -> Vec<String> {
        validate_client(spec)
            .into_iter()
            .map(|error| error.field)
            .collect()
    }

    #[test]
    fn a_confidential_client_may_authenticate_with_certificates_alone() {
        let rsa = include_str!("testdata/rsa2048.crt");
        let ec = include_str!("testdata/p256.crt");
        assert!(fields(&daemon_with(&[rsa, ec])).is_empty());
        assert_eq!(fields(&daemon_with(&[])), ["clientSecrets"]);
    }

    #[test]
    fn certificates_are_limited_parsed_and_refused_for_public_clients() {
        let rsa = include_str!("testdata/rsa2048.crt");
        let small = include_str!("testdata/rsa1024.crt");
        assert_eq!(
            fields(&daemon_with(&[rsa, "garbage", small])),
            ["certificates[1].pem", "certificates[2].pem"]
        );
        assert_eq!(fields(&daemon_with(&[rsa, rsa])), ["certificates[1]"]);
        let five = [
            rsa,
            include_str!("testdata/p256.crt"),
            include_str!("testdata/expired.crt"),
            small,
            "x",
        ];
        assert!(fields(&daemon_with(&five)).contains(&"certificates".to_string()));
        let mut spa = daemon_with(&[rsa]);
        spa.app_type = AppType::Spa;
        assert_eq!(fields(&spa), ["certificates"]);
        let unknown = serde_json::from_value::<CertificateSpec>(
            serde_json::json!({"pem": rsa, "privateKey": "x"}),
        );
        assert!(unknown.is_err(), "only the field pem is accepted");
    }
}
