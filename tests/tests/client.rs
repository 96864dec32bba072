//! Tests with the real async-nats client.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use natsd_tests::{for_each_server, runtime, ServerBin, ServerProcess};
use tokio::time::timeout;

/// Bound for one test case against one server.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound for waiting on one message.
const MSG_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `f` on a fresh tokio runtime, bounded by [`CASE_TIMEOUT`].
fn run<F: Future<Output = ()>>(bin: &ServerBin, f: F) {
    let rt = runtime();
    rt.block_on(async {
        timeout(CASE_TIMEOUT, f)
            .await
            .unwrap_or_else(|_| panic!("[{bin}] test case timed out after {CASE_TIMEOUT:?}"))
    });
    rt.shutdown_timeout(Duration::from_secs(1));
}

async fn connect(bin: &ServerBin, srv: &ServerProcess) -> Client {
    connect_with(bin, srv, ConnectOptions::new()).await
}

async fn connect_with(bin: &ServerBin, srv: &ServerProcess, opts: ConnectOptions) -> Client {
    timeout(MSG_TIMEOUT, opts.connect(srv.url()))
        .await
        .unwrap_or_else(|_| panic!("[{bin}] connect timed out"))
        .unwrap_or_else(|e| panic!("[{bin}] connect: {e}"))
}

async fn next(bin: &ServerBin, what: &str, sub: &mut Subscriber) -> async_nats::Message {
    timeout(MSG_TIMEOUT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("[{bin}] {what}: no message within {MSG_TIMEOUT:?}"))
        .unwrap_or_else(|| panic!("[{bin}] {what}: subscription closed"))
}

/// Asserts nothing arrives on `sub` for a short while.
async fn none(bin: &ServerBin, what: &str, sub: &mut Subscriber) {
    if let Ok(m) = timeout(Duration::from_millis(150), sub.next()).await {
        panic!("[{bin}] {what}: unexpected {m:?}");
    }
}

/// A fence through the server: publishes to a private subject the client subscribes to
/// and waits for it. When it returns, the server has processed every earlier operation of
/// this connection, and everything it delivered to this connection before has arrived.
/// (`Client::flush` only flushes the socket; it is no round trip.) Needs echo on.
async fn sync(bin: &ServerBin, c: &Client) {
    let subject = c.new_inbox();
    let mut s = c
        .subscribe(subject.clone())
        .await
        .unwrap_or_else(|e| panic!("[{bin}] sync subscribe: {e}"));
    c.publish(subject, "sync".into())
        .await
        .unwrap_or_else(|e| panic!("[{bin}] sync publish: {e}"));
    let m = next(bin, "sync round trip", &mut s).await;
    assert_eq!(m.payload, Bytes::from("sync"), "[{bin}] sync");
    s.unsubscribe()
        .await
        .unwrap_or_else(|e| panic!("[{bin}] sync unsubscribe: {e}"));
}

#[test]
fn pub_sub() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let a = connect(bin, &srv).await;
            let b = connect(bin, &srv).await;
            let mut sub = a.subscribe("greet.joe").await.unwrap();
            sync(bin, &a).await;
            for i in 0..10 {
                b.publish("greet.joe", format!("hello {i}").into())
                    .await
                    .unwrap();
            }
            b.publish("greet.other", "x".into()).await.unwrap();
            sync(bin, &b).await;
            for i in 0..10 {
                let m = next(bin, "greet.joe", &mut sub).await;
                assert_eq!(m.subject.as_str(), "greet.joe", "[{bin}]");
                assert_eq!(
                    m.payload,
                    Bytes::from(format!("hello {i}")),
                    "[{bin}] in order"
                );
                assert!(m.reply.is_none(), "[{bin}] no reply");
                assert!(m.headers.is_none(), "[{bin}] no headers");
            }
            // Own messages are echoed by default.
            a.publish("greet.joe", "self".into()).await.unwrap();
            let m = next(bin, "echo on", &mut sub).await;
            assert_eq!(m.payload, Bytes::from("self"), "[{bin}]");
            // Empty payload.
            b.publish("greet.joe", Bytes::new()).await.unwrap();
            let m = next(bin, "empty", &mut sub).await;
            assert!(m.payload.is_empty(), "[{bin}] empty payload");
            none(bin, "nothing more", &mut sub).await;
        });
    });
}

#[test]
fn wildcards() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let c = connect(bin, &srv).await;
            let p = connect(bin, &srv).await;
            let mut star = c.subscribe("a.*.c").await.unwrap();
            let mut tail = c.subscribe("a.>").await.unwrap();
            let mut all = c.subscribe(">").await.unwrap();
            let mut mid = c.subscribe("*.b.*").await.unwrap();
            sync(bin, &c).await;
            for s in ["a.b.c", "a.b", "a", "a.b.c.d", "x.b.c", "a.x.c", "A.b.c"] {
                p.publish(s, s.into()).await.unwrap();
            }
            // End marker: a.b.c matches all four subscriptions.
            p.publish("a.b.c", "end".into()).await.unwrap();
            sync(bin, &p).await;
            async fn collect(bin: &ServerBin, name: &str, sub: &mut Subscriber) -> Vec<String> {
                let mut got = Vec::new();
                loop {
                    let m = next(bin, name, sub).await;
                    if m.payload == "end" {
                        return got;
                    }
                    // `>` also sees the sync() round trips.
                    if !m.subject.starts_with("_INBOX.") {
                        got.push(m.subject.to_string());
                    }
                }
            }
            assert_eq!(
                collect(bin, "a.*.c", &mut star).await,
                ["a.b.c", "a.x.c"],
                "[{bin}] a.*.c"
            );
            assert_eq!(
                collect(bin, "a.>", &mut tail).await,
                ["a.b.c", "a.b", "a.b.c.d", "a.x.c"],
                "[{bin}] a.>"
            );
            assert_eq!(
                collect(bin, ">", &mut all).await,
                ["a.b.c", "a.b", "a", "a.b.c.d", "x.b.c", "a.x.c", "A.b.c"],
                "[{bin}] >"
            );
            assert_eq!(
                collect(bin, "*.b.*", &mut mid).await,
                ["a.b.c", "x.b.c", "A.b.c"],
                "[{bin}] *.b.*"
            );
        });
    });
}

/// Four members in one queue group (plus a second group and a plain subscriber): each
/// message exactly once per group, spread across members; the plain sub gets everything.
#[test]
fn queue_groups() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            const N: usize = 400;
            let mut members = Vec::new();
            for _ in 0..4 {
                let c = connect(bin, &srv).await;
                let s = c
                    .queue_subscribe("work.items", "workers".into())
                    .await
                    .unwrap();
                sync(bin, &c).await;
                members.push((c, s));
            }
            let other = connect(bin, &srv).await;
            let mut others = [
                other
                    .queue_subscribe("work.*", "audit".into())
                    .await
                    .unwrap(),
                other
                    .queue_subscribe("work.>", "audit".into())
                    .await
                    .unwrap(),
            ];
            let plain_c = connect(bin, &srv).await;
            let mut plain = plain_c.subscribe("work.items").await.unwrap();
            sync(bin, &other).await;
            sync(bin, &plain_c).await;

            let p = connect(bin, &srv).await;
            for i in 0..N {
                p.publish("work.items", i.to_string().into()).await.unwrap();
            }
            sync(bin, &p).await;

            for i in 0..N {
                let m = next(bin, "plain subscriber", &mut plain).await;
                assert_eq!(
                    m.payload,
                    Bytes::from(i.to_string()),
                    "[{bin}] plain sub gets every message in order"
                );
            }
            // Everything the server routed has been written before this PONG.
            async fn drain(bin: &ServerBin, c: &Client, s: &mut Subscriber) -> Vec<usize> {
                sync(bin, c).await;
                let mut got = Vec::new();
                while let Ok(Some(m)) = timeout(Duration::from_millis(100), s.next()).await {
                    got.push(std::str::from_utf8(&m.payload).unwrap().parse().unwrap());
                }
                got
            }
            let mut seen = BTreeMap::new();
            let mut per_member = Vec::new();
            for (c, s) in members.iter_mut() {
                let got = drain(bin, c, s).await;
                per_member.push(got.len());
                for i in got {
                    *seen.entry(i).or_insert(0) += 1;
                }
            }
            assert_eq!(
                seen.len(),
                N,
                "[{bin}] every message reached the group once: per member {per_member:?}"
            );
            assert!(
                seen.values().all(|&n| n == 1),
                "[{bin}] duplicates within the group: per member {per_member:?}"
            );
            assert!(
                per_member.iter().all(|&n| n >= 40),
                "[{bin}] not spread across members: {per_member:?}"
            );

            let mut audit = BTreeSet::new();
            let mut audit_total = 0;
            for s in others.iter_mut() {
                let got = drain(bin, &other, s).await;
                audit_total += got.len();
                audit.extend(got);
            }
            assert_eq!(
                (audit.len(), audit_total),
                (N, N),
                "[{bin}] second group: each message exactly once"
            );
            none(bin, "plain sub, nothing more", &mut plain).await;
        });
    });
}

#[test]
fn request_reply() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let svc = connect(bin, &srv).await;
            let mut sub = svc.subscribe("svc.echo").await.unwrap();
            sync(bin, &svc).await;
            let responder = {
                let svc = svc.clone();
                tokio::spawn(async move {
                    while let Some(m) = sub.next().await {
                        let reply = m.reply.expect("request has a reply subject");
                        let mut body = b"re: ".to_vec();
                        body.extend_from_slice(&m.payload);
                        svc.publish(reply, body.into()).await.unwrap();
                    }
                })
            };
            let c = connect(bin, &srv).await;
            let reqs = (0..50).map(|i| {
                let c = c.clone();
                async move { (i, c.request("svc.echo", format!("q{i}").into()).await) }
            });
            for (i, r) in futures::future::join_all(reqs).await {
                let m = r.unwrap_or_else(|e| panic!("[{bin}] request {i}: {e}"));
                assert_eq!(
                    m.payload,
                    Bytes::from(format!("re: q{i}")),
                    "[{bin}] reply {i}"
                );
            }
            // Explicit reply subject on a raw publish.
            let inbox = c.new_inbox();
            let mut rsub = c.subscribe(inbox.clone()).await.unwrap();
            sync(bin, &c).await;
            c.publish_with_reply("svc.echo", inbox, "manual".into())
                .await
                .unwrap();
            let m = next(bin, "manual reply", &mut rsub).await;
            assert_eq!(m.payload, Bytes::from("re: manual"), "[{bin}]");
            responder.abort();
        });
    });
}

#[test]
fn headers_round_trip() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let c = connect(bin, &srv).await;
            let mut sub = c.subscribe("hdr").await.unwrap();
            sync(bin, &c).await;
            let mut h = HeaderMap::new();
            h.insert("X-Id", "7");
            h.append("X-Multi", "a");
            h.append("X-Multi", "b");
            h.insert("Content-Type", "text/plain; charset=utf-8");
            c.publish_with_headers("hdr", h, "body".into())
                .await
                .unwrap();
            let m = next(bin, "with headers", &mut sub).await;
            assert_eq!(m.payload, Bytes::from("body"), "[{bin}]");
            let got = m.headers.unwrap_or_else(|| panic!("[{bin}] headers lost"));
            assert_eq!(
                got.get("X-Id").map(|v| v.as_str()),
                Some("7"),
                "[{bin}] {got:?}"
            );
            let multi: Vec<&str> = got.get_all("X-Multi").map(|v| v.as_str()).collect();
            assert_eq!(multi, ["a", "b"], "[{bin}] multi-valued header");
            assert_eq!(
                got.get("Content-Type").map(|v| v.as_str()),
                Some("text/plain; charset=utf-8"),
                "[{bin}]"
            );
            assert!(m.status.is_none(), "[{bin}] no status: {:?}", m.status);

            // Headers with an empty payload, and with a reply subject.
            let mut h = HeaderMap::new();
            h.insert("K", "v");
            c.publish_with_reply_and_headers("hdr", "rep.1", h, Bytes::new())
                .await
                .unwrap();
            let m = next(bin, "headers, empty payload", &mut sub).await;
            assert!(m.payload.is_empty(), "[{bin}]");
            assert_eq!(m.reply.as_deref(), Some("rep.1"), "[{bin}]");
            assert_eq!(
                m.headers
                    .as_ref()
                    .and_then(|h| h.get("K"))
                    .map(|v| v.as_str()),
                Some("v"),
                "[{bin}]"
            );

            // A request with headers, answered with headers.
            let mut svc_sub = c.subscribe("hsvc").await.unwrap();
            sync(bin, &c).await;
            let c2 = c.clone();
            let responder = tokio::spawn(async move {
                let m = svc_sub.next().await.unwrap();
                let id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Req-Id"))
                    .unwrap()
                    .as_str()
                    .to_string();
                let mut h = HeaderMap::new();
                h.insert("Resp-Id", id.as_str());
                c2.publish_with_headers(m.reply.unwrap(), h, "ok".into())
                    .await
                    .unwrap();
            });
            let mut h = HeaderMap::new();
            h.insert("Req-Id", "42");
            let r = c
                .request_with_headers("hsvc", h, "q".into())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] {e}"));
            assert_eq!(
                r.headers
                    .as_ref()
                    .and_then(|h| h.get("Resp-Id"))
                    .map(|v| v.as_str()),
                Some("42"),
                "[{bin}]"
            );
            responder.await.unwrap();
        });
    });
}

#[test]
fn no_responders() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let c = connect_with(
                bin,
                &srv,
                ConnectOptions::new().request_timeout(Some(Duration::from_secs(10))),
            )
            .await;
            let started = std::time::Instant::now();
            let err = c
                .request("nobody.home", "?".into())
                .await
                .expect_err("request to nobody must fail");
            assert_eq!(
                err.kind(),
                async_nats::client::RequestErrorKind::NoResponders,
                "[{bin}] expected NoResponders, got {err:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "[{bin}] no-responders must be immediate"
            );
            // The connection is fine afterwards.
            let mut s = c.subscribe("still.ok").await.unwrap();
            c.publish("still.ok", "y".into()).await.unwrap();
            next(bin, "after no responders", &mut s).await;
        });
    });
}

#[test]
fn unsubscribe_after() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let c = connect(bin, &srv).await;
            let p = connect(bin, &srv).await;
            let mut sub = c.subscribe("limited").await.unwrap();
            let mut control = c.subscribe("limited").await.unwrap();
            sub.unsubscribe_after(3).await.unwrap();
            sync(bin, &c).await;
            for i in 0..6 {
                p.publish("limited", i.to_string().into()).await.unwrap();
            }
            sync(bin, &p).await;
            for i in 0..3 {
                let m = next(bin, "limited sub", &mut sub).await;
                assert_eq!(m.payload, Bytes::from(i.to_string()), "[{bin}]");
            }
            for i in 0..6 {
                let m = next(bin, "control sub", &mut control).await;
                assert_eq!(m.payload, Bytes::from(i.to_string()), "[{bin}]");
            }
            match timeout(MSG_TIMEOUT, sub.next()).await {
                Ok(None) => {}
                Ok(Some(m)) => panic!("[{bin}] message after the max: {m:?}"),
                Err(_) => panic!("[{bin}] subscription not closed after its max"),
            }
            // Also with an unsubscribe before any delivery, then a plain unsubscribe.
            let mut s2 = c.subscribe("limited2").await.unwrap();
            s2.unsubscribe_after(1).await.unwrap();
            sync(bin, &c).await;
            p.publish("limited2", "a".into()).await.unwrap();
            p.publish("limited2", "b".into()).await.unwrap();
            assert_eq!(
                next(bin, "limited2", &mut s2).await.payload,
                Bytes::from("a"),
                "[{bin}]"
            );
            assert!(
                timeout(MSG_TIMEOUT, s2.next()).await.unwrap().is_none(),
                "[{bin}] closed after 1"
            );
            control.unsubscribe().await.unwrap();
            assert!(
                timeout(MSG_TIMEOUT, control.next())
                    .await
                    .unwrap()
                    .is_none(),
                "[{bin}] closed after unsubscribe"
            );
        });
    });
}

#[test]
fn echo_off() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let a = connect_with(bin, &srv, ConnectOptions::new().no_echo()).await;
            let b = connect(bin, &srv).await;
            let mut sub = a.subscribe("echo.test").await.unwrap();
            let mut bsub = b.subscribe("echo.test").await.unwrap();
            sync(bin, &b).await;
            // b receiving a's message proves the server processed a's SUB and PUB.
            a.publish("echo.test", "from-a".into()).await.unwrap();
            assert_eq!(
                next(bin, "b", &mut bsub).await.payload,
                Bytes::from("from-a"),
                "[{bin}]"
            );
            b.publish("echo.test", "from-b".into()).await.unwrap();
            assert_eq!(
                next(bin, "b", &mut bsub).await.payload,
                Bytes::from("from-b"),
                "[{bin}]"
            );
            // Had a's own message been echoed, it would come first.
            let m = next(bin, "no-echo subscriber", &mut sub).await;
            assert_eq!(
                m.payload,
                Bytes::from("from-b"),
                "[{bin}] own message must not be echoed"
            );
            none(bin, "no-echo subscriber", &mut sub).await;
        });
    });
}

#[test]
fn max_payload() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let c = connect(bin, &srv).await;
            assert_eq!(
                c.server_info().max_payload,
                1048576,
                "[{bin}] INFO max_payload"
            );
            let p = connect(bin, &srv).await;
            let mut sub = c.subscribe("big").await.unwrap();
            sync(bin, &c).await;
            let payload: Bytes = (0..1048576u32)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into();
            p.publish("big", payload.clone()).await.unwrap();
            sync(bin, &p).await;
            let m = next(bin, "max payload", &mut sub).await;
            assert_eq!(m.payload.len(), 1048576, "[{bin}]");
            assert!(m.payload == payload, "[{bin}] payload corrupted");
            // One byte over: refused (async-nats checks the server's max_payload).
            let over: Bytes = vec![b'x'; 1048577].into();
            let err = p
                .publish("big", over)
                .await
                .expect_err("publishing max_payload + 1 must fail");
            assert_eq!(
                err.kind(),
                async_nats::client::PublishErrorKind::MaxPayloadExceeded,
                "[{bin}] {err:?}"
            );
            none(bin, "nothing over the limit delivered", &mut sub).await;
        });
    });
}

/// 1,000 subscriptions (over 4 connections) on one subject each receive the message.
#[test]
fn thousand_subscribers() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        run(bin, async {
            let mut clients = Vec::new();
            let mut subs = Vec::new();
            for _ in 0..4 {
                let c = connect(bin, &srv).await;
                for _ in 0..250 {
                    subs.push(c.subscribe("fan.out").await.unwrap());
                }
                sync(bin, &c).await;
                clients.push(c);
            }
            let p = connect(bin, &srv).await;
            p.publish("fan.out", "to all".into()).await.unwrap();
            p.publish("fan.out", "again".into()).await.unwrap();
            sync(bin, &p).await;
            let results = futures::future::join_all(subs.iter_mut().map(|s| async move {
                let a = timeout(MSG_TIMEOUT, s.next())
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.payload);
                let b = timeout(MSG_TIMEOUT, s.next())
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.payload);
                (a, b)
            }))
            .await;
            let ok = results
                .iter()
                .filter(|(a, b)| a.as_deref() == Some(b"to all") && b.as_deref() == Some(b"again"))
                .count();
            assert_eq!(ok, 1000, "[{bin}] subscribers that got both messages");
        });
    });
}

/// A client reconnects after the server restarts on the same port, resubscribes, and
/// receives messages again.
#[test]
fn reconnect_after_restart() {
    for_each_server(|bin| {
        let mut srv = ServerProcess::start(bin, &[]);
        let rt = runtime();
        let (c, mut sub, events) = rt.block_on(async {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let opts = ConnectOptions::new()
                .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 50).min(500)))
                .event_callback(move |e| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(e.to_string());
                    }
                });
            let c = connect_with(bin, &srv, opts).await;
            let mut sub = c.subscribe("recon").await.unwrap();
            sync(bin, &c).await;
            c.publish("recon", "before".into()).await.unwrap();
            assert_eq!(
                next(bin, "before restart", &mut sub).await.payload,
                Bytes::from("before"),
                "[{bin}]"
            );
            (c, sub, rx)
        });
        let mut events = events;
        srv.restart();
        rt.block_on(async {
            timeout(CASE_TIMEOUT, async {
                // Publish from a fresh client until the resubscribed client gets one.
                let p = connect(bin, &srv).await;
                let mut n = 0;
                loop {
                    n += 1;
                    p.publish("recon", format!("after {n}").into())
                        .await
                        .unwrap();
                    sync(bin, &p).await;
                    if let Ok(Some(m)) = timeout(Duration::from_millis(200), sub.next()).await {
                        assert!(m.payload.starts_with(b"after"), "[{bin}] {m:?}");
                        break;
                    }
                }
                // The reconnected client can publish again too.
                timeout(MSG_TIMEOUT, c.flush()).await.unwrap().unwrap();
                c.publish("recon", "own".into()).await.unwrap();
                loop {
                    let m = next(bin, "own after reconnect", &mut sub).await;
                    if m.payload == "own" {
                        break;
                    }
                }
                assert_eq!(
                    c.connection_state(),
                    async_nats::connection::State::Connected,
                    "[{bin}]"
                );
            })
            .await
            .unwrap_or_else(|_| panic!("[{bin}] no delivery after the server restarted"));
        });
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push(e);
        }
        assert!(
            seen.iter().any(|e| e.contains("disconnected")),
            "[{bin}] events: {seen:?}"
        );
        assert!(
            seen.iter()
                .any(|e| e.contains("connected") && !e.contains("dis")),
            "[{bin}] events: {seen:?}"
        );
        rt.block_on(async move {
            drop(sub);
            drop(c);
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}
