use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// The `Idempotency-Key` of a request with the fingerprint of what it asked for (sha256 hex of
/// method, path and raw body), so the scheduler can tell a retry from a different request
/// reusing the key (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

pub fn from_request(
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Option<Idempotency>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "idempotency-key must be 1 to {MAX_KEY_LEN} visible ascii characters"
            ))
        })?;
    Ok(Some(Idempotency {
        key: key.to_string(),
        fingerprint: fingerprint(method, path, body),
    }))
}

pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_method_path_and_body() {
        let a = fingerprint(&Method::POST, "/api/v1/instances", b"{}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint(&Method::POST, "/api/v1/instances", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/api/v1/instances", b"{ }"));
        assert_ne!(a, fingerprint(&Method::PUT, "/api/v1/instances", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/api/v1/other", b"{}"));
    }
}
