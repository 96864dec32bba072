//! Raw-socket protocol tests: exact bytes on the wire (client-protocol.md).

use std::time::Duration;

use natsd_tests::{for_each_server, show, Cases, RawConn, ServerProcess};

const QUIET: &str = "CONNECT {\"verbose\":false}\r\n";
const QUIET_HDRS: &str = "CONNECT {\"verbose\":false,\"headers\":true}\r\n";

/// A connection that sent `CONNECT {"verbose":false}` and got through a PING fence.
fn quiet(srv: &ServerProcess) -> RawConn {
    let mut c = srv.raw();
    c.send(QUIET);
    c.ping_pong();
    c
}

fn quiet_headers(srv: &ServerProcess) -> RawConn {
    let mut c = srv.raw();
    c.send(QUIET_HDRS);
    c.ping_pong();
    c
}

/// The INFO fields every client-facing INFO must carry (values that legitimately differ
/// between natsd and nats-server, like `version` or `go`, are only type-checked).
fn check_info_fields(server: &str, port: u16, info: &serde_json::Value) {
    let sid = info["server_id"]
        .as_str()
        .unwrap_or_else(|| panic!("[{server}] INFO server_id missing: {info}"));
    assert!(
        sid.len() == 56 && sid.starts_with('N'),
        "[{server}] INFO server_id must be a 56-char N... nkey: {sid:?}"
    );
    assert!(
        info["server_name"].is_string(),
        "[{server}] INFO server_name missing: {info}"
    );
    assert!(
        info["version"].as_str().is_some_and(|v| !v.is_empty()),
        "[{server}] INFO version missing: {info}"
    );
    assert_eq!(info["proto"], 1, "[{server}] INFO proto: {info}");
    assert!(info["go"].is_string(), "[{server}] INFO go missing: {info}");
    assert_eq!(info["host"], "127.0.0.1", "[{server}] INFO host: {info}");
    assert_eq!(info["port"], port, "[{server}] INFO port: {info}");
    assert_eq!(info["headers"], true, "[{server}] INFO headers: {info}");
    assert_eq!(
        info["max_payload"], 1048576,
        "[{server}] INFO max_payload: {info}"
    );
    assert!(
        info["client_id"].is_u64(),
        "[{server}] INFO client_id must be an unsigned integer: {info}"
    );
    assert_eq!(
        info["client_ip"], "127.0.0.1",
        "[{server}] INFO client_ip: {info}"
    );
    assert!(
        info.get("auth_required").is_none(),
        "[{server}] INFO auth_required on a server without auth: {info}"
    );
    assert!(
        info.get("connect_info").is_none(),
        "[{server}] first INFO must not carry connect_info: {info}"
    );
}

/// client-protocol.md §17, the plain-server transcript, byte for byte (INFO JSON
/// checked field by field).
#[test]
fn transcript_section_17() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        let info = c.info();
        check_info_fields(&c.server, srv.port(), &info);

        c.send("CONNECT {\"verbose\":true,\"pedantic\":true,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"name\":\"demo\",\"lang\":\"raw\",\"version\":\"0\"}\r\n");
        c.expect("+OK\r\n");
        c.send("PING\r\n");
        c.expect("PONG\r\n");
        // 2.14: the first PONG to a protocol-1 client is followed by an INFO with connect_info.
        let info2 = c.expect_info();
        assert_eq!(
            info2["connect_info"], true,
            "[{bin}] post-PONG INFO: {info2}"
        );
        assert_eq!(
            info2["remote_account"], "$G",
            "[{bin}] post-PONG INFO: {info2}"
        );
        assert_eq!(
            info2["client_id"], info["client_id"],
            "[{bin}] post-PONG INFO client_id: {info2}"
        );
        assert_eq!(
            info2["server_id"], info["server_id"],
            "[{bin}] post-PONG INFO server_id: {info2}"
        );
        // Only the first PONG carries it.
        c.ping_pong();

        c.send("SUB greet.* 1\r\n");
        c.expect("+OK\r\n");
        c.send("SUB greet.* workers 2\r\n");
        c.expect("+OK\r\n");
        c.send("PUB greet.joe reply.1 5\r\nhello\r\n");
        c.expect("+OK\r\n");
        c.expect("MSG greet.joe 1 reply.1 5\r\nhello\r\n");
        c.expect("MSG greet.joe 2 reply.1 5\r\nhello\r\n");
        c.send("HPUB greet.ann 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        c.expect("+OK\r\n");
        c.expect("HMSG greet.ann 1 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        c.expect("HMSG greet.ann 2 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        c.send("SUB _INBOX.r1 3\r\n");
        c.expect("+OK\r\n");
        c.send("PUB nobody.home _INBOX.r1 0\r\n\r\n");
        c.expect("+OK\r\n");
        c.expect("HMSG _INBOX.r1 3 43 43\r\nNATS/1.0 503\r\nNats-Subject: nobody.home\r\n\r\n\r\n");
        c.send("UNSUB 1 1\r\n");
        c.expect("+OK\r\n");
        c.send("PUB greet.x 1\r\n!\r\n");
        c.expect("+OK\r\n");
        c.expect("MSG greet.x 2 1\r\n!\r\n");
        c.send("PUB greet.* 1\r\n!\r\n");
        c.expect("-ERR 'Invalid Publish Subject'\r\n");
        c.expect("+OK\r\n");
        c.expect("MSG greet.* 2 1\r\n!\r\n");
        c.send("SUB bad..subject 9\r\n");
        c.expect("-ERR 'Invalid Subject'\r\n");
        c.ping_pong();
        c.send("PUB greet.y 2000000\r\n");
        c.expect_then_closed("-ERR 'Maximum Payload Violation'\r\n");
    });
}

/// A connection-closing case: what to send (after an optional CONNECT) and the
/// `-ERR` expected before the close (None: silent close).
struct Closing {
    name: &'static str,
    connect: Option<&'static str>,
    send: Vec<u8>,
    err: Option<&'static str>,
}

fn closing(
    name: &'static str,
    connect: Option<&'static str>,
    send: impl Into<Vec<u8>>,
    err: Option<&'static str>,
) -> Closing {
    Closing {
        name,
        connect,
        send: send.into(),
        err,
    }
}

const UPO: Option<&str> = Some("Unknown Protocol Operation");

fn closing_cases() -> Vec<Closing> {
    let q = Some(QUIET);
    let qh = Some(QUIET_HDRS);
    let a4095 = "a".repeat(4095);
    vec![
        closing("unknown op", q, "FOO bar\r\n", UPO),
        closing("unknown op before CONNECT", None, "FOO bar\r\n", UPO),
        closing(
            "payload longer than size",
            q,
            "PUB foo 5\r\nhelloXX\r\n",
            UPO,
        ),
        closing(
            "payload shorter than size",
            q,
            "PUB foo 5\r\nhel\r\nPING\r\n",
            UPO,
        ),
        closing(
            "payload ended by bare LF",
            q,
            "PUB foo 5\r\nhello\nPING\r\n",
            UPO,
        ),
        closing("empty line", q, "\r\n", UPO),
        closing("leading space before op", q, " PING\r\n", UPO),
        closing("op glued to subject", q, "PUBfoo 1\r\n!\r\n", UPO),
        closing("client sends MSG", q, "MSG foo 1 2\r\nhi\r\n", UPO),
        closing(
            "client sends HMSG",
            qh,
            "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
            UPO,
        ),
        closing("UNSUB without args", q, "UNSUB\r\n", UPO),
        closing("route op RS+", q, "RS+ $G foo\r\n", UPO),
        closing("route op RMSG", q, "RMSG $G foo 2\r\nhi\r\n", UPO),
        closing("leaf op LS+", q, "LS+ $G foo\r\n", UPO),
        closing(
            "control line 4097 (SUB)",
            q,
            format!("SUB {a4095} 1\r\n"),
            Some("maximum control line exceeded"),
        ),
        closing(
            "control line 4097 (PUB)",
            q,
            format!("PUB {a4095} 1\r\n!\r\n"),
            Some("maximum control line exceeded"),
        ),
        closing(
            "control line 4097 (CONNECT)",
            None,
            format!("CONNECT {{\"name\":\"{}\"}}\r\n", "n".repeat(4097 - 11)),
            Some("maximum control line exceeded"),
        ),
        closing(
            "incomplete 5000-byte control line",
            q,
            format!("SUB {}", "a".repeat(5000)),
            Some("maximum control line exceeded"),
        ),
        closing(
            "PUB over max_payload",
            q,
            "PUB foo 1048577\r\n",
            Some("Maximum Payload Violation"),
        ),
        closing(
            "PUB far over max_payload",
            q,
            "PUB foo 999999999\r\n",
            Some("Maximum Payload Violation"),
        ),
        closing(
            "HPUB total over max_payload",
            qh,
            "HPUB foo 12 1048577\r\n",
            Some("Maximum Payload Violation"),
        ),
        closing(
            "CONNECT protocol 2",
            None,
            "CONNECT {\"protocol\":2}\r\n",
            Some("invalid client protocol"),
        ),
        closing(
            "CONNECT protocol -1",
            None,
            "CONNECT {\"protocol\":-1}\r\n",
            Some("invalid client protocol"),
        ),
        closing(
            "no_responders without headers",
            None,
            "CONNECT {\"no_responders\":true,\"headers\":false}\r\n",
            Some("no responders requires headers support"),
        ),
        closing(
            "no_responders, headers absent",
            None,
            "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n",
            Some("no responders requires headers support"),
        ),
        closing(
            "CONNECT with account",
            None,
            "CONNECT {\"account\":\"A\"}\r\n",
            Some("Authorization Violation"),
        ),
        closing(
            "CONNECT with new_account",
            None,
            "CONNECT {\"new_account\":true}\r\n",
            Some("Authorization Violation"),
        ),
        // Silent closes (no -ERR).
        closing("PUB without size", q, "PUB foo\r\n", None),
        closing("PUB with 4 args", q, "PUB a b c 1\r\n", None),
        closing("PUB negative size", q, "PUB foo -1\r\n", None),
        closing("PUB non-digit size", q, "PUB foo 1a\r\n", None),
        closing("PUB 10-digit size", q, "PUB foo 1234567890\r\n", None),
        closing("SUB with 1 arg", q, "SUB foo\r\n", None),
        closing("SUB with 4 args", q, "SUB foo q 1 2\r\n", None),
        closing("UNSUB with 3 args", q, "UNSUB 1 2 3\r\n", None),
        closing("HPUB hdr > total", qh, "HPUB foo 5 3\r\nabc\r\n", None),
        closing("HPUB one size only", qh, "HPUB foo 3\r\nabc\r\n", None),
        closing(
            "HPUB without headers:true",
            q,
            "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
            None,
        ),
        closing("invalid CONNECT JSON", None, "CONNECT {bad\r\n", None),
        closing("invalid client INFO JSON", q, "INFO {bad\r\n", None),
        closing("client sends -ERR", q, "-ERR 'oops'\r\n", None),
    ]
}

/// Every error that closes the connection (§11, §17), each on a fresh connection.
#[test]
fn errors_that_close() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut cases = Cases::default();
        for case in closing_cases() {
            cases.run(case.name, || {
                let mut c = srv.raw();
                c.server = format!("{bin}: {}", case.name);
                if let Some(connect) = case.connect {
                    c.send(connect);
                    c.ping_pong();
                }
                c.send(&case.send);
                match case.err {
                    Some(err) => c.expect_then_closed(format!("-ERR '{err}'\r\n")),
                    None => c.expect_closed(),
                }
            });
        }
        // The server is still fine after all that.
        let mut c = quiet(&srv);
        c.send("SUB ok 1\r\nPUB ok 2\r\nok\r\n");
        c.expect("MSG ok 1 2\r\nok\r\n");
        cases.finish(bin);
    });
}

/// Arg part of exactly 4096 bytes is accepted (for SUB, PUB and CONNECT).
#[test]
fn control_line_4096_accepted() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        // `{"verbose":false,"name":"nnn..."}` = 4096 bytes.
        let name = "n".repeat(4096 - 27);
        let connect = format!("{{\"verbose\":false,\"name\":\"{name}\"}}");
        assert_eq!(connect.len(), 4096);
        c.send(format!("CONNECT {connect}\r\n"));
        c.ping_pong();
        let subj = "a".repeat(4094);
        c.send(format!("SUB {subj} 1\r\n"));
        c.send(format!("PUB {subj} 1\r\n!\r\n"));
        c.expect(format!("MSG {subj} 1 1\r\n!\r\n"));
        // Tabs/spaces after the op do not count; the 4097th arg byte does.
        c.send(format!("PUB  \t{subj} 1\r\n!\r\n"));
        c.expect(format!("MSG {subj} 1 1\r\n!\r\n"));
        c.ping_pong();
    });
}

/// Errors that keep the connection open: Invalid Subject, Invalid Publish Subject (pedantic,
/// message still delivered, +OK in verbose), non-pedantic literal wildcard publishing.
#[test]
fn errors_that_keep_connection_open() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);

        // Invalid subscription subjects.
        let mut c = quiet(&srv);
        for (i, subj) in [
            "bad..subject",
            "foo.>.bar",
            ".foo",
            "foo.",
            ">.foo",
            "foo..",
            ".",
        ]
        .iter()
        .enumerate()
        {
            c.send(format!("SUB {subj} {i}\r\n"));
            c.expect("-ERR 'Invalid Subject'\r\n");
        }
        c.ping_pong();
        // Same in verbose mode: -ERR and no +OK.
        c.send("CONNECT {\"verbose\":true}\r\n");
        c.expect("+OK\r\n");
        c.send("SUB a..b 77\r\n");
        c.expect("-ERR 'Invalid Subject'\r\n");
        c.ping_pong();
        // The failed SUBs did not register anything; the connection still works.
        c.send("SUB ok 1\r\nPUB ok 2\r\nok\r\n");
        c.expect("+OK\r\n+OK\r\nMSG ok 1 2\r\nok\r\n");
        // Queue group names are not validated.
        c.send("SUB qq q.* 2\r\nPUB qq 1\r\n!\r\n");
        c.expect("+OK\r\n+OK\r\nMSG qq 2 1\r\n!\r\n");

        // Pedantic (the CONNECT default) + verbose: -ERR, then +OK, then the delivery.
        let mut p = srv.raw();
        p.send("CONNECT {}\r\n");
        p.expect("+OK\r\n");
        p.send("SUB > 1\r\n");
        p.expect("+OK\r\n");
        p.send("PUB a.* 1\r\n!\r\n");
        p.expect("-ERR 'Invalid Publish Subject'\r\n");
        p.expect("+OK\r\n");
        p.expect("MSG a.* 1 1\r\n!\r\n");
        p.send("PUB a.> 1\r\n!\r\n");
        p.expect("-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG a.> 1 1\r\n!\r\n");
        // Empty token: error, +OK, delivered to nobody (not even `>`).
        p.send("PUB a..b 1\r\n!\r\n");
        p.expect("-ERR 'Invalid Publish Subject'\r\n+OK\r\n");
        p.ping_pong();
        // Reply subjects are never validated.
        p.send("PUB x r.* 1\r\n!\r\n");
        p.expect("+OK\r\nMSG x 1 r.* 1\r\n!\r\n");
        // A separate (non-pedantic) subscriber also got the pedantic publisher's message.
        let mut s = srv.raw();
        s.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB a.> 5\r\n");
        s.ping_pong();
        p.send("PUB a.* 1\r\n!\r\n");
        p.expect("-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG a.* 1 1\r\n!\r\n");
        s.expect("MSG a.* 5 1\r\n!\r\n");

        // Non-pedantic: accepted silently, matched literally.
        s.send("PUB a.* 1\r\n!\r\n");
        s.expect("MSG a.* 5 1\r\n!\r\n");
        s.send("PUB a..b 1\r\n!\r\n");
        s.ping_pong();
        p.expect("MSG a.* 1 1\r\n!\r\n");
        p.ping_pong();
        p.expect_nothing(Duration::from_millis(50));
    });
}

/// Verbose mode: +OK after CONNECT/SUB/UNSUB/PUB/HPUB (also duplicate sid, unknown sid),
/// queued before the MSG it causes; no +OK for PING/PONG.
#[test]
fn verbose_ok_ordering() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":true,\"pedantic\":false,\"headers\":true}\r\n");
        c.expect("+OK\r\n");
        c.send(
            "SUB foo 1\r\nSUB foo 1\r\nUNSUB 99\r\nPUB foo 2\r\nhi\r\nPING\r\nPONG\r\n\
             HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1\r\nPUB foo 2\r\nhi\r\nPING\r\n",
        );
        c.expect(
            "+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n\
             +OK\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n+OK\r\n+OK\r\nPONG\r\n",
        );
        c.expect_nothing(Duration::from_millis(50));

        // No CONNECT at all: the defaults apply, verbose included.
        let mut d = srv.raw();
        d.send("SUB bar 1\r\n");
        d.expect("+OK\r\n");
        d.send("PUB bar 1\r\n!\r\n");
        d.expect("+OK\r\nMSG bar 1 1\r\n!\r\n");
        d.ping_pong();
        // A later CONNECT re-applies options.
        d.send(QUIET);
        d.send("PUB bar 1\r\n!\r\n");
        d.expect("MSG bar 1 1\r\n!\r\n");
        d.ping_pong();
    });
}

/// PING before any CONNECT (no auth configured) → PONG; PING/PONG/+OK variants.
#[test]
fn ping_pong_variants() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("PING\r\n");
        c.expect("PONG\r\n");
        c.send("PING xyz\r\nPINGxyz\r\nping\r\nPing\n");
        c.expect("PONG\r\nPONG\r\nPONG\r\nPONG\r\n");
        // Client PONG and +OK are ignored.
        c.send("PONG\r\n+OK\r\npong\r\n");
        c.ping_pong();
        c.expect_nothing(Duration::from_millis(50));
        // A client INFO with valid JSON is ignored.
        c.send("INFO {\"server_id\":\"x\"}\r\n");
        c.ping_pong();
    });
}

/// Op names are case-insensitive; tabs and multiple spaces separate; trailing spaces are
/// ignored; `CONNECT{...}` needs no space.
#[test]
fn case_insensitive_ops_and_separators() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send(
            "cOnNeCt {\"verbose\":false,\"headers\":true}\r\nsub foo 1\r\npUb foo 2\r\nhi\r\n\
             hPuB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUnSuB 1\r\npub foo 2\r\nhi\r\nping\r\n",
        );
        c.expect("MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n");
        c.send("SUB\tbar \t 2\r\nPUB  bar\t\trep   2  \r\nhi\r\nSUB baz 3   \r\nPUB baz 0\r\n\r\nPING\r\n");
        c.expect("MSG bar 2 rep 2\r\nhi\r\nMSG baz 3 0\r\n\r\nPONG\r\n");

        let mut d = srv.raw();
        d.send("CONNECT{\"verbose\":false}\r\nPING\r\n");
        d.expect("PONG\r\n");
    });
}

/// Control lines may end with a bare LF; payloads must end with CRLF.
#[test]
fn lf_only_control_lines() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":false}\nSUB foo 1\nPUB foo 2\nhi\r\nUNSUB 1 5\nPUB foo 0\n\r\nPING\n");
        c.expect("MSG foo 1 2\r\nhi\r\nMSG foo 1 0\r\n\r\nPONG\r\n");
        c.send("PUB foo 2\nhi\nPING\r\n");
        c.expect_then_closed("-ERR 'Unknown Protocol Operation'\r\n");
    });
}

/// Every frame split at every byte boundary.
#[test]
fn frames_split_byte_by_byte() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send_bytewise(
            b"CONNECT {\"verbose\":true,\"headers\":true}\r\nSUB foo.* 1\r\nSUB foo.* q 2\r\nPUB foo.a r 5\r\nhello\r\n\
              HPUB foo.b 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\nUNSUB 1\r\nPUB foo.c 3\r\nabc\r\nPING\r\n",
        );
        c.expect(
            "+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG foo.a 1 r 5\r\nhello\r\nMSG foo.a 2 r 5\r\nhello\r\n\
             +OK\r\nHMSG foo.b 1 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\nHMSG foo.b 2 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n\
             +OK\r\n+OK\r\nMSG foo.c 2 3\r\nabc\r\nPONG\r\n",
        );
    });
}

/// Thousands of frames in one write, processed strictly in order.
#[test]
fn many_pipelined_frames_in_one_write() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut other = quiet(&srv);
        other.send("SUB pipe.* 9\r\n");
        other.ping_pong();

        let mut c = srv.raw();
        const N: usize = 3000;
        let mut out = String::from("CONNECT {\"verbose\":false}\r\nSUB pipe.* 1\r\n");
        let mut want = String::new();
        let mut want_other = String::new();
        for i in 0..N {
            let payload = format!("m{i}");
            out.push_str(&format!(
                "PUB pipe.{} {}\r\n{payload}\r\n",
                i % 7,
                payload.len()
            ));
            want.push_str(&format!(
                "MSG pipe.{} 1 {}\r\n{payload}\r\n",
                i % 7,
                payload.len()
            ));
            want_other.push_str(&format!(
                "MSG pipe.{} 9 {}\r\n{payload}\r\n",
                i % 7,
                payload.len()
            ));
            if i % 1000 == 999 {
                out.push_str("PING\r\n");
                want.push_str("PONG\r\n");
            }
        }
        out.push_str("UNSUB 1\r\nPUB pipe.x 1\r\n!\r\nPING\r\n");
        want.push_str("PONG\r\n");
        want_other.push_str("MSG pipe.x 9 1\r\n!\r\n");
        c.send(out);
        c.expect(want);
        other.expect(want_other);
        other.ping_pong();
    });
}

/// A duplicate sid is a no-op (the first subscription keeps its subject).
#[test]
fn duplicate_sid() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":true}\r\n");
        c.expect("+OK\r\n");
        c.send("SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\nPING\r\n");
        c.expect("+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\nf\r\nPONG\r\n");
        // sids are arbitrary tokens, echoed verbatim.
        c.send("SUB baz abc.def\r\nPUB baz 1\r\nz\r\nPING\r\n");
        c.expect("+OK\r\n+OK\r\nMSG baz abc.def 1\r\nz\r\nPONG\r\n");
        // Two matching subscriptions on one connection: two copies.
        c.send("SUB f* 2\r\nSUB f* 3\r\nPUB f* 1\r\nx\r\nPING\r\n");
        c.expect("+OK\r\n+OK\r\n+OK\r\n");
        let mut got = vec![
            c.read_line_skip_ping(),
            c.read_line_skip_ping(),
            c.read_line_skip_ping(),
            c.read_line_skip_ping(),
        ];
        got.sort();
        assert_eq!(
            got,
            vec![
                b"MSG f* 2 1\r\n".to_vec(),
                b"MSG f* 3 1\r\n".to_vec(),
                b"x\r\n".to_vec(),
                b"x\r\n".to_vec()
            ],
            "[{bin}] two subscriptions, two copies"
        );
        c.expect("PONG\r\n");
    });
}

/// UNSUB of an unknown sid is ignored (+OK in verbose), the connection stays open.
#[test]
fn unsub_unknown_sid() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":true}\r\n");
        c.expect("+OK\r\n");
        c.send("UNSUB 42\r\nUNSUB 42 5\r\nUNSUB nope 0\r\nPING\r\n");
        c.expect("+OK\r\n+OK\r\n+OK\r\nPONG\r\n");
        c.send("SUB a 1\r\nPUB a 1\r\n!\r\n");
        c.expect("+OK\r\n+OK\r\nMSG a 1 1\r\n!\r\n");
    });
}

/// UNSUB sid N: removed after N deliveries in total, or at once if N is already reached.
#[test]
fn unsub_with_max() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = quiet(&srv);
        // Max already reached → removed immediately.
        c.send("SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\n");
        c.expect("MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\n");
        c.send("UNSUB 1 1\r\nPUB foo 1\r\nc\r\nPING\r\n");
        c.expect("PONG\r\n");
        c.send("SUB foo2 11\r\nPUB foo2 1\r\na\r\nUNSUB 11 1\r\nPUB foo2 1\r\nb\r\nPING\r\n");
        c.expect("MSG foo2 11 1\r\na\r\nPONG\r\n");
        // Max not reached yet: counts deliveries so far.
        c.send("SUB bar 2\r\nPUB bar 1\r\n1\r\nUNSUB 2 3\r\n");
        for i in 2..=5 {
            c.send(format!("PUB bar 1\r\n{i}\r\n"));
        }
        c.send("PING\r\n");
        c.expect("MSG bar 2 1\r\n1\r\nMSG bar 2 1\r\n2\r\nMSG bar 2 1\r\n3\r\nPONG\r\n");
        // UNSUB sid 0 removes at once.
        c.send("SUB baz 3\r\nUNSUB 3 0\r\nPUB baz 1\r\n!\r\nPING\r\n");
        c.expect("PONG\r\n");
        // Auto-unsubscribe set before any delivery, publisher on another connection.
        let mut p = quiet(&srv);
        c.send("SUB q 4\r\nUNSUB 4 2\r\n");
        c.ping_pong();
        p.send("PUB q 1\r\n1\r\nPUB q 1\r\n2\r\nPUB q 1\r\n3\r\nPING\r\n");
        p.expect("PONG\r\n");
        c.expect("MSG q 4 1\r\n1\r\nMSG q 4 1\r\n2\r\n");
        c.ping_pong();
        // The sid is free again afterwards.
        c.send("SUB q2 4\r\nPUB q2 1\r\nx\r\n");
        c.expect("MSG q2 4 1\r\nx\r\n");
    });
}

/// Headers: HPUB to a subscriber without headers support arrives as MSG with the payload
/// only; HPUB with 0 header bytes arrives as MSG; header bytes are not validated.
#[test]
fn hpub_delivery() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut plain = quiet(&srv);
        plain.send("SUB hh 1\r\n");
        plain.ping_pong();
        let mut h = quiet_headers(&srv);
        h.send("SUB hh 7\r\n");
        h.ping_pong();

        h.send("HPUB hh 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        plain.expect("MSG hh 1 2\r\nhi\r\n");
        h.expect("HMSG hh 7 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");

        h.send("HPUB hh rep 21 21\r\nNATS/1.0\r\nX-Id: 7\r\n\r\n\r\n");
        plain.expect("MSG hh 1 rep 0\r\n\r\n");
        h.expect("HMSG hh 7 rep 21 21\r\nNATS/1.0\r\nX-Id: 7\r\n\r\n\r\n");

        h.send("HPUB hh 0 2\r\nhi\r\n");
        plain.expect("MSG hh 1 2\r\nhi\r\n");
        h.expect("MSG hh 7 2\r\nhi\r\n");

        h.send("HPUB hh 5 7\r\nabcdehi\r\n");
        plain.expect("MSG hh 1 2\r\nhi\r\n");
        h.expect("HMSG hh 7 5 7\r\nabcdehi\r\n");

        // PUB is delivered as MSG to a headers subscriber.
        plain.send("PUB hh 2\r\nhi\r\n");
        plain.expect("MSG hh 1 2\r\nhi\r\n");
        h.expect("MSG hh 7 2\r\nhi\r\n");
        plain.ping_pong();
        h.ping_pong();
    });
}

/// No-responders 503: only with no_responders + headers and a plain subscription of the
/// publisher matching the reply subject.
#[test]
fn no_responders_status() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        c.send("CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n");
        c.send("SUB _INBOX.x.* 4\r\nPUB nobody _INBOX.x.1 0\r\n\r\n");
        c.expect("HMSG _INBOX.x.1 4 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n");
        c.send("HPUB nobody.h _INBOX.x.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        c.expect("HMSG _INBOX.x.2 4 40 40\r\nNATS/1.0 503\r\nNats-Subject: nobody.h\r\n\r\n\r\n");
        // No subscription matching the reply: nothing.
        c.send("PUB nobody other.reply 0\r\n\r\nPING\r\n");
        c.expect("PONG\r\n");
        // Someone listens: a normal delivery, no 503.
        let mut s = quiet(&srv);
        s.send("SUB svc 1\r\n");
        s.ping_pong();
        c.send("PUB svc _INBOX.x.3 2\r\nrq\r\nPING\r\n");
        c.expect("PONG\r\n");
        s.expect("MSG svc 1 _INBOX.x.3 2\r\nrq\r\n");

        // Without no_responders: nothing.
        let mut d = quiet_headers(&srv);
        d.send("SUB _INBOX.y.* 1\r\nPUB nobody _INBOX.y.1 0\r\n\r\nPING\r\n");
        d.expect("PONG\r\n");
        d.expect_nothing(Duration::from_millis(50));
    });
}

/// Zero-length payload, exactly max_payload delivered, one byte more rejected.
#[test]
fn payload_sizes() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = quiet(&srv);
        c.send("SUB big 1\r\nPUB big 0\r\n\r\n");
        c.expect("MSG big 1 0\r\n\r\n");
        let payload: Vec<u8> = (0..1048576u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut frame = b"PUB big 1048576\r\n".to_vec();
        frame.extend_from_slice(&payload);
        frame.extend_from_slice(b"\r\n");
        c.send(&frame);
        let mut want = b"MSG big 1 1048576\r\n".to_vec();
        want.extend_from_slice(&payload);
        want.extend_from_slice(b"\r\n");
        c.expect(&want);
        c.ping_pong();
        // HPUB total exactly max_payload.
        let mut h = quiet_headers(&srv);
        h.send("SUB hbig 2\r\n");
        let hdr = b"NATS/1.0\r\n\r\n";
        let mut frame = format!("HPUB hbig {} 1048576\r\n", hdr.len()).into_bytes();
        frame.extend_from_slice(hdr);
        frame.extend_from_slice(&payload[..1048576 - hdr.len()]);
        frame.extend_from_slice(b"\r\n");
        h.send(&frame);
        let got = h.read_line();
        assert_eq!(
            got,
            format!("HMSG hbig 2 {} 1048576\r\n", hdr.len()).into_bytes(),
            "[{bin}] {}",
            show(&got)
        );
        let mut want = hdr.to_vec();
        want.extend_from_slice(&payload[..1048576 - hdr.len()]);
        want.extend_from_slice(b"\r\n");
        h.expect(&want);
        // One byte over.
        c.send("PUB big 1048577\r\n");
        c.expect_then_closed("-ERR 'Maximum Payload Violation'\r\n");
    });
}

/// Subject matching: `*`, `>`, case sensitivity, `foo*` is a literal token.
#[test]
fn subject_matching() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = quiet(&srv);
        c.send("SUB a.*.c 1\r\nSUB a.> 2\r\nSUB > 3\r\nSUB Foo 4\r\nSUB foo* 5\r\n");
        for s in ["a.b.c", "a", "a.b.c.d", "foo", "Foo", "foox", "foo*", "a.b"] {
            c.send(format!("PUB {s} 1\r\n!\r\n"));
        }
        c.send("PING\r\n");
        let mut got = Vec::new();
        loop {
            let l = c.read_line_skip_ping();
            if l == b"PONG\r\n" {
                break;
            }
            assert_eq!(c.read_line(), b"!\r\n", "[{bin}] payload");
            got.push(String::from_utf8(l).unwrap());
        }
        // Per publish, deliveries may come in any sid order; sort within each subject.
        let want = [
            "MSG a.b.c 1 1",
            "MSG a.b.c 2 1",
            "MSG a.b.c 3 1",
            "MSG a 3 1",
            "MSG a.b.c.d 2 1",
            "MSG a.b.c.d 3 1",
            "MSG foo 3 1",
            "MSG Foo 3 1",
            "MSG Foo 4 1",
            "MSG foox 3 1",
            "MSG foo* 3 1",
            "MSG foo* 5 1",
            "MSG a.b 2 1",
            "MSG a.b 3 1",
        ];
        let mut got_sorted: Vec<String> = got.iter().map(|s| s.trim_end().to_string()).collect();
        let mut want_sorted: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        got_sorted.sort();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "[{bin}] deliveries: {got:?}");
    });
}

/// Queue groups on raw sockets: one copy per group, plain subscribers get all.
#[test]
fn queue_group_raw() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = quiet(&srv);
        c.send("SUB w g 1\r\nSUB w g 2\r\nSUB w g 3\r\nSUB w 4\r\nSUB w h 5\r\n");
        const N: usize = 300;
        for _ in 0..N {
            c.send("PUB w 0\r\n\r\n");
        }
        c.send("PING\r\n");
        let mut counts = [0usize; 6];
        loop {
            let l = c.read_line_skip_ping();
            if l == b"PONG\r\n" {
                break;
            }
            let s = String::from_utf8(l.clone()).unwrap();
            let sid: usize = s
                .split(' ')
                .nth(2)
                .and_then(|x| x.parse().ok())
                .unwrap_or_else(|| panic!("[{bin}] {s:?}"));
            counts[sid] += 1;
            assert_eq!(c.read_line(), b"\r\n");
        }
        assert_eq!(
            counts[1] + counts[2] + counts[3],
            N,
            "[{bin}] group g total: {counts:?}"
        );
        assert!(
            counts[1] > 30 && counts[2] > 30 && counts[3] > 30,
            "[{bin}] group g not spread: {counts:?}"
        );
        assert_eq!(counts[4], N, "[{bin}] plain sub: {counts:?}");
        assert_eq!(counts[5], N, "[{bin}] group h (single member): {counts:?}");
    });
}

/// CONNECT JSON is decoded like Go's encoding/json on top of the defaults: `null` leaves a
/// field at its default (async-nats sends `"name":null`, `"jwt":null`, ...), a `null`
/// document is accepted, wrong types and non-object documents close the connection silently.
#[test]
fn connect_json_decoding() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let accepted: &[(&str, &str)] = &[
            (r#"{"verbose":false,"name":null}"#, ""),
            (
                r#"{"verbose":false,"lang":null,"version":null,"jwt":null,"nkey":null,"sig":null}"#,
                "",
            ),
            (
                r#"{"verbose":false,"user":null,"pass":null,"auth_token":null}"#,
                "",
            ),
            (
                r#"{"verbose":false,"protocol":null,"echo":null,"headers":null,"no_responders":null}"#,
                "",
            ),
            (r#"{"verbose":null}"#, "+OK\r\n"),
            ("null", "+OK\r\n"),
            (
                r#"{"verbose":false,"unknown":{"nested":[1,2,{"x":null}]},"also":"x"}"#,
                "",
            ),
            (
                r#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":null,"echo":true,"lang":"rust","version":"0.38.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}"#,
                "",
            ),
        ];
        let mut cases = Cases::default();
        for (json, ok) in accepted {
            cases.run(format!("accept {json}"), || {
                let mut c = srv.raw();
                c.server = format!("{bin}: CONNECT {json}");
                c.send(format!("CONNECT {json}\r\nPING\r\n"));
                c.expect(format!("{ok}PONG\r\n"));
            });
        }
        let rejected = [
            r#"{"verbose":false,"name":5}"#,
            r#"{"verbose":false,"headers":"yes"}"#,
            r#"{"verbose":false,"protocol":1.5}"#,
            "[]",
            "{bad",
        ];
        for json in rejected {
            cases.run(format!("reject {json}"), || {
                let mut c = srv.raw();
                c.server = format!("{bin}: CONNECT {json}");
                c.send(format!("CONNECT {json}\r\nPING\r\n"));
                c.expect_closed();
            });
        }
        cases.finish(bin);
    });
}

/// Size fields accept leading zeros; nats-server copies the size bytes verbatim into MSG.
#[test]
fn size_leading_zeros() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = quiet(&srv);
        c.send("SUB foo 1\r\nPUB foo 000000003\r\nabc\r\n");
        c.expect("MSG foo 1 000000003\r\nabc\r\n");
        c.ping_pong();
    });
}
