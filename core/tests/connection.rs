//! Deterministic end-to-end behaviour of the core, on the in-memory fixture
//! of `common/` (several connections on one server, a simulated clock, every
//! outbox drained after every step). Expected bytes come from
//! `shared/spec/client-protocol.md` (behaviour of nats-server 2.14).

mod common;

use std::time::Duration;

use common::{err, msg, parse_server_ops, pub_frame, ServerOp, Sim};
use natsd_core::{CloseReason, Options};

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Client subscriptions in the global account (not the `$SYS` API's).
fn client_subs(sim: &Sim) -> usize {
    let mut n = 0;
    sim.server
        .global_account()
        .sublist()
        .for_each(|s| n += usize::from(s.import().is_none()));
    n
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// Transcripts of spec §17, byte for byte (INFO contents aside)
// ---------------------------------------------------------------------------

/// The plain-server transcript of spec §17 on one connection, every server
/// line compared exactly except the INFO JSON, which is checked by field.
#[test]
fn spec_transcript_plain_server() {
    let mut sim = Sim::new(Options::default());
    let c = sim.connect();
    let info = sim.ops_new(c);
    let [ServerOp::Info(info)] = info.as_slice() else {
        panic!("expected one INFO, got {info:?}")
    };
    assert_eq!(info["version"], "2.14.0");
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert_eq!(info["client_id"], 1);
    assert_eq!(info["client_ip"], "127.0.0.1");
    assert!(info.get("auth_required").is_none());
    assert!(info.get("connect_info").is_none());

    let step = |sim: &mut Sim, send: &[u8], expect: &[u8]| {
        sim.send(c, send);
        assert_eq!(
            text(&sim.take_new(c)),
            text(expect),
            "after sending {:?}",
            text(send)
        );
    };
    step(
        &mut sim,
        br#"CONNECT {"verbose":true,"pedantic":true,"headers":true,"no_responders":true,"protocol":1,"name":"demo","lang":"raw","version":"0"}"#
            .iter()
            .chain(b"\r\n")
            .copied()
            .collect::<Vec<u8>>()
            .as_slice(),
        b"+OK\r\n",
    );

    // PING: PONG, then (protocol 1, first PONG) the INFO with connect_info.
    sim.send(c, b"PING\r\n");
    let ops = sim.ops_new(c);
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!(ops[0], ServerOp::Pong);
    let ServerOp::Info(ci) = &ops[1] else {
        panic!("expected INFO after PONG, got {ops:?}")
    };
    assert_eq!(ci["connect_info"], true);
    assert_eq!(ci["remote_account"], "$G");
    assert_eq!(ci["client_id"], 1);
    // Only the first PONG is followed by it.
    step(&mut sim, b"PING\r\n", b"PONG\r\n");

    step(&mut sim, b"SUB greet.* 1\r\n", b"+OK\r\n");
    step(&mut sim, b"SUB greet.* workers 2\r\n", b"+OK\r\n");
    step(
        &mut sim,
        b"PUB greet.joe reply.1 5\r\nhello\r\n",
        b"+OK\r\nMSG greet.joe 1 reply.1 5\r\nhello\r\nMSG greet.joe 2 reply.1 5\r\nhello\r\n",
    );
    step(
        &mut sim,
        b"HPUB greet.ann 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n",
        b"+OK\r\nHMSG greet.ann 1 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\nHMSG greet.ann 2 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n",
    );
    step(&mut sim, b"SUB _INBOX.r1 3\r\n", b"+OK\r\n");
    step(
        &mut sim,
        b"PUB nobody.home _INBOX.r1 0\r\n\r\n",
        b"+OK\r\nHMSG _INBOX.r1 3 43 43\r\nNATS/1.0 503\r\nNats-Subject: nobody.home\r\n\r\n\r\n",
    );

    // The server's first keep-alive PING, 2 s (+0-20 %) after CONNECT.
    sim.advance(ms(2500));
    let ev = &sim.clients[c].events;
    let (at, bytes) = ev.last().expect("a PING");
    assert_eq!(text(bytes), "PING\r\n");
    assert!(*at >= ms(2000) && *at <= ms(2400), "first PING at {at:?}");
    sim.take_new(c);

    // sid 1 already had 2 messages: `UNSUB 1 1` removes it at once.
    step(&mut sim, b"UNSUB 1 1\r\n", b"+OK\r\n");
    step(
        &mut sim,
        b"PUB greet.x 1\r\n!\r\n",
        b"+OK\r\nMSG greet.x 2 1\r\n!\r\n",
    );
    // Pedantic: -ERR, but still +OK and delivered.
    step(
        &mut sim,
        b"PUB greet.* 1\r\n!\r\n",
        b"-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG greet.* 2 1\r\n!\r\n",
    );
    step(
        &mut sim,
        b"SUB bad..subject 9\r\n",
        b"-ERR 'Invalid Subject'\r\n",
    );
    step(
        &mut sim,
        b"PUB greet.y 2000000\r\n",
        b"-ERR 'Maximum Payload Violation'\r\n",
    );
    assert!(
        sim.clients[c].socket_closed,
        "closed after Maximum Payload Violation"
    );
    assert_eq!(sim.close_reason(c), Some(CloseReason::MaxPayloadExceeded));
}

/// The "errors that close" transcripts of spec §17, each on a fresh
/// connection after `CONNECT {"verbose":false}`, delivered both in one read
/// and one byte per read.
#[test]
fn spec_transcripts_errors_that_close() {
    let long_sub = format!("SUB {}\r\n", "a".repeat(4097));
    let cases: Vec<(Vec<u8>, &[u8], CloseReason)> = vec![
        (
            b"FOO bar\r\n".to_vec(),
            b"-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"PUB foo 5\r\nhelloXX\r\n".to_vec(),
            b"-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (b"PUB foo\r\n".to_vec(), b"", CloseReason::ProtocolViolation),
        (
            long_sub.into_bytes(),
            b"-ERR 'maximum control line exceeded'\r\n",
            CloseReason::MaxControlLineExceeded,
        ),
        (
            b"CONNECT {\"protocol\":2}\r\n".to_vec(),
            b"-ERR 'invalid client protocol'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"CONNECT {\"no_responders\":true,\"headers\":false}\r\n".to_vec(),
            b"-ERR 'no responders requires headers support'\r\n",
            CloseReason::ProtocolViolation,
        ),
    ];
    for (input, expect, reason) in cases {
        for chunk in [usize::MAX, 1] {
            let mut sim = Sim::new(Options::default());
            let c = sim.connect_with(r#"{"verbose":false}"#);
            assert_eq!(
                sim.take_new(c),
                b"",
                "verbose:false CONNECT answers nothing"
            );
            sim.send_chunked(c, &input, chunk);
            let what = format!(
                "{:?} in reads of {chunk}",
                text(&input[..input.len().min(40)])
            );
            assert_eq!(text(&sim.take_new(c)), text(expect), "{what}");
            assert!(sim.clients[c].socket_closed, "{what}: must close");
            assert_eq!(sim.close_reason(c), Some(reason), "{what}");
        }
    }
}

// ---------------------------------------------------------------------------
// Routing between connections
// ---------------------------------------------------------------------------

#[test]
fn pub_sub_across_connections() {
    let mut sim = Sim::new(Options::default());
    let a = sim.connect_with(QUIET);
    let b = sim.connect_with(QUIET);
    let p = sim.connect_with(QUIET);
    sim.send(a, b"SUB foo.* 1\r\nSUB foo.bar 2\r\n");
    sim.send(b, b"SUB foo.> s\r\nSUB bar x\r\n");
    sim.send(
        p,
        b"PUB foo.bar 5\r\nhello\r\nPUB foo.baz.q 2\r\nhi\r\nPUB nobody 0\r\n\r\n",
    );
    let mut got_a = sim.ops_new(a);
    got_a.sort_by(|x, y| x.sid().cmp(&y.sid()));
    assert_eq!(
        got_a,
        vec![msg("foo.bar", "1", "hello"), msg("foo.bar", "2", "hello")]
    );
    assert_eq!(
        sim.ops_new(b),
        vec![msg("foo.bar", "s", "hello"), msg("foo.baz.q", "s", "hi")]
    );
    assert_eq!(sim.ops_new(p), vec![], "the publisher has no subscriptions");
    // A reply subject is passed through; payload bytes (CRLF inside) intact.
    sim.send(p, b"PUB bar inbox.7 4\r\n\r\n\r\n\r\n");
    assert_eq!(
        sim.ops_new(b),
        vec![ServerOp::Msg {
            subject: "bar".into(),
            sid: "x".into(),
            reply: Some("inbox.7".into()),
            payload: b"\r\n\r\n".to_vec()
        }]
    );
}

#[test]
fn queue_group_exactly_once_and_even() {
    let mut sim = Sim::new(Options::default());
    let members: Vec<usize> = (0..3).map(|_| sim.connect_with(QUIET)).collect();
    for &m in &members {
        sim.send(m, b"SUB work.* q 1\r\n");
    }
    let plain = sim.connect_with(QUIET);
    sim.send(plain, b"SUB work.> all\r\n");
    let p = sim.connect_with(QUIET);
    const N: usize = 3000;
    // Pipelined, 100 PUBs per read.
    for batch in 0..N / 100 {
        let mut bytes = Vec::new();
        for i in batch * 100..(batch + 1) * 100 {
            bytes.extend(pub_frame("work.item", i.to_string().as_bytes()));
        }
        sim.send(p, &bytes);
    }
    let mut seen = vec![0u32; N];
    let mut per_member = Vec::new();
    for &m in &members {
        let ops = sim.ops_new(m);
        per_member.push(ops.len());
        for op in ops {
            let ServerOp::Msg { payload, sid, .. } = op else {
                panic!("unexpected {op:?}")
            };
            assert_eq!(sid, "1");
            seen[text(&payload).parse::<usize>().unwrap()] += 1;
        }
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "every message exactly once across the group"
    );
    for n in &per_member {
        assert!(
            (850..=1150).contains(n),
            "uneven spread over 3 members: {per_member:?}"
        );
    }
    // The plain subscriber gets every message, in order.
    let all = sim.ops_new(plain);
    assert_eq!(all.len(), N);
    for (i, op) in all.iter().enumerate() {
        assert_eq!(*op, msg("work.item", "all", &i.to_string()));
    }
}

#[test]
fn queue_group_spans_wildcard_and_literal_members() {
    // `foo.*` and `foo.bar` members of group q share one delivery.
    let mut sim = Sim::new(Options::default());
    let a = sim.connect_with(QUIET);
    let b = sim.connect_with(QUIET);
    sim.send(a, b"SUB foo.* q 1\r\n");
    sim.send(b, b"SUB foo.bar q 1\r\n");
    let p = sim.connect_with(QUIET);
    for _ in 0..200 {
        sim.send(p, b"PUB foo.bar 1\r\nx\r\n");
    }
    let (na, nb) = (sim.ops_new(a).len(), sim.ops_new(b).len());
    assert_eq!(na + nb, 200);
    assert!(na > 50 && nb > 50, "{na}/{nb}");
}

#[test]
fn unsub_max_auto_unsubscribes() {
    let mut sim = Sim::new(Options::default());
    let s = sim.connect_with(QUIET);
    let p = sim.connect_with(QUIET);
    sim.send(s, b"SUB foo 1\r\nUNSUB 1 3\r\n");
    for i in 0..5 {
        sim.send(p, &pub_frame("foo", format!("m{i}").as_bytes()));
    }
    assert_eq!(
        sim.ops_new(s),
        vec![
            msg("foo", "1", "m0"),
            msg("foo", "1", "m1"),
            msg("foo", "1", "m2")
        ]
    );
    assert_eq!(client_subs(&sim), 0, "removed after its last delivery");

    // UNSUB with a max already reached removes at once; so does max 0.
    sim.send(s, b"SUB bar 2\r\nSUB baz 3\r\n");
    sim.send(p, b"PUB bar 1\r\na\r\nPUB bar 1\r\nb\r\n");
    sim.send(s, b"UNSUB 2 2\r\nUNSUB 3 0\r\n");
    sim.send(p, b"PUB bar 1\r\nc\r\nPUB baz 1\r\nd\r\n");
    assert_eq!(
        sim.ops_new(s),
        vec![msg("bar", "2", "a"), msg("bar", "2", "b")]
    );
    assert_eq!(client_subs(&sim), 0);
}

#[test]
fn echo_off_suppresses_own_messages_only() {
    let mut sim = Sim::new(Options::default());
    let me = sim.connect_with(r#"{"verbose":false,"echo":false}"#);
    let other = sim.connect_with(QUIET);
    sim.send(me, b"SUB foo 1\r\n");
    sim.send(other, b"SUB foo 1\r\n");
    sim.send(me, b"PUB foo 2\r\nhi\r\n");
    assert_eq!(
        sim.ops_new(me),
        vec![],
        "echo off: own message not delivered to itself"
    );
    assert_eq!(sim.ops_new(other), vec![msg("foo", "1", "hi")]);
    // Others' messages still reach it.
    sim.send(other, b"PUB foo 2\r\nyo\r\n");
    assert_eq!(sim.ops_new(me), vec![msg("foo", "1", "yo")]);
    assert_eq!(sim.ops_new(other), vec![msg("foo", "1", "yo")]);

    // With echo off a queue group skips its own member: every copy goes to
    // the other member.
    sim.send(me, b"SUB job q 2\r\n");
    sim.send(other, b"SUB job q 2\r\n");
    for _ in 0..50 {
        sim.send(me, b"PUB job 1\r\nx\r\n");
    }
    assert_eq!(sim.ops_new(me).len(), 0);
    assert_eq!(sim.ops_new(other).len(), 50);
}

#[test]
fn no_responders_hmsg_exactly_as_spec() {
    let mut sim = Sim::new(Options::default());
    let c = sim.connect_with(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    sim.send(c, b"SUB _INBOX.x 4\r\nPUB nobody _INBOX.x 0\r\n\r\n");
    // Spec §8's example.
    assert_eq!(
        text(&sim.take_new(c)),
        "HMSG _INBOX.x 4 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n"
    );

    // A request that someone answers gets no 503.
    let responder = sim.connect_with(QUIET);
    sim.send(responder, b"SUB svc 1\r\n");
    sim.send(c, b"PUB svc _INBOX.x 2\r\nrq\r\n");
    assert_eq!(sim.take_new(c), b"");
    assert_eq!(
        sim.ops_new(responder),
        vec![ServerOp::Msg {
            subject: "svc".into(),
            sid: "1".into(),
            reply: Some("_INBOX.x".into()),
            payload: b"rq".to_vec()
        }]
    );

    // No 503 without no_responders, or without a subscription on the reply.
    let plain = sim.connect_with(r#"{"verbose":false,"headers":true}"#);
    sim.send(plain, b"SUB _INBOX.y 1\r\nPUB nobody _INBOX.y 0\r\n\r\n");
    assert_eq!(sim.take_new(plain), b"");
    sim.send(c, b"PUB nobody _INBOX.unsubscribed 0\r\n\r\n");
    assert_eq!(sim.take_new(c), b"");
}

// ---------------------------------------------------------------------------
// Slow consumers
// ---------------------------------------------------------------------------

#[test]
fn slow_consumer_is_closed_others_keep_receiving() {
    let opts = Options {
        max_pending: 16 * 1024,
        max_payload: 1024,
        ..Options::default()
    };
    let mut sim = Sim::new(opts);
    let slow = sim.connect_with(QUIET);
    let fast = sim.connect_with(QUIET);
    sim.send(slow, b"SUB data 1\r\n");
    sim.send(fast, b"SUB data 1\r\n");
    // From now on nobody reads the slow client's socket.
    sim.clients[slow].reading = false;
    let p = sim.connect_with(QUIET);
    const N: usize = 1000;
    let payload = [b'x'; 100];
    for _ in 0..N {
        sim.send(p, &pub_frame("data", &payload));
    }
    assert!(
        sim.clients[slow].conn.is_closed(),
        "the undrained subscriber must be closed"
    );
    assert_eq!(
        sim.close_reason(slow),
        Some(CloseReason::SlowConsumerPendingBytes)
    );
    assert!(sim.clients[slow].conn.outbox().pending() <= 16 * 1024);
    // No -ERR for a slow consumer, pending data discarded: the socket's
    // writer only learns that it is closed.
    let (rest, closed) = common::drain(sim.clients[slow].conn.outbox());
    assert!(
        rest.is_empty(),
        "slow consumer's pending data is discarded, got {} bytes",
        rest.len()
    );
    assert!(closed);
    assert_eq!(
        sim.server
            .stats()
            .slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The fast subscriber got every message.
    let ops = sim.ops_new(fast);
    assert_eq!(ops.len(), N);
    assert!(ops.iter().all(|op| *op
        == ServerOp::Msg {
            subject: "data".into(),
            sid: "1".into(),
            reply: None,
            payload: payload.to_vec()
        }));
    assert!(!sim.clients[fast].conn.is_closed());
    assert!(!sim.clients[p].conn.is_closed());

    // The slow connection lets go of its subscription at its next input
    // call, and the server counts it as gone.
    assert_eq!(sim.server.num_connections(), 3);
    let now = sim.now;
    sim.clients[slow].conn.handle_timeout(now);
    assert_eq!(client_subs(&sim), 1);
    assert_eq!(sim.server.num_connections(), 2);
    sim.send(p, &pub_frame("data", b"after"));
    assert_eq!(sim.ops_new(fast), vec![msg("data", "1", "after")]);
}

// ---------------------------------------------------------------------------
// Timers under the simulated clock
// ---------------------------------------------------------------------------

fn ping_opts(interval: Duration) -> Options {
    Options {
        ping_interval: interval,
        ping_max: 2,
        ..Options::default()
    }
}

#[test]
fn silent_client_goes_stale() {
    let mut sim = Sim::new(ping_opts(Duration::from_secs(1)));
    let c = sim.connect_with(QUIET);
    sim.advance(Duration::from_secs(10));
    let ev = sim.clients[c].events.clone();
    let lines: Vec<String> = ev.iter().skip(1).map(|(_, b)| text(b)).collect();
    assert_eq!(
        lines,
        ["PING\r\n", "PING\r\n", "-ERR 'Stale Connection'\r\n"],
        "events {ev:?}"
    );
    // Spec §17: PING at 1.14 s, PING at 2.14 s, -ERR at 3.14 s; the first
    // tick is min(interval, 2 s) plus up to 20 %.
    let t1 = ev[1].0;
    assert!(t1 >= ms(1000) && t1 <= ms(1200), "first PING at {t1:?}");
    assert_eq!(ev[2].0 - t1, ms(1000));
    assert_eq!(ev[3].0 - t1, ms(2000));
    assert!(sim.clients[c].socket_closed);
    assert_eq!(sim.close_reason(c), Some(CloseReason::StaleConnection));
    assert_eq!(
        sim.server
            .stats()
            .stale_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        sim.clients[c].conn.poll_timeout(),
        None,
        "no timers after close"
    );
}

#[test]
fn client_answering_pings_stays_alive() {
    let mut sim = Sim::new(ping_opts(Duration::from_secs(1)));
    let c = sim.connect_with(QUIET);
    let mut pings = 0;
    for _ in 0..200 {
        sim.advance(ms(100));
        let ops = sim.ops_new(c);
        for op in ops {
            assert_eq!(op, ServerOp::Ping);
            pings += 1;
            sim.send(c, b"PONG\r\n");
        }
    }
    assert!(!sim.clients[c].conn.is_closed());
    // Every tick (spec) or every other tick (see `pong_alone_is_not_activity`).
    assert!((9..=20).contains(&pings), "{pings} PINGs in 20 s");
}

#[test]
fn busy_client_is_not_pinged() {
    // Spec §12: no PING while the client sent data within the interval and
    // an RTT was measured.
    let mut sim = Sim::new(ping_opts(Duration::from_secs(1)));
    let c = sim.connect_with(QUIET);
    sim.advance(ms(1300));
    assert_eq!(sim.ops_new(c), vec![ServerOp::Ping]);
    sim.send(c, b"PONG\r\n");
    for _ in 0..100 {
        sim.advance(ms(100));
        sim.send(c, b"PUB x 1\r\n.\r\n");
    }
    assert_eq!(
        sim.ops_new(c),
        vec![],
        "a busy client with a known RTT gets no PINGs"
    );
    assert!(!sim.clients[c].conn.is_closed());
}

/// Spec §12 / nats-server `processPingTimer`: only client data or a client
/// PING (`lastIn`) delays the server's PING; a PONG answering the server's
/// own PING does not. natsd counts every received byte as activity
/// (`last_activity = now` at the top of `Connection::receive`), so a client
/// that only answers PINGs is pinged every other interval instead of every
/// interval.
#[test]
fn pong_alone_is_not_activity() {
    let mut sim = Sim::new(ping_opts(Duration::from_secs(1)));
    let c = sim.connect_with(QUIET);
    sim.advance(ms(1300));
    assert_eq!(sim.ops_new(c), vec![ServerOp::Ping]);
    let t1 = sim.clients[c].events.last().unwrap().0;
    sim.send(c, b"PONG\r\n");
    // The next tick, one interval later, must PING again.
    sim.advance(t1 + ms(1000) - sim.elapsed());
    assert_eq!(
        sim.ops_new(c),
        vec![ServerOp::Ping],
        "PING expected at {:?}",
        t1 + ms(1000)
    );
}

#[test]
fn first_ping_without_connect_after_full_interval() {
    // Spec §1.7: without CONNECT the timer armed at accept runs a full
    // interval; CONNECT rearms it to 2 s (+ up to 20 %).
    let mut sim = Sim::new(ping_opts(Duration::from_secs(5)));
    let bare = sim.connect();
    let connected = sim.connect_with(QUIET);
    sim.advance(Duration::from_secs(6));
    let first_ping = |sim: &Sim, c: usize| {
        sim.clients[c]
            .events
            .iter()
            .find(|(_, b)| b.as_slice() == b"PING\r\n")
            .map(|(t, _)| *t)
            .expect("a PING")
    };
    assert_eq!(first_ping(&sim, bare), Duration::from_secs(5));
    let t = first_ping(&sim, connected);
    assert!(t >= ms(2000) && t <= ms(2400), "{t:?}");
}

fn auth_opts() -> Options {
    Options {
        user: Some("derek".into()),
        password: Some("s3cr3t".into()),
        ..Options::default()
    }
}

#[test]
fn auth_timeout_after_two_seconds() {
    let mut sim = Sim::new(auth_opts());
    let c = sim.connect();
    let ops = sim.ops_new(c);
    let [ServerOp::Info(info)] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(info["auth_required"], true);
    assert_eq!(
        sim.clients[c].conn.poll_timeout(),
        Some(sim.start + Duration::from_secs(2))
    );
    sim.advance(ms(1999));
    assert_eq!(sim.take_new(c), b"");
    assert!(!sim.clients[c].conn.is_closed());
    sim.advance(ms(1));
    assert_eq!(sim.ops_new(c), vec![err("Authentication Timeout")]);
    assert!(sim.clients[c].socket_closed);
    assert_eq!(sim.close_reason(c), Some(CloseReason::AuthTimeout));
}

#[test]
fn partial_connect_does_not_stop_auth_timer() {
    let mut sim = Sim::new(auth_opts());
    let c = sim.connect();
    sim.take_new(c);
    sim.advance(Duration::from_secs(1));
    sim.send(c, br#"CONNECT {"user":"derek","#);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.ops_new(c), vec![err("Authentication Timeout")]);
    assert_eq!(sim.close_reason(c), Some(CloseReason::AuthTimeout));
}

#[test]
fn connect_in_time_cancels_auth_timer() {
    let mut sim = Sim::new(auth_opts());
    let c = sim.connect();
    sim.take_new(c);
    sim.advance(Duration::from_secs(1));
    sim.send(
        c,
        b"CONNECT {\"user\":\"derek\",\"pass\":\"s3cr3t\",\"verbose\":false}\r\nPING\r\n",
    );
    assert_eq!(sim.ops_new(c), vec![ServerOp::Pong]);
    sim.advance(Duration::from_secs(2));
    assert!(!sim.clients[c].conn.is_closed());
    // Wrong password, and a non-CONNECT first op, are violations.
    let bad = sim.connect();
    sim.take_new(bad);
    sim.send(bad, b"CONNECT {\"user\":\"derek\",\"pass\":\"nope\"}\r\n");
    assert_eq!(sim.ops_new(bad), vec![err("Authorization Violation")]);
    let early = sim.connect();
    sim.take_new(early);
    sim.send(early, b"PING\r\n");
    assert_eq!(sim.ops_new(early), vec![err("Authorization Violation")]);
    assert_eq!(sim.close_reason(early), Some(CloseReason::AuthViolation));
}

// ---------------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------------

#[test]
fn max_connections_sends_info_then_err() {
    let mut sim = Sim::new(Options {
        max_connections: 2,
        ..Options::default()
    });
    let a = sim.connect();
    let _b = sim.connect();
    let over = sim.connect();
    let ops = parse_server_ops(&sim.clients[over].received);
    assert!(
        matches!(ops.as_slice(), [ServerOp::Info(_), ServerOp::Err(e)] if e == "maximum connections exceeded"),
        "{ops:?}"
    );
    assert!(sim.clients[over].socket_closed);
    assert_eq!(
        sim.close_reason(over),
        Some(CloseReason::MaxConnectionsExceeded)
    );
    assert_eq!(sim.server.num_connections(), 2);
    // A slot freed by a client going away can be taken again.
    sim.clients[a].conn.close(CloseReason::ClientClosed);
    assert_eq!(sim.server.num_connections(), 1);
    let again = sim.connect();
    let ops = parse_server_ops(&sim.clients[again].received);
    assert!(matches!(ops.as_slice(), [ServerOp::Info(_)]), "{ops:?}");
    assert!(!sim.clients[again].conn.is_closed());
}

// ---------------------------------------------------------------------------
// Framing must not depend on where reads split the input
// ---------------------------------------------------------------------------

/// Sends `input` to a fresh connection (after a quiet CONNECT) in reads of
/// `chunk` bytes; returns what came back and the close reason.
fn run_chunked(input: &[u8], chunk: usize) -> (String, Option<CloseReason>) {
    let mut sim = Sim::new(Options::default());
    let c = sim.connect_with(QUIET);
    sim.send_chunked(c, input, chunk);
    (text(&sim.take_new(c)), sim.close_reason(c))
}

/// Spec §2: "every byte after PING/PONG/+OK up to \n is ignored", and any
/// split of the input is fine. nats-server's OP_PING/OP_PONG/OP_PLUS_OK
/// states skip bytes without a length check (parser.go). natsd's
/// `check_partial_line` applies the control-line limit to the text after
/// these names while the line is incomplete, so the same bytes give `PONG`
/// when they arrive in one read and `-ERR 'maximum control line exceeded'`
/// (and a close) when a read ends inside the tail. Only a tail that starts
/// with a space or tab is affected (`PINGxxxx…` is not).
#[test]
fn ping_pong_ok_ignore_long_tail_at_any_split() {
    for (name, reply) in [("PING", "PONG\r\n"), ("PONG", ""), ("+OK", "")] {
        let mut input = format!("{name} {}\r\n", "x".repeat(5000)).into_bytes();
        input.extend_from_slice(b"PING\r\n");
        let want = format!("{reply}PONG\r\n");
        let whole = run_chunked(&input, usize::MAX);
        assert_eq!(whole, (want.clone(), None), "{name} in one read");
        let split = run_chunked(&input, 1000);
        assert_eq!(split, (want, None), "{name} in reads of 1000 bytes");
    }
}

/// A client-sent `-ERR` with text longer than max_control_line: natsd
/// closes silently when the line arrives in one read (the full-line path in
/// `parse` returns `ClientOp::Err` without a length check) but sends
/// `-ERR 'maximum control line exceeded'` when a read ends inside it (the
/// partial-line check). nats-server checks the limit for MINUS_ERR_ARG in
/// both cases (parser.go), so both should send the -ERR.
#[test]
fn client_err_with_long_text_same_at_any_split() {
    let input = format!("-ERR '{}'\r\n", "e".repeat(5000)).into_bytes();
    let want = (
        "-ERR 'maximum control line exceeded'\r\n".to_string(),
        Some(CloseReason::MaxControlLineExceeded),
    );
    assert_eq!(run_chunked(&input, 1000), want, "in reads of 1000 bytes");
    assert_eq!(run_chunked(&input, usize::MAX), want, "in one read");
}

#[test]
fn byte_at_a_time_equals_one_read_for_mixed_traffic() {
    let input: &[u8] = b"SUB a.* 1\r\nsub\ta.b  q  2\r\nPUB a.b 5\r\nhe\r\no\r\nPING\nHPUB a.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 1\r\nPUB a.b 0\r\n\r\npong\r\nPINGxyz\r\n";
    let mut sim = Sim::new(Options::default());
    let c = sim.connect_with(r#"{"verbose":false,"headers":true}"#);
    sim.send(c, input);
    let whole = sim.take_new(c);
    let mut sim = Sim::new(Options::default());
    let c = sim.connect_with(r#"{"verbose":false,"headers":true}"#);
    sim.send_chunked(c, input, 1);
    assert_eq!(text(&sim.take_new(c)), text(&whole));
    assert_eq!(
        parse_server_ops(&whole).len(),
        // MSG 1, MSG 2, PONG, HMSG 1, HMSG 2 (sid 2 a one-member queue);
        // UNSUB 1 1 removes sid 1 (2 delivered); MSG 2; PONG.
        7,
        "{}",
        text(&whole)
    );
}

/// An incomplete op name followed by a separator (`CON{`, `PU `): per spec
/// §2 and nats-server's byte-level parser this is `Unknown Protocol
/// Operation` as soon as the separator arrives. natsd's
/// `check_partial_line` accepts any *prefix* of an op name before ` `, `\t`
/// or `{` while the line is incomplete, so when a read ends inside a long
/// such line it applies the control-line limit instead and answers
/// `-ERR 'maximum control line exceeded'`; in one read the full-line path
/// answers `Unknown Protocol Operation`. (Found by fuzz target
/// `connection`.)
#[test]
fn incomplete_op_name_is_unknown_at_any_split() {
    for input in [
        format!("CON{{{}}}\r\n", "x".repeat(5000)),
        format!("PU {}\r\n", "x".repeat(5000)),
    ] {
        let want = (
            "-ERR 'Unknown Protocol Operation'\r\n".to_string(),
            Some(CloseReason::ProtocolViolation),
        );
        assert_eq!(
            run_chunked(input.as_bytes(), usize::MAX),
            want,
            "{} in one read",
            &input[..4]
        );
        assert_eq!(
            run_chunked(input.as_bytes(), 1000),
            want,
            "{} in reads of 1000 bytes",
            &input[..4]
        );
    }
}
