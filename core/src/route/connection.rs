//! One route's protocol state machine, driven like a client
//! [`crate::Connection`]: [`RouteConnection::receive`] with socket bytes,
//! [`RouteConnection::handle_timeout`] when
//! [`RouteConnection::poll_timeout`] passes, bytes out through its
//! [`Outbox`], [`RouteConnection::is_closed`] when done.
//!
//! Handshake (routes.md §2.1, the 2.9 style): the acceptor sends INFO on
//! accept and requires CONNECT as the first line; the solicitor sends
//! CONNECT and INFO at once. Each side registers the route when the peer's
//! INFO arrives, then sends its whole local interest.
//!
//! With `cluster { tls {} }` (routes.md §2.2) the TLS handshake comes
//! before any of that on both sides: the rustls session is put in the
//! outbox before the first byte is queued (server side for an accepted
//! route, client side toward the URL's host for a dialed one), so the
//! INFO and CONNECT queued at once wait inside rustls and leave as the
//! first records after the handshake. An acceptor therefore sends nothing
//! to a peer that does not start a handshake, and a handshake not done
//! within `tls.timeout` closes the route.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::parser::{parse, Parsed, RouteOp, RoutedMsg};
use super::proto::{self, OurConnect, OurInfo, PeerConnect, PeerInfo};
use super::{lock, DialRequest, Peer, Registered, RouteStats, RouteUrl};
use crate::client::parser::{Limits, Need};
use crate::deliver::{Deliverer, Msg};
use crate::errors::{text, write_err, CloseReason, Fault};
use crate::options::COMPAT_VERSION;
use crate::outbox::Outbox;
use crate::rng::Rng;
use crate::server::{Account, Server};
use crate::sublist::{Matches, Subscription};

/// `-ERR` for a client that connected to the route port.
const CLIENT_ON_ROUTE_PORT: &str = "attempted to connect to route port";

/// Partial-frame buffers larger than this are freed after use.
const PARTIAL_KEEP: usize = 16 * 1024;

/// Routes PING at most this far apart (nats-server's cap for routes).
const MAX_PING_INTERVAL: Duration = Duration::from_secs(30);

/// The first PING after registration (plus up to 20 % jitter).
const FIRST_PING: Duration = Duration::from_secs(1);

/// Where the route is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Accepted: waiting for the solicitor's CONNECT.
    AwaitConnect,
    /// Waiting for the peer's INFO.
    AwaitInfo,
    /// Registered: interest and messages flow.
    Registered,
    /// Closed or closing.
    Closed,
}

/// A route's TLS progress (only with `cluster { tls {} }`).
#[derive(Debug)]
struct RouteTls {
    handshaking: bool,
    /// The handshake must be done by then.
    deadline: Instant,
    /// Decrypted input, reused between reads.
    plain: Vec<u8>,
}

/// Decrypted-input buffers larger than this are freed after use.
const PLAIN_KEEP: usize = 64 * 1024;

/// A remote subscription's key: account, subject, queue.
type SubKey = (Bytes, Bytes, Option<Bytes>);

/// One route connection. See the module docs.
#[derive(Debug)]
pub struct RouteConnection {
    server: Arc<Server>,
    cid: u64,
    peer: SocketAddr,
    /// The dial target and attempt this connection was opened for.
    dialed: Option<(usize, u64)>,
    url: Option<RouteUrl>,
    state: State,
    outbox: Arc<Outbox>,
    partial: Vec<u8>,
    remote_id: String,
    remote_name: String,
    registered: Option<Arc<Peer>>,
    stats: Arc<RouteStats>,
    /// Interest the peer announced.
    subs: FxHashMap<SubKey, Arc<Subscription>>,
    wake: Vec<Arc<Outbox>>,
    /// The handshake must be done by then.
    deadline: Option<Instant>,
    next_ping: Option<Instant>,
    pings_out: u32,
    ping_sent_at: Option<Instant>,
    rng: Rng,
    clock: Instant,
    /// The latest local lookup, reused while the subject repeats and the
    /// account's index is unchanged.
    /// (subject, generation, account address, matches).
    last: Option<(Vec<u8>, u64, usize, Arc<Matches>)>,
    tls: Option<RouteTls>,
}

impl RouteConnection {
    fn new(server: Arc<Server>, peer: SocketAddr, state: State, now: Instant) -> RouteConnection {
        let (cid, seed) = server.next_cid_and_seed();
        let opts = server.options();
        let outbox = Arc::new(Outbox::new(cid, opts.max_pending));
        let timeout = server.routes().options().effective_auth_timeout();
        RouteConnection {
            server,
            cid,
            peer,
            dialed: None,
            url: None,
            state,
            outbox,
            partial: Vec::new(),
            remote_id: String::new(),
            remote_name: String::new(),
            registered: None,
            stats: Arc::new(RouteStats::new(now)),
            subs: FxHashMap::default(),
            wake: Vec::new(),
            deadline: Some(now + timeout),
            next_ping: None,
            pings_out: 0,
            ping_sent_at: None,
            rng: Rng::new(seed),
            clock: now,
            last: None,
            tls: None,
        }
    }

    /// With route TLS configured, puts a rustls session in the outbox
    /// before anything is queued: client side toward `dial_host` for a
    /// dialed route, server side otherwise. False if the route closed.
    fn start_tls(&mut self, dial_host: Option<&str>, now: Instant) -> bool {
        let routes = self.server.routes();
        let Some(timeout) = routes.options().tls.as_ref().map(|t| t.timeout) else {
            return true;
        };
        let started = match (routes.tls_config(), dial_host) {
            (None, _) => Err("TLS is configured but not loaded".to_string()),
            (Some(c), None) => self.outbox.start_tls(c.server),
            (Some(c), Some(host)) => crate::tls::server_name(host)
                .and_then(|name| self.outbox.start_client_tls(c.client, name)),
        };
        self.tls = Some(RouteTls {
            handshaking: true,
            deadline: now + timeout,
            plain: Vec::new(),
        });
        if let Err(e) = started {
            self.tls_fail(now, &e);
            return false;
        }
        // A dialer's ClientHello.
        let own = self.outbox.clone();
        self.mark_wake(&own);
        true
    }

    /// A route accepted on the cluster port: INFO queued (with TLS, it
    /// follows the handshake).
    pub(crate) fn accepted(server: Arc<Server>, peer: SocketAddr, now: Instant) -> RouteConnection {
        let mut c = RouteConnection::new(server, peer, State::AwaitConnect, now);
        if c.start_tls(None, now) {
            if c.tls.is_none() {
                log::info!("{} - Route connection created", c.prefix());
            }
            c.send_info();
        }
        c.flush_wakes();
        c
    }

    /// A route we dialed for `req`: CONNECT and INFO queued.
    pub(crate) fn dialed(
        server: Arc<Server>,
        req: &DialRequest,
        peer: SocketAddr,
        now: Instant,
    ) -> RouteConnection {
        let mut c = RouteConnection::new(server, peer, State::AwaitInfo, now);
        c.dialed = Some((req.target, req.epoch));
        c.url = Some(req.url.clone());
        c.server.routes().connecting(req.target, req.epoch, c.cid);
        if !c.start_tls(Some(&req.url.host), now) {
            c.flush_wakes();
            return c;
        }
        if c.tls.is_none() {
            log::info!("{} - Route connection created", c.prefix());
        }
        let (cluster, dynamic) = c.server.routes().cluster_name();
        let connect = OurConnect {
            echo: true,
            verbose: false,
            pedantic: false,
            user: req.url.user.as_deref(),
            pass: req.url.password.as_deref(),
            tls_required: c.tls.is_some(),
            headers: !c.server.options().no_header_support,
            name: c.server.id(),
            cluster: &cluster,
            cluster_dynamic: dynamic,
        };
        c.outbox.append(|b| connect.write(b));
        c.send_info();
        c.flush_wakes();
        c
    }

    fn prefix(&self) -> String {
        format!("{} - rid:{}", self.peer, self.cid)
    }

    /// The connection id (`rid`).
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// The peer address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The bytes for this route's socket.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// True once the route is closing: stop reading, drain the outbox.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed || self.outbox.is_closed()
    }

    /// True once the peer's INFO registered the route.
    pub fn is_registered(&self) -> bool {
        self.state == State::Registered
    }

    /// The peer's server id, once known.
    pub fn remote_id(&self) -> &str {
        &self.remote_id
    }

    /// The next instant at which [`RouteConnection::handle_timeout`] must run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let tls = self
            .tls
            .as_ref()
            .filter(|t| t.handshaking)
            .map(|t| t.deadline);
        [self.deadline, self.next_ping, tls]
            .into_iter()
            .flatten()
            .min()
    }

    /// Feeds bytes read from the socket; frames may be split anywhere.
    pub fn receive(&mut self, data: &[u8], now: Instant) {
        if self.tls.is_some() && !self.is_closed() {
            self.receive_tls(data, now);
        } else {
            self.process(data, now);
        }
    }

    /// `receive` on a TLS route: ciphertext in, the plaintext it carries
    /// processed as on a plain route.
    fn receive_tls(&mut self, data: &[u8], now: Instant) {
        let Some(mut t) = self.tls.take() else {
            return;
        };
        let mut plain = std::mem::take(&mut t.plain);
        plain.clear();
        let progress = match self.outbox.with_tls(|s| s.read(data, &mut plain)) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                self.tls = Some(t);
                self.tls_fail(now, &e);
                return;
            }
            None => {
                self.tls = Some(t);
                self.tls_fail(now, "no TLS session");
                return;
            }
        };
        if t.handshaking && !progress.handshaking {
            t.handshaking = false;
            log::info!("{} - Route connection created", self.prefix());
            if let Some(sum) = self.outbox.with_tls(|s| s.summary(false)).flatten() {
                log::debug!(
                    "{} - TLS handshake complete, version {}, cipher suite {}",
                    self.prefix(),
                    sum.version,
                    sum.cipher_suite
                );
            }
        }
        // Handshake records or alerts rustls wants to send.
        let own = self.outbox.clone();
        self.mark_wake(&own);
        self.tls = Some(t);
        if plain.is_empty() {
            self.clock = now;
            self.flush_wakes();
        } else {
            self.process(&plain, now);
        }
        if progress.closed && !self.is_closed() {
            self.close(CloseReason::ClientClosed);
        }
        if let Some(t) = self.tls.as_mut() {
            if plain.capacity() <= PLAIN_KEEP {
                t.plain = plain;
            }
        }
    }

    /// Closes a route whose TLS failed, without a word (the peer could not
    /// read one), sending any alert rustls queued.
    fn tls_fail(&mut self, now: Instant, why: &str) {
        self.clock = now;
        log::error!("{} - TLS route handshake error: {why}", self.prefix());
        self.fail(
            Fault::Silent("TLS handshake failure"),
            CloseReason::TlsHandshakeFailure,
        );
        self.flush_wakes();
    }

    /// Plaintext route protocol from the socket (or out of TLS).
    fn process(&mut self, data: &[u8], now: Instant) {
        if self.is_closed() {
            self.settle_close();
            return;
        }
        self.clock = now;
        if self.registered.is_some() {
            *lock(&self.stats.last_activity) = now;
        }
        if let Some(mut data) = self.finish_partial(data, now) {
            let limits = self.limits();
            while !data.is_empty() && self.state != State::Closed {
                match parse(data, &limits) {
                    Ok(Parsed::Op(op, used)) => {
                        self.apply(op, now);
                        data = &data[used..];
                    }
                    Ok(Parsed::Partial(_)) => {
                        self.partial.extend_from_slice(data);
                        break;
                    }
                    Err(fault) => {
                        self.fail(fault, CloseReason::ProtocolViolation);
                        break;
                    }
                }
            }
        }
        self.settle_close();
        self.flush_wakes();
    }

    fn limits(&self) -> Limits {
        let o = self.server.options();
        Limits {
            max_control_line: o.max_control_line.max(4096),
            max_payload: o.max_payload,
        }
    }

    /// Completes a frame carried over from an earlier read with exactly the
    /// bytes it needs; returns the rest of the input.
    fn finish_partial<'d>(&mut self, mut data: &'d [u8], now: Instant) -> Option<&'d [u8]> {
        if self.partial.is_empty() {
            return Some(data);
        }
        let limits = self.limits();
        loop {
            let partial = std::mem::take(&mut self.partial);
            match parse(&partial, &limits) {
                Ok(Parsed::Op(op, _)) => {
                    self.apply(op, now);
                    let mut partial = partial;
                    partial.clear();
                    if partial.capacity() <= PARTIAL_KEEP {
                        self.partial = partial;
                    }
                    return (self.state != State::Closed).then_some(data);
                }
                Ok(Parsed::Partial(need)) => {
                    self.partial = partial;
                    let take = match need {
                        Need::Line => memchr::memchr(b'\n', data).map_or(data.len(), |nl| nl + 1),
                        Need::Frame(n) => (n - self.partial.len()).min(data.len()),
                    };
                    if take == 0 {
                        return None;
                    }
                    self.partial.extend_from_slice(&data[..take]);
                    data = &data[take..];
                }
                Err(fault) => {
                    self.fail(fault, CloseReason::ProtocolViolation);
                    return None;
                }
            }
        }
    }

    /// Runs timers that are due: the handshake deadline and route PINGs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = now;
        if self.is_closed() {
            self.settle_close();
            return;
        }
        if self
            .tls
            .as_ref()
            .is_some_and(|t| t.handshaking && now >= t.deadline)
        {
            self.tls_fail(now, "TLS handshake timeout");
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            if self.state == State::AwaitConnect {
                self.fail(
                    Fault::ErrClose(text::AUTH_TIMEOUT),
                    CloseReason::AuthTimeout,
                );
            } else {
                log::debug!("{} - route handshake timed out", self.prefix());
                self.fail(Fault::Silent("handshake timeout"), CloseReason::AuthTimeout);
            }
        } else if self.next_ping.is_some_and(|p| now >= p) {
            let o = self.server.options();
            if self.pings_out >= o.ping_max {
                self.server
                    .stats()
                    .stale_connections
                    .fetch_add(1, Ordering::Relaxed);
                log::debug!("{} - Stale Route Connection - Closing", self.prefix());
                self.fail(Fault::ErrClose(text::STALE), CloseReason::StaleConnection);
            } else {
                self.pings_out += 1;
                self.ping_sent_at = Some(now);
                self.next_ping = Some(now + o.ping_interval.min(MAX_PING_INTERVAL));
                self.send(b"PING\r\n");
            }
        }
        self.settle_close();
        self.flush_wakes();
    }

    /// The socket is gone (EOF or error).
    pub fn close(&mut self, reason: CloseReason) {
        if self.state != State::Closed {
            self.outbox.close(reason, false);
            self.teardown();
        }
        self.flush_wakes();
    }

    fn apply(&mut self, op: RouteOp<'_>, now: Instant) {
        if log::log_enabled!(log::Level::Trace) {
            self.trace_op(&op);
        }
        match (self.state, op) {
            (State::AwaitConnect, RouteOp::Connect(json)) => self.on_connect(json),
            (State::AwaitConnect, _) => {
                // nats-server: anything but CONNECT first is an auth failure.
                self.fail(
                    Fault::ErrClose(text::AUTH_VIOLATION),
                    CloseReason::AuthViolation,
                );
            }
            (_, RouteOp::Connect(_)) => {
                log::debug!("{} - ignoring a second CONNECT", self.prefix());
            }
            (_, RouteOp::Info(json)) => self.on_info(json, now),
            (_, RouteOp::Ping) => self.send(b"PONG\r\n"),
            (_, RouteOp::Pong) => {
                self.pings_out = 0;
                if let Some(sent) = self.ping_sent_at.take() {
                    *lock(&self.stats.rtt) = Some(now.saturating_duration_since(sent));
                }
            }
            (_, RouteOp::Ok) => {}
            (_, RouteOp::Err(t)) => {
                let t = String::from_utf8_lossy(t);
                if t.starts_with("Not possible to have a dedicated route") {
                    // A 2.14 peer's pinned-account attempt toward a server
                    // without pooling: expected, it closes that connection.
                    log::debug!("{} - Route Error '{t}'", self.prefix());
                } else {
                    log::error!("{} - Route Error '{t}'", self.prefix());
                }
                self.fail(Fault::Silent("route error"), CloseReason::ClientClosed);
            }
            (
                State::Registered,
                RouteOp::Sub {
                    account,
                    subject,
                    queue,
                    ..
                },
            ) => self.on_remote_sub(account, subject, queue),
            (
                State::Registered,
                RouteOp::Unsub {
                    account,
                    subject,
                    queue,
                },
            ) => self.on_remote_unsub(account, subject, queue),
            (State::Registered, RouteOp::Msg(m)) => self.on_msg(&m, now),
            (_, RouteOp::Sub { .. } | RouteOp::Unsub { .. } | RouteOp::Msg(_)) => {
                log::debug!("{} - protocol before registration ignored", self.prefix());
            }
        }
    }

    fn on_connect(&mut self, json: &[u8]) {
        let c: PeerConnect = match serde_json::from_slice(json) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{} - bad route CONNECT: {e}", self.prefix());
                self.fail(
                    Fault::ErrClose(text::AUTH_VIOLATION),
                    CloseReason::AuthViolation,
                );
                return;
            }
        };
        if c.lang.is_some() {
            log::debug!("{} - a client connected to the route port", self.prefix());
            self.fail(
                Fault::ErrClose(CLIENT_ON_ROUTE_PORT),
                CloseReason::ProtocolViolation,
            );
            return;
        }
        if let Some(g) = &c.gateway {
            let msg = format!("Rejecting connection from gateway \"{g}\" on the Route port");
            log::error!("{} - {msg}", self.prefix());
            self.fail_text(&msg, CloseReason::ProtocolViolation);
            return;
        }
        let routes = self.server.routes();
        let o = routes.options();
        if let Some(user) = &o.user {
            let ok = c.user.as_deref() == Some(user.as_str())
                && crate::auth::compare_passwords(
                    o.password.as_deref().unwrap_or_default(),
                    c.pass.as_deref().unwrap_or_default(),
                );
            if !ok {
                log::error!("{} - Authorization Error", self.prefix());
                self.fail(
                    Fault::ErrClose(text::AUTH_VIOLATION),
                    CloseReason::AuthViolation,
                );
                return;
            }
        }
        if let Err(msg) = routes.check_cluster(&c.cluster, c.cluster_dynamic) {
            log::error!("{} - {msg}", self.prefix());
            self.fail_text(&msg, CloseReason::ProtocolViolation);
            return;
        }
        if c.name == self.server.id() {
            log::debug!("{} - Detected route to self, ignoring", self.prefix());
            self.fail(Fault::Silent("route to self"), CloseReason::ClientClosed);
            return;
        }
        self.remote_id = c.name;
        self.state = State::AwaitInfo;
    }

    fn on_info(&mut self, json: &[u8], now: Instant) {
        let info: PeerInfo = match serde_json::from_slice(json) {
            Ok(i) => i,
            Err(e) => {
                log::debug!("{} - bad route INFO: {e}", self.prefix());
                self.fail(Fault::Silent("bad INFO"), CloseReason::ProtocolViolation);
                return;
            }
        };
        if !info.gateway.is_empty() {
            // Gateway gossip between servers that have gateways.
            return;
        }
        if self.state == State::Registered {
            if info.server_id != self.remote_id {
                self.server.routes().gossip(&info, now);
            } else {
                self.on_info_update(&info);
            }
            return;
        }
        self.register(info, json, now);
    }

    /// The peer's own INFO after registration: lame duck, client URLs.
    fn on_info_update(&mut self, info: &PeerInfo) {
        let Some(peer) = &self.registered else {
            return;
        };
        let urls = if info.ldm {
            log::info!(
                "{} - Peer {:?} entered lame duck mode",
                self.prefix(),
                info.server_name
            );
            Vec::new()
        } else {
            info.connect_urls.clone()
        };
        if !urls.is_empty() {
            self.server.routes().peer_urls_seen();
        }
        let changed = {
            let mut cur = lock(&peer.connect_urls);
            let changed = *cur != urls;
            *cur = urls;
            changed
        };
        if changed {
            self.server.send_connect_urls_to_clients();
        }
    }

    /// The handshake INFO: checks, then registration and the interest dump.
    fn register(&mut self, info: PeerInfo, raw: &[u8], now: Instant) {
        let routes = self.server.routes();
        if info.server_id.is_empty() {
            self.fail(
                Fault::Silent("INFO without server_id"),
                CloseReason::ProtocolViolation,
            );
            return;
        }
        if info.server_id == self.server.id() {
            if let Some((target, epoch)) = self.dialed {
                routes.found_self(target, epoch);
            }
            log::debug!("{} - Detected route to self, ignoring", self.prefix());
            self.fail(Fault::Silent("route to self"), CloseReason::ClientClosed);
            return;
        }
        if self.dialed.is_some() {
            if let Err(msg) = routes.check_cluster(&info.cluster, info.cluster_dynamic) {
                log::error!("{} - {msg}", self.prefix());
                self.fail(
                    Fault::Silent("cluster name mismatch"),
                    CloseReason::ClientClosed,
                );
                return;
            }
        }
        if info.server_name == self.server.name() {
            log::error!(
                "{} - Remote server has a duplicate name: {:?}",
                self.prefix(),
                info.server_name
            );
            self.fail(
                Fault::Silent("duplicate server name"),
                CloseReason::ClientClosed,
            );
            return;
        }
        self.remote_id = info.server_id.clone();
        self.remote_name = info.server_name.clone();
        self.outbox.set_headers(info.headers);
        let ip = format!(
            "nats-route://{}/",
            SocketAddr::new(self.peer.ip(), info.port)
        );
        let peer = Arc::new(Peer {
            cid: self.cid,
            server_id: info.server_id.clone(),
            server_name: info.server_name.clone(),
            outbox: self.outbox.clone(),
            solicited: self.dialed.is_some(),
            configured: std::sync::atomic::AtomicBool::new(false),
            addr: self.peer,
            connect_urls: std::sync::Mutex::new(if info.ldm {
                Vec::new()
            } else {
                info.connect_urls.clone()
            }),
            gossip: proto::gossip_info(raw, &ip),
            stats: self.stats.clone(),
        });
        match routes.register(peer.clone(), self.dialed) {
            Registered::Duplicate => {
                log::debug!(
                    "{} - Detected duplicate remote route {:?}",
                    self.prefix(),
                    info.server_id
                );
                // Closed without a word, as nats-server does.
                self.outbox.close(CloseReason::ClientClosed, false);
                self.teardown();
            }
            Registered::Added => {
                log::debug!(
                    "{} - Registering remote route {:?}",
                    self.prefix(),
                    info.server_id
                );
                self.state = State::Registered;
                self.registered = Some(peer);
                self.deadline = None;
                *lock(&self.stats.last_activity) = now;
                let jitter = FIRST_PING.mul_f64((self.rng.next_u64() % 1000) as f64 / 5000.0);
                self.next_ping = Some(now + FIRST_PING + jitter);
                self.send_interest();
                if !info.connect_urls.is_empty() && !info.ldm {
                    self.server.routes().peer_urls_seen();
                    self.server.send_connect_urls_to_clients();
                }
            }
        }
    }

    /// Sends every local subscription (routes.md §5 "initial dump").
    fn send_interest(&mut self) {
        let server = self.server.clone();
        for account in local_accounts(&server) {
            let name = Bytes::copy_from_slice(account.name().as_bytes());
            let sl = account.sublist();
            let mut plain: FxHashMap<Bytes, ()> = FxHashMap::default();
            let mut queues: FxHashMap<(Bytes, Bytes), usize> = FxHashMap::default();
            sl.for_each(|s| match &s.queue {
                None => {
                    plain.insert(s.subject.clone(), ());
                }
                Some(q) => *queues.entry((s.subject.clone(), q.clone())).or_default() += 1,
            });
            // Under the index's read lock: a change made meanwhile is sent
            // after this dump (its sink waits for the write lock).
            self.outbox.append(|b| {
                for s in plain.keys() {
                    proto::write_interest(b, &name, s, None, 1);
                }
                for ((s, q), n) in &queues {
                    proto::write_interest(b, &name, s, Some(q), *n);
                }
            });
            drop(sl);
        }
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn on_remote_sub(&mut self, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
        if !crate::subject::is_valid_subscription(subject) {
            log::debug!(
                "{} - ignoring interest in invalid subject {:?}",
                self.prefix(),
                String::from_utf8_lossy(subject)
            );
            return;
        }
        let key: SubKey = (
            Bytes::copy_from_slice(account),
            Bytes::copy_from_slice(subject),
            queue.map(|(q, _)| Bytes::copy_from_slice(q)),
        );
        if let Some(existing) = self.subs.get(&key) {
            if let Some((_, w)) = queue {
                existing.set_weight(w);
            }
            return;
        }
        let sub = Arc::new(Subscription::new(
            key.1.clone(),
            key.2.clone(),
            Bytes::new(),
            self.outbox.clone(),
        ));
        if let Some((_, w)) = queue {
            sub.set_weight(w);
        }
        self.server.routes().add_remote(account, &sub);
        self.subs.insert(key, sub);
        self.stats.subs.store(self.subs.len(), Ordering::Relaxed);
    }

    fn on_remote_unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        let key: SubKey = (
            Bytes::copy_from_slice(account),
            Bytes::copy_from_slice(subject),
            queue.map(Bytes::copy_from_slice),
        );
        if let Some(sub) = self.subs.remove(&key) {
            self.server.routes().remove_remote(&[(key.0, sub)]);
            self.stats.subs.store(self.subs.len(), Ordering::Relaxed);
        }
    }

    /// A routed message: delivered to local subscribers only (one hop).
    fn on_msg(&mut self, m: &RoutedMsg<'_>, now: Instant) {
        self.stats.in_msgs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .in_bytes
            .fetch_add(m.message.len() as u64, Ordering::Relaxed);
        let account = std::str::from_utf8(m.account)
            .ok()
            .and_then(|name| self.server.accounts().get(name))
            .cloned();
        let Some(account) = account else {
            log::debug!(
                "{} - message for unknown account {:?}",
                self.prefix(),
                String::from_utf8_lossy(m.account)
            );
            return;
        };
        let matches = self.lookup(&account, m.subject);
        let msg = Msg {
            subject: m.subject,
            reply: m.reply,
            header_len: m.header_len,
            message: m.message,
            sizes: m.sizes,
        };
        let mut d = Deliverer {
            server: &self.server,
            account: &account,
            wake: &mut self.wake,
            now,
            origin: None,
        };
        for sub in &matches.plain {
            d.deliver(sub, &msg);
        }
        for q in m.queues() {
            let Some(group) = matches
                .queues
                .iter()
                .find(|g| g.first().and_then(|s| s.queue.as_deref()) == Some(q))
            else {
                continue;
            };
            let start = self.rng.below(group.len());
            for i in 0..group.len() {
                if d.deliver(&group[(start + i) % group.len()], &msg) {
                    break;
                }
            }
        }
        if !matches.imports.is_empty() {
            d.deliver_imports(&matches.imports, &msg, true, Duration::ZERO);
        }
    }

    /// Local subscriptions matching `subject`, reused while the subject
    /// repeats and the index is unchanged.
    fn lookup(&mut self, account: &Account, subject: &[u8]) -> Arc<Matches> {
        let generation = account.generation();
        let which = std::ptr::from_ref(account) as usize;
        if let Some((s, g, a, m)) = &self.last {
            if *g == generation && *a == which && s == subject {
                return m.clone();
            }
        }
        let mut m = account.sublist().matches(subject);
        if self.server.delivery_filters() {
            m.retain_admitted(subject);
        }
        let m = Arc::new(m);
        self.last = Some((subject.to_vec(), generation, which, m.clone()));
        m
    }

    fn send_info(&mut self) {
        let tls = self.tls.is_some();
        let server = self.server.clone();
        self.outbox.append(|b| write_info(&server, tls, b));
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.outbox.append(|b| b.extend_from_slice(bytes));
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn fail_text(&mut self, msg: &str, reason: CloseReason) {
        self.outbox.append(|b| write_err(b, msg));
        self.outbox.close(reason, true);
        self.teardown();
    }

    fn fail(&mut self, fault: Fault, reason: CloseReason) {
        match fault {
            Fault::ErrClose(t) => {
                log::debug!("{} - -ERR '{t}'", self.prefix());
                self.outbox.append(|b| write_err(b, t));
                self.outbox.close(reason, true);
            }
            Fault::Silent(why) => {
                log::debug!("{} - closing route: {why}", self.prefix());
                self.outbox.close(reason, true);
            }
        }
        self.teardown();
    }

    /// If the outbox was closed elsewhere (slow consumer), let go now.
    fn settle_close(&mut self) {
        if self.state != State::Closed && self.outbox.is_closed() {
            self.teardown();
        }
    }

    fn teardown(&mut self) {
        if self.state == State::Closed {
            return;
        }
        let was_registered = self.state == State::Registered;
        self.state = State::Closed;
        let subs: Vec<(Bytes, Arc<Subscription>)> = self
            .subs
            .drain()
            .map(|((account, _, _), sub)| (account, sub))
            .collect();
        let routes = self.server.routes();
        if was_registered {
            routes.unregister(self.cid, &subs, self.clock);
            let had_urls = self
                .registered
                .as_ref()
                .is_some_and(|p| !lock(&p.connect_urls).is_empty());
            if had_urls {
                self.server.send_connect_urls_to_clients();
            }
        } else {
            routes.remove_remote(&subs);
            if let Some((target, epoch)) = self.dialed {
                routes.handshake_failed(target, epoch, self.clock);
            }
        }
        self.registered = None;
        self.last = None;
        self.partial = Vec::new();
        let own = self.outbox.clone();
        self.mark_wake(&own);
        let reason = self
            .outbox
            .close_reason()
            .unwrap_or(CloseReason::ClientClosed);
        if was_registered {
            log::info!(
                "{} - Router connection closed: {}",
                self.prefix(),
                reason.as_str()
            );
        } else {
            log::debug!(
                "{} - Router connection closed: {}",
                self.prefix(),
                reason.as_str()
            );
        }
    }

    fn mark_wake(&mut self, outbox: &Arc<Outbox>) {
        if outbox.mark_queued() {
            self.wake.push(outbox.clone());
        }
    }

    fn flush_wakes(&mut self) {
        for ob in self.wake.drain(..) {
            ob.wake();
        }
    }

    fn trace_op(&self, op: &RouteOp<'_>) {
        let t = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let line = match op {
            RouteOp::Connect(j) => format!("CONNECT {}", t(j)),
            RouteOp::Info(j) => format!("INFO {}", t(j)),
            RouteOp::Sub {
                origin,
                account,
                subject,
                queue,
            } => {
                let head = match origin {
                    Some(o) => format!("LS+ {} ", t(o)),
                    None => "RS+ ".into(),
                };
                let q = queue
                    .map(|(q, w)| format!(" {} {w}", t(q)))
                    .unwrap_or_default();
                format!("{head}{} {}{q}", t(account), t(subject))
            }
            RouteOp::Unsub {
                account,
                subject,
                queue,
            } => format!(
                "RS- {} {}{}",
                t(account),
                t(subject),
                queue.map(|q| format!(" {}", t(q))).unwrap_or_default()
            ),
            RouteOp::Msg(m) => {
                let mut line = match m.origin {
                    Some(o) => format!("LMSG {} ", t(o)),
                    None if m.sizes[0].is_empty() => "RMSG ".to_string(),
                    None => "HMSG ".to_string(),
                };
                line.push_str(&format!("{} {}", t(m.account), t(m.subject)));
                match (m.reply, m.queue_list.is_empty()) {
                    (Some(r), true) => line.push_str(&format!(" {}", t(r))),
                    (Some(r), false) => line.push_str(&format!(" + {} {}", t(r), t(m.queue_list))),
                    (None, false) => line.push_str(&format!(" | {}", t(m.queue_list))),
                    (None, true) => {}
                }
                for size in m.sizes.iter().filter(|s| !s.is_empty()) {
                    line.push_str(&format!(" {}", t(size)));
                }
                line
            }
            RouteOp::Ping => "PING".into(),
            RouteOp::Pong => "PONG".into(),
            RouteOp::Ok => "OK".into(),
            RouteOp::Err(e) => format!("-ERR '{}'", t(e)),
        };
        log::trace!("{} - <<- [{line}]", self.prefix());
    }
}

impl Drop for RouteConnection {
    fn drop(&mut self) {
        if self.state != State::Closed {
            self.outbox.close(CloseReason::ClientClosed, false);
            self.teardown();
        }
        self.flush_wakes();
    }
}

/// Our route INFO (`ldm` set once the server is in lame duck mode).
pub(super) fn write_info(server: &Server, tls: bool, out: &mut Vec<u8>) {
    let routes = server.routes();
    let o = server.options();
    let (cluster, dynamic) = routes.cluster_name();
    let bound = routes.bound_addr();
    let advertise = &routes.options().advertise;
    let (host, port) = match advertise_host_port(advertise) {
        Some((h, p)) => (h, p),
        None => (
            routes.options().host.clone(),
            bound.map_or(routes.options().port.unwrap_or(0), |a| a.port()),
        ),
    };
    let ip = (!advertise.is_empty()).then(|| format!("nats-route://{advertise}/"));
    let urls: Vec<String> = if routes.options().no_advertise {
        Vec::new()
    } else {
        server.own_client_url().into_iter().collect()
    };
    let info = OurInfo {
        server_id: server.id(),
        server_name: server.name(),
        version: COMPAT_VERSION,
        proto: 2,
        go: server.version_string(),
        host: &host,
        port,
        headers: !o.no_header_support,
        auth_required: routes.options().auth_required(),
        tls_required: tls,
        tls_verify: tls,
        max_payload: o.max_payload,
        ip: ip.as_deref(),
        cluster: &cluster,
        cluster_dynamic: dynamic,
        connect_urls: &urls,
        ldm: server.in_lame_duck(),
    };
    info.write(out);
}

/// The accounts whose interest routes carry.
fn local_accounts(server: &Server) -> Vec<Arc<Account>> {
    server.accounts().all().cloned().collect()
}

/// `host:port` of `cluster_advertise` (the port defaults to 6222... or
/// rather the listen port is not known here, so a port is required).
fn advertise_host_port(a: &str) -> Option<(String, u16)> {
    if a.is_empty() {
        return None;
    }
    let a = a.split("://").last().unwrap_or(a).trim_end_matches('/');
    let (h, p) = match a.strip_prefix('[') {
        Some(rest) => {
            let (h, after) = rest.split_once(']')?;
            (h, after.strip_prefix(':')?)
        }
        None => a.rsplit_once(':')?,
    };
    Some((h.to_string(), p.parse().ok()?))
}
