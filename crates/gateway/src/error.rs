use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{ErrorCode, FieldError};
use serde::Serialize;
use tonic_types::StatusExt;
use utoipa::ToSchema;

/// What can stop the gateway from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no scheduler url configured")]
    NoSchedulerUrl,
    #[error("invalid scheduler url {url}: {source}")]
    SchedulerUrl {
        url: String,
        #[source]
        source: proto::EndpointError,
    },
    #[error("JWT_SECRET: {0}")]
    Tokens(identity::IdentityError),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Seconds a client should wait before retrying when a dependency is down.
pub(crate) const RETRY_AFTER_SECONDS: u32 = 5;

/// An RFC 9457 problem, the body of every error answer (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// A URI naming the kind of problem (`urn:chorus:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field-level problems, each located by a JSON pointer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProblemField {
    pub path: String,
    pub message: String,
}

/// An error answer. Every rejection, gateway-side or from the scheduler, becomes one of these,
/// so clients only ever see problem documents.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// `Retry-After` seconds of a 429.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.as_str(),
            title: code.title(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 429: the caller's tenant spent its request budget; retry after `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        let mut error = Self::new(
            ErrorCode::RateLimited,
            "too many requests for this tenant, retry later",
        );
        error.retry_after = Some(seconds);
        error
    }

    /// 413 for a part of the body over its own limit, located by `path`.
    pub fn too_large(path: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(ErrorCode::PayloadTooLarge, message.clone())
            .with_errors(vec![FieldError::new(path, message)])
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(ErrorCode::Invalid, message.clone())
            .with_errors(vec![FieldError::new(path, message)])
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, detail)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            title: "Method Not Allowed",
            detail: "method not allowed on this resource".into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// Maps a scheduler answer: the code named by its `google.rpc.ErrorInfo` reason (or, from a
    /// peer that sends none, the status code through the shared [`ErrorCode`] table), the
    /// field violations of a `google.rpc.BadRequest` detail into `errors` as they are (the
    /// scheduler already sends full JSON pointers).
    pub fn from_status(status: &tonic::Status) -> Self {
        let code = status
            .get_details_error_info()
            .and_then(|info| ErrorCode::from_reason(&info.reason))
            .unwrap_or_else(|| ErrorCode::from_grpc_code(status.code() as i32));
        match code {
            ErrorCode::Internal => {
                tracing::error!(grpc.code = ?status.code(), grpc.message = status.message(), "scheduler call failed");
                return Self::internal();
            }
            ErrorCode::Unavailable => {
                tracing::warn!(grpc.code = ?status.code(), grpc.message = status.message(), "scheduler unavailable");
                return Self::unavailable("the scheduler is unavailable, retry later");
            }
            _ => {}
        }
        let errors = status
            .get_details_bad_request()
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| FieldError::new(v.field, v.description))
                    .collect()
            })
            .unwrap_or_default();
        Self::new(code, status.message()).with_errors(errors)
    }

    fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:chorus:problem:{}", self.code),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self
                .errors
                .iter()
                .map(|e| ProblemField {
                    path: e.path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(&status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = self.retry_after.unwrap_or(u64::from(RETRY_AFTER_SECONDS));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    /// What the scheduler sends for `code` (see `scheduler::error`): the gRPC status code of
    /// the shared table and the code itself as the ErrorInfo reason.
    fn scheduler_status(code: ErrorCode) -> tonic::Status {
        let details = ErrorDetails::with_error_info(
            code.as_str(),
            "chorus.workflow",
            std::collections::HashMap::new(),
        );
        tonic::Status::with_error_details(
            tonic::Code::from_i32(code.grpc_code()),
            "message",
            details,
        )
    }

    #[test]
    fn every_code_comes_back_with_its_own_http_status() {
        for code in ErrorCode::ALL {
            let error = ApiError::from_status(&scheduler_status(code));
            assert_eq!(error.status().as_u16(), code.http_status(), "{code:?}");
        }
    }

    #[test]
    fn a_status_without_error_info_falls_back_to_the_code_table() {
        let error = ApiError::from_status(&tonic::Status::not_found("gone"));
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        let error = ApiError::from_status(&tonic::Status::unavailable("down"));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
