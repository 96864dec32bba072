//! Cluster routes (issue 8): natsd-only clusters over all three
//! runtimes, and mixed clusters with the real nats-server 2.14.0 and
//! 2.9.10 (topology-tests.md R1–R10). Everything on 127.0.0.1 with
//! free ports; every process is killed when its `ServerProcess` drops.
//!
//! Readiness is polled on `/routez` (`remote_name`s); interest is synced
//! with a probe subject subscribed after the real subscriptions (its
//! `RS+` follows theirs on the same route), published until it arrives.
//!
//! The real binaries are `NATS_SERVER_214` / `NATS_SERVER_29`, else the
//! paths the benchmark setup installs; a test whose binary is missing says
//! so and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_tests::{free_port, servers, ServerBin, ServerProcess};
use serde_json::Value;

const NATS_214: &str = "/root/.cache/natsd-bench/nats-server-v2.14.0/nats-server";
const NATS_29: &str = "/usr/sbin/nats-server";

/// How long routes and interest may take to settle.
const SETTLE: Duration = Duration::from_secs(15);

fn real(var: &str, default: &str, name: &str) -> Option<ServerBin> {
    let path: PathBuf = std::env::var_os(var).map_or_else(|| default.into(), Into::into);
    if path.is_file() {
        Some(ServerBin {
            path,
            name: name.into(),
        })
    } else {
        eprintln!(
            "natsd-tests: {name} not found at {}: skipped",
            path.display()
        );
        None
    }
}

fn nats_214() -> Option<ServerBin> {
    real("NATS_SERVER_214", NATS_214, "nats-server-2.14")
}

fn nats_29() -> Option<ServerBin> {
    real("NATS_SERVER_29", NATS_29, "nats-server-2.9")
}

/// The natsd binaries (or what `NATSD_TEST_SERVERS` names).
fn natsd() -> &'static [ServerBin] {
    servers()
}

/// A unique name for files and subjects.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One cluster member.
struct Node {
    p: ServerProcess,
    name: String,
    /// Server id (2.9's `/routez` has `remote_id` but no `remote_name`).
    id: String,
    route: u16,
    mon: u16,
}

impl Node {
    /// A started member, with its server id read from its first INFO.
    fn new(p: ServerProcess, name: &str, route: u16, mon: u16) -> Node {
        Node {
            id: server_id(&p),
            p,
            name: name.into(),
            route,
            mon,
        }
    }

    fn port(&self) -> u16 {
        self.p.port()
    }

    fn route_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.route)
    }

    fn client(&self) -> Client {
        Client::connect(self.port(), &self.name)
    }

    fn routez(&self) -> Value {
        http_json(self.mon, "/routez")
    }

    /// The remote names and ids of its routes (a pooled 2.14 pair shows
    /// several connections for one name).
    fn peers(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for r in self.routez()["routes"].as_array().into_iter().flatten() {
            for key in ["remote_name", "remote_id"] {
                if let Some(v) = r[key].as_str() {
                    out.insert(v.to_string());
                }
            }
        }
        out
    }

    fn route_to(&self, name: &str) -> Option<Value> {
        self.routez()["routes"]
            .as_array()?
            .iter()
            .find(|r| r["remote_name"] == name)
            .cloned()
    }

    /// Whether it has a route to `other`.
    fn routed_to(&self, other: &Node) -> bool {
        let peers = self.peers();
        peers.contains(&other.name) || peers.contains(&other.id)
    }
}

/// Starts `bin` as cluster member `name` with route listener and monitor on
/// free ports, dialing `routes`; `extra` is appended (a `-c` file, say).
/// A config file may use `{ROUTE}` for the route port (written per try).
fn node(bin: &ServerBin, name: &str, routes: &[&str], extra: &[&str]) -> Node {
    node_in(bin, name, "C1", routes, extra)
}

fn node_in(bin: &ServerBin, name: &str, cluster: &str, routes: &[&str], extra: &[&str]) -> Node {
    start_node(bin, name, cluster, "", routes, extra)
}

/// `creds` (`user:pass@`) go in the `--cluster` URL: the flag sets the
/// route credentials (and clears those of a config file).
fn start_node(
    bin: &ServerBin,
    name: &str,
    cluster: &str,
    creds: &str,
    routes: &[&str],
    extra: &[&str],
) -> Node {
    let mut last = String::new();
    for _ in 0..5 {
        let (route, mon) = (free_port(), free_port());
        let mut args: Vec<String> = vec![
            "--server_name".into(),
            name.into(),
            "--cluster".into(),
            format!("nats://{creds}127.0.0.1:{route}"),
            "--cluster_name".into(),
            cluster.into(),
            "-m".into(),
            mon.to_string(),
        ];
        if !routes.is_empty() {
            args.push("--routes".into());
            args.push(routes.join(","));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = std::panic::catch_unwind(|| ServerProcess::start(bin, &refs));
        match started {
            Ok(p) => {
                return Node::new(p, name, route, mon);
            }
            Err(e) => {
                last = e
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "start failed".into())
            }
        }
    }
    panic!("[{bin}] {name}: {last}");
}

fn server_id(p: &ServerProcess) -> String {
    let info = p.first_info();
    let json = info.trim_end().trim_start_matches("INFO ");
    serde_json::from_str::<Value>(json).unwrap()["server_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Polls until `cond` holds; panics with `what` (and the nodes' routez)
/// after `SETTLE`.
fn wait_for(what: &str, nodes: &[&Node], mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let state: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}: {:?}", n.name, n.peers()))
        .collect();
    panic!("timed out waiting for {what}; routes: {state:?}");
}

/// Waits until every node is routed to every other one.
fn wait_mesh(nodes: &[&Node]) {
    wait_for("a full mesh", nodes, || {
        nodes.iter().all(|n| {
            nodes
                .iter()
                .filter(|m| m.name != n.name)
                .all(|m| n.routed_to(m))
        })
    });
}

fn http_json(port: u16, path: &str) -> Value {
    let fetch = || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    match fetch() {
        Ok(text) => text
            .split_once("\r\n\r\n")
            .and_then(|(_, body)| serde_json::from_str(body).ok())
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// A received message.
#[derive(Debug, Clone)]
struct Msg {
    sid: String,
    reply: Option<String>,
    headers: Option<String>,
    payload: String,
}

/// A small blocking NATS client speaking the raw protocol.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
    msgs: Vec<Msg>,
    info: Value,
    name: String,
    probes: usize,
}

impl Client {
    fn connect(port: u16, name: &str) -> Client {
        Client::connect_with(port, name, "")
    }

    /// Connects as `user` (password `pass`).
    fn connect_as(port: u16, name: &str, user: &str, pass: &str) -> Client {
        Client::connect_with(
            port,
            name,
            &format!(",\"user\":\"{user}\",\"pass\":\"{pass}\""),
        )
    }

    /// Connects with `fields` added to the CONNECT JSON.
    fn connect_with(port: u16, name: &str, fields: &str) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        let mut c = Client {
            s,
            buf: Vec::new(),
            msgs: Vec::new(),
            info: Value::Null,
            name: name.into(),
            probes: 0,
        };
        c.send(&format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"protocol\":1{fields}}}\r\n"
        ));
        c.flush();
        c
    }

    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).unwrap();
    }

    fn publish(&mut self, subject: &str, reply: Option<&str>, payload: &str) {
        let r = reply.map(|r| format!(" {r}")).unwrap_or_default();
        self.send(&format!(
            "PUB {subject}{r} {}\r\n{payload}\r\n",
            payload.len()
        ));
    }

    fn hpublish(&mut self, subject: &str, reply: Option<&str>, headers: &str, payload: &str) {
        let r = reply.map(|r| format!(" {r}")).unwrap_or_default();
        let h = format!("NATS/1.0\r\n{headers}\r\n\r\n");
        self.send(&format!(
            "HPUB {subject}{r} {} {}\r\n{h}{payload}\r\n",
            h.len(),
            h.len() + payload.len()
        ));
    }

    /// PING/PONG: the server processed everything sent before.
    fn flush(&mut self) {
        self.send("PING\r\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.read_one(deadline).is_some_and(|pong| pong) {
            assert!(
                Instant::now() < deadline,
                "[{}] no PONG within 10 s",
                self.name
            );
        }
    }

    /// Reads one protocol line (and payload); `Some(true)` for a PONG,
    /// `Some(false)` for anything else, `None` on timeout.
    fn read_one(&mut self, deadline: Instant) -> Option<bool> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.buf[..nl])
                    .trim_end()
                    .to_string();
                let mut parts = line.split_whitespace();
                let op = parts.next().unwrap_or_default().to_ascii_uppercase();
                let args: Vec<&str> = parts.collect();
                let sizes = match op.as_str() {
                    "MSG" => Some((0, args.last()?.parse::<usize>().ok()?)),
                    "HMSG" => Some((
                        args[args.len() - 2].parse::<usize>().ok()?,
                        args.last()?.parse::<usize>().ok()?,
                    )),
                    _ => None,
                };
                if let Some((hdr, total)) = sizes {
                    if self.buf.len() < nl + 1 + total + 2 {
                        // Wait for the payload.
                    } else {
                        let body = self.buf[nl + 1..nl + 1 + total].to_vec();
                        self.buf.drain(..nl + 1 + total + 2);
                        let n = if op == "HMSG" { 2 } else { 1 };
                        let reply = (args.len() == 3 + n).then(|| args[2].to_string());
                        self.msgs.push(Msg {
                            sid: args[1].into(),
                            reply,
                            headers: (op == "HMSG")
                                .then(|| String::from_utf8_lossy(&body[..hdr]).into_owned()),
                            payload: String::from_utf8_lossy(&body[hdr..]).into_owned(),
                        });
                        return Some(false);
                    }
                } else {
                    self.buf.drain(..=nl);
                    match op.as_str() {
                        "PONG" => return Some(true),
                        "PING" => self.send("PONG\r\n"),
                        "INFO" => {
                            if let Ok(v) = serde_json::from_str(line[4..].trim()) {
                                self.info = v;
                            }
                        }
                        "-ERR" => panic!("[{}] {line}", self.name),
                        _ => {}
                    }
                    return Some(false);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.s
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
                .unwrap();
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => panic!("[{}] connection closed", self.name),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None
                }
                Err(e) => panic!("[{}] read: {e}", self.name),
            }
        }
    }

    /// Reads messages until none came for `idle` (at most 20 s).
    fn settle(&mut self, idle: Duration) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let before = self.msgs.len();
            let deadline = (Instant::now() + idle).min(end);
            while self.read_one(deadline).is_some() {}
            if self.msgs.len() == before || Instant::now() >= end {
                return;
            }
        }
    }

    /// Takes the messages received on `sid` (after settling).
    fn take(&mut self, sid: &str) -> Vec<Msg> {
        self.settle(Duration::from_millis(400));
        let (mine, rest) = std::mem::take(&mut self.msgs)
            .into_iter()
            .partition(|m| m.sid == sid);
        self.msgs = rest;
        mine
    }

    /// Makes sure the subscriptions made so far on this client are known
    /// where each of `pubs` publishes: a probe subscribed last (its `RS+`
    /// follows theirs) is published from each until it arrives.
    fn sync(&mut self, pubs: &mut [&mut Client]) {
        self.probes += 1;
        let subject = format!("probe.{}.{}", unique("p"), self.probes);
        let sid = format!("probe{}", self.probes);
        self.send(&format!("SUB {subject} {sid}\r\n"));
        self.flush();
        for p in pubs.iter_mut() {
            let deadline = Instant::now() + SETTLE;
            loop {
                p.publish(&subject, None, "p");
                p.flush();
                let until = Instant::now() + Duration::from_millis(100);
                while self.read_one(until).is_some() {}
                if self.msgs.iter().any(|m| m.sid == sid) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "[{}] interest did not reach {}",
                    self.name,
                    p.name
                );
            }
            // Late copies of earlier probes arrive before later data.
            p.flush();
        }
        self.settle(Duration::from_millis(200));
        self.msgs.retain(|m| m.sid != sid);
        self.send(&format!("UNSUB {sid}\r\n"));
        self.flush();
    }
}

/// Publishes `n` numbered messages on `subject` and returns their payloads.
fn publish_numbered(p: &mut Client, subject: &str, n: usize) -> BTreeSet<String> {
    let mut sent = BTreeSet::new();
    for i in 0..n {
        let payload = format!("m{i}");
        p.publish(subject, None, &payload);
        sent.insert(payload);
        if i % 500 == 499 {
            p.flush();
        }
    }
    p.flush();
    sent
}

/// Asserts that each of `got` was delivered exactly once and all of `want`
/// arrived.
fn exactly_once(what: &str, want: &BTreeSet<String>, got: &[&Msg]) {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for m in got {
        *count.entry(&m.payload).or_default() += 1;
    }
    let dups: Vec<_> = count.iter().filter(|(_, &n)| n > 1).collect();
    assert!(dups.is_empty(), "{what}: duplicates {dups:?}");
    let missing: Vec<_> = want
        .iter()
        .filter(|w| !count.contains_key(w.as_str()))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} missing, e.g. {missing:?}",
        want.len() - count.len().min(want.len()),
        want.len()
    );
}

/// Sub `foo` on every node, publish once from every node: every subscriber
/// gets exactly one copy of each (routes.md one-hop rule).
fn everyone_gets_everything_once(nodes: &[&Node]) {
    everyone_gets_everything_once_as(nodes, None);
}

/// [`everyone_gets_everything_once`] with every client signed in as
/// `(user, password)` (so in that user's account).
fn everyone_gets_everything_once_as(nodes: &[&Node], user: Option<(&str, &str)>) {
    let subject = unique("all.");
    let connect = |n: &Node| match user {
        Some((u, p)) => Client::connect_as(n.port(), &n.name, u, p),
        None => n.client(),
    };
    let mut subs: Vec<Client> = nodes.iter().map(|n| connect(n)).collect();
    let mut pubs: Vec<Client> = nodes.iter().map(|n| connect(n)).collect();
    for s in subs.iter_mut() {
        s.send(&format!("SUB {subject} 1\r\n"));
        let mut refs: Vec<&mut Client> = pubs.iter_mut().collect();
        s.sync(&mut refs);
    }
    for (i, p) in pubs.iter_mut().enumerate() {
        p.publish(&subject, None, &format!("from-{}", nodes[i].name));
        p.flush();
    }
    for (i, s) in subs.iter_mut().enumerate() {
        let got = s.take("1");
        let mut payloads: Vec<String> = got.iter().map(|m| m.payload.clone()).collect();
        payloads.sort();
        let mut want: Vec<String> = nodes.iter().map(|n| format!("from-{}", n.name)).collect();
        want.sort();
        assert_eq!(payloads, want, "subscriber on {}", nodes[i].name);
    }
}

// ---------------------------------------------------------------------------
// natsd-only clusters
// ---------------------------------------------------------------------------

/// Three natsd nodes, one per runtime (tokio seed, mio and async-std
/// routed to it; mio ↔ async-std found by gossip): wildcards, queue groups
/// exactly once, request/reply, headers, client `connect_urls`.
#[test]
fn natsd_three_runtimes_one_cluster() {
    let bins = natsd();
    let a = node(&bins[0], "a", &[], &[]);
    let b = node(&bins[1 % bins.len()], "b", &[&a.route_url()], &[]);
    let c = node(&bins[2 % bins.len()], "c", &[&a.route_url()], &[]);
    wait_mesh(&[&a, &b, &c]);
    // b and c met by gossip: one of them dialed, neither is configured.
    let bc = b.route_to("c").unwrap();
    let cb = c.route_to("b").unwrap();
    assert_eq!(bc["is_configured"], false, "{bc}");
    assert_ne!(bc["did_solicit"], cb["did_solicit"], "{bc} {cb}");
    assert_eq!(b.route_to("a").unwrap()["is_configured"], true);

    let mut pa = a.client();
    let mut pb = b.client();
    let mut pc = c.client();
    let mut sb = b.client();
    let mut sc = c.client();
    sb.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB work q 3\r\nSUB work q 4\r\nSUB svc 5\r\n");
    sc.send("SUB foo.bar 1\r\nSUB work q 2\r\nSUB _INBOX.r 3\r\n");
    sb.sync(&mut [&mut pa, &mut pc]);
    sc.sync(&mut [&mut pa, &mut pb]);

    // Plain and wildcard subscriptions, with a reply and with headers.
    pa.publish("foo.bar", Some("r.1"), "hello");
    pa.hpublish("foo.bar", None, "X-K: v", "hdr");
    pa.flush();
    for sid in ["1", "2"] {
        let got = sb.take(sid);
        assert_eq!(got.len(), 2, "b sid {sid}: {got:?}");
        assert_eq!(got[0].reply.as_deref(), Some("r.1"));
        assert_eq!(got[0].payload, "hello");
        assert_eq!(
            got[1].headers.as_deref(),
            Some("NATS/1.0\r\nX-K: v\r\n\r\n")
        );
        assert_eq!(got[1].payload, "hdr");
    }
    assert_eq!(sc.take("1").len(), 2);

    // Queue group `q`: two members on b, one on c, publisher on a.
    let sent = publish_numbered(&mut pa, "work", 600);
    let gb3 = sb.take("3");
    let gb4 = sb.take("4");
    let gc = sc.take("2");
    let all: Vec<&Msg> = gb3.iter().chain(&gb4).chain(&gc).collect();
    exactly_once("queue group across the cluster", &sent, &all);
    assert_eq!(all.len(), 600);
    assert!(
        gc.len() > 60 && gb3.len() + gb4.len() > 200,
        "weights 2:1 — b {} c {}",
        gb3.len() + gb4.len(),
        gc.len()
    );
    // A local member is preferred: a publisher on c only feeds c's member.
    let sent = publish_numbered(&mut pc, "work", 100);
    let gc = sc.take("2");
    exactly_once("local queue member", &sent, &gc.iter().collect::<Vec<_>>());
    assert!(sb.take("3").is_empty() && sb.take("4").is_empty());

    // Request on c's inbox, responder on b.
    pc.publish("svc", Some("_INBOX.r"), "ping");
    pc.flush();
    let req = sb.take("5");
    assert_eq!(req.len(), 1, "{req:?}");
    assert_eq!(req[0].reply.as_deref(), Some("_INBOX.r"));
    pb.publish("_INBOX.r", None, "pong");
    pb.flush();
    let resp = sc.take("3");
    assert_eq!(resp.len(), 1, "{resp:?}");
    assert_eq!(resp[0].payload, "pong");

    everyone_gets_everything_once(&[&a, &b, &c]);

    // Clients learn every server's client URL.
    let cl = a.client();
    let urls: BTreeSet<String> = cl.info["connect_urls"]
        .as_array()
        .map(|u| {
            u.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let want: BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    assert_eq!(urls, want);
    // /varz counts the routes.
    let v = http_json(a.mon, "/varz");
    assert_eq!(v["routes"], 2);
    assert_eq!(v["cluster"]["name"], "C1");
    assert_eq!(v["cluster"]["cluster_port"], a.route);
}

/// Kill the seed and restart it: subscribers on healthy nodes get every
/// message exactly once throughout; after the restart the seed is routed
/// again and interest is re-sent both ways.
#[test]
fn natsd_node_killed_and_restarted() {
    let bins = natsd();
    let bin = &bins[0];
    let mut a = node(bin, "a", &[], &[]);
    let b = node(&bins[1 % bins.len()], "b", &[&a.route_url()], &[]);
    let c = node(&bins[2 % bins.len()], "c", &[&a.route_url()], &[]);
    wait_mesh(&[&a, &b, &c]);
    let mut sb = b.client();
    let mut pc = c.client();
    let mut sa = a.client();
    sb.send("SUB hb 1\r\n");
    sa.send("SUB hb 1\r\n");
    sb.sync(&mut [&mut pc]);
    sa.sync(&mut [&mut pc]);
    let mut sent = publish_numbered(&mut pc, "hb", 100);
    assert_eq!(sa.take("1").len(), 100);
    drop(sa);

    a.p.kill();
    // Traffic between the healthy nodes goes on while a is down.
    for i in 0..50 {
        let p = format!("down{i}");
        pc.publish("hb", None, &p);
        sent.insert(p);
        std::thread::sleep(Duration::from_millis(10));
    }
    pc.flush();
    wait_for("b and c to drop a", &[&b, &c], || {
        !b.peers().contains("a") && !c.peers().contains("a")
    });
    a.p.restart();
    wait_mesh(&[&a, &b, &c]);
    for i in 0..50 {
        let p = format!("up{i}");
        pc.publish("hb", None, &p);
        sent.insert(p);
    }
    pc.flush();
    let got = sb.take("1");
    exactly_once("healthy subscriber", &sent, &got.iter().collect::<Vec<_>>());

    // b's interest was re-sent to the new a; a's new interest reaches c.
    let mut pa = a.client();
    sb.sync(&mut [&mut pa]);
    let mut sa = a.client();
    sa.send("SUB hb 1\r\n");
    sa.sync(&mut [&mut pc]);
    pa.publish("hb", None, "from-a");
    pc.publish("hb", None, "from-c");
    pa.flush();
    pc.flush();
    let got: Vec<String> = sb.take("1").into_iter().map(|m| m.payload).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(sa.take("1").len(), 2);
}

/// Route port refusals (R8, natsd side): a client CONNECT, anything before
/// CONNECT, a wrong cluster name, wrong credentials.
#[test]
fn natsd_route_port_refusals() {
    let bin = &natsd()[0];
    let a = start_node(bin, "a", "C1", "ruser:rpass@", &[], &[]);
    let talk = |send: &str| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", a.route)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut tmp = [0u8; 4096];
        // The INFO comes first.
        while !got.ends_with(b"\r\n") {
            let n = s.read(&mut tmp).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&tmp[..n]);
        }
        let info = String::from_utf8_lossy(&got).into_owned();
        assert!(info.starts_with("INFO {"), "{info}");
        assert!(info.contains("\"auth_required\":true"), "{info}");
        s.write_all(send.as_bytes()).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).into_owned()
    };
    assert_eq!(
        talk("CONNECT {\"verbose\":false,\"lang\":\"go\",\"version\":\"1\"}\r\n"),
        "-ERR 'attempted to connect to route port'\r\n"
    );
    assert_eq!(talk("PING\r\n"), "-ERR 'Authorization Violation'\r\n");
    assert_eq!(
        talk("INFO {\"server_id\":\"X\"}\r\n"),
        "-ERR 'Authorization Violation'\r\n"
    );
    assert_eq!(
        talk(
            "CONNECT {\"name\":\"NX\",\"cluster\":\"C1\",\"user\":\"ruser\",\"pass\":\"bad\"}\r\n"
        ),
        "-ERR 'Authorization Violation'\r\n"
    );
    assert_eq!(
        talk("CONNECT {\"name\":\"NX\",\"cluster\":\"C2\",\"user\":\"ruser\",\"pass\":\"rpass\"}\r\n"),
        "-ERR 'Rejecting connection, cluster name \"C2\" does not match \"C1\"'\r\n"
    );
    // A natsd peer with the right credentials in its route URL joins.
    let url = format!("nats://ruser:rpass@127.0.0.1:{}", a.route);
    let b = node(bin, "b", &[&url], &[]);
    wait_mesh(&[&a, &b]);
    // One with the wrong ones never does.
    let url = format!("nats://ruser:nope@127.0.0.1:{}", a.route);
    let c = node(bin, "c", &[&url], &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!a.peers().contains("c") && c.peers().is_empty());
    assert!(
        c.p.stderr().contains("Authorization Violation"),
        "{}",
        c.p.stderr()
    );
}

/// A cluster block that lists every member, itself included (the Helm
/// chart's form), with one host name that does not resolve yet: the self
/// route is dropped, the others form, the bad name is retried quietly.
#[test]
fn natsd_routes_list_self_and_unresolvable() {
    let bin = &natsd()[0];
    let (ra, rb) = (free_port(), free_port());
    let routes =
        format!("nats://127.0.0.1:{ra},nats://127.0.0.1:{rb},nats://no-such-host.invalid:6222");
    let start = |name: &str, port: u16| {
        let mon = free_port();
        let p = ServerProcess::start(
            bin,
            &[
                "--server_name",
                name,
                "--cluster",
                &format!("nats://127.0.0.1:{port}"),
                "--cluster_name",
                "C1",
                "--routes",
                &routes,
                "-m",
                &mon.to_string(),
            ],
        );
        Node::new(p, name, port, mon)
    };
    let a = start("a", ra);
    let b = start("b", rb);
    wait_mesh(&[&a, &b]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(a.routez()["num_routes"], 1, "{}", a.routez());
    assert_eq!(b.routez()["num_routes"], 1, "{}", b.routez());
    everyone_gets_everything_once(&[&a, &b]);
}

// ---------------------------------------------------------------------------
// With real nats-server
// ---------------------------------------------------------------------------

/// R1: natsd joins a cluster of two 2.14 servers through the seed; the
/// second real server dials natsd after gossip. Exactly once everywhere;
/// reply subjects and headers cross intact.
#[test]
fn r1_natsd_joins_real_cluster() {
    let Some(real) = nats_214() else { return };
    for bin in natsd() {
        let r1 = node(&real, "real1", &[], &[]);
        let r2 = node(&real, "real2", &[&r1.route_url()], &[]);
        wait_mesh(&[&r1, &r2]);
        let ours = node(bin, "ours", &[&r1.route_url()], &[]);
        wait_mesh(&[&r1, &r2, &ours]);
        let via = r2.route_to("ours").unwrap();
        assert_eq!(via["did_solicit"], true, "real2 dialed ours: {via}");
        everyone_gets_everything_once(&[&r1, &r2, &ours]);
        let mut s = ours.client();
        let mut p = r2.client();
        s.send("SUB hdr.x 7\r\n");
        s.sync(&mut [&mut p]);
        p.hpublish("hdr.x", Some("_INBOX.z"), "K: V", "body");
        p.flush();
        let got = s.take("7");
        assert_eq!(got.len(), 1, "[{bin}] {got:?}");
        assert_eq!(got[0].reply.as_deref(), Some("_INBOX.z"));
        assert_eq!(got[0].headers.as_deref(), Some("NATS/1.0\r\nK: V\r\n\r\n"));
        assert_eq!(got[0].payload, "body");
    }
}

/// R2: natsd is the seed two 2.14 servers dial; it gossips each to the
/// other, which then route to each other directly. Stopping natsd leaves
/// their own route up.
#[test]
fn r2_natsd_is_the_seed() {
    let Some(real) = nats_214() else { return };
    for bin in natsd() {
        let mut ours = node(bin, "ours", &[], &[]);
        let r1 = node(&real, "real1", &[&ours.route_url()], &[]);
        let r2 = node(&real, "real2", &[&ours.route_url()], &[]);
        wait_mesh(&[&ours, &r1, &r2]);
        everyone_gets_everything_once(&[&ours, &r1, &r2]);
        ours.p.kill();
        std::thread::sleep(Duration::from_millis(300));
        assert!(r1.peers().contains("real2") && r2.peers().contains("real1"));
        everyone_gets_everything_once(&[&r1, &r2]);
    }
}

/// R3: queue weights. Two members on natsd, one on real1, publisher on
/// real2: each message once, about 2:1. Then the other way: members only on
/// the real servers, publisher on natsd.
#[test]
fn r3_queue_groups_and_weights() {
    let Some(real) = nats_214() else { return };
    for bin in natsd() {
        let r1 = node(&real, "real1", &[], &[]);
        let r2 = node(&real, "real2", &[&r1.route_url()], &[]);
        let ours = node(bin, "ours", &[&r1.route_url()], &[]);
        wait_mesh(&[&r1, &r2, &ours]);
        let mut so = ours.client();
        let mut s1 = r1.client();
        let mut p2 = r2.client();
        let mut po = ours.client();
        so.send("SUB work q 1\r\nSUB work q 2\r\n");
        s1.send("SUB work q 1\r\n");
        so.sync(&mut [&mut p2]);
        s1.sync(&mut [&mut p2]);
        let sent = publish_numbered(&mut p2, "work", 3000);
        let (o1, o2, r) = (so.take("1"), so.take("2"), s1.take("1"));
        let all: Vec<&Msg> = o1.iter().chain(&o2).chain(&r).collect();
        exactly_once(&format!("[{bin}] queue from real2"), &sent, &all);
        let share = (o1.len() + o2.len()) as f64 / 3000.0;
        assert!(
            (0.55..0.78).contains(&share),
            "[{bin}] natsd's share {share} (weights 2:1)"
        );
        // Members leave natsd: only real1 serves.
        so.send("UNSUB 1\r\nUNSUB 2\r\n");
        // The probe's RS+ follows the RS- on the route to real2.
        so.sync(&mut [&mut p2]);
        let mut s2 = r2.client();
        s2.send("SUB work q 9\r\n");
        s2.sync(&mut [&mut po]);
        let sent = publish_numbered(&mut po, "work", 500);
        let (x, y) = (s1.take("1"), s2.take("9"));
        let all: Vec<&Msg> = x.iter().chain(&y).collect();
        exactly_once(&format!("[{bin}] queue from natsd"), &sent, &all);
        assert!(so.take("1").is_empty() && so.take("2").is_empty());
        let mut p2b = r2.client();
        let sent = publish_numbered(&mut p2b, "work", 200);
        let (x, y) = (s1.take("1"), s2.take("9"));
        let all: Vec<&Msg> = x.iter().chain(&y).collect();
        exactly_once(&format!("[{bin}] queue after natsd left"), &sent, &all);
    }
}

/// R4: a real server killed and restarted; natsd's subscribers elsewhere
/// see no duplicates, and the restarted server gets natsd's interest again.
#[test]
fn r4_real_server_killed_and_restarted() {
    let Some(real) = nats_214() else { return };
    let bin = &natsd()[0];
    let mut ours = node(bin, "ours", &[], &[]);
    let mut r1 = node(&real, "real1", &[&ours.route_url()], &[]);
    let r2 = node(&real, "real2", &[&ours.route_url()], &[]);
    wait_mesh(&[&ours, &r1, &r2]);
    let mut so = ours.client();
    let mut p2 = r2.client();
    so.send("SUB hb 1\r\n");
    so.sync(&mut [&mut p2]);
    let mut sent = publish_numbered(&mut p2, "hb", 100);
    r1.p.kill();
    wait_for("real1 to be dropped", &[&ours], || {
        !ours.peers().contains("real1")
    });
    for i in 0..50 {
        let p = format!("d{i}");
        p2.publish("hb", None, &p);
        sent.insert(p);
    }
    p2.flush();
    r1.p.restart();
    wait_mesh(&[&ours, &r1, &r2]);
    let got = so.take("1");
    exactly_once(
        "subscriber on natsd",
        &sent,
        &got.iter().collect::<Vec<_>>(),
    );
    let mut p1 = r1.client();
    so.sync(&mut [&mut p1]);
    p1.publish("hb", None, "from-real1");
    p1.flush();
    assert_eq!(so.take("1").len(), 1);
    everyone_gets_everything_once(&[&ours, &r1, &r2]);
    drop((so, p1, p2));
    // natsd itself killed: the real servers keep re-dialing it (explicit)
    // and routes come back when it restarts on the same ports.
    ours.p.kill();
    wait_for("natsd to be dropped", &[&r1, &r2], || {
        !r1.routed_to(&ours) && !r2.routed_to(&ours)
    });
    ours.p.restart();
    ours.id = server_id(&ours.p);
    wait_mesh(&[&ours, &r1, &r2]);
    everyone_gets_everything_once(&[&ours, &r1, &r2]);
}

/// Starts `bin` as `name` on route port `route` (a fresh monitor port),
/// with no routes of its own: a server restarted "empty".
fn node_on_route_port(bin: &ServerBin, name: &str, route: u16) -> Node {
    let mon = free_port();
    let p = ServerProcess::start(
        bin,
        &[
            "--server_name",
            name,
            "--cluster",
            &format!("nats://127.0.0.1:{route}"),
            "--cluster_name",
            "C1",
            "-m",
            &mon.to_string(),
        ],
    );
    Node::new(p, name, route, mon)
}

/// R4 step 4: routes learned only through gossip are not dialed forever.
/// a is the seed, b and c route to it, and b meets c by gossip (b dials c:
/// a tells its existing peers about a newcomer). Killing c: b, which
/// dialed that implicit route, tries it again once and gives up; a
/// accepted c and never dials it. So a c restarted on the same route
/// port with no routes of its own stays alone. Killing b: a and c only
/// ever accepted b, so a restarted b stays alone too. Checked the same
/// way with three nats-server 2.14 (the scenario runs against it first):
/// there the dialer logs `Attempting reconnect for solicited route`, makes
/// one attempt and stops.
#[test]
fn r4_implicit_routes_are_not_redialed() {
    let mut bins: Vec<ServerBin> = nats_214().into_iter().collect();
    bins.push(natsd()[0].clone());
    for bin in &bins {
        let a = node(bin, "a", &[], &[]);
        let mut b = node(bin, "b", &[&a.route_url()], &[]);
        wait_mesh(&[&a, &b]);
        let mut c = node(bin, "c", &[&a.route_url()], &[]);
        wait_mesh(&[&a, &b, &c]);
        let bc = b.route_to("c").unwrap();
        assert_eq!(bc["did_solicit"], true, "[{bin}] {bc}");
        assert_eq!(bc["is_configured"], false, "[{bin}] {bc}");

        // The implicit dialer (b) loses c.
        let c_route = c.route;
        c.p.kill();
        wait_for("a and b to drop c", &[&a, &b], || {
            !a.routed_to(&c) && !b.routed_to(&c)
        });
        std::thread::sleep(Duration::from_millis(2500));
        let c2 = node_on_route_port(bin, "c", c_route);
        std::thread::sleep(Duration::from_millis(3000));
        assert!(
            c2.peers().is_empty(),
            "[{bin}] a restarted c got routes {:?}",
            c2.peers()
        );
        drop(c2);

        // Only accepting sides (a and, for this route, nobody) lose b.
        let b_route = b.route;
        b.p.kill();
        wait_for("a to drop b", &[&a], || !a.routed_to(&b));
        std::thread::sleep(Duration::from_millis(2500));
        let b2 = node_on_route_port(bin, "b", b_route);
        std::thread::sleep(Duration::from_millis(3000));
        assert!(
            b2.peers().is_empty(),
            "[{bin}] a restarted b got routes {:?}",
            b2.peers()
        );
    }
}

/// R5: 2.9.10 seed, a 2.14 server and natsd: 2.9 gossips natsd's INFO to
/// the 2.14 server, whose pinned `$SYS` attempt toward natsd ends with an
/// `-ERR` natsd tolerates.
#[test]
fn r5_mixed_versions() {
    let (Some(new), Some(old)) = (nats_214(), nats_29()) else {
        return;
    };
    for bin in natsd() {
        let o = node(&old, "old", &[], &[]);
        let n = node(&new, "new", &[&o.route_url()], &[]);
        wait_mesh(&[&o, &n]);
        let ours = node(bin, "ours", &[&o.route_url()], &[]);
        wait_mesh(&[&o, &n, &ours]);
        everyone_gets_everything_once(&[&o, &n, &ours]);
        let mut so = ours.client();
        let mut so2 = ours.client();
        let mut s_old = o.client();
        let mut p_new = n.client();
        so.send("SUB work q 1\r\n");
        so2.send("SUB work q 1\r\n");
        s_old.send("SUB work q 1\r\n");
        so.sync(&mut [&mut p_new]);
        so2.sync(&mut [&mut p_new]);
        s_old.sync(&mut [&mut p_new]);
        let sent = publish_numbered(&mut p_new, "work", 1000);
        let (a, b, c) = (so.take("1"), so2.take("1"), s_old.take("1"));
        let all: Vec<&Msg> = a.iter().chain(&b).chain(&c).collect();
        exactly_once(&format!("[{bin}] mixed queue"), &sent, &all);
        assert!(
            ours.p
                .stderr()
                .lines()
                .all(|l| !l.contains("[ERR]") || l.contains("Error trying to connect")),
            "{}",
            ours.p.stderr()
        );
    }
}

/// 2.9.10 alone with natsd, both directions: 2.9 dials natsd, natsd dials
/// 2.9, and the third learns the second by gossip.
#[test]
fn natsd_and_2_9_both_directions() {
    let Some(old) = nats_29() else { return };
    let bin = &natsd()[0];
    let ours = node(bin, "ours", &[], &[]);
    let o = node(&old, "old", &[&ours.route_url()], &[]);
    wait_mesh(&[&ours, &o]);
    let ours2 = node(&natsd()[1 % natsd().len()], "ours2", &[&o.route_url()], &[]);
    wait_mesh(&[&ours, &o, &ours2]);
    everyone_gets_everything_once(&[&ours, &o, &ours2]);
    let mut s = o.client();
    let mut p = ours2.client();
    s.send("SUB h.x 1\r\n");
    s.sync(&mut [&mut p]);
    p.hpublish("h.x", Some("r.y"), "A: b", "p");
    p.flush();
    let got = s.take("1");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].headers.as_deref(), Some("NATS/1.0\r\nA: b\r\n\r\n"));
    assert_eq!(got[0].reply.as_deref(), Some("r.y"));
}

fn write_conf(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.conf", unique("real")));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// R6 and R7: a 2.14 server configured for a pool of 3 and for S2
/// compression dials natsd: one route, uncompressed (`not supported`).
#[test]
fn r6_r7_pooling_and_compression_offers() {
    let Some(real) = nats_214() else { return };
    for bin in natsd() {
        let ours = node(bin, "ours", &[], &[]);
        let conf = write_conf("cluster { pool_size: 3, compression: s2_fast }\n");
        let r = node(&real, "pooled", &[&ours.route_url()], &["-c", &conf]);
        wait_mesh(&[&ours, &r]);
        std::thread::sleep(Duration::from_millis(500));
        let z = r.routez();
        assert_eq!(z["num_routes"], 1, "[{bin}] {z}");
        assert_eq!(z["routes"][0]["compression"], "not supported", "{z}");
        assert_eq!(ours.routez()["num_routes"], 1);
        everyone_gets_everything_once(&[&ours, &r]);
        let _ = std::fs::remove_file(&conf);
        // And natsd dialing a compressing 2.14 server.
        let conf = write_conf("cluster { compression: s2_fast }\n");
        let fast = node(&real, "fast", &[], &["-c", &conf]);
        let ours2 = node(bin, "ours2", &[&fast.route_url()], &[]);
        wait_mesh(&[&fast, &ours2]);
        assert_eq!(fast.routez()["routes"][0]["compression"], "not supported");
        everyone_gets_everything_once(&[&fast, &ours2]);
        let _ = std::fs::remove_file(&conf);
    }
}

/// R6 exactly: a 2.14 server with `pool_size: 3` and the pinned account
/// `ACC` dials natsd, which has `ACC` too and the same cluster keys in its
/// own configuration (accepted; natsd does not pool). The pinned attempts
/// end with 2.14's `-ERR` and leave one route on both sides; traffic in
/// `$G` (user `g`, a top-level user) and in `ACC` crosses both ways
/// exactly once, and neither account sees the other's.
#[test]
fn r6_pinned_account_peer() {
    let Some(real) = nats_214() else { return };
    let conf = write_conf(concat!(
        "cluster { pool_size: 3, accounts: [ ACC ] }\n",
        "accounts {\n  ACC: { users: [ { user: a, password: a } ] }\n}\n",
        "authorization { users: [ { user: g, password: g } ] }\n",
    ));
    for bin in natsd() {
        let ours = node(bin, "ours", &[], &["-c", &conf]);
        let r = node(&real, "pooled", &[&ours.route_url()], &["-c", &conf]);
        wait_mesh(&[&ours, &r]);
        // Let the pinned attempts (ACC and $SYS) come and go.
        std::thread::sleep(Duration::from_millis(1500));
        let z = r.routez();
        assert_eq!(z["num_routes"], 1, "[{bin}] {z}");
        assert_eq!(ours.routez()["num_routes"], 1, "[{bin}]");
        everyone_gets_everything_once_as(&[&ours, &r], Some(("g", "g")));
        everyone_gets_everything_once_as(&[&ours, &r], Some(("a", "a")));
        // Same subject, other account: nothing crosses between them.
        let mut sg = Client::connect_as(ours.port(), "sg", "g", "g");
        let mut pa = Client::connect_as(r.port(), "pa", "a", "a");
        let mut pg = Client::connect_as(r.port(), "pg", "g", "g");
        sg.send("SUB iso 1\r\n");
        sg.sync(&mut [&mut pg]);
        pa.publish("iso", None, "acc");
        pa.flush();
        pg.publish("iso", None, "g");
        pg.flush();
        let got: Vec<String> = sg.take("1").into_iter().map(|m| m.payload).collect();
        assert_eq!(got, ["g"], "[{bin}]");
        assert!(
            ours.p.stderr().lines().all(|l| !l.contains("[ERR]")),
            "[{bin}] {}",
            ours.p.stderr()
        );
        assert_eq!(r.routez()["num_routes"], 1, "[{bin}]");
        assert!(
            r.p.stderr().contains("dedicated route for account \"ACC\""),
            "[{bin}] {}",
            r.p.stderr()
        );
    }
    let _ = std::fs::remove_file(&conf);
}

/// R8 against 2.14: wrong route credentials and a wrong cluster name, both
/// directions.
#[test]
fn r8_negative_handshakes_with_real_server() {
    let Some(real) = nats_214() else { return };
    let bin = &natsd()[0];
    let r = start_node(&real, "real", "C1", "ruser:rpass@", &[], &[]);
    let bad = format!("nats://ruser:bad@127.0.0.1:{}", r.route);
    let ours = node(bin, "ours", &[&bad], &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(ours.peers().is_empty() && r.peers().is_empty());
    assert!(
        ours.p.stderr().contains("Authorization Violation"),
        "{}",
        ours.p.stderr()
    );
    let good = format!("nats://ruser:rpass@127.0.0.1:{}", r.route);
    let ours2 = node(bin, "ours2", &[&good], &[]);
    wait_mesh(&[&r, &ours2]);
    everyone_gets_everything_once(&[&r, &ours2]);

    // Cluster names C1 (natsd) and C2 (real), each dialing the other.
    let r2 = node_in(&real, "realc2", "C2", &[], &[]);
    let ours3 = node(bin, "ours3", &[&r2.route_url()], &[]);
    let r3 = node_in(&real, "realc2b", "C2", &[&ours3.route_url()], &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(ours3.peers().is_empty(), "{:?}", ours3.routez());
    assert!(r2.peers().is_empty() && !r3.peers().contains("ours3"));
    assert!(
        ours3.p.stderr().contains("does not match"),
        "{}",
        ours3.p.stderr()
    );
}

/// R10: natsd in a hub cluster with a 2.14 hub that has a leaf node; natsd
/// does not advertise `lnoc`, so the hub sends plain `RS+`/`RMSG`; traffic
/// between the leaf and natsd flows exactly once both ways.
#[test]
fn r10_leaf_traffic_through_a_hub_peer() {
    let Some(real) = nats_214() else { return };
    let bin = &natsd()[0];
    let leaf_port = free_port();
    let hub_conf = write_conf(&format!(
        "cluster {{ pool_size: -1 }}\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\" }}\n"
    ));
    let hub = node_in(&real, "hub1", "HUB", &[], &["-c", &hub_conf]);
    let spoke_conf = write_conf(&format!(
        "leafnodes {{ remotes: [ {{ url: \"nats-leaf://127.0.0.1:{leaf_port}\" }} ] }}\n"
    ));
    let spoke = ServerProcess::start(&real, &["--server_name", "spoke", "-c", &spoke_conf]);
    let ours = node_in(bin, "ours", "HUB", &[&hub.route_url()], &[]);
    wait_mesh(&[&hub, &ours]);
    let mut s_leaf = Client::connect(spoke.port(), "spoke");
    let mut p_leaf = Client::connect(spoke.port(), "spoke-pub");
    let mut s_ours = ours.client();
    let mut p_ours = ours.client();
    s_leaf.send("SUB leaf.x 1\r\n");
    s_ours.send("SUB ours.x 1\r\n");
    s_leaf.sync(&mut [&mut p_ours]);
    s_ours.sync(&mut [&mut p_leaf]);
    let sent = publish_numbered(&mut p_ours, "leaf.x", 100);
    let got = s_leaf.take("1");
    exactly_once("natsd to leaf", &sent, &got.iter().collect::<Vec<_>>());
    let sent = publish_numbered(&mut p_leaf, "ours.x", 100);
    let got = s_ours.take("1");
    exactly_once("leaf to natsd", &sent, &got.iter().collect::<Vec<_>>());
    let _ = std::fs::remove_file(&hub_conf);
    let _ = std::fs::remove_file(&spoke_conf);
}

const ACCOUNTS: &str = r#"
accounts {
  A: {
    users: [ {user: alice, password: a} ]
    exports: [ { stream: "events.>" }, { service: "help.>" } ]
  }
  B: {
    users: [ {user: carol, password: c} ]
    imports: [
      { stream:  {account: A, subject: "events.>"}, prefix: "fromA" }
      { service: {account: A, subject: "help.>"},   to: "ahelp.>" }
    ]
  }
}
"#;

/// Accounts across a route, natsd with natsd and with nats-server 2.14 in
/// both roles: same-subject isolation, a stream import fed by the other
/// node, and a service import whose responder sits on the other node (the
/// request crosses in the exporting account, the `_R_` reply comes back).
#[test]
fn accounts_across_routes() {
    let conf = write_conf(ACCOUNTS);
    let mut pairs: Vec<(ServerBin, ServerBin)> = vec![(natsd()[0].clone(), natsd()[0].clone())];
    if let Some(real) = nats_214() {
        pairs.push((natsd()[0].clone(), real.clone()));
        pairs.push((real, natsd()[0].clone()));
    }
    for (b1, b2) in pairs {
        let what = format!("{} + {}", b1.name, b2.name);
        let n1 = node(&b1, "acc1", &[], &["-c", &conf]);
        let n2 = node(&b2, "acc2", &[&n1.route_url()], &["-c", &conf]);
        wait_mesh(&[&n1, &n2]);
        let mut alice1 = Client::connect_as(n1.port(), "alice1", "alice", "a");
        let mut alice2 = Client::connect_as(n2.port(), "alice2", "alice", "a");
        let mut carol1 = Client::connect_as(n1.port(), "carol1", "carol", "c");
        let mut carol2 = Client::connect_as(n2.port(), "carol2", "carol", "c");

        // Isolation: B's `secret` subscriber never sees A's `secret`.
        carol2.send("SUB secret 1\r\nSUB fromA.events.> 2\r\n");
        carol2.sync(&mut [&mut carol1]);
        alice2.send("SUB help.> 3\r\n");
        alice2.sync(&mut [&mut alice1]);

        // Stream import: published in A on node 1, delivered in B on node 2.
        alice1.publish("secret", None, "no");
        alice1.publish("events.x", None, "ev");
        alice1.flush();
        let got = carol2.take("2");
        assert_eq!(got.len(), 1, "[{what}] stream import: {got:?}");
        assert_eq!(got[0].payload, "ev", "[{what}]");
        assert!(carol2.take("1").is_empty(), "[{what}] A's secret crossed");

        // Service import: carol on node 1 asks, alice on node 2 answers.
        carol1.send("SUB _INBOX.c 9\r\n");
        carol1.flush();
        carol1.publish("ahelp.q", Some("_INBOX.c"), "?");
        carol1.flush();
        let req = alice2.take("3");
        assert_eq!(req.len(), 1, "[{what}] service request: {req:?}");
        let reply = req[0].reply.clone().expect("a reply subject");
        assert!(reply.starts_with("_R_."), "[{what}] {reply}");
        alice2.publish(&reply, None, "ok");
        alice2.flush();
        let answers = carol1.take("9");
        assert_eq!(answers.len(), 1, "[{what}] response: {answers:?}");
        assert_eq!(answers[0].payload, "ok", "[{what}]");
    }
}

// ---------------------------------------------------------------------------
// Lame duck mode and route peers
// ---------------------------------------------------------------------------

/// The `connect_urls` of an INFO.
fn connect_urls(info: &Value) -> BTreeSet<String> {
    info["connect_urls"]
        .as_array()
        .map(|u| {
            u.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn send_signal(p: &ServerProcess, sig: &str) {
    let pid = p.pid().expect("server pid").to_string();
    let ok = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// Reads until `c` has an INFO for which `cond` holds (bounded).
fn wait_info(c: &mut Client, what: &str, cond: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond(&c.info) {
        assert!(
            Instant::now() < deadline,
            "[{}] no INFO with {what}; last {}",
            c.name,
            c.info
        );
        c.read_one(Instant::now() + Duration::from_millis(100));
    }
}

/// Lame duck mode is told to route peers (natsd + natsd, natsd + 2.14 in
/// both roles): the server entering it sends its peers its route INFO
/// with `"ldm":true`; a peer then leaves that server's client URL out of
/// `connect_urls` (an async INFO to its protocol-1 clients, and the INFO
/// of clients connecting afterwards), while the server in lame duck mode
/// leaves its own URL out of what its clients get.
#[test]
fn lame_duck_is_told_to_route_peers() {
    let conf = write_conf("lame_duck_grace_period: \"5s\"\nlame_duck_duration: \"30s\"\n");
    let mut pairs: Vec<(ServerBin, ServerBin)> =
        vec![(natsd()[0].clone(), natsd()[1 % natsd().len()].clone())];
    if let Some(real) = nats_214() {
        pairs.push((natsd()[0].clone(), real.clone()));
        pairs.push((real, natsd()[0].clone()));
    }
    for (going, staying) in pairs {
        let what = format!("{} in lame duck, peer {}", going.name, staying.name);
        let x = node(&going, "x", &[], &["-c", &conf]);
        let y = node(&staying, "y", &[&x.route_url()], &[]);
        wait_mesh(&[&x, &y]);
        let (xu, yu) = (
            format!("127.0.0.1:{}", x.port()),
            format!("127.0.0.1:{}", y.port()),
        );
        let mut cy = y.client();
        wait_info(&mut cy, "both URLs", |i| {
            connect_urls(i) == BTreeSet::from([xu.clone(), yu.clone()])
        });
        let mut cx = x.client();
        wait_info(&mut cx, "both URLs", |i| {
            connect_urls(i) == BTreeSet::from([xu.clone(), yu.clone()])
        });

        send_signal(&x.p, "USR2");
        wait_info(&mut cy, &format!("[{what}] y's URL only"), |i| {
            connect_urls(i) == BTreeSet::from([yu.clone()])
        });
        assert!(cy.info.get("ldm").is_none(), "[{what}] {}", cy.info);
        wait_info(&mut cx, &format!("[{what}] ldm"), |i| i["ldm"] == true);
        assert_eq!(
            connect_urls(&cx.info),
            BTreeSet::from([yu.clone()]),
            "[{what}] {}",
            cx.info
        );
        // A client arriving at y now is not offered x.
        let late = y.client();
        assert_eq!(
            connect_urls(&late.info),
            BTreeSet::from([yu.clone()]),
            "[{what}]"
        );
        // The route itself stays up until x leaves.
        assert!(y.routed_to(&x), "[{what}]");
    }
    let _ = std::fs::remove_file(&conf);
}

// ---------------------------------------------------------------------------
// R9: TLS routes
// ---------------------------------------------------------------------------

/// A CA and one certificate it signed for `localhost` and 127.0.0.1 with
/// both server and client auth (what R9 asks for), as PEM files in a
/// directory of their own (removed on drop), and the `cluster { tls {} }`
/// configuration using them.
struct RouteCerts {
    dir: PathBuf,
}

impl RouteCerts {
    fn new(tag: &str) -> RouteCerts {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = std::env::temp_dir().join(unique(&format!("natsd-route-tls-{tag}-")));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("route CA {tag}"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "route");
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("srv.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("srv.key"), key.serialize_pem()).unwrap();
        RouteCerts { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// A config file with `cluster { tls {…} }` (plus `top` lines).
    fn conf(&self, top: &str) -> String {
        let text = format!(
            "{top}\ncluster {{\n  tls {{\n    cert_file: {:?}\n    key_file: {:?}\n    ca_file: {:?}\n    verify: true\n  }}\n}}\n",
            self.file("srv.pem"),
            self.file("srv.key"),
            self.file("ca.pem"),
        );
        let path = self.dir.join(format!("{}.conf", unique("c")));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A rustls client config trusting this CA, with or without the
    /// certificate as client certificate.
    fn rustls_client(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.file("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        Arc::new(if with_cert {
            let certs = CertificateDer::pem_file_iter(self.file("srv.pem"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(self.file("srv.key")).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        } else {
            b.with_no_client_auth()
        })
    }
}

impl Drop for RouteCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `nats-route://localhost:PORT`: the certificate's DNS name.
fn localhost_route(n: &Node) -> String {
    format!("nats-route://localhost:{}", n.route)
}

/// Opens a TLS connection to `n`'s route port as a dialer would and
/// returns the first plaintext line the acceptor sends (its INFO), or the
/// TLS error.
fn tls_route_probe(n: &Node, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
    let mut sock = TcpStream::connect(("127.0.0.1", n.route)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match tls.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            Ok(_) => return Err("closed".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// R9, natsd only: a TLS cluster with one node per runtime (b dials the
/// seed by DNS name, c by IP, b and c meet by gossip on IPs), traffic
/// every way exactly once; the acceptor's INFO (inside TLS) and `/varz`
/// show the TLS requirements.
#[test]
fn r9_natsd_tls_cluster_on_every_runtime() {
    let certs = RouteCerts::new("natsd");
    let conf = certs.conf("");
    let bins = natsd();
    let a = node(&bins[0], "a", &[], &["-c", &conf]);
    let b = node(
        &bins[1 % bins.len()],
        "b",
        &[&localhost_route(&a)],
        &["-c", &conf],
    );
    let c = node(
        &bins[2 % bins.len()],
        "c",
        &[&a.route_url()],
        &["-c", &conf],
    );
    wait_mesh(&[&a, &b, &c]);
    everyone_gets_everything_once(&[&a, &b, &c]);
    for n in [&a, &b, &c] {
        let info = tls_route_probe(n, certs.rustls_client(true)).unwrap();
        assert!(info.starts_with("INFO {"), "[{}] {info}", n.p.bin());
        assert!(
            info.contains("\"tls_required\":true,\"tls_verify\":true"),
            "[{}] {info}",
            n.p.bin()
        );
        let v = http_json(n.mon, "/varz");
        let cl = &v["cluster"];
        assert_eq!(cl["tls_required"], true, "{cl}");
        assert_eq!(cl["tls_verify"], true, "{cl}");
        assert_eq!(cl["tls_timeout"], 2, "{cl}");
        assert_eq!(cl["auth_timeout"], 3, "{cl}");
    }
    // Queue group across TLS routes: each message once.
    let mut sb = b.client();
    let mut sc = c.client();
    let mut pa = a.client();
    sb.send("SUB work q 1\r\n");
    sc.send("SUB work q 1\r\n");
    sb.sync(&mut [&mut pa]);
    sc.sync(&mut [&mut pa]);
    let sent = publish_numbered(&mut pa, "work", 300);
    let (x, y) = (sb.take("1"), sc.take("1"));
    let all: Vec<&Msg> = x.iter().chain(&y).collect();
    exactly_once("queue over TLS routes", &sent, &all);
}

/// R9, negative: on a natsd TLS route port a plain TCP client receives no
/// byte and is closed at the TLS timeout; a TLS dialer without a client
/// certificate is refused; a natsd whose certificate comes from another
/// CA never gets a route (both sides log the TLS failure).
#[test]
fn r9_tls_route_refusals() {
    let certs = RouteCerts::new("refusals");
    let conf = certs.conf("");
    for bin in natsd() {
        let a = node(bin, "a", &[], &["-c", &conf]);
        let mut s = TcpStream::connect(("127.0.0.1", a.route)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let started = Instant::now();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let took = started.elapsed();
        assert!(got.is_empty(), "[{bin}] plain client got {got:?}");
        assert!(
            took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
            "[{bin}] closed after {took:?}"
        );

        let refused = tls_route_probe(&a, certs.rustls_client(false));
        assert!(refused.is_err(), "[{bin}] {refused:?}");

        let other = RouteCerts::new("other");
        let other_conf = other.conf("");
        let x = node(bin, "x", &[&localhost_route(&a)], &["-c", &other_conf]);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            a.peers().is_empty() && x.peers().is_empty(),
            "[{bin}] {:?} {:?}",
            a.peers(),
            x.peers()
        );
        assert!(
            a.p.stderr().contains("TLS route handshake error"),
            "[{bin}] {}",
            a.p.stderr()
        );
        assert!(
            x.p.stderr().contains("TLS route handshake error"),
            "[{bin}] {}",
            x.p.stderr()
        );
    }
}

/// R9 with nats-server 2.14: natsd dials a TLS 2.14 seed by DNS name, a
/// second 2.14 server dials natsd by DNS name and learns the seed by
/// gossip; traffic every way exactly once.
#[test]
fn r9_tls_routes_with_real_server() {
    let Some(real) = nats_214() else { return };
    let certs = RouteCerts::new("real");
    let conf = certs.conf("");
    for bin in natsd() {
        let r1 = node(&real, "real1", &[], &["-c", &conf]);
        let ours = node(bin, "ours", &[&localhost_route(&r1)], &["-c", &conf]);
        wait_mesh(&[&r1, &ours]);
        let r2 = node(&real, "real2", &[&localhost_route(&ours)], &["-c", &conf]);
        wait_mesh(&[&r1, &ours, &r2]);
        everyone_gets_everything_once(&[&r1, &ours, &r2]);
        let info = tls_route_probe(&r1, certs.rustls_client(true)).unwrap();
        assert!(info.contains("\"tls_verify\":true"), "{info}");
        // The real server's varz as the reference for natsd's.
        for n in [&r1, &ours] {
            let v = http_json(n.mon, "/varz");
            let cl = &v["cluster"];
            assert_eq!(
                (&cl["tls_required"], &cl["tls_verify"], &cl["tls_timeout"]),
                (&Value::Bool(true), &Value::Bool(true), &Value::from(2)),
                "[{}] {cl}",
                n.p.bin()
            );
        }
    }
}

/// Route certificates reload on SIGHUP (the files are read again, as for
/// the client `tls {}` block): a natsd whose route certificates were
/// swapped for another CA's on disk refuses a peer of the new CA until
/// the reload, and routes with it after.
#[test]
fn r9_sighup_reloads_route_certificates() {
    let bin = &natsd()[0];
    let old = RouteCerts::new("old");
    let new = RouteCerts::new("new");
    let conf = old.conf("");
    let a = node(bin, "a", &[], &["-c", &conf]);
    let b = node(bin, "b", &[&localhost_route(&a)], &["-c", &new.conf("")]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(a.peers().is_empty(), "{:?}", a.peers());
    for f in ["ca.pem", "srv.pem", "srv.key"] {
        std::fs::copy(new.file(f), old.file(f)).unwrap();
    }
    send_signal(&a.p, "HUP");
    wait_mesh(&[&a, &b]);
    everyone_gets_everything_once(&[&a, &b]);
    assert!(
        a.p.stderr().contains("Reloaded server configuration"),
        "{}",
        a.p.stderr()
    );
}

/// The Helm chart's `02-cluster` rendering (three servers, each listing all
/// three routes, itself included, `no_advertise`), run as three natsd
/// processes of each runtime on 127.0.0.1: the pod host names become
/// 127.0.0.1 with one cluster port per server, monitoring binds to
/// 127.0.0.1, and `$SERVER_NAME` comes from the environment as in the pod.
/// nats-server 2.14 runs the same files as a check on the test.
#[test]
fn helm_02_cluster_three_natsd() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/helm/02-cluster/nats.conf");
    let Ok(template) = std::fs::read_to_string(&src) else {
        eprintln!("no {} here: skipped", src.display());
        return;
    };
    // nats-server 2.14 too, so the test is known to describe it.
    let bins: Vec<ServerBin> = natsd().iter().cloned().chain(nats_214()).collect();
    for bin in &bins {
        let dir = std::env::temp_dir().join(unique("helm02"));
        std::fs::create_dir_all(&dir).unwrap();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes: Vec<Node> = (0..3)
            .map(|i| {
                let mon = free_port();
                let mut text = template
                    .replace(
                        "\"port\": 6222",
                        &format!("\"host\": \"127.0.0.1\",\n    \"port\": {}", routes[i]),
                    )
                    .replace(
                        "\"http_port\": 8222",
                        &format!("\"http\": \"127.0.0.1:{mon}\""),
                    )
                    .replace(
                        "/var/run/nats/nats.pid",
                        &dir.join(format!("nats-{i}.pid")).display().to_string(),
                    );
                for (j, port) in routes.iter().enumerate() {
                    text = text.replace(
                        &format!("nats-{j}.nats-headless:6222"),
                        &format!("127.0.0.1:{port}"),
                    );
                }
                assert!(!text.contains("headless"), "{text}");
                let conf = dir.join(format!("nats-{i}.conf"));
                std::fs::write(&conf, text).unwrap();
                let name = format!("nats-{i}");
                let p = ServerProcess::start_with_env(
                    bin,
                    &["-c", conf.to_str().unwrap()],
                    &[("SERVER_NAME", &name)],
                );
                Node::new(p, &name, routes[i], mon)
            })
            .collect();
        let refs: Vec<&Node> = nodes.iter().collect();
        wait_mesh(&refs);
        // Self routes dropped, no duplicates: two routes each, all explicit.
        std::thread::sleep(Duration::from_millis(1500));
        for n in &nodes {
            let z = n.routez();
            let names: BTreeSet<&str> = z["routes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["remote_name"].as_str())
                .collect();
            let others: BTreeSet<&str> = nodes
                .iter()
                .filter(|m| m.name != n.name)
                .map(|m| m.name.as_str())
                .collect();
            assert_eq!(names, others, "[{bin}] {}: {z}", n.name);
            if !bin.is_nats_server() {
                // One route per peer (2.14 pools: 3 + a `$SYS` one each).
                assert_eq!(z["num_routes"], 2, "[{bin}] {}: {z}", n.name);
            }
            // no_advertise: clients learn no other server's URL.
            let info = n.client().info.clone();
            assert!(
                info["connect_urls"].as_array().is_none_or(|a| a.is_empty()),
                "[{bin}] {info}"
            );
        }
        everyone_gets_everything_once(&refs);
        drop(nodes);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
