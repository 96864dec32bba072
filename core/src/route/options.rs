//! The `cluster {}` options and route URLs.

use std::fmt;
use std::time::Duration;

use crate::tls::TlsOptions;

/// `cluster { … }` (and the `--cluster*`/`--routes` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `name`; `None`: a name is made up at start (nats-server's dynamic
    /// cluster name) and the first configured name met on a route wins.
    pub name: Option<String>,
    /// Route listen host (`listen`, `host`); default `0.0.0.0`.
    pub host: String,
    /// Route listen port: `None` (0 or absent) means no routing at all, as
    /// in nats-server; `Some(0)` a random port (`-1`).
    pub port: Option<u16>,
    /// `cluster_advertise` / `advertise`: `host:port` put in the route INFO
    /// instead of the listen address.
    pub advertise: String,
    /// `no_advertise`: clients are not told the cluster's client URLs.
    pub no_advertise: bool,
    /// `connect_retries`: extra attempts for a route learned by gossip.
    pub connect_retries: u32,
    /// `routes`: the explicit routes, dialed and re-dialed forever.
    pub routes: Vec<RouteUrl>,
    /// `authorization.user`.
    pub user: Option<String>,
    /// `authorization.password`.
    pub password: Option<String>,
    /// `authorization.timeout`: how long an accepted route may take to send
    /// its CONNECT (default 2 s).
    pub auth_timeout: Option<Duration>,
    /// `pool_size` as configured (0: not set). natsd runs one route per
    /// peer whatever the value.
    pub pool_size: i64,
    /// `compression` as configured (empty: not set). natsd never compresses.
    pub compression: String,
    /// `accounts` (pinned accounts) as configured. natsd does not pool:
    /// its one route per peer carries every account.
    pub accounts: Vec<String>,
    /// `tls`: routes are TLS from the first byte, both ways, with client
    /// certificates (routes.md §2.2).
    pub tls: Option<TlsOptions>,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            name: None,
            host: "0.0.0.0".into(),
            port: None,
            advertise: String::new(),
            no_advertise: false,
            connect_retries: 0,
            routes: Vec::new(),
            user: None,
            password: None,
            auth_timeout: None,
            pool_size: 0,
            compression: String::new(),
            accounts: Vec::new(),
            tls: None,
        }
    }
}

impl ClusterOptions {
    /// True when the server listens for and dials routes (a listen port is
    /// configured).
    pub fn enabled(&self) -> bool {
        self.port.is_some()
    }

    /// The time an accepted route has for its CONNECT: 2 s, or with TLS
    /// the handshake timeout plus one second (as nats-server's `/varz`
    /// shows it).
    pub fn effective_auth_timeout(&self) -> Duration {
        self.auth_timeout.unwrap_or(match &self.tls {
            Some(t) => t.timeout + Duration::from_secs(1),
            None => Duration::from_secs(2),
        })
    }

    /// True if accepted routes must present `user`/`password`.
    pub fn auth_required(&self) -> bool {
        self.user.is_some()
    }
}

/// A route URL: `nats-route://[user:pass@]host:port[/]` (any scheme is
/// accepted, as nats-server only uses the host, port and credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct RouteUrl {
    /// The URL as written.
    pub raw: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User from the URL.
    pub user: Option<String>,
    /// Password from the URL.
    pub password: Option<String>,
}

impl fmt::Debug for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl RouteUrl {
    /// Parses `scheme://[user[:pass]@]host:port[/path]`.
    pub fn parse(s: &str) -> Result<RouteUrl, String> {
        let raw = s.trim();
        let rest = match raw.split_once("://") {
            Some((scheme, rest)) if !scheme.is_empty() => rest,
            _ => return Err(format!("error parsing route url [{raw:?}]: missing scheme")),
        };
        let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (user, password) = match creds {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(c)), None),
            },
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| format!("error parsing route url [{raw:?}]: missing port"))?;
        if host.is_empty() {
            return Err(format!("error parsing route url [{raw:?}]: missing host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("error parsing route url [{raw:?}]: invalid port {port:?}"))?;
        Ok(RouteUrl {
            raw: raw.to_string(),
            host: host.to_string(),
            port,
            user,
            password,
        })
    }

    /// A URL for a host and port, with no credentials.
    pub fn from_host_port(host: &str, port: u16) -> RouteUrl {
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        RouteUrl {
            raw: format!("nats-route://{shown}/"),
            host: host.to_string(),
            port,
            user: None,
            password: None,
        }
    }

    /// `host:port` (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL with the password replaced by `xxxxx`, for logs.
    pub fn redacted(&self) -> String {
        match (&self.user, &self.password) {
            (Some(_), Some(p)) if !p.is_empty() => {
                self.raw.replacen(&format!(":{p}@"), ":xxxxx@", 1)
            }
            _ => self.raw.clone(),
        }
    }
}

/// `host:port`, `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    s.rsplit_once(':')
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Hex digits are read as bytes: a `%` before a multi-byte character
        // must not slice the text inside that character.
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = RouteUrl::parse("nats-route://ruser:p%40ss@127.0.0.1:6222/").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 6222);
        assert_eq!(u.user.as_deref(), Some("ruser"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        let u = RouteUrl::parse("nats://[::1]:7000").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 7000));
        assert_eq!(u.host_port(), "[::1]:7000");
        assert!(RouteUrl::parse("127.0.0.1:6222").is_err());
        assert!(RouteUrl::parse("nats://host").is_err());
        let u = RouteUrl::parse("nats://a:secret@h:1").unwrap();
        assert_eq!(u.redacted(), "nats://a:xxxxx@h:1");
        assert_eq!(
            RouteUrl::from_host_port("10.0.0.1", 5).raw,
            "nats-route://10.0.0.1:5/"
        );
    }

    #[test]
    fn percent_escapes_next_to_multibyte_characters() {
        assert_eq!(percent_decode("a%é"), "a%é");
        assert_eq!(percent_decode("%4é"), "%4é");
        assert_eq!(percent_decode("%41%42%"), "AB%");
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("é%41"), "éA");
        assert_eq!(percent_decode("%€x"), "%€x");
    }
}
