//! Tokens: HS256 access tokens (JWT), opaque refresh tokens and API keys.
//!
//! The JWT code is HS256 only, on purpose: the header must say exactly `HS256`, the MAC is
//! checked in constant time (`hmac`'s `verify_slice`) before the claims are parsed, and the
//! expiry is checked against a time the caller passes in. A general JWT crate would bring
//! RSA/EC back ends this API never uses.
//!
//! Refresh tokens (`hr_…`) and API keys (`hk_…`) are 32 random bytes; the database keeps only
//! their SHA-256, which is enough for secrets of that entropy (no slow hash needed).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Role;
use crate::error::Error;

/// Access tokens live 15 minutes.
pub const ACCESS_TTL_MS: i64 = 15 * 60 * 1000;
/// Refresh tokens live 30 days (each use replaces it).
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// Fill `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    OsRng.try_fill_bytes(buf).map_err(Error::Random)
}

/// A new opaque secret: `prefix` + 43 base64url characters (32 bytes).
pub fn new_secret(prefix: &str) -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(format!("{prefix}{}", B64.encode(bytes)))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The HMAC key that signs access tokens. Its `Debug` hides the bytes.
#[derive(Clone)]
pub struct JwtKey(Vec<u8>);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(..)")
    }
}

/// What an access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id within the tenant.
    pub sub: i64,
    /// Tenant id.
    pub tid: String,
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused (all answer 401; the reason is for logs and tests).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

impl JwtKey {
    /// A key from raw bytes (at least 32).
    pub fn new(bytes: Vec<u8>) -> Result<JwtKey, Error> {
        if bytes.len() < 32 {
            return Err(Error::SecretTooShort);
        }
        Ok(JwtKey(bytes))
    }

    /// `HOTLINE_JWT_SECRET` when set; else `<data_dir>/jwt.key`, created with 32 random bytes
    /// (mode 0600) on first start. The secret is never logged.
    pub fn from_env_or_file(data_dir: &Path) -> Result<JwtKey, Error> {
        if let Ok(secret) = std::env::var("HOTLINE_JWT_SECRET") {
            return JwtKey::new(secret.into_bytes());
        }
        let path = data_dir.join("jwt.key");
        let io = |source| Error::SecretFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => JwtKey::new(text.trim().as_bytes().to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                fill_random(&mut bytes)?;
                let text = hex(&bytes);
                write_private(&path, text.as_bytes()).map_err(io)?;
                JwtKey::new(text.into_bytes())
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }

    /// Sign `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of integers and strings cannot fail.
        let payload = serde_json::to_vec(claims).expect("claims serialize");
        let mut token = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
        let mut mac = self.mac();
        mac.update(token.as_bytes());
        let sig = mac.finalize().into_bytes();
        token.push('.');
        token.push_str(&B64.encode(sig));
        token
    }

    /// Check `token`'s algorithm, signature and expiry at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = B64.decode(header).map_err(|_| TokenError::Malformed)?;
        #[derive(Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header = serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm);
        }
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        let signed_len = token.len() - sig_len(token);
        let mut mac = self.mac();
        mac.update(&token.as_bytes()[..signed_len]);
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let payload = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if now_ms.div_euclid(1000) >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Length of the signature part plus its leading dot.
fn sig_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |i| token.len() - i)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> JwtKey {
        JwtKey::new(vec![7; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sub: 1,
            tid: "acme".into(),
            role: Role::Agent,
            iat: 1000,
            exp: 1900,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let t = key().sign(&claims());
        assert_eq!(key().verify(&t, 1_000_000), Ok(claims()));
        assert_eq!(key().verify(&t, 1_900_000), Err(TokenError::Expired));
    }

    #[test]
    fn refuses_other_keys_algorithms_and_garbage() {
        let t = key().sign(&claims());
        let other = JwtKey::new(vec![8; 32]).unwrap();
        assert_eq!(other.verify(&t, 0), Err(TokenError::Signature));
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(key().verify(&none, 0), Err(TokenError::Algorithm));
        assert_eq!(key().verify("a.b", 0), Err(TokenError::Malformed));
        assert_eq!(key().verify("", 0), Err(TokenError::Malformed));
        assert_eq!(key().verify("...", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn secrets_are_prefixed_and_distinct() {
        let a = new_secret("hk_").unwrap();
        let b = new_secret("hk_").unwrap();
        assert!(a.starts_with("hk_") && a.len() == 46);
        assert_ne!(a, b);
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
