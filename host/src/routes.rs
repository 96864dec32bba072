//! Route glue every runtime shares: dialing. The core decides what to dial
//! and when ([`natsd_core::route::Routes::poll_dial`]); one thread here
//! waits for that, resolves and connects (blocking calls, each attempt on a
//! short-lived thread of its own so a slow DNS answer holds up no other),
//! and hands each open socket to the runtime, which makes the core's
//! `RouteConnection` with [`Server::dial_route`] and serves it like any
//! connection.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use natsd_core::route::{DialError, DialPoll, DialRequest};
use natsd_core::Server;

/// How long one connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Wakes the dialer thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Starts the dialer thread (when the server has a cluster). `connected`
/// receives every socket opened for a route, with its peer address and the
/// request; it runs on a dialing thread and should hand the socket over to
/// the runtime quickly.
pub fn spawn_dialer<F>(server: Arc<Server>, connected: F) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr, DialRequest) + Send + Sync + 'static,
{
    if !server.routes().enabled() {
        return Ok(());
    }
    let connected = Arc::new(connected);
    std::thread::Builder::new()
        .name("natsd-route-dialer".into())
        .spawn(move || {
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            loop {
                let now = Instant::now();
                match server.routes().poll_dial(now, &waker) {
                    DialPoll::Dial(req) => {
                        let server = server.clone();
                        let connected = connected.clone();
                        let spawned = std::thread::Builder::new()
                            .name("natsd-route-dial".into())
                            .spawn(move || dial(&server, req, &*connected));
                        if let Err(e) = spawned {
                            log::error!("Error starting a route dial: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    DialPoll::Wait(Some(at)) => {
                        std::thread::park_timeout(at.saturating_duration_since(now))
                    }
                    DialPoll::Wait(None) => std::thread::park(),
                }
            }
        })?;
    Ok(())
}

fn dial(server: &Server, req: DialRequest, connected: &dyn Fn(TcpStream, SocketAddr, DialRequest)) {
    let addrs: Vec<SocketAddr> = match (req.host(), req.port()).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            let msg = format!("lookup {}: {e}", req.host());
            server
                .routes()
                .dial_failed(&req, Instant::now(), DialError::Resolve, &msg);
            return;
        }
    };
    let mut last = format!("lookup {}: no addresses", req.host());
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                connected(stream, addr, req);
                return;
            }
            Err(e) => last = format!("dial tcp {addr}: {e}"),
        }
    }
    server
        .routes()
        .dial_failed(&req, Instant::now(), DialError::Connect, &last);
}

/// Records the bound route listener (logs nats-server's lines) and lets
/// the dialer start on the explicit routes.
pub fn listening(server: &Server, addr: SocketAddr) {
    server.routes().listening(addr, Instant::now());
}
