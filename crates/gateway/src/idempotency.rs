use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub(crate) const HEADER_NAME: &str = "Idempotency-Key";
const HEADER: &str = "idempotency-key";
pub(crate) const MAX_KEY_LEN: usize = 255;
/// What the spec says of a key; [`from_request`] checks the same.
pub(crate) const KEY_PATTERN: &str = "^[!-~]+$";

/// The `Idempotency-Key` of a request with the fingerprint of what it asked for (sha256 hex of
/// method, path and raw body), so the scheduler can tell a retry from a different request
/// reusing the key (409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

pub(crate) fn from_request(
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
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
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

pub(crate) fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
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
    use axum::http::HeaderValue;

    fn key(value: &'static str) -> Result<Option<Idempotency>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static(value));
        from_request(&headers, &Method::POST, "/api/v1/instances", b"{}")
    }

    #[test]
    fn a_key_is_1_to_255_visible_ascii_characters() {
        assert_eq!(key("k-1_!~").unwrap().unwrap().key, "k-1_!~");
        assert!(key(&*"x".repeat(255).leak()).is_ok());
        for bad in ["", "a b", "tab\there", &*"x".repeat(256).leak()] {
            let err = key(bad).unwrap_err();
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert!(from_request(&headers, &Method::POST, "/", b"").is_err());
        assert!(
            from_request(&HeaderMap::new(), &Method::POST, "/", b"")
                .unwrap()
                .is_none()
        );
    }

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
