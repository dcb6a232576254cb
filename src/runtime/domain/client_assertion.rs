//! Verifies `private_key_jwt` client assertions (RFC 7523 §2.2 and §3, OpenID Connect Core
//! §9): a JWT the client signs with the private key of one of its registered certificates.
//!
//! ```text
//!  client_assertion ─peek─▶ iss (the client ID) ─▶ client's certificates
//!        │                                              │ x5t#S256 / x5t / kid
//!        └────── verify: alg ▶ certificate ▶ signature ▶ iss = sub ▶ aud ▶ exp/nbf/iat ▶ jti
//! ```
//!
//! The `jti` is recorded by the caller (one-time use); this module is pure apart from the
//! signature check and takes `now` as a parameter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::contract::certificate::{CertificateKey, ParsedCertificate};

/// The only `client_assertion_type` accepted.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Allowed clock difference between the client and the runtime, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;

/// Longest lifetime an assertion may claim: `exp` at most this far ahead of now (plus the
/// leeway). Bounds how long its `jti` must be remembered.
pub const MAX_LIFETIME_SECONDS: i64 = 3600;

/// Longest `jti` accepted.
const MAX_JTI_CHARS: usize = 256;

/// Algorithms accepted: never `none`, never an HMAC (its key would be the public certificate).
pub const ALGORITHMS: [&str; 3] = ["RS256", "PS256", "ES256"];

/// Why an assertion is refused (always `invalid_client`); `reason` labels the metric and log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssertionFailure {
    /// `client_assertion_type` is not the JWT bearer type.
    #[error("client_assertion_type must be {JWT_BEARER_ASSERTION_TYPE}")]
    UnsupportedType,
    /// Not a JWS compact serialisation with JSON header and claims.
    #[error("the client assertion is not a well-formed JWT")]
    Malformed,
    /// `alg` is not RS256, PS256 or ES256, or does not fit the certificate's key.
    #[error(
        "the client assertion must be signed with RS256, PS256 or ES256 matching the certificate's key"
    )]
    UnsupportedAlgorithm,
    /// No current certificate of the client is named by `x5t#S256`, `x5t` or `kid`.
    #[error("the client assertion names no current certificate of the client")]
    UnknownCertificate,
    /// The signature does not verify with the certificate's key.
    #[error("the client assertion's signature is not valid")]
    BadSignature,
    /// `iss` and `sub` are not both the client ID.
    #[error("the client assertion's iss and sub must both be the client ID")]
    WrongIssuer,
    /// `aud` is neither the token endpoint nor the issuer.
    #[error("the client assertion's aud must be the token endpoint")]
    WrongAudience,
    /// `exp` is missing or past.
    #[error("the client assertion has expired or has no exp")]
    Expired,
    /// `exp` is too far ahead.
    #[error("the client assertion's lifetime is too long (at most one hour)")]
    LifetimeTooLong,
    /// `nbf` or `iat` is in the future.
    #[error("the client assertion is not valid yet")]
    NotYetValid,
    /// No usable `jti`.
    #[error("the client assertion needs a jti")]
    MissingJti,
    /// The `jti` was already used.
    #[error("the client assertion was already used")]
    Replayed,
}

impl AssertionFailure {
    /// The `reason` label of the metric and the log line.
    pub fn reason(self) -> &'static str {
        match self {
            AssertionFailure::UnsupportedType => "assertion_type",
            AssertionFailure::Malformed => "assertion_malformed",
            AssertionFailure::UnsupportedAlgorithm => "assertion_algorithm",
            AssertionFailure::UnknownCertificate => "assertion_unknown_certificate",
            AssertionFailure::BadSignature => "assertion_signature",
            AssertionFailure::WrongIssuer => "assertion_issuer",
            AssertionFailure::WrongAudience => "assertion_audience",
            AssertionFailure::Expired => "assertion_expired",
            AssertionFailure::LifetimeTooLong => "assertion_lifetime",
            AssertionFailure::NotYetValid => "assertion_not_yet_valid",
            AssertionFailure::MissingJti => "assertion_jti",
            AssertionFailure::Replayed => "assertion_replayed",
        }
    }
}

/// The JWS header fields that matter here.
#[derive(Deserialize, Debug)]
struct AssertionHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

/// `aud`: one string or a list.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims RFC 7523 §3 requires, read before the signature is checked (to find the client).
#[derive(Deserialize, Debug)]
pub struct AssertionClaims {
    /// Issuer: the client ID.
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// A JWT NumericDate (RFC 7519 §2): seconds since the epoch, which may have a fraction (MSAL
/// Python writes `time.time()` as it is); read as whole seconds, rounded down. A value that is
/// not a finite number in range is malformed.
fn numeric_date<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
            Ok(Some(seconds.floor() as i64))
        }
        _ => Err(serde::de::Error::custom("a NumericDate out of range")),
    }
}

/// A client assertion parsed but not yet verified.
#[derive(Debug)]
pub struct UnverifiedAssertion<'a> {
    compact: &'a str,
    header: AssertionHeader,
    /// Its claims, trusted only after [`verify`].
    pub claims: AssertionClaims,
}

/// What an accepted assertion leaves to record: its `jti`, kept until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedAssertion {
    /// The assertion's ID.
    pub jti: String,
    /// Its `exp` (Unix seconds).
    pub expires_at: i64,
}

/// What the verifier expects of an assertion.
#[derive(Clone, Copy, Debug)]
pub struct Expectations<'a> {
    /// The client ID (`iss` and `sub`).
    pub client_id: &'a str,
    /// Accepted audiences: the token endpoint URL and the issuer.
    pub audiences: &'a [String],
    /// The current time (Unix seconds).
    pub now: i64,
}

/// Reads an assertion's header and claims without trusting them.
///
/// # Errors
/// [`AssertionFailure::Malformed`] for anything but three base64url parts of JSON.
pub fn peek(compact: &str) -> Result<UnverifiedAssertion<'_>, AssertionFailure> {
    let mut parts = compact.split('.');
    let (Some(header), Some(claims), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionFailure::Malformed);
    };
    fn json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AssertionFailure> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AssertionFailure::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| AssertionFailure::Malformed)
    }
    Ok(UnverifiedAssertion {
        compact,
        header: json(header)?,
        claims: json(claims)?,
    })
}

/// Verifies an assertion against the client's certificates (those valid at `now`).
///
/// # Errors
/// The first check that fails, as an [`AssertionFailure`].
pub fn verify(
    assertion: &UnverifiedAssertion<'_>,
    certificates: &[ParsedCertificate],
    expected: &Expectations<'_>,
) -> Result<AcceptedAssertion, AssertionFailure> {
    let algorithm = algorithm(&assertion.header.alg)?;
    let certificate = select_certificate(&assertion.header, certificates, expected.now)?;
    check_signature(assertion.compact, algorithm, &certificate.key)?;
    check_claims(&assertion.claims, expected)
}

fn algorithm(alg: &str) -> Result<Algorithm, AssertionFailure> {
    match alg {
        "RS256" => Ok(Algorithm::RS256),
        "PS256" => Ok(Algorithm::PS256),
        "ES256" => Ok(Algorithm::ES256),
        _ => Err(AssertionFailure::UnsupportedAlgorithm),
    }
}

/// The certificate the header names by thumbprint (`x5t#S256`, else `x5t`, else a `kid`
/// equal to a thumbprint), among those valid at `now`.
fn select_certificate<'a>(
    header: &AssertionHeader,
    certificates: &'a [ParsedCertificate],
    now: i64,
) -> Result<&'a ParsedCertificate, AssertionFailure> {
    let name = header
        .x5t_s256
        .as_deref()
        .or(header.x5t.as_deref())
        .or(header.kid.as_deref())
        .ok_or(AssertionFailure::UnknownCertificate)?;
    let now = jiff::Timestamp::from_second(now).map_err(|_| AssertionFailure::Expired)?;
    certificates
        .iter()
        .find(|certificate| certificate.is_named_by(name) && certificate.is_valid_at(now))
        .ok_or(AssertionFailure::UnknownCertificate)
}

/// Checks the signature with the certificate's key; the algorithm must fit the key type.
fn check_signature(
    compact: &str,
    algorithm: Algorithm,
    key: &CertificateKey,
) -> Result<(), AssertionFailure> {
    let decoding_key = match (algorithm, key) {
        (Algorithm::RS256 | Algorithm::PS256, CertificateKey::Rsa { modulus, exponent }) => {
            DecodingKey::from_rsa_raw_components(modulus, exponent)
        }
        (Algorithm::ES256, CertificateKey::EcP256 { x, y }) => {
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                .map_err(|_| AssertionFailure::BadSignature)?
        }
        _ => return Err(AssertionFailure::UnsupportedAlgorithm),
    };
    // Only the signature here: the claims are checked against the domain's clock below.
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(compact, &decoding_key, &validation)
        .map(|_| ())
        .map_err(|_| AssertionFailure::BadSignature)
}

/// `iss`, `sub`, `aud`, `exp`, `nbf`, `iat` and `jti` (RFC 7523 §3).
fn check_claims(
    claims: &AssertionClaims,
    expected: &Expectations<'_>,
) -> Result<AcceptedAssertion, AssertionFailure> {
    let client_id = Some(expected.client_id);
    if claims.iss.as_deref() != client_id || claims.sub.as_deref() != client_id {
        return Err(AssertionFailure::WrongIssuer);
    }
    let audience_ok = match &claims.aud {
        Some(Audience::One(audience)) => expected.audiences.contains(audience),
        Some(Audience::Many(audiences)) => audiences
            .iter()
            .any(|audience| expected.audiences.contains(audience)),
        None => false,
    };
    if !audience_ok {
        return Err(AssertionFailure::WrongAudience);
    }
    let now = expected.now;
    let expires_at = claims.exp.ok_or(AssertionFailure::Expired)?;
    if expires_at.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(AssertionFailure::Expired);
    }
    if expires_at > now.saturating_add(MAX_LIFETIME_SECONDS + LEEWAY_SECONDS) {
        return Err(AssertionFailure::LifetimeTooLong);
    }
    let in_future = |time: Option<i64>| time.is_some_and(|time| time > now + LEEWAY_SECONDS);
    if in_future(claims.nbf) || in_future(claims.iat) {
        return Err(AssertionFailure::NotYetValid);
    }
    match claims.jti.as_deref() {
        Some(jti) if !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS => {
            Ok(AcceptedAssertion {
                jti: jti.to_string(),
                // Kept at least until the leeway lets it expire.
                expires_at: expires_at.saturating_add(LEEWAY_SECONDS),
            })
        }
        _ => Err(AssertionFailure::MissingJti),
    }
}

#[cfg(test)]
mod tests;
