//! A TCP proxy between the services and PostgreSQL that a scenario can switch off.
//!
//! Down means what a crashed database server looks like from a service: every open connection
//! is cut and new connections are refused (the listening socket is closed). Up binds the same
//! port again. The server itself is never touched, so other tests using it are unaffected.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A switchable proxy on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct DbProxy {
    port: u16,
    up: Arc<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl DbProxy {
    /// Starts forwarding a free local port to `host:port`.
    ///
    /// # Errors
    /// The host does not resolve or no local port can be bound.
    pub async fn start(host: &str, port: u16) -> anyhow::Result<Self> {
        let upstream = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        let listen_port = crate::ports::free_port().context("no free port for the database proxy")?;
        let listener = TcpListener::bind(("127.0.0.1", listen_port)).await.context("cannot bind the database proxy")?;
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        let task = tokio::spawn(supervise(listener, listen_port, upstream, Arc::clone(&up)));
        Ok(Self { port: listen_port, up, task })
    }

    /// The local port services connect to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts every connection and refuses new ones (`false`), or accepts again (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    /// Whether the proxy currently forwards.
    #[must_use]
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts while up; while down, holds no listening socket at all so connects are refused.
async fn supervise(listener: TcpListener, port: u16, upstream: SocketAddr, up: Arc<watch::Sender<bool>>) {
    let mut state = up.subscribe();
    let mut listener = Some(listener);
    loop {
        if *state.borrow_and_update() {
            let current = match listener.take() {
                Some(l) => l,
                None => match bind_again(port).await {
                    Some(l) => l,
                    None => return,
                },
            };
            loop {
                tokio::select! {
                    accepted = current.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(forward(client, upstream, up.subscribe()));
                        }
                    }
                    changed = state.changed() => {
                        if changed.is_err() { return; }
                        if !*state.borrow() { break; }
                    }
                }
            }
            drop(current);
        } else if state.changed().await.is_err() {
            return;
        }
    }
}

/// Rebinds the proxy's port; the old socket was closed a moment ago, so retry briefly.
async fn bind_again(port: u16) -> Option<TcpListener> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return Some(listener),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                eprintln!("e2e: database proxy cannot bind port {port} again: {error}");
                return None;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// Copies both ways until either side closes or the proxy goes down.
async fn forward(mut client: TcpStream, upstream: SocketAddr, mut state: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = state.wait_for(|up| !*up) => {}
    }
}
