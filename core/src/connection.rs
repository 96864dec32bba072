//! One client connection's protocol state machine.
//!
//! Inputs: [`Connection::receive`] with bytes read from the socket, and
//! [`Connection::handle_timeout`] when [`Connection::poll_timeout`] passes.
//! Outputs: bytes in [`Connection::outbox`] (and in other connections'
//! outboxes, whose writers are woken at the end of each input call), the
//! next deadline, and [`Connection::is_closed`].
//!
//! The drain rule for a runtime, after every input call:
//! 1. write what [`crate::Outbox::take`] hands out (the own outbox's writer
//!    is woken like any other);
//! 2. re-arm its timer at [`Connection::poll_timeout`];
//! 3. if [`Connection::is_closed`], stop reading, finish writing until
//!    `take` says [`crate::outbox::Take::Closed`], then drop the socket.

mod sids;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::auth::{ClientAuth, Credentials, Identity, Perms, SYS_QUEUE};
use crate::client::connect::ConnectOptions;
use crate::client::encode::write_no_responders;
use crate::client::parser::{ignores_tail, parse, ClientOp, Limits, Need, Parsed};
use crate::deliver::{mark_wake, Deliverer, Msg};
use crate::errors::{text, write_err, CloseReason, Fault};
use crate::outbox::{Append, Outbox};
use crate::registry::{ClientInfo, ClientMeta};
use crate::rng::Rng;
use crate::server::{Account, Server};
use crate::subject;
use crate::sublist::{Claim, Matches, Subscription};

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Accepted; waiting for CONNECT (other ops allowed when no auth).
    AwaitConnect,
    /// CONNECT processed.
    Ready,
    /// Closed or closing; no more input is processed.
    Closed,
}

/// Cached lookups beyond this many are dropped wholesale: bounded memory
/// for clients that publish to endless distinct subjects.
const CACHE_MAX: usize = 512;

/// Partial-frame buffers larger than this are freed after use.
const PARTIAL_KEEP: usize = 16 * 1024;

/// Publish-permission verdicts kept per connection (nats-server's
/// `maxPermCacheSize`); past it, [`PERM_CACHE_PRUNE`] entries are dropped.
const PERM_CACHE_MAX: usize = 128;
const PERM_CACHE_PRUNE: usize = 32;

/// The latest lookup, reused without hashing or reference counting while
/// the subject repeats and the account's index is unchanged — the common
/// case of a publisher streaming to one subject.
#[derive(Debug)]
struct LastMatch {
    subject: Vec<u8>,
    generation: u64,
    matches: Arc<Matches>,
}

/// A client connection. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Connection {
    server: Arc<Server>,
    account: Arc<Account>,
    cid: u64,
    peer: SocketAddr,
    state: State,
    opts: ConnectOptions,
    outbox: Arc<Outbox>,
    /// Bytes of one incomplete frame carried over between reads.
    partial: Vec<u8>,
    subs: sids::Sids,
    cache: FxHashMap<Box<[u8]>, Arc<Matches>>,
    cache_generation: u64,
    last: Option<LastMatch>,
    rng: Rng,
    /// Outboxes appended to during the current input call.
    wake: Vec<Arc<Outbox>>,
    auth_deadline: Option<Instant>,
    next_ping: Instant,
    pings_out: u32,
    ping_sent_at: Option<Instant>,
    rtt: Option<Duration>,
    last_activity: Instant,
    /// Last op other than PONG: what the ping timer treats as the client
    /// being busy (a PONG alone does not delay the next PING).
    last_in: Instant,
    sent_connect_info: bool,
    in_msgs: u64,
    in_bytes: u64,
    /// The latest `now` the runtime gave us (closing has no clock input).
    clock: Instant,
    info: Arc<ClientInfo>,
    /// Permission state shared with this client's subscriptions.
    auth: Arc<ClientAuth>,
    /// The permissions in force (a copy of `auth`'s, as of `perm_epoch`).
    perms: Option<Arc<Perms>>,
    perm_epoch: u64,
    /// Publish-permission verdicts by subject, while `perms` is unchanged.
    pub_cache: FxHashMap<Box<[u8]>, bool>,
    /// The last subject found publishable: a publisher streaming to one
    /// subject skips the cache lookup.
    pub_last: Vec<u8>,
    /// The nonce sent in INFO for nkey signatures.
    nonce: Option<String>,
    /// `"$G/user:x"` for log lines, once authenticated as a user.
    log_tag: Option<String>,
    /// The connect event went out (so a disconnect event follows).
    announced: bool,
    /// Holds one of the account's `max_connections` slots.
    account_slot: bool,
    /// TLS progress on a TLS server (`None` otherwise, and once a client
    /// of an `allow_non_tls` server stays in plaintext).
    tls: Option<Box<tls::ClientTls>>,
}

impl Connection {
    pub(crate) fn new(
        server: Arc<Server>,
        cid: u64,
        peer: SocketAddr,
        seed: u64,
        nonce: Option<String>,
        now: Instant,
        over_limit: bool,
    ) -> Connection {
        let opts = server.options();
        let outbox = Arc::new(Outbox::new(cid, opts.max_pending));
        let auth_deadline = opts
            .auth_required()
            .then(|| now + opts.effective_auth_timeout());
        let next_ping = now + opts.ping_interval;
        let tls = tls::ClientTls::new(&server, &opts, now);
        let auth = Arc::new(ClientAuth::new());
        let info = Arc::new(ClientInfo::new(
            cid,
            peer,
            now,
            outbox.clone(),
            auth.clone(),
            server.global_account().name(),
        ));
        server.registry().add(info.clone());
        let mut c = Connection {
            account: server.global_account().clone(),
            server,
            cid,
            peer,
            state: State::AwaitConnect,
            opts: ConnectOptions::default(),
            outbox,
            partial: Vec::new(),
            subs: sids::Sids::default(),
            cache: FxHashMap::default(),
            cache_generation: 0,
            last: None,
            rng: Rng::new(seed),
            wake: Vec::new(),
            auth_deadline,
            next_ping,
            pings_out: 0,
            ping_sent_at: None,
            rtt: None,
            last_activity: now,
            last_in: now,
            sent_connect_info: false,
            in_msgs: 0,
            in_bytes: 0,
            clock: now,
            info,
            perm_epoch: auth.epoch(),
            auth,
            perms: None,
            pub_cache: FxHashMap::default(),
            pub_last: Vec::new(),
            nonce,
            log_tag: None,
            announced: false,
            account_slot: false,
            tls,
        };
        if c.tls.as_ref().is_none_or(|t| t.info_at_accept()) {
            c.send_info(false);
        }
        if over_limit {
            log::warn!("{} - cid:{} - maximum connections exceeded", c.peer, c.cid);
            c.fail(
                Fault::ErrClose(text::MAX_CONNECTIONS),
                CloseReason::MaxConnectionsExceeded,
            );
        } else {
            log::debug!("{} - cid:{} - Client connection created", c.peer, c.cid);
        }
        c.flush_wakes();
        c
    }

    /// The connection id (`client_id` in INFO, `cid` in logs and /connz).
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// The peer address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Lifecycle state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The queue of bytes for this connection's socket.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// True once the connection is closing: stop reading, drain the outbox.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed || self.outbox.is_closed()
    }

    /// Why it closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.outbox.close_reason()
    }

    /// The next instant at which [`Connection::handle_timeout`] must run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let next = match self.auth_deadline {
            Some(a) => a.min(self.next_ping),
            None => self.next_ping,
        };
        Some(match self.tls.as_ref().and_then(|t| t.next_deadline()) {
            Some(t) => t.min(next),
            None => next,
        })
    }

    /// Feeds bytes read from the socket. Frames may be split anywhere and
    /// many may arrive at once.
    #[inline]
    pub fn receive(&mut self, data: &[u8], now: Instant) {
        if self.tls.is_some() {
            self.receive_tls(data, now);
        } else {
            self.process(data, now);
        }
    }

    /// [`Connection::receive`] on plaintext (as read, or as decrypted).
    fn process(&mut self, data: &[u8], now: Instant) {
        if self.is_closed() {
            self.settle_close();
            return;
        }
        self.last_activity = now;
        self.clock = now;
        self.sync_perms();
        self.first_op(data);
        let rest = if self.state == State::Closed {
            None
        } else {
            self.finish_partial(data, now)
        };
        if let Some(mut data) = rest {
            let limits = self.limits();
            while !data.is_empty() && self.state != State::Closed {
                match parse(data, &limits) {
                    Ok(Parsed::Op(op, used)) => {
                        self.apply(op, now);
                        data = &data[used..];
                    }
                    Ok(Parsed::Partial(_)) => {
                        self.keep_partial(data);
                        break;
                    }
                    Err(fault) => {
                        self.fail_parse(fault);
                        break;
                    }
                }
            }
        }
        self.publish_counters();
        self.settle_close();
        self.flush_wakes();
    }

    /// Picks up permissions a reload installed (one atomic load per input).
    #[inline]
    fn sync_perms(&mut self) {
        let epoch = self.auth.epoch();
        if epoch != self.perm_epoch {
            self.perm_epoch = epoch;
            self.perms = self.auth.perms();
            self.pub_cache.clear();
            self.pub_last.clear();
            // The reload removed the subscriptions it no longer allows.
            self.subs.retain(|s| !s.is_closed());
        }
    }

    /// nats-server decides at the first byte of the first operation: with
    /// auth required, anything but a CONNECT binds the client to a
    /// `no_auth_user` with a password, or is an Authorization Violation.
    fn first_op(&mut self, data: &[u8]) {
        if self.state != State::AwaitConnect
            || self.auth_deadline.is_none()
            || !self.partial.is_empty()
        {
            return;
        }
        match data.first() {
            None | Some(b'C' | b'c') => {}
            Some(_) => match self.server.authenticator().bind_no_auth_user() {
                Some(id) => {
                    self.auth_deadline = None;
                    if self.bind(id) {
                        let mut meta = self.info.meta();
                        meta.account = self.account.name().to_string();
                        self.info.set_meta(meta);
                    }
                }
                None => self.fail(
                    Fault::ErrClose(text::AUTH_VIOLATION),
                    CloseReason::AuthViolation,
                ),
            },
        }
    }

    /// Takes on the permissions of the identity the client authenticated as.
    /// False (and the connection is closing) when the account has no
    /// connection slot left (`limits.max_connections`).
    fn bind(&mut self, id: Identity) -> bool {
        self.log_tag = id.log_tag();
        if id.account_name() != self.account.name() {
            if let Some(acc) = self.server.accounts().get(id.account_name()) {
                // Cached lookups belong to the old account's index.
                self.account = acc.clone();
                self.cache.clear();
                self.cache_generation = 0;
                self.last = None;
            }
        }
        if !self.account_slot {
            if !self.account.claim_connection() {
                self.fail(
                    Fault::ErrClose(text::MAX_ACCOUNT_CONNECTIONS),
                    CloseReason::MaxConnectionsExceeded,
                );
                return false;
            }
            self.account_slot = true;
        }
        if id.perms.as_ref().is_some_and(|p| p.restricts_subscribe()) {
            self.server.note_delivery_filters();
        }
        self.perm_epoch = self.auth.set(id.perms.clone());
        self.perms = id.perms;
        self.pub_cache.clear();
        self.pub_last.clear();
        if !self.subs.is_empty() {
            // Other publishers' cached lookups applied the old filter.
            self.account.invalidate_caches();
        }
        true
    }

    /// May this client publish to `subject` (its permissions restrict
    /// publishing)? Verdicts from the lists are cached; a denied subject
    /// may still be a reply this client is allowed to send
    /// (`allow_responses`), which is counted and never cached.
    fn publish_permitted(&mut self, subject: &[u8], now: Instant) -> bool {
        if !self.pub_last.is_empty() && self.pub_last == subject {
            return true;
        }
        if let Some(&ok) = self.pub_cache.get(subject) {
            if ok {
                self.pub_last.clear();
                self.pub_last.extend_from_slice(subject);
            }
            return ok;
        }
        let Some(perms) = &self.perms else {
            return true;
        };
        let ok = perms.publish_allowed(subject);
        if !ok && perms.response().is_some() {
            return self.auth.reply_allowed(subject, now);
        }
        if self.pub_cache.len() >= PERM_CACHE_MAX {
            let mut n = 0;
            self.pub_cache.retain(|_, _| {
                n += 1;
                n > PERM_CACHE_PRUNE
            });
        }
        self.pub_cache.insert(subject.into(), ok);
        if ok {
            self.pub_last.clear();
            self.pub_last.extend_from_slice(subject);
        }
        ok
    }

    fn log_prefix(&self) -> String {
        match &self.log_tag {
            Some(t) => format!("{} - cid:{} - {}", self.peer, self.cid, t),
            None => format!("{} - cid:{}", self.peer, self.cid),
        }
    }

    fn publish_counters(&self) {
        self.info.publish(
            self.in_msgs,
            self.in_bytes,
            self.last_activity,
            self.subs.len(),
        );
    }

    /// Completes a frame carried over from an earlier read using exactly the
    /// bytes it needs; returns the input that is left, or `None` if all of
    /// it was consumed (or the connection failed).
    fn finish_partial<'d>(&mut self, mut data: &'d [u8], now: Instant) -> Option<&'d [u8]> {
        if self.partial.is_empty() {
            return Some(data);
        }
        let limits = self.limits();
        loop {
            let partial = std::mem::take(&mut self.partial);
            let step = parse(&partial, &limits);
            match step {
                Ok(Parsed::Op(op, used)) => {
                    debug_assert_eq!(used, partial.len());
                    self.apply(op, now);
                    let mut partial = partial;
                    partial.clear();
                    if partial.capacity() <= PARTIAL_KEEP {
                        self.partial = partial;
                    }
                    return if self.state == State::Closed {
                        None
                    } else {
                        Some(data)
                    };
                }
                Ok(Parsed::Partial(need)) => {
                    self.partial = partial;
                    let take = match need {
                        Need::Line => match memchr::memchr(b'\n', data) {
                            Some(nl) => nl + 1,
                            None => data.len(),
                        },
                        Need::Frame(n) => {
                            let want = n - self.partial.len();
                            self.partial.reserve_exact(want.min(data.len()));
                            want.min(data.len())
                        }
                    };
                    if take == 0 {
                        return None;
                    }
                    self.keep_partial(&data[..take]);
                    data = &data[take..];
                }
                Err(fault) => {
                    self.fail_parse(fault);
                    return None;
                }
            }
        }
    }

    /// Carries bytes of an incomplete frame over to the next read. The
    /// ignored rest of a `PING`/`PONG`/`+OK` line is dropped, not stored.
    fn keep_partial(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        if !self.partial.ends_with(b"\n") {
            if let Some(n) = ignores_tail(&self.partial) {
                self.partial.truncate(n);
            }
        }
    }

    fn limits(&self) -> Limits {
        let o = self.server.options();
        Limits {
            max_control_line: o.max_control_line,
            max_payload: self
                .account
                .max_payload()
                .map_or(o.max_payload, |m| m.min(o.max_payload)),
        }
    }

    /// Runs timers that are due: auth timeout, server PINGs, stale detection.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = now;
        if self.is_closed() {
            self.settle_close();
            return;
        }
        if self.tls.is_some() && self.tls_timers(now) {
            return;
        }
        if self.auth_deadline.is_some_and(|d| now >= d) {
            self.fail(
                Fault::ErrClose(text::AUTH_TIMEOUT),
                CloseReason::AuthTimeout,
            );
        } else if now >= self.next_ping {
            let interval = self.server.options().ping_interval;
            self.next_ping = now + interval;
            let recently_active = now.saturating_duration_since(self.last_in) < interval;
            if recently_active && self.rtt.is_some() && self.state == State::Ready {
                // Busy clients are evidently alive; nats-server skips the PING.
                self.pings_out = 0;
            } else if self.pings_out + 1 > self.server.options().ping_max {
                self.server
                    .stats()
                    .stale_connections
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::debug!(
                    "{} - cid:{} - Stale Client Connection - Closing",
                    self.peer,
                    self.cid
                );
                self.fail(Fault::ErrClose(text::STALE), CloseReason::StaleConnection);
            } else {
                self.pings_out += 1;
                self.ping_sent_at = Some(now);
                self.send_own(b"PING\r\n");
            }
        }
        self.settle_close();
        self.flush_wakes();
    }

    /// The socket is gone (EOF or error): release everything.
    pub fn close(&mut self, reason: CloseReason) {
        if reason == CloseReason::SlowConsumerWriteDeadline {
            self.server
                .stats()
                .slow_consumers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.account.note_slow_consumer();
        }
        if self.state != State::Closed {
            self.outbox.close(reason, false);
            self.teardown();
            // The disconnect event may have reached subscribers.
            self.flush_wakes();
        }
    }

    fn apply(&mut self, op: ClientOp<'_>, now: Instant) {
        if log::log_enabled!(log::Level::Trace) {
            self.trace_op(&op);
        }
        if !matches!(op, ClientOp::Pong) {
            self.last_in = now;
        }
        if self.state == State::AwaitConnect
            && self.auth_deadline.is_some()
            && !matches!(op, ClientOp::Connect(_))
        {
            self.fail(
                Fault::ErrClose(text::AUTH_VIOLATION),
                CloseReason::AuthViolation,
            );
            return;
        }
        match op {
            ClientOp::Connect(json) => self.on_connect(json, now),
            ClientOp::Pub {
                subject,
                reply,
                payload,
                size,
            } => self.on_pub(subject, reply, 0, payload, [b"", size], now),
            ClientOp::HPub {
                subject,
                reply,
                header_len,
                message,
                sizes,
            } => {
                // `opts.headers` already folds in the server's no_header_support.
                if !self.opts.headers {
                    self.fail(
                        Fault::Silent("message headers not supported"),
                        CloseReason::ProtocolViolation,
                    );
                    return;
                }
                self.on_pub(subject, reply, header_len, message, sizes, now)
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.on_sub(subject, queue, sid),
            ClientOp::Unsub { sid, max } => self.on_unsub(sid, max),
            ClientOp::Ping => {
                self.send_own(b"PONG\r\n");
                if self.state == State::Ready && self.opts.protocol >= 1 && !self.sent_connect_info
                {
                    self.sent_connect_info = true;
                    self.send_info(true);
                }
            }
            ClientOp::Pong => {
                self.pings_out = 0;
                if let Some(sent) = self.ping_sent_at.take() {
                    let rtt = now.saturating_duration_since(sent);
                    self.rtt = Some(rtt);
                    self.info.set_rtt(rtt);
                }
            }
            ClientOp::Ok => {}
            ClientOp::Err => {
                self.fail(Fault::Silent("client sent -ERR"), CloseReason::ClientClosed)
            }
            ClientOp::Info(json) => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(json).is_err() {
                    self.fail(
                        Fault::Silent("invalid INFO JSON"),
                        CloseReason::ProtocolViolation,
                    );
                }
            }
        }
    }

    fn on_connect(&mut self, json: &[u8], now: Instant) {
        let Some(opts) = ConnectOptions::parse(json) else {
            self.fail(
                Fault::Silent("invalid CONNECT JSON"),
                CloseReason::ProtocolViolation,
            );
            return;
        };
        if opts.account.is_some() || opts.new_account.is_some() {
            self.fail(
                Fault::ErrClose(text::AUTH_VIOLATION),
                CloseReason::AuthViolation,
            );
            return;
        }
        if !(0..=1).contains(&opts.protocol) {
            self.fail(
                Fault::ErrClose(text::INVALID_PROTOCOL),
                CloseReason::ProtocolViolation,
            );
            return;
        }
        if opts.no_responders && !opts.headers {
            self.fail(
                Fault::ErrClose(text::NO_RESPONDERS_NEEDS_HEADERS),
                CloseReason::ProtocolViolation,
            );
            return;
        }
        let credentials = self.credentials(&opts);
        let nkey_given = credentials.nkey.as_deref().is_some_and(|k| !k.is_empty());
        let identity = match self.tls_mapped_identity(nkey_given) {
            Some(mapped) => mapped,
            None => self.server.authenticator().authenticate(&credentials),
        };
        let Some(identity) = identity else {
            log::error!(
                "{} - cid:{} - authentication error{}",
                self.peer,
                self.cid,
                credentials.log_suffix()
            );
            self.fail(
                Fault::ErrClose(text::AUTH_VIOLATION),
                CloseReason::AuthViolation,
            );
            return;
        };
        let headers = opts.headers && !self.server.options().no_header_support;
        self.outbox.set_headers(headers);
        let user = identity.user.clone();
        self.info.set_credentials(identity.credentials.clone());
        if !self.bind(identity) {
            return;
        }
        self.info.set_meta(ClientMeta {
            name: opts.name.clone(),
            lang: opts.lang.clone(),
            version: opts.version.clone(),
            user,
            account: self.account.name().to_string(),
            protocol: opts.protocol,
        });
        self.opts = opts;
        self.opts.headers = headers;
        self.auth_deadline = None;
        if self.state == State::AwaitConnect {
            // nats-server's first PING comes soon after CONNECT (2 s or the
            // interval if shorter, plus up to 20 % jitter), then every interval.
            let first = self
                .server
                .options()
                .ping_interval
                .min(Duration::from_secs(2));
            let jitter = first.mul_f64((self.rng.next_u64() % 1000) as f64 / 5000.0);
            self.next_ping = now + first + jitter;
        }
        self.state = State::Ready;
        if self.opts.verbose {
            self.send_own(b"+OK\r\n");
        }
        if !self.announced {
            self.announced = true;
            self.server
                .client_event(&self.info, None, now, &mut self.wake);
        }
    }

    fn credentials(&self, c: &ConnectOptions) -> Credentials {
        Credentials {
            user: c.user.clone(),
            pass: c.pass.clone(),
            token: c.auth_token.clone(),
            nkey: c.nkey.clone(),
            sig: c.sig.clone(),
            nonce: self.nonce.clone(),
        }
    }

    fn on_pub(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        sizes: [&[u8]; 2],
        now: Instant,
    ) {
        self.in_msgs += 1;
        self.in_bytes += message.len() as u64;
        if self.opts.pedantic && !subject::is_valid_literal(subject) {
            self.send_err(text::INVALID_PUBLISH_SUBJECT);
        }
        if subject.starts_with(b"_GR_.") || subject.starts_with(b"$NRG.") {
            self.send_err(&text::publish_violation(subject));
            return;
        }
        // No permissions: one branch, no lookup, no lock.
        if self.perms.as_ref().is_some_and(|p| p.restricts_publish())
            && !self.publish_permitted(subject, now)
        {
            log::error!(
                "{} - Publish Violation - Subject {}",
                self.log_prefix(),
                text::go_quote(subject)
            );
            self.send_err(&text::publish_violation(subject));
            return;
        }
        if let Some(r) = reply {
            if r.starts_with(b"_R_.") || r.starts_with(b"$JS.ACK.") || r.starts_with(b"_GR_.") {
                self.send_err(&text::reply_violation(r));
                return;
            }
        }
        if self.opts.verbose {
            self.send_own(b"+OK\r\n");
        }
        if self.account.has_mappings() {
            let roll = self.rng.below(100) as u32;
            if let Some(mapped) = self.account.map_subject(subject, roll) {
                self.publish(&mapped, reply, header_len, message, sizes, now);
                return;
            }
        }
        self.publish(subject, reply, header_len, message, sizes, now);
    }

    /// Delivers an allowed publish to the subscribers of `subject` (after
    /// the account's mappings), the routes and the account's imports.
    fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        header_len: usize,
        message: &[u8],
        sizes: [&[u8]; 2],
        now: Instant,
    ) {
        self.refresh_last(subject);
        let msg = Msg {
            subject,
            reply,
            header_len,
            message,
            sizes,
        };
        // Borrow fields separately: the cached match is read while the wake
        // list is written, with no copy or reference count of the match.
        let Connection {
            last,
            wake,
            server,
            account,
            rng,
            opts,
            cid,
            rtt,
            info,
            ..
        } = self;
        let matches = &last.as_ref().expect("refresh_last fills it").matches;
        let mut out = Deliverer {
            wake,
            server,
            account,
            now,
            origin: Some(info),
        };
        let mut delivered = false;
        for sub in &matches.plain {
            if !opts.echo && sub.cid() == *cid {
                continue;
            }
            delivered |= out.deliver(sub, &msg);
        }
        for group in &matches.queues {
            // Start at a random member; fall through to the next one if the
            // chosen one cannot take it (closed, at its max, own with echo off).
            let start = rng.below(group.len());
            for i in 0..group.len() {
                let sub = &group[(start + i) % group.len()];
                if !opts.echo && sub.cid() == *cid {
                    continue;
                }
                if out.deliver(sub, &msg) {
                    delivered = true;
                    break;
                }
            }
        }
        // Cluster hook: the same message to routes with interest (one RMSG
        // per route; queue groups with a local member stay local).
        delivered |= out.server.routes().forward(
            out.account.name(),
            subject,
            reply,
            header_len,
            message,
            &matches.queues,
            out.wake,
        );
        if !matches.imports.is_empty() {
            delivered |=
                out.deliver_imports(&matches.imports, &msg, false, rtt.unwrap_or_default());
        }
        if !delivered && self.opts.no_responders {
            if let Some(reply) = reply {
                self.send_no_responders(subject, reply);
            }
        }
    }

    /// Makes `self.last` hold the matches for `subject`.
    #[inline]
    fn refresh_last(&mut self, subject: &[u8]) {
        let generation = self.account.generation();
        if let Some(l) = &self.last {
            if l.generation == generation && l.subject == subject {
                return;
            }
        }
        let matches = self.lookup(subject);
        match &mut self.last {
            Some(l) => {
                l.matches = matches;
                l.subject.clear();
                l.subject.extend_from_slice(subject);
                l.generation = generation;
            }
            None => {
                self.last = Some(LastMatch {
                    subject: subject.to_vec(),
                    generation,
                    matches,
                })
            }
        }
    }

    fn send_no_responders(&mut self, subject: &[u8], reply: &[u8]) {
        let own = self.account.sublist().matches(reply);
        let Some(sub) = own.plain.iter().find(|s| s.cid() == self.cid) else {
            return;
        };
        let sub = sub.clone();
        if sub.claim() == Claim::Skip {
            return;
        }
        if let Append::Queued = self
            .outbox
            .append(|b| write_no_responders(b, reply, &sub.sid, subject))
        {
            let own = self.outbox.clone();
            self.mark_wake(&own);
        }
    }

    /// Subscriptions matching `subject`, from the per-connection cache while
    /// the account's index is unchanged.
    #[inline]
    fn lookup(&mut self, subject: &[u8]) -> Arc<Matches> {
        let generation = self.account.generation();
        if generation != self.cache_generation {
            self.cache.clear();
            self.cache_generation = generation;
        } else if let Some(m) = self.cache.get(subject) {
            return m.clone();
        }
        let mut m = self.account.sublist().matches(subject);
        if self.server.delivery_filters() {
            m.retain_admitted(subject);
        }
        let m = Arc::new(m);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(subject.into(), m.clone());
        m
    }

    fn on_sub(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if queue == Some(SYS_QUEUE)
            || self
                .perms
                .as_ref()
                .is_some_and(|p| !p.can_subscribe(subject, queue))
        {
            let q = queue
                .map(|q| format!(", Queue: {}", text::go_quote(q)))
                .unwrap_or_default();
            log::error!(
                "{} - Subscription Violation - Subject {}{q}, SID {}",
                self.log_prefix(),
                text::go_quote(subject),
                String::from_utf8_lossy(sid)
            );
            self.send_err(&text::subscription_violation(subject, queue));
            return;
        }
        if !subject::is_valid_subscription(subject) {
            self.send_err(text::INVALID_SUBJECT);
            return;
        }
        if let Some(existing) = self.subs.get(sid) {
            if !existing.is_closed() {
                // A duplicate sid is a no-op that still gets its +OK.
                if self.opts.verbose {
                    self.send_own(b"+OK\r\n");
                }
                return;
            }
        }
        if self.account.subscriptions_full() {
            self.send_err(text::MAX_SUBSCRIPTIONS);
            return;
        }
        let max = self.server.options().max_subscriptions;
        if max > 0 && self.subs.len() >= max {
            self.subs.retain(|s| !s.is_closed());
            if self.subs.len() >= max {
                self.send_err(text::MAX_SUBSCRIPTIONS);
                return;
            }
        }
        // Subject, queue and sid share one buffer: one allocation (and one
        // shared header on the first slice) instead of one per field, and
        // the trie keys and the `subs` key are then reference counts.
        let queue_len = queue.map_or(0, <[u8]>::len);
        let mut buf = Vec::with_capacity(subject.len() + queue_len + sid.len());
        buf.extend_from_slice(subject);
        buf.extend_from_slice(queue.unwrap_or_default());
        buf.extend_from_slice(sid);
        let all = Bytes::from(buf);
        let at = subject.len();
        let sub = Arc::new(
            Subscription::new(
                all.slice(..at),
                queue.map(|_| all.slice(at..at + queue_len)),
                all.slice(at + queue_len..),
                self.outbox.clone(),
            )
            .with_auth(self.auth.clone()),
        );
        self.account.sublist_mut().insert(sub.clone());
        self.subs.insert(sub);
        if self.opts.verbose {
            self.send_own(b"+OK\r\n");
        }
    }

    fn on_unsub(&mut self, sid: &[u8], max: Option<u64>) {
        if let Some(sub) = self.subs.get(sid).cloned() {
            let remove_now = match max {
                Some(n) if n > 0 => sub.set_max(n),
                _ => true,
            };
            if remove_now {
                self.subs.remove(sid);
                self.remove_sub(&sub);
            }
        }
        if self.opts.verbose {
            self.send_own(b"+OK\r\n");
        }
    }

    fn remove_sub(&self, sub: &Arc<Subscription>) {
        if sub.close() {
            self.account.sublist_mut().remove(sub);
        }
    }

    fn send_info(&mut self, connect_info: bool) {
        let server = self.server.clone();
        let account = connect_info.then(|| self.account.name());
        // The nonce goes in the greeting only.
        let nonce = if connect_info {
            None
        } else {
            self.nonce.as_deref()
        };
        self.outbox
            .append(|b| server.write_info(b, self.cid, self.peer, account, nonce, false));
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn send_own(&mut self, bytes: &[u8]) {
        if let Append::SlowConsumer = self.outbox.append(|b| b.extend_from_slice(bytes)) {
            self.server
                .stats()
                .slow_consumers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.account.note_slow_consumer();
        }
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn send_err(&mut self, text: &str) {
        log::debug!("{} - cid:{} - -ERR '{}'", self.peer, self.cid, text);
        self.outbox.append(|b| write_err(b, text));
        let own = self.outbox.clone();
        self.mark_wake(&own);
    }

    fn fail_parse(&mut self, fault: Fault) {
        let reason = match &fault {
            Fault::ErrClose(t) if *t == text::MAX_PAYLOAD => CloseReason::MaxPayloadExceeded,
            Fault::ErrClose(t) if *t == text::MAX_CONTROL_LINE => {
                CloseReason::MaxControlLineExceeded
            }
            _ => CloseReason::ProtocolViolation,
        };
        // With auth required, input that does not start with `C` was
        // already refused as an Authorization Violation (`first_op`); one
        // that does fails as what it is, as in nats-server (`CONNX` is an
        // unknown operation, a CONNECT over the limit a long control line).
        self.fail(fault, reason);
    }

    fn fail(&mut self, fault: Fault, reason: CloseReason) {
        match fault {
            Fault::ErrClose(t) => {
                log::debug!("{} - cid:{} - -ERR '{}'", self.peer, self.cid, t);
                self.outbox.append(|b| write_err(b, t));
                self.outbox.close(reason, true);
            }
            Fault::Silent(why) => {
                log::debug!("{} - cid:{} - closing: {}", self.peer, self.cid, why);
                self.outbox.close(reason, true);
            }
        }
        self.teardown();
    }

    /// If another connection closed our outbox (slow consumer), let go of
    /// our subscriptions now.
    fn settle_close(&mut self) {
        if self.state != State::Closed && self.outbox.is_closed() {
            self.teardown();
        }
    }

    fn teardown(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.publish_counters();
        let keep_closed = self.server.options().max_closed_clients > 0;
        let mut closed_subs = Vec::new();
        if keep_closed {
            // `/connz?state=closed&subs=1` still lists them, in sid order.
            closed_subs = self
                .subs
                .iter()
                .filter(|s| !s.is_closed())
                .map(|s| crate::registry::ClosedSub {
                    subject: s.subject.clone(),
                    queue: s.queue.clone(),
                    sid: s.sid.clone(),
                    msgs: s.delivered(),
                    max: s.max(),
                })
                .collect();
            closed_subs.sort_by(|a, b| {
                crate::monitor::sid_order(&a.sid).cmp(&crate::monitor::sid_order(&b.sid))
            });
        }
        if !self.subs.is_empty() {
            let mut sl = self.account.sublist_mut();
            for sub in self.subs.drain() {
                if sub.close() {
                    sl.remove(&sub);
                }
            }
        }
        self.cache.clear();
        self.last = None;
        self.partial = Vec::new();
        let stats = self.server.stats();
        stats
            .in_msgs
            .fetch_add(self.in_msgs, std::sync::atomic::Ordering::Relaxed);
        stats
            .in_bytes
            .fetch_add(self.in_bytes, std::sync::atomic::Ordering::Relaxed);
        self.server.connection_closed();
        if std::mem::take(&mut self.account_slot) {
            self.account.release_connection();
        }
        let reason = self
            .outbox
            .close_reason()
            .unwrap_or(CloseReason::ClientClosed);
        self.server.registry().remove(
            self.cid,
            self.clock,
            reason,
            self.server.options().max_closed_clients,
            closed_subs,
        );
        if self.announced {
            let sent = self.outbox.out_counters();
            let received = (self.in_msgs, self.in_bytes);
            let clock = self.clock;
            self.server.client_event(
                &self.info,
                Some(crate::system::Closed {
                    sent,
                    received,
                    reason: reason.as_str(),
                }),
                clock,
                &mut self.wake,
            );
        }
        let own = self.outbox.clone();
        self.mark_wake(&own);
        log::debug!(
            "{} - cid:{} - Client connection closed: {}",
            self.peer,
            self.cid,
            self.outbox.close_reason().map_or("", |r| r.as_str())
        );
    }

    #[inline]
    fn mark_wake(&mut self, outbox: &Arc<Outbox>) {
        mark_wake(&mut self.wake, outbox);
    }

    /// Wakes every writer this input call gave data to, once each.
    fn flush_wakes(&mut self) {
        for ob in self.wake.drain(..) {
            ob.wake();
        }
    }

    fn trace_op(&self, op: &ClientOp<'_>) {
        let t = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let opt = |b: Option<&[u8]>| b.map(|b| format!(" {}", t(b))).unwrap_or_default();
        let line = match op {
            ClientOp::Connect(j) => format!("CONNECT {}", t(j)),
            ClientOp::Info(j) => format!("INFO {}", t(j)),
            ClientOp::Pub {
                subject,
                reply,
                size,
                ..
            } => format!("PUB {}{} {}", t(subject), opt(*reply), t(size)),
            ClientOp::HPub {
                subject,
                reply,
                sizes,
                ..
            } => {
                format!(
                    "HPUB {}{} {} {}",
                    t(subject),
                    opt(*reply),
                    t(sizes[0]),
                    t(sizes[1])
                )
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => format!("SUB {}{} {}", t(subject), opt(*queue), t(sid)),
            ClientOp::Unsub { sid, max } => {
                format!(
                    "UNSUB {}{}",
                    t(sid),
                    max.map(|m| format!(" {m}")).unwrap_or_default()
                )
            }
            ClientOp::Ping => "PING".into(),
            ClientOp::Pong => "PONG".into(),
            ClientOp::Ok => "OK".into(),
            ClientOp::Err => "-ERR".into(),
        };
        log::trace!("{} - cid:{} - <<- [{}]", self.peer, self.cid, line);
        if let ClientOp::Pub { payload: m, .. } | ClientOp::HPub { message: m, .. } = op {
            log::trace!(
                "{} - cid:{} - <<- MSG_PAYLOAD: [{:?}]",
                self.peer,
                self.cid,
                t(m)
            );
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.state != State::Closed {
            self.outbox.close(CloseReason::ClientClosed, false);
            self.teardown();
        }
        self.flush_wakes();
    }
}
