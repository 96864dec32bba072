//! Client authentication and authorization against the options in force.
//!
//! * [`Authenticator`]: the configured credentials (single user, token,
//!   `authorization.users` with plain or bcrypt passwords, nkey users,
//!   `no_auth_user`), compiled once per configuration. Its
//!   [`Authenticator::authenticate`] follows nats-server's decision order
//!   and returns the [`Identity`] a client is bound to. Kept apart from the
//!   connection so a config reload re-checks connected clients with the
//!   same rules.
//! * [`Perms`]: one user's compiled permissions (allow/deny lists,
//!   `allow_responses`).
//! * [`ClientAuth`]: a client's permission state that other threads see:
//!   publishers (the delivery filter of wildcard subscriptions, the reply
//!   subjects of `allow_responses`) and a reload (new permissions).
//!
//! Every failure is the same `-ERR 'Authorization Violation'` for the
//! client; the reason only goes to the log.

mod password;
mod perms;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rustc_hash::FxHashMap;

pub use password::{compare_passwords, is_bcrypt};
pub use perms::{Perms, SYS_QUEUE};

use crate::options::Options;
use perms::Replies;

/// The credentials a client presented in CONNECT (empty strings count as
/// absent, as in nats-server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user`.
    pub user: Option<String>,
    /// `pass`.
    pub pass: Option<String>,
    /// `auth_token`.
    pub token: Option<String>,
    /// `nkey`: the user's public key.
    pub nkey: Option<String>,
    /// `sig`: the nonce signed with the nkey's seed (base64url).
    pub sig: Option<String>,
    /// The nonce the server sent this client in INFO (what `sig` signs).
    pub nonce: Option<String>,
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl Credentials {
    /// The ` - User "x"` / ` - Nkey "x"` / ` - Token "[REDACTED]"` suffix
    /// nats-server adds to its `authentication error` log line.
    pub fn log_suffix(&self) -> String {
        if let Some(n) = given(&self.nkey) {
            format!(" - Nkey {}", crate::config::gofmt::quote(n))
        } else if let Some(u) = given(&self.user) {
            format!(" - User {}", crate::config::gofmt::quote(u))
        } else if given(&self.token).is_some() {
            " - Token \"[REDACTED]\"".to_string()
        } else {
            String::new()
        }
    }
}

/// Who a client is once authenticated.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The user name or nkey (for `/connz` and logs); `None` for token
    /// and anonymous clients.
    pub user: Option<String>,
    /// True when [`Identity::user`] is an nkey.
    pub is_nkey: bool,
    /// The user's permissions (`None`: everything allowed).
    pub perms: Option<Arc<Perms>>,
    /// The credentials to check again on reload: what the client sent,
    /// rewritten to the no-auth user when it was bound to it (as
    /// nats-server does).
    pub credentials: Credentials,
    /// The account the user belongs to (`None`: the global account).
    pub account: Option<String>,
}

impl Identity {
    /// `"$G/user:a"`-style tag nats-server puts in its log lines.
    pub fn log_tag(&self) -> Option<String> {
        let u = self.user.as_deref()?;
        let kind = if self.is_nkey { "nkey" } else { "user" };
        Some(format!("\"{}/{kind}:{u}\"", self.account_name()))
    }

    /// The name of the account the client is bound to.
    pub fn account_name(&self) -> &str {
        self.account.as_deref().unwrap_or(crate::account::GLOBAL)
    }
}

#[derive(Debug)]
struct UserEntry {
    password: String,
    perms: Option<Arc<Perms>>,
    /// `allowed_connection_types` admits natsd's (standard) clients.
    standard: bool,
    account: Option<String>,
}

#[derive(Debug)]
struct NkeyEntry {
    perms: Option<Arc<Perms>>,
    standard: bool,
    account: Option<String>,
}

fn admits_standard(types: &[String]) -> bool {
    types.is_empty() || types.iter().any(|t| t == "STANDARD")
}

/// The configured ways in, compiled from [`Options`].
#[derive(Debug, Default)]
pub struct Authenticator {
    required: bool,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    users: FxHashMap<String, UserEntry>,
    nkeys: FxHashMap<String, NkeyEntry>,
    no_auth_user: Option<String>,
}

impl Authenticator {
    /// Compiles the authentication options (permissions included).
    pub fn new(o: &Options) -> Authenticator {
        let compile = |own, account: &Option<String>| {
            o.account_user_permissions(own, account.as_deref())
                .map(|p| Arc::new(Perms::new(p)))
        };
        Authenticator {
            required: o.auth_required(),
            user: o.user.clone(),
            password: o.password.clone(),
            token: o.token.clone(),
            users: o
                .users
                .iter()
                .map(|u| {
                    let e = UserEntry {
                        password: u.password.clone(),
                        perms: compile(&u.permissions, &u.account),
                        standard: admits_standard(&u.allowed_connection_types),
                        account: u.account.clone(),
                    };
                    (u.username.clone(), e)
                })
                .collect(),
            nkeys: o
                .nkeys
                .iter()
                .map(|k| {
                    let e = NkeyEntry {
                        perms: compile(&k.permissions, &k.account),
                        standard: admits_standard(&k.allowed_connection_types),
                        account: k.account.clone(),
                    };
                    (k.nkey.clone(), e)
                })
                .collect(),
            no_auth_user: o.no_auth_user.clone(),
        }
    }

    /// True if clients must authenticate.
    pub fn required(&self) -> bool {
        self.required
    }

    /// nats-server's decision (its `processClientOrLeafAuthentication`,
    /// for the global account): nkey users first, then users with
    /// passwords, each with `no_auth_user` standing in for a client that
    /// sent no credentials, then the token, then the single user.
    /// `None` is an Authorization Violation.
    pub fn authenticate(&self, c: &Credentials) -> Option<Identity> {
        if !self.required {
            return Some(Identity {
                credentials: c.clone(),
                ..Identity::default()
            });
        }
        let (user, pass, token) = (given(&c.user), given(&c.pass), given(&c.token));
        let no_auth = self.no_auth_user.as_deref();
        let mut bound = c.clone();
        if !self.nkeys.is_empty() {
            let mut key = given(&c.nkey);
            if key.is_none() && user.is_none() && pass.is_none() && token.is_none() {
                if let Some(n) = no_auth.filter(|n| self.nkeys.contains_key(*n)) {
                    key = Some(n);
                    bound.nkey = Some(n.to_string());
                }
            }
            if let Some(key) = key {
                let entry = self.nkeys.get(key).filter(|e| e.standard)?;
                // The no-auth nkey needs no signature (not even when named).
                if Some(key) != no_auth && !signed(key, c) {
                    return None;
                }
                return Some(Identity {
                    user: Some(key.to_string()),
                    is_nkey: true,
                    perms: entry.perms.clone(),
                    credentials: bound,
                    account: entry.account.clone(),
                });
            }
        }
        if !self.users.is_empty() {
            let (mut name, mut password) = (user, pass);
            if user.is_none() && pass.is_none() && token.is_none() {
                if let Some((n, u)) = no_auth.and_then(|n| self.users.get_key_value(n)) {
                    name = Some(n);
                    password = Some(&u.password);
                    bound.user = Some(n.clone());
                    bound.pass = Some(u.password.clone());
                }
            }
            if let Some(name) = name {
                let entry = self.users.get(name).filter(|e| e.standard)?;
                if !compare_passwords(&entry.password, password.unwrap_or("")) {
                    return None;
                }
                return Some(Identity {
                    user: Some(name.to_string()),
                    is_nkey: false,
                    perms: entry.perms.clone(),
                    credentials: bound,
                    account: entry.account.clone(),
                });
            }
        }
        if let Some(t) = &self.token {
            return compare_passwords(t, token.unwrap_or("")).then(|| Identity {
                credentials: bound,
                ..Identity::default()
            });
        }
        if let Some(u) = &self.user {
            let ok = user == Some(u.as_str())
                && compare_passwords(self.password.as_deref().unwrap_or(""), pass.unwrap_or(""));
            return ok.then(|| Identity {
                user: Some(u.clone()),
                credentials: bound,
                ..Identity::default()
            });
        }
        None
    }

    /// True if `authorization.users` lists users (what `verify_and_map`
    /// maps certificates to).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// The first listed user whose name `matches`, without a password
    /// check: the client proved who it is another way (`verify_and_map`:
    /// its certificate). Users not admitting standard clients are skipped.
    pub fn user_by_name(&self, matches: impl Fn(&str) -> bool) -> Option<Identity> {
        let (name, u) = self
            .users
            .iter()
            .find(|(n, u)| u.standard && matches(n.as_str()))?;
        Some(Identity {
            user: Some(name.clone()),
            is_nkey: false,
            perms: u.perms.clone(),
            credentials: Credentials {
                user: Some(name.clone()),
                pass: Some(u.password.clone()),
                ..Credentials::default()
            },
            account: u.account.clone(),
        })
    }

    /// A first operation other than CONNECT when `no_auth_user` names a
    /// user with a password: the client is bound to it (nats-server lets
    /// such clients skip CONNECT). `None` (also for an nkey no-auth user)
    /// is an Authorization Violation.
    pub fn bind_no_auth_user(&self) -> Option<Identity> {
        let (name, u) = self
            .no_auth_user
            .as_deref()
            .and_then(|n| self.users.get_key_value(n))?;
        Some(Identity {
            user: Some(name.clone()),
            is_nkey: false,
            perms: u.perms.clone(),
            credentials: Credentials::default(),
            account: u.account.clone(),
        })
    }
}

/// Checks `sig` (base64url without padding, or standard base64) against
/// the nonce this client was sent, for the user key `nkey`.
fn signed(nkey: &str, c: &Credentials) -> bool {
    let Some(sig) = given(&c.sig) else {
        return false;
    };
    let Some(sig) = base64_decode(sig, true).or_else(|| base64_decode(sig, false)) else {
        return false;
    };
    let nonce = c.nonce.as_deref().unwrap_or("");
    crate::nkey::verify(nkey, nonce.as_bytes(), &sig)
}

/// True if `c` may connect under `opts` (always, when no auth is set).
pub fn check(opts: &Options, c: &Credentials) -> bool {
    Authenticator::new(opts).authenticate(c).is_some()
}

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding: how nonces are written.
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=n {
            out.push(B64_URL[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Go's `base64.RawURLEncoding` (`url`: no padding allowed) or
/// `base64.StdEncoding` (padding required) `DecodeString`; like Go it
/// skips `\r` and `\n`.
fn base64_decode(text: &str, url: bool) -> Option<Vec<u8>> {
    let alphabet = if url { B64_URL } else { B64_STD };
    let chars: Vec<u8> = text.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    let body = if url {
        &chars[..]
    } else {
        if chars.len() % 4 != 0 {
            return None;
        }
        let pad = chars.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        &chars[..chars.len() - pad]
    };
    if url && body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = alphabet.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if !url && body.len() % 4 == 1 {
        return None;
    }
    Some(out)
}

/// Raw bytes in an nkey nonce (15 characters of base64url).
pub const NONCE_LEN: usize = 11;

/// A client's permission state as other threads see it. One per
/// connection, shared by its subscriptions and its registry entry.
#[derive(Debug, Default)]
pub struct ClientAuth {
    /// Bumped whenever the permissions change (the connection re-reads).
    epoch: AtomicU64,
    perms: RwLock<Option<Arc<Perms>>>,
    /// The permissions restrict subscriptions: wildcard subscriptions are
    /// filtered at delivery.
    filtering: AtomicBool,
    /// `allow_responses` is set: deliveries with a reply are recorded.
    responses: AtomicBool,
    replies: Mutex<Replies>,
}

impl ClientAuth {
    /// No permissions.
    pub fn new() -> ClientAuth {
        ClientAuth::default()
    }

    /// Installs new permissions; returns the new epoch.
    pub fn set(&self, perms: Option<Arc<Perms>>) -> u64 {
        let filtering = perms.as_ref().is_some_and(|p| p.restricts_subscribe());
        let response = perms.as_ref().and_then(|p| p.response());
        {
            let mut r = self.replies.lock().unwrap_or_else(|e| e.into_inner());
            r.response = response;
        }
        *self.perms.write().unwrap_or_else(|e| e.into_inner()) = perms;
        self.filtering.store(filtering, Ordering::Release);
        self.responses.store(response.is_some(), Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Changes with every [`ClientAuth::set`].
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The permissions in force.
    pub fn perms(&self) -> Option<Arc<Perms>> {
        self.perms.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True if deliveries to this client's wildcard subscriptions must be
    /// checked with [`ClientAuth::may_receive`].
    #[inline]
    pub fn filtering(&self) -> bool {
        self.filtering.load(Ordering::Relaxed)
    }

    /// See [`Perms::may_receive`].
    pub fn may_receive(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        match &*self.perms.read().unwrap_or_else(|e| e.into_inner()) {
            Some(p) => p.may_receive(subject, queue),
            None => true,
        }
    }

    /// True if deliveries carrying a reply subject must be recorded.
    #[inline]
    pub fn tracks_replies(&self) -> bool {
        self.responses.load(Ordering::Relaxed)
    }

    /// A message with reply subject `reply` was delivered to this client.
    pub fn record_reply(&self, reply: &[u8], now: Instant) {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(reply, now);
    }

    /// May this client publish to `subject` as a response (counts it)?
    pub fn reply_allowed(&self, subject: &[u8], now: Instant) -> bool {
        self.replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(subject, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{NkeyUser, Permissions, SubjectPermission, User};

    fn creds(user: &str, pass: &str) -> Credentials {
        Credentials {
            user: Some(user.into()),
            pass: Some(pass.into()),
            ..Credentials::default()
        }
    }

    #[test]
    fn user_and_token() {
        let open = Options::default();
        assert!(check(&open, &Credentials::default()));
        let o = Options {
            user: Some("u".into()),
            password: Some("p".into()),
            ..Options::default()
        };
        let good = creds("u", "p");
        assert!(check(&o, &good));
        assert!(!check(&o, &creds("u", "x")));
        let t = Options {
            token: Some("s3cr3t".into()),
            ..Options::default()
        };
        assert!(check(
            &t,
            &Credentials {
                token: Some("s3cr3t".into()),
                ..Default::default()
            }
        ));
        assert!(!check(&t, &good));
    }

    fn keypair(seed: u8) -> (ed25519_compact::KeyPair, String) {
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]));
        let nkey = crate::nkey::encode_public(crate::nkey::PREFIX_USER, &kp.pk);
        (kp, nkey)
    }

    #[test]
    fn users_nkeys_and_no_auth_user() {
        let (kp, nkey) = keypair(1);
        let perms = Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["a.>".into()]),
                deny: vec![],
            }),
            ..Permissions::default()
        };
        let mut o = Options {
            users: vec![
                User {
                    username: "alice".into(),
                    password: "$2a$04$iPPurYVCxEpc2OvvPDqL5eM88Zz2wXyaE6sESzqzCOs/MnZYCuqK6".into(),
                    permissions: None,
                    allowed_connection_types: vec![],
                    account: None,
                },
                User {
                    username: "bob".into(),
                    password: "bobpw".into(),
                    permissions: Some(Permissions::default()),
                    allowed_connection_types: vec![],
                    account: None,
                },
            ],
            nkeys: vec![NkeyUser {
                nkey: nkey.clone(),
                permissions: None,
                allowed_connection_types: vec![],
                account: None,
            }],
            default_permissions: Some(perms),
            ..Options::default()
        };
        let a = Authenticator::new(&o);
        let alice = a.authenticate(&creds("alice", "pw")).expect("bcrypt");
        assert_eq!(alice.user.as_deref(), Some("alice"));
        assert!(
            !alice.perms.as_ref().unwrap().publish_allowed(b"b"),
            "defaults"
        );
        let bob = a.authenticate(&creds("bob", "bobpw")).unwrap();
        assert!(
            bob.perms.unwrap().publish_allowed(b"b"),
            "own (empty) perms"
        );
        assert!(a.authenticate(&creds("bob", "x")).is_none());
        assert!(a.authenticate(&creds("carol", "bobpw")).is_none());
        assert!(a.authenticate(&Credentials::default()).is_none());
        let nonce = "abcdefghijklmno".to_string();
        let sig = base64url_encode(kp.sk.sign(nonce.as_bytes(), None).as_ref());
        let nk = Credentials {
            nkey: Some(nkey.clone()),
            sig: Some(sig.clone()),
            nonce: Some(nonce.clone()),
            ..Credentials::default()
        };
        let id = a.authenticate(&nk).expect("nkey");
        assert!(id.is_nkey && id.user.as_deref() == Some(nkey.as_str()));
        let wrong_nonce = Credentials {
            nonce: Some("other".into()),
            ..nk.clone()
        };
        assert!(a.authenticate(&wrong_nonce).is_none());
        let no_sig = Credentials {
            sig: None,
            ..nk.clone()
        };
        assert!(a.authenticate(&no_sig).is_none());
        // A configured nkey wins: the password is not looked at.
        let both = Credentials {
            user: Some("bob".into()),
            pass: Some("bobpw".into()),
            sig: Some("AAAA".into()),
            ..nk.clone()
        };
        assert!(a.authenticate(&both).is_none());
        // no_auth_user: empty credentials bind, and are rewritten.
        o.no_auth_user = Some("bob".into());
        let a = Authenticator::new(&o);
        let id = a
            .authenticate(&Credentials::default())
            .expect("no auth user");
        assert_eq!(id.credentials, creds("bob", "bobpw"));
        assert!(a.bind_no_auth_user().is_some());
        assert!(a
            .authenticate(&Credentials {
                pass: Some("x".into()),
                ..Credentials::default()
            })
            .is_none());
        o.no_auth_user = Some(nkey.clone());
        let a = Authenticator::new(&o);
        assert!(a.authenticate(&Credentials::default()).unwrap().is_nkey);
        assert!(
            a.bind_no_auth_user().is_none(),
            "an nkey cannot skip CONNECT"
        );
    }

    #[test]
    fn base64_forms() {
        let data: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37)).collect();
        let url = base64url_encode(&data);
        assert_eq!(url.len(), 86);
        assert_eq!(base64_decode(&url, true).unwrap(), data);
        assert_eq!(base64url_encode(&[0xfb; 11]).len(), 15);
        let std: String = url.replace('-', "+").replace('_', "/") + "==";
        assert_eq!(base64_decode(&std, false).unwrap(), data);
        assert!(base64_decode(&std, true).is_none(), "no padding in raw url");
        assert!(base64_decode(&url, false).is_none(), "std needs padding");
    }

    #[test]
    fn replies_max_and_expiry() {
        use crate::options::ResponsePermission;
        use std::time::Duration;
        #[allow(clippy::disallowed_methods)] // a test needs some instant
        let t0 = Instant::now();
        let auth = ClientAuth::new();
        auth.set(Some(Arc::new(Perms::new(&Permissions {
            response: Some(ResponsePermission {
                max_msgs: 2,
                expires: Duration::from_secs(10),
            }),
            ..Permissions::default()
        }))));
        assert!(auth.tracks_replies());
        assert!(!auth.reply_allowed(b"r", t0));
        auth.record_reply(b"r", t0);
        assert!(auth.reply_allowed(b"r", t0));
        assert!(auth.reply_allowed(b"r", t0));
        assert!(!auth.reply_allowed(b"r", t0), "third");
        auth.record_reply(b"s", t0);
        assert!(
            !auth.reply_allowed(b"s", t0 + Duration::from_secs(11)),
            "expired"
        );
        // Pruning drops used-up and expired entries.
        auth.record_reply(b"u", t0);
        auth.record_reply(b"v", t0 + Duration::from_secs(30));
        assert_eq!(auth.replies.lock().unwrap().len(), 1);
    }
}
