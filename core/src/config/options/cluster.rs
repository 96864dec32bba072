//! `cluster { … }`: route options (routes.md, spec config.md's cluster
//! keys). Keys natsd does not implement yet are refused by name
//! (`not supported yet: cluster.permissions`); `pool_size`, `accounts`
//! and `compression` are accepted, with natsd always running one
//! unpooled, uncompressed route per peer that carries every account.
//! `tls` is read like the top-level block (`options/tls.rs`).

use super::{boolean, err, host_port, int, non_negative, not_supported, string, wrong_type};
use super::{Applier, ConfigError, Entry, ValueKind};
use crate::route::{ClusterOptions, RouteUrl};

/// `cluster` keys nats-server knows that natsd refuses.
const CLUSTER_NOT_SUPPORTED: &[&str] = &[
    "permissions",
    "ping_interval",
    "ping_max",
    "write_deadline",
    "write_timeout",
    "compress",
];

/// A route listen port as written: 0 (or none) is no routing, -1 random.
fn route_port(e: &Entry, n: i64) -> Result<Option<u16>, ConfigError> {
    match n {
        0 => Ok(None),
        -1 => Ok(Some(0)),
        1..=65535 => Ok(Some(n as u16)),
        _ => Err(err(e, format!("invalid port {n}"))),
    }
}

/// Route URLs: an array of strings, or one string of comma-separated URLs.
pub(super) fn route_urls(e: &Entry) -> Result<Vec<RouteUrl>, ConfigError> {
    let strings: Vec<&str> = match &e.value.kind {
        ValueKind::String(s) => s.split(',').filter(|s| !s.trim().is_empty()).collect(),
        ValueKind::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    err(
                        e,
                        format!("error parsing routes: unsupported type {}", v.type_name()),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(wrong_type(e, "[]interface {}")),
    };
    strings
        .into_iter()
        .map(|s| RouteUrl::parse(s).map_err(|m| err(e, m)))
        .collect()
}

/// `accounts: [A, B]` (or one name): account names.
fn account_names(e: &Entry) -> Result<Vec<String>, ConfigError> {
    let items = match &e.value.kind {
        ValueKind::String(s) => return Ok(vec![s.clone()]),
        ValueKind::Array(items) => items,
        _ => return Err(wrong_type(e, "[]interface {}")),
    };
    items
        .iter()
        .map(|v| {
            v.as_str().map(str::to_string).ok_or_else(|| {
                ConfigError::new(
                    v.pos.clone(),
                    format!(
                        "error parsing accounts: unsupported type in array {}",
                        super::go_type(v)
                    ),
                )
            })
        })
        .collect()
}

impl Applier<'_> {
    /// `cluster { name, listen, host, port, routes, advertise, no_advertise,
    /// connect_retries, authorization, pool_size, accounts, compression,
    /// tls }`.
    pub(super) fn cluster(&mut self, block: &Entry) -> Result<(), ConfigError> {
        let ValueKind::Map(m) = &block.value.kind else {
            return Err(wrong_type(block, "map[string]interface {}"));
        };
        let mut c = ClusterOptions::default();
        for e in m {
            match e.key.to_ascii_lowercase().as_str() {
                "name" => {
                    let s = string(e)?;
                    if s.contains(' ') {
                        return Err(err(e, "cluster name cannot contain spaces"));
                    }
                    c.name = (!s.is_empty()).then(|| s.to_string());
                }
                "listen" => {
                    let (host, port) = host_port(e)?;
                    if let Some(h) = host.filter(|h| !h.is_empty()) {
                        c.host = h;
                    }
                    c.port = route_port(e, port)?;
                }
                "port" => c.port = route_port(e, int(e)?)?,
                "host" | "net" => {
                    let h = string(e)?;
                    if !h.is_empty() {
                        c.host = h.to_string();
                    }
                }
                "routes" => c.routes = route_urls(e)?,
                "cluster_advertise" | "advertise" => c.advertise = string(e)?.to_string(),
                "no_advertise" => c.no_advertise = boolean(e)?,
                "connect_retries" => {
                    let n = non_negative(e, int(e)?)?;
                    c.connect_retries = u32::try_from(n)
                        .map_err(|_| err(e, format!("{} value is too big", e.key)))?;
                }
                // natsd re-dials a lost explicit route every second.
                "connect_backoff" => {
                    boolean(e)?;
                }
                "pool_size" => c.pool_size = int(e)?,
                // Pinned accounts get their own pooled connection in
                // nats-server; natsd's single route carries them with the
                // account name in every line, which pooling peers accept.
                "accounts" | "pinned_accounts" => c.accounts = account_names(e)?,
                "tls" => c.tls = Some(super::tls::tls_block(e, super::tls::TlsBlock::Cluster)?),
                "compression" => {
                    c.compression = match &e.value.kind {
                        ValueKind::String(s) => s.clone(),
                        ValueKind::Bool(b) => if *b { "s2_auto" } else { "off" }.to_string(),
                        ValueKind::Map(mm) => mm
                            .get_ci("mode")
                            .and_then(|v| v.as_str())
                            .unwrap_or("accept")
                            .to_string(),
                        _ => return Err(wrong_type(e, "string")),
                    }
                }
                "authorization" => self.cluster_authorization(e, &mut c)?,
                k if CLUSTER_NOT_SUPPORTED.contains(&k) => {
                    return Err(not_supported(e, &format!("{}.{}", block.key, e.key)));
                }
                _ => {
                    if !e.used_as_variable {
                        return Err(err(
                            e,
                            format!("unknown field {}", super::gofmt::quote(&e.key)),
                        ));
                    }
                }
            }
        }
        self.opts.cluster = Some(c);
        Ok(())
    }

    /// `cluster.authorization { user, password, timeout }`.
    fn cluster_authorization(
        &mut self,
        block: &Entry,
        c: &mut ClusterOptions,
    ) -> Result<(), ConfigError> {
        let ValueKind::Map(m) = &block.value.kind else {
            return Err(wrong_type(block, "map[string]interface {}"));
        };
        for e in m {
            match e.key.to_ascii_lowercase().as_str() {
                "user" | "username" => {
                    c.user = Some(string(e)?.to_string()).filter(|s| !s.is_empty())
                }
                "pass" | "password" => {
                    c.password = Some(string(e)?.to_string()).filter(|s| !s.is_empty())
                }
                "timeout" => c.auth_timeout = self.auth_timeout(e)?,
                "users" => {
                    return Err(err(
                        e,
                        "Cluster authorization does not allow multiple users",
                    ))
                }
                "token" => return Err(err(e, "Cluster authorization does not support tokens")),
                "permissions" | "default_permissions" | "default_permission" => {
                    return Err(not_supported(
                        e,
                        &format!("cluster.authorization.{}", e.key),
                    ))
                }
                _ => {
                    if !e.used_as_variable {
                        return Err(err(
                            e,
                            format!("unknown field {}", super::gofmt::quote(&e.key)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `cluster` block written back (what [`Applier::cluster`] reads).
pub(super) fn to_config(c: &ClusterOptions) -> String {
    let q = crate::config::gofmt::quote;
    let mut items = Vec::new();
    if let Some(n) = &c.name {
        items.push(format!("  name: {}", q(n)));
    }
    let port = match c.port {
        None => 0,
        Some(0) => -1,
        Some(p) => i64::from(p),
    };
    items.push(format!("  host: {}", q(&c.host)));
    items.push(format!("  port: {port}"));
    if !c.routes.is_empty() {
        let urls: Vec<String> = c.routes.iter().map(|u| q(&u.raw)).collect();
        items.push(format!("  routes: [{}]", urls.join(", ")));
    }
    if !c.advertise.is_empty() {
        items.push(format!("  advertise: {}", q(&c.advertise)));
    }
    items.push(format!("  no_advertise: {}", c.no_advertise));
    items.push(format!("  connect_retries: {}", c.connect_retries));
    if c.pool_size != 0 {
        items.push(format!("  pool_size: {}", c.pool_size));
    }
    if !c.accounts.is_empty() {
        let names: Vec<String> = c.accounts.iter().map(|a| q(a)).collect();
        items.push(format!("  accounts: [{}]", names.join(", ")));
    }
    if !c.compression.is_empty() {
        items.push(format!("  compression: {}", q(&c.compression)));
    }
    if let Some(t) = &c.tls {
        items.push(format!("  tls: {}", super::tls::to_config(t)));
    }
    let mut auth = Vec::new();
    if let Some(u) = &c.user {
        auth.push(format!("user: {}", q(u)));
    }
    if let Some(p) = &c.password {
        auth.push(format!("password: {}", q(p)));
    }
    if let Some(t) = c.auth_timeout {
        auth.push(format!("timeout: {}", q(&super::gofmt::duration_string(t))));
    }
    if !auth.is_empty() {
        items.push(format!("  authorization: {{ {} }}", auth.join(", ")));
    }
    format!("{{\n{}\n}}", items.join("\n"))
}
