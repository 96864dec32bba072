//! `/varz`: the server's configuration, identity and counters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::accounts::{self, SublistStats, Traffic};
use super::{json, timefmt, Ctx, Reply};
use crate::options::COMPAT_VERSION;

/// `{}`: a section (cluster, gateway, ...) that is not configured.
#[derive(Serialize)]
struct Empty {}

/// `cluster` in `/varz` (nats-server's `ClusterOptsVarz`).
#[derive(Serialize, Default)]
struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    addr: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
    cluster_port: u16,
    #[serde(skip_serializing_if = "is_zero_f64")]
    auth_timeout: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(skip_serializing_if = "is_zero_f64")]
    tls_timeout: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

#[derive(Serialize)]
struct FeatureFlags {
    js_ack_fc_v2: bool,
    js_raft_delete_range: bool,
}

#[derive(Serialize)]
struct KindStats {
    clients: u64,
    routes: u64,
    gateways: u64,
    leafs: u64,
}

#[derive(Serialize)]
struct Varz<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'static str,
    proto: u32,
    go: &'a str,
    host: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    max_connections: usize,
    #[serde(skip_serializing_if = "is_zero")]
    max_subscriptions: usize,
    ping_interval: u64,
    ping_max: u32,
    http_host: &'a str,
    http_port: u16,
    http_base_path: &'a str,
    https_port: u16,
    auth_timeout: f64,
    max_control_line: usize,
    max_payload: usize,
    max_pending: usize,
    cluster: ClusterVarz,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    tls_timeout: f64,
    write_deadline: u64,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: u64,
    remotes: u64,
    leafnodes: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    stale_connections: u64,
    stalled_clients: u64,
    subscriptions: u64,
    http_req_stats: BTreeMap<&'static str, u64>,
    config_load_time: String,
    config_digest: &'static str,
    feature_flags: FeatureFlags,
    system_account: String,
    slow_consumer_stats: KindStats,
    stale_connection_stats: KindStats,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn cluster_varz(server: &crate::Server) -> ClusterVarz {
    let routes = server.routes();
    if !routes.enabled() {
        return ClusterVarz::default();
    }
    let c = routes.options();
    ClusterVarz {
        name: routes.cluster_name().0,
        addr: c.host.clone(),
        cluster_port: routes
            .bound_addr()
            .map_or(c.port.unwrap_or(0), |a| a.port()),
        auth_timeout: c.effective_auth_timeout().as_secs_f64(),
        urls: c.routes.iter().map(|u| u.host_port()).collect(),
        tls_timeout: c.tls.as_ref().map_or(2.0, |t| t.timeout.as_secs_f64()),
        // Routes always verify the peer's certificate (nats-server shows
        // `tls_verify: true` whatever the block says).
        tls_required: c.tls.is_some(),
        tls_verify: c.tls.is_some(),
    }
}

/// `/varz`. Counters: `in_*` are the server's running totals plus what
/// live clients published since their last close; `out_*` sum live clients
/// and the closed-connection ring.
pub(super) fn varz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/varz");
    let server = cx.server;
    let o = server.options();
    let state = server.monitor();
    let (start, start_unix) = cx.started();
    let process = state.process_stats();
    let stats = server.stats();
    let mut t = Traffic {
        in_msgs: stats.in_msgs.load(Ordering::Relaxed),
        in_bytes: stats.in_bytes.load(Ordering::Relaxed),
        ..Traffic::default()
    };
    for c in server.registry().live() {
        t.add(&c);
    }
    for c in server.registry().closed() {
        t.out_msgs += c.out_msgs;
        t.out_bytes += c.out_bytes;
    }
    let mut subs = SublistStats::default();
    for a in accounts::all(server) {
        subs.add(&a.stats());
    }
    let slow = stats.slow_consumers.load(Ordering::Relaxed);
    let stale = stats.stale_connections.load(Ordering::Relaxed);
    let start_text = timefmt::rfc3339_nanos(start_unix);
    let v = Varz {
        server_id: server.id(),
        server_name: server.name(),
        version: COMPAT_VERSION,
        proto: 1,
        go: server.version_string(),
        host: &o.host,
        port: server.port(),
        auth_required: o.auth_required(),
        tls_required: o.tls_required(),
        tls_verify: o.tls.as_ref().is_some_and(|t| t.verifies()),
        max_connections: o.max_connections,
        max_subscriptions: o.max_subscriptions,
        ping_interval: o.ping_interval.as_nanos() as u64,
        ping_max: o.ping_max,
        http_host: o.effective_http_host(),
        http_port: state.http_port().or(o.http_port).unwrap_or(0),
        http_base_path: &o.http_base_path,
        https_port: o.https_port.unwrap_or(0),
        auth_timeout: o.effective_auth_timeout().as_secs_f64(),
        max_control_line: o.max_control_line,
        max_payload: o.max_payload,
        max_pending: o.max_pending,
        cluster: cluster_varz(server),
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: o
            .tls
            .as_ref()
            .map_or(crate::tls::DEFAULT_TIMEOUT, |t| t.timeout)
            .as_secs_f64(),
        write_deadline: o.write_deadline.as_nanos() as u64,
        start: start_text.clone(),
        now: cx.now_text(),
        uptime: timefmt::uptime(cx.now.saturating_duration_since(start)),
        mem: process.mem,
        cores: process.cores,
        gomaxprocs: process.workers,
        cpu: process.cpu,
        connections: server.num_connections(),
        total_connections: stats.total_connections.load(Ordering::Relaxed),
        routes: server.routes().num_routes() as u64,
        remotes: server.routes().num_routes() as u64,
        leafnodes: 0,
        in_msgs: t.in_msgs,
        out_msgs: t.out_msgs,
        in_bytes: t.in_bytes,
        out_bytes: t.out_bytes,
        slow_consumers: slow,
        stale_connections: stale,
        stalled_clients: 0,
        subscriptions: subs.subscriptions(),
        http_req_stats: state.requests(),
        config_load_time: start_text,
        config_digest: "",
        feature_flags: FeatureFlags {
            js_ack_fc_v2: false,
            js_raft_delete_range: false,
        },
        system_account: accounts::system_account(server),
        slow_consumer_stats: KindStats {
            clients: slow,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
        stale_connection_stats: KindStats {
            clients: stale,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
    };
    Ok(Reply::Json(200, json::pretty(&v)))
}
