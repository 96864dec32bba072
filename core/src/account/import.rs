//! How a message crosses from one account to another.
//!
//! Every import is a subscription in the index of the account the message
//! starts in, marked with an [`ImportRoute`] (the sublist hands those out
//! apart from ordinary subscribers, in `Matches::imports`):
//!
//! * a **stream** import sits in the exporting account on the imported
//!   subject; a message there is re-published in the importing account
//!   under the import's `to`/`prefix` subject;
//! * a **service** import sits in the importing account on its local
//!   subject; a request there goes to the exporting account under the
//!   exported subject, with its reply replaced by a fresh `_R_.` subject
//!   and a `Nats-Request-Info` header naming the requesting account;
//! * the **response** route sits in the exporting account on
//!   `_R_.<prefix>.>`; a reply published to one of the fresh subjects goes
//!   back to the requester's original reply subject — once for a
//!   `singleton` service, until `response_threshold` for `stream` and
//!   `chunked` ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::transform::Transform;
use super::Account;
use crate::options::ResponseType;
use crate::rng::CsRng;

/// What a subscription that carries an import does with a message.
#[derive(Debug)]
pub struct ImportRoute {
    pub(crate) kind: ImportKind,
    pub(crate) spread: Spread,
}

/// Spreads messages the server forwards over a queue group's members.
#[derive(Debug, Default)]
pub struct Spread(AtomicU64);

impl Spread {
    /// A member index in `0..n` for the next queue delivery.
    pub(crate) fn pick(&self, n: usize) -> usize {
        (self.0.fetch_add(1, Ordering::Relaxed) % n.max(1) as u64) as usize
    }
}

/// The three ways across (see the module docs).
#[derive(Debug)]
pub(crate) enum ImportKind {
    /// Exporter → importer, subject rewritten by `to`.
    Stream {
        to: Transform,
        target: Weak<Account>,
    },
    /// Importer → exporter, subject rewritten by `to`.
    Service {
        to: Transform,
        exporter: Weak<Account>,
        /// The importing account's name, for `Nats-Request-Info`.
        importer: String,
        responses: Arc<Responses>,
    },
    /// Exporter → importer: replies to the `_R_.` subjects of `responses`.
    Response {
        importer: Weak<Account>,
        responses: Arc<Responses>,
    },
    /// The server answers (the `$SYS` API).
    System(crate::system::Api),
}

impl ImportRoute {
    pub(crate) fn new(kind: ImportKind) -> ImportRoute {
        ImportRoute {
            kind,
            spread: Spread::default(),
        }
    }
}

/// The reply subjects one service import handed out and not yet retired.
#[derive(Debug)]
pub struct Responses {
    /// `_R_.<random>.`: what every reply subject of this import starts with.
    prefix: String,
    /// Mixed into reply subjects so they cannot be guessed from the count.
    salt: u64,
    count: AtomicU64,
    kind: ResponseType,
    threshold: Duration,
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    by_subject: FxHashMap<Box<[u8]>, Waiting>,
    /// When expired entries were last dropped.
    swept: Option<Instant>,
}

#[derive(Debug)]
struct Waiting {
    reply: Box<[u8]>,
    expires: Instant,
}

const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn base62(mut n: u64, out: &mut Vec<u8>) {
    loop {
        out.push(ALPHABET[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
}

impl Responses {
    pub(crate) fn new(rng: &mut CsRng, kind: ResponseType, threshold: Duration) -> Responses {
        let mut prefix = b"_R_.".to_vec();
        base62(rng.next_u64(), &mut prefix);
        prefix.push(b'.');
        Responses {
            prefix: String::from_utf8(prefix).expect("ASCII"),
            salt: rng.next_u64(),
            count: AtomicU64::new(0),
            kind,
            threshold: if threshold.is_zero() {
                Duration::from_secs(120)
            } else {
                threshold
            },
            pending: Mutex::new(Pending::default()),
        }
    }

    /// The wildcard subject the response route listens on.
    pub(crate) fn pattern(&self) -> String {
        format!("{}>", self.prefix)
    }

    /// A fresh reply subject standing in for `reply` until answered.
    pub(crate) fn issue(&self, reply: &[u8], now: Instant) -> Vec<u8> {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let mut subject = self.prefix.as_bytes().to_vec();
        base62(n ^ self.salt, &mut subject);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Requests nobody answers would pile up: drop the expired ones
        // now and then.
        if p.swept
            .is_none_or(|t| now.saturating_duration_since(t) >= self.threshold)
        {
            p.by_subject.retain(|_, w| w.expires > now);
            p.swept = Some(now);
        }
        p.by_subject.insert(
            subject.clone().into_boxed_slice(),
            Waiting {
                reply: reply.into(),
                expires: now + self.threshold,
            },
        );
        subject
    }

    /// Forgets a reply subject (the request reached nobody).
    pub(crate) fn retire(&self, subject: &[u8]) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.by_subject.remove(subject);
    }

    /// The original reply for a response published to `subject`, if it is
    /// still awaited (a singleton is retired by its first response).
    pub(crate) fn resolve(&self, subject: &[u8], now: Instant) -> Option<Box<[u8]>> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let w = p.by_subject.get(subject)?;
        if w.expires <= now {
            p.by_subject.remove(subject);
            return None;
        }
        match self.kind {
            ResponseType::Singleton => p.by_subject.remove(subject).map(|w| w.reply),
            ResponseType::Stream | ResponseType::Chunked => Some(w.reply.clone()),
        }
    }

    /// Reply subjects still awaited (for monitoring and tests).
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_subject
            .len()
    }
}
