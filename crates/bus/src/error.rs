use model::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis cannot be reached or refused a command: an outage the caller may wait out.
    #[error("queue unavailable: {0}")]
    Queue(String),
    /// The caller asked for something the bus will not do (for instance an event id that does
    /// not parse); nothing was read or written.
    #[error("{message}")]
    Rejected { code: ErrorCode, message: String },
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl BusError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Queue(_) => ErrorCode::Unavailable,
            Self::Rejected { code, .. } => *code,
            Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_unavailable_and_a_bad_record_is_internal() {
        assert_eq!(
            BusError::Queue("reset".into()).code(),
            ErrorCode::Unavailable
        );
        assert_eq!(BusError::Corrupt("x".into()).code(), ErrorCode::Internal);
        let refused = BusError::Rejected {
            code: ErrorCode::BadRequest,
            message: "invalid event id".into(),
        };
        assert_eq!(refused.code(), ErrorCode::BadRequest);
    }
}
