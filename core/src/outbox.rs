//! The bytes waiting to be written to one peer.
//!
//! Publishers on other threads append to a subscriber's outbox while its
//! owner drains it, so it sits behind an `Arc` and a short mutex: appends
//! format straight into the buffer, and the owner swaps the whole buffer out
//! and writes it with no lock held. Pending bytes are counted here, so the
//! slow-consumer rule (`max_pending`) is judged at the moment data is added.
//!
//! What counts as pending for that rule: the queued bytes, plus the bytes
//! the writer holds only once it has reported the socket full
//! ([`Outbox::write_blocked`]). Bytes handed to a writer that is making
//! progress are not counted: the peer can receive them (and ask for more)
//! before the writer gets to report [`Outbox::written`], so counting them
//! cut subscribers that kept up at about half of `max_pending`. Memory
//! stays bounded: a writer holds at most one swapped-out buffer, itself
//! judged when it was queued, so an outbox holds at most about twice
//! `max_pending` even if its writer never reports.
//!
//! Waking the writer: the owner registers a [`Waker`] when it finds the
//! outbox empty; a connection that appended to outboxes wakes each of them
//! once at the end of its input call (see [`crate::Connection::receive`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use crate::errors::CloseReason;
use crate::tls;

/// A non-blocking write to the peer's socket that any thread may call,
/// provided by the runtime (see [`Outbox::set_direct_writer`]).
///
/// This is nats-server's "flush in place": the thread that delivered
/// messages writes them to the subscriber's socket itself at the end of its
/// read, instead of waking the subscriber's own thread — one thread wake-up
/// fewer per message on the request/reply path. The core never blocks on
/// it: `WouldBlock` (or any error) hands the rest back to the owner.
pub trait DirectWriter: Send + Sync + std::fmt::Debug {
    /// Writes some of `buf` without blocking.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

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
    /// The writer found the socket full and has made no progress since:
    /// the bytes in flight really are waiting for the peer.
    blocked: bool,
    max_pending: usize,
    state: State,
    reason: Option<CloseReason>,
    waker: Option<Waker>,
    out_msgs: u64,
    out_bytes: u64,
    direct: Option<Arc<dyn DirectWriter>>,
    /// A buffer to swap in while a direct write holds the queued bytes.
    spare: Vec<u8>,
    /// The connection's TLS session once it started: `buf` then holds
    /// plaintext until a writer takes it, sealed on the way out.
    tls: Option<Box<tls::Session>>,
}

impl Inner {
    /// With TLS, turns the queued plaintext into the bytes for the wire.
    /// Only while nobody holds bytes, so records leave in order.
    #[inline]
    fn seal(&mut self) {
        if self.tls.is_some() {
            self.seal_tls();
        }
    }

    /// Out of line so the plaintext `take`/`wake` stay as small as before.
    #[cold]
    #[inline(never)]
    fn seal_tls(&mut self) {
        if let Some(t) = self.tls.as_mut() {
            if self.in_flight == 0 && (!self.buf.is_empty() || t.has_output()) {
                t.seal(&mut self.buf);
            }
        }
    }
}

impl Inner {
    /// The slow-consumer test (see the module docs for what counts).
    #[inline]
    fn over_limit(&self) -> bool {
        let held = if self.blocked { self.in_flight } else { 0 };
        self.buf.len() + held > self.max_pending
    }
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
                blocked: false,
                max_pending,
                state: State::Open,
                reason: None,
                waker: None,
                out_msgs: 0,
                out_bytes: 0,
                direct: None,
                spare: Vec::new(),
                tls: None,
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
        if g.over_limit() {
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
        if g.over_limit() {
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
        g.seal();
        match g.state {
            State::Closed => return Take::Closed,
            State::Draining if g.buf.is_empty() && g.in_flight == 0 => {
                g.state = State::Closed;
                return Take::Closed;
            }
            _ => {}
        }
        // Bytes in flight here belong to a direct write on another thread:
        // taking newer bytes now could reorder the stream. Its end wakes us.
        if g.buf.is_empty() || g.in_flight > 0 {
            if !g.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                g.waker = Some(waker.clone());
            }
            return Take::Empty;
        }
        std::mem::swap(&mut g.buf, spare);
        g.in_flight += spare.len();
        g.blocked = false;
        Take::Data
    }

    /// The writer wrote `n` bytes of what it took. Call it after every
    /// write that made progress, partial ones included.
    pub fn written(&self, n: usize) {
        let mut g = self.lock();
        g.in_flight = g.in_flight.saturating_sub(n);
        if n > 0 {
            g.blocked = false;
        }
    }

    /// The writer's last write found the socket full (`WouldBlock`, or a
    /// write future that is pending): until it reports progress with
    /// [`Outbox::written`], the bytes it holds count towards `max_pending`.
    /// A writer that never calls this only lets its outbox grow to about
    /// twice `max_pending` before the cut (see the module docs).
    pub fn write_blocked(&self) {
        let mut g = self.lock();
        if g.in_flight > 0 {
            g.blocked = true;
        }
    }

    /// Bytes queued or being written (what monitoring shows as pending).
    pub fn pending(&self) -> usize {
        let g = self.lock();
        g.buf.len() + g.in_flight + g.tls.as_ref().map_or(0, |t| t.held())
    }

    /// Starts TLS: from now on what is appended is encrypted on its way
    /// out; what was queued before still goes out as it is, first.
    pub(crate) fn start_tls(&self, config: Arc<rustls::ServerConfig>) -> Result<(), String> {
        let mut g = self.lock();
        let before = std::mem::take(&mut g.buf);
        g.tls = Some(Box::new(tls::Session::new(config, before)?));
        Ok(())
    }

    /// Starts client-side TLS toward `name` (a dialed route): the
    /// ClientHello goes out first, and what is appended is encrypted once
    /// the handshake allows.
    pub(crate) fn start_client_tls(
        &self,
        config: Arc<rustls::ClientConfig>,
        name: rustls_pki_types::ServerName<'static>,
    ) -> Result<(), String> {
        let mut g = self.lock();
        let before = std::mem::take(&mut g.buf);
        g.tls = Some(Box::new(tls::Session::client(config, name, before)?));
        Ok(())
    }

    /// Runs `f` on the TLS session, if TLS has started.
    pub(crate) fn with_tls<R>(&self, f: impl FnOnce(&mut tls::Session) -> R) -> Option<R> {
        self.lock().tls.as_deref_mut().map(f)
    }

    /// Closes the outbox: with `flush`, what is queued is still written
    /// first (a final `-ERR`); without, it is dropped. The first reason wins.
    pub fn close(&self, reason: CloseReason, flush: bool) {
        let mut g = self.lock();
        if g.reason.is_none() {
            g.reason = Some(reason);
        }
        // The owner finishes (or drops) what is left; no more direct writes,
        // which also lets the socket close when the owner drops it.
        g.direct = None;
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

    /// Lets other threads write this outbox's bytes straight to the socket
    /// (see [`DirectWriter`]). Dropped when the outbox closes.
    pub fn set_direct_writer(&self, writer: Arc<dyn DirectWriter>) {
        let mut g = self.lock();
        if g.state == State::Open {
            g.direct = Some(writer);
        }
    }

    /// Hands queued bytes to the writer: written in place through the
    /// direct writer when there is one and nobody else holds bytes, and the
    /// owner is woken for whatever is left.
    pub fn wake(&self) {
        self.queued.store(false, Ordering::Release);
        let mut g = self.lock();
        if let Some(direct) = g.direct.clone() {
            g.seal();
            if g.in_flight == 0 && !g.buf.is_empty() {
                let spare = std::mem::take(&mut g.spare);
                let data = std::mem::replace(&mut g.buf, spare);
                g.in_flight = data.len();
                drop(g);
                let written = write_some(&*direct, &data);
                g = self.lock();
                self.settle_direct(&mut g, data, written);
                let held = g.tls.as_ref().is_some_and(|t| t.has_output());
                if g.buf.is_empty() && !held && g.state == State::Open {
                    return;
                }
            }
        }
        let w = g.waker.take();
        drop(g);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// After a direct write of `written` bytes of `data`: the rest goes back
    /// in front of anything appended meanwhile.
    fn settle_direct(&self, g: &mut Inner, mut data: Vec<u8>, written: usize) {
        g.in_flight = 0;
        g.blocked = false;
        if g.state == State::Closed {
            return;
        }
        if written < data.len() && g.tls.is_some() {
            // The buffer holds newer plaintext; the unwritten ciphertext
            // goes back in front of whatever it will be sealed into.
            if let Some(t) = g.tls.as_mut() {
                t.unwrite(&data[written..]);
            }
        } else if written < data.len() {
            data.drain(..written);
            data.extend_from_slice(&g.buf);
            g.buf.clear();
            std::mem::swap(&mut g.buf, &mut data);
        }
        data.clear();
        if g.spare.capacity() < data.capacity() {
            g.spare = data;
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

/// Writes as much of `data` as the socket takes without blocking.
fn write_some(w: &dyn DirectWriter, data: &[u8]) -> usize {
    let mut off = 0;
    while off < data.len() {
        match w.try_write(&data[off..]) {
            Ok(0) => break,
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // WouldBlock or a real error: the owner carries on (and sees
            // the error on its own next write).
            Err(_) => break,
        }
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `room` bytes in total, then says WouldBlock.
    #[derive(Debug, Default)]
    struct Sink {
        got: Mutex<Vec<u8>>,
        room: Mutex<usize>,
    }

    impl DirectWriter for Sink {
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(*room);
            *room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    fn drain(o: &Outbox) -> Vec<u8> {
        let mut buf = Vec::new();
        match o.take(&mut buf, Waker::noop()) {
            Take::Data => {
                o.written(buf.len());
                buf
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn direct_writes_keep_byte_order() {
        let o = Outbox::new(1, 1 << 20);
        let sink = Arc::new(Sink {
            room: Mutex::new(5),
            ..Sink::default()
        });
        o.set_direct_writer(sink.clone());
        o.append(|b| b.extend_from_slice(b"hello world"));
        o.wake();
        assert_eq!(&*sink.got.lock().unwrap(), b"hello");
        assert_eq!(o.pending(), 6, "the rest went back to the queue");
        o.append(|b| b.extend_from_slice(b"!"));
        assert_eq!(drain(&o), b" world!", "remainder first, then newer bytes");
        *sink.room.lock().unwrap() = 100;
        o.append(|b| b.extend_from_slice(b"more"));
        o.wake();
        assert_eq!(&*sink.got.lock().unwrap(), b"hellomore");
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn no_direct_write_while_the_owner_holds_bytes() {
        let o = Outbox::new(1, 1 << 20);
        let sink = Arc::new(Sink {
            room: Mutex::new(100),
            ..Sink::default()
        });
        o.set_direct_writer(sink.clone());
        o.append(|b| b.extend_from_slice(b"first"));
        let mut held = Vec::new();
        assert_eq!(o.take(&mut held, Waker::noop()), Take::Data);
        o.append(|b| b.extend_from_slice(b"second"));
        o.wake();
        assert!(
            sink.got.lock().unwrap().is_empty(),
            "owner still holds 'first'"
        );
        o.written(held.len());
        assert_eq!(drain(&o), b"second");
        o.close(CloseReason::ClientClosed, true);
        o.append(|b| b.extend_from_slice(b"late"));
        o.wake();
        assert!(
            sink.got.lock().unwrap().is_empty(),
            "closed outboxes write nothing in place"
        );
    }

    /// The fast-consumer case of `tests/tests/soak.rs`: the peer read a
    /// whole batch the writer took, and the next batch is queued before the
    /// writer reports the write. Only a writer that found the socket full
    /// makes what it holds count.
    #[test]
    fn bytes_being_written_count_only_once_the_socket_is_full() {
        let o = Outbox::new(1, 1000);
        o.append(|b| b.resize(700, b'a'));
        let mut held = Vec::new();
        assert_eq!(o.take(&mut held, Waker::noop()), Take::Data);
        assert_eq!(o.append(|b| b.resize(700, b'b')), Append::Queued);
        assert_eq!(o.pending(), 1400, "monitoring still sees both");
        o.written(held.len());
        held.clear();

        // Now the socket is full with 300 of 700 bytes still held.
        assert_eq!(o.take(&mut held, Waker::noop()), Take::Data);
        o.written(400);
        o.write_blocked();
        assert_eq!(o.append(|b| b.resize(600, b'c')), Append::Queued);
        assert_eq!(
            o.append(|b| b.extend_from_slice(&[b'd'; 101])),
            Append::SlowConsumer,
            "601 queued + 300 held waiting > 1000"
        );
        assert_eq!(
            o.close_reason(),
            Some(CloseReason::SlowConsumerPendingBytes)
        );
    }

    #[test]
    fn progress_after_a_full_socket_stops_counting_what_is_held() {
        let o = Outbox::new(1, 1000);
        o.append(|b| b.resize(800, b'a'));
        let mut held = Vec::new();
        assert_eq!(o.take(&mut held, Waker::noop()), Take::Data);
        o.write_blocked();
        assert_eq!(o.append(|b| b.resize(150, b'b')), Append::Queued);
        o.written(100);
        assert_eq!(
            o.append(|b| b.resize(900, b'c')),
            Append::Queued,
            "700 held by a writer making progress do not count"
        );
        o.write_blocked();
        assert_eq!(o.append(|b| b.push(b'd')), Append::SlowConsumer);
    }
}
