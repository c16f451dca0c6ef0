//! Login tokens: JWT, HS256 only, claims `sub` (user id), `exp`, `iat`, `jti` (session id).
//!
//! Verification accepts exactly HS256 with our secret, no leeway on `exp`; `alg: none`,
//! other algorithms, bad signatures and missing claims all fail the same way. Whether the
//! session behind `jti` is still live is [`super::session`]'s business.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The claims Sala puts in a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    /// The session id; logout revokes it.
    pub jti: String,
}

/// Why a token was refused. Callers answer 401 whatever the reason; the reason is for logs.
#[derive(Debug, thiserror::Error)]
#[error("token rejected: {0}")]
pub struct TokenError(#[from] jsonwebtoken::errors::Error);

/// Signs and checks tokens with one secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// A token for `session_id` of `user_id`, valid from `now` for the configured lifetime.
    ///
    /// # Errors
    /// Only if signing fails, which HS256 with a byte secret does not.
    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            jti: session_id.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        // The token's `exp` has second precision; report the same instant.
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at);
        Ok((token, expires_at))
    }

    /// Checks signature, algorithm and expiry, and returns the claims.
    ///
    /// # Errors
    /// Any defect of the token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
    }
}

/// A fresh random session id: 128 bits, base64url.
pub fn new_session_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SecretString::from("k".repeat(32)), Duration::hours(1))
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = keys();
        let (token, _) = keys.issue(7, "s1", Utc::now()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.jti.as_str()), ("7", "s1"));
    }

    #[test]
    fn expired_and_foreign_tokens_fail() {
        let keys = keys();
        let (old, _) = keys
            .issue(7, "s1", Utc::now() - Duration::hours(2))
            .unwrap();
        assert!(keys.verify(&old).is_err());
        let other = TokenKeys::new(&SecretString::from("o".repeat(32)), Duration::hours(1));
        let (foreign, _) = other.issue(7, "s1", Utc::now()).unwrap();
        assert!(keys.verify(&foreign).is_err());
    }
}
