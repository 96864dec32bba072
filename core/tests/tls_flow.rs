//! Client TLS driven in memory: a rustls client talks to a `Connection`
//! through byte buffers, no sockets. Checks what the black-box suite can
//! only infer: records reach the wire in order when deliveries from
//! another connection are flushed in place through a `DirectWriter` that
//! takes only part of each write, interleaved with the owner's own writes.

// Host side of the contract: a clock for `now`.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Instant;

use natsd_core::outbox::{DirectWriter, Take};
use natsd_core::tls::{self, TlsFiles, TlsOptions};
use natsd_core::{Connection, Options, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The simulated socket towards the client: everything written to it, in
/// order, whichever thread wrote.
#[derive(Debug, Default)]
struct Wire {
    bytes: Mutex<Vec<u8>>,
    /// Bytes a direct write may still take before "would block".
    room: Mutex<usize>,
}

impl DirectWriter for Wire {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        let mut room = self.room.lock().unwrap();
        if *room == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(*room);
        *room -= n;
        self.bytes.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The owner's writer: takes everything queued and "writes" it.
fn owner_write(c: &Connection, wire: &Wire) {
    let mut buf = Vec::new();
    while c.outbox().take(&mut buf, Waker::noop()) == Take::Data {
        wire.bytes.lock().unwrap().extend_from_slice(&buf);
        c.outbox().written(buf.len());
        buf.clear();
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

struct Pki {
    ca: Vec<u8>,
    files: TlsFiles,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &rcgen::Issuer::from_params(&ca, &ca_key))
        .unwrap();
    Pki {
        ca: ca_cert.pem().into_bytes(),
        files: TlsFiles {
            cert: cert.pem().into_bytes(),
            key: key.serialize_pem().into_bytes(),
            ca: None,
        },
    }
}

fn client(ca_pem: &[u8]) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap()
}

/// Client → server: whatever the client wants to send.
fn to_server(cl: &mut rustls::ClientConnection, c: &mut Connection) {
    let mut out = Vec::new();
    while cl.wants_write() {
        cl.write_tls(&mut out).unwrap();
    }
    if !out.is_empty() {
        c.receive(&out, Instant::now());
    }
}

/// Server → client: the wire's bytes so far; returns the plaintext.
fn to_client(cl: &mut rustls::ClientConnection, wire: &Wire) -> Vec<u8> {
    let data = std::mem::take(&mut *wire.bytes.lock().unwrap());
    let mut rd = &data[..];
    let mut plain = Vec::new();
    while !rd.is_empty() {
        cl.read_tls(&mut rd).unwrap();
        cl.process_new_packets().unwrap();
        let _ = cl.reader().read_to_end(&mut plain);
    }
    plain
}

#[test]
fn records_stay_in_order_through_partial_direct_writes() {
    let pki = pki();
    let opts = Options {
        tls: Some(TlsOptions {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            ..TlsOptions::default()
        }),
        allow_non_tls: true,
        ..Options::default()
    };
    let server = Server::new(opts.clone(), 7);
    server.tls().install(Some(
        tls::server_config(opts.tls.as_ref().unwrap(), &pki.files).unwrap(),
    ));
    let now = Instant::now();
    let wire = Arc::new(Wire::default());

    // The subscriber, over TLS.
    let mut sub = server.accept(peer(), now);
    owner_write(&sub, &wire);
    let info = std::mem::take(&mut *wire.bytes.lock().unwrap());
    assert!(info.starts_with(b"INFO {"), "plaintext INFO first");
    assert!(String::from_utf8_lossy(&info).contains("\"tls_available\":true"));
    let mut cl = client(&pki.ca);
    while cl.is_handshaking() {
        to_server(&mut cl, &mut sub);
        owner_write(&sub, &wire);
        to_client(&mut cl, &wire);
    }
    cl.writer()
        .write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
        .unwrap();
    to_server(&mut cl, &mut sub);
    owner_write(&sub, &wire);
    assert_eq!(to_client(&mut cl, &wire), b"PONG\r\n");

    // The publisher, in plaintext (allow_non_tls): its deliveries go
    // straight to the subscriber's "socket" through the direct writer,
    // which takes a few hundred bytes each time.
    sub.outbox().set_direct_writer(wire.clone());
    let mut publisher = server.accept(peer(), now);
    publisher.receive(b"CONNECT {\"verbose\":false}\r\n", now);
    let mut expected = Vec::new();
    for round in 0..200 {
        *wire.room.lock().unwrap() = 100 + (round * 37) % 400;
        let mut batch = Vec::new();
        for i in 0..10 {
            let n = round * 10 + i;
            // Batches of ~800 bytes against 100-500 bytes of room: most
            // direct writes are partial.
            let payload = format!("m{n}-{}", "x".repeat(60));
            batch.extend_from_slice(
                format!("PUB foo {}\r\n{payload}\r\n", payload.len()).as_bytes(),
            );
            expected.extend_from_slice(
                format!("MSG foo 1 {}\r\n{payload}\r\n", payload.len()).as_bytes(),
            );
        }
        publisher.receive(&batch, now);
        if round % 3 == 0 {
            // The subscriber's own writer runs in between.
            owner_write(&sub, &wire);
        }
    }
    *wire.room.lock().unwrap() = 0;
    owner_write(&sub, &wire);
    let got = to_client(&mut cl, &wire);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the decrypted stream is the MSG stream, in order"
    );
    assert_eq!(sub.outbox().pending(), 0);
}

#[test]
fn plaintext_first_byte_closes_without_a_word() {
    let pki = pki();
    let opts = Options {
        tls: Some(TlsOptions {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            ..TlsOptions::default()
        }),
        ..Options::default()
    };
    let server = Server::new(opts.clone(), 7);
    server.tls().install(Some(
        tls::server_config(opts.tls.as_ref().unwrap(), &pki.files).unwrap(),
    ));
    let wire = Wire::default();
    let mut c = server.accept(peer(), Instant::now());
    owner_write(&c, &wire);
    wire.bytes.lock().unwrap().clear();
    c.receive(b"CONNECT {}\r\nPING\r\n", Instant::now());
    assert!(c.is_closed());
    owner_write(&c, &wire);
    assert!(wire.bytes.lock().unwrap().is_empty(), "no -ERR");
    assert_eq!(
        c.close_reason().map(|r| r.as_str()),
        Some("TLS Handshake Failure")
    );
}
