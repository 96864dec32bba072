//! The `$SYS` API on the in-memory fixture (monitoring.md §9): requests from
//! the system account, the account-scoped subjects every account may use,
//! no-responders elsewhere, and the connect/disconnect events.

mod common;

use common::{ServerOp, Sim};
use natsd_core::config::{self, MapLoader};
use natsd_core::Options;
use serde_json::Value;

const CONFIG: &str = r#"
server_name: srv1
accounts {
  A: { users: [ {user: alice, password: a} ] }
  SYS: { users: [ {user: sys, password: s} ] }
}
system_account: SYS
"#;

fn sim() -> Sim {
    let mut o = Options::default();
    config::load(CONFIG, "t.conf", &mut MapLoader::new(), &|_| None, &mut o).unwrap();
    Sim::new(o)
}

fn login(sim: &mut Sim, user: &str, pass: &str) -> usize {
    let c = sim.connect_with(&format!(
        r#"{{"verbose":false,"user":"{user}","pass":"{pass}","headers":true,"no_responders":true}}"#
    ));
    sim.send(c, b"PING\r\n");
    assert_eq!(sim.ops_new(c), vec![ServerOp::Pong]);
    c
}

/// Sends a request from `c` with `body` and returns the JSON replies.
fn request(sim: &mut Sim, c: usize, subject: &str, body: &str) -> Vec<ServerOp> {
    sim.send(
        c,
        format!(
            "SUB _INBOX.r 99\r\nPUB {subject} _INBOX.r {}\r\n{body}\r\nUNSUB 99\r\n",
            body.len()
        )
        .as_bytes(),
    );
    sim.ops_new(c)
}

fn json(op: &ServerOp) -> Value {
    match op {
        ServerOp::Msg { payload, sid, .. } => {
            assert_eq!(sid, "99");
            serde_json::from_slice(payload).unwrap()
        }
        other => panic!("expected a MSG, got {other:?}"),
    }
}

#[test]
fn server_ping_and_endpoints_from_the_system_account() {
    let mut sim = sim();
    let sys = login(&mut sim, "sys", "s");
    let _alice = login(&mut sim, "alice", "a");
    let ops = request(&mut sim, sys, "$SYS.REQ.SERVER.PING", "");
    assert_eq!(ops.len(), 1, "{ops:?}");
    let v = json(&ops[0]);
    assert_eq!(v["server"]["name"], "srv1");
    assert_eq!(v["server"]["ver"], "2.14.0");
    assert!(v["server"]["seq"].as_u64().unwrap() > 0);
    assert_eq!(v["statsz"]["connections"], 2);
    assert_eq!(v["statsz"]["active_accounts"], 2);
    assert!(v.get("data").is_none());

    let v = json(&request(&mut sim, sys, "$SYS.REQ.SERVER.PING.VARZ", "")[0]);
    assert_eq!(v["data"]["server_name"], "srv1");
    assert_eq!(v["data"]["system_account"], "SYS");
    let id = v["server"]["id"].as_str().unwrap().to_string();

    let v = json(
        &request(
            &mut sim,
            sys,
            &format!("$SYS.REQ.SERVER.{id}.CONNZ"),
            r#"{"acc":"A","auth":true}"#,
        )[0],
    );
    assert_eq!(v["data"]["num_connections"], 1);
    assert_eq!(v["data"]["connections"][0]["account"], "A");

    let v = json(&request(&mut sim, sys, "$SYS.REQ.SERVER.PING.IDZ", "")[0]);
    assert_eq!(
        v,
        serde_json::json!({"name": "srv1", "host": "0.0.0.0", "id": id})
    );

    let v = json(&request(&mut sim, sys, "$SYS.REQ.SERVER.PING.HEALTHZ", "")[0]);
    assert_eq!(
        v["data"],
        serde_json::json!({"status": "ok", "status_code": 200})
    );

    // Filters: another server's name gets no answer; a substring does.
    assert!(request(
        &mut sim,
        sys,
        "$SYS.REQ.SERVER.PING.VARZ",
        r#"{"server_name":"nomatch"}"#
    )
    .iter()
    .all(|o| !matches!(o, ServerOp::Msg { .. })));
    assert_eq!(
        request(
            &mut sim,
            sys,
            "$SYS.REQ.SERVER.PING",
            r#"{"server_name":"srv"}"#
        )
        .len(),
        1
    );
    assert!(request(
        &mut sim,
        sys,
        "$SYS.REQ.SERVER.PING",
        r#"{"server_name":"srv","exact_match":true}"#
    )
    .iter()
    .all(|o| !matches!(o, ServerOp::Msg { .. })));

    // Bad JSON: the error envelope with Go's text.
    let v = json(&request(&mut sim, sys, "$SYS.REQ.SERVER.PING.VARZ", "{bad}")[0]);
    assert_eq!(v["error"]["code"], 400);
    assert_eq!(
        v["error"]["description"],
        "invalid character 'b' looking for beginning of object key string"
    );

    let v = json(
        &request(
            &mut sim,
            sys,
            "$SYS.REQ.ACCOUNT.PING.STATZ",
            r#"{"accounts":["A"]}"#,
        )[0],
    );
    let statz = v["data"]["account_statz"].as_array().unwrap();
    assert_eq!(statz.len(), 1);
    assert_eq!(statz[0]["acc"], "A");
    assert_eq!(statz[0]["conns"], 1);

    let v = json(&request(&mut sim, sys, "$SYS.REQ.USER.INFO", "")[0]);
    assert_eq!(
        v["data"],
        serde_json::json!({"user": "sys", "account": "SYS", "account_name": "SYS"})
    );
}

#[test]
fn ordinary_accounts_get_their_own_answers_or_no_responders() {
    let mut sim = sim();
    let alice = login(&mut sim, "alice", "a");
    let v = json(&request(&mut sim, alice, "$SYS.REQ.USER.INFO", "")[0]);
    assert_eq!(
        v["data"],
        serde_json::json!({"user": "alice", "account": "A", "account_name": "A"})
    );
    let v = json(
        &request(
            &mut sim,
            alice,
            "$SYS.REQ.ACCOUNT.PING.CONNZ",
            r#"{"auth":true}"#,
        )[0],
    );
    assert_eq!(v["data"]["num_connections"], 1);
    assert_eq!(v["data"]["connections"][0]["account"], "A");
    let ops = request(&mut sim, alice, "$SYS.REQ.SERVER.PING", "");
    assert!(
        matches!(ops.as_slice(), [ServerOp::HMsg { headers, .. }] if headers.starts_with(b"NATS/1.0 503")),
        "{ops:?}"
    );
}

#[test]
fn connect_and_disconnect_events() {
    let mut sim = sim();
    let sys = login(&mut sim, "sys", "s");
    sim.send(
        sys,
        b"SUB $SYS.ACCOUNT.*.CONNECT 1\r\nSUB $SYS.ACCOUNT.*.DISCONNECT 2\r\n",
    );
    let alice = login(&mut sim, "alice", "a");
    sim.send(alice, b"PUB x 3\r\nabc\r\n");
    let ops = sim.ops_new(sys);
    let [ServerOp::Msg {
        subject, payload, ..
    }] = ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(subject, "$SYS.ACCOUNT.A.CONNECT");
    let v: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(v["id"].as_str().unwrap().len(), 22);
    assert_eq!(v["client"]["acc"], "A");
    assert_eq!(v["client"]["user"], "alice");
    assert_eq!(v["client"]["kind"], "Client");
    sim.clients[alice]
        .conn
        .close(natsd_core::CloseReason::ClientClosed);
    sim.drain_all();
    let ops = sim.ops_new(sys);
    let [ServerOp::Msg {
        subject, payload, ..
    }] = ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert_eq!(subject, "$SYS.ACCOUNT.A.DISCONNECT");
    let v: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["type"], "io.nats.server.advisory.v1.client_disconnect");
    assert_eq!(v["reason"], "Client Closed");
    assert_eq!(v["received"], serde_json::json!({"msgs": 1, "bytes": 3}));
}

#[test]
fn kick_and_lame_duck_one_client() {
    let mut sim = sim();
    let sys = login(&mut sim, "sys", "s");
    let alice = login(&mut sim, "alice", "a");
    let v = json(&request(&mut sim, sys, "$SYS.REQ.SERVER.PING.VARZ", "")[0]);
    let id = v["server"]["id"].as_str().unwrap().to_string();
    let cid = sim.clients[alice].conn.cid();

    let v = json(
        &request(
            &mut sim,
            sys,
            &format!("$SYS.REQ.SERVER.{id}.LDM"),
            &format!(r#"{{"cid":{cid}}}"#),
        )[0],
    );
    assert!(v.get("error").is_none() && v.get("data").is_none(), "{v}");
    let ops = sim.ops_new(alice);
    assert!(
        matches!(ops.as_slice(), [ServerOp::Info(i)] if i["ldm"] == true),
        "{ops:?}"
    );

    let v = json(
        &request(
            &mut sim,
            sys,
            &format!("$SYS.REQ.SERVER.{id}.KICK"),
            &format!(r#"{{"cid":{cid}}}"#),
        )[0],
    );
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(
        sim.close_reason(alice),
        Some(natsd_core::CloseReason::Kicked)
    );
    let v = json(
        &request(
            &mut sim,
            sys,
            &format!("$SYS.REQ.SERVER.{id}.KICK"),
            r#"{"cid":9999}"#,
        )[0],
    );
    assert_eq!(v["error"]["code"], 500);
    assert_eq!(v["error"]["description"], "no such client or leafnode id");
    // Without a host, reload is not available.
    let v = json(&request(&mut sim, sys, &format!("$SYS.REQ.SERVER.{id}.RELOAD"), "")[0]);
    assert_eq!(v["error"]["code"], 500);
}

#[test]
fn periodic_statsz_every_ten_seconds() {
    let mut sim = sim();
    let sys = login(&mut sim, "sys", "s");
    sim.send(sys, b"SUB $SYS.SERVER.*.STATSZ 1\r\nPING\r\n");
    assert_eq!(sim.ops_new(sys), vec![ServerOp::Pong]);
    let t0 = sim.now;
    let due = sim
        .server
        .poll_timeout(t0)
        .expect("a system account has timers");
    assert_eq!(due - t0, std::time::Duration::from_secs(10));
    sim.server
        .handle_timeout(t0 + std::time::Duration::from_secs(5));
    sim.drain_all();
    assert!(sim.ops_new(sys).is_empty(), "nothing before it is due");
    sim.server.handle_timeout(due);
    sim.drain_all();
    let ops = sim.ops_new(sys);
    let [ServerOp::Msg {
        subject, payload, ..
    }] = ops.as_slice()
    else {
        panic!("{ops:?}")
    };
    assert!(subject.starts_with("$SYS.SERVER.") && subject.ends_with(".STATSZ"));
    let v: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["statsz"]["connections"], 1);
    assert_eq!(
        sim.server.poll_timeout(due).unwrap() - due,
        std::time::Duration::from_secs(10)
    );
    // No system account, no timers.
    let o = Options {
        no_system_account: true,
        ..Options::default()
    };
    assert!(Sim::new(o).server.poll_timeout(t0).is_none());
}
