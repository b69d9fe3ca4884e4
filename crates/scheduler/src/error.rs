use model::{ErrorCode, FieldError};
use storage::StorageError;

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
    Storage(#[from] StorageError),
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
            Self::Bind(_) | Self::Serve(_) | Self::Tls(_) | Self::Config(_) => ErrorCode::Internal,
        }
    }
}

impl From<SchedulerError> for tonic::Status {
    fn from(error: SchedulerError) -> Self {
        use tonic_types::{ErrorDetails, StatusExt};

        let code = tonic::Code::from_i32(error.code().grpc_code());
        if code == tonic::Code::Internal || code == tonic::Code::Unavailable {
            tracing::error!(error = %error, "request failed");
        }
        match error {
            SchedulerError::Invalid { message, errors } => {
                let violations = errors
                    .into_iter()
                    .map(|e| tonic_types::FieldViolation::new(e.path, e.message))
                    .collect::<Vec<_>>();
                let details = ErrorDetails::with_bad_request(violations);
                tonic::Status::with_error_details(code, message, details)
            }
            other => tonic::Status::new(code, other.to_string()),
        }
    }
}
