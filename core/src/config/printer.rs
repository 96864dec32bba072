//! Writing a [`Map`] back as configuration text that parses to the same
//! tree.

use std::fmt::Write as _;

use super::value::{Map, Value, ValueKind};

/// Prints `map` in the configuration grammar.
///
/// The output is meant to be read back, not to be pretty: keys are quoted,
/// strings are always double-quoted (so they can never turn into booleans,
/// numbers or variables), arrays and maps are spread over lines. For any
/// map produced by [`parse`](super::parse), `parse(&to_string(&m), …)`
/// gives a map equal to `m` ignoring positions ([`Map::eq_ignore_pos`]).
///
/// Some things cannot be written in the grammar and do not round-trip:
/// non-finite floats (printed as the strings `"NaN"`, `"inf"`, `"-inf"`;
/// the parser never produces them), and keys that contain both kinds of
/// quote and cannot be written bare either: with white space, `=` or `:`,
/// or starting with a character that means something else where the key
/// stands (`]` or `}` inside a map, `{` at top level). Such keys are printed
/// double-quoted, which breaks; the parser never produces them either,
/// since a key with both quotes can only have been written bare, at the
/// same depth.
pub fn to_string(map: &Map) -> String {
    let mut out = String::new();
    write_entries(&mut out, map, 0);
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_entries(out: &mut String, map: &Map, depth: usize) {
    for entry in map {
        indent(out, depth);
        write_key(out, &entry.key, depth);
        out.push_str(": ");
        write_value(out, &entry.value, depth);
        // A newline ends a value everywhere (top level and maps).
        out.push('\n');
    }
}

fn write_key(out: &mut String, key: &str, depth: usize) {
    // Quoted keys have no escapes: pick a quote the key does not contain.
    if !key.contains('"') {
        let _ = write!(out, "\"{key}\"");
    } else if !key.contains('\'') {
        let _ = write!(out, "'{key}'");
    } else if bare_key_ok(key, depth) {
        out.push_str(key);
    } else {
        let _ = write!(out, "\"{key}\"");
    }
}

/// Can `key` be written without quotes at `depth` (0: top level)? A bare
/// key runs to white space, `=` or `:`, and must not start with a
/// character that means something else where it stands. Those differ by
/// depth, as in the parser: at top level `{` opens braces while `]` and
/// `}` start a key; inside a map `]` is an error and `}` closes the map
/// while `{` starts a key.
fn bare_key_ok(key: &str, depth: usize) -> bool {
    let Some(first) = key.chars().next() else {
        return false;
    };
    let starts_key = match first {
        '"' | '\'' | '#' | '/' => false,
        '{' => depth > 0,
        ']' | '}' => depth == 0,
        _ => true,
    };
    starts_key
        && key
            .chars()
            .all(|c| !(c.is_whitespace() || c == '=' || c == ':'))
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match &value.kind {
        ValueKind::String(s) => write_string(out, s),
        ValueKind::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ValueKind::Float(x) => write_float(out, *x),
        ValueKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueKind::Datetime(d) => out.push_str(d),
        ValueKind::Map(m) if m.is_empty() => out.push_str("{}"),
        ValueKind::Map(m) => {
            out.push_str("{\n");
            write_entries(out, m, depth + 1);
            indent(out, depth);
            out.push('}');
        }
        ValueKind::Array(a) if a.is_empty() => out.push_str("[]"),
        ValueKind::Array(a) => {
            // One element per line, each followed by a comma: never `1]`,
            // which nats-server's grammar reads as the string "1]".
            out.push_str("[\n");
            for v in a {
                indent(out, depth + 1);
                write_value(out, v, depth + 1);
                out.push_str(",\n");
            }
            indent(out, depth);
            out.push(']');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push_str(&super::gofmt::quote(s));
}

fn write_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        write_string(out, &x.to_string());
        return;
    }
    // Rust's `Display` for f64 is the shortest text that reads back to the
    // same number and never uses an exponent, which the grammar lacks.
    let text = x.to_string();
    out.push_str(&text);
    if !text.contains('.') {
        // Without a fraction it would read back as an integer.
        out.push_str(".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, MapLoader, Pos};

    fn v(kind: ValueKind) -> Value {
        Value::new(kind, Pos::new("t", 1, 1))
    }

    fn roundtrip(m: &Map) {
        let text = to_string(m);
        let back = parse(&text, "rt.conf", &mut MapLoader::new(), &|_| None)
            .unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"));
        assert!(m.eq_ignore_pos(&back), "text:\n{text}\nback: {back:?}");
    }

    #[test]
    fn scalars_roundtrip() {
        let mut m = Map::new();
        let p = Pos::new("t", 1, 1);
        m.insert(
            "s",
            p.clone(),
            v(ValueKind::String(
                "a \"b\" \\ \n\t\r\x01 é $x true 1".into(),
            )),
        );
        m.insert("i", p.clone(), v(ValueKind::Integer(i64::MIN)));
        m.insert("f", p.clone(), v(ValueKind::Float(3.0)));
        m.insert("g", p.clone(), v(ValueKind::Float(-1e-9)));
        m.insert("b", p.clone(), v(ValueKind::Bool(false)));
        m.insert(
            "d",
            p.clone(),
            v(ValueKind::Datetime("2020-01-02T03:04:05Z".into())),
        );
        m.insert("it's\"odd\"", p.clone(), v(ValueKind::Integer(1)));
        m.insert("", p.clone(), v(ValueKind::Integer(2)));
        m.insert("include", p.clone(), v(ValueKind::Integer(3)));
        roundtrip(&m);
    }

    #[test]
    fn nested_roundtrip() {
        let p = Pos::new("t", 1, 1);
        let mut inner = Map::new();
        inner.insert(
            "x",
            p.clone(),
            v(ValueKind::Array(vec![v(ValueKind::Integer(1))])),
        );
        inner.insert("e", p.clone(), v(ValueKind::Map(Map::new())));
        let mut m = Map::new();
        m.insert(
            "a",
            p.clone(),
            v(ValueKind::Array(vec![
                v(ValueKind::Map(inner.clone())),
                v(ValueKind::Array(vec![])),
                v(ValueKind::Integer(7)),
            ])),
        );
        m.insert("m", p, v(ValueKind::Map(inner)));
        roundtrip(&m);
    }
}
