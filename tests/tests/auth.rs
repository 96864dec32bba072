//! Authentication from the command line: `--user/--pass`, `--auth` (client-protocol.md §1,
//! §11; auth.md).
//!
//! Stale-connection detection is not testable with default options (ping_interval is two
//! minutes and the flags to change it are config-file only), so it is not covered here.

use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use futures::StreamExt;
use natsd_tests::{for_each_server, runtime, Cases, ServerBin, ServerProcess};
use tokio::time::timeout;

const AV: &str = "-ERR 'Authorization Violation'\r\n";

fn check_auth_required(srv: &ServerProcess, bin: &ServerBin) {
    let c = srv.raw();
    let info = c.info();
    assert_eq!(
        info["auth_required"], true,
        "[{bin}] INFO auth_required: {info}"
    );
    assert!(
        info.get("nonce").is_none(),
        "[{bin}] no nonce without nkey users: {info}"
    );
}

/// `--user u --pass p`: right credentials work, everything else is an Authorization Violation.
#[test]
fn user_password() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &["--user", "u", "--pass", "p"]);
        check_auth_required(&srv, bin);
        let mut cases = Cases::default();
        let bad: &[(&str, &str)] = &[
            (
                "wrong password",
                "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"x\"}\r\n",
            ),
            (
                "wrong user",
                "CONNECT {\"verbose\":false,\"user\":\"x\",\"pass\":\"p\"}\r\n",
            ),
            ("no credentials", "CONNECT {\"verbose\":false}\r\n"),
            (
                "empty password",
                "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"\"}\r\n",
            ),
            (
                "token instead",
                "CONNECT {\"verbose\":false,\"auth_token\":\"p\"}\r\n",
            ),
            ("PING before CONNECT", "PING\r\n"),
            ("SUB before CONNECT", "SUB foo 1\r\n"),
            ("PUB before CONNECT", "PUB foo 1\r\n!\r\n"),
        ];
        for (name, send) in bad {
            cases.run(*name, || {
                let mut c = srv.raw();
                c.server = format!("{bin}: {name}");
                c.send(send);
                c.expect_then_closed(AV);
            });
        }
        cases.run("right credentials", || {
            let mut c = srv.raw();
            c.send("CONNECT {\"verbose\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n");
            c.expect("+OK\r\n");
            c.send("SUB a 1\r\nPUB a 1\r\n!\r\nPING\r\n");
            c.expect("+OK\r\n+OK\r\nMSG a 1 1\r\n!\r\nPONG\r\n");
        });
        cases.run("lower-case connect first", || {
            let mut c = srv.raw();
            c.send("connect {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n");
            c.expect("PONG\r\n");
        });
        cases.run("async-nats", || {
            let rt = runtime();
            rt.block_on(async {
                timeout(Duration::from_secs(20), async {
                    let c = ConnectOptions::with_user_and_password("u".into(), "p".into())
                        .connect(srv.url())
                        .await
                        .unwrap_or_else(|e| panic!("[{bin}] async-nats with user/pass: {e}"));
                    let mut s = c.subscribe("x").await.unwrap();
                    c.publish("x", "y".into()).await.unwrap();
                    assert!(s.next().await.is_some(), "[{bin}] message");
                    let err = ConnectOptions::with_user_and_password("u".into(), "bad".into())
                        .connect(srv.url())
                        .await
                        .expect_err("wrong password must not connect");
                    assert!(
                        err.to_string().to_lowercase().contains("authorization"),
                        "[{bin}] async-nats wrong password: {err}"
                    );
                })
                .await
                .unwrap_or_else(|_| panic!("[{bin}] timed out"));
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        cases.finish(bin);
    });
}

/// No CONNECT within 2 s (default auth timeout) → `-ERR 'Authentication Timeout'` + close;
/// a partial CONNECT does not stop the timer.
#[test]
fn authentication_timeout() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &["--user", "u", "--pass", "p"]);
        let start = Instant::now();
        let mut silent = srv.raw();
        let mut partial = srv.raw();
        partial.send("CONNECT {\"user\":\"u\"");
        silent.expect("-ERR 'Authentication Timeout'\r\n");
        let t = start.elapsed();
        assert!(
            t >= Duration::from_millis(1500) && t < Duration::from_millis(4000),
            "[{bin}] auth timeout after {t:?}, expected ~2 s"
        );
        silent.expect_closed();
        partial.expect_then_closed("-ERR 'Authentication Timeout'\r\n");
        // A client that authenticated in time is not affected.
        let mut ok = srv.raw();
        ok.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n");
        ok.ping_pong();
        std::thread::sleep(Duration::from_millis(2300));
        ok.ping_pong();
    });
}

/// `--auth t`: token auth.
#[test]
fn token() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &["--auth", "s3cr3t"]);
        check_auth_required(&srv, bin);
        let mut cases = Cases::default();
        let bad: &[(&str, &str)] = &[
            (
                "wrong token",
                "CONNECT {\"verbose\":false,\"auth_token\":\"nope\"}\r\n",
            ),
            ("no token", "CONNECT {\"verbose\":false}\r\n"),
            (
                "user/pass instead",
                "CONNECT {\"verbose\":false,\"user\":\"s3cr3t\",\"pass\":\"s3cr3t\"}\r\n",
            ),
            ("PING before CONNECT", "PING\r\n"),
        ];
        for (name, send) in bad {
            cases.run(*name, || {
                let mut c = srv.raw();
                c.server = format!("{bin}: {name}");
                c.send(send);
                c.expect_then_closed(AV);
            });
        }
        cases.run("right token", || {
            let mut c = srv.raw();
            c.send("CONNECT {\"verbose\":true,\"auth_token\":\"s3cr3t\"}\r\n");
            c.expect("+OK\r\n");
            c.ping_pong();
        });
        cases.run("async-nats", || {
            let rt = runtime();
            rt.block_on(async {
                timeout(Duration::from_secs(20), async {
                    let c = ConnectOptions::with_token("s3cr3t".into())
                        .connect(srv.url())
                        .await
                        .unwrap_or_else(|e| panic!("[{bin}] async-nats with token: {e}"));
                    c.flush().await.unwrap();
                    assert!(
                        ConnectOptions::with_token("bad".into())
                            .connect(srv.url())
                            .await
                            .is_err(),
                        "[{bin}] wrong token must not connect"
                    );
                })
                .await
                .unwrap_or_else(|_| panic!("[{bin}] timed out"));
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        cases.finish(bin);
    });
}

/// Without auth, PING works before any CONNECT and there is no auth timeout.
#[test]
fn no_auth_ping_before_connect() {
    for_each_server(|bin| {
        let srv = ServerProcess::start(bin, &[]);
        let mut c = srv.raw();
        assert!(
            c.info().get("auth_required").is_none(),
            "[{bin}] no auth_required: {}",
            c.info()
        );
        c.send("PING\r\n");
        c.expect("PONG\r\n");
    });
}
