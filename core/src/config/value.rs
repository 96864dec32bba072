//! The parsed value tree: [`Value`], [`ValueKind`], [`Map`], [`Entry`] and
//! the source position [`Pos`] every node carries.

use std::fmt;
use std::sync::Arc;

/// A place in a configuration source: file name, line and column.
///
/// Lines and columns are 1-based and columns count characters (not bytes).
/// The file name is shared (`Arc<str>`) because every value of a file
/// carries it.
///
/// nats-server reports columns 0-based on the first line of a file and
/// 1-based on the others (an artefact of its lexer); natsd is 1-based
/// everywhere, so its column agrees with nats-server's from line 2 on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    /// The file name, as given to [`parse`](super::parse) or as resolved by
    /// the [`Loader`](super::Loader) for included files.
    pub file: Arc<str>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column number, in characters.
    pub col: u32,
}

impl Pos {
    /// Creates a position.
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Pos {
            file: file.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for Pos {
    /// `file:line:col`, the prefix of every configuration error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One node of the parsed configuration: what it is and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The value itself.
    pub kind: ValueKind,
    /// Where the value starts (for a variable reference: where `$name` was
    /// written, not where the variable was defined).
    pub pos: Pos,
}

/// The kinds of value the grammar produces.
///
/// There is no duration kind: durations are strings (`"2s"`, or unquoted
/// `2s`) and are interpreted by the option layer. Beware that unquoted `2m`
/// is the *integer* 2 000 000 (size suffix `m`), exactly as in nats-server.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// A quoted, unquoted or block (`( … )`) string.
    String(String),
    /// An integer, size suffixes (`1k`, `2MB`, `10Gi`) already applied.
    Integer(i64),
    /// A float such as `1.5` (always written with a `.`; no exponent form).
    Float(f64),
    /// `true/false/yes/no/on/off` in any case, unquoted.
    Bool(bool),
    /// An ISO-8601 Zulu datetime, kept as written: `2006-01-02T15:04:05Z`
    /// (already validated as a real calendar date and time).
    Datetime(String),
    /// A `{ … }` block.
    Map(Map),
    /// A `[ … ]` list.
    Array(Vec<Value>),
}

impl Value {
    /// Creates a value.
    pub fn new(kind: ValueKind, pos: Pos) -> Self {
        Value { kind, pos }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Integer(n) => Some(n),
            _ => None,
        }
    }

    /// The number as a float, if this is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            ValueKind::Float(x) => Some(x),
            // Lossy for huge integers, which is what a caller asking for a
            // float (e.g. a timeout in seconds) expects.
            ValueKind::Integer(n) => Some(n as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The map, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            ValueKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            ValueKind::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short name of the kind, for "expected X, got Y" messages:
    /// `string`, `integer`, `float`, `bool`, `datetime`, `map` or `array`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::String(_) => "string",
            ValueKind::Integer(_) => "integer",
            ValueKind::Float(_) => "float",
            ValueKind::Bool(_) => "bool",
            ValueKind::Datetime(_) => "datetime",
            ValueKind::Map(_) => "map",
            ValueKind::Array(_) => "array",
        }
    }

    /// Structural equality that ignores positions and the
    /// [`Entry::used_as_variable`] flags: "do these two trees say the same
    /// thing". Used by round-trip tests (print, parse back, compare).
    pub fn eq_ignore_pos(&self, other: &Value) -> bool {
        match (&self.kind, &other.kind) {
            (ValueKind::Map(a), ValueKind::Map(b)) => a.eq_ignore_pos(b),
            (ValueKind::Array(a), ValueKind::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_pos(y))
            }
            (a, b) => a == b,
        }
    }

    /// Replaces the position of this value and of everything inside it.
    /// Used for values that come from the environment, which have no file
    /// position of their own: they are placed at the `$NAME` reference.
    pub(crate) fn set_pos_deep(&mut self, pos: &Pos) {
        self.pos = pos.clone();
        match &mut self.kind {
            ValueKind::Map(m) => {
                for e in &mut m.entries {
                    e.key_pos = pos.clone();
                    e.value.set_pos_deep(pos);
                }
            }
            ValueKind::Array(a) => a.iter_mut().for_each(|v| v.set_pos_deep(pos)),
            _ => {}
        }
    }
}

/// One `key: value` of a [`Map`].
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key exactly as written (original spelling and case; quotes
    /// removed). Lookups by the option layer are case-insensitive, see
    /// [`Map::get_ci`]; variable references (`$key`) are case-sensitive.
    pub key: String,
    /// Where the key was written (for "unknown field" errors).
    pub key_pos: Pos,
    /// The value.
    pub value: Value,
    /// True when this entry was referenced as a variable (`$key`). The
    /// option layer must not report such an entry as an unknown field
    /// (nats-server accepts `mp = 4096` followed by `max_payload: $mp`).
    pub used_as_variable: bool,
}

/// An ordered map of configuration keys to values.
///
/// * Insertion order is preserved.
/// * Keys are compared exactly (case-sensitive), as nats-server stores them;
///   re-assigning an existing key replaces that entry in place, so the last
///   assignment wins and keeps the first one's place in the order.
/// * [`Map::get_ci`] gives the case-insensitive lookup options use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in insertion order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Iterates over the entries in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Iterates over the keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }

    /// The entry whose key is exactly `key`.
    pub fn get_entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value whose key is exactly `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_entry(key).map(|e| &e.value)
    }

    /// The entry whose key equals `key` ignoring ASCII case. If several keys
    /// match (`Port` and `port` are distinct entries), the one inserted last
    /// is returned, so that the one written last in the file wins.
    pub fn get_entry_ci(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// The value whose key equals `key` ignoring ASCII case (see
    /// [`Map::get_entry_ci`]).
    pub fn get_ci(&self, key: &str) -> Option<&Value> {
        self.get_entry_ci(key).map(|e| &e.value)
    }

    /// True if a key equal to `key` ignoring ASCII case exists.
    pub fn contains_key_ci(&self, key: &str) -> bool {
        self.get_entry_ci(key).is_some()
    }

    /// Sets `key` to `value` (not marked as used as a variable). An existing
    /// entry with exactly this key is replaced in place and returned.
    pub fn insert(&mut self, key: impl Into<String>, key_pos: Pos, value: Value) -> Option<Entry> {
        self.insert_entry(Entry {
            key: key.into(),
            key_pos,
            value,
            used_as_variable: false,
        })
    }

    /// Inserts a complete entry, replacing (in place) and returning an
    /// existing entry with exactly the same key.
    pub fn insert_entry(&mut self, entry: Entry) -> Option<Entry> {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                self.entries.push(entry);
                None
            }
        }
    }

    /// Removes and returns the entry whose key is exactly `key`.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(i))
    }

    /// Mutable access to the entry whose key is exactly `key` (the parser
    /// uses it to mark variables as used).
    pub(crate) fn get_entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == key)
    }

    /// Structural equality ignoring positions and used-as-variable flags
    /// (see [`Value::eq_ignore_pos`]). Order matters.
    pub fn eq_ignore_pos(&self, other: &Map) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.key == b.key && a.value.eq_ignore_pos(&b.value))
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl IntoIterator for Map {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pos {
        Pos::new("t", 1, 1)
    }

    fn int(n: i64) -> Value {
        Value::new(ValueKind::Integer(n), p())
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = Map::new();
        m.insert("a", p(), int(1));
        m.insert("b", p(), int(2));
        let old = m.insert("a", p(), int(3)).unwrap();
        assert_eq!(old.value.as_i64(), Some(1));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("a").unwrap().as_i64(), Some(3));
    }

    #[test]
    fn case_insensitive_lookup_prefers_last() {
        let mut m = Map::new();
        m.insert("Port", p(), int(1));
        m.insert("port", p(), int(2));
        assert_eq!(m.len(), 2);
        assert_eq!(m.get_ci("PORT").unwrap().as_i64(), Some(2));
        assert_eq!(m.get("Port").unwrap().as_i64(), Some(1));
        assert!(m.get("PORT").is_none());
    }

    #[test]
    fn eq_ignore_pos_ignores_positions_and_flags() {
        let mut a = Map::new();
        a.insert("x", p(), int(1));
        let mut b = Map::new();
        b.insert_entry(Entry {
            key: "x".into(),
            key_pos: Pos::new("other", 9, 9),
            value: Value::new(ValueKind::Integer(1), Pos::new("other", 9, 12)),
            used_as_variable: true,
        });
        assert!(a.eq_ignore_pos(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn display_pos() {
        assert_eq!(Pos::new("a.conf", 3, 7).to_string(), "a.conf:3:7");
    }
}
