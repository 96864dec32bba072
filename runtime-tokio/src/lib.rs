//! natsd on tokio: glue between tokio sockets and timers and the sans-IO
//! core. One task per connection reads, writes and sleeps; all NATS logic
//! is in `natsd-core`.
//!
//! [`run_on_workers`] runs one current-thread runtime per core and hands
//! accepted connections to them in turn, as natsd-mio hands sockets to its
//! event loops: a socket's readiness then wakes the thread that polls its
//! task directly, where tokio's work-stealing scheduler first wakes a parked
//! worker from the thread that owns the I/O driver — a context switch on
//! every hop of a request/reply. [`run`] serves on whatever runtime it is
//! called from (for embedding).

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::{Context, Poll};

use natsd_core::route::DialError;
use natsd_core::{CloseReason, Outbox, Server, Session, Take};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Size of the per-thread read buffer; connections own no read buffer of
/// their own, so idle ones cost little.
const READ_BUF: usize = 64 * 1024;

/// Reads per wake-up before yielding to other connections.
const READS_PER_TURN: usize = 16;

thread_local! {
    static READ: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// Where accepted connections are served.
#[derive(Clone)]
struct Workers {
    handles: Arc<[tokio::runtime::Handle]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
}

impl Workers {
    /// Serves on the calling runtime only.
    fn current() -> Workers {
        Workers {
            handles: Arc::from([tokio::runtime::Handle::current()]),
            next: Arc::default(),
        }
    }

    /// The next worker, in turn.
    fn pick(&self) -> &tokio::runtime::Handle {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.handles[n % self.handles.len()]
    }
}

/// Runs `workers` current-thread runtimes (the calling thread is the first)
/// and serves on them until a signal ends the process.
pub fn run_on_workers(server: Arc<Server>, workers: usize) -> io::Result<()> {
    let build = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let first = build()?;
    let mut handles = vec![first.handle().clone()];
    for i in 1..workers.max(1) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("natsd-worker-{i}"))
            .spawn(move || match build() {
                Ok(rt) => {
                    let _ = tx.send(Ok(rt.handle().clone()));
                    rt.block_on(std::future::pending::<()>());
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            })?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("worker thread ended"))??;
        handles.push(handle);
    }
    let workers = Workers {
        handles: handles.into(),
        next: Arc::default(),
    };
    first.block_on(serve_all(server, workers))
}

/// Binds the client listener and serves until a signal ends the process
/// (`natsd_host::signals`), on the runtime it is called from.
pub async fn run(server: Arc<Server>) -> io::Result<()> {
    serve_all(server, Workers::current()).await
}

async fn serve_all(server: Arc<Server>, workers: Workers) -> io::Result<()> {
    let o = server.options();
    let listener = TcpListener::bind((o.host.as_str(), o.port)).await?;
    natsd_host::raise_backlog(listener.as_raw_fd());
    if let Some((host, port)) = natsd_host::monitor_addr(&server) {
        let http = TcpListener::bind((host.as_str(), port)).await?;
        natsd_host::monitor_ready(&server, http.local_addr()?);
        tokio::spawn(monitor(server.clone(), http));
    }
    natsd_host::signals::install(server.clone())?;
    natsd_host::ready(&server, listener.local_addr()?);
    if let Some((host, port)) = server.routes().listen_addr() {
        let routes = TcpListener::bind((host.as_str(), port)).await?;
        natsd_host::routes::listening(&server, routes.local_addr()?);
        let accepting = server.clone();
        tokio::spawn(accept_loop(
            server.clone(),
            routes,
            "route",
            Workers::current(),
            move |peer| accepting.accept_route(peer, Instant::now().into_std()),
        ));
        let handle = tokio::runtime::Handle::current();
        let dialing = server.clone();
        natsd_host::routes::spawn_dialer(server.clone(), move |stream, peer, req| {
            let server = dialing.clone();
            handle.spawn(async move {
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match stream {
                    Ok(stream) => {
                        let mut conn = server.dial_route(&req, peer, Instant::now().into_std());
                        serve(server, stream, &mut conn).await;
                    }
                    Err(e) => server.routes().dial_failed(
                        &req,
                        Instant::now().into_std(),
                        DialError::Connect,
                        &e.to_string(),
                    ),
                }
            });
        })?;
    }
    let accepting = server.clone();
    accept_loop(server, listener, "client", workers, move |peer| {
        accepting.accept(peer, Instant::now().into_std())
    })
    .await;
    Ok(())
}

/// Accepts connections forever, serving each on the next of `workers`
/// with the state machine `make` returns for its peer (clients and routes
/// alike).
async fn accept_loop<S, F>(
    server: Arc<Server>,
    listener: TcpListener,
    what: &str,
    workers: Workers,
    make: F,
) where
    S: Session + 'static,
    F: Fn(SocketAddr) -> S,
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // The task owns `conn` and `serve` borrows it: a connection
                // moved into `serve` would take room twice in the task
                // (captured, then inside the inner future) for its life.
                let mut conn = make(peer);
                let worker = workers.pick();
                if workers.handles.len() == 1 {
                    let server = server.clone();
                    tokio::spawn(async move { serve(server, stream, &mut conn).await });
                    continue;
                }
                // The socket moves to the worker's own I/O driver.
                match stream.into_std() {
                    Ok(std) => {
                        let server = server.clone();
                        worker.spawn(async move {
                            match TcpStream::from_std(std) {
                                Ok(stream) => serve(server, stream, &mut conn).await,
                                Err(e) => log::error!("Error moving {peer} to a worker: {e}"),
                            }
                        });
                    }
                    Err(e) => log::error!("Error accepting {what} connection: {e}"),
                }
            }
            Err(e) => {
                log::error!("Error accepting {what} connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
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
                tokio::spawn(tokio::time::timeout(natsd_host::HTTP_TIMEOUT, served));
            }
            Err(e) => {
                log::error!("Error accepting monitoring connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Reads one request head, writes the answer and closes; what the peer
/// sends after the head is read and dropped, so closing does not reset
/// the connection before the peer has read the answer.
async fn serve_http(server: Arc<Server>, mut stream: TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    stream.shutdown().await?;
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Drives one connection (client or route) to its end.
async fn serve<S: Session>(server: Arc<Server>, stream: TcpStream, conn: &mut S) {
    let _ = stream.set_nodelay(true);
    let write_deadline = server.options().write_deadline;
    let peer = conn.peer();
    let outbox = conn.outbox().clone();
    let stream = Arc::new(stream);
    outbox.set_direct_writer(Arc::new(DirectSocket(stream.clone())));
    let mut out = Pending::default();
    let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
    tokio::pin!(sleep);
    loop {
        let reading = !conn.is_closed();
        let mut deadline = conn.poll_timeout().map(Instant::from_std);
        if let Some(stalled) = out.stalled_since {
            let d = stalled + write_deadline;
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
        }
        if let Some(d) = deadline {
            if sleep.deadline() != d {
                sleep.as_mut().reset(d);
            }
        }
        tokio::select! {
            r = stream.readable(), if reading => {
                if r.is_err() || !read_ready(&stream, conn) {
                    conn.close(CloseReason::ClientClosed);
                }
            }
            done = poll_fn(|cx| out.poll_flush(cx, &stream, &outbox)) => {
                if let Err(e) = done {
                    log::debug!("{peer} - cid:{} - write error: {e}", conn.cid());
                    conn.close(CloseReason::WriteError);
                }
                break;
            }
            () = &mut sleep, if deadline.is_some() => {
                let now = Instant::now();
                if out.stalled_since.is_some_and(|s| now >= s + write_deadline) {
                    // The peer stopped reading: nothing more can be written.
                    outbox.write_timed_out();
                    conn.close(CloseReason::SlowConsumerWriteDeadline);
                    break;
                }
                conn.handle_timeout(now.into_std());
            }
        }
    }
}

/// The client socket, written in place by publishers on other tasks (see
/// `natsd_core::outbox::DirectWriter`): no task wake-up per delivery.
#[derive(Debug)]
struct DirectSocket(Arc<TcpStream>);

impl natsd_core::outbox::DirectWriter for DirectSocket {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
}

/// Reads what the socket has (a bounded number of times) into the
/// per-thread buffer and feeds the core. False on EOF or error.
fn read_ready<S: Session>(stream: &TcpStream, conn: &mut S) -> bool {
    READ.with(|buf| {
        let mut buf = buf.borrow_mut();
        for _ in 0..READS_PER_TURN {
            match read_once(stream, &mut buf) {
                Ok((0, _)) => return false,
                Ok((n, drained)) => {
                    conn.receive(&buf[..n], Instant::now().into_std());
                    if conn.is_closed() || drained {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    })
}

/// One read of the socket, and whether it emptied it. A read that does
/// not fill the buffer took everything the kernel had, so the readiness
/// is cleared with it (as tokio's own `AsyncRead` does) instead of by a
/// second read that only returns WouldBlock. Clearing inside `try_io`
/// is race-free: readiness that arrived after the read started survives.
fn read_once(stream: &TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut got = None;
    let r = stream.try_io(Interest::READABLE, || {
        let n = (&*socket2::SockRef::from(stream)).read(buf)?;
        got = Some(n);
        if n > 0 && n < buf.len() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match (r, got) {
        (Ok(n), _) => Ok((n, false)),
        (Err(e), Some(n)) if e.kind() == io::ErrorKind::WouldBlock => Ok((n, true)),
        (Err(e), _) => Err(e),
    }
}

/// The bytes taken from the outbox and not yet written.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    off: usize,
    stalled_since: Option<Instant>,
}

impl Pending {
    /// Writes until the outbox is empty (then waits for its waker) or the
    /// socket is full (then waits for writability). Ready only when the
    /// outbox is closed and drained, or on a write error.
    fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        stream: &TcpStream,
        outbox: &Outbox,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.off == self.buf.len() {
                self.buf.clear();
                self.off = 0;
                self.stalled_since = None;
                match outbox.take(&mut self.buf, cx.waker()) {
                    Take::Empty => return Poll::Pending,
                    Take::Closed => return Poll::Ready(Ok(())),
                    Take::Data => {}
                }
            }
            match stream.try_write(&self.buf[self.off..]) {
                Ok(n) => {
                    self.off += n;
                    outbox.written(n);
                    self.stalled_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // From now on what we hold counts as pending.
                    outbox.write_blocked();
                    self.stalled_since.get_or_insert_with(Instant::now);
                    match stream.poll_write_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
