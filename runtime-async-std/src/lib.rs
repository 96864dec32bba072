//! natsd on async-std: glue between async-std sockets and timers and the
//! sans-IO core. All NATS logic is in `natsd-core`.
//!
//! async-std is discontinued upstream (RUSTSEC-2025-0052, unmaintained). We
//! ship this adapter because users asked for it, but keep its async-std
//! surface to the minimum so that moving it to another runtime is a small
//! edit: `async_std::net::{TcpListener, TcpStream}`, `async_std::task::spawn`
//! and two timers (`task::sleep`, `future::timeout`). Everything else is
//! std, `futures` (the `AsyncRead`/`AsyncWrite` traits, `block_on`) or core.
//!
//! async-std has no readiness API like tokio's `try_read`/`try_write`, so
//! each connection is two tasks:
//!
//! * the reader owns the [`Connection`]: it feeds it socket bytes and runs
//!   its timers, and stops once the connection is closed;
//! * the writer drains the [`Outbox`]; when the outbox reports
//!   [`Take::Closed`] it shuts the socket down both ways, which also ends a
//!   reader still waiting in `read`.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_std::net::{TcpListener, TcpStream};
use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use natsd_core::{CloseReason, Outbox, Server, Session, Take};

/// Size of the per-thread read buffer. Reads happen inside a single `poll`
/// (never across an `.await`), so connections own no read buffer of their
/// own and idle ones cost little.
const READ_BUF: usize = 64 * 1024;

/// Reads per wake-up before yielding to other connections (async-std's
/// executor has no cooperative budget of its own).
const READS_PER_TURN: usize = 16;

thread_local! {
    static READ: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// Sizes async-std's executor to one worker per core (as the other
/// binaries do) unless the user set `ASYNC_STD_THREAD_COUNT`. Call before
/// anything touches async-std and before other threads exist.
pub fn init_worker_threads() {
    const VAR: &str = "ASYNC_STD_THREAD_COUNT";
    if std::env::var_os(VAR).is_none() {
        std::env::set_var(VAR, natsd_host::worker_threads().to_string());
    }
}

/// Binds the client listener and serves until SIGTERM or SIGINT (which
/// exit the process from natsd-host's signal thread).
pub async fn run(server: Arc<Server>) -> io::Result<()> {
    natsd_host::signals::install(server.clone())?;
    let o = server.options();
    let listener = TcpListener::bind((o.host.as_str(), o.port)).await?;
    natsd_host::raise_backlog(listener.as_raw_fd());
    if let Some((host, port)) = natsd_host::monitor_addr(&server) {
        let http = TcpListener::bind((host.as_str(), port)).await?;
        natsd_host::monitor_ready(&server, http.local_addr()?);
        async_std::task::spawn(monitor(server.clone(), http));
    }
    natsd_host::ready(&server, listener.local_addr()?);
    if let Some((host, port)) = server.routes().listen_addr() {
        let routes = TcpListener::bind((host.as_str(), port)).await?;
        natsd_host::routes::listening(&server, routes.local_addr()?);
        let accepting = server.clone();
        async_std::task::spawn(accept_loop(server.clone(), routes, "route", move |peer| {
            accepting.accept_route(peer, Instant::now())
        }));
        let dialing = server.clone();
        natsd_host::routes::spawn_dialer(server.clone(), move |stream, peer, req| {
            let server = dialing.clone();
            async_std::task::spawn(async move {
                let stream = TcpStream::from(stream);
                let conn = server.dial_route(&req, peer, Instant::now());
                serve(server, stream, conn).await;
            });
        })?;
    }
    let accepting = server.clone();
    accept_loop(server, listener, "client", move |peer| {
        accepting.accept(peer, Instant::now())
    })
    .await;
    Ok(())
}

/// Accepts connections forever, serving each with the state machine
/// `make` returns for its peer (clients and routes alike).
async fn accept_loop<S, F>(server: Arc<Server>, listener: TcpListener, what: &str, make: F)
where
    S: Session + 'static,
    F: Fn(SocketAddr) -> S,
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                async_std::task::spawn(serve(server.clone(), stream, make(peer)));
            }
            Err(e) => {
                log::error!("Error accepting {what} connection: {e}");
                async_std::task::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accepts HTTP monitoring connections: a task for each, bounded in time.
async fn monitor(server: Arc<Server>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let served = serve_http(server.clone(), stream);
                async_std::task::spawn(async_std::future::timeout(
                    natsd_host::HTTP_TIMEOUT,
                    served,
                ));
            }
            Err(e) => {
                log::error!("Error accepting monitoring connection: {e}");
                async_std::task::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads one request head, writes the answer and closes; what the peer
/// sends after the head is read and dropped, so closing does not reset
/// the connection before the peer has read the answer.
async fn serve_http(server: Arc<Server>, mut stream: TcpStream) -> io::Result<()> {
    use futures::io::AsyncReadExt;
    let mut head = natsd_core::monitor::HeadReader::new();
    let mut buf = [0u8; 4096];
    let reply = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if let Some(reply) = natsd_host::http_reply(&server, head.push(&buf[..n])) {
            break reply;
        }
    };
    stream.write_all(&reply).await?;
    stream.shutdown(Shutdown::Write)?;
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Drives one connection (client or route) to its end: this task reads, a
/// spawned one writes. `conn` is dropped only after the writer is done, as
/// with tokio.
async fn serve<S: Session>(server: Arc<Server>, stream: TcpStream, mut conn: S) {
    let _ = stream.set_nodelay(true);
    let peer = conn.peer();
    let writer = write_loop(
        stream.clone(),
        peer,
        conn.outbox().clone(),
        server.options().write_deadline,
    );
    let writer = async_std::task::spawn(writer);
    read_loop(&stream, &mut conn).await;
    writer.await;
}

/// Feeds the connection until it is closed: by the core (the writer then
/// drains and shuts the socket), by EOF or a read error, or by the writer
/// shutting the socket (slow consumer, write error), which reads as EOF.
async fn read_loop<S: Session>(stream: &TcpStream, conn: &mut S) {
    let mut timer = Timer::default();
    while !conn.is_closed() {
        timer.arm(conn.poll_timeout());
        match poll_fn(|cx| poll_input(cx, stream, conn, &mut timer)).await {
            Input::Eof => conn.close(CloseReason::ClientClosed),
            Input::Timer => conn.handle_timeout(Instant::now()),
            Input::Rearm => {}
        }
    }
}

/// Why [`poll_input`] returned to the read loop.
enum Input {
    /// EOF or a read error.
    Eof,
    /// `poll_timeout` passed.
    Timer,
    /// Bytes were fed and the connection closed or its timeout moved.
    Rearm,
}

/// Waits for the timer or for bytes, feeding what is read to the core from
/// the per-thread buffer. Returns only when the read loop must act, so a
/// busy connection costs no extra `read` calls.
fn poll_input<S: Session>(
    cx: &mut Context<'_>,
    stream: &TcpStream,
    conn: &mut S,
    timer: &mut Timer,
) -> Poll<Input> {
    if timer.poll(cx).is_ready() {
        return Poll::Ready(Input::Timer);
    }
    READ.with(|buf| {
        let mut buf = buf.borrow_mut();
        for _ in 0..READS_PER_TURN {
            match Pin::new(&mut &*stream).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Input::Eof),
                Poll::Ready(Ok(n)) => {
                    conn.receive(&buf[..n], Instant::now());
                    if conn.is_closed() || conn.poll_timeout() != timer.at {
                        return Poll::Ready(Input::Rearm);
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Input::Eof),
            }
        }
        // Still readable: let other tasks run, then come straight back.
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// The reader's one timer, re-created only when `poll_timeout` changes
/// (rarely: at CONNECT and at each ping interval), not per read.
#[derive(Default)]
struct Timer {
    at: Option<Instant>,
    sleep: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Timer {
    fn arm(&mut self, at: Option<Instant>) {
        if at != self.at {
            self.at = at;
            self.sleep = at.map(|d| {
                let sleep = async_std::task::sleep(d.saturating_duration_since(Instant::now()));
                Box::pin(sleep) as Pin<Box<dyn Future<Output = ()> + Send>>
            });
        }
    }

    /// Ready once when the deadline passes; disarmed afterwards.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(sleep) = &mut self.sleep else {
            return Poll::Pending;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        *self = Timer::default();
        Poll::Ready(())
    }
}

/// Writes what the outbox hands out until it reports `Closed`, a write
/// fails, or a write makes no progress for `write_deadline`; then shuts
/// the socket down both ways so the reader's `read` returns too.
async fn write_loop(
    stream: TcpStream,
    peer: SocketAddr,
    outbox: Arc<Outbox>,
    write_deadline: Duration,
) {
    let mut buf = Vec::new();
    loop {
        let take = poll_fn(|cx| match outbox.take(&mut buf, cx.waker()) {
            Take::Empty => Poll::Pending,
            t => Poll::Ready(t),
        })
        .await;
        if take == Take::Closed {
            break;
        }
        match write_all(&stream, &buf, &outbox, write_deadline).await {
            Ok(true) => buf.clear(),
            Ok(false) => {
                outbox.write_timed_out();
                break;
            }
            Err(e) => {
                log::debug!("{peer} - cid:{} - write error: {e}", outbox.cid());
                outbox.close(CloseReason::ReadError, false);
                break;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Writes all of `buf`, reporting progress to the outbox. False if one
/// write call made no progress within `deadline`. The timeout polls the
/// write first, so a write that completes at once never touches the timer.
async fn write_all(
    stream: &TcpStream,
    buf: &[u8],
    outbox: &Outbox,
    deadline: Duration,
) -> io::Result<bool> {
    let mut off = 0;
    let mut stream = stream;
    while off < buf.len() {
        // A write that cannot complete at once found the socket full: from
        // then on what we hold counts as pending (see Outbox::write_blocked).
        let write = poll_fn(|cx| {
            let p = Pin::new(&mut stream).poll_write(cx, &buf[off..]);
            if p.is_pending() {
                outbox.write_blocked();
            }
            p
        });
        match async_std::future::timeout(deadline, write).await {
            Err(_) => return Ok(false),
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => {
                off += n;
                outbox.written(n);
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(true)
}
