//! A connection's subscriptions by sid.

use std::hash::Hasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::sublist::Subscription;

/// The subscriptions of one connection, found by sid. Each entry is the
/// subscription and the hash of its sid: 16 bytes, with no key of its own
/// (the sid lives in the subscription), and a table that grows without
/// reading any sid again. A client with 100k subscriptions pays for that
/// growth while it subscribes.
#[derive(Debug, Default)]
pub(crate) struct Sids {
    table: HashTable<(u64, Arc<Subscription>)>,
}

fn sid_hash(sid: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(sid);
    h.finish()
}

impl Sids {
    pub(crate) fn get(&self, sid: &[u8]) -> Option<&Arc<Subscription>> {
        let h = sid_hash(sid);
        self.table
            .find(h, |(eh, s)| *eh == h && &s.sid[..] == sid)
            .map(|(_, s)| s)
    }

    /// Adds `sub`, replacing a subscription with the same sid.
    pub(crate) fn insert(&mut self, sub: Arc<Subscription>) {
        let h = sid_hash(&sub.sid);
        match self
            .table
            .entry(h, |(eh, s)| *eh == h && s.sid == sub.sid, |(eh, _)| *eh)
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1 = sub,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((h, sub));
            }
        }
    }

    pub(crate) fn remove(&mut self, sid: &[u8]) -> Option<Arc<Subscription>> {
        let h = sid_hash(sid);
        let found = self
            .table
            .find_entry(h, |(eh, s)| *eh == h && &s.sid[..] == sid)
            .ok()?;
        Some(found.remove().0 .1)
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Arc<Subscription>) -> bool) {
        self.table.retain(|(_, s)| keep(s));
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Arc<Subscription>> + '_ {
        self.table.drain().map(|(_, s)| s)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.table.iter().map(|(_, s)| s)
    }
}
