//! The checks of a client assertion, one refusal each, and the accepted algorithms.

use super::*;
use crate::contract::certificate::parse_certificate;

pub(crate) const RSA_CERTIFICATE: &str = include_str!("../../../contract/testdata/rsa2048.crt");
pub(crate) const RSA_KEY: &str = include_str!("../../../contract/testdata/rsa2048.key");
pub(crate) const EC_CERTIFICATE: &str = include_str!("../../../contract/testdata/p256.crt");
pub(crate) const EC_KEY: &str = include_str!("../../../contract/testdata/p256.key");
const EXPIRED_CERTIFICATE: &str = include_str!("../../../contract/testdata/expired.crt");

const CLIENT_ID: &str = "6b0d6d2e-6a3c-4a53-9d55-3f0f0c1c9a11";
const TOKEN_ENDPOINT: &str = "https://id.example.com/contoso/oauth2/v2.0/token";
const ISSUER: &str = "https://id.example.com/contoso/v2.0";
const NOW: i64 = 1_800_000_000;

fn certificates() -> Vec<ParsedCertificate> {
    [RSA_CERTIFICATE, EC_CERTIFICATE]
        .iter()
        .map(|pem| parse_certificate(pem).expect("certificate"))
        .collect()
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_ENDPOINT,
        "exp": NOW + 300, "nbf": NOW, "iat": NOW, "jti": "assertion-1",
    })
}

/// An assertion signed by `key_pem` with `algorithm`, naming `certificate` by `x5t#S256`.
fn signed(
    algorithm: Algorithm,
    key_pem: &str,
    certificate: &str,
    claims: &serde_json::Value,
) -> String {
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.x5t_s256 = Some(
        parse_certificate(certificate)
            .expect("cert")
            .sha256_thumbprint,
    );
    let key = match algorithm {
        Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(key_pem.as_bytes()),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()),
    }
    .expect("signing key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn rsa(claims: &serde_json::Value) -> String {
    signed(Algorithm::RS256, RSA_KEY, RSA_CERTIFICATE, claims)
}

fn judge(compact: &str) -> Result<AcceptedAssertion, AssertionFailure> {
    let audiences = [TOKEN_ENDPOINT.to_string(), ISSUER.to_string()];
    let expected = Expectations {
        client_id: CLIENT_ID,
        audiences: &audiences,
        now: NOW,
    };
    verify(&peek(compact)?, &certificates(), &expected)
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut claims = claims();
    claims[field] = value;
    claims
}

fn without(field: &str) -> serde_json::Value {
    let mut claims = claims();
    claims.as_object_mut().expect("object").remove(field);
    claims
}

/// A JWT with this header and the default claims, and `signature` as its last part.
fn hand_made(header: &serde_json::Value, signature: &str) -> String {
    let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.{signature}", encode(header), encode(&claims()))
}

#[test]
fn rs256_ps256_and_es256_assertions_are_accepted() {
    let accepted = AcceptedAssertion {
        jti: "assertion-1".into(),
        expires_at: NOW + 300 + LEEWAY_SECONDS,
    };
    assert_eq!(judge(&rsa(&claims())), Ok(accepted.clone()));
    let pss = signed(Algorithm::PS256, RSA_KEY, RSA_CERTIFICATE, &claims());
    assert_eq!(judge(&pss), Ok(accepted.clone()));
    let ec = signed(Algorithm::ES256, EC_KEY, EC_CERTIFICATE, &claims());
    assert_eq!(judge(&ec), Ok(accepted));
}

#[test]
fn the_certificate_may_be_named_by_x5t_or_by_a_kid_equal_to_a_thumbprint() {
    let parsed = parse_certificate(RSA_CERTIFICATE).expect("cert");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).expect("key");
    let mut by_sha1 = jsonwebtoken::Header::new(Algorithm::RS256);
    by_sha1.x5t = Some(parsed.sha1_thumbprint.clone());
    let mut by_kid = jsonwebtoken::Header::new(Algorithm::RS256);
    by_kid.kid = Some(parsed.sha256_thumbprint.clone());
    for header in [by_sha1, by_kid] {
        let compact = jsonwebtoken::encode(&header, &claims(), &key).expect("sign");
        assert!(judge(&compact).is_ok(), "{header:?}");
    }
    let mut unnamed = jsonwebtoken::Header::new(Algorithm::RS256);
    unnamed.kid = Some("some-key".into());
    let compact = jsonwebtoken::encode(&unnamed, &claims(), &key).expect("sign");
    assert_eq!(judge(&compact), Err(AssertionFailure::UnknownCertificate));
}

#[test]
fn the_issuer_is_also_accepted_as_audience_and_aud_may_be_a_list() {
    assert!(judge(&rsa(&with("aud", ISSUER.into()))).is_ok());
    let list = serde_json::json!(["https://elsewhere.example", TOKEN_ENDPOINT]);
    assert!(judge(&rsa(&with("aud", list))).is_ok());
}

#[test]
fn a_wrong_or_missing_audience_is_refused() {
    let other_tenant = "https://id.example.com/fabrikam/oauth2/v2.0/token";
    assert_eq!(
        judge(&rsa(&with("aud", other_tenant.into()))),
        Err(AssertionFailure::WrongAudience)
    );
    assert_eq!(
        judge(&rsa(&without("aud"))),
        Err(AssertionFailure::WrongAudience)
    );
}

#[test]
fn an_expired_assertion_or_one_without_exp_is_refused() {
    let expired = with("exp", (NOW - LEEWAY_SECONDS - 1).into());
    assert_eq!(judge(&rsa(&expired)), Err(AssertionFailure::Expired));
    assert_eq!(judge(&rsa(&without("exp"))), Err(AssertionFailure::Expired));
    // Within the leeway a just-expired assertion still passes.
    assert!(judge(&rsa(&with("exp", (NOW - 30).into()))).is_ok());
}

#[test]
fn a_lifetime_over_an_hour_is_refused() {
    let long = with(
        "exp",
        (NOW + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS + 1).into(),
    );
    assert_eq!(judge(&rsa(&long)), Err(AssertionFailure::LifetimeTooLong));
    assert!(judge(&rsa(&with("exp", (NOW + MAX_LIFETIME_SECONDS).into()))).is_ok());
}

#[test]
fn an_assertion_from_the_future_is_refused() {
    let future = NOW + LEEWAY_SECONDS + 1;
    assert_eq!(
        judge(&rsa(&with("nbf", future.into()))),
        Err(AssertionFailure::NotYetValid)
    );
    assert_eq!(
        judge(&rsa(&with("iat", future.into()))),
        Err(AssertionFailure::NotYetValid)
    );
}

#[test]
fn iss_and_sub_must_both_be_the_client() {
    let other = "00000000-0000-4000-8000-000000000000";
    for claims in [
        with("iss", other.into()),
        with("sub", other.into()),
        without("sub"),
    ] {
        assert_eq!(judge(&rsa(&claims)), Err(AssertionFailure::WrongIssuer));
    }
}

#[test]
fn a_missing_empty_or_huge_jti_is_refused() {
    for claims in [
        without("jti"),
        with("jti", "".into()),
        with("jti", "x".repeat(257).into()),
    ] {
        assert_eq!(judge(&rsa(&claims)), Err(AssertionFailure::MissingJti));
    }
}

#[test]
fn an_unknown_or_expired_certificate_is_refused() {
    let header = serde_json::json!({"alg": "RS256", "x5t#S256": "bm90LWEtdGh1bWJwcmludA"});
    assert_eq!(
        judge(&hand_made(&header, "c2ln")),
        Err(AssertionFailure::UnknownCertificate)
    );
    // The expired certificate shares the valid one's key: only its thumbprint differs.
    let mut with_expired = certificates();
    with_expired.push(parse_certificate(EXPIRED_CERTIFICATE).expect("expired"));
    let compact = signed(Algorithm::RS256, RSA_KEY, EXPIRED_CERTIFICATE, &claims());
    let audiences = [TOKEN_ENDPOINT.to_string()];
    let expected = Expectations {
        client_id: CLIENT_ID,
        audiences: &audiences,
        now: NOW,
    };
    let result = verify(&peek(&compact).expect("peek"), &with_expired, &expected);
    assert_eq!(result, Err(AssertionFailure::UnknownCertificate));
}

#[test]
fn alg_none_is_refused() {
    let thumbprint = parse_certificate(RSA_CERTIFICATE)
        .expect("cert")
        .sha256_thumbprint;
    let header = serde_json::json!({"alg": "none", "x5t#S256": thumbprint});
    assert_eq!(
        judge(&hand_made(&header, "")),
        Err(AssertionFailure::UnsupportedAlgorithm)
    );
}

#[test]
fn an_hmac_keyed_with_the_certificates_public_key_is_refused() {
    let parsed = parse_certificate(RSA_CERTIFICATE).expect("cert");
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.x5t_s256 = Some(parsed.sha256_thumbprint);
    let public_bytes = RSA_CERTIFICATE.as_bytes();
    let key = jsonwebtoken::EncodingKey::from_secret(public_bytes);
    let compact = jsonwebtoken::encode(&header, &claims(), &key).expect("sign");
    assert_eq!(judge(&compact), Err(AssertionFailure::UnsupportedAlgorithm));
}

#[test]
fn an_algorithm_that_does_not_fit_the_key_or_a_forged_signature_is_refused() {
    // ES256 naming the RSA certificate.
    let mismatched = signed(Algorithm::ES256, EC_KEY, RSA_CERTIFICATE, &claims());
    assert_eq!(
        judge(&mismatched),
        Err(AssertionFailure::UnsupportedAlgorithm)
    );
    // RS256 naming the EC certificate.
    let wrong_key = signed(Algorithm::RS256, RSA_KEY, EC_CERTIFICATE, &claims());
    assert_eq!(
        judge(&wrong_key),
        Err(AssertionFailure::UnsupportedAlgorithm)
    );
    // Claims changed after signing.
    let genuine = rsa(&claims());
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let tampered = URL_SAFE_NO_PAD.encode(with("jti", "other".into()).to_string());
    parts[1] = &tampered;
    assert_eq!(judge(&parts.join(".")), Err(AssertionFailure::BadSignature));
}

#[test]
fn anything_but_a_compact_jws_is_malformed() {
    for compact in ["", "a.b", "a.b.c.d", "!!.??.x", "e30.e30"] {
        assert_eq!(
            peek(compact).map(|_| ()),
            Err(AssertionFailure::Malformed),
            "{compact}"
        );
    }
}

#[test]
fn times_with_a_fraction_of_a_second_are_read_as_whole_seconds() {
    // MSAL Python writes `exp`, `iat` and `nbf` as `time.time()`, with a fraction.
    let mut fractional = claims();
    fractional["exp"] = serde_json::json!(NOW as f64 + 299.75);
    fractional["iat"] = serde_json::json!(NOW as f64 + 0.5);
    fractional["nbf"] = serde_json::json!(NOW as f64 + 0.5);
    let accepted = judge(&rsa(&fractional)).expect("accepted");
    assert_eq!(accepted.expires_at, NOW + 299 + LEEWAY_SECONDS);
    assert_eq!(
        judge(&rsa(&with("exp", serde_json::json!(1e300)))),
        Err(AssertionFailure::Malformed)
    );
    assert_eq!(
        judge(&rsa(&with("exp", serde_json::json!("soon")))),
        Err(AssertionFailure::Malformed)
    );
}
