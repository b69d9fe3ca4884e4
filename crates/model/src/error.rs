use serde::{Deserialize, Serialize};

/// The one error vocabulary of the API. Every crate's error maps onto a code, and the code
/// decides both the HTTP status (REST) and the gRPC status code, so the two APIs never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Unreadable request (bad JSON, malformed id).
    BadRequest,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    /// The request conflicts with the current state (a lifecycle transition, a duplicate name).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Readable but invalid content (validation errors).
    Invalid,
    RateLimited,
    /// A dependency (database, Redis, scheduler) is down; the caller may retry.
    Unavailable,
    /// A bug.
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Invalid => 422,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The numeric gRPC status code (`tonic::Code` as i32), kept numeric so this crate stays
    /// free of tonic.
    pub fn grpc_code(self) -> i32 {
        match self {
            Self::BadRequest | Self::Invalid => 3, // INVALID_ARGUMENT
            Self::NotFound => 5,                   // NOT_FOUND
            Self::Conflict => 9,                   // FAILED_PRECONDITION
            Self::PermissionDenied => 7,           // PERMISSION_DENIED
            Self::PayloadTooLarge | Self::RateLimited => 8, // RESOURCE_EXHAUSTED
            Self::UnsupportedMediaType => 3,       // INVALID_ARGUMENT
            Self::Internal => 13,                  // INTERNAL
            Self::Unavailable => 14,               // UNAVAILABLE
            Self::Unauthenticated => 16,           // UNAUTHENTICATED
        }
    }

    /// The code a gRPC status maps back to; the inverse of [`ErrorCode::grpc_code`] where the
    /// mapping is one to one.
    pub fn from_grpc_code(code: i32) -> Self {
        match code {
            3 => Self::Invalid,
            5 => Self::NotFound,
            6 | 9 | 10 => Self::Conflict,
            7 => Self::PermissionDenied,
            8 => Self::RateLimited,
            14 | 4 => Self::Unavailable,
            16 => Self::Unauthenticated,
            _ => Self::Internal,
        }
    }

    /// Every code, for round-trip tests and documentation.
    pub const ALL: [Self; 11] = [
        Self::BadRequest,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Invalid,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code named by [`ErrorCode::as_str`]; how a code crosses gRPC intact (the scheduler
    /// sends it as the `reason` of a `google.rpc.ErrorInfo` detail, since several codes share
    /// one gRPC status code).
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == reason)
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::Unauthenticated => "Unauthorized",
            Self::PermissionDenied => "Forbidden",
            Self::NotFound => "Not Found",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Payload Too Large",
            Self::UnsupportedMediaType => "Unsupported Media Type",
            Self::Invalid => "Unprocessable Content",
            Self::RateLimited => "Too Many Requests",
            Self::Unavailable => "Service Unavailable",
            Self::Internal => "Internal Server Error",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Invalid => "invalid",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// One problem with a request or a definition, located by a JSON pointer
/// (`/definition/steps/2/next_steps/0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// How a step execution failed (`{type, message, retryable}` in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

impl StepError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            retryable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_back_to_the_same_http_status() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::PermissionDenied,
            ErrorCode::Unavailable,
            ErrorCode::Unauthenticated,
            ErrorCode::Internal,
            ErrorCode::Invalid,
        ] {
            let back = ErrorCode::from_grpc_code(code.grpc_code());
            assert_eq!(back.http_status(), code.http_status(), "{code:?}");
        }
    }
}
