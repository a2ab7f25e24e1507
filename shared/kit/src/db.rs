//! One pool type for both databases the workspace supports.
//!
//! `SQLite` is the embedded default (a file under `./data/`, created on first run) so one command
//! runs anywhere; `DATABASE_URL=postgres://…` switches to `PostgreSQL`. Both go through sqlx's
//! `Any` driver with runtime-checked queries, so each service has one query set and one
//! migration set. Portable SQL rules the services follow: integers are `BIGINT` (decoded as
//! `i64` on both), timestamps are Unix milliseconds in `BIGINT`, no `BOOLEAN` (a nullable
//! timestamp says more anyway), binary data as base64 `TEXT`, placeholders `$1, $2…`.

use std::{path::Path, time::Duration};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

/// The pool handed to every service; cheap to clone.
pub type Pool = sqlx::AnyPool;

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded `SQLite` file.
    Sqlite,
    /// `PostgreSQL` server.
    Postgres,
}

impl Backend {
    /// The backend a `DATABASE_URL` selects.
    #[must_use]
    pub fn of(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") { Self::Postgres } else { Self::Sqlite }
    }
}

/// Opens a pool, creating the `SQLite` file and its directory when needed.
///
/// With `SQLite` the pool enables WAL and a busy timeout so several replicas (processes) can
/// share one file; with `PostgreSQL`, `max_connections` should be sized per replica so that
/// replicas × pool stays under the server's `max_connections`.
///
/// # Errors
/// A URL the driver does not understand, a directory that cannot be created, or a database
/// that refuses the first connection.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Pool> {
    sqlx::any::install_default_drivers();
    let url = match Backend::of(url) {
        Backend::Sqlite => prepare_sqlite_url(url)?,
        Backend::Postgres => url.to_owned(),
    };
    let options: AnyConnectOptions = url.parse().with_context(|| "DATABASE_URL is not a valid database URL")?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .context("cannot connect to the database")?;
    Ok(pool)
}

/// The directory of a `SQLite` file URL, created if missing, and `mode=rwc` so the file is too.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:"
        && !path.is_empty()
        && let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the database directory {}", parent.display()))?;
    }
    let mut url = format!("sqlite://{path}");
    if query.contains("mode=") {
        url.push('?');
        url.push_str(query);
    } else if query.is_empty() {
        url.push_str("?mode=rwc");
    } else {
        url.push('?');
        url.push_str(query);
        url.push_str("&mode=rwc");
    }
    Ok(url)
}

/// The path of the `SQLite` file a URL names (`None` for `PostgreSQL` or in-memory databases).
#[must_use]
pub fn sqlite_path(url: &str) -> Option<&Path> {
    if Backend::of(url) != Backend::Sqlite {
        return None;
    }
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Connects (as [`connect`]) and brings the schema up to date with `migrations` (a service's
/// `sqlx::migrate!()`): what every service does first at start, and the CLI before it
/// touches the database.
///
/// # Errors
/// What [`connect`] refuses, or a migration that fails (named in the error).
pub async fn open(url: &str, max_connections: u32, migrations: &sqlx::migrate::Migrator) -> anyhow::Result<Pool> {
    let pool = connect(url, max_connections).await.context("failed to open the database")?;
    migrations.run(&pool).await.context("failed to run the database migrations")?;
    Ok(pool)
}

/// `true` when a trivial query succeeds within a second (readiness probes).
pub async fn is_reachable(pool: &Pool) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(1), sqlx::query("SELECT 1").execute(pool)).await, Ok(Ok(_)))
}

/// Current time as Unix milliseconds, the workspace's stored timestamp format.
#[must_use]
pub fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// `true` when a database error means the database cannot be reached right now.
///
/// That is no connection in time, a connection refused or cut, or a closed pool, as opposed
/// to a query that failed. Services answer these with 503 and `Retry-After`, not 500.
#[must_use]
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed
    )
}

/// `true` when a database error is a unique-constraint violation (both backends), so handlers
/// can answer 409 instead of 500.
#[must_use]
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_gain_create_mode() {
        assert_eq!(prepare_sqlite_url("sqlite::memory:").unwrap(), "sqlite://:memory:?mode=rwc");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        let prepared = prepare_sqlite_url(&url).unwrap();
        assert!(prepared.ends_with("/sub/x.db?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
    }

    #[tokio::test]
    async fn connects_to_a_new_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/test.db", dir.path().display());
        let pool = connect(&url, 2).await.unwrap();
        assert!(is_reachable(&pool).await);
        assert!(sqlite_path(&url).is_some());
    }
}
