//! The `$SYS` API (monitoring.md §9): requests answered by the server
//! itself, and the connect/disconnect events it publishes.
//!
//! The server's answering subscriptions are import carriers (see
//! `crate::account::import`) of kind `System`: in the system account on
//! `$SYS.REQ.SERVER.PING[.*]`, `$SYS.REQ.SERVER.<id>.*`,
//! `$SYS.REQ.ACCOUNT.*.*` and `$SYS.REQ.USER.INFO`; in every other account
//! only on the few subjects nats-server lets every account use
//! (`$SYS.REQ.USER.INFO`, `$SYS.REQ.ACCOUNT.PING.{CONNZ,STATZ}`,
//! `$SYS.REQ.SERVER.PING.CONNZ`), answered about that account. Anything
//! else under `$SYS` in an ordinary account reaches nobody, so a requester
//! gets no-responders as from nats-server.
//!
//! Answers reuse the HTTP monitoring renderers: the request body's options
//! become the endpoint's query, and the JSON goes out as `data` inside
//! `{"server": <ServerInfo>, "data": …}`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::account::Account;
use crate::monitor::timefmt;
use crate::options::COMPAT_VERSION;
use crate::registry::ClientInfo;
use crate::server::Server;

/// What one answering subscription answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `$SYS.REQ.SERVER.PING`: statsz without a `data` wrapper.
    Ping,
    /// `$SYS.REQ.SERVER.PING.<X>` and `$SYS.REQ.SERVER.<id>.<X>`.
    Server,
    /// `$SYS.REQ.ACCOUNT.<acc>.<X>` in the system account.
    Account,
    /// `$SYS.REQ.USER.INFO`: who is asking.
    UserInfo,
    /// An ordinary account's own CONNZ (`$SYS.REQ.ACCOUNT.PING.CONNZ`,
    /// `$SYS.REQ.SERVER.PING.CONNZ`).
    OwnConnz,
    /// An ordinary account's own STATZ (`$SYS.REQ.ACCOUNT.PING.STATZ`).
    OwnStatz,
}

impl Api {
    /// Server-wide requests fan out over the cluster: every server answers
    /// the copy a route brings. The account-scoped ones are answered by the
    /// requester's server only.
    pub(crate) fn cluster_wide(self) -> bool {
        matches!(self, Api::Ping | Api::Server | Api::Account)
    }
}

/// The answering subscriptions for `account`: `(subject, api)`.
pub(crate) fn subscriptions(account: &Account, server_id: &str) -> Vec<(String, Api)> {
    if account.is_system() {
        vec![
            ("$SYS.REQ.SERVER.PING".into(), Api::Ping),
            ("$SYS.REQ.SERVER.PING.*".into(), Api::Server),
            (format!("$SYS.REQ.SERVER.{server_id}.*"), Api::Server),
            ("$SYS.REQ.ACCOUNT.*.*".into(), Api::Account),
            ("$SYS.REQ.USER.INFO".into(), Api::UserInfo),
        ]
    } else {
        vec![
            ("$SYS.REQ.USER.INFO".into(), Api::UserInfo),
            ("$SYS.REQ.ACCOUNT.PING.CONNZ".into(), Api::OwnConnz),
            ("$SYS.REQ.SERVER.PING.CONNZ".into(), Api::OwnConnz),
            ("$SYS.REQ.ACCOUNT.PING.STATZ".into(), Api::OwnStatz),
        ]
    }
}

/// nats-server's `ServerInfo`, the `server` of every answer and event.
#[derive(Serialize)]
struct ServerInfo<'a> {
    name: &'a str,
    host: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    ver: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    jetstream: bool,
    flags: u64,
    seq: u64,
    time: String,
}

/// The wall clock at `now`, from the start time the host recorded.
pub(crate) fn wall(server: &Server, now: Instant) -> Duration {
    match server.monitor().started() {
        Some((at, unix)) => unix + now.saturating_duration_since(at),
        None => Duration::ZERO,
    }
}

fn server_info(server: &Server, now: Instant) -> Value {
    let o = server.options();
    let cluster = o.cluster.as_ref().map(|_| server.routes().cluster_name().0);
    let info = ServerInfo {
        name: server.name(),
        host: &o.host,
        id: server.id(),
        cluster,
        ver: COMPAT_VERSION,
        tags: &o.server_tags,
        jetstream: false,
        flags: 0,
        seq: server.next_sys_seq(),
        time: timefmt::rfc3339_nanos(wall(server, now)),
    };
    serde_json::to_value(info).unwrap_or(Value::Null)
}

fn envelope(server: &Server, now: Instant, key: &str, data: Value) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("server".into(), server_info(server, now));
    m.insert(key.into(), data);
    crate::monitor::json::compact(&Value::Object(m))
}

fn error(server: &Server, now: Instant, code: u16, description: String) -> Vec<u8> {
    let mut e = Map::new();
    e.insert("code".into(), Value::from(code));
    e.insert("description".into(), Value::from(description));
    envelope(server, now, "error", Value::Object(e))
}

/// Go's `encoding/json` complaint about a body that is not a JSON object
/// (the common cases; the position is not reported, as in Go).
fn json_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim_start();
    let mut chars = t.chars();
    match chars.next() {
        Some('{') => {
            let rest = chars.as_str().trim_start();
            match rest.chars().next() {
                Some(c) => {
                    format!("invalid character {c:?} looking for beginning of object key string")
                        .replace('"', "'")
                }
                None => "unexpected end of JSON input".into(),
            }
        }
        Some(c) => format!("invalid character '{c}' looking for beginning of value"),
        None => "unexpected end of JSON input".into(),
    }
}

/// The request body as JSON options (empty: none); `Err` is the 400 text.
fn options(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("json: cannot unmarshal into Go value of type object".into()),
        Err(_) => Err(json_error(body)),
    }
}

/// The fan-out filter (`server_name`, `cluster`, `host`, `tags`,
/// `domain`, `exact_match`): true if this server should answer.
fn selected(server: &Server, o: &Map<String, Value>) -> bool {
    let exact = o
        .get("exact_match")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let fits = |want: Option<&str>, have: &str| match want {
        None | Some("") => true,
        Some(w) if exact => w == have,
        Some(w) => have.contains(w),
    };
    let opts = server.options();
    let cluster = server.routes().cluster_name().0;
    let str_of = |k: &str| o.get(k).and_then(Value::as_str);
    if !fits(str_of("server_name"), server.name())
        || !fits(str_of("host"), &opts.host)
        || !fits(str_of("cluster"), &cluster)
        || str_of("domain").is_some_and(|d| !d.is_empty())
    {
        return false;
    }
    match o.get("tags").and_then(Value::as_array) {
        Some(tags) => tags
            .iter()
            .filter_map(Value::as_str)
            .all(|t| opts.server_tags.iter().any(|s| s.eq_ignore_ascii_case(t))),
        None => true,
    }
}

/// Builds the monitoring query for `endpoint` from request options.
fn query(endpoint: &str, o: &Map<String, Value>, account: Option<&str>) -> String {
    let mut q: Vec<(String, String)> = Vec::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (k, v) in o {
        let key = match (endpoint, k.as_str()) {
            ("CONNZ", "subscriptions") | ("SUBSZ", "subscriptions") => "subs",
            ("CONNZ", "subscriptions_detail") => {
                if v.as_bool() == Some(true) {
                    q.push(("subs".into(), "detail".into()));
                }
                continue;
            }
            ("CONNZ", "state") => {
                let s = match v.as_i64() {
                    Some(1) => "closed",
                    Some(2) => "all",
                    _ => "open",
                };
                q.push(("state".into(), s.into()));
                continue;
            }
            ("CONNZ", k @ ("sort" | "auth" | "offset" | "limit" | "cid" | "user" | "acc")) => k,
            ("SUBSZ", "account") | ("ACCOUNTZ", "account") => "acc",
            ("SUBSZ", k @ ("offset" | "limit" | "test")) => k,
            ("HEALTHZ", k) => k,
            ("ACCSTATZ", "include_unused") => "unused",
            _ => continue,
        };
        q.push((key.into(), text(v)));
    }
    if let Some(a) = account {
        q.retain(|(k, _)| k != "acc");
        q.push(("acc".into(), a.into()));
    }
    q.iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Renders one endpoint as `data`, or the error answer.
fn endpoint(
    server: &Server,
    now: Instant,
    name: &str,
    o: &Map<String, Value>,
    account: Option<&str>,
) -> Option<Vec<u8>> {
    let path = match name {
        // Addressed to one server only (`$SYS.REQ.SERVER.<id>.KICK`…).
        "KICK" | "LDM" | "RELOAD" if account.is_none() => {
            return Some(control(server, now, name, o))
        }
        "VARZ" => "/varz",
        "CONNZ" => "/connz",
        "SUBSZ" => "/subsz",
        "ROUTEZ" => "/routez",
        "GATEWAYZ" => "/gatewayz",
        "LEAFZ" => "/leafz",
        "ACCOUNTZ" => "/accountz",
        "JSZ" => "/jsz",
        "HEALTHZ" => "/healthz",
        "ACCSTATZ" => "/accstatz",
        "STATSZ" => return Some(envelope(server, now, "statsz", statsz(server, now))),
        "IDZ" => {
            let o = server.options();
            let mut m = Map::new();
            m.insert("name".into(), server.name().into());
            m.insert("host".into(), o.host.clone().into());
            m.insert("id".into(), server.id().into());
            return Some(crate::monitor::json::compact(&Value::Object(m)));
        }
        _ => return None,
    };
    let q = query(name, o, account);
    let rendered = crate::monitor::render(server, path, &q, now, wall(server, now));
    if name == "HEALTHZ" {
        // Over `$SYS` the health answer carries its status code in the data.
        let (code, mut data) = match rendered {
            Ok(d) => (200, d),
            Err((code, text)) => (code, serde_json::from_str(&text).unwrap_or(Value::Null)),
        };
        if let Value::Object(m) = &mut data {
            m.insert("status_code".into(), Value::from(code));
        }
        return Some(envelope(server, now, "data", data));
    }
    Some(match rendered {
        Ok(data) => envelope(server, now, "data", data),
        Err((code, text)) => error(server, now, code, text),
    })
}

/// `KICK` (close a client), `LDM` (tell a client the server is going
/// away) and `RELOAD`: an envelope without data, or the error.
fn control(server: &Server, now: Instant, name: &str, o: &Map<String, Value>) -> Vec<u8> {
    let bare = |server: &Server| {
        let mut m = Map::new();
        m.insert("server".into(), server_info(server, now));
        crate::monitor::json::compact(&Value::Object(m))
    };
    if name == "RELOAD" {
        return match server.run_reload_hook() {
            Ok(()) => bare(server),
            Err(e) => error(server, now, 500, e),
        };
    }
    let cid = o.get("cid").and_then(Value::as_u64).unwrap_or(0);
    let Some(info) = server.registry().live_info(cid) else {
        let text = if name == "KICK" {
            "no such client or leafnode id"
        } else {
            "no such client id"
        };
        return error(server, now, 500, text.into());
    };
    if name == "KICK" {
        info.outbox.close(crate::errors::CloseReason::Kicked, true);
    } else {
        let meta = info.meta();
        info.outbox
            .append(|b| server.write_info(b, info.cid, info.peer, Some(&meta.account), None, true));
    }
    info.outbox.wake();
    bare(server)
}

/// nats-server's `ServerStats`, from the same figures as `/varz`.
fn statsz(server: &Server, now: Instant) -> Value {
    let varz =
        crate::monitor::render(server, "/varz", "", now, wall(server, now)).unwrap_or(Value::Null);
    let f = |k: &str| varz.get(k).cloned().unwrap_or(Value::from(0));
    let live = server.registry().live();
    let mut accounts: Vec<&str> = live.iter().map(|c| c.meta.account.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let mut m = Map::new();
    m.insert("start".into(), f("start"));
    m.insert("mem".into(), f("mem"));
    m.insert("cores".into(), f("cores"));
    m.insert("cpu".into(), f("cpu"));
    m.insert("connections".into(), f("connections"));
    m.insert("total_connections".into(), f("total_connections"));
    m.insert("active_accounts".into(), Value::from(accounts.len()));
    m.insert("subscriptions".into(), f("subscriptions"));
    let pair = |msgs: &str, bytes: &str| {
        let mut p = Map::new();
        p.insert("msgs".into(), f(msgs));
        p.insert("bytes".into(), f(bytes));
        Value::Object(p)
    };
    m.insert("sent".into(), pair("out_msgs", "out_bytes"));
    m.insert("received".into(), pair("in_msgs", "in_bytes"));
    m.insert("slow_consumers".into(), f("slow_consumers"));
    let routes = varz.get("routes").and_then(Value::as_u64).unwrap_or(0);
    m.insert("active_servers".into(), Value::from(routes + 1));
    m.insert("gomaxprocs".into(), f("gomaxprocs"));
    Value::Object(m)
}

/// The periodic `$SYS.SERVER.<id>.STATSZ` message: (subject, payload).
pub(crate) fn statsz_event(server: &Server, now: Instant) -> (String, Vec<u8>) {
    (
        format!("$SYS.SERVER.{}.STATSZ", server.id()),
        envelope(server, now, "statsz", statsz(server, now)),
    )
}

/// `account_statz` restricted to `names` (all when empty).
fn statz(server: &Server, now: Instant, names: &[String], unused: bool) -> Vec<u8> {
    let q = if unused { "unused=1" } else { "" };
    match crate::monitor::render(server, "/accstatz", q, now, wall(server, now)) {
        Ok(mut data) => {
            if !names.is_empty() {
                if let Some(list) = data.get_mut("account_statz").and_then(Value::as_array_mut) {
                    list.retain(|a| {
                        a.get("acc")
                            .and_then(Value::as_str)
                            .is_some_and(|n| names.iter().any(|x| x == n))
                    });
                }
            }
            envelope(server, now, "data", data)
        }
        Err((code, text)) => error(server, now, code, text),
    }
}

/// The answer to a request on `subject` (body `body`) that matched an
/// answering subscription of kind `api` in `account`; `None` when this
/// server does not answer (filtered out, unknown endpoint).
pub(crate) fn answer(
    api: Api,
    server: &Server,
    account: &Account,
    subject: &[u8],
    body: &[u8],
    origin: Option<&ClientInfo>,
    now: Instant,
) -> Option<Vec<u8>> {
    let subject = std::str::from_utf8(subject).ok()?;
    let last = subject.rsplit('.').next().unwrap_or("");
    let o = match options(body) {
        Ok(o) => o,
        Err(e) => return Some(error(server, now, 400, e)),
    };
    match api {
        Api::Ping => {
            selected(server, &o).then(|| envelope(server, now, "statsz", statsz(server, now)))
        }
        Api::Server => {
            // `PING.<X>` fans out and honours the filter; `<id>.<X>` is
            // addressed to this server.
            if subject.starts_with("$SYS.REQ.SERVER.PING.")
                && (!selected(server, &o) || matches!(last, "KICK" | "LDM" | "RELOAD"))
            {
                return None;
            }
            endpoint(server, now, last, &o, None)
        }
        Api::Account => {
            let acc = subject.split('.').nth(3)?;
            if acc == "PING" {
                return match last {
                    "STATZ" => {
                        let names: Vec<String> = o
                            .get("accounts")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(String::from)
                                    .collect()
                            })
                            .unwrap_or_default();
                        let unused = o.get("include_unused").and_then(Value::as_bool) == Some(true);
                        Some(statz(server, now, &names, unused))
                    }
                    "CONNZ" => endpoint(server, now, "CONNZ", &o, None),
                    _ => None,
                };
            }
            server.accounts().get(acc)?;
            match last {
                "CONNZ" | "SUBSZ" | "LEAFZ" | "JSZ" => endpoint(server, now, last, &o, Some(acc)),
                "INFO" => endpoint(server, now, "ACCOUNTZ", &o, Some(acc)),
                "STATZ" => Some(statz(server, now, &[acc.to_string()], true)),
                _ => None,
            }
        }
        Api::UserInfo => {
            let meta = origin?.meta();
            let mut d = Map::new();
            if let Some(u) = &meta.user {
                d.insert("user".into(), u.clone().into());
            }
            d.insert("account".into(), meta.account.clone().into());
            d.insert("account_name".into(), meta.account.into());
            Some(envelope(server, now, "data", Value::Object(d)))
        }
        Api::OwnConnz => endpoint(server, now, "CONNZ", &o, Some(account.name())),
        Api::OwnStatz => Some(statz(server, now, &[account.name().to_string()], true)),
    }
}

/// The `client` of a connect or disconnect event.
fn event_client(
    server: &Server,
    info: &ClientInfo,
    now: Instant,
    stop: Option<Duration>,
) -> Map<String, Value> {
    let meta = info.meta();
    let w = wall(server, now);
    let mut c = Map::new();
    c.insert(
        "start".into(),
        timefmt::rfc3339_nanos(timefmt::wall_of(info.start, now, w)).into(),
    );
    c.insert("host".into(), info.peer.ip().to_string().into());
    c.insert("id".into(), info.cid.into());
    c.insert("acc".into(), meta.account.clone().into());
    if let Some(u) = &meta.user {
        c.insert("user".into(), u.clone().into());
    }
    if !meta.name.is_empty() {
        c.insert("name".into(), meta.name.clone().into());
    }
    if !meta.lang.is_empty() {
        c.insert("lang".into(), meta.lang.clone().into());
    }
    if !meta.version.is_empty() {
        c.insert("ver".into(), meta.version.clone().into());
    }
    if let Some(stop) = stop {
        c.insert("rtt".into(), (info.rtt().as_nanos() as u64).into());
        c.insert("stop".into(), timefmt::rfc3339_nanos(stop).into());
    }
    c.insert("kind".into(), "Client".into());
    c.insert("client_type".into(), "nats".into());
    c
}

/// The figures of a disconnect event.
pub(crate) struct Closed<'a> {
    /// Messages and bytes sent to the client.
    pub(crate) sent: (u64, u64),
    /// Messages and bytes received from it.
    pub(crate) received: (u64, u64),
    /// Why it closed (`Client Closed`, …).
    pub(crate) reason: &'a str,
}

/// The `$SYS.ACCOUNT.<acc>.CONNECT` / `.DISCONNECT` event for `info`:
/// (subject, payload). `closed` carries the disconnect figures: messages
/// and bytes sent to the client, received from it, and the reason.
pub(crate) fn client_event(
    server: &Server,
    info: &ClientInfo,
    now: Instant,
    closed: Option<Closed<'_>>,
) -> (String, Vec<u8>) {
    let account = info.meta().account;
    let stamp = timefmt::rfc3339_nanos(wall(server, now));
    let mut m = Map::new();
    let (kind, subject) = match &closed {
        None => ("client_connect", "CONNECT"),
        Some(_) => ("client_disconnect", "DISCONNECT"),
    };
    m.insert(
        "type".into(),
        format!("io.nats.server.advisory.v1.{kind}").into(),
    );
    m.insert("id".into(), server.event_id().into());
    m.insert("timestamp".into(), stamp.into());
    m.insert("server".into(), server_info(server, now));
    let stop = closed.as_ref().map(|_| wall(server, now));
    m.insert(
        "client".into(),
        Value::Object(event_client(server, info, now, stop)),
    );
    if let Some(Closed {
        sent: (out_msgs, out_bytes),
        received: (in_msgs, in_bytes),
        reason,
    }) = closed
    {
        let pair = |msgs: u64, bytes: u64| {
            let mut p = Map::new();
            p.insert("msgs".into(), msgs.into());
            p.insert("bytes".into(), bytes.into());
            Value::Object(p)
        };
        m.insert("sent".into(), pair(out_msgs, out_bytes));
        m.insert("received".into(), pair(in_msgs, in_bytes));
        m.insert("reason".into(), reason.into());
    }
    let subject = format!("$SYS.ACCOUNT.{account}.{subject}");
    (subject, crate::monitor::json::compact(&Value::Object(m)))
}

/// A 22-character event id from `n` (nats-server uses NUIDs of that length).
pub(crate) fn event_id(mut n: u128) -> String {
    const A: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = String::with_capacity(22);
    for _ in 0..22 {
        s.push(A[(n % 62) as usize] as char);
        n /= 62;
    }
    s
}

/// Used by `Server::next_sys_seq`.
pub(crate) fn bump(seq: &std::sync::atomic::AtomicU64) -> u64 {
    seq.fetch_add(1, Ordering::Relaxed) + 1
}
