//! The bytes waiting to be written to one peer.
//!
//! Publishers on other threads append to a subscriber's outbox while its
//! owner drains it, so it sits behind an `Arc` and a short mutex: appends
//! format straight into the buffer, and the owner swaps the whole buffer out
//! and writes it with no lock held. Pending bytes are counted here, so the
//! slow-consumer rule (`max_pending`) is judged at the moment data is added.
//!
//! Waking the writer: the owner registers a [`Waker`] when it finds the
//! outbox empty; a connection that appended to outboxes wakes each of them
//! once at the end of its input call (see [`crate::Connection::receive`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use crate::errors::CloseReason;

/// Outcome of appending to an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// The bytes were queued.
    Queued,
    /// The outbox is closed; nothing was queued.
    Closed,
    /// This append pushed pending bytes over `max_pending`: the outbox is now
    /// closed as a slow consumer and its data discarded.
    SlowConsumer,
}

/// What the writer found when it asked for data.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// Bytes were swapped into the caller's buffer; write them all, then call
    /// [`Outbox::written`].
    Data,
    /// Nothing to write; the waker was registered.
    Empty,
    /// Everything that will ever be written has been written: close the
    /// socket.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Write what is queued (e.g. a final `-ERR`), then close.
    Draining,
    Closed,
}

#[derive(Debug)]
struct Inner {
    buf: Vec<u8>,
    in_flight: usize,
    max_pending: usize,
    state: State,
    reason: Option<CloseReason>,
    waker: Option<Waker>,
    out_msgs: u64,
    out_bytes: u64,
}

/// One peer's queue of outbound bytes. See the module docs.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Set while the outbox sits in some connection's wake list, so a burst
    /// of appends from one read wakes the writer once.
    queued: AtomicBool,
    /// Whether the owner negotiated headers (HMSG) — read by publishers.
    headers: AtomicBool,
    cid: u64,
}

impl Outbox {
    /// An empty, open outbox for connection `cid`.
    pub fn new(cid: u64, max_pending: usize) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                in_flight: 0,
                max_pending,
                state: State::Open,
                reason: None,
                waker: None,
                out_msgs: 0,
                out_bytes: 0,
            }),
            queued: AtomicBool::new(false),
            headers: AtomicBool::new(false),
            cid,
        }
    }

    /// The id of the connection this outbox writes to.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only bytes behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends bytes produced by `f`, enforcing `max_pending`.
    #[inline]
    pub fn append(&self, f: impl FnOnce(&mut Vec<u8>)) -> Append {
        let mut g = self.lock();
        if g.state != State::Open {
            return Append::Closed;
        }
        f(&mut g.buf);
        if g.buf.len() + g.in_flight > g.max_pending {
            g.buf = Vec::new();
            g.state = State::Closed;
            g.reason = Some(CloseReason::SlowConsumerPendingBytes);
            return Append::SlowConsumer;
        }
        Append::Queued
    }

    /// Appends one delivered message (counted in the out counters by its
    /// payload size, as nats-server counts).
    #[inline]
    pub fn append_msg(&self, payload_len: usize, f: impl FnOnce(&mut Vec<u8>)) -> Append {
        let mut g = self.lock();
        if g.state != State::Open {
            return Append::Closed;
        }
        f(&mut g.buf);
        g.out_msgs += 1;
        g.out_bytes += payload_len as u64;
        if g.buf.len() + g.in_flight > g.max_pending {
            g.buf = Vec::new();
            g.state = State::Closed;
            g.reason = Some(CloseReason::SlowConsumerPendingBytes);
            return Append::SlowConsumer;
        }
        Append::Queued
    }

    /// Messages and payload bytes delivered into this outbox.
    pub fn out_counters(&self) -> (u64, u64) {
        let g = self.lock();
        (g.out_msgs, g.out_bytes)
    }

    /// Swaps queued bytes into `spare` (which must be empty), or registers
    /// `waker` to be woken when there are some.
    pub fn take(&self, spare: &mut Vec<u8>, waker: &Waker) -> Take {
        debug_assert!(spare.is_empty());
        let mut g = self.lock();
        match g.state {
            State::Closed => return Take::Closed,
            State::Draining if g.buf.is_empty() => {
                g.state = State::Closed;
                return Take::Closed;
            }
            _ => {}
        }
        if g.buf.is_empty() {
            if !g.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                g.waker = Some(waker.clone());
            }
            return Take::Empty;
        }
        std::mem::swap(&mut g.buf, spare);
        g.in_flight += spare.len();
        Take::Data
    }

    /// The writer wrote `n` bytes of what it took.
    pub fn written(&self, n: usize) {
        let mut g = self.lock();
        g.in_flight = g.in_flight.saturating_sub(n);
    }

    /// Bytes queued or being written.
    pub fn pending(&self) -> usize {
        let g = self.lock();
        g.buf.len() + g.in_flight
    }

    /// Closes the outbox: with `flush`, what is queued is still written
    /// first (a final `-ERR`); without, it is dropped. The first reason wins.
    pub fn close(&self, reason: CloseReason, flush: bool) {
        let mut g = self.lock();
        if g.reason.is_none() {
            g.reason = Some(reason);
        }
        match (g.state, flush) {
            (State::Closed, _) => {}
            (_, true) => g.state = State::Draining,
            (_, false) => {
                g.state = State::Closed;
                g.buf = Vec::new();
            }
        }
        let w = g.waker.take();
        drop(g);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// True once the outbox no longer accepts bytes.
    pub fn is_closed(&self) -> bool {
        self.lock().state != State::Open
    }

    /// Why the outbox was closed, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().reason
    }

    /// A write made no progress for `write_deadline`: the peer is a slow
    /// consumer. Clients are closed, as nats-server's default policy does.
    pub fn write_timed_out(&self) {
        self.close(CloseReason::SlowConsumerWriteDeadline, false);
    }

    /// Wakes the writer if it is waiting.
    pub fn wake(&self) {
        self.queued.store(false, Ordering::Release);
        let w = self.lock().waker.take();
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Marks the outbox as queued for a wake; true if the caller must add it
    /// to its wake list (it was not queued yet).
    #[inline]
    pub(crate) fn mark_queued(&self) -> bool {
        // A plain load first: while the flag is already set (every message
        // after the first in a batch), no read-modify-write is needed.
        !self.queued.load(Ordering::Acquire) && !self.queued.swap(true, Ordering::AcqRel)
    }

    /// Whether the owner accepts HMSG.
    #[inline]
    pub(crate) fn headers(&self) -> bool {
        self.headers.load(Ordering::Relaxed)
    }

    pub(crate) fn set_headers(&self, on: bool) {
        self.headers.store(on, Ordering::Relaxed);
    }

    /// Frees buffer capacity held by an idle outbox, so idle connections cost
    /// little memory.
    pub fn shrink_if_idle(&self) {
        let mut g = self.lock();
        if g.buf.is_empty() && g.buf.capacity() > 0 {
            g.buf = Vec::new();
        }
    }
}
