//! What goes on a route besides messages: our INFO and CONNECT, the peer's
//! INFO and CONNECT as we read them, and the interest and message lines.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The INFO natsd sends on a route: the 2.9-style single-route profile of
/// routes.md §12 (no `compression`, no `route_pool_size`, no `lnoc`), which
/// 2.9 and 2.14 peers both treat as "one unpooled, uncompressed route".
#[derive(Debug, Serialize)]
pub(crate) struct OurInfo<'a> {
    pub server_id: &'a str,
    pub server_name: &'a str,
    pub version: &'a str,
    pub proto: u32,
    pub go: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    /// Routes always ask for a client certificate (as nats-server).
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<&'a str>,
    pub cluster: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub connect_urls: &'a [String],
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl OurInfo<'_> {
    /// `INFO <json> \r\n`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        serde_json::to_writer(&mut *out, self).expect("INFO serializes");
        out.extend_from_slice(b" \r\n");
    }
}

/// The CONNECT a solicitor sends (routes.md §4): `name` is the server id;
/// `lang` must be absent.
#[derive(Debug, Serialize)]
pub(crate) struct OurConnect<'a> {
    pub echo: bool,
    pub verbose: bool,
    pub pedantic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<&'a str>,
    pub tls_required: bool,
    pub headers: bool,
    pub name: &'a str,
    pub cluster: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
}

impl OurConnect<'_> {
    /// `CONNECT <json>\r\n`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CONNECT ");
        serde_json::to_writer(&mut *out, self).expect("CONNECT serializes");
        out.extend_from_slice(b"\r\n");
    }
}

/// A peer's route INFO, the fields natsd uses (unknown ones are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    /// The peer's server id: the route's identity.
    pub server_id: String,
    /// Its server name.
    pub server_name: String,
    /// Its version.
    pub version: String,
    /// Route protocol level.
    pub proto: i64,
    /// Cluster listen host (or advertised).
    pub host: String,
    /// Cluster listen port (or advertised).
    pub port: u16,
    /// Supports HMSG.
    pub headers: bool,
    /// Requires credentials.
    pub auth_required: bool,
    /// `nats-route://host:port/` to dial (gossip, or advertise).
    pub ip: String,
    /// Cluster name.
    pub cluster: String,
    /// The cluster name was made up.
    pub cluster_dynamic: bool,
    /// Client URLs of that server.
    pub connect_urls: Vec<String>,
    /// Lame duck mode.
    pub ldm: bool,
    /// Gateway gossip (not a route INFO).
    pub gateway: String,
    /// Pinned-account route (pooling; natsd has one route per peer).
    pub route_account: String,
}

/// A solicitor's CONNECT, as the acceptor checks it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PeerConnect {
    pub name: String,
    pub cluster: String,
    pub cluster_dynamic: bool,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub lang: Option<String>,
    pub gateway: Option<String>,
    pub headers: bool,
}

/// The peer's INFO made into the gossip INFO other peers receive
/// (routes.md §10): `nonce` removed, `ip` set to the URL to dial unless
/// the peer advertised one. Unknown fields are kept.
pub(crate) fn gossip_info(raw: &[u8], ip: &str) -> Option<Vec<u8>> {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(raw).ok()?;
    v.remove("nonce");
    let has_ip = v
        .get("ip")
        .and_then(|x| x.as_str())
        .is_some_and(|s| !s.is_empty());
    if !has_ip {
        v.insert("ip".into(), serde_json::Value::String(ip.to_string()));
    }
    let mut out = b"INFO ".to_vec();
    serde_json::to_writer(&mut out, &v).ok()?;
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// `RS+ <acc> <subject>[ <queue> <weight>]\r\n` for `count` members, or
/// `RS- <acc> <subject>[ <queue>]\r\n` when `count` is 0.
pub(crate) fn write_interest(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    count: usize,
) {
    out.extend_from_slice(if count > 0 { b"RS+ " } else { b"RS- " });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        if count > 0 {
            out.push(b' ');
            out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `RMSG`/`HMSG` for one route (routes.md §6): `queues` are the groups the
/// peer must serve. A peer without header support gets the payload alone.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_rmsg(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[Bytes],
    header_len: usize,
    message: &[u8],
    peer_headers: bool,
) {
    let mut num = itoa::Buffer::new();
    let (with_headers, body) = if header_len > 0 && peer_headers {
        (true, message)
    } else {
        (false, &message[header_len.min(message.len())..])
    };
    out.reserve(account.len() + subject.len() + body.len() + 48);
    out.extend_from_slice(if with_headers { b"HMSG " } else { b"RMSG " });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    out.push(b' ');
    if !queues.is_empty() {
        match reply {
            Some(r) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(r);
                out.push(b' ');
            }
            None => out.extend_from_slice(b"| "),
        }
        for q in queues {
            out.extend_from_slice(q);
            out.push(b' ');
        }
    } else if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    if with_headers {
        out.extend_from_slice(num.format(header_len).as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(num.format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_forms() {
        let mut o = Vec::new();
        write_interest(&mut o, b"$G", b"foo", None, 1);
        write_interest(&mut o, b"$G", b"bar", Some(b"q1"), 2);
        write_interest(&mut o, b"$G", b"bar", Some(b"q1"), 0);
        write_interest(&mut o, b"$G", b"foo", None, 0);
        assert_eq!(
            o,
            b"RS+ $G foo\r\nRS+ $G bar q1 2\r\nRS- $G bar q1\r\nRS- $G foo\r\n"
        );
        let q = [Bytes::from_static(b"q1"), Bytes::from_static(b"q2")];
        let mut o = Vec::new();
        write_rmsg(
            &mut o,
            b"$G",
            b"foo",
            Some(b"rep.1"),
            &[],
            0,
            b"hello",
            true,
        );
        write_rmsg(&mut o, b"$G", b"bar", None, &q[..1], 0, b"q-msg", true);
        write_rmsg(&mut o, b"$G", b"w", Some(b"r"), &q, 0, b"x", true);
        let m = b"NATS/1.0\r\nX-K: v\r\n\r\nhdr";
        write_rmsg(&mut o, b"$G", b"foo", None, &[], 20, m, true);
        write_rmsg(&mut o, b"$G", b"foo", None, &[], 20, m, false);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "RMSG $G foo rep.1 5\r\nhello\r\n\
             RMSG $G bar | q1 5\r\nq-msg\r\n\
             RMSG $G w + r q1 q2 1\r\nx\r\n\
             HMSG $G foo 20 23\r\nNATS/1.0\r\nX-K: v\r\n\r\nhdr\r\n\
             RMSG $G foo 3\r\nhdr\r\n"
        );
    }

    #[test]
    fn gossip_sets_ip_and_drops_nonce() {
        let g = gossip_info(
            br#"{"server_id":"NX","port":7,"nonce":"abc","gossip_mode":1}"#,
            "nats-route://127.0.0.1:7/",
        )
        .unwrap();
        let s = String::from_utf8(g).unwrap();
        assert!(s.starts_with("INFO {") && s.ends_with("}\r\n"), "{s}");
        assert!(s.contains(r#""ip":"nats-route://127.0.0.1:7/""#), "{s}");
        assert!(!s.contains("nonce") && s.contains("gossip_mode"), "{s}");
    }
}
