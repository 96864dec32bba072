//! `connection`: arbitrary bytes, split at arbitrary points, fed to a
//! `Connection` (with a second, subscribed connection on the same server so
//! deliveries to other outboxes happen too).
//!
//! Input layout (kept byte-oriented so seeds are plain transcripts):
//!   byte 0      config bits:
//!                 0: tiny limits (max_control_line 64, max_payload 256,
//!                    max_pending 2048) instead of the defaults
//!                 1: auth required (user "u", password "p")
//!                 2: the client never reads its socket (own outbox never
//!                    drained: a slow consumer of its own replies)
//!                 3: the subscriber never reads its socket
//!                 4: the clock moves 300 ms per read, timers run
//!   byte 1      k = number of split points (0..=32)
//!   2k bytes    split points, u16 little-endian, taken modulo the length
//!   rest        the bytes the client sends
//!
//! Properties:
//! * nothing panics;
//! * after every input call, each outbox's pending bytes stay within
//!   `max_pending` plus one frame;
//! * once a connection is closed its outbox takes no more bytes: what it
//!   hands out after the close is what was queued at the close, and `take`
//!   keeps saying `Closed` after that;
//! * without the clock moving, the bytes both connections receive and the
//!   close reasons are the same whether the input comes in one read or
//!   split at the given points (spec §2: any split is fine).

#![no_main]

use std::net::SocketAddr;
use std::task::Waker;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use natsd_core::{CloseReason, Connection, Options, Outbox, Server, Take};

const SUBSCRIBER_SETUP: &[u8] =
    b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB > 1\r\nSUB * q 2\r\nSUB _INBOX.> 3\r\n";

fn options(cfg: u8) -> Options {
    let mut o = Options::default();
    if cfg & 1 != 0 {
        o.max_control_line = 64;
        o.max_payload = 256;
        o.max_pending = 2048;
    }
    if cfg & 2 != 0 {
        o.user = Some("u".into());
        o.password = Some("p".into());
    }
    o.ping_interval = Duration::from_secs(1);
    o
}

/// One simulated socket: what was written to it, and the close contract.
struct Sock {
    reading: bool,
    got: Vec<u8>,
    /// Pending bytes when the connection was first seen closed.
    pending_at_close: Option<usize>,
    /// Bytes handed out after the close was first seen.
    after_close: usize,
    finished: bool,
}

impl Sock {
    fn new(reading: bool) -> Sock {
        Sock {
            reading,
            got: Vec::new(),
            pending_at_close: None,
            after_close: 0,
            finished: false,
        }
    }

    /// Drains (if reading) and checks the outbox invariants.
    fn step(&mut self, conn: &Connection, limit: usize, force: bool) {
        let outbox: &Outbox = conn.outbox();
        let pending = outbox.pending();
        assert!(
            pending <= limit,
            "pending {pending} over max_pending + one frame ({limit})"
        );
        if conn.is_closed() && self.pending_at_close.is_none() {
            self.pending_at_close = Some(pending);
        }
        if let Some(at_close) = self.pending_at_close {
            assert!(
                pending <= at_close - self.after_close.min(at_close),
                "outbox grew after close: {pending} > {at_close}"
            );
        }
        if !(self.reading || force) {
            return;
        }
        let mut spare = Vec::new();
        loop {
            match outbox.take(&mut spare, Waker::noop()) {
                Take::Data => {
                    assert!(!self.finished, "data after take() said Closed");
                    if self.pending_at_close.is_some() {
                        self.after_close += spare.len();
                    }
                    outbox.written(spare.len());
                    self.got.append(&mut spare);
                }
                Take::Empty => break,
                Take::Closed => {
                    self.finished = true;
                    break;
                }
            }
        }
        if let Some(at_close) = self.pending_at_close {
            assert!(
                self.after_close <= at_close,
                "{} bytes written after close, {at_close} were queued",
                self.after_close
            );
        }
    }
}

/// What the two sockets saw, and how the connections ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    client: Vec<u8>,
    subscriber: Vec<u8>,
    client_reason: Option<CloseReason>,
    subscriber_reason: Option<CloseReason>,
}

fn run(cfg: u8, input: &[u8], cuts: &[usize], drain: bool, now0: Instant) -> Outcome {
    let opts = options(cfg);
    // The largest single append: a MSG/HMSG of max_payload with a control
    // line of at most 3 × max_control_line, or an INFO.
    let limit = opts.max_pending + opts.max_payload + 3 * opts.max_control_line + 2048;
    let server = Server::new(opts, 42);
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let mut now = now0;
    let mut sub = server.accept(addr(1), now);
    let mut sub_sock = Sock::new(drain && cfg & 8 == 0);
    sub.receive(if cfg & 2 != 0 { b"CONNECT {\"user\":\"u\",\"pass\":\"p\",\"verbose\":false,\"headers\":true}\r\nSUB > 1\r\nSUB * q 2\r\n" } else { SUBSCRIBER_SETUP }, now);
    sub_sock.step(&sub, limit, false);
    let mut conn = server.accept(addr(2), now);
    let mut sock = Sock::new(drain && cfg & 4 == 0);
    sock.step(&conn, limit, false);

    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        if cut < start {
            continue;
        }
        conn.receive(&input[start..cut], now);
        start = cut;
        sock.step(&conn, limit, false);
        sub_sock.step(&sub, limit, false);
        if cfg & 16 != 0 {
            now += Duration::from_millis(300);
            for c in [&mut conn, &mut sub] {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
            sock.step(&conn, limit, false);
            sub_sock.step(&sub, limit, false);
        }
    }
    // The peer goes away; everything still queued is written.
    let closed_before = conn.is_closed();
    conn.close(CloseReason::ClientClosed);
    if !closed_before {
        assert!(conn.is_closed());
    }
    sock.step(&conn, limit, true);
    sub_sock.step(&sub, limit, true);
    // A closed connection ignores further input and produces nothing.
    conn.receive(b"PING\r\nSUB x 9\r\n", now);
    conn.handle_timeout(now + Duration::from_secs(3600));
    sock.step(&conn, limit, true);
    assert!(
        sock.finished,
        "take() must say Closed once the connection is closed and drained"
    );
    Outcome {
        client: sock.got,
        subscriber: sub_sock.got,
        client_reason: conn.close_reason(),
        subscriber_reason: sub.close_reason(),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let cfg = data[0];
    let k = usize::from(data[1] % 33);
    let Some(rest) = data.get(2..) else { return };
    let (cut_bytes, input) = rest.split_at((2 * k).min(rest.len()));
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();

    // One reading of the clock; every instant below is an offset from it.
    let now = Instant::now();
    run(cfg, input, &cuts, true, now);

    if cfg & 16 == 0 {
        // Split invariance, with nobody reading until the end (so a slow
        // consumer is decided by the same appends in both runs).
        let whole = run(cfg, input, &[], false, now);
        let split = run(cfg, input, &cuts, false, now);
        assert_eq!(
            whole,
            split,
            "output differs between one read and reads split at {cuts:?}\nclient: {:?}\n  vs   {:?}",
            String::from_utf8_lossy(&whole.client),
            String::from_utf8_lossy(&split.client),
        );
    }
});
