//! The HTTP monitoring endpoints of nats-server (`-m PORT`): `/varz`,
//! `/connz`, `/subsz`, `/routez`, `/gatewayz`, `/leafz`, `/accountz`,
//! `/accstatz`, `/healthz`, `/jsz` and the HTML index at `/`, with
//! nats-server's field names, order, JSON types, time formats, error texts,
//! JSONP `callback` and headers.
//!
//! Sans-IO like the rest of the core: the runtime accepts a connection,
//! feeds what it reads to a [`HeadReader`] until it reports a complete head,
//! calls [`handle`] with the current `Instant` and Unix time, writes
//! [`Response::to_bytes`] and closes. A head the reader refuses is answered
//! with [`Response::for_head_error`].
//!
//! The core reads no clock: every `Instant` it holds (connection start, last
//! activity, server start) is shown as `unix - (now - instant)`. The wall
//! clock comes in as a `Duration` since the Unix epoch, which the host
//! computes (the no-I/O contract keeps `UNIX_EPOCH` out of the core).

mod accounts;
mod connz;
pub(crate) use connz::sid_order;
mod http;
pub(crate) mod json;
mod misc;
mod query;
mod subsz;
pub mod timefmt;
mod varz;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use http::{parse_head, HeadError, HeadReader, Parse, Request, Version, MAX_HEAD};

use crate::server::Server;
use query::Query;

/// Process figures only the host can measure (the core reads no `/proc`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident memory in bytes (`mem` in /varz).
    pub mem: u64,
    /// CPU use in percent (`cpu`).
    pub cpu: f64,
    /// CPUs of the machine (`cores`).
    pub cores: usize,
    /// Worker threads the runtime uses (`gomaxprocs`).
    pub workers: usize,
}

/// Monitoring state kept by the [`Server`]: start time, bound HTTP port,
/// request counters and the host's latest process figures.
#[derive(Debug, Default)]
pub struct State {
    started: OnceLock<(Instant, Duration)>,
    http_port: AtomicU32,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    process: Mutex<ProcessStats>,
}

impl State {
    /// Records when the server started, as an `Instant` and as Unix time
    /// (the first call wins). Hosts call it at startup; otherwise the first
    /// request sets it.
    pub fn set_started(&self, now: Instant, unix: Duration) {
        let _ = self.started.set((now, unix));
    }

    /// When the server started, if recorded.
    pub fn started(&self) -> Option<(Instant, Duration)> {
        self.started.get().copied()
    }

    /// Records the monitoring port actually bound (with `-m -1`).
    pub fn set_http_port(&self, port: u16) {
        self.http_port
            .store(u32::from(port) | 1 << 16, Ordering::Relaxed);
    }

    /// The bound monitoring port, if recorded.
    pub fn http_port(&self) -> Option<u16> {
        let v = self.http_port.load(Ordering::Relaxed);
        (v >> 16 == 1).then_some(v as u16)
    }

    /// Stores the host's latest process figures, shown by `/varz`.
    pub fn set_process_stats(&self, stats: ProcessStats) {
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    fn process_stats(&self) -> ProcessStats {
        *self.process.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one request to `path` (`http_req_stats` in /varz).
    fn count(&self, path: &'static str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(path)
            .or_insert(0) += 1;
    }

    fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// An HTTP response, rendered by [`Response::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// Whether `Access-Control-Allow-Origin: *` is sent (JSON answers).
    pub cors: bool,
    /// Whether `X-Content-Type-Options: nosniff` is sent (404 answers).
    pub nosniff: bool,
    /// `Date` header value, if any.
    pub date: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// Status-line version.
    pub version: Version,
    /// A `HEAD` request: headers only.
    pub head_only: bool,
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

impl Response {
    fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            cors: false,
            nosniff: false,
            date: None,
            body,
            version: Version::Http11,
            head_only: false,
        }
    }

    /// The answer to a head the [`HeadReader`] refused, as Go's server
    /// writes it: `400 Bad Request` and so on, as plain text.
    pub fn for_head_error(err: HeadError) -> Response {
        let (status, text) = match err {
            HeadError::BadRequest => (400, "400 Bad Request"),
            HeadError::TooLarge => (431, "431 Request Header Fields Too Large"),
            HeadError::VersionNotSupported => (505, "505 HTTP Version Not Supported"),
        };
        Response::new(status, TEXT, text.as_bytes().to_vec())
    }

    /// Status line, headers (with `Content-Length` and `Connection:
    /// close`) and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let version = match self.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        let mut head = format!("{version} {} {}\r\n", self.status, reason(self.status));
        if self.cors {
            head.push_str("Access-Control-Allow-Origin: *\r\n");
        }
        head.push_str(&format!("Content-Type: {}\r\n", self.content_type));
        if self.nosniff {
            head.push_str("X-Content-Type-Options: nosniff\r\n");
        }
        if let Some(date) = &self.date {
            head.push_str(&format!("Date: {date}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = head.into_bytes();
        if !self.head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// What an endpoint produced, before the JSONP and header rules.
enum Reply {
    /// A JSON document with this status.
    Json(u16, Vec<u8>),
    /// Plain text with this status (no trailing newline, as nats-server).
    Text(u16, String),
    /// An HTML page.
    Html(String),
    /// Go's `404 page not found`.
    NotFound,
}

/// A bad query parameter: 400 with nats-server's text.
fn bad_request(text: impl Into<String>) -> Reply {
    Reply::Text(400, text.into())
}

/// What every endpoint sees of one request.
struct Ctx<'a> {
    server: &'a Server,
    query: Query,
    now: Instant,
    /// `now` as Unix time.
    wall: Duration,
}

impl Ctx<'_> {
    /// RFC 3339 wall-clock text of an `Instant`.
    fn time(&self, t: Instant) -> String {
        timefmt::rfc3339_nanos(timefmt::wall_of(t, self.now, self.wall))
    }

    fn now_text(&self) -> String {
        timefmt::rfc3339_nanos(self.wall)
    }

    fn started(&self) -> (Instant, Duration) {
        let state = self.server.monitor();
        state.set_started(self.now, self.wall);
        state.started().unwrap_or((self.now, self.wall))
    }

    fn count(&self, path: &'static str) {
        self.server.monitor().count(path);
    }
}

/// Answers one monitoring request. `now` and `unix` are the same moment on
/// the monotonic clock and as time since the Unix epoch.
pub fn handle(server: &Server, request: &Request, now: Instant, unix: Duration) -> Response {
    let cx = Ctx {
        server,
        query: Query::parse(&request.query),
        now,
        wall: unix,
    };
    let reply = match endpoint_path(&server.options().http_base_path, &request.path) {
        Some(path) => route(&cx, path),
        None => Reply::NotFound,
    };
    let mut resp = match reply {
        Reply::Json(status, body) => match cx.query.get("callback") {
            "" => {
                let mut r = Response::new(status, JSON, body);
                r.cors = true;
                r
            }
            cb => {
                let mut b = Vec::with_capacity(body.len() + cb.len() + 2);
                b.extend_from_slice(cb.as_bytes());
                b.push(b'(');
                b.extend_from_slice(&body);
                b.push(b')');
                Response::new(status, "application/javascript", b)
            }
        },
        Reply::Text(status, text) => Response::new(status, TEXT, text.into_bytes()),
        Reply::Html(page) => Response::new(200, "text/html; charset=utf-8", page.into_bytes()),
        Reply::NotFound => {
            let mut r = Response::new(404, TEXT, b"404 page not found\n".to_vec());
            r.nosniff = true;
            r
        }
    };
    resp.date = Some(timefmt::http_date(unix));
    resp.version = request.version;
    resp.head_only = request.method == "HEAD";
    resp
}

/// One endpoint's JSON for the `$SYS` API: `path` (`/varz`, …) with the
/// query string `query`; `Err` is an error status with its text.
pub(crate) fn render(
    server: &Server,
    path: &str,
    query: &str,
    now: Instant,
    wall: Duration,
) -> Result<serde_json::Value, (u16, String)> {
    let cx = Ctx {
        server,
        query: Query::parse(query),
        now,
        wall,
    };
    match route(&cx, path) {
        Reply::Json(200, body) => serde_json::from_slice(&body).map_err(|e| (500, e.to_string())),
        Reply::Json(status, body) => Err((status, String::from_utf8_lossy(&body).into_owned())),
        Reply::Text(status, text) => Err((status, text)),
        Reply::Html(_) | Reply::NotFound => Err((404, "not found".into())),
    }
}

/// The endpoint path below `http_base_path` (`/mon` + `/varz`), if the
/// request is under it.
fn endpoint_path<'p>(base: &str, path: &'p str) -> Option<&'p str> {
    let base = base.trim_end_matches('/');
    if base.is_empty() || base == "/" {
        return Some(path);
    }
    let base = base.strip_prefix('/').unwrap_or(base);
    let rest = path.strip_prefix('/')?.strip_prefix(base)?;
    match rest {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

fn route(cx: &Ctx<'_>, path: &str) -> Reply {
    let result = match path {
        "/" => {
            cx.count("/");
            Ok(misc::index(cx))
        }
        "/varz" => varz::varz(cx),
        "/connz" => connz::connz(cx),
        "/subsz" | "/subscriptionsz" => subsz::subsz(cx),
        "/routez" => misc::routez(cx),
        "/gatewayz" => misc::gatewayz(cx),
        "/leafz" => misc::leafz(cx),
        "/accountz" => accounts::accountz(cx),
        "/accstatz" => accounts::accstatz(cx),
        "/healthz" => misc::healthz(cx),
        "/jsz" => misc::jsz(cx),
        "/raftz" => Ok(Reply::Text(404, "No Raft nodes registered".into())),
        _ => Ok(Reply::NotFound),
    };
    result.unwrap_or_else(|e| e)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // host-side code: tests read the clock
mod tests {

    use super::*;
    use crate::{CloseReason, Options};

    fn get(server: &Server, target: &str) -> (u16, String, String) {
        let wall = Duration::from_secs(1_795_660_675);
        let r = handle(server, &Request::get(target), Instant::now(), wall);
        let bytes = r.to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (r.status, head.to_string(), body.to_string())
    }

    fn json(server: &Server, target: &str) -> serde_json::Value {
        let (status, head, body) = get(server, target);
        assert_eq!(status, 200, "{target}: {head}\n{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{target}: {e}: {body}"))
    }

    #[test]
    fn headers_jsonp_and_errors() {
        let server = Server::new(Options::default(), 1);
        let (status, head, body) = get(&server, "/healthz");
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"status":"ok"}"#);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json\r\n"), "{head}");
        assert!(head.contains("\r\nDate: Thu, 26 Nov 2026 02:37:55 GMT\r\nContent-Length: 15\r\nConnection: close"), "{head}");
        let (_, head, body) = get(&server, "/healthz?callback=cb");
        assert_eq!(body, r#"cb({"status":"ok"})"#);
        assert!(
            head.contains("Content-Type: application/javascript")
                && !head.contains("Access-Control"),
            "{head}"
        );
        let (status, head, body) = get(&server, "/nope");
        assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
        assert!(head.contains(
            "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff"
        ));
        assert_eq!(get(&server, "/varz/").0, 404);
        let (status, _, body) = get(&server, "/connz?subs=maybe");
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"Error decoding boolean for 'subs': strconv.ParseBool: parsing "maybe": invalid syntax"#
            )
        );
        for (target, text) in [
            (
                "/connz?limit=x",
                r#"Error decoding int for 'limit': strconv.Atoi: parsing "x": invalid syntax"#,
            ),
            (
                "/connz?limit=99999999999999999999",
                r#"Error decoding int for 'limit': strconv.Atoi: parsing "99999999999999999999": value out of range"#,
            ),
            (
                "/connz?cid=-1",
                r#"Error decoding uint64 for 'cid': strconv.ParseUint: parsing "-1": invalid syntax"#,
            ),
            ("/connz?state=bogus", "Error decoding state for bogus"),
            ("/connz?sort=bogus", "invalid sorting option: bogus"),
            (
                "/connz?sort=stop",
                "sort by stop only valid on closed connections",
            ),
            (
                "/connz?sort=reason&state=any",
                "sort by reason only valid on closed connections",
            ),
            (
                "/subsz?test=foo.*",
                "invalid test subject, must be valid publish subject: foo.*",
            ),
            ("/accountz?acc=nope", "Account nope does not exist"),
            (
                "/jsz?accounts=2",
                r#"Error decoding boolean for 'accounts': strconv.ParseBool: parsing "2": invalid syntax"#,
            ),
        ] {
            assert_eq!(
                get(&server, target),
                (400, get(&server, target).1, text.to_string()),
                "{target}"
            );
        }
        let (status, _, body) = get(&server, "/healthz?stream=s");
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"status":"error","error":"\"account\" must not be empty when checking stream health"}"#
        );
        let (_, _, body) = get(&server, "/healthz?stream=s&details=1");
        assert_eq!(
            body,
            r#"{"status":"error","errors":[{"type":"BAD_REQUEST","error":"\"account\" must not be empty when checking stream health"}]}"#
        );
        let head_only = handle(
            &server,
            &Request {
                method: "HEAD".into(),
                ..Request::get("/healthz")
            },
            Instant::now(),
            Duration::ZERO,
        );
        assert!(head_only
            .to_bytes()
            .ends_with(b"Content-Length: 15\r\nConnection: close\r\n\r\n"));
        assert_eq!(
            Response::for_head_error(HeadError::BadRequest).to_bytes(),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\nConnection: close\r\n\r\n400 Bad Request"
        );
    }

    #[test]
    fn base_path() {
        assert_eq!(endpoint_path("", "/varz"), Some("/varz"));
        assert_eq!(endpoint_path("/mon/", "/mon/varz"), Some("/varz"));
        assert_eq!(endpoint_path("mon", "/mon"), Some("/"));
        assert_eq!(endpoint_path("/mon", "/monx/varz"), None);
        assert_eq!(endpoint_path("/mon", "/varz"), None);
    }

    #[test]
    fn endpoints_reflect_clients() {
        let server = Server::new(
            Options {
                max_closed_clients: 4,
                // Only client subscriptions, none of the `$SYS` API's.
                no_system_account: true,
                ..Options::default()
            },
            7,
        );
        let t0 = Instant::now();
        server
            .monitor()
            .set_started(t0, Duration::from_secs(1_795_660_600));
        let peer = "127.0.0.1:5000".parse().unwrap();
        let mut a = server.accept(peer, t0);
        let mut b = server.accept(peer, t0);
        let mut gone = server.accept(peer, t0);
        a.receive(b"CONNECT {\"name\":\"a\",\"lang\":\"rust\",\"version\":\"1\"}\r\nSUB foo.> 1\r\nSUB work q1 2\r\n", t0);
        b.receive(
            b"CONNECT {}\r\nSUB foo.a 7\r\nPUB foo.a 2\r\nhi\r\nPUB foo.b 1\r\nx\r\n",
            t0,
        );
        gone.receive(b"CONNECT {\"name\":\"gone\"}\r\nPUB foo.a 3\r\nbye\r\n", t0);
        gone.close(CloseReason::ClientClosed);

        let varz = json(&server, "/varz");
        assert_eq!(varz["connections"], 2);
        assert_eq!(varz["total_connections"], 3);
        assert_eq!(varz["in_msgs"], 3);
        assert_eq!(varz["in_bytes"], 6);
        assert_eq!(varz["out_msgs"], 5);
        assert_eq!(varz["subscriptions"], 3);
        assert_eq!(varz["ping_interval"], 120_000_000_000u64);
        assert_eq!(varz["start"], "2026-11-26T02:36:40Z");
        assert_eq!(varz["http_req_stats"]["/varz"], 1);

        let connz = json(&server, "/connz?subs=1");
        assert_eq!(connz["total"], 2);
        let conns = connz["connections"].as_array().unwrap();
        assert_eq!(conns[0]["name"], "a");
        assert_eq!(
            conns[0]["subscriptions_list"],
            serde_json::json!(["foo.>", "work"])
        );
        assert!(conns[1].get("name").is_none(), "empty names are omitted");
        assert_eq!(conns[1]["in_msgs"], 2);

        let sorted = json(&server, "/connz?sort=msgs_to&limit=1");
        assert_eq!(sorted["connections"][0]["cid"], conns[0]["cid"]);
        assert_eq!(
            (sorted["limit"].as_i64(), sorted["num_connections"].as_i64()),
            (Some(1), Some(1))
        );
        let one = json(
            &server,
            &format!("/connz?cid={}&subs=detail", conns[1]["cid"]),
        );
        let detail = &one["connections"][0]["subscriptions_list_detail"][0];
        assert_eq!(
            (
                detail["subject"].as_str(),
                detail["sid"].as_str(),
                detail["msgs"].as_i64()
            ),
            (Some("foo.a"), Some("7"), Some(2))
        );
        assert!(detail.get("account").is_none());

        let closed = json(&server, "/connz?state=closed");
        assert_eq!(closed["connections"][0]["name"], "gone");
        assert_eq!(closed["connections"][0]["reason"], "Client Closed");
        assert_eq!(json(&server, "/connz?state=any&sort=uptime")["total"], 3);
        assert_eq!(
            json(&server, "/connz?acc=nobody")["connections"],
            serde_json::Value::Null
        );

        let subsz = json(&server, "/subsz?subs=1&test=foo.a");
        assert_eq!(subsz["num_subscriptions"], 3);
        assert_eq!(subsz["total"], 2);
        assert_eq!(subsz["num_inserts"], 3);
        let subs: Vec<&str> = subsz["subscriptions_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["subject"].as_str().unwrap())
            .collect();
        assert_eq!(subs.len(), 2);
        assert!(subs.contains(&"foo.>") && subs.contains(&"foo.a"));
        assert!(json(&server, "/subsz?subs=1&test=bar")
            .get("subscriptions_list")
            .is_none());

        let statz = json(&server, "/accstatz");
        assert_eq!(statz["account_statz"][0]["acc"], "$G");
        assert_eq!(statz["account_statz"][0]["received"]["msgs"], 3);
        assert_eq!(
            json(&server, "/accstatz?unused=1")["account_statz"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "no $SYS with no_system_account"
        );
        assert_eq!(
            json(&server, "/accountz?acc=$G")["account_detail"]["client_connections"],
            2
        );
        assert_eq!(json(&server, "/varz")["http_req_stats"]["/connz"], 6);
    }
}
