//! Cluster routes: server-to-server connections inside one cluster, spoken
//! the way nats-server 2.9 speaks them — one unpooled, uncompressed route
//! per peer — which 2.14 peers accept too (routes.md §12).
//!
//! * [`parser`]: route protocol framing (`INFO`, `CONNECT`, `RS+`, `RS-`,
//!   `LS+`, `LS-`, `RMSG`, `HMSG`, `LMSG`, `PING`, `PONG`, `-ERR`).
//! * [`RouteConnection`]: one route's state machine, driven like a client
//!   [`crate::Connection`] (`receive`, `handle_timeout`, `poll_timeout`, an
//!   [`Outbox`]); made by [`Server::accept_route`] and
//!   [`Server::dial_route`].
//! * [`Routes`] (one per server, [`Server::routes`]): the registered
//!   routes, the remote interest they announced, the routes to dial and
//!   when ([`Routes::poll_dial`]), and the two hooks the client path calls:
//!   [`Routes::forward`] after local delivery, and the [`InterestSink`]
//!   each account's index reports to when local interest changes.
//!
//! # Rules kept here
//!
//! * Only local interest is announced (`RS+` on a plain subject's first
//!   subscription, `RS-` on its last; queue groups with their absolute
//!   member count as weight), and all of it right after a route registers.
//! * One hop: a message received from a route is delivered to local
//!   subscribers only, never forwarded to another route.
//! * Queue groups: a group with a local member is served locally; otherwise
//!   one route is picked, weighted by the members it announced, and named
//!   in that route's `RMSG` queue list. A receiver serves exactly the groups
//!   named. So each group gets one copy cluster-wide.
//! * A route to ourselves (our own server id in INFO) is closed and not
//!   dialed again; a second route to a registered peer is closed.
//! * Gossip: when an accepted route registers, its INFO (with `ip`) goes to
//!   every other peer; a gossip INFO about an unknown server makes us dial
//!   it (an implicit route, tried `connect_retries` + 1 times).

mod connection;
mod options;
pub mod parser;
mod proto;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

pub use connection::RouteConnection;
pub use options::{ClusterOptions, RouteUrl};
pub use proto::PeerInfo;

use crate::options::Options;
use crate::outbox::{Append, Outbox};
use crate::rng::Rng;
use crate::server::{Account, Server};
use crate::sublist::{InterestSink, Sublist, Subscription};
use crate::tls::RouteTlsConfig;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// How long after a lost or failed explicit route it is dialed again
/// (nats-server's 1 s, plus up to 100 ms of jitter).
const RECONNECT: Duration = Duration::from_secs(1);

/// The longest wait between attempts to resolve a route's host name.
const MAX_RESOLVE_BACKOFF: Duration = Duration::from_secs(10);

/// A route the runtime should dial now ([`Routes::poll_dial`]): resolve
/// `host`, connect to `port`, then call [`Server::dial_route`] with the
/// socket's peer address, or [`Routes::dial_failed`].
#[derive(Debug, Clone)]
pub struct DialRequest {
    target: usize,
    epoch: u64,
    /// The URL (credentials included; do not log it as is).
    pub url: RouteUrl,
    /// Which attempt this is since the route was last up (from 1).
    pub attempt: u32,
}

impl DialRequest {
    /// Host name or address to resolve.
    pub fn host(&self) -> &str {
        &self.url.host
    }

    /// Port to connect to.
    pub fn port(&self) -> u16 {
        self.url.port
    }
}

/// What [`Routes::poll_dial`] says.
#[derive(Debug)]
pub enum DialPoll {
    /// Dial this route now.
    Dial(DialRequest),
    /// Nothing to dial before this instant (`None`: until woken); the waker
    /// given is woken when that changes.
    Wait(Option<Instant>),
}

/// Why a dial did not produce a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialError {
    /// The host name did not resolve (retried with a growing delay).
    Resolve,
    /// The connection was refused, timed out or failed.
    Connect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TargetState {
    /// Dial at this instant.
    Waiting(Instant),
    /// Handed to the runtime.
    Dialing,
    /// Socket open, handshake under way on route `cid`.
    Connecting(u64),
    /// Registered as route `cid`.
    Connected(u64),
    /// The peer (this server id) is already routed over another connection.
    Covered(String),
    /// The URL points at this server.
    SelfRoute,
    /// An implicit route that is not tried again.
    Gone,
}

#[derive(Debug)]
struct Target {
    url: RouteUrl,
    explicit: bool,
    state: TargetState,
    epoch: u64,
    /// Attempts since the route was last up.
    attempts: u32,
    /// The server behind it, once known (from gossip or a registration):
    /// it is not dialed while that server is routed already.
    server_id: Option<String>,
}

#[derive(Debug)]
struct Dialer {
    targets: Vec<Target>,
    waker: Option<Waker>,
    rng: Rng,
}

impl Dialer {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn jitter(&mut self) -> Duration {
        Duration::from_millis(self.rng.next_u64() % 100)
    }
}

/// The cluster name in force.
#[derive(Debug, Clone)]
struct ClusterName {
    name: String,
    dynamic: bool,
}

/// Counters and times of one registered route, for `/routez`.
#[derive(Debug)]
pub(crate) struct RouteStats {
    pub(crate) start: Instant,
    pub(crate) in_msgs: AtomicU64,
    pub(crate) in_bytes: AtomicU64,
    pub(crate) subs: AtomicUsize,
    pub(crate) last_activity: Mutex<Instant>,
    pub(crate) rtt: Mutex<Option<Duration>>,
}

impl RouteStats {
    pub(crate) fn new(now: Instant) -> RouteStats {
        RouteStats {
            start: now,
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            subs: AtomicUsize::new(0),
            last_activity: Mutex::new(now),
            rtt: Mutex::new(None),
        }
    }
}

/// A registered route, as the rest of the server sees it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) cid: u64,
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) solicited: bool,
    /// Dialed from (or covering) an explicit `routes` entry.
    pub(crate) configured: AtomicBool,
    pub(crate) addr: SocketAddr,
    pub(crate) connect_urls: Mutex<Vec<String>>,
    /// Its INFO as other peers get it by gossip.
    pub(crate) gossip: Option<Vec<u8>>,
    pub(crate) stats: Arc<RouteStats>,
}

/// One route as `/routez` shows it.
#[derive(Debug, Clone)]
pub struct RouteSnapshot {
    /// Connection id (`rid`).
    pub rid: u64,
    /// Peer server id.
    pub remote_id: String,
    /// Peer server name.
    pub remote_name: String,
    /// We dialed it.
    pub did_solicit: bool,
    /// It is (or covers) an explicit `routes` entry.
    pub is_configured: bool,
    /// Peer address.
    pub addr: SocketAddr,
    /// When it was created.
    pub start: Instant,
    /// Last input.
    pub last_activity: Instant,
    /// Last PING round trip.
    pub rtt: Option<Duration>,
    /// Bytes waiting to be written.
    pub pending: usize,
    /// Messages received.
    pub in_msgs: u64,
    /// Payload bytes received.
    pub in_bytes: u64,
    /// Messages sent.
    pub out_msgs: u64,
    /// Payload bytes sent.
    pub out_bytes: u64,
    /// Remote subscriptions it announced.
    pub subscriptions: usize,
}

/// What a registration attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registered {
    /// The route is registered.
    Added,
    /// A route to that server exists already.
    Duplicate,
}

#[derive(Debug)]
struct Shared {
    enabled: bool,
    opts: ClusterOptions,
    own_id: String,
    name: Mutex<ClusterName>,
    peers: RwLock<Vec<Arc<Peer>>>,
    /// `peers` is not empty: the one load the publish path pays without
    /// routes.
    active: AtomicBool,
    /// Remote interest per account name.
    remote: RwLock<FxHashMap<Bytes, Arc<RwLock<Sublist>>>>,
    dial: Mutex<Dialer>,
    listen: Mutex<Option<SocketAddr>>,
    /// State of the generator picking remote queue members.
    pick: AtomicU64,
    /// `connect_error_reports`: log every Nth failed attempt as an error.
    connect_error_reports: i64,
    /// The rustls configurations of `cluster { tls {} }`, installed by the
    /// host (it reads the files) at startup and on reload.
    tls: RwLock<Option<RouteTlsConfig>>,
    /// Some peer has brought client URLs (see [`Routes::connect_urls`]).
    urls_seen: AtomicBool,
}

/// The cluster side of a server. See the module docs.
#[derive(Debug)]
pub struct Routes {
    shared: Arc<Shared>,
}

/// Reports an account's local interest changes to every route.
#[derive(Debug)]
struct AccountSink {
    shared: Arc<Shared>,
    account: Bytes,
}

impl InterestSink for AccountSink {
    fn interest(&self, subject: &[u8], queue: Option<&[u8]>, count: usize) {
        for p in read(&self.shared.peers).iter() {
            p.outbox
                .append(|b| proto::write_interest(b, &self.account, subject, queue, count));
            p.outbox.wake();
        }
    }
}

impl Routes {
    /// The routes of a server with `opts` and id `own_id`.
    pub(crate) fn new(opts: &Options, own_id: &str, seed: u64) -> Routes {
        let cluster = opts.cluster.clone().unwrap_or_default();
        let enabled = opts.cluster.as_ref().is_some_and(ClusterOptions::enabled);
        let mut rng = Rng::new(seed);
        let name = match &cluster.name {
            Some(n) => ClusterName {
                name: n.clone(),
                dynamic: false,
            },
            None => {
                const ALPHABET: &[u8] =
                    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                let name = (0..22)
                    .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
                    .collect();
                ClusterName {
                    name,
                    dynamic: true,
                }
            }
        };
        let targets = if enabled {
            cluster
                .routes
                .iter()
                .map(|url| Target {
                    url: url.clone(),
                    explicit: true,
                    state: TargetState::Dialing,
                    epoch: 0,
                    attempts: 0,
                    server_id: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let pick = rng.next_u64();
        Routes {
            shared: Arc::new(Shared {
                enabled,
                opts: cluster,
                own_id: own_id.to_string(),
                name: Mutex::new(name),
                peers: RwLock::new(Vec::new()),
                active: AtomicBool::new(false),
                remote: RwLock::new(FxHashMap::default()),
                dial: Mutex::new(Dialer {
                    targets,
                    waker: None,
                    rng,
                }),
                listen: Mutex::new(None),
                pick: AtomicU64::new(pick),
                connect_error_reports: opts.connect_error_reports,
                tls: RwLock::new(None),
                urls_seen: AtomicBool::new(false),
            }),
        }
    }

    /// True when the server takes part in a cluster (a cluster listen port
    /// is configured): the runtime then listens on [`Routes::listen_addr`]
    /// and serves [`Routes::poll_dial`].
    pub fn enabled(&self) -> bool {
        self.shared.enabled
    }

    /// The cluster options in force.
    pub fn options(&self) -> &ClusterOptions {
        &self.shared.opts
    }

    /// Where to listen for routes: `(host, port)`, port 0 for any.
    pub fn listen_addr(&self) -> Option<(String, u16)> {
        let o = &self.shared.opts;
        o.port.map(|p| (o.host.clone(), p))
    }

    /// Records the address the route listener is bound to, logs
    /// nats-server's lines, and starts dialing the explicit routes.
    pub fn listening(&self, addr: SocketAddr, now: Instant) {
        *lock(&self.shared.listen) = Some(addr);
        let (name, dynamic) = self.cluster_name();
        log::info!("Cluster name is {name}");
        if dynamic {
            log::warn!("Cluster name was dynamically generated, consider setting one");
        }
        if self.shared.opts.pool_size > 1 {
            log::info!(
                "Route pooling (pool_size: {}) is not implemented: using one route per server",
                self.shared.opts.pool_size
            );
        }
        if !self.shared.opts.accounts.is_empty() {
            log::info!(
                "Pinned route accounts {:?} are not implemented: their traffic uses the one route per server",
                self.shared.opts.accounts
            );
        }
        let c = self.shared.opts.compression.to_ascii_lowercase();
        if !c.is_empty() && c != "off" && c != "disabled" {
            log::info!(
                "Route compression {:?} is not implemented: routes are not compressed",
                self.shared.opts.compression
            );
        }
        log::info!("Listening for route connections on {addr}");
        if self.shared.opts.tls.as_ref().is_some_and(|t| t.insecure) {
            log::warn!(
                "TLS certificate chain and hostname of solicited routes will not be verified. DO NOT USE IN PRODUCTION!"
            );
        }
        let mut d = lock(&self.shared.dial);
        for t in d.targets.iter_mut() {
            if t.state == TargetState::Dialing && t.epoch == 0 {
                t.state = TargetState::Waiting(now);
            }
        }
        d.wake();
    }

    /// Installs the route TLS configuration (from
    /// [`crate::tls::route_config`]); routes accepted or dialed afterwards
    /// use it, established ones keep theirs.
    pub fn install_tls(&self, config: Option<RouteTlsConfig>) {
        *write(&self.shared.tls) = config;
    }

    /// The route TLS configuration for a route made now.
    pub(crate) fn tls_config(&self) -> Option<RouteTlsConfig> {
        read(&self.shared.tls).clone()
    }

    /// The bound route listen address, once [`Routes::listening`] ran.
    pub fn bound_addr(&self) -> Option<SocketAddr> {
        *lock(&self.shared.listen)
    }

    /// The cluster name and whether it was made up.
    pub fn cluster_name(&self) -> (String, bool) {
        let n = lock(&self.shared.name);
        (n.name.clone(), n.dynamic)
    }

    /// Registered routes.
    pub fn num_routes(&self) -> usize {
        read(&self.shared.peers).len()
    }

    /// Routes for `/routez`, in registration order.
    pub fn snapshot(&self) -> Vec<RouteSnapshot> {
        read(&self.shared.peers)
            .iter()
            .map(|p| {
                let (out_msgs, out_bytes) = p.outbox.out_counters();
                RouteSnapshot {
                    rid: p.cid,
                    remote_id: p.server_id.clone(),
                    remote_name: p.server_name.clone(),
                    did_solicit: p.solicited,
                    is_configured: p.configured.load(Ordering::Relaxed),
                    addr: p.addr,
                    start: p.stats.start,
                    last_activity: *lock(&p.stats.last_activity),
                    rtt: *lock(&p.stats.rtt),
                    pending: p.outbox.pending(),
                    in_msgs: p.stats.in_msgs.load(Ordering::Relaxed),
                    in_bytes: p.stats.in_bytes.load(Ordering::Relaxed),
                    out_msgs,
                    out_bytes,
                    subscriptions: p.stats.subs.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// The client URLs to give clients in INFO: ours (`own`) then every
    /// peer's, without duplicates; none with `no_advertise` or without a
    /// cluster.
    pub fn connect_urls(&self, own: Option<String>) -> Vec<String> {
        if !self.shared.enabled || self.shared.opts.no_advertise {
            return Vec::new();
        }
        let mut urls: Vec<String> = own.into_iter().collect();
        for p in read(&self.shared.peers).iter() {
            for u in lock(&p.connect_urls).iter() {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        // nats-server lists none until some peer brings one; from then on
        // its own stays listed, also once every peer is gone or in lame
        // duck mode (verified with 2.14).
        if !self.shared.urls_seen.load(Ordering::Relaxed) {
            urls.clear();
        }
        urls
    }

    /// A peer brought client URLs: clients are given the cluster's URLs
    /// from now on.
    pub(crate) fn peer_urls_seen(&self) {
        self.shared.urls_seen.store(true, Ordering::Relaxed);
    }

    /// Lame duck mode began: every route gets our INFO again with
    /// `"ldm":true` (nats-server's bytes: the route INFO, client URLs
    /// still listed), and peers stop giving our client URL to their
    /// clients.
    pub(crate) fn announce_lame_duck(&self, server: &Server) {
        let tls = self.shared.opts.tls.is_some();
        let mut info = Vec::new();
        connection::write_info(server, tls, &mut info);
        for p in read(&self.shared.peers).iter() {
            p.outbox.append(|b| b.extend_from_slice(&info));
            p.outbox.wake();
        }
    }

    /// Makes `account`'s local interest changes go to the routes.
    pub fn attach(&self, account: &Account) {
        if !self.shared.enabled {
            return;
        }
        account
            .sublist_mut()
            .set_interest_sink(Arc::new(AccountSink {
                shared: self.shared.clone(),
                account: Bytes::copy_from_slice(account.name().as_bytes()),
            }));
    }

    /// The next route to dial, or how long to wait. `waker` is woken when a
    /// new route is to be dialed (gossip, a lost route).
    pub fn poll_dial(&self, now: Instant, waker: &Waker) -> DialPoll {
        let mut d = lock(&self.shared.dial);
        let mut next: Option<Instant> = None;
        for (i, t) in d.targets.iter_mut().enumerate() {
            if let TargetState::Waiting(due) = t.state {
                if due <= now {
                    // Lock order: dial, then peers.
                    if let Some(id) = &t.server_id {
                        if read(&self.shared.peers).iter().any(|p| &p.server_id == id) {
                            t.state = TargetState::Covered(id.clone());
                            continue;
                        }
                    }
                    t.state = TargetState::Dialing;
                    t.epoch += 1;
                    t.attempts += 1;
                    log::debug!("Trying to connect to route on {}", t.url.host_port());
                    return DialPoll::Dial(DialRequest {
                        target: i,
                        epoch: t.epoch,
                        url: t.url.clone(),
                        attempt: t.attempts,
                    });
                }
                next = Some(next.map_or(due, |n: Instant| n.min(due)));
            }
        }
        if !d.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            d.waker = Some(waker.clone());
        }
        DialPoll::Wait(next)
    }

    /// The dial of `req` failed before a socket was open.
    pub fn dial_failed(&self, req: &DialRequest, now: Instant, why: DialError, error: &str) {
        let reports = self.shared.connect_error_reports.max(1) as u32;
        let mut d = lock(&self.shared.dial);
        let jitter = d.jitter();
        let retries = self.shared.opts.connect_retries;
        let Some(t) = d.targets.get_mut(req.target) else {
            return;
        };
        if t.epoch != req.epoch || t.state != TargetState::Dialing {
            return;
        }
        if t.attempts == 1 || t.attempts % reports == 0 {
            log::error!(
                "Error trying to connect to route (attempt {}): {error}",
                t.attempts
            );
        } else {
            log::debug!(
                "Error trying to connect to route (attempt {}): {error}",
                t.attempts
            );
        }
        retry(t, now, why, jitter, retries);
        d.wake();
    }

    /// Ends the handshake of a dialed route that did not register.
    fn handshake_failed(&self, target: usize, epoch: u64, now: Instant) {
        let mut d = lock(&self.shared.dial);
        let jitter = d.jitter();
        let retries = self.shared.opts.connect_retries;
        if let Some(t) = d.targets.get_mut(target) {
            if t.epoch == epoch && matches!(t.state, TargetState::Connecting(_)) {
                retry(t, now, DialError::Connect, jitter, retries);
                d.wake();
            }
        }
    }

    /// The dialed route `(target, epoch)` turned out to reach this server.
    fn found_self(&self, target: usize, epoch: u64) {
        let mut d = lock(&self.shared.dial);
        if let Some(t) = d.targets.get_mut(target) {
            if t.epoch == epoch {
                log::debug!("Detected route to self, ignoring {:?}", t.url.redacted());
                t.state = TargetState::SelfRoute;
            }
        }
    }

    /// A socket was opened for `(target, epoch)` and is route `cid`.
    fn connecting(&self, target: usize, epoch: u64, cid: u64) {
        let mut d = lock(&self.shared.dial);
        if let Some(t) = d.targets.get_mut(target) {
            if t.epoch == epoch && t.state == TargetState::Dialing {
                t.state = TargetState::Connecting(cid);
            }
        }
    }

    /// Checks a peer's cluster name against ours (adopting it if ours was
    /// made up). The error is nats-server's `-ERR` text.
    pub(crate) fn check_cluster(&self, theirs: &str, their_dynamic: bool) -> Result<(), String> {
        let mut n = lock(&self.shared.name);
        if theirs == n.name {
            return Ok(());
        }
        if !n.dynamic {
            if their_dynamic {
                return Ok(());
            }
            return Err(format!(
                "Rejecting connection, cluster name \"{theirs}\" does not match \"{}\"",
                n.name
            ));
        }
        if !their_dynamic || theirs > n.name.as_str() {
            log::info!("Cluster name updated to {theirs}");
            n.name = theirs.to_string();
            n.dynamic = their_dynamic;
        }
        Ok(())
    }

    /// Registers a route whose handshake completed. `dialed` is the target
    /// it was dialed for.
    pub(crate) fn register(&self, peer: Arc<Peer>, dialed: Option<(usize, u64)>) -> Registered {
        // Never hold `peers` while taking `dial` (poll_dial nests them the
        // other way).
        let explicit = dialed.is_some_and(|(target, _)| {
            lock(&self.shared.dial)
                .targets
                .get(target)
                .is_some_and(|t| t.explicit)
        });
        let outcome = {
            let mut peers = write(&self.shared.peers);
            if let Some(existing) = peers.iter().find(|p| p.server_id == peer.server_id) {
                if explicit {
                    existing.configured.store(true, Ordering::Relaxed);
                }
                Registered::Duplicate
            } else {
                peers.push(peer.clone());
                self.shared.active.store(true, Ordering::Release);
                Registered::Added
            }
        };
        if let Some((target, epoch)) = dialed {
            let mut d = lock(&self.shared.dial);
            if let Some(t) = d.targets.get_mut(target) {
                if t.epoch == epoch {
                    t.attempts = 0;
                    t.server_id = Some(peer.server_id.clone());
                    t.state = match outcome {
                        Registered::Added => {
                            peer.configured.store(t.explicit, Ordering::Relaxed);
                            TargetState::Connected(peer.cid)
                        }
                        Registered::Duplicate => TargetState::Covered(peer.server_id.clone()),
                    };
                }
            }
        }
        if outcome == Registered::Added && !peer.solicited {
            if let Some(g) = &peer.gossip {
                for p in read(&self.shared.peers).iter() {
                    if p.cid != peer.cid {
                        p.outbox.append(|b| b.extend_from_slice(g));
                        p.outbox.wake();
                    }
                }
            }
        }
        outcome
    }

    /// Removes route `cid` (closed) and its remote interest; explicit
    /// routes it carried are dialed again.
    pub(crate) fn unregister(&self, cid: u64, subs: &[(Bytes, Arc<Subscription>)], now: Instant) {
        let removed = {
            let mut peers = write(&self.shared.peers);
            let i = peers.iter().position(|p| p.cid == cid);
            let removed = i.map(|i| peers.remove(i));
            self.shared
                .active
                .store(!peers.is_empty(), Ordering::Release);
            removed
        };
        self.remove_remote(subs);
        let Some(peer) = removed else {
            return;
        };
        let mut d = lock(&self.shared.dial);
        let retries = self.shared.opts.connect_retries;
        // Both ends of a gossip-made route may have dialed at once and each
        // closed the other's connection as a duplicate: the end with the
        // lower server id then dials once more (the other does not, so the
        // two do not race again).
        let lower = self.shared.own_id < peer.server_id;
        let mut changed = false;
        for i in 0..d.targets.len() {
            let jitter = d.jitter();
            let t = &mut d.targets[i];
            let lost = match &t.state {
                TargetState::Connected(c) => *c == cid,
                TargetState::Covered(id) => *id == peer.server_id,
                _ => false,
            };
            if lost {
                t.attempts = 0;
                t.state = if t.explicit || retries > 0 {
                    TargetState::Waiting(now + RECONNECT + jitter)
                } else if lower {
                    TargetState::Waiting(now + jitter)
                } else {
                    TargetState::Gone
                };
                changed = true;
            }
        }
        if changed {
            d.wake();
        }
    }

    fn remote_account(&self, account: &[u8]) -> Arc<RwLock<Sublist>> {
        if let Some(s) = read(&self.shared.remote).get(account) {
            return s.clone();
        }
        write(&self.shared.remote)
            .entry(Bytes::copy_from_slice(account))
            .or_default()
            .clone()
    }

    /// Adds or updates a remote subscription announced by a route.
    pub(crate) fn add_remote(&self, account: &[u8], sub: &Arc<Subscription>) {
        write(&self.remote_account(account)).insert(sub.clone());
    }

    /// Removes remote subscriptions (account, subscription).
    pub(crate) fn remove_remote(&self, subs: &[(Bytes, Arc<Subscription>)]) {
        for (account, sub) in subs {
            if sub.close() {
                write(&self.remote_account(account)).remove(sub);
            }
        }
    }

    /// A gossip INFO about server `info` arrived: dial it unless it is us,
    /// routed already, or configured.
    pub(crate) fn gossip(&self, info: &PeerInfo, now: Instant) {
        if info.server_id == self.shared.own_id {
            return;
        }
        if read(&self.shared.peers)
            .iter()
            .any(|p| p.server_id == info.server_id)
        {
            return;
        }
        let url = if info.ip.is_empty() {
            return;
        } else {
            match RouteUrl::parse(&info.ip) {
                Ok(u) => u,
                Err(e) => {
                    log::debug!("Ignoring gossip INFO: {e}");
                    return;
                }
            }
        };
        let mut d = lock(&self.shared.dial);
        // Both servers may hear of each other at once: the one with the
        // lower id dials now, the other a little later, and only if the
        // route did not form meanwhile (poll_dial checks the server id).
        let due = if self.shared.own_id < info.server_id {
            now + d.jitter()
        } else {
            now + RECONNECT + d.jitter()
        };
        let same = |t: &Target| t.url.host == url.host && t.url.port == url.port;
        if let Some(t) = d.targets.iter_mut().find(|t| same(t)) {
            if t.state != TargetState::Gone {
                return;
            }
            t.state = TargetState::Waiting(due);
            t.attempts = 0;
            t.server_id = Some(info.server_id.clone());
        } else {
            let mut url = url;
            if info.auth_required {
                url.user = self.shared.opts.user.clone();
                url.password = self.shared.opts.password.clone();
            }
            log::debug!("Learned route {} ({}) by gossip", url, info.server_id);
            d.targets.push(Target {
                url,
                explicit: false,
                state: TargetState::Waiting(due),
                epoch: 0,
                attempts: 0,
                server_id: Some(info.server_id.clone()),
            });
        }
        d.wake();
    }

    /// Forwards a message a client published to every route with matching
    /// interest, after local delivery: one `RMSG` per route, naming the
    /// queue groups that route must serve. `local` are the queue groups
    /// matched locally (a group with an open local member is served here).
    /// Routes' outboxes are added to `wake`. True if some route got it.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        account: &str,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        local: &[Vec<Arc<Subscription>>],
        wake: &mut Vec<Arc<Outbox>>,
    ) -> bool {
        if !self.shared.active.load(Ordering::Acquire) {
            return false;
        }
        let remote = {
            let map = read(&self.shared.remote);
            match map.get(account.as_bytes()) {
                Some(s) => s.clone(),
                None => return false,
            }
        };
        let m = read(&remote).matches(subject);
        if m.is_empty() {
            return false;
        }
        let mut targets: Targets = SmallVec::new();
        for sub in &m.plain {
            if !sub.is_closed() {
                slot(&mut targets, &sub.outbox);
            }
        }
        for group in &m.queues {
            let Some(name) = group[0].queue.as_ref() else {
                continue;
            };
            let served_here = local.iter().any(|g| {
                g.first().and_then(|s| s.queue.as_ref()) == Some(name)
                    && g.iter().any(|s| !s.is_closed())
            });
            if served_here {
                continue;
            }
            let total: u64 = group
                .iter()
                .filter(|s| !s.is_closed())
                .map(|s| u64::from(s.weight()))
                .sum();
            if total == 0 {
                continue;
            }
            let mut r = self.next_random() % total;
            for s in group.iter().filter(|s| !s.is_closed()) {
                let w = u64::from(s.weight());
                if r < w {
                    let i = slot(&mut targets, &s.outbox);
                    targets[i].1.push(name.clone());
                    break;
                }
                r -= w;
            }
        }
        let mut sent = false;
        for (ob, queues) in &targets {
            let peer_headers = ob.headers();
            let payload = if peer_headers {
                message.len()
            } else {
                message.len() - header_len
            };
            let res = ob.append_msg(payload, |b| {
                proto::write_rmsg(
                    b,
                    account.as_bytes(),
                    subject,
                    reply,
                    queues,
                    header_len,
                    message,
                    peer_headers,
                )
            });
            match res {
                Append::Queued => {
                    sent = true;
                    if ob.mark_queued() {
                        wake.push(ob.clone());
                    }
                }
                Append::Closed => {}
                Append::SlowConsumer => {
                    log::info!(
                        "rid:{} - Slow Consumer Detected: MaxPending Exceeded on route",
                        ob.cid()
                    );
                    if ob.mark_queued() {
                        wake.push(ob.clone());
                    }
                }
            }
        }
        sent
    }

    /// splitmix64 over a shared counter: lock-free and seeded.
    fn next_random(&self) -> u64 {
        let x = self
            .shared
            .pick
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The routes one message goes to: each route's outbox and the queue
/// groups it must serve.
type Targets = SmallVec<[(Arc<Outbox>, SmallVec<[Bytes; 2]>); 4]>;

/// The index of `ob` in `targets`, added if missing.
fn slot(targets: &mut Targets, ob: &Arc<Outbox>) -> usize {
    match targets.iter().position(|(o, _)| Arc::ptr_eq(o, ob)) {
        Some(i) => i,
        None => {
            targets.push((ob.clone(), SmallVec::new()));
            targets.len() - 1
        }
    }
}

/// Schedules the next attempt of a failed or lost route.
fn retry(t: &mut Target, now: Instant, why: DialError, jitter: Duration, retries: u32) {
    if !t.explicit && t.attempts > retries {
        log::debug!(
            "Not attempting to connect to route {} after {} attempts",
            t.url,
            t.attempts
        );
        t.state = TargetState::Gone;
        return;
    }
    let delay = match why {
        DialError::Connect => RECONNECT,
        DialError::Resolve => {
            let shift = t.attempts.saturating_sub(1).min(4);
            (RECONNECT * (1 << shift)).min(MAX_RESOLVE_BACKOFF)
        }
    };
    t.state = TargetState::Waiting(now + delay + jitter);
}

impl Server {
    /// The client URL this server advertises to the cluster: the
    /// `client_advertise` value, else the client listen address when it is
    /// a specific one.
    pub(crate) fn own_client_url(&self) -> Option<String> {
        let o = self.options();
        if !o.client_advertise.is_empty() {
            let a = o.client_advertise.as_str();
            let a = a.split_once("://").map_or(a, |(_, rest)| rest);
            let has_port = match a.strip_prefix('[') {
                Some(rest) => rest.contains("]:"),
                None => a.matches(':').count() == 1,
            };
            return Some(if has_port {
                a.to_string()
            } else if a.contains(':') && !a.starts_with('[') {
                format!("[{a}]:{}", self.port())
            } else {
                format!("{a}:{}", self.port())
            });
        }
        let ip: std::net::IpAddr = o.host.parse().ok()?;
        if ip.is_unspecified() {
            return None;
        }
        Some(SocketAddr::new(ip, self.port()).to_string())
    }

    /// Tells protocol-1 clients the cluster's client URLs changed (an
    /// async INFO), as nats-server does when routes come and go.
    pub(crate) fn send_connect_urls_to_clients(&self) {
        if self.routes().options().no_advertise {
            return;
        }
        for info in self.registry().live_infos() {
            if info.meta().protocol >= 1 {
                info.outbox
                    .append(|b| self.write_info(b, info.cid, info.peer, None, None, false));
                info.outbox.wake();
            }
        }
    }

    /// Accepts a route connection from `peer`: its INFO is queued; the
    /// peer must send CONNECT first.
    pub fn accept_route(self: &Arc<Self>, peer: SocketAddr, now: Instant) -> RouteConnection {
        RouteConnection::accepted(self.clone(), peer, now)
    }

    /// A route socket to `peer` was opened for `req`: CONNECT and INFO are
    /// queued.
    pub fn dial_route(
        self: &Arc<Self>,
        req: &DialRequest,
        peer: SocketAddr,
        now: Instant,
    ) -> RouteConnection {
        RouteConnection::dialed(self.clone(), req, peer, now)
    }
}

/// Two or three servers in one process, their route connections joined by
/// moving outbox bytes by hand.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need a starting instant
mod tests {
    use std::sync::Arc;
    use std::task::Waker;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::outbox::Take;
    use crate::{CloseReason, Connection, Server};

    fn drain(ob: &Outbox) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Take::Data = ob.take(&mut buf, Waker::noop()) {
            out.extend_from_slice(&buf);
            ob.written(buf.len());
            buf.clear();
        }
        out
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn cluster(name: Option<&str>, routes: &[&str]) -> ClusterOptions {
        ClusterOptions {
            name: name.map(str::to_string),
            host: "127.0.0.1".into(),
            port: Some(0),
            routes: routes.iter().map(|r| RouteUrl::parse(r).unwrap()).collect(),
            ..ClusterOptions::default()
        }
    }

    fn server(name: &str, port: u16, c: ClusterOptions, seed: u64, now: Instant) -> Arc<Server> {
        let opts = Options {
            host: "127.0.0.1".into(),
            port: 4000 + port,
            server_name: Some(name.into()),
            cluster: Some(c),
            ..Options::default()
        };
        let s = Server::new(opts, seed);
        s.routes()
            .listening(format!("127.0.0.1:{}", 6000 + port).parse().unwrap(), now);
        s
    }

    /// Servers `a` (listening) and `b` (with a route to `a`), cluster C1.
    fn pair(now: Instant) -> (Arc<Server>, Arc<Server>) {
        let a = server("a", 1, cluster(Some("C1"), &[]), 1, now);
        let b = server(
            "b",
            2,
            cluster(Some("C1"), &["nats-route://127.0.0.1:6001"]),
            2,
            now,
        );
        (a, b)
    }

    /// Moves bytes both ways until both outboxes are empty.
    fn pump(a: &mut RouteConnection, b: &mut RouteConnection, now: Instant) {
        for _ in 0..20 {
            let x = drain(a.outbox());
            let y = drain(b.outbox());
            if x.is_empty() && y.is_empty() {
                return;
            }
            b.receive(&x, now);
            a.receive(&y, now);
        }
        panic!("routes kept talking");
    }

    /// `b` dials its first due route, which `a` accepts; returns (a's, b's).
    fn connect(
        a: &Arc<Server>,
        b: &Arc<Server>,
        now: Instant,
    ) -> (RouteConnection, RouteConnection) {
        let DialPoll::Dial(req) = b.routes().poll_dial(now, Waker::noop()) else {
            panic!("nothing to dial");
        };
        let mut acc = a.accept_route("127.0.0.1:50001".parse().unwrap(), now);
        let mut dial = b.dial_route(&req, "127.0.0.1:50002".parse().unwrap(), now);
        pump(&mut acc, &mut dial, now);
        (acc, dial)
    }

    fn client(s: &Arc<Server>, now: Instant, ops: &str) -> Connection {
        let mut c = s.accept("127.0.0.1:40000".parse().unwrap(), now);
        c.receive(
            format!("CONNECT {{\"verbose\":false,\"headers\":true}}\r\n{ops}PING\r\n").as_bytes(),
            now,
        );
        let got = text(&drain(c.outbox()));
        assert!(got.ends_with("PONG\r\n"), "{got}");
        c
    }

    #[test]
    fn handshake_interest_and_messages() {
        let now = Instant::now();
        let (a, b) = pair(now);
        // Interest that exists before the route: sent in the initial dump.
        let sub_a = client(&a, now, "SUB foo 1\r\nSUB work q 2\r\nSUB work q 3\r\n");
        let (mut ra, mut rb) = connect(&a, &b, now);
        assert!(ra.is_registered() && rb.is_registered());
        assert_eq!(a.routes().num_routes(), 1);
        assert_eq!(b.routes().num_routes(), 1);
        assert_eq!(ra.remote_id(), b.id());
        // Interest added later: sent as it happens.
        let mut sub_a2 = client(&a, now, "SUB bar.* 9\r\n");
        pump(&mut ra, &mut rb, now);
        // A publisher on b reaches a's subscribers over the route.
        let mut pubc = client(
            &b,
            now,
            "PUB foo r.1 5\r\nhello\r\nPUB bar.x 2\r\nhi\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhh\r\n",
        );
        drop(drain(pubc.outbox()));
        pump(&mut ra, &mut rb, now);
        assert_eq!(
            text(&drain(sub_a.outbox())),
            "MSG foo 1 r.1 5\r\nhello\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhh\r\n"
        );
        assert_eq!(text(&drain(sub_a2.outbox())), "MSG bar.x 9 2\r\nhi\r\n");
        // Queue group on a, publisher on b: exactly one delivery per message.
        let n = 50;
        let mut batch = String::new();
        for _ in 0..n {
            batch.push_str("PUB work 1\r\nw\r\n");
        }
        pubc.receive(batch.as_bytes(), now);
        pump(&mut ra, &mut rb, now);
        let got = text(&drain(sub_a.outbox()));
        assert_eq!(got.matches("MSG work").count(), n, "{got}");
        // Unsubscribe: RS- reaches b, which stops forwarding.
        sub_a2.receive(b"UNSUB 9\r\n", now);
        pump(&mut ra, &mut rb, now);
        pubc.receive(b"PUB bar.x 2\r\nhi\r\n", now);
        assert!(
            drain(rb.outbox()).is_empty(),
            "nothing routed without interest"
        );
        // One hop: a message from a route is not sent on to other routes, and
        // a's own publish is delivered locally and not echoed back.
        let pub_a = client(&a, now, "PUB foo 1\r\nx\r\n");
        drop(drain(pub_a.outbox()));
        assert!(drain(ra.outbox()).is_empty(), "b has no interest in foo");
        assert_eq!(text(&drain(sub_a.outbox())), "MSG foo 1 1\r\nx\r\n");
        // Closing the route drops b's remote interest.
        ra.close(CloseReason::ClientClosed);
        rb.close(CloseReason::ClientClosed);
        assert_eq!(a.routes().num_routes(), 0);
        assert_eq!(b.routes().num_routes(), 0);
        pubc.receive(b"PUB foo 1\r\nx\r\n", now);
        assert!(drain(rb.outbox()).is_empty());
        // b re-dials its explicit route after about a second.
        match b
            .routes()
            .poll_dial(now + Duration::from_millis(1200), Waker::noop())
        {
            DialPoll::Dial(req) => assert_eq!(req.port(), 6001),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn queue_weights_and_local_preference() {
        let now = Instant::now();
        let (a, b) = pair(now);
        let (mut ra, mut rb) = connect(&a, &b, now);
        let mut m1 = client(&a, now, "SUB work q 1\r\n");
        let mut m2 = client(&a, now, "SUB work q 2\r\n");
        let got = text(&drain(ra.outbox()));
        assert_eq!(got, "RS+ $G work q 1\r\nRS+ $G work q 2\r\n");
        rb.receive(got.as_bytes(), now);
        m1.receive(b"UNSUB 1\r\n", now);
        m2.receive(b"UNSUB 2\r\n", now);
        assert_eq!(
            text(&drain(ra.outbox())),
            "RS+ $G work q 1\r\nRS- $G work q\r\n"
        );
        // A local member on b wins over a's members.
        let m3 = client(&a, now, "SUB work q 3\r\n");
        pump(&mut ra, &mut rb, now);
        let mut local = client(&b, now, "SUB work q 7\r\n");
        pump(&mut ra, &mut rb, now);
        let _p = client(&b, now, "PUB work 1\r\nx\r\n");
        assert!(drain(rb.outbox()).is_empty());
        assert_eq!(text(&drain(local.outbox())), "MSG work 7 1\r\nx\r\n");
        // Without it, the route is named in the queue list.
        local.receive(b"UNSUB 7\r\n", now);
        pump(&mut ra, &mut rb, now);
        let _p = client(&b, now, "PUB work r 1\r\ny\r\n");
        let routed = text(&drain(rb.outbox()));
        assert_eq!(routed, "RMSG $G work + r q 1\r\ny\r\n");
        ra.receive(routed.as_bytes(), now);
        assert_eq!(text(&drain(m3.outbox())), "MSG work 3 r 1\r\ny\r\n");
        // A queue list names the only groups to serve: plain subscribers get
        // the message, other groups do not.
        let plain = client(&a, now, "SUB work 4\r\nSUB work other 5\r\n");
        ra.receive(b"RMSG $G work 1\r\nz\r\n", now);
        assert_eq!(text(&drain(plain.outbox())), "MSG work 4 1\r\nz\r\n");
        assert!(drain(m3.outbox()).is_empty());
    }

    #[test]
    fn handshake_refusals() {
        let now = Instant::now();
        let a = server("a", 1, cluster(Some("C1"), &[]), 1, now);
        let peer = "127.0.0.1:50001".parse().unwrap();
        let info = |c: &mut RouteConnection| {
            let got = text(&drain(c.outbox()));
            assert!(
                got.starts_with("INFO {") && got.ends_with("} \r\n"),
                "{got}"
            );
            let v: serde_json::Value = serde_json::from_str(&got[5..got.len() - 3]).unwrap();
            assert_eq!(v["cluster"], "C1");
            assert_eq!(v["port"], 6001);
            assert_eq!(v["proto"], 2);
            assert!(v.get("compression").is_none() && v.get("route_pool_size").is_none());
        };
        for first in ["PING\r\n", "INFO {\"server_id\":\"X\"}\r\n"] {
            let mut c = a.accept_route(peer, now);
            info(&mut c);
            c.receive(first.as_bytes(), now);
            assert_eq!(
                text(&drain(c.outbox())),
                "-ERR 'Authorization Violation'\r\n"
            );
            assert!(c.is_closed());
        }
        let mut c = a.accept_route(peer, now);
        info(&mut c);
        c.receive(b"CONNECT {\"verbose\":false,\"lang\":\"go\"}\r\n", now);
        assert_eq!(
            text(&drain(c.outbox())),
            "-ERR 'attempted to connect to route port'\r\n"
        );
        let mut c = a.accept_route(peer, now);
        info(&mut c);
        c.receive(b"CONNECT {\"name\":\"NX\",\"cluster\":\"C2\"}\r\n", now);
        assert_eq!(
            text(&drain(c.outbox())),
            "-ERR 'Rejecting connection, cluster name \"C2\" does not match \"C1\"'\r\n"
        );
        let mut c = a.accept_route(peer, now);
        info(&mut c);
        c.handle_timeout(now + Duration::from_secs(3));
        assert_eq!(
            text(&drain(c.outbox())),
            "-ERR 'Authentication Timeout'\r\n"
        );
        // With cluster credentials.
        let mut o = cluster(Some("C1"), &[]);
        o.user = Some("ruser".into());
        o.password = Some("rpass".into());
        let s = server("s", 3, o, 3, now);
        let mut c = s.accept_route(peer, now);
        assert!(text(&drain(c.outbox())).contains("\"auth_required\":true"));
        c.receive(
            b"CONNECT {\"name\":\"NX\",\"cluster\":\"C1\",\"user\":\"ruser\",\"pass\":\"bad\"}\r\n",
            now,
        );
        assert_eq!(
            text(&drain(c.outbox())),
            "-ERR 'Authorization Violation'\r\n"
        );
        let mut c = s.accept_route(peer, now);
        drop(drain(c.outbox()));
        c.receive(
            b"CONNECT {\"name\":\"NX\",\"cluster\":\"C1\",\"user\":\"ruser\",\"pass\":\"rpass\"}\r\n",
            now,
        );
        assert!(drain(c.outbox()).is_empty());
        assert!(!c.is_closed());
    }

    #[test]
    fn self_route_is_dropped_for_good() {
        let now = Instant::now();
        let a = server(
            "a",
            1,
            cluster(Some("C1"), &["nats-route://127.0.0.1:6001"]),
            1,
            now,
        );
        let (acc, dial) = connect(&a, &a, now);
        assert!(acc.is_closed() && dial.is_closed());
        assert_eq!(a.routes().num_routes(), 0);
        match a
            .routes()
            .poll_dial(now + Duration::from_secs(60), Waker::noop())
        {
            DialPoll::Wait(None) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicate_route_is_closed() {
        let now = Instant::now();
        let a = server(
            "a",
            1,
            cluster(Some("C1"), &["nats-route://127.0.0.1:6002"]),
            1,
            now,
        );
        let b = server(
            "b",
            2,
            cluster(Some("C1"), &["nats-route://127.0.0.1:6001"]),
            2,
            now,
        );
        let (r1a, r1b) = connect(&a, &b, now);
        assert!(r1a.is_registered() && r1b.is_registered());
        let (r2b, r2a) = connect(&b, &a, now);
        assert!(r2a.is_closed() && r2b.is_closed());
        assert_eq!(a.routes().num_routes(), 1);
        assert_eq!(b.routes().num_routes(), 1);
        let s = a.routes().snapshot();
        assert!(s[0].is_configured && !s[0].did_solicit, "{s:?}");
    }

    /// What a route delivers and answers does not depend on how its input
    /// is split into reads.
    #[test]
    fn route_input_split_anywhere() {
        let stream: &[u8] = b"RS+ $G foo\r\nRS+ $G work q 2\r\nPING\r\n\
            RMSG $G foo r.1 5\r\nhello\r\nHMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhh\r\n\
            RMSG $G work | q 1\r\nw\r\nRMSG $G foo  x  2\r\nab\r\nRS- $G foo\r\nPONG\r\n";
        let run = |cuts: &[usize]| -> (String, String) {
            let now = Instant::now();
            let (a, b) = pair(now);
            let sub = client(&a, now, "SUB foo 1\r\nSUB work q 2\r\n");
            let (mut ra, _rb) = connect(&a, &b, now);
            drop(drain(ra.outbox()));
            let mut from = 0;
            for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
                ra.receive(&stream[from..c], now);
                from = c;
            }
            assert!(!ra.is_closed());
            (text(&drain(sub.outbox())), text(&drain(ra.outbox())))
        };
        let whole = run(&[]);
        assert_eq!(
            whole.0,
            "MSG foo 1 r.1 5\r\nhello\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhh\r\n\
             MSG work 2 1\r\nw\r\nMSG foo 1 x 2\r\nab\r\n"
        );
        assert_eq!(whole.1, "PONG\r\n");
        for i in 1..stream.len() {
            assert_eq!(run(&[i]), whole, "split at {i}");
        }
        let every: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(run(&every), whole, "one byte at a time");
    }

    /// Two servers that hear of each other by gossip at once: the one with
    /// the lower id dials, the other finds the route formed and does not.
    #[test]
    fn gossip_does_not_race() {
        let now = Instant::now();
        let x = server("x", 1, cluster(Some("C1"), &[]), 11, now);
        let y = server("y", 2, cluster(Some("C1"), &[]), 12, now);
        let (lo, hi) = if x.id() < y.id() { (x, y) } else { (y, x) };
        let info = |s: &Arc<Server>| PeerInfo {
            server_id: s.id().to_string(),
            ip: format!("nats-route://{}/", s.routes().bound_addr().unwrap()),
            ..PeerInfo::default()
        };
        lo.routes().gossip(&info(&hi), now);
        hi.routes().gossip(&info(&lo), now);
        let soon = now + Duration::from_millis(150);
        assert!(matches!(
            hi.routes().poll_dial(soon, Waker::noop()),
            DialPoll::Wait(Some(_))
        ));
        let (_acc, dialed) = connect(&hi, &lo, soon);
        assert!(dialed.is_registered());
        match hi
            .routes()
            .poll_dial(now + Duration::from_secs(2), Waker::noop())
        {
            DialPoll::Wait(None) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(hi.routes().num_routes(), 1);
    }

    /// Lame duck mode reaches route peers (nats-server's behaviour on
    /// both sides): the server in lame duck mode sends its route INFO
    /// again with `"ldm":true`; the peer drops that server's client URL
    /// and tells its protocol-1 clients.
    #[test]
    fn lame_duck_is_told_to_route_peers() {
        let now = Instant::now();
        let (a, b) = pair(now);
        let (mut ra, mut rb) = connect(&a, &b, now);
        let mut cl = b.accept("127.0.0.1:40000".parse().unwrap(), now);
        cl.receive(
            b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n",
            now,
        );
        let got = text(&drain(cl.outbox()));
        assert!(
            got.contains("\"connect_urls\":[\"127.0.0.1:4002\",\"127.0.0.1:4001\"]"),
            "{got}"
        );
        let mut ca = a.accept("127.0.0.1:40001".parse().unwrap(), now);
        ca.receive(
            b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n",
            now,
        );
        drop(drain(ca.outbox()));

        let _ = a.enter_lame_duck(now);
        let info = text(&drain(ra.outbox()));
        assert!(
            info.starts_with("INFO {") && info.ends_with("} \r\n"),
            "{info}"
        );
        assert!(
            info.contains("\"connect_urls\":[\"127.0.0.1:4001\"],\"ldm\":true"),
            "{info}"
        );
        assert!(!info.contains("nonce"), "{info}");
        // a's own clients no longer get a's URL.
        let own = text(&drain(ca.outbox()));
        assert!(
            own.contains("\"connect_urls\":[\"127.0.0.1:4002\"]"),
            "{own}"
        );
        assert!(own.contains("\"ldm\":true"), "{own}");
        rb.receive(info.as_bytes(), now);
        let got = text(&drain(cl.outbox()));
        assert!(got.starts_with("INFO {"), "{got}");
        assert!(
            got.contains("\"connect_urls\":[\"127.0.0.1:4002\"]"),
            "b keeps its own URL: {got}"
        );
        assert!(
            !got.contains("\"ldm\""),
            "b is not in lame duck mode: {got}"
        );
        assert!(rb.is_registered() && !rb.is_closed());
        pump(&mut ra, &mut rb, now);
        cl.close(CloseReason::ClientClosed);
        ca.close(CloseReason::ClientClosed);
    }

    #[test]
    fn gossip_makes_the_mesh() {
        let now = Instant::now();
        let (a, b) = pair(now);
        let c = server(
            "c",
            3,
            cluster(Some("C1"), &["nats-route://127.0.0.1:6001"]),
            3,
            now,
        );
        let (mut ab, mut ba) = connect(&a, &b, now);
        let (_ac, _ca) = connect(&a, &c, now);
        // a tells b about c.
        let g = text(&drain(ab.outbox()));
        assert!(g.starts_with("INFO {") && g.contains(c.id()), "{g}");
        assert!(g.contains("\"ip\":\"nats-route://127.0.0.1:6003/\""), "{g}");
        ba.receive(g.as_bytes(), now);
        pump(&mut ab, &mut ba, now);
        match b
            .routes()
            .poll_dial(now + Duration::from_millis(1200), Waker::noop())
        {
            DialPoll::Dial(req) => assert_eq!(req.port(), 6003),
            other => panic!("{other:?}"),
        }
        // Client URLs of the cluster reach clients.
        let mut cl = a.accept("127.0.0.1:40000".parse().unwrap(), now);
        let info = text(&drain(cl.outbox()));
        assert!(
            info.contains(
                "\"connect_urls\":[\"127.0.0.1:4001\",\"127.0.0.1:4002\",\"127.0.0.1:4003\"]"
            ),
            "{info}"
        );
        cl.close(CloseReason::ClientClosed);
    }
}
