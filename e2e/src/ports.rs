//! Free TCP ports for replicas and the gateway.
//!
//! Separate processes need their port before they start, so the harness picks one and releases
//! it, and the process binds it a moment later. A port picked with `bind(:0)` comes from the
//! kernel's ephemeral range, the same range outgoing connections take their local ports from, so
//! on a busy machine a client socket can grab it in that moment. Ports are therefore drawn at
//! random *below* the ephemeral range (checked free by binding), where only explicit listeners
//! live, and never handed out twice by one process.

use std::{
    collections::HashSet,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    sync::{LazyLock, Mutex},
};

use rand::Rng;

/// Ports this process already handed out (a replica that was killed keeps its port for its
/// restart, so nothing else here may take it).
static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Lowest port drawn.
const LOWEST: u16 = 20_000;

/// A port on 127.0.0.1 that was free a moment ago and that this process has not handed out.
///
/// # Errors
/// No free port found (the range below the ephemeral ports is full, and so is `bind(:0)`).
pub fn free_port() -> std::io::Result<u16> {
    let ephemeral_start = ephemeral_range_start().unwrap_or(32_768);
    let mut rng = rand::rng();
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if ephemeral_start > LOWEST + 1_000 {
        for _ in 0..200 {
            let port = rng.random_range(LOWEST..ephemeral_start);
            if !handed_out.contains(&port) && is_free(port) {
                handed_out.insert(port);
                return Ok(port);
            }
        }
    }
    // Unusual kernel settings: fall back to the kernel's choice.
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port found"))
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

/// First port of `net.ipv4.ip_local_port_range` (Linux); `None` elsewhere.
fn ephemeral_range_start() -> Option<u16> {
    let raw = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    raw.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_and_distinct() {
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert_ne!(a, b);
        TcpListener::bind((Ipv4Addr::LOCALHOST, a)).unwrap();
    }
}
