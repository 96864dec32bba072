//! `authorization { users, default_permissions }` and `no_auth_user` in the
//! configuration file: shapes, aliases and nats-server's error texts
//! (checked against nats-server 2.14.0 `-t`; columns agree from line 2 on,
//! see `config::value::Pos`).

use std::time::Duration;

use natsd_core::config::{self, MapLoader};
use natsd_core::options::{Permissions, ResponsePermission, SubjectPermission};
use natsd_core::Options;

const NKEY: &str = "UCPRTI4RLHGEKAZIHMCQ5GGBT2MZRQRG7OLOMNQJRCBBOG36ZWCUZCNV";

fn load(text: &str) -> Result<Options, String> {
    let mut o = Options::default();
    let l = config::load(text, "t.conf", &mut MapLoader::new(), &|_| None, &mut o)
        .map_err(|e| e.to_string())?;
    assert!(l.warnings.is_empty(), "{text}: {:?}", l.warnings);
    Ok(o)
}

#[track_caller]
fn error(text: &str) -> String {
    match load(text) {
        Ok(o) => panic!("{text:?} should fail, gave {o:?}"),
        Err(e) => e,
    }
}

/// A users list with one entry, on line 3 from column 5.
fn user(body: &str) -> String {
    format!("authorization {{\n  users: [\n    {body}\n  ]\n}}")
}

/// One user's permissions, on line 4 from column 6.
fn perms(p: &str) -> String {
    format!("authorization {{\n  users: [\n    {{user: a, password: b,\n     permissions: {p}}}\n  ]\n}}")
}

fn perms_of(p: &str) -> Permissions {
    let o = load(&perms(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    o.users[0].permissions.clone().expect("permissions")
}

fn allow(list: &[&str]) -> Option<SubjectPermission> {
    Some(SubjectPermission {
        allow: Some(list.iter().map(|s| s.to_string()).collect()),
        deny: vec![],
    })
}

#[test]
fn users_and_nkeys() {
    let o = load(&format!(
        "authorization {{\n  users: [\n    {{user: alice, password: \"$2a$11$abc\"}}\n    \
         {{username: bob, pass: pw, permissions: {{publish: x}}}}\n    {{nkey: {NKEY}}}\n  ]\n  \
         default_permissions: {{subscribe: \"public.>\"}}\n}}\nno_auth_user: bob"
    ))
    .unwrap();
    assert_eq!(o.users.len(), 2);
    assert_eq!(
        (o.users[0].username.as_str(), o.users[0].password.as_str()),
        ("alice", "$2a$11$abc")
    );
    assert_eq!(
        o.users[1].permissions.as_ref().unwrap().publish,
        allow(&["x"])
    );
    assert_eq!(o.nkeys.len(), 1);
    assert_eq!(o.nkeys[0].nkey, NKEY);
    assert_eq!(
        o.default_permissions.as_ref().unwrap().subscribe,
        allow(&["public.>"])
    );
    assert_eq!(o.no_auth_user.as_deref(), Some("bob"));
    assert!(o.auth_required() && !o.info_auth_required() && o.nonce_required());
    assert!(o.has_plaintext_passwords(), "bob's password");
    assert_eq!(config::validate(&o), Ok(()));
    // `permissions` in the block is an alias of default_permissions.
    let o = load("authorization {\n  permissions: {publish: y}\n  users: [{user: a}]\n}").unwrap();
    assert_eq!(o.default_permissions.unwrap().publish, allow(&["y"]));
    // An empty users array is no users (and no auth).
    let o = load("authorization {\n  users: []\n}").unwrap();
    assert!(o.users.is_empty() && !o.auth_required());
    // Connection types are kept upper case.
    let o = load(&user(
        "{user: a, allowed_connection_types: [standard, \"MQTT\"]}",
    ))
    .unwrap();
    assert_eq!(o.users[0].allowed_connection_types, ["STANDARD", "MQTT"]);
}

#[test]
fn permission_forms() {
    assert_eq!(perms_of("{publish: \"a.>\"}").publish, allow(&["a.>"]));
    assert_eq!(
        perms_of("{pub: [\"a\", \"b\"]}").publish,
        allow(&["a", "b"])
    );
    assert_eq!(perms_of("{import: a}").publish, allow(&["a"]));
    let p = perms_of("{sub: {allow: [\"a\", \"q q1\"], deny: \"a.b\"}, export: x}");
    assert_eq!(p.subscribe, allow(&["x"]), "last of sub/export wins");
    let p = perms_of("{subscribe: {allow: [\"a\", \"q q1\"], deny: \"a.b\"}}");
    assert_eq!(
        p.subscribe,
        Some(SubjectPermission {
            allow: Some(vec!["a".into(), "q q1".into()]),
            deny: vec!["a.b".into()],
        })
    );
    // Empty lists and maps restrict nothing (nats-server: nil lists).
    for p in ["{publish: []}", "{publish: {}}", "{publish: {allow: []}}"] {
        assert_eq!(perms_of(p).publish, None, "{p}");
    }
    assert_eq!(perms_of("{}"), Permissions::default());
    // allow_responses: defaults, limits, and "deny other publishes".
    let p = perms_of("{allow_responses: true}");
    assert_eq!(p.response, Some(ResponsePermission::default()));
    assert_eq!(
        p.response.unwrap(),
        ResponsePermission {
            max_msgs: 1,
            expires: Duration::from_secs(120)
        }
    );
    assert_eq!(p.publish, allow(&[]), "publishing otherwise denied");
    let p = perms_of("{publish: {deny: z}, allow_responses: true}");
    assert_eq!(
        p.publish,
        Some(SubjectPermission {
            allow: Some(vec![]),
            deny: vec!["z".into()]
        })
    );
    assert_eq!(
        perms_of("{publish: a, allow_responses: true}").publish,
        allow(&["a"])
    );
    assert_eq!(perms_of("{allow_responses: false}"), Permissions::default());
    let p = perms_of("{publish_allow_responses: {max: 3, expires: \"5s\"}}");
    assert_eq!(
        p.response,
        Some(ResponsePermission {
            max_msgs: 3,
            expires: Duration::from_secs(5)
        })
    );
    let p = perms_of("{allow_responses: {max_msgs: -1, ttl: \"-1s\"}}");
    assert_eq!(
        p.response,
        Some(ResponsePermission {
            max_msgs: 0,
            expires: Duration::ZERO
        }),
        "negative: no limit"
    );
    let p = perms_of("{allow_responses: {max_responses: 0, expiration: \"0s\"}}");
    assert_eq!(
        p.response,
        Some(ResponsePermission::default()),
        "0: default"
    );
}

#[test]
fn errors_as_nats_server() {
    let dup_nkey = format!("t.conf:1:1: Duplicate nkey \"{NKEY}\" detected");
    let cases: Vec<(String, &str)> = vec![
        (user("{user: a, bogus: 1}"), "t.conf:3:15: unknown field \"bogus\""),
        (user("{user: 5}"), "t.conf:3:6: interface conversion: interface {} is int64, not string"),
        (
            user("{user: a, password: 5}"),
            "t.conf:3:15: interface conversion: interface {} is int64, not string",
        ),
        (user("{nkey: 5}"), "t.conf:3:6: interface conversion: interface {} is int64, not string"),
        (user("{password: x}"), "t.conf:3:6: User entry requires a user"),
        (user("{user: \"\", password: x}"), "t.conf:3:16: User entry requires a user"),
        (
            user(&format!("{{nkey: {}W}}", &NKEY[..55])),
            "t.conf:3:6: Not a valid public nkey for a user",
        ),
        (
            user(&format!("{{nkey: {NKEY}, password: b}}")),
            "t.conf:3:70: Nkey users do not take usernames or passwords",
        ),
        (
            user("{user: a, allowed_connection_types: [BOGUS]}"),
            "t.conf:3:15: invalid connection types [\"BOGUS\"]",
        ),
        (
            user("{user: a}\n    {user: a}"),
            "t.conf:1:1: Duplicate user \"a\" detected",
        ),
        (
            user(&format!("{{nkey: {NKEY}}}\n    {{user: {NKEY}}}")),
            &dup_nkey,
        ),
        (user("5"), "t.conf:3:5: Expected user entry to be a map/struct, got 5"),
        (
            "authorization {\n  users: 5\n  user: x\n}".into(),
            "t.conf:2:3: Expected users field to be an array, got 5",
        ),
        (
            "authorization {\n  user: x\n  users: [{user: a}]\n}".into(),
            "t.conf:1:1: Can not have a single user/pass and a users array",
        ),
        (
            "authorization {\n  users: []\n  user: x\n}".into(),
            "t.conf:1:1: Can not have a single user/pass and a users array",
        ),
        (
            "authorization {\n  users: [{user: b}]\n  token: x\n}".into(),
            "t.conf:1:1: Can not have a token and a users array",
        ),
        (perms("5"), "t.conf:4:6: Expected permissions to be a map/struct, got 5"),
        (perms("\"x\""), "t.conf:4:6: Expected permissions to be a map/struct, got x"),
        (perms("true"), "t.conf:4:6: Expected permissions to be a map/struct, got true"),
        (perms("{bogus: 1}"), "t.conf:4:20: Unknown field \"bogus\" parsing permissions"),
        (
            perms("{publish: {bogus: \"x\"}}"),
            "t.conf:4:30: Unknown field name \"bogus\" parsing subject permissions, only 'allow' or 'deny' are permitted",
        ),
        (
            perms("{publish: {allow: 5}}"),
            "t.conf:4:30: Expected subject permissions to be a subject, or array of subjects, got int64",
        ),
        (
            perms("{publish: {allow: \"a b c\"}}"),
            "t.conf:4:30: subject \"a b c\" is not a valid subject",
        ),
        (
            perms("{publish: {deny: \"a..b q\"}}"),
            "t.conf:4:30: subject \"a..b\" is not a valid subject",
        ),
        (
            perms("{allow_responses: 5}"),
            "t.conf:4:20: error parsing response permissions, expected a boolean or a map",
        ),
        (
            perms("{allow_responses: {max: \"x\"}}"),
            "t.conf:4:38: interface conversion: interface {} is string, not int64",
        ),
        (
            perms("{allow_responses: {expires: 5}}"),
            "t.conf:4:38: error parsing expires, not a duration string",
        ),
        (
            perms("{allow_responses: {expires: \"zz\"}}"),
            "t.conf:4:38: error parsing expires: time: invalid duration \"zz\"",
        ),
        (
            perms("{allow_responses: {bogus: 1}}"),
            "t.conf:4:38: Unknown field \"bogus\" parsing permissions",
        ),
        (
            "authorization {\n  default_permissions: 5\n}".into(),
            "t.conf:2:3: Expected permissions to be a map/struct, got 5",
        ),
        (
            "authorization {\n  default_permissions: {publish: {allow: [\"a\", 5 ]}}\n}".into(),
            "t.conf:2:48: Subject in permissions array cannot be cast to string",
        ),
        (
            "authorization {\n  default_permissions: {publish: [\"a\", 5 ]}\n}".into(),
            "t.conf:2:40: Subject in permissions array cannot be cast to string",
        ),
        // nats-server gives these two no position; natsd names the key.
        (
            "authorization {\n  default_permissions: {publish: 5}\n}".into(),
            "t.conf:2:25: Expected subject permissions to be a subject, or array of subjects, got int64",
        ),
        (
            "authorization {\n  default_permissions: {publish: \"\"}\n}".into(),
            "t.conf:2:25: subject \"\" is not a valid subject",
        ),
        (
            "authorization {\n  users: [{user: a}]\n}\nno_auth_user: 5".into(),
            "t.conf:4:1: interface conversion: interface {} is int64, not string",
        ),
        (
            user("{user: a, proxy_required: true}"),
            "t.conf:3:15: not supported yet: proxy_required",
        ),
        (
            "permissions: {publish: x}".into(),
            "t.conf:1:1: unknown field \"permissions\"",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(&error(text), want, "{text}");
    }
    // Valid oddities: a subject with a queue in a publish list, spaces
    // around a queue.
    load(&perms("{publish: \"a b\", subscribe: \"foo  q  \"}")).unwrap();
}

#[test]
fn no_auth_user_validation() {
    let o = load("no_auth_user: x").unwrap();
    assert_eq!(
        config::validate(&o).unwrap_err(),
        "no_auth_user: \"x\" present, but users/nkeys are not defined"
    );
    let o = load("authorization {\n  users: [{user: a}]\n}\nno_auth_user: x").unwrap();
    assert_eq!(
        config::validate(&o).unwrap_err(),
        "no_auth_user: \"x\" not present as user or nkey in authorization block or account configuration"
    );
    let o = load(&format!(
        "authorization {{\n  users: [{{nkey: {NKEY}}}]\n}}\nno_auth_user: {NKEY}"
    ))
    .unwrap();
    assert_eq!(config::validate(&o), Ok(()));
    assert_eq!(load("no_auth_user: \"\"").unwrap().no_auth_user, None);
}

#[test]
fn reload_rules() {
    let base =
        load("authorization {\n  users: [{user: a, password: b}, {user: c}]\n}\nno_auth_user: a")
            .unwrap();
    let with = |t: &str| load(t).unwrap();
    let changed = config::reload_diff(
        &base,
        &with("authorization {\n  users: [{user: a, password: x}, {user: c}]\n}\nno_auth_user: a"),
    );
    assert_eq!(changed, Ok(vec!["authorization.users"]));
    assert_eq!(
        config::reload_log_line("authorization.users", &base),
        "Reloaded: authorization users"
    );
    assert_eq!(
        config::reload_log_line("authorization.nkeys", &base),
        "Reloaded: authorization nkey users"
    );
    // Default permissions count as a change of the users they apply to.
    let changed = config::reload_diff(
        &base,
        &with("authorization {\n  users: [{user: a, password: b}, {user: c}]\n  permissions: {publish: x}\n}\nno_auth_user: a"),
    );
    assert_eq!(changed, Ok(vec!["authorization.users"]));
    // no_auth_user: only dropping it together with its user reloads.
    assert_eq!(
        config::reload_diff(
            &base,
            &with(
                "authorization {\n  users: [{user: a, password: b}, {user: c}]\n}\nno_auth_user: c"
            )
        ),
        Err("config reload not supported for NoAuthUser: old=a, new=c".into())
    );
    assert_eq!(
        config::reload_diff(
            &base,
            &with("authorization {\n  users: [{user: a, password: b}, {user: c}]\n}")
        ),
        Err("config reload not supported for NoAuthUser: old=a, new=".into())
    );
    assert_eq!(
        config::reload_diff(&base, &with("authorization {\n  users: [{user: c}]\n}")),
        Ok(vec!["authorization.users"])
    );
    let n = with(&format!("authorization {{\n  users: [{{user: a, password: b}}, {{user: c}}, {{nkey: {NKEY}}}]\n}}\nno_auth_user: a"));
    assert_eq!(
        config::reload_diff(&base, &n),
        Ok(vec!["authorization.nkeys"])
    );
}
