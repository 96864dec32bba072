//! Accounts on the in-memory fixture: isolation, stream and service
//! exports/imports, subject mappings, and the configuration errors
//! (texts checked against nats-server 2.14.0 `-t`; auth.md §8).

mod common;

use common::{msg, ServerOp, Sim};
use natsd_core::config::{self, MapLoader};
use natsd_core::Options;

const ACCOUNTS: &str = r#"
accounts {
  A: {
    users: [ {user: alice, password: alicepw} ]
    exports: [
      { stream: "events.>" }
      { service: "help.>" }
      { service: "many.>", response_type: stream }
    ]
  }
  B: {
    users: [ {user: carol, password: carol} ]
    imports: [
      { stream:  {account: A, subject: "events.>"}, prefix: "fromA" }
      { service: {account: A, subject: "help.>"},   to: "ahelp.>" }
      { service: {account: A, subject: "many.>"} }
    ]
  }
  C: { users: [ {user: dave, password: dave} ] }
}
authorization { users: [ {user: gus, password: gus} ] }
"#;

fn load(text: &str) -> Result<Options, String> {
    let mut o = Options::default();
    config::load(text, "t.conf", &mut MapLoader::new(), &|_| None, &mut o)
        .map_err(|e| e.to_string())?;
    config::validate(&o)?;
    Ok(o)
}

fn login(sim: &mut Sim, user: &str, pass: &str) -> usize {
    let c = sim.connect_with(&format!(
        r#"{{"verbose":false,"user":"{user}","pass":"{pass}","headers":true,"no_responders":true,"protocol":1}}"#
    ));
    sim.send(c, b"PING\r\n");
    // A PONG, and the INFO that tells a protocol-1 client its account.
    let ops = sim.ops_new(c);
    assert_eq!(
        ops.first(),
        Some(&ServerOp::Pong),
        "{user} logged in: {ops:?}"
    );
    c
}

#[test]
fn same_subject_in_two_accounts_never_crosses() {
    let mut sim = Sim::new(load(ACCOUNTS).unwrap());
    let alice = login(&mut sim, "alice", "alicepw");
    let carol = login(&mut sim, "carol", "carol");
    let dave = login(&mut sim, "dave", "dave");
    let gus = login(&mut sim, "gus", "gus");
    for c in [alice, carol, dave, gus] {
        sim.send(c, b"SUB foo 1\r\nSUB > 2\r\n");
    }
    sim.send(dave, b"PUB foo 2\r\nhi\r\n");
    let mut got = sim.ops_new(dave);
    got.sort_by_key(|o| o.sid().map(str::to_string));
    assert_eq!(got, vec![msg("foo", "1", "hi"), msg("foo", "2", "hi")]);
    for c in [alice, carol, gus] {
        assert!(sim.ops_new(c).is_empty(), "client {c} saw dave's message");
    }
    let accounts: Vec<String> = sim
        .server
        .accounts()
        .all()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(accounts, ["$G", "A", "B", "C", "$SYS"]);
}

#[test]
fn stream_import_with_prefix() {
    let mut sim = Sim::new(load(ACCOUNTS).unwrap());
    let alice = login(&mut sim, "alice", "alicepw");
    let carol = login(&mut sim, "carol", "carol");
    let dave = login(&mut sim, "dave", "dave");
    sim.send(carol, b"SUB fromA.events.> 1\r\nSUB events.> 2\r\n");
    sim.send(dave, b"SUB fromA.events.> 1\r\n");
    sim.send(alice, b"PUB events.x 3\r\nabc\r\nPUB other 1\r\nz\r\n");
    assert_eq!(sim.ops_new(carol), vec![msg("fromA.events.x", "1", "abc")]);
    assert!(sim.ops_new(dave).is_empty());
    // Nothing flows back: B's own events stay in B.
    sim.send(alice, b"SUB fromA.> 9\r\n");
    sim.send(carol, b"PUB events.y 1\r\nq\r\n");
    assert_eq!(sim.ops_new(carol), vec![msg("events.y", "2", "q")]);
    assert!(sim.ops_new(alice).is_empty());
}

#[test]
fn service_import_request_and_singleton_response() {
    let mut sim = Sim::new(load(ACCOUNTS).unwrap());
    let alice = login(&mut sim, "alice", "alicepw");
    let carol = login(&mut sim, "carol", "carol");
    sim.send(alice, b"SUB help.> 1\r\n");
    sim.send(carol, b"SUB _INBOX.c 7\r\nPUB ahelp.q _INBOX.c 1\r\n?\r\n");
    let ops = sim.ops_new(alice);
    let [ServerOp::HMsg {
        subject,
        sid,
        reply: Some(reply),
        headers,
        payload,
    }] = ops.as_slice()
    else {
        panic!("alice expected one HMSG, got {ops:?}")
    };
    assert_eq!((subject.as_str(), sid.as_str()), ("help.q", "1"));
    assert!(reply.starts_with("_R_."), "{reply}");
    assert_eq!(payload, b"?");
    let headers = String::from_utf8_lossy(headers);
    assert!(
        headers.starts_with("NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":"),
        "{headers}"
    );
    assert!(headers.ends_with("}\r\n\r\n"), "{headers}");
    let answer = format!("PUB {reply} 2\r\nok\r\nPUB {reply} 2\r\nno\r\n");
    sim.send(alice, answer.as_bytes());
    // A singleton gets the first response only.
    assert_eq!(sim.ops_new(carol), vec![msg("_INBOX.c", "7", "ok")]);
}

#[test]
fn service_import_stream_responses_and_no_responders() {
    let mut sim = Sim::new(load(ACCOUNTS).unwrap());
    let alice = login(&mut sim, "alice", "alicepw");
    let carol = login(&mut sim, "carol", "carol");
    sim.send(carol, b"SUB _INBOX.c 7\r\nPUB many.x _INBOX.c 1\r\n?\r\n");
    // Nobody in A: the requester gets the 503 no-responders status.
    let ops = sim.ops_new(carol);
    assert!(
        matches!(ops.as_slice(), [ServerOp::HMsg { subject, headers, .. }]
            if subject == "_INBOX.c" && headers.starts_with(b"NATS/1.0 503")),
        "{ops:?}"
    );
    sim.send(alice, b"SUB many.> 1\r\n");
    sim.send(carol, b"PUB many.x _INBOX.c 1\r\n?\r\n");
    let ops = sim.ops_new(alice);
    let Some(ServerOp::HMsg {
        reply: Some(reply), ..
    }) = ops.first()
    else {
        panic!("{ops:?}")
    };
    let answer = format!("PUB {reply} 1\r\n1\r\nPUB {reply} 1\r\n2\r\n");
    sim.send(alice, answer.as_bytes());
    assert_eq!(
        sim.ops_new(carol),
        vec![msg("_INBOX.c", "7", "1"), msg("_INBOX.c", "7", "2")]
    );
}

#[test]
fn mappings_rewrite_before_matching() {
    let mut sim = Sim::new(
        load(
            r#"mappings: { "orders.*.*": "bytype.{{wildcard(2)}}.{{wildcard(1)}}", "old.>": "new.>" }
accounts { A: { mappings: { "x": "y" } , users: [{user: a, password: a}] } }
authorization { users: [{user: g, password: g}] }"#,
        )
        .unwrap(),
    );
    let g = login(&mut sim, "g", "g");
    sim.send(
        g,
        b"SUB bytype.> 1\r\nSUB new.> 2\r\nSUB x 3\r\nSUB y 4\r\n",
    );
    sim.send(
        g,
        b"PUB orders.us.new 1\r\na\r\nPUB old.q.r 1\r\nb\r\nPUB x 1\r\nc\r\n",
    );
    assert_eq!(
        sim.ops_new(g),
        vec![
            msg("bytype.new.us", "1", "a"),
            msg("new.q.r", "2", "b"),
            msg("x", "3", "c")
        ]
    );
    let a = login(&mut sim, "a", "a");
    sim.send(a, b"SUB x 3\r\nSUB y 4\r\nPUB x 1\r\nd\r\n");
    assert_eq!(sim.ops_new(a), vec![msg("y", "4", "d")]);
}

#[test]
fn weighted_mapping_splits_traffic() {
    let mut sim = Sim::new(
        load(
            r#"mappings: { "w": [{destination: "w.a", weight: 50%}, {destination: "w.b", weight: 50}] }"#,
        )
        .unwrap(),
    );
    let g = sim.connect_with(r#"{"verbose":false}"#);
    sim.send(g, b"SUB w.a 1\r\nSUB w.b 2\r\n");
    for _ in 0..200 {
        sim.send(g, b"PUB w 0\r\n\r\n");
    }
    let ops = sim.ops_new(g);
    let a = ops.iter().filter(|o| o.sid() == Some("1")).count();
    assert_eq!(ops.len(), 200);
    assert!((60..=140).contains(&a), "{a} of 200 to w.a");
}

#[test]
fn configuration_errors_as_nats_server_words_them() {
    // Each on line 2, where natsd's columns are nats-server's exactly.
    let cases = [
        (
            "accounts { A: { users: [{user: a, password: a}] }, B: { imports: [{stream: {account: C, subject: foo}}] } }",
            "t.conf:2:1: \"C\" account not defined for stream import",
        ),
        (
            "accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: a, password: b}] } }",
            "t.conf:2:57: Duplicate user \"a\" detected",
        ),
        (
            "authorization { users: [{user: a, password: a}] }\naccounts { A: { users: [{user: a, password: b}] } }",
            "t.conf:3:17: Duplicate user \"a\" detected",
        ),
        (
            "accounts { A: { users: [{user: a, password: b}] } }\nauthorization { users: [{user: a, password: a}] }",
            "t.conf:3:1: Duplicate user \"a\" detected",
        ),
        (
            "accounts { A: { exports: [{stream: foo}] }, B: { imports: [{stream: {account: A, subject: foo}, prefix: p, to: x}] } }",
            "t.conf:2:108: Stream import can not have a 'prefix' and a 'to' property",
        ),
        (
            "accounts { A: { exports: [{service: foo, response_type: bogus}] } }",
            "t.conf:2:42: Unknown response type: \"bogus\"",
        ),
        (
            "accounts { A: { exports: [{stream: foo}] }, B: { imports: [{stream: {account: A, subject: bar}}] } }",
            "t.conf:2:1: Error adding stream import \"bar\": stream import not authorized",
        ),
        (
            "accounts { A: { exports: [{service: foo}] }, B: { imports: [{service: {account: A, subject: bar}}] } }",
            "t.conf:2:1: Error adding service import \"bar\": service import not authorized",
        ),
        (
            "accounts { A: { bogus: 1 } }",
            "t.conf:2:17: unknown field \"bogus\"",
        ),
        (
            "accounts { A: { imports: [{stream: {subject: foo}}] } }",
            "t.conf:2:28: Expect an account name and a subject",
        ),
        ("accounts { $G: {} }", "t.conf:2:12: \"$G\" is a Reserved Account"),
        ("accounts { A: 1 }", "t.conf:2:12: Expected map entries for accounts"),
        (
            "mappings: { \"a.*\": \"b.{{wildcard(2)}}\" }",
            "t.conf:2:14: Error adding mapping for \"a.*\" to \"b.{{wildcard(2)}}\" : invalid mapping destination: wildcard index out of range in {{wildcard(2)}}: [2]",
        ),
        (
            "mappings: { \"a.*\": [{destination: \"b.1\", weight: 60%}, {destination: \"b.2\", weight: 50%}] }",
            "t.conf:2:14: Error adding mapping for \"a.*\" : total weight needs to be <= 100",
        ),
        (
            "system_account: X\naccounts { A: {} }",
            "error resolving system account: account missing",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let text = format!("\n{text}");
        match load(&text) {
            Err(got) if got.ends_with(want) => {}
            got => wrong.push(format!("{text}\n got: {got:?}\nwant: {want}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert!(load("accounts: [A, B]").is_ok());
    assert!(load("accounts { A: {} }\nsystem_account: A").is_ok());
}

#[test]
fn system_account_names() {
    let sim = Sim::new(load("accounts { S: {} }\nsystem_account: S").unwrap());
    assert_eq!(sim.server.accounts().system().unwrap().name(), "S");
    let sim = Sim::new(load("no_system_account: true").unwrap());
    assert!(sim.server.accounts().system().is_none());
    let sim = Sim::new(Options::default());
    assert_eq!(sim.server.accounts().system().unwrap().name(), "$SYS");
}

#[test]
fn account_limits() {
    let mut sim = Sim::new(
        load(
            "accounts { A: { users: [{user: a, password: a}], limits: { max_connections: 1, max_subscriptions: 2, max_payload: 100 } } }",
        )
        .unwrap(),
    );
    let a = sim.connect_with(r#"{"verbose":false,"user":"a","pass":"a","protocol":1}"#);
    sim.send(a, b"PING\r\n");
    let ops = sim.ops_new(a);
    assert_eq!(ops.first(), Some(&ServerOp::Pong));
    assert!(
        matches!(ops.get(1), Some(ServerOp::Info(i)) if i["max_payload"] == 100),
        "the INFO after CONNECT shows the account's max_payload: {ops:?}"
    );
    let b = sim.connect_with(r#"{"verbose":false,"user":"a","pass":"a"}"#);
    assert_eq!(
        sim.ops_new(b),
        vec![ServerOp::Err(
            "maximum account active connections exceeded".into()
        )]
    );
    assert!(sim.close_reason(b).is_some());
    sim.send(a, b"SUB x 1\r\nSUB y 2\r\nSUB z 3\r\nPING\r\n");
    assert_eq!(
        sim.ops_new(a),
        vec![
            ServerOp::Err("maximum subscriptions exceeded".into()),
            ServerOp::Pong
        ]
    );
    sim.send(a, b"UNSUB 2\r\nSUB z 3\r\nPING\r\n");
    assert_eq!(sim.ops_new(a), vec![ServerOp::Pong]);
    sim.send(
        a,
        &[b"PUB x 150\r\n".as_slice(), &[b'x'; 150], b"\r\n"].concat(),
    );
    assert_eq!(
        sim.ops_new(a),
        vec![ServerOp::Err("Maximum Payload Violation".into())]
    );
    // The slot is free again once the client is gone.
    let c = sim.connect_with(r#"{"verbose":false,"user":"a","pass":"a"}"#);
    sim.send(c, b"PING\r\n");
    assert_eq!(sim.ops_new(c), vec![ServerOp::Pong]);
    assert!(load("accounts { A: { limits: { bogus: 1 } } }")
        .unwrap_err()
        .ends_with("Unknown field \"bogus\" parsing account limits"));
}

#[test]
fn slow_consumers_are_counted_in_their_account() {
    let mut sim = Sim::new(
        load(
            "max_pending: 16KB\nmax_payload: 1KB\naccounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: b, password: b}] } }",
        )
        .unwrap(),
    );
    let slow = login(&mut sim, "a", "a");
    sim.send(slow, b"SUB data 1\r\n");
    sim.clients[slow].reading = false;
    let p = login(&mut sim, "a", "a");
    for _ in 0..300 {
        sim.send(
            p,
            &[b"PUB data 100\r\n".as_slice(), &[b'x'; 100], b"\r\n"].concat(),
        );
    }
    assert!(sim.clients[slow].conn.is_closed());
    let slow_of = |name: &str| sim.server.accounts().get(name).unwrap().slow_consumers();
    assert_eq!((slow_of("A"), slow_of("B"), slow_of("$G")), (1, 0, 0));
}
