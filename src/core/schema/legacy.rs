//! The parser weftdb used before its own ([`super::sdl`]): graphql-parser
//! 0.4 and the checks on its AST, exactly as they were, kept for tests
//! only (a dev-dependency) so that the new parser is proven against it on
//! the fuzz corpus and on every case the tests write
//! (`agrees_with_graphql_parser`).

use graphql_parser::schema::{
    parse_schema, Definition, Directive, ObjectType, Type, TypeDefinition, TypeExtension, Value as GqlValue,
};

use super::{CollectionDef, FieldDef, FieldType, ScalarKind, SchemaError, WritePolicy, SCALARS};

fn schema_err(line: usize, message: String) -> SchemaError {
    SchemaError { line: Some(line), message }
}

/// Parses DefraDB-style SDL: one or more `type Name { field: Scalar ... }`.
pub(super) fn parse_sdl(sdl: &str) -> Result<Vec<CollectionDef>, SchemaError> {
    // graphql-parser reports an empty document as an obscure syntax error.
    let blank = sdl.lines().all(|l| {
        let l = l.trim_matches(|c: char| c.is_whitespace() || c == ',' || c == '\u{feff}');
        l.is_empty() || l.starts_with('#')
    });
    if blank {
        return Err(SchemaError {
            line: None,
            message: "the schema declares no types; write at least one, e.g. `type Book { a: Int }`".into(),
        });
    }
    // graphql-parser 0.4 cuts a block string's indent at a byte count and
    // panics when that falls inside a non-ASCII space. GraphQL indents with
    // spaces and tabs only, so such an indent is refused before parsing.
    let odd_indent = sdl.split('\n').enumerate().find_map(|(i, line)| {
        line.chars().take_while(|c| c.is_whitespace()).find(|c| !c.is_ascii()).map(|c| (i + 1, c))
    });
    if let Some((line, c)) = odd_indent {
        let message = format!("line indented with U+{:04X}, a non-ASCII space; indent with spaces or tabs", c as u32);
        return Err(schema_err(line, message));
    }
    let doc = parse_schema::<String>(sdl).map_err(syntax_error)?;
    let types = doc
        .definitions
        .iter()
        .map(|d| match d {
            Definition::TypeDefinition(TypeDefinition::Object(o)) => Ok(o),
            other => Err(unsupported(other)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<CollectionDef> = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        if let Some(first) = types[..i].iter().find(|p| p.name == t.name) {
            return Err(schema_err(
                t.position.line,
                format!("type \"{}\" is declared twice (first on line {})", t.name, first.position.line),
            ));
        }
        out.push(collection(t, &types)?);
    }
    Ok(out)
}

fn collection(t: &ObjectType<'_, String>, types: &[&ObjectType<'_, String>]) -> Result<CollectionDef, SchemaError> {
    let line = t.position.line;
    let name = &t.name;
    if ScalarKind::from_name(name).is_some() {
        return Err(schema_err(
            line,
            format!("type \"{name}\" has the name of a built-in scalar; choose another name"),
        ));
    }
    if !t.implements_interfaces.is_empty() {
        return Err(schema_err(line, format!("type \"{name}\" implements an interface; interfaces are not supported")));
    }
    let mut policy = WritePolicy::Anyone;
    for (i, d) in t.directives.iter().enumerate() {
        if d.name != "policy" {
            return Err(schema_err(
                d.position.line,
                format!("unknown directive @{} on type \"{name}\"; the only one a type takes is @policy", d.name),
            ));
        }
        if i > 0 {
            return Err(schema_err(d.position.line, format!("type \"{name}\" has @policy twice")));
        }
        policy = parse_policy(d, name)?;
    }
    if t.fields.is_empty() {
        let example = format!("`type {name} {{ title: String }}`");
        let message = format!("type \"{name}\" has no fields; declare at least one, e.g. {example}");
        return Err(schema_err(line, message));
    }
    let mut fields: Vec<FieldDef> = Vec::with_capacity(t.fields.len());
    for f in &t.fields {
        let line = f.position.line;
        let at = format!("field \"{}\" of type \"{name}\"", f.name);
        if f.name.starts_with('_') {
            return Err(schema_err(
                line,
                format!("{at}: names starting with \"_\" are reserved (_id is the document id)"),
            ));
        }
        if fields.iter().any(|p| p.name == f.name) {
            return Err(schema_err(line, format!("{at} is declared twice")));
        }
        if !f.arguments.is_empty() {
            return Err(schema_err(line, format!("{at} has arguments; fields cannot take arguments")));
        }
        let ty = field_type(&f.field_type).map_err(|e| {
            let message = match e {
                TypeProblem::NestedList => {
                    format!("{at} is a list of lists; only lists of scalars like [String] work")
                }
                TypeProblem::Unknown(n) if types.iter().any(|t| t.name == n) => {
                    format!("{at} refers to type \"{n}\"; relations are not supported yet")
                }
                TypeProblem::Unknown(n) => {
                    format!("unknown type \"{n}\" for field \"{}\" of type \"{name}\"; {SCALARS}", f.name)
                }
            };
            schema_err(line, message)
        })?;
        let mut indexed = false;
        for d in &f.directives {
            let problem = match d.name.as_str() {
                "index" if !d.arguments.is_empty() => Some("@index takes no arguments"),
                "index" if ty.list => Some("@index is not allowed on a list field"),
                "index" if ty.kind == ScalarKind::Json => Some("@index is not allowed on a JSON field"),
                "index" => None,
                _ => {
                    return Err(schema_err(
                        d.position.line,
                        format!("unknown directive @{} on {at}; the only supported directive is @index", d.name),
                    ));
                }
            };
            if let Some(p) = problem {
                return Err(schema_err(d.position.line, format!("{p} ({at})")));
            }
            indexed = true;
        }
        fields.push(FieldDef { name: f.name.clone(), ty, indexed });
    }
    Ok(CollectionDef { name: name.clone(), fields, policy })
}

/// `@policy(writers: "owner")` or `@policy(writers: ["<64 hex digits>", ...])`.
fn parse_policy(d: &Directive<'_, String>, name: &str) -> Result<WritePolicy, SchemaError> {
    let line = d.position.line;
    let usage = "write @policy(writers: \"owner\") or @policy(writers: [\"<ed25519 public key, 64 hex digits>\", ...])";
    let fail = |what: String| Err(schema_err(line, format!("@policy on type \"{name}\": {what}; {usage}")));
    let [(arg, value)] = d.arguments.as_slice() else {
        return fail("it takes exactly one argument, writers".into());
    };
    if arg != "writers" {
        return fail(format!("unknown argument {arg}"));
    }
    match value {
        GqlValue::String(s) if s == "owner" => Ok(WritePolicy::Owner),
        GqlValue::List(items) if !items.is_empty() => {
            let mut keys = Vec::with_capacity(items.len());
            for item in items {
                let GqlValue::String(k) = item else {
                    return fail(format!("writers lists key strings, not {item}"));
                };
                let k = k.to_ascii_lowercase();
                // Hex digits only: slicing by byte below needs ASCII, and
                // from_str_radix would take a sign.
                let bytes: Option<Vec<u8>> = (k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| (0..32).map(|i| u8::from_str_radix(&k[2 * i..2 * i + 2], 16).ok()).collect())
                    .flatten();
                let valid = bytes
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .is_some_and(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).is_ok());
                if !valid {
                    return fail(format!("\"{k}\" is not an ed25519 public key in hex"));
                }
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            Ok(WritePolicy::Writers(keys))
        }
        GqlValue::List(_) => fail("an empty writers list would let no one write".into()),
        other => fail(format!("writers is {other}")),
    }
}

enum TypeProblem {
    NestedList,
    Unknown(String),
}

fn field_type(t: &Type<'_, String>) -> Result<FieldType, TypeProblem> {
    fn non_null<'t, 'a>(t: &'t Type<'a, String>) -> (bool, &'t Type<'a, String>) {
        match t {
            Type::NonNullType(inner) => (true, inner),
            _ => (false, t),
        }
    }
    let (required, t) = non_null(t);
    let (list, item_required, t) = match t {
        Type::ListType(inner) => {
            let (item_required, t) = non_null(inner);
            (true, item_required, t)
        }
        _ => (false, false, t),
    };
    match t {
        Type::NamedType(n) => match ScalarKind::from_name(n) {
            Some(kind) => Ok(FieldType { kind, list, required, item_required }),
            None => Err(TypeProblem::Unknown(n.clone())),
        },
        _ => Err(TypeProblem::NestedList),
    }
}

fn unsupported(d: &Definition<'_, String>) -> SchemaError {
    const ONLY: &str = "only object types such as `type Book { title: String }` can be declared";
    let (line, what) = match d {
        Definition::SchemaDefinition(s) => (s.position.line, "a schema definition".to_string()),
        Definition::DirectiveDefinition(d) => (d.position.line, format!("directive definition @{}", d.name)),
        Definition::TypeExtension(e) => {
            let (pos, name) = match e {
                TypeExtension::Scalar(x) => (x.position, &x.name),
                TypeExtension::Object(x) => (x.position, &x.name),
                TypeExtension::Interface(x) => (x.position, &x.name),
                TypeExtension::Union(x) => (x.position, &x.name),
                TypeExtension::Enum(x) => (x.position, &x.name),
                TypeExtension::InputObject(x) => (x.position, &x.name),
            };
            let message = format!("\"extend\" (of \"{name}\") is not supported; {ONLY}");
            return schema_err(pos.line, message);
        }
        Definition::TypeDefinition(t) => match t {
            TypeDefinition::Scalar(x) => (x.position.line, format!("custom scalar \"{}\"", x.name)),
            TypeDefinition::Interface(x) => (x.position.line, format!("interface \"{}\"", x.name)),
            TypeDefinition::Union(x) => (x.position.line, format!("union \"{}\"", x.name)),
            TypeDefinition::Enum(x) => (x.position.line, format!("enum \"{}\"", x.name)),
            TypeDefinition::InputObject(x) => (x.position.line, format!("input \"{}\"", x.name)),
            TypeDefinition::Object(x) => (x.position.line, format!("type \"{}\"", x.name)),
        },
    };
    schema_err(line, format!("{what} is not supported; {ONLY}"))
}

fn syntax_error(e: graphql_parser::schema::ParseError) -> SchemaError {
    // graphql-parser only exposes the position inside its message:
    // "schema parse error: Parse error at L:C\nUnexpected `tok[Kind]`\nExpected ...".
    let text = e.to_string();
    let text = text.strip_prefix("schema parse error: ").unwrap_or(&text);
    let Some((pos, detail)) = text.strip_prefix("Parse error at ").and_then(|t| t.split_once('\n')) else {
        return SchemaError { line: None, message: format!("syntax error: {text}") };
    };
    let mut pos = pos.trim().split(':').map(|n| n.parse::<usize>().ok());
    let (line, column) = (pos.next().flatten(), pos.next().flatten());
    let mut detail = strip_token_kinds(detail)
        .lines()
        .map(|l| match l.strip_prefix("Unexpected") {
            Some(rest) => format!("unexpected{rest}"),
            None => l.replacen("Expected", "expected", 1),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if detail == "unexpected `}`, expected Name" {
        detail.push_str(" (a type needs at least one field)");
    }
    let at = column.map(|c| format!(" at column {c}")).unwrap_or_default();
    SchemaError { line, message: format!("syntax error{at}: {detail}") }
}

/// graphql-parser prints tokens as `value[Kind]`; the kind means nothing to users.
fn strip_token_kinds(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(end) = rest.find("]`") {
        let start = rest[..end].rfind('[').unwrap_or(end);
        out.push_str(&rest[..start]);
        out.push('`');
        rest = &rest[end + 2..];
    }
    out + rest
}
