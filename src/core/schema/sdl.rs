//! The GraphQL SDL that a schema is written in: a lexer and a
//! recursive-descent parser for type system documents, reduced to what
//! weftdb reads. Object types are parsed in full (interfaces, directives
//! with arguments, fields with arguments, descriptions, comments); every
//! other definition (`enum`, `input`, `extend`, ...) is refused by name as
//! soon as it is met, since a collection can be nothing but an object type.
//! [`super::parse_sdl`] checks what the types say.
//!
//! It replaced graphql-parser 0.4, whose `combine` parser was the largest
//! single item in the page's wasm (160 KB of code before wasm-opt, 61 KiB
//! gzipped).
//! The grammar is the GraphQL specification's (October 2021 edition);
//! everything graphql-parser refused is still refused, except block
//! strings whose lines are indented with non-ASCII spaces (graphql-parser
//! cut them at a byte count and panicked; the specification counts only
//! spaces and tabs as indent, so such a line is text). One thing it took is
//! refused: a string holding a lone carriage return, which the
//! specification counts as a line's end.
//!
//! Text from anyone reaches it (`addSchema`, `POST /api/v0/schema`), so it
//! never recurses deeper than [`MAX_SDL_DEPTH`], reads at most [`MAX_SDL_TOKENS`]
//! tokens of at most [`MAX_SDL_BYTES`], and reports every error with its
//! line and column.

use std::fmt;

use super::SchemaError;

/// The longest SDL read: far beyond any real schema.
pub const MAX_SDL_BYTES: usize = 1 << 20;
/// The most tokens read (a field is at least three: `name: Int`).
pub const MAX_SDL_TOKENS: usize = 100_000;
/// How deeply list types (`[[Int]]`) and argument values (`[[1]]`,
/// `{a: {b: 1}}`) may nest.
pub const MAX_SDL_DEPTH: usize = 32;

/// `type Name implements ... @directive(...) { fields }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectType {
    /// The line of the `type` keyword.
    pub line: usize,
    pub name: String,
    /// Whether it names interfaces (weftdb has none).
    pub implements: bool,
    pub directives: Vec<Directive>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The line of its name.
    pub line: usize,
    pub name: String,
    /// Whether it declares arguments, `name(x: Int): T`.
    pub has_arguments: bool,
    pub ty: Type,
    pub directives: Vec<Directive>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Named(String),
    List(Box<Type>),
    NonNull(Box<Type>),
}

/// `@name(argument: value, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub line: usize,
    pub name: String,
    pub arguments: Vec<(String, Value)>,
}

/// A constant value, as directive arguments and defaults hold them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An Int or a Float, as written.
    Number(String),
    String(String),
    Boolean(bool),
    Null,
    Enum(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// The value in SDL, as a message quotes it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) | Value::Enum(n) => f.write_str(n),
            // JSON's escapes are GraphQL's.
            Value::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    write!(f, "{}{v}", if i > 0 { ", " } else { "" })?;
                }
                f.write_str("]")
            }
            Value::Object(fields) => {
                f.write_str("{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i > 0 { ", " } else { "" })?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Parses a document of object types. Any other definition is refused
/// with what it is and the line it starts on.
pub fn parse(sdl: &str) -> Result<Vec<ObjectType>, SchemaError> {
    if sdl.len() > MAX_SDL_BYTES {
        return Err(SchemaError {
            line: None,
            message: format!("the schema is {} bytes long; at most {MAX_SDL_BYTES} are read", sdl.len()),
        });
    }
    let mut p = Parser { lex: Lexer { src: sdl, pos: 0, line: 1, line_start: 0, tokens: 0 }, tok: Token::START };
    p.advance()?;
    if p.tok.kind == Kind::End {
        return Err(SchemaError {
            line: None,
            message: "the schema declares no types; write at least one, e.g. `type Book { a: Int }`".into(),
        });
    }
    let mut types = Vec::new();
    while p.tok.kind != Kind::End {
        types.push(p.definition()?);
    }
    Ok(types)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Name,
    /// One of `! $ & ( ) : = @ [ ] { | }`, or `...` (as `.`).
    Punct(u8),
    Number,
    /// A string or block string; [`Token::text`] is its value.
    String,
    End,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Kind,
    /// The source text, or a string's value.
    text: std::borrow::Cow<'a, str>,
    /// Byte offset of its first character.
    start: usize,
    line: usize,
    /// Byte offset where its line starts.
    line_start: usize,
}

impl Token<'_> {
    const START: Token<'static> =
        Token { kind: Kind::End, text: std::borrow::Cow::Borrowed(""), start: 0, line: 1, line_start: 0 };

    fn is_punct(&self, c: u8) -> bool {
        self.kind == Kind::Punct(c)
    }

    fn is_name(&self, name: &str) -> bool {
        self.kind == Kind::Name && self.text == name
    }

    /// The token as an error message names it.
    fn describe(&self) -> String {
        match self.kind {
            Kind::End => "end of input".into(),
            Kind::String => "a string".into(),
            Kind::Punct(b'.') => "`...`".into(),
            _ => {
                let mut shown: String = self.text.chars().take(40).collect();
                if shown.len() < self.text.len() {
                    shown.push('…');
                }
                format!("`{shown}`")
            }
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    line: usize,
    line_start: usize,
    tokens: usize,
}

/// A syntax error at a byte offset of the source.
fn syntax(src: &str, line: usize, line_start: usize, at: usize, detail: impl fmt::Display) -> SchemaError {
    let column = src[line_start..at].chars().count() + 1;
    SchemaError { line: Some(line), message: format!("syntax error at column {column}: {detail}") }
}

impl<'a> Lexer<'a> {
    fn error(&self, at: usize, detail: impl fmt::Display) -> SchemaError {
        syntax(self.src, self.line, self.line_start, at, detail)
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Counts the line terminator at `pos` (`\n`, `\r\n` or `\r`), if any,
    /// and steps over it.
    fn newline(&mut self) -> bool {
        let len = match self.src.as_bytes()[self.pos..] {
            [b'\r', b'\n', ..] => 2,
            [b'\n' | b'\r', ..] => 1,
            _ => return false,
        };
        self.pos += len;
        self.line += 1;
        self.line_start = self.pos;
        true
    }

    /// Skips what the grammar ignores: spaces, tabs, line terminators,
    /// commas, comments and byte order marks.
    fn skip_ignored(&mut self) {
        loop {
            if self.newline() {
                continue;
            }
            match self.peek() {
                Some(b' ' | b'\t' | b',') => self.pos += 1,
                Some(b'#') => {
                    while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
                        self.pos += 1;
                    }
                }
                _ if self.src[self.pos..].starts_with('\u{feff}') => self.pos += '\u{feff}'.len_utf8(),
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Result<Token<'a>, SchemaError> {
        self.skip_ignored();
        let (start, line, line_start) = (self.pos, self.line, self.line_start);
        let token = |kind, text| Token { kind, text, start, line, line_start };
        let Some(c) = self.peek() else {
            return Ok(token(Kind::End, "".into()));
        };
        self.tokens += 1;
        if self.tokens > MAX_SDL_TOKENS {
            return Err(self.error(start, format_args!("the schema has more than {MAX_SDL_TOKENS} tokens")));
        }
        let kind = match c {
            b'!' | b'$' | b'&' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|' | b'}' => {
                self.pos += 1;
                Kind::Punct(c)
            }
            b'.' if self.src[start..].starts_with("...") => {
                self.pos += 3;
                Kind::Punct(b'.')
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                self.pos += self.src[start..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
                Kind::Name
            }
            b'-' | b'0'..=b'9' => self.number()?,
            b'"' if self.src[start..].starts_with("\"\"\"") => {
                return Ok(token(Kind::String, self.block_string()?.into()))
            }
            b'"' => return Ok(token(Kind::String, self.string()?.into())),
            _ => {
                let c = self.src[start..].chars().next().unwrap_or_default();
                let detail = match c {
                    c if c.is_whitespace() => format!(
                        "unexpected U+{:04X}, a non-ASCII space; indent and separate with spaces or tabs",
                        c as u32
                    ),
                    c if c.is_control() || !c.is_ascii() => format!("unexpected character U+{:04X}", c as u32),
                    c => format!("unexpected character `{c}`"),
                };
                return Err(self.error(start, detail));
            }
        };
        Ok(token(kind, self.src[start..self.pos].into()))
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, not followed by a
    /// digit, `.` or a name.
    fn number(&mut self) -> Result<Kind, SchemaError> {
        let start = self.pos;
        let digits = |l: &mut Self| {
            let n = l.src[l.pos..].bytes().take_while(u8::is_ascii_digit).count();
            l.pos += n;
            n
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let mut ok = digits(self) > 0 && (self.src.as_bytes()[int_start] != b'0' || self.pos == int_start + 1);
        if self.peek() == Some(b'.') {
            self.pos += 1;
            ok &= digits(self) > 0;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            ok &= digits(self) > 0;
        }
        ok &= !matches!(self.peek(), Some(b'.' | b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'));
        match ok {
            true => Ok(Kind::Number),
            false => {
                let end = self.pos + self.src[self.pos..].bytes().take_while(|b| b.is_ascii_alphanumeric()).count();
                let shown: String = self.src[start..end].chars().take(40).collect();
                Err(self.error(start, format_args!("`{shown}` is not a number")))
            }
        }
    }

    /// A `"..."` string's value.
    fn string(&mut self) -> Result<String, SchemaError> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Err(self.error(start, "unterminated string"));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(value);
                }
                '\n' | '\r' => return Err(self.error(start, "unterminated string (a line ends inside it)")),
                '\\' => {
                    let (c, len) = match rest.as_bytes().get(1) {
                        Some(b'"') => ('"', 2),
                        Some(b'\\') => ('\\', 2),
                        Some(b'/') => ('/', 2),
                        Some(b'b') => ('\u{8}', 2),
                        Some(b'f') => ('\u{c}', 2),
                        Some(b'n') => ('\n', 2),
                        Some(b'r') => ('\r', 2),
                        Some(b't') => ('\t', 2),
                        Some(b'u') => {
                            let c = rest
                                .get(2..6)
                                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            match c {
                                Some(c) => (c, 6),
                                None => {
                                    let detail = "\\u takes four hex digits of a Unicode scalar value";
                                    return Err(self.error(self.pos, detail));
                                }
                            }
                        }
                        _ => {
                            let shown: String = rest.chars().take(2).collect();
                            return Err(self.error(self.pos, format_args!("unknown escape `{shown}` in a string")));
                        }
                    };
                    value.push(c);
                    self.pos += len;
                }
                c => {
                    value.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// A `"""..."""` block string's value: its lines less their common
    /// indent and the blank lines around them, `\"""` for `"""`.
    fn block_string(&mut self) -> Result<String, SchemaError> {
        let (start, line, line_start) = (self.pos, self.line, self.line_start);
        self.pos += 3;
        let mut raw = String::new();
        loop {
            let rest = &self.src[self.pos..];
            if rest.starts_with("\"\"\"") {
                self.pos += 3;
                break;
            }
            if rest.starts_with("\\\"\"\"") {
                raw.push_str("\"\"\"");
                self.pos += 4;
            } else if self.newline() {
                raw.push('\n');
            } else if let Some(c) = rest.chars().next() {
                raw.push(c);
                self.pos += c.len_utf8();
            } else {
                return Err(syntax(self.src, line, line_start, start, "unterminated block string"));
            }
        }
        let indent = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
        let blank = |l: &str| indent(l) == l.len();
        let common = raw.split('\n').skip(1).filter(|l| !blank(l)).map(indent).min().unwrap_or(0);
        let lines: Vec<&str> =
            raw.split('\n').enumerate().map(|(i, l)| if i == 0 { l } else { &l[common.min(l.len())..] }).collect();
        let first = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
        let last = lines.iter().rposition(|l| !blank(l)).map_or(first, |i| i + 1);
        Ok(lines[first..last].join("\n"))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    /// The next token, not yet taken.
    tok: Token<'a>,
}

impl<'a> Parser<'a> {
    /// Takes the current token and reads the next.
    fn advance(&mut self) -> Result<Token<'a>, SchemaError> {
        let next = self.lex.next()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    /// A syntax error at the current token.
    fn unexpected<T>(&self, expected: &str) -> Result<T, SchemaError> {
        let t = &self.tok;
        let detail = format!("unexpected {}, expected {expected}", t.describe());
        Err(syntax(self.lex.src, t.line, t.line_start, t.start, detail))
    }

    fn punct(&mut self, c: u8) -> Result<(), SchemaError> {
        match self.tok.is_punct(c) {
            true => self.advance().map(drop),
            false => self.unexpected(&format!("`{}`", c as char)),
        }
    }

    /// Takes `c` if it is next.
    fn eat(&mut self, c: u8) -> Result<bool, SchemaError> {
        let is = self.tok.is_punct(c);
        if is {
            self.advance()?;
        }
        Ok(is)
    }

    fn name(&mut self, what: &str) -> Result<String, SchemaError> {
        match self.tok.kind {
            Kind::Name => Ok(self.advance()?.text.into_owned()),
            _ => self.unexpected(what),
        }
    }

    fn description(&mut self) -> Result<(), SchemaError> {
        if self.tok.kind == Kind::String {
            self.advance()?;
        }
        Ok(())
    }

    fn definition(&mut self) -> Result<ObjectType, SchemaError> {
        const ONLY: &str = "only object types such as `type Book { title: String }` can be declared";
        const EXPECTED: &str = "a definition such as `type Book { title: String }`";
        let described = self.tok.kind == Kind::String;
        self.description()?;
        if self.tok.kind != Kind::Name {
            return self.unexpected(EXPECTED);
        }
        let line = self.tok.line;
        let keyword = self.tok.text.clone().into_owned();
        let what = match keyword.as_str() {
            "type" => {
                self.advance()?;
                return self.object_type(line);
            }
            "scalar" | "interface" | "union" | "enum" | "input" => {
                self.advance()?;
                let name = self.name("a name")?;
                match keyword.as_str() {
                    "scalar" => format!("custom scalar \"{name}\""),
                    _ => format!("{keyword} \"{name}\""),
                }
            }
            "schema" => "a schema definition".into(),
            "directive" => {
                self.advance()?;
                self.punct(b'@')?;
                format!("directive definition @{}", self.name("a name")?)
            }
            "extend" if !described => {
                self.advance()?;
                let kind = self.name("what it extends, such as `type`")?;
                let name = match kind.as_str() {
                    "schema" => "the schema".into(),
                    "scalar" | "type" | "interface" | "union" | "enum" | "input" => {
                        format!("\"{}\"", self.name("a name")?)
                    }
                    _ => return Err(SchemaError { line: Some(line), message: format!("cannot extend `{kind}`") }),
                };
                let message = format!("\"extend\" (of {name}) is not supported; {ONLY}");
                return Err(SchemaError { line: Some(line), message });
            }
            _ => return self.unexpected(EXPECTED),
        };
        Err(SchemaError { line: Some(line), message: format!("{what} is not supported; {ONLY}") })
    }

    /// After `type`.
    fn object_type(&mut self, line: usize) -> Result<ObjectType, SchemaError> {
        let name = self.name("a type name")?;
        let implements = self.tok.is_name("implements");
        if implements {
            self.advance()?;
            self.eat(b'&')?;
            self.name("an interface name")?;
            while self.eat(b'&')? {
                self.name("an interface name")?;
            }
        }
        let directives = self.directives()?;
        let mut fields = Vec::new();
        if self.eat(b'{')? {
            if self.tok.is_punct(b'}') {
                return self.unexpected("a field name (a type needs at least one field)");
            }
            while !self.eat(b'}')? {
                fields.push(self.field()?);
            }
        }
        Ok(ObjectType { line, name, implements, directives, fields })
    }

    fn field(&mut self) -> Result<Field, SchemaError> {
        self.description()?;
        let line = self.tok.line;
        let name = self.name("a field name or `}`")?;
        let has_arguments = self.eat(b'(')?;
        if has_arguments {
            loop {
                self.input_value()?;
                if self.eat(b')')? {
                    break;
                }
            }
        }
        self.punct(b':')?;
        let ty = self.ty(0)?;
        let directives = self.directives()?;
        Ok(Field { line, name, has_arguments, ty, directives })
    }

    /// An argument's definition, `"description" name: Type = default @directive`.
    fn input_value(&mut self) -> Result<(), SchemaError> {
        self.description()?;
        self.name("an argument name")?;
        self.punct(b':')?;
        self.ty(0)?;
        if self.eat(b'=')? {
            self.value(0)?;
        }
        self.directives()?;
        Ok(())
    }

    fn ty(&mut self, depth: usize) -> Result<Type, SchemaError> {
        let ty = match self.tok.kind {
            Kind::Punct(b'[') => {
                self.nest(depth)?;
                self.advance()?;
                let item = self.ty(depth + 1)?;
                self.punct(b']')?;
                Type::List(Box::new(item))
            }
            Kind::Name => Type::Named(self.name("a type")?),
            _ => return self.unexpected("a type"),
        };
        Ok(match self.eat(b'!')? {
            true => Type::NonNull(Box::new(ty)),
            false => ty,
        })
    }

    /// Refuses to go deeper than [`MAX_SDL_DEPTH`].
    fn nest(&self, depth: usize) -> Result<(), SchemaError> {
        if depth < MAX_SDL_DEPTH {
            return Ok(());
        }
        let t = &self.tok;
        let detail = format!("nested more than {MAX_SDL_DEPTH} levels deep");
        Err(syntax(self.lex.src, t.line, t.line_start, t.start, detail))
    }

    fn directives(&mut self) -> Result<Vec<Directive>, SchemaError> {
        let mut directives = Vec::new();
        while self.tok.is_punct(b'@') {
            let line = self.tok.line;
            self.advance()?;
            let name = self.name("a directive name")?;
            let mut arguments = Vec::new();
            if self.eat(b'(')? {
                loop {
                    let arg = self.name("an argument name")?;
                    self.punct(b':')?;
                    arguments.push((arg, self.value(0)?));
                    if self.eat(b')')? {
                        break;
                    }
                }
            }
            directives.push(Directive { line, name, arguments });
        }
        Ok(directives)
    }

    /// A constant value (no `$variables`: a schema has none).
    fn value(&mut self, depth: usize) -> Result<Value, SchemaError> {
        let close = match self.tok.kind {
            Kind::Punct(b'[') => b']',
            Kind::Punct(b'{') => b'}',
            Kind::Number => return Ok(Value::Number(self.advance()?.text.into_owned())),
            Kind::String => return Ok(Value::String(self.advance()?.text.into_owned())),
            Kind::Name => {
                let name = self.advance()?.text;
                return Ok(match &*name {
                    "true" => Value::Boolean(true),
                    "false" => Value::Boolean(false),
                    "null" => Value::Null,
                    _ => Value::Enum(name.into_owned()),
                });
            }
            _ => return self.unexpected("a value"),
        };
        self.nest(depth)?;
        self.advance()?;
        let mut items = Vec::new();
        let mut fields = Vec::new();
        while !self.eat(close)? {
            match close {
                b']' => items.push(self.value(depth + 1)?),
                _ => {
                    let name = self.name("a field name or `}`")?;
                    self.punct(b':')?;
                    fields.push((name, self.value(depth + 1)?));
                }
            }
        }
        Ok(match close {
            b']' => Value::List(items),
            _ => Value::Object(fields),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(sdl: &str) -> SchemaError {
        parse(sdl).unwrap_err()
    }

    /// Asserts the error's line, column and words.
    fn assert_syntax(sdl: &str, line: usize, column: usize, parts: &[&str]) {
        let e = err(sdl);
        assert_eq!(e.line, Some(line), "{sdl:?}: {e}");
        let at = format!("syntax error at column {column}: ");
        assert!(e.message.starts_with(&at), "{sdl:?}: {e} is not at column {column}");
        for p in parts {
            assert!(e.message.contains(p), "{sdl:?}: {e} lacks {p:?}");
        }
    }

    fn named(n: &str) -> Type {
        Type::Named(n.into())
    }

    fn non_null(t: Type) -> Type {
        Type::NonNull(Box::new(t))
    }

    fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    /// The first value of the first directive of the only type.
    fn arg(value: &str) -> Value {
        let mut types = parse(&format!("type A @d(v: {value}) {{ a: Int }}")).unwrap();
        types.remove(0).directives.remove(0).arguments.remove(0).1
    }

    #[test]
    fn parses_object_types_with_all_they_may_say() {
        let sdl = "\u{feff}# a comment\r\n\
            \"\"\"\n  A type.\n\"\"\"\n\
            type Book implements & Node & Thing @policy(writers: \"owner\") @x {\n\
            \x20 \"the title\" title: String! @index, # trailing\n\
            \x20 tags: [String!]\n\
            \x20 find(\"doc\" x: Int = 1 @d, y: [Int!]! = [1, 2]): [[Float]!]!\n\
            }\n\
            type Empty\r\
            type T @d(a: -1.5e3, b: true, c: null, d: RED, e: {f: [\"\\u00e9\\n\"]}) { t: Int }";
        let types = parse(sdl).unwrap();
        assert_eq!(types.len(), 3);
        let book = &types[0];
        assert_eq!((book.line, book.name.as_str(), book.implements), (5, "Book", true));
        assert_eq!(
            book.directives,
            [
                Directive {
                    line: 5,
                    name: "policy".into(),
                    arguments: vec![("writers".into(), Value::String("owner".into()))]
                },
                Directive { line: 5, name: "x".into(), arguments: vec![] },
            ]
        );
        let index = Directive { line: 6, name: "index".into(), arguments: vec![] };
        assert_eq!(
            book.fields,
            [
                Field {
                    line: 6,
                    name: "title".into(),
                    has_arguments: false,
                    ty: non_null(named("String")),
                    directives: vec![index]
                },
                Field {
                    line: 7,
                    name: "tags".into(),
                    has_arguments: false,
                    ty: list(non_null(named("String"))),
                    directives: vec![]
                },
                Field {
                    line: 8,
                    name: "find".into(),
                    has_arguments: true,
                    ty: non_null(list(non_null(list(named("Float"))))),
                    directives: vec![]
                },
            ]
        );
        assert_eq!((types[1].line, types[1].name.as_str(), types[1].fields.len()), (10, "Empty", 0));
        let t = &types[2];
        assert_eq!(t.line, 11, "a lone \\r ends a line too");
        let values: Vec<String> = t.directives[0].arguments.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(values, ["a: -1.5e3", "b: true", "c: null", "d: RED", r#"e: {f: ["é\n"]}"#]);
    }

    #[test]
    fn keywords_are_names_where_a_name_goes() {
        let types = parse("type type { type: Int implements: Int extend: Int schema: Int }").unwrap();
        assert_eq!(types[0].name, "type");
        assert_eq!(
            types[0].fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["type", "implements", "extend", "schema"]
        );
    }

    #[test]
    fn reads_strings_and_block_strings() {
        assert_eq!(arg(r#""a\"b\\c\/d\b\f\n\r\t\u00E9\u0041""#), Value::String("a\"b\\c/d\u{8}\u{c}\n\r\téA".into()));
        assert_eq!(arg("\"\""), Value::String(String::new()));
        assert_eq!(arg("\"日本\""), Value::String("日本".into()));
        // A block string: the common indent of all lines but the first
        // goes, then the blank lines around the text; `\"""` is `"""`.
        let block = "\"\"\"\n    first\n      second \\\"\"\" \\n\n\t\n    third\n  \n\"\"\"";
        assert_eq!(arg(block), Value::String("first\n  second \"\"\" \\n\n\nthird".into()));
        assert_eq!(arg("\"\"\"  one line  \"\"\""), Value::String("  one line  ".into()));
        assert_eq!(arg("\"\"\"first\n  rest\r\n  more\"\"\""), Value::String("first\nrest\nmore".into()));
        assert_eq!(arg("\"\"\"\n \n\t\n\"\"\""), Value::String(String::new()));
        // Only spaces and tabs indent; U+00A0 is text.
        assert_eq!(arg("\"\"\"\n \u{a0}x\n  y\n\"\"\""), Value::String("\u{a0}x\n y".into()));
        // Lines inside a block string count.
        let e = err("type A { a: Int @d(v: \"\"\"\n\n\"\"\") b: }");
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn reads_numbers_as_the_spec_writes_them() {
        for n in ["0", "-0", "12", "-12", "1.5", "0.25", "1e9", "1E+9", "-1.5e-3", "10"] {
            assert_eq!(arg(n), Value::Number(n.into()));
        }
        for n in ["01", "-", "1.", ".5", "1e", "1e+", "1.5.3", "1x", "0x10", "1_0", "-a"] {
            let sdl = format!("type A @d(v: {n}) {{ a: Int }}");
            let e = err(&sdl);
            assert!(e.message.contains("is not a number") || e.message.contains("unexpected"), "{n}: {e}");
        }
        assert_syntax("type A @d(v: 012) { a: Int }", 1, 14, &["`012` is not a number"]);
    }

    /// Every way the lexer refuses text, where it is.
    #[test]
    fn lexer_errors_say_where() {
        assert_syntax("type A { a: Int } ?", 1, 19, &["unexpected character `?`"]);
        assert_syntax("type A { a: Int } .", 1, 19, &["unexpected character `.`"]);
        assert_syntax("type A {\n a: Int\u{7} }", 2, 8, &["unexpected character U+0007"]);
        assert_syntax("type É { a: Int }", 1, 6, &["unexpected character U+00C9"]);
        assert_syntax("type A {\n\u{a0}a: Int }", 2, 1, &["U+00A0, a non-ASCII space", "spaces or tabs"]);
        // Columns count characters, not bytes.
        assert_syntax("type A @d(v: \"日本\") ? ", 1, 20, &["`?`"]);
        assert_syntax("type A @d(v: \"abc) { a: Int }", 1, 14, &["unterminated string"]);
        assert_syntax("type A @d(v: \"ab\nc\") { a: Int }", 1, 14, &["a line ends inside it"]);
        assert_syntax("type A @d(v: \"a\\qb\") { a: Int }", 1, 16, &["unknown escape `\\q`"]);
        for bad in ["\\u12\"", "\\uD800", "\\u{41}", "\\uZZZZ"] {
            assert_syntax(&format!("type A @d(v: \"a{bad}\") {{ a: Int }}"), 1, 16, &["\\u takes four hex digits"]);
        }
        assert_syntax("type A { a: Int }\n\"\"\"\ndoc\n", 2, 1, &["unterminated block string"]);
        assert_syntax("type A { a: Int } \"\"\"a\\\"\"\"", 1, 19, &["unterminated block string"]);
    }

    /// Every way the parser refuses tokens, with what it expected.
    #[test]
    fn parser_errors_say_what_was_expected() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("type A { a: Int } b", 1, 19, "unexpected `b`, expected a definition such as `type Book"),
            ("{ a }", 1, 1, "unexpected `{`, expected a definition"),
            ("query { a }", 1, 1, "unexpected `query`, expected a definition"),
            ("\"doc\"", 1, 6, "unexpected end of input, expected a definition"),
            ("\"doc\" extend type A { a: Int }", 1, 7, "unexpected `extend`, expected a definition"),
            ("type { a: Int }", 1, 6, "unexpected `{`, expected a type name"),
            ("type A implements { a: Int }", 1, 19, "unexpected `{`, expected an interface name"),
            ("type A implements B & { a: Int }", 1, 23, "expected an interface name"),
            ("type A {}", 1, 9, "unexpected `}`, expected a field name (a type needs at least one field)"),
            ("type A { a: Int", 1, 16, "unexpected end of input, expected a field name or `}`"),
            ("type A { : Int }", 1, 10, "unexpected `:`, expected a field name or `}`"),
            ("type A {\n  a Int\n}", 2, 5, "unexpected `Int`, expected `:`"),
            ("type A { a: }", 1, 13, "unexpected `}`, expected a type"),
            ("type A { a: 1 }", 1, 13, "unexpected `1`, expected a type"),
            ("type A { a: [Int }", 1, 18, "unexpected `}`, expected `]`"),
            ("type A { a: Int!! }", 1, 17, "unexpected `!`, expected a field name or `}`"),
            ("type A { a(): Int }", 1, 12, "unexpected `)`, expected an argument name"),
            ("type A { a(x): Int }", 1, 13, "unexpected `)`, expected `:`"),
            ("type A { a(x: Int = ): Int }", 1, 21, "unexpected `)`, expected a value"),
            ("type A { a: Int @ }", 1, 19, "unexpected `}`, expected a directive name"),
            ("type A @d() { a: Int }", 1, 11, "unexpected `)`, expected an argument name"),
            ("type A @d(x) { a: Int }", 1, 12, "unexpected `)`, expected `:`"),
            ("type A @d(x: $v) { a: Int }", 1, 14, "unexpected `$`, expected a value"),
            ("type A @d(x: ...) { a: Int }", 1, 14, "unexpected `...`, expected a value"),
            ("type A @d(x: [1, 2) { a: Int }", 1, 19, "unexpected `)`, expected a value"),
            ("type A @d(x: {a 1}) { a: Int }", 1, 17, "unexpected `1`, expected `:`"),
            ("type A @d(x: {1: 1}) { a: Int }", 1, 15, "unexpected `1`, expected a field name or `}`"),
            ("enum { A }", 1, 6, "unexpected `{`, expected a name"),
            ("directive d on OBJECT", 1, 11, "unexpected `d`, expected `@`"),
            ("extend", 1, 7, "unexpected end of input, expected what it extends"),
            ("extend type", 1, 12, "unexpected end of input, expected a name"),
        ];
        for &(sdl, line, column, part) in cases {
            assert_syntax(sdl, line, column, &[part]);
        }
        let e = err("extend fragment F");
        assert_eq!((e.line, e.message.as_str()), (Some(1), "cannot extend `fragment`"));
        // A long token is shown cut.
        let long = format!("type A {{ a {} }}", "b".repeat(1000));
        assert!(err(&long).message.len() < 100, "{}", err(&long));
    }

    #[test]
    fn refuses_other_definitions_by_name() {
        let cases = [
            ("scalar S @d", "custom scalar \"S\" is not supported"),
            ("\"d\" enum E { X }", "enum \"E\" is not supported"),
            ("interface I { a: Int }", "interface \"I\" is not supported"),
            ("union U = A | B", "union \"U\" is not supported"),
            ("input I { a: Int = 1 }", "input \"I\" is not supported"),
            ("schema { query: Q }", "a schema definition is not supported"),
            ("directive @d on OBJECT", "directive definition @d is not supported"),
            ("extend type A { a: Int }", "\"extend\" (of \"A\") is not supported"),
            ("extend schema @d", "\"extend\" (of the schema) is not supported"),
        ];
        for (sdl, message) in cases {
            let e = err(&format!("type A {{ a: Int }}\n\n{sdl}"));
            assert_eq!(e.line, Some(3), "{e}");
            assert!(e.message.starts_with(message), "{e}");
            assert!(e.message.contains("only object types"), "{e}");
        }
    }

    #[test]
    fn an_empty_document_declares_no_types() {
        for sdl in ["", " \t\r\n,,", "# only\n# comments", "\u{feff}"] {
            let e = err(sdl);
            assert_eq!(e.line, None);
            assert!(e.message.contains("declares no types"), "{e}");
        }
    }

    /// Nesting deeper than the limit is refused where it goes too deep, by
    /// a parser that never recursed that far (a hundred thousand `[` would
    /// overflow the stack of a parser without a limit).
    #[test]
    fn refuses_deep_nesting_without_recursing() {
        let ok = format!("type A {{ a: {}Int{} }}", "[".repeat(MAX_SDL_DEPTH), "]".repeat(MAX_SDL_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!("type A {{ a: {}Int{} }}", "[".repeat(MAX_SDL_DEPTH + 1), "]".repeat(MAX_SDL_DEPTH + 1));
        assert_syntax(&deep, 1, 13 + MAX_SDL_DEPTH, &["nested more than 32 levels deep"]);
        let values = format!("type A @d(v: {}) {{ a: Int }}", "[{a: ".repeat(50_000));
        assert_syntax(&values, 1, 14 + 5 * 16, &["nested more than 32 levels deep"]);
        let types = format!("type A {{ a: {}", "[".repeat(100_000));
        assert_syntax(&types, 1, 13 + MAX_SDL_DEPTH, &["nested more than 32 levels deep"]);
    }

    #[test]
    fn refuses_huge_input() {
        let mut big = "type A { a: Int }\n".to_string();
        big.push_str(&"#".repeat(MAX_SDL_BYTES - big.len()));
        assert_eq!(parse(&big).unwrap().len(), 1, "exactly the limit is read");
        big.push('#');
        let e = err(&big);
        assert_eq!(e.line, None);
        assert_eq!(e.message, format!("the schema is {} bytes long; at most 1048576 are read", MAX_SDL_BYTES + 1));
        // Tokens: a type with as many fields as fit in the limit parses...
        let fields = (MAX_SDL_TOKENS - 3) / 3;
        let sdl = format!("type A {{ {} }}", (0..fields).map(|i| format!("f{i}: Int")).collect::<Vec<_>>().join(" "));
        assert!(sdl.len() < MAX_SDL_BYTES);
        assert_eq!(parse(&sdl).unwrap()[0].fields.len(), fields);
        // ... and one token more is refused where it starts.
        let sdl = format!("{} x", &sdl[..sdl.len() - 2]);
        let e = err(&format!("{sdl} }}"));
        assert!(e.message.ends_with("the schema has more than 100000 tokens"), "{e}");
    }
}
