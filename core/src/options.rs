//! Server options with nats-server's defaults.

use std::time::Duration;

/// The version of the NATS protocol behaviour natsd implements. Clients gate
/// features on the `version` in INFO, so natsd reports the nats-server
/// release whose behaviour it matches; its own name and version go in `go`.
pub const COMPAT_VERSION: &str = "2.14.0";

/// natsd's own version.
pub const NATSD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything that configures a single server.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Client listen host (`-a`).
    pub host: String,
    /// Client listen port (`-p`); 0 picks a free port, -1 is random in nats-server.
    pub port: u16,
    /// `server_name`; defaults to the server id.
    pub server_name: Option<String>,
    /// Largest message payload.
    pub max_payload: usize,
    /// Longest control line argument part.
    pub max_control_line: usize,
    /// Outbound bytes a connection may have queued before it is a slow consumer.
    pub max_pending: usize,
    /// Server-wide connection limit.
    pub max_connections: usize,
    /// Per-connection subscription limit (0: none).
    pub max_subscriptions: usize,
    /// Interval of server PINGs.
    pub ping_interval: Duration,
    /// Unanswered PINGs before a connection is stale.
    pub ping_max: u32,
    /// How long one write may make no progress.
    pub write_deadline: Duration,
    /// Time allowed for CONNECT when auth is required (None: nats-server's default).
    pub auth_timeout: Option<Duration>,
    /// Single user (`--user`).
    pub user: Option<String>,
    /// Its password (`--pass`).
    pub password: Option<String>,
    /// Token (`--auth`).
    pub token: Option<String>,
    /// `no_header_support`.
    pub no_header_support: bool,
    /// Lame duck mode: time over which clients are closed.
    pub lame_duck_duration: Duration,
    /// Lame duck mode: wait before the first client is closed.
    pub lame_duck_grace_period: Duration,
    /// How many closed connections `/connz?state=closed` remembers.
    pub max_closed_clients: usize,
    /// `-D`.
    pub debug: bool,
    /// `-V`.
    pub trace: bool,
    /// Timestamps in log lines (`-T`).
    pub logtime: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: "0.0.0.0".into(),
            port: 4222,
            server_name: None,
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_pending: 64 * 1024 * 1024,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            auth_timeout: None,
            user: None,
            password: None,
            token: None,
            no_header_support: false,
            max_closed_clients: 10_000,
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            debug: false,
            trace: false,
            logtime: true,
        }
    }
}

impl Options {
    /// True if clients must authenticate.
    pub fn auth_required(&self) -> bool {
        self.user.is_some() || self.token.is_some()
    }

    /// The auth timeout in force: configured, else 2 s as nats-server.
    pub fn effective_auth_timeout(&self) -> Duration {
        self.auth_timeout.unwrap_or(Duration::from_secs(2))
    }

    /// Checks option combinations nats-server refuses at startup.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_payload > self.max_pending {
            return Err(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        if self.password.is_some() && self.user.is_none() {
            return Err("a password requires a user".into());
        }
        Ok(())
    }
}
