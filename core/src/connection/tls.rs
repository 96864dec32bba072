//! The TLS side of a client connection, following nats-server's flows
//! (spec auth.md §9):
//!
//! * default: INFO in plaintext (`tls_required`), then the client's
//!   handshake, then everything inside TLS. A first byte that is not a
//!   TLS handshake record (0x16), e.g. a plaintext CONNECT, closes the
//!   socket without `-ERR`.
//! * `allow_non_tls`: the first byte decides: 0x16 starts TLS, anything
//!   else stays plaintext for good.
//! * `handshake_first`: nothing until the ClientHello; INFO is the first
//!   TLS record. With a fallback delay (`auto`, `"300ms"`), a client that
//!   sent nothing by then gets the plaintext INFO and the default flow.
//! * a handshake not finished within `tls.timeout` closes the connection.
//!
//! The rustls session lives in the outbox (see [`crate::tls`]); this part
//! only decides when it starts and feeds it what the socket delivered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use super::{Connection, State};
use crate::auth::Identity;
use crate::errors::{CloseReason, Fault};
use crate::options::Options;
use crate::server::Server;
use crate::tls::{self, HandshakeFirst};

/// The first byte of a TLS handshake record (a ClientHello).
const HANDSHAKE_RECORD: u8 = 0x16;

/// Decrypted-input buffers larger than this are freed after use.
const PLAIN_KEEP: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `handshake_first`: nothing sent yet, waiting for the ClientHello.
    AwaitHello,
    /// INFO went out in plaintext; the first byte decides.
    AfterInfo,
    /// rustls is handshaking.
    Handshaking,
    /// Everything now goes through TLS.
    Established,
}

/// A client connection's TLS progress, on servers with `tls {}`.
#[derive(Debug)]
pub(super) struct ClientTls {
    phase: Phase,
    /// The configuration when the client connected (a reload affects only
    /// later connections).
    config: Option<Arc<ServerConfig>>,
    /// `allow_non_tls`.
    optional: bool,
    /// The handshake came before INFO.
    first: bool,
    timeout: Duration,
    /// Handshake deadline.
    deadline: Option<Instant>,
    /// `handshake_first` with fallback: when to send INFO in plaintext.
    fallback: Option<Instant>,
    /// Decrypted input, reused between reads.
    plain: Vec<u8>,
}

impl ClientTls {
    /// TLS state for a client accepted `now`; `None` without TLS.
    pub(super) fn new(server: &Server, opts: &Options, now: Instant) -> Option<Box<ClientTls>> {
        let t = opts.tls.as_ref()?;
        let (phase, fallback) = match t.handshake_first {
            HandshakeFirst::Off => (Phase::AfterInfo, None),
            HandshakeFirst::On => (Phase::AwaitHello, None),
            HandshakeFirst::Fallback(d) => (Phase::AwaitHello, Some(now + d)),
        };
        let optional = opts.allow_non_tls && phase == Phase::AfterInfo;
        Some(Box::new(ClientTls {
            phase,
            config: server.tls().current(),
            optional,
            first: false,
            timeout: t.timeout,
            // A client that may stay in plaintext has no handshake to
            // finish until it starts one (the auth timer still runs).
            deadline: (!optional).then(|| now + t.timeout),
            fallback,
            plain: Vec::new(),
        }))
    }

    /// Whether INFO goes out at accept (in plaintext).
    pub(super) fn info_at_accept(&self) -> bool {
        self.phase == Phase::AfterInfo
    }

    /// The next TLS timer.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let hs = self.deadline.filter(|_| self.phase != Phase::Established);
        match (hs, self.fallback) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Connection {
    /// `receive` on a connection of a TLS server (until it settles in
    /// plaintext under `allow_non_tls`). Never inlined: the plaintext
    /// `receive` stays a branch and a call.
    #[inline(never)]
    pub(super) fn receive_tls(&mut self, data: &[u8], now: Instant) {
        let Some(mut t) = self.tls.take() else {
            return self.process(data, now);
        };
        if self.is_closed() || data.is_empty() {
            self.tls = Some(t);
            return self.process(data, now);
        }
        if matches!(t.phase, Phase::AwaitHello | Phase::AfterInfo) {
            if data[0] != HANDSHAKE_RECORD {
                if t.optional {
                    // A plaintext client on an allow_non_tls server: TLS
                    // is out of the picture for good.
                    return self.process(data, now);
                }
                self.tls = Some(t);
                self.tls_fail(now, "first record does not look like a TLS handshake");
                return;
            }
            if let Err(e) = self.start_tls(&mut t, now) {
                self.tls = Some(t);
                self.tls_fail(now, &e);
                return;
            }
        }
        let mut plain = std::mem::take(&mut t.plain);
        plain.clear();
        let fed = self.outbox.with_tls(|s| s.read(data, &mut plain));
        let progress = match fed {
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
        if t.phase == Phase::Handshaking && !progress.handshaking {
            t.phase = Phase::Established;
            t.deadline = None;
            let first = t.first;
            let done = self
                .outbox
                .with_tls(|s| s.summary(first).map(|sum| (sum, s.peer_certs())))
                .flatten();
            if let Some((sum, certs)) = done {
                log::debug!("{} - cid:{} - TLS handshake complete", self.peer, self.cid);
                log::debug!(
                    "{} - cid:{} - TLS version {}, cipher suite {}",
                    self.peer,
                    self.cid,
                    sum.version,
                    sum.cipher_suite
                );
                self.info.set_tls(sum, certs);
            }
        }
        // Handshake records or alerts rustls wants to send.
        let own = self.outbox.clone();
        self.mark_wake(&own);
        self.tls = Some(t);
        if plain.is_empty() {
            self.last_activity = now;
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

    /// The first handshake byte arrived: hand the outbox a rustls session.
    fn start_tls(&mut self, t: &mut ClientTls, now: Instant) -> Result<(), String> {
        let config = t.config.clone().ok_or("TLS is configured but not loaded")?;
        self.outbox.start_tls(config)?;
        if t.phase == Phase::AwaitHello {
            // INFO becomes the first record after the handshake.
            t.first = true;
            self.send_info(false);
        }
        if t.deadline.is_none() {
            t.deadline = Some(now + t.timeout);
        }
        t.fallback = None;
        t.phase = Phase::Handshaking;
        Ok(())
    }

    /// Runs the TLS timers; true if the connection closed.
    pub(super) fn tls_timers(&mut self, now: Instant) -> bool {
        let Some(t) = self.tls.as_mut() else {
            return false;
        };
        if t.phase == Phase::AwaitHello && t.fallback.is_some_and(|f| now >= f) {
            // No ClientHello in time: the plaintext flow.
            t.fallback = None;
            t.phase = Phase::AfterInfo;
            self.send_info(false);
        }
        let Some(t) = self.tls.as_ref() else {
            return false;
        };
        if t.phase != Phase::Established && t.deadline.is_some_and(|d| now >= d) {
            self.tls_fail(now, "TLS handshake timeout");
            return true;
        }
        false
    }

    /// Closes without a word to the client (what it would get could not
    /// be read anyway), sending any alert rustls queued.
    fn tls_fail(&mut self, now: Instant, why: &str) {
        self.clock = now;
        log::error!(
            "{} - cid:{} - TLS handshake error: {why}",
            self.peer,
            self.cid
        );
        self.fail(
            Fault::Silent("TLS handshake failure"),
            CloseReason::TlsHandshakeFailure,
        );
        self.flush_wakes();
    }

    /// With `verify_and_map` and a users list: the user the client
    /// certificate maps to (`Some(None)`: none does, an Authorization
    /// Violation). `None` when mapping does not apply and CONNECT's
    /// credentials decide: no mapping configured, no users, or a client
    /// that signs in with an nkey (nats-server checks nkeys first).
    pub(super) fn tls_mapped_identity(&self, nkey_given: bool) -> Option<Option<Identity>> {
        let o = self.server.options();
        if !o.tls.as_ref().is_some_and(|t| t.verify_and_map)
            || self.state == State::Closed
            || nkey_given
        {
            return None;
        }
        let auth = self.server.authenticator();
        if !auth.has_users() {
            return None;
        }
        // No certificate (also a plaintext client of an allow_non_tls
        // server): the user cannot come from it, and a users list made
        // for mapping has no passwords to fall back on.
        let Some(leaf) = self.outbox.with_tls(|s| s.peer_leaf()).flatten() else {
            log::debug!(
                "{} - cid:{} - User required in cert, no TLS connection state",
                self.peer,
                self.cid
            );
            return Some(None);
        };
        let names = tls::mapped_names(&leaf);
        for n in &names {
            if let Some(id) = auth.user_by_name(|u| u == n) {
                return Some(Some(id));
            }
        }
        let dn = names.last()?;
        Some(auth.user_by_name(|u| tls::same_rdn_set(u, dn)))
    }
}
