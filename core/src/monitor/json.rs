//! JSON as Go's `encoding/json` writes it, so responses diff cleanly
//! against nats-server's: `MarshalIndent(v, "", "  ")` layout (or compact),
//! `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c` and so on, and
//! floats in Go's shortest form (`0`, `0.5`, `1e+21`, `1e-7`).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// `v` indented by two spaces, as `json.MarshalIndent(v, "", "  ")`.
pub(super) fn pretty<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let fmt = Go {
        pretty: Some(PrettyFormatter::with_indent(b"  ")),
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing our own structs into a Vec cannot fail.
    let _ = v.serialize(&mut ser);
    out
}

/// `v` on one line, as `json.Marshal(v)`.
pub(crate) fn compact<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Go { pretty: None });
    let _ = v.serialize(&mut ser);
    out
}

/// Go's float text: shortest round-trip digits, exponent form only below
/// 1e-6 or from 1e21 on, with a sign and at least one exponent digit.
pub(super) fn go_float(v: f64) -> String {
    if !v.is_finite() {
        // Go refuses to encode these; monitoring never produces them.
        return "0".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

struct Go<'a> {
    pretty: Option<PrettyFormatter<'a>>,
}

macro_rules! layout {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            match &mut self.pretty {
                Some(p) => p.$name(w $(, $arg)*),
                None => CompactFormatter.$name(w $(, $arg)*),
            }
        }
    )*};
}

impl Formatter for Go<'_> {
    layout!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        w.write_all(go_float(v).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, v: f32) -> io::Result<()> {
        w.write_all(go_float(f64::from(v)).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let esc = match ch {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(esc.as_bytes())?;
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        subject: &'static str,
        empty_obj: Empty,
        empty_list: Vec<u32>,
        list: Vec<u32>,
        rate: f64,
        whole: f64,
    }

    #[derive(Serialize)]
    struct Empty {}

    #[test]
    fn go_layout_and_escapes() {
        let v = Sample {
            subject: "help.> & <x> \u{2028}\"\n",
            empty_obj: Empty {},
            empty_list: vec![],
            list: vec![1, 2],
            rate: 0.5227272727272727,
            whole: 1.0,
        };
        let want = r#"{
  "subject": "help.\u003e \u0026 \u003cx\u003e \u2028\"\n",
  "empty_obj": {},
  "empty_list": [],
  "list": [
    1,
    2
  ],
  "rate": 0.5227272727272727,
  "whole": 1
}"#;
        assert_eq!(String::from_utf8(pretty(&v)).unwrap(), want);
        let c = String::from_utf8(compact(&v)).unwrap();
        assert!(c.starts_with(r#"{"subject":"help.\u003e"#), "{c}");
        assert!(
            c.ends_with(r#""list":[1,2],"rate":0.5227272727272727,"whole":1}"#),
            "{c}"
        );
    }

    #[test]
    fn go_floats() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }
}
