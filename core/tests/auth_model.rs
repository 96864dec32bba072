//! Property: with random accounts, users and permissions, and random
//! subscriptions and publishes, no message is delivered where the
//! configuration forbids it and none is lost where it allows it.
//!
//! The oracle only judges literal subjects, where the rules are plain: a
//! publish on `s` is allowed if `s` matches the publisher's allow list (or
//! there is none) and no deny entry; a subscriber may receive `s` under the
//! same rule with its subscribe lists; messages stay in their account. A
//! subscription the server refused (`-ERR`) expects nothing; one it took
//! expects every allowed message on a subject it matches, exactly once.

mod common;

use common::{ServerOp, Sim};
use natsd_core::config::{self, MapLoader};
use natsd_core::Options;
use proptest::prelude::*;

const SUBJECTS: &[&str] = &["a", "b", "a.x", "a.y", "b.x", "c.d.e"];
const PATTERNS: &[&str] = &["a", "b", "a.x", "a.*", "a.>", "*.x", ">", "c.*.e", "b.*"];

#[derive(Debug, Clone)]
struct Lists {
    allow: Option<Vec<&'static str>>,
    deny: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct User {
    account: usize,
    publish: Option<Lists>,
    subscribe: Option<Lists>,
}

fn lists() -> impl Strategy<Value = Option<Lists>> {
    let pat = prop::sample::select(PATTERNS);
    prop::option::of(
        (
            prop::option::of(prop::collection::vec(pat.clone(), 1..3)),
            prop::collection::vec(pat, 0..2),
        )
            .prop_map(|(allow, deny)| Lists { allow, deny }),
    )
}

fn users() -> impl Strategy<Value = Vec<User>> {
    prop::collection::vec(
        (0usize..3, lists(), lists()).prop_map(|(account, publish, subscribe)| User {
            account,
            publish,
            subscribe,
        }),
        2..6,
    )
}

#[derive(Debug, Clone)]
enum Step {
    Sub(usize, &'static str),
    Pub(usize, &'static str),
}

fn steps(n: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0..n, prop::sample::select(PATTERNS)).prop_map(|(c, p)| Step::Sub(c, p)),
            (0..n, prop::sample::select(SUBJECTS)).prop_map(|(c, s)| Step::Pub(c, s)),
        ],
        1..40,
    )
}

/// Does the pattern (with `*` and `>`) match the literal subject?
fn matches(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, t) in p.iter().enumerate() {
        if *t == ">" {
            return s.len() > i;
        }
        match s.get(i) {
            Some(x) if *t == "*" || t == x => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

fn permitted(lists: &Option<Lists>, subject: &str) -> bool {
    let Some(l) = lists else { return true };
    let allowed = l
        .allow
        .as_ref()
        .is_none_or(|a| a.iter().any(|p| matches(p, subject)));
    allowed && !l.deny.iter().any(|p| matches(p, subject))
}

fn list_config(name: &str, l: &Option<Lists>) -> String {
    let Some(l) = l else { return String::new() };
    let q = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if let Some(a) = &l.allow {
        parts.push(format!("allow: [{}]", q(a)));
    }
    if !l.deny.is_empty() {
        parts.push(format!("deny: [{}]", q(&l.deny)));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!("{name}: {{ {} }}", parts.join(", "))
}

fn config(users: &[User]) -> String {
    let mut text = String::from("accounts {\n");
    for acc in 0..3 {
        text.push_str(&format!("  ACC{acc}: {{ users: [\n"));
        for (i, u) in users.iter().enumerate().filter(|(_, u)| u.account == acc) {
            let perms = [
                list_config("publish", &u.publish),
                list_config("subscribe", &u.subscribe),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
            let perms = if perms.is_empty() {
                String::new()
            } else {
                format!(", permissions: {{ {perms} }}")
            };
            text.push_str(&format!("    {{user: u{i}, password: p{perms}}}\n"));
        }
        text.push_str("  ] }\n");
    }
    text.push_str("}\n");
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn nothing_crosses_what_the_configuration_forbids(
        (users, steps) in users().prop_flat_map(|u| { let n = u.len(); (Just(u), steps(n)) })
    ) {
        let text = config(&users);
        let mut opts = Options::default();
        config::load(&text, "t.conf", &mut MapLoader::new(), &|_| None, &mut opts)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut sim = Sim::new(opts);
        let clients: Vec<usize> = (0..users.len())
            .map(|i| {
                let c = sim.connect_with(&format!(
                    r#"{{"verbose":false,"user":"u{i}","pass":"p"}}"#
                ));
                sim.send(c, b"PING\r\n");
                prop_assert_eq!(sim.ops_new(c), vec![ServerOp::Pong]);
                Ok(c)
            })
            .collect::<Result<_, _>>()?;
        // (client, sid) → pattern of the subscriptions the server took.
        let mut subs: Vec<(usize, String, &str)> = Vec::new();
        for (n, step) in steps.iter().enumerate() {
            match *step {
                Step::Sub(c, pattern) => {
                    let sid = format!("s{n}");
                    sim.send(clients[c], format!("SUB {pattern} {sid}\r\nPING\r\n").as_bytes());
                    let ops = sim.ops_new(clients[c]);
                    if ops == vec![ServerOp::Pong] {
                        subs.push((c, sid, pattern));
                    } else {
                        prop_assert!(
                            matches!(ops.first(), Some(ServerOp::Err(e)) if e.starts_with("Permissions Violation for Subscription")),
                            "SUB {} by u{}: {:?}", pattern, c, ops
                        );
                    }
                }
                Step::Pub(p, subject) => {
                    sim.send(clients[p], format!("PUB {subject} 1\r\n!\r\nPING\r\n").as_bytes());
                    let may_publish = permitted(&users[p].publish, subject);
                    // Who is entitled to it, one copy per matching subscription.
                    let mut want: Vec<(usize, String)> = if may_publish {
                        subs.iter()
                            .filter(|(c, _, pat)| {
                                users[*c].account == users[p].account
                                    && matches(pat, subject)
                                    && permitted(&users[*c].subscribe, subject)
                            })
                            .map(|(c, sid, _)| (*c, sid.clone()))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    want.sort();
                    let mut got: Vec<(usize, String)> = Vec::new();
                    for (c, &id) in clients.iter().enumerate() {
                        for op in sim.ops_new(id) {
                            match op {
                                ServerOp::Msg { subject: s, sid, .. } => {
                                    prop_assert_eq!(&s, subject);
                                    got.push((c, sid));
                                }
                                ServerOp::Pong => {}
                                ServerOp::Err(e) if c == p && !may_publish => {
                                    prop_assert!(e.starts_with("Permissions Violation for Publish"), "{}", e);
                                }
                                other => prop_assert!(false, "u{} got {:?}", c, other),
                            }
                        }
                    }
                    got.sort();
                    prop_assert_eq!(got, want, "PUB {} by u{}\n{}", subject, p, text);
                }
            }
        }
    }
}
