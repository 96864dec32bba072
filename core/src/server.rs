//! State shared by all connections of one server: options, identity,
//! accounts with their subject index, the connection count and counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::auth::{self, Authenticator};
use crate::client::info::Info;
use crate::connection::Connection;
use crate::errors::{text, write_err, CloseReason};
use crate::lame_duck;
use crate::nkey;
use crate::options::{Options, COMPAT_VERSION, NATSD_VERSION};
use crate::registry::Registry;
use crate::rng::CsRng;
use crate::sublist::Subscription;

pub use crate::account::Account;

/// How often the server publishes `$SYS.SERVER.<id>.STATSZ`.
const STATSZ_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// Swapped whole by [`Server::reload`]; readers clone the `Arc`.
    opts: RwLock<Arc<Options>>,
    /// The authentication options compiled, swapped with `opts`.
    auth: RwLock<Arc<Authenticator>>,
    /// Some client's permissions filter deliveries to its wildcard
    /// subscriptions (until then lookups skip the filter).
    delivery_filters: AtomicBool,
    id: String,
    name: String,
    xkey: String,
    version_string: String,
    accounts: crate::account::Accounts,
    next_cid: AtomicU64,
    connections: AtomicUsize,
    /// All of the server's randomness: its identity, per-connection seeds
    /// and nkey nonces (see [`CsRng`]).
    seed: Mutex<CsRng>,
    stats: Stats,
    /// Set when the runtime knows the real listen port (e.g. after port 0).
    port: AtomicUsize,
    registry: Registry,
    lame_duck: Mutex<Option<lame_duck::Schedule>>,
    monitor: crate::monitor::State,
    /// Cluster routes (inactive without a `cluster` listen port).
    routes: crate::route::Routes,
    /// `seq` of the `$SYS` messages this server sends.
    sys_seq: AtomicU64,
    /// Queue spreading for the events the server publishes.
    events: crate::account::import::Spread,
    /// When the next `$SYS.SERVER.<id>.STATSZ` is due.
    next_statsz: Mutex<Option<Instant>>,
    /// What `$SYS.REQ.SERVER.<id>.RELOAD` runs (the host re-reads the
    /// configuration file; the core cannot).
    reload_hook: HookCell,
    /// The client port's TLS configuration, installed by the host.
    tls: crate::tls::TlsState,
}

#[derive(Default)]
struct HookCell(std::sync::OnceLock<ReloadHook>);

impl std::fmt::Debug for HookCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "HookCell(set)"
        } else {
            "HookCell(unset)"
        })
    }
}

/// The host's configuration reload, for `$SYS.REQ.SERVER.<id>.RELOAD`:
/// `Err` is the text nats-server would answer with.
pub type ReloadHook = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

impl Server {
    /// A server with `opts`. All randomness (server id, per-connection
    /// generators, nkey nonces) derives from `seed`, through a ChaCha20
    /// generator so that nothing the server shows reveals the rest.
    pub fn new(opts: Options, seed: u64) -> Arc<Server> {
        let mut rng = CsRng::new(seed);
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let id = nkey::encode_public(nkey::PREFIX_SERVER, &key);
        rng.fill(&mut key);
        let xkey = nkey::encode_public(nkey::PREFIX_CURVE, &key);
        let name = opts.server_name.clone().unwrap_or_else(|| id.clone());
        let port = opts.port as usize;
        let auth = Arc::new(Authenticator::new(&opts));
        let routes = crate::route::Routes::new(&opts, &id, rng.next_u64());
        let accounts = crate::account::build(&opts, &id, &mut rng);
        for account in accounts.all() {
            routes.attach(account);
        }
        Arc::new(Server {
            auth: RwLock::new(auth),
            delivery_filters: AtomicBool::new(false),
            opts: RwLock::new(Arc::new(opts)),
            id,
            name,
            xkey,
            version_string: format!("natsd {NATSD_VERSION}"),
            accounts,
            next_cid: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            seed: Mutex::new(rng),
            stats: Stats::default(),
            port: AtomicUsize::new(port),
            registry: Registry::default(),
            lame_duck: Mutex::new(None),
            monitor: crate::monitor::State::default(),
            routes,
            sys_seq: AtomicU64::new(0),
            events: Default::default(),
            next_statsz: Mutex::new(None),
            reload_hook: HookCell::default(),
            tls: crate::tls::TlsState::default(),
        })
    }

    /// Installs what `$SYS.REQ.SERVER.<id>.RELOAD` runs (first call wins).
    pub fn set_reload_hook(&self, hook: ReloadHook) {
        let _ = self.reload_hook.0.set(hook);
    }

    /// Runs the reload hook; an error without one.
    pub(crate) fn run_reload_hook(&self) -> Result<(), String> {
        match self.reload_hook.0.get() {
            Some(hook) => hook(),
            None => Err("config reload not available".into()),
        }
    }

    /// When [`Server::handle_timeout`] must run next: the periodic
    /// `$SYS.SERVER.<id>.STATSZ` (every 10 s, as nats-server), if there is
    /// a system account. The first call starts the schedule at `now`.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.accounts.system()?;
        let mut next = self.next_statsz.lock().unwrap_or_else(|e| e.into_inner());
        Some(*next.get_or_insert(now + STATSZ_INTERVAL))
    }

    /// Runs the server-wide timers that are due: publishes the periodic
    /// statistics to the system account.
    pub fn handle_timeout(&self, now: Instant) {
        if self.accounts.system().is_none() {
            return;
        }
        {
            let mut next = self.next_statsz.lock().unwrap_or_else(|e| e.into_inner());
            match *next {
                Some(at) if at > now => return,
                _ => *next = Some(now + STATSZ_INTERVAL),
            }
        }
        let (subject, payload) = crate::system::statsz_event(self, now);
        let mut wake = Vec::new();
        self.publish_system(&subject, &payload, now, &mut wake);
        for o in wake {
            o.wake();
        }
    }

    /// Publishes the `$SYS.ACCOUNT.<acc>.CONNECT` (`closed: None`) or
    /// `.DISCONNECT` event for a client, when there is a system account.
    pub(crate) fn client_event(
        &self,
        info: &crate::registry::ClientInfo,
        closed: Option<crate::system::Closed<'_>>,
        now: Instant,
        wake: &mut Vec<Arc<crate::outbox::Outbox>>,
    ) {
        if self.accounts.system().is_none() {
            return;
        }
        let (subject, payload) = crate::system::client_event(self, info, now, closed);
        self.publish_system(&subject, &payload, now, wake);
    }

    /// Publishes a message the server originates into the system account
    /// (its subscribers and routes).
    fn publish_system(
        &self,
        subject: &str,
        payload: &[u8],
        now: Instant,
        wake: &mut Vec<Arc<crate::outbox::Outbox>>,
    ) {
        if let Some(sys) = self.accounts.system() {
            crate::deliver::publish_internal(
                self,
                sys,
                subject.as_bytes(),
                payload,
                now,
                wake,
                &self.events,
            );
        }
    }

    /// The next `seq` for a `$SYS` message.
    pub(crate) fn next_sys_seq(&self) -> u64 {
        crate::system::bump(&self.sys_seq)
    }

    /// A fresh id for a `$SYS` event.
    pub(crate) fn event_id(&self) -> String {
        let mut rng = self.seed.lock().unwrap_or_else(|e| e.into_inner());
        let n = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
        crate::system::event_id(n)
    }

    /// The cluster routes.
    pub fn routes(&self) -> &crate::route::Routes {
        &self.routes
    }

    /// The client port's TLS configuration: the host installs it at
    /// startup and on reload (see [`crate::tls`]).
    pub fn tls(&self) -> &crate::tls::TlsState {
        &self.tls
    }

    /// A new connection id (clients and routes share the sequence, as in
    /// nats-server) and a seed for that connection's generator.
    pub(crate) fn next_cid_and_seed(&self) -> (u64, u64) {
        let cid = self.next_cid.fetch_add(1, Ordering::Relaxed);
        let seed = self
            .seed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64();
        (cid, seed)
    }

    /// The options in force (a reload swaps them; hold the `Arc` only for
    /// the duration of one decision).
    pub fn options(&self) -> Arc<Options> {
        self.opts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The compiled authentication options in force.
    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies reloaded options. The caller has checked with
    /// `config::reload_diff` that every change may be applied at run time.
    ///
    /// As nats-server does on reload, every client is authenticated again
    /// with the credentials it connected with: those that fail are closed
    /// with `-ERR 'Authorization Violation'`; the others get their user's
    /// new permissions, and each subscription those no longer allow is
    /// removed with `-ERR 'Permissions Violation for Subscription to
    /// "<subject>" (sid "<sid>")'` (a queue subscription stays if its
    /// subject alone, or with its queue, is allowed).
    pub fn reload(&self, new: Options) {
        let authn = Arc::new(Authenticator::new(&new));
        let new = Arc::new(new);
        *self.opts.write().unwrap_or_else(|e| e.into_inner()) = new;
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = authn.clone();
        let mut by_client: Option<FxHashMap<u64, Vec<Arc<Subscription>>>> = None;
        for info in self.registry.live_infos() {
            let creds = info.credentials();
            let account = info.meta().account;
            // A user moved to another account must connect again.
            let id = authn
                .authenticate(&creds)
                .filter(|id| id.account_name() == account);
            let Some(id) = id else {
                log::error!(
                    "{} - cid:{} - authentication error{}",
                    info.peer,
                    info.cid,
                    creds.log_suffix()
                );
                info.outbox.append(|b| write_err(b, text::AUTH_VIOLATION));
                info.outbox.close(CloseReason::AuthViolation, true);
                continue;
            };
            if id.perms.as_ref().is_some_and(|p| p.restricts_subscribe()) {
                self.note_delivery_filters();
            }
            info.auth.set(id.perms.clone());
            let Some(perms) = &id.perms else {
                continue;
            };
            let subs = by_client.get_or_insert_with(|| self.subscriptions_by_client());
            let Some(acc) = self.accounts.get(&account) else {
                continue;
            };
            let mut removed = false;
            for sub in subs.get(&info.cid).into_iter().flatten() {
                let queue = sub.queue.as_deref();
                if perms.can_subscribe(&sub.subject, None)
                    || (queue.is_some() && perms.can_subscribe(&sub.subject, queue))
                {
                    continue;
                }
                if sub.close() {
                    acc.sublist_mut().remove(sub);
                }
                let err = text::subscription_removed(&sub.subject, &sub.sid);
                info.outbox.append(|b| write_err(b, &err));
                removed = true;
                log::info!(
                    "Removed sub {} (sid {}) for {} - not authorized",
                    text::go_quote(&sub.subject),
                    text::go_quote(&sub.sid),
                    match (&id.user, id.is_nkey) {
                        (Some(u), false) => format!("User {}", text::go_quote(u.as_bytes())),
                        (Some(u), true) => format!("Nkey {}", text::go_quote(u.as_bytes())),
                        (None, _) => String::new(),
                    }
                );
            }
            if removed {
                info.outbox.wake();
            }
        }
        // Deliveries cached under the old permissions must be looked up again.
        for a in self.accounts.all() {
            a.invalidate_caches();
        }
    }

    /// Every client subscription, by client.
    fn subscriptions_by_client(&self) -> FxHashMap<u64, Vec<Arc<Subscription>>> {
        let mut by: FxHashMap<u64, Vec<Arc<Subscription>>> = FxHashMap::default();
        for a in self.accounts.all() {
            a.sublist().for_each(|s| {
                if s.import().is_none() {
                    by.entry(s.cid()).or_default().push(s.clone());
                }
            });
        }
        for subs in by.values_mut() {
            subs.sort_by(|a, b| a.sid.cmp(&b.sid));
        }
        by
    }

    /// Records that some client's permissions filter deliveries.
    pub(crate) fn note_delivery_filters(&self) {
        if !self.delivery_filters.load(Ordering::Relaxed) {
            self.delivery_filters.store(true, Ordering::Relaxed);
            // Lookups cached before this did not filter.
            for a in self.accounts.all() {
                a.invalidate_caches();
            }
        }
    }

    /// True once some client's permissions filter deliveries.
    #[inline]
    pub(crate) fn delivery_filters(&self) -> bool {
        self.delivery_filters.load(Ordering::Relaxed)
    }

    /// Appends the INFO line for client `cid` at `peer`. `account` is set
    /// only for the INFO that follows the first PONG (`connect_info`);
    /// `nonce` only in the greeting, when nkey users are configured.
    pub fn write_info(
        &self,
        out: &mut Vec<u8>,
        cid: u64,
        peer: SocketAddr,
        account: Option<&str>,
        nonce: Option<&str>,
        ldm: bool,
    ) {
        let o = self.options();
        let ip = peer.ip().to_string();
        let cluster = self.routes.enabled().then(|| self.routes.cluster_name().0);
        // In lame duck mode our own URL is no longer offered (nats-server
        // leaves it out of the INFO it sends its clients from then on).
        let own_url = if self.routes.enabled() && !self.in_lame_duck() {
            self.own_client_url()
        } else {
            None
        };
        let info = Info {
            server_id: &self.id,
            server_name: &self.name,
            version: COMPAT_VERSION,
            proto: 1,
            go: &self.version_string,
            host: &o.host,
            port: self.port(),
            headers: !o.no_header_support,
            auth_required: o.info_auth_required(),
            tls_required: o.tls_required(),
            tls_verify: o.tls.as_ref().is_some_and(|t| t.verifies()),
            tls_available: o.tls.is_some() && o.allow_non_tls,
            max_payload: account
                .and_then(|a| self.accounts.get(a))
                .and_then(|a| a.max_payload())
                .map_or(o.max_payload, |m| m.min(o.max_payload)),
            client_id: cid,
            client_ip: &ip,
            nonce,
            cluster: cluster.as_deref(),
            connect_urls: &self.routes.connect_urls(own_url),
            ldm,
            connect_info: account.is_some(),
            remote_account: account,
            api_lvl: 4,
            xkey: &self.xkey,
        };
        info.write(out);
    }

    /// True once lame duck mode has started (healthz then reports an error).
    pub fn in_lame_duck(&self) -> bool {
        self.lame_duck
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Enters lame duck mode: the runtime must already have stopped
    /// accepting. Protocol-1 clients get an INFO with `ldm:true`. Returns
    /// when to call [`Server::lame_duck_step`] next.
    pub fn enter_lame_duck(&self, now: Instant) -> lame_duck::Step {
        let o = self.options();
        {
            let mut ldm = self.lame_duck.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = ldm.as_ref() {
                return lame_duck::Step::WaitUntil(s.grace_end.max(now));
            }
            *ldm = Some(lame_duck::Schedule::new(now, o.lame_duck_grace_period));
        }
        log::info!("Entering lame duck mode, stop accepting new clients");
        for info in self.registry.live_infos() {
            if info.meta().protocol >= 1 {
                info.outbox
                    .append(|b| self.write_info(b, info.cid, info.peer, None, None, true));
                info.outbox.wake();
            }
        }
        self.routes().announce_lame_duck(self);
        lame_duck::Step::WaitUntil(now + o.lame_duck_grace_period)
    }

    /// Closes the clients that are due and says what comes next.
    pub fn lame_duck_step(&self, now: Instant) -> lame_duck::Step {
        let o = self.options();
        let mut guard = self.lame_duck.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = guard.as_mut() else {
            return lame_duck::Step::Done;
        };
        if now < s.grace_end {
            return lame_duck::Step::WaitUntil(s.grace_end);
        }
        if !s.started_closing {
            let spread = o
                .lame_duck_duration
                .saturating_sub(o.lame_duck_grace_period);
            let clients = self.registry.live_infos().iter().map(|i| i.cid).collect();
            s.plan(clients, spread);
        }
        let batch = s.next_batch();
        let (more, interval) = (!s.pending.is_empty(), s.interval);
        drop(guard);
        let live = self.registry.live_infos();
        for cid in batch {
            if let Some(info) = live.iter().find(|i| i.cid == cid) {
                info.outbox.close(CloseReason::ServerShutdown, true);
            }
        }
        if more {
            lame_duck::Step::WaitUntil(now + interval)
        } else {
            lame_duck::Step::Done
        }
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
        self.accounts.global()
    }

    /// Every account (`$G`, the configured ones, the system account).
    pub fn accounts(&self) -> &crate::account::Accounts {
        &self.accounts
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live and recently closed clients, for monitoring.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Monitoring state: start time, HTTP port, request counters.
    pub fn monitor(&self) -> &crate::monitor::State {
        &self.monitor
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
        let opts = self.options();
        let (seed, nonce) = {
            let mut rng = self.seed.lock().unwrap_or_else(|e| e.into_inner());
            let nonce = opts.nonce_required().then(|| {
                let mut raw = [0u8; auth::NONCE_LEN];
                rng.fill(&mut raw);
                auth::base64url_encode(&raw)
            });
            (rng.next_u64(), nonce)
        };
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let over = self.connections.fetch_add(1, Ordering::AcqRel) >= opts.max_connections;
        Connection::new(self.clone(), cid, peer, seed, nonce, now, over)
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::outbox::Take;

    fn drain(c: &Connection) -> (String, bool) {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match c.outbox().take(&mut buf, Waker::noop()) {
                Take::Data => {
                    out.extend_from_slice(&buf);
                    c.outbox().written(buf.len());
                    buf.clear();
                }
                Take::Empty => return (String::from_utf8_lossy(&out).into_owned(), false),
                Take::Closed => return (String::from_utf8_lossy(&out).into_owned(), true),
            }
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn reload_closes_clients_that_no_longer_authenticate() {
        let opts = Options {
            user: Some("u".into()),
            password: Some("p".into()),
            ..Options::default()
        };
        let server = Server::new(opts.clone(), 7);
        let now = Instant::now();
        let mut c = server.accept("127.0.0.1:1".parse().unwrap(), now);
        c.receive(
            b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n",
            now,
        );
        assert!(drain(&c).0.ends_with("PONG\r\n"));
        server.reload(Options {
            max_payload: 2048,
            ..opts.clone()
        });
        assert_eq!(drain(&c), (String::new(), false), "same credentials stay");
        assert_eq!(server.options().max_payload, 2048);
        server.reload(Options {
            password: Some("changed".into()),
            ..opts
        });
        assert_eq!(
            drain(&c),
            ("-ERR 'Authorization Violation'\r\n".into(), true)
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn lame_duck_sequence() {
        let opts = Options {
            lame_duck_grace_period: Duration::from_secs(1),
            lame_duck_duration: Duration::from_secs(31),
            ..Options::default()
        };
        let server = Server::new(opts, 7);
        let t0 = Instant::now();
        let mut p1 = server.accept("127.0.0.1:1".parse().unwrap(), t0);
        let mut p0 = server.accept("127.0.0.1:2".parse().unwrap(), t0);
        p1.receive(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\n", t0);
        p0.receive(b"CONNECT {\"verbose\":false,\"protocol\":0}\r\n", t0);
        drain(&p1);
        drain(&p0);
        assert_eq!(
            server.enter_lame_duck(t0),
            lame_duck::Step::WaitUntil(t0 + Duration::from_secs(1))
        );
        assert!(server.in_lame_duck());
        let (info, closed) = drain(&p1);
        assert!(
            info.starts_with("INFO ") && info.contains("\"ldm\":true"),
            "{info}"
        );
        assert!(!closed);
        assert_eq!(
            drain(&p0),
            (String::new(), false),
            "protocol 0 gets no async INFO"
        );
        let t1 = t0 + Duration::from_secs(1);
        let next = server.lame_duck_step(t1);
        assert_eq!(
            next,
            lame_duck::Step::WaitUntil(t1 + Duration::from_secs(1))
        );
        assert!(drain(&p1).1, "first client closed after the grace period");
        assert!(!drain(&p0).1);
        assert_eq!(
            server.lame_duck_step(t1 + Duration::from_secs(1)),
            lame_duck::Step::Done
        );
        assert!(drain(&p0).1);
    }
}
