//! Test fixtures shared by every crate's tests: a fresh Postgres database or SQLite file per
//! test, the Redis URL and a key prefix of its own. Postgres and Redis are expected to run
//! locally (or at `TEST_DATABASE_ADMIN_URL` / `TEST_REDIS_URL`); when they do not, the tests
//! that need them fail with a message saying so, they are never skipped. [`proxy`] takes either
//! away from the services under test and gives it back, for the outage tests.

pub mod proxy;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::{Connection, PgConnection, Row};

/// Every database this crate makes starts with this, followed by its creation time.
const DATABASE_PREFIX: &str = "chorus_test_";
const SQLITE_PREFIX: &str = "chorus-test-";
/// Test databases and files older than this are removed by the next test that makes one:
/// longer than any test run, short enough that they do not pile up.
const KEEP_FOR: Duration = Duration::from_secs(60 * 60);

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Creates an empty database on the test server and returns its URL. Drops test databases
/// older than an hour on the way.
pub async fn fresh_postgres_url() -> anyhow::Result<String> {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin).await.with_context(|| {
        format!(
            "postgres is not reachable at {admin}: start it or set TEST_DATABASE_ADMIN_URL \
             (these tests need a real database)"
        )
    })?;
    drop_stale_databases(&mut conn).await?;
    let name = format!(
        "{DATABASE_PREFIX}{}_{}",
        unix_now(),
        uuid::Uuid::now_v7().simple()
    );
    // An identifier cannot be a bound parameter; `name` is made of digits, hex and `_` only.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating test database {name}"))?;
    conn.close().await.ok();
    Ok(database_url(&admin, &name))
}

/// `admin` with its database name replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// The creation time in a test database's name, if it is one of ours.
fn created_at(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(DATABASE_PREFIX)?;
    let (secs, id) = rest.split_once('_')?;
    let ours = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    if !ours {
        return None;
    }
    secs.parse().ok()
}

async fn drop_stale_databases(conn: &mut PgConnection) -> anyhow::Result<()> {
    let rows = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{DATABASE_PREFIX}%"))
        .fetch_all(&mut *conn)
        .await
        .context("listing test databases")?;
    let cutoff = unix_now().saturating_sub(KEEP_FOR.as_secs());
    for row in rows {
        let name: String = row.try_get("datname")?;
        let Some(created) = created_at(&name) else {
            continue;
        };
        if created >= cutoff {
            continue;
        }
        // Another test run may be dropping the same one: its failure is not ours.
        let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut *conn)
        .await;
        if let Err(error) = dropped {
            eprintln!("testkit: could not drop stale test database {name}: {error}");
        }
    }
    Ok(())
}

/// A new SQLite file in the temporary directory (created on first connect). Removes test files
/// older than an hour on the way.
pub fn fresh_sqlite_url() -> String {
    let dir = std::env::temp_dir();
    remove_stale_sqlite_files(&dir);
    let path = dir.join(format!(
        "{SQLITE_PREFIX}{}-{}.db",
        unix_now(),
        uuid::Uuid::now_v7().simple()
    ));
    format!("sqlite://{}?mode=rwc", path.display())
}

fn remove_stale_sqlite_files(dir: &PathBuf) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let cutoff = unix_now().saturating_sub(KEEP_FOR.as_secs());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SQLITE_PREFIX)) else {
            continue;
        };
        let created = rest
            .split_once('-')
            .and_then(|(secs, _)| secs.parse::<u64>().ok());
        if created.is_some_and(|created| created < cutoff) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The Redis server the tests use.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

const REDIS_PREFIX: &str = "chorus-test-";

/// A key prefix no other test uses. Keys under it are removed an hour later by
/// [`fresh_redis_prefix`].
pub fn unique_prefix() -> String {
    format!(
        "{REDIS_PREFIX}{}-{}",
        unix_now(),
        uuid::Uuid::now_v7().simple()
    )
}

/// [`unique_prefix`], after checking that Redis answers and removing the keys of test prefixes
/// older than an hour.
pub async fn fresh_redis_prefix() -> anyhow::Result<String> {
    let url = redis_url();
    let unreachable = || {
        format!(
            "redis is not reachable at {url}: start it or set TEST_REDIS_URL \
             (these tests need a real server)"
        )
    };
    let client = redis::Client::open(url.as_str()).with_context(unreachable)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(unreachable)?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{REDIS_PREFIX}*"))
        .query_async(&mut conn)
        .await
        .context("listing test keys")?;
    let cutoff = unix_now().saturating_sub(KEEP_FOR.as_secs());
    let stale: Vec<&String> = keys
        .iter()
        .filter(|key| {
            key.strip_prefix(REDIS_PREFIX)
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(secs, _)| secs.parse::<u64>().ok())
                .is_some_and(|created| created < cutoff)
        })
        .collect();
    if !stale.is_empty() {
        redis::cmd("DEL")
            .arg(&stale)
            .query_async::<()>(&mut conn)
            .await
            .context("removing stale test keys")?;
    }
    Ok(unique_prefix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }

    #[test]
    fn only_our_databases_have_a_creation_time() {
        let ours = format!("{DATABASE_PREFIX}1700000000_{}", uuid::Uuid::nil().simple());
        assert_eq!(created_at(&ours), Some(1_700_000_000));
        assert_eq!(created_at("chorus_test_1700000000_prod"), None);
        assert_eq!(created_at("postgres"), None);
    }

    #[tokio::test]
    async fn fresh_databases_are_distinct_and_usable() {
        let first = fresh_postgres_url().await.unwrap();
        let second = fresh_postgres_url().await.unwrap();
        assert_ne!(first, second);
        let mut conn = PgConnection::connect(&first).await.unwrap();
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    #[tokio::test]
    async fn stale_redis_keys_are_removed() {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let stale = format!(
            "{REDIS_PREFIX}{}-{}:events",
            unix_now() - 2 * KEEP_FOR.as_secs(),
            uuid::Uuid::now_v7().simple()
        );
        let fresh = format!("{}:events", unique_prefix());
        for key in [&stale, &fresh] {
            redis::cmd("SET")
                .arg(key)
                .arg("1")
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        fresh_redis_prefix().await.unwrap();
        let left: (bool, bool) = redis::pipe()
            .exists(&stale)
            .exists(&fresh)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, (false, true));
        redis::cmd("DEL")
            .arg(&fresh)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn stale_databases_are_dropped() {
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        let stale = format!(
            "{DATABASE_PREFIX}{}_{}",
            unix_now() - 2 * KEEP_FOR.as_secs(),
            uuid::Uuid::now_v7().simple()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{stale}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        fresh_postgres_url().await.unwrap();
        let left: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&stale)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(!left, "stale database {stale} still exists");
    }
}
