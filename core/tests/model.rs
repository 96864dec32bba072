//! Model-based property test of message delivery: 2–6 clients on one
//! `Server` do random interleavings of SUB (plain, wildcard, queue), UNSUB
//! (with and without max), PUB, HPUB, request/reply, disconnects,
//! reconnects and clock advances, and every byte the server writes is
//! checked against a simple reference model:
//!
//! * each live subscription whose subject matches gets each message exactly
//!   once, with the right subject, reply, headers (HMSG only for clients
//!   that negotiated headers) and payload;
//! * each queue group (per account and queue name, across subjects) gets
//!   exactly one delivery per message, to a member alive at publish time;
//! * UNSUB with max stops exactly at max; nothing arrives after UNSUB or
//!   after a disconnect; echo off keeps a client's own messages away;
//! * per subscription, messages arrive in publish order;
//! * the account's sublist holds exactly the model's live subscriptions.
//!
//! Every client carries the account it is in: clients alternate between
//! accounts `A` and `B`, and the model delivers only within an account,
//! so the test checks cross-account isolation too.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{drain, ServerOp, Sim};
use natsd_core::{CloseReason, Options};
use proptest::prelude::*;

/// Subjects messages are published to (and replies sent to).
const PUB_SUBJECTS: &[&str] = &["a", "b", "a.a", "a.b", "b.a", "a.b.c", "a.a.a", "b.b.b"];
/// Subscription subjects, wildcards included.
const SUB_SUBJECTS: &[&str] = &[
    "a", "a.b", "a.*", "*.b", "*", "a.>", ">", "*.*.c", "a.b.c", "b.>",
];
const QUEUES: &[&str] = &["q1", "q2"];

/// NATS subject matching (`*` one token, `>` one or more).
fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[derive(Debug, Clone)]
struct PubSpec {
    subject: usize,
    reply: Option<usize>,
    headers: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Sub {
        c: usize,
        subject: usize,
        queue: Option<usize>,
    },
    /// UNSUB one of the client's subscriptions (`pick` modulo their number;
    /// an unknown sid when it has none).
    Unsub {
        c: usize,
        pick: usize,
        max: Option<u64>,
    },
    /// Messages sent in one batch, cut into reads at `cuts`.
    Pub {
        c: usize,
        msgs: Vec<PubSpec>,
        cuts: Vec<usize>,
    },
    /// SUB to a fresh inbox, UNSUB it after 1, PUB with that reply.
    Request {
        c: usize,
        subject: usize,
        headers: bool,
    },
    /// Answer every message with a reply the client received so far.
    Respond {
        c: usize,
    },
    Disconnect {
        c: usize,
    },
    /// (Re)connect with these options; a live client is disconnected first.
    Reconnect {
        c: usize,
        headers: bool,
        echo: bool,
    },
    Advance {
        ms: u64,
    },
}

fn pub_spec() -> impl Strategy<Value = PubSpec> {
    (
        0..PUB_SUBJECTS.len(),
        prop::option::weighted(0.2, 0..PUB_SUBJECTS.len()),
        any::<bool>(),
    )
        .prop_map(|(subject, reply, headers)| PubSpec {
            subject,
            reply,
            headers,
        })
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..n, 0..SUB_SUBJECTS.len(), prop::option::weighted(0.35, 0..QUEUES.len()))
            .prop_map(|(c, subject, queue)| Op::Sub { c, subject, queue }),
        2 => (0..n, any::<usize>(), prop::option::weighted(0.6, 0..4u64))
            .prop_map(|(c, pick, max)| Op::Unsub { c, pick, max }),
        5 => (0..n, prop::collection::vec(pub_spec(), 1..5), prop::collection::vec(0..400usize, 0..4))
            .prop_map(|(c, msgs, cuts)| Op::Pub { c, msgs, cuts }),
        1 => (0..n, 0..PUB_SUBJECTS.len(), any::<bool>())
            .prop_map(|(c, subject, headers)| Op::Request { c, subject, headers }),
        1 => (0..n).prop_map(|c| Op::Respond { c }),
        1 => (0..n).prop_map(|c| Op::Disconnect { c }),
        1 => (0..n, any::<bool>(), prop::bool::weighted(0.8))
            .prop_map(|(c, headers, echo)| Op::Reconnect { c, headers, echo }),
        1 => (0..40_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Debug, Clone)]
struct ModelSub {
    subject: String,
    queue: Option<String>,
    delivered: u64,
    max: Option<u64>,
}

#[derive(Debug)]
struct ModelClient {
    /// The account the client's connections are in.
    account: &'static str,
    /// Its current connection (index into `Sim::clients`), if connected.
    conn: Option<usize>,
    headers: bool,
    echo: bool,
    next_sid: u64,
    subs: BTreeMap<u64, ModelSub>,
    /// Reply subjects of messages received and not answered yet.
    to_answer: Vec<String>,
}

/// One thing the model applies, in the order the server sees it.
#[derive(Debug)]
enum Event {
    Sub {
        c: usize,
        sid: u64,
        sub: ModelSub,
    },
    Unsub {
        c: usize,
        sid: u64,
        max: Option<u64>,
    },
    Pub {
        c: usize,
        id: u64,
    },
}

/// A published message as the model remembers it.
#[derive(Debug, Clone)]
struct Published {
    subject: String,
    reply: Option<String>,
    headers: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// One delivery seen on a socket.
#[derive(Debug)]
struct Seen {
    c: usize,
    sid: u64,
    op: ServerOp,
}

struct World {
    sim: Sim,
    clients: Vec<ModelClient>,
    /// Model client of each sim connection.
    owner: Vec<usize>,
    published: Vec<Published>,
    inbox_seq: u64,
}

impl World {
    fn new(n: usize, seed: u64, flags: &[(bool, bool)]) -> World {
        let mut w = World {
            sim: Sim::with_seed(accounts_options(), seed),
            clients: Vec::new(),
            owner: Vec::new(),
            published: Vec::new(),
            inbox_seq: 0,
        };
        for &(headers, echo) in flags.iter().take(n) {
            w.clients.push(ModelClient {
                account: ACCOUNTS[w.clients.len() % ACCOUNTS.len()],
                conn: None,
                headers,
                echo,
                next_sid: 1,
                subs: BTreeMap::new(),
                to_answer: Vec::new(),
            });
        }
        for c in 0..w.clients.len() {
            w.connect(c);
        }
        w
    }

    fn connect(&mut self, c: usize) {
        let cl = &self.clients[c];
        let user = cl.account.to_ascii_lowercase();
        let json = format!(
            r#"{{"verbose":false,"pedantic":false,"headers":{},"echo":{},"protocol":1,"user":"{user}","pass":"{user}"}}"#,
            cl.headers, cl.echo
        );
        let idx = self.sim.connect_with(&json);
        self.owner.push(c);
        let cl = &mut self.clients[c];
        cl.conn = Some(idx);
        cl.next_sid = 1;
        cl.subs.clear();
        cl.to_answer.clear();
        self.check_quiet();
    }

    fn disconnect(&mut self, c: usize) {
        if let Some(idx) = self.clients[c].conn.take() {
            self.sim.clients[idx].conn.close(CloseReason::ClientClosed);
            self.sim.drain_all();
            let cl = &mut self.clients[c];
            cl.subs.clear();
            cl.to_answer.clear();
        }
        self.check_quiet();
    }

    /// Nothing but PINGs (answered) may have arrived.
    fn check_quiet(&mut self) {
        let seen = self.collect();
        assert!(seen.is_empty(), "unexpected deliveries: {seen:?}");
    }

    fn payload(id: u64) -> Vec<u8> {
        let mut p = format!("m{id}.").into_bytes();
        p.resize(p.len() + (id as usize * 7) % 23, b'x');
        p
    }

    /// Frames one message, records it, returns its event.
    fn frame_pub(&mut self, c: usize, out: &mut Vec<u8>, spec: &PubSpec) -> Event {
        let reply = spec.reply.map(|r| PUB_SUBJECTS[r].to_string());
        self.frame_pub_to(c, out, PUB_SUBJECTS[spec.subject], reply, spec.headers)
    }

    fn frame_pub_to(
        &mut self,
        c: usize,
        out: &mut Vec<u8>,
        subject: &str,
        reply: Option<String>,
        headers: bool,
    ) -> Event {
        let id = self.published.len() as u64;
        let payload = Self::payload(id);
        let reply_arg = reply
            .as_deref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        // HPUB from a client that did not negotiate headers is a protocol
        // error (the connection closes), not a message: send PUB instead.
        let headers = headers && self.clients[c].headers;
        let hdr = headers.then(|| format!("NATS/1.0\r\nX-Id: {id}\r\n\r\n").into_bytes());
        match &hdr {
            Some(h) => out.extend_from_slice(
                format!(
                    "HPUB {subject}{reply_arg} {} {}\r\n",
                    h.len(),
                    h.len() + payload.len()
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("PUB {subject}{reply_arg} {}\r\n", payload.len()).as_bytes(),
            ),
        }
        if let Some(h) = &hdr {
            out.extend_from_slice(h);
        }
        out.extend_from_slice(&payload);
        out.extend_from_slice(b"\r\n");
        self.published.push(Published {
            subject: subject.to_string(),
            reply,
            headers: hdr,
            payload,
        });
        Event::Pub { c, id }
    }

    fn apply(&mut self, op: &Op) {
        let live = |w: &World, c: usize| w.clients[c].conn.is_some();
        let mut bytes = Vec::new();
        let mut events = Vec::new();
        let mut cuts = Vec::new();
        let mut from = None;
        match op {
            Op::Sub { c, subject, queue } if live(self, *c) => {
                let cl = &mut self.clients[*c];
                let sid = cl.next_sid;
                cl.next_sid += 1;
                let q = queue.map(|q| QUEUES[q]);
                let subject = SUB_SUBJECTS[*subject];
                match q {
                    Some(q) => {
                        bytes.extend_from_slice(format!("SUB {subject} {q} {sid}\r\n").as_bytes())
                    }
                    None => bytes.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes()),
                }
                events.push(Event::Sub {
                    c: *c,
                    sid,
                    sub: ModelSub {
                        subject: subject.to_string(),
                        queue: q.map(str::to_string),
                        delivered: 0,
                        max: None,
                    },
                });
                from = Some(*c);
            }
            Op::Unsub { c, pick, max } if live(self, *c) => {
                let cl = &self.clients[*c];
                let sid = if cl.subs.is_empty() {
                    cl.next_sid + 1000
                } else {
                    *cl.subs.keys().nth(pick % cl.subs.len()).unwrap()
                };
                match max {
                    Some(m) => bytes.extend_from_slice(format!("UNSUB {sid} {m}\r\n").as_bytes()),
                    None => bytes.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes()),
                }
                events.push(Event::Unsub {
                    c: *c,
                    sid,
                    max: *max,
                });
                from = Some(*c);
            }
            Op::Pub { c, msgs, cuts: cs } if live(self, *c) => {
                for spec in msgs {
                    let e = self.frame_pub(*c, &mut bytes, spec);
                    events.push(e);
                }
                cuts = cs.clone();
                from = Some(*c);
            }
            Op::Request {
                c,
                subject,
                headers,
            } if live(self, *c) => {
                self.inbox_seq += 1;
                let inbox = format!("_INBOX.c{c}.{}", self.inbox_seq);
                let cl = &mut self.clients[*c];
                let sid = cl.next_sid;
                cl.next_sid += 1;
                bytes.extend_from_slice(
                    format!("SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\n").as_bytes(),
                );
                events.push(Event::Sub {
                    c: *c,
                    sid,
                    sub: ModelSub {
                        subject: inbox.clone(),
                        queue: None,
                        delivered: 0,
                        max: None,
                    },
                });
                events.push(Event::Unsub {
                    c: *c,
                    sid,
                    max: Some(1),
                });
                let e = self.frame_pub_to(
                    *c,
                    &mut bytes,
                    PUB_SUBJECTS[*subject],
                    Some(inbox),
                    *headers,
                );
                events.push(e);
                from = Some(*c);
            }
            Op::Respond { c } if live(self, *c) => {
                let replies = std::mem::take(&mut self.clients[*c].to_answer);
                for r in replies {
                    let e = self.frame_pub_to(*c, &mut bytes, &r, None, false);
                    events.push(e);
                }
                from = Some(*c);
            }
            Op::Disconnect { c } => self.disconnect(*c),
            Op::Reconnect { c, headers, echo } => {
                self.disconnect(*c);
                self.clients[*c].headers = *headers;
                self.clients[*c].echo = *echo;
                self.connect(*c);
            }
            Op::Advance { ms } => {
                self.sim.advance(Duration::from_millis(*ms));
                self.check_quiet();
            }
            _ => {}
        }
        if let Some(c) = from {
            let idx = self.clients[c].conn.unwrap();
            let mut cuts: Vec<usize> = cuts.iter().map(|x| x % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                self.sim.send(idx, &bytes[start..cut]);
                start = cut;
            }
            self.verify(events);
        }
        self.check_sublist();
    }

    /// Every frame written since the last call, on every connection. PINGs
    /// are answered (a real client would); other non-message frames fail.
    fn collect(&mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        for idx in 0..self.sim.clients.len() {
            let c = self.owner[idx];
            let current = self.clients[c].conn == Some(idx);
            if self.sim.clients[idx].socket_closed {
                // A gone socket: the outbox must stay closed and empty.
                let (bytes, closed) = drain(self.sim.clients[idx].conn.outbox());
                assert!(bytes.is_empty() && closed, "bytes after close: {bytes:?}");
            }
            let mut pings = 0;
            for op in self.sim.ops_new(idx) {
                match &op {
                    ServerOp::Ping if current => pings += 1,
                    ServerOp::Msg { sid, .. } | ServerOp::HMsg { sid, .. } if current => {
                        seen.push(Seen {
                            c,
                            sid: sid.parse().expect("numeric sid"),
                            op,
                        });
                    }
                    _ => panic!("client {c} (connection {idx}, current {current}) got {op:?}"),
                }
            }
            for _ in 0..pings {
                self.sim.send(idx, b"PONG\r\n");
            }
        }
        seen
    }

    fn verify(&mut self, events: Vec<Event>) {
        let seen = self.collect();
        // Deliveries by message id, and per subscription in arrival order.
        let mut by_id: HashMap<u64, Vec<Seen>> = HashMap::new();
        let mut order: HashMap<(usize, u64), Vec<u64>> = HashMap::new();
        for s in seen {
            let payload = match &s.op {
                ServerOp::Msg { payload, .. } | ServerOp::HMsg { payload, .. } => payload,
                _ => unreachable!(),
            };
            let text = std::str::from_utf8(payload).expect("model payloads are text");
            let id: u64 = text[1..text.find('.').expect("payload id")]
                .parse()
                .expect("payload id");
            order.entry((s.c, s.sid)).or_default().push(id);
            by_id.entry(id).or_default().push(s);
        }
        for ((c, sid), ids) in &order {
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "client {c} sid {sid}: out of publish order {ids:?}"
            );
        }
        for e in events {
            match e {
                Event::Sub { c, sid, sub } => {
                    self.clients[c].subs.insert(sid, sub);
                }
                Event::Unsub { c, sid, max } => {
                    let subs = &mut self.clients[c].subs;
                    if let Some(s) = subs.get_mut(&sid) {
                        match max {
                            Some(m) if m > 0 && s.delivered < m => s.max = Some(m),
                            _ => {
                                subs.remove(&sid);
                            }
                        }
                    }
                }
                Event::Pub { c, id } => {
                    let got = by_id.remove(&id).unwrap_or_default();
                    self.check_pub(c, id, got);
                }
            }
        }
        assert!(
            by_id.is_empty(),
            "deliveries of nothing published now: {by_id:?}"
        );
    }

    /// Checks the deliveries of message `id` published by `from` and
    /// updates the model.
    fn check_pub(&mut self, from: usize, id: u64, got: Vec<Seen>) {
        let msg = self.published[id as usize].clone();
        let account = self.clients[from].account;
        let echo = self.clients[from].echo;
        let mut plain = Vec::new();
        let mut groups: BTreeMap<String, Vec<(usize, u64)>> = BTreeMap::new();
        for (c, cl) in self.clients.iter().enumerate() {
            if cl.conn.is_none() || cl.account != account || (c == from && !echo) {
                continue;
            }
            for (sid, s) in &cl.subs {
                if !matches(&s.subject, &msg.subject) {
                    continue;
                }
                match &s.queue {
                    None => plain.push((c, *sid)),
                    Some(q) => groups.entry(q.clone()).or_default().push((c, *sid)),
                }
            }
        }
        let mut receivers: Vec<(usize, u64)> = Vec::new();
        for s in &got {
            self.check_frame(&msg, s);
            receivers.push((s.c, s.sid));
        }
        let mut expect = plain.clone();
        for (q, members) in &groups {
            let hits: Vec<_> = receivers.iter().filter(|r| members.contains(r)).collect();
            assert_eq!(
                hits.len(),
                1,
                "message {id} ({msg:?}) to queue group {q} {members:?}: delivered to {hits:?}"
            );
            expect.push(*hits[0]);
        }
        expect.sort_unstable();
        receivers.sort_unstable();
        assert_eq!(
            receivers, expect,
            "message {id} {msg:?} from client {from}: deliveries (client, sid) differ"
        );
        for (c, sid) in receivers {
            let cl = &mut self.clients[c];
            let s = cl.subs.get_mut(&sid).unwrap();
            s.delivered += 1;
            if s.max == Some(s.delivered) {
                cl.subs.remove(&sid);
            }
            if let Some(r) = &msg.reply {
                cl.to_answer.push(r.clone());
            }
        }
    }

    fn check_frame(&self, msg: &Published, s: &Seen) {
        let with_headers = self.clients[s.c].headers;
        let sid = s.sid.to_string();
        let expect = match (&msg.headers, with_headers) {
            (Some(h), true) => ServerOp::HMsg {
                subject: msg.subject.clone(),
                sid,
                reply: msg.reply.clone(),
                headers: h.clone(),
                payload: msg.payload.clone(),
            },
            _ => ServerOp::Msg {
                subject: msg.subject.clone(),
                sid,
                reply: msg.reply.clone(),
                payload: msg.payload.clone(),
            },
        };
        assert_eq!(s.op, expect, "frame to client {}", s.c);
    }

    /// Each account's sublist holds exactly the model's live subscriptions
    /// (besides the server's own: import carriers and the `$SYS` API).
    fn check_sublist(&self) {
        for account in ACCOUNTS {
            let live: usize = self
                .clients
                .iter()
                .filter(|c| c.conn.is_some() && c.account == account)
                .map(|c| c.subs.len())
                .sum();
            let mut count = 0;
            self.sim
                .server
                .accounts()
                .get(account)
                .unwrap()
                .sublist()
                .for_each(|s| {
                    count += usize::from(s.import().is_none());
                });
            assert_eq!(count, live, "subscriptions in {account}: server vs model");
        }
    }
}

/// The accounts clients are spread over (client `i` is in
/// `ACCOUNTS[i % 2]`, logged in as the account's lower-case name).
const ACCOUNTS: [&str; 2] = ["A", "B"];

fn accounts_options() -> Options {
    let mut o = Options::default();
    natsd_core::config::load(
        "accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: b, password: b}] } }",
        "model.conf",
        &mut natsd_core::config::MapLoader::new(),
        &|_| None,
        &mut o,
    )
    .expect("model accounts");
    o
}

fn run(n: usize, seed: u64, flags: &[(bool, bool)], ops: &[Op]) {
    let mut w = World::new(n, seed, flags);
    for op in ops {
        w.apply(op);
    }
}

fn scenario() -> impl Strategy<Value = (usize, u64, Vec<(bool, bool)>, Vec<Op>)> {
    (2..=6usize).prop_flat_map(|n| {
        (
            Just(n),
            any::<u64>(),
            prop::collection::vec((prop::bool::weighted(0.7), prop::bool::weighted(0.8)), n),
            prop::collection::vec(op(n), 1..120),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn deliveries_match_the_model((n, seed, flags, ops) in scenario()) {
        run(n, seed, &flags, &ops);
    }
}

/// A fixed scenario touching every op, so a plain `cargo test` shows the
/// model at work even with proptest's cases turned down.
#[test]
fn every_op_once() {
    let p = |subject, reply, headers| PubSpec {
        subject,
        reply,
        headers,
    };
    let ops = vec![
        Op::Sub {
            c: 0,
            subject: 6,
            queue: None,
        },
        Op::Sub {
            c: 1,
            subject: 2,
            queue: Some(0),
        },
        Op::Sub {
            c: 2,
            subject: 0,
            queue: Some(0),
        },
        Op::Sub {
            c: 2,
            subject: 1,
            queue: None,
        },
        Op::Unsub {
            c: 0,
            pick: 0,
            max: Some(3),
        },
        Op::Pub {
            c: 1,
            msgs: vec![p(0, None, false), p(3, Some(1), true), p(5, None, false)],
            cuts: vec![5, 40],
        },
        Op::Respond { c: 2 },
        Op::Request {
            c: 0,
            subject: 3,
            headers: true,
        },
        Op::Respond { c: 2 },
        Op::Respond { c: 1 },
        Op::Advance { ms: 39_000 },
        Op::Disconnect { c: 2 },
        Op::Pub {
            c: 1,
            msgs: vec![p(3, None, true)],
            cuts: vec![],
        },
        Op::Reconnect {
            c: 2,
            headers: false,
            echo: false,
        },
        Op::Sub {
            c: 2,
            subject: 3,
            queue: None,
        },
        Op::Pub {
            c: 2,
            msgs: vec![p(3, None, true)],
            cuts: vec![],
        },
        Op::Advance { ms: 39_000 },
        Op::Advance { ms: 39_000 },
        Op::Advance { ms: 39_000 },
        Op::Unsub {
            c: 1,
            pick: 0,
            max: None,
        },
    ];
    run(3, 1, &[(true, true), (true, true), (true, true)], &ops);
}
