//! Every `-ERR` text the server sends, in one table, and the type that says
//! what an error does to the connection.
//!
//! The strings are nats-server's, byte for byte: client libraries match on
//! some of them (e.g. `Authorization Violation`, `Stale Connection`).

/// `-ERR` texts exactly as nats-server words them (without quotes or CRLF).
pub mod text {
    /// Parser state error: unknown op, empty line, bad CRLF after payload.
    pub const UNKNOWN_OP: &str = "Unknown Protocol Operation";
    /// The argument part of a control line is longer than `max_control_line`.
    pub const MAX_CONTROL_LINE: &str = "maximum control line exceeded";
    /// PUB/HPUB size above `max_payload`.
    pub const MAX_PAYLOAD: &str = "Maximum Payload Violation";
    /// Bad or missing credentials.
    pub const AUTH_VIOLATION: &str = "Authorization Violation";
    /// No CONNECT within the auth timeout.
    pub const AUTH_TIMEOUT: &str = "Authentication Timeout";
    /// CONNECT `protocol` other than 0 or 1.
    pub const INVALID_PROTOCOL: &str = "invalid client protocol";
    /// `no_responders` without `headers`.
    pub const NO_RESPONDERS_NEEDS_HEADERS: &str = "no responders requires headers support";
    /// Too many unanswered server PINGs.
    pub const STALE: &str = "Stale Connection";
    /// Server-wide connection limit reached.
    pub const MAX_CONNECTIONS: &str = "maximum connections exceeded";
    /// An account's `limits.max_connections` reached at CONNECT.
    pub const MAX_ACCOUNT_CONNECTIONS: &str = "maximum account active connections exceeded";
    /// SUB with an invalid subject.
    pub const INVALID_SUBJECT: &str = "Invalid Subject";
    /// Pedantic publish to a non-literal subject.
    pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
    /// Per-connection `max_subscriptions` reached.
    pub const MAX_SUBSCRIPTIONS: &str = "maximum subscriptions exceeded";

    /// `Permissions Violation for Publish to "<subject>"` (Go `%q`).
    pub fn publish_violation(subject: &[u8]) -> String {
        format!("Permissions Violation for Publish to {}", go_quote(subject))
    }

    /// `Permissions Violation for Publish with Reply of "<reply>"`.
    pub fn reply_violation(reply: &[u8]) -> String {
        format!(
            "Permissions Violation for Publish with Reply of {}",
            go_quote(reply)
        )
    }

    /// `Permissions Violation for Subscription to "<subject>"`, with
    /// ` using queue "<queue>"` for a queue subscription.
    pub fn subscription_violation(subject: &[u8], queue: Option<&[u8]>) -> String {
        match queue {
            Some(q) => format!(
                "Permissions Violation for Subscription to {} using queue {}",
                go_quote(subject),
                go_quote(q)
            ),
            None => format!(
                "Permissions Violation for Subscription to {}",
                go_quote(subject)
            ),
        }
    }

    /// `Permissions Violation for Subscription to "<subject>" (sid "<sid>")`:
    /// a subscription a reload no longer allows.
    pub fn subscription_removed(subject: &[u8], sid: &[u8]) -> String {
        format!(
            "Permissions Violation for Subscription to {} (sid {})",
            go_quote(subject),
            go_quote(sid)
        )
    }

    /// Go's `%q` for the subjects quoted in permission errors: double
    /// quotes, with quotes, backslashes and non-printable bytes escaped.
    pub fn go_quote(s: &[u8]) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for ch in String::from_utf8_lossy(s).chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// What an error does on the wire. Every failure the connection can meet is
/// one of these, so the decision "send -ERR? close?" is made in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Send `-ERR '<text>'`, flush it, then close.
    ErrClose(&'static str),
    /// Close without sending anything; the reason is only logged.
    Silent(&'static str),
}

/// Why a connection ended; mirrors nats-server's closed-connection reasons
/// (shown later by `/connz?state=closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed the socket.
    ClientClosed,
    /// A protocol error (with or without `-ERR`).
    ProtocolViolation,
    /// Bad credentials.
    AuthViolation,
    /// CONNECT did not arrive in time.
    AuthTimeout,
    /// Too many PINGs without PONG.
    StaleConnection,
    /// Outbound buffer exceeded `max_pending`.
    SlowConsumerPendingBytes,
    /// A write made no progress within `write_deadline`.
    SlowConsumerWriteDeadline,
    /// Payload above the limit.
    MaxPayloadExceeded,
    /// Control line above the limit.
    MaxControlLineExceeded,
    /// Connection limit reached at accept.
    MaxConnectionsExceeded,
    /// Socket read failed.
    ReadError,
    /// Socket write failed.
    WriteError,
    /// The server is shutting down.
    ServerShutdown,
    /// Closed by a `$SYS.REQ.SERVER.<id>.KICK` request.
    Kicked,
    /// The TLS handshake failed or timed out (or a plaintext client met a
    /// server that requires TLS).
    TlsHandshakeFailure,
}

impl CloseReason {
    /// The text nats-server shows for this reason in `/connz`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::AuthViolation => "Authentication Failure",
            CloseReason::AuthTimeout => "Authentication Timeout",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::Kicked => "Kicked",
            CloseReason::TlsHandshakeFailure => "TLS Handshake Failure",
        }
    }
}

/// Appends `-ERR '<text>'\r\n` to `out`.
pub fn write_err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}
