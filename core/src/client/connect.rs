//! The CONNECT options a client sends.

use serde::Deserialize;

/// CONNECT JSON, unmarshalled on top of nats-server's defaults
/// (`verbose`, `pedantic` and `echo` are true when absent).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConnectOptions {
    /// `+OK` after each accepted op.
    pub verbose: bool,
    /// Check publish subjects.
    pub pedantic: bool,
    /// Deliver the connection's own messages to itself.
    pub echo: bool,
    /// Token.
    pub auth_token: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub pass: Option<String>,
    /// User public nkey.
    pub nkey: Option<String>,
    /// Signature of the INFO nonce by the nkey.
    pub sig: Option<String>,
    /// Client name.
    pub name: String,
    /// Client language.
    pub lang: String,
    /// Client library version.
    pub version: String,
    /// 0, or 1 for async INFO support.
    pub protocol: i64,
    /// HPUB/HMSG support.
    pub headers: bool,
    /// 503 status for requests nobody answers.
    pub no_responders: bool,
    /// Legacy field; present means failure.
    pub account: Option<serde_json::Value>,
    /// Legacy field; present means failure.
    pub new_account: Option<serde_json::Value>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            auth_token: None,
            user: None,
            pass: None,
            nkey: None,
            sig: None,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            headers: false,
            no_responders: false,
            account: None,
            new_account: None,
        }
    }
}

impl ConnectOptions {
    /// Parses CONNECT JSON; `None` if it is not valid for the Go decoder
    /// either (such a CONNECT closes the connection without `-ERR`).
    pub fn parse(json: &[u8]) -> Option<ConnectOptions> {
        // Go's decoder leaves a field at its default when the JSON says
        // `null` (async-nats sends `"name":null`), treats a `null` document
        // as "no fields", and matches keys case-insensitively; serde does
        // none of that, so normalise the object first.
        let value: serde_json::Value = serde_json::from_slice(json).ok()?;
        let object = match value {
            serde_json::Value::Null => return Some(ConnectOptions::default()),
            serde_json::Value::Object(o) => o,
            _ => return None,
        };
        let mut fields = serde_json::Map::with_capacity(object.len());
        for (key, v) in object {
            if v.is_null() {
                continue;
            }
            let lower = key.to_ascii_lowercase();
            // An exact-case key wins over a case-insensitive one, as in Go.
            if lower == key || !fields.contains_key(&lower) {
                fields.insert(lower, v);
            }
        }
        serde_json::from_value(serde_json::Value::Object(fields)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_decoding_rules() {
        let c = ConnectOptions::parse(br#"{"verbose":false,"name":null,"echo":null}"#).unwrap();
        assert!(!c.verbose && c.echo && c.name.is_empty());
        assert!(ConnectOptions::parse(b"null").unwrap().verbose);
        assert!(ConnectOptions::parse(b"[]").is_none());
        assert!(ConnectOptions::parse(br#"{"verbose":"yes"}"#).is_none());
        assert!(
            !ConnectOptions::parse(br#"{"Verbose":false}"#)
                .unwrap()
                .verbose
        );
        assert!(ConnectOptions::parse(b"{").is_none());
    }
}
