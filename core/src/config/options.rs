//! From a parsed configuration [`Map`] to [`Options`], as nats-server 2.14
//! reads its single-server options: the same keys and aliases (looked up
//! case-insensitively), the same defaults, types, warnings and error texts,
//! checked against the real binary with `nats-server -t -c file`.
//!
//! * [`load`]: parse a file, compute its digest, apply it.
//! * [`apply`]: apply a parsed map on top of some [`Options`].
//! * [`validate`]: the checks nats-server makes once file and flags are merged.
//! * [`reload_diff`]: which options a reload changes, or nats-server's refusal.
//! * [`to_config`]: [`Options`] written back as a configuration file.
//!
//! # What is refused
//!
//! Keys nats-server knows but natsd does not implement are refused by name,
//! `file:line:col: not supported yet: <key>`, never silently ignored: the
//! subsystems (`gateway`, `leafnodes`, `websocket`, `mqtt`, the parts of
//! `cluster` listed in `cluster.rs` such as `cluster.tls`,
//! `jetstream` unless disabled, `accounts`, operator mode, …), the `tls`
//! keys listed in `tls.rs` (`pinned_certs`, `ocsp_peer`, …) and
//! `authorization.auth_callout` / `authorization.proxy_required`.
//! `authorization { users, default_permissions }` (alias `permissions`)
//! and `no_auth_user` are read as nats-server reads them, with its errors
//! (`Expected permissions to be a map/struct, got 5`, `Duplicate user "a"
//! detected`, …). Options whose value would need something natsd lacks
//! are refused only when set to such a value: `syslog: true`,
//! `remote_syslog`, `prof_port`, `prof_block_rate`, `https` (host:port),
//! `proxy_protocol: true`, `write_timeout: retry`, a user's
//! `proxy_required: true`.
//!
//! # Known differences from nats-server
//!
//! * Only the first error (in file order) is reported; nats-server reports
//!   all of them, in random order. Where nats-server reports a problem
//!   with a whole user entry at whichever of its keys its map iteration
//!   met last, natsd names the entry's last key in file order; where it
//!   gives no position at all (`publish: 5`, an invalid subject in
//!   `publish: "a b c"`), natsd names the key.
//! * Every reload logs `Reloaded: authorization users` and `Reloaded:
//!   accounts` in nats-server; natsd logs the first only when users
//!   changed, and never the second (it has no accounts yet).
//! * Values nats-server accepts but that make no sense are refused with
//!   `<key> value can not be negative`: negative sizes, limits and
//!   durations (`max_payload: -5`, `ping_interval: "-1s"`, `ping_max: -1`,
//!   `max_subscriptions: -2`, `authorization { timeout: -1 }`, …);
//!   `max_connections` below 0 still means "reject every client". A port
//!   outside -1…65535 is refused here rather than when listening.
//! * Keys nats-server would accept and natsd accepts without storing,
//!   because natsd already behaves that way: `no_system_account` (natsd has
//!   no system account), `jetstream:
//!   false`/`disabled`, `prof_port: 0`, `https_port: 0`, `syslog: false`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::gofmt;
use super::value::{Entry, Map, Pos, Value, ValueKind};
use super::{ConfigError, Loader};

mod accounts;
mod cluster;
mod tls;
use crate::options::{
    NkeyUser, Options, Permissions, ResponsePermission, SubjectPermission, User, WriteTimeout,
};

/// A problem nats-server reports but does not stop on (at startup it prints
/// it and carries on; `-t` treats it as a failure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where. A line of 0 means the whole file (`Display` then shows only
    /// the file name).
    pub pos: Pos,
    /// nats-server's text, e.g. `invalid use of field "ping_interval":
    /// ping_interval should be converted to a duration`.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line == 0 {
            write!(f, "{}: {}", self.pos.file, self.message)
        } else {
            write!(f, "{}: {}", self.pos, self.message)
        }
    }
}

/// What [`load`] found besides the options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Warnings in file order.
    pub warnings: Vec<Warning>,
    /// `sha256:<hex>`, the digest nats-server prints for the same file.
    pub digest: String,
}

/// Parses `text` (named `source`), computes its digest and applies it to
/// `opts` with [`apply`]. An empty file gives nats-server's warning
/// `<file>: config has no values or is empty`.
pub fn load(
    text: &str,
    source: &str,
    loader: &mut dyn Loader,
    env: &dyn Fn(&str) -> Option<String>,
    opts: &mut Options,
) -> Result<Loaded, ConfigError> {
    let map = super::parse(text, source, loader, env)?;
    let digest = super::digest::digest(&map);
    let mut warnings = Vec::new();
    if map.is_empty() {
        warnings.push(Warning {
            pos: Pos::new(source, 0, 0),
            message: "config has no values or is empty".into(),
        });
    }
    warnings.extend(apply(&map, opts)?);
    Ok(Loaded { warnings, digest })
}

/// Applies every top-level entry of `map`, in file order, on top of `opts`
/// (the last of two spellings of a key wins). Entries only used as
/// variables (`$name`) are skipped when they are not options.
///
/// Values nats-server treats as "use the default" are turned into the
/// default here (`port: 0`, `max_payload: 0`, `ping_interval: "0s"`, an
/// empty `host` or `server_name`, …), so `opts` is ready to run.
pub fn apply(map: &Map, opts: &mut Options) -> Result<Vec<Warning>, ConfigError> {
    let mut a = Applier {
        opts,
        warnings: Vec::new(),
    };
    for e in map {
        a.entry(e)?;
    }
    Ok(a.warnings)
}

/// Top-level keys nats-server 2.14 knows that natsd refuses whatever their
/// value (see the module docs).
pub const NOT_SUPPORTED: &[&str] = &[
    "ocsp",
    "ocsp_cache",
    "operator",
    "operators",
    "root",
    "roots",
    "root_operator",
    "root_operators",
    "trusted",
    "trusted_keys",
    "resolver",
    "account_resolver",
    "accounts_resolver",
    "resolver_tls",
    "resolver_preload",
    "resolver_pinned_accounts",
    "default_sentinel",
    "proxies",
    "gateway",
    "leafnodes",
    "leaf",
    "websocket",
    "ws",
    "mqtt",
    "store_dir",
    "storedir",
    "default_js_domain",
    "feature_flags",
    "https",
];

/// `authorization` keys natsd refuses.
const AUTH_NOT_SUPPORTED: &[&str] = &["auth_callout", "proxy_required"];

/// Connection types a user entry may list (`allowed_connection_types`).
const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

const DEFAULT_PORT: u16 = 4222;
const MAX_INT32: i64 = (1 << 31) - 1;

struct Applier<'a> {
    opts: &'a mut Options,
    warnings: Vec<Warning>,
}

fn err(e: &Entry, msg: impl Into<String>) -> ConfigError {
    ConfigError::new(e.key_pos.clone(), msg)
}

fn not_supported(e: &Entry, name: &str) -> ConfigError {
    err(e, format!("not supported yet: {name}"))
}

/// Go's name for the type a value would have in nats-server.
fn go_type(v: &Value) -> &'static str {
    match v.kind {
        ValueKind::String(_) => "string",
        ValueKind::Integer(_) => "int64",
        ValueKind::Float(_) => "float64",
        ValueKind::Bool(_) => "bool",
        ValueKind::Datetime(_) => "time.Time",
        ValueKind::Map(_) => "map[string]interface {}",
        ValueKind::Array(_) => "[]interface {}",
    }
}

/// nats-server's message for a value of the wrong type.
fn wrong_type(e: &Entry, want: &str) -> ConfigError {
    err(
        e,
        format!(
            "interface conversion: interface {{}} is {}, not {want}",
            go_type(&e.value)
        ),
    )
}

fn int(e: &Entry) -> Result<i64, ConfigError> {
    e.value.as_i64().ok_or_else(|| wrong_type(e, "int64"))
}

fn string(e: &Entry) -> Result<&str, ConfigError> {
    e.value.as_str().ok_or_else(|| wrong_type(e, "string"))
}

fn boolean(e: &Entry) -> Result<bool, ConfigError> {
    e.value.as_bool().ok_or_else(|| wrong_type(e, "bool"))
}

fn non_negative(e: &Entry, n: i64) -> Result<u64, ConfigError> {
    u64::try_from(n).map_err(|_| err(e, format!("{} value can not be negative", e.key)))
}

/// A size limited to 2³¹−1 like nats-server's int32 options.
fn int32_size(e: &Entry) -> Result<usize, ConfigError> {
    let n = int(e)?;
    if n > MAX_INT32 {
        return Err(err(e, format!("{} value is too big", e.key)));
    }
    Ok(non_negative(e, n)? as usize)
}

fn size(e: &Entry) -> Result<usize, ConfigError> {
    let n = int(e)?;
    Ok(non_negative(e, n)? as usize)
}

/// 0 means "the default", as in nats-server's baseline options.
fn or_default<T: PartialEq + Default>(v: T, default: T) -> T {
    if v == T::default() {
        default
    } else {
        v
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A client port as written: 0 is the default port, -1 a random one.
fn client_port(e: &Entry, n: i64) -> Result<u16, ConfigError> {
    match n {
        0 => Ok(DEFAULT_PORT),
        -1 => Ok(0),
        1..=65535 => Ok(n as u16),
        _ => Err(err(e, format!("invalid port {n}"))),
    }
}

/// A monitoring port as written: 0 is off, -1 a random one.
fn monitor_port(e: &Entry, n: i64) -> Result<Option<u16>, ConfigError> {
    match n {
        0 => Ok(None),
        -1 => Ok(Some(0)),
        1..=65535 => Ok(Some(n as u16)),
        _ => Err(err(e, format!("invalid port {n}"))),
    }
}

/// `listen`/`http`: a port alone, or `host:port` split like Go's
/// `net.SplitHostPort` (`[::1]:4222`, `:4222`).
fn host_port(e: &Entry) -> Result<(Option<String>, i64), ConfigError> {
    match &e.value.kind {
        ValueKind::Integer(n) => Ok((None, *n)),
        ValueKind::String(s) => {
            let bad_addr = || {
                err(
                    e,
                    format!("could not parse address string {}", gofmt::quote(s)),
                )
            };
            let (host, port) = split_host_port(s).ok_or_else(bad_addr)?;
            let port_num = parse_go_atoi(port)
                .ok_or_else(|| err(e, format!("could not parse port {}", gofmt::quote(port))))?;
            Ok((Some(host.to_string()), port_num))
        }
        _ => Err(err(
            e,
            format!("expected port or host:port, got {}", go_type(&e.value)),
        )),
    }
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if host.contains('[') || port.contains(['[', ']']) {
            return None;
        }
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') || host.contains(['[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

/// Go's `strconv.Atoi`: optional sign and decimal digits.
fn parse_go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Writes `host:port` so that [`split_host_port`] reads it back.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Applier<'_> {
    fn warn(&mut self, pos: &Pos, field: &str, reason: String) {
        self.warnings.push(Warning {
            pos: pos.clone(),
            message: format!("invalid use of field {}: {reason}", gofmt::quote(field)),
        });
    }

    /// A duration option: a Go duration string, or (with a warning) a
    /// number of seconds. `0` means the default.
    fn duration(
        &mut self,
        e: &Entry,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = match &e.value.kind {
            ValueKind::String(s) => {
                let n = gofmt::parse_duration(s)
                    .map_err(|m| err(e, format!("error parsing {field}: {m}")))?;
                if n < 0 {
                    return Err(err(e, format!("{} value can not be negative", e.key)));
                }
                Duration::from_nanos(n as u64)
            }
            _ => {
                self.warn(
                    &e.key_pos,
                    field,
                    format!("{field} should be converted to a duration"),
                );
                Duration::from_secs(non_negative(e, int(e)?)?)
            }
        };
        Ok(or_default(d, default))
    }

    fn entry(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let key = e.key.to_ascii_lowercase();
        let d = Options::default();
        match key.as_str() {
            "listen" => {
                let (host, port) = host_port(e)?;
                if let Some(h) = host {
                    self.opts.host = or_default(h, d.host);
                }
                self.opts.port = client_port(e, port)?;
            }
            "port" => self.opts.port = client_port(e, int(e)?)?,
            "host" | "net" => self.opts.host = or_default(string(e)?.to_string(), d.host),
            "client_advertise" => self.opts.client_advertise = string(e)?.to_string(),
            "server_name" => {
                let s = string(e)?;
                if s.contains(' ') {
                    return Err(err(e, "server name cannot contain spaces"));
                }
                self.opts.server_name = non_empty(s);
            }
            "server_tags" => self.opts.server_tags = tags(e)?,
            "server_metadata" => self.opts.server_metadata = metadata(e)?,
            "max_connections" | "max_conn" => {
                // Negative: reject every client, like 0 in 2.14.
                self.opts.max_connections = usize::try_from(int(e)?).unwrap_or(0);
            }
            "max_payload" => self.opts.max_payload = or_default(int32_size(e)?, d.max_payload),
            "max_control_line" => {
                self.opts.max_control_line = or_default(int32_size(e)?, d.max_control_line)
            }
            "max_pending" => self.opts.max_pending = or_default(size(e)?, d.max_pending),
            "max_subscriptions" | "max_subs" => self.opts.max_subscriptions = size(e)?,
            "max_sub_tokens" | "max_subscription_tokens" => {
                let n = int(e)?;
                if n > 255 {
                    return Err(err(e, format!("{} value is too big", e.key)));
                }
                if n <= 0 {
                    return Err(err(e, format!("{} value can not be negative", e.key)));
                }
                self.opts.max_sub_tokens = n as u8;
            }
            "ping_interval" => {
                self.opts.ping_interval = self.duration(e, "ping_interval", d.ping_interval)?
            }
            "ping_max" => {
                let n = non_negative(e, int(e)?)?;
                let n =
                    u32::try_from(n).map_err(|_| err(e, format!("{} value is too big", e.key)))?;
                self.opts.ping_max = or_default(n, d.ping_max);
            }
            "write_deadline" => {
                self.opts.write_deadline = self.duration(e, "write_deadline", d.write_deadline)?
            }
            "write_timeout" => {
                self.opts.write_timeout = match string(e)? {
                    "default" => WriteTimeout::Default,
                    "close" => WriteTimeout::Close,
                    "retry" => return Err(not_supported(e, &e.key)),
                    _ => {
                        return Err(err(
                            e,
                            "write_timeout must be 'default', 'close' or 'retry'",
                        ))
                    }
                }
            }
            "no_header_support" => self.opts.no_header_support = boolean(e)?,
            "disable_sublist_cache" | "no_sublist_cache" => {
                self.opts.no_sublist_cache = boolean(e)?
            }
            "max_closed_clients" => {
                self.opts.max_closed_clients = or_default(size(e)?, d.max_closed_clients)
            }
            "lame_duck_duration" => {
                let s = string(e)?;
                let n = gofmt::parse_duration(s)
                    .map_err(|m| err(e, format!("error parsing lame_duck_duration: {m}")))?;
                if n < 30 * 1_000_000_000 {
                    let shown = gofmt::duration_string_nanos(n);
                    return Err(err(
                        e,
                        format!("invalid lame_duck_duration of {shown}, minimum is 30 seconds"),
                    ));
                }
                self.opts.lame_duck_duration = Duration::from_nanos(n as u64);
            }
            "lame_duck_grace_period" => {
                let s = string(e)?;
                let n = gofmt::parse_duration(s)
                    .map_err(|m| err(e, format!("error parsing lame_duck_grace_period: {m}")))?;
                if n < 0 {
                    return Err(err(
                        e,
                        "invalid lame_duck_grace_period, needs to be positive",
                    ));
                }
                self.opts.lame_duck_grace_period =
                    or_default(Duration::from_nanos(n as u64), d.lame_duck_grace_period);
            }
            "no_fast_producer_stall" => self.opts.no_fast_producer_stall = boolean(e)?,
            "proxy_protocol" => {
                if boolean(e)? {
                    return Err(not_supported(e, &e.key));
                }
            }
            "connect_error_reports" => {
                self.opts.connect_error_reports = or_default(int(e)?, d.connect_error_reports)
            }
            "reconnect_error_reports" => {
                self.opts.reconnect_error_reports = or_default(int(e)?, d.reconnect_error_reports)
            }
            "http" => {
                let (host, port) = host_port(e)?;
                if let Some(h) = host {
                    self.opts.http_host = h;
                }
                self.opts.http_port = monitor_port(e, port)?;
            }
            "http_port" | "monitor_port" => self.opts.http_port = monitor_port(e, int(e)?)?,
            "https_port" => self.opts.https_port = monitor_port(e, int(e)?)?,
            "http_base_path" => self.opts.http_base_path = string(e)?.to_string(),
            "debug" => self.opts.debug = boolean(e)?,
            "trace" => self.opts.trace = boolean(e)?,
            "trace_verbose" => {
                let b = boolean(e)?;
                self.opts.trace_verbose = b;
                self.opts.trace = b;
            }
            "trace_headers" => self.opts.trace_headers = boolean(e)?,
            "logtime" => self.opts.logtime = boolean(e)?,
            "logtime_utc" => self.opts.logtime_utc = boolean(e)?,
            "log_file" | "logfile" => self.opts.log_file = string(e)?.to_string(),
            "log_size_limit" | "logfile_size_limit" => {
                self.opts.log_size_limit = non_negative(e, int(e)?)?
            }
            "log_max_num" | "logfile_max_num" => self.opts.log_max_num = non_negative(e, int(e)?)?,
            "syslog" => {
                if boolean(e)? {
                    return Err(not_supported(e, &e.key));
                }
            }
            "remote_syslog" => {
                if !string(e)?.is_empty() {
                    return Err(not_supported(e, &e.key));
                }
            }
            "max_traced_msg_len" => self.opts.max_traced_msg_len = size(e)?,
            "pid_file" | "pidfile" => self.opts.pid_file = string(e)?.to_string(),
            "ports_file_dir" => self.opts.ports_file_dir = string(e)?.to_string(),
            "prof_port" | "prof_block_rate" => {
                if int(e)? != 0 {
                    return Err(not_supported(e, &e.key));
                }
            }
            "no_system_account" | "no_system" | "no_sys_acc" => {
                self.opts.no_system_account = boolean(e)?;
            }
            "allow_non_tls" => self.opts.allow_non_tls = boolean(e)?,
            "tls" => self.tls(e)?,
            "accounts" => self.accounts(e)?,
            "mappings" | "maps" => self.global_mappings(e)?,
            "system_account" | "system" => {
                self.opts.system_account = non_empty(string(e)?);
            }
            "jetstream" => {
                let disabled = match &e.value.kind {
                    ValueKind::Bool(b) => !b,
                    ValueKind::String(s) => {
                        let s = s.to_ascii_lowercase();
                        if !matches!(s.as_str(), "enabled" | "enable" | "disabled" | "disable") {
                            return Err(err(
                                e,
                                format!(
                                    "Expected 'enabled' or 'disabled' for string value, got '{}'",
                                    string(e)?
                                ),
                            ));
                        }
                        s.starts_with("disable")
                    }
                    ValueKind::Map(_) => false,
                    _ => {
                        return Err(err(
                            e,
                            format!(
                                "Expected map, bool or string to define JetStream, got {}",
                                go_type(&e.value)
                            ),
                        ))
                    }
                };
                if !disabled {
                    return Err(not_supported(e, &e.key));
                }
            }
            "authorization" => self.authorization(e)?,
            "cluster" => self.cluster(e)?,
            "no_auth_user" => self.opts.no_auth_user = non_empty(string(e)?),
            k if NOT_SUPPORTED.contains(&k) => return Err(not_supported(e, &e.key)),
            _ => {
                if !e.used_as_variable {
                    return Err(err(e, format!("unknown field {}", gofmt::quote(&e.key))));
                }
            }
        }
        Ok(())
    }

    /// `authorization { user, password, token, timeout, users,
    /// default_permissions }`. Like nats-server, the block replaces all of
    /// them (an absent one is unset).
    fn authorization(&mut self, block: &Entry) -> Result<(), ConfigError> {
        let ValueKind::Map(m) = &block.value.kind else {
            return Err(wrong_type(block, "map[string]interface {}"));
        };
        let (mut user, mut pass, mut token, mut timeout) =
            (String::new(), String::new(), String::new(), None);
        let (mut users, mut nkeys, mut defaults) = (None, Vec::new(), None);
        for e in m {
            match e.key.to_ascii_lowercase().as_str() {
                "user" | "username" => user = string(e)?.to_string(),
                "pass" | "password" => pass = string(e)?.to_string(),
                "token" => token = string(e)?.to_string(),
                "timeout" => timeout = self.auth_timeout(e)?,
                "users" => {
                    let (u, k) = parse_users(e)?;
                    users = Some(u);
                    nkeys = k;
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    defaults = Some(parse_permissions(e)?)
                }
                k if AUTH_NOT_SUPPORTED.contains(&k) => {
                    return Err(not_supported(e, &format!("{}.{}", block.key, e.key)));
                }
                _ => {
                    if !e.used_as_variable {
                        return Err(err(e, format!("unknown field {}", gofmt::quote(&e.key))));
                    }
                }
            }
        }
        if (!user.is_empty() || !pass.is_empty()) && !token.is_empty() {
            return Err(err(block, "Cannot have a user/pass and token"));
        }
        if users.is_some() {
            if !user.is_empty() {
                return Err(err(
                    block,
                    "Can not have a single user/pass and a users array",
                ));
            }
            if !token.is_empty() {
                return Err(err(block, "Can not have a token and a users array"));
            }
        }
        let users = users.unwrap_or_default();
        let mut names = std::collections::HashSet::new();
        for u in &users {
            if !names.insert(u.username.as_str()) {
                return Err(err(
                    block,
                    format!("Duplicate user {} detected", gofmt::quote(&u.username)),
                ));
            }
        }
        for k in &nkeys {
            if !names.insert(k.nkey.as_str()) {
                return Err(err(
                    block,
                    format!("Duplicate nkey {} detected", gofmt::quote(&k.nkey)),
                ));
            }
        }
        self.opts.user = non_empty(&user);
        self.opts.password = non_empty(&pass);
        self.opts.token = non_empty(&token);
        self.opts.auth_timeout = timeout;
        // Users of the `accounts` block stay; the block's users replace
        // the previous global ones.
        for u in &users {
            if self
                .opts
                .users
                .iter()
                .any(|x| x.account.is_some() && x.username == u.username)
            {
                return Err(err(
                    block,
                    format!("Duplicate user {} detected", gofmt::quote(&u.username)),
                ));
            }
        }
        self.opts.users.retain(|u| u.account.is_some());
        self.opts.nkeys.retain(|k| k.account.is_some());
        self.opts.users.extend(users);
        self.opts.nkeys.extend(nkeys);
        self.opts.default_permissions = defaults;
        Ok(())
    }

    /// `authorization.timeout`: seconds (integer or float) or a duration
    /// string; 0 is the default; over 60 s gives nats-server's warning.
    fn auth_timeout(&mut self, e: &Entry) -> Result<Option<Duration>, ConfigError> {
        let (d, secs, shown) = match &e.value.kind {
            ValueKind::Integer(n) => {
                let secs = non_negative(e, *n)?;
                (Duration::from_secs(secs), secs as f64, n.to_string())
            }
            ValueKind::Float(x) => {
                if *x < 0.0 {
                    return Err(err(e, format!("{} value can not be negative", e.key)));
                }
                let d = Duration::try_from_secs_f64(*x)
                    .map_err(|_| err(e, format!("{} value is too big", e.key)))?;
                (d, *x, gofmt::float_v(*x))
            }
            ValueKind::String(s) => {
                let n = gofmt::parse_duration(s).map_err(|m| {
                    err(
                        e,
                        format!("error parsing authorization config, 'timeout' {m}"),
                    )
                })?;
                if n < 0 {
                    return Err(err(e, format!("{} value can not be negative", e.key)));
                }
                let d = Duration::from_nanos(n as u64);
                (d, d.as_secs_f64(), s.clone())
            }
            _ => {
                return Err(err(
                    e,
                    "error parsing authorization config, 'timeout' wrong type",
                ))
            }
        };
        if secs > 60.0 {
            let reason = format!(
                "timeout of {shown} ({} seconds) is high, consider keeping it under 60 seconds. \
                 possibly caused by unquoted duration; use '1m' instead of 1m, for example",
                gofmt::float_f(secs)
            );
            self.warn(&e.key_pos, &e.key, reason);
        }
        Ok((!d.is_zero()).then_some(d))
    }
}

/// Go's `%v` of a configuration value, for nats-server's "got …" texts.
fn go_value(v: &Value) -> String {
    match &v.kind {
        ValueKind::String(s) | ValueKind::Datetime(s) => s.clone(),
        ValueKind::Integer(n) => n.to_string(),
        ValueKind::Float(x) => gofmt::float_v(*x),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Array(a) => {
            let items: Vec<String> = a.iter().map(go_value).collect();
            format!("[{}]", items.join(" "))
        }
        ValueKind::Map(m) => {
            let mut items: Vec<String> = m
                .iter()
                .map(|e| format!("{}:{}", e.key, go_value(&e.value)))
                .collect();
            items.sort();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Where nats-server reports a problem with a whole map entry: at the
/// last key it read (the map's own position when it is empty).
fn last_key_pos(m: &super::value::Map, fallback: &Value) -> Pos {
    m.iter()
        .last()
        .map_or_else(|| fallback.pos.clone(), |e| e.key_pos.clone())
}

/// `authorization.users`: entries with `user`/`password` or `nkey`, each
/// with optional `permissions`.
fn parse_users(e: &Entry) -> Result<(Vec<User>, Vec<NkeyUser>), ConfigError> {
    let ValueKind::Array(list) = &e.value.kind else {
        return Err(err(
            e,
            format!(
                "Expected users field to be an array, got {}",
                go_value(&e.value)
            ),
        ));
    };
    let (mut users, mut nkeys) = (Vec::new(), Vec::new());
    for v in list {
        let ValueKind::Map(m) = &v.kind else {
            return Err(ConfigError::new(
                v.pos.clone(),
                format!(
                    "Expected user entry to be a map/struct, got {}",
                    go_value(v)
                ),
            ));
        };
        let (mut name, mut password, mut nkey) = (String::new(), String::new(), String::new());
        let (mut perms, mut types) = (None, Vec::new());
        for x in m {
            match x.key.to_ascii_lowercase().as_str() {
                "nkey" => nkey = string(x)?.to_string(),
                "user" | "username" => name = string(x)?.to_string(),
                "pass" | "password" => password = string(x)?.to_string(),
                "permission" | "permissions" | "authorization" => {
                    perms = Some(parse_permissions(x)?)
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    types = connection_types(x)?
                }
                "proxy_required" => {
                    if boolean(x)? {
                        return Err(not_supported(x, &x.key));
                    }
                }
                _ => {
                    if !x.used_as_variable {
                        return Err(err(x, format!("unknown field {}", gofmt::quote(&x.key))));
                    }
                }
            }
        }
        let at = last_key_pos(m, v);
        if nkey.is_empty() && name.is_empty() {
            return Err(ConfigError::new(at, "User entry requires a user"));
        }
        if !nkey.is_empty() {
            if !crate::nkey::is_valid_public_user_key(&nkey) {
                return Err(ConfigError::new(at, "Not a valid public nkey for a user"));
            }
            if !name.is_empty() || !password.is_empty() {
                return Err(ConfigError::new(
                    at,
                    "Nkey users do not take usernames or passwords",
                ));
            }
            nkeys.push(NkeyUser {
                nkey,
                permissions: perms,
                allowed_connection_types: types,
                account: None,
            });
        } else {
            users.push(User {
                username: name,
                password,
                permissions: perms,
                allowed_connection_types: types,
                account: None,
            });
        }
    }
    Ok((users, nkeys))
}

/// `allowed_connection_types`: a list of nats-server's connection type
/// names (any case; kept upper case).
fn connection_types(e: &Entry) -> Result<Vec<String>, ConfigError> {
    let items: Vec<&Value> = match &e.value.kind {
        ValueKind::Array(a) => a.iter().collect(),
        _ => vec![&e.value],
    };
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for v in items {
        let s = v.as_str().ok_or_else(|| wrong_type(e, "string"))?;
        let up = s.to_ascii_uppercase();
        if CONNECTION_TYPES.contains(&up.as_str()) {
            if !out.contains(&up) {
                out.push(up);
            }
        } else {
            bad.push(gofmt::quote(s));
        }
    }
    if !bad.is_empty() {
        return Err(err(
            e,
            format!("invalid connection types [{}]", bad.join(" ")),
        ));
    }
    Ok(out)
}

/// `permissions { publish, subscribe, allow_responses }` (nats-server's
/// `parseUserPermissions`).
fn parse_permissions(e: &Entry) -> Result<Permissions, ConfigError> {
    let ValueKind::Map(m) = &e.value.kind else {
        return Err(err(
            e,
            format!(
                "Expected permissions to be a map/struct, got {}",
                go_value(&e.value)
            ),
        ));
    };
    let mut p = Permissions::default();
    for x in m {
        match x.key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => p.publish = subject_permission(x)?,
            "sub" | "subscribe" | "export" => p.subscribe = subject_permission(x)?,
            "publish_allow_responses" | "allow_responses" => match &x.value.kind {
                ValueKind::Bool(true) => p.response = Some(ResponsePermission::default()),
                ValueKind::Bool(false) => {}
                ValueKind::Map(r) => p.response = Some(allow_responses(r)?),
                _ => {
                    return Err(err(
                        x,
                        "error parsing response permissions, expected a boolean or a map",
                    ))
                }
            },
            _ => {
                if !x.used_as_variable {
                    return Err(err(
                        x,
                        format!("Unknown field {} parsing permissions", gofmt::quote(&x.key)),
                    ));
                }
            }
        }
    }
    if p.response.is_some() {
        // Responses only: everything else is denied unless allowed.
        let publish = p.publish.get_or_insert_with(SubjectPermission::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Ok(p)
}

/// `publish`/`subscribe`: a subject, a list (an allow list), or
/// `{allow, deny}`. An empty map or list restricts nothing.
fn subject_permission(e: &Entry) -> Result<Option<SubjectPermission>, ConfigError> {
    let sp = match &e.value.kind {
        ValueKind::Map(m) => {
            let mut sp = SubjectPermission::default();
            for y in m {
                match y.key.to_ascii_lowercase().as_str() {
                    "allow" => sp.allow = Some(perm_subjects(y)?),
                    "deny" => sp.deny = perm_subjects(y)?,
                    _ => {
                        if !y.used_as_variable {
                            return Err(err(
                                y,
                                format!(
                                    "Unknown field name {} parsing subject permissions, only 'allow' or 'deny' are permitted",
                                    gofmt::quote(&y.key)
                                ),
                            ));
                        }
                    }
                }
            }
            sp
        }
        _ => SubjectPermission {
            allow: Some(perm_subjects(e)?),
            deny: Vec::new(),
        },
    };
    let allow = sp.allow.filter(|a| !a.is_empty());
    Ok(
        (allow.is_some() || !sp.deny.is_empty()).then_some(SubjectPermission {
            allow,
            deny: sp.deny,
        }),
    )
}

/// The subjects of one list: a string or an array of strings, each a
/// valid subject, or a subject and a queue group separated by space.
fn perm_subjects(e: &Entry) -> Result<Vec<String>, ConfigError> {
    let subjects: Vec<String> = match &e.value.kind {
        ValueKind::String(s) => vec![s.clone()],
        ValueKind::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ConfigError::new(
                        v.pos.clone(),
                        "Subject in permissions array cannot be cast to string",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(err(
                e,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    go_type(&e.value)
                ),
            ))
        }
    };
    for s in &subjects {
        if crate::subject::is_valid_subscription(s.as_bytes()) {
            continue;
        }
        let fields: Vec<&str> = s.split_whitespace().collect();
        let bad = match fields.as_slice() {
            [subject, _queue] if !crate::subject::is_valid_subscription(subject.as_bytes()) => {
                Some(*subject)
            }
            [_, _] => None,
            _ => Some(s.as_str()),
        };
        if let Some(b) = bad {
            return Err(err(
                e,
                format!("subject {} is not a valid subject", gofmt::quote(b)),
            ));
        }
    }
    Ok(subjects)
}

/// `allow_responses { max, expires }`: 0 keeps the default, a negative
/// value means no limit.
fn allow_responses(m: &super::value::Map) -> Result<ResponsePermission, ConfigError> {
    let mut rp = ResponsePermission::default();
    for y in m {
        match y.key.to_ascii_lowercase().as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => match int(y)? {
                0 => {}
                n if n < 0 => rp.max_msgs = 0,
                n => rp.max_msgs = n as u64,
            },
            "expires" | "expiration" | "ttl" => {
                let ValueKind::String(s) = &y.value.kind else {
                    return Err(err(y, "error parsing expires, not a duration string"));
                };
                let n = gofmt::parse_duration(s)
                    .map_err(|m| err(y, format!("error parsing expires: {m}")))?;
                match n {
                    0 => {}
                    n if n < 0 => rp.expires = Duration::ZERO,
                    n => rp.expires = Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX)),
                }
            }
            _ => {
                if !y.used_as_variable {
                    return Err(err(
                        y,
                        format!("Unknown field {} parsing permissions", gofmt::quote(&y.key)),
                    ));
                }
            }
        }
    }
    Ok(rp)
}

/// `server_tags`: a string or an array of strings.
fn tags(e: &Entry) -> Result<Vec<String>, ConfigError> {
    match &e.value.kind {
        ValueKind::String(s) => Ok(vec![s.clone()]),
        ValueKind::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    err(
                        e,
                        "error parsing tags: unsupported type *conf.token where string is expected",
                    )
                })
            })
            .collect(),
        _ => Err(err(
            e,
            format!("error parsing tags: unsupported type {}", go_type(&e.value)),
        )),
    }
}

/// `server_metadata`: a map of strings.
fn metadata(e: &Entry) -> Result<BTreeMap<String, String>, ConfigError> {
    let ValueKind::Map(m) = &e.value.kind else {
        return Err(err(
            e,
            format!(
                "error parsing metadata: unsupported type {}",
                go_type(&e.value)
            ),
        ));
    };
    m.iter()
        .map(|x| Ok((x.key.clone(), string(x)?.to_string())))
        .collect()
}

/// The checks nats-server makes once the file and the flags are merged
/// (its `validateOptions`), plus natsd's own ([`Options::validate`]).
/// The texts are nats-server's, e.g. `max_payload (104857600) cannot be
/// higher than max_pending (67108864)`.
pub fn validate(opts: &Options) -> Result<(), String> {
    if opts.server_name.as_deref().is_some_and(|n| n.contains(' ')) {
        return Err("server name cannot contain spaces".into());
    }
    opts.validate()?;
    accounts::check_system_account(opts)?;
    if opts.token.is_some() && (opts.user.is_some() || opts.password.is_some()) {
        return Err("Cannot have a user/pass and token".into());
    }
    Ok(())
}

/// One option as the reload comparison sees it: nats-server's field name
/// (used in its refusal), the configuration key (what [`reload_diff`]
/// returns), whether it reloads, and the old and new values as Go's `%v`
/// prints them.
struct Field {
    go: &'static str,
    key: &'static str,
    reloadable: bool,
    old: String,
    new: String,
}

fn go_port(p: u16) -> String {
    if p == 0 {
        "-1".into()
    } else {
        p.to_string()
    }
}

fn go_http_port(p: Option<u16>) -> String {
    match p {
        None => "0".into(),
        Some(p) => go_port(p),
    }
}

fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

fn go_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", parts.join(" "))
}

/// The users as they take effect (default permissions applied), for the
/// reload comparison.
fn effective_users(o: &Options) -> String {
    let v: Vec<_> = o
        .users
        .iter()
        .map(|u| {
            (
                &u.username,
                &u.password,
                o.account_user_permissions(&u.permissions, u.account.as_deref()),
                &u.allowed_connection_types,
                &u.account,
            )
        })
        .collect();
    format!("{v:?}")
}

fn effective_nkeys(o: &Options) -> String {
    let v: Vec<_> = o
        .nkeys
        .iter()
        .map(|k| {
            (
                &k.nkey,
                o.account_user_permissions(&k.permissions, k.account.as_deref()),
                &k.allowed_connection_types,
                &k.account,
            )
        })
        .collect();
    format!("{v:?}")
}

fn go_secs(d: Option<Duration>) -> String {
    gofmt::float_v(d.unwrap_or(Duration::from_secs(2)).as_secs_f64())
}

/// Every option, in the order of nats-server's `Options` struct (which
/// decides which refusal it reports first).
fn fields(o: &Options, n: &Options) -> Vec<Field> {
    fn f(go: &'static str, key: &'static str, reloadable: bool, old: String, new: String) -> Field {
        Field {
            go,
            key,
            reloadable,
            old,
            new,
        }
    }
    let s = |x: &Option<String>| x.clone().unwrap_or_default();
    let dur = gofmt::duration_string;
    vec![
        f(
            "ServerName",
            "server_name",
            false,
            s(&o.server_name),
            s(&n.server_name),
        ),
        f("Host", "host", false, o.host.clone(), n.host.clone()),
        f("Port", "port", false, go_port(o.port), go_port(n.port)),
        f(
            "ClientAdvertise",
            "client_advertise",
            true,
            o.client_advertise.clone(),
            n.client_advertise.clone(),
        ),
        f(
            "Trace",
            "trace",
            true,
            o.trace.to_string(),
            n.trace.to_string(),
        ),
        f(
            "Debug",
            "debug",
            true,
            o.debug.to_string(),
            n.debug.to_string(),
        ),
        f(
            "TraceVerbose",
            "trace_verbose",
            true,
            o.trace_verbose.to_string(),
            n.trace_verbose.to_string(),
        ),
        f(
            "TraceHeaders",
            "trace_headers",
            true,
            o.trace_headers.to_string(),
            n.trace_headers.to_string(),
        ),
        f(
            "NoSublistCache",
            "disable_sublist_cache",
            false,
            o.no_sublist_cache.to_string(),
            n.no_sublist_cache.to_string(),
        ),
        f(
            "NoHeaderSupport",
            "no_header_support",
            false,
            o.no_header_support.to_string(),
            n.no_header_support.to_string(),
        ),
        f(
            "Logtime",
            "logtime",
            true,
            o.logtime.to_string(),
            n.logtime.to_string(),
        ),
        f(
            "LogtimeUTC",
            "logtime_utc",
            true,
            o.logtime_utc.to_string(),
            n.logtime_utc.to_string(),
        ),
        f(
            "MaxConn",
            "max_connections",
            true,
            o.max_connections.to_string(),
            n.max_connections.to_string(),
        ),
        f(
            "MaxSubs",
            "max_subscriptions",
            false,
            o.max_subscriptions.to_string(),
            n.max_subscriptions.to_string(),
        ),
        f(
            "MaxSubTokens",
            "max_sub_tokens",
            false,
            o.max_sub_tokens.to_string(),
            n.max_sub_tokens.to_string(),
        ),
        f(
            "Nkeys",
            "authorization.nkeys",
            true,
            effective_nkeys(o),
            effective_nkeys(n),
        ),
        f(
            "Users",
            "authorization.users",
            true,
            effective_users(o),
            effective_users(n),
        ),
        f(
            "NoAuthUser",
            "no_auth_user",
            // Only dropping it, once its user is gone too, reloads.
            o.no_auth_user.as_ref().is_some_and(|old| {
                n.no_auth_user.is_none() && !n.users.iter().any(|u| &u.username == old)
            }),
            s(&o.no_auth_user),
            s(&n.no_auth_user),
        ),
        f(
            "Username",
            "authorization.user",
            true,
            s(&o.user),
            s(&n.user),
        ),
        f(
            "Password",
            "authorization.password",
            true,
            s(&o.password),
            s(&n.password),
        ),
        f(
            "Authorization",
            "authorization.token",
            true,
            s(&o.token),
            s(&n.token),
        ),
        f(
            "PingInterval",
            "ping_interval",
            true,
            dur(o.ping_interval),
            dur(n.ping_interval),
        ),
        f(
            "MaxPingsOut",
            "ping_max",
            true,
            o.ping_max.to_string(),
            n.ping_max.to_string(),
        ),
        f(
            "HTTPHost",
            "http",
            false,
            o.effective_http_host().into(),
            n.effective_http_host().into(),
        ),
        f(
            "HTTPPort",
            "http_port",
            false,
            go_http_port(o.http_port),
            go_http_port(n.http_port),
        ),
        f(
            "HTTPSPort",
            "https_port",
            false,
            go_http_port(o.https_port),
            go_http_port(n.https_port),
        ),
        f(
            "HTTPBasePath",
            "http_base_path",
            false,
            o.http_base_path.clone(),
            n.http_base_path.clone(),
        ),
        f(
            "AuthTimeout",
            "authorization.timeout",
            true,
            go_secs(o.auth_timeout),
            go_secs(n.auth_timeout),
        ),
        f(
            "MaxControlLine",
            "max_control_line",
            true,
            o.max_control_line.to_string(),
            n.max_control_line.to_string(),
        ),
        f(
            "MaxPayload",
            "max_payload",
            true,
            o.max_payload.to_string(),
            n.max_payload.to_string(),
        ),
        f(
            "MaxPending",
            "max_pending",
            false,
            o.max_pending.to_string(),
            n.max_pending.to_string(),
        ),
        f(
            "NoFastProducerStall",
            "no_fast_producer_stall",
            true,
            o.no_fast_producer_stall.to_string(),
            n.no_fast_producer_stall.to_string(),
        ),
        f(
            "PidFile",
            "pid_file",
            true,
            o.pid_file.clone(),
            n.pid_file.clone(),
        ),
        f(
            "PortsFileDir",
            "ports_file_dir",
            true,
            o.ports_file_dir.clone(),
            n.ports_file_dir.clone(),
        ),
        f(
            "LogFile",
            "log_file",
            true,
            o.log_file.clone(),
            n.log_file.clone(),
        ),
        f(
            "LogSizeLimit",
            "log_size_limit",
            false,
            o.log_size_limit.to_string(),
            n.log_size_limit.to_string(),
        ),
        f(
            "LogMaxFiles",
            "log_max_num",
            false,
            o.log_max_num.to_string(),
            n.log_max_num.to_string(),
        ),
        f(
            "WriteDeadline",
            "write_deadline",
            true,
            dur(o.write_deadline),
            dur(n.write_deadline),
        ),
        f(
            "WriteTimeout",
            "write_timeout",
            false,
            o.write_timeout.as_str().into(),
            n.write_timeout.as_str().into(),
        ),
        f(
            "MaxClosedClients",
            "max_closed_clients",
            false,
            o.max_closed_clients.to_string(),
            n.max_closed_clients.to_string(),
        ),
        f(
            "LameDuckDuration",
            "lame_duck_duration",
            false,
            dur(o.lame_duck_duration),
            dur(n.lame_duck_duration),
        ),
        f(
            "LameDuckGracePeriod",
            "lame_duck_grace_period",
            false,
            dur(o.lame_duck_grace_period),
            dur(n.lame_duck_grace_period),
        ),
        f(
            "MaxTracedMsgLen",
            "max_traced_msg_len",
            true,
            o.max_traced_msg_len.to_string(),
            n.max_traced_msg_len.to_string(),
        ),
        f(
            "ConnectErrorReports",
            "connect_error_reports",
            true,
            o.connect_error_reports.to_string(),
            n.connect_error_reports.to_string(),
        ),
        f(
            "ReconnectErrorReports",
            "reconnect_error_reports",
            true,
            o.reconnect_error_reports.to_string(),
            n.reconnect_error_reports.to_string(),
        ),
        f(
            "Tags",
            "server_tags",
            true,
            go_list(&o.server_tags),
            go_list(&n.server_tags),
        ),
        f(
            "Metadata",
            "server_metadata",
            true,
            go_map(&o.server_metadata),
            go_map(&n.server_metadata),
        ),
        // Cluster options are not reloadable in natsd yet.
        f(
            "Cluster",
            "cluster",
            false,
            o.cluster
                .as_ref()
                .map(cluster::to_config)
                .unwrap_or_default(),
            n.cluster
                .as_ref()
                .map(cluster::to_config)
                .unwrap_or_default(),
        ),
        // Account users reload with the users above; the accounts
        // themselves (exports, imports, mappings) do not in natsd yet.
        f(
            "Accounts",
            "accounts",
            false,
            format!("{:?}", o.accounts),
            format!("{:?}", n.accounts),
        ),
        f(
            "Mappings",
            "mappings",
            false,
            format!("{:?}", o.mappings),
            format!("{:?}", n.mappings),
        ),
        f(
            "SystemAccount",
            "system_account",
            false,
            format!("{:?}", o.system_account),
            format!("{:?}", n.system_account),
        ),
        f(
            "NoSystemAccount",
            "no_system_account",
            false,
            o.no_system_account.to_string(),
            n.no_system_account.to_string(),
        ),
        f(
            "TLSConfig",
            "tls",
            true,
            o.tls.as_ref().map(|t| format!("{t:?}")).unwrap_or_default(),
            n.tls.as_ref().map(|t| format!("{t:?}")).unwrap_or_default(),
        ),
        f(
            "AllowNonTLS",
            "allow_non_tls",
            true,
            o.allow_non_tls.to_string(),
            n.allow_non_tls.to_string(),
        ),
    ]
}

/// Compares the running options with reloaded ones (file re-read, flags
/// re-applied, [`validate`]d) as nats-server's reload does (spec §5).
///
/// Returns the configuration keys of the options that changed, all of them
/// reloadable (in nats-server's order; `authorization.user`,
/// `authorization.password`, `authorization.token` and
/// `authorization.timeout` name the parts of the block), or, if any
/// changed option cannot be reloaded, nats-server's refusal for the first
/// one: `config reload not supported for MaxSubs: old=0, new=5`. Nothing
/// must then change.
pub fn reload_diff(old: &Options, new: &Options) -> Result<Vec<&'static str>, String> {
    let mut changed = Vec::new();
    for f in fields(old, new) {
        if f.old == f.new {
            continue;
        }
        if !f.reloadable {
            return Err(format!(
                "config reload not supported for {}: old={}, new={}",
                f.go, f.old, f.new
            ));
        }
        // nats-server applies a dropped no_auth_user without a word.
        if f.key != "no_auth_user" {
            changed.push(f.key);
        }
    }
    Ok(changed)
}

/// The line nats-server logs for one change [`reload_diff`] returned, given
/// the new options: `Reloaded: debug = true`, `Reloaded: ping_interval =
/// 30s`, `Reloaded: authorization username`, `Reloaded: tags`, …
pub fn reload_log_line(key: &str, new: &Options) -> String {
    let what = match key {
        "authorization.user" => "authorization username".to_string(),
        "authorization.password" => "authorization password".to_string(),
        "authorization.token" => "authorization token".to_string(),
        "authorization.timeout" => format!("authorization timeout = {}", go_secs(new.auth_timeout)),
        "authorization.users" => "authorization users".to_string(),
        "authorization.nkeys" => "authorization nkey users".to_string(),
        "server_tags" => "tags".to_string(),
        "tls" if new.tls.is_some() => "tls = enabled".to_string(),
        "tls" => "tls = disabled".to_string(),
        "server_metadata" => "metadata".to_string(),
        "no_fast_producer_stall" if new.no_fast_producer_stall => {
            "fast producers will not be stalled".to_string()
        }
        "no_fast_producer_stall" => "fast producers will be stalled".to_string(),
        _ => match fields(new, new).into_iter().find(|f| f.key == key) {
            Some(f) => format!("{key} = {}", f.new),
            None => key.to_string(),
        },
    };
    format!("Reloaded: {what}")
}

/// Writes `opts` as a configuration file that [`apply`] turns back into
/// the same options (on top of the defaults). Every option is written,
/// defaults included, except unset strings and lists.
///
/// Options that no file can produce come back as the closest file can
/// say: an empty `host`, a zero `max_payload`, `max_pending`,
/// `max_control_line`, `ping_max`, `max_closed_clients`,
/// `connect_error_reports`, `reconnect_error_reports` or duration (the
/// file's 0 means the default), `Some("")` strings (the file's `""` means
/// unset), `trace_verbose` without `trace`… ; the round trip holds for
/// everything else.
pub fn to_config(opts: &Options) -> String {
    use std::fmt::Write as _;
    let o = opts;
    let mut out = String::from("# natsd configuration\n");
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "{key}: {value}");
    };
    let q = |s: &str| gofmt::quote(s);
    let dur = |d: Duration| q(&gofmt::duration_string(d));
    line("host", q(&o.host));
    line(
        "port",
        if o.port == 0 {
            "-1".into()
        } else {
            o.port.to_string()
        },
    );
    if let Some(n) = &o.server_name {
        line("server_name", q(n));
    }
    if !o.client_advertise.is_empty() {
        line("client_advertise", q(&o.client_advertise));
    }
    if !o.server_tags.is_empty() {
        let items: Vec<String> = o.server_tags.iter().map(|t| q(t)).collect();
        line("server_tags", format!("[{}]", items.join(", ")));
    }
    if !o.server_metadata.is_empty() {
        let items: Vec<String> = o
            .server_metadata
            .iter()
            .map(|(k, v)| format!("{}: {}", quote_key(k), q(v)))
            .collect();
        line("server_metadata", format!("{{ {} }}", items.join(", ")));
    }
    line("max_connections", o.max_connections.to_string());
    line("max_payload", o.max_payload.to_string());
    line("max_pending", o.max_pending.to_string());
    line("max_control_line", o.max_control_line.to_string());
    line("max_subscriptions", o.max_subscriptions.to_string());
    if o.max_sub_tokens > 0 {
        line("max_sub_tokens", o.max_sub_tokens.to_string());
    }
    line("ping_interval", dur(o.ping_interval));
    line("ping_max", o.ping_max.to_string());
    line("write_deadline", dur(o.write_deadline));
    line(
        "write_timeout",
        q(if o.write_timeout == WriteTimeout::Close {
            "close"
        } else {
            "default"
        }),
    );
    line("no_header_support", o.no_header_support.to_string());
    line("disable_sublist_cache", o.no_sublist_cache.to_string());
    line("max_closed_clients", o.max_closed_clients.to_string());
    line("lame_duck_duration", dur(o.lame_duck_duration));
    line("lame_duck_grace_period", dur(o.lame_duck_grace_period));
    line(
        "no_fast_producer_stall",
        o.no_fast_producer_stall.to_string(),
    );
    line("connect_error_reports", o.connect_error_reports.to_string());
    line(
        "reconnect_error_reports",
        o.reconnect_error_reports.to_string(),
    );
    let http_port = match o.http_port {
        None => 0,
        Some(0) => -1,
        Some(p) => i64::from(p),
    };
    if !o.http_host.is_empty() {
        line("http", q(&join_host_port(&o.http_host, http_port)));
    } else {
        line("http_port", http_port.to_string());
    }
    if !o.http_base_path.is_empty() {
        line("http_base_path", q(&o.http_base_path));
    }
    // trace_verbose also sets trace: write it first.
    line("trace_verbose", o.trace_verbose.to_string());
    line("trace", o.trace.to_string());
    line("debug", o.debug.to_string());
    line("trace_headers", o.trace_headers.to_string());
    line("logtime", o.logtime.to_string());
    line("logtime_utc", o.logtime_utc.to_string());
    if !o.log_file.is_empty() {
        line("log_file", q(&o.log_file));
    }
    line("log_size_limit", o.log_size_limit.to_string());
    line("log_max_num", o.log_max_num.to_string());
    line("max_traced_msg_len", o.max_traced_msg_len.to_string());
    if !o.pid_file.is_empty() {
        line("pid_file", q(&o.pid_file));
    }
    if !o.ports_file_dir.is_empty() {
        line("ports_file_dir", q(&o.ports_file_dir));
    }
    let mut auth = Vec::new();
    if let Some(u) = &o.user {
        auth.push(format!("  user: {}", q(u)));
    }
    if let Some(p) = &o.password {
        auth.push(format!("  password: {}", q(p)));
    }
    if let Some(t) = &o.token {
        auth.push(format!("  token: {}", q(t)));
    }
    if let Some(t) = o.auth_timeout {
        auth.push(format!("  timeout: {}", dur(t)));
    }
    // Users of the `accounts` block are not printed (nor the accounts).
    let global_users = || o.users.iter().filter(|u| u.account.is_none());
    let global_nkeys = || o.nkeys.iter().filter(|k| k.account.is_none());
    if global_users().next().is_some() || global_nkeys().next().is_some() {
        let mut entries = Vec::new();
        for u in global_users() {
            let mut e = format!("user: {}, password: {}", q(&u.username), q(&u.password));
            write_user_extras(&mut e, &u.permissions, &u.allowed_connection_types);
            entries.push(format!("    {{ {e} }}"));
        }
        for k in global_nkeys() {
            let mut e = format!("nkey: {}", q(&k.nkey));
            write_user_extras(&mut e, &k.permissions, &k.allowed_connection_types);
            entries.push(format!("    {{ {e} }}"));
        }
        auth.push(format!("  users: [\n{}\n  ]", entries.join("\n")));
    }
    if let Some(p) = &o.default_permissions {
        auth.push(format!("  default_permissions: {}", permissions_config(p)));
    }
    if !auth.is_empty() {
        line("authorization", format!("{{\n{}\n}}", auth.join("\n")));
    }
    if let Some(n) = &o.no_auth_user {
        line("no_auth_user", q(n));
    }
    if let Some(c) = &o.cluster {
        line("cluster", cluster::to_config(c));
    }
    out
}

fn write_user_extras(e: &mut String, perms: &Option<Permissions>, types: &[String]) {
    if let Some(p) = perms {
        e.push_str(", permissions: ");
        e.push_str(&permissions_config(p));
    }
    if !types.is_empty() {
        e.push_str(", allowed_connection_types: ");
        e.push_str(&string_list(types));
    }
}

fn string_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| gofmt::quote(s)).collect();
    format!("[{}]", items.join(", "))
}

/// `permissions` written back (what [`parse_permissions`] reads).
fn permissions_config(p: &Permissions) -> String {
    let mut parts = Vec::new();
    let list = |name: &str, sp: &SubjectPermission| {
        let mut inner = Vec::new();
        if let Some(a) = &sp.allow {
            inner.push(format!("allow: {}", string_list(a)));
        }
        if !sp.deny.is_empty() {
            inner.push(format!("deny: {}", string_list(&sp.deny)));
        }
        format!("{name}: {{ {} }}", inner.join(", "))
    };
    if let Some(sp) = &p.publish {
        parts.push(list("publish", sp));
    }
    if let Some(sp) = &p.subscribe {
        parts.push(list("subscribe", sp));
    }
    if let Some(r) = &p.response {
        let max = if r.max_msgs == 0 {
            "-1".to_string()
        } else {
            r.max_msgs.to_string()
        };
        let expires = if r.expires.is_zero() {
            "-1ns".to_string()
        } else {
            gofmt::duration_string(r.expires)
        };
        parts.push(format!(
            "allow_responses: {{ max: {max}, expires: {} }}",
            gofmt::quote(&expires)
        ));
    }
    format!("{{ {} }}", parts.join(", "))
}

/// A quoted key. Quoted keys have no escapes: the quote must be one the key
/// does not contain (a key with both kinds cannot be written).
fn quote_key(k: &str) -> String {
    if k.contains('"') {
        format!("'{k}'")
    } else {
        format!("\"{k}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapLoader;

    fn opts(text: &str) -> Result<(Options, Vec<String>), String> {
        let mut o = Options::default();
        let l = load(text, "t.conf", &mut MapLoader::new(), &|_| None, &mut o)
            .map_err(|e| e.to_string())?;
        Ok((o, l.warnings.iter().map(ToString::to_string).collect()))
    }

    #[test]
    fn basics() {
        let (o, w) =
            opts("listen: 127.0.0.1:4333\nmax_payload: 2MB\nping_interval: \"30s\"\n").unwrap();
        assert!(w.is_empty());
        assert_eq!(
            (o.host.as_str(), o.port, o.max_payload),
            ("127.0.0.1", 4333, 2 << 20)
        );
        assert_eq!(o.ping_interval, Duration::from_secs(30));
        let (o, w) = opts("ping_interval: 2m\n").unwrap();
        assert_eq!(o.ping_interval, Duration::from_secs(2_000_000));
        assert_eq!(
            w,
            ["t.conf:1:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"]
        );
        assert_eq!(
            opts("bogus_key: 1\n").unwrap_err(),
            "t.conf:1:1: unknown field \"bogus_key\""
        );
        assert_eq!(
            opts("\n  gateway { port: 1 }\n").unwrap_err(),
            "t.conf:2:3: not supported yet: gateway"
        );
        assert_eq!(
            opts("cluster {\n  port: 1\n  permissions: {}\n}\n").unwrap_err(),
            "t.conf:3:3: not supported yet: cluster.permissions"
        );
    }

    #[test]
    fn reload() {
        let a = Options::default();
        let b = Options {
            debug: true,
            max_payload: 2000,
            ..a.clone()
        };
        assert_eq!(reload_diff(&a, &b), Ok(vec!["debug", "max_payload"]));
        assert_eq!(reload_log_line("debug", &b), "Reloaded: debug = true");
        let c = Options {
            max_subscriptions: 5,
            server_name: Some("x".into()),
            ..a.clone()
        };
        assert_eq!(
            reload_diff(&a, &c).unwrap_err(),
            "config reload not supported for ServerName: old=, new=x"
        );
    }
}
