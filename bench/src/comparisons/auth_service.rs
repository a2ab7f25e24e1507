//! The real auth-service binary as one process on SQLite, with benchmark users registered:
//! stateless vs stateful introspects at it, minting measures its token endpoint, and both
//! share one instance (see `sessions_and_minting` in `main.rs`).

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use base64::Engine;
use e2e::{
    api::{Api, Tokens},
    binaries::Binaries,
    process::{ReplicaProcess, ReplicaSpec},
    service::Service,
};
use futures::{StreamExt, stream};
use http::StatusCode;
use url::Url;

use crate::lab::Lab;

/// The OAuth client the introspecting router authenticates as (and the audience
/// auth-service checks introspected tokens against).
pub const CLIENT_ID: &str = "orders-service";
/// Password of the benchmark users (here and through the gateway).
pub const PASSWORD: &str = "bench-password-1234";

/// The real auth-service as one process.
#[derive(Debug)]
pub struct AuthLab {
    replica: ReplicaProcess,
    binaries: Binaries,
    dir: PathBuf,
    master_key: String,
    /// Its base URL (also the issuer).
    pub url: Url,
    /// A client for it.
    pub api: Api,
    /// orders-service's client secret at this auth-service.
    pub client_secret: String,
    /// How many users exist (`bench-user-<i>@example.com`).
    pub users: usize,
    http: reqwest::Client,
}

impl AuthLab {
    /// Starts auth-service with access tokens living `access_ttl`, and registers `users`
    /// users.
    ///
    /// # Errors
    /// The process does not become ready, or a registration fails.
    pub async fn start(lab: &Lab, binaries: Binaries, access_ttl: Duration, users: usize) -> anyhow::Result<Self> {
        let port = e2e::ports::free_port()?;
        let url = Url::parse(&format!("http://127.0.0.1:{port}"))?;
        let master_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let client_secret = uuid::Uuid::new_v4().simple().to_string();
        let http = reqwest::Client::builder().no_proxy().build()?;
        let mut auth = Self {
            replica: ReplicaProcess::new(ReplicaSpec {
                service: Service::Auth,
                index: 1,
                port,
                binary: binaries.path(Service::Auth),
                env: Vec::new(),
                log_path: lab.dir.join("auth-service.log"),
            }),
            binaries,
            dir: lab.dir.clone(),
            master_key,
            api: Api::new(url.clone()),
            url,
            client_secret,
            users: 0,
            http,
        };
        auth.restart_with_ttl(access_ttl).await?;
        for index in 0..users {
            let email = user_email(index);
            let reply = auth.api.register(&email, PASSWORD).await?;
            if reply.status != StatusCode::CREATED {
                bail!("registering {email} answered {}: {}", reply.status, reply.text);
            }
        }
        auth.users = users;
        Ok(auth)
    }

    /// Starts it (again) with access tokens living `access_ttl`; same database and keys.
    ///
    /// # Errors
    /// It does not become ready within a minute.
    pub async fn restart_with_ttl(&mut self, access_ttl: Duration) -> anyhow::Result<Duration> {
        self.replica.kill().await;
        let pair = |k: &str, v: String| (k.to_owned(), v);
        let spec = ReplicaSpec {
            env: vec![
                pair("DATABASE_URL", format!("sqlite://{}", self.dir.join("auth.db").display())),
                pair("LISTEN_ADDR", format!("127.0.0.1:{}", self.replica.spec().port)),
                pair("INSTANCE_ID", "auth-1".to_owned()),
                pair("AUTH_ISSUER", self.url.as_str().trim_end_matches('/').to_owned()),
                pair("AUTH_MASTER_KEY", self.master_key.clone()),
                pair(
                    "AUTH_CLIENTS",
                    format!("{CLIENT_ID}|{}|notifications:write|notifications-service", self.client_secret),
                ),
                pair("AUTH_ACCESS_TOKEN_TTL", format!("{}s", access_ttl.as_secs().max(1))),
                // Logins are set-up here, never measured: cheap password hashing only
                // shortens it.
                pair("AUTH_ARGON2_MEMORY_KIB", "4096".to_owned()),
                pair("AUTH_ARGON2_ITERATIONS", "1".to_owned()),
            ],
            binary: self.binaries.path(Service::Auth),
            ..self.replica.spec().clone()
        };
        self.replica = ReplicaProcess::new(spec);
        let started = std::time::Instant::now();
        self.replica.spawn()?;
        self.replica.wait_ready(&self.http, Duration::from_secs(60)).await?;
        Ok(started.elapsed())
    }

    /// Its process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        crate::lab::child_running(&self.binaries.path(Service::Auth))
    }

    /// SIGKILL, as a crash or a lost node would.
    pub async fn kill(&mut self) {
        self.replica.kill().await;
    }

    /// Opens a session for user `index` (modulo the number of users).
    ///
    /// # Errors
    /// The login fails.
    pub async fn login(&self, index: usize) -> anyhow::Result<Tokens> {
        let email = user_email(index % self.users.max(1));
        let reply = self.api.login(&email, PASSWORD).await?;
        if reply.status != StatusCode::OK {
            bail!("login of {email} answered {}: {}", reply.status, reply.text);
        }
        Tokens::from_reply(&reply)
    }

    /// `count` new sessions, four logins at a time.
    ///
    /// # Errors
    /// A login fails.
    pub async fn sessions(&self, count: usize) -> anyhow::Result<Vec<Tokens>> {
        stream::iter(0..count)
            .map(|i| self.login(i))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Stops it.
    pub async fn stop(mut self) {
        self.replica.stop(Duration::from_secs(5)).await;
    }
}

fn user_email(index: usize) -> String {
    format!("bench-user-{index}@example.com")
}
