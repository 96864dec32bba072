//! `/accountz`, `/accstatz`, and the account and sublist views the other
//! endpoints share.
//!
//! Accounts are listed `$G` first, then as configured; like a default
//! nats-server, natsd has a system account `$SYS` unless
//! `system_account` names another or `no_system_account` is set.

use std::sync::Arc;

use serde::Serialize;

use super::{bad_request, json, Ctx, Reply};
use crate::registry::ClientSnapshot;
use crate::server::{Account, Server};
use crate::sublist::Sublist;

/// The system account's name (empty without one).
pub(super) fn system_account(server: &Server) -> String {
    server
        .accounts()
        .system()
        .map(|a| a.name().to_string())
        .unwrap_or_default()
}

/// One account as monitoring sees it.
pub(super) struct AccountView {
    pub(super) name: String,
    /// Its subject index; `None` for an account with nothing in it.
    pub(super) account: Option<Arc<Account>>,
    pub(super) is_system: bool,
}

impl AccountView {
    pub(super) fn stats(&self) -> SublistStats {
        self.account
            .as_ref()
            .map(|a| SublistStats::of(&a.sublist()))
            .unwrap_or_default()
    }
}

/// Every account, in a stable order.
pub(super) fn all(server: &Server) -> Vec<AccountView> {
    server
        .accounts()
        .all()
        .map(|a| AccountView {
            name: a.name().to_string(),
            account: Some(a.clone()),
            is_system: a.is_system(),
        })
        .collect()
}

/// The account called `name`, if there is one.
pub(super) fn find(server: &Server, name: &str) -> Option<AccountView> {
    all(server).into_iter().find(|a| a.name == name)
}

/// nats-server's `SublistStats`. natsd's sublist keeps no match cache of
/// its own (connections cache lookups), so the cache and fan-out figures
/// are zero; inserts and removes follow from the generation counter,
/// which moves once per insert and once per remove.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub(super) struct SublistStats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    cache_hit_rate: f64,
    max_fanout: u64,
    avg_fanout: f64,
}

impl SublistStats {
    pub(super) fn of(sl: &Sublist) -> SublistStats {
        let count = sl.count() as u64;
        let generation = sl.generation().load(std::sync::atomic::Ordering::Acquire);
        let inserts = (generation + count) / 2;
        SublistStats {
            num_subscriptions: count,
            num_inserts: inserts,
            num_removes: inserts - count,
            ..SublistStats::default()
        }
    }

    pub(super) fn add(&mut self, o: &SublistStats) {
        self.num_subscriptions += o.num_subscriptions;
        self.num_cache += o.num_cache;
        self.num_inserts += o.num_inserts;
        self.num_removes += o.num_removes;
        self.num_matches += o.num_matches;
        self.max_fanout = self.max_fanout.max(o.max_fanout);
    }

    pub(super) fn subscriptions(&self) -> u64 {
        self.num_subscriptions
    }
}

/// Messages and bytes in and out of a set of clients.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Traffic {
    pub(super) in_msgs: u64,
    pub(super) in_bytes: u64,
    pub(super) out_msgs: u64,
    pub(super) out_bytes: u64,
}

impl Traffic {
    pub(super) fn add(&mut self, c: &ClientSnapshot) {
        self.in_msgs += c.in_msgs;
        self.in_bytes += c.in_bytes;
        self.out_msgs += c.out_msgs;
        self.out_bytes += c.out_bytes;
    }
}

#[derive(Serialize)]
struct Accountz<'a> {
    server_id: &'a str,
    now: String,
    system_account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountDetail>,
}

#[derive(Serialize)]
struct AccountDetail {
    account_name: String,
    update_time: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_system: bool,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: u64,
    client_connections: u64,
    subscriptions: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exports: Vec<ExportView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    imports: Vec<ImportView>,
    name_tag: String,
    sublist_stats: SublistStats,
}

#[derive(Serialize)]
struct ExportView {
    subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_type: Option<&'static str>,
}

#[derive(Serialize)]
struct ImportView {
    subject: String,
    account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    to: String,
    local_subject: String,
    #[serde(rename = "type")]
    kind: &'static str,
    invalid: bool,
    share: bool,
    tracking: bool,
}

/// An account's exports and imports as nats-server lists them, with the
/// `$SYS` services every ordinary account imports from the system account.
fn exports_imports(server: &Server, account: &Account) -> (Vec<ExportView>, Vec<ImportView>) {
    let opts = server.options();
    let name = account.name();
    let kind = |service: bool| if service { "service" } else { "stream" };
    let configured = opts.accounts.iter().find(|a| a.name == name);
    let mut exports: Vec<ExportView> = configured
        .map(|a| {
            a.exports
                .iter()
                .map(|e| ExportView {
                    subject: e.subject.clone(),
                    kind: kind(e.service),
                    response_type: e.service.then(|| e.response_type.as_str()),
                })
                .collect()
        })
        .unwrap_or_default();
    exports.sort_by(|a, b| a.subject.cmp(&b.subject));
    let mut imports: Vec<ImportView> = configured
        .map(|a| {
            a.imports
                .iter()
                .map(|i| {
                    let local = i.to.clone().unwrap_or_else(|| i.subject.clone());
                    ImportView {
                        subject: i.subject.clone(),
                        account: i.account.clone(),
                        to: local.clone(),
                        local_subject: local,
                        kind: kind(i.service),
                        invalid: false,
                        share: false,
                        tracking: false,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(sys) = server.accounts().system().filter(|_| !account.is_system()) {
        let sys = sys.name();
        for (subject, local, share) in [
            (
                format!("$SYS.REQ.ACCOUNT.{name}.CONNZ"),
                "$SYS.REQ.ACCOUNT.PING.CONNZ",
                false,
            ),
            (
                format!("$SYS.REQ.ACCOUNT.{name}.CONNZ"),
                "$SYS.REQ.SERVER.PING.CONNZ",
                false,
            ),
            (
                format!("$SYS.REQ.ACCOUNT.{name}.STATZ"),
                "$SYS.REQ.ACCOUNT.PING.STATZ",
                false,
            ),
            (
                format!("$SYS.REQ.USER.{name}.INFO"),
                "$SYS.REQ.USER.INFO",
                true,
            ),
        ] {
            imports.push(ImportView {
                subject,
                account: sys.to_string(),
                to: local.to_string(),
                local_subject: local.to_string(),
                kind: "service",
                invalid: false,
                share,
                tracking: false,
            });
        }
    }
    (exports, imports)
}

/// `/accountz` (`acc`).
pub(super) fn accountz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/accountz");
    let server = cx.server;
    let acc = cx.query.get("acc");
    let mut out = Accountz {
        server_id: server.id(),
        now: cx.now_text(),
        system_account: system_account(server),
        accounts: Vec::new(),
        account_detail: None,
    };
    if acc.is_empty() {
        out.accounts = all(server).into_iter().map(|a| a.name).collect();
    } else {
        let view = find(server, acc)
            .ok_or_else(|| bad_request(format!("Account {acc} does not exist")))?;
        let stats = view.stats();
        let conns = server
            .registry()
            .live()
            .iter()
            .filter(|c| c.meta.account == view.name)
            .count();
        let (exports, imports) = view
            .account
            .as_ref()
            .map(|a| exports_imports(server, a))
            .unwrap_or_default();
        out.account_detail = Some(AccountDetail {
            exports,
            imports,
            update_time: cx.time(cx.started().0),
            is_system: view.is_system,
            expired: false,
            complete: true,
            jetstream_enabled: false,
            leafnode_connections: 0,
            client_connections: conns as u64,
            subscriptions: stats.subscriptions(),
            name_tag: view.name.clone(),
            account_name: view.name,
            sublist_stats: stats,
        });
    }
    Ok(Reply::Json(200, json::pretty(&out)))
}

#[derive(Serialize)]
struct AccStatz<'a> {
    server_id: &'a str,
    now: String,
    account_statz: Vec<AccountStat>,
}

#[derive(Serialize)]
struct AccountStat {
    acc: String,
    name: String,
    conns: u64,
    leafnodes: u64,
    total_conns: u64,
    num_subscriptions: u64,
    sent: DataStats,
    received: DataStats,
    slow_consumers: u64,
}

#[derive(Serialize, Default)]
struct MsgBytes {
    msgs: u64,
    bytes: u64,
}

#[derive(Serialize, Default)]
struct DataStats {
    msgs: u64,
    bytes: u64,
    gateways: MsgBytes,
    routes: MsgBytes,
    leafs: MsgBytes,
}

/// `/accstatz` (`unused`): per-account connections and traffic; without
/// `unused` only accounts with connections.
pub(super) fn accstatz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/accstatz");
    let unused = cx.query.bool("unused")?;
    let server = cx.server;
    let live = server.registry().live();
    let closed = server.registry().closed();
    let mut out = AccStatz {
        server_id: server.id(),
        now: cx.now_text(),
        account_statz: Vec::new(),
    };
    for view in all(server) {
        let conns = live.iter().filter(|c| c.meta.account == view.name).count() as u64;
        if conns == 0 && !unused {
            continue;
        }
        let mut t = Traffic::default();
        for c in live
            .iter()
            .chain(closed.iter())
            .filter(|c| c.meta.account == view.name)
        {
            t.add(c);
        }
        let slow = view.account.as_ref().map_or(0, |a| a.slow_consumers());
        out.account_statz.push(AccountStat {
            acc: view.name.clone(),
            name: view.name.clone(),
            conns,
            leafnodes: 0,
            total_conns: conns,
            num_subscriptions: view.stats().subscriptions(),
            sent: DataStats {
                msgs: t.out_msgs,
                bytes: t.out_bytes,
                ..DataStats::default()
            },
            received: DataStats {
                msgs: t.in_msgs,
                bytes: t.in_bytes,
                ..DataStats::default()
            },
            slow_consumers: slow,
        });
    }
    Ok(Reply::Json(200, json::pretty(&out)))
}
