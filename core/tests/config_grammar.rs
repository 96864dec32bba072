//! The configuration grammar (`natsd_core::config`): every form of spec
//! §1, every error with its `file:line:col`, the Helm chart renderings, and
//! a differential check against the real nats-server when it is installed.

// This test plays the host's part: it reads the Helm files and writes
// snippets for nats-server, outside the core's no-I/O contract.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::Path;

use natsd_core::config::{
    parse, resolve_include_path, to_string, ConfigError, Map, MapLoader, Value, ValueKind,
};

// ----- helpers ---------------------------------------------------------------

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Map, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(text, "t.conf", &mut MapLoader::new(), &move |k| {
        env.get(k).cloned()
    })
}

fn ok(text: &str) -> Map {
    parse_env(text, &[]).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn err(text: &str) -> String {
    err_env(text, &[])
}

fn err_env(text: &str, env: &[(&str, &str)]) -> String {
    match parse_env(text, env) {
        Ok(m) => panic!("{text:?} should fail, got {m:?}"),
        Err(e) => e.to_string(),
    }
}

fn get<'a>(m: &'a Map, path: &str) -> &'a Value {
    let mut cur: Option<&Value> = None;
    for part in path.split('.') {
        cur = Some(
            match (cur, part.parse::<usize>()) {
                (None, _) => m.get(part),
                (Some(v), Ok(i)) => v.as_array().and_then(|a| a.get(i)),
                (Some(v), Err(_)) => v.as_map().and_then(|m| m.get(part)),
            }
            .unwrap_or_else(|| panic!("no {path} in {m:?}")),
        );
    }
    cur.unwrap()
}

fn int(m: &Map, path: &str) -> i64 {
    get(m, path)
        .as_i64()
        .unwrap_or_else(|| panic!("{path} not an integer: {:?}", get(m, path)))
}

fn string<'a>(m: &'a Map, path: &str) -> &'a str {
    get(m, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} not a string: {:?}", get(m, path)))
}

fn boolean(m: &Map, path: &str) -> bool {
    get(m, path)
        .as_bool()
        .unwrap_or_else(|| panic!("{path} not a bool: {:?}", get(m, path)))
}

fn keys(m: &Map) -> Vec<&str> {
    m.keys().collect()
}

/// Reads files relative to the including file, as a runtime would.
fn fs_loader(including: &str, path: &str) -> Result<(String, String), String> {
    let name = resolve_include_path(including, path);
    std::fs::read_to_string(&name)
        .map(|text| (name.clone(), text))
        .map_err(|e| format!("open {name}: {e}"))
}

// ----- structure -------------------------------------------------------------

#[test]
fn separators() {
    for text in [
        "port = 4222",
        "port: 4222",
        "port 4222",
        "port\t4222",
        "port\n\n 4222",
        "port\n=4222",
    ] {
        assert_eq!(int(&ok(text), "port"), 4222, "{text:?}");
    }
}

#[test]
fn value_terminators() {
    let m = ok("a: 1; b: 2, c: 3 }\nd: 4 # c\ne: 5 // c\r\nf: 6");
    assert_eq!(keys(&m), ["a", "b", "c", "d", "e", "f"]);
    assert_eq!(int(&m, "f"), 6);
    // Blanks only are not enough.
    assert_eq!(
        err("port: 4222 http_port: 8222\n"),
        "t.conf:1:12: Expected a top-level value to end with a new line, comment or EOF, but got 'h' instead."
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let m = ok("server_name: a\nport: 1\nserver_name: b\n");
    assert_eq!(string(&m, "server_name"), "b");
    assert_eq!(keys(&m), ["server_name", "port"]);
    assert_eq!(m.get_entry("server_name").unwrap().key_pos.line, 3);
}

#[test]
fn keys_keep_spelling_and_lookup_ignores_case() {
    let m = ok("Max_Payload: 1\n\"server name\": x\n'a:b' = y\n");
    assert_eq!(keys(&m), ["Max_Payload", "server name", "a:b"]);
    assert_eq!(m.get_ci("MAX_PAYLOAD").unwrap().as_i64(), Some(1));
    assert!(m.get("max_payload").is_none());
}

#[test]
fn positions() {
    let m = ok("port: 4222\n  cluster {\n    name: \"x\"\n  }\n");
    let port = m.get_entry("port").unwrap();
    assert_eq!((port.key_pos.line, port.key_pos.col), (1, 1));
    assert_eq!((port.value.pos.line, port.value.pos.col), (1, 7));
    let cluster = m.get_entry("cluster").unwrap();
    assert_eq!((cluster.key_pos.line, cluster.key_pos.col), (2, 3));
    assert_eq!((cluster.value.pos.line, cluster.value.pos.col), (2, 11));
    let name = cluster.value.as_map().unwrap().get_entry("name").unwrap();
    assert_eq!(name.key_pos.to_string(), "t.conf:3:5");
    assert_eq!(name.value.pos.to_string(), "t.conf:3:11");
}

#[test]
fn maps() {
    for text in [
        "cluster { port: 6222 }",
        "cluster = { port: 6222 }",
        "cluster: {port 6222}",
        "cluster \n { port: 6222 }",
        "cluster {\n port:\n\n 6222\n}",
        "cluster { port: 6222, }",
        "cluster { port: 6222; }",
        "cluster {\n # comment\n port: 6222 // comment\n}",
        "cluster { \"port\": 6222 }",
        "cluster { 'port' = 6222 }",
    ] {
        let m = ok(text);
        assert_eq!(int(&m, "cluster.port"), 6222, "{text:?}");
    }
    let m = ok("a { b { c { d: 1 } }, e: [ {f: 2} ] }\nempty {}\n");
    assert_eq!(int(&m, "a.b.c.d"), 1);
    assert_eq!(int(&m, "a.e.0.f"), 2);
    assert!(get(&m, "empty").as_map().unwrap().is_empty());
    // Quirk: without a space the brace belongs to the key.
    assert_eq!(keys(&ok("cluster{port: 1}")), ["cluster{port"]);
    assert_eq!(
        err("cluster{ port: 6222 }"),
        "t.conf:1:16: Expected a top-level value to end with a new line, comment or EOF, but got '6' instead."
    );
}

#[test]
fn arrays() {
    let m = ok(
        "a: [x, y, z]\nb: [\n  x\n  y,\n  z,\n]\nc: []\nd: [ [1.5, x], {k: v}, \"s\", true, 1 ]\n",
    );
    for k in ["a", "b"] {
        let a = get(&m, k).as_array().unwrap();
        assert_eq!(
            a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(),
            ["x", "y", "z"]
        );
    }
    assert!(get(&m, "c").as_array().unwrap().is_empty());
    assert_eq!(get(&m, "d.0.0").as_f64(), Some(1.5));
    assert_eq!(string(&m, "d.1.k"), "v");
    assert!(boolean(&m, "d.3"));
    assert_eq!(int(&m, "d.4"), 1);
    let m = ok("a: [ x # c\n // c\n y ]\n");
    assert_eq!(get(&m, "a").as_array().unwrap().len(), 2);
    // Quirk: an integer directly followed by `]` is a string swallowing it.
    assert_eq!(string(&ok("a: 1]"), "a"), "1]");
    assert_eq!(
        err("routes: [4222]\n"),
        "t.conf:2:1: Expected an array value terminator \",\" or an array terminator \"]\", but got EOF instead."
    );
    assert_eq!(int(&ok("a: [4222 ]"), "a.0"), 4222);
    assert_eq!(int(&ok("a: [4222,]"), "a.0"), 4222);
    assert_eq!(string(&ok("a: [1k]"), "a.0"), "1k");
}

#[test]
fn comments() {
    let m = ok("# top\n// top\nport: 1 # trailing\n  # indented\nhttp_port: 2 // trailing\n");
    assert_eq!(keys(&m), ["port", "http_port"]);
    // `#` and `//` inside an unquoted value are part of it.
    assert_eq!(string(&ok("a: x#y"), "a"), "x#y");
    assert_eq!(string(&ok("a: nats://h:4222"), "a"), "nats://h:4222");
}

#[test]
fn top_level_braces() {
    let m = ok("{\n  \"port\": 4222,\n  \"cluster\": {\"name\": \"c\"},\n  \"routes\": [\"a\", \"b\"]\n}\n");
    assert_eq!(keys(&m), ["port", "cluster", "routes"]);
    assert_eq!(string(&m, "cluster.name"), "c");
    assert!(ok("{}").is_empty());
    assert_eq!(keys(&ok("{port: 1}\nhttp_port: 2")), ["port", "http_port"]);
    assert_eq!(keys(&ok("{\"port\": 1,}\n")), ["port"]);
    // Quirk: an unclosed top-level brace is fine after a newline...
    assert_eq!(keys(&ok("{port: 1\n")), ["port"]);
    // ...but not right after a value.
    assert_eq!(
        err("{port: 1"),
        "t.conf:1:9: Expected a block-level value to end with a new line, comment or EOF, but got EOF instead."
    );
    assert_eq!(
        err("{\"port\": 1 \"http_port\": 2}"),
        "t.conf:1:12: Expected a block-level value to end with a new line, comment or EOF, but got '\"' instead."
    );
}

// ----- scalars ---------------------------------------------------------------

#[test]
fn strings() {
    let m = ok(concat!(
        "a: \"tab\\there \\\"q\\\" back\\\\slash \\x41\\n\"\n",
        "b: 'raw \\q $x'\n",
        "c: unquoted-value_1.2\n",
        "d: \"multi\nline\"\n",
        "e: \"\"\n",
        "f: ''\n",
        "g: \"$notavar\"\n",
        "h: \"\\xc3\\xa9\"\n",
        "i: a\\tb\n",
    ));
    assert_eq!(string(&m, "a"), "tab\there \"q\" back\\slash A\n");
    assert_eq!(string(&m, "b"), "raw \\q $x");
    assert_eq!(string(&m, "c"), "unquoted-value_1.2");
    assert_eq!(string(&m, "d"), "multi\nline");
    assert_eq!(string(&m, "e"), "");
    assert_eq!(string(&m, "f"), "");
    assert_eq!(string(&m, "g"), "$notavar");
    assert_eq!(string(&m, "h"), "é");
    assert_eq!(string(&m, "i"), "a\tb");
}

#[test]
fn string_errors() {
    assert_eq!(err("a: \"abc\n"), "t.conf:2:1: Unexpected EOF.");
    assert_eq!(err("a: 'abc"), "t.conf:1:8: Unexpected EOF.");
    assert_eq!(
        err("a: \"x\\qy\"\n"),
        "t.conf:1:7: Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
    );
    assert_eq!(
        err("a: \"\\x4g\"\n"),
        "t.conf:1:6: Expected two hexadecimal digits after '\\x', but got '4g'"
    );
    assert_eq!(
        err("a: \"\\x\n\"\n"),
        "t.conf:1:6: Expected two hexadecimal digits after '\\x', but hit end of line"
    );
}

#[test]
fn booleans() {
    for (word, want) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("Yes", true),
        ("on", true),
        ("oN", true),
        ("false", false),
        ("False", false),
        ("no", false),
        ("NO", false),
        ("off", false),
        ("OFF", false),
    ] {
        assert_eq!(boolean(&ok(&format!("a: {word}")), "a"), want, "{word}");
    }
    assert_eq!(string(&ok("a: \"true\""), "a"), "true");
    assert_eq!(string(&ok("a: truex"), "a"), "truex");
}

#[test]
fn integers_and_size_suffixes() {
    for (text, want) in [
        ("0", 0),
        ("-0", 0),
        ("007", 7),
        ("-42", -42),
        ("4222", 4222),
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1KiB", 1024),
        ("2m", 2_000_000),
        ("1mb", 1 << 20),
        ("2MB", 2 << 20),
        ("1mi", 1 << 20),
        ("1mib", 1 << 20),
        ("1g", 1_000_000_000),
        ("1gb", 1 << 30),
        ("10Gi", 10 << 30),
        ("1gib", 1 << 30),
        ("1t", 1_000_000_000_000),
        ("1tb", 1 << 40),
        ("1ti", 1 << 40),
        ("1tib", 1 << 40),
        ("1p", 1_000_000_000_000_000),
        ("1pb", 1 << 50),
        ("1pi", 1 << 50),
        ("1pib", 1 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("1eb", 1 << 60),
        ("1ei", 1 << 60),
        ("1eib", 1 << 60),
        ("-2k", -2000),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ] {
        assert_eq!(int(&ok(&format!("a: {text}\n")), "a"), want, "{text}");
    }
    assert_eq!(
        err("a: 99999999999999999999\n"),
        "t.conf:1:4: integer '99999999999999999999' is out of the range"
    );
    assert_eq!(
        err("a: 10e\n"),
        "t.conf:1:4: integer '10e' is out of the range"
    );
    // Quirk: an unknown suffix drops the entry (nats-server accepts the file).
    assert_eq!(keys(&ok("a: 1kbbb\nb: 2\n")), ["b"]);
}

#[test]
fn duration_trap() {
    let m =
        ok("a: 2m\nb: 2s\nc: 1h\nd: 500ms\ne: \"2m\"\nf: 127.0.0.1:4222\ng: 1.2.3.4\nh: 5min\n");
    assert_eq!(int(&m, "a"), 2_000_000);
    assert_eq!(string(&m, "b"), "2s");
    assert_eq!(string(&m, "c"), "1h");
    assert_eq!(string(&m, "d"), "500ms");
    assert_eq!(string(&m, "e"), "2m");
    assert_eq!(string(&m, "f"), "127.0.0.1:4222");
    assert_eq!(string(&m, "g"), "1.2.3.4");
    assert_eq!(string(&m, "h"), "5min");
    assert_eq!(
        err("ping_interval: 1m30s\n"),
        "t.conf:1:18: Expected a top-level value to end with a new line, comment or EOF, but got '3' instead."
    );
}

#[test]
fn floats() {
    let m = ok("a: 1.5\nb: -0.25\nc: 10.0\n");
    assert_eq!(get(&m, "a").kind, ValueKind::Float(1.5));
    assert_eq!(get(&m, "b").kind, ValueKind::Float(-0.25));
    assert_eq!(get(&m, "c").kind, ValueKind::Float(10.0));
    assert_eq!(err("a: .5\n"), "t.conf:1:4: Floats must start with a digit");
    assert_eq!(
        err("a: -.5\n"),
        "t.conf:1:5: Floats must start with a digit, not '.'."
    );
    assert_eq!(
        err("a: 1.x\n"),
        "t.conf:1:6: Floats must have a digit after the '.', but got 'x' instead."
    );
    assert_eq!(
        err("a: 1.5e3\n"),
        "t.conf:1:7: Expected a top-level value to end with a new line, comment or EOF, but got 'e' instead."
    );
}

#[test]
fn datetimes() {
    let m = ok("a: 2006-01-02T15:04:05Z\nb: [2024-02-29T23:59:59Z]\n");
    assert_eq!(
        get(&m, "a").kind,
        ValueKind::Datetime("2006-01-02T15:04:05Z".into())
    );
    assert_eq!(
        get(&m, "b.0").kind,
        ValueKind::Datetime("2024-02-29T23:59:59Z".into())
    );
    assert_eq!(
        err("a: 12-3\n"),
        "t.conf:1:6: All ISO8601 dates must be in full Zulu form."
    );
    assert_eq!(
        err("a: 2020-01-01X00:00:00Z\n"),
        "t.conf:1:14: Expected 'T' in ISO8601 datetime, but found 'X' instead."
    );
    assert_eq!(
        err("a: 2020-01-01T00:00:0Z\n"),
        "t.conf:1:22: Expected digit in ISO8601 datetime, but found 'Z' instead."
    );
    assert_eq!(
        err("a: 2020-13-01T00:00:00Z\n"),
        "t.conf:1:4: expected Zulu formatted DateTime, but got '2020-13-01T00:00:00Z'"
    );
}

#[test]
fn block_strings() {
    let m = ok("a: (\nline one\n  line (two)\n)\nb: 1\n");
    assert_eq!(string(&m, "a"), "\nline one\n  line (two)\n");
    assert_eq!(int(&m, "b"), 1);
    // `)` must be alone at the start of its line.
    assert_eq!(string(&ok("a: (\nx\n  )\n)\n"), "a"), "\nx\n  )\n");
    // Quirk: at the very end of the input the `)` is kept.
    assert_eq!(string(&ok("a: (\nx\n)"), "a"), "\nx\n)");
    assert_eq!(
        err("a: (x)\n"),
        "t.conf:2:1: Unexpected EOF processing block."
    );
}

// ----- variables -------------------------------------------------------------

#[test]
fn variables_and_scoping() {
    let m = ok(
        "mp = 4096\nmax_payload: $mp\ncluster {\n  p = 6222\n  port: $p\n  inner: {x: $mp}\n}\n",
    );
    assert_eq!(int(&m, "max_payload"), 4096);
    assert_eq!(int(&m, "cluster.port"), 6222);
    assert_eq!(int(&m, "cluster.inner.x"), 4096);
    let mp = m.get_entry("mp").unwrap();
    assert!(mp.used_as_variable);
    assert!(!m.get_entry("max_payload").unwrap().used_as_variable);
    let p = get(&m, "cluster").as_map().unwrap().get_entry("p").unwrap();
    assert!(p.used_as_variable);
    // The value carries the position of the reference.
    assert_eq!(get(&m, "max_payload").pos.to_string(), "t.conf:2:14");
    // Maps and arrays can be variables too.
    let m = ok("x = {port: 1}\ncluster: $x\nr = [a, b ]\nroutes: $r\n");
    assert_eq!(int(&m, "cluster.port"), 1);
    assert_eq!(get(&m, "routes").as_array().unwrap().len(), 2);
    // Inside arrays, maps still see outer keys.
    assert_eq!(int(&ok("y = 3\nx: [ {y: 1, port: $y} ]\n"), "x.0.port"), 1);
}

#[test]
fn variable_errors() {
    assert_eq!(
        err("port: 1\nmax_payload: $NOPE_NOT_SET\n"),
        "t.conf:2:14: variable reference for 'NOPE_NOT_SET' on line 2 can not be found"
    );
    // Case-sensitive; only keys assigned earlier; inner scopes invisible.
    assert!(
        err("MP = 1\na: $mp\n").ends_with("variable reference for 'mp' on line 2 can not be found")
    );
    assert!(
        err("a: $mp\nmp = 1\n").ends_with("variable reference for 'mp' on line 1 can not be found")
    );
    assert!(err("c { mp = 1 }\na: $mp\n")
        .ends_with("variable reference for 'mp' on line 2 can not be found"));
    assert!(err("a: $\n").ends_with("variable reference for '' on line 1 can not be found"));
}

#[test]
fn reassigned_variable_is_a_new_entry() {
    // nats-server: `unknown field "mp"` on line 3, because the entry that
    // wins was never referenced.
    let m = ok("mp = 4096\nmax_payload: $mp\nmp = 5000\n");
    let mp = m.get_entry("mp").unwrap();
    assert!(!mp.used_as_variable);
    assert_eq!(mp.key_pos.line, 3);
    assert_eq!(int(&m, "max_payload"), 4096);
}

#[test]
fn environment() {
    let m = parse_env(
        "max_payload: $MP\nserver_name: $NAME\ncluster: $C\nx: $EMPTY\nmp: 3\ny: $mp\n",
        &[
            ("MP", "2KB"),
            ("NAME", "n1"),
            ("C", "{port: 6222, routes: [a, b ]}"),
            ("EMPTY", ""),
            ("mp", "9"),
        ],
    )
    .unwrap();
    assert_eq!(int(&m, "max_payload"), 2048);
    assert_eq!(string(&m, "server_name"), "n1");
    assert_eq!(int(&m, "cluster.port"), 6222);
    assert_eq!(string(&m, "x"), "");
    assert_eq!(int(&m, "y"), 3, "file keys shadow the environment");
    // Environment values carry the reference's position, all the way down.
    assert_eq!(get(&m, "cluster.port").pos.to_string(), "t.conf:3:10");
    // Chains through the environment.
    let m = parse_env("a: $A\nb: $A\n", &[("A", "$B"), ("B", "4k")]).unwrap();
    assert_eq!((int(&m, "a"), int(&m, "b")), (4000, 4000));
}

#[test]
fn environment_errors() {
    assert_eq!(
        err_env("max_payload: $MP\n", &[("MP", "$MP")]),
        "t.conf:1:14: variable reference for 'MP' on line 1 could not be parsed: variable reference for 'MP' on line 1 could not be parsed: variable reference cycle for 'MP'"
    );
    assert_eq!(
        err_env("a: $A\n", &[("A", "$B"), ("B", "$A")]),
        "t.conf:1:4: variable reference for 'A' on line 1 could not be parsed: variable reference for 'B' on line 1 could not be parsed: variable reference for 'A' on line 1 could not be parsed: variable reference cycle for 'A'"
    );
    assert_eq!(
        err_env("a: $A\n", &[("A", "2KB 3")]),
        "t.conf:1:4: variable reference for 'A' on line 1 could not be parsed: Expected a top-level value to end with a new line, comment or EOF, but got '3' instead."
    );
    assert_eq!(
        err_env("a: $A\n", &[("A", "$NOPE")]),
        "t.conf:1:4: variable reference for 'A' on line 1 could not be parsed: variable reference for 'NOPE' on line 1 can not be found"
    );
}

#[test]
fn bcrypt_exception() {
    let m = ok("authorization { user: a, password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG }\n");
    assert_eq!(
        string(&m, "authorization.password"),
        "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
    );
    assert!(err("authorization { password: $2b$11$abc }\n")
        .ends_with("variable reference for '2b$11$abc' on line 1 can not be found"));
    assert!(err("a: $2a\n").ends_with("variable reference for '2a' on line 1 can not be found"));
    assert_eq!(string(&ok("a: \"$2b$11$abc\"\n"), "a"), "$2b$11$abc");
}

// ----- includes --------------------------------------------------------------

fn loader() -> MapLoader {
    MapLoader::new()
        .with("conf/p.conf", "max_payload: 2MB\n")
        .with("conf/x.conf", "x = 5\n")
        .with("conf/usex.conf", "max_payload: $x\n")
        .with("conf/bad.conf", "port: 1\nmax_payload: \"abc\n")
        .with("conf/sub/s.conf", "include ../p.conf\nhttp_port: 8222\n")
        .with("conf/loop.conf", "include loop.conf\n")
        .with("conf/a.conf", "include b.conf\n")
        .with("conf/b.conf", "include a.conf\n")
}

fn inc(text: &str) -> Result<Map, ConfigError> {
    parse(text, "conf/main.conf", &mut loader(), &|_| None)
}

#[test]
fn include_forms() {
    for text in [
        "include p.conf\n",
        "include \"p.conf\"\n",
        "include 'p.conf'\n",
        "INCLUDE p.conf\n",
        "include\tp.conf # c\n",
        "include p.conf; port: 1\n",
        "include p.conf}\n",
        "include ./p.conf\n",
        "include p.conf",
    ] {
        let m = inc(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(int(&m, "max_payload"), 2 << 20, "{text:?}");
    }
    // Merged into the current map, at any level.
    let m = inc("cluster {\n  include p.conf\n  port: 1\n}\n").unwrap();
    assert_eq!(int(&m, "cluster.max_payload"), 2 << 20);
    assert_eq!(
        keys(get(&m, "cluster").as_map().unwrap()),
        ["max_payload", "port"]
    );
    // Included entries keep their own file positions.
    assert_eq!(
        get(&m, "cluster.max_payload").pos.to_string(),
        "conf/p.conf:1:14"
    );
    // Nested, relative to the including file.
    let m = inc("include sub/s.conf\n").unwrap();
    assert_eq!(keys(&m), ["max_payload", "http_port"]);
    // `include` is a keyword only before white space.
    assert_eq!(
        string(&inc("include=p.conf\n").unwrap(), "include"),
        "p.conf"
    );
    assert_eq!(
        string(&inc("\"include\" p.conf\n").unwrap(), "include"),
        "p.conf"
    );
}

#[test]
fn include_variables() {
    // Keys of an included file are variables for what follows...
    let m = inc("include x.conf\nmax_payload: $x\n").unwrap();
    assert_eq!(int(&m, "max_payload"), 5);
    assert!(m.get_entry("x").unwrap().used_as_variable);
    // ...but an included file does not see the includer's variables.
    assert_eq!(
        inc("x = 5\ninclude usex.conf\n").unwrap_err().to_string(),
        "conf/usex.conf:1:14: variable reference for 'x' on line 1 can not be found"
    );
}

#[test]
fn include_errors() {
    assert_eq!(
        inc("port: 1\ninclude missing.conf\n").unwrap_err().to_string(),
        "conf/main.conf:2:9: error parsing include file 'missing.conf', open conf/missing.conf: no such file or directory"
    );
    // An error inside an included file names that file.
    assert_eq!(
        inc("include bad.conf\n").unwrap_err().to_string(),
        "conf/bad.conf:3:1: Unexpected EOF."
    );
    assert_eq!(
        inc("include\np.conf\n").unwrap_err().to_string(),
        "conf/main.conf:1:8: Expected include value but found new line"
    );
    assert_eq!(
        inc("include [p.conf]\n").unwrap_err().to_string(),
        "conf/main.conf:1:9: Expected include value but found start of an array"
    );
    assert_eq!(
        inc("include 1.conf\n").unwrap_err().to_string(),
        "conf/main.conf:1:9: Expected include value but found start of a number"
    );
    assert_eq!(
        inc("include \"p.conf\n").unwrap_err().to_string(),
        "conf/main.conf:2:1: Unexpected EOF in double quoted include"
    );
    assert_eq!(
        inc("include p.conf port: 1\n").unwrap_err().to_string(),
        "conf/main.conf:1:16: Expected a top-level value to end with a new line, comment or EOF, but got 'p' instead."
    );
    // Cycles are reported instead of recursing forever.
    assert_eq!(
        inc("include loop.conf\n").unwrap_err().to_string(),
        "conf/loop.conf:1:9: error parsing include file 'loop.conf', include cycle: conf/main.conf -> conf/loop.conf -> conf/loop.conf"
    );
    assert!(inc("include a.conf\n")
        .unwrap_err()
        .message
        .contains("include cycle"));
    // Not a keyword inside arrays.
    assert!(inc("a: [ include p.conf ]\n").is_err());
}

// ----- structural errors ----------------------------------------------------

#[test]
fn structural_errors() {
    let cases: &[(&str, &str)] = &[
        ("a { b: 1\n", "t.conf:2:1: Unexpected EOF processing map."),
        ("a { b: 1", "t.conf:1:9: Expected a map value terminator \",\" or a map terminator \"}\", but got EOF instead."),
        ("a {\n b", "t.conf:2:3: Unexpected EOF processing map key."),
        ("a { 'b: 1\n", "t.conf:2:1: Unexpected EOF processing quoted map key."),
        ("a { \"b: 1\n", "t.conf:2:1: Unexpected EOF processing double quoted map key."),
        ("a { b: 1 name: x }", "t.conf:1:10: Expected a map value terminator \",\" or a map terminator \"}\", but got 'n' instead."),
        ("a { b: , c: 1 }", "t.conf:1:8: Unexpected map value terminator \",\"."),
        ("a { : 1 }", "t.conf:1:5: Unexpected key separator ':'."),
        ("a { ] }", "t.conf:1:5: Unexpected array end ']' processing map."),
        ("a { b: }", "t.conf:1:5: config is invalid: key \"b\" has no value"),
        ("a [ 1\n", "t.conf:2:1: Expected an array value terminator \",\" or an array terminator \"]\", but got EOF instead."),
        ("a: [x y]", "t.conf:1:7: Expected an array value terminator \",\" or an array terminator \"]\", but got 'y' instead."),
        ("a: [x,,]", "t.conf:1:7: Unexpected array value terminator ','."),
        ("a: [,]", "t.conf:1:5: Unexpected array value terminator ','."),
        ("a: [x\n\n,y]", "t.conf:3:1: Unexpected array value terminator ','."),
        (": 1\n", "t.conf:1:1: Unexpected key separator ':'"),
        ("port:\n4222\n", "t.conf:1:6: Expected value but found new line"),
        ("port =\n 4222\n", "t.conf:1:7: Expected value but found new line"),
        ("port: 1\nfoo\n", "t.conf:2:1: config is invalid: key \"foo\" has no value"),
        ("/ port 4222\n", "t.conf:1:1: Unexpected EOF."),
        ("a: -x\n", "t.conf:1:5: Expected a digit but got 'x'."),
        ("a: x]\n", "t.conf:1:5: Expected a top-level value to end with a new line, comment or EOF, but got ']' instead."),
        ("{{\"port\": 1} \"http_port\": 2}\n", "t.conf:1:14: Expected a block-level to end with a '}', but got '\"' instead."),
    ];
    for (text, want) in cases {
        assert_eq!(&err(text), want, "{text:?}");
    }
}

#[test]
fn lenient_corners() {
    // Each of these is accepted by nats-server 2.14.
    assert_eq!(string(&ok("port: "), "port"), "");
    assert!(ok("port: 1\n}").get("}").is_none());
    assert_eq!(string(&ok("foo }"), "foo"), "");
    assert_eq!(keys(&ok("port: 1\n'")), ["port"]);
    assert_eq!(keys(&ok("{ port: 1\n\"")), ["port"]);
    assert_eq!(string(&ok("a: foo'"), "a"), "foo");
    assert_eq!(keys(&ok("cluster {port: 1}}\nb: 2")), ["cluster", "b"]);
    assert_eq!(int(&ok("a { /b: 1 }"), "a.b"), 1);
    assert_eq!(get(&ok("a: [ x / y ]"), "a").as_array().unwrap().len(), 2);
    // A lone `/` after a value is skipped like a blank (what follows must
    // still be a terminator).
    assert_eq!(int(&ok("port 4222 / # c\n"), "port"), 4222);
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("a: {}{}", "[".repeat(1000), "]".repeat(1000));
    assert!(err(&deep).contains("maximum nesting depth"));
    let ok_depth = format!("a: {}{}", "[ ".repeat(100), " ]".repeat(100));
    ok(&ok_depth);
}

// ----- the spec's examples and the Helm chart --------------------------------

#[test]
fn spec_examples() {
    let m = ok("# classic single user\nport: 4222\nhttp_port: 8222\nauthorization { user: admin, password: \"$2a$11$...\" , timeout: 2 }\n");
    assert_eq!(string(&m, "authorization.password"), "$2a$11$...");
    assert_eq!(int(&m, "authorization.timeout"), 2);
    let text = "listen: 0.0.0.0:4222\nserver_name: n1\nmax_payload: 8MB\nmax_pending: 128MB\nping_interval: \"20s\"\nping_max: 3\nwrite_deadline: \"5s\"\nlog_file: \"/var/log/nats/nats.log\"\nlogtime: true\npid_file: \"/var/run/nats/nats.pid\"\naccounts {\n  APP: { users: [ {user: app, password: $APP_PASS} ] }\n  SYS: { users: [ {user: sys, password: $SYS_PASS} ] }\n}\nsystem_account: SYS\ninclude \"tls.conf\"\n";
    let mut l = MapLoader::new().with("tls.conf", "tls { cert_file: a, key_file: b }\n");
    let env = |k: &str| match k {
        "APP_PASS" => Some("app-secret".to_string()),
        "SYS_PASS" => Some("sys-secret".to_string()),
        _ => None,
    };
    let m = parse(text, "nats.conf", &mut l, &env).unwrap();
    assert_eq!(string(&m, "listen"), "0.0.0.0:4222");
    assert_eq!(int(&m, "max_pending"), 128 << 20);
    assert_eq!(string(&m, "accounts.APP.users.0.password"), "app-secret");
    assert_eq!(string(&m, "tls.cert_file"), "a");
    assert_eq!(m.get("tls").unwrap().pos.file.as_ref(), "tls.conf");
}

const HELM_DIR: &str = "/work/shared/data/helm";

fn helm_env(k: &str) -> Option<String> {
    match k {
        "SERVER_NAME" => Some("nats-0".into()),
        "SYS_PASSWORD" | "APP_PASSWORD" | "TOKEN" => Some(format!("{k}-value")),
        _ => None,
    }
}

#[test]
fn helm_chart_configs_parse() {
    let Ok(dirs) = std::fs::read_dir(HELM_DIR) else {
        eprintln!("skipping: {HELM_DIR} not present");
        return;
    };
    let mut files: Vec<_> = dirs
        .filter_map(|d| d.ok())
        .map(|d| d.path().join("nats.conf"))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "expected the 12 renderings, found {files:?}"
    );
    for path in &files {
        let name = path.to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let m = parse(&text, name, &mut fs_loader, &helm_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(string(&m, "server_name"), "nats-0", "{name}");
        assert_eq!(int(&m, "port"), 4222, "{name}");
        assert_eq!(string(&m, "lame_duck_duration"), "30s", "{name}");
        // Printing and parsing back gives the same tree.
        let back = parse(&to_string(&m), "rt.conf", &mut MapLoader::new(), &|_| None).unwrap();
        assert!(m.eq_ignore_pos(&back), "{name} round trip");
    }
    let dir = |d: &str| format!("{HELM_DIR}/{d}/nats.conf");
    let load = |d: &str| {
        let p = dir(d);
        parse(
            &std::fs::read_to_string(&p).unwrap(),
            &p,
            &mut fs_loader,
            &helm_env,
        )
        .unwrap()
    };
    let m = load("10-jetstream-cluster");
    assert_eq!(int(&m, "jetstream.max_file_store"), 10 << 30);
    assert_eq!(int(&m, "jetstream.max_memory_store"), 0);
    assert_eq!(get(&m, "cluster.routes").as_array().unwrap().len(), 3);
    let m = load("11-includes");
    assert_eq!(int(&m, "max_payload"), 2 << 20);
    assert_eq!(string(&m, "accounts.A.users.0.password"), "a");
    assert!(m
        .get("accounts")
        .unwrap()
        .pos
        .file
        .ends_with("11-includes/auth.conf"));
    let m = load("12-token-units");
    assert_eq!(string(&m, "authorization.token"), "TOKEN-value");
    assert_eq!(int(&m, "max_payload"), 2 << 20);
    let m = load("09-accounts");
    assert_eq!(string(&m, "accounts.A.jetstream"), "enabled");
    assert_eq!(string(&m, "accounts.B.imports.0.stream.subject"), "a.>");
    assert_eq!(
        string(&m, "accounts.SYS.users.0.password"),
        "SYS_PASSWORD-value"
    );
}

// ----- differential check against the real server ----------------------------

/// Snippets fed to both parsers. `-t` also runs nats-server's option
/// checks; their errors (`unknown field`, type errors) count as "the
/// grammar accepted it". When both reject, the messages are compared too.
/// Entries: (text, environment). Include cases use the files of
/// [`DIFF_FILES`], written next to the snippet.
const DIFF_CASES: &[(&str, &[(&str, &str)])] = &[
    // numbers, suffixes, durations
    ("port: 1m30s\n", &[]),
    ("port: 2m\n", &[]),
    ("max_payload: 1ki2\n", &[]),
    ("max_payload: 1mb2\n", &[]),
    ("max_payload: 1kbbb\nport: 1\n", &[]),
    ("max_payload: 1bi\n", &[]),
    ("max_payload: 10Gi\n", &[]),
    ("port: 99999999999999999999\n", &[]),
    ("x: -9223372036854775808\n", &[]),
    ("x: -9223372036854775809\n", &[]),
    ("a: 1.5e3\n", &[]),
    ("a: 1.\n", &[]),
    ("a: 1.x\n", &[]),
    ("a: .5\n", &[]),
    ("a: -.5\n", &[]),
    ("a: -x\n", &[]),
    ("a: -\n", &[]),
    ("a: 1.2.3.4abc\n", &[]),
    ("a: 127.0.0.1:4222\n", &[]),
    ("a: 2s\nb: 500ms\nc: 1h\n", &[]),
    // dates
    ("a: 12-3\n", &[]),
    ("a: 2020-1\n", &[]),
    ("a: 2020-01-01T00:00:0Z\n", &[]),
    ("a: 2020-01-01X00:00:00Z\n", &[]),
    ("a: 2020-02-30T00:00:00Z\n", &[]),
    ("a: 2020-02-29T23:59:60Z\n", &[]),
    ("a: 2020-01-01T00:00:00Zx\n", &[]),
    ("a: 2024-02-29T23:59:59Z\n", &[]),
    // strings
    ("a: \"abc\n", &[]),
    ("a: 'abc\n", &[]),
    ("a: \"\\q\"\n", &[]),
    ("a: foo\\qbar\n", &[]),
    ("a: \"\\x4\"\n", &[]),
    ("a: \"\\x4g\"\n", &[]),
    ("a: \"a\\x\n\"\n", &[]),
    ("a: foo'bar\n", &[]),
    ("a: foo'\n", &[]),
    ("a: \"abc\" \"def\"\n", &[]),
    ("a: (\nabc\n)\n", &[]),
    ("a: (abc)\n", &[]),
    ("a: (\nabc\n) \n", &[]),
    ("a: (\r\nabc\r\n)\r\n", &[]),
    ("a: (\nabc", &[]),
    // arrays
    ("a: [1]\n", &[]),
    ("a: [1 ]\n", &[]),
    ("a: [1,]\n", &[]),
    ("a: [1.5,2]\n", &[]),
    ("a: [1k]\n", &[]),
    ("a: [-1]\n", &[]),
    ("a: [1.2.3.4]\n", &[]),
    ("a: 1]\n", &[]),
    ("a: x]\n", &[]),
    ("a [ 1\n", &[]),
    ("a: [x,,]\n", &[]),
    ("a: [,]\n", &[]),
    ("a: [x\n\n,y]\n", &[]),
    ("a: [x y]\n", &[]),
    ("a: [ x / y ]\n", &[]),
    ("a: [ / x ]\n", &[]),
    ("a: [ x ]]\n", &[]),
    ("a: [ x ]}\n", &[]),
    ("a: [\n", &[]),
    // maps
    ("a { b: 1\n", &[]),
    ("a { b: 1", &[]),
    ("a { b: 1, ", &[]),
    ("cluster{port: 1}\n", &[]),
    ("cluster { port:\n 1 }\n", &[]),
    ("cluster {port: 1}}\n", &[]),
    ("cluster {port: 1} port: 2\n", &[]),
    ("cluster {port: 1 name: x}\n", &[]),
    ("cluster {port: 1,, name: x}\n", &[]),
    ("cluster {, port: 1}\n", &[]),
    ("cluster { port: , name: x }\n", &[]),
    ("cluster { : 1 }\n", &[]),
    ("cluster { ] }\n", &[]),
    ("cluster {\n /port: 1\n}\n", &[]),
    ("cluster {\n \"na me: x\n }\n", &[]),
    ("cluster { 'name: 1\n", &[]),
    ("cluster {\n name", &[]),
    ("cluster {\n name ", &[]),
    ("cluster:\n { name: x }\n", &[]),
    // top level and top-level braces
    ("{port: 1\n", &[]),
    ("{port: 1", &[]),
    ("{\"port\": 1 \"http_port\": 2}\n", &[]),
    ("{{\"port\": 1} \"http_port\": 2}\n", &[]),
    ("{\"port\": 1,,}\n", &[]),
    ("{\"port\": 1}, \"http_port\": 2\n", &[]),
    ("{/\"port\": 1}\n", &[]),
    ("{ }\nport: 1\n", &[]),
    ("port: 1\n'", &[]),
    ("port: 1\n\"", &[]),
    ("port: 1\n'a", &[]),
    ("{ '", &[]),
    ("port: 1\n}\n", &[]),
    ("port: 1\n}}\n", &[]),
    ("port: 1\nfoo\n", &[]),
    ("foo }\n", &[]),
    ("port\n\n 4222\n", &[]),
    ("port:\n4222\n", &[]),
    ("port =\n 4222\n", &[]),
    (": 1\n", &[]),
    ("/ port 4222\n", &[]),
    ("port 4222 / c\n", &[]),
    ("port: 4222 port2: 1\n", &[]),
    ("port: 4222\r\nhttp_port: 8222\r\n", &[]),
    ("port:\u{b}4222\n", &[]),
    // variables and environment
    ("a: $2a$11$abc\n", &[]),
    ("a: $2b$11$abc\n", &[]),
    ("a: $2a\n", &[]),
    ("mp = 4096\nmax_payload: $mp\n", &[]),
    ("max_payload: $mp\nmp = 4096\n", &[]),
    ("MP = 4096\nmax_payload: $mp\n", &[]),
    ("cluster { mp = 4096, port: $mp }\nmax_payload: $mp\n", &[]),
    ("max_payload: $mp$\n", &[]),
    ("port: $NOPE_NOT_SET\n", &[]),
    ("max_payload: $MP\n", &[("MP", "2KB")]),
    ("max_payload: $MP\n", &[("MP", "2KB 3")]),
    ("max_payload: $MP\n", &[("MP", "$MP")]),
    ("max_payload: $MP\n", &[("MP", "$MQ"), ("MQ", "$MP")]),
    ("max_payload: $MP\n", &[("MP", "$NOPE")]),
    ("server_name: $MP\n", &[("MP", "x: 1")]),
    ("cluster: $MP\n", &[("MP", "{port: 1}")]),
    // includes
    ("include p.conf\n", &[]),
    ("include \"p.conf\"\n", &[]),
    ("include p.conf port: 1\n", &[]),
    ("include p.conf}\n", &[]),
    ("include\np.conf\n", &[]),
    ("include missing.conf\n", &[]),
    ("include \"p.conf\n", &[]),
    ("include 'p.conf\n", &[]),
    ("include [p.conf]\n", &[]),
    ("include 1.conf\n", &[]),
    ("include x.conf\nmax_payload: $x\n", &[]),
    ("x = 5\ninclude usex.conf\n", &[]),
    ("include bad.conf\n", &[]),
    ("cluster { include p.conf }\n", &[]),
    ("a: [ include p.conf ]\n", &[]),
];

/// Files available to the include cases.
const DIFF_FILES: &[(&str, &str)] = &[
    ("p.conf", "max_payload: 2MB\n"),
    ("x.conf", "x = 5\n"),
    ("usex.conf", "max_payload: $x\n"),
    ("bad.conf", "port: 1\nmax_payload: \"abc\n"),
];

/// Snippets nats-server's grammar turns into a nonsensical tree that its
/// option layer then rejects (here `port` = the empty `cluster` map);
/// natsd rejects them in the grammar. Checked: both refuse the file.
/// (Not listed: `x { cluster: }`, which nats-server reads as a top-level
/// `cluster {}` and accepts; natsd rejects it.)
const DIFF_BOTH_REJECT: &[&str] = &["cluster { port: }\n", "a { max_payload: }\n"];

fn nats_server() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("NATS_SERVER_BIN")
        .map(Into::into)
        .unwrap_or_else(|| {
            Path::new("/root/.cache/natsd-bench/nats-server-v2.14.0/nats-server").to_path_buf()
        });
    p.exists().then_some(p)
}

/// If nats-server's `-t` output is a grammar error, its message (without
/// the `nats-server: ` and `Parse error on line N: '…'` wrappers, with a
/// NUL shown as `EOF` and a raw newline as `'\n'` like natsd does).
fn grammar_error(output: &str) -> Option<String> {
    const MARKS: [&str; 6] = [
        "Parse error",
        "variable reference",
        "error parsing include file",
        "config is invalid",
        "is out of the range",
        "expected Zulu formatted DateTime",
    ];
    if !MARKS.iter().any(|m| output.contains(m)) {
        return None;
    }
    let msg = output.trim_end().trim_start_matches("nats-server: ");
    let msg = match msg.find("Parse error on line ") {
        Some(i) => {
            let rest = &msg[i..];
            let q = rest.find(": '").map_or(0, |q| q + 3);
            let inner = &rest[q..];
            format!("{}{}", &msg[..i], inner.strip_suffix('\'').unwrap_or(inner))
        }
        None => msg.to_string(),
    };
    Some(msg.replace("'\0'", "EOF").replace("'\n'", "'\\n'"))
}

#[test]
fn differential_against_nats_server() {
    let Some(bin) = nats_server() else {
        eprintln!("skipping: nats-server binary not found (set NATS_SERVER_BIN)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("natsd-config-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in DIFF_FILES {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut loader = MapLoader::new();
    for (name, text) in DIFF_FILES {
        loader.insert(*name, *text);
    }
    let run = |text: &str, env: &[(&str, &str)]| {
        let file = dir.join("case.conf");
        std::fs::write(&file, text).unwrap();
        let mut cmd = std::process::Command::new(&bin);
        cmd.current_dir(&dir).arg("-t").arg("-c").arg("case.conf");
        for var in ["MP", "MQ", "NOPE", "NOPE_NOT_SET", "mp", "x"] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        (out.status.success(), text)
    };
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (text, env) in DIFF_CASES {
        let (_, output) = run(text, env);
        let theirs = grammar_error(&output);
        let env_map: HashMap<&str, &str> = env.iter().copied().collect();
        let ours = parse(text, "case.conf", &mut loader.clone(), &|k| {
            env_map.get(k).map(|v| v.to_string())
        });
        if std::env::var_os("NATSD_DIFF_VERBOSE").is_some() {
            let ours_txt = ours
                .as_ref()
                .map_or_else(|e| e.to_string(), |_| "ok".to_string());
            eprintln!(
                "{text:?} env={env:?}\n  nats-server: {}\n  natsd:       {ours_txt}",
                output.trim_end()
            );
        }
        match (&theirs, &ours) {
            (None, Ok(_)) => {}
            (Some(t), Err(e)) => {
                compared += 1;
                // Known wording differences: nats-server's dangling-key
                // message has no text, overflow wording, and the include
                // prefix natsd replaces by the included file's position.
                let same = t == &e.message
                    || t.ends_with(&e.message)
                    || (t.starts_with("config is invalid")
                        && e.message.starts_with("config is invalid"));
                if !same {
                    mismatches.push(format!(
                        "{text:?}: message differs\n  nats-server: {t:?}\n  natsd:       {:?}",
                        e.message
                    ));
                }
            }
            _ => mismatches.push(format!("{text:?}: nats-server {output:?} / natsd {ours:?}")),
        }
    }
    for text in DIFF_BOTH_REJECT {
        let (success, output) = run(text, &[]);
        let ours = parse(text, "case.conf", &mut MapLoader::new(), &|_| None);
        if success || ours.is_ok() {
            mismatches.push(format!("{text:?}: nats-server {output:?} / natsd {ours:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        mismatches.is_empty(),
        "grammar disagrees with nats-server:\n{}",
        mismatches.join("\n")
    );
    assert!(compared > 40, "only {compared} error messages compared");
}
