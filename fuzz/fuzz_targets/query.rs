//! The query parser, `core::query::Query::parse`, on any JSON text (the
//! `find` argument of the JS API and of `POST .../find`), against a fixed
//! collection with one field of each kind, then the parsed query run on a
//! few documents (fixed ones, and one per comparison holding its value).
//!
//! Checks: `_not` is the exact negation; an index plan never leaves out a
//! matching document (`Filter::plan`, `encoded_range`); index keys sort as
//! `compare_values` does and equal values share a key; `run` returns the
//! matches in query order, paged; `_like`/`_ilike` agree with a plain
//! dynamic-programming matcher, `\` escapes included.
#![no_main]

use std::cmp::Ordering;
use std::ops::RangeBounds;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use weftdb::core::query::{compare_values, encode_index_value, encoded_range, CmpOp, Filter, IndexPlan, Query};
use weftdb::core::schema::{parse_sdl, CollectionDef};

const SDL: &str = "type Book {
  title: String @index
  pages: Int @index
  rating: Float @index
  read: Boolean @index
  published: DateTime @index
  tags: [String]
  meta: JSON
}";

fn book() -> &'static CollectionDef {
    static DEF: OnceLock<CollectionDef> = OnceLock::new();
    DEF.get_or_init(|| parse_sdl(SDL).expect("the fuzz schema parses").remove(0))
}

/// Documents as `DocState::document` gives them: `_id` first, no nulls.
fn fixed_docs() -> Vec<Map<String, Value>> {
    let docs = [
        json!({"_id": "b1", "title": "Dune", "pages": 412, "rating": 4.5, "read": true,
               "published": "1965-08-01T00:00:00.000Z", "tags": ["sf", "classic"], "meta": {"a": 1}}),
        json!({"_id": "b2", "title": "100% pure_fun", "pages": 9007199254740993_i64, "rating": -0.0, "read": false}),
        json!({"_id": "b3", "title": "dUNE", "pages": -5, "rating": 1e300, "tags": [null], "meta": [1, "x"]}),
        json!({"_id": "b4"}),
        json!({"_id": "b5", "title": "", "pages": 0, "rating": 0.5, "published": "2024-05-01T12:00:00.000Z"}),
        json!({"_id": "b6", "title": "naïve ÉCOLE \u{0}\\%", "pages": i64::MIN, "rating": 9007199254740993.0,
               "meta": "Dune"}),
    ];
    docs.into_iter().map(|d| d.as_object().unwrap().clone()).collect()
}

fn cmps<'a>(f: &'a Filter, out: &mut Vec<(&'a str, CmpOp, &'a Value)>) {
    match f {
        Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|f| cmps(f, out)),
        Filter::Not(f) => cmps(f, out),
        Filter::Cmp { field, op, value } => out.push((field, *op, value)),
    }
}

fn get<'a>(doc: &'a Map<String, Value>, field: &str) -> &'a Value {
    doc.get(field).unwrap_or(&Value::Null)
}

/// Whether a plan's candidates include `doc`.
fn candidate(plan: &IndexPlan, doc: &Map<String, Value>) -> bool {
    match plan {
        IndexPlan::Scan => true,
        IndexPlan::Id { ids } => ids.iter().any(|id| Some(id.as_str()) == doc["_id"].as_str()),
        IndexPlan::Eq { field, values } => values.iter().any(|v| compare_values(v, get(doc, field)).is_eq()),
        IndexPlan::Range { field, lower, upper } => {
            let value = get(doc, field);
            let Some(mut key) = encode_index_value(value) else { return false };
            key.extend_from_slice(doc["_id"].as_str().unwrap().as_bytes());
            let (start, end) = encoded_range(lower, upper);
            let in_bytes = RangeBounds::<Vec<u8>>::contains(&(start.as_ref(), end.as_ref()), &key);
            let in_values = RangeBounds::<Value>::contains(&(lower.as_ref(), upper.as_ref()), &Ordered(value));
            assert_eq!(in_bytes, in_values && !value.is_null(), "{value} in {lower:?}..{upper:?} by bytes and values");
            in_bytes
        }
    }
}

/// A JSON value ordered by `compare_values`, for `RangeBounds::contains`.
#[derive(Debug)]
struct Ordered<'a>(&'a Value);
impl PartialEq<Value> for Ordered<'_> {
    fn eq(&self, other: &Value) -> bool {
        compare_values(self.0, other).is_eq()
    }
}
impl PartialOrd<Value> for Ordered<'_> {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(compare_values(self.0, other))
    }
}
impl PartialEq<Ordered<'_>> for Value {
    fn eq(&self, other: &Ordered<'_>) -> bool {
        compare_values(self, other.0).is_eq()
    }
}
impl PartialOrd<Ordered<'_>> for Value {
    fn partial_cmp(&self, other: &Ordered<'_>) -> Option<Ordering> {
        Some(compare_values(self, other.0))
    }
}

/// SQL LIKE by dynamic programming over characters: `%` any run, `_` one,
/// `\` makes the next character literal; a lone trailing `\` matches nothing.
fn like_reference(text: &str, pattern: &str, ignore_case: bool) -> bool {
    enum Tok {
        Run,
        One,
        Lit(char),
    }
    let mut p = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        p.push(match c {
            '%' => Tok::Run,
            '_' => Tok::One,
            '\\' => match chars.next() {
                Some(c) => Tok::Lit(c),
                None => return false,
            },
            c => Tok::Lit(c),
        });
    }
    let same = |a: char, b: char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    // m[j]: does p[..j] match the text read so far?
    let mut m = vec![false; p.len() + 1];
    m[0] = true;
    for j in 1..=p.len() {
        m[j] = m[j - 1] && matches!(p[j - 1], Tok::Run);
    }
    for c in text.chars() {
        let mut next = vec![false; p.len() + 1];
        for j in 1..=p.len() {
            next[j] = match p[j - 1] {
                Tok::Run => next[j - 1] || m[j],
                Tok::One => m[j - 1],
                Tok::Lit(pc) => m[j - 1] && same(pc, c),
            };
        }
        m = next;
    }
    m[p.len()]
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            out.push(k);
            strings(v, out)
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else { return };
    let def = book();
    let Ok(query) = Query::parse(&input, def) else { return };
    let filter = query.filter.clone().unwrap_or(Filter::And(vec![]));

    let mut found = Vec::new();
    cmps(&filter, &mut found);
    let mut docs = fixed_docs();
    for (i, (field, op, value)) in found.iter().enumerate() {
        let value = match op {
            CmpOp::In | CmpOp::Nin => value.as_array().and_then(|a| a.first()).unwrap_or(&Value::Null),
            _ => value,
        };
        let mut doc = Map::new();
        doc.insert("_id".into(), json!(format!("q{i}")));
        if !value.is_null() && *field != "_id" {
            doc.insert(field.to_string(), value.clone());
        }
        docs.push(doc);
    }

    let plan = filter.plan(def);
    let negated = Filter::Not(Box::new(filter.clone()));
    for doc in &docs {
        let hit = filter.matches(doc);
        assert_eq!(negated.matches(doc), !hit, "_not is the negation");
        if hit {
            assert!(candidate(&plan, doc), "plan {plan:?} leaves out matching {doc:?}");
        }
    }

    let matching = docs.iter().filter(|d| filter.matches(d)).count();
    let out = query.run(docs.clone());
    assert_eq!(out.len(), matching.saturating_sub(query.offset).min(query.limit.unwrap_or(usize::MAX)));
    assert!(out.iter().all(|d| filter.matches(d)));
    assert!(out.windows(2).all(|w| query.compare_docs(&w[0], &w[1]) == Ordering::Less), "sorted, ties by _id");

    // Index keys order values as compare_values does.
    let mut values: Vec<&Value> = docs.iter().flat_map(|d| d.values()).collect();
    values.extend(found.iter().map(|(_, _, v)| *v));
    values.truncate(64);
    let keyed: Vec<(&Value, Vec<u8>)> = values.iter().filter_map(|v| Some((*v, encode_index_value(v)?))).collect();
    for (a, ka) in &keyed {
        for (b, kb) in &keyed {
            let ord = compare_values(a, b);
            assert_eq!(compare_values(b, a), ord.reverse(), "{a} vs {b}");
            assert_eq!(ka.cmp(kb), ord, "index keys of {a} and {b}");
        }
    }

    // LIKE against the reference, on every string around.
    let mut texts = Vec::new();
    strings(&input, &mut texts);
    let fixed = fixed_docs();
    texts.extend(fixed.iter().filter_map(|d| d.get("title")?.as_str()));
    texts.truncate(64);
    for (_, op, pattern) in &found {
        let (CmpOp::Like | CmpOp::Nlike | CmpOp::Ilike, Some(p)) = (op, pattern.as_str()) else { continue };
        for text in &texts {
            if text.len() * p.len() > 1 << 16 {
                continue;
            }
            let doc: Map<String, Value> = json!({"_id": "t", "title": text}).as_object().unwrap().clone();
            let f = Filter::Cmp { field: "title".into(), op: *op, value: json!(p) };
            let want = like_reference(text, p, *op == CmpOp::Ilike) != (*op == CmpOp::Nlike);
            assert_eq!(f.matches(&doc), want, "{text:?} {} {p:?}", op.name());
        }
    }
});
