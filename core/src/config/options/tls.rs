//! `tls { … }` for the client port (spec auth.md §9), the top-level
//! `allow_non_tls`, and the same block inside `cluster {}` (routes.md
//! §2.2). Keys nats-server knows that natsd does not implement are refused
//! by name (`not supported yet: tls.pinned_certs`,
//! `not supported yet: cluster.tls.verify_and_map`).

use std::time::Duration;

use super::gofmt;
use super::{boolean, err, not_supported, string, wrong_type};
use super::{Applier, ConfigError, Entry, ValueKind};
use crate::tls::{self, HandshakeFirst, MinVersion, Suite, TlsOptions};

/// `tls` keys nats-server knows that natsd refuses.
const TLS_NOT_SUPPORTED: &[&str] = &[
    "curve_preferences",
    "pinned_certs",
    "verify_cert_and_check_known_urls",
    "connection_rate_limit",
    "certs",
    "cert_store",
    "cert_match_by",
    "cert_match",
    "ca_certs_match",
    "cert_match_skip_invalid",
    "ocsp_peer",
    "allow_insecure_cipher_suites",
];

/// Which `tls` block is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsBlock {
    /// The top-level block (client connections).
    Client,
    /// `cluster { tls {} }` (routes).
    Cluster,
}

impl Applier<'_> {
    /// The top-level `tls` block. Like nats-server, a second block replaces
    /// the first.
    pub(super) fn tls(&mut self, block: &Entry) -> Result<(), ConfigError> {
        self.opts.tls = Some(tls_block(block, TlsBlock::Client)?);
        Ok(())
    }
}

/// One `tls {}` block. `insecure` only means something for connections
/// the server dials (routes); `handshake_first` only for clients (routes
/// always start with the handshake, so nats-server accepts and ignores
/// it there); `verify_and_map` is not implemented for routes.
pub(super) fn tls_block(block: &Entry, which: TlsBlock) -> Result<TlsOptions, ConfigError> {
    let ValueKind::Map(m) = &block.value.kind else {
        return Err(wrong_type(block, "map[string]interface {}"));
    };
    let prefix = match which {
        TlsBlock::Client => block.key.clone(),
        TlsBlock::Cluster => format!("cluster.{}", block.key),
    };
    let mut t = TlsOptions::default();
    for e in m {
        match (e.key.to_ascii_lowercase().as_str(), which) {
            ("cert_file", _) => t.cert_file = string(e)?.to_string(),
            ("key_file", _) => t.key_file = string(e)?.to_string(),
            ("ca_file", _) => t.ca_file = string(e)?.to_string(),
            ("verify", _) => t.verify = boolean(e)?,
            ("verify_and_map", TlsBlock::Client) => {
                t.verify_and_map = boolean(e)?;
                t.verify |= t.verify_and_map;
            }
            ("timeout", _) => t.timeout = tls_timeout(e)?,
            ("handshake_first" | "first" | "immediate", TlsBlock::Client) => {
                t.handshake_first = handshake_first(e)?
            }
            ("handshake_first" | "first" | "immediate", TlsBlock::Cluster) => {
                handshake_first(e)?;
            }
            ("insecure", TlsBlock::Cluster) => t.insecure = boolean(e)?,
            ("min_version", _) => {
                t.min_version = match string(e)? {
                    "1.2" => MinVersion::Tls12,
                    "1.3" => MinVersion::Tls13,
                    v => {
                        return Err(err(e, format!("unsupported TLS version: {v}")));
                    }
                }
            }
            ("cipher_suites", _) => t.cipher_suites = cipher_suites(e)?,
            (k, _)
                if TLS_NOT_SUPPORTED.contains(&k) || k == "insecure" || k == "verify_and_map" =>
            {
                return Err(not_supported(e, &format!("{prefix}.{}", e.key)));
            }
            _ => {
                if !e.used_as_variable {
                    return Err(err(
                        e,
                        format!(
                            "error parsing tls config, unknown field {}",
                            gofmt::quote(&e.key)
                        ),
                    ));
                }
            }
        }
    }
    if t.cert_file.is_empty() {
        return Err(err(block, "missing 'cert_file' in TLS configuration"));
    }
    if t.key_file.is_empty() {
        return Err(err(block, "missing 'key_file' in TLS configuration"));
    }
    if t.verify && t.ca_file.is_empty() {
        return Err(err(
            block,
            "tls: verify needs ca_file (natsd does not read the system's CA store)",
        ));
    }
    if which == TlsBlock::Cluster && t.ca_file.is_empty() {
        // nats-server verifies route peers both ways, against the
        // system's roots when no ca_file is given.
        return Err(err(
            block,
            "tls: routes verify their peers and need ca_file (natsd does not read the system's CA store)",
        ));
    }
    Ok(t)
}

/// `timeout`: seconds (integer or float) or a duration string; 0 is the
/// default.
fn tls_timeout(e: &Entry) -> Result<Duration, ConfigError> {
    let negative = || err(e, format!("{} value can not be negative", e.key));
    let d = match &e.value.kind {
        ValueKind::Integer(n) => Duration::from_secs(u64::try_from(*n).map_err(|_| negative())?),
        ValueKind::Float(x) => {
            if *x < 0.0 {
                return Err(negative());
            }
            Duration::try_from_secs_f64(*x)
                .map_err(|_| err(e, format!("{} value is too big", e.key)))?
        }
        ValueKind::String(s) => {
            let n = gofmt::parse_duration(s)
                .map_err(|m| err(e, format!("error parsing tls config, 'timeout' {m}")))?;
            Duration::from_nanos(u64::try_from(n).map_err(|_| negative())?)
        }
        _ => return Err(err(e, "error parsing tls config, 'timeout' wrong type")),
    };
    Ok(if d.is_zero() { tls::DEFAULT_TIMEOUT } else { d })
}

/// `handshake_first`: a boolean, `on`/`off`, `auto` or a fallback delay.
fn handshake_first(e: &Entry) -> Result<HandshakeFirst, ConfigError> {
    match &e.value.kind {
        ValueKind::Bool(true) => Ok(HandshakeFirst::On),
        ValueKind::Bool(false) => Ok(HandshakeFirst::Off),
        ValueKind::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "on" => Ok(HandshakeFirst::On),
            "false" | "off" => Ok(HandshakeFirst::Off),
            "auto" | "auto_fallback" => Ok(HandshakeFirst::Fallback(tls::AUTO_FALLBACK)),
            _ => match gofmt::parse_duration(s) {
                Ok(n) if n > 0 => Ok(HandshakeFirst::Fallback(Duration::from_nanos(n as u64))),
                Ok(_) => Ok(HandshakeFirst::On),
                Err(_) => Err(err(
                    e,
                    format!(
                        "field {} value {} is invalid",
                        gofmt::quote(&e.key),
                        gofmt::quote(s)
                    ),
                )),
            },
        },
        _ => Err(wrong_type(e, "bool")),
    }
}

/// `cipher_suites`: Go names; those rustls lacks are refused by name.
fn cipher_suites(e: &Entry) -> Result<Vec<String>, ConfigError> {
    let ValueKind::Array(items) = &e.value.kind else {
        return Err(wrong_type(e, "[]interface {}"));
    };
    let mut out = Vec::new();
    for v in items {
        let Some(name) = v.as_str() else {
            return Err(err(
                e,
                "error parsing tls config, cipher suites must be strings",
            ));
        };
        match tls::cipher_suite(name) {
            Some(Suite::Supported(_)) => out.push(name.to_string()),
            Some(Suite::Unavailable) => {
                return Err(err(
                    e,
                    format!("not supported yet: cipher suite {name} (rustls does not offer it)"),
                ))
            }
            None => return Err(err(e, format!("unrecognized cipher {name}"))),
        }
    }
    Ok(out)
}

/// A `tls {}` block written back (what [`tls_block`] reads; the cluster's
/// copy, so that a reload sees a change in it).
pub(super) fn to_config(t: &TlsOptions) -> String {
    let q = gofmt::quote;
    let mut items = vec![
        format!("cert_file: {}", q(&t.cert_file)),
        format!("key_file: {}", q(&t.key_file)),
    ];
    if !t.ca_file.is_empty() {
        items.push(format!("ca_file: {}", q(&t.ca_file)));
    }
    items.push(format!("verify: {}", t.verify));
    if t.verify_and_map {
        items.push("verify_and_map: true".into());
    }
    if t.insecure {
        items.push("insecure: true".into());
    }
    items.push(format!(
        "timeout: {}",
        q(&gofmt::duration_string(t.timeout))
    ));
    if t.min_version == MinVersion::Tls13 {
        items.push("min_version: \"1.3\"".into());
    }
    if !t.cipher_suites.is_empty() {
        let names: Vec<String> = t.cipher_suites.iter().map(|c| q(c)).collect();
        items.push(format!("cipher_suites: [{}]", names.join(", ")));
    }
    format!("{{ {} }}", items.join(", "))
}
