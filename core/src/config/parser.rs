//! Structure of a configuration file: the top level, the top-level
//! `{ … }` form, maps, arrays, plus variables and includes.
//!
//! The grammar is a small state machine (what may start an entry, what may
//! follow a value) that differs slightly between the top level, the
//! top-level braces, maps and arrays; each function below is one of those
//! contexts. Where nats-server behaves oddly the behaviour is reproduced and
//! marked "quirk" (every one was checked with `nats-server -t`).

use std::sync::Arc;

use super::lexer::{self, is_blank, is_nl, show, Cursor, LexError, Lexed, Loc};
use super::value::{Map, Pos, Value, ValueKind};
use super::{ConfigError, Loader};

/// Deepest nesting of maps, arrays, top-level braces, includes and
/// environment-variable expansions. nats-server has no limit (and crashes
/// on an include loop); configs never come close to this.
const MAX_DEPTH: usize = 128;

/// The key nats-server uses to parse an environment variable's value "as
/// if written in the file": the text `pk=<value>` is parsed and `pk` read.
const ENV_KEY: &str = "pk";

/// State shared by a parse and every nested parse it starts (included
/// files, environment values).
pub(super) struct Shared<'a> {
    pub(super) loader: &'a mut dyn Loader,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    /// Files being parsed, outermost first (to detect include cycles).
    pub(super) files: Vec<String>,
    /// Environment variables being expanded (to detect reference cycles).
    pub(super) env_refs: Vec<String>,
    pub(super) depth: usize,
}

/// Parses `text` (named `file` in positions) into a map.
pub(super) fn parse_text(
    text: &str,
    file: &str,
    shared: &mut Shared<'_>,
) -> Result<Map, ConfigError> {
    let mut p = Parser {
        cur: Cursor::new(text),
        file: Arc::from(file),
        scopes: vec![Map::new()],
        shared,
    };
    p.top()?;
    Ok(p.scopes.pop().unwrap_or_default())
}

/// What ended an entry list inside top-level braces or a map.
#[derive(PartialEq)]
enum Next {
    /// Another entry may follow.
    More,
    /// The closing `}` was consumed.
    Closed,
}

struct Parser<'t, 's, 'a> {
    cur: Cursor<'t>,
    file: Arc<str>,
    /// The maps being built, outermost (the file's top level) first. Their
    /// keys are the variables visible at the cursor, innermost first.
    scopes: Vec<Map>,
    shared: &'s mut Shared<'a>,
}

impl Parser<'_, '_, '_> {
    fn pos(&self, loc: Loc) -> Pos {
        Pos {
            file: self.file.clone(),
            line: loc.line,
            col: loc.col,
        }
    }

    fn error(&self, loc: Loc, msg: impl Into<String>) -> ConfigError {
        ConfigError::new(self.pos(loc), msg)
    }

    fn error_here(&self, msg: impl Into<String>) -> ConfigError {
        self.error(self.cur.loc(), msg)
    }

    fn lex_error(&self, e: LexError) -> ConfigError {
        self.error(e.loc, e.msg)
    }

    fn enter(&mut self) -> Result<(), ConfigError> {
        if self.shared.depth >= MAX_DEPTH {
            return Err(self.error_here(format!("maximum nesting depth ({MAX_DEPTH}) exceeded")));
        }
        self.shared.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.shared.depth -= 1;
    }

    fn set(&mut self, key: String, key_loc: Loc, value: Value) {
        let key_pos = self.pos(key_loc);
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(key, key_pos, value);
        }
    }

    // ----- top level -------------------------------------------------------

    /// The whole file: entries separated by newlines, `;` or `,`, and
    /// optionally wrapped (all or in part) in `{ … }` (the JSON form).
    fn top(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.cur.peek() {
                None => return Ok(()),
                Some(c) if c.is_whitespace() => {
                    self.cur.bump();
                }
                Some('{') => {
                    self.cur.bump();
                    self.braces()?;
                }
                Some(_) if self.cur.at_comment() => self.cur.skip_comment(),
                // Quirk: a lone `/` where an entry may start.
                Some('/') => return Err(self.error_here("Unexpected EOF.")),
                Some(_) => {
                    if !self.entry()? {
                        return Ok(());
                    }
                    self.top_value_end()?;
                }
            }
        }
    }

    /// After a top-level value: blanks and a comment, then a newline, `;`,
    /// `,`, `}` or the end of input.
    fn top_value_end(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.cur.peek() {
                None => return Ok(()),
                Some(c) if is_blank(c) => {}
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                Some('/') => {} // quirk: a lone `/` is skipped like a blank
                Some(c) if is_nl(c) || matches!(c, ';' | ',' | '}') => {
                    self.cur.bump();
                    return Ok(());
                }
                c => {
                    return Err(self.error_here(format!(
                        "Expected a top-level value to end with a new line, comment or EOF, \
                         but got {} instead.",
                        show(c)
                    )))
                }
            }
            self.cur.bump();
        }
    }

    /// Top-level `{ … }` (the opening brace consumed): its entries belong
    /// to the top-level map. An unclosed brace at the end of the file is
    /// accepted (quirk).
    fn braces(&mut self) -> Result<(), ConfigError> {
        self.enter()?;
        let r = self.braces_body();
        self.leave();
        r
    }

    fn braces_body(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.cur.peek() {
                None => return Ok(()),
                Some(c) if c.is_whitespace() => {
                    self.cur.bump();
                }
                Some('{') => {
                    self.cur.bump();
                    self.braces()?;
                    if self.after_nested_braces()? == Next::Closed {
                        return Ok(());
                    }
                }
                Some('}') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(_) if self.cur.at_comment() => self.cur.skip_comment(),
                Some('/') => return Err(self.error_here("Unexpected EOF.")),
                Some(_) => {
                    if !self.entry()? {
                        return Ok(());
                    }
                    if self.braces_value_end()? == Next::Closed {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// After a value inside top-level braces.
    fn braces_value_end(&mut self) -> Result<Next, ConfigError> {
        loop {
            match self.cur.peek() {
                Some(c) if is_blank(c) => {}
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                Some('/') => {}
                Some(c) if is_nl(c) || c == ';' || c == ',' => {
                    self.cur.bump();
                    return Ok(Next::More);
                }
                Some('}') => {
                    self.cur.bump();
                    return Ok(Next::Closed);
                }
                // Quirk: the end of input right after a value inside
                // unclosed braces is an error, although an unclosed brace
                // after a newline is not.
                c => {
                    return Err(self.error_here(format!(
                        "Expected a block-level value to end with a new line, comment or EOF, \
                         but got {} instead.",
                        show(c)
                    )))
                }
            }
            self.cur.bump();
        }
    }

    /// After `{ { … }` inside top-level braces: only the outer `}` (or a
    /// separator) may follow.
    fn after_nested_braces(&mut self) -> Result<Next, ConfigError> {
        loop {
            match self.cur.peek() {
                None => return Ok(Next::Closed),
                Some(c) if c.is_whitespace() => {}
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                Some(';' | ',') => {
                    self.cur.bump();
                    return Ok(Next::More);
                }
                Some('}') => {
                    self.cur.bump();
                    return Ok(Next::Closed);
                }
                c => {
                    return Err(self.error_here(format!(
                        "Expected a block-level to end with a '}}', but got {} instead.",
                        show(c)
                    )))
                }
            }
            self.cur.bump();
        }
    }

    /// One `key [=|:] value` at top level or inside top-level braces, or an
    /// `include`. The cursor is on the key's first character. Returns false
    /// when the input ended instead (see the quote case).
    fn entry(&mut self) -> Result<bool, ConfigError> {
        let mut key_loc = self.cur.loc();
        let key = match self.cur.peek() {
            Some(c @ ('=' | ':')) => {
                return Err(self.error_here(format!("Unexpected key separator '{c}'")))
            }
            Some(q @ ('"' | '\'')) => {
                self.cur.bump();
                // nats-server places a quoted key after its quote.
                key_loc = self.cur.loc();
                if self.cur.peek().is_none() {
                    // Quirk: an opening quote as the very last character
                    // of the input just ends it.
                    return Ok(false);
                }
                lexer::quoted_key(&mut self.cur, q, "Unexpected EOF.")
                    .map_err(|e| self.lex_error(e))?
            }
            _ => {
                let k = lexer::bare_key(&mut self.cur, None).map_err(|e| self.lex_error(e))?;
                if k.by_space && k.key.eq_ignore_ascii_case("include") {
                    self.include()?;
                    return Ok(true);
                }
                k.key
            }
        };
        // Between key and separator any white space, newlines included, is
        // allowed (`port\n\n4222` is valid).
        while self.cur.peek().is_some_and(char::is_whitespace) {
            self.cur.bump();
        }
        match self.cur.peek() {
            None => {
                // Quirk: a stray `}` at the very end of a file is accepted;
                // any other key without value makes nats-server reject the
                // file ("config is invalid").
                if key == "}" {
                    return Ok(false);
                }
                return Err(self.error(key_loc, no_value(&key)));
            }
            Some('=' | ':') => {
                self.cur.bump();
            }
            Some(_) => {}
        }
        // After the separator only blanks: a newline there is an error.
        if let Some(value) = self.value()? {
            self.set(key, key_loc, value);
        }
        Ok(true)
    }

    // ----- values ----------------------------------------------------------

    /// One value at the cursor. `None`: a value nats-server silently drops
    /// (an integer with an unknown size suffix, `1kbbb`).
    fn value(&mut self) -> Result<Option<Value>, ConfigError> {
        let (loc, lexed) = lexer::value(&mut self.cur).map_err(|e| self.lex_error(e))?;
        let pos = self.pos(loc);
        let kind = match lexed {
            Lexed::ArrayStart => ValueKind::Array(self.array()?),
            Lexed::MapStart => ValueKind::Map(self.map()?),
            Lexed::Str(s) => ValueKind::String(s),
            Lexed::Int(n) => ValueKind::Integer(n),
            Lexed::UnknownSuffix => return Ok(None),
            Lexed::Float(x) => ValueKind::Float(x),
            Lexed::Bool(b) => ValueKind::Bool(b),
            Lexed::Datetime(d) => ValueKind::Datetime(d),
            Lexed::Var(name) => return self.variable(&name, pos).map(Some),
        };
        Ok(Some(Value { kind, pos }))
    }

    /// `{ … }` as a value (the opening brace consumed). Its keys are
    /// variables for the values inside it.
    fn map(&mut self) -> Result<Map, ConfigError> {
        self.enter()?;
        self.scopes.push(Map::new());
        let r = self.map_body();
        let map = self.scopes.pop().unwrap_or_default();
        self.leave();
        r.map(|()| map)
    }

    fn map_body(&mut self) -> Result<(), ConfigError> {
        loop {
            let mut key_loc = self.cur.loc();
            let key = match self.cur.peek() {
                None => return Err(self.error_here("Unexpected EOF processing map.")),
                Some(c @ ('=' | ':')) => {
                    return Err(self.error_here(format!("Unexpected key separator '{c}'.")))
                }
                Some(']') => {
                    return Err(self.error_here("Unexpected array end ']' processing map."))
                }
                Some(c) if c.is_whitespace() => {
                    self.cur.bump();
                    continue;
                }
                Some('}') => {
                    self.cur.bump();
                    return Ok(());
                }
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                Some('/') => {
                    // Quirk: a lone `/` before a key is ignored.
                    self.cur.bump();
                    continue;
                }
                Some('"') => {
                    self.cur.bump();
                    key_loc = self.cur.loc();
                    lexer::quoted_key(
                        &mut self.cur,
                        '"',
                        "Unexpected EOF processing double quoted map key.",
                    )
                    .map_err(|e| self.lex_error(e))?
                }
                Some('\'') => {
                    self.cur.bump();
                    key_loc = self.cur.loc();
                    lexer::quoted_key(
                        &mut self.cur,
                        '\'',
                        "Unexpected EOF processing quoted map key.",
                    )
                    .map_err(|e| self.lex_error(e))?
                }
                Some(_) => {
                    let k =
                        lexer::bare_key(&mut self.cur, Some("Unexpected EOF processing map key."))
                            .map_err(|e| self.lex_error(e))?;
                    if k.by_space && k.key.eq_ignore_ascii_case("include") {
                        self.include()?;
                        if self.map_value_end()? == Next::Closed {
                            return Ok(());
                        }
                        continue;
                    }
                    k.key
                }
            };
            // Inside a map, white space including newlines may surround the
            // separator (`port:\n 4222` is valid here, not at top level).
            while self.cur.peek().is_some_and(char::is_whitespace) {
                self.cur.bump();
            }
            if matches!(self.cur.peek(), Some('=' | ':')) {
                self.cur.bump();
                while self.cur.peek().is_some_and(char::is_whitespace) {
                    self.cur.bump();
                }
            }
            match self.cur.peek() {
                Some(',') => return Err(self.error_here("Unexpected map value terminator \",\".")),
                Some('}') => return Err(self.error(key_loc, no_value(&key))),
                _ => {}
            }
            if let Some(value) = self.value()? {
                self.set(key, key_loc, value);
            }
            if self.map_value_end()? == Next::Closed {
                return Ok(());
            }
        }
    }

    /// After a value inside a map.
    fn map_value_end(&mut self) -> Result<Next, ConfigError> {
        loop {
            match self.cur.peek() {
                Some(c) if is_blank(c) => {}
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                // Quirk: a lone `/` acts as a separator here.
                Some(c) if is_nl(c) || matches!(c, ';' | ',' | '/') => {
                    self.cur.bump();
                    return Ok(Next::More);
                }
                Some('}') => {
                    self.cur.bump();
                    return Ok(Next::Closed);
                }
                c => {
                    return Err(self.error_here(format!(
                        "Expected a map value terminator \",\" or a map terminator \"}}\", \
                         but got {} instead.",
                        show(c)
                    )))
                }
            }
            self.cur.bump();
        }
    }

    /// `[ … ]` (the opening bracket consumed): values separated by commas
    /// and/or newlines; one trailing comma allowed.
    fn array(&mut self) -> Result<Vec<Value>, ConfigError> {
        self.enter()?;
        let r = self.array_body();
        self.leave();
        r
    }

    fn array_body(&mut self) -> Result<Vec<Value>, ConfigError> {
        let mut items = Vec::new();
        loop {
            // Where an element may start.
            match self.cur.peek() {
                Some(c) if c.is_whitespace() => {
                    self.cur.bump();
                    continue;
                }
                Some(_) if self.cur.at_comment() => {
                    self.cur.skip_comment();
                    continue;
                }
                // Quirk: a lone `/` gets the comma's message.
                Some(',' | '/') => {
                    return Err(self.error_here("Unexpected array value terminator ','."))
                }
                Some(']') => {
                    self.cur.bump();
                    return Ok(items);
                }
                // The end of input reads as an empty string, then fails in
                // the loop below, as in nats-server.
                _ => items.extend(self.value()?),
            }
            // After an element.
            loop {
                match self.cur.peek() {
                    Some(c) if is_blank(c) => {}
                    Some(_) if self.cur.at_comment() => {
                        self.cur.skip_comment();
                        continue;
                    }
                    Some(c) if is_nl(c) || c == ',' || c == '/' => {
                        self.cur.bump();
                        break;
                    }
                    Some(']') => {
                        self.cur.bump();
                        return Ok(items);
                    }
                    c => {
                        return Err(self.error_here(format!(
                            "Expected an array value terminator \",\" or an array terminator \
                             \"]\", but got {} instead.",
                            show(c)
                        )))
                    }
                }
                self.cur.bump();
            }
        }
    }

    // ----- variables -------------------------------------------------------

    /// Resolves `$name` written at `pos`: the enclosing maps from the
    /// innermost out (only keys already assigned above the reference), then
    /// the environment.
    fn variable(&mut self, name: &str, pos: Pos) -> Result<Value, ConfigError> {
        match self.lookup(name, &pos) {
            Ok(Some(mut v)) => {
                v.pos = pos;
                Ok(v)
            }
            Ok(None) => Err(ConfigError::new(
                pos.clone(),
                format!(
                    "variable reference for '{name}' on line {} can not be found",
                    pos.line
                ),
            )),
            Err(why) => Err(ConfigError::new(
                pos.clone(),
                format!(
                    "variable reference for '{name}' on line {} could not be parsed: {why}",
                    pos.line
                ),
            )),
        }
    }

    fn lookup(&mut self, name: &str, pos: &Pos) -> Result<Option<Value>, String> {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.get_entry_mut(name) {
                entry.used_as_variable = true;
                return Ok(Some(entry.value.clone()));
            }
        }
        if self.shared.env_refs.iter().any(|r| r == name) {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        let Some(text) = (self.shared.env)(name) else {
            return Ok(None);
        };
        // The value is parsed as if it had been written in a file, so
        // `MP=2KB` gives 2048 and `MP={a: 1}` a map.
        if self.shared.depth >= MAX_DEPTH {
            return Err(format!("maximum nesting depth ({MAX_DEPTH}) exceeded"));
        }
        self.shared.env_refs.push(name.to_string());
        self.shared.depth += 1;
        let source = format!("{ENV_KEY}={text}");
        let parsed = parse_text(&source, &format!("${name}"), self.shared);
        self.shared.depth -= 1;
        self.shared.env_refs.pop();
        let mut map = parsed.map_err(|e| e.message)?;
        Ok(map.remove(ENV_KEY).map(|e| {
            let mut v = e.value;
            v.set_pos_deep(pos);
            v
        }))
    }

    // ----- includes --------------------------------------------------------

    /// After the `include` keyword: loads the file and merges its entries
    /// into the current map (which is where its keys become variables).
    /// The included file is parsed on its own: it does not see the
    /// including file's variables.
    fn include(&mut self) -> Result<(), ConfigError> {
        let (loc, path) = lexer::include_path(&mut self.cur).map_err(|e| self.lex_error(e))?;
        let fail = |this: &Self, why: &str| {
            this.error(loc, format!("error parsing include file '{path}', {why}"))
        };
        if self.shared.depth >= MAX_DEPTH {
            return Err(fail(
                self,
                &format!("maximum nesting depth ({MAX_DEPTH}) exceeded"),
            ));
        }
        let (name, text) = self
            .shared
            .loader
            .load(&self.file, &path)
            .map_err(|why| fail(self, &why))?;
        if self.shared.files.contains(&name) {
            let chain = self.shared.files.join(" -> ");
            return Err(fail(self, &format!("include cycle: {chain} -> {name}")));
        }
        self.shared.files.push(name.clone());
        self.shared.depth += 1;
        let included = parse_text(&text, &name, self.shared);
        self.shared.depth -= 1;
        self.shared.files.pop();
        let included = included?;
        if let Some(scope) = self.scopes.last_mut() {
            for entry in included {
                scope.insert_entry(entry);
            }
        }
        Ok(())
    }
}

fn no_value(key: &str) -> String {
    format!("config is invalid: key \"{key}\" has no value")
}
