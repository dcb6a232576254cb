//! Sends one-time passcodes over SMTP with the tenant's settings, and makes and checks them.
//!
//! A passcode is six random digits; only an HMAC of it (keyed per runtime, bound to the
//! challenge ID) is stored, so a database reader cannot use pending codes.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;

use super::crypto::{self, KeyEncryptionKey};
use crate::contract::{SmtpSpec, SmtpTls, StoredSmtp};

/// How long the runtime waits for the SMTP server.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a passcode email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The tenant has no SMTP settings or sender.
    #[error("failed to send email: the tenant has no {0} configured")]
    NotConfigured(&'static str),
    /// An address did not parse.
    #[error("failed to build the email: {0}")]
    Address(String),
    /// The sealed SMTP password did not open (wrong key-encryption key).
    #[error("failed to open the sealed SMTP password")]
    Password,
    /// The SMTP exchange failed.
    #[error("failed to send email over SMTP to {host}:{port}: {source}")]
    Smtp {
        /// Server host.
        host: String,
        /// Server port.
        port: u16,
        /// The transport error.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// The additional authenticated data of a tenant's sealed SMTP password, so it cannot be
/// moved to another tenant.
pub fn smtp_seal_context(tenant_id: &str) -> Vec<u8> {
    format!("smtp-password/{tenant_id}").into_bytes()
}

/// Seals the password of a new SMTP spec (or keeps the stored one when the spec sends its
/// hash back) and returns what to store.
///
/// # Errors
/// `Err(reason)` when `passwordHash` does not match the stored password.
pub fn prepare_smtp(
    kek: &KeyEncryptionKey,
    tenant_id: &str,
    mut spec: SmtpSpec,
    previous: Option<&StoredSmtp>,
) -> Result<StoredSmtp, String> {
    let sealed_password = match (spec.password.take(), &spec.password_hash) {
        (Some(password), _) => {
            spec.password_hash = Some(crypto::client_secret_hash(&password));
            Some(
                kek.seal(password.as_bytes(), &smtp_seal_context(tenant_id))
                    .map_err(|error| error.to_string())?,
            )
        }
        (None, Some(hash)) => match previous {
            Some(previous) if previous.spec.password_hash.as_ref() == Some(hash) => {
                previous.sealed_password.clone()
            }
            _ => {
                return Err(
                    "does not match the stored password; send the password instead".to_string(),
                );
            }
        },
        (None, None) => None,
    };
    Ok(StoredSmtp {
        spec,
        sealed_password,
    })
}

/// A new six-digit passcode.
pub fn new_passcode() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// The stored digest of `passcode` for challenge `challenge_id`.
pub fn passcode_digest(key: &[u8; 32], challenge_id: &str, passcode: &str) -> String {
    crypto::hmac_sha256(key, format!("{challenge_id}|{passcode}").as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `presented` is the passcode of the challenge (constant time; a decoy's empty
/// digest matches nothing).
pub fn passcode_matches(key: &[u8; 32], challenge_id: &str, digest: &str, presented: &str) -> bool {
    let presented: String = presented.chars().filter(|c| !c.is_whitespace()).collect();
    !digest.is_empty()
        && presented.len() == 6
        && crypto::constant_time_eq(
            passcode_digest(key, challenge_id, &presented).as_bytes(),
            digest.as_bytes(),
        )
}

/// A message to one recipient.
pub struct OutgoingEmail<'a> {
    /// Sender address.
    pub from_address: &'a str,
    /// Sender name.
    pub from_name: Option<&'a str>,
    /// Recipient.
    pub to: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: String,
}

/// Sends `email` through the tenant's SMTP server.
///
/// # Errors
/// Missing settings, unparsable addresses, a sealed password that does not open, or an SMTP
/// failure (connection, TLS, authentication, refusal).
pub async fn send(
    kek: &KeyEncryptionKey,
    tenant_id: &str,
    smtp: &StoredSmtp,
    email: OutgoingEmail<'_>,
) -> Result<(), EmailError> {
    let from = Mailbox::new(
        email.from_name.map(str::to_string),
        email
            .from_address
            .parse()
            .map_err(|_| EmailError::Address("the sender address is not valid".into()))?,
    );
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| EmailError::Address("the recipient address is not valid".into()))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(email.body)
        .map_err(|error| EmailError::Address(error.to_string()))?;
    let spec = &smtp.spec;
    let smtp_error = |source| EmailError::Smtp {
        host: spec.host.clone(),
        port: spec.port,
        source,
    };
    let tls_parameters = || TlsParameters::new(spec.host.clone()).map_err(smtp_error);
    let tls = match spec.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(spec.host.as_str())
        .port(spec.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(username) = &spec.username {
        let password = match &smtp.sealed_password {
            Some(sealed) => String::from_utf8(
                kek.open(sealed, &smtp_seal_context(tenant_id))
                    .map_err(|_| EmailError::Password)?,
            )
            .map_err(|_| EmailError::Password)?,
            None => String::new(),
        };
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    builder.build().send(message).await.map_err(smtp_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcodes_are_six_digits_and_match_only_their_challenge() {
        let key = [9u8; 32];
        let code = new_passcode();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|byte| byte.is_ascii_digit()));
        let digest = passcode_digest(&key, "c1", &code);
        assert!(passcode_matches(&key, "c1", &digest, &code));
        assert!(passcode_matches(&key, "c1", &digest, &format!(" {code} ")));
        assert!(!passcode_matches(&key, "c2", &digest, &code));
        assert!(
            !passcode_matches(&key, "c1", "", &code),
            "decoys match nothing"
        );
    }

    #[test]
    fn smtp_passwords_are_sealed_and_kept_by_hash() {
        let kek = KeyEncryptionKey::from_file_contents(&[7u8; 32]).expect("key");
        let spec = SmtpSpec {
            host: "smtp.example.com".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: Some("mailer".into()),
            password: Some("s3cret-smtp".into()),
            password_hash: None,
        };
        let stored = prepare_smtp(&kek, "t1", spec.clone(), None).expect("stored");
        assert_eq!(stored.spec.password, None);
        let hash = stored.spec.password_hash.clone().expect("hash");
        assert!(
            !serde_json::to_string(&stored.spec)
                .expect("json")
                .contains("s3cret")
        );
        let sealed = stored.sealed_password.clone().expect("sealed");
        assert_eq!(
            kek.open(&sealed, &smtp_seal_context("t1")).expect("open"),
            b"s3cret-smtp"
        );
        let replay = SmtpSpec {
            password: None,
            password_hash: Some(hash),
            ..spec.clone()
        };
        let kept = prepare_smtp(&kek, "t1", replay, Some(&stored)).expect("kept");
        assert_eq!(kept.sealed_password, stored.sealed_password);
        let wrong = SmtpSpec {
            password: None,
            password_hash: Some(crypto::client_secret_hash("other")),
            ..spec
        };
        assert!(prepare_smtp(&kek, "t1", wrong, Some(&stored)).is_err());
    }
}
