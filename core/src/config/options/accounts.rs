//! `accounts { … }`, `system_account` and `mappings` (auth.md §8, §11).
//! An account's users join [`Options::users`]/[`Options::nkeys`] with
//! their account set; exports, imports and mappings are checked against
//! each other once the whole block is read, with nats-server's texts.

use std::time::Duration;

use super::{err, go_value, gofmt, parse_permissions, parse_users, string, wrong_type};
use super::{Applier, ConfigError, Entry, ValueKind};
use crate::account::transform::Transform;
use crate::config::value::{Pos, Value};
use crate::options::{AccountOptions, Export, Import, Mapping, Options, ResponseType};

/// Account keys nats-server knows that natsd refuses.
const ACCOUNT_NOT_SUPPORTED: &[&str] = &["nkey", "jetstream", "msg_trace", "trace_dest"];

impl Applier<'_> {
    /// `accounts`: a map of name → account, or a list of names.
    pub(super) fn accounts(&mut self, block: &Entry) -> Result<(), ConfigError> {
        let mut list = Vec::new();
        let mut users = Vec::new();
        let mut nkeys = Vec::new();
        match &block.value.kind {
            ValueKind::Array(names) => {
                for v in names {
                    let name = v.as_str().ok_or_else(|| {
                        ConfigError::new(v.pos.clone(), "Expected account name to be a string")
                    })?;
                    list.push(account_named(name, &v.pos)?);
                }
            }
            ValueKind::Map(m) => {
                for e in m {
                    let mut acc = account_named(&e.key, &e.key_pos)?;
                    let ValueKind::Map(body) = &e.value.kind else {
                        return Err(err(e, "Expected map entries for accounts"));
                    };
                    for x in body {
                        match x.key.to_ascii_lowercase().as_str() {
                            "users" => {
                                let (u, k) = parse_users(x)?;
                                users.extend(u.into_iter().map(|mut u| {
                                    u.account = Some(acc.name.clone());
                                    (u, x.key_pos.clone())
                                }));
                                nkeys.extend(k.into_iter().map(|mut k| {
                                    k.account = Some(acc.name.clone());
                                    (k, x.key_pos.clone())
                                }));
                            }
                            "exports" => acc.exports = exports(x)?,
                            "imports" => acc.imports = imports(x)?,
                            "mappings" | "maps" => acc.mappings = mappings(x)?,
                            "limits" => acc.limits = limits(x)?,
                            "default_permissions" => {
                                acc.default_permissions = Some(parse_permissions(x)?)
                            }
                            k if ACCOUNT_NOT_SUPPORTED.contains(&k) => {
                                return Err(super::not_supported(
                                    x,
                                    &format!("accounts.{}", x.key),
                                ));
                            }
                            _ => unknown(x)?,
                        }
                    }
                    list.push(acc);
                }
            }
            _ => return Err(wrong_type(block, "map[string]interface {}")),
        }
        check_links(&list, &block.key_pos)?;
        // A later `accounts` block replaces an earlier one (and its users).
        self.opts.users.retain(|u| u.account.is_none());
        self.opts.nkeys.retain(|k| k.account.is_none());
        for (u, pos) in users {
            if self.opts.users.iter().any(|x| x.username == u.username) {
                return Err(ConfigError::new(
                    pos,
                    format!("Duplicate user {} detected", gofmt::quote(&u.username)),
                ));
            }
            self.opts.users.push(u);
        }
        for (k, pos) in nkeys {
            if self.opts.nkeys.iter().any(|x| x.nkey == k.nkey) {
                return Err(ConfigError::new(
                    pos,
                    format!("Duplicate nkey {} detected", gofmt::quote(&k.nkey)),
                ));
            }
            self.opts.nkeys.push(k);
        }
        self.opts.accounts = list;
        Ok(())
    }

    /// Top-level `mappings`: the global account's.
    pub(super) fn global_mappings(&mut self, e: &Entry) -> Result<(), ConfigError> {
        self.opts.mappings = mappings(e)?;
        Ok(())
    }
}

/// `limits { max_connections, max_subscriptions, max_payload,
/// max_leafnodes }` (each with nats-server's short alias).
fn limits(e: &Entry) -> Result<crate::options::AccountLimits, ConfigError> {
    let ValueKind::Map(m) = &e.value.kind else {
        return Err(wrong_type(e, "map[string]interface {}"));
    };
    let mut l = crate::options::AccountLimits::default();
    for x in m {
        let field = match x.key.to_ascii_lowercase().as_str() {
            "max_connections" | "max_conn" => &mut l.max_connections,
            "max_subscriptions" | "max_subs" => &mut l.max_subscriptions,
            "max_payload" | "max_pay" => &mut l.max_payload,
            "max_leafnodes" | "max_leafs" => &mut l.max_leafnodes,
            _ => {
                if x.used_as_variable {
                    continue;
                }
                return Err(err(
                    x,
                    format!(
                        "Unknown field {} parsing account limits",
                        gofmt::quote(&x.key)
                    ),
                ));
            }
        };
        *field = super::int(x)?;
    }
    Ok(l)
}

/// A key nats-server does not know here is an error, unless the entry only
/// defines a variable.
fn unknown(x: &Entry) -> Result<(), ConfigError> {
    if x.used_as_variable {
        return Ok(());
    }
    Err(err(x, format!("unknown field {}", gofmt::quote(&x.key))))
}

fn account_named(name: &str, pos: &Pos) -> Result<AccountOptions, ConfigError> {
    if name == crate::account::GLOBAL {
        return Err(ConfigError::new(
            pos.clone(),
            format!("{} is a Reserved Account", gofmt::quote(name)),
        ));
    }
    Ok(AccountOptions {
        name: name.to_string(),
        ..AccountOptions::default()
    })
}

fn entries<'a>(e: &'a Entry, what: &str) -> Result<&'a [Value], ConfigError> {
    match &e.value.kind {
        ValueKind::Array(a) => Ok(a),
        _ => Err(err(
            e,
            format!(
                "{what} should be an array, got {}",
                gofmt::quote(&go_value(&e.value))
            ),
        )),
    }
}

fn map_entry<'a>(v: &'a Value, what: &str) -> Result<&'a crate::config::value::Map, ConfigError> {
    v.as_map().ok_or_else(|| {
        ConfigError::new(
            v.pos.clone(),
            format!("{what} entry should be a map/struct, got {}", go_value(v)),
        )
    })
}

/// `exports: [ {stream|service: subject, accounts, response_type,
/// response_threshold} ]`.
fn exports(e: &Entry) -> Result<Vec<Export>, ConfigError> {
    let mut out = Vec::new();
    for v in entries(e, "Exports")? {
        let m = map_entry(v, "Export")?;
        let mut x = Export {
            service: false,
            subject: String::new(),
            accounts: Vec::new(),
            response_type: ResponseType::Singleton,
            response_threshold: Duration::from_secs(120),
        };
        let mut kind_seen = false;
        for y in m {
            match y.key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    if kind_seen {
                        return Err(err(
                            y,
                            "Detected stream and service export: can not have both",
                        ));
                    }
                    kind_seen = true;
                    x.service = y.key.eq_ignore_ascii_case("service");
                    x.subject = string(y)?.to_string();
                }
                "accounts" => {
                    x.accounts = y
                        .value
                        .as_array()
                        .ok_or_else(|| err(y, "Expected accounts to be an array of strings"))?
                        .iter()
                        .map(|a| {
                            a.as_str().map(str::to_string).ok_or_else(|| {
                                ConfigError::new(
                                    a.pos.clone(),
                                    "Expected account name to be a string",
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                "response" | "response_type" => {
                    x.response_type = match string(y)?.to_ascii_lowercase().as_str() {
                        "single" | "singleton" => ResponseType::Singleton,
                        "stream" => ResponseType::Stream,
                        "chunk" | "chunked" => ResponseType::Chunked,
                        other => {
                            return Err(err(
                                y,
                                format!("Unknown response type: {}", gofmt::quote(other)),
                            ))
                        }
                    }
                }
                "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                    let s = string(y)?;
                    let n = gofmt::parse_duration(s)
                        .map_err(|m| err(y, format!("error parsing response threshold: {m}")))?;
                    x.response_threshold = Duration::from_nanos(n.max(0) as u64);
                }
                "latency" | "account_token_position" | "allow_trace" => {
                    return Err(super::not_supported(y, &format!("exports.{}", y.key)));
                }
                _ => unknown(y)?,
            }
        }
        if !kind_seen {
            return Err(ConfigError::new(
                v.pos.clone(),
                "Expected a stream or service export",
            ));
        }
        if x.service && !x.response_type.eq(&ResponseType::Singleton) && x.subject.is_empty() {
            return Err(ConfigError::new(
                v.pos.clone(),
                "Service export needs a subject",
            ));
        }
        out.push(x);
    }
    Ok(out)
}

/// `imports: [ {stream|service: {account, subject}, prefix, to} ]`.
fn imports(e: &Entry) -> Result<Vec<Import>, ConfigError> {
    let mut out = Vec::new();
    for v in entries(e, "Imports")? {
        let m = map_entry(v, "Import")?;
        let mut imp = Import {
            service: false,
            account: String::new(),
            subject: String::new(),
            to: None,
        };
        let (mut kind_seen, mut prefix, mut to) = (false, None, None);
        for y in m {
            match y.key.to_ascii_lowercase().as_str() {
                "stream" | "service" => {
                    kind_seen = true;
                    imp.service = y.key.eq_ignore_ascii_case("service");
                    let src = y
                        .value
                        .as_map()
                        .ok_or_else(|| err(y, "Expect an account name and a subject"))?;
                    for z in src {
                        match z.key.to_ascii_lowercase().as_str() {
                            "account" => imp.account = string(z)?.to_string(),
                            "subject" => imp.subject = string(z)?.to_string(),
                            _ => unknown(z)?,
                        }
                    }
                    if imp.account.is_empty() || imp.subject.is_empty() {
                        return Err(err(y, "Expect an account name and a subject"));
                    }
                }
                "prefix" => prefix = Some((string(y)?.to_string(), y.key_pos.clone())),
                "to" => to = Some(string(y)?.to_string()),
                "share" | "allow_trace" => {
                    return Err(super::not_supported(y, &format!("imports.{}", y.key)));
                }
                _ => unknown(y)?,
            }
        }
        if !kind_seen {
            return Err(ConfigError::new(
                v.pos.clone(),
                "Expected a stream or service import",
            ));
        }
        if let Some((p, pos)) = prefix {
            if imp.service {
                return Err(ConfigError::new(
                    pos,
                    "Service import can not have a 'prefix'",
                ));
            }
            if to.is_some() {
                return Err(ConfigError::new(
                    last_pos(m, v),
                    "Stream import can not have a 'prefix' and a 'to' property",
                ));
            }
            let p = p.trim_end_matches('.');
            to = Some(format!("{p}.{}", imp.subject));
        }
        imp.to = to;
        out.push(imp);
    }
    Ok(out)
}

fn last_pos(m: &crate::config::value::Map, v: &Value) -> Pos {
    m.iter()
        .last()
        .map_or_else(|| v.pos.clone(), |e| e.key_pos.clone())
}

/// `mappings { source: destination | [ {destination, weight} ] }`.
fn mappings(e: &Entry) -> Result<Vec<Mapping>, ConfigError> {
    let ValueKind::Map(m) = &e.value.kind else {
        return Err(wrong_type(e, "map[string]interface {}"));
    };
    let mut out = Vec::new();
    for x in m {
        let mut destinations = Vec::new();
        match &x.value.kind {
            ValueKind::String(d) => destinations.push((d.clone(), 100u8)),
            ValueKind::Array(list) => {
                for v in list {
                    let dm = map_entry(v, "Mapping")?;
                    let (mut dest, mut weight) = (None, 100i64);
                    for y in dm {
                        match y.key.to_ascii_lowercase().as_str() {
                            "destination" | "dest" => dest = Some(string(y)?.to_string()),
                            "weight" => {
                                weight = match &y.value.kind {
                                    ValueKind::Integer(n) => *n,
                                    ValueKind::String(s) => s
                                        .trim_end_matches('%')
                                        .parse()
                                        .map_err(|_| err(y, "Invalid weight"))?,
                                    _ => return Err(err(y, "Invalid weight")),
                                }
                            }
                            "cluster" => {
                                return Err(super::not_supported(y, "mappings.cluster"));
                            }
                            _ => unknown(y)?,
                        }
                    }
                    if !(0..=100).contains(&weight) {
                        return Err(err(
                            x,
                            format!(
                                "Error adding mapping for {} : weight must be between 0 and 100",
                                gofmt::quote(&x.key)
                            ),
                        ));
                    }
                    let dest = dest.ok_or_else(|| {
                        ConfigError::new(v.pos.clone(), "Mapping entry needs a destination")
                    })?;
                    destinations.push((dest, weight as u8));
                }
                let total: u32 = destinations.iter().map(|(_, w)| u32::from(*w)).sum();
                if total > 100 {
                    return Err(err(
                        x,
                        format!(
                            "Error adding mapping for {} : total weight needs to be <= 100",
                            gofmt::quote(&x.key)
                        ),
                    ));
                }
            }
            _ => return Err(wrong_type(x, "string")),
        }
        for (d, _) in &destinations {
            if let Err(why) = Transform::new(&x.key, d) {
                return Err(err(
                    x,
                    format!(
                        "Error adding mapping for {} to {} : invalid mapping destination: {why}",
                        gofmt::quote(&x.key),
                        gofmt::quote(d)
                    ),
                ));
            }
        }
        out.push(Mapping {
            source: x.key.clone(),
            destinations,
        });
    }
    Ok(out)
}

/// Every import names a defined account that exports what it imports to
/// it; every export's `accounts` are defined.
fn check_links(list: &[AccountOptions], at: &Pos) -> Result<(), ConfigError> {
    let fail = |msg: String| Err(ConfigError::new(at.clone(), msg));
    for a in list {
        for x in &a.exports {
            for n in &x.accounts {
                if !list.iter().any(|b| &b.name == n) {
                    let kind = if x.service { "service" } else { "stream" };
                    return fail(format!(
                        "{} account not defined for {kind} export",
                        gofmt::quote(n)
                    ));
                }
            }
        }
        for imp in &a.imports {
            let kind = if imp.service { "service" } else { "stream" };
            let Some(exporter) = list.iter().find(|b| b.name == imp.account) else {
                return fail(format!(
                    "{} account not defined for {kind} import",
                    gofmt::quote(&imp.account)
                ));
            };
            let authorized = exporter.exports.iter().any(|x| {
                x.service == imp.service
                    && (x.accounts.is_empty() || x.accounts.contains(&a.name))
                    && crate::subject::is_subset_match(imp.subject.as_bytes(), x.subject.as_bytes())
            });
            if !authorized {
                return fail(format!(
                    "Error adding {kind} import {}: {kind} import not authorized",
                    gofmt::quote(&imp.subject)
                ));
            }
            let local = imp.to.as_deref().unwrap_or(&imp.subject);
            let (from, to) = if imp.service {
                (local, imp.subject.as_str())
            } else {
                (imp.subject.as_str(), local)
            };
            if let Err(why) = Transform::new(from, to) {
                return fail(format!(
                    "Error adding {kind} import {}: {why}",
                    gofmt::quote(&imp.subject)
                ));
            }
        }
    }
    Ok(())
}

/// `system_account` must name a configured account (checked at startup, as
/// nats-server does: `-t` accepts it).
pub(super) fn check_system_account(opts: &Options) -> Result<(), String> {
    match &opts.system_account {
        Some(name)
            if name != crate::account::SYSTEM && !opts.accounts.iter().any(|a| &a.name == name) =>
        {
            Err("error resolving system account: account missing".into())
        }
        _ => Ok(()),
    }
}
