//! State shared by all connections of one server: options, identity,
//! accounts with their subject index, the connection count and counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::connection::Connection;
use crate::nkey;
use crate::options::{Options, NATSD_VERSION};
use crate::registry::Registry;
use crate::rng::Rng;
use crate::sublist::Sublist;

/// One account: an isolated subject space.
#[derive(Debug)]
pub struct Account {
    name: String,
    sublist: RwLock<Sublist>,
    generation: Arc<AtomicU64>,
}

impl Account {
    /// A new empty account.
    pub fn new(name: impl Into<String>) -> Account {
        let sublist = Sublist::new();
        let generation = sublist.generation();
        Account { name: name.into(), sublist: RwLock::new(sublist), generation }
    }

    /// The account name (`$G` for the global account).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The subject index, for reading.
    pub fn sublist(&self) -> RwLockReadGuard<'_, Sublist> {
        self.sublist.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The subject index, for changing.
    pub fn sublist_mut(&self) -> RwLockWriteGuard<'_, Sublist> {
        self.sublist.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The index's generation; changes on every insert and remove.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Server-wide counters. Per-message counts are kept per connection and
/// added here when a connection closes or reports, so the hot path does not
/// contend on shared cache lines.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages received from clients.
    pub in_msgs: AtomicU64,
    /// Payload bytes received from clients.
    pub in_bytes: AtomicU64,
    /// Slow consumers detected.
    pub slow_consumers: AtomicU64,
    /// Connections closed as stale.
    pub stale_connections: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
}

/// The shared half of the server (quinn's `Endpoint` to [`Connection`]'s
/// `Connection`): everything that outlives a single peer.
#[derive(Debug)]
pub struct Server {
    opts: Options,
    id: String,
    name: String,
    xkey: String,
    version_string: String,
    global: Arc<Account>,
    next_cid: AtomicU64,
    connections: AtomicUsize,
    seed: Mutex<Rng>,
    stats: Stats,
    /// Set when the runtime knows the real listen port (e.g. after port 0).
    port: AtomicUsize,
    registry: Registry,
}

impl Server {
    /// A server with `opts`. All randomness (server id, per-connection
    /// generators) derives from `seed`.
    pub fn new(opts: Options, seed: u64) -> Arc<Server> {
        let mut rng = Rng::new(seed);
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let id = nkey::encode_public(nkey::PREFIX_SERVER, &key);
        rng.fill(&mut key);
        let xkey = nkey::encode_public(nkey::PREFIX_CURVE, &key);
        let name = opts.server_name.clone().unwrap_or_else(|| id.clone());
        let port = opts.port as usize;
        Arc::new(Server {
            opts,
            id,
            name,
            xkey,
            version_string: format!("natsd {NATSD_VERSION}"),
            global: Arc::new(Account::new("$G")),
            next_cid: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            seed: Mutex::new(rng),
            stats: Stats::default(),
            port: AtomicUsize::new(port),
            registry: Registry::default(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The server id (a public nkey).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The server name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The x25519 public key advertised in INFO.
    pub fn xkey(&self) -> &str {
        &self.xkey
    }

    /// natsd's own name and version.
    pub fn version_string(&self) -> &str {
        &self.version_string
    }

    /// The client port advertised in INFO.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed) as u16
    }

    /// Records the port actually bound (useful with port 0).
    pub fn set_port(&self, port: u16) {
        self.port.store(port as usize, Ordering::Relaxed);
    }

    /// The global account.
    pub fn global_account(&self) -> &Arc<Account> {
        &self.global
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live and recently closed clients, for monitoring.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Open client connections.
    pub fn num_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Accepts a new client connection from `peer`. The returned connection
    /// has its INFO queued; when the connection limit is reached it also
    /// has the `-ERR` queued and is already closing.
    pub fn accept(self: &Arc<Self>, peer: SocketAddr, now: Instant) -> Connection {
        let cid = self.next_cid.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed.lock().unwrap_or_else(|e| e.into_inner()).next_u64();
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let over = self.connections.fetch_add(1, Ordering::AcqRel) >= self.opts.max_connections;
        Connection::new(self.clone(), cid, peer, seed, now, over)
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
