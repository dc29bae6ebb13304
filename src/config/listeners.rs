//! `listeners` and `advertised.listeners`: parsing `PLAINTEXT://host:port` lists and the address
//! rules (bind IP literals; advertise an address clients can reach). `config.rs` calls these.

use std::net::{IpAddr, SocketAddr};

use super::ConfigError;

/// One `listeners` / `advertised.listeners` entry: `PLAINTEXT://host:port` (or `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PLAINTEXT://{}:{}", self.host, self.port)
    }
}

/// The socket address a listener binds: its host must be an IP literal.
pub fn bind_address(l: &Listener) -> Result<SocketAddr, ConfigError> {
    let ip: IpAddr = l.host.parse().map_err(|_| ConfigError::Invalid {
        key: "listeners",
        value: l.to_string(),
        expected: "an IP address to bind (such as 127.0.0.1 or 0.0.0.0), not a host name".into(),
    })?;
    Ok(SocketAddr::new(ip, l.port))
}

pub(super) fn check_advertised(l: &Listener) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError::Invalid {
        key: "advertised.listeners",
        value: l.to_string(),
        expected: format!("an address clients can reach ({why})"),
    };
    if l.host.eq_ignore_ascii_case("localhost") {
        return Err(bad(
            "not `localhost`, which clients may resolve to ::1; use 127.0.0.1",
        ));
    }
    match l.host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => {
            Err(bad("not 0.0.0.0; set advertised.listeners"))
        }
        Ok(IpAddr::V6(_)) => Err(bad("an IPv4 address or a host name, not IPv6")),
        Ok(IpAddr::V4(_)) => Ok(()),
        Err(_) if is_hostname(&l.host) => Ok(()),
        Err(_) => Err(bad("an IPv4 address or a host name")),
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Parses a comma-separated `listeners` value; an empty host means all interfaces (0.0.0.0).
pub fn parse_listeners(key: &'static str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let bad = |expected: &str| ConfigError::Invalid {
                key,
                value: entry.to_string(),
                expected: expected.to_string(),
            };
            let rest = match entry.split_once("://") {
                Some((proto, rest)) if proto.eq_ignore_ascii_case("PLAINTEXT") => rest,
                Some(_) => {
                    return Err(bad("the PLAINTEXT security protocol (the only one served)"));
                }
                None => entry,
            };
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("[PLAINTEXT://]host:port"))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| bad("a port number 0..=65535"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            Ok(Listener {
                host: host.to_string(),
                port,
            })
        })
        .collect()
}
