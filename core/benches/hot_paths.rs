//! Criterion benchmarks of the core's hot paths:
//!
//! * `parser/*`: `parse` over pipelined PUBs with 16 B and 1 KiB payloads,
//!   throughput in input bytes;
//! * `sublist_match/{literal,wildcard}/N`: `Sublist::matches` with 10, 10k
//!   and 1M subscriptions;
//! * `fanout/pub_to_4_subscribers`: one PUB through `Connection::receive`
//!   into 4 subscribers' outboxes (drained each iteration, as a runtime
//!   would);
//! * `receive/64KiB_pipelined_16B_pubs_1_sub`: the whole `Connection::receive`
//!   path for a 64 KiB read of pipelined PUBs with one subscriber;
//!   `…_with_permissions`: the same for a publisher and a subscriber whose
//!   users have publish and subscribe allow/deny lists.
//!
//! Quick run: `cargo bench -p natsd-core -- --warm-up-time 1 --measurement-time 2`.

// A benchmark is host-side code: it reads the clock once for `now`.
#![allow(clippy::disallowed_methods)]
// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use natsd_core::client::parser::{parse, Limits, Parsed};
use natsd_core::{Connection, Options, Outbox, Server, Sublist, Subscription, Take};

const LIMITS: Limits = Limits {
    max_control_line: 4096,
    max_payload: 1 << 20,
};

fn pipelined_pubs(payload_len: usize, count: usize) -> Vec<u8> {
    let payload = vec![b'x'; payload_len];
    let mut input = Vec::new();
    for _ in 0..count {
        input.extend_from_slice(format!("PUB foo.bar {payload_len}\r\n").as_bytes());
        input.extend_from_slice(&payload);
        input.extend_from_slice(b"\r\n");
    }
    input
}

fn parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("parser");
    for (name, payload_len, count) in [
        ("pipelined_16B_pubs", 16, 2000),
        ("pipelined_1KiB_pubs", 1024, 64),
    ] {
        let input = pipelined_pubs(payload_len, count);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut data = black_box(&input[..]);
                let mut n = 0usize;
                while let Ok(Parsed::Op(op, used)) = parse(data, &LIMITS) {
                    black_box(&op);
                    data = &data[used..];
                    n += 1;
                }
                assert_eq!(n, count);
                n
            })
        });
    }
    g.finish();
}

/// `n` subscriptions. Literal: `bench.<i % 1000>.<i>`. Wildcard: the even
/// ones literal, each odd one the `*` twin of its even neighbour
/// (`bench.*.<i-1>`), plus `bench.>` and `>`; so a publish to an even
/// literal walks the literal, `*` and `>` branches and matches 4.
fn build_sublist(n: usize, wildcard: bool) -> (Sublist, Vec<u8>) {
    let outbox = Arc::new(Outbox::new(1, usize::MAX));
    let mut sl = Sublist::new();
    let mut add = |subject: String, i: usize| {
        sl.insert(Arc::new(Subscription::new(
            Bytes::from(subject),
            None,
            Bytes::from(i.to_string()),
            outbox.clone(),
        )));
    };
    for i in 0..n {
        let subject = if wildcard && i % 2 == 1 {
            format!("bench.*.{}", i - 1)
        } else {
            format!("bench.{}.{i}", i % 1000)
        };
        add(subject, i);
    }
    if wildcard {
        add("bench.>".into(), n);
        add(">".into(), n + 1);
    }
    let k = (n / 2) & !1;
    (sl, format!("bench.{}.{k}", k % 1000).into_bytes())
}

fn sublist_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("sublist_match");
    for n in [10usize, 10_000, 1_000_000] {
        for (kind, wildcard, hits) in [("literal", false, 1), ("wildcard", true, 4)] {
            let (sl, subject) = build_sublist(n, wildcard);
            assert_eq!(sl.matches(&subject).plain.len(), hits, "{kind}/{n}");
            g.bench_with_input(BenchmarkId::new(kind, n), &subject, |b, subject| {
                b.iter(|| sl.matches(black_box(subject)).plain.len())
            });
        }
    }
    g.finish();
}

fn peer(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + n))
}

/// Takes everything queued in `outbox` and reports it written.
fn drain(outbox: &Outbox, spare: &mut Vec<u8>) -> usize {
    let mut total = 0;
    while outbox.take(spare, Waker::noop()) == Take::Data {
        total += spare.len();
        outbox.written(spare.len());
        spare.clear();
    }
    total
}

/// A server with `subs` connections subscribed to `foo.bar` and one quiet
/// publisher.
fn setup(subs: usize, now: Instant) -> (Arc<Server>, Vec<Connection>, Connection) {
    setup_with(Options::default(), "", subs, now)
}

/// As [`setup`], every client logged in as a user with permissions.
fn setup_with_permissions(subs: usize, now: Instant) -> (Arc<Server>, Vec<Connection>, Connection) {
    use natsd_core::options::{Permissions, SubjectPermission, User};
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let perms = Permissions {
        publish: Some(SubjectPermission {
            allow: Some(list(&["foo.>", "_INBOX.>"])),
            deny: list(&["foo.secret"]),
        }),
        subscribe: Some(SubjectPermission {
            allow: Some(list(&["foo.*", "_INBOX.>"])),
            deny: list(&["foo.hidden"]),
        }),
        response: None,
    };
    let opts = Options {
        users: vec![User {
            username: "u".into(),
            password: "p".into(),
            permissions: Some(perms),
            allowed_connection_types: vec![],
            account: None,
        }],
        ..Options::default()
    };
    setup_with(opts, ",\"user\":\"u\",\"pass\":\"p\"", subs, now)
}

fn setup_with(
    opts: Options,
    creds: &str,
    subs: usize,
    now: Instant,
) -> (Arc<Server>, Vec<Connection>, Connection) {
    let server = Server::new(opts, 1);
    let mut spare = Vec::new();
    let mut subscribers = Vec::new();
    for i in 0..subs {
        let mut c = server.accept(peer(i as u16), now);
        c.receive(
            format!("CONNECT {{\"verbose\":false,\"pedantic\":false{creds}}}\r\nSUB foo.bar 1\r\n")
                .as_bytes(),
            now,
        );
        drain(c.outbox(), &mut spare);
        subscribers.push(c);
    }
    let mut publisher = server.accept(peer(999), now);
    publisher.receive(
        format!("CONNECT {{\"verbose\":false,\"pedantic\":false{creds}}}\r\n").as_bytes(),
        now,
    );
    drain(publisher.outbox(), &mut spare);
    (server, subscribers, publisher)
}

fn fanout(c: &mut Criterion) {
    let now = Instant::now();
    let (_server, subscribers, mut publisher) = setup(4, now);
    let frame = pipelined_pubs(16, 1);
    let mut spare = Vec::new();
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(1));
    g.bench_function("pub_to_4_subscribers", |b| {
        b.iter(|| {
            publisher.receive(black_box(&frame), now);
            let mut out = 0;
            for s in &subscribers {
                out += drain(s.outbox(), &mut spare);
            }
            debug_assert_eq!(out, 4 * "MSG foo.bar 1 16\r\n0123456789abcdef\r\n".len());
            out
        })
    });
    g.finish();
}

fn receive(c: &mut Criterion) {
    let now = Instant::now();
    let frame_len = pipelined_pubs(16, 1).len();
    let chunk = pipelined_pubs(16, 64 * 1024 / frame_len);
    let mut spare = Vec::new();
    let mut g = c.benchmark_group("receive");
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    for (name, with_perms) in [
        ("64KiB_pipelined_16B_pubs_1_sub", false),
        ("64KiB_pipelined_16B_pubs_1_sub_with_permissions", true),
    ] {
        let (_server, subscribers, mut publisher) = if with_perms {
            setup_with_permissions(1, now)
        } else {
            setup(1, now)
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                publisher.receive(black_box(&chunk), now);
                let n = drain(subscribers[0].outbox(), &mut spare);
                debug_assert!(n > 0);
                n
            })
        });
    }
    g.finish();
}

/// The SUB lines of the bench's `subs` scenario: `lit.N.foo`, with every
/// tenth a `fw.N.>` and two in ten `wc.N.*.bar`.
fn subscribe_lines(n: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(n * 24);
    for i in 0..n {
        let subject = match i % 10 {
            7 | 8 => format!("wc.{i}.*.bar"),
            9 => format!("fw.{i}.>"),
            _ => format!("lit.{i}.foo"),
        };
        b.extend_from_slice(format!("SUB {subject} {}\r\n", i + 1).as_bytes());
    }
    b
}

/// 10 000 SUBs on a fresh connection, in 64 KiB reads (the per-SUB cost
/// of compare.sh's `subs` scenario, which does 100 000).
fn subscribe(c: &mut Criterion) {
    const N: usize = 10_000;
    let lines = subscribe_lines(N);
    let mut g = c.benchmark_group("subscribe");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    g.bench_function("10k_subs_one_connection", |b| {
        b.iter_batched(
            || {
                let now = Instant::now();
                let server = Server::new(Options::default(), 1);
                let mut conn = server.accept(peer(1), now);
                conn.receive(b"CONNECT {\"verbose\":false}\r\n", now);
                (server, conn, now)
            },
            |(server, mut conn, now)| {
                for chunk in lines.chunks(64 * 1024) {
                    conn.receive(black_box(chunk), now);
                }
                (server, conn)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, parser, sublist_match, fanout, receive, subscribe);
criterion_main!(benches);
