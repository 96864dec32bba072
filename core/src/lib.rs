//! # natsd-core: a NATS server as a sans-IO state machine
//!
//! This crate holds all of natsd's protocol and routing logic and performs
//! **no I/O of its own**. The contract, checked by `tests/sans_io.rs`:
//!
//! * no sockets: bytes come in as `&[u8]` and go out through [`Outbox`]es;
//! * no clock: every input takes `now: Instant`, every timer comes out as an
//!   `Instant` from [`Connection::poll_timeout`];
//! * no threads, no sleeping, no runtime crate;
//! * no randomness it was not given: [`Server::new`] takes a seed. The one
//!   exception is TLS key exchange, whose secrets rustls' ring provider
//!   draws from the OS inside its own calls (see [`tls`] and
//!   `tests/sans_io.rs`).
//!
//! Because of this the same core runs under tokio, mio, async-std, a
//! fuzzer, a property test with a simulated clock, or an embedder's own
//! loop (see `examples/std_loop.rs`).
//!
//! ## Two levels
//!
//! [`Server`] is the shared half (`Send + Sync`, behind `Arc`): options,
//! identity, accounts and their [`Sublist`]s. [`Connection`] is one peer's
//! state machine, owned by whatever reads its socket.
//!
//! ## How to drive it
//!
//! 1. On accept: `let mut conn = server.accept(peer, now)`; its INFO is
//!    already queued in `conn.outbox()`.
//! 2. Register a [`std::task::Waker`] with the outbox through
//!    [`Outbox::take`]; whenever it is woken, call `take` again and write
//!    what it hands you, reporting every write that made progress with
//!    [`Outbox::written`], and a socket found full with
//!    [`Outbox::write_blocked`] (what you hold then counts towards
//!    `max_pending`).
//! 3. On bytes read: `conn.receive(&buf[..n], now)`. On EOF or a read error:
//!    `conn.close(CloseReason::ClientClosed)`.
//! 4. When `conn.poll_timeout()` passes: `conn.handle_timeout(now)`.
//! 5. When `conn.is_closed()`: stop reading; keep writing until `take`
//!    returns [`outbox::Take::Closed`], then drop the socket and `conn`.
//!
//! Messages for a subscriber are appended to its outbox by whichever
//! connection published them; the publisher wakes each touched outbox once
//! per `receive` call.

#![forbid(unsafe_code)]

pub mod account;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod connection;
mod deliver;
pub mod errors;
pub mod lame_duck;
pub mod monitor;
pub mod nkey;
pub mod options;
pub mod outbox;
pub mod registry;
pub mod rng;
pub mod route;
pub mod server;
pub mod session;
pub mod subject;
pub mod sublist;
pub(crate) mod system;
pub mod tls;

pub use connection::{Connection, State};
pub use errors::CloseReason;
pub use options::Options;
pub use outbox::{Outbox, Take};
pub use route::RouteConnection;
pub use server::{Account, Server};
pub use session::Session;
pub use sublist::{Matches, Sublist, Subscription};
