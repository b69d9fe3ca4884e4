use model::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{0}")]
    Conflict(String),
    /// A decision refused the change (for instance a lifecycle transition that is not allowed);
    /// nothing was written for that instance.
    #[error("{message}")]
    Rejected { code: ErrorCode, message: String },
    #[error("database unavailable: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("queue unavailable: {0}")]
    Queue(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StorageError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Rejected { code, .. } => *code,
            Self::Database(_) | Self::Queue(_) => ErrorCode::Unavailable,
            Self::Migration(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}
