//! The nats-server configuration file grammar, as a pure function.
//!
//! [`parse`] turns the text of a `nats-server.conf` into a [`Map`] of
//! [`Value`]s, each carrying its [`Pos`] (file, line, column) so that the
//! option layer can report `file:line:col: unknown field "x"` the way
//! nats-server does. Nothing here touches the file system or the process
//! environment: `include` goes through a [`Loader`] and `$VAR` through an
//! `env` function, both supplied by the caller.
//!
//! # The grammar in brief
//!
//! Behaviour follows nats-server 2.14 (checked against the real binary with
//! `nats-server -t -c file.conf`), including its quirks.
//!
//! * **Entries**: `key = value`, `key: value` or `key value`, separated by
//!   newlines, `;` or `,`. Keys may be quoted (`"…"` or `'…'`, no escapes).
//!   Duplicate keys: the last wins. `#` and `//` start comments.
//! * **Maps** `{ … }` (assigned with or without separator: `cluster { … }`),
//!   **arrays** `[ … ]` (commas and/or newlines, trailing comma allowed).
//!   A whole file (or part of its top level) may be wrapped in `{ … }`,
//!   which is how the official Helm chart writes configs (JSON plus `$VAR`,
//!   unquoted sizes and `include` lines).
//! * **Strings**: `"…"` with escapes `\t \n \r \" \\ \xHH`; `'…'` raw;
//!   unquoted up to white space, newline, `,` `;` `]` `}`; block strings
//!   `( … )` closed by `)` alone on a line.
//! * **Booleans**: unquoted `true/false/yes/no/on/off`, any case.
//! * **Integers** with optional size suffix, any case: `k`=10³,
//!   `kb`/`ki`/`kib`=2¹⁰, `m`=10⁶, `mb`/`mi`/`mib`=2²⁰, likewise `g`, `t`,
//!   `p`, `e`. Trap: unquoted `2m` is the integer 2 000 000, while `2s`,
//!   `1h`, `500ms` and `127.0.0.1:4222` are strings, and `1m30s` is a
//!   parse error. Durations are therefore strings (or integers) to the
//!   option layer; there is no duration value kind.
//! * **Floats** `1.5` (digits on both sides of the dot, no exponent),
//!   **datetimes** `2006-01-02T15:04:05Z`.
//! * **Variables**: unquoted `$name` is replaced by the value of the key
//!   `name` assigned earlier in an enclosing map (innermost first, exact
//!   case), else by the environment variable `name`, whose text is parsed
//!   as if written in the file (`MP=2KB` gives 2048). Keys referenced this
//!   way are flagged [`Entry::used_as_variable`] so the option layer does
//!   not call them unknown. Unquoted `$2a$…` (bcrypt) is a plain string.
//! * **Includes**: `include path` / `include "path"` wherever a key may
//!   stand (not in arrays); the file's entries are merged into the current
//!   map. It is parsed on its own (it does not see the including file's
//!   variables), and its errors carry its own name.
//!
//! # Quirks reproduced on purpose
//!
//! `[1]` is an error (`1]` lexes as a string; write `[1 ]` or `[1,]`);
//! an integer with an unknown suffix (`1kbbb`) is silently dropped; a key
//! may contain braces (`cluster{` is a key); an unclosed top-level `{` is
//! accepted. See the lexer and parser sources for the full list.
//!
//! # Known differences from nats-server
//!
//! * Columns are 1-based everywhere (nats-server: 0-based on line 1).
//! * Errors always start with `file:line:col:`; the text after it is
//!   nats-server's message, minus its `Parse error on line N: '…'` wrapper
//!   and minus the `error parsing include file` prefix for errors inside
//!   an included file (the position names that file). The end of input is
//!   shown as `EOF` where nats-server prints a NUL byte.
//! * Size-suffix overflow (`10e`) is an error instead of wrapping around;
//!   include cycles are an error instead of a stack overflow; nesting is
//!   limited to 128 levels.
//! * `\xHH` escapes that do not form UTF-8 become U+FFFD.
//! * A key left without value before a map's `}` (`x { port: }`) is an
//!   error. nats-server instead assigns the enclosing map to that key one
//!   level up (`x { cluster: }` silently means a top-level `cluster {}`);
//!   its option layer usually rejects the result anyway.
//! * An unterminated quoted *value* at the very end of the input is an
//!   error. nats-server sometimes (a lone quote inside an array, or when
//!   the last part of the string follows an escape) ends the file there
//!   silently, dropping the unfinished maps and arrays around it. (A lone
//!   quote in *key* position at the very end is accepted, as there.)

pub mod digest;
pub mod gofmt;
mod lexer;
pub mod options;
mod parser;
mod printer;
mod value;

use std::collections::HashMap;
use std::fmt;

pub use digest::digest;
pub use options::{
    apply, load, reload_diff, reload_log_line, to_config, validate, Loaded, Warning,
};
pub use printer::to_string;
pub use value::{Entry, Map, Pos, Value, ValueKind};

/// A configuration error: where, and nats-server's message.
///
/// `Display` gives `<file>:<line>:<col>: <message>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is. For an error inside an included file this is
    /// a position in that file; for a missing include file, the position of
    /// the `include` path in the including file.
    pub pos: Pos,
    /// What is wrong, worded as nats-server words it where it has an
    /// equivalent (e.g. `variable reference for 'X' on line 3 can not be
    /// found`).
    pub message: String,
}

impl ConfigError {
    /// Creates an error; the option layer uses this for its own errors
    /// (`unknown field`, bad types) so that they print the same way.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        ConfigError {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Supplies the text of included files.
///
/// The core never opens files; a runtime passes a loader backed by the file
/// system, tests and embedders may use [`MapLoader`] or a closure
/// `FnMut(&str, &str) -> Result<(String, String), String>`.
pub trait Loader {
    /// Loads `path` as written after `include` in the file named
    /// `including_file` (the name given to [`parse`], or the resolved name
    /// this loader returned for an included file).
    ///
    /// Relative paths are relative to the including file's directory; see
    /// [`resolve_include_path`] for the exact rule nats-server applies.
    ///
    /// Returns the resolved name (used in positions and passed back as
    /// `including_file` for nested includes) and the text. On failure,
    /// returns the reason, e.g. `open x.conf: no such file or directory`;
    /// the parser reports it as `error parsing include file 'x.conf', <reason>`.
    fn load(&mut self, including_file: &str, path: &str) -> Result<(String, String), String>;
}

impl<F> Loader for F
where
    F: FnMut(&str, &str) -> Result<(String, String), String>,
{
    fn load(&mut self, including_file: &str, path: &str) -> Result<(String, String), String> {
        self(including_file, path)
    }
}

/// A [`Loader`] serving files from memory, keyed by resolved name (see
/// [`resolve_include_path`]: including `dir/main.conf` and writing
/// `include ../x.conf` asks for `x.conf`).
#[derive(Clone, Debug, Default)]
pub struct MapLoader {
    files: HashMap<String, String>,
}

impl MapLoader {
    /// A loader with no files (every include fails).
    pub fn new() -> Self {
        MapLoader::default()
    }

    /// Adds a file (builder style).
    pub fn with(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.insert(name, text);
        self
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.files.insert(name.into(), text.into());
    }
}

impl Loader for MapLoader {
    fn load(&mut self, including_file: &str, path: &str) -> Result<(String, String), String> {
        let name = resolve_include_path(including_file, path);
        match self.files.get(&name) {
            Some(text) => Ok((name, text.clone())),
            None => Err(format!("open {name}: no such file or directory")),
        }
    }
}

/// Where nats-server looks for `include <path>` written in `including_file`:
/// the directory of `including_file` joined with `path`, then lexically
/// cleaned (`.` and `..` resolved, duplicate `/` removed), using `/` as
/// separator.
///
/// Quirk kept on purpose: an absolute `path` is *also* joined to the
/// including file's directory (`include /etc/x.conf` in `conf/main.conf`
/// means `conf/etc/x.conf`), because that is what nats-server does.
///
/// ```
/// use natsd_core::config::resolve_include_path;
/// assert_eq!(resolve_include_path("main.conf", "tls.conf"), "tls.conf");
/// assert_eq!(resolve_include_path("/etc/nats/main.conf", "../x.conf"), "/etc/x.conf");
/// assert_eq!(resolve_include_path("conf/main.conf", "/abs.conf"), "conf/abs.conf");
/// ```
pub fn resolve_include_path(including_file: &str, path: &str) -> String {
    let dir = match including_file.rfind('/') {
        Some(i) => clean_path(&including_file[..=i]),
        None => ".".to_string(),
    };
    if path.is_empty() {
        return dir;
    }
    clean_path(&format!("{dir}/{path}"))
}

/// Lexical path cleaning: drops empty and `.` segments, resolves `..`
/// (never above the root of an absolute path), `.` for an empty result.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Parses a configuration file.
///
/// * `text`: the file's contents.
/// * `source`: its name, used in positions and error messages and passed to
///   `loader` as the including file.
/// * `loader`: supplies included files ([`MapLoader::new()`] if includes are
///   not expected: every include then fails with a clear error).
/// * `env`: the environment for `$VAR` references not defined in the file
///   (`&|_| None` for none, `&|k| std::env::var(k).ok()` in a runtime).
///
/// Returns the top-level map. An empty file gives an empty map (rejecting
/// that is the option layer's call: nats-server says `config has no values
/// or is empty`).
///
/// ```
/// use natsd_core::config::{parse, MapLoader};
/// let m = parse("port: 4222\nmax_payload: 2MB\n", "a.conf", &mut MapLoader::new(), &|_| None)?;
/// assert_eq!(m.get_ci("port").and_then(|v| v.as_i64()), Some(4222));
/// assert_eq!(m.get_ci("max_payload").and_then(|v| v.as_i64()), Some(2 << 20));
/// let err = parse("port: 1m30s\n", "a.conf", &mut MapLoader::new(), &|_| None).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "a.conf:1:9: Expected a top-level value to end with a new line, comment or EOF, \
///      but got '3' instead."
/// );
/// # Ok::<(), natsd_core::config::ConfigError>(())
/// ```
pub fn parse(
    text: &str,
    source: &str,
    loader: &mut dyn Loader,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, ConfigError> {
    let mut shared = parser::Shared {
        loader,
        env,
        files: vec![source.to_string()],
        env_refs: Vec::new(),
        depth: 0,
    };
    parser::parse_text(text, source, &mut shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths() {
        assert_eq!(resolve_include_path("main.conf", "p.conf"), "p.conf");
        assert_eq!(resolve_include_path("./main.conf", "./p.conf"), "p.conf");
        assert_eq!(
            resolve_include_path("a/b/main.conf", "../p.conf"),
            "a/p.conf"
        );
        assert_eq!(resolve_include_path("main.conf", "../p.conf"), "../p.conf");
        assert_eq!(resolve_include_path("/main.conf", "../p.conf"), "/p.conf");
        assert_eq!(
            resolve_include_path("/etc//nats/main.conf", "sub//x.conf"),
            "/etc/nats/sub/x.conf"
        );
        assert_eq!(resolve_include_path("main.conf", ""), ".");
        assert_eq!(
            resolve_include_path("main.conf", "/tmp/x.conf"),
            "tmp/x.conf"
        );
    }

    #[test]
    fn map_loader() {
        let mut l = MapLoader::new().with("conf/x.conf", "a: 1");
        assert_eq!(
            l.load("conf/main.conf", "x.conf"),
            Ok(("conf/x.conf".to_string(), "a: 1".to_string()))
        );
        assert_eq!(
            l.load("main.conf", "x.conf"),
            Err("open x.conf: no such file or directory".to_string())
        );
    }

    #[test]
    fn closure_loader() {
        let mut calls = 0;
        let mut l = |inc: &str, p: &str| {
            calls += 1;
            Ok((format!("{inc}>{p}"), "port: 1".to_string()))
        };
        let m = parse("include x.conf\n", "m.conf", &mut l, &|_| None).unwrap();
        assert_eq!(m.get("port").unwrap().pos.file.as_ref(), "m.conf>x.conf");
        assert_eq!(calls, 1);
    }
}
