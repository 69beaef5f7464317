//! JWT bearer tokens for admin sessions (RFC 7519), verified with the
//! `jsonwebtoken` crate against the keys the operator configured.
//!
//! Which algorithm a token may use is decided by the keys, never by the
//! token: HS256 only when a secret file is given, RS256 and ES256 only for
//! the matching keys of the JWKS file. So `alg: none` and algorithm
//! confusion (an HS256 token "signed" with an RSA public key taken as the
//! secret) find no key and are refused before any signature is checked.

use std::collections::HashSet;
use std::path::Path;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::TokenRefusal;
use crate::GatewayConfig;

/// Longest `sub` accepted: it becomes part of registry rows and log lines.
pub const SUBJECT_BYTES_MAX: usize = 256;

/// One verification key and the one algorithm it verifies.
struct VerifyingKey {
    algorithm: Algorithm,
    /// The JWKS `kid`; a token naming a `kid` is only tried against it.
    key_id: Option<String>,
    key: DecodingKey,
}

/// The configured keys and the claims every token must satisfy.
pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    audience: String,
    issuer: Option<String>,
    leeway_secs: u64,
}

/// The claims read from a verified token.
#[derive(serde::Deserialize)]
struct Claims {
    /// Optional here so that a token without one is refused as lacking a
    /// claim (by the validation), not as malformed.
    sub: Option<String>,
}

/// The part of the header looked at before any key is chosen.
#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl JwtVerifier {
    /// The verifier `config` asks for; `None` when JWTs are off. Fails on an
    /// unreadable file or a JWKS without an RS256 or ES256 key.
    pub fn from_config(config: &GatewayConfig) -> Result<Option<JwtVerifier>, String> {
        if !config.jwt_enabled() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        if let Some(path) = &config.jwt_hs256_secret_file {
            keys.push(hs256_key(path)?);
        }
        if let Some(path) = &config.jwt_jwks_file {
            keys.extend(jwks_keys(path)?);
        }
        let audience = config.jwt_audience.clone().filter(|audience| !audience.is_empty());
        let Some(audience) = audience else { return Err("--jwt-audience is required when JWTs are accepted".into()) };
        Ok(Some(JwtVerifier {
            keys,
            audience,
            issuer: config.jwt_issuer.clone().filter(|issuer| !issuer.is_empty()),
            leeway_secs: config.jwt_leeway_secs,
        }))
    }

    /// The token's `sub` when it verifies, else why not.
    pub fn verify(&self, token: &str) -> Result<String, TokenRefusal> {
        let header = raw_header(token).ok_or(TokenRefusal::Malformed)?;
        let algorithm = match header.alg.as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            _ => return Err(TokenRefusal::AlgorithmNotAccepted),
        };
        let mut candidates = self.keys.iter().filter(|key| key.algorithm == algorithm).peekable();
        if candidates.peek().is_none() {
            return Err(TokenRefusal::AlgorithmNotAccepted);
        }
        let mut candidates = candidates
            .filter(|key| header.kid.is_none() || key.key_id.is_none() || key.key_id == header.kid)
            .peekable();
        if candidates.peek().is_none() {
            return Err(TokenRefusal::UnknownKey);
        }
        let validation = self.validation(algorithm);
        let mut refusal = TokenRefusal::BadSignature;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return checked_subject(data.claims.sub.ok_or(TokenRefusal::MissingClaim)?),
                // Another key of the set (rotation without `kid`) may fit.
                Err(error) if *error.kind() == ErrorKind::InvalidSignature => {}
                Err(error) => {
                    refusal = refusal_of(error.kind());
                    break;
                }
            }
        }
        Err(refusal)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[&self.audience]);
        let mut required: HashSet<String> = ["exp", "aud", "sub"].map(String::from).into();
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.insert("iss".into());
        }
        validation.required_spec_claims = required;
        validation
    }
}

fn raw_header(token: &str) -> Option<RawHeader> {
    let (encoded, _) = token.split_once('.')?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&json).ok()
}

fn checked_subject(subject: String) -> Result<String, TokenRefusal> {
    let printable = subject.chars().all(|character| !character.is_control());
    if subject.is_empty() || subject.len() > SUBJECT_BYTES_MAX || !printable {
        return Err(TokenRefusal::BadSubject);
    }
    Ok(subject)
}

fn refusal_of(kind: &ErrorKind) -> TokenRefusal {
    match kind {
        ErrorKind::InvalidSignature => TokenRefusal::BadSignature,
        ErrorKind::ExpiredSignature => TokenRefusal::Expired,
        ErrorKind::ImmatureSignature => TokenRefusal::NotYetValid,
        ErrorKind::InvalidAudience => TokenRefusal::WrongAudience,
        ErrorKind::InvalidIssuer => TokenRefusal::WrongIssuer,
        ErrorKind::MissingRequiredClaim(_) => TokenRefusal::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => TokenRefusal::AlgorithmNotAccepted,
        _ => TokenRefusal::Malformed,
    }
}

fn hs256_key(path: &Path) -> Result<VerifyingKey, String> {
    let mut secret =
        std::fs::read(path).map_err(|error| format!("--jwt-hs256-secret-file {}: {error}", path.display()))?;
    // `echo secret > file` leaves a newline that is not part of the secret.
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
    // RFC 7518 section 3.2: the HS256 key must be at least 256 bits.
    if secret.len() < 32 {
        return Err(format!("--jwt-hs256-secret-file {}: the secret must be at least 32 bytes", path.display()));
    }
    Ok(VerifyingKey { algorithm: Algorithm::HS256, key_id: None, key: DecodingKey::from_secret(&secret) })
}

fn jwks_keys(path: &Path) -> Result<Vec<VerifyingKey>, String> {
    let context = |what: String| format!("--jwt-jwks-file {}: {what}", path.display());
    let text = std::fs::read_to_string(path).map_err(|error| context(error.to_string()))?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|error| context(format!("not a JWKS: {error}")))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        // The key's type decides its algorithm; a declared `alg` must agree.
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => Algorithm::ES256,
            _ => continue,
        };
        let declared_fits = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        if !declared_fits {
            continue;
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|error| context(format!("bad key: {error}")))?;
        keys.push(VerifyingKey { algorithm, key_id: jwk.common.key_id.clone(), key });
    }
    if keys.is_empty() {
        return Err(context("no RS256 or ES256 (P-256) signing key in the set".into()));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_read_before_any_key_is_chosen() {
        // {"alg":"none","typ":"JWT"} . {"sub":"x"} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(raw_header(none).map(|header| header.alg), Some("none".to_string()));
        assert!(raw_header("not-a-token").is_none());
        assert!(raw_header("%%%.x.y").is_none());
        assert_eq!(checked_subject("alice@example.com".into()), Ok("alice@example.com".into()));
        assert_eq!(checked_subject("a\nb".into()), Err(TokenRefusal::BadSubject));
        assert_eq!(checked_subject(String::new()), Err(TokenRefusal::BadSubject));
        assert_eq!(checked_subject("x".repeat(SUBJECT_BYTES_MAX + 1)), Err(TokenRefusal::BadSubject));
    }
}
