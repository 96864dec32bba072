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
    /// `authorization.users` entries with a user name (and password).
    pub users: Vec<User>,
    /// `authorization.users` entries with an `nkey`.
    pub nkeys: Vec<NkeyUser>,
    /// `authorization.default_permissions` (alias `permissions`): the
    /// permissions of `users` and `nkeys` entries that have none.
    pub default_permissions: Option<Permissions>,
    /// `no_auth_user`: the user a client without credentials is bound to.
    pub no_auth_user: Option<String>,
    /// `no_header_support`.
    pub no_header_support: bool,
    /// Lame duck mode: time over which clients are closed.
    pub lame_duck_duration: Duration,
    /// Lame duck mode: wait before the first client is closed.
    pub lame_duck_grace_period: Duration,
    /// How many closed connections `/connz?state=closed` remembers.
    pub max_closed_clients: usize,
    /// `client_advertise`: the client URL advertised to other servers (empty: none).
    pub client_advertise: String,
    /// `server_tags` (varz `tags`).
    pub server_tags: Vec<String>,
    /// `server_metadata` (varz `metadata`).
    pub server_metadata: std::collections::BTreeMap<String, String>,
    /// `max_sub_tokens`: most tokens in a subscription subject (0: no limit).
    pub max_sub_tokens: u8,
    /// `write_timeout`: what a write that passes `write_deadline` does.
    pub write_timeout: WriteTimeout,
    /// `disable_sublist_cache`.
    pub no_sublist_cache: bool,
    /// `no_fast_producer_stall`.
    pub no_fast_producer_stall: bool,
    /// `connect_error_reports` (route, gateway and leaf connect errors).
    pub connect_error_reports: i64,
    /// `reconnect_error_reports`.
    pub reconnect_error_reports: i64,
    /// `trace_verbose` (`-VV`).
    pub trace_verbose: bool,
    /// `trace_headers`.
    pub trace_headers: bool,
    /// `logtime_utc`: log timestamps in UTC.
    pub logtime_utc: bool,
    /// `log_file` (`-l`); empty: standard error.
    pub log_file: String,
    /// `log_size_limit`: rotate the log file past this many bytes (0: never).
    pub log_size_limit: u64,
    /// `log_max_num`: log files kept, the current one included (0: all).
    pub log_max_num: u64,
    /// `max_traced_msg_len`: longest traced payload (0: whole).
    pub max_traced_msg_len: usize,
    /// `pid_file` (`-P`); empty: none.
    pub pid_file: String,
    /// `ports_file_dir` (`--ports_file_dir`); empty: none.
    pub ports_file_dir: String,
    /// `-D`.
    pub debug: bool,
    /// `-V`.
    pub trace: bool,
    /// Timestamps in log lines (`-T`).
    pub logtime: bool,
    /// Monitoring listen host (`http: host:port`); empty: the client host.
    pub http_host: String,
    /// Monitoring port (`-m`): `None` is off, `Some(0)` a free port.
    pub http_port: Option<u16>,
    /// `https_port` / `-ms`: monitoring over TLS (the `tls` block's
    /// certificate); as `http_port`.
    pub https_port: Option<u16>,
    /// Prefix of every monitoring path (`http_base_path`).
    pub http_base_path: String,
    /// `cluster { … }` and the cluster flags; `None`: no cluster block.
    pub cluster: Option<crate::route::ClusterOptions>,
    /// `accounts`: the configured accounts (their users are in
    /// [`Options::users`] / [`Options::nkeys`] with `account` set).
    pub accounts: Vec<AccountOptions>,
    /// `system_account` (alias `system`); `None`: the internal `$SYS`.
    pub system_account: Option<String>,
    /// `no_system_account`: no system account at all.
    pub no_system_account: bool,
    /// Top-level `mappings` (alias `maps`): the global account's.
    pub mappings: Vec<Mapping>,
    /// The client port's `tls { … }` (and `--tls*` flags); `None`: no TLS.
    pub tls: Option<crate::tls::TlsOptions>,
    /// `allow_non_tls`: with TLS configured, clients may also stay in
    /// plaintext.
    pub allow_non_tls: bool,
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
            users: Vec::new(),
            nkeys: Vec::new(),
            default_permissions: None,
            no_auth_user: None,
            no_header_support: false,
            max_closed_clients: 10_000,
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            client_advertise: String::new(),
            server_tags: Vec::new(),
            server_metadata: std::collections::BTreeMap::new(),
            max_sub_tokens: 0,
            write_timeout: WriteTimeout::Default,
            no_sublist_cache: false,
            no_fast_producer_stall: false,
            connect_error_reports: 3600,
            reconnect_error_reports: 1,
            trace_verbose: false,
            trace_headers: false,
            logtime_utc: false,
            log_file: String::new(),
            log_size_limit: 0,
            log_max_num: 0,
            max_traced_msg_len: 0,
            pid_file: String::new(),
            ports_file_dir: String::new(),
            debug: false,
            trace: false,
            logtime: true,
            http_host: String::new(),
            http_port: None,
            https_port: None,
            http_base_path: String::new(),
            cluster: None,
            accounts: Vec::new(),
            system_account: None,
            no_system_account: false,
            mappings: Vec::new(),
            tls: None,
            allow_non_tls: false,
        }
    }
}

impl Options {
    /// True if clients must authenticate (nats-server: any of single user,
    /// token, users or nkey users configured).
    pub fn auth_required(&self) -> bool {
        self.user.is_some()
            || self.token.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
    }

    /// The `auth_required` INFO field: as [`Options::auth_required`], but
    /// left out when `no_auth_user` lets clients in without credentials.
    pub fn info_auth_required(&self) -> bool {
        self.auth_required() && self.no_auth_user.is_none()
    }

    /// True if INFO carries a `nonce` for nkey signatures.
    pub fn nonce_required(&self) -> bool {
        !self.nkeys.is_empty()
    }

    /// True if some configured password is not a bcrypt hash (nats-server
    /// then warns `Plaintext passwords detected, use nkeys or bcrypt`).
    pub fn has_plaintext_passwords(&self) -> bool {
        let plain = |p: &str| !crate::auth::is_bcrypt(p);
        self.password.as_deref().is_some_and(plain) || self.users.iter().any(|u| plain(&u.password))
    }

    /// The permissions `u` gets: its own, else `default_permissions`.
    pub fn user_permissions<'a>(&'a self, own: &'a Option<Permissions>) -> Option<&'a Permissions> {
        own.as_ref().or(self.default_permissions.as_ref())
    }

    /// The permissions a user of `account` (`None`: the global account)
    /// gets: its own, else its account's `default_permissions`, else (for
    /// the global account) the `authorization` block's.
    pub fn account_user_permissions<'a>(
        &'a self,
        own: &'a Option<Permissions>,
        account: Option<&str>,
    ) -> Option<&'a Permissions> {
        match account {
            None => self.user_permissions(own),
            Some(name) => own.as_ref().or_else(|| {
                self.accounts
                    .iter()
                    .find(|a| a.name == name)
                    .and_then(|a| a.default_permissions.as_ref())
            }),
        }
    }

    /// The monitoring host in force: `http_host`, else the client host.
    pub fn effective_http_host(&self) -> &str {
        if self.http_host.is_empty() {
            &self.host
        } else {
            &self.http_host
        }
    }

    /// The auth timeout in force: configured, else 2 s as nats-server,
    /// or the TLS handshake timeout plus one second when TLS is on.
    pub fn effective_auth_timeout(&self) -> Duration {
        self.auth_timeout.unwrap_or(match &self.tls {
            Some(t) => t.timeout + Duration::from_secs(1),
            None => Duration::from_secs(2),
        })
    }

    /// INFO's `tls_required`: TLS is on and plaintext is not allowed.
    pub fn tls_required(&self) -> bool {
        self.tls.is_some() && !self.allow_non_tls
    }

    /// Checks option combinations nats-server refuses at startup.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.tls {
            if t.cert_file.is_empty() {
                return Err("TLS Server certificate must be present and valid".into());
            }
            if t.key_file.is_empty() {
                return Err("TLS Server private key must be present and valid".into());
            }
        }
        if self.max_payload > self.max_pending {
            return Err(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        if self.password.is_some() && self.user.is_none() {
            return Err("a password requires a user".into());
        }
        if let Some(n) = &self.no_auth_user {
            if self.users.is_empty() && self.nkeys.is_empty() {
                return Err(format!(
                    "no_auth_user: \"{n}\" present, but users/nkeys are not defined"
                ));
            }
            if !self.users.iter().any(|u| &u.username == n)
                && !self.nkeys.iter().any(|k| &k.nkey == n)
            {
                return Err(format!(
                    "no_auth_user: \"{n}\" not present as user or nkey in authorization block or account configuration"
                ));
            }
        }
        Ok(())
    }
}

/// One `authorization.users` entry with a user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `user` / `username`.
    pub username: String,
    /// `password` / `pass`: plain text or a bcrypt hash (`$2a$…`).
    pub password: String,
    /// `permissions`; `None` means `default_permissions` (if any).
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types` (upper case); empty: any. natsd's
    /// clients are all `STANDARD`.
    pub allowed_connection_types: Vec<String>,
    /// The account the user belongs to (`None`: the global account `$G`,
    /// i.e. a user of the `authorization` block).
    pub account: Option<String>,
}

/// One `authorization.users` entry with an `nkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NkeyUser {
    /// The user's public nkey (`U…`, 56 characters).
    pub nkey: String,
    /// `permissions`; `None` means `default_permissions` (if any).
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types`, as for [`User`].
    pub allowed_connection_types: Vec<String>,
    /// The account the user belongs to, as for [`User`].
    pub account: Option<String>,
}

/// A user's permissions (`permissions { publish, subscribe, allow_responses }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// `publish` (`pub`, `import`); `None`: anything may be published.
    pub publish: Option<SubjectPermission>,
    /// `subscribe` (`sub`, `export`); `None`: anything may be subscribed to.
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`: may publish to the reply subjects of requests it
    /// received.
    pub response: Option<ResponsePermission>,
}

/// Allow and deny lists of subjects (`*` and `>` allowed; subscribe
/// entries may be `"subject queue"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    /// `allow`; `None`: everything not denied. `Some(vec![])` denies
    /// everything (what `allow_responses` without a publish allow list
    /// means).
    pub allow: Option<Vec<String>>,
    /// `deny`; wins over `allow`.
    pub deny: Vec<String>,
}

/// `allow_responses`: how many replies per received request, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Replies allowed per request (0: no limit). Default 1.
    pub max_msgs: u64,
    /// How long after the request a reply may be sent (zero: no limit).
    /// Default 2 minutes.
    pub expires: Duration,
}

impl Default for ResponsePermission {
    fn default() -> ResponsePermission {
        ResponsePermission {
            max_msgs: 1,
            expires: Duration::from_secs(120),
        }
    }
}

/// `write_timeout`: what happens to a client whose write passes
/// `write_deadline`. nats-server also has `retry`, which natsd refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteTimeout {
    /// Not set (for clients: close).
    #[default]
    Default,
    /// `close`.
    Close,
}

impl WriteTimeout {
    /// The configuration word (`""` when not set, as nats-server prints it).
    pub fn as_str(self) -> &'static str {
        match self {
            WriteTimeout::Default => "",
            WriteTimeout::Close => "close",
        }
    }
}

/// One entry of the `accounts` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountOptions {
    /// The account name.
    pub name: String,
    /// `exports`: what other accounts may import.
    pub exports: Vec<Export>,
    /// `imports`: what this account takes from others.
    pub imports: Vec<Import>,
    /// `mappings` (alias `maps`): subject mappings applied on publish.
    pub mappings: Vec<Mapping>,
    /// `default_permissions` for this account's users without their own.
    pub default_permissions: Option<Permissions>,
    /// `limits`.
    pub limits: AccountLimits,
}

/// An account's `limits` (negative: no limit, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// `max_connections` (alias `max_conn`): clients at once.
    pub max_connections: i64,
    /// `max_subscriptions` (alias `max_subs`): client subscriptions at once.
    pub max_subscriptions: i64,
    /// `max_payload` (alias `max_pay`): below the server's, it wins.
    pub max_payload: i64,
    /// `max_leafnodes` (alias `max_leafs`): accepted; natsd has no leaf
    /// nodes yet.
    pub max_leafnodes: i64,
}

impl Default for AccountLimits {
    fn default() -> AccountLimits {
        AccountLimits {
            max_connections: -1,
            max_subscriptions: -1,
            max_payload: -1,
            max_leafnodes: -1,
        }
    }
}

/// An export: a stream (messages flow out) or a service (requests flow
/// in, responses flow back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// True for `service`, false for `stream`.
    pub service: bool,
    /// The exported subject (wildcards allowed).
    pub subject: String,
    /// `accounts`: who may import (empty: anyone).
    pub accounts: Vec<String>,
    /// `response_type` of a service.
    pub response_type: ResponseType,
    /// `response_threshold`: how long a service's responses are awaited.
    pub response_threshold: Duration,
}

/// How many responses a service request may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response (the default).
    #[default]
    Singleton,
    /// Any number until `response_threshold`.
    Stream,
    /// Any number until `response_threshold` (chunks of one response).
    Chunked,
}

impl ResponseType {
    /// The configuration word, also what `/accountz` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Singleton => "Singleton",
            ResponseType::Stream => "Stream",
            ResponseType::Chunked => "Chunked",
        }
    }
}

/// An import of another account's stream or service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// True for `service`, false for `stream`.
    pub service: bool,
    /// The exporting account.
    pub account: String,
    /// The exported subject as named by the import.
    pub subject: String,
    /// `to` (or a stream's `prefix`, turned into `<prefix>.<subject>`):
    /// the subject in the importing account; `None`: the same subject.
    pub to: Option<String>,
}

/// A subject mapping: a source pattern and weighted destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The source subject (wildcards allowed).
    pub source: String,
    /// `(destination, weight in percent)`; weights add up to at most 100,
    /// the rest keeps the original subject.
    pub destinations: Vec<(String, u8)>,
}
