//! natsd-core embedded in a hand-written, single-threaded `std::net` loop:
//! no async runtime, no threads, nothing but nonblocking sockets and a short
//! sleep when there is nothing to do. It shows the whole contract between
//! the sans-IO core and whoever does the I/O, in about 200 lines.
//!
//! ```text
//! cargo run -p natsd-core --example std_loop -- --port 4222 [--exit-after-secs 60]
//! ```
//!
//! `--port 0` binds a free port; the address actually bound is printed as
//! `listening on <addr>` on the first line of standard output.
//!
//! ## The loop
//!
//! Each turn, with one `now` read from the clock:
//! 1. accept every pending connection: `server.accept(peer, now)`;
//! 2. read every socket until it would block: `conn.receive(bytes, now)`,
//!    and on EOF `conn.close(CloseReason::ClientClosed)`;
//! 3. run due timers: `conn.handle_timeout(now)` once `poll_timeout()` has
//!    passed;
//! 4. write every outbox: `take` its bytes, write what the socket accepts,
//!    report it with `written`, keep the rest for the next turn (and say
//!    `write_blocked` when the socket is full); drop the peer once `take`
//!    says `Take::Closed`.
//!
//! ## Why poll every outbox with a no-op waker
//!
//! A PUB read on one connection appends MSGs to the outboxes of *other*
//! connections, and the core tells their writers by waking the `Waker`
//! registered through `take`. A multi-threaded runtime registers a real
//! waker per writer task. With a single thread that visits every outbox on
//! every turn anyway, nothing ever needs waking: step 4 finds all new bytes
//! no matter which connection's input produced them. So this loop passes
//! `Waker::noop()` and polls every outbox each turn: the simplest approach
//! that is still correct. (It costs one uncontended lock per connection per
//! turn; a server with very many idle connections would track wakes
//! instead.)

// This is the host side of the contract: it owns the clock, the sockets,
// the sleeping and the standard streams that the core itself may not use
// (see core/clippy.toml).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use natsd_core::{CloseReason, Connection, Options, Server, Take};

/// One client: its socket, its protocol state, and output taken from its
/// outbox but not yet accepted by the socket.
struct Peer {
    stream: TcpStream,
    conn: Connection,
    out: Vec<u8>,
    out_pos: usize,
    /// Since when the socket has refused all writes while we had output.
    stalled_since: Option<Instant>,
    eof: bool,
}

struct Args {
    port: u16,
    exit_after: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 4222,
        exit_after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" | "-p" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--exit-after-secs" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--exit-after-secs: {e}"))?;
                args.exit_after = Some(Duration::from_secs(secs));
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> io::Result<()> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("std_loop: {e}");
            }
            eprintln!("usage: std_loop [--port N] [--exit-after-secs N]");
            std::process::exit(if e.is_empty() { 0 } else { 2 });
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", args.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    // The core draws no randomness of its own: the host seeds it.
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let opts = Options {
        host: addr.ip().to_string(),
        port: addr.port(),
        ..Options::default()
    };
    let server: Arc<Server> = Server::new(opts, seed);
    server.set_port(addr.port());

    println!("listening on {addr}");
    io::stdout().flush()?;

    let started = Instant::now();
    let mut peers: Vec<Peer> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if args
            .exit_after
            .is_some_and(|d| now.duration_since(started) >= d)
        {
            break;
        }
        let mut busy = false;

        // 1. Accept.
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    stream.set_nonblocking(true)?;
                    let _ = stream.set_nodelay(true);
                    let conn = server.accept(peer, now);
                    peers.push(Peer {
                        stream,
                        conn,
                        out: Vec::new(),
                        out_pos: 0,
                        stalled_since: None,
                        eof: false,
                    });
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("std_loop: accept: {e}");
                    break;
                }
            }
        }

        // 2. Read.
        for p in &mut peers {
            while !p.eof && !p.conn.is_closed() {
                match p.stream.read(&mut buf) {
                    Ok(0) => {
                        p.eof = true;
                        p.conn.close(CloseReason::ClientClosed);
                    }
                    Ok(n) => {
                        p.conn.receive(&buf[..n], now);
                        busy = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        p.eof = true;
                        p.conn.close(CloseReason::ReadError);
                    }
                }
            }
        }

        // 3. Timers.
        for p in &mut peers {
            if p.conn.poll_timeout().is_some_and(|t| t <= now) {
                p.conn.handle_timeout(now);
            }
        }

        // 4. Write every outbox (see the module docs for why every one).
        let write_deadline = server.options().write_deadline;
        peers.retain_mut(|p| {
            let keep = flush(p, now, write_deadline, &mut busy);
            if !keep {
                let _ = p.stream.shutdown(Shutdown::Both);
            }
            keep
        });

        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// Writes what `p`'s outbox holds, as far as the socket takes it. Returns
/// false once the connection is finished and the socket should be dropped.
fn flush(p: &mut Peer, now: Instant, write_deadline: Duration, busy: &mut bool) -> bool {
    let outbox = p.conn.outbox().clone();
    loop {
        while p.out_pos < p.out.len() {
            match p.stream.write(&p.out[p.out_pos..]) {
                Ok(0) => {
                    p.conn.close(CloseReason::ReadError);
                    return false;
                }
                Ok(n) => {
                    p.out_pos += n;
                    outbox.written(n);
                    p.stalled_since = None;
                    *busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // What we hold now counts towards max_pending.
                    outbox.write_blocked();
                    // A peer that accepts nothing for write_deadline is a
                    // slow consumer; the core decides what that means.
                    let since = *p.stalled_since.get_or_insert(now);
                    if now.duration_since(since) >= write_deadline {
                        outbox.write_timed_out();
                        return false;
                    }
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    p.conn.close(CloseReason::ReadError);
                    return false;
                }
            }
        }
        p.out.clear();
        p.out_pos = 0;
        match outbox.take(&mut p.out, Waker::noop()) {
            Take::Data => {}
            Take::Empty => return true,
            Take::Closed => return false,
        }
    }
}
