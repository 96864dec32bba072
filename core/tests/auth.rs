//! Authentication and authorization on the in-memory fixture: users with
//! plain and bcrypt passwords, nkey users signing the INFO nonce,
//! `no_auth_user`, permissions (publish, subscribe, queues, wildcard
//! delivery filter, `allow_responses` with a simulated clock) and reload;
//! then a property test of permissions against a naive model. Expected
//! behaviour: `shared/spec/auth.md`, checked on nats-server 2.14.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{err, msg, ServerOp, Sim};
use natsd_core::auth::base64url_encode;
use natsd_core::nkey::{encode_public, PREFIX_USER};
use natsd_core::options::{NkeyUser, Permissions, ResponsePermission, SubjectPermission, User};
use natsd_core::{CloseReason, Options};
use proptest::prelude::*;

const AV: &str = "Authorization Violation";

fn user(name: &str, password: &str, permissions: Option<Permissions>) -> User {
    User {
        username: name.into(),
        password: password.into(),
        permissions,
        allowed_connection_types: vec![],
        account: None,
    }
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sp(allow: Option<&[&str]>, deny: &[&str]) -> Option<SubjectPermission> {
    Some(SubjectPermission {
        allow: allow.map(list),
        deny: list(deny),
    })
}

fn login(sim: &mut Sim, name: &str, password: &str) -> usize {
    let c = sim.connect_with(&format!(
        r#"{{"verbose":false,"pedantic":false,"user":"{name}","pass":"{password}"}}"#
    ));
    sim.send(c, b"PING\r\n");
    assert_eq!(sim.ops_new(c), [ServerOp::Pong], "{name} logs in");
    c
}

fn ops(sim: &mut Sim, c: usize, bytes: &str) -> Vec<ServerOp> {
    sim.send(c, bytes.as_bytes());
    sim.ops_new(c)
}

#[test]
fn users_plain_and_bcrypt() {
    let mut sim = Sim::new(Options {
        users: vec![
            user(
                "alice",
                "$2a$04$iPPurYVCxEpc2OvvPDqL5eM88Zz2wXyaE6sESzqzCOs/MnZYCuqK6",
                None,
            ),
            user("bob", "bobpw", None),
        ],
        ..Options::default()
    });
    let c = sim.connect();
    let [ServerOp::Info(info)]: [ServerOp; 1] = sim.ops_new(c).try_into().unwrap() else {
        panic!()
    };
    assert_eq!(info["auth_required"], true);
    assert!(info.get("nonce").is_none(), "no nkey users, no nonce");
    login(&mut sim, "alice", "pw");
    login(&mut sim, "bob", "bobpw");
    for creds in [
        r#""user":"alice","pass":"bobpw""#,
        r#""user":"bob","pass":"pw""#,
        r#""user":"carol","pass":"bobpw""#,
        r#""auth_token":"bobpw""#,
        r#""pass":"bobpw""#,
    ] {
        let c = sim.connect_with(&format!(r#"{{"verbose":false,{creds}}}"#));
        assert_eq!(sim.ops_new(c), [err(AV)], "{creds}");
        assert_eq!(sim.close_reason(c), Some(CloseReason::AuthViolation));
    }
}

fn signer(seed: u8) -> (ed25519_compact::KeyPair, String) {
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]));
    let nkey = encode_public(PREFIX_USER, &kp.pk);
    (kp, nkey)
}

fn nonce_of(sim: &mut Sim, c: usize) -> String {
    let [ServerOp::Info(info)]: [ServerOp; 1] = sim.ops_new(c).try_into().unwrap() else {
        panic!("INFO")
    };
    info["nonce"].as_str().expect("nonce").to_string()
}

#[test]
fn nkey_challenge() {
    let (kp, nkey) = signer(7);
    let mut sim = Sim::new(Options {
        nkeys: vec![NkeyUser {
            nkey: nkey.clone(),
            permissions: None,
            allowed_connection_types: vec![],
            account: None,
        }],
        ..Options::default()
    });
    let mut nonces = BTreeSet::new();
    let c = sim.connect();
    let nonce = nonce_of(&mut sim, c);
    assert_eq!(nonce.len(), 15);
    assert!(nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    nonces.insert(nonce.clone());
    let sig = base64url_encode(kp.sk.sign(nonce.as_bytes(), None).as_ref());
    let connect = |sig: &str| {
        format!("CONNECT {{\"verbose\":false,\"nkey\":\"{nkey}\",\"sig\":\"{sig}\"}}\r\nPING\r\n")
    };
    assert_eq!(ops(&mut sim, c, &connect(&sig)), [ServerOp::Pong]);
    // The same signature on another connection (another nonce) fails.
    let d = sim.connect();
    nonces.insert(nonce_of(&mut sim, d));
    assert_eq!(ops(&mut sim, d, &connect(&sig)), [err(AV)]);
    // Standard base64 with padding is accepted too.
    let e = sim.connect();
    let n = nonce_of(&mut sim, e);
    nonces.insert(n.clone());
    let raw = kp.sk.sign(n.as_bytes(), None);
    let std = base64url_encode(raw.as_ref())
        .replace('-', "+")
        .replace('_', "/")
        + "==";
    assert_eq!(ops(&mut sim, e, &connect(&std)), [ServerOp::Pong]);
    // No signature; another key's signature.
    let f = sim.connect();
    nonce_of(&mut sim, f);
    let no_sig = format!("CONNECT {{\"verbose\":false,\"nkey\":\"{nkey}\"}}\r\n");
    assert_eq!(ops(&mut sim, f, &no_sig), [err(AV)]);
    let (other, other_key) = signer(8);
    let g = sim.connect();
    let n = nonce_of(&mut sim, g);
    let s = base64url_encode(other.sk.sign(n.as_bytes(), None).as_ref());
    let wrong =
        format!("CONNECT {{\"verbose\":false,\"nkey\":\"{other_key}\",\"sig\":\"{s}\"}}\r\n");
    assert_eq!(ops(&mut sim, g, &wrong), [err(AV)]);
    assert_eq!(nonces.len(), 3, "a fresh nonce per connection");
}

#[test]
fn nonces_follow_the_seed() {
    let (_, nkey) = signer(1);
    let opts = Options {
        nkeys: vec![NkeyUser {
            nkey,
            permissions: None,
            allowed_connection_types: vec![],
            account: None,
        }],
        ..Options::default()
    };
    let first = |seed| {
        let mut sim = Sim::with_seed(opts.clone(), seed);
        let c = sim.connect();
        nonce_of(&mut sim, c)
    };
    assert_eq!(first(1), first(1));
    assert_ne!(first(1), first(2));
}

#[test]
fn no_auth_user_binding() {
    let perms = Permissions {
        publish: sp(Some(&["a.>"]), &[]),
        ..Permissions::default()
    };
    let mut sim = Sim::new(Options {
        users: vec![user("alice", "pw", Some(perms)), user("bob", "pw", None)],
        no_auth_user: Some("alice".into()),
        ..Options::default()
    });
    let c = sim.connect();
    let [ServerOp::Info(info)]: [ServerOp; 1] = sim.ops_new(c).try_into().unwrap() else {
        panic!()
    };
    assert!(info.get("auth_required").is_none(), "{info}");
    // No CONNECT at all: the first op binds to alice (verbose by default).
    assert_eq!(
        ops(&mut sim, c, "PING\r\nPUB b 1\r\nx\r\nPUB a.b 1\r\nx\r\n"),
        [
            ServerOp::Pong,
            err("Permissions Violation for Publish to \"b\""),
            ServerOp::Ok
        ]
    );
    // No auth timeout once bound.
    sim.advance(Duration::from_secs(3));
    assert_eq!(ops(&mut sim, c, "PING\r\n"), [ServerOp::Pong]);
    // CONNECT without credentials binds too; with wrong ones it fails.
    let d = sim.connect_with(r#"{"verbose":false}"#);
    assert_eq!(
        ops(&mut sim, d, "PUB b 1\r\nx\r\nPING\r\n"),
        [
            err("Permissions Violation for Publish to \"b\""),
            ServerOp::Pong
        ]
    );
    let e = sim.connect_with(r#"{"verbose":false,"pass":"zz"}"#);
    assert_eq!(sim.ops_new(e), [err(AV)]);
    let f = sim.connect_with(r#"{"verbose":false,"user":"bob","pass":"pw"}"#);
    assert_eq!(
        ops(&mut sim, f, "PUB b 1\r\nx\r\nPING\r\n"),
        [ServerOp::Pong]
    );
    // A silent client still times out.
    let g = sim.connect();
    sim.ops_new(g);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.ops_new(g), [err("Authentication Timeout")]);
}

#[test]
fn first_byte_decides() {
    let mut sim = Sim::new(Options {
        user: Some("u".into()),
        password: Some("p".into()),
        ..Options::default()
    });
    // Not even a complete op: nats-server refuses at the first byte.
    let c = sim.connect();
    sim.ops_new(c);
    sim.send(c, b"PI");
    assert_eq!(sim.ops_new(c), [err(AV)]);
    // A CONNECT split anywhere is fine.
    let d = sim.connect();
    sim.ops_new(d);
    sim.send_chunked(
        d,
        b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n",
        3,
    );
    assert_eq!(sim.ops_new(d), [ServerOp::Pong]);
}

#[test]
fn publish_and_subscribe_permissions() {
    let perms = Permissions {
        publish: sp(Some(&["foo.>", "_INBOX.>"]), &["foo.secret"]),
        subscribe: sp(Some(&["foo.>", "qq q1", "w.* q.*"]), &["foo.hidden"]),
        response: None,
    };
    let mut sim = Sim::new(Options {
        users: vec![user("a", "pw", Some(perms)), user("b", "pw", None)],
        ..Options::default()
    });
    let a = login(&mut sim, "a", "pw");
    let b = login(&mut sim, "b", "pw");
    assert_eq!(
        ops(
            &mut sim,
            a,
            "SUB foo.> 1\r\nSUB bar 2\r\nSUB qq q1 3\r\nSUB qq 4\r\nSUB qq q2 5\r\nSUB foo.hidden 6\r\n\
             SUB w.x q.a 7\r\nSUB w.x q.a.b 8\r\nSUB foo.x _sys_ 9\r\nPING\r\n"
        ),
        [
            err("Permissions Violation for Subscription to \"bar\""),
            err("Permissions Violation for Subscription to \"qq\""),
            err("Permissions Violation for Subscription to \"qq\" using queue \"q2\""),
            err("Permissions Violation for Subscription to \"foo.hidden\""),
            err("Permissions Violation for Subscription to \"w.x\" using queue \"q.a.b\""),
            err("Permissions Violation for Subscription to \"foo.x\" using queue \"_sys_\""),
            ServerOp::Pong
        ]
    );
    // The wildcard subscription never sees the denied subject.
    sim.send(
        b,
        b"PUB foo.hidden 1\r\nx\r\nPUB foo.ok 1\r\ny\r\nPUB qq 1\r\nz\r\n",
    );
    assert_eq!(
        ops(&mut sim, a, "PING\r\n"),
        [msg("foo.ok", "1", "y"), msg("qq", "3", "z"), ServerOp::Pong]
    );
    // Publish: allowed, denied (the connection stays), reply not checked.
    assert_eq!(
        ops(
            &mut sim,
            a,
            "PUB foo.x 1\r\n1\r\nPUB foo.secret 1\r\n2\r\nPUB bar 1\r\n3\r\nPUB foo.y bar.zzz 1\r\n4\r\nPING\r\n"
        ),
        [
            msg("foo.x", "1", "1"),
            err("Permissions Violation for Publish to \"foo.secret\""),
            err("Permissions Violation for Publish to \"bar\""),
            ServerOp::Msg {
                subject: "foo.y".into(),
                sid: "1".into(),
                reply: Some("bar.zzz".into()),
                payload: b"4".to_vec()
            },
            ServerOp::Pong
        ]
    );
    // Cached verdicts stay right when repeated and interleaved.
    for _ in 0..3 {
        assert_eq!(
            ops(&mut sim, a, "PUB bar 1\r\n3\r\nPUB foo.z 1\r\n5\r\n"),
            [
                err("Permissions Violation for Publish to \"bar\""),
                msg("foo.z", "1", "5")
            ]
        );
    }
    // Many distinct subjects: the bounded cache keeps answering.
    let mut many = String::new();
    for i in 0..300 {
        many.push_str(&format!("PUB foo.n{i} 0\r\n\r\nPUB deny.n{i} 0\r\n\r\n"));
    }
    let got = ops(&mut sim, a, &many);
    assert_eq!(got.len(), 600);
    assert_eq!(
        got.iter().filter(|o| matches!(o, ServerOp::Err(_))).count(),
        300
    );
    assert_eq!(sim.close_reason(a), None);
}

#[test]
fn wildcard_subscriptions_are_filtered_at_delivery() {
    // nats-server accepts SUB foo.> under allow foo.* (tokens are compared
    // literally) and a wildcard overlapping a deny entry; natsd accepts
    // the same SUBs and delivers only what the lists allow.
    let perms = Permissions {
        subscribe: sp(Some(&["foo.*", "bar.>"]), &["bar.x.*"]),
        ..Permissions::default()
    };
    let mut sim = Sim::new(Options {
        users: vec![user("a", "pw", Some(perms)), user("b", "pw", None)],
        ..Options::default()
    });
    let a = login(&mut sim, "a", "pw");
    let b = login(&mut sim, "b", "pw");
    assert_eq!(
        ops(
            &mut sim,
            a,
            "SUB foo.> 1\r\nSUB bar.*.y 2\r\nSUB * 3\r\nPING\r\n"
        ),
        [
            err("Permissions Violation for Subscription to \"*\""),
            ServerOp::Pong
        ]
    );
    sim.send(
        b,
        b"PUB foo.a 1\r\n1\r\nPUB foo.a.b 1\r\n2\r\nPUB bar.x.y 1\r\n3\r\nPUB bar.z.y 1\r\n4\r\n",
    );
    assert_eq!(
        ops(&mut sim, a, "PING\r\n"),
        [
            msg("foo.a", "1", "1"),
            msg("bar.z.y", "2", "4"),
            ServerOp::Pong
        ]
    );
}

#[test]
fn allow_responses() {
    let perms = Permissions {
        subscribe: sp(Some(&["req"]), &[]),
        publish: sp(Some(&[]), &[]),
        response: Some(ResponsePermission {
            max_msgs: 2,
            expires: Duration::from_secs(5),
        }),
    };
    let mut sim = Sim::new(Options {
        users: vec![user("svc", "pw", Some(perms)), user("b", "pw", None)],
        ..Options::default()
    });
    let svc = login(&mut sim, "svc", "pw");
    let b = login(&mut sim, "b", "pw");
    sim.send(svc, b"SUB req 1\r\n");
    sim.send(
        b,
        b"SUB _INBOX.> 9\r\nPUB req _INBOX.1 1\r\nq\r\nPUB req _INBOX.2 1\r\nq\r\n",
    );
    assert_eq!(sim.ops_new(svc).len(), 2);
    assert_eq!(
        ops(
            &mut sim,
            svc,
            "PUB _INBOX.1 1\r\nr\r\nPUB _INBOX.1 1\r\nr\r\nPUB _INBOX.1 1\r\nr\r\nPUB _INBOX.3 1\r\nr\r\nPUB other 1\r\nr\r\n"
        ),
        [
            err("Permissions Violation for Publish to \"_INBOX.1\""),
            err("Permissions Violation for Publish to \"_INBOX.3\""),
            err("Permissions Violation for Publish to \"other\""),
        ]
    );
    sim.advance(Duration::from_secs(6));
    sim.ops_new(svc);
    assert_eq!(
        ops(&mut sim, svc, "PUB _INBOX.2 1\r\nr\r\n"),
        [err("Permissions Violation for Publish to \"_INBOX.2\"")],
        "expired"
    );
    // A new request with the same reply subject starts over.
    sim.send(b, b"PUB req _INBOX.1 1\r\nq\r\n");
    sim.ops_new(svc);
    assert_eq!(
        ops(&mut sim, svc, "PUB _INBOX.1 1\r\nr\r\nPING\r\n"),
        [ServerOp::Pong]
    );
    let got = sim.ops_new(b);
    assert_eq!(
        got.iter().filter(|o| o.sid() == Some("9")).count(),
        3,
        "{got:?}"
    );
}

#[test]
fn reload_rechecks_credentials_and_subscriptions() {
    let everything = Permissions {
        subscribe: sp(Some(&[">"]), &[]),
        ..Permissions::default()
    };
    let opts = Options {
        users: vec![user("a", "pw", Some(everything)), user("b", "pw", None)],
        ..Options::default()
    };
    let mut sim = Sim::new(opts.clone());
    let a = login(&mut sim, "a", "pw");
    let b = login(&mut sim, "b", "pw");
    let c = login(&mut sim, "b", "pw");
    sim.send(
        a,
        b"SUB foo.x 1\r\nSUB foo.y 2\r\nSUB baz 3\r\nSUB bar q 4\r\nSUB foo.* 5\r\nSUB baz q 6\r\n",
    );
    let narrower = Permissions {
        subscribe: sp(Some(&["foo.>", "bar"]), &["foo.x"]),
        publish: sp(Some(&["nothing"]), &[]),
        ..Permissions::default()
    };
    sim.server.reload(Options {
        users: vec![user("a", "pw", Some(narrower)), user("b", "pw2", None)],
        ..opts
    });
    sim.drain_all();
    assert_eq!(
        sim.ops_new(a),
        [
            err("Permissions Violation for Subscription to \"foo.x\" (sid \"1\")"),
            err("Permissions Violation for Subscription to \"baz\" (sid \"3\")"),
            err("Permissions Violation for Subscription to \"baz\" (sid \"6\")"),
        ]
    );
    assert_eq!(sim.ops_new(b), [err(AV)]);
    assert_eq!(sim.close_reason(c), Some(CloseReason::AuthViolation));
    let d = login(&mut sim, "b", "pw2");
    sim.send(
        d,
        b"PUB foo.x 1\r\nx\r\nPUB foo.y 1\r\ny\r\nPUB baz 1\r\nz\r\n",
    );
    let mut got = ops(&mut sim, a, "PUB foo.y 1\r\nw\r\nPING\r\n");
    got[..2].sort_by(|x, y| x.sid().cmp(&y.sid()));
    assert_eq!(
        got,
        [
            msg("foo.y", "2", "y"),
            msg("foo.y", "5", "y"),
            err("Permissions Violation for Publish to \"foo.y\""),
            ServerOp::Pong
        ]
    );
    // Removed sids may be reused.
    assert_eq!(
        ops(&mut sim, a, "SUB foo.z 1\r\nPING\r\n"),
        [ServerOp::Pong]
    );
}

#[test]
fn reload_keeps_no_auth_clients_on_their_user() {
    let opts = Options {
        users: vec![user("alice", "pw", None)],
        no_auth_user: Some("alice".into()),
        ..Options::default()
    };
    let mut sim = Sim::new(opts.clone());
    let a = sim.connect_with(r#"{"verbose":false}"#);
    sim.send(a, b"PING\r\n");
    assert_eq!(sim.ops_new(a), [ServerOp::Pong]);
    // alice's password changes: the client bound by CONNECT was recorded
    // as alice with the old password, so it goes, as in nats-server.
    sim.server.reload(Options {
        users: vec![user("alice", "new", None)],
        ..opts
    });
    sim.drain_all();
    assert_eq!(sim.ops_new(a), [err(AV)]);
}

// ---------------------------------------------------------------------------
// Property: deliveries against a naive model of nats-server's rules
// ---------------------------------------------------------------------------

fn toks(s: &str) -> Vec<&str> {
    s.split('.').collect()
}

/// Does `pattern` match `subject`, tokens compared literally (`*` one
/// token, `>` one or more)?
fn naive_match(pattern: &[&str], subject: &[&str]) -> bool {
    match (pattern.split_first(), subject.split_first()) {
        (Some((&">", _)), Some(_)) => true,
        (Some((p, prest)), Some((s, srest))) => (*p == "*" || p == s) && naive_match(prest, srest),
        (None, None) => true,
        _ => false,
    }
}

fn entry(e: &str) -> (Vec<&str>, Option<&str>) {
    let mut f = e.split_whitespace();
    (toks(f.next().unwrap()), f.next())
}

/// nats-server's canSubscribe, spelled out.
fn model_can_subscribe(p: &Option<Permissions>, subject: &str, queue: Option<&str>) -> bool {
    if queue == Some("_sys_") {
        return false;
    }
    let Some(sub) = p.as_ref().and_then(|p| p.subscribe.as_ref()) else {
        return true;
    };
    let s = toks(subject);
    let verdict = |entries: &[String]| {
        let plain = entries
            .iter()
            .map(|e| entry(e))
            .any(|(t, q)| q.is_none() && naive_match(&t, &s));
        let queues: Vec<&str> = entries
            .iter()
            .map(|e| entry(e))
            .filter(|(t, q)| q.is_some() && naive_match(t, &s))
            .map(|(_, q)| q.unwrap())
            .collect();
        let queue_hit = queue.filter(|_| !queues.is_empty()).map(|q| {
            queues
                .iter()
                .any(|n| *n == q || naive_match(&toks(n), &toks(q)))
        });
        (plain, queue_hit)
    };
    let mut allowed = true;
    if let Some(a) = sub.allow.as_ref().filter(|a| !a.is_empty()) {
        let (plain, queue_hit) = verdict(a);
        allowed = queue_hit.unwrap_or(plain);
    }
    if allowed && !sub.deny.is_empty() {
        let (plain, queue_hit) = verdict(&sub.deny);
        allowed = !queue_hit.unwrap_or(plain);
    }
    allowed
}

fn model_can_publish(p: &Option<Permissions>, subject: &str) -> bool {
    let Some(publ) = p.as_ref().and_then(|p| p.publish.as_ref()) else {
        return true;
    };
    let s = toks(subject);
    let any = |l: &[String]| l.iter().any(|e| naive_match(&toks(e), &s));
    publ.allow.as_deref().is_none_or(any) && !any(&publ.deny)
}

fn arb_subject(wild: bool) -> impl Strategy<Value = String> {
    let tok = if wild {
        prop_oneof![
            3 => prop_oneof![Just("a"), Just("b"), Just("c")],
            1 => Just("*"),
        ]
        .boxed()
    } else {
        prop_oneof![Just("a"), Just("b"), Just("c")].boxed()
    };
    (proptest::collection::vec(tok, 1..4), any::<bool>()).prop_map(move |(t, full)| {
        let s = t.join(".");
        if wild && full {
            if t.len() == 1 {
                ">".to_string()
            } else {
                format!("{s}.>")
            }
        } else {
            s
        }
    })
}

fn arb_queue() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![Just("q.a"), Just("q.b")].prop_map(str::to_string))
}

fn arb_entries(queues: bool) -> impl Strategy<Value = Vec<String>> {
    let e = (
        arb_subject(true),
        proptest::option::of(prop_oneof![Just("q.a"), Just("q.*")]),
    )
        .prop_map(move |(s, q)| match q {
            Some(q) if queues => format!("{s} {q}"),
            _ => s,
        });
    proptest::collection::vec(e, 0..3)
}

fn arb_sp(queues: bool) -> impl Strategy<Value = Option<SubjectPermission>> {
    proptest::option::of(
        (
            proptest::option::of(arb_entries(queues)),
            arb_entries(queues),
        )
            .prop_map(|(allow, deny)| SubjectPermission {
                allow: allow.filter(|a| !a.is_empty()),
                deny,
            }),
    )
}

fn arb_perms() -> impl Strategy<Value = Option<Permissions>> {
    proptest::option::of(
        (arb_sp(false), arb_sp(true)).prop_map(|(publish, subscribe)| Permissions {
            publish,
            subscribe,
            response: None,
        }),
    )
}

/// An accepted subscription: (client, subject, queue, sid).
type Sub = (usize, String, Option<String>, String);

#[derive(Debug, Clone)]
enum Op {
    Sub(usize, String, Option<String>),
    Pub(usize, String),
}

fn arb_ops(clients: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (0..clients, arb_subject(true), arb_queue()).prop_map(|(c, s, q)| Op::Sub(c, s, q)),
        (0..clients, arb_subject(false)).prop_map(|(c, s)| Op::Pub(c, s)),
    ];
    proptest::collection::vec(op, 1..40)
}

fn arb_world() -> impl Strategy<Value = (Vec<Option<Permissions>>, Vec<Op>)> {
    (1usize..4).prop_flat_map(|n| (proptest::collection::vec(arb_perms(), n), arb_ops(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random users, permissions and traffic: every SUB and PUB gets the
    /// model's verdict (exact error text), and every message reaches
    /// exactly the subscriptions the model says: no plain subscription
    /// misses one it may receive or gets one it may not, each queue group
    /// with an eligible member gets it once, through an eligible member.
    #[test]
    fn permissions_match_the_model((perms, script) in arb_world()) {
        let users = perms
            .iter()
            .enumerate()
            .map(|(i, p)| user(&format!("u{i}"), "pw", p.clone()))
            .collect();
        let mut sim = Sim::new(Options { users, ..Options::default() });
        let clients: Vec<usize> = (0..perms.len()).map(|i| login(&mut sim, &format!("u{i}"), "pw")).collect();
        // Accepted subscriptions: (client, subject, queue, sid).
        let mut subs: Vec<Sub> = Vec::new();
        for (n, op) in script.iter().enumerate() {
            match op {
                Op::Sub(c, subject, queue) => {
                    let sid = format!("s{n}");
                    let q = queue.as_deref().map(|q| format!(" {q}")).unwrap_or_default();
                    let got = ops(&mut sim, clients[*c], &format!("SUB {subject}{q} {sid}\r\nPING\r\n"));
                    if model_can_subscribe(&perms[*c], subject, queue.as_deref()) {
                        prop_assert_eq!(got, vec![ServerOp::Pong], "SUB {} {:?} by u{}", subject, queue, c);
                        subs.push((*c, subject.clone(), queue.clone(), sid));
                    } else {
                        let text = match queue {
                            Some(q) => format!("Permissions Violation for Subscription to \"{subject}\" using queue \"{q}\""),
                            None => format!("Permissions Violation for Subscription to \"{subject}\""),
                        };
                        prop_assert_eq!(got, vec![err(&text), ServerOp::Pong]);
                    }
                }
                Op::Pub(c, subject) => {
                    let got = ops(&mut sim, clients[*c], &format!("PUB {subject} 1\r\nx\r\nPING\r\n"));
                    let allowed = model_can_publish(&perms[*c], subject);
                    let mut own_msgs = got.clone();
                    own_msgs.retain(|o| matches!(o, ServerOp::Msg { .. }));
                    if !allowed {
                        prop_assert_eq!(
                            got.iter().filter(|o| !matches!(o, ServerOp::Msg { .. })).cloned().collect::<Vec<_>>(),
                            vec![err(&format!("Permissions Violation for Publish to \"{subject}\"")), ServerOp::Pong]
                        );
                    }
                    // Everything every client received for this message.
                    let mut got_by: BTreeMap<(usize, String), usize> = BTreeMap::new();
                    for (i, &cl) in clients.iter().enumerate() {
                        let mine = if i == *c { own_msgs.clone() } else { sim.ops_new(cl) };
                        for o in mine {
                            let ServerOp::Msg { subject: s, sid, .. } = o else {
                                prop_assert!(false, "u{} got {:?}", i, o);
                                unreachable!()
                            };
                            prop_assert_eq!(&s, subject);
                            *got_by.entry((i, sid)).or_default() += 1;
                        }
                    }
                    let eligible = |(k, s, q, _): &&Sub| {
                        allowed
                            && naive_match(&toks(s), &toks(subject))
                            && (!s.contains('*') && !s.contains('>')
                                || model_can_subscribe(&perms[*k], subject, q.as_deref()))
                    };
                    for sub in subs.iter().filter(|(_, _, q, _)| q.is_none()) {
                        let want = usize::from(eligible(&sub));
                        let n = got_by.remove(&(sub.0, sub.3.clone())).unwrap_or(0);
                        prop_assert_eq!(n, want, "plain sub {:?}, PUB {} by u{}", sub, subject, c);
                    }
                    // A queue group is its name: members on different
                    // subjects that match the same message share it.
                    let mut groups: BTreeMap<String, Vec<&Sub>> = BTreeMap::new();
                    for sub in subs.iter().filter(|(_, _, q, _)| q.is_some()) {
                        groups.entry(sub.2.clone().unwrap()).or_default().push(sub);
                    }
                    for (key, members) in groups {
                        let mut hits = 0;
                        for m in &members {
                            let n = got_by.remove(&(m.0, m.3.clone())).unwrap_or(0);
                            prop_assert!(n == 0 || eligible(m), "ineligible member {:?} got {}", m, subject);
                            hits += n;
                        }
                        let want = usize::from(members.iter().any(eligible));
                        prop_assert_eq!(hits, want, "group {:?}, PUB {}", key, subject);
                    }
                    prop_assert!(got_by.is_empty(), "unexpected deliveries {:?}", got_by);
                }
            }
        }
    }
}
