//! Accounts from a configuration file (auth.md §8, §11): isolation, stream
//! and service exports/imports (with the `Nats-Request-Info` header and the
//! `_R_` reply), subject mappings, the system account in `/varz` and
//! `/accountz`, and a `$SYS` request from an ordinary account getting no
//! responders. Raw sockets for exact bytes, async-nats for a real client.
//! Runs against every binary; `NATSD_TEST_SERVERS` can point it at
//! nats-server 2.14 to show the expectations are nats-server's.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectOptions;
use futures::StreamExt;
use natsd_tests::{for_each_server, free_port, runtime, RawConn, ServerBin, ServerProcess};
use tokio::time::timeout;

const CONFIG: &str = r#"
accounts {
  A: {
    users: [ {user: alice, password: alicepw} ]
    exports: [
      { stream: "events.>" }
      { service: "help.>" }
    ]
  }
  B: {
    users: [ {user: carol, password: carol} ]
    imports: [
      { stream:  {account: A, subject: "events.>"}, prefix: "fromA" }
      { service: {account: A, subject: "help.>"},   to: "ahelp.>" }
    ]
    mappings: { "old.*": "new.{{wildcard(1)}}" }
  }
  SYS: { users: [ {user: sys, password: sys} ] }
}
system_account: SYS
"#;

fn write_config(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("natsd-accounts-{}-{name}.conf", std::process::id()));
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(bin: &ServerBin, extra: &[&str]) -> (ServerProcess, u16) {
    let conf = write_config(&bin.name, CONFIG);
    let http = free_port();
    let http_s = http.to_string();
    let mut args = vec!["-c", conf.to_str().unwrap(), "-m", &http_s];
    args.extend_from_slice(extra);
    (ServerProcess::start(bin, &args), http)
}

fn login(srv: &ServerProcess, user: &str, pass: &str) -> RawConn {
    let mut c = srv.raw();
    c.send(format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n"
    ));
    c.ping_pong();
    c
}

fn http_get(port: u16, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("monitor port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let json = body.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn isolation_and_stream_import() {
    for_each_server(|bin| {
        let (srv, _) = start(bin, &[]);
        let mut alice = login(&srv, "alice", "alicepw");
        let mut carol = login(&srv, "carol", "carol");
        let mut sys = login(&srv, "sys", "sys");
        carol.send("SUB fromA.events.> 1\r\nSUB events.> 2\r\nSUB secret 3\r\n");
        carol.ping_pong();
        sys.send("SUB fromA.> 1\r\nSUB secret 2\r\n");
        sys.ping_pong();
        alice.send("PUB secret 1\r\nx\r\nPUB events.x 3\r\nabc\r\n");
        alice.ping_pong();
        carol.expect("MSG fromA.events.x 1 3\r\nabc\r\n");
        carol.expect_nothing(Duration::from_millis(200));
        sys.expect_nothing(Duration::from_millis(100));
    });
}

#[test]
fn service_import_request_reply() {
    for_each_server(|bin| {
        let (srv, _) = start(bin, &[]);
        let mut alice = login(&srv, "alice", "alicepw");
        alice.send("SUB help.> 1\r\n");
        alice.ping_pong();
        let mut carol = login(&srv, "carol", "carol");
        carol.send("SUB _INBOX.c 7\r\nPUB ahelp.q _INBOX.c 1\r\n?\r\n");
        let line = String::from_utf8(alice.read_line()).unwrap();
        // HMSG help.q 1 _R_.xxx.yyy <hdr> <total>
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&f[..3], ["HMSG", "help.q", "1"], "[{bin}] {line}");
        assert!(f[3].starts_with("_R_."), "[{bin}] {line}");
        let hdr_len: usize = f[4].parse().unwrap();
        let total: usize = f[5].parse().unwrap();
        let mut body = Vec::new();
        while body.len() < total + 2 {
            body.extend(alice.read_line());
        }
        let headers = String::from_utf8_lossy(&body[..hdr_len]);
        assert!(
            headers.starts_with("NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":"),
            "[{bin}] {headers}"
        );
        assert_eq!(&body[hdr_len..total], b"?", "[{bin}]");
        alice.send(format!("PUB {} 2\r\nok\r\n", f[3]));
        carol.expect("MSG _INBOX.c 7 2\r\nok\r\n");

        // The same through async-nats.
        let rt = runtime();
        rt.block_on(async {
            timeout(Duration::from_secs(20), async {
                let a = ConnectOptions::with_user_and_password("alice".into(), "alicepw".into())
                    .connect(srv.url())
                    .await
                    .unwrap();
                let mut help = a.subscribe("help.>").await.unwrap();
                a.flush().await.unwrap();
                let a2 = a.clone();
                tokio::spawn(async move {
                    while let Some(m) = help.next().await {
                        let info = m
                            .headers
                            .as_ref()
                            .and_then(|h| h.get("Nats-Request-Info"))
                            .map(|v| v.to_string())
                            .unwrap_or_default();
                        let answer = format!("{}:{}", m.subject, info.contains("\"acc\":\"B\""));
                        a2.publish(m.reply.unwrap(), answer.into()).await.unwrap();
                    }
                });
                let c = ConnectOptions::with_user_and_password("carol".into(), "carol".into())
                    .connect(srv.url())
                    .await
                    .unwrap();
                let r = c.request("ahelp.me", "hi".into()).await.unwrap();
                assert_eq!(&r.payload[..], b"help.me:true", "[{bin}]");
                // Not exported under that name: nobody answers.
                let e = c.request("help.me", "hi".into()).await.unwrap_err();
                assert!(e.to_string().contains("no responders"), "[{bin}] {e}");
            })
            .await
            .unwrap_or_else(|_| panic!("[{bin}] timed out"));
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

#[test]
fn account_mapping() {
    for_each_server(|bin| {
        let (srv, _) = start(bin, &[]);
        let mut carol = login(&srv, "carol", "carol");
        carol.send("SUB new.* 1\r\nSUB old.* 2\r\nPUB old.x 1\r\n!\r\n");
        carol.expect("MSG new.x 1 1\r\n!\r\n");
        carol.expect_nothing(Duration::from_millis(100));
    });
}

#[test]
fn system_account_in_monitoring_and_sys_requests() {
    for_each_server(|bin| {
        let (srv, http) = start(bin, &[]);
        let varz = http_get(http, "/varz");
        assert_eq!(varz["system_account"], "SYS", "[{bin}]");
        let accountz = http_get(http, "/accountz");
        let mut names: Vec<String> = accountz["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["$G", "A", "B", "SYS"], "[{bin}]");
        assert_eq!(accountz["system_account"], "SYS", "[{bin}]");
        let _carol = login(&srv, "carol", "carol");
        let detail = http_get(http, "/accountz?acc=B");
        assert_eq!(detail["account_detail"]["account_name"], "B", "[{bin}]");
        assert_eq!(detail["account_detail"]["client_connections"], 1, "[{bin}]");
        let connz = http_get(http, "/connz?acc=B&auth=true");
        assert_eq!(connz["num_connections"], 1, "[{bin}]");
        assert_eq!(connz["connections"][0]["account"], "B", "[{bin}]");

        // A $SYS request from an ordinary account reaches nobody.
        let rt = runtime();
        rt.block_on(async {
            timeout(Duration::from_secs(20), async {
                let c = ConnectOptions::with_user_and_password("carol".into(), "carol".into())
                    .connect(srv.url())
                    .await
                    .unwrap();
                let e = c
                    .request("$SYS.REQ.SERVER.PING", "".into())
                    .await
                    .unwrap_err();
                assert!(e.to_string().contains("no responders"), "[{bin}] {e}");

                // The system account's user gets the server's answers.
                let sys = ConnectOptions::with_user_and_password("sys".into(), "sys".into())
                    .connect(srv.url())
                    .await
                    .unwrap();
                let r = sys
                    .request("$SYS.REQ.SERVER.PING", "".into())
                    .await
                    .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                assert!(v["server"]["id"].is_string(), "[{bin}] {v}");
                assert!(
                    v["statsz"]["connections"].as_u64().unwrap() >= 2,
                    "[{bin}] {v}"
                );
                let r = sys
                    .request("$SYS.REQ.SERVER.PING.VARZ", "{}".into())
                    .await
                    .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                assert_eq!(v["data"]["system_account"], "SYS", "[{bin}] {v}");
                let r = sys.request("$SYS.REQ.USER.INFO", "".into()).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                assert_eq!(v["data"]["user"], "sys", "[{bin}] {v}");
                assert_eq!(v["data"]["account"], "SYS", "[{bin}] {v}");
                let r = c.request("$SYS.REQ.USER.INFO", "".into()).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                assert_eq!(v["data"]["account"], "B", "[{bin}] {v}");

                // Connect and disconnect events reach the system account.
                let mut events = sys.subscribe("$SYS.ACCOUNT.A.>").await.unwrap();
                sys.flush().await.unwrap();
                let a = ConnectOptions::with_user_and_password("alice".into(), "alicepw".into())
                    .connect(srv.url())
                    .await
                    .unwrap();
                // (nats-server also sends `$SYS.ACCOUNT.A.SERVER.CONNS`.)
                let mut next_event = async || loop {
                    let m = events.next().await.unwrap();
                    if !m.subject.ends_with(".SERVER.CONNS") {
                        return m;
                    }
                };
                let m = next_event().await;
                assert_eq!(m.subject.as_str(), "$SYS.ACCOUNT.A.CONNECT", "[{bin}]");
                drop(a);
                let m = next_event().await;
                assert_eq!(m.subject.as_str(), "$SYS.ACCOUNT.A.DISCONNECT", "[{bin}]");
                let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                assert_eq!(v["client"]["user"], "alice", "[{bin}] {v}");
            })
            .await
            .unwrap_or_else(|_| panic!("[{bin}] timed out"));
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
}

/// `$SYS.REQ.SERVER.<id>.KICK` closes one client (reason `Kicked`) and
/// `.RELOAD` re-reads the configuration, both answered with the bare
/// `{"server":…}` envelope.
#[test]
fn kick_and_reload_through_sys() {
    for_each_server(|bin| {
        let (srv, http) = start(bin, &[]);
        let mut carol = login(&srv, "carol", "carol");
        let connz = http_get(http, "/connz?acc=B");
        let cid = connz["connections"][0]["cid"].as_u64().unwrap();
        let id = http_get(http, "/varz")["server_id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut sys = login(&srv, "sys", "sys");
        let mut ask = |subject: String, body: String| -> serde_json::Value {
            // nats-server answers asynchronously: unsubscribe after the answer.
            sys.send(format!(
                "SUB _INBOX.k 5\r\nPUB {subject} _INBOX.k {}\r\n{body}\r\n",
                body.len()
            ));
            let line = String::from_utf8(sys.read_line_skip_ping()).unwrap();
            assert!(line.starts_with("MSG _INBOX.k 5"), "[{bin}] {line}");
            let json = String::from_utf8(sys.read_line()).unwrap();
            sys.send("UNSUB 5\r\n");
            serde_json::from_str(json.trim_end()).unwrap()
        };
        let v = ask(
            format!("$SYS.REQ.SERVER.{id}.KICK"),
            format!("{{\"cid\":{cid}}}"),
        );
        assert!(v.get("error").is_none(), "[{bin}] {v}");
        assert_eq!(carol.read_to_close(), b"", "[{bin}] kicked without a word");
        // The socket closes first; the closed-connection entry follows
        // once the connection's owner has torn it down (async-std: the
        // reader task, woken by the EOF the writer's shutdown causes).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let reason = loop {
            let closed = http_get(http, &format!("/connz?state=closed&cid={cid}"));
            let reason = closed["connections"][0]["reason"].clone();
            if !reason.is_null() || std::time::Instant::now() > deadline {
                break reason;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(reason, "Kicked", "[{bin}]");
        let v = ask(
            format!("$SYS.REQ.SERVER.{id}.KICK"),
            "{\"cid\":999999}".into(),
        );
        assert_eq!(v["error"]["code"], 500, "[{bin}] {v}");
        let v = ask(format!("$SYS.REQ.SERVER.{id}.RELOAD"), String::new());
        assert!(v.get("error").is_none(), "[{bin}] {v}");
        assert!(v["server"]["id"].is_string(), "[{bin}] {v}");
    });
}
