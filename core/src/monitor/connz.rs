//! `/connz`: open and recently closed client connections, with
//! nats-server's query options, sort orders, paging and quirks.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::accounts;
use super::{bad_request, json, timefmt, Ctx, Reply};
use crate::registry::ClientSnapshot;
use crate::sublist::Subscription;

/// Page size when `limit` is absent or not positive.
const DEFAULT_LIMIT: i64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Open,
    Closed,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Cid,
    Start,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

impl SortBy {
    fn parse(s: &str) -> Option<SortBy> {
        Some(match s {
            "cid" => SortBy::Cid,
            "start" => SortBy::Start,
            "subs" => SortBy::Subs,
            "pending" => SortBy::Pending,
            "msgs_to" => SortBy::MsgsTo,
            "msgs_from" => SortBy::MsgsFrom,
            "bytes_to" => SortBy::BytesTo,
            "bytes_from" => SortBy::BytesFrom,
            "last" => SortBy::Last,
            "idle" => SortBy::Idle,
            "uptime" => SortBy::Uptime,
            "stop" => SortBy::Stop,
            "reason" => SortBy::Reason,
            "rtt" => SortBy::Rtt,
            _ => return None,
        })
    }
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    now: String,
    num_connections: usize,
    total: usize,
    offset: i64,
    limit: i64,
    /// `null` only in nats-server's answer for an unknown `acc`.
    connections: Option<Vec<ConnInfo>>,
}

#[derive(Serialize)]
struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    tls_version: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    tls_cipher_suite: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_peer_certs: Vec<PeerCertJson>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_first: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    authorized_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail>,
    #[serde(skip_serializing_if = "String::is_empty")]
    name_tag: String,
}

/// One client certificate in `tls_peer_certs` (`auth=true` only).
#[derive(Serialize)]
struct PeerCertJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    spki_sha256: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    cert_sha256: String,
}

/// One subscription as `/connz?subs=detail` and `/subsz?subs=1` show it.
#[derive(Serialize)]
pub(super) struct SubDetail {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) account_tag: String,
    pub(super) subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) qgroup: String,
    pub(super) sid: String,
    pub(super) msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) max: u64,
    pub(super) cid: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl SubDetail {
    /// `account` is left empty where nats-server leaves it out.
    pub(super) fn of(sub: &Subscription, account: &str) -> SubDetail {
        SubDetail {
            account: account.to_string(),
            account_tag: account.to_string(),
            subject: String::from_utf8_lossy(&sub.subject).into_owned(),
            qgroup: sub
                .queue
                .as_ref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            sid: String::from_utf8_lossy(&sub.sid).into_owned(),
            msgs: sub.delivered(),
            max: sub.max(),
            cid: sub.cid(),
        }
    }
}

fn decode_state(v: &str) -> Result<ConnState, Reply> {
    match v.to_ascii_lowercase().as_str() {
        "" | "open" => Ok(ConnState::Open),
        "closed" => Ok(ConnState::Closed),
        "any" | "all" => Ok(ConnState::Any),
        _ => Err(bad_request(format!("Error decoding state for {v}"))),
    }
}

/// `/connz` (`sort`, `auth`, `subs`, `offset`, `limit`, `cid`, `state`,
/// `user`, `acc`; `mqtt_client` filters nothing: natsd has no MQTT).
pub(super) fn connz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    let q = &cx.query;
    let sort = q.get("sort");
    let auth = q.bool("auth")?;
    let (subs, subs_detail) = q.subs()?;
    let offset = q.int("offset")?.max(0);
    let limit = q.int("limit")?;
    let cid = q.uint64("cid")?;
    let state = decode_state(q.get("state"))?;
    let (user, acc) = (q.get("user"), q.get("acc"));
    cx.count("/connz");

    let sort = match sort {
        "" => SortBy::Cid,
        s => SortBy::parse(s).ok_or_else(|| bad_request(format!("invalid sorting option: {s}")))?,
    };
    let mut limit = if limit <= 0 { DEFAULT_LIMIT } else { limit };
    if sort == SortBy::Stop && state != ConnState::Closed {
        return Err(bad_request("sort by stop only valid on closed connections"));
    }
    if sort == SortBy::Reason && state != ConnState::Closed {
        return Err(bad_request(
            "sort by reason only valid on closed connections",
        ));
    }
    if cid > 0 {
        limit = 1;
    }
    let server = cx.server;
    if !acc.is_empty() && accounts::find(server, acc).is_none() {
        // nats-server answers an unknown account with a bare page.
        let page = Connz {
            server_id: "",
            now: cx.now_text(),
            num_connections: 0,
            total: 0,
            offset,
            limit,
            connections: None,
        };
        return Ok(Reply::Json(200, json::pretty(&page)));
    }
    let in_acc = |c: &ClientSnapshot| acc.is_empty() || c.meta.account == acc;
    let in_user = |c: &ClientSnapshot| user.is_empty() || c.meta.user.as_deref() == Some(user);

    let open: Vec<ClientSnapshot> = match state {
        ConnState::Closed => Vec::new(),
        _ => server
            .registry()
            .live()
            .into_iter()
            .filter(in_acc)
            .collect(),
    };
    let closed: Vec<ClientSnapshot> = match state {
        ConnState::Open => Vec::new(),
        _ => server
            .registry()
            .closed()
            .into_iter()
            .filter(in_acc)
            .collect(),
    };
    // `total` counts the state's connections (of the account) before the
    // cid and user filters, as nats-server does.
    let total = open.len() + closed.len();
    let mut rows: Vec<ClientSnapshot> = if cid > 0 {
        // nats-server looks among the closed ones for state=closed and
        // state=any, among the open ones only for state=open.
        let pool = if state == ConnState::Open {
            open
        } else {
            closed
        };
        pool.into_iter().filter(|c| c.cid == cid).take(1).collect()
    } else {
        open.into_iter().chain(closed).filter(in_user).collect()
    };
    sort_rows(&mut rows, sort, cx.now);

    let start = (offset as usize).min(rows.len());
    let end = start.saturating_add(limit as usize).min(rows.len());
    let page = &rows[start..end];
    let subs_of = if (subs || subs_detail) && page.iter().any(|c| c.stop.is_none()) {
        live_subscriptions(cx)
    } else {
        HashMap::new()
    };
    let conns: Vec<ConnInfo> = page
        .iter()
        .map(|c| conn_info(cx, c, auth, subs, subs_detail, &subs_of))
        .collect();
    let out = Connz {
        server_id: server.id(),
        now: cx.now_text(),
        num_connections: conns.len(),
        total,
        offset,
        limit,
        connections: Some(conns),
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}

/// The end of a connection's life for uptime and idle: its stop, or now.
fn until(c: &ClientSnapshot, now: Instant) -> Instant {
    c.stop.map_or(now, |(stop, _)| stop)
}

/// nats-server's orders: ascending for cid, start, uptime and reason,
/// descending (largest or latest first) for the rest; ties keep cid order.
fn sort_rows(rows: &mut [ClientSnapshot], sort: SortBy, now: Instant) {
    rows.sort_by_key(|c| c.cid);
    let uptime = |c: &ClientSnapshot| until(c, now).saturating_duration_since(c.start);
    let idle = |c: &ClientSnapshot| until(c, now).saturating_duration_since(c.last_activity);
    match sort {
        SortBy::Cid | SortBy::Start => {}
        SortBy::Subs => rows.sort_by_key(|c| Reverse(c.subscriptions)),
        SortBy::Pending => rows.sort_by_key(|c| Reverse(c.pending_bytes)),
        SortBy::MsgsTo => rows.sort_by_key(|c| Reverse(c.out_msgs)),
        SortBy::MsgsFrom => rows.sort_by_key(|c| Reverse(c.in_msgs)),
        SortBy::BytesTo => rows.sort_by_key(|c| Reverse(c.out_bytes)),
        SortBy::BytesFrom => rows.sort_by_key(|c| Reverse(c.in_bytes)),
        SortBy::Last => rows.sort_by_key(|c| Reverse(c.last_activity)),
        SortBy::Idle => rows.sort_by_key(|c| Reverse(idle(c))),
        SortBy::Uptime => rows.sort_by_key(uptime),
        SortBy::Stop => rows.sort_by_key(|c| Reverse(c.stop.map(|s| s.0))),
        SortBy::Reason => rows.sort_by_key(|c| c.stop.map_or("", |s| s.1.as_str())),
        SortBy::Rtt => rows.sort_by_key(|c| Reverse(c.rtt.unwrap_or(Duration::ZERO))),
    }
}

/// Live subscriptions by connection id, ordered by sid.
fn live_subscriptions(cx: &Ctx<'_>) -> HashMap<u64, Vec<Arc<Subscription>>> {
    let mut by_cid: HashMap<u64, Vec<Arc<Subscription>>> = HashMap::new();
    for view in accounts::all(cx.server) {
        if let Some(account) = &view.account {
            account.sublist().for_each(|s| {
                if !s.is_closed() {
                    by_cid.entry(s.cid()).or_default().push(s.clone());
                }
            });
        }
    }
    for subs in by_cid.values_mut() {
        subs.sort_by(|a, b| sid_order(&a.sid).cmp(&sid_order(&b.sid)));
    }
    by_cid
}

/// Numeric sids in numeric order, then the rest by bytes.
pub(crate) fn sid_order(sid: &[u8]) -> (bool, u64, &[u8]) {
    match std::str::from_utf8(sid)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => (false, n, sid),
        None => (true, 0, sid),
    }
}

fn conn_info(
    cx: &Ctx<'_>,
    c: &ClientSnapshot,
    auth: bool,
    subs: bool,
    subs_detail: bool,
    subs_of: &HashMap<u64, Vec<Arc<Subscription>>>,
) -> ConnInfo {
    let end = until(c, cx.now);
    let closed = c.stop.is_some();
    let account = &c.meta.account;
    let mut info = ConnInfo {
        cid: c.cid,
        kind: "Client",
        kind_type: "nats",
        ip: c.peer.ip().to_string(),
        port: c.peer.port(),
        start: cx.time(c.start),
        last_activity: cx.time(c.last_activity),
        stop: c.stop.map(|(t, _)| cx.time(t)),
        reason: c.stop.map(|(_, r)| r.as_str()),
        rtt: timefmt::go_duration(c.rtt.unwrap_or(Duration::ZERO)),
        uptime: timefmt::uptime(end.saturating_duration_since(c.start)),
        idle: timefmt::uptime(end.saturating_duration_since(c.last_activity)),
        pending_bytes: c.pending_bytes,
        in_msgs: c.in_msgs,
        out_msgs: c.out_msgs,
        in_bytes: c.in_bytes,
        out_bytes: c.out_bytes,
        subscriptions: c.subscriptions,
        name: c.meta.name.clone(),
        lang: c.meta.lang.clone(),
        version: c.meta.version.clone(),
        tls_version: c.tls.map_or("", |t| t.version),
        tls_cipher_suite: c.tls.map_or("", |t| t.cipher_suite),
        tls_peer_certs: Vec::new(),
        tls_first: c.tls.is_some_and(|t| t.first),
        authorized_user: String::new(),
        account: String::new(),
        subscriptions_list: Vec::new(),
        subscriptions_list_detail: Vec::new(),
        name_tag: String::new(),
    };
    if closed && (subs || subs_detail) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if subs_detail {
            // Closed connections' details name the account.
            info.subscriptions_list_detail = c
                .closed_subs
                .iter()
                .map(|s| SubDetail {
                    account: account.clone(),
                    account_tag: account.clone(),
                    subject: text(&s.subject),
                    qgroup: s.queue.as_deref().map(text).unwrap_or_default(),
                    sid: text(&s.sid),
                    msgs: s.msgs,
                    max: s.max,
                    cid: c.cid,
                })
                .collect();
        } else {
            info.subscriptions_list = c.closed_subs.iter().map(|s| text(&s.subject)).collect();
        }
    }
    if let Some(list) = subs_of.get(&c.cid).filter(|_| !closed) {
        if subs_detail {
            // Live connections' details leave the account out.
            info.subscriptions_list_detail = list.iter().map(|s| SubDetail::of(s, "")).collect();
        } else if subs {
            info.subscriptions_list = list
                .iter()
                .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
                .collect();
        }
    }
    if auth {
        info.tls_peer_certs = c
            .peer_certs
            .iter()
            .map(|p| PeerCertJson {
                subject: p.subject.clone(),
                spki_sha256: p.spki_sha256.clone(),
                cert_sha256: p.cert_sha256.clone(),
            })
            .collect();
        info.authorized_user = c.meta.user.clone().unwrap_or_default();
        if account != "$G" {
            info.account = account.clone();
        }
        // Live connections always show the account's tag; closed ones only
        // outside the global account.
        if !closed || account != "$G" {
            info.name_tag = account.clone();
        }
    }
    info
}
