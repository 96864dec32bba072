//! Route TLS driven in memory (routes.md §2.2): two servers' route
//! connections joined by moving outbox bytes by hand, and rustls clients
//! posing as a dialer. The handshake comes before any NATS byte on both
//! sides, the acceptor always asks for a client certificate, and the
//! dialer checks the acceptor's certificate against `ca_file` for the
//! route URL's host (DNS name or IP address) unless `insecure`.

// Host side of the contract: a clock for `now`.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use natsd_core::outbox::{Outbox, Take};
use natsd_core::route::{ClusterOptions, DialPoll, RouteConnection, RouteUrl};
use natsd_core::tls::{self, TlsFiles, TlsOptions};
use natsd_core::{Connection, Options, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, usable
/// as server and client certificate (what the spec's R9 asks for).
struct Pki {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params
        .signed_by(&key, &rcgen::Issuer::from_params(&ca, &ca_key))
        .unwrap();
    Pki {
        ca: ca_cert.pem().into_bytes(),
        cert: cert.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    }
}

fn files(p: &Pki) -> TlsFiles {
    TlsFiles {
        cert: p.cert.clone(),
        key: p.key.clone(),
        ca: Some(p.ca.clone()),
    }
}

fn tls_options(insecure: bool) -> TlsOptions {
    TlsOptions {
        cert_file: "srv.pem".into(),
        key_file: "srv.key".into(),
        ca_file: "ca.pem".into(),
        insecure,
        ..TlsOptions::default()
    }
}

/// A server with route TLS from `p` (its CA as `ca_file`), route port
/// 6000+`n`, dialing `routes`.
fn server(n: u16, routes: &[&str], p: &Pki, insecure: bool, now: Instant) -> Arc<Server> {
    let t = tls_options(insecure);
    let cluster = ClusterOptions {
        name: Some("CT".into()),
        host: "127.0.0.1".into(),
        port: Some(0),
        routes: routes.iter().map(|r| RouteUrl::parse(r).unwrap()).collect(),
        tls: Some(t.clone()),
        ..ClusterOptions::default()
    };
    let opts = Options {
        host: "127.0.0.1".into(),
        port: 4000 + n,
        server_name: Some(format!("s{n}")),
        cluster: Some(cluster),
        ..Options::default()
    };
    let s = Server::new(opts, u64::from(n));
    s.routes()
        .install_tls(Some(tls::route_config(&t, &files(p)).unwrap()));
    s.routes()
        .listening(format!("127.0.0.1:{}", 6000 + n).parse().unwrap(), now);
    s
}

fn drain(ob: &Outbox) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Take::Data = ob.take(&mut buf, Waker::noop()) {
        out.extend_from_slice(&buf);
        ob.written(buf.len());
        buf.clear();
    }
    out
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Moves bytes both ways until both sides are quiet.
fn pump(a: &mut RouteConnection, b: &mut RouteConnection, now: Instant) {
    for _ in 0..30 {
        let x = drain(a.outbox());
        let y = drain(b.outbox());
        if x.is_empty() && y.is_empty() {
            return;
        }
        if !x.is_empty() {
            b.receive(&x, now);
        }
        if !y.is_empty() {
            a.receive(&y, now);
        }
    }
    panic!("routes kept talking");
}

/// `b` dials its first route, which `a` accepts.
fn connect(a: &Arc<Server>, b: &Arc<Server>, now: Instant) -> (RouteConnection, RouteConnection) {
    let DialPoll::Dial(req) = b.routes().poll_dial(now, Waker::noop()) else {
        panic!("nothing to dial");
    };
    let mut acc = a.accept_route(addr(50001), now);
    let mut dial = b.dial_route(&req, addr(50002), now);
    assert!(
        drain(acc.outbox()).is_empty(),
        "the acceptor waits for the ClientHello"
    );
    let hello = drain(dial.outbox());
    assert_eq!(hello.first(), Some(&0x16), "the dialer starts with TLS");
    acc.receive(&hello, now);
    pump(&mut acc, &mut dial, now);
    (acc, dial)
}

fn client(s: &Arc<Server>, now: Instant, ops: &str) -> Connection {
    let mut c = s.accept("127.0.0.1:40000".parse().unwrap(), now);
    c.receive(
        format!("CONNECT {{\"verbose\":false}}\r\n{ops}PING\r\n").as_bytes(),
        now,
    );
    let got = String::from_utf8_lossy(&drain(c.outbox())).into_owned();
    assert!(got.ends_with("PONG\r\n"), "{got}");
    c
}

#[test]
fn tls_routes_register_and_carry_messages() {
    let p = pki();
    let now = Instant::now();
    for host in ["localhost", "127.0.0.1"] {
        let a = server(1, &[], &p, false, now);
        let b = server(2, &[&format!("nats-route://{host}:6001")], &p, false, now);
        let sub = client(&a, now, "SUB foo 1\r\n");
        let (mut ra, mut rb) = connect(&a, &b, now);
        assert!(ra.is_registered() && rb.is_registered(), "[{host}]");
        assert_eq!(a.routes().num_routes(), 1);
        assert_eq!(b.routes().num_routes(), 1);
        let _pubc = client(&b, now, "PUB foo 5\r\nhello\r\n");
        let wire = drain(rb.outbox());
        assert!(
            !wire.windows(5).any(|w| w == b"hello"),
            "[{host}] the message crosses encrypted"
        );
        ra.receive(&wire, now);
        assert_eq!(drain(sub.outbox()), b"MSG foo 1 5\r\nhello\r\n", "[{host}]");
        // Pings keep flowing inside TLS.
        ra.handle_timeout(now + Duration::from_secs(2));
        pump(&mut ra, &mut rb, now + Duration::from_secs(2));
        assert!(!ra.is_closed() && !rb.is_closed());
    }
}

/// A rustls client posing as a dialer: its config, with or without a
/// client certificate, trusting `p`'s CA.
fn raw_dialer(p: &Pki, with_cert: bool) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&p.ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if with_cert {
        let certs = CertificateDer::pem_slice_iter(&p.cert)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(&p.key).unwrap();
        b.with_client_auth_cert(certs, key).unwrap()
    } else {
        b.with_no_client_auth()
    };
    rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
        .unwrap()
}

/// Runs the raw dialer against `acc` until both are quiet; returns the
/// plaintext the acceptor sent, or the TLS error the dialer saw.
fn raw_handshake(
    cl: &mut rustls::ClientConnection,
    acc: &mut RouteConnection,
    now: Instant,
) -> Result<Vec<u8>, String> {
    let mut plain = Vec::new();
    for _ in 0..10 {
        let mut out = Vec::new();
        while cl.wants_write() {
            cl.write_tls(&mut out).unwrap();
        }
        if !out.is_empty() {
            acc.receive(&out, now);
        }
        let back = drain(acc.outbox());
        if back.is_empty() && out.is_empty() {
            break;
        }
        let mut rd = &back[..];
        while !rd.is_empty() {
            cl.read_tls(&mut rd).unwrap();
            cl.process_new_packets().map_err(|e| e.to_string())?;
        }
        let _ = cl.reader().read_to_end(&mut plain);
    }
    Ok(plain)
}

#[test]
fn acceptor_info_follows_the_handshake_and_requires_a_client_certificate() {
    let p = pki();
    let now = Instant::now();
    let a = server(1, &[], &p, false, now);

    let mut acc = a.accept_route(addr(50001), now);
    let mut cl = raw_dialer(&p, true);
    let plain = raw_handshake(&mut cl, &mut acc, now).unwrap();
    let info = String::from_utf8_lossy(&plain).into_owned();
    assert!(info.starts_with("INFO {"), "{info}");
    assert!(
        info.contains("\"tls_required\":true,\"tls_verify\":true"),
        "{info}"
    );
    assert!(!acc.is_closed());

    // Without a client certificate the handshake fails and nothing is
    // registered.
    let mut acc = a.accept_route(addr(50003), now);
    let mut cl = raw_dialer(&p, false);
    let got = raw_handshake(&mut cl, &mut acc, now);
    // TLS 1.3: the client finishes first and learns of the refusal from
    // the alert that follows.
    if let Ok(plain) = &got {
        cl.writer().write_all(b"CONNECT {}\r\n").unwrap();
        assert!(plain.is_empty(), "{}", String::from_utf8_lossy(plain));
    }
    assert!(acc.is_closed(), "{got:?}");
    assert_eq!(a.routes().num_routes(), 0);
}

#[test]
fn dialer_with_an_untrusted_client_certificate_is_refused() {
    let p = pki();
    let now = Instant::now();
    let a = server(1, &[], &p, false, now);
    // b presents a certificate the acceptor does not trust (another CA).
    let other = pki();
    let b = server(2, &["nats-route://localhost:6001"], &other, true, now);
    let DialPoll::Dial(req) = b.routes().poll_dial(now, Waker::noop()) else {
        panic!("nothing to dial");
    };
    let mut acc = a.accept_route(addr(50001), now);
    let mut dial = b.dial_route(&req, addr(50002), now);
    for _ in 0..10 {
        let x = drain(dial.outbox());
        let y = drain(acc.outbox());
        if x.is_empty() && y.is_empty() {
            break;
        }
        acc.receive(&x, now);
        dial.receive(&y, now);
    }
    assert!(acc.is_closed() && dial.is_closed());
    assert_eq!(a.routes().num_routes(), 0);
    assert_eq!(b.routes().num_routes(), 0);
    // An explicit route: b tries again later.
    assert!(matches!(
        b.routes()
            .poll_dial(now + Duration::from_secs(2), Waker::noop()),
        DialPoll::Dial(_)
    ));
}

#[test]
fn dialer_checks_the_acceptor_certificate_unless_insecure() {
    let now = Instant::now();
    let pa = pki();
    let pb = pki();
    // a's certificate is not signed by b's CA, but a trusts b's: only the
    // dialer's check can fail.
    let a = {
        let mut t = tls_options(false);
        t.ca_file = "b-ca.pem".into();
        let s = server(1, &[], &pa, false, now);
        let f = TlsFiles {
            ca: Some(pb.ca.clone()),
            ..files(&pa)
        };
        s.routes()
            .install_tls(Some(tls::route_config(&t, &f).unwrap()));
        s
    };
    for insecure in [false, true] {
        let b = server(2, &["nats-route://localhost:6001"], &pb, insecure, now);
        let DialPoll::Dial(req) = b.routes().poll_dial(now, Waker::noop()) else {
            panic!("nothing to dial");
        };
        let mut acc = a.accept_route(addr(50001), now);
        let mut dial = b.dial_route(&req, addr(50002), now);
        pump(&mut acc, &mut dial, now);
        assert_eq!(dial.is_registered(), insecure, "insecure: {insecure}");
        assert_eq!(acc.is_registered(), insecure, "insecure: {insecure}");
        drop((acc, dial));
    }
}

#[test]
fn plaintext_on_a_tls_route_port_gets_nothing() {
    let p = pki();
    let now = Instant::now();
    let a = server(1, &[], &p, false, now);
    // Silence: nothing sent, closed at the TLS timeout (2 s).
    let mut acc = a.accept_route(addr(50001), now);
    assert!(drain(acc.outbox()).is_empty());
    let due = acc.poll_timeout().unwrap();
    assert!(due <= now + Duration::from_secs(2), "{:?}", due - now);
    acc.handle_timeout(now + Duration::from_millis(1999));
    assert!(!acc.is_closed());
    acc.handle_timeout(now + Duration::from_secs(2));
    assert!(acc.is_closed());
    assert!(drain(acc.outbox()).is_empty());
    // A plaintext CONNECT: closed, no INFO, no -ERR in clear.
    let mut acc = a.accept_route(addr(50002), now);
    acc.receive(b"CONNECT {\"name\":\"X\",\"cluster\":\"CT\"}\r\n", now);
    assert!(acc.is_closed());
    let out = drain(acc.outbox());
    assert!(
        !out.windows(4).any(|w| w == b"INFO" || w == b"-ERR"),
        "{out:?}"
    );
}

#[test]
fn route_tls_config_errors_name_the_file() {
    let p = pki();
    let mut t = tls_options(false);
    let e = tls::route_config(
        &t,
        &TlsFiles {
            ca: None,
            ..files(&p)
        },
    )
    .unwrap_err();
    assert!(e.contains("ca_file"), "{e}");
    t.cert_file = "bad.pem".into();
    let e = tls::route_config(
        &t,
        &TlsFiles {
            cert: b"nope".to_vec(),
            ..files(&p)
        },
    )
    .unwrap_err();
    assert!(e.contains("bad.pem"), "{e}");
}
