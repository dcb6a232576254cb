//! Cryptographic building blocks: the key-encryption key, signing keys, hashes, PKCE and passwords.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of an AES-GCM nonce in bytes.
const NONCE_LEN: usize = 12;

/// Argon2id memory cost in KiB (OWASP's first recommended configuration: 19 MiB, t=2, p=1).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2id iterations.
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id parallelism.
pub const ARGON2_PARALLELISM: u32 = 1;

/// Errors of key handling and hashing.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key-encryption key file does not hold 32 bytes.
    #[error(
        "the key-encryption key must be 32 bytes, given raw, as 64 hex digits or as base64; found {0} bytes"
    )]
    KeyLength(usize),
    /// Sealed data could not be opened.
    #[error("failed to decrypt a sealed value: wrong key-encryption key or corrupted data")]
    Decrypt,
    /// Data could not be sealed.
    #[error("failed to encrypt a value")]
    Encrypt,
    /// A signing key could not be generated or encoded.
    #[error("failed to generate a {algorithm} signing key: {reason}")]
    Generate {
        /// Algorithm of the key.
        algorithm: SigningAlgorithm,
        /// What went wrong.
        reason: String,
    },
    /// A password could not be hashed.
    #[error("failed to hash a password: {0}")]
    PasswordHash(String),
    /// A stored signing key does not parse as its algorithm's key.
    #[error("the {algorithm} signing key does not parse: {reason}")]
    SigningKey {
        /// Algorithm of the key.
        algorithm: SigningAlgorithm,
        /// What went wrong.
        reason: String,
    },
    /// A signature could not be made.
    #[error("failed to sign")]
    Sign,
}

/// A private signing key parsed once into a ready key pair (ring), so a signature costs only
/// the signature: ES256 from the PKCS#8 document, RS256 from the PKCS#1 one, as
/// [`generate_signing_key`] writes them.
pub struct Signer {
    algorithm: SigningAlgorithm,
    key: SignerKey,
}

enum SignerKey {
    Es256(ring::signature::EcdsaKeyPair),
    Rs256(ring::signature::RsaKeyPair),
}

impl Signer {
    /// Parses `private_der` as a key of `algorithm`.
    ///
    /// # Errors
    /// [`CryptoError::SigningKey`] when it is not one.
    pub fn new(algorithm: SigningAlgorithm, private_der: &[u8]) -> Result<Self, CryptoError> {
        let failure = |reason: String| CryptoError::SigningKey { algorithm, reason };
        let key = match algorithm {
            SigningAlgorithm::Es256 => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                use p256::pkcs8::DecodePrivateKey;
                let secret = p256::SecretKey::from_pkcs8_der(private_der)
                    .map_err(|error| failure(error.to_string()))?;
                let public = secret.public_key().to_encoded_point(false);
                SignerKey::Es256(
                    ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &secret.to_bytes(),
                        public.as_bytes(),
                        &ring::rand::SystemRandom::new(),
                    )
                    .map_err(|error| failure(error.to_string()))?,
                )
            }
            SigningAlgorithm::Rs256 => SignerKey::Rs256(
                ring::signature::RsaKeyPair::from_der(private_der)
                    .map_err(|error| failure(error.to_string()))?,
            ),
        };
        Ok(Self { algorithm, key })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The JWS signature of `message`: `r || s` for ES256, PKCS#1 v1.5 for RS256.
    ///
    /// # Errors
    /// [`CryptoError::Sign`] if the system random source fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let random = ring::rand::SystemRandom::new();
        match &self.key {
            SignerKey::Es256(pair) => pair
                .sign(&random, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| CryptoError::Sign),
            SignerKey::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &random,
                    message,
                    &mut signature,
                )
                .map_err(|_| CryptoError::Sign)?;
                Ok(signature)
            }
        }
    }
}

pub use crate::contract::tenant::SigningAlgorithm;

/// The key that encrypts signing keys at rest (AES-256-GCM) and from which other server
/// secrets (CSRF tokens) are derived. Read from a mounted file.
pub struct KeyEncryptionKey {
    cipher: Aes256Gcm,
    raw: [u8; 32],
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// Reads the key from a file's contents: 32 raw bytes, 64 hex digits or base64 of 32 bytes
    /// (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`CryptoError::KeyLength`] when the contents do not decode to exactly 32 bytes.
    pub fn from_file_contents(contents: &[u8]) -> Result<Self, CryptoError> {
        let raw = decode_key_material(contents)?;
        Ok(Self {
            cipher: Aes256Gcm::new(&raw.into()),
            raw,
        })
    }

    /// Encrypts `plaintext`, binding it to `context` (additional authenticated data, for
    /// example the tenant and key ID, so a sealed key cannot be moved to another row).
    /// Returns base64 of nonce followed by ciphertext.
    ///
    /// # Errors
    /// [`CryptoError::Encrypt`] if the cipher fails (it does not for valid inputs).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(sealed))
    }

    /// Decrypts what [`KeyEncryptionKey::seal`] produced with the same `context`.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] for a wrong key, a different context or tampered data.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = STANDARD.decode(sealed).map_err(|_| CryptoError::Decrypt)?;
        if sealed.len() <= NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Derives an independent 32-byte secret for `purpose` (HMAC-SHA-256 keyed by this key),
    /// so every replica sharing the key-encryption key derives the same value.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.raw, purpose.as_bytes())
    }
}

fn decode_key_material(contents: &[u8]) -> Result<[u8; 32], CryptoError> {
    if let Ok(raw) = <[u8; 32]>::try_from(contents) {
        return Ok(raw);
    }
    let text = String::from_utf8_lossy(contents);
    let text = text.trim();
    let decoded = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        decode_hex(text).unwrap_or_default()
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .unwrap_or_default()
    };
    let length = decoded.len();
    <[u8; 32]>::try_from(decoded.as_slice()).map_err(|_| CryptoError::KeyLength(length))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex of bytes.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// HMAC-SHA-256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A fresh random value of `bytes` bytes as base64url without padding (for codes, refresh
/// tokens, session and CSRF cookies).
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// The storage key of a bearer value (code, refresh token, session cookie): base64url of its
/// SHA-256, so a database leak does not reveal usable values.
pub fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))
}

pub use crate::contract::client::{
    SECRET_HASH_PREFIX, client_secret_hash, client_secret_matches, is_client_secret_hash,
};

/// Compares two secrets in constant time (for equal lengths; the lengths themselves are
/// not secret here because both sides are hashed first).
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    bool::from(sha256(left).ct_eq(&sha256(right)))
}

/// Whether a PKCE `code_verifier` is well formed (RFC 7636 §4.1: 43–128 unreserved
/// characters).
pub fn is_valid_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a PKCE `code_challenge` is well formed for S256 (43 base64url characters).
pub fn is_valid_code_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

/// Verifies a PKCE S256 pair: `BASE64URL(SHA256(verifier)) == challenge`, in constant time.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !is_valid_code_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    computed.len() == challenge.len() && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn argon2id() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .unwrap_or_else(|_| unreachable!("the Argon2 parameters are constants within range"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with Argon2id into a PHC string (parameters and salt included).
///
/// # Errors
/// [`CryptoError::PasswordHash`] if hashing fails (it does not for passwords of sane length).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| CryptoError::PasswordHash(error.to_string()))
}

/// Whether `phc` is a PHC string a password can be verified against (accounts without a
/// password store something that is not).
pub fn is_password_hash(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok()
}

/// Checks a password against a PHC string produced by [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2id()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A freshly generated signing key: private part as DER (PKCS#8 for P-256, PKCS#1 for RSA,
/// the forms the JWT library reads) and the public JWK.
pub struct GeneratedKey {
    /// Private key DER; seal it before storing.
    pub private_der: Vec<u8>,
    /// Public key as a JWK with `kid`, `alg` and `use`.
    pub public_jwk: serde_json::Value,
}

/// Generates a signing key for `algorithm` with key ID `kid`.
///
/// # Errors
/// [`CryptoError::Generate`] if key generation or encoding fails.
pub fn generate_signing_key(
    algorithm: SigningAlgorithm,
    kid: &str,
) -> Result<GeneratedKey, CryptoError> {
    let failure = |reason: String| CryptoError::Generate { algorithm, reason };
    match algorithm {
        SigningAlgorithm::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let secret = p256::SecretKey::random(&mut OsRng);
            let private_der = secret
                .to_pkcs8_der()
                .map_err(|error| failure(error.to_string()))?
                .as_bytes()
                .to_vec();
            let point = secret.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(failure("the public key has no affine coordinates".into()));
            };
            Ok(GeneratedKey {
                private_der,
                public_jwk: serde_json::json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                    "kid": kid,
                    "alg": "ES256",
                    "use": "sig",
                }),
            })
        }
        SigningAlgorithm::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .map_err(|error| failure(error.to_string()))?;
            let private_der = private
                .to_pkcs1_der()
                .map_err(|error| failure(error.to_string()))?
                .as_bytes()
                .to_vec();
            Ok(GeneratedKey {
                private_der,
                public_jwk: serde_json::json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
                    "kid": kid,
                    "alg": "RS256",
                    "use": "sig",
                }),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs with a freshly generated key through [`Signer`] and checks the JWS with
    /// jsonwebtoken against the published JWK, the way relying parties will.
    fn signed_and_verified(algorithm: SigningAlgorithm, jws: jsonwebtoken::Algorithm) {
        let generated = generate_signing_key(algorithm, "k1").expect("generated");
        let signer = Signer::new(algorithm, &generated.private_der).expect("parses");
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{}"}}"#, algorithm.as_str()));
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"s"}"#);
        let input = format!("{header}.{claims}");
        let signature = signer.sign(input.as_bytes()).expect("signs");
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(generated.public_jwk).expect("JWK");
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key");
        let mut validation = jsonwebtoken::Validation::new(jws);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
            .expect("the signature verifies");
        assert_eq!(decoded.claims["sub"], "s");
    }

    #[test]
    fn the_signer_makes_es256_and_rs256_signatures_that_verify_against_the_jwk() {
        signed_and_verified(SigningAlgorithm::Es256, jsonwebtoken::Algorithm::ES256);
        signed_and_verified(SigningAlgorithm::Rs256, jsonwebtoken::Algorithm::RS256);
    }

    #[test]
    fn a_stored_key_of_the_wrong_kind_is_refused_naming_the_algorithm() {
        let ec = generate_signing_key(SigningAlgorithm::Es256, "k").expect("generated");
        let error = Signer::new(SigningAlgorithm::Rs256, &ec.private_der)
            .err()
            .expect("an EC key is no RSA key");
        assert!(
            error
                .to_string()
                .starts_with("the RS256 signing key does not parse"),
            "{error}"
        );
        assert!(Signer::new(SigningAlgorithm::Es256, b"garbage").is_err());
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_context() {
        let kek = KeyEncryptionKey::from_file_contents(&[7u8; 32]).expect("raw key");
        let sealed = kek.seal(b"private key", b"tenant/kid").expect("seal");
        assert_eq!(
            kek.open(&sealed, b"tenant/kid").expect("open"),
            b"private key"
        );
        assert!(kek.open(&sealed, b"tenant/other").is_err());
        let other = KeyEncryptionKey::from_file_contents(&[8u8; 32]).expect("raw key");
        assert!(other.open(&sealed, b"tenant/kid").is_err());
    }

    #[test]
    fn key_encryption_key_accepts_hex_and_base64_and_rejects_short_keys() {
        let hex = "ab".repeat(32);
        assert!(KeyEncryptionKey::from_file_contents(format!("{hex}\n").as_bytes()).is_ok());
        let base64 = STANDARD.encode([1u8; 32]);
        assert!(KeyEncryptionKey::from_file_contents(base64.as_bytes()).is_ok());
        assert!(matches!(
            KeyEncryptionKey::from_file_contents(b"too short"),
            Err(CryptoError::KeyLength(_))
        ));
    }

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!pkce_s256_matches("short", challenge));
        assert!(is_valid_code_challenge(challenge));
    }

    #[test]
    fn client_secret_hashes_are_checked_exactly() {
        let hash = client_secret_hash("s3cret-value");
        assert!(is_client_secret_hash(&hash));
        assert!(client_secret_matches("s3cret-value", &hash));
        assert!(!client_secret_matches("s3cret-valuE", &hash));
        assert!(!is_client_secret_hash("sha256:XYZ"));
    }

    #[test]
    fn passwords_round_trip_through_argon2id() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(is_password_hash(&phc));
        assert!(!is_password_hash("!"));
        assert!(!is_password_hash(""));
    }

    #[test]
    fn generated_es256_keys_have_a_public_jwk() {
        let key = generate_signing_key(SigningAlgorithm::Es256, "k1").expect("generate");
        assert_eq!(key.public_jwk["kty"], "EC");
        assert_eq!(key.public_jwk["kid"], "k1");
        assert!(!key.private_der.is_empty());
    }
}
