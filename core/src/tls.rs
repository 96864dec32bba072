//! TLS for client and route connections, with rustls (itself sans-IO) and
//! its ring provider.
//!
//! * [`TlsOptions`]: the `tls {}` block (and the `--tls*` flags), and the
//!   `cluster { tls {} }` block.
//! * [`TlsFiles`]: the PEM bytes of `cert_file`, `key_file` and `ca_file`,
//!   read by the host (the core opens no file) at startup and on reload.
//! * [`server_config`]: options + files → a rustls `ServerConfig`, with
//!   nats-server's error texts where it has them.
//! * [`route_config`]: the same for `cluster { tls {} }`: a server side
//!   that always asks for and verifies a client certificate, and a client
//!   side for the routes this server dials (nats-server's routes are
//!   mutual TLS whatever `verify` says).
//! * [`TlsState`]: the config in force, held by the [`crate::Server`];
//!   installing a new one (reload) applies to connections accepted after.
//! * [`Session`]: one connection's rustls state (server or client side). It lives inside the
//!   connection's [`crate::Outbox`], so every path that hands bytes to the
//!   socket (the owner's writer and the in-place flush of publishers on
//!   other threads) encrypts under the same lock that orders the plaintext;
//!   the connection decrypts through it in `receive` (see
//!   `connection/tls.rs` for the wire flow of nats-server's table).
//! * [`mapped_names`]: the user names `verify_and_map` tries, in
//!   nats-server's order.

use std::io::{self, Read};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CipherSuite, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConnection,
    SignatureScheme, SupportedCipherSuite,
};

/// rustls' client configuration, as [`route_config`] builds it for dialed
/// routes.
pub use rustls::ClientConfig;
/// rustls' server configuration, as [`server_config`] builds it.
pub use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// nats-server's default TLS handshake timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `handshake_first: auto` waits for a ClientHello before
/// falling back to a plaintext INFO.
pub const AUTO_FALLBACK: Duration = Duration::from_millis(50);

/// `handshake_first`: whether the server waits for the client's TLS
/// handshake before sending INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeFirst {
    /// INFO in plaintext, then the client starts TLS (the default).
    #[default]
    Off,
    /// No plaintext INFO: INFO is the first TLS record.
    On,
    /// Like `On`, but without a ClientHello within this delay INFO goes
    /// out in plaintext and the normal flow follows (`auto`, `"300ms"`).
    Fallback(Duration),
}

/// Lowest TLS version accepted (`min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// TLS 1.2 (the default).
    #[default]
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// The client port's `tls {}` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Server certificate chain (PEM).
    pub cert_file: String,
    /// Server private key (PEM).
    pub key_file: String,
    /// CA certificates for client certificates (PEM); empty: none.
    pub ca_file: String,
    /// Require and verify a client certificate.
    pub verify: bool,
    /// `verify`, and take the user name from the client certificate.
    pub verify_and_map: bool,
    /// Handshake timeout ([`DEFAULT_TIMEOUT`] when not set).
    pub timeout: Duration,
    /// `handshake_first`.
    pub handshake_first: HandshakeFirst,
    /// `min_version`.
    pub min_version: MinVersion,
    /// `cipher_suites` as written (Go names, checked by [`cipher_suite`]);
    /// empty: rustls' defaults.
    pub cipher_suites: Vec<String>,
    /// `insecure`: connections this server dials (routes) do not verify
    /// the peer's certificate chain and host name.
    pub insecure: bool,
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions {
            cert_file: String::new(),
            key_file: String::new(),
            ca_file: String::new(),
            verify: false,
            verify_and_map: false,
            timeout: DEFAULT_TIMEOUT,
            handshake_first: HandshakeFirst::Off,
            min_version: MinVersion::Tls12,
            cipher_suites: Vec::new(),
            insecure: false,
        }
    }
}

impl TlsOptions {
    /// Whether clients must present a certificate.
    pub fn verifies(&self) -> bool {
        self.verify || self.verify_and_map
    }
}

/// The contents of the files a [`TlsOptions`] names, read by the host.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// `cert_file`'s bytes.
    pub cert: Vec<u8>,
    /// `key_file`'s bytes.
    pub key: Vec<u8>,
    /// `ca_file`'s bytes, when one is named.
    pub ca: Option<Vec<u8>>,
}

/// What a Go name in `cipher_suites` is to natsd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// A suite rustls implements.
    Supported(CipherSuite),
    /// A suite Go knows that rustls does not offer (CBC, RC4, 3DES, plain
    /// RSA key exchange).
    Unavailable,
}

/// Go's cipher suite names (`nats-server --help_tls`) and what rustls
/// calls them.
const GO_SUITES: &[(&str, Option<CipherSuite>)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS13_AES_128_GCM_SHA256),
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384),
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    ("TLS_RSA_WITH_RC4_128_SHA", None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
];

/// A `cipher_suites` entry by its Go name; `None` for a name Go does not
/// know either.
pub fn cipher_suite(go_name: &str) -> Option<Suite> {
    GO_SUITES
        .iter()
        .find(|(n, _)| *n == go_name)
        .map(|(_, s)| s.map_or(Suite::Unavailable, Suite::Supported))
}

/// The Go name of a negotiated suite (`tls_cipher_suite` in `/connz`).
pub fn go_suite_name(s: CipherSuite) -> &'static str {
    GO_SUITES
        .iter()
        .find(|(_, c)| *c == Some(s))
        .map_or("Unknown", |(n, _)| n)
}

/// The crypto provider with `o`'s cipher suites, and its TLS versions.
fn provider_for(
    o: &TlsOptions,
) -> (
    Arc<CryptoProvider>,
    &'static [&'static rustls::SupportedProtocolVersion],
) {
    let base = provider::default_provider();
    let mut suites: Vec<SupportedCipherSuite> = base
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect();
    if o.cipher_suites.is_empty() {
        suites = base.cipher_suites.clone();
    } else {
        // As in Go, the list picks the TLS 1.2 suites; TLS 1.3 ones are
        // always on.
        for name in &o.cipher_suites {
            if let Some(Suite::Supported(cs)) = cipher_suite(name) {
                if let Some(s) = base.cipher_suites.iter().find(|s| s.suite() == cs) {
                    if !suites.contains(s) {
                        suites.push(*s);
                    }
                }
            }
        }
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..base
    });
    const BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    const ONLY_13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let versions = match o.min_version {
        MinVersion::Tls12 => BOTH,
        MinVersion::Tls13 => ONLY_13,
    };
    (provider, versions)
}

/// The certificates of `ca_file`.
fn roots(o: &TlsOptions, ca: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| ca_error(&o.ca_file, &e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| ca_error(&o.ca_file, &e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_error(&o.ca_file, "no certificates found"));
    }
    Ok(roots)
}

/// `cert_file`'s chain and `key_file`'s key.
fn cert_and_key(
    o: &TlsOptions,
    f: &TlsFiles,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = CertificateDer::pem_slice_iter(&f.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pair_error(&o.cert_file, &e.to_string()))?;
    if certs.is_empty() {
        return Err(pair_error(
            &o.cert_file,
            "failed to find any PEM data in certificate input",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&f.key).map_err(|e| {
        let why = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "failed to find any PEM data in key input".to_string()
            }
            e => e.to_string(),
        };
        pair_error(&o.key_file, &why)
    })?;
    Ok((certs, key))
}

/// Builds the rustls configuration for `o` from the files' contents. The
/// error names the file at fault.
pub fn server_config(o: &TlsOptions, f: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    server_config_verifying(o, f, o.verifies())
}

/// [`server_config`], asking for client certificates when `verify`.
fn server_config_verifying(
    o: &TlsOptions,
    f: &TlsFiles,
    verify: bool,
) -> Result<Arc<ServerConfig>, String> {
    let (provider, versions) = provider_for(o);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match &f.ca {
        Some(ca) if verify => {
            let roots = roots(o, ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(&o.ca_file, &e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if verify => {
            return Err(
                "tls: verify needs ca_file (natsd does not read the system's CA store)".into(),
            )
        }
        _ => builder.with_no_client_auth(),
    };
    let (certs, key) = cert_and_key(o, f)?;
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| pair_error(&o.key_file, &e.to_string()))?;
    Ok(Arc::new(config))
}

/// The rustls configurations of `cluster { tls {} }`.
#[derive(Debug, Clone)]
pub struct RouteTlsConfig {
    /// For accepted routes: always asks for a client certificate and
    /// verifies it against `ca_file` (nats-server forces `verify` for
    /// routes, and `/varz` shows `tls_verify: true` whatever the block
    /// says).
    pub server: Arc<ServerConfig>,
    /// For dialed routes: the same certificate as the client certificate,
    /// `ca_file` as the roots the acceptor's certificate must chain to
    /// (or no check at all with `insecure`).
    pub client: Arc<ClientConfig>,
}

/// Builds both sides of route TLS for `o` from the files' contents. The
/// error names the file at fault.
pub fn route_config(o: &TlsOptions, f: &TlsFiles) -> Result<RouteTlsConfig, String> {
    let server = server_config_verifying(o, f, true)?;
    let (provider, versions) = provider_for(o);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls: {e}"))?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider)))
    } else {
        let Some(ca) = &f.ca else {
            return Err(
                "tls: routes verify their peers and need ca_file (natsd does not read the system's CA store)".into(),
            );
        };
        builder.with_root_certificates(roots(o, ca)?)
    };
    let (certs, key) = cert_and_key(o, f)?;
    let client = builder
        .with_client_auth_cert(certs, key)
        .map_err(|e| pair_error(&o.key_file, &e.to_string()))?;
    Ok(RouteTlsConfig {
        server,
        client: Arc::new(client),
    })
}

/// `insecure`: any certificate chain and host name is accepted, but the
/// handshake signatures are still checked (they prove the peer holds the
/// key of the certificate it sent, which costs nothing to keep).
#[derive(Debug)]
struct NoServerVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The name a dialed route's certificate must carry: the route URL's
/// host, as an IP address when it is one (matched against IP SANs), else
/// as a DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string()).map_err(|_| format!("invalid TLS server name {host:?}"))
}

fn pair_error(file: &str, why: &str) -> String {
    format!("error parsing X509 certificate/key pair: {file}: {why}")
}

fn ca_error(file: &str, why: &str) -> String {
    format!("failed to parse root ca certificate: {file}: {why}")
}

/// The rustls configuration in force; a reload installs a new one, which
/// connections accepted afterwards use.
#[derive(Debug, Default)]
pub struct TlsState {
    config: RwLock<Option<Arc<ServerConfig>>>,
}

impl TlsState {
    /// Installs (or, with `None`, removes) the configuration.
    pub fn install(&self, config: Option<Arc<ServerConfig>>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// The configuration for a connection accepted now.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What `/connz` shows of a connection's TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSummary {
    /// `"1.2"` or `"1.3"`.
    pub version: &'static str,
    /// Go's name of the negotiated suite.
    pub cipher_suite: &'static str,
    /// The handshake came before INFO.
    pub first: bool,
}

/// A client certificate as `/connz?auth=true` shows it
/// (`tls_peer_certs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// Subject DN, RFC 2253 as Go prints it.
    pub subject: String,
    /// Hex SHA-256 of the SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// Hex SHA-256 of the whole certificate (DER).
    pub cert_sha256: String,
}

fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// [`PeerCert`] of one DER certificate; `None` if it does not parse.
pub fn peer_cert(der: &[u8]) -> Option<PeerCert> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(PeerCert {
        subject: rfc2253(cert.subject()),
        spki_sha256: sha256_hex(cert.public_key().raw),
        cert_sha256: sha256_hex(der),
    })
}

/// One connection's rustls state plus the ciphertext (or, before TLS
/// started, plaintext) that must reach the socket before anything newer.
/// Server side for accepted connections, client side for dialed routes.
#[derive(Debug)]
pub struct Session {
    conn: rustls::Connection,
    /// Bytes for the wire, in order, not yet handed to a writer.
    wire: Vec<u8>,
}

impl Session {
    /// Starts a server-side TLS session; `before` is what was queued in
    /// plaintext before the handshake began (it still goes out first).
    pub(crate) fn new(config: Arc<ServerConfig>, before: Vec<u8>) -> Result<Session, String> {
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        Ok(Session::with(conn.into(), before))
    }

    /// Starts a client-side TLS session to `name` (a dialed route): its
    /// ClientHello is the first output. Plaintext sealed before the
    /// handshake completes waits inside rustls and follows it.
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        before: Vec<u8>,
    ) -> Result<Session, String> {
        let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        Ok(Session::with(conn.into(), before))
    }

    fn with(mut conn: rustls::Connection, before: Vec<u8>) -> Session {
        // The outbox's max_pending bounds what is queued; rustls must not
        // truncate a large batch of messages.
        conn.set_buffer_limit(None);
        Session { conn, wire: before }
    }

    /// Encrypts the plaintext in `buf` and replaces it with every byte
    /// ready for the socket (earlier leftovers first).
    pub(crate) fn seal(&mut self, buf: &mut Vec<u8>) {
        if !buf.is_empty() {
            // Writing to a Vec-backed rustls buffer with no limit cannot
            // fail or write short.
            let _ = io::Write::write_all(&mut self.conn.writer(), buf);
            buf.clear();
        }
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.wire).is_err() {
                break;
            }
        }
        std::mem::swap(buf, &mut self.wire);
    }

    /// True if [`Session::seal`] would produce bytes with no new plaintext.
    pub(crate) fn has_output(&self) -> bool {
        !self.wire.is_empty() || self.conn.wants_write()
    }

    /// Puts bytes a writer could not write back in front of the queue.
    pub(crate) fn unwrite(&mut self, rest: &[u8]) {
        let mut v = rest.to_vec();
        v.append(&mut self.wire);
        self.wire = v;
    }

    /// Bytes held here for the wire (counted as pending).
    pub(crate) fn held(&self) -> usize {
        self.wire.len()
    }

    /// Feeds ciphertext; appends what it decrypts to `plain`.
    pub(crate) fn read(
        &mut self,
        mut data: &[u8],
        plain: &mut Vec<u8>,
    ) -> Result<Progress, String> {
        let mut closed = false;
        loop {
            if !data.is_empty() {
                self.conn.read_tls(&mut data).map_err(|e| e.to_string())?;
            }
            let state = self.conn.process_new_packets().map_err(|e| e.to_string())?;
            closed |= state.peer_has_closed();
            let mut chunk = [0u8; 8192];
            loop {
                match self.conn.reader().read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => plain.extend_from_slice(&chunk[..n]),
                    Err(_) => break,
                }
            }
            if data.is_empty() {
                break;
            }
        }
        Ok(Progress {
            handshaking: self.conn.is_handshaking(),
            closed,
        })
    }

    /// Version and suite once the handshake is done.
    pub(crate) fn summary(&self, first: bool) -> Option<TlsSummary> {
        let version = match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "1.3",
            rustls::ProtocolVersion::TLSv1_2 => "1.2",
            _ => "unknown",
        };
        let suite = self.conn.negotiated_cipher_suite()?.suite();
        Some(TlsSummary {
            version,
            cipher_suite: go_suite_name(suite),
            first,
        })
    }

    /// The peer's certificate chain as `/connz` shows it.
    pub(crate) fn peer_certs(&self) -> Vec<PeerCert> {
        self.conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| peer_cert(c.as_ref()))
            .collect()
    }

    /// The client's certificate (leaf first), if it sent one.
    pub(crate) fn peer_leaf(&self) -> Option<Vec<u8>> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
    }
}

/// After feeding bytes to a [`Session`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    pub(crate) handshaking: bool,
    pub(crate) closed: bool,
}

/// The user names `verify_and_map` looks up for a client certificate, in
/// nats-server's order: each email SAN, each DNS SAN, each URI SAN, then
/// the subject DN in RFC 2253 form (`CN=tlsuser,O=Org`). Empty for a
/// certificate that does not parse.
pub fn mapped_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let gn = &san.value.general_names;
        let pick = |f: fn(&GeneralName<'_>) -> Option<String>| gn.iter().filter_map(f);
        let emails: Vec<String> = pick(|g| match g {
            GeneralName::RFC822Name(s) => Some(s.to_string()),
            _ => None,
        })
        .collect();
        let dns: Vec<String> = pick(|g| match g {
            GeneralName::DNSName(s) => Some(s.to_string()),
            _ => None,
        })
        .collect();
        let uris: Vec<String> = pick(|g| match g {
            GeneralName::URI(s) => Some(s.to_string()),
            _ => None,
        })
        .collect();
        names.extend(emails);
        names.extend(dns);
        names.extend(uris);
    }
    names.push(rfc2253(cert.subject()));
    names
}

/// Go's `pkix.RDNSequence.String()`: RDNs last first, `+` inside a
/// multi-valued RDN, short names for the common attribute types and
/// `oid=#<hex DER>` for the others.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type().to_id_string();
            let short = match oid.as_str() {
                "2.5.4.6" => Some("C"),
                "2.5.4.10" => Some("O"),
                "2.5.4.11" => Some("OU"),
                "2.5.4.3" => Some("CN"),
                "2.5.4.5" => Some("SERIALNUMBER"),
                "2.5.4.7" => Some("L"),
                "2.5.4.8" => Some("ST"),
                "2.5.4.9" => Some("STREET"),
                "2.5.4.17" => Some("POSTALCODE"),
                _ => None,
            };
            match (short, atv.as_str()) {
                (Some(t), Ok(v)) => {
                    out.push_str(t);
                    out.push('=');
                    escape_value(v, &mut out);
                }
                _ => {
                    let v = atv.attr_value();
                    out.push_str(&oid);
                    out.push_str("=#");
                    let mut der = vec![v.tag().0 as u8];
                    let len = v.data.len();
                    if len < 0x80 {
                        der.push(len as u8);
                    } else {
                        let bytes: Vec<u8> = (len as u64)
                            .to_be_bytes()
                            .into_iter()
                            .skip_while(|&b| b == 0)
                            .collect();
                        der.push(0x80 | bytes.len() as u8);
                        der.extend(bytes);
                    }
                    der.extend_from_slice(v.data);
                    for b in der {
                        out.push_str(&format!("{b:02x}"));
                    }
                }
            }
        }
    }
    out
}

fn escape_value(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (k, c) in v.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The same DN written in another order: the attribute sets compared
/// regardless of order (nats-server's second, RDN-set match).
pub fn same_rdn_set(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        let mut v: Vec<String> = s.split(',').map(|p| p.trim().to_string()).collect();
        v.sort();
        v
    };
    a.contains('=') && b.contains('=') && split(a) == split(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_map_both_ways() {
        assert_eq!(
            cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            Some(Suite::Supported(
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ))
        );
        assert_eq!(
            cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA"),
            Some(Suite::Unavailable)
        );
        assert_eq!(cipher_suite("TLS_BOGUS"), None);
        assert_eq!(
            go_suite_name(CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
    }

    #[test]
    fn dn_escaping_and_rdn_sets() {
        let mut s = String::new();
        escape_value(" a,b#", &mut s);
        assert_eq!(s, "\\ a\\,b#");
        assert!(same_rdn_set("CN=a,O=b", "O=b,CN=a"));
        assert!(!same_rdn_set("CN=a,O=b", "CN=a"));
    }

    #[test]
    fn bad_pem_names_the_file() {
        let o = TlsOptions {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
            ..TlsOptions::default()
        };
        let e = server_config(&o, &TlsFiles::default()).unwrap_err();
        assert!(e.contains("c.pem"), "{e}");
        assert!(mapped_names(b"not a cert").is_empty());
    }
}
