//! The INFO a client receives, rendered with nats-server's field order.

use serde::Serialize;

/// INFO fields; `None`/`false` fields are left out, as Go's `omitempty`.
#[derive(Debug, Clone, Serialize)]
pub struct Info<'a> {
    /// Server public key (`N...`).
    pub server_id: &'a str,
    /// Server name.
    pub server_name: &'a str,
    /// nats-server compatible version.
    pub version: &'a str,
    /// Protocol level (1).
    pub proto: u32,
    /// In nats-server, the Go runtime; here natsd's own name and version.
    pub go: &'a str,
    /// Client listen host.
    pub host: &'a str,
    /// Client listen port.
    pub port: u16,
    /// Header support.
    pub headers: bool,
    /// Authentication needed.
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    /// Clients must use TLS.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Clients must present a certificate.
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    /// Clients may use TLS (`allow_non_tls`).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    /// Largest payload.
    pub max_payload: usize,
    /// Connection id.
    pub client_id: u64,
    /// Client address as seen here.
    pub client_ip: &'a str,
    /// Challenge for nkey users to sign (first INFO only, when nkey users
    /// are configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// Cluster name, when the server is in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<&'a str>,
    /// Cluster client URLs.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub connect_urls: &'a [String],
    /// Lame duck mode.
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Marks the INFO sent after the first PONG.
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    /// Account the client is bound to (only with `connect_info`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_account: Option<&'a str>,
    /// JetStream API level nats-server 2.14 advertises.
    pub api_lvl: u32,
    /// Server x25519 public key (`X...`).
    pub xkey: &'a str,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Info<'_> {
    /// Appends `INFO <json> \r\n` (with nats-server's space before CRLF).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        serde_json::to_writer(&mut *out, self).expect("INFO serializes");
        out.extend_from_slice(b" \r\n");
    }
}
