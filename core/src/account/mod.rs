//! Accounts: isolated subject spaces. Each has its own [`Sublist`]; messages
//! cross from one account to another only through an export the other
//! imports ([`import`]), and a publish subject may first be rewritten by
//! the account's subject mappings ([`transform`]).
//!
//! Accounts are built once from the options when the server starts
//! ([`build`]); an import is a subscription in the source account's index
//! that carries the message over ([`import::ImportRoute`]), so the hot
//! path of an account without imports is unchanged.

pub mod import;
pub mod transform;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::options::{Mapping, Options};
use crate::outbox::Outbox;
use crate::rng::CsRng;
use crate::sublist::{Sublist, Subscription};
use import::{ImportKind, ImportRoute, Responses};
use transform::Transform;

/// The global account: every client when no `accounts` are configured,
/// and the users of the `authorization` block.
pub const GLOBAL: &str = "$G";
/// The system account's name when `system_account` names no other.
pub const SYSTEM: &str = "$SYS";

/// One account: an isolated subject space.
#[derive(Debug)]
pub struct Account {
    name: String,
    sublist: RwLock<Sublist>,
    generation: Arc<AtomicU64>,
    mappings: Vec<CompiledMapping>,
    system: bool,
    limits: Limits,
    /// Clients bound to the account (counted only when limited).
    conns: std::sync::atomic::AtomicUsize,
    /// Subscriptions the server itself holds in the index (import
    /// carriers), which client limits do not count.
    carriers: std::sync::atomic::AtomicUsize,
    /// Slow consumers among the account's clients (`/accstatz`).
    slow_consumers: AtomicU64,
}

/// The `limits` in force (`None`: unlimited).
#[derive(Debug, Default, Clone, Copy)]
struct Limits {
    connections: Option<usize>,
    subscriptions: Option<usize>,
    payload: Option<usize>,
}

impl From<crate::options::AccountLimits> for Limits {
    fn from(l: crate::options::AccountLimits) -> Limits {
        let some = |v: i64| usize::try_from(v).ok();
        Limits {
            connections: some(l.max_connections),
            subscriptions: some(l.max_subscriptions),
            payload: some(l.max_payload),
        }
    }
}

/// A subject mapping with its destinations compiled.
#[derive(Debug)]
struct CompiledMapping {
    /// Matches the source (its destination is unused).
    source: Transform,
    /// (transform, cumulative weight in percent).
    destinations: Vec<(Transform, u32)>,
}

impl Account {
    /// A new empty account.
    pub fn new(name: impl Into<String>) -> Account {
        let sublist = Sublist::new();
        let generation = sublist.generation();
        Account {
            name: name.into(),
            sublist: RwLock::new(sublist),
            generation,
            mappings: Vec::new(),
            system: false,
            limits: Limits::default(),
            conns: Default::default(),
            carriers: Default::default(),
            slow_consumers: AtomicU64::new(0),
        }
    }

    /// Counts a slow consumer in this account.
    pub fn note_slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// Slow consumers counted so far.
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }

    /// Takes a connection slot; false when `limits.max_connections` is
    /// reached. Give it back with [`Account::release_connection`].
    pub fn claim_connection(&self) -> bool {
        let Some(max) = self.limits.connections else {
            return true;
        };
        self.conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a slot taken by [`Account::claim_connection`].
    pub fn release_connection(&self) {
        if self.limits.connections.is_some() {
            let _ = self
                .conns
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }

    /// True if one more client subscription would pass
    /// `limits.max_subscriptions`.
    pub fn subscriptions_full(&self) -> bool {
        match self.limits.subscriptions {
            None => false,
            Some(max) => {
                let all = self.sublist().count();
                all - self.carriers.load(Ordering::Relaxed).min(all) >= max
            }
        }
    }

    /// The account's `limits.max_payload`, if set.
    pub fn max_payload(&self) -> Option<usize> {
        self.limits.payload
    }

    /// The account name (`$G` for the global account).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for the system account.
    pub fn is_system(&self) -> bool {
        self.system
    }

    /// The subject index, for reading.
    pub fn sublist(&self) -> RwLockReadGuard<'_, Sublist> {
        self.sublist.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The subject index, for changing.
    pub fn sublist_mut(&self) -> RwLockWriteGuard<'_, Sublist> {
        self.sublist.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The index's generation; changes on every insert and remove.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes every connection's cached lookups stale (permissions that
    /// filter deliveries changed).
    pub fn invalidate_caches(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// True if publish subjects may be rewritten ([`Account::map_subject`]).
    #[inline]
    pub fn has_mappings(&self) -> bool {
        !self.mappings.is_empty()
    }

    /// The subject a publish to `subject` goes to after the account's
    /// mappings: `None` when no mapping applies (or the weighted draw
    /// `roll`, in `0..100`, fell on the part that keeps the subject).
    pub fn map_subject(&self, subject: &[u8], roll: u32) -> Option<Vec<u8>> {
        let m = self.mappings.iter().find(|m| m.source.matches(subject))?;
        let (t, _) = m.destinations.iter().find(|(_, upto)| roll < *upto)?;
        Some(t.apply(subject))
    }
}

fn compile_mappings(list: &[Mapping]) -> Vec<CompiledMapping> {
    list.iter()
        .filter_map(|m| {
            let mut upto = 0;
            let destinations = m
                .destinations
                .iter()
                .filter_map(|(d, w)| {
                    upto += u32::from(*w);
                    Some((Transform::new(&m.source, d).ok()?, upto))
                })
                .collect();
            Some(CompiledMapping {
                source: Transform::new(&m.source, &m.source).ok()?,
                destinations,
            })
        })
        .collect()
}

/// The accounts of one server, by name.
#[derive(Debug)]
pub struct Accounts {
    by_name: FxHashMap<String, Arc<Account>>,
    /// Names in configuration order (`$G` first), for monitoring.
    order: Vec<String>,
    global: Arc<Account>,
    system: Option<Arc<Account>>,
}

impl Accounts {
    /// The global account.
    pub fn global(&self) -> &Arc<Account> {
        &self.global
    }

    /// The system account, unless `no_system_account`.
    pub fn system(&self) -> Option<&Arc<Account>> {
        self.system.as_ref()
    }

    /// The account called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Account>> {
        self.by_name.get(name)
    }

    /// Every account, `$G` first, then in configuration order.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Account>> {
        self.order.iter().filter_map(|n| self.by_name.get(n))
    }
}

/// Builds the accounts `opts` configures, with their mappings and the
/// subscriptions that carry imports. `rng` names the response subjects.
/// The configuration was validated (every import names an account that
/// exports it), so nothing here fails; an import that does not resolve is
/// skipped.
pub fn build(opts: &Options, server_id: &str, rng: &mut CsRng) -> Accounts {
    let mut by_name = FxHashMap::default();
    let mut order = vec![GLOBAL.to_string()];
    let mut global = Account::new(GLOBAL);
    global.mappings = compile_mappings(&opts.mappings);
    let sys_name = opts.system_account.as_deref().unwrap_or(SYSTEM);
    for a in &opts.accounts {
        let mut acc = Account::new(a.name.clone());
        acc.mappings = compile_mappings(&a.mappings);
        acc.system = !opts.no_system_account && a.name == sys_name;
        acc.limits = a.limits.into();
        order.push(a.name.clone());
        by_name.insert(a.name.clone(), Arc::new(acc));
    }
    let global = Arc::new(global);
    by_name.insert(GLOBAL.to_string(), global.clone());
    if !opts.no_system_account && !by_name.contains_key(sys_name) {
        let mut sys = Account::new(sys_name);
        sys.system = true;
        order.push(sys_name.to_string());
        by_name.insert(sys_name.to_string(), Arc::new(sys));
    }
    let system = (!opts.no_system_account)
        .then(|| by_name.get(sys_name).cloned())
        .flatten();
    for a in &opts.accounts {
        let importer = &by_name[&a.name];
        for imp in &a.imports {
            let Some(exporter) = by_name.get(&imp.account) else {
                continue;
            };
            let local = imp.to.clone().unwrap_or_else(|| imp.subject.clone());
            if imp.service {
                let Ok(to) = Transform::new(&local, &imp.subject) else {
                    continue;
                };
                let export = opts
                    .accounts
                    .iter()
                    .find(|x| x.name == imp.account)
                    .and_then(|x| {
                        x.exports.iter().find(|e| {
                            e.service
                                && crate::subject::is_subset_match(
                                    imp.subject.as_bytes(),
                                    e.subject.as_bytes(),
                                )
                        })
                    });
                let (kind, threshold) = export.map_or(Default::default(), |e| {
                    (e.response_type, e.response_threshold)
                });
                let responses = Arc::new(Responses::new(rng, kind, threshold));
                insert(
                    importer,
                    &local,
                    ImportKind::Service {
                        to,
                        exporter: Arc::downgrade(exporter),
                        importer: a.name.clone(),
                        responses: responses.clone(),
                    },
                );
                let pattern = responses.pattern();
                insert(
                    exporter,
                    &pattern,
                    ImportKind::Response {
                        importer: Arc::downgrade(importer),
                        responses,
                    },
                );
            } else {
                let Ok(to) = Transform::new(&imp.subject, &local) else {
                    continue;
                };
                insert(
                    exporter,
                    &imp.subject,
                    ImportKind::Stream {
                        to,
                        target: Arc::downgrade(importer),
                    },
                );
            }
        }
    }
    if system.is_some() {
        for name in &order {
            let account = &by_name[name];
            for (subject, api) in crate::system::subscriptions(account, server_id) {
                insert(account, &subject, ImportKind::System(api));
            }
        }
    }
    Accounts {
        by_name,
        order,
        global,
        system,
    }
}

/// Adds the subscription that carries an import into `account`'s index.
fn insert(account: &Account, subject: &str, kind: ImportKind) {
    let outbox = Arc::new(Outbox::new(0, 0));
    let sub = Subscription::new(
        Bytes::copy_from_slice(subject.as_bytes()),
        None,
        Bytes::new(),
        outbox,
    )
    .with_import(Arc::new(ImportRoute::new(kind)));
    account.sublist_mut().insert(Arc::new(sub));
    account.carriers.fetch_add(1, Ordering::Relaxed);
}
