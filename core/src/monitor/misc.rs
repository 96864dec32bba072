//! The index page, `/healthz`, `/routez`, and the endpoints natsd answers
//! with an empty, correctly shaped document: `/gatewayz`, `/leafz` (no
//! gateways or leaf nodes yet) and `/jsz` (no JetStream).

use serde::Serialize;

use super::{json, Ctx, Reply};
use crate::options::COMPAT_VERSION;

/// `{}` for an empty map of gateways.
#[derive(Serialize)]
struct Empty {}

/// `/`: an HTML page linking the endpoints.
pub(super) fn index(cx: &Ctx<'_>) -> Reply {
    const LINKS: [(&str, &str); 10] = [
        ("varz", "General"),
        ("jsz", "JetStream"),
        ("connz", "Connections"),
        ("accountz", "Accounts"),
        ("accstatz", "Account Stats"),
        ("subsz", "Subscriptions"),
        ("routez", "Routes"),
        ("leafz", "LeafNodes"),
        ("gatewayz", "Gateways"),
        ("healthz", "Health Probe"),
    ];
    let mut page = String::from("<html lang=\"en\">\n<head>\n<title>natsd monitoring</title>\n");
    page.push_str("<style>body { font-family: sans-serif; margin-left: 32px } a { display: block; padding-bottom: 6px }</style>\n");
    page.push_str("</head>\n<body>\n");
    page.push_str(&format!(
        "<h1>natsd</h1>\n<p>{} (nats-server v{COMPAT_VERSION} compatible)</p>\n",
        html_escape(cx.server.version_string())
    ));
    for (path, title) in LINKS {
        page.push_str(&format!(
            "<a href=./{path}>{title} <code>/{path}</code></a>\n"
        ));
    }
    page.push_str(
        "<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring>Help</a>\n",
    );
    page.push_str("</body>\n</html>\n");
    Reply::Html(page)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    server_name: &'a str,
    now: String,
    num_routes: usize,
    routes: Vec<RouteInfo>,
}

/// One route, with nats-server's field names.
#[derive(Serialize)]
struct RouteInfo {
    rid: u64,
    remote_id: String,
    remote_name: String,
    did_solicit: bool,
    is_configured: bool,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    rtt: String,
    uptime: String,
    idle: String,
    pending_size: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    compression: &'static str,
}

/// `/routez` (`subs`): the registered routes.
pub(super) fn routez(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/routez");
    cx.query.subs()?;
    let server = cx.server;
    let routes: Vec<RouteInfo> = server
        .routes()
        .snapshot()
        .into_iter()
        .map(|r| RouteInfo {
            rid: r.rid,
            remote_id: r.remote_id,
            remote_name: r.remote_name,
            did_solicit: r.did_solicit,
            is_configured: r.is_configured,
            ip: r.addr.ip().to_string(),
            port: r.addr.port(),
            start: cx.time(r.start),
            last_activity: cx.time(r.last_activity),
            rtt: r.rtt.map(super::timefmt::go_duration).unwrap_or_default(),
            uptime: super::timefmt::uptime(cx.now.saturating_duration_since(r.start)),
            idle: super::timefmt::uptime(cx.now.saturating_duration_since(r.last_activity)),
            pending_size: r.pending,
            in_msgs: r.in_msgs,
            out_msgs: r.out_msgs,
            in_bytes: r.in_bytes,
            out_bytes: r.out_bytes,
            subscriptions: r.subscriptions,
            // natsd never compresses routes (nor offers to).
            compression: "not supported",
        })
        .collect();
    let out = Routez {
        server_id: server.id(),
        server_name: server.name(),
        now: cx.now_text(),
        num_routes: routes.len(),
        routes,
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}

#[derive(Serialize)]
struct Gatewayz<'a> {
    server_id: &'a str,
    now: String,
    outbound_gateways: Empty,
    inbound_gateways: Empty,
}

/// `/gatewayz` (`accs`, `subs`, `gw_name`, `acc_name`): no gateways.
pub(super) fn gatewayz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/gatewayz");
    cx.query.bool("accs")?;
    cx.query.subs()?;
    let out = Gatewayz {
        server_id: cx.server.id(),
        now: cx.now_text(),
        outbound_gateways: Empty {},
        inbound_gateways: Empty {},
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}

#[derive(Serialize)]
struct Leafz<'a> {
    server_id: &'a str,
    now: String,
    leafnodes: u64,
    leafs: [Empty; 0],
}

/// `/leafz` (`subs`, `acc`): no leaf nodes.
pub(super) fn leafz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/leafz");
    cx.query.subs()?;
    let out = Leafz {
        server_id: cx.server.id(),
        now: cx.now_text(),
        leafnodes: 0,
        leafs: [],
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}

#[derive(Serialize)]
struct HealthError {
    #[serde(rename = "type")]
    kind: &'static str,
    error: String,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<HealthError>,
}

/// `/healthz`: `ok` (JetStream checks pass trivially without JetStream);
/// a stream without an account, or a consumer without a stream, is a bad
/// request, as in nats-server. The body is compact JSON.
pub(super) fn healthz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/healthz");
    let q = &cx.query;
    for flag in [
        "js-enabled",
        "js-enabled-only",
        "js-server-only",
        "js-meta-only",
    ] {
        q.bool(flag)?;
    }
    let details = q.bool("details")?;
    let problem = if q.get("account").is_empty() && !q.get("stream").is_empty() {
        Some("\"account\" must not be empty when checking stream health")
    } else if q.get("stream").is_empty() && !q.get("consumer").is_empty() {
        Some("\"stream\" must not be empty when checking consumer health")
    } else {
        None
    };
    if problem.is_none() && cx.server.in_lame_duck() {
        // nats-server's readiness check fails once lame duck mode stopped
        // the listener: 500 with this exact text.
        const NOT_READY: &str = "failed to be ready for connections after 1ms: server";
        let health = if details {
            Health {
                status: "error",
                error: String::new(),
                errors: vec![HealthError {
                    kind: "CONNECTION",
                    error: NOT_READY.into(),
                }],
            }
        } else {
            Health {
                status: "error",
                error: NOT_READY.into(),
                errors: Vec::new(),
            }
        };
        return Ok(Reply::Json(500, json::compact(&health)));
    }
    let Some(problem) = problem else {
        let ok = Health {
            status: "ok",
            error: String::new(),
            errors: Vec::new(),
        };
        return Ok(Reply::Json(200, json::compact(&ok)));
    };
    let health = if details {
        Health {
            status: "error",
            error: String::new(),
            errors: vec![HealthError {
                kind: "BAD_REQUEST",
                error: problem.into(),
            }],
        }
    } else {
        Health {
            status: "error",
            error: problem.into(),
            errors: Vec::new(),
        }
    };
    Ok(Reply::Json(400, json::compact(&health)))
}

#[derive(Serialize)]
struct ApiStats {
    level: u64,
    total: u64,
    errors: u64,
}

#[derive(Serialize)]
struct JsConfig {
    max_memory: u64,
    max_storage: u64,
}

#[derive(Serialize)]
struct Jsz<'a> {
    memory: u64,
    storage: u64,
    reserved_memory: u64,
    reserved_storage: u64,
    accounts: u64,
    ha_assets: u64,
    api: ApiStats,
    server_id: &'a str,
    now: String,
    disabled: bool,
    config: JsConfig,
    streams: u64,
    consumers: u64,
    messages: u64,
    bytes: u64,
    total: u64,
}

/// `/jsz`: a server without JetStream. The query is checked as
/// nats-server checks it.
pub(super) fn jsz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/jsz");
    let q = &cx.query;
    for flag in ["accounts", "streams", "consumers", "config"] {
        q.bool(flag)?;
    }
    q.int("offset")?;
    q.int("limit")?;
    for flag in [
        "leader-only",
        "raft",
        "stream-leader-only",
        "direct-consumers",
    ] {
        q.bool(flag)?;
    }
    let out = Jsz {
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        accounts: 0,
        ha_assets: 0,
        api: ApiStats {
            level: 0,
            total: 0,
            errors: 0,
        },
        server_id: cx.server.id(),
        now: cx.now_text(),
        disabled: true,
        config: JsConfig {
            max_memory: 0,
            max_storage: 0,
        },
        streams: 0,
        consumers: 0,
        messages: 0,
        bytes: 0,
        total: 0,
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}
