//! `config`: arbitrary bytes as a configuration file, through
//! `natsd_core::config::parse` and, when that succeeds, the option layer.
//!
//! Input layout: the whole input is the text of `main.conf` (invalid UTF-8
//! is replaced by U+FFFD, as the grammar works on `&str`). Includes are
//! served from a small fixed in-memory set of files (the Helm chart's
//! `auth.conf`/`params.conf`, a nested include, an include cycle, a file
//! with a syntax error) and `$VAR`s from a fixed environment, so the seeds
//! can be real configs.
//!
//! Properties:
//! * nothing panics (grammar, printer, option layer);
//! * an error names a known file and a position inside it: line ≥ 1 and at
//!   most one past that file's last line, column ≥ 1;
//! * on success every key and value position is inside a known file the
//!   same way;
//! * printing the map (`config::to_string`) and parsing the text gives the
//!   same map ignoring positions, and printing that gives the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use natsd_core::config::{self, Loader, Map, MapLoader, Pos, Value, ValueKind};
use natsd_core::Options;

const MAIN: &str = "main.conf";

const FILES: &[(&str, &str)] = &[
    (
        "auth.conf",
        "accounts: {\n  A: {\n    users: [\n      {user: a, password: a}\n    ]\n  },\n  \
         B: {\n    users: [\n      {user: b, password: b}\n    ]\n  },\n}\n",
    ),
    ("params.conf", "max_payload: 2MB\n"),
    (
        "tls.conf",
        "tls {\n  cert_file: \"/etc/nats/tls.crt\"\n  key_file: '/etc/nats/tls.key'\n}\n",
    ),
    (
        "nested.conf",
        "port: 4333\ninclude params.conf\nwrite_deadline: \"5s\"\n",
    ),
    ("cycle.conf", "a: 1\ninclude cycle.conf\n"),
    ("bad.conf", "ok: 1\nbad: [1\n"),
    ("dir/inner.conf", "include ../params.conf\nping_max: 3\n"),
];

const ENV: &[(&str, &str)] = &[
    ("SERVER_NAME", "nats-0"),
    ("APP_PASSWORD", "app-secret"),
    ("SYS_PASSWORD", "sys-secret"),
    ("TOKEN", "\"s3cr3t\""),
    ("MP", "2KB"),
    ("MAPV", "{a: 1, b: [x, y]}"),
    ("BAD", "[1"),
];

fn env(name: &str) -> Option<String> {
    ENV.iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn loader() -> MapLoader {
    let mut l = MapLoader::new();
    for (name, text) in FILES {
        l.insert(*name, *text);
    }
    l
}

/// Lines in `file` (1 + newlines), if it is one the parse could have read.
fn lines_of(file: &str, main: &str) -> Option<u32> {
    let text = if file == MAIN {
        main
    } else {
        FILES.iter().find(|(n, _)| *n == file)?.1
    };
    Some(1 + text.bytes().filter(|&b| b == b'\n').count() as u32)
}

fn check_pos(pos: &Pos, main: &str, what: &str) {
    let lines = lines_of(&pos.file, main)
        .unwrap_or_else(|| panic!("{what} at {pos}: not a file of this parse"));
    assert!(
        pos.line >= 1 && pos.line <= lines && pos.col >= 1,
        "{what} at {pos}: outside the file ({lines} lines)"
    );
}

fn check_value(v: &Value, main: &str) {
    check_pos(&v.pos, main, "value");
    match &v.kind {
        ValueKind::Map(m) => check_map(m, main),
        ValueKind::Array(a) => a.iter().for_each(|v| check_value(v, main)),
        _ => {}
    }
}

fn check_map(m: &Map, main: &str) {
    for e in m {
        check_pos(&e.key_pos, main, "key");
        check_value(&e.value, main);
    }
}

fn parse(text: &str, source: &str, loader: &mut dyn Loader) -> Result<Map, config::ConfigError> {
    config::parse(text, source, loader, &env)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let map = match parse(&text, MAIN, &mut loader()) {
        Ok(map) => map,
        Err(e) => {
            check_pos(&e.pos, &text, &format!("error {:?}", e.message));
            assert!(
                !e.message.is_empty(),
                "error without a message at {}",
                e.pos
            );
            return;
        }
    };
    check_map(&map, &text);

    let printed = config::to_string(&map);
    // The printed text stands alone: it must not need the loader or env.
    let back = config::parse(&printed, "printed.conf", &mut MapLoader::new(), &|_| None)
        .unwrap_or_else(|e| panic!("printed text does not parse: {e}\n--- text:\n{printed}"));
    assert!(
        map.eq_ignore_pos(&back),
        "print/parse changed the map\n--- printed:\n{printed}\n--- back:\n{}",
        config::to_string(&back)
    );
    assert_eq!(config::to_string(&back), printed, "printing is not stable");

    // The option layer must refuse bad values with an error, never a panic.
    let mut opts = Options::default();
    if config::apply(&map, &mut opts).is_ok() {
        let _ = config::validate(&opts);
    }
});
