//! A deterministic in-memory fixture for driving natsd-core, shared by the
//! integration tests: several [`Connection`]s on one [`Server`], a simulated
//! clock (one real `Instant` taken once, then only offsets from it), and
//! "sockets" that are byte vectors, drained after every step exactly as a
//! runtime must (see the drain rule in `src/connection.rs`).
//!
//! Also a small parser for what the server writes, so tests can talk about
//! `MSG`s and `-ERR`s instead of byte offsets.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use natsd_core::{CloseReason, Connection, Options, Outbox, Server, Take};

/// Everything `take` hands out until the outbox is empty (or closed), as a
/// runtime's writer would, reporting every byte as written. Returns the
/// bytes and whether the outbox said [`Take::Closed`].
pub(crate) fn drain(outbox: &Outbox) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut spare = Vec::new();
    loop {
        match outbox.take(&mut spare, Waker::noop()) {
            Take::Data => {
                outbox.written(spare.len());
                all.append(&mut spare);
            }
            Take::Empty => return (all, false),
            Take::Closed => return (all, true),
        }
    }
}

/// A peer address for the n-th simulated client.
pub(crate) fn peer(n: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000 + n as u16)
}

/// One simulated client: its server-side connection and its socket.
pub(crate) struct Client {
    pub(crate) conn: Connection,
    /// Everything the server wrote to this client's socket, in order.
    pub(crate) received: Vec<u8>,
    /// What `take_new` has already returned.
    read_pos: usize,
    /// When each chunk arrived (simulated time since start, bytes).
    pub(crate) events: Vec<(Duration, Vec<u8>)>,
    /// False: the client never reads its socket (a slow consumer).
    pub(crate) reading: bool,
    /// The outbox said [`Take::Closed`]: the socket is gone.
    pub(crate) socket_closed: bool,
}

/// The simulated world: one server, many clients, one clock.
pub(crate) struct Sim {
    pub(crate) server: Arc<Server>,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) clients: Vec<Client>,
}

impl Sim {
    pub(crate) fn new(opts: Options) -> Sim {
        Sim::with_seed(opts, 0x5eed)
    }

    pub(crate) fn with_seed(opts: Options, seed: u64) -> Sim {
        // The only reading of a real clock: every later instant is `start`
        // plus a simulated offset.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Sim {
            server: Server::new(opts, seed),
            start,
            now: start,
            clients: Vec::new(),
        }
    }

    /// Simulated time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Accepts a new client; returns its index. Its INFO (and anything else
    /// queued at accept) is already drained into `received`.
    pub(crate) fn connect(&mut self) -> usize {
        let n = self.clients.len();
        let conn = self.server.accept(peer(n), self.now);
        self.clients.push(Client {
            conn,
            received: Vec::new(),
            read_pos: 0,
            events: Vec::new(),
            reading: true,
            socket_closed: false,
        });
        self.drain_all();
        n
    }

    /// Accepts a client and sends it `CONNECT <json>`; the INFO is consumed.
    pub(crate) fn connect_with(&mut self, connect_json: &str) -> usize {
        let c = self.connect();
        let info = self.take_new(c);
        assert!(
            info.starts_with(b"INFO {"),
            "expected INFO, got {:?}",
            String::from_utf8_lossy(&info)
        );
        self.send(c, format!("CONNECT {connect_json}\r\n").as_bytes());
        c
    }

    /// Bytes read from client `c`'s socket, then every socket drained.
    pub(crate) fn send(&mut self, c: usize, bytes: &[u8]) {
        let now = self.now;
        self.clients[c].conn.receive(bytes, now);
        self.drain_all();
    }

    /// The same bytes, delivered in reads of at most `chunk` bytes.
    pub(crate) fn send_chunked(&mut self, c: usize, bytes: &[u8], chunk: usize) {
        for piece in bytes.chunks(chunk.max(1)) {
            self.send(c, piece);
        }
    }

    /// Moves the clock forward by `d`, running every timer that falls due on
    /// the way at its exact instant, in order, draining after each.
    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            let due = self
                .clients
                .iter()
                .enumerate()
                .filter(|(_, cl)| !cl.socket_closed)
                .filter_map(|(i, cl)| cl.conn.poll_timeout().map(|t| (t, i)))
                .filter(|(t, _)| *t <= target)
                .min();
            let Some((t, i)) = due else { break };
            self.now = self.now.max(t);
            let now = self.now;
            self.clients[i].conn.handle_timeout(now);
            self.drain_all();
        }
        self.now = target;
    }

    /// Drains every outbox whose client reads its socket.
    pub(crate) fn drain_all(&mut self) {
        let at = self.now - self.start;
        for cl in &mut self.clients {
            if !cl.reading || cl.socket_closed {
                continue;
            }
            let (bytes, closed) = drain(cl.conn.outbox());
            if !bytes.is_empty() {
                cl.received.extend_from_slice(&bytes);
                cl.events.push((at, bytes));
            }
            cl.socket_closed |= closed;
        }
    }

    /// What client `c` received since the last call.
    pub(crate) fn take_new(&mut self, c: usize) -> Vec<u8> {
        let cl = &mut self.clients[c];
        let out = cl.received[cl.read_pos..].to_vec();
        cl.read_pos = cl.received.len();
        out
    }

    /// What client `c` received since the last call, parsed.
    pub(crate) fn ops_new(&mut self, c: usize) -> Vec<ServerOp> {
        let bytes = self.take_new(c);
        parse_server_ops(&bytes)
    }

    pub(crate) fn close_reason(&self, c: usize) -> Option<CloseReason> {
        self.clients[c].conn.close_reason()
    }
}

/// One frame written by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerOp {
    Info(serde_json::Value),
    Msg {
        subject: String,
        sid: String,
        reply: Option<String>,
        payload: Vec<u8>,
    },
    HMsg {
        subject: String,
        sid: String,
        reply: Option<String>,
        headers: Vec<u8>,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    Ok,
    Err(String),
}

impl ServerOp {
    pub(crate) fn sid(&self) -> Option<&str> {
        match self {
            ServerOp::Msg { sid, .. } | ServerOp::HMsg { sid, .. } => Some(sid),
            _ => None,
        }
    }
}

/// Parses a complete stream of server frames; panics on anything malformed
/// (the server must never write that) or on a trailing partial frame.
pub(crate) fn parse_server_ops(mut b: &[u8]) -> Vec<ServerOp> {
    let mut ops = Vec::new();
    while !b.is_empty() {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap_or_else(|| {
            panic!(
                "server frame without CRLF: {:?}",
                String::from_utf8_lossy(b)
            )
        });
        let line = std::str::from_utf8(&b[..nl]).expect("control line is UTF-8");
        let mut rest = &b[nl + 2..];
        let (name, args) = line.split_once(' ').unwrap_or((line, ""));
        let words: Vec<&str> = args.split(' ').filter(|w| !w.is_empty()).collect();
        let mut body = |len: usize| -> Vec<u8> {
            assert!(rest.len() >= len + 2, "truncated body in {line:?}");
            assert_eq!(
                &rest[len..len + 2],
                b"\r\n",
                "body of {line:?} not followed by CRLF"
            );
            let body = rest[..len].to_vec();
            rest = &rest[len + 2..];
            body
        };
        let op = match name {
            "INFO" => {
                assert!(
                    args.ends_with("} "),
                    "INFO must end with `}} \\r\\n`: {line:?}"
                );
                ServerOp::Info(serde_json::from_str(args.trim_end()).expect("INFO JSON"))
            }
            "MSG" => {
                let (subject, sid, reply, len) = match words.as_slice() {
                    [s, i, n] => (s, i, None, n),
                    [s, i, r, n] => (s, i, Some(r.to_string()), n),
                    _ => panic!("bad MSG line {line:?}"),
                };
                let payload = body(len.parse().expect("MSG size"));
                ServerOp::Msg {
                    subject: subject.to_string(),
                    sid: sid.to_string(),
                    reply,
                    payload,
                }
            }
            "HMSG" => {
                let (subject, sid, reply, hdr, total) = match words.as_slice() {
                    [s, i, h, t] => (s, i, None, h, t),
                    [s, i, r, h, t] => (s, i, Some(r.to_string()), h, t),
                    _ => panic!("bad HMSG line {line:?}"),
                };
                let hdr: usize = hdr.parse().expect("HMSG header size");
                let all = body(total.parse().expect("HMSG total size"));
                ServerOp::HMsg {
                    subject: subject.to_string(),
                    sid: sid.to_string(),
                    reply,
                    headers: all[..hdr].to_vec(),
                    payload: all[hdr..].to_vec(),
                }
            }
            "PING" => ServerOp::Ping,
            "PONG" => ServerOp::Pong,
            "+OK" => ServerOp::Ok,
            "-ERR" => {
                let text = args
                    .strip_prefix('\'')
                    .and_then(|a| a.strip_suffix('\''))
                    .expect("-ERR text in quotes");
                ServerOp::Err(text.to_string())
            }
            other => panic!("unknown server op {other:?} in {line:?}"),
        };
        ops.push(op);
        b = rest;
    }
    ops
}

/// `PUB subject n\r\npayload\r\n`.
pub(crate) fn pub_frame(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut f = format!("PUB {subject} {}\r\n", payload.len()).into_bytes();
    f.extend_from_slice(payload);
    f.extend_from_slice(b"\r\n");
    f
}

/// A MSG frame's payload as text, for readable assertions.
pub(crate) fn msg(subject: &str, sid: &str, payload: &str) -> ServerOp {
    ServerOp::Msg {
        subject: subject.into(),
        sid: sid.into(),
        reply: None,
        payload: payload.as_bytes().to_vec(),
    }
}

pub(crate) fn err(text: &str) -> ServerOp {
    ServerOp::Err(text.to_string())
}
