//! natsd on mio: glue between mio's edge-triggered readiness and the
//! sans-IO core. One event loop per core, each on its own thread, owns its
//! connections outright; the main thread accepts and deals new sockets to
//! the loops round-robin. All NATS logic is in `natsd-core`.
//!
//! Cross-loop traffic: a publisher appends to a subscriber's outbox and
//! wakes its [`Waker`], which queues the subscriber's token on the owning
//! loop and, only if that loop is blocked in `poll`, rings its mio waker.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use natsd_core::{CloseReason, Server, Session, Take};

/// Size of the per-loop read buffer; connections own no read buffer of
/// their own, so idle ones cost little.
const READ_BUF: usize = 64 * 1024;

/// Reads per readiness event before moving on to other connections.
const READS_PER_TURN: usize = 16;

/// Each loop's mio waker. Connection tokens count up from 0 and are never
/// reused, so a stale token (in a timer, the wake queue or the readable
/// list) can only miss, never hit another connection.
const WAKE: Token = Token(usize::MAX);

/// Binds the client listener and serves until SIGTERM or SIGINT (handled by
/// `natsd_host::signals`, which exits the process).
pub fn run(server: Arc<Server>) -> io::Result<()> {
    let o = server.options();
    let listener = bind(&o.host, o.port)?;
    natsd_host::raise_backlog(listener.as_raw_fd());
    let loops = (0..natsd_host::worker_threads())
        .map(|i| spawn_loop(i, server.clone()))
        .collect::<io::Result<Vec<_>>>()?;
    if let Some((host, port)) = natsd_host::monitor_addr(&server) {
        let http = std::net::TcpListener::bind((host.as_str(), port))?;
        natsd_host::monitor_ready(&server, http.local_addr()?);
        let server = server.clone();
        std::thread::Builder::new()
            .name("natsd-http".into())
            .spawn(move || monitor(&server, &http))?;
    }
    natsd_host::ready(&server, listener.local_addr()?);
    serve_routes(&server, &loops)?;
    // Accepting is rare next to reading and writing, so this thread simply
    // blocks in accept(); round-robin spreads even two connections (a
    // publisher and a subscriber) over two loops.
    let listener = std::net::TcpListener::from(listener);
    listener.set_nonblocking(false)?;
    for shared in loops.iter().cycle() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                if let Err(e) = stream.set_nonblocking(true) {
                    log::error!("Error accepting client connection: {e}");
                    continue;
                }
                shared.hand_over(TcpStream::from_std(stream), peer, None);
            }
            Err(e) => {
                log::error!("Error accepting client connection: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

/// With a cluster: accepts routes on a thread of its own and starts the
/// dialer; both hand their sockets, with the core's `RouteConnection`
/// already made, to the loops round-robin, like client sockets.
fn serve_routes(server: &Arc<Server>, loops: &[Arc<Shared>]) -> io::Result<()> {
    let Some((host, port)) = server.routes().listen_addr() else {
        return Ok(());
    };
    let listener = std::net::TcpListener::bind((host.as_str(), port))?;
    natsd_host::routes::listening(server, listener.local_addr()?);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pick = {
        let loops = loops.to_vec();
        move || loops[next.fetch_add(1, Ordering::Relaxed) % loops.len()].clone()
    };
    let accepting = server.clone();
    let accept_pick = pick.clone();
    std::thread::Builder::new()
        .name("natsd-route-accept".into())
        .spawn(move || loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = stream.set_nonblocking(true) {
                        log::error!("Error accepting route connection: {e}");
                        continue;
                    }
                    let conn = accepting.accept_route(peer, Instant::now());
                    accept_pick().hand_over(
                        TcpStream::from_std(stream),
                        peer,
                        Some(Box::new(conn)),
                    );
                }
                Err(e) => {
                    log::error!("Error accepting route connection: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })?;
    let dialing = server.clone();
    natsd_host::routes::spawn_dialer(server.clone(), move |stream, peer, req| {
        if let Err(e) = stream.set_nonblocking(true) {
            dialing.routes().dial_failed(
                &req,
                Instant::now(),
                natsd_core::route::DialError::Connect,
                &e.to_string(),
            );
            return;
        }
        let conn = dialing.dial_route(&req, peer, Instant::now());
        pick().hand_over(TcpStream::from_std(stream), peer, Some(Box::new(conn)));
    })
}

/// Accepts HTTP monitoring connections on a thread of its own, which is
/// all a request or two a second needs: a short-lived thread for each,
/// bounded in time, so a slow peer holds up no other.
fn monitor(server: &Arc<Server>, listener: &std::net::TcpListener) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let server = server.clone();
                let spawned = std::thread::Builder::new()
                    .name("natsd-http-conn".into())
                    .spawn(move || serve_http(&server, stream));
                if let Err(e) = spawned {
                    log::error!("Error serving monitoring connection: {e}");
                }
            }
            Err(e) => {
                log::error!("Error accepting monitoring connection: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Reads one request head, writes the answer and closes; what the peer
/// sends after the head is read and dropped, so closing does not reset
/// the connection before the peer has read the answer.
fn serve_http(server: &Server, mut stream: std::net::TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + natsd_host::HTTP_TIMEOUT;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut head = natsd_core::monitor::HeadReader::new();
    let mut buf = [0u8; 4096];
    let reply = loop {
        stream.set_read_timeout(Some(left()))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if let Some(reply) = natsd_host::http_reply(server, head.push(&buf[..n])) {
            break reply;
        }
    };
    stream.set_write_timeout(Some(left()))?;
    stream.write_all(&reply)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    while Instant::now() < deadline {
        stream.set_read_timeout(Some(left()))?;
        if stream.read(&mut buf)? == 0 {
            break;
        }
    }
    Ok(())
}

/// Binds the first address `host` resolves to that accepts the bind; mio's
/// listener sets SO_REUSEADDR and a backlog of 1024.
fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("could not resolve {host}"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only plain Vecs are behind these locks; a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The part of a loop that other threads touch.
struct Shared {
    waker: mio::Waker,
    /// True while the loop is (about to be) blocked in `poll`: only then is
    /// the waker's syscall needed; otherwise the loop looks at the queues
    /// before it next blocks.
    sleeping: AtomicBool,
    /// Connections whose outbox woke its writer.
    ready: Mutex<Vec<Token>>,
    /// Sockets handed to this loop: clients (`None`: the loop makes the
    /// `Connection`) and routes (their `RouteConnection` made already).
    incoming: Mutex<Vec<Incoming>>,
}

/// A socket for a loop to take over.
type Incoming = (TcpStream, SocketAddr, Option<Box<dyn Session>>);

impl Shared {
    fn notify(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::error!("Error waking event loop: {e}");
            }
        }
    }

    fn hand_over(&self, stream: TcpStream, peer: SocketAddr, conn: Option<Box<dyn Session>>) {
        lock(&self.incoming).push((stream, peer, conn));
        self.notify();
    }

    fn has_work(&self) -> bool {
        !lock(&self.ready).is_empty() || !lock(&self.incoming).is_empty()
    }
}

/// The `std::task::Waker` registered with one connection's outbox.
struct OutboxWaker {
    shared: Arc<Shared>,
    token: Token,
}

impl Wake for OutboxWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.shared.ready).push(self.token);
        self.shared.notify();
    }
}

/// A client socket other loops may write to without blocking.
#[derive(Debug)]
struct DirectSocket(Arc<TcpStream>);

impl natsd_core::outbox::DirectWriter for DirectSocket {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
}

/// One client or route: the core's state machine, its socket, and the
/// bytes taken from its outbox but not yet written.
struct Client {
    conn: Box<dyn Session>,
    /// Shared with the outbox's direct writer, so other loops can flush
    /// messages they deliver here in place (see `natsd_core::outbox::DirectWriter`).
    stream: Arc<TcpStream>,
    waker: Waker,
    out: Vec<u8>,
    off: usize,
    /// When a write first hit WouldBlock with no progress since.
    stalled_since: Option<Instant>,
    /// The deadline of this client's live entry in the timer heap (others
    /// are stale). It is never later than the client's real deadline.
    armed: Option<Instant>,
    /// Already in the loop's readable list.
    in_readable: bool,
    /// An event reported the read side closed: read to the end.
    hung_up: bool,
}

impl Client {
    /// Feeds the core up to `READS_PER_TURN` reads. True if the socket may
    /// still hold data: edge-triggered readiness will not say so again.
    /// Once an event reported the peer's close (`hung_up`), which no later
    /// event repeats, a short read no longer ends the turn.
    fn read(&mut self, buf: &mut [u8]) -> bool {
        let hung_up = self.hung_up;
        for _ in 0..READS_PER_TURN {
            match (&*self.stream).read(buf) {
                Ok(0) => {
                    self.conn.close(CloseReason::ClientClosed);
                    return false;
                }
                Ok(n) => {
                    self.conn.receive(&buf[..n], Instant::now());
                    // A read that did not fill the buffer emptied the
                    // socket: stop here instead of paying a read that only
                    // says WouldBlock. Data arriving later is a new edge.
                    if self.conn.is_closed() || (n < buf.len() && !hung_up) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.conn.close(CloseReason::ClientClosed);
                    return false;
                }
            }
        }
        true
    }

    /// Writes until the outbox is empty (its waker is then registered) or
    /// the socket is full (mio then reports WRITABLE). False once the outbox
    /// is closed and drained: drop the socket.
    fn flush(&mut self, now: Instant) -> io::Result<bool> {
        let outbox = self.conn.outbox();
        loop {
            if self.off == self.out.len() {
                self.out.clear();
                self.off = 0;
                self.stalled_since = None;
                match outbox.take(&mut self.out, &self.waker) {
                    Take::Empty => return Ok(true),
                    Take::Closed => return Ok(false),
                    Take::Data => {}
                }
            }
            match (&*self.stream).write(&self.out[self.off..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.off += n;
                    outbox.written(n);
                    self.stalled_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // From now on what we hold counts as pending.
                    outbox.write_blocked();
                    self.stalled_since.get_or_insert(now);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next instant this client needs the loop: the core's timer or the
    /// write deadline of a stalled write.
    fn deadline(&self, write_deadline: Duration) -> Option<Instant> {
        let core = self.conn.poll_timeout();
        match self.stalled_since.map(|s| s + write_deadline) {
            Some(w) => Some(core.map_or(w, |c| c.min(w))),
            None => core,
        }
    }
}

/// One event loop and the connections it owns.
struct EventLoop {
    server: Arc<Server>,
    poll: Poll,
    shared: Arc<Shared>,
    clients: HashMap<Token, Client>,
    next_token: usize,
    /// Min-heap of (deadline, token); entries whose deadline is no longer
    /// the client's `armed` one are skipped when they come up. A deadline
    /// that moves later (a stalled write made progress) keeps its earlier
    /// entry, which re-arms when it comes up: one push per stall episode,
    /// not per write.
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Clients that stopped reading at `READS_PER_TURN` before WouldBlock.
    readable: Vec<Token>,
    /// Scratch lists (for `read_again` and `flush_woken`, which nest),
    /// kept to reuse their allocations.
    again: Vec<Token>,
    woken: Vec<Token>,
    buf: Vec<u8>,
}

fn spawn_loop(i: usize, server: Arc<Server>) -> io::Result<Arc<Shared>> {
    let poll = Poll::new()?;
    let shared = Arc::new(Shared {
        waker: mio::Waker::new(poll.registry(), WAKE)?,
        sleeping: AtomicBool::new(false),
        ready: Mutex::default(),
        incoming: Mutex::default(),
    });
    let mut el = EventLoop {
        server,
        poll,
        shared: shared.clone(),
        clients: HashMap::new(),
        next_token: 0,
        timers: BinaryHeap::new(),
        readable: Vec::new(),
        again: Vec::new(),
        woken: Vec::new(),
        buf: vec![0; READ_BUF],
    };
    std::thread::Builder::new()
        .name(format!("natsd-loop-{i}"))
        .spawn(move || {
            if let Err(e) = el.run() {
                // A dead loop would strand its clients; fail loudly instead.
                log::error!("Event loop failed: {e}");
                std::process::exit(1);
            }
        })?;
    Ok(shared)
}

impl EventLoop {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let mut timeout = self
                .timers
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
            if !self.readable.is_empty() {
                timeout = Some(Duration::ZERO);
            } else if timeout != Some(Duration::ZERO) {
                // Announce the sleep before the last look at the queues: a
                // waker either pushed before that look or sees the flag.
                self.shared.sleeping.store(true, Ordering::SeqCst);
                if self.shared.has_work() {
                    self.shared.sleeping.store(false, Ordering::SeqCst);
                    timeout = Some(Duration::ZERO);
                }
            }
            let polled = self.poll.poll(&mut events, timeout);
            self.shared.sleeping.store(false, Ordering::SeqCst);
            match polled {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            self.read_again();
            for ev in &events {
                if ev.token() != WAKE {
                    let hung_up = ev.is_read_closed() || ev.is_error();
                    self.on_ready(ev.token(), ev.is_readable() || hung_up, hung_up);
                }
            }
            self.accept_incoming();
            self.fire_timers();
            self.flush_woken();
        }
    }

    /// Reads (if asked and still open), then writes and re-arms.
    fn on_ready(&mut self, token: Token, readable: bool, hung_up: bool) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let read = readable && !c.conn.is_closed();
        c.hung_up |= hung_up;
        if read && c.read(&mut self.buf) && !c.in_readable {
            c.in_readable = true;
            self.readable.push(token);
        }
        self.settle(token);
        if read {
            // Start the writes to this loop's subscribers now rather than
            // after every other event: the kernel and the clients then work
            // while this loop goes on reading.
            self.flush_woken();
        }
    }

    /// After any input: write what the outbox has, then either re-arm the
    /// client's timer or, once the outbox is closed and drained, drop it.
    fn settle(&mut self, token: Token) {
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        match c.flush(Instant::now()) {
            Ok(true) => {
                let at = c.deadline(self.server.options().write_deadline);
                if let Some(at) = at.filter(|&at| c.armed.is_none_or(|a| at < a)) {
                    c.armed = Some(at);
                    self.timers.push(Reverse((at, token)));
                }
            }
            Ok(false) => self.remove(token),
            Err(e) => {
                log::debug!(
                    "{} - cid:{} - write error: {e}",
                    c.conn.peer(),
                    c.conn.cid()
                );
                c.conn.close(CloseReason::ReadError);
                self.remove(token);
            }
        }
    }

    fn remove(&mut self, token: Token) {
        if let Some(c) = self.clients.remove(&token) {
            let fd = c.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            // Dropping `c.conn` releases whatever the core still holds.
        }
    }

    fn accept_incoming(&mut self) {
        let incoming = std::mem::take(&mut *lock(&self.shared.incoming));
        for (stream, peer, conn) in incoming {
            let token = Token(self.next_token);
            self.next_token += 1;
            // Both interests for life: with edge triggering this costs no
            // spurious wake-ups and saves a reregister per blocked write.
            if let Err(e) = self.poll.registry().register(
                &mut SourceFd(&stream.as_raw_fd()),
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::error!("Error registering client connection: {e}");
                continue;
            }
            let conn = match conn {
                Some(c) => c,
                None => Box::new(self.server.accept(peer, Instant::now())),
            };
            let stream = Arc::new(stream);
            conn.outbox()
                .set_direct_writer(Arc::new(DirectSocket(stream.clone())));
            let waker = Waker::from(Arc::new(OutboxWaker {
                shared: self.shared.clone(),
                token,
            }));
            let client = Client {
                conn,
                stream,
                waker,
                out: Vec::new(),
                off: 0,
                stalled_since: None,
                armed: None,
                in_readable: false,
                hung_up: false,
            };
            self.clients.insert(token, client);
            // INFO (and, over the connection limit, the -ERR) is queued.
            self.settle(token);
        }
    }

    fn read_again(&mut self) {
        let mut list = std::mem::take(&mut self.again);
        std::mem::swap(&mut list, &mut self.readable);
        for token in list.drain(..) {
            if let Some(c) = self.clients.get_mut(&token) {
                c.in_readable = false;
                self.on_ready(token, true, false);
            }
        }
        self.again = list;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let write_deadline = self.server.options().write_deadline;
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(c) = self.clients.get_mut(&token) else {
                continue;
            };
            if c.armed != Some(at) {
                continue;
            }
            c.armed = None;
            match c.deadline(write_deadline) {
                None => continue,
                Some(d) if d > now => {
                    // The deadline moved later since this entry was pushed.
                    c.armed = Some(d);
                    self.timers.push(Reverse((d, token)));
                    continue;
                }
                Some(_) => {}
            }
            if c.stalled_since.is_some_and(|s| now >= s + write_deadline) {
                c.conn.outbox().write_timed_out();
                // The outbox is closed without flushing; abandon what we
                // hold too, so the next take reports Closed instead of
                // waiting on a peer that does not read.
                c.out.clear();
                c.off = 0;
            }
            c.conn.handle_timeout(now);
            self.settle(token);
        }
        // Re-arming leaves stale entries behind; keep the heap bounded.
        if self.timers.len() > 2 * self.clients.len() + 64 {
            let clients = &self.clients;
            self.timers
                .retain(|Reverse((at, t))| clients.get(t).is_some_and(|c| c.armed == Some(*at)));
        }
    }

    /// Writes for every client whose outbox woke its writer.
    fn flush_woken(&mut self) {
        let mut list = std::mem::take(&mut self.woken);
        std::mem::swap(&mut list, &mut *lock(&self.shared.ready));
        for token in list.drain(..) {
            self.settle(token);
        }
        self.woken = list;
    }
}
