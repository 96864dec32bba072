//! Delivering one message to one local subscriber: claim the delivery
//! (auto-unsubscribe max), format MSG/HMSG into its outbox, count it, note
//! the outbox for a wake, record reply permissions. Shared by every
//! connection kind that delivers locally (clients, routes).

use std::sync::Arc;
use std::time::Instant;

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
