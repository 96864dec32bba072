//! `http_request`: arbitrary bytes, split at arbitrary points, fed to the
//! monitoring port's request-head reader (`monitor::HeadReader`), and the
//! head it accepts answered by `monitor::handle` on a server with a few
//! clients (live, subscribed, closed).
//!
//! Input layout (kept byte-oriented so seeds are plain requests):
//!   byte 0      config bits:
//!                 0: `http_base_path` is `/mon` instead of `/`
//!   byte 1      k = number of split points (0..=32)
//!   2k bytes    split points, u16 little-endian, taken modulo the length
//!   rest        the bytes the HTTP client sends
//!
//! Properties:
//! * nothing panics;
//! * the reader's outcome (head, error or still partial) is the same for
//!   one read, for the reads split at the given points and, for short
//!   inputs, for one byte per read; once decided, further reads are refused;
//! * two identically built servers give byte-identical responses to the
//!   one-read and the split-read outcome (the answer depends on the request
//!   only, not on how it arrived);
//! * every response starts with `HTTP/1.0 NNN reason\r\n` or `HTTP/1.1 …`
//!   (NNN in 100..=599, reason not empty), has a `Content-Length` equal to
//!   its body (no body for `HEAD`), ends its head with a blank line, and a
//!   200 `application/json` body is valid JSON.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use natsd_core::monitor::{self, HeadReader, Parse, Response, MAX_HEAD};
use natsd_core::{CloseReason, Connection, Options, Server};

/// One instant for the whole run: the core gets time only as input, and the
/// two servers compared must see the same clock.
fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

const UNIX: Duration = Duration::from_secs(1_795_660_675);

/// A server with something to show in every endpoint: two live clients
/// (plain and queue subscriptions, messages in and out) and a closed one.
fn server(cfg: u8) -> (Arc<Server>, Vec<Connection>) {
    let mut o = Options {
        max_closed_clients: 4,
        ..Options::default()
    };
    if cfg & 1 != 0 {
        o.http_base_path = "/mon".into();
    }
    let server = Server::new(o, 7);
    let t0 = t0();
    server
        .monitor()
        .set_started(t0, UNIX - Duration::from_secs(75));
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut a = server.accept(peer, t0);
    let mut b = server.accept(peer, t0);
    let mut gone = server.accept(peer, t0);
    a.receive(
        b"CONNECT {\"name\":\"a\",\"lang\":\"rust\",\"version\":\"1\"}\r\nSUB foo.> 1\r\nSUB work q1 2\r\n",
        t0,
    );
    b.receive(
        b"CONNECT {}\r\nSUB foo.a 7\r\nPUB foo.a 2\r\nhi\r\nPUB foo.b 1\r\nx\r\n",
        t0,
    );
    gone.receive(b"CONNECT {\"name\":\"gone\"}\r\nPUB foo.a 3\r\nbye\r\n", t0);
    gone.close(CloseReason::ClientClosed);
    // The live connections must outlive the requests.
    (server, vec![a, b])
}

/// Feeds `chunks` in order; returns the first decided outcome (or
/// `Partial`) and checks that a decided reader refuses more bytes.
fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Parse {
    let mut reader = HeadReader::new();
    let mut outcome = Parse::Partial;
    for chunk in chunks {
        let p = reader.push(chunk);
        match outcome {
            Parse::Partial => outcome = p,
            _ => assert_eq!(
                p,
                Parse::Error(monitor::HeadError::BadRequest),
                "a decided reader took more bytes"
            ),
        }
    }
    outcome
}

fn respond(server: &Server, outcome: &Parse) -> Option<Vec<u8>> {
    let resp = match outcome {
        Parse::Partial => return None,
        Parse::Complete(req) => monitor::handle(server, req, t0() + Duration::from_secs(75), UNIX),
        Parse::Error(e) => Response::for_head_error(*e),
    };
    let bytes = resp.to_bytes();
    check_response(&resp, &bytes);
    Some(bytes)
}

fn check_response(resp: &Response, bytes: &[u8]) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head ends with a blank line");
    let head = std::str::from_utf8(&bytes[..end]).expect("response head is UTF-8");
    let body = &bytes[end + 4..];
    let status_line = head.split("\r\n").next().unwrap();
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let (code, reason) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    assert!(
        code.len() == 3
            && code.bytes().all(|b| b.is_ascii_digit())
            && (100..=599).contains(&code.parse::<u16>().unwrap())
            && code.parse::<u16>().unwrap() == resp.status,
        "bad status code in {status_line:?}"
    );
    assert!(!reason.is_empty(), "no reason phrase in {status_line:?}");
    let length = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse::<usize>()
        .expect("numeric Content-Length");
    assert_eq!(length, resp.body.len(), "Content-Length");
    if resp.head_only {
        assert!(body.is_empty(), "HEAD answered with a body");
    } else {
        assert_eq!(body, resp.body.as_slice());
    }
    if resp.status == 200 && resp.content_type == "application/json" {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&resp.body) {
            panic!(
                "invalid JSON ({e}): {}",
                String::from_utf8_lossy(&resp.body)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let Some((&k, rest)) = rest.split_first() else {
        return;
    };
    let k = (k as usize % 33).min(rest.len() / 2);
    let (cut_bytes, input) = rest.split_at(2 * k);
    // Bounded like the runtimes' reads: more than a head is never needed.
    let input = &input[..input.len().min(MAX_HEAD + 64)];

    let whole = feed([input]);

    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize % (input.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for c in cuts {
        chunks.push(&input[from..c]);
        from = c;
    }
    chunks.push(&input[from..]);
    let split = feed(chunks);
    assert_eq!(whole, split, "split reads gave another outcome");
    if input.len() <= 512 {
        assert_eq!(
            whole,
            feed(input.chunks(1)),
            "one byte per read gave another outcome"
        );
    }

    let one = respond(&server(cfg).0, &whole);
    let two = respond(&server(cfg).0, &split);
    assert_eq!(one, two, "identical servers answered differently");
});
