//! Compiled permissions: the allow and deny lists of one user, matched the
//! way nats-server matches them.
//!
//! nats-server keeps each list in a subject index (`Sublist`) and asks it
//! which entries match a subject, treating the subject's tokens as
//! literals: an entry `*` or `>` matches any token, also a `*` or `>`
//! token of a SUB subject. So `subscribe: "foo.*"` lets `SUB foo.>` in.
//! natsd answers every SUB exactly like that; what such a subscription then
//! receives is narrowed in [`Perms::may_receive`] (see there).

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::options::{Permissions, ResponsePermission};

/// The queue group name reserved for the server's own use: no client may
/// subscribe with it.
pub const SYS_QUEUE: &[u8] = b"_sys_";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(Box<[u8]>),
    Star,
    Full,
}

#[derive(Debug, Clone)]
struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    fn new(subject: &str) -> Pattern {
        let toks = subject
            .as_bytes()
            .split(|&b| b == b'.')
            .map(|t| match t {
                b"*" => Tok::Star,
                b">" => Tok::Full,
                t => Tok::Lit(t.into()),
            })
            .collect();
        Pattern { toks }
    }

    /// Does this entry match the subject (tokens taken literally)?
    fn matches(&self, subject: &[&[u8]]) -> bool {
        for (i, t) in self.toks.iter().enumerate() {
            match t {
                Tok::Full => return subject.len() > i,
                Tok::Star => {
                    if i >= subject.len() {
                        return false;
                    }
                }
                Tok::Lit(l) => {
                    if subject.get(i).is_none_or(|s| **s != **l) {
                        return false;
                    }
                }
            }
        }
        self.toks.len() == subject.len()
    }
}

/// An allow or deny list.
#[derive(Debug, Clone, Default)]
struct List {
    plain: Vec<Pattern>,
    /// Entries restricted to a queue group (`"subject queue"`).
    queues: Vec<(Pattern, Box<[u8]>)>,
}

/// What a list says about one subject.
struct Hit<'a> {
    plain: bool,
    queues: SmallVec<[&'a [u8]; 4]>,
}

impl List {
    /// A publish list: every entry is a subject as written.
    fn publish(entries: &[String]) -> List {
        List {
            plain: entries.iter().map(|e| Pattern::new(e)).collect(),
            queues: Vec::new(),
        }
    }

    /// A subscribe list: `"subject"` or `"subject queue"`.
    fn subscribe(entries: &[String]) -> List {
        let mut l = List::default();
        for e in entries {
            let mut f = e.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(s), None, _) => l.plain.push(Pattern::new(s)),
                (Some(s), Some(q), None) => l.queues.push((Pattern::new(s), q.as_bytes().into())),
                // The config layer refuses other shapes; nats-server skips them.
                _ => {}
            }
        }
        l
    }

    fn any_plain(&self, subject: &[&[u8]]) -> bool {
        self.plain.iter().any(|p| p.matches(subject))
    }

    fn hit(&self, subject: &[&[u8]]) -> Hit<'_> {
        Hit {
            plain: self.any_plain(subject),
            queues: self
                .queues
                .iter()
                .filter(|(p, _)| p.matches(subject))
                .map(|(_, q)| &**q)
                .collect(),
        }
    }
}

/// Splits a subject into tokens; `None` if a token is empty (such a
/// subject matches no list entry, as in nats-server).
fn tokens(subject: &[u8]) -> Option<SmallVec<[&[u8]; 16]>> {
    let toks: SmallVec<[&[u8]; 16]> = subject.split(|&b| b == b'.').collect();
    (!toks.iter().any(|t| t.is_empty())).then_some(toks)
}

/// nats-server's `queueMatches`: the queue is named by an entry, or lies
/// within an entry whose name has wildcards (`q.*` admits `q.a`).
fn queue_matches(queue: &[u8], names: &[&[u8]]) -> bool {
    names.iter().any(|n| {
        *n == queue
            || (crate::subject::has_wildcard(n) && crate::subject::is_subset_match(queue, n))
    })
}

/// One user's permissions, ready for matching.
#[derive(Debug, Clone)]
pub struct Perms {
    pub_allow: Option<List>,
    pub_deny: Option<List>,
    sub_allow: Option<List>,
    sub_deny: Option<List>,
    response: Option<ResponsePermission>,
}

impl Perms {
    /// Compiles configured permissions.
    pub fn new(p: &Permissions) -> Perms {
        let publish = p.publish.as_ref();
        let subscribe = p.subscribe.as_ref();
        Perms {
            // An empty publish allow list denies everything; an empty
            // subscribe allow list is no list at all (nats-server).
            pub_allow: publish.and_then(|s| s.allow.as_deref()).map(List::publish),
            pub_deny: publish
                .filter(|s| !s.deny.is_empty())
                .map(|s| List::publish(&s.deny)),
            sub_allow: subscribe
                .and_then(|s| s.allow.as_deref())
                .filter(|a| !a.is_empty())
                .map(List::subscribe),
            sub_deny: subscribe
                .filter(|s| !s.deny.is_empty())
                .map(|s| List::subscribe(&s.deny)),
            response: p.response,
        }
    }

    /// True if publishing is restricted at all.
    pub fn restricts_publish(&self) -> bool {
        self.pub_allow.is_some() || self.pub_deny.is_some()
    }

    /// The publish lists' verdict for `subject` (without `allow_responses`).
    pub fn publish_allowed(&self, subject: &[u8]) -> bool {
        let toks = tokens(subject);
        let matches = |l: &List| toks.as_deref().is_some_and(|t| l.any_plain(t));
        if self.pub_allow.as_ref().is_some_and(|l| !matches(l)) {
            return false;
        }
        !self.pub_deny.as_ref().is_some_and(matches)
    }

    /// `allow_responses`, if set.
    pub fn response(&self) -> Option<ResponsePermission> {
        self.response
    }

    /// True if subscriptions are restricted at all.
    pub fn restricts_subscribe(&self) -> bool {
        self.sub_allow.is_some() || self.sub_deny.is_some()
    }

    /// May the client subscribe to `subject` (possibly with wildcards,
    /// matched as literal tokens) in `queue`? nats-server's rules: a
    /// matching plain allow entry allows; when queue entries match, the
    /// queue decides instead; then deny likewise. The reserved queue
    /// [`SYS_QUEUE`] is checked by the caller.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let toks = tokens(subject);
        let queue = queue.filter(|q| !q.is_empty());
        let mut allowed = true;
        if let Some(allow) = &self.sub_allow {
            match &toks {
                None => allowed = false,
                Some(t) => {
                    let hit = allow.hit(t);
                    allowed = hit.plain;
                    if let (Some(q), false) = (queue, hit.queues.is_empty()) {
                        allowed = queue_matches(q, &hit.queues);
                    }
                }
            }
        }
        if allowed {
            if let (Some(deny), Some(t)) = (&self.sub_deny, &toks) {
                let hit = deny.hit(t);
                allowed = !hit.plain;
                if let (Some(q), false) = (queue, hit.queues.is_empty()) {
                    allowed = !queue_matches(q, &hit.queues);
                }
            }
        }
        allowed
    }

    /// May a message on the literal `subject` be delivered to a wildcard
    /// subscription of this client in `queue`? Only if the client could
    /// have subscribed to that subject itself. For deny lists this is what
    /// nats-server does (a subscription to `foo.*` never receives a denied
    /// `foo.bar`); for allow lists natsd is stricter: nats-server accepts
    /// `SUB foo.>` under `allow: "foo.*"` and then delivers `foo.a.b`,
    /// natsd accepts the SUB but delivers only what the list allows.
    pub fn may_receive(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.can_subscribe(subject, queue)
    }
}

/// The reply subjects a client with `allow_responses` may publish to: one
/// entry per request delivered to it.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    map: FxHashMap<Box<[u8]>, Reply>,
    since_prune: usize,
    last_prune: Option<std::time::Instant>,
    pub(crate) response: Option<ResponsePermission>,
}

#[derive(Debug, Clone, Copy)]
struct Reply {
    at: std::time::Instant,
    sent: u64,
}

/// Prune the table after this many new entries…
const REPLY_PRUNE_COUNT: usize = 4096;
/// …or this long after the last prune (nats-server's limits).
const REPLY_PRUNE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl Replies {
    /// A request carrying `reply` was delivered at `now`.
    pub(crate) fn record(&mut self, reply: &[u8], now: std::time::Instant) {
        match self.map.get_mut(reply) {
            Some(r) => *r = Reply { at: now, sent: 0 },
            None => {
                self.map.insert(reply.into(), Reply { at: now, sent: 0 });
            }
        }
        self.since_prune += 1;
        let last = *self.last_prune.get_or_insert(now);
        if self.since_prune > REPLY_PRUNE_COUNT
            || now.saturating_duration_since(last) > REPLY_PRUNE_AFTER
        {
            self.prune(now);
        }
    }

    fn prune(&mut self, now: std::time::Instant) {
        if let Some(rp) = self.response {
            self.map.retain(|_, r| {
                !((rp.max_msgs > 0 && r.sent >= rp.max_msgs)
                    || (!rp.expires.is_zero() && now.saturating_duration_since(r.at) > rp.expires))
            });
        } else {
            self.map.clear();
        }
        self.since_prune = 0;
        self.last_prune = Some(now);
    }

    /// May `subject` be published as a response at `now`? Counts it.
    pub(crate) fn allow(&mut self, subject: &[u8], now: std::time::Instant) -> bool {
        let Some(rp) = self.response else {
            return false;
        };
        let Some(r) = self.map.get_mut(subject) else {
            return false;
        };
        r.sent += 1;
        let over = rp.max_msgs > 0 && r.sent > rp.max_msgs;
        let expired = !rp.expires.is_zero() && now.saturating_duration_since(r.at) > rp.expires;
        if over || expired {
            self.map.remove(subject);
            return false;
        }
        true
    }

    /// Entries held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
