use bus::BusError;
use model::{ErrorCode, FieldError};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("{message}")]
    Invalid {
        message: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("role '{0}' may not do this")]
    PermissionDenied(String),
    #[error("no valid credential")]
    Unauthenticated,
    #[error("the lease token does not match this delivery")]
    WrongLease,
    #[error(transparent)]
    Storage(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot bind the grpc listener: {0}")]
    Bind(std::io::Error),
    #[error("grpc server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("grpc tls: {0}")]
    Tls(String),
    #[error("{0}")]
    Config(String),
}

impl SchedulerError {
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Invalid {
            errors: vec![FieldError::new(path, message.clone())],
            message,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::Invalid,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PermissionDenied(_) | Self::WrongLease => ErrorCode::PermissionDenied,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Storage(error) => error.code(),
            Self::Bus(error) => error.code(),
            Self::Bind(_) | Self::Serve(_) | Self::Tls(_) | Self::Config(_) => ErrorCode::Internal,
        }
    }
}

/// The `google.rpc.ErrorInfo` domain of the codes the scheduler sends.
pub(crate) const ERROR_DOMAIN: &str = "chorus.workflow";

impl From<SchedulerError> for tonic::Status {
    fn from(error: SchedulerError) -> Self {
        use tonic_types::{ErrorDetails, StatusExt};

        let error_code = error.code();
        let code = tonic::Code::from_i32(error_code.grpc_code());
        if code == tonic::Code::Internal || code == tonic::Code::Unavailable {
            tracing::error!(error = %error, "request failed");
        }
        // Several codes share one gRPC status code (413 and 429 are both RESOURCE_EXHAUSTED),
        // so the code itself travels as the ErrorInfo reason and the gateway reads it back.
        let mut details = ErrorDetails::with_error_info(
            error_code.as_str(),
            ERROR_DOMAIN,
            std::collections::HashMap::new(),
        );
        let message = match error {
            SchedulerError::Invalid { message, errors } => {
                let violations = errors
                    .into_iter()
                    .map(|e| tonic_types::FieldViolation::new(e.path, e.message))
                    .collect::<Vec<_>>();
                details.set_bad_request(violations);
                message
            }
            other => other.to_string(),
        };
        tonic::Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    fn carrying(code: ErrorCode) -> SchedulerError {
        match code {
            ErrorCode::Invalid => SchedulerError::invalid("/steps/0", "bad"),
            ErrorCode::BadRequest => SchedulerError::BadRequest("unreadable".into()),
            ErrorCode::NotFound => SchedulerError::NotFound("instance"),
            ErrorCode::Conflict => SchedulerError::Conflict("busy".into()),
            ErrorCode::PermissionDenied => SchedulerError::PermissionDenied("viewer".into()),
            ErrorCode::Unauthenticated => SchedulerError::Unauthenticated,
            other => SchedulerError::Storage(StoreError::Rejected {
                code: other,
                message: other.as_str().into(),
            }),
        }
    }

    #[test]
    fn every_code_travels_as_the_error_info_reason() {
        for code in ErrorCode::ALL {
            let status = tonic::Status::from(carrying(code));
            let info = status
                .get_details_error_info()
                .expect("an error info detail");
            assert_eq!(info.domain, ERROR_DOMAIN);
            assert_eq!(ErrorCode::from_reason(&info.reason), Some(code), "{code:?}");
            assert_eq!(status.code() as i32, code.grpc_code(), "{code:?}");
        }
    }

    #[test]
    fn field_paths_travel_beside_the_code() {
        let status = tonic::Status::from(SchedulerError::invalid("/steps/0/id", "duplicate"));
        let bad = status
            .get_details_bad_request()
            .expect("a bad request detail");
        assert_eq!(bad.field_violations[0].field, "/steps/0/id");
        assert!(status.get_details_error_info().is_some());
    }
}
