use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// Clock skew tolerated on `exp` (and `nbf` when present).
const LEEWAY_SECONDS: u64 = 30;

/// What a caller may do. A viewer only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// The claims of a gateway token (HS256). `exp` and `sub` are required; `tenant` defaults to
/// `default` and `role` to `operator`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Checks tokens against the shared secret.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: &str) -> Self {
        // Validation::new pins the accepted algorithms to exactly HS256: a token naming any
        // other (or `none`) is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    fn verify(&self, token: &str, request_id: Option<String>) -> Result<Caller, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                ApiError::unauthenticated("invalid or expired token")
            })?;
        let claims = data.claims;
        let role = match claims.role.as_deref() {
            None => Role::Operator,
            Some(r) => {
                Role::parse(r).ok_or_else(|| ApiError::unauthenticated("unknown role in token"))?
            }
        };
        let tenant = match claims.tenant {
            Some(t) if !t.is_empty() => t,
            _ => "default".to_string(),
        };
        if !tenant.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::unauthenticated("malformed tenant in token"));
        }
        Ok(Caller {
            subject: claims.sub,
            tenant,
            role,
            request_id,
        })
    }
}

/// The authenticated caller of an `/api/v1` route. Extracting it enforces authentication and
/// the viewer's read-only rule.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub tenant: String,
    pub role: Role,
    /// The request's `X-Request-Id`, forwarded to the scheduler.
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = bearer(parts, state)?;
        let reads = parts.method == Method::GET || parts.method == Method::HEAD;
        if caller.role == Role::Viewer && !reads {
            return Err(ApiError::forbidden("a viewer may only read"));
        }
        Ok(caller)
    }
}

/// The caller named by the bearer token, of any role: the viewer's read-only rule is the
/// extractor's, and a stream ticket (`routes::tickets`) is open to viewers too.
pub fn bearer(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("missing bearer token"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("malformed authorization header"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(ApiError::unauthenticated("expected a bearer token")),
    };
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let caller = state.auth.verify(token, request_id)?;
    let span = tracing::Span::current();
    span.record("tenant", caller.tenant.as_str());
    span.record("subject", caller.subject.as_str());
    Ok(caller)
}

/// Signs `claims` with `secret` (HS256): the token the binary prints for local use when it
/// makes up a development secret, and what any client must send.
pub fn issue_token(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(role: Option<&str>, tenant: Option<&str>) -> Claims {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        Claims {
            sub: "dev".into(),
            exp,
            tenant: tenant.map(str::to_string),
            role: role.map(str::to_string),
        }
    }

    #[test]
    fn an_issued_token_authenticates_with_defaults() {
        let auth = Authenticator::new("s3cret");
        let token = issue_token("s3cret", &claims(None, None)).unwrap();
        let caller = auth.verify(&token, None).unwrap();
        assert_eq!(caller.subject, "dev");
        assert_eq!(caller.tenant, "default");
        assert_eq!(caller.role, Role::Operator);
        assert!(auth.verify(&token[..token.len() - 2], None).is_err());
    }

    #[test]
    fn a_tenant_that_cannot_travel_as_metadata_is_refused() {
        let auth = Authenticator::new("s3cret");
        let token = issue_token("s3cret", &claims(Some("admin"), Some("acme corp"))).unwrap();
        assert_eq!(
            auth.verify(&token, None).unwrap_err().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
    }
}
