//! Enforces the no-I/O contract written at the top of `src/lib.rs`.
//!
//! Two checks, by reading text rather than compiling, so they also see code
//! behind a `cfg` that the current build leaves out:
//!
//! * every `src/**/*.rs` file, with comments and string literals blanked
//!   out, is scanned for clocks (`Instant::now`, `SystemTime::now`),
//!   sockets (`TcpStream`, `TcpListener`, `UdpSocket`, any `std::net` item
//!   other than the plain address values), threads and sleeping, files
//!   (`std::fs`), the process environment and standard streams, and the
//!   runtime and randomness crates (`tokio`, `mio`, `async_std`, `rand`, ...);
//! * `Cargo.toml`'s dependency tables, and the dependency closure of those
//!   dependencies in the workspace `Cargo.lock`, contain no runtime crate.
//!
//! `clippy.toml` holds the same rules as `disallowed-methods`/`-types`/
//! `-macros`, so `cargo clippy -p natsd-core` reports them at the line.
//!
//! The scanner is tested too (`scanner_*` below): each rule must fire on a
//! sample that breaks it, and stay quiet on comments, strings and the
//! allowed `std::net` values.

// This test reads files: it is host-side code, outside the contract it checks.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Crates that do I/O, run tasks or draw their own randomness. None may be a
/// dependency of the core, directly or through another crate.
const RUNTIME_CRATES: &[&str] = &[
    "tokio",
    "tokio-util",
    "tokio-stream",
    "mio",
    "async-std",
    "async-io",
    "async-net",
    "async-executor",
    "async-global-executor",
    "smol",
    "glommio",
    "monoio",
    "actix-rt",
    "futures-timer",
    "polling",
    "socket2",
    "libc",
    "nix",
    "signal-hook",
    "rand",
    "rand_core",
    "getrandom",
];

/// The `std::net` items that are plain values, not sockets.
const NET_VALUES: &[&str] = &[
    "SocketAddr",
    "SocketAddrV4",
    "SocketAddrV6",
    "IpAddr",
    "Ipv4Addr",
    "Ipv6Addr",
    "AddrParseError",
    "Shutdown",
    "ToSocketAddrs",
];

/// One broken rule at one place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    line: usize,
    what: String,
}

// ---------------------------------------------------------------------------
// Source scanning
// ---------------------------------------------------------------------------

/// Replaces comments and the contents of string, byte-string and char
/// literals by spaces, keeping newlines so line numbers stay right.
fn blank_comments_and_literals(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    // Blank b[from..to] into `out`, keeping newlines.
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for &c in &b[from..to] {
            out.push(if c == b'\n' { b'\n' } else { b' ' });
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            // Block comments nest in Rust.
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(end) = raw_string_end(b, i) {
            blank(&mut out, i, end);
            i = end;
        } else if c == b'"' || (c == b'b' && next == Some(b'"') && !ident_byte_before(b, i)) {
            let start = i;
            i += if c == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            blank(&mut out, start, i);
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some(b'\\') {
                // Skip the escaped character itself, which may be a quote.
                let mut j = i + 3;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                let end = (j + 1).min(b.len());
                blank(&mut out, i, end);
                i = end;
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(0, char::len_utf8);
                if ch_len > 0 && b.get(i + 1 + ch_len) == Some(&b'\'') {
                    let end = i + 2 + ch_len;
                    blank(&mut out, i, end);
                    i = end;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced")
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// If a raw (byte) string literal `r"…"`, `r#"…"#`, `br#"…"#` starts at
/// `i`, the index just past it.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    if ident_byte_before(b, i) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    j += 1;
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let rel = b[j..]
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(j + rel + close.len())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(u8),
}

/// Identifiers, `::` and single punctuation bytes, each with its line.
fn tokenize(code: &str) -> Vec<(Tok, usize)> {
    let b = code.as_bytes();
    let mut toks = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            // `r#ident` raw identifiers: drop the prefix.
            let word = code[start..i].trim_start_matches("r#");
            toks.push((Tok::Ident(word.to_string()), line));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            toks.push((Tok::Path, line));
            i += 2;
        } else {
            toks.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    toks
}

/// Every path in the token stream, with `use` groups expanded:
/// `use std::{fs, net::{TcpStream, SocketAddr}}` yields `std::fs`,
/// `std::net::TcpStream` and `std::net::SocketAddr`. Each path carries the
/// line it starts on and the identifier before it (to spot `use x;` and
/// `extern crate x;`).
fn paths(toks: &[(Tok, usize)]) -> Vec<(Vec<String>, usize, Option<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts_path = match &toks[i].0 {
            Tok::Ident(_) => {
                !matches!(toks.get(i.wrapping_sub(1)).map(|t| &t.0), Some(Tok::Path)) || i == 0
            }
            // A leading `::crate::path`.
            Tok::Path => i == 0 || !matches!(toks[i - 1].0, Tok::Ident(_) | Tok::Punct(b'>')),
            Tok::Punct(_) => false,
        };
        if !starts_path {
            i += 1;
            continue;
        }
        let before = match toks.get(i.wrapping_sub(1)).map(|t| &t.0) {
            Some(Tok::Ident(w)) if i > 0 => Some(w.clone()),
            _ => None,
        };
        let line = toks[i].1;
        let start = if toks[i].0 == Tok::Path { i + 1 } else { i };
        i = read_path(toks, start, Vec::new(), line, before.as_deref(), &mut out);
    }
    out
}

/// Reads `a::b::{...}` starting at `i` with `prefix` already read; pushes
/// each complete path and returns the index after it.
fn read_path(
    toks: &[(Tok, usize)],
    mut i: usize,
    mut prefix: Vec<String>,
    line: usize,
    before: Option<&str>,
    out: &mut Vec<(Vec<String>, usize, Option<String>)>,
) -> usize {
    loop {
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Ident(w)) => {
                prefix.push(w.clone());
                i += 1;
            }
            Some(Tok::Punct(b'{')) if !prefix.is_empty() => {
                // A use group: each comma-separated item extends the prefix.
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        None => return i,
                        Some(Tok::Punct(b'}')) => return i + 1,
                        Some(Tok::Punct(b',')) => i += 1,
                        Some(Tok::Ident(w)) if w == "self" => {
                            out.push((prefix.clone(), toks[i].1, before.map(str::to_string)));
                            i += 1;
                        }
                        Some(Tok::Ident(w)) if w == "as" => i += 2,
                        Some(Tok::Punct(b'*')) => i += 1,
                        Some(_) => i = read_path(toks, i, prefix.clone(), toks[i].1, before, out),
                    }
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.push((prefix, line, before.map(str::to_string)));
                }
                return i;
            }
        }
        if matches!(toks.get(i).map(|t| &t.0), Some(Tok::Path)) {
            i += 1;
        } else {
            out.push((prefix, line, before.map(str::to_string)));
            return i;
        }
    }
}

fn contains_seq(path: &[String], seq: &[&str]) -> bool {
    path.windows(seq.len())
        .any(|w| w.iter().zip(seq).all(|(a, b)| a == b))
}

/// Blanks every item marked `#[cfg(test)]` (the core's unit-test modules):
/// a unit test is host-side code and may read the clock to get an `Instant`.
/// Runs on code whose comments and literals are already blank.
fn blank_cfg_test_items(code: &str) -> String {
    let mut b = code.as_bytes().to_vec();
    let squeezed: Vec<(usize, u8)> = b
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii_whitespace())
        .collect();
    let pattern = b"#[cfg(test)]";
    let mut k = 0;
    while k + pattern.len() <= squeezed.len() {
        if !squeezed[k..k + pattern.len()]
            .iter()
            .map(|(_, c)| *c)
            .eq(pattern.iter().copied())
        {
            k += 1;
            continue;
        }
        let start = squeezed[k].0;
        // The item ends at its first `;` before any `{`, or at the brace
        // matching its first `{`.
        let mut depth = 0usize;
        let mut end = b.len();
        for (i, &c) in b
            .iter()
            .enumerate()
            .skip(squeezed[k + pattern.len() - 1].0 + 1)
        {
            match c {
                b';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        for c in &mut b[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        k = squeezed
            .iter()
            .position(|(i, _)| *i >= end)
            .unwrap_or(squeezed.len());
    }
    String::from_utf8(b).expect("only ASCII bytes were replaced")
}

/// The contract, as rules over paths and identifiers.
fn scan(src: &str) -> Vec<Violation> {
    let code = blank_cfg_test_items(&blank_comments_and_literals(src));
    let toks = tokenize(&code);
    let mut found = BTreeSet::new();
    let mut flag = |line: usize, what: String| {
        found.insert(Violation { line, what });
    };

    // Sequences of path segments that are forbidden wherever they appear.
    const FORBIDDEN_SEQS: &[&[&str]] = &[
        &["Instant", "now"],
        &["SystemTime", "now"],
        &["UNIX_EPOCH"],
        &["thread", "spawn"],
        &["thread", "scope"],
        &["thread", "sleep"],
        &["thread", "park"],
        &["thread", "park_timeout"],
        &["thread", "Builder"],
        &["std", "fs"],
        &["std", "process"],
        &["std", "env"],
        &["io", "stdin"],
        &["io", "stdout"],
        &["io", "stderr"],
        &["os", "unix", "net"],
    ];
    // Identifiers that are sockets wherever they are named.
    const SOCKET_TYPES: &[&str] = &[
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "UnixStream",
        "UnixListener",
        "UnixDatagram",
    ];
    // Macros that write to the process's standard streams.
    const PRINT_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

    let crate_names: Vec<String> = RUNTIME_CRATES.iter().map(|c| c.replace('-', "_")).collect();
    for (path, line, before) in paths(&toks) {
        let shown = path.join("::");
        for seq in FORBIDDEN_SEQS {
            if contains_seq(&path, seq) {
                flag(line, format!("`{shown}` ({})", seq.join("::")));
            }
        }
        for t in SOCKET_TYPES {
            if path.iter().any(|s| s == t) {
                flag(line, format!("`{shown}` (socket type {t})"));
            }
        }
        // std::net items other than the plain address values.
        if let Some(p) = path.windows(2).position(|w| w[0] == "std" && w[1] == "net") {
            match path.get(p + 2) {
                Some(item) if NET_VALUES.contains(&item.as_str()) => {}
                Some(item) => flag(
                    line,
                    format!("`{shown}` (std::net::{item} is not a plain value)"),
                ),
                None => flag(line, format!("`{shown}` (all of std::net)")),
            }
        }
        // Runtime and randomness crates: `tokio::x`, `use rand;`, `extern crate mio;`.
        let first = path[0].as_str();
        if crate_names.iter().any(|c| c == first) {
            let named_as_crate =
                path.len() >= 2 || matches!(before.as_deref(), Some("use" | "crate"));
            if named_as_crate {
                flag(line, format!("`{shown}` (runtime crate {first})"));
            }
        }
    }
    // `println!(...)` and friends: an identifier followed by `!`.
    for w in toks.windows(2) {
        if let (Tok::Ident(name), Tok::Punct(b'!')) = (&w[0].0, &w[1].0) {
            if PRINT_MACROS.contains(&name.as_str()) {
                flag(w[0].1, format!("`{name}!` (writes to a standard stream)"));
            }
        }
    }
    found.into_iter().collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
    {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn core_sources_do_no_io() {
    let src = crate_dir().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the core's sources under {}, found {files:?}",
        src.display()
    );
    let mut report = String::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for v in scan(&text) {
            let rel = file.strip_prefix(crate_dir()).unwrap_or(file);
            report.push_str(&format!("  {}:{}: {}\n", rel.display(), v.line, v.what));
        }
    }
    assert!(
        report.is_empty(),
        "natsd-core breaks its no-I/O contract (src/lib.rs): time, sockets, threads, files and \
         randomness must come in through the API.\n{report}"
    );
}

// ---------------------------------------------------------------------------
// Cargo.toml and Cargo.lock
// ---------------------------------------------------------------------------

/// Names of the crates in the normal (not dev, not build) dependency tables
/// of a manifest, including `[target.'…'.dependencies]`, the
/// `[dependencies.name]` form and renames through `package = "…"`.
fn normal_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut in_table = false;
    for raw in manifest.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']').trim();
            // Strip a `target.'cfg(...)'.` prefix.
            let header = match header.strip_prefix("target.") {
                Some(rest) => match rest.find("dependencies") {
                    Some(p) => &rest[p..],
                    None => rest,
                },
                None => header,
            };
            in_table = false;
            if header == "dependencies" {
                in_table = true;
            } else if let Some(name) = header.strip_prefix("dependencies.") {
                deps.insert(name.trim_matches('"').to_string());
            }
            continue;
        }
        if in_table {
            if let Some((key, value)) = line.split_once('=') {
                let name = key.trim().split('.').next().unwrap_or("").trim_matches('"');
                deps.insert(name.to_string());
                if let Some(p) = value.find("package") {
                    if let Some(q) = value[p..].split('"').nth(1) {
                        deps.insert(q.to_string());
                    }
                }
            }
        } else if let Some(value) = line.strip_prefix("package") {
            // `package = "…"` inside a `[dependencies.name]` table.
            if let Some(q) = value.split('"').nth(1) {
                deps.insert(q.to_string());
            }
        }
    }
    deps
}

/// `Cargo.lock` as package name → names of its dependencies (every version
/// of a name merged: an over-approximation, which is the safe side here).
fn lock_graph(lock: &str) -> HashMap<String, BTreeSet<String>> {
    let mut graph: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut current: Option<String> = None;
    let mut in_deps = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            current = None;
            in_deps = false;
        } else if let Some(v) = line.strip_prefix("name = ") {
            let name = v.trim_matches('"').to_string();
            graph.entry(name.clone()).or_default();
            current = Some(name);
        } else if line.starts_with("dependencies = [") {
            in_deps = !line.ends_with(']');
            // One-line form: dependencies = ["a", "b 1.0"]
            let inner = line
                .trim_start_matches("dependencies = [")
                .trim_end_matches(']');
            for item in inner.split(',') {
                add_lock_dep(&mut graph, current.as_deref(), item);
            }
        } else if in_deps {
            if line.starts_with(']') {
                in_deps = false;
            } else {
                add_lock_dep(&mut graph, current.as_deref(), line);
            }
        }
    }
    graph
}

fn add_lock_dep(graph: &mut HashMap<String, BTreeSet<String>>, pkg: Option<&str>, item: &str) {
    let dep = item.trim().trim_end_matches(',').trim_matches('"');
    let Some(name) = dep.split_whitespace().next() else {
        return;
    };
    if let Some(pkg) = pkg {
        graph
            .entry(pkg.to_string())
            .or_default()
            .insert(name.to_string());
    }
}

/// Dependency edges allowed to lead to an otherwise forbidden crate, each
/// with its reason.
///
/// TLS (rustls with its ring provider) needs unpredictable secrets: the
/// ephemeral key-exchange keys and the server random of every handshake.
/// ring draws them from the operating system through `getrandom` (and
/// `libc` on some targets) inside its own key-generation calls; rustls
/// offers no way to feed those from the caller. Deriving them from the
/// seed given to `Server::new` instead would make a server's session keys
/// a function of one number, which is not acceptable for key material.
/// So this one source of randomness, reached only through `ring`, is the
/// exception to "no randomness it was not given"; nothing else in the
/// core may reach `getrandom` or `libc` (a second path would be flagged).
const ALLOWED_EDGES: &[(&str, &str)] = &[("ring", "getrandom"), ("ring", "libc")];

fn forbidden_crate(name: &str) -> bool {
    RUNTIME_CRATES.contains(&name) || name.starts_with("tokio-") || name.starts_with("rand_")
}

#[test]
fn core_manifest_has_no_runtime_dependency() {
    let manifest =
        std::fs::read_to_string(crate_dir().join("Cargo.toml")).expect("read core/Cargo.toml");
    let deps = normal_dependencies(&manifest);
    assert!(
        deps.contains("bytes"),
        "the manifest parser found no dependencies: {deps:?}"
    );
    let bad: Vec<_> = deps.iter().filter(|d| forbidden_crate(d)).collect();
    assert!(
        bad.is_empty(),
        "core/Cargo.toml [dependencies] names runtime crates: {bad:?}"
    );
}

/// The crates the core's normal dependencies pull in, found through the
/// workspace lock file: none of them may be a runtime crate either.
#[test]
fn core_dependency_closure_has_no_runtime_crate() {
    let manifest =
        std::fs::read_to_string(crate_dir().join("Cargo.toml")).expect("read core/Cargo.toml");
    let lock_path = crate_dir().join("../Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_else(|e| {
        panic!(
            "{} (cargo writes it before building this test): {e}",
            lock_path.display()
        )
    });
    let graph = lock_graph(&lock);
    assert!(
        graph.contains_key("natsd-core"),
        "lock parser did not find natsd-core"
    );
    let mut seen = BTreeSet::new();
    let mut stack: Vec<(String, Vec<String>)> = normal_dependencies(&manifest)
        .into_iter()
        .map(|d| (d.clone(), vec![d]))
        .collect();
    let mut bad = Vec::new();
    while let Some((name, chain)) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if forbidden_crate(&name) {
            bad.push(chain.join(" -> "));
        }
        for dep in graph.get(&name).into_iter().flatten() {
            if ALLOWED_EDGES.contains(&(name.as_str(), dep.as_str())) {
                continue;
            }
            let mut c = chain.clone();
            c.push(dep.clone());
            stack.push((dep.clone(), c));
        }
    }
    assert!(
        seen.len() > 5,
        "dependency closure suspiciously small: {seen:?}"
    );
    assert!(
        bad.is_empty(),
        "natsd-core pulls in runtime crates:\n  {}",
        bad.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// The checks themselves can fail
// ---------------------------------------------------------------------------

fn rules_hit(src: &str) -> Vec<String> {
    scan(src).into_iter().map(|v| v.what).collect()
}

#[test]
fn scanner_flags_each_forbidden_use() {
    let cases: &[(&str, &str)] = &[
        ("let t = Instant::now();", "Instant::now"),
        ("let t = std::time::Instant::now();", "Instant::now"),
        (
            "let t = std :: time :: SystemTime :: now();",
            "SystemTime::now",
        ),
        ("use std::net::TcpStream;", "TcpStream"),
        ("fn f(s: &mut TcpListener) {}", "TcpListener"),
        ("let s = std::net::UdpSocket::bind(a);", "UdpSocket"),
        ("use std::net::{SocketAddr, TcpStream};", "TcpStream"),
        ("use std::{net::{IpAddr, UdpSocket}};", "UdpSocket"),
        ("use std::net;", "all of std::net"),
        ("std::thread::spawn(|| {});", "thread::spawn"),
        (
            "use std::thread; fn f() { thread::sleep(d) }",
            "thread::sleep",
        ),
        ("let data = std::fs::read(p);", "std::fs"),
        ("use std::{fs, io};", "std::fs"),
        ("use std::fs::File;", "std::fs"),
        ("let v = std::env::var(\"X\");", "std::env"),
        ("tokio::spawn(async {});", "runtime crate tokio"),
        ("use mio::Poll;", "runtime crate mio"),
        ("async_std::task::block_on(f);", "runtime crate async_std"),
        ("let x: u8 = rand::random();", "runtime crate rand"),
        ("use rand;", "runtime crate rand"),
        ("extern crate tokio;", "runtime crate tokio"),
        ("let x = ::tokio::time::sleep(d);", "runtime crate tokio"),
        ("println!(\"hi\");", "println!"),
        ("let _ = dbg!(x);", "dbg!"),
    ];
    for (src, expect) in cases {
        let hits = rules_hit(src);
        assert!(
            hits.iter().any(|h| h.contains(expect)),
            "`{src}` should break the rule `{expect}`; found {hits:?}"
        );
    }
}

#[test]
fn scanner_ignores_comments_strings_and_allowed_values() {
    let clean = r####"
//! Runs under tokio, mio or async-std; never calls Instant::now.
/* a block comment naming std::fs::read and TcpStream
   /* nested: thread::spawn */ still a comment: rand::random */
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr as Addr};
use std::time::{Duration, Instant};
fn f<'a>(now: Instant, peer: SocketAddr, s: &'a str) -> &'a str {
    let _msg = "Instant::now and std::fs and tokio::spawn in a string";
    let _raw = r#"TcpStream "quoted" rand::random"#;
    let _bytes = b"std::thread::spawn";
    let _c = '"';
    let _e = '\'';
    let rand = 4; // a variable called rand is fine
    let mio = rand + 1;
    let _ = (now + Duration::from_secs(1), peer, mio);
    log::debug!("thread::sleep");
    s
}
"####;
    let hits = rules_hit(clean);
    assert!(hits.is_empty(), "false positives: {hits:?}");
}

#[test]
fn scanner_skips_unit_test_modules_only() {
    let src = r#"
fn lib() {}

#[cfg(test)]
mod tests {
    use std::time::Instant;
    #[test]
    fn t() { let t0 = Instant::now(); let _ = { t0 }; }
}

#[cfg(test)]
use std::thread::sleep;

fn after() { std::thread::sleep(d); }
"#;
    let found = scan(src);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, 14);
    assert!(found[0].what.contains("thread::sleep"));
    // `#[cfg(not(test))]` is library code.
    assert_eq!(
        scan("#[cfg(not(test))]\nfn f() { Instant::now(); }").len(),
        1
    );
}

#[test]
fn scanner_keeps_line_numbers() {
    let src = "// line 1\n/* line 2\n line 3 */\nlet s = \"line 4\n still 5\";\nlet t = Instant::now(); // line 6\n";
    let found = scan(src);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, 6);
}

#[test]
fn manifest_check_can_fail() {
    let manifest = r#"
[package]
name = "natsd-core"

[dependencies]
bytes.workspace = true
tokio = { version = "1", features = ["net"] }
rt = { package = "async-std", version = "1" }

[dependencies.mio]
version = "1"

[target.'cfg(unix)'.dependencies]
libc = "0.2"

[dev-dependencies]
rand = "0.8"
"#;
    let deps = normal_dependencies(manifest);
    let bad: BTreeSet<&str> = deps
        .iter()
        .map(String::as_str)
        .filter(|d| forbidden_crate(d))
        .collect();
    assert_eq!(
        bad,
        BTreeSet::from(["async-std", "libc", "mio", "tokio"]),
        "from {deps:?}"
    );
    assert!(
        !deps.contains("rand"),
        "dev-dependencies are not the core's dependencies"
    );
}

#[test]
fn lock_closure_check_can_fail() {
    let lock = r#"
[[package]]
name = "natsd-core"
version = "0.1.0"
dependencies = [
 "bytes",
 "innocent",
]

[[package]]
name = "innocent"
version = "1.0.0"
dependencies = [
 "mio 1.0.2",
]

[[package]]
name = "mio"
version = "1.0.2"
"#;
    let graph = lock_graph(lock);
    assert_eq!(graph["innocent"], BTreeSet::from(["mio".to_string()]));
    assert!(graph["natsd-core"].contains("innocent"));
}
