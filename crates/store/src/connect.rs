//! Choosing the database backend from configuration.

use std::sync::Arc;

use crate::{PostgresStore, SqliteStore, Store, StoreError};

/// The SQLite file of the embedded default, in the working directory.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://workflow-engine.db";

/// The store for `database_url`: `postgres://` or `postgresql://` for Postgres, `sqlite:` for
/// SQLite, none for the SQLite file `workflow-engine.db`. Connects; does not migrate.
pub async fn connect_store(
    database_url: Option<&str>,
    max_connections: u32,
) -> Result<Arc<dyn Store>, StoreError> {
    let url = database_url.unwrap_or(DEFAULT_SQLITE_URL);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        ));
    }
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::connect(url, max_connections).await?));
    }
    Err(StoreError::Database(sqlx::Error::Configuration(
        "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
    )))
}
