//! TLS on the client port (spec auth.md §9), against every binary:
//! certificates are made here with rcgen (a CA, a server certificate for
//! 127.0.0.1/localhost, client certificates), async-nats is the client
//! where it shows the behaviour, and raw sockets (plain or through rustls)
//! where the library hides it. `NATSD_TEST_SERVERS` can point the suite at
//! nats-server; the natsd-only checks (startup and config errors, whose
//! texts differ) are skipped there.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::ConnectOptions;
use futures::StreamExt;
use natsd_tests::{for_each_server, free_port, runtime, RawConn, ServerBin, ServerProcess};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::time::timeout;

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A CA and the certificates it signed, as PEM files in a directory of
/// their own (removed on drop).
struct Pki {
    dir: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "natsd-tls-{}-{tag}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("natsd test CA {tag}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write ca.pem");
        let pki = Pki {
            dir,
            ca_params,
            ca_key,
        };
        pki.issue(
            "server",
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params"),
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        pki
    }

    /// Signs a certificate; writes `<name>-cert.pem` and `<name>-key.pem`.
    fn issue(&self, name: &str, mut params: CertificateParams, eku: ExtendedKeyUsagePurpose) {
        let key = KeyPair::generate().expect("key");
        params.extended_key_usages = vec![eku];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        std::fs::write(self.cert(name), cert.pem()).expect("write cert");
        std::fs::write(self.key(name), key.serialize_pem()).expect("write key");
    }

    /// A client certificate with subject `CN=<cn>,O=Org` and `sans`.
    fn client(&self, name: &str, cn: &str, sans: Vec<SanType>) {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "Org");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.subject_alt_names = sans;
        self.issue(name, p, ExtendedKeyUsagePurpose::ClientAuth);
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-cert.pem"))
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-key.pem"))
    }

    /// A configuration file in this directory.
    fn config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// `tls { cert_file, key_file <extra> }` plus `top` lines.
    fn tls_conf(&self, extra: &str, top: &str) -> PathBuf {
        self.config(
            "server.conf",
            &format!(
                "{top}\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n{extra}\n}}\n",
                self.cert("server"),
                self.key("server")
            ),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// async-nats options trusting `pki`'s CA, TLS required.
fn tls_client(pki: &Pki) -> ConnectOptions {
    ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pki.ca())
        .connection_timeout(Duration::from_secs(5))
}

/// Runs `f` on a fresh runtime with an overall bound.
fn block_on<F: std::future::Future<Output = ()>>(bin: &ServerBin, f: F) {
    let rt = runtime();
    rt.block_on(async {
        timeout(Duration::from_secs(30), f)
            .await
            .unwrap_or_else(|_| panic!("[{bin}] timed out"));
    });
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Subscribes, publishes `n` messages of `size` bytes and checks they all
/// arrive in order.
async fn round_trip(bin: &ServerBin, c: &async_nats::Client, subject: &str, n: usize, size: usize) {
    let mut sub = c.subscribe(subject.to_string()).await.expect("subscribe");
    c.flush().await.expect("flush");
    for i in 0..n {
        let mut body = format!("{i}:").into_bytes();
        body.resize(size.max(body.len()), b'x');
        c.publish(subject.to_string(), body.into())
            .await
            .expect("publish");
    }
    c.flush().await.expect("flush");
    for i in 0..n {
        let m = timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap_or_else(|_| panic!("[{bin}] message {i} of {n} never came"))
            .expect("subscription open");
        let prefix = format!("{i}:");
        assert!(
            m.payload.starts_with(prefix.as_bytes()),
            "[{bin}] message {i} out of order"
        );
        assert_eq!(m.payload.len(), size.max(prefix.len()), "[{bin}] size");
    }
}

/// Returns once the server has processed everything `c` sent before
/// (`flush` only empties the client's buffer): a request nobody answers
/// comes back as "no responders" after a full round trip.
async fn barrier(c: &async_nats::Client) {
    let _ = c.request("tls.barrier.none", "".into()).await;
}

/// A raw TLS connection through rustls, for what async-nats hides.
struct TlsRaw {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsRaw {
    /// TCP connect; with `read_info`, the plaintext INFO is read first.
    /// Then the TLS handshake, trusting `pki`, optionally with a client
    /// certificate.
    fn connect(server: &ServerProcess, pki: &Pki, read_info: bool) -> TlsRaw {
        let mut tcp = TcpStream::connect(server.addr()).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if read_info {
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                assert_eq!(tcp.read(&mut b).expect("read INFO"), 1, "EOF before INFO");
                line.push(b[0]);
            }
            assert!(line.starts_with(b"INFO "), "plaintext INFO first");
        }
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(pki.ca()).unwrap();
        let der = pem_body(&pem);
        roots.add(der.into()).expect("CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .expect("client connection");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        }
        TlsRaw {
            tls,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, b: &[u8]) {
        self.tls.write_all(b).expect("TLS write");
        self.tls.flush().expect("TLS flush");
    }

    fn read_line(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                return String::from_utf8_lossy(&line).into_owned();
            }
            assert!(Instant::now() < deadline, "no line within 5 s");
            let mut chunk = [0u8; 4096];
            let n = self.tls.read(&mut chunk).expect("TLS read");
            assert!(n > 0, "EOF");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The DER of the first certificate in a PEM file.
fn pem_body(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem)
        .expect("PEM certificate")
        .to_vec()
}

/// `GET path` on the monitoring port, body parsed as JSON.
fn http_json(port: u16, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("monitor port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {out}"))
}

/// Reads until EOF (bounded); returns what came and how long it took.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut chunk) {
            Ok(0) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (got, start.elapsed()),
        }
    }
    panic!("connection still open after {limit:?}; got {got:?}");
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Default flow: plaintext INFO with `tls_required`, then TLS; messages of
/// many sizes arrive intact and in order; /varz and /connz show TLS.
#[test]
fn pub_sub_over_tls() {
    for_each_server(|bin| {
        let pki = Pki::new("pubsub");
        let conf = pki.tls_conf("", "");
        let http = free_port();
        let srv = ServerProcess::start(bin, &["-c", path(&conf), "-m", &http.to_string()]);
        let info = RawConn::connect(&srv).info();
        assert_eq!(info["tls_required"], true, "[{bin}] {info}");
        assert!(info.get("tls_available").is_none(), "[{bin}] {info}");
        assert!(info.get("tls_verify").is_none(), "[{bin}] {info}");
        block_on(bin, async {
            let c = tls_client(&pki)
                .name("tls-client")
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] TLS connect: {e}"));
            round_trip(bin, &c, "small", 2000, 16).await;
            round_trip(bin, &c, "big", 20, 300_000).await;
            // A second client publishing: deliveries from another
            // connection's thread are encrypted too.
            let p = tls_client(&pki)
                .connect(srv.url())
                .await
                .expect("publisher");
            let mut sub = c.subscribe("cross").await.unwrap();
            barrier(&c).await;
            for i in 0..500u32 {
                p.publish("cross", i.to_string().into()).await.unwrap();
            }
            p.flush().await.unwrap();
            for i in 0..500u32 {
                let m = timeout(Duration::from_secs(10), sub.next())
                    .await
                    .expect("cross message")
                    .unwrap();
                assert_eq!(m.payload, i.to_string().as_bytes(), "[{bin}] order");
            }
            let varz = http_json(http, "/varz");
            assert_eq!(varz["tls_required"], true, "[{bin}] varz");
            assert_eq!(varz["tls_timeout"], 2.0, "[{bin}] varz tls_timeout");
            assert_eq!(varz["auth_timeout"], 3.0, "[{bin}] varz auth_timeout");
            let connz = http_json(http, "/connz");
            let conns = connz["connections"].as_array().unwrap();
            let me = conns
                .iter()
                .find(|c| c["name"] == "tls-client")
                .unwrap_or_else(|| panic!("[{bin}] {connz}"));
            assert_eq!(me["tls_version"], "1.3", "[{bin}] {me}");
            assert!(
                me["tls_cipher_suite"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("TLS_")),
                "[{bin}] {me}"
            );
            assert!(me.get("tls_first").is_none(), "[{bin}] {me}");
        });
    });
}

/// `verify`: a client certificate signed by `ca_file` is required.
#[test]
fn mutual_tls() {
    for_each_server(|bin| {
        let pki = Pki::new("mtls");
        pki.client("client", "client", vec![]);
        let conf = pki.tls_conf(&format!("  ca_file: {:?}\n  verify: true", pki.ca()), "");
        let http = free_port();
        let srv = ServerProcess::start(bin, &["-c", path(&conf), "-m", &http.to_string()]);
        let info = RawConn::connect(&srv).info();
        assert_eq!(info["tls_verify"], true, "[{bin}] {info}");
        assert_eq!(info["tls_required"], true, "[{bin}] {info}");
        block_on(bin, async {
            let c = tls_client(&pki)
                .add_client_certificate(pki.cert("client"), pki.key("client"))
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] with client cert: {e}"));
            round_trip(bin, &c, "m", 10, 10).await;
            let connz = http_json(http, "/connz?auth=true");
            let certs = &connz["connections"][0]["tls_peer_certs"];
            assert_eq!(certs[0]["subject"], "CN=client,O=Org", "[{bin}] {connz}");
            for key in ["spki_sha256", "cert_sha256"] {
                assert_eq!(
                    certs[0][key].as_str().map(str::len),
                    Some(64),
                    "[{bin}] {key}: {connz}"
                );
            }
            let connz = http_json(http, "/connz");
            assert!(
                connz["connections"][0].get("tls_peer_certs").is_none(),
                "[{bin}] peer certs only with auth=true: {connz}"
            );
            let err = tls_client(&pki)
                .connect(srv.url())
                .await
                .expect_err("no client certificate must not connect");
            eprintln!("[{bin}] without client cert: {err}");
            // The server still serves.
            round_trip(bin, &c, "m2", 10, 10).await;
        });
    });
}

/// `verify_and_map`: the user comes from the certificate (email SAN, or
/// the subject DN); an unmapped certificate is an Authorization Violation.
#[test]
fn verify_and_map() {
    for_each_server(|bin| {
        let pki = Pki::new("map");
        pki.client(
            "email",
            "whoever",
            vec![SanType::Rfc822Name("alice@example.com".try_into().unwrap())],
        );
        pki.client("dn", "dnuser", vec![]);
        pki.client("nobody", "nobody", vec![]);
        let conf = pki.tls_conf(
            &format!("  ca_file: {:?}\n  verify_and_map: true", pki.ca()),
            "authorization { users: [ {user: \"alice@example.com\"}, {user: \"CN=dnuser,O=Org\"} ] }",
        );
        let http = free_port();
        let srv = ServerProcess::start(bin, &["-c", path(&conf), "-m", &http.to_string()]);
        let info = RawConn::connect(&srv).info();
        assert_eq!(info["auth_required"], true, "[{bin}] {info}");
        assert_eq!(info["tls_verify"], true, "[{bin}] {info}");
        block_on(bin, async {
            let alice = tls_client(&pki)
                .name("alice")
                .add_client_certificate(pki.cert("email"), pki.key("email"))
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] email SAN user: {e}"));
            round_trip(bin, &alice, "a", 5, 5).await;
            let dn = tls_client(&pki)
                .name("dn")
                .add_client_certificate(pki.cert("dn"), pki.key("dn"))
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] subject DN user: {e}"));
            round_trip(bin, &dn, "d", 5, 5).await;
            let err = tls_client(&pki)
                .add_client_certificate(pki.cert("nobody"), pki.key("nobody"))
                .connect(srv.url())
                .await
                .expect_err("unmapped certificate must not connect");
            assert!(
                err.to_string().to_lowercase().contains("authorization"),
                "[{bin}] unmapped: {err}"
            );
            let connz = http_json(http, "/connz?auth=true");
            let users: Vec<String> = connz["connections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["authorized_user"].as_str().unwrap_or("").to_string())
                .collect();
            assert!(
                users.contains(&"alice@example.com".to_string())
                    && users.contains(&"CN=dnuser,O=Org".to_string()),
                "[{bin}] {users:?}"
            );
        });
        drop(srv);
        // With plaintext allowed, a plaintext client cannot claim a mapped
        // user by name: there is no certificate to map.
        let conf = pki.tls_conf(
            &format!("  ca_file: {:?}\n  verify_and_map: true", pki.ca()),
            "allow_non_tls: true\nauthorization { users: [ {user: \"alice@example.com\"} ] }",
        );
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let mut raw = RawConn::connect(&srv);
        raw.send("CONNECT {\"verbose\":false,\"user\":\"alice@example.com\"}\r\nPING\r\n");
        raw.expect_then_closed("-ERR 'Authorization Violation'\r\n");
    });
}

/// `allow_non_tls`: INFO offers TLS; plaintext and TLS clients both work.
#[test]
fn allow_non_tls() {
    for_each_server(|bin| {
        let pki = Pki::new("optional");
        let conf = pki.tls_conf("", "allow_non_tls: true");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let mut raw = RawConn::connect(&srv);
        let info = raw.info();
        assert_eq!(info["tls_available"], true, "[{bin}] {info}");
        assert!(info.get("tls_required").is_none(), "[{bin}] {info}");
        raw.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        raw.expect("PONG\r\n");
        block_on(bin, async {
            let plain = ConnectOptions::new()
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] plaintext: {e}"));
            let tls = tls_client(&pki)
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] TLS: {e}"));
            let mut sub = tls.subscribe("mixed").await.unwrap();
            barrier(&tls).await;
            plain.publish("mixed", "hi".into()).await.unwrap();
            plain.flush().await.unwrap();
            let m = timeout(Duration::from_secs(5), sub.next())
                .await
                .expect("plaintext to TLS")
                .unwrap();
            assert_eq!(m.payload, "hi".as_bytes());
        });
    });
}

/// `handshake_first`: no plaintext INFO; a TLS-first client gets INFO as
/// the first record. With `auto`, a plaintext client gets INFO after the
/// fallback delay.
#[test]
fn handshake_first() {
    for_each_server(|bin| {
        let pki = Pki::new("first");
        let conf = pki.tls_conf("  handshake_first: true", "");
        let http = free_port();
        let srv = ServerProcess::start_silent(bin, &["-c", path(&conf), "-m", &http.to_string()]);
        let mut quiet = TcpStream::connect(srv.addr()).unwrap();
        quiet
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut b = [0u8; 1];
        assert!(
            !matches!(quiet.read(&mut b), Ok(n) if n > 0),
            "[{bin}] handshake_first sent plaintext"
        );
        let mut raw = TlsRaw::connect(&srv, &pki, false);
        let info = raw.read_line();
        assert!(info.starts_with("INFO {"), "[{bin}] {info}");
        raw.send(b"CONNECT {\"verbose\":false,\"name\":\"raw-first\"}\r\nPING\r\n");
        assert_eq!(raw.read_line(), "PONG\r\n", "[{bin}]");
        block_on(bin, async {
            let c = tls_client(&pki)
                .tls_first()
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] tls_first: {e}"));
            round_trip(bin, &c, "f", 50, 100).await;
        });
        let connz = http_json(http, "/connz");
        let me = connz["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "raw-first")
            .cloned()
            .unwrap_or_else(|| panic!("[{bin}] {connz}"));
        assert_eq!(me["tls_first"], true, "[{bin}] {me}");
        drop(srv);

        let conf = pki.tls_conf("  handshake_first: auto", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let info = RawConn::connect(&srv).info();
        assert_eq!(info["tls_required"], true, "[{bin}] fallback INFO {info}");
        let mut raw = TlsRaw::connect(&srv, &pki, true);
        raw.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        assert_eq!(raw.read_line(), "PONG\r\n", "[{bin}] after fallback");
        block_on(bin, async {
            let c = tls_client(&pki)
                .tls_first()
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] auto + tls_first: {e}"));
            round_trip(bin, &c, "g", 5, 5).await;
        });
    });
}

/// A client that never starts TLS is closed at `timeout`.
#[test]
fn handshake_timeout_closes_silent_client() {
    for_each_server(|bin| {
        let pki = Pki::new("timeout");
        let conf = pki.tls_conf("  timeout: 0.5", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        let (got, took) = read_until_closed(&mut s, Duration::from_secs(5));
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("INFO "), "[{bin}] {text}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(2500),
            "[{bin}] closed after {took:?}"
        );
    });
}

/// Plaintext CONNECT to a server requiring TLS: closed, with no -ERR.
#[test]
fn plaintext_connect_is_closed_without_err() {
    for_each_server(|bin| {
        let pki = Pki::new("plain");
        let conf = pki.tls_conf("", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let mut raw = RawConn::connect(&srv);
        raw.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
        let rest = raw.read_to_close();
        assert!(
            rest.is_empty(),
            "[{bin}] expected no reply, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    });
}

/// Garbage where the TLS handshake should be closes that connection only.
#[test]
fn tls_garbage_closes_only_that_connection() {
    for_each_server(|bin| {
        let pki = Pki::new("garbage");
        let conf = pki.tls_conf("", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        let mut good = TlsRaw::connect(&srv, &pki, true);
        good.send(b"CONNECT {\"verbose\":false}\r\nSUB g 1\r\nPING\r\n");
        assert_eq!(good.read_line(), "PONG\r\n");
        // Seeded noise: a handshake record header with junk after it, and
        // junk with no header at all.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        for first in [Some(0x16u8), None] {
            let mut raw = RawConn::connect(&srv);
            let mut junk = noise(3000);
            if let Some(b) = first {
                junk[0] = b;
                junk[1] = 3;
                junk[2] = 1;
            } else if junk[0] == 0x16 {
                junk[0] = 0x17;
            }
            let _ = raw.try_send(&junk);
            let _ = raw.read_to_close();
        }
        // A TLS session that turns into garbage after the handshake.
        let mut broken = TlsRaw::connect(&srv, &pki, true);
        let _ = broken.tls.sock.write_all(&noise(500));
        let (_, _) = read_until_closed(&mut broken.tls.sock, Duration::from_secs(5));
        good.send(b"PUB g 2\r\nok\r\nPING\r\n");
        assert_eq!(
            good.read_line(),
            "MSG g 1 2\r\n",
            "[{bin}] server still serves"
        );
        assert_eq!(good.read_line(), "ok\r\n");
        assert_eq!(good.read_line(), "PONG\r\n");
    });
}

/// SIGHUP re-reads the certificate files: new connections get the new
/// certificate, existing ones carry on.
#[test]
fn sighup_reloads_certificates() {
    for_each_server(|bin| {
        let old = Pki::new("reload-old");
        let new = Pki::new("reload-new");
        let conf = old.tls_conf("", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        block_on(bin, async {
            let stays = tls_client(&old)
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] old cert: {e}"));
            std::fs::copy(new.cert("server"), old.cert("server")).unwrap();
            std::fs::copy(new.key("server"), old.key("server")).unwrap();
            let pid = srv.pid().expect("pid").to_string();
            assert!(std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success());
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match tls_client(&new).connect(srv.url()).await {
                    Ok(c) => {
                        round_trip(bin, &c, "n", 3, 3).await;
                        break;
                    }
                    Err(e) if Instant::now() > deadline => {
                        panic!("[{bin}] new cert never served: {e}\n{}", srv.stderr())
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            assert!(
                tls_client(&old).connect(srv.url()).await.is_err(),
                "[{bin}] old CA must no longer verify the server"
            );
            round_trip(bin, &stays, "o", 3, 3).await;
        });
    });
}

/// natsd's startup and config errors name the file or key at fault.
#[test]
fn startup_errors_name_the_culprit() {
    for_each_server(|bin| {
        if bin.is_nats_server() {
            return;
        }
        let pki = Pki::new("errors");
        let run = |conf: &Path| {
            let out = std::process::Command::new(&bin.path)
                .args(["-a", "127.0.0.1", "-p", &free_port().to_string()])
                .args(["-c", path(conf)])
                .output()
                .expect("run");
            assert!(!out.status.success(), "[{bin}] must refuse {conf:?}");
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let missing = pki.dir.join("missing.pem");
        let conf = pki.config(
            "missing.conf",
            &format!(
                "tls {{ cert_file: {missing:?}\n key_file: {:?} }}\n",
                pki.key("server")
            ),
        );
        let err = run(&conf);
        assert!(
            err.contains("missing.pem") && err.contains("no such file"),
            "[{bin}] {err}"
        );
        let conf = pki.config(
            "bad.conf",
            &format!(
                "tls {{ cert_file: {:?}\n key_file: {:?} }}\n",
                pki.key("server"),
                pki.key("server")
            ),
        );
        let err = run(&conf);
        assert!(err.contains("server-key.pem"), "[{bin}] {err}");
        for (extra, want) in [
            ("  pinned_certs: []", "not supported yet: tls.pinned_certs"),
            (
                "  cipher_suites: [\"TLS_BOGUS\"]",
                "unrecognized cipher TLS_BOGUS",
            ),
            (
                "  cipher_suites: [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]",
                "TLS_RSA_WITH_AES_128_CBC_SHA",
            ),
            ("  min_version: \"1.1\"", "unsupported TLS version: 1.1"),
        ] {
            let conf = pki.tls_conf(extra, "");
            let err = run(&conf);
            assert!(
                err.contains(want) && err.contains("server.conf:"),
                "[{bin}] {extra}: {err}"
            );
        }
    });
}

/// `min_version` and `cipher_suites` in use: a TLS 1.2 suite picked by
/// its Go name is what a TLS 1.2 client negotiates.
#[test]
fn cipher_suites_and_min_version() {
    for_each_server(|bin| {
        let pki = Pki::new("suites");
        let conf = pki.tls_conf(
            "  cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\"]",
            "",
        );
        let http = free_port();
        let srv = ServerProcess::start(bin, &["-c", path(&conf), "-m", &http.to_string()]);
        let tls12 = || {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(pem_body(&std::fs::read(pki.ca()).unwrap()).into())
                .unwrap();
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
        };
        block_on(bin, async {
            let c = ConnectOptions::new()
                .require_tls(true)
                .tls_client_config(tls12())
                .name("tls12")
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] TLS 1.2: {e}"));
            round_trip(bin, &c, "s", 3, 3).await;
            let connz = http_json(http, "/connz");
            let me = connz["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "tls12")
                .cloned()
                .unwrap_or_else(|| panic!("[{bin}] {connz}"));
            assert_eq!(me["tls_version"], "1.2", "[{bin}] {me}");
            assert_eq!(
                me["tls_cipher_suite"], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "[{bin}] {me}"
            );
        });
        drop(srv);
        let conf = pki.tls_conf("  min_version: \"1.3\"", "");
        let srv = ServerProcess::start(bin, &["-c", path(&conf)]);
        block_on(bin, async {
            assert!(
                ConnectOptions::new()
                    .require_tls(true)
                    .tls_client_config(tls12())
                    .connection_timeout(Duration::from_secs(5))
                    .connect(srv.url())
                    .await
                    .is_err(),
                "[{bin}] TLS 1.2 client against min_version 1.3"
            );
            let c = tls_client(&pki)
                .connect(srv.url())
                .await
                .unwrap_or_else(|e| panic!("[{bin}] TLS 1.3 client: {e}"));
            round_trip(bin, &c, "t13", 3, 3).await;
        });
    });
}

/// A GET over TLS to the monitoring port, trusting `pki`'s CA.
fn https_get(port: u16, pki: &Pki, target: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("https connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pem_body(&std::fs::read(pki.ca()).unwrap()).into())
        .expect("CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
        .expect("client connection");
    let mut tls = rustls::StreamOwned::new(conn, &mut tcp);
    tls.write_all(format!("GET {target} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("https write");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `https_port` (`-ms`): the monitoring endpoints over TLS with the client
/// certificate; without a `tls` block the server refuses to start with
/// nats-server's fatal line.
#[test]
fn https_monitoring() {
    for_each_server(|bin| {
        let pki = Pki::new("https");
        let conf = pki.tls_conf("", "");
        let https = free_port();
        let _srv = ServerProcess::start(bin, &["-c", path(&conf), "-ms", &https.to_string()]);
        let answer = https_get(https, &pki, "/varz");
        assert!(
            answer.starts_with("HTTP/1.0 200 OK\r\n"),
            "[{bin}] {answer}"
        );
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let varz: serde_json::Value = serde_json::from_str(body).expect("varz JSON");
        assert_eq!(varz["https_port"], https, "[{bin}] {varz}");
        assert_eq!(varz["tls_required"], true, "[{bin}]");

        let out = std::process::Command::new(&bin.path)
            .args(["-a", "127.0.0.1", "-p", &free_port().to_string()])
            .args(["-ms", &free_port().to_string()])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "[{bin}] https without tls");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("Can't start monitoring: TLS cert and key required for HTTPS"),
            "[{bin}] {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
