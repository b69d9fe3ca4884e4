//! Bearer tokens for local use: the development secret and `workflow-engine token`.

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    tenant: &'a str,
    role: &'a str,
    iat: i64,
    exp: i64,
}

/// Who a token speaks for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub tenant: String,
    pub role: String,
    pub ttl_hours: i64,
}

/// An HS256 token signed with `secret`.
pub fn mint(secret: &str, request: &TokenRequest) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: &request.subject,
        tenant: &request.tenant,
        role: &request.role,
        iat: now,
        exp: now + request.ttl_hours * 3600,
    };
    let token = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok(token)
}

/// A random secret for the development mode, never written anywhere.
pub fn development_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
