//! The databases a stack's replicas share: one per service.
//!
//! SQLite by default (one file per service in the stack's directory; the replicas of a service
//! open the same file). When `E2E_DATABASE_URL` (or, failing that, `TEST_DATABASE_URL`) names a
//! PostgreSQL server, every stack creates three fresh databases on it, named
//! `e2e_<run id>_<service>`, and drops those (and only those) when it stops.
//!
//! A stack can route its PostgreSQL traffic through a [`proxy::DbProxy`] so a scenario can take
//! the database away from the services and give it back without touching the server, which
//! other tests on the machine may be using.

pub mod proxy;

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, bail};
use sqlx::{Connection, postgres::PgConnection};
use url::Url;

use crate::service::Service;
use proxy::DbProxy;

/// Which kind of database a stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseChoice {
    /// One SQLite file per service.
    Sqlite,
    /// Fresh databases on this PostgreSQL server (the URL of any database there that the user
    /// can connect to, typically `/postgres`).
    Postgres {
        /// Server URL with credentials.
        server_url: String,
    },
}

impl DatabaseChoice {
    /// `E2E_DATABASE_URL`, else `TEST_DATABASE_URL`, when it is a `postgres://` URL; SQLite
    /// otherwise.
    #[must_use]
    pub fn from_env() -> Self {
        ["E2E_DATABASE_URL", "TEST_DATABASE_URL"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .map(|v| v.trim().to_owned())
            .find(|v| !v.is_empty())
            .filter(|v| v.starts_with("postgres://") || v.starts_with("postgresql://"))
            .map_or(DatabaseChoice::Sqlite, |server_url| DatabaseChoice::Postgres { server_url })
    }

    /// `true` for PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseChoice::Postgres { .. })
    }
}

/// The databases of one stack.
#[derive(Debug)]
pub struct Databases {
    urls: BTreeMap<Service, String>,
    postgres: Option<(String, Vec<String>)>,
    proxy: Option<DbProxy>,
}

impl Databases {
    /// Creates one database per service. SQLite files go into `dir`; PostgreSQL databases get
    /// names with `run_id` in them. With `via_proxy` (PostgreSQL only) the URLs handed to the
    /// services point at a [`DbProxy`] in front of the server.
    ///
    /// # Errors
    /// The server refuses the connection or the `CREATE DATABASE`.
    pub async fn create(choice: &DatabaseChoice, dir: &Path, run_id: &str, via_proxy: bool) -> anyhow::Result<Self> {
        match choice {
            DatabaseChoice::Sqlite => {
                let urls = Service::ALL
                    .iter()
                    .map(|s| (*s, format!("sqlite://{}", dir.join(format!("{}.db", s.short())).display())))
                    .collect();
                Ok(Self { urls, postgres: None, proxy: None })
            }
            DatabaseChoice::Postgres { server_url } => {
                let server = Url::parse(server_url).context("E2E_DATABASE_URL is not a valid URL")?;
                let mut admin = PgConnection::connect(server_url)
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(&server)))?;
                let proxy = if via_proxy {
                    let host = server.host_str().context("PostgreSQL URL has no host")?;
                    let port = server.port().unwrap_or(5432);
                    Some(DbProxy::start(host, port).await?)
                } else {
                    None
                };
                let mut urls = BTreeMap::new();
                let mut names = Vec::new();
                for service in Service::ALL {
                    let name = format!("e2e_{}_{}", run_id, service.short());
                    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                        .execute(&mut admin)
                        .await
                        .with_context(|| format!("cannot create database {name}"))?;
                    names.push(name.clone());
                    let mut url = server.clone();
                    url.set_path(&format!("/{name}"));
                    if let Some(proxy) = &proxy {
                        url.set_host(Some("127.0.0.1")).context("cannot point the URL at the proxy")?;
                        url.set_port(Some(proxy.port())).map_err(|()| anyhow::anyhow!("cannot set the proxy port"))?;
                    }
                    urls.insert(service, url.to_string());
                }
                let _ = admin.close().await;
                Ok(Self { urls, postgres: Some((server_url.clone(), names)), proxy })
            }
        }
    }

    /// No databases (what is left after [`Databases::drop_all`] took them away).
    #[must_use]
    pub fn empty() -> Self {
        Self { urls: BTreeMap::new(), postgres: None, proxy: None }
    }

    /// The `DATABASE_URL` for `service`'s replicas.
    ///
    /// # Panics
    /// Never: every service gets a URL in [`Databases::create`].
    #[must_use]
    pub fn url(&self, service: Service) -> &str {
        self.urls.get(&service).map_or("", String::as_str)
    }

    /// `true` on PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The proxy in front of the server, when the stack asked for one.
    #[must_use]
    pub fn proxy(&self) -> Option<&DbProxy> {
        self.proxy.as_ref()
    }

    /// Drops this stack's PostgreSQL databases (nothing else); SQLite files go with the
    /// stack's directory. Call it after the services have stopped.
    ///
    /// # Errors
    /// The server refused the connection or a `DROP DATABASE`.
    pub async fn drop_all(&mut self) -> anyhow::Result<()> {
        let Some((server_url, names)) = self.postgres.take() else {
            return Ok(());
        };
        let mut admin = PgConnection::connect(&server_url).await.context("cannot connect to PostgreSQL")?;
        let mut failures = Vec::new();
        for name in names {
            // FORCE (PostgreSQL 13+) ends connections a killed replica may have left behind.
            if let Err(error) =
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await
            {
                failures.push(format!("{name}: {error}"));
            }
        }
        let _ = admin.close().await;
        if !failures.is_empty() {
            bail!("cannot drop databases: {}", failures.join("; "));
        }
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}
