//! The database: one [`sqlx::AnyPool`] over SQLite (embedded default) or PostgreSQL.
//!
//! Why `Any` and not an enum of two pools: every query is written once, with `$1` binds that
//! both SQLite and PostgreSQL accept, and the schema keeps to types both know (BIGINT, TEXT),
//! so the driver-neutral pool costs one code path instead of two. Its price is a row
//! conversion per fetch and no compile-time checked queries; if the GET benchmark shows that
//! conversion, the pool type is private to this module and can become an enum without
//! touching the SQL.
//!
//! Migrations are embedded in the binary (`migrations/*.sql`, one set for both databases)
//! and run through sqlx's [`Migrator`] (its `_sqlx_migrations` table, checksums and, on
//! PostgreSQL, its advisory lock), without the `migrate!` macro and its second build of the
//! drivers for the proc-macro host.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

use crate::error::Error;

/// The migrations, in order: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "foundation",
    include_str!("../migrations/0001_foundation.sql"),
)];

/// Which database the pool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and the backend behind it.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Open `url` (`sqlite://…`, `sqlite::memory:` or `postgres://…`). SQLite connections get WAL, foreign keys,
    /// `synchronous=NORMAL` and a 5 s busy timeout; the file is created when missing.
    pub async fn connect(url: &str) -> Result<Db, Error> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let memory = backend == Backend::Sqlite && url.contains(":memory:");
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                // An in-memory database lives in its one connection, which must never close.
                Backend::Sqlite if memory => 1,
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10));
        let options = if memory {
            options.idle_timeout(None).max_lifetime(None)
        } else {
            options
        };
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        Ok(Db { pool, backend })
    }

    /// Open the embedded default: `<data_dir>/hotline.db`.
    pub async fn sqlite_file(path: &Path) -> Result<Db, Error> {
        Db::connect(&sqlite_url(path)).await
    }

    /// `DATABASE_URL` when set, else `<data_dir>/hotline.db`.
    pub async fn from_env(data_dir: &Path) -> Result<Db, Error> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Db::connect(url.trim()).await,
            _ => Db::sqlite_file(&data_dir.join("hotline.db")).await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Apply the pending migrations.
    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = Migrator::new(Embedded).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests and tools that inspect the database directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://PATH?mode=rwc`, with the characters the URL parser would take for syntax
/// percent-encoded.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// The migrations compiled into the crate.
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> futures_core_box::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>>
    {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The boxed future type `MigrationSource` returns, spelled without another dependency.
mod futures_core_box {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_url_escapes_url_syntax() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/a?b#c%d/hotline.db")),
            "sqlite:///tmp/a%3Fb%23c%25d/hotline.db?mode=rwc"
        );
    }
}
