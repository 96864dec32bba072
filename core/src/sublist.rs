//! The subject index: subscriptions by subject, with `*` and `>` wildcards
//! and queue groups.
//!
//! A trie with one level per token. Each node keeps its plain subscribers
//! and its queue groups. Every insert and remove bumps a generation number;
//! connections cache match results keyed by subject and trust a cached
//! result only while the generation is unchanged, so the common publish
//! path takes no lock on the shared index at all.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::auth::ClientAuth;
use crate::outbox::Outbox;

/// One subscription: where matching messages go and how they are labelled.
#[derive(Debug)]
pub struct Subscription {
    /// Subscribed subject, possibly with wildcards.
    pub subject: Bytes,
    /// Queue group name.
    pub queue: Option<Bytes>,
    /// The subscriber's id for it, echoed in MSG.
    pub sid: Bytes,
    /// The subscriber's outbox.
    pub outbox: Arc<Outbox>,
    /// Auto-unsubscribe after this many deliveries (0: never).
    max: AtomicU64,
    delivered: AtomicU64,
    /// Set once removed; publishers holding a cached result skip it.
    closed: AtomicBool,
    /// The subscriber's permission state (delivery filter, reply
    /// tracking); `None` for subscriptions made outside a connection.
    auth: Option<Arc<ClientAuth>>,
    /// The subject has a `*` or `>` token.
    wildcard: bool,
    /// For a remote queue subscription held for a route: how many members
    /// the peer server has (its `RS+ … <queue> <weight>`). 1 otherwise.
    weight: AtomicU32,
    /// Set for the subscriptions that carry an import between accounts
    /// (see `crate::account::import`); they have no subscriber.
    import: Option<Arc<crate::account::import::ImportRoute>>,
}

/// Whether a delivery may go ahead, and whether it was the last one allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Deliver.
    Deliver,
    /// Deliver; this was the last delivery `UNSUB sid max` allows, remove it.
    DeliverLast,
    /// Do not deliver (closed or over its max).
    Skip,
}

impl Subscription {
    /// A new subscription.
    pub fn new(
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
        outbox: Arc<Outbox>,
    ) -> Subscription {
        Subscription {
            wildcard: crate::subject::has_wildcard(&subject),
            subject,
            queue,
            sid,
            outbox,
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            auth: None,
            weight: AtomicU32::new(1),
            import: None,
        }
    }

    /// The queue weight (see the field); at least 1.
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed).max(1)
    }

    /// Sets the queue weight a peer server announced.
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    /// Attaches the subscriber's permission state.
    pub fn with_auth(mut self, auth: Arc<ClientAuth>) -> Subscription {
        self.auth = Some(auth);
        self
    }

    /// Marks the subscription as the carrier of an import.
    pub fn with_import(mut self, route: Arc<crate::account::import::ImportRoute>) -> Subscription {
        self.import = Some(route);
        self
    }

    /// The import this subscription carries, if it is such a carrier.
    #[inline]
    pub fn import(&self) -> Option<&Arc<crate::account::import::ImportRoute>> {
        self.import.as_ref()
    }

    /// The subscriber's permission state, if attached.
    #[inline]
    pub fn auth(&self) -> Option<&Arc<ClientAuth>> {
        self.auth.as_ref()
    }

    /// False if the subscriber's permissions keep a message on `subject`
    /// from this (wildcard) subscription.
    #[inline]
    pub fn admits(&self, subject: &[u8]) -> bool {
        match &self.auth {
            Some(a) if self.wildcard && a.filtering() => {
                a.may_receive(subject, self.queue.as_deref())
            }
            _ => true,
        }
    }

    /// The connection id of the subscriber.
    #[inline]
    pub fn cid(&self) -> u64 {
        self.outbox.cid()
    }

    /// Reserves one delivery, honouring the auto-unsubscribe max.
    #[inline]
    pub fn claim(&self) -> Claim {
        if self.closed.load(Ordering::Relaxed) {
            return Claim::Skip;
        }
        let max = self.max.load(Ordering::Relaxed);
        let n = self.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        if max == 0 || n < max {
            Claim::Deliver
        } else if n == max {
            Claim::DeliverLast
        } else {
            Claim::Skip
        }
    }

    /// Sets the auto-unsubscribe max; true if it is already reached.
    pub fn set_max(&self, max: u64) -> bool {
        self.max.store(max, Ordering::Relaxed);
        self.delivered.load(Ordering::Relaxed) >= max
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// The auto-unsubscribe max (0: none).
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// Marks the subscription removed; true the first time.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// True once removed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// The subscriptions a subject matched.
#[derive(Debug, Default)]
pub struct Matches {
    /// Every plain subscriber gets a copy.
    pub plain: Vec<Arc<Subscription>>,
    /// Each group gets one copy, for one of its members.
    pub queues: Vec<Vec<Arc<Subscription>>>,
    /// Subscriptions that carry the message into another account.
    pub imports: Vec<Arc<Subscription>>,
}

impl Matches {
    /// Drops the subscriptions whose subscriber's permissions keep
    /// `subject` from them ([`Subscription::admits`]).
    pub fn retain_admitted(&mut self, subject: &[u8]) {
        self.plain.retain(|s| s.admits(subject));
        for g in &mut self.queues {
            g.retain(|s| s.admits(subject));
        }
        self.queues.retain(|g| !g.is_empty());
    }

    /// True if nothing matched.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty() && self.imports.is_empty()
    }
}

#[derive(Debug, Default)]
struct Level {
    literal: Literals,
    star: Option<Box<Node>>,
    full: Option<Box<Node>>,
}

/// The literal tokens of one level. Most levels below the first hold a
/// token or two (`orders.<id>.created`): those are a short inline list,
/// searched linearly, which costs no allocation and no hashing; a level
/// that grows past [`FEW`] tokens becomes a hash table.
#[derive(Debug)]
enum Literals {
    Few(smallvec::SmallVec<[(Bytes, Node); 1]>),
    Many(hashbrown::HashTable<Literal>),
}

/// A token of a large level, with its hash kept beside it: a level of 100k
/// tokens then grows without reading any key again (each key points into
/// its subscription's buffer, a cache miss away), and a probe compares
/// full hashes before it compares bytes.
#[derive(Debug)]
struct Literal {
    hash: u64,
    key: Bytes,
    node: Node,
}

/// The most tokens a level keeps in a list before it switches to a map.
const FEW: usize = 4;

fn token_hash(token: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(token);
    h.finish()
}

impl Default for Literals {
    fn default() -> Literals {
        Literals::Few(smallvec::SmallVec::new())
    }
}

impl Literals {
    fn get(&self, token: &[u8]) -> Option<&Node> {
        match self {
            Literals::Few(v) => v.iter().find(|(k, _)| k == token).map(|(_, n)| n),
            Literals::Many(m) => {
                let h = token_hash(token);
                m.find(h, |e| e.hash == h && e.key == token)
                    .map(|e| &e.node)
            }
        }
    }

    fn get_mut(&mut self, token: &[u8]) -> Option<&mut Node> {
        match self {
            Literals::Few(v) => v.iter_mut().find(|(k, _)| k == token).map(|(_, n)| n),
            Literals::Many(m) => {
                let h = token_hash(token);
                m.find_mut(h, |e| e.hash == h && e.key == token)
                    .map(|e| &mut e.node)
            }
        }
    }

    /// The node for `token`, created (with the key `key()`) if missing.
    fn get_or_insert(&mut self, token: &[u8], key: impl FnOnce() -> Bytes) -> &mut Node {
        if let Literals::Few(v) = self {
            if v.len() >= FEW && !v.iter().any(|(k, _)| k == token) {
                let mut map = hashbrown::HashTable::with_capacity(2 * FEW);
                for (key, node) in v.drain(..) {
                    let hash = token_hash(&key);
                    map.insert_unique(hash, Literal { hash, key, node }, |e| e.hash);
                }
                *self = Literals::Many(map);
            }
        }
        match self {
            Literals::Few(v) => match v.iter().position(|(k, _)| k == token) {
                Some(i) => &mut v[i].1,
                None => {
                    v.push((key(), Node::default()));
                    let last = v.len() - 1;
                    &mut v[last].1
                }
            },
            Literals::Many(m) => {
                let hash = token_hash(token);
                let e = match m.entry(hash, |e| e.hash == hash && e.key == token, |e| e.hash) {
                    hashbrown::hash_table::Entry::Occupied(o) => o.into_mut(),
                    hashbrown::hash_table::Entry::Vacant(v) => v
                        .insert(Literal {
                            hash,
                            key: key(),
                            node: Node::default(),
                        })
                        .into_mut(),
                };
                &mut e.node
            }
        }
    }

    fn remove(&mut self, token: &[u8]) {
        match self {
            Literals::Few(v) => v.retain(|(k, _)| k != token),
            Literals::Many(m) => {
                let h = token_hash(token);
                if let Ok(e) = m.find_entry(h, |e| e.hash == h && e.key == token) {
                    e.remove();
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Literals::Few(v) => v.is_empty(),
            Literals::Many(m) => m.is_empty(),
        }
    }

    fn values(&self) -> Box<dyn Iterator<Item = &Node> + '_> {
        match self {
            Literals::Few(v) => Box::new(v.iter().map(|(_, n)| n)),
            Literals::Many(m) => Box::new(m.iter().map(|e| &e.node)),
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    next: Option<Box<Level>>,
    /// Most nodes hold one subscriber: kept inline, no allocation.
    plain: smallvec::SmallVec<[Arc<Subscription>; 1]>,
    queues: Groups,
}

/// A node's queue groups by name. Most nodes have none, so the list is
/// one pointer until the first group arrives (nodes sit inline in large
/// tables, where every byte counts 100k times).
// The box is the point: one thin pointer instead of a three-word `Vec`.
#[allow(clippy::box_collection)]
#[derive(Debug, Default)]
struct Groups(Option<Box<Vec<Group>>>);

/// A queue group's name and members.
type Group = (Bytes, Vec<Arc<Subscription>>);

impl Groups {
    fn push(&mut self, group: Group) {
        self.0.get_or_insert_with(Default::default).push(group);
    }

    fn swap_remove(&mut self, i: usize) {
        if let Some(v) = &mut self.0 {
            v.swap_remove(i);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }
}

impl std::ops::Deref for Groups {
    type Target = [Group];
    fn deref(&self) -> &Self::Target {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl std::ops::DerefMut for Groups {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.0 {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
        }
    }
}

impl Node {
    fn is_empty(&self) -> bool {
        self.plain.is_empty()
            && self.queues.is_empty()
            && self.next.as_ref().is_none_or(|l| l.is_empty())
    }
}

impl Level {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.full.is_none()
    }
}

/// Told about every change of an index's interest, under the index's
/// write lock (so in order): how routes learn what to announce to their
/// peers with `RS+`/`RS-` (see `crate::route`).
pub trait InterestSink: Send + Sync + std::fmt::Debug {
    /// `subject` (with `queue`) now has `count` subscriptions. Called for
    /// plain subscriptions only when the count goes 0 → 1 or 1 → 0; for
    /// queue subscriptions on every change (the count is the group's weight).
    fn interest(&self, subject: &[u8], queue: Option<&[u8]>, count: usize);
}

/// The subject → subscriptions index of one account.
#[derive(Debug, Default)]
pub struct Sublist {
    root: Level,
    count: usize,
    generation: Arc<AtomicU64>,
    sink: Option<Arc<dyn InterestSink>>,
}

impl Sublist {
    /// An empty index.
    pub fn new() -> Sublist {
        Sublist::default()
    }

    /// The generation counter, shared so readers can check it lock-free.
    pub fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Reports every later change of interest to `sink` (see
    /// [`InterestSink`]).
    pub fn set_interest_sink(&mut self, sink: Arc<dyn InterestSink>) {
        self.sink = Some(sink);
    }

    /// Number of subscriptions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Marks every cached match result stale (permissions that filter
    /// deliveries changed).
    pub fn invalidate(&self) {
        self.bump();
    }

    /// Adds `sub` under its subject (which the caller validated).
    pub fn insert(&mut self, sub: Arc<Subscription>) {
        let subject = sub.subject.clone();
        let mut level = &mut self.root;
        let mut tokens = tokens(&subject).peekable();
        let node = loop {
            let t = tokens.next().expect("validated subjects are non-empty");
            let node: &mut Node = match t {
                b"*" => level.star.get_or_insert_with(Default::default),
                b">" => level.full.get_or_insert_with(Default::default),
                _ => level.literal.get_or_insert(t, || subject.slice_ref(t)),
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Default::default);
        };
        let n = match &sub.queue {
            None => {
                node.plain.push(sub.clone());
                node.plain.len()
            }
            Some(q) => match node.queues.iter_mut().find(|(name, _)| name == q) {
                Some((_, members)) => {
                    members.push(sub.clone());
                    members.len()
                }
                None => {
                    node.queues.push((q.clone(), vec![sub.clone()]));
                    1
                }
            },
        };
        self.count += 1;
        self.bump();
        if let Some(sink) = &self.sink {
            if sub.queue.is_some() || n == 1 {
                sink.interest(&sub.subject, sub.queue.as_deref(), n);
            }
        }
    }

    /// Removes `sub` (matched by identity); true if it was present.
    pub fn remove(&mut self, sub: &Arc<Subscription>) -> bool {
        let toks: smallvec::SmallVec<[&[u8]; 8]> = tokens(&sub.subject).collect();
        let Some(left) = remove_in(&mut self.root, &toks, sub) else {
            return false;
        };
        self.count -= 1;
        self.bump();
        if let Some(sink) = &self.sink {
            if sub.queue.is_some() || left == 0 {
                sink.interest(&sub.subject, sub.queue.as_deref(), left);
            }
        }
        true
    }

    /// Every subscription whose subject matches the literal `subject`.
    /// A subject with an empty token matches nothing, as in nats-server.
    pub fn matches(&self, subject: &[u8]) -> Matches {
        let mut out = Matches::default();
        let toks: smallvec::SmallVec<[&[u8]; 16]> = tokens(subject).collect();
        if toks.iter().any(|t| t.is_empty()) {
            return out;
        }
        collect(&self.root, &toks, &mut out);
        out
    }

    /// Calls `f` for every subscription in the index, in no particular
    /// order (for monitoring: `/subsz` and the `/connz` subscription lists).
    pub fn for_each(&self, mut f: impl FnMut(&Arc<Subscription>)) {
        walk(&self.root, &mut f);
    }
}

fn walk(level: &Level, f: &mut impl FnMut(&Arc<Subscription>)) {
    let nodes = level
        .literal
        .values()
        .chain(level.star.as_deref())
        .chain(level.full.as_deref());
    for node in nodes {
        node.plain.iter().for_each(&mut *f);
        for (_, members) in node.queues.iter() {
            members.iter().for_each(&mut *f);
        }
        if let Some(next) = &node.next {
            walk(next, f);
        }
    }
}

fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b'.')
}

fn collect(level: &Level, toks: &[&[u8]], out: &mut Matches) {
    let Some((first, rest)) = toks.split_first() else {
        return;
    };
    if let Some(full) = &level.full {
        add_node(full, out);
    }
    if let Some(star) = &level.star {
        visit(star, rest, out);
    }
    if let Some(node) = level.literal.get(first) {
        visit(node, rest, out);
    }
}

fn visit(node: &Node, rest: &[&[u8]], out: &mut Matches) {
    if rest.is_empty() {
        add_node(node, out);
    } else if let Some(next) = &node.next {
        collect(next, rest, out);
    }
}

fn add_node(node: &Node, out: &mut Matches) {
    for s in &node.plain {
        if s.import.is_some() {
            out.imports.push(s.clone());
        } else {
            out.plain.push(s.clone());
        }
    }
    for (name, members) in node.queues.iter() {
        // Groups are per name across all matching nodes: `foo.*` and
        // `foo.bar` members of group `q` share one delivery.
        match out
            .queues
            .iter_mut()
            .find(|g| g[0].queue.as_ref() == Some(name))
        {
            Some(group) => group.extend(members.iter().cloned()),
            None => out.queues.push(members.clone()),
        }
    }
}

/// Removes `sub`; the number of subscriptions left beside it (same
/// subject, and same queue group for a queue subscription), or `None` if it
/// was not there.
fn remove_in(level: &mut Level, toks: &[&[u8]], sub: &Arc<Subscription>) -> Option<usize> {
    let (first, rest) = toks.split_first()?;
    let (removed, empty) = {
        let node: &mut Node = match *first {
            b"*" => level.star.as_deref_mut()?,
            b">" => level.full.as_deref_mut()?,
            t => level.literal.get_mut(t)?,
        };
        let removed = if rest.is_empty() {
            remove_from_node(node, sub)
        } else {
            match node.next.as_deref_mut() {
                Some(next) => {
                    let r = remove_in(next, rest, sub);
                    if next.is_empty() {
                        node.next = None;
                    }
                    r
                }
                None => None,
            }
        };
        (removed, node.is_empty())
    };
    if empty {
        match *first {
            b"*" => level.star = None,
            b">" => level.full = None,
            t => level.literal.remove(t),
        }
    }
    removed
}

fn remove_from_node(node: &mut Node, sub: &Arc<Subscription>) -> Option<usize> {
    match &sub.queue {
        None => {
            let i = node.plain.iter().position(|s| Arc::ptr_eq(s, sub))?;
            node.plain.swap_remove(i);
            Some(node.plain.len())
        }
        Some(q) => {
            let gi = node.queues.iter().position(|(name, _)| name == q)?;
            let members = &mut node.queues[gi].1;
            let i = members.iter().position(|s| Arc::ptr_eq(s, sub))?;
            members.swap_remove(i);
            let left = members.len();
            if left == 0 {
                node.queues.swap_remove(gi);
            }
            Some(left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(subject: &str, queue: Option<&str>) -> Arc<Subscription> {
        Arc::new(Subscription::new(
            Bytes::copy_from_slice(subject.as_bytes()),
            queue.map(|q| Bytes::copy_from_slice(q.as_bytes())),
            Bytes::from_static(b"1"),
            Arc::new(Outbox::new(1, 1 << 20)),
        ))
    }

    #[test]
    fn wildcards() {
        let mut sl = Sublist::new();
        for s in ["a.b.c", "a.*.c", "a.>", ">", "a.*", "b"] {
            sl.insert(sub(s, None));
        }
        let names = |subj: &str| {
            let mut v: Vec<String> = sl
                .matches(subj.as_bytes())
                .plain
                .iter()
                .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("a.b.c"), vec![">", "a.*.c", "a.>", "a.b.c"]);
        assert_eq!(names("a"), vec![">"]);
        assert_eq!(names("a.x"), vec![">", "a.*", "a.>"]);
        assert!(names("a..c").is_empty());
    }

    #[test]
    fn queues_merge_and_remove() {
        let mut sl = Sublist::new();
        let (x, y) = (sub("foo.*", Some("q")), sub("foo.bar", Some("q")));
        sl.insert(x.clone());
        sl.insert(y.clone());
        let m = sl.matches(b"foo.bar");
        assert_eq!(m.queues.len(), 1);
        assert_eq!(m.queues[0].len(), 2);
        let g = sl.generation().load(Ordering::Relaxed);
        assert!(sl.remove(&x));
        assert!(!sl.remove(&x));
        assert!(sl.generation().load(Ordering::Relaxed) > g);
        assert!(sl.remove(&y));
        assert_eq!(sl.count(), 0);
        assert!(sl.root.is_empty());
    }

    #[test]
    fn for_each_visits_every_subscription() {
        let mut sl = Sublist::new();
        let subjects = ["a", "a.b", "a.*", "a.>", ">", "*.b.c", "q"];
        for s in subjects {
            sl.insert(sub(s, None));
        }
        sl.insert(sub("q", Some("g")));
        sl.insert(sub("a.b", Some("g")));
        let mut seen = Vec::new();
        sl.for_each(|s| seen.push(String::from_utf8_lossy(&s.subject).into_owned()));
        seen.sort();
        let mut want: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        want.extend(["q".to_string(), "a.b".to_string()]);
        want.sort();
        assert_eq!(seen, want);
    }
}
