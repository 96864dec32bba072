//! Property tests of client framing.
//!
//! Random sequences of valid client operations (CONNECT, PUB with and
//! without reply and with binary payloads that contain CRLF, HPUB, SUB with
//! and without queue, UNSUB with and without max, PING, PONG), written with
//! random but legal spelling (op-name case, spaces or tabs, `\r\n` or bare
//! `\n`, trailing blanks), and then:
//!
//! * `parse` over the whole byte string gives back exactly the ops, each
//!   consuming exactly its own bytes;
//! * every proper prefix of one op's bytes parses as `Partial` (the parser
//!   never decides before the frame is complete, and never rejects a valid
//!   frame for being incomplete);
//! * a `Connection` fed the bytes all at once, one byte per `receive`, and
//!   split at random points writes identical bytes to its own outbox and
//!   ends in the same state.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::drain;
use natsd_core::client::parser::{parse, ClientOp, Limits, Parsed};
use natsd_core::{Options, Server};
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// A client operation, as the generator builds it.
#[derive(Debug, Clone)]
enum Op {
    Connect(String),
    Pub {
        subject: String,
        reply: Option<String>,
        payload: Vec<u8>,
    },
    HPub {
        subject: String,
        reply: Option<String>,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Sub {
        subject: String,
        queue: Option<String>,
        sid: String,
    },
    Unsub {
        sid: String,
        max: Option<u32>,
    },
    Ping {
        tail: String,
    },
    Pong,
}

/// How one op is spelled on the wire; all of these are legal.
#[derive(Debug, Clone)]
struct Style {
    /// Per-letter case of the op name (bit i: upper-case letter i).
    case_bits: u8,
    /// Separator between op name and arguments and between arguments.
    sep: &'static str,
    /// Blanks before the line end of a control line.
    trailing: &'static str,
    /// `\r\n` or a bare `\n` at the end of the control line.
    crlf: bool,
    /// Leading zeros on size fields.
    zeros: u8,
}

fn name(n: &str, st: &Style) -> String {
    n.chars()
        .enumerate()
        .map(|(i, c)| {
            if st.case_bits & (1 << (i % 8)) != 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn eol(st: &Style) -> &'static str {
    if st.crlf {
        "\r\n"
    } else {
        "\n"
    }
}

/// The wire bytes of one op in one style.
fn encode(op: &Op, st: &Style) -> Vec<u8> {
    let s = st.sep;
    let line = |parts: &[&str]| -> String {
        let mut l = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                l.push_str(s);
            }
            l.push_str(p);
        }
        l.push_str(st.trailing);
        l.push_str(eol(st));
        l
    };
    match op {
        // CONNECT's JSON may follow the name with or without a blank.
        Op::Connect(json) => format!(
            "{}{}{json}{}{}",
            name("CONNECT", st),
            s,
            st.trailing,
            eol(st)
        )
        .into_bytes(),
        Op::Pub {
            subject,
            reply,
            payload,
        } => {
            let n = size_text(payload.len(), st);
            let nm = name("PUB", st);
            let mut out = match reply {
                Some(r) => line(&[&nm, subject, r, &n]),
                None => line(&[&nm, subject, &n]),
            }
            .into_bytes();
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
            out
        }
        Op::HPub {
            subject,
            reply,
            headers,
            payload,
        } => {
            let (h, t) = (
                size_text(headers.len(), st),
                size_text(headers.len() + payload.len(), st),
            );
            let nm = name("HPUB", st);
            let mut out = match reply {
                Some(r) => line(&[&nm, subject, r, &h, &t]),
                None => line(&[&nm, subject, &h, &t]),
            }
            .into_bytes();
            out.extend_from_slice(headers);
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
            out
        }
        Op::Sub {
            subject,
            queue,
            sid,
        } => {
            let nm = name("SUB", st);
            match queue {
                Some(q) => line(&[&nm, subject, q, sid]),
                None => line(&[&nm, subject, sid]),
            }
            .into_bytes()
        }
        Op::Unsub { sid, max } => {
            let nm = name("UNSUB", st);
            match max {
                Some(m) => line(&[&nm, sid, &m.to_string()]),
                None => line(&[&nm, sid]),
            }
            .into_bytes()
        }
        // Anything after PING up to the newline is ignored.
        Op::Ping { tail } => format!("{}{tail}{}", name("PING", st), eol(st)).into_bytes(),
        Op::Pong => format!("{}{}", name("PONG", st), eol(st)).into_bytes(),
    }
}

/// A size field as this style writes it: with `zeros` leading zeros (at
/// most 9 digits in all; nats-server accepts them and echoes the field).
fn size_text(n: usize, st: &Style) -> String {
    let digits = n.to_string();
    let pad = usize::from(st.zeros).min(9usize.saturating_sub(digits.len()));
    format!("{}{digits}", "0".repeat(pad))
}

/// Whether `parse` returned exactly `op` as written in style `st`. Patterns
/// end in `..` so that fields the core adds later do not break the build;
/// every field known today is compared.
fn same_op(got: &ClientOp<'_>, op: &Op, st: &Style) -> bool {
    let opt = |o: &Option<String>| o.as_ref().map(|s| s.as_bytes().to_vec());
    let got_opt = |o: &Option<&[u8]>| o.map(<[u8]>::to_vec);
    match (got, op) {
        (ClientOp::Connect(j), Op::Connect(json)) => *j == json.as_bytes(),
        (
            ClientOp::Pub {
                subject,
                reply,
                payload,
                size,
                ..
            },
            Op::Pub {
                subject: s,
                reply: r,
                payload: p,
            },
        ) => {
            *subject == s.as_bytes()
                && got_opt(reply) == opt(r)
                && *payload == p.as_slice()
                && *size == size_text(p.len(), st).as_bytes()
        }
        (
            ClientOp::HPub {
                subject,
                reply,
                header_len,
                message,
                sizes,
                ..
            },
            Op::HPub {
                subject: s,
                reply: r,
                headers,
                payload,
            },
        ) => {
            let mut whole = headers.clone();
            whole.extend_from_slice(payload);
            *subject == s.as_bytes()
                && got_opt(reply) == opt(r)
                && *header_len == headers.len()
                && *message == whole.as_slice()
                && sizes[0] == size_text(headers.len(), st).as_bytes()
                && sizes[1] == size_text(whole.len(), st).as_bytes()
        }
        (
            ClientOp::Sub {
                subject,
                queue,
                sid,
                ..
            },
            Op::Sub {
                subject: s,
                queue: q,
                sid: i,
            },
        ) => *subject == s.as_bytes() && got_opt(queue) == opt(q) && *sid == i.as_bytes(),
        (ClientOp::Unsub { sid, max, .. }, Op::Unsub { sid: i, max: m }) => {
            *sid == i.as_bytes() && *max == m.map(u64::from)
        }
        (ClientOp::Ping, Op::Ping { .. }) | (ClientOp::Pong, Op::Pong) => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Few distinct tokens, so subscriptions and publishes often meet.
fn token() -> impl Strategy<Value = String> {
    select(vec!["a", "a", "b", "_INBOX", "x-1"]).prop_map(str::to_string)
}

fn literal_subject() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..=2).prop_map(|t| t.join("."))
}

fn sub_subject() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![4 => token(), 1 => Just("*".to_string())], 1..=2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(mut t, full)| {
            if full {
                t.push(">".into());
            }
            t.join(".")
        })
}

fn sid() -> impl Strategy<Value = String> {
    select(vec!["1", "2", "3", "sid.x", "Z"]).prop_map(str::to_string)
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..48),
        // Protocol-looking bytes and CRLFs inside payloads.
        2 => prop::collection::vec(select(b"\r\n PUBING0123".to_vec()), 0..24),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"PING\r\nPUB a 1\r\nx\r\n".to_vec()),
        1 => Just(Vec::new()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (prop::collection::vec(("[A-Za-z-]{1,8}", "[ -~]{0,12}"), 0..3)).prop_map(|kv| {
            let mut h = b"NATS/1.0\r\n".to_vec();
            for (k, v) in kv {
                h.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
            }
            h.extend_from_slice(b"\r\n");
            h
        }),
        // The server does not validate header bytes.
        1 => prop::collection::vec(any::<u8>(), 0..16),
    ]
}

fn connect_json() -> impl Strategy<Value = String> {
    // Mostly echo on: with one connection, echo off means no MSG at all.
    (any::<bool>(), any::<bool>(), prop::bool::weighted(0.85), any::<bool>(), 0..=1i32).prop_map(|(verbose, pedantic, echo, nr, proto)| {
        format!(
            r#"{{"verbose":{verbose},"pedantic":{pedantic},"echo":{echo},"headers":true,"no_responders":{nr},"protocol":{proto},"name":"prop"}}"#
        )
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => connect_json().prop_map(Op::Connect),
        5 => (literal_subject(), prop::option::of(literal_subject()), payload())
            .prop_map(|(subject, reply, payload)| Op::Pub { subject, reply, payload }),
        2 => (literal_subject(), prop::option::of(literal_subject()), headers(), payload())
            .prop_map(|(subject, reply, headers, payload)| Op::HPub { subject, reply, headers, payload }),
        3 => (sub_subject(), prop::option::of(select(vec!["q", "workers"]).prop_map(str::to_string)), sid())
            .prop_map(|(subject, queue, sid)| Op::Sub { subject, queue, sid }),
        2 => (sid(), prop::option::of(prop_oneof![4 => 0u32..5, 1 => 0u32..=999_999_999]))
            .prop_map(|(sid, max)| Op::Unsub { sid, max }),
        2 => prop_oneof![3 => Just(String::new()), 1 => "[ a-z]{0,10}"].prop_map(|tail| Op::Ping { tail }),
        1 => Just(Op::Pong),
    ]
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<u8>(),
        select(vec![" ", "\t", "  ", " \t "]),
        select(vec!["", "", " ", "\t "]),
        prop::bool::weighted(0.8),
        prop_oneof![6 => Just(0u8), 1 => 1u8..=3],
    )
        .prop_map(|(case_bits, sep, trailing, crlf, zeros)| Style {
            case_bits,
            sep,
            trailing,
            crlf,
            zeros,
        })
}

/// A session: first a CONNECT (headers on, so HPUB is legal), then ops.
fn session() -> impl Strategy<Value = Vec<(Op, Style)>> {
    (
        connect_json(),
        style(),
        prop::collection::vec((op(), style()), 0..32),
    )
        .prop_map(|(json, st, mut ops)| {
            ops.insert(0, (Op::Connect(json), st));
            ops
        })
}

const LIMITS: Limits = Limits {
    max_control_line: 4096,
    max_payload: 1024 * 1024,
};

// ---------------------------------------------------------------------------
// Driving a Connection
// ---------------------------------------------------------------------------

/// What a connection wrote to its own socket, and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    written: Vec<u8>,
    closed: bool,
    reason: Option<natsd_core::CloseReason>,
    subscriptions: usize,
}

/// A fresh server (same seed every time, so ids and queue choices agree)
/// and one connection fed `input` cut into the given pieces, draining its
/// outbox after every call.
fn drive(input: &[u8], cuts: &[usize], now: Instant) -> Outcome {
    let server: Arc<Server> = Server::new(Options::default(), 7);
    let peer: SocketAddr = "127.0.0.1:4321".parse().unwrap();
    let mut conn = server.accept(peer, now);
    let mut written = drain(conn.outbox()).0;
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        if cut <= start {
            continue;
        }
        conn.receive(&input[start..cut], now);
        written.extend(drain(conn.outbox()).0);
        start = cut;
    }
    let subscriptions = server.global_account().sublist().count();
    Outcome {
        written,
        closed: conn.is_closed(),
        reason: conn.close_reason(),
        subscriptions,
    }
}

fn now() -> Instant {
    // The tests' only clock reading; every call below gets the same instant.
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `parse` over the whole stream reproduces the op list, each op using
    /// exactly the bytes it was encoded to.
    #[test]
    fn parse_reproduces_ops(ops in session()) {
        let frames: Vec<Vec<u8>> = ops.iter().map(|(op, st)| encode(op, st)).collect();
        let bytes = frames.concat();
        let mut rest = bytes.as_slice();
        for ((op, st), frame) in ops.iter().zip(&frames) {
            match parse(rest, &LIMITS) {
                Ok(Parsed::Op(got, used)) => {
                    prop_assert!(same_op(&got, op, st), "parsed {:?}\n expected {:?}\n from {:?}", got, op, String::from_utf8_lossy(frame));
                    prop_assert_eq!(used, frame.len(), "consumed length for {:?}", op);
                    rest = &rest[used..];
                }
                other => prop_assert!(false, "{:?} on {:?}", other, String::from_utf8_lossy(frame)),
            }
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(parse(rest, &LIMITS), Ok(Parsed::Partial(natsd_core::client::parser::Need::Line)));
    }

    /// Every proper prefix of a frame is `Partial`; the whole frame is one op.
    #[test]
    fn prefixes_are_partial((op, st) in (op(), style())) {
        let frame = encode(&op, &st);
        for n in 0..frame.len() {
            match parse(&frame[..n], &LIMITS) {
                Ok(Parsed::Partial(_)) => {}
                other => prop_assert!(false, "prefix {:?} of {:?}: {:?}", String::from_utf8_lossy(&frame[..n]), op, other),
            }
        }
        let whole = parse(&frame, &LIMITS);
        prop_assert!(matches!(whole, Ok(Parsed::Op(_, n)) if n == frame.len()), "{:?}", whole);
    }

    /// The connection's output does not depend on how reads split the input.
    #[test]
    fn connection_output_independent_of_splits(
        ops in session(),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let bytes: Vec<u8> = ops.iter().flat_map(|(op, st)| encode(op, st)).collect();
        let now = now();
        let whole = drive(&bytes, &[], now);
        prop_assert!(!whole.closed, "valid ops must not close the connection: {:?}\n{}", whole.reason, String::from_utf8_lossy(&whole.written));
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        let bytewise = drive(&bytes, &every_byte, now);
        prop_assert_eq!(
            String::from_utf8_lossy(&bytewise.written),
            String::from_utf8_lossy(&whole.written),
            "one byte per receive"
        );
        prop_assert_eq!(&bytewise, &whole);
        let mut random: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len().max(1))).collect();
        random.sort_unstable();
        random.dedup();
        let split = drive(&bytes, &random, now);
        prop_assert_eq!(
            String::from_utf8_lossy(&split.written),
            String::from_utf8_lossy(&whole.written),
            "split at {:?}", random
        );
        prop_assert_eq!(&split, &whole);
    }
}

/// The generator's encodings are what the spec allows; pin a few by hand so
/// a generator bug cannot make the properties vacuous.
#[test]
fn encodings_by_hand() {
    let st = Style {
        case_bits: 0b101,
        sep: "\t",
        trailing: " ",
        crlf: false,
        zeros: 2,
    };
    let op = Op::Pub {
        subject: "a.b".into(),
        reply: Some("r".into()),
        payload: b"x\r\ny".to_vec(),
    };
    assert_eq!(encode(&op, &st), b"PuB\ta.b\tr\t004 \nx\r\ny\r\n");
    let st = Style {
        case_bits: 0xff,
        sep: " ",
        trailing: "",
        crlf: true,
        zeros: 0,
    };
    let op = Op::HPub {
        subject: "s".into(),
        reply: None,
        headers: b"NATS/1.0\r\n\r\n".to_vec(),
        payload: b"hi".to_vec(),
    };
    assert_eq!(encode(&op, &st), b"HPUB s 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    let op = Op::Unsub {
        sid: "1".into(),
        max: Some(5),
    };
    assert_eq!(encode(&op, &st), b"UNSUB 1 5\r\n");
    let op = Op::Sub {
        subject: "a.*".into(),
        queue: Some("q".into()),
        sid: "9".into(),
    };
    assert_eq!(encode(&op, &st), b"SUB a.* q 9\r\n");
    let out = drive(b"SUB a 1\r\nPUB a 2\r\nhi\r\nPING\r\n", &[], now());
    let text = String::from_utf8_lossy(&out.written);
    assert!(
        text.ends_with("+OK\r\n+OK\r\nMSG a 1 2\r\nhi\r\nPONG\r\n"),
        "{text}"
    );
}
