//! What monitoring can see of each client from any thread: identity,
//! CONNECT metadata and live counters. The owning [`crate::Connection`] is
//! the only writer; it publishes its counters once per input call, so the
//! per-message path touches no shared cache line.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{ClientAuth, Credentials};
use crate::errors::CloseReason;
use crate::outbox::Outbox;

/// CONNECT-time facts about a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// `name` from CONNECT.
    pub name: String,
    /// `lang` from CONNECT.
    pub lang: String,
    /// `version` from CONNECT.
    pub version: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// The account the client is bound to.
    pub account: String,
    /// CONNECT `protocol` (1: understands async INFO).
    pub protocol: i64,
}

/// A client as monitoring sees it while it is connected.
#[derive(Debug)]
pub struct ClientInfo {
    /// Connection id.
    pub cid: u64,
    /// Peer address.
    pub peer: SocketAddr,
    /// When it was accepted.
    pub start: Instant,
    /// Its outbox (pending bytes, out counters).
    pub outbox: Arc<Outbox>,
    /// Its permission state (a reload installs new permissions here).
    pub(crate) auth: Arc<ClientAuth>,
    meta: Mutex<ClientMeta>,
    credentials: Mutex<Credentials>,
    in_msgs: AtomicU64,
    in_bytes: AtomicU64,
    /// Nanoseconds after `start` of the last input.
    last_activity: AtomicU64,
    /// Last measured round trip in nanoseconds (0: none yet).
    rtt: AtomicU64,
    subscriptions: AtomicU64,
    /// Set once the client's TLS handshake completed.
    tls: std::sync::OnceLock<crate::tls::TlsSummary>,
    /// The client's certificates, when it sent some.
    peer_certs: std::sync::OnceLock<Vec<crate::tls::PeerCert>>,
}

impl ClientInfo {
    pub(crate) fn new(
        cid: u64,
        peer: SocketAddr,
        start: Instant,
        outbox: Arc<Outbox>,
        auth: Arc<ClientAuth>,
        account: &str,
    ) -> ClientInfo {
        ClientInfo {
            cid,
            peer,
            start,
            outbox,
            auth,
            meta: Mutex::new(ClientMeta {
                account: account.to_string(),
                ..ClientMeta::default()
            }),
            credentials: Mutex::new(Credentials::default()),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            last_activity: AtomicU64::new(0),
            rtt: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
            tls: std::sync::OnceLock::new(),
            peer_certs: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn set_tls(&self, tls: crate::tls::TlsSummary, certs: Vec<crate::tls::PeerCert>) {
        let _ = self.tls.set(tls);
        if !certs.is_empty() {
            let _ = self.peer_certs.set(certs);
        }
    }

    pub(crate) fn set_meta(&self, meta: ClientMeta) {
        *self.meta.lock().unwrap_or_else(|e| e.into_inner()) = meta;
    }

    pub(crate) fn set_credentials(&self, c: Credentials) {
        *self.credentials.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }

    pub(crate) fn credentials(&self) -> Credentials {
        self.credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn meta(&self) -> ClientMeta {
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn publish(
        &self,
        in_msgs: u64,
        in_bytes: u64,
        last_activity: Instant,
        subscriptions: usize,
    ) {
        self.in_msgs.store(in_msgs, Ordering::Relaxed);
        self.in_bytes.store(in_bytes, Ordering::Relaxed);
        let since = last_activity
            .saturating_duration_since(self.start)
            .as_nanos() as u64;
        self.last_activity.store(since, Ordering::Relaxed);
        self.subscriptions
            .store(subscriptions as u64, Ordering::Relaxed);
    }

    pub(crate) fn rtt(&self) -> Duration {
        Duration::from_nanos(self.rtt.load(Ordering::Relaxed))
    }

    pub(crate) fn set_rtt(&self, rtt: Duration) {
        self.rtt
            .store((rtt.as_nanos() as u64).max(1), Ordering::Relaxed);
    }

    /// A consistent-enough copy of everything, for one monitoring response.
    pub fn snapshot(&self) -> ClientSnapshot {
        let (out_msgs, out_bytes) = self.outbox.out_counters();
        let rtt = self.rtt.load(Ordering::Relaxed);
        ClientSnapshot {
            cid: self.cid,
            peer: self.peer,
            start: self.start,
            last_activity: self.start
                + Duration::from_nanos(self.last_activity.load(Ordering::Relaxed)),
            rtt: (rtt > 0).then(|| Duration::from_nanos(rtt)),
            pending_bytes: self.outbox.pending() as u64,
            in_msgs: self.in_msgs.load(Ordering::Relaxed),
            in_bytes: self.in_bytes.load(Ordering::Relaxed),
            out_msgs,
            out_bytes,
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            meta: self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            tls: self.tls.get().copied(),
            peer_certs: self.peer_certs.get().cloned().unwrap_or_default(),
            stop: None,
            closed_subs: Vec::new(),
        }
    }
}

/// A subscription a closed client had, as `/connz?state=closed&subs=…`
/// still shows it.
#[derive(Debug, Clone)]
pub struct ClosedSub {
    /// Subject.
    pub subject: bytes::Bytes,
    /// Queue group.
    pub queue: Option<bytes::Bytes>,
    /// The client's sid.
    pub sid: bytes::Bytes,
    /// Messages delivered on it.
    pub msgs: u64,
    /// Its auto-unsubscribe max (0: none).
    pub max: u64,
}

/// A point-in-time copy of a client's monitoring data.
#[derive(Debug, Clone)]
pub struct ClientSnapshot {
    /// Connection id.
    pub cid: u64,
    /// Peer address.
    pub peer: SocketAddr,
    /// Accepted at.
    pub start: Instant,
    /// Last input at.
    pub last_activity: Instant,
    /// Last measured round trip.
    pub rtt: Option<Duration>,
    /// Bytes queued for it.
    pub pending_bytes: u64,
    /// Messages it published.
    pub in_msgs: u64,
    /// Payload bytes it published.
    pub in_bytes: u64,
    /// Messages delivered to it.
    pub out_msgs: u64,
    /// Payload bytes delivered to it.
    pub out_bytes: u64,
    /// Its subscription count.
    pub subscriptions: u64,
    /// CONNECT metadata.
    pub meta: ClientMeta,
    /// TLS version and suite, for TLS clients.
    pub tls: Option<crate::tls::TlsSummary>,
    /// The client's certificates (mutual TLS).
    pub peer_certs: Vec<crate::tls::PeerCert>,
    /// For closed clients: when and why.
    pub stop: Option<(Instant, CloseReason)>,
    /// The subscriptions it had when it closed (closed clients only).
    pub closed_subs: Vec<ClosedSub>,
}

/// Live clients and a bounded ring of recently closed ones.
#[derive(Debug, Default)]
pub struct Registry {
    live: Mutex<rustc_hash::FxHashMap<u64, Arc<ClientInfo>>>,
    closed: Mutex<VecDeque<ClientSnapshot>>,
}

impl Registry {
    pub(crate) fn add(&self, info: Arc<ClientInfo>) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.cid, info);
    }

    pub(crate) fn remove(
        &self,
        cid: u64,
        stop: Instant,
        reason: CloseReason,
        keep_closed: usize,
        subs: Vec<ClosedSub>,
    ) {
        let info = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cid);
        if let (Some(info), true) = (info, keep_closed > 0) {
            let mut snap = info.snapshot();
            snap.stop = Some((stop, reason));
            snap.closed_subs = subs;
            let mut closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
            while closed.len() >= keep_closed {
                closed.pop_front();
            }
            closed.push_back(snap);
        }
    }

    /// Snapshots of every live client, by cid.
    pub fn live(&self) -> Vec<ClientSnapshot> {
        let infos: Vec<Arc<ClientInfo>> = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut v: Vec<ClientSnapshot> = infos.iter().map(|i| i.snapshot()).collect();
        v.sort_by_key(|s| s.cid);
        v
    }

    /// One live client's shared state (for `$SYS` KICK and LDM).
    pub fn live_info(&self, cid: u64) -> Option<Arc<ClientInfo>> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cid)
            .cloned()
    }

    /// The live clients themselves (for server-wide actions such as reload
    /// and lame duck mode).
    pub fn live_infos(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<Arc<ClientInfo>> = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|i| i.cid);
        v
    }

    /// Recently closed clients, oldest first.
    pub fn closed(&self) -> Vec<ClientSnapshot> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::{CloseReason, Options, Server};

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn counters_and_closed_ring() {
        let server = Server::new(
            Options {
                max_closed_clients: 1,
                ..Options::default()
            },
            1,
        );
        let t0 = Instant::now();
        let peer = "127.0.0.1:5000".parse().unwrap();
        let mut sub = server.accept(peer, t0);
        let mut publ = server.accept(peer, t0);
        sub.receive(b"CONNECT {\"verbose\":false,\"name\":\"s\",\"lang\":\"rust\"}\r\nSUB a 1\r\nSUB b 2\r\n", t0);
        publ.receive(
            b"CONNECT {\"verbose\":false}\r\nPUB a 5\r\nhello\r\nPUB b 2\r\nhi\r\n",
            t0 + Duration::from_secs(1),
        );
        let live = server.registry().live();
        assert_eq!(live.len(), 2);
        let (s, p) = (&live[0], &live[1]);
        assert_eq!(
            (
                s.subscriptions,
                s.out_msgs,
                s.out_bytes,
                s.meta.name.as_str()
            ),
            (2, 2, 7, "s")
        );
        assert_eq!(
            (p.in_msgs, p.in_bytes, p.last_activity),
            (2, 7, t0 + Duration::from_secs(1))
        );
        sub.close(CloseReason::ClientClosed);
        publ.close(CloseReason::ClientClosed);
        assert!(server.registry().live().is_empty());
        let closed = server.registry().closed();
        assert_eq!(closed.len(), 1, "ring keeps max_closed_clients");
        assert_eq!(closed[0].cid, p.cid);
        assert_eq!(closed[0].stop.map(|s| s.1), Some(CloseReason::ClientClosed));
    }
}
