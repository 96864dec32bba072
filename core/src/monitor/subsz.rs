//! `/subsz` (also `/subscriptionsz`): sublist statistics over all
//! accounts and, with `subs`, the subscriptions themselves.

use serde::Serialize;

use super::accounts::{self, SublistStats};
use super::connz::SubDetail;
use super::{bad_request, json, Ctx, Reply};
use crate::subject;

const DEFAULT_LIMIT: i64 = 1024;

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(flatten)]
    stats: SublistStats,
    total: usize,
    offset: i64,
    limit: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<SubDetail>,
}

/// `/subsz` (`subs`, `offset`, `limit`, `test`, `acc`). As in nats-server,
/// `total` is the number of subscriptions on the returned page.
pub(super) fn subsz(cx: &Ctx<'_>) -> Result<Reply, Reply> {
    cx.count("/subsz");
    let q = &cx.query;
    let subs = q.bool("subs")?;
    let offset = q.int("offset")?.max(0);
    let limit = match q.int("limit")? {
        l if l <= 0 => DEFAULT_LIMIT,
        l => l,
    };
    let test = q.get("test");
    let acc = q.get("acc");
    if !test.is_empty() && !subject::is_valid_literal(test.as_bytes()) {
        return Err(bad_request(format!(
            "invalid test subject, must be valid publish subject: {test}"
        )));
    }
    let mut stats = SublistStats::default();
    let mut list = Vec::new();
    for view in accounts::all(cx.server) {
        if !acc.is_empty() && view.name != acc {
            continue;
        }
        stats.add(&view.stats());
        let (Some(account), true) = (&view.account, subs) else {
            continue;
        };
        account.sublist().for_each(|s| {
            if !s.is_closed() && (test.is_empty() || matches_literal(test.as_bytes(), &s.subject)) {
                list.push(SubDetail::of(s, &view.name));
            }
        });
    }
    let start = (offset as usize).min(list.len());
    let end = start.saturating_add(limit as usize).min(list.len());
    let page: Vec<SubDetail> = list.drain(start..end).collect();
    let out = Subsz {
        server_id: cx.server.id(),
        now: cx.now_text(),
        stats,
        total: page.len(),
        offset,
        limit,
        subscriptions_list: page,
    };
    Ok(Reply::Json(200, json::pretty(&out)))
}

/// True if the literal subject `lit` matches the subscription `pattern`.
fn matches_literal(lit: &[u8], pattern: &[u8]) -> bool {
    let mut lit = lit.split(|&b| b == b'.');
    for p in pattern.split(|&b| b == b'.') {
        match (p, lit.next()) {
            (b">", Some(_)) => return true,
            (_, None) => return false,
            (b"*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    lit.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::matches_literal;

    #[test]
    fn literal_matching() {
        let m = |l: &str, p: &str| matches_literal(l.as_bytes(), p.as_bytes());
        assert!(
            m("foo.a", "foo.a") && m("foo.a", "foo.*") && m("foo.a", "foo.>") && m("foo.a", ">")
        );
        assert!(m("foo.a.b", "*.a.*") && m("foo.a.b", "foo.>"));
        assert!(
            !m("foo", "foo.>")
                && !m("foo.a", "foo")
                && !m("foo", "foo.a")
                && !m("foo.a.b", "foo.*")
        );
        assert!(!m("foo.b", "foo.a"));
    }
}
