//! The DefraDB-style query language: parsing and validation against a
//! collection, in-memory evaluation (filter, order, paging), index planning,
//! and the order-preserving key encoding that secondary indexes use.
//!
//! Input is JSON:
//!
//! ```json
//! { "filter": { "pages": { "_gt": 100 },
//!               "_or": [ { "title": { "_like": "Dune%" } }, { "read": { "_eq": true } } ] },
//!   "order": [ { "title": "ASC" }, { "pages": "DESC" } ],
//!   "limit": 10, "offset": 0 }
//! ```
//!
//! Pages: `offset` skips that many documents of the result, in its order, and
//! `limit` (if given) keeps at most that many of the rest. Without `order`
//! the order is `_id` ascending, so reading page after page (`offset` 0, n,
//! 2n, ...) meets every matching document exactly once.
//!
//! Patterns: `_like`, `_nlike` and `_ilike` take SQL LIKE patterns, with the
//! backslash as the escape character, as Postgres's LIKE has by default: `%`
//! matches any run of characters, `_` exactly one, and `\` makes the next
//! character stand for itself, so `100\%` matches only `100%`, `a\_b` only
//! `a_b`, and `\\` one backslash (in JSON each backslash is written
//! twice: `{"_like": "100\\%"}`). A pattern that ends in a lone backslash
//! escapes nothing and is refused. `_ilike` compares characters by their
//! lowercase forms.
//!
//! Null semantics: an absent field is null. `_gt`/`_ge`/`_lt`/`_le`/`_like`/`_ilike`
//! never match null, as in SQL; `_eq: null` matches absent or null fields. The
//! negative operators `_ne`, `_nin` and `_nlike` are the exact negations of
//! `_eq`, `_in` and `_like`, so `{x: {_ne: 5}}` also matches documents where `x`
//! is null, just like `{_not: {x: {_eq: 5}}}`.

use std::cmp::Ordering;
use std::ops::Bound;

use serde_json::{Map, Number, Value};

use super::schema::{normalize_datetime, CollectionDef, FieldType, ScalarKind};

/// The document key every document carries; filterable and orderable like a
/// required `String` field.
const ID: &str = "_id";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    /// Sort keys, most significant first. Ties are always broken by `_id`.
    pub order: Vec<(String, Direction)>,
    pub limit: Option<usize>,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches when every member matches; `And(vec![])` matches everything.
    And(Vec<Filter>),
    /// Matches when any member matches; `Or(vec![])` matches nothing.
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `value` is already validated against the field's type (DateTimes
    /// normalised to UTC); for `In`/`Nin` it is an array.
    Cmp {
        field: String,
        op: CmpOp,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    Nin,
    Like,
    Nlike,
    Ilike,
}

/// A candidate set for a filter. It may include documents that do not match,
/// but never leaves one out: the caller re-applies [`Filter::matches`].
#[derive(Debug, Clone, PartialEq)]
pub enum IndexPlan {
    /// Look the documents up by id (sorted, deduplicated).
    Id {
        ids: Vec<String>,
    },
    /// Prefix-scan the index on `field` once per value (sorted and
    /// deduplicated by [`compare_values`], so the scans are disjoint). A null
    /// value means "documents where the field is absent or null": the index
    /// must hold an entry for those too.
    Eq {
        field: String,
        values: Vec<Value>,
    },
    /// Scan the index on `field` between the bounds; see [`encoded_range`].
    /// The range may be empty (`_gt: 5, _lt: 3`).
    Range {
        field: String,
        lower: Bound<Value>,
        upper: Bound<Value>,
    },
    Scan,
}

/// A query that does not fit its collection. `at` is a path into the query
/// input such as `filter._or[1].title._like`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{at}: unknown key `{key}`; expected {expected}")]
    UnknownKey { at: String, key: String, expected: &'static str },
    #[error("{at}: collection `{collection}` has no field `{field}`")]
    UnknownField { at: String, field: String, collection: String },
    #[error("{at}: unknown operator `{op}`; expected one of {}", OPERATORS.join(", "))]
    UnknownOperator { at: String, op: String },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

const OPERATORS: [&str; 11] = ["_eq", "_ne", "_gt", "_ge", "_lt", "_le", "_in", "_nin", "_like", "_nlike", "_ilike"];

fn invalid(at: &str, message: impl Into<String>) -> QueryError {
    QueryError::Invalid { at: at.to_string(), message: message.into() }
}

impl Query {
    /// Parses and validates a query; `null` is the empty query (everything,
    /// ordered by `_id`).
    pub fn parse(input: &Value, def: &CollectionDef) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let obj = match input {
            Value::Null => return Ok(query),
            Value::Object(obj) => obj,
            other => return Err(invalid("query", format!("expected an object, got {}", json_kind(other)))),
        };
        for (key, value) in obj {
            match key.as_str() {
                "filter" if !value.is_null() => query.filter = Some(parse_filter_object(value, def, "filter")?),
                "order" => query.order = parse_order(value, def)?,
                "limit" if !value.is_null() => query.limit = Some(parse_count(value, "limit")?),
                "offset" if !value.is_null() => query.offset = parse_count(value, "offset")?,
                // Null: keep the default.
                "filter" | "limit" | "offset" => {}
                _ => {
                    return Err(QueryError::UnknownKey {
                        at: "query".into(),
                        key: key.clone(),
                        expected: "`filter`, `order`, `limit` or `offset`",
                    })
                }
            }
        }
        Ok(query)
    }

    /// Filters, sorts and pages `docs` in memory.
    pub fn run(&self, docs: impl IntoIterator<Item = Map<String, Value>>) -> Vec<Map<String, Value>> {
        let mut docs: Vec<_> = docs.into_iter().filter(|d| self.filter.as_ref().is_none_or(|f| f.matches(d))).collect();
        self.sort(&mut docs);
        self.page(docs)
    }

    /// The query's document order: the order keys (absent = null, which sorts
    /// first ascending and last descending), then `_id` ascending.
    pub fn compare_docs(&self, a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
        self.order
            .iter()
            .map(|(field, dir)| {
                let ord = compare_values(get(a, field), get(b, field));
                match dir {
                    Direction::Asc => ord,
                    Direction::Desc => ord.reverse(),
                }
            })
            .find(|ord| ord.is_ne())
            .unwrap_or_else(|| compare_values(get(a, ID), get(b, ID)))
    }

    pub fn sort(&self, docs: &mut [Map<String, Value>]) {
        docs.sort_by(|a, b| self.compare_docs(a, b));
    }

    /// Applies `offset`, then `limit`.
    pub fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().skip(self.offset).take(self.limit.unwrap_or(usize::MAX)).collect()
    }
}

fn get<'a>(doc: &'a Map<String, Value>, field: &str) -> &'a Value {
    doc.get(field).unwrap_or(&Value::Null)
}

/// A count beyond `usize` (a page's is 32 bits) is taken as `usize::MAX`:
/// no result is that long, so it skips or keeps all the same.
fn parse_count(value: &Value, at: &str) -> Result<usize, QueryError> {
    value
        .as_u64()
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or_else(|| invalid(at, format!("expected a non-negative integer, got {value}")))
}

/// `{"title": "ASC"}` or `[{"title": "ASC"}, {"pages": "DESC"}]`.
fn parse_order(value: &Value, def: &CollectionDef) -> Result<Vec<(String, Direction)>, QueryError> {
    let objects: Vec<(String, &Value)> = match value {
        Value::Null => vec![],
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| (format!("order[{i}]"), item)).collect(),
        _ => vec![("order".to_string(), value)],
    };
    let mut order = Vec::new();
    for (at, item) in objects {
        let obj = item.as_object().ok_or_else(|| {
            invalid(&at, format!(r#"expected an object like {{"title": "ASC"}}, got {}"#, json_kind(item)))
        })?;
        for (field, dir) in obj {
            let at = format!("{at}.{field}");
            field_type(def, field).ok_or_else(|| unknown_field(&at, field, def))?;
            let dir = match dir.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("ASC") => Direction::Asc,
                Some("DESC") => Direction::Desc,
                _ => return Err(invalid(&at, format!(r#"expected "ASC" or "DESC", got {dir}"#))),
            };
            order.push((field.clone(), dir));
        }
    }
    Ok(order)
}

fn unknown_field(at: &str, field: &str, def: &CollectionDef) -> QueryError {
    QueryError::UnknownField { at: at.to_string(), field: field.to_string(), collection: def.name.clone() }
}

fn field_type(def: &CollectionDef, name: &str) -> Option<FieldType> {
    if name == ID {
        return Some(FieldType { kind: ScalarKind::String, list: false, required: true, item_required: false });
    }
    def.field(name).map(|f| f.ty.clone())
}

impl Filter {
    /// Parses a filter object; `null` is the filter that matches everything.
    pub fn parse(input: &Value, def: &CollectionDef) -> Result<Filter, QueryError> {
        match input {
            Value::Null => Ok(Filter::And(vec![])),
            _ => parse_filter_object(input, def, "filter"),
        }
    }

    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Filter::And(members) => members.iter().all(|f| f.matches(doc)),
            Filter::Or(members) => members.iter().any(|f| f.matches(doc)),
            Filter::Not(inner) => !inner.matches(doc),
            Filter::Cmp { field, op, value } => op.test(get(doc, field), value),
        }
    }

    /// Chooses how to find candidates, from the top-level conjunction only:
    /// a constraint inside `_or` or `_not` does not have to hold for every
    /// match, so it can never narrow the candidates.
    pub fn plan(&self, def: &CollectionDef) -> IndexPlan {
        let mut cmps = Vec::new();
        self.conjuncts(&mut cmps);

        let in_values = |op: CmpOp, value: &Value| -> Vec<Value> {
            let mut values = match op {
                CmpOp::In => value.as_array().cloned().unwrap_or_default(),
                _ => vec![value.clone()],
            };
            values.sort_by(compare_values);
            values.dedup_by(|a, b| compare_values(a, b).is_eq());
            values
        };
        let is_point = |op: &CmpOp| matches!(op, CmpOp::Eq | CmpOp::In);

        if let Some(&(_, op, value)) = cmps.iter().find(|(f, op, _)| *f == ID && is_point(op)) {
            // A null `_id` never matches, so it contributes no candidate.
            let ids = in_values(op, value).into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            return IndexPlan::Id { ids };
        }

        // The schema already refuses @index on lists and JSON; re-checked
        // because a plan on an unencodable field would lose documents.
        let indexed =
            |name: &str| def.field(name).is_some_and(|f| f.indexed && !f.ty.list && f.ty.kind != ScalarKind::Json);
        if let Some(&(field, op, value)) = cmps.iter().find(|(f, op, _)| is_point(op) && indexed(f)) {
            return IndexPlan::Eq { field: field.to_string(), values: in_values(op, value) };
        }

        let is_range = |op: &CmpOp| matches!(op, CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le);
        let Some(&(field, ..)) = cmps.iter().find(|(f, op, _)| is_range(op) && indexed(f)) else {
            return IndexPlan::Scan;
        };
        let (mut lower, mut upper) = (Bound::Unbounded, Bound::Unbounded);
        for &(_, op, value) in cmps.iter().filter(|(f, op, _)| *f == field && is_range(op)) {
            let value = value.clone();
            match op {
                CmpOp::Gt => lower = tighter(lower, Bound::Excluded(value), Ordering::Greater),
                CmpOp::Ge => lower = tighter(lower, Bound::Included(value), Ordering::Greater),
                CmpOp::Lt => upper = tighter(upper, Bound::Excluded(value), Ordering::Less),
                _ => upper = tighter(upper, Bound::Included(value), Ordering::Less),
            }
        }
        IndexPlan::Range { field: field.to_string(), lower, upper }
    }

    fn conjuncts<'a>(&'a self, out: &mut Vec<(&'a str, CmpOp, &'a Value)>) {
        match self {
            Filter::And(members) => members.iter().for_each(|f| f.conjuncts(out)),
            Filter::Cmp { field, op, value } => out.push((field, *op, value)),
            Filter::Or(_) | Filter::Not(_) => {}
        }
    }
}

/// The more restrictive of two bounds on the same side; `wins` is the
/// ordering of a value that restricts more (Greater for lower bounds).
fn tighter(a: Bound<Value>, b: Bound<Value>, wins: Ordering) -> Bound<Value> {
    let (av, bv) = match (&a, &b) {
        (Bound::Unbounded, _) => return b,
        (_, Bound::Unbounded) => return a,
        (Bound::Included(av) | Bound::Excluded(av), Bound::Included(bv) | Bound::Excluded(bv)) => (av, bv),
    };
    match compare_values(av, bv) {
        Ordering::Equal if matches!(b, Bound::Excluded(_)) => b,
        Ordering::Equal => a,
        ord if ord == wins => a,
        _ => b,
    }
}

fn parse_filter_object(input: &Value, def: &CollectionDef, at: &str) -> Result<Filter, QueryError> {
    let obj = input.as_object().ok_or_else(|| {
        invalid(
            at,
            format!(r#"expected a filter object like {{"title": {{"_eq": "Dune"}}}}, got {}"#, json_kind(input)),
        )
    })?;
    let mut parts = Vec::with_capacity(obj.len());
    for (key, value) in obj {
        let at = format!("{at}.{key}");
        match key.as_str() {
            "_and" | "_or" => {
                let items = value.as_array().ok_or_else(|| {
                    invalid(&at, format!("expected an array of filter objects, got {}", json_kind(value)))
                })?;
                let members = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_filter_object(item, def, &format!("{at}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(match key.as_str() {
                    "_and" => Filter::And(members),
                    _ => Filter::Or(members),
                });
            }
            "_not" => parts.push(Filter::Not(Box::new(parse_filter_object(value, def, &at)?))),
            field => {
                let ty = field_type(def, field).ok_or_else(|| unknown_field(&at, field, def))?;
                let ops = value.as_object().filter(|ops| !ops.is_empty()).ok_or_else(|| {
                    invalid(&at, format!(r#"expected an operator object like {{"_eq": value}}, got {value}"#))
                })?;
                for (op_name, arg) in ops {
                    let at = format!("{at}.{op_name}");
                    let op = CmpOp::from_name(op_name)
                        .ok_or_else(|| QueryError::UnknownOperator { at: at.clone(), op: op_name.clone() })?;
                    let value = check_argument(op, arg, &ty, &at)?;
                    parts.push(Filter::Cmp { field: field.to_string(), op, value });
                }
            }
        }
    }
    Ok(match parts.len() {
        1 => parts.remove(0),
        _ => Filter::And(parts),
    })
}

fn check_argument(op: CmpOp, arg: &Value, ty: &FieldType, at: &str) -> Result<Value, QueryError> {
    match op {
        CmpOp::Eq | CmpOp::Ne if arg.is_null() => Ok(Value::Null),
        CmpOp::Eq | CmpOp::Ne => check_value(arg, ty, at),
        CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le if arg.is_null() => {
            Err(invalid(at, "cannot compare with null; use `_eq: null` or `_ne: null` to test for absent values"))
        }
        CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => check_value(arg, ty, at),
        CmpOp::In | CmpOp::Nin => {
            let items = arg
                .as_array()
                .ok_or_else(|| invalid(at, format!("expected an array of values, got {}", json_kind(arg))))?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Null => Ok(Value::Null),
                    _ => check_value(item, ty, &format!("{at}[{i}]")),
                })
                .collect::<Result<_, _>>()
                .map(Value::Array)
        }
        CmpOp::Like | CmpOp::Nlike | CmpOp::Ilike => {
            let likeable = !ty.list && matches!(ty.kind, ScalarKind::String | ScalarKind::DateTime | ScalarKind::Json);
            if !likeable {
                return Err(invalid(at, format!("only applies to String fields, not {}", type_name(ty))));
            }
            match arg {
                Value::String(pattern) if like_tokens(pattern).is_none() => Err(invalid(
                    at,
                    format!(
                        "the pattern {arg} ends with a lone escape character (a backslash) that escapes nothing; \
                         write two backslashes to match one backslash"
                    ),
                )),
                Value::String(_) => Ok(arg.clone()),
                _ => Err(invalid(at, format!("expected a pattern string, got {}", json_kind(arg)))),
            }
        }
    }
}

/// Checks a non-null comparison value against the field's type and returns it
/// normalised the way stored values are.
fn check_value(value: &Value, ty: &FieldType, at: &str) -> Result<Value, QueryError> {
    if !ty.list {
        return check_scalar(value, ty.kind, at);
    }
    let items = value
        .as_array()
        .ok_or_else(|| invalid(at, format!("expected {} (an array), got {}", type_name(ty), json_kind(value))))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{at}[{i}]");
            match item {
                Value::Null if ty.item_required => Err(invalid(&at, "list items of this field cannot be null")),
                Value::Null => Ok(Value::Null),
                _ => check_scalar(item, ty.kind, &at),
            }
        })
        .collect::<Result<_, _>>()
        .map(Value::Array)
}

fn check_scalar(value: &Value, kind: ScalarKind, at: &str) -> Result<Value, QueryError> {
    let fits = match kind {
        ScalarKind::String => value.is_string(),
        ScalarKind::Int => value.is_i64(),
        ScalarKind::Float => value.is_number(),
        ScalarKind::Boolean => value.is_boolean(),
        ScalarKind::Json => true,
        ScalarKind::DateTime => {
            return value.as_str().and_then(normalize_datetime).map(Value::String).ok_or_else(|| {
                invalid(
                    at,
                    format!(r#"expected a DateTime (an RFC 3339 string like "2024-05-01T12:00:00Z"), got {value}"#),
                )
            })
        }
    };
    match fits {
        true => Ok(value.clone()),
        false => Err(invalid(at, format!("expected {}, got {value}", kind_name(kind)))),
    }
}

fn kind_name(kind: ScalarKind) -> &'static str {
    match kind {
        ScalarKind::String => "a String",
        ScalarKind::Int => "an Int (a 64-bit whole number)",
        ScalarKind::Float => "a Float (a number)",
        ScalarKind::Boolean => "a Boolean",
        ScalarKind::DateTime => "a DateTime",
        ScalarKind::Json => "a JSON value",
    }
}

fn type_name(ty: &FieldType) -> String {
    let name = ty.kind.name();
    match ty.list {
        true => format!("a list of {name}"),
        false => name.to_string(),
    }
}

/// How a JSON value is named in error messages: "a string", "null", ...
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl CmpOp {
    pub fn from_name(name: &str) -> Option<CmpOp> {
        let index = OPERATORS.iter().position(|op| *op == name)?;
        Some(ALL_OPS[index])
    }

    /// The operator as written in queries, e.g. `"_gt"`.
    pub fn name(self) -> &'static str {
        OPERATORS[ALL_OPS.iter().position(|op| *op == self).unwrap_or_default()]
    }

    fn test(self, actual: &Value, arg: &Value) -> bool {
        let ord = || compare_values(actual, arg);
        let contains = || arg.as_array().is_some_and(|items| items.iter().any(|v| compare_values(actual, v).is_eq()));
        match self {
            CmpOp::Eq => ord().is_eq(),
            CmpOp::Ne => ord().is_ne(),
            CmpOp::Gt => !actual.is_null() && ord().is_gt(),
            CmpOp::Ge => !actual.is_null() && ord().is_ge(),
            CmpOp::Lt => !actual.is_null() && ord().is_lt(),
            CmpOp::Le => !actual.is_null() && ord().is_le(),
            CmpOp::In => contains(),
            CmpOp::Nin => !contains(),
            CmpOp::Like => like_value(actual, arg, false),
            CmpOp::Nlike => !like_value(actual, arg, false),
            CmpOp::Ilike => like_value(actual, arg, true),
        }
    }
}

/// In the same order as [`OPERATORS`].
const ALL_OPS: [CmpOp; 11] = [
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Gt,
    CmpOp::Ge,
    CmpOp::Lt,
    CmpOp::Le,
    CmpOp::In,
    CmpOp::Nin,
    CmpOp::Like,
    CmpOp::Nlike,
    CmpOp::Ilike,
];

fn like_value(actual: &Value, pattern: &Value, ignore_case: bool) -> bool {
    match (actual, pattern) {
        (Value::String(text), Value::String(pattern)) => like(text, pattern, ignore_case),
        _ => false,
    }
}

/// The escape character of LIKE patterns.
const LIKE_ESCAPE: char = '\\';

/// One element of a LIKE pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LikeToken {
    /// `%`
    AnyRun,
    /// `_`
    AnyOne,
    /// A character to match, escaped or not.
    Char(char),
}

/// A pattern's tokens; `None` if it ends in a lone escape character.
fn like_tokens(pattern: &str) -> Option<Vec<LikeToken>> {
    let mut chars = pattern.chars();
    let mut tokens = Vec::with_capacity(pattern.len());
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => LikeToken::AnyRun,
            '_' => LikeToken::AnyOne,
            LIKE_ESCAPE => LikeToken::Char(chars.next()?),
            c => LikeToken::Char(c),
        });
    }
    Some(tokens)
}

/// SQL LIKE: `%` matches any run of characters, `_` exactly one, and `\`
/// makes the next character stand for itself. Greedy with backtracking to
/// the last `%`, which is enough because a later `%` can absorb anything an
/// earlier one could: O(text × pattern) worst case.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    // Parsing refuses a lone trailing escape; a filter built by hand that
    // has one matches nothing.
    let Some(pattern) = like_tokens(pattern) else { return false };
    let text: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    let (mut t, mut p) = (0, 0);
    // After the last `%` seen: the pattern index following it, and the text
    // index it has absorbed up to.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::AnyRun) => {
                p += 1;
                resume = Some((p, t));
            }
            Some(LikeToken::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(&LikeToken::Char(c)) if same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((after, absorbed)) => {
                    p = after;
                    t = absorbed + 1;
                    resume = Some((after, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&token| token == LikeToken::AnyRun)
}

/// A total order on JSON values: null < false < true < numbers < strings <
/// arrays < objects. Numbers compare by exact value, whether ints or floats;
/// strings by bytes; arrays lexicographically; objects as their entries sorted
/// by key, so key order does not matter.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => compare_seq(x.iter(), y.iter(), compare_values),
        (Value::Object(x), Value::Object(y)) => {
            compare_seq(sorted_entries(x).into_iter(), sorted_entries(y).into_iter(), |(ka, va), (kb, vb)| {
                ka.cmp(kb).then_with(|| compare_values(va, vb))
            })
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

fn compare_seq<T>(
    mut a: impl Iterator<Item = T>,
    mut b: impl Iterator<Item = T>,
    cmp: impl Fn(T, T) -> Ordering,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) => match cmp(x, y) {
                Ordering::Equal => {}
                ord => return ord,
            },
            (x, y) => return x.is_some().cmp(&y.is_some()),
        }
    }
}

fn as_int(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    let float = |n: &Number| n.as_f64().unwrap_or(0.0);
    match (as_int(x), as_int(y)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(a), None) => compare_int_float(a, float(y)),
        (None, Some(b)) => compare_int_float(b, float(x)).reverse(),
        // JSON has no NaN, so only ±0 are unordered by total_cmp's standard.
        (None, None) => float(x).partial_cmp(&float(y)).unwrap_or(Ordering::Equal),
    }
}

/// Exact, so that ints beyond 2^53 stay transitively ordered against floats
/// (a lossy `i as f64` would make 2^53+1 equal to 2^53 as a float but greater
/// than 2^53 as an int).
fn compare_int_float(i: i128, f: f64) -> Ordering {
    let whole = f.trunc();
    // `as` saturates, which keeps the order for floats beyond any i128.
    i.cmp(&(whole as i128)).then_with(|| 0.0.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal))
}

const TAG_NULL: u8 = 0x00;
const TAG_FALSE: u8 = 0x01;
const TAG_TRUE: u8 = 0x02;
const TAG_NUMBER: u8 = 0x03;
const TAG_STRING: u8 = 0x04;
/// Above every indexable value: where arrays and objects would sort.
const TAG_END: u8 = 0x05;

/// The index key for a scalar value; `None` for arrays and objects, which are
/// not indexed.
///
/// Byte order equals [`compare_values`] order, equal values (`1` and `1.0`)
/// encode identically, and no encoding is a prefix of another, so a prefix
/// scan for one value never reaches another's keys. Layout: a tag byte (null
/// 0x00, false 0x01, true 0x02, number 0x03, string 0x04), then
/// - numbers: 8 bytes of the value rounded to f64 (sign bit flipped, or all
///   bits if negative), then 2 bytes of the exact integer's distance from
///   that f64, so ints beyond 2^53 keep distinct, ordered keys;
/// - strings: the UTF-8 bytes with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x01.
pub fn encode_index_value(v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(16);
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => {
            out.push(TAG_NUMBER);
            let (rounded, residue) = match as_int(n) {
                // Every JSON int is within ±2^64, where an f64 is at most
                // 2^11 away from the int, so the residue fits an i16.
                Some(i) => (i as f64, i - (i as f64) as i128),
                None => (n.as_f64().unwrap_or(0.0), 0),
            };
            // -0.0 == 0.0 by compare_values, so they must share a key.
            let rounded = if rounded == 0.0 { 0.0 } else { rounded };
            let bits = rounded.to_bits();
            let sortable = if bits >> 63 == 1 { !bits } else { bits | 1 << 63 };
            out.extend(sortable.to_be_bytes());
            out.extend(((residue as i16 as u16) ^ 0x8000).to_be_bytes());
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            for &byte in s.as_bytes() {
                out.push(byte);
                if byte == 0x00 {
                    out.push(0xFF);
                }
            }
            out.extend([0x00, 0x01]);
        }
        Value::Array(_) | Value::Object(_) => return None,
    }
    Some(out)
}

/// Byte bounds for an index laid out as `enc(value) ++ doc_id_bytes` (any
/// doc id bytes) that select exactly the entries whose value lies within the
/// value bounds. Prepend the index's key prefix to both to scan a store.
///
/// Always returns `(Included(start), Excluded(end))` with `start <= end`, so an
/// empty value range is an empty byte range and never a "start > end" panic
/// in `BTreeMap::range` or similar. An unbounded lower end means "any non-null
/// value", since a range comparison never matches null; an unbounded upper
/// end stops before where arrays and objects would sort.
pub fn encoded_range(lower: &Bound<Value>, upper: &Bound<Value>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    // Arrays and objects sort above every indexable value.
    let enc = |v: &Value| encode_index_value(v).unwrap_or_else(|| vec![TAG_END]);
    // enc(x) ++ anything < successor(enc(x)) <= enc(y) ++ anything for every
    // y > x, because enc(y) is not an extension of enc(x).
    let start = match lower {
        Bound::Unbounded => vec![TAG_FALSE],
        Bound::Included(v) => enc(v),
        Bound::Excluded(v) => prefix_successor(enc(v)),
    };
    let end = match upper {
        Bound::Unbounded => vec![TAG_END],
        Bound::Included(v) => prefix_successor(enc(v)),
        Bound::Excluded(v) => enc(v),
    };
    let start = if start > end { end.clone() } else { start };
    (Bound::Included(start), Bound::Excluded(end))
}

/// The least byte string above every string that starts with `key`. Every
/// encoding starts with a tag byte below 0xFF, so one exists.
fn prefix_successor(mut key: Vec<u8>) -> Vec<u8> {
    while key.last() == Some(&0xFF) {
        key.pop();
    }
    if let Some(last) = key.last_mut() {
        *last += 1;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::schema::FieldDef;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::ops::RangeBounds;

    fn books() -> CollectionDef {
        let field = |name: &str, kind, list, indexed| FieldDef {
            name: name.into(),
            ty: FieldType { kind, list, required: false, item_required: list },
            indexed,
        };
        CollectionDef {
            name: "Book".into(),
            fields: vec![
                field("title", ScalarKind::String, false, true),
                field("pages", ScalarKind::Int, false, true),
                field("rating", ScalarKind::Float, false, false),
                field("read", ScalarKind::Boolean, false, false),
                field("published", ScalarKind::DateTime, false, true),
                field("tags", ScalarKind::String, true, false),
                field("meta", ScalarKind::Json, false, false),
            ],
            policy: Default::default(),
        }
    }

    fn array(v: Value) -> Vec<Value> {
        match v {
            Value::Array(items) => items,
            _ => panic!("not an array"),
        }
    }

    fn library() -> Vec<Map<String, Value>> {
        let docs = json!([
            {"_id": "b1", "title": "Dune", "pages": 412, "rating": 4.5, "read": true,
             "published": "1965-08-01T00:00:00.000Z", "tags": ["sf", "classic"]},
            {"_id": "b2", "title": "Dune Messiah", "pages": 256, "rating": 3.9, "read": false},
            {"_id": "b3", "title": "Emma", "pages": 474, "tags": ["romance"], "meta": {"a": 1}},
            {"_id": "b4", "title": "dune (annotated)", "rating": 5},
            {"_id": "b5", "pages": 90, "read": true}
        ]);
        array(docs).into_iter().map(|d| d.as_object().unwrap().clone()).collect()
    }

    fn id_list(docs: &[Map<String, Value>]) -> Vec<&str> {
        docs.iter().map(|d| d["_id"].as_str().unwrap()).collect()
    }

    /// The ids of the library's documents that `filter` matches.
    fn ids(filter: Value) -> Vec<&'static str> {
        let f = Filter::parse(&filter, &books()).unwrap();
        let all = ["b1", "b2", "b3", "b4", "b5"];
        library().iter().zip(all).filter(|(d, _)| f.matches(d)).map(|(_, id)| id).collect()
    }

    const NONE: [&str; 0] = [];

    #[test]
    fn parses_a_full_query() {
        let input = json!({
            "filter": {"pages": {"_gt": 100, "_le": 500},
                       "_or": [{"title": {"_like": "Dune%"}}, {"read": {"_eq": true}}]},
            "order": [{"title": "asc"}, {"pages": "DESC"}],
            "limit": 10, "offset": 2
        });
        let q = Query::parse(&input, &books()).unwrap();
        let order = [("title".to_string(), Direction::Asc), ("pages".to_string(), Direction::Desc)];
        assert_eq!(q.order, order);
        assert_eq!((q.limit, q.offset), (Some(10), 2));
        let cmp = |field: &str, op, value| Filter::Cmp { field: field.into(), op, value };
        let expected = Filter::And(vec![
            cmp("pages", CmpOp::Gt, json!(100)),
            cmp("pages", CmpOp::Le, json!(500)),
            Filter::Or(vec![cmp("title", CmpOp::Like, json!("Dune%")), cmp("read", CmpOp::Eq, json!(true))]),
        ]);
        assert_eq!(q.filter, Some(expected));
    }

    #[test]
    fn accepts_null_and_missing_parts() {
        let parse = |v: Value| Query::parse(&v, &books()).unwrap();
        assert_eq!(parse(Value::Null), Query::default());
        assert_eq!(parse(json!({})), Query::default());
        let nulls = json!({"filter": null, "order": null, "limit": null, "offset": null});
        assert_eq!(parse(nulls), Query::default());
        assert_eq!(parse(json!({"order": {"_id": "desc"}})).order, [("_id".to_string(), Direction::Desc)]);
        assert_eq!(Filter::parse(&Value::Null, &books()), Ok(Filter::And(vec![])));
    }

    #[test]
    fn rejects_bad_queries_with_clear_messages() {
        let cases = json!([
            [[1], "query: expected an object, got an array"],
            [{"where": {}}, "query: unknown key `where`; expected `filter`, `order`, `limit` or `offset`"],
            [{"filter": {"author": {"_eq": "x"}}}, "filter.author: collection `Book` has no field `author`"],
            [{"filter": {"_or": [{}, {"x": {"_eq": 1}}]}}, "filter._or[1].x: collection `Book` has no field `x`"],
            [{"filter": {"_xor": []}}, "filter._xor: collection `Book` has no field `_xor`"],
            [{"filter": {"pages": {"_gte": 1}}}, "filter.pages._gte: unknown operator `_gte`; expected one of _eq, _ne, _gt"],
            [{"filter": {"pages": {"_in": 1}}}, "filter.pages._in: expected an array of values, got a number"],
            [{"filter": {"pages": {"_nin": {}}}}, "filter.pages._nin: expected an array"],
            [{"filter": {"title": {"_like": 1}}}, "filter.title._like: expected a pattern string, got a number"],
            [{"filter": {"title": {"_ilike": null}}}, "filter.title._ilike: expected a pattern string"],
            [{"filter": {"pages": {"_like": "1%"}}}, "filter.pages._like: only applies to String fields, not Int"],
            [{"filter": {"tags": {"_nlike": "a"}}}, "only applies to String fields, not a list of String"],
            [{"filter": {"title": {"_like": "100\\"}}}, "filter.title._like: the pattern \"100\\\\\" ends with a lone escape character (a backslash) that escapes nothing; write two"],
            [{"filter": {"title": {"_nlike": "\\"}}}, "filter.title._nlike: the pattern \"\\\\\" ends with a lone escape"],
            [{"filter": {"_or": [{"title": {"_ilike": "a\\\\\\"}}]}}, "filter._or[0].title._ilike: the pattern \"a\\\\\\\\\\\\\" ends"],
            [{"filter": {"pages": {"_eq": "100"}}}, "filter.pages._eq: expected an Int (a 64-bit whole number), got \"100\""],
            [{"filter": {"pages": {"_gt": 1.5}}}, "expected an Int"],
            [{"filter": {"pages": {"_lt": 18446744073709551615u64}}}, "expected an Int"],
            [{"filter": {"pages": {"_in": [1, "2"]}}}, "filter.pages._in[1]: expected an Int"],
            [{"filter": {"rating": {"_eq": "4"}}}, "expected a Float"],
            [{"filter": {"read": {"_eq": 1}}}, "expected a Boolean"],
            [{"filter": {"title": {"_eq": 1}}}, "expected a String"],
            [{"filter": {"_id": {"_in": [1]}}}, "filter._id._in[0]: expected a String"],
            [{"filter": {"published": {"_gt": "yesterday"}}}, "filter.published._gt: expected a DateTime (an RFC 3339 string"],
            [{"filter": {"published": {"_eq": 1965}}}, "expected a DateTime"],
            [{"filter": {"pages": {"_gt": null}}}, "filter.pages._gt: cannot compare with null; use `_eq: null`"],
            [{"filter": {"tags": {"_eq": "sf"}}}, "filter.tags._eq: expected a list of String (an array), got a string"],
            [{"filter": {"tags": {"_eq": ["sf", 1]}}}, "filter.tags._eq[1]: expected a String"],
            [{"filter": {"tags": {"_eq": [null]}}}, "filter.tags._eq[0]: list items of this field cannot be null"],
            [{"filter": {"pages": 5}}, "filter.pages: expected an operator object like {\"_eq\": value}, got 5"],
            [{"filter": {"pages": {}}}, "filter.pages: expected an operator object"],
            [{"filter": {"_and": {}}}, "filter._and: expected an array of filter objects, got an object"],
            [{"filter": {"_or": [1]}}, "filter._or[0]: expected a filter object"],
            [{"filter": {"_not": [1]}}, "filter._not: expected a filter object"],
            [{"filter": 3}, "filter: expected a filter object like {\"title\": {\"_eq\": \"Dune\"}}, got a number"],
            [{"order": {"title": "up"}}, "order.title: expected \"ASC\" or \"DESC\", got \"up\""],
            [{"order": [{"nope": "ASC"}]}, "order[0].nope: collection `Book` has no field `nope`"],
            [{"order": ["title"]}, "order[0]: expected an object like {\"title\": \"ASC\"}, got a string"],
            [{"order": "title"}, "order: expected an object"],
            [{"limit": -1}, "limit: expected a non-negative integer, got -1"],
            [{"offset": 1.5}, "offset: expected a non-negative integer, got 1.5"],
            [{"limit": "10"}, "limit: expected a non-negative integer"]
        ]);
        for case in array(cases) {
            let (query, expected) = (&case[0], case[1].as_str().unwrap());
            let message = Query::parse(query, &books()).unwrap_err().to_string();
            assert!(
                message.starts_with(expected) || message.contains(expected),
                "{query}: {message:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn normalises_comparison_values() {
        let f = Filter::parse(&json!({"published": {"_eq": "1965-08-01T02:00:00+02:00"}}), &books());
        let value = json!("1965-08-01T00:00:00.000Z");
        assert_eq!(f, Ok(Filter::Cmp { field: "published".into(), op: CmpOp::Eq, value }));
        assert_eq!(ids(json!({"published": {"_in": ["1965-07-31T20:00:00-04:00"]}})), ["b1"]);
        // Float fields take any number; Json fields any value.
        assert_eq!(ids(json!({"rating": {"_eq": 5}})), ["b4"]);
        assert_eq!(ids(json!({"meta": {"_eq": {"a": 1}}})), ["b3"]);
        assert_eq!(ids(json!({"meta": {"_gt": 3}})), ["b3"]);
    }

    #[test]
    fn comparison_operators() {
        assert_eq!(ids(json!({"pages": {"_eq": 256}})), ["b2"]);
        assert_eq!(ids(json!({"pages": {"_ne": 256}})), ["b1", "b3", "b4", "b5"]);
        assert_eq!(ids(json!({"pages": {"_gt": 256}})), ["b1", "b3"]);
        assert_eq!(ids(json!({"pages": {"_ge": 256}})), ["b1", "b2", "b3"]);
        assert_eq!(ids(json!({"pages": {"_lt": 412}})), ["b2", "b5"]);
        assert_eq!(ids(json!({"pages": {"_le": 412}})), ["b1", "b2", "b5"]);
        assert_eq!(ids(json!({"pages": {"_gt": 100, "_lt": 450}})), ["b1", "b2"]);
        assert_eq!(ids(json!({"rating": {"_gt": 4.5}})), ["b4"]);
        assert_eq!(ids(json!({"rating": {"_ge": 4}})), ["b1", "b4"]);
        assert_eq!(ids(json!({"read": {"_lt": true}})), ["b2"]);
        assert_eq!(ids(json!({"title": {"_gt": "Dune"}})), ["b2", "b3", "b4"]);
        assert_eq!(ids(json!({"_id": {"_le": "b2"}})), ["b1", "b2"]);
        assert_eq!(ids(json!({"published": {"_lt": "2000-01-01T00:00:00Z"}})), ["b1"]);
    }

    #[test]
    fn null_semantics() {
        assert_eq!(ids(json!({"pages": {"_eq": null}})), ["b4"]);
        assert_eq!(ids(json!({"pages": {"_ne": null}})), ["b1", "b2", "b3", "b5"]);
        assert_eq!(ids(json!({"pages": {"_in": [null, 90]}})), ["b4", "b5"]);
        // Range comparisons never match null, even though null sorts first.
        assert_eq!(ids(json!({"pages": {"_lt": 1000}})), ["b1", "b2", "b3", "b5"]);
        assert_eq!(ids(json!({"title": {"_le": "zzz"}})), ["b1", "b2", "b3", "b4"]);
        // The negative operators are plain negations, so null matches them.
        assert_eq!(ids(json!({"title": {"_nlike": "%u%"}})), ["b3", "b5"]);
        assert_eq!(ids(json!({"pages": {"_nin": [412, 256, 474]}})), ["b4", "b5"]);
    }

    #[test]
    fn set_operators_and_lists() {
        assert_eq!(ids(json!({"pages": {"_in": [90, 474, 1]}})), ["b3", "b5"]);
        assert_eq!(ids(json!({"pages": {"_in": []}})), NONE);
        assert_eq!(ids(json!({"pages": {"_nin": []}})).len(), 5);
        assert_eq!(ids(json!({"_id": {"_in": ["b2", "b9"]}})), ["b2"]);
        // List fields compare as whole values.
        assert_eq!(ids(json!({"tags": {"_eq": ["sf", "classic"]}})), ["b1"]);
        assert_eq!(ids(json!({"tags": {"_eq": ["sf"]}})), NONE);
        assert_eq!(ids(json!({"tags": {"_in": [["romance"], ["x"]]}})), ["b3"]);
        assert_eq!(ids(json!({"tags": {"_gt": ["sf"]}})), ["b1"]);
    }

    #[test]
    fn like_operators() {
        assert_eq!(ids(json!({"title": {"_like": "Dune%"}})), ["b1", "b2"]);
        assert_eq!(ids(json!({"title": {"_like": "Dune"}})), ["b1"]);
        assert_eq!(ids(json!({"title": {"_ilike": "dune%"}})), ["b1", "b2", "b4"]);
        assert_eq!(ids(json!({"title": {"_like": "%e%"}})), ["b1", "b2", "b4"]);
        assert_eq!(ids(json!({"title": {"_nlike": "Dune%"}})), ["b3", "b4", "b5"]);
        assert_eq!(ids(json!({"title": {"_like": "E__a"}})), ["b3"]);
        assert_eq!(ids(json!({"published": {"_like": "1965-%"}})), ["b1"]);
        // Non-string values never match.
        assert_eq!(ids(json!({"meta": {"_like": "%"}})), NONE);

        let cases = json!([
            ["", "", true],
            ["", "%", true],
            ["", "_", false],
            ["", "a", false],
            ["abc", "abc", true],
            ["abc", "ab", false],
            ["abc", "abcd", false],
            ["abc", "a%", true],
            ["abc", "%c", true],
            ["abc", "%b%", true],
            ["abc", "%d%", false],
            ["abc", "a_c", true],
            ["abc", "a__c", false],
            ["abc", "___", true],
            ["abc", "%%%", true],
            ["aaab", "%a%ab", true],
            ["ab", "a%b%", true],
            ["abcbd", "a%b_", true],
            ["abcbd", "a%bc", false],
            ["mississippi", "m%iss%ppi", true],
            ["mississippi", "m%iss%ppx", false],
            ["mississippi", "%s_s%", true],
            ["naïve", "na_ve", true],
            ["100%", "100%", true],
            ["ABC", "abc", false],
            // A backslash escapes: `\%` and `\_` stand for themselves, `\\` for a backslash
            // (each doubled below, in Rust's string syntax).
            ["100%", "100\\%", true],
            ["1000", "100\\%", false],
            ["100", "100\\%", false],
            ["a_c", "a\\_c", true],
            ["abc", "a\\_c", false],
            ["a\\c", "a\\\\c", true],
            ["ac", "a\\\\c", false],
            ["x%y", "%\\%%", true],
            ["xy", "%\\%%", false],
            ["%", "\\%", true],
            ["", "\\%", false],
            ["%%", "\\%\\%", true],
            ["50%_", "%\\%\\_", true],
            ["50%x", "%\\%\\_", false],
            // As in SQL, an escaped ordinary character is itself.
            ["abc", "\\abc", true],
            ["\\abc", "\\abc", false]
        ]);
        for case in array(cases) {
            let (text, pattern) = (case[0].as_str().unwrap(), case[1].as_str().unwrap());
            assert_eq!(like(text, pattern, false), case[2] == true, "{text:?} LIKE {pattern:?}");
        }
        assert!(like("ÉCOLE", "éc%", true));
        assert!(like("Straße", "STRA_E", true));
        assert!(!like("abc", "abd", true));
        assert!(like("50% OFF", "50\\% off", true));
        assert!(!like("50 OFF", "50\\% off", true));
        assert_eq!(ids(json!({"title": {"_like": "Dune\\%"}})), NONE);
        assert_eq!(ids(json!({"title": {"_nlike": "Dune\\%"}})).len(), 5);
    }

    #[test]
    fn boolean_combinators() {
        assert_eq!(ids(json!({"_or": [{"pages": {"_lt": 100}}, {"rating": {"_gt": 4.8}}]})), ["b4", "b5"]);
        assert_eq!(ids(json!({"_and": [{"title": {"_like": "Dune%"}}, {"read": {"_eq": false}}]})), ["b2"]);
        assert_eq!(ids(json!({"_not": {"title": {"_like": "Dune%"}}})), ["b3", "b4", "b5"]);
        let nested =
            json!({"read": {"_eq": true}, "_not": {"_or": [{"pages": {"_lt": 100}}, {"tags": {"_eq": null}}]}});
        assert_eq!(ids(nested), ["b1"]);
        assert_eq!(ids(json!({"_or": []})), NONE);
        assert_eq!(ids(json!({"_and": []})).len(), 5);
        assert_eq!(ids(json!({})).len(), 5);
    }

    #[test]
    fn orders_with_nulls_multiple_keys_and_id_ties() {
        let sorted = |order: Value| {
            let q = Query::parse(&json!({ "order": order }), &books()).unwrap();
            let mut docs = library();
            docs.reverse();
            q.sort(&mut docs);
            id_list(&docs).join(" ")
        };
        assert_eq!(sorted(json!({"pages": "ASC"})), "b4 b5 b2 b1 b3");
        assert_eq!(sorted(json!({"pages": "DESC"})), "b3 b1 b2 b5 b4");
        // Bytewise: the null title first, uppercase before lowercase.
        assert_eq!(sorted(json!({"title": "asc"})), "b5 b1 b2 b3 b4");
        // read: null (b3, b4) < false (b2) < true (b1, b5).
        assert_eq!(sorted(json!([{"read": "ASC"}, {"rating": "DESC"}])), "b4 b3 b2 b1 b5");
        assert_eq!(sorted(json!([{"read": "DESC"}, {"rating": "ASC"}])), "b5 b1 b2 b3 b4");
        // Ties on every key fall back to `_id`.
        assert_eq!(sorted(json!({"read": "DESC"})), "b1 b5 b2 b3 b4");
        assert_eq!(sorted(json!(null)), "b1 b2 b3 b4 b5");
    }

    #[test]
    fn pages_and_runs() {
        let q = |v: Value| Query::parse(&v, &books()).unwrap();
        assert_eq!(q(json!({"limit": 2, "offset": 1})).page((0..5).collect()), [1, 2]);
        assert_eq!(q(json!({"offset": 3})).page((0..5).collect()), [3, 4]);
        assert_eq!(q(json!({"limit": 0})).page((0..5).collect()), [0; 0]);
        assert_eq!(q(json!({"offset": 9, "limit": 1})).page((0..5).collect()), [0; 0]);
        let query = q(json!({"filter": {"pages": {"_ne": null}}, "order": {"pages": "DESC"}, "limit": 2, "offset": 1}));
        assert_eq!(id_list(&query.run(library())), ["b1", "b2"]);
    }

    /// Scalars of every indexable kind, with the awkward cases: ints beyond
    /// 2^53 and near the i64/u64 limits, ±0, floats between ints, and strings
    /// with NUL bytes and shared prefixes.
    fn scalar_samples() -> Vec<Value> {
        let big = 1i64 << 53;
        array(json!([
            null,
            false,
            true,
            i64::MIN,
            i64::MIN + 1,
            -big - 1,
            -big,
            -1000,
            -1,
            0,
            1,
            2,
            255,
            256,
            big,
            big + 1,
            big + 2,
            i64::MAX - 1,
            i64::MAX,
            1u64 << 63,
            (1u64 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
            f64::MIN,
            -1e300,
            -9007199254740992.0,
            -1.5,
            -1.0,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            0.1,
            0.5,
            1.0,
            1.5,
            255.5,
            9007199254740992.0,
            9.223372036854776e18,
            1.8446744073709552e19,
            1e300,
            f64::MAX,
            "",
            "\u{0}",
            "\u{0}\u{0}",
            "\u{0}a",
            "\u{1}",
            "a",
            "a\u{0}",
            "a\u{0}\u{1}",
            "a\u{1}",
            "aa",
            "ab",
            "b",
            "\u{7f}",
            "é",
            "\u{10FFFF}",
            "1965-08-01T00:00:00Z"
        ]))
    }

    #[test]
    fn compare_values_is_a_total_order() {
        let mut values = scalar_samples();
        values.extend(array(json!([
            [], [null], [1], [1, 2], [1.0, 3], [2], ["a"], {}, {"a": 1}, {"a": 1, "b": 0}, {"b": 0}
        ])));
        for a in &values {
            for b in &values {
                assert_eq!(compare_values(a, b), compare_values(b, a).reverse(), "{a} vs {b}");
                for c in &values {
                    if compare_values(a, b).is_le() && compare_values(b, c).is_le() {
                        assert!(compare_values(a, c).is_le(), "{a} <= {b} <= {c}");
                    }
                }
            }
        }
        let cmp = |a: Value, b: Value| compare_values(&a, &b);
        assert!(cmp(json!(1), json!(1.0)).is_eq());
        assert!(cmp(json!(-0.0), json!(0)).is_eq());
        assert!(cmp(json!((1u64 << 53) + 1), json!(9007199254740992.0)).is_gt());
        assert!(cmp(json!(-2.5), json!(-2)).is_lt());
        assert!(cmp(json!(u64::MAX), json!(i64::MIN)).is_gt());
        assert!(cmp(json!([1, 2]), json!([1.0, 3])).is_lt());
        assert!(cmp(json!({"b": 0, "a": 1}), json!({"a": 1, "b": 0})).is_eq());
    }

    #[test]
    fn encoding_preserves_order_and_is_prefix_free() {
        let values = scalar_samples();
        for a in &values {
            let ea = encode_index_value(a).unwrap();
            for b in &values {
                let eb = encode_index_value(b).unwrap();
                assert_eq!(ea.cmp(&eb), compare_values(a, b), "{a} vs {b}: {ea:02x?} vs {eb:02x?}");
                assert!(ea == eb || !eb.starts_with(&ea), "{a} encodes to a prefix of {b}");
            }
        }
        assert_eq!(encode_index_value(&json!(3)), encode_index_value(&json!(3.0)));
        assert_eq!(encode_index_value(&json!(null)), Some(vec![0x00]));
        assert_eq!(encode_index_value(&json!("a\u{0}")), Some(vec![0x04, b'a', 0x00, 0xFF, 0x00, 0x01]));
        assert_eq!(encode_index_value(&json!([1])), None);
        assert_eq!(encode_index_value(&json!({})), None);
    }

    #[test]
    fn encoded_ranges_select_exactly_over_full_keys() {
        // Full keys as a store lays them out: prefix ++ enc(value) ++ doc id.
        let prefix = b"idx/Book/pages/".to_vec();
        let doc_ids: [&[u8]; 5] = [b"", b"\x00", b"\x01", b"bafy1", b"\xff\xff"];
        let values = scalar_samples();
        let mut index = BTreeMap::new();
        for v in &values {
            for id in doc_ids {
                index.insert([&prefix, &encode_index_value(v).unwrap(), id].concat(), v.clone());
            }
        }
        // Neighbouring key spaces must not leak in.
        index.insert(b"idx/Book/pages".to_vec(), json!("before"));
        index.insert(b"idx/Book/pages0".to_vec(), json!("after"));

        let mut bounds = vec![Bound::Unbounded];
        for v in values.iter().chain(&[json!([1]), json!({"a": 1})]) {
            bounds.extend([Bound::Included(v.clone()), Bound::Excluded(v.clone())]);
        }
        let within = |v: &Value, lower: &Bound<Value>, upper: &Bound<Value>| {
            let above = match lower {
                Bound::Unbounded => !v.is_null(),
                Bound::Included(l) => compare_values(v, l).is_ge(),
                Bound::Excluded(l) => compare_values(v, l).is_gt(),
            };
            above
                && match upper {
                    Bound::Unbounded => true,
                    Bound::Included(u) => compare_values(v, u).is_le(),
                    Bound::Excluded(u) => compare_values(v, u).is_lt(),
                }
        };
        let prefixed = |b: Bound<Vec<u8>>| match b {
            Bound::Included(k) => Bound::Included([&prefix[..], &k].concat()),
            Bound::Excluded(k) => Bound::Excluded([&prefix[..], &k].concat()),
            Bound::Unbounded => panic!("encoded_range is always bounded"),
        };
        for lower in &bounds {
            for upper in &bounds {
                let (start, end) = encoded_range(lower, upper);
                let got: Vec<_> = index.range((prefixed(start), prefixed(end))).collect();
                let want: Vec<_> =
                    index.iter().filter(|(k, v)| k.starts_with(&prefix) && within(v, lower, upper)).collect();
                assert_eq!(got, want, "{lower:?} .. {upper:?}");
            }
        }
    }

    fn plan(filter: Value) -> IndexPlan {
        Filter::parse(&filter, &books()).unwrap().plan(&books())
    }

    #[test]
    fn plans_from_the_top_level_conjunction() {
        use Bound::{Excluded, Included, Unbounded};
        let id = |ids: &[&str]| IndexPlan::Id { ids: ids.iter().map(|s| s.to_string()).collect() };
        let eq = |field: &str, values: Value| IndexPlan::Eq { field: field.into(), values: array(values) };
        let range = |field: &str, lower, upper| IndexPlan::Range { field: field.into(), lower, upper };

        assert_eq!(plan(json!({})), IndexPlan::Scan);
        assert_eq!(plan(json!({"pages": {"_eq": 1}, "_id": {"_eq": "b1"}})), id(&["b1"]));
        let nested_in = json!({"title": {"_eq": "x"}, "_and": [{"_id": {"_in": ["b2", "b1", "b2", null]}}]});
        assert_eq!(plan(nested_in), id(&["b1", "b2"]));
        assert_eq!(plan(json!({"_id": {"_eq": null}})), id(&[]));
        // `_id` ranges have no lookup: the primary store is keyed by id, not a
        // secondary index.
        assert_eq!(plan(json!({"_id": {"_gt": "a"}})), IndexPlan::Scan);

        assert_eq!(plan(json!({"pages": {"_gt": 5}, "title": {"_eq": "Dune"}})), eq("title", json!(["Dune"])));
        assert_eq!(plan(json!({"pages": {"_eq": null}})), eq("pages", json!([null])));
        assert_eq!(plan(json!({"pages": {"_in": [3, 1, 3, null]}})), eq("pages", json!([null, 1, 3])));
        let local_time = json!({"published": {"_eq": "2020-01-01T01:00:00+01:00"}});
        assert_eq!(plan(local_time), eq("published", json!(["2020-01-01T00:00:00.000Z"])));
        // Unindexed fields and negative operators never plan.
        assert_eq!(plan(json!({"rating": {"_eq": 1}, "read": {"_eq": true}})), IndexPlan::Scan);
        assert_eq!(plan(json!({"pages": {"_ne": 1}, "title": {"_nin": ["a"]}})), IndexPlan::Scan);
        assert_eq!(plan(json!({"title": {"_like": "Dune%"}})), IndexPlan::Scan);

        let several = json!({"pages": {"_gt": 100, "_le": 500, "_ge": 100, "_lt": 900}});
        assert_eq!(plan(several), range("pages", Excluded(json!(100)), Included(json!(500))));
        let split = json!({"_and": [{"pages": {"_ge": 100}}, {"pages": {"_ge": 200}}], "read": {"_eq": true}});
        assert_eq!(plan(split), range("pages", Included(json!(200)), Unbounded));
        assert_eq!(plan(json!({"title": {"_lt": "M"}})), range("title", Unbounded, Excluded(json!("M"))));
        let empty = json!({"pages": {"_gt": 5, "_lt": 3}});
        assert_eq!(plan(empty), range("pages", Excluded(json!(5)), Excluded(json!(3))));

        // Never from inside `_or` or `_not`.
        assert_eq!(plan(json!({"_or": [{"_id": {"_eq": "b1"}}, {"pages": {"_eq": 1}}]})), IndexPlan::Scan);
        assert_eq!(plan(json!({"_or": [{"title": {"_eq": "a"}}]})), IndexPlan::Scan);
        assert_eq!(plan(json!({"_not": {"pages": {"_lt": 10}}})), IndexPlan::Scan);
        let mixed = json!({"_or": [{"_id": {"_eq": "b1"}}], "pages": {"_gt": 1}});
        assert_eq!(plan(mixed), range("pages", Excluded(json!(1)), Unbounded));
    }

    #[test]
    fn plans_never_lose_a_match() {
        let def = books();
        let filters = json!([
            {"pages": {"_gt": 100, "_lt": 450}}, {"pages": {"_eq": null}}, {"pages": {"_in": [null, 90]}},
            {"title": {"_ge": "Dune", "_lt": "E"}}, {"title": {"_le": "Dune"}}, {"pages": {"_gt": 5, "_lt": 3}},
            {"_id": {"_in": ["b1", "b3"]}, "pages": {"_gt": 400}}, {"title": {"_gt": "Dune", "_le": "Dune"}}
        ]);
        for filter in array(filters) {
            let f = Filter::parse(&filter, &def).unwrap();
            let plan = f.plan(&def);
            for d in library().iter().filter(|d| f.matches(d)) {
                let key = |field: &str| encode_index_value(get(d, field)).unwrap();
                let candidate = match &plan {
                    IndexPlan::Id { ids } => ids.iter().any(|id| d["_id"] == *id),
                    IndexPlan::Eq { field, values } => values.iter().any(|v| encode_index_value(v) == Some(key(field))),
                    IndexPlan::Range { field, lower, upper } => encoded_range(lower, upper).contains(&key(field)),
                    IndexPlan::Scan => true,
                };
                assert!(candidate, "{filter}: {plan:?} loses {}", d["_id"]);
            }
        }
    }

    #[test]
    fn operator_names_round_trip() {
        for name in OPERATORS {
            assert_eq!(CmpOp::from_name(name).map(CmpOp::name), Some(name));
        }
        assert_eq!(CmpOp::from_name("_gte"), None);
    }
}
