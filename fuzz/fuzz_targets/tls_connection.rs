//! `tls_connection`: a client `Connection` on a TLS server, fed arbitrary
//! bytes split at arbitrary points, in each of nats-server's TLS flows —
//! either raw (what a broken or hostile client puts where the handshake
//! belongs) or, after a real rustls handshake, encrypted (the protocol
//! parser behind TLS, and the seal/unseal path of the outbox).
//!
//! Input layout:
//!   byte 0      config bits:
//!                 0: handshake_first
//!                 1: with a fallback delay (`auto`), when bit 0 is set
//!                 2: allow_non_tls
//!                 3: the clock moves 300 ms per read, timers run
//!                 4: a rustls client completes the handshake first and
//!                    the rest is sent as application data through it
//!   byte 1      k = number of split points (0..=32)
//!   2k bytes    split points, u16 little-endian, taken modulo the length
//!   rest        the bytes the client sends
//!
//! Properties:
//! * nothing panics;
//! * pending bytes stay within `max_pending` plus one frame;
//! * once closed and drained, `take` says `Closed`, and further input or
//!   timers produce nothing.

#![no_main]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use natsd_core::tls::{self, HandshakeFirst, ServerConfig, TlsFiles, TlsOptions};
use natsd_core::{CloseReason, Connection, Options, Server, Take};
use rustls::pki_types::pem::PemObject;

/// A self-signed EC P-256 certificate for `localhost`, valid until 2126:
/// test material only.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUblk01FYNud6yyXGGt7NyS/sD0zUwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNjA3MjMwOFoYDzIxMjYxMTAy
MDcyMzA4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARZdm+EBoRVenZuPGyr4UvfwSmer8raeGNQ9Ut89SuBKaJJ1xQo/B0Q
uo5wqoZ2eCMgGgdjWLUVJ6aMMyZ0k0I2o2kwZzAdBgNVHQ4EFgQUoM/rvLjcOESp
vCMquv2/y3fTH4AwHwYDVR0jBBgwFoAUoM/rvLjcOESpvCMquv2/y3fTH4AwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
RwAwRAIgBKie3UhpOtghNV59YGyTjXSinyECiO/EyG1+EVysIv0CIE5rzf13KpVd
5NGuQiC9eXSKtCt3dcqjaBZ8DZjFdqy7
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvzE5HobFhZebu9ne
veN3v24EAFoRIxiBrzl7tlfJKR2hRANCAARZdm+EBoRVenZuPGyr4UvfwSmer8ra
eGNQ9Ut89SuBKaJJ1xQo/B0Quo5wqoZ2eCMgGgdjWLUVJ6aMMyZ0k0I2
-----END PRIVATE KEY-----
";

fn tls_options(cfg: u8) -> TlsOptions {
    TlsOptions {
        cert_file: "cert.pem".into(),
        key_file: "key.pem".into(),
        handshake_first: match cfg & 3 {
            1 => HandshakeFirst::On,
            3 => HandshakeFirst::Fallback(Duration::from_millis(50)),
            _ => HandshakeFirst::Off,
        },
        ..TlsOptions::default()
    }
}

/// Building a config is slow; one per distinct `handshake_first` setting
/// is enough (it does not depend on the other bits).
fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let files = TlsFiles {
                cert: CERT.as_bytes().to_vec(),
                key: KEY.as_bytes().to_vec(),
                ca: None,
            };
            tls::server_config(&tls_options(0), &files).expect("fuzz certificate")
        })
        .clone()
}

fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(rustls::pki_types::CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap())
                .unwrap();
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        })
        .clone()
}

/// Writes what the connection queued; checks the outbox contract.
fn drain(conn: &Connection, limit: usize, out: &mut Vec<u8>) -> bool {
    let outbox = conn.outbox();
    assert!(outbox.pending() <= limit, "pending over the limit");
    let mut buf = Vec::new();
    loop {
        match outbox.take(&mut buf, Waker::noop()) {
            Take::Data => {
                outbox.written(buf.len());
                out.append(&mut buf);
            }
            Take::Empty => return false,
            Take::Closed => return true,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let cfg = data[0];
    let k = usize::from(data[1] % 33);
    let Some(rest) = data.get(2..) else { return };
    let (cut_bytes, input) = rest.split_at((2 * k).min(rest.len()));
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();

    let opts = Options {
        tls: Some(tls_options(cfg)),
        allow_non_tls: cfg & 4 != 0,
        ping_interval: Duration::from_secs(1),
        ..Options::default()
    };
    let limit = opts.max_pending + opts.max_payload + 3 * opts.max_control_line + 64 * 1024;
    let server = Server::new(opts, 42);
    server.tls().install(Some(server_config()));
    let mut now = Instant::now();
    let mut conn = server.accept(SocketAddr::from(([127, 0, 0, 1], 9)), now);
    let mut wire = Vec::new();
    drain(&conn, limit, &mut wire);

    // Optionally a real handshake first (sending the ClientHello at once
    // also suits handshake_first).
    let mut client = None;
    if cfg & 16 != 0 {
        let mut cl =
            rustls::ClientConnection::new(client_config(), "localhost".try_into().unwrap())
                .unwrap();
        if wire.starts_with(b"INFO ") {
            wire.clear();
        }
        for _ in 0..8 {
            if !cl.is_handshaking() || conn.is_closed() {
                break;
            }
            let mut out = Vec::new();
            while cl.wants_write() {
                cl.write_tls(&mut out).unwrap();
            }
            conn.receive(&out, now);
            drain(&conn, limit, &mut wire);
            let mut rd = &wire[..];
            while !rd.is_empty() {
                if cl.read_tls(&mut rd).is_err() || cl.process_new_packets().is_err() {
                    break;
                }
            }
            wire.clear();
        }
        client = Some(cl);
    }

    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        if cut < start {
            continue;
        }
        let chunk = &input[start..cut];
        start = cut;
        match client.as_mut() {
            Some(cl) => {
                let _ = std::io::Write::write_all(&mut cl.writer(), chunk);
                let mut out = Vec::new();
                while cl.wants_write() {
                    cl.write_tls(&mut out).unwrap();
                }
                conn.receive(&out, now);
            }
            None => conn.receive(chunk, now),
        }
        drain(&conn, limit, &mut wire);
        if let Some(cl) = client.as_mut() {
            // The client reads what came back (the server's records must
            // be well formed while the connection is healthy).
            let mut rd = &wire[..];
            while !rd.is_empty() {
                if cl.read_tls(&mut rd).is_err() {
                    break;
                }
                if let Err(e) = cl.process_new_packets() {
                    panic!("server sent bad TLS: {e}");
                }
                let mut sink = Vec::new();
                let _ = cl.reader().read_to_end(&mut sink);
            }
        }
        wire.clear();
        if cfg & 8 != 0 {
            now += Duration::from_millis(300);
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
            drain(&conn, limit, &mut wire);
            wire.clear();
        }
    }
    conn.close(CloseReason::ClientClosed);
    assert!(drain(&conn, limit, &mut wire), "closed and drained");
    conn.receive(b"\x16\x03\x01PING\r\n", now);
    conn.handle_timeout(now + Duration::from_secs(3600));
    let mut after = Vec::new();
    assert!(drain(&conn, limit, &mut after));
    assert!(after.is_empty(), "output after close");
});
