use model::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Rejected { code, .. } => *code,
            Self::Database(error) => database_error_code(error),
            Self::Migration(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

/// A database that cannot be reached is an outage the caller may wait out; a row that does not
/// decode, a missing column or a constraint we did not expect is a bug, and reads as one.
fn database_error_code(error: &sqlx::Error) -> ErrorCode {
    match error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::RowNotFound
        | sqlx::Error::Protocol(_)
        | sqlx::Error::InvalidArgument(_) => ErrorCode::Internal,
        sqlx::Error::Database(db) if !is_transient(db.as_ref()) => ErrorCode::Internal,
        _ => ErrorCode::Unavailable,
    }
}

/// Whether a database's own refusal means "try again". Postgres: the SQLSTATE classes of
/// connection exceptions (08), insufficient resources (53), operator intervention such as a
/// shutdown (57) and transaction rollbacks (40: serialization failures, deadlocks). SQLite: the
/// primary result codes busy (5), locked (6), I/O error (10), full (13) and cannot open (14).
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return true;
    };
    if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return is_transient_sqlstate(&code);
    }
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14))
}

fn is_transient_sqlstate(code: &str) -> bool {
    // 55P03: lock_not_available, a lock timeout.
    code == "55P03"
        || ["08", "53", "57", "40"]
            .iter()
            .any(|class| code.starts_with(class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_bug_is_internal_and_an_outage_is_unavailable() {
        let decode = StoreError::Database(sqlx::Error::ColumnNotFound("state".into()));
        assert_eq!(decode.code(), ErrorCode::Internal);
        let closed = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(closed.code(), ErrorCode::Unavailable);
        let io = StoreError::Database(sqlx::Error::Io(std::io::Error::other("reset")));
        assert_eq!(io.code(), ErrorCode::Unavailable);
    }

    #[test]
    fn transient_sqlstates_are_retryable() {
        assert!(is_transient_sqlstate("08006"));
        assert!(is_transient_sqlstate("57P01"));
        assert!(is_transient_sqlstate("40001"));
        assert!(!is_transient_sqlstate("23505"));
        assert!(!is_transient_sqlstate("42703"));
    }
}
