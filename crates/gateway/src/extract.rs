//! Request extractors whose rejections are problem documents: axum's own rejections answer
//! plain text, which must never reach a client.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON request body, parsed strictly: the content type must be JSON (415), the body must fit
/// the limit (413), be readable JSON (400), be an object and match the expected shape (422,
/// with the path of the offending field). Keeps the raw bytes for idempotency fingerprints.
#[derive(Debug)]
pub(crate) struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                model::ErrorCode::UnsupportedMediaType,
                "expected content-type application/json",
            ));
        }
        let raw = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(model::ErrorCode::PayloadTooLarge, "request body too large")
            } else {
                ApiError::bad_request("cannot read the request body")
            }
        })?;
        let value = parse_json(&raw)?;
        // serde reads a struct from an array too (`[null, null]` fills the fields in order);
        // every body of this API is an object, and the spec says so.
        if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid("", "the body must be a json object"));
        }
        Ok(Self { value, raw })
    }
}

fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON text into `T`: syntax errors are unreadable (400), shape errors invalid (422).
pub(crate) fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(err) => {
            let pointer = json_pointer(err.path());
            return Err(json_error(pointer, &err.into_inner()));
        }
    };
    // Trailing bytes after the document make it unreadable, not merely invalid.
    de.end().map_err(|e| json_error(String::new(), &e))?;
    Ok(value)
}

fn json_error(pointer: String, error: &serde_json::Error) -> ApiError {
    let message = strip_position(&error.to_string());
    match error.classify() {
        serde_json::error::Category::Data => {
            // serde_path_to_error usually ends the path with the unknown key already; make
            // sure it does, so the pointer names the offending field.
            let path = match unknown_field(&message).map(escape_token) {
                Some(field) if !pointer.ends_with(&format!("/{field}")) => {
                    format!("{pointer}/{field}")
                }
                _ => pointer,
            };
            ApiError::invalid(path, message)
        }
        _ => ApiError::bad_request(format!("request body is not valid json: {message}")),
    }
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(&escape_token(key)),
            Segment::Enum { variant } => out.push_str(&escape_token(variant)),
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// serde's message for a field outside a `deny_unknown_fields` struct: "unknown field `x`, ...".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// serde_json appends " at line 1 column 12"; the pointer says where, and clients need no
/// offsets into a document they sent.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A UUID path parameter. A malformed one is a bad request (400), like any unreadable input;
/// a well-formed unknown one is the scheduler's 404.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("malformed path"))?;
        parse_uuid(&raw, "id").map(Self).map_err(|_| {
            ApiError::bad_request(format!("'{raw}' is not a valid id (expected a uuid)"))
        })
    }
}

pub(crate) fn parse_uuid(raw: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(format!(
            "{name}: '{raw}' is not a valid id (expected a uuid)"
        ))
    })
}

/// Query parameters; a query string that does not parse at all is a bad request (400).
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| {
                ApiError::bad_request(format!("malformed query string: {}", e.body_text()))
            })
    }
}

/// Page size: default 50, 1 to 500; anything else is invalid content (422).
pub(crate) const DEFAULT_LIMIT: u32 = 50;
pub(crate) const MAX_LIMIT: u32 = 500;

pub(crate) fn page_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            "/limit",
            format!("limit must be an integer from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// An optional UUID query parameter (400 when malformed, like a path id).
pub(crate) fn optional_uuid(raw: Option<&str>, name: &str) -> Result<Option<Uuid>, ApiError> {
    raw.map(|r| parse_uuid(r, name)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn shape_errors_point_at_the_field() {
        let err = parse_json::<Outer>(br#"{"items": [{"n": 1}, {"n": "x"}]}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.errors()[0].path, "/items/1/n");
        let err = parse_json::<Outer>(br#"{"items": [{"n": 1, "a/b": 2}]}"#).unwrap_err();
        assert_eq!(err.errors()[0].path, "/items/0/a~1b");
    }

    #[test]
    fn syntax_errors_and_trailing_bytes_are_unreadable() {
        for body in [&b"{"[..], b"{\"items\": []} x", b""] {
            let err = parse_json::<Outer>(body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(page_limit(Some("500")).unwrap(), 500);
        assert!(page_limit(Some("501")).is_err());
        assert!(page_limit(Some("0")).is_err());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let check = |v: &'static str| is_json(Some(&header::HeaderValue::from_static(v)));
        assert!(check("application/json"));
        assert!(check("application/json; charset=utf-8"));
        assert!(check("application/merge-patch+json"));
        assert!(!check("text/plain"));
        assert!(!is_json(None));
    }
}
