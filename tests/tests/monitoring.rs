//! HTTP monitoring (`-m`): the same scenario runs on each server under test
//! and on the real nats-server 2.14, every endpoint is fetched from both
//! with a tiny HTTP/1.0 client, and the answers are compared: same status,
//! content type and CORS header; for JSON the same keys at every level and
//! the same JSON type for every key (ids, times, ports, versions may
//! differ), plus equal values for the counters the scenario fixes; for
//! errors the same text.
//!
//! The reference binary is `NATS_SERVER_BIN`, else the one
//! `shared/bench/setup.sh` installs; without it the comparison is skipped
//! (loudly) and only the natsd-only checks run.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use natsd_tests::{for_each_server, servers, Cases, RawConn, ServerBin, ServerProcess};
use serde_json::Value;

const REFERENCE: &str = "/root/.cache/natsd-bench/nats-server-v2.14.0/nats-server";

/// Keys only nats-server has, for a reason natsd cannot share yet.
const ONLY_NATS_SERVER: &[(&str, &str)] = &[
    // natsd is not built from a git checkout it knows about.
    ("/varz", "git_commit"),
    ("/varz?callback=cb", "git_commit"),
];

fn reference() -> Option<ServerBin> {
    let path: PathBuf =
        std::env::var_os("NATS_SERVER_BIN").map_or_else(|| REFERENCE.into(), Into::into);
    path.is_file().then(|| ServerBin {
        name: "nats-server".into(),
        path,
    })
}

/// One HTTP answer.
#[derive(Debug, Clone)]
struct Http {
    status: u16,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Http {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` and reads the answer until the server closes (5 s bound).
fn http_raw(port: u16, raw: &[u8]) -> Http {
    let mut s =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect :{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap_or_else(|e| {
        panic!(
            "reading the answer to {:?}: {e}",
            String::from_utf8_lossy(raw)
        )
    });
    let text = String::from_utf8(out).expect("UTF-8 answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head end in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header {l:?}"));
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    Http {
        status,
        headers,
        body: body.to_string(),
    }
}

fn http_get(port: u16, target: &str) -> Http {
    http_raw(port, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes())
}

/// The monitoring port from nats-server's log line.
fn monitor_port(server: &ServerProcess) -> u16 {
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("Starting http monitor on "))
        .unwrap_or_else(|| {
            panic!(
                "[{}] no `Starting http monitor on` line:\n{log}",
                server.bin()
            )
        });
    let ready = log.find("Server is ready").expect("ready line");
    assert!(
        log.find("Starting http monitor on ").unwrap() < ready,
        "[{}] monitor line must come first",
        server.bin()
    );
    line.rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("port")
}

fn connect(server: &ServerProcess, name: &str, ops: &str) -> RawConn {
    let mut c = server.raw();
    c.send(format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"{name}\",\"lang\":\"rust\",\"version\":\"1.2.3\",\"protocol\":1}}\r\n{ops}PING\r\nPING\r\n"
    ));
    // With protocol 1 an INFO carrying connect_info follows the first PONG.
    let mut pongs = 0;
    while pongs < 2 {
        let line = c.read_line_skip_ping();
        if !line.starts_with(b"INFO ") {
            assert_eq!(
                line,
                b"PONG\r\n",
                "[{}] {name}: {}",
                server.bin(),
                String::from_utf8_lossy(&line)
            );
            pongs += 1;
        }
    }
    c
}

/// Runs the scenario, fetches every target; returns (target, answer) pairs.
fn scenario(bin: &ServerBin) -> Vec<(String, Http)> {
    let server = ServerProcess::start(bin, &["-m", "-1"]);
    let port = monitor_port(&server);
    let mut alice = connect(
        &server,
        "alice-app",
        "SUB help.> 1\r\nSUB events.a 2\r\nSUB work q1 3\r\n",
    );
    let mut bob = connect(&server, "bob-app", "SUB foo.a 1\r\nSUB foo.b 2\r\n");
    let mut tmp = connect(&server, "tmp-app", "SUB x 1\r\nPUB foo.a 2\r\nhi\r\n");
    alice.send("PUB events.a 5\r\nhello\r\nPUB foo.a 2\r\nhi\r\nPUB work 1\r\nw\r\nPING\r\n");
    alice.expect("MSG events.a 2 5\r\nhello\r\nMSG work 3 1\r\nw\r\nPONG\r\n");
    bob.expect("MSG foo.a 1 2\r\nhi\r\nMSG foo.a 1 2\r\nhi\r\n");
    bob.ping_pong();
    tmp.send("PING\r\n");
    tmp.expect("PONG\r\n");
    drop(tmp);
    // Wait until the closed connection is listed.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = http_get(port, "/connz?state=closed");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let names = v["connections"]
            .as_array()
            .map(|l| l.iter().map(|c| c["name"].clone()).collect::<Vec<_>>());
        if names.unwrap_or_default().contains(&Value::from("tmp-app")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{bin}] the closed connection never showed: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let alice_cid = alice.info()["client_id"].as_u64().expect("client_id");
    let mut targets: Vec<String> = [
        "/",
        "/varz",
        "/varz?callback=cb",
        "/connz",
        "/connz?subs=1",
        "/connz?subs=detail",
        "/connz?subs=detail&auth=true",
        "/connz?state=closed",
        "/connz?state=closed&limit=2",
        "/connz?state=closed&subs=1",
        "/connz?state=any&sort=uptime",
        "/connz?state=closed&sort=stop",
        "/connz?state=closed&sort=reason",
        "/connz?sort=msgs_to&limit=2",
        "/connz?sort=bytes_from&offset=1",
        "/connz?sort=subs",
        "/connz?sort=idle",
        "/connz?sort=rtt",
        "/connz?offset=-3&limit=-1",
        "/connz?acc=%24G",
        "/connz?acc=nobody",
        "/subsz",
        "/subscriptionsz",
        "/subsz?subs=1&test=foo.a",
        "/subsz?subs=1&test=nothing.here",
        "/routez",
        "/routez?subs=detail",
        "/gatewayz",
        "/leafz",
        "/accountz",
        "/accountz?acc=%24G",
        "/accstatz",
        "/accstatz?unused=1",
        "/healthz",
        "/healthz?js-enabled-only=true",
        "/healthz?js-server-only=1&js-enabled=true",
        "/healthz?stream=s",
        "/healthz?stream=s&details=true",
        "/healthz?consumer=c",
        "/healthz?callback=cb",
        "/jsz",
        // Errors.
        "/connz?subs=maybe",
        "/connz?limit=x",
        "/connz?offset=99999999999999999999",
        "/connz?cid=-1",
        "/connz?state=bogus",
        "/connz?sort=bogus",
        "/connz?sort=stop",
        "/connz?sort=reason&state=any",
        "/subsz?test=foo.*",
        "/subsz?subs=x",
        "/accountz?acc=nope",
        "/accstatz?unused=2",
        "/healthz?details=maybe",
        "/jsz?accounts=x",
        "/gatewayz?accs=x",
        "/leafz?subs=x",
        "/raftz",
        "/nope",
        "/varz/",
        // Last: nats-server 2.14 keeps the details it rendered for a
        // closed connection and shows them in every later /connz answer.
        "/connz?state=closed&subs=detail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    targets.push(format!("/connz?cid={alice_cid}"));
    targets.push(format!("/connz?cid={alice_cid}&subs=1&auth=1"));
    targets.push(format!("/connz?cid={alice_cid}&state=closed"));
    let answers = targets
        .iter()
        .map(|t| (t.clone(), http_get(port, t)))
        .collect();
    // Keep the clients until every answer is in.
    drop((alice, bob));
    answers
}

/// Fields whose values the scenario fixes, so they must be equal.
const SAME_VALUE: &[&str] = &[
    "num_connections",
    "total",
    "offset",
    "limit",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    "name",
    "lang",
    "version",
    "kind",
    "type",
    "reason",
    "subject",
    "qgroup",
    "sid",
    "msgs",
    "subscriptions_list",
    "status",
    "error",
    "num_routes",
    "leafnodes",
    "connections",
    "total_connections",
    "disabled",
    "proto",
    "max_payload",
    "max_connections",
    "ping_interval",
    "write_deadline",
];

/// Compares `ours` with `theirs` at `path`, appending differences.
fn compare(path: &str, ours: &Value, theirs: &Value, allowed: &[&str], diffs: &mut Vec<String>) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if kind(ours) != kind(theirs) {
        diffs.push(format!(
            "{path}: natsd has {} {ours}, nats-server {} {theirs}",
            kind(ours),
            kind(theirs)
        ));
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            for k in ka.difference(&kb) {
                diffs.push(format!("{path}.{k}: only natsd has it"));
            }
            for k in kb.difference(&ka) {
                if !allowed.contains(&k.as_str()) {
                    diffs.push(format!("{path}.{k}: only nats-server has it"));
                }
            }
            for k in ka.intersection(&kb) {
                let p = format!("{path}.{k}");
                let (x, y) = (&a[*k], &b[*k]);
                if SAME_VALUE.contains(&k.as_str())
                    && !x.is_object()
                    && !x.is_array()
                    && x != y
                    && !counter_exempt(&p)
                {
                    diffs.push(format!("{p}: natsd {x}, nats-server {y}"));
                }
                if k.as_str() == "subscriptions_list"
                    && x.as_array().is_some_and(|l| l.iter().all(Value::is_string))
                {
                    let set = |v: &Value| {
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<BTreeSet<_>>()
                    };
                    if set(x) != set(y) {
                        diffs.push(format!("{p}: natsd {x}, nats-server {y}"));
                    }
                }
                compare(&p, x, y, allowed, diffs);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // Pair elements by what identifies them; unpaired ones (natsd
            // has no internal `$SYS` subscriptions) are only type-checked
            // against the other side's first element.
            let id = |v: &Value| {
                let name = v.get("name").or_else(|| v.get("acc"));
                let sub = v
                    .get("subject")
                    .map(|s| format!("{s}{}", v.get("qgroup").unwrap_or(&Value::Null)));
                name.map(|n| n.to_string()).or(sub)
            };
            // Elements without an identity (strings, unnamed connections)
            // pair in order with the other side's elements without one.
            let anonymous = |l: &'_ [Value]| l.iter().filter(|v| id(v).is_none()).count();
            let (mut k, b_anon) = (0, anonymous(b));
            for (i, x) in a.iter().enumerate() {
                let partner = match id(x) {
                    Some(key) => b.iter().find(|y| id(y).as_deref() == Some(key.as_str())),
                    None => {
                        k += 1;
                        b.iter()
                            .filter(|y| id(y).is_none())
                            .nth((k - 1).min(b_anon.saturating_sub(1)))
                    }
                };
                if let Some(y) = partner.or(b.first()) {
                    compare(&format!("{path}[{i}]"), x, y, allowed, diffs);
                }
            }
        }
        _ => {}
    }
}

/// Values that legitimately differ: nats-server's server-wide and `$G`
/// subscription counts include its internal `$SYS` and import subscriptions.
fn counter_exempt(path: &str) -> bool {
    (path.starts_with("/varz") || path.starts_with("/accountz")) && path.ends_with(".subscriptions")
}

fn json_of(target: &str, r: &Http) -> Value {
    let body = if target.contains("callback=cb") {
        assert!(
            r.body.starts_with("cb(") && r.body.ends_with(')'),
            "{target}: JSONP body {:?}",
            r.body
        );
        &r.body[3..r.body.len() - 1]
    } else {
        r.body.as_str()
    };
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{target}: not JSON ({e}): {body}"))
}

fn compare_answers(bin: &ServerBin, ours: &[(String, Http)], theirs: &[(String, Http)]) {
    let mut cases = Cases::default();
    for ((target, a), (_, b)) in ours.iter().zip(theirs) {
        cases.run(target.clone(), || {
            assert_eq!(
                a.status, b.status,
                "status; natsd body {:?}, nats-server body {:?}",
                a.body, b.body
            );
            let ct = |r: &Http| r.header("content-type").unwrap_or("").to_string();
            assert_eq!(ct(a), ct(b), "content type");
            let cors = |r: &Http| r.header("access-control-allow-origin").map(str::to_string);
            assert_eq!(cors(a), cors(b), "CORS header");
            assert!(a.header("date").is_some(), "Date header");
            if let Some(len) = a.header("content-length") {
                assert_eq!(
                    len.parse::<usize>().ok(),
                    Some(a.body.len()),
                    "Content-Length"
                );
            }
            if ct(b).starts_with("text/plain") {
                assert_eq!(a.body, b.body, "error text");
            } else if ct(b).starts_with("text/html") {
                for link in ["./varz", "./connz", "./subsz", "./healthz"] {
                    assert!(a.body.contains(link), "index links {link}");
                }
            } else {
                let allowed: Vec<&str> = ONLY_NATS_SERVER
                    .iter()
                    .filter(|(t, _)| t == target)
                    .map(|(_, k)| *k)
                    .collect();
                let mut diffs = Vec::new();
                compare(
                    target,
                    &json_of(target, a),
                    &json_of(target, b),
                    &allowed,
                    &mut diffs,
                );
                assert!(
                    diffs.is_empty(),
                    "{} difference(s):\n  {}",
                    diffs.len(),
                    diffs.join("\n  ")
                );
                if target.starts_with("/varz")
                    || target.starts_with("/connz")
                    || target.starts_with("/subsz")
                {
                    assert!(
                        a.body.starts_with("{\n  \"") || a.body.starts_with("cb({\n  \""),
                        "two-space indent"
                    );
                }
            }
        });
    }
    cases.finish(bin);
}

#[test]
fn endpoints_match_nats_server() {
    let Some(reference) = reference() else {
        eprintln!("SKIPPING the comparison: no nats-server at {REFERENCE} (set NATS_SERVER_BIN)");
        return;
    };
    let theirs = scenario(&reference);
    // The reference itself must show what the comparison relies on.
    let varz = json_of("/varz", &theirs[1].1);
    assert_eq!(varz["version"], "2.14.0", "reference is nats-server 2.14");
    for_each_server(|bin| {
        let ours = scenario(bin);
        compare_answers(bin, &ours, &theirs);
    });
}

/// The comparison must be able to fail: a changed key, a changed type and
/// a missing key are all reported.
#[test]
fn comparison_detects_differences() {
    let theirs: Value = serde_json::json!({"a": 1, "b": {"c": "x", "d": [ {"subject": "s", "msgs": 1} ]}, "e": true});
    let mut diffs = Vec::new();
    compare("/t", &theirs, &theirs, &[], &mut diffs);
    assert!(diffs.is_empty(), "{diffs:?}");
    for (ours, what) in [
        (
            serde_json::json!({"a": 1, "b": {"c": "x", "d": [ {"subject": "s", "msgs": 1} ]}}),
            "only nats-server",
        ),
        (
            serde_json::json!({"a": "1", "b": {"c": "x", "d": [ {"subject": "s", "msgs": 1} ]}, "e": true}),
            "natsd has string",
        ),
        (
            serde_json::json!({"a": 1, "b": {"c": "x", "d": [ {"subject": "s", "msgs": 2} ]}, "e": true}),
            "natsd 2",
        ),
        (
            serde_json::json!({"a": 1, "b": {"c": "x", "d": [ {"subject": "s", "msgs": 1, "z": 0} ]}, "e": true}),
            "only natsd",
        ),
    ] {
        let mut diffs = Vec::new();
        compare("/t", &ours, &theirs, &[], &mut diffs);
        assert!(diffs.iter().any(|d| d.contains(what)), "{what}: {diffs:?}");
    }
}

/// natsd's HTTP glue, in each runtime: heads split anywhere, bad and
/// over-long heads, a silent peer that must not hold up others, HEAD, and
/// no monitoring without `-m`.
#[test]
fn http_glue() {
    for_each_server(|bin| {
        let server = ServerProcess::start(bin, &["-m", "-1"]);
        let port = monitor_port(&server);
        let mut cases = Cases::default();
        cases.run("bytewise", || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" {
                s.write_all(&[*b]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            assert!(
                out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("{\"status\":\"ok\"}"),
                "{out:?}"
            );
        });
        cases.run("silent peer does not block", || {
            let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let t = Instant::now();
            assert_eq!(http_get(port, "/healthz").status, 200);
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "took {:?}",
                t.elapsed()
            );
        });
        if !bin.is_nats_server() {
            cases.run("bad heads", || {
                let r = http_raw(port, b"garbage\r\n\r\n");
                assert_eq!((r.status, r.body.as_str()), (400, "400 Bad Request"));
                let big = format!("GET / HTTP/1.0\r\nX-Big: {}\r\n\r\n", "b".repeat(64 * 1024));
                assert_eq!(http_raw(port, big.as_bytes()).status, 431);
            });
        }
        cases.run("HEAD and body", || {
            let r = http_raw(port, b"HEAD /varz HTTP/1.0\r\n\r\n");
            assert_eq!(r.status, 200);
            assert!(r.body.is_empty());
            let r = http_raw(
                port,
                b"POST /healthz HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
            );
            assert_eq!((r.status, r.body.as_str()), (200, "{\"status\":\"ok\"}"));
        });
        cases.finish(bin);
        drop(server);
        let plain = ServerProcess::start(bin, &[]);
        assert!(
            !plain.stderr().contains("http monitor"),
            "[{bin}] monitoring is off without -m"
        );
    });
    assert!(!servers().is_empty());
}
