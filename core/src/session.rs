//! What a runtime needs from a connection's state machine, whatever the
//! connection is (a client [`Connection`] or a [`RouteConnection`]), so
//! one serving loop drives both: feed bytes, run timers, write the outbox,
//! stop when closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::connection::Connection;
use crate::errors::CloseReason;
use crate::outbox::Outbox;
use crate::route::RouteConnection;

/// One peer's protocol state machine, driven as the crate docs describe.
pub trait Session: Send {
    /// Feeds bytes read from the socket.
    fn receive(&mut self, data: &[u8], now: Instant);
    /// Runs the timers that are due.
    fn handle_timeout(&mut self, now: Instant);
    /// When [`Session::handle_timeout`] must run next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The bytes to write to the socket.
    fn outbox(&self) -> &Arc<Outbox>;
    /// True once closing: stop reading, drain the outbox.
    fn is_closed(&self) -> bool;
    /// The socket is gone (EOF or error).
    fn close(&mut self, reason: CloseReason);
    /// Connection id (`cid`, or `rid` for routes).
    fn cid(&self) -> u64;
    /// Peer address.
    fn peer(&self) -> SocketAddr;
}

impl Session for Connection {
    fn receive(&mut self, data: &[u8], now: Instant) {
        Connection::receive(self, data, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Connection::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Connection::poll_timeout(self)
    }
    fn outbox(&self) -> &Arc<Outbox> {
        Connection::outbox(self)
    }
    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
    fn close(&mut self, reason: CloseReason) {
        Connection::close(self, reason);
    }
    fn cid(&self) -> u64 {
        Connection::cid(self)
    }
    fn peer(&self) -> SocketAddr {
        Connection::peer(self)
    }
}

impl Session for RouteConnection {
    fn receive(&mut self, data: &[u8], now: Instant) {
        RouteConnection::receive(self, data, now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        RouteConnection::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        RouteConnection::poll_timeout(self)
    }
    fn outbox(&self) -> &Arc<Outbox> {
        RouteConnection::outbox(self)
    }
    fn is_closed(&self) -> bool {
        RouteConnection::is_closed(self)
    }
    fn close(&mut self, reason: CloseReason) {
        RouteConnection::close(self, reason);
    }
    fn cid(&self) -> u64 {
        RouteConnection::cid(self)
    }
    fn peer(&self) -> SocketAddr {
        RouteConnection::peer(self)
    }
}
