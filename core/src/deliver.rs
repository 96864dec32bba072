//! Delivering one message to one local subscriber: claim the delivery
//! (auto-unsubscribe max), format MSG/HMSG into its outbox, count it, note
//! the outbox for a wake, record reply permissions. Shared by every
//! connection kind that delivers locally (clients, routes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::account::import::{ImportKind, ImportRoute, Spread};
use crate::client::encode::write_msg;
use crate::outbox::{Append, Outbox};
use crate::server::{Account, Server};
use crate::sublist::{Claim, Subscription};

/// One published message on its way to subscribers.
pub(crate) struct Msg<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) reply: Option<&'a [u8]>,
    pub(crate) header_len: usize,
    pub(crate) message: &'a [u8],
    pub(crate) sizes: [&'a [u8]; 2],
}

/// What delivery needs from the publishing connection.
pub(crate) struct Deliverer<'c> {
    pub(crate) wake: &'c mut Vec<Arc<Outbox>>,
    pub(crate) server: &'c Server,
    pub(crate) account: &'c Account,
    pub(crate) now: Instant,
    /// The publishing client, when there is one (`$SYS.REQ.USER.INFO`
    /// answers about it).
    pub(crate) origin: Option<&'c crate::registry::ClientInfo>,
}

impl Deliverer<'_> {
    /// Appends one message to `sub`'s outbox; false if it was not taken.
    #[inline]
    pub(crate) fn deliver(&mut self, sub: &Arc<Subscription>, m: &Msg<'_>) -> bool {
        let claim = sub.claim();
        if claim == Claim::Skip {
            return false;
        }
        let headers = sub.outbox.headers();
        let len = if headers {
            m.message.len()
        } else {
            m.message.len() - m.header_len
        };
        let res = sub.outbox.append_msg(len, |buf| {
            write_msg(
                buf,
                m.subject,
                &sub.sid,
                m.reply,
                m.header_len,
                m.message,
                headers,
                m.sizes,
            )
        });
        if claim == Claim::DeliverLast && sub.close() {
            self.account.sublist_mut().remove(sub);
        }
        match res {
            Append::Queued => {
                mark_wake(self.wake, &sub.outbox);
                if let (Some(reply), Some(auth)) = (m.reply, sub.auth()) {
                    // allow_responses: the subscriber may answer this one.
                    if auth.tracks_replies() {
                        auth.record_reply(reply, self.now);
                    }
                }
                true
            }
            Append::Closed => false,
            Append::SlowConsumer => {
                self.server
                    .stats()
                    .slow_consumers
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.account.note_slow_consumer();
                log::info!(
                    "cid:{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                    sub.cid(),
                    self.server.options().max_pending
                );
                mark_wake(self.wake, &sub.outbox);
                false
            }
        }
    }
}

/// Records `outbox` for a wake at the end of the input call, once.
#[inline]
pub(crate) fn mark_wake(wake: &mut Vec<Arc<Outbox>>, outbox: &Arc<Outbox>) {
    if outbox.mark_queued() {
        wake.push(outbox.clone());
    }
}

/// Publishes a message the server itself originates (a `$SYS` event)
/// into `account`: its subscribers and its routes.
pub(crate) fn publish_internal(
    server: &Server,
    account: &Account,
    subject: &[u8],
    payload: &[u8],
    now: Instant,
    wake: &mut Vec<Arc<Outbox>>,
    spread: &Spread,
) {
    let mut d = Deliverer {
        wake,
        server,
        account,
        now,
        origin: None,
    };
    let msg = Msg {
        subject,
        reply: None,
        header_len: 0,
        message: payload,
        sizes: [b"", b""],
    };
    d.deliver_in_account(account, &msg, spread, false, true, Duration::ZERO, 0);
}

/// How deep imports may chain (an import feeding another import); stops
/// a cycle of imports from looping.
const MAX_IMPORT_DEPTH: u8 = 4;

impl Deliverer<'_> {
    /// Carries `m` through the import subscriptions that matched it (see
    /// `crate::account::import`). `from_route`: the message came from a
    /// peer server, which already ran its own service imports. `rtt` is the
    /// requester's round trip for `Nats-Request-Info`. True if some
    /// subscriber or route took it.
    pub(crate) fn deliver_imports(
        &mut self,
        imports: &[Arc<Subscription>],
        m: &Msg<'_>,
        from_route: bool,
        rtt: Duration,
    ) -> bool {
        self.cross_all(imports, m, from_route, rtt, 0)
    }

    fn cross_all(
        &mut self,
        imports: &[Arc<Subscription>],
        m: &Msg<'_>,
        from_route: bool,
        rtt: Duration,
        depth: u8,
    ) -> bool {
        let mut delivered = false;
        for sub in imports {
            if let Some(route) = sub.import() {
                delivered |= self.cross(route, m, from_route, rtt, depth);
            }
        }
        delivered
    }

    fn cross(
        &mut self,
        route: &ImportRoute,
        m: &Msg<'_>,
        from_route: bool,
        rtt: Duration,
        depth: u8,
    ) -> bool {
        match &route.kind {
            ImportKind::Stream { to, target } => {
                let Some(target) = target.upgrade() else {
                    return false;
                };
                let subject = to.apply(m.subject);
                let msg = Msg {
                    subject: &subject,
                    ..*m
                };
                // Peers run the same import on the exporter's message.
                self.deliver_in_account(&target, &msg, &route.spread, from_route, false, rtt, depth)
            }
            ImportKind::Service {
                to,
                exporter,
                importer,
                responses,
            } => {
                if from_route {
                    return false;
                }
                let Some(exporter) = exporter.upgrade() else {
                    return false;
                };
                let subject = to.apply(m.subject);
                let reply = m.reply.map(|r| responses.issue(r, self.now));
                let (message, header_len) = with_request_info(m, importer, rtt);
                let msg = Msg {
                    subject: &subject,
                    reply: reply.as_deref(),
                    header_len,
                    message: &message,
                    sizes: [b"", b""],
                };
                let ok = self.deliver_in_account(
                    &exporter,
                    &msg,
                    &route.spread,
                    from_route,
                    true,
                    rtt,
                    depth,
                );
                if let (false, Some(r)) = (ok, &reply) {
                    responses.retire(r);
                }
                ok
            }
            ImportKind::Response {
                importer,
                responses,
            } => {
                let Some(reply) = responses.resolve(m.subject, self.now) else {
                    return false;
                };
                let Some(importer) = importer.upgrade() else {
                    return false;
                };
                let msg = Msg {
                    subject: &reply,
                    reply: None,
                    ..*m
                };
                self.deliver_in_account(
                    &importer,
                    &msg,
                    &route.spread,
                    from_route,
                    true,
                    rtt,
                    depth,
                )
            }
            ImportKind::System(api) => {
                if from_route && !api.cluster_wide() {
                    return false;
                }
                let Some(reply) = m.reply else {
                    return false;
                };
                let body = &m.message[m.header_len.min(m.message.len())..];
                let Some(payload) = crate::system::answer(
                    *api,
                    self.server,
                    self.account,
                    m.subject,
                    body,
                    self.origin,
                    self.now,
                ) else {
                    return false;
                };
                let msg = Msg {
                    subject: reply,
                    reply: None,
                    header_len: 0,
                    message: &payload,
                    sizes: [b"", b""],
                };
                // The answer starts here: it goes to routes even when the
                // request came over one.
                let account = self.account;
                self.deliver_in_account(account, &msg, &route.spread, false, true, rtt, depth);
                true
            }
        }
    }

    /// Delivers `m` to `account`'s local subscribers (and, with `forward`,
    /// to its routes when the message started on this server).
    #[allow(clippy::too_many_arguments)]
    fn deliver_in_account(
        &mut self,
        account: &Account,
        m: &Msg<'_>,
        spread: &Spread,
        from_route: bool,
        forward: bool,
        rtt: Duration,
        depth: u8,
    ) -> bool {
        let mut matches = account.sublist().matches(m.subject);
        if self.server.delivery_filters() {
            matches.retain_admitted(m.subject);
        }
        let mut d = Deliverer {
            wake: &mut *self.wake,
            server: self.server,
            account,
            now: self.now,
            origin: self.origin,
        };
        let mut delivered = false;
        for sub in &matches.plain {
            delivered |= d.deliver(sub, m);
        }
        for group in &matches.queues {
            let start = spread.pick(group.len());
            for i in 0..group.len() {
                if d.deliver(&group[(start + i) % group.len()], m) {
                    delivered = true;
                    break;
                }
            }
        }
        if depth < MAX_IMPORT_DEPTH && !matches.imports.is_empty() {
            delivered |= d.cross_all(&matches.imports, m, from_route, rtt, depth + 1);
        }
        if forward && !from_route {
            delivered |= self.server.routes().forward(
                account.name(),
                m.subject,
                m.reply,
                m.header_len,
                m.message,
                &matches.queues,
                self.wake,
            );
        }
        delivered
    }
}

/// The request with a `Nats-Request-Info` header naming the requesting
/// account (what a service sees of who asked), and its header length.
fn with_request_info(m: &Msg<'_>, account: &str, rtt: Duration) -> (Vec<u8>, usize) {
    let mut line = Vec::with_capacity(64 + account.len());
    line.extend_from_slice(b"Nats-Request-Info: {\"acc\":");
    line.extend_from_slice(&crate::monitor::json::compact(account));
    line.extend_from_slice(b",\"rtt\":");
    line.extend_from_slice(itoa::Buffer::new().format(rtt.as_nanos() as u64).as_bytes());
    line.extend_from_slice(b"}\r\n");
    let (head, body): (&[u8], &[u8]) = if m.header_len >= 4 {
        // Keep the publisher's headers; the new one goes before the blank line.
        (&m.message[..m.header_len - 2], &m.message[m.header_len..])
    } else {
        (b"NATS/1.0\r\n", m.message)
    };
    let mut out = Vec::with_capacity(head.len() + line.len() + 2 + body.len());
    out.extend_from_slice(head);
    out.extend_from_slice(&line);
    out.extend_from_slice(b"\r\n");
    let header_len = out.len();
    out.extend_from_slice(body);
    (out, header_len)
}
