//! The tabs' channel messages as JSON, written by hand: an object with
//! the variant's name in camelCase under `type` (`command` for a
//! [`TabCommand`]) and its fields by name, as serde's derive writes them.
//! The derive cost ~20 KB of the page's gzipped wasm (BENCHMARKS.md, "wasm
//! size"); under test it is kept as the oracle this is checked against.

use serde_json::{json, Value};

use super::{Refused, TabChange, TabCommand, TabMessage};

impl TabCommand {
    pub(super) fn to_json(&self) -> Value {
        match self {
            TabCommand::Stats => json!({ "command": "stats" }),
            TabCommand::Connections => json!({ "command": "connections" }),
            TabCommand::Dial { addr } => json!({ "command": "dial", "addr": addr }),
            TabCommand::SetReplicator { collection, docs, peer } => {
                json!({ "command": "setReplicator", "collection": collection, "docs": docs, "peer": peer })
            }
            TabCommand::ListReplicators => json!({ "command": "listReplicators" }),
            TabCommand::DeleteReplicator { collection, peer_id } => {
                json!({ "command": "deleteReplicator", "collection": collection, "peer_id": peer_id })
            }
            TabCommand::AddP2pCollection { collection } => {
                json!({ "command": "addP2pCollection", "collection": collection })
            }
            TabCommand::RemoveP2pCollection { collection } => {
                json!({ "command": "removeP2pCollection", "collection": collection })
            }
            TabCommand::ListP2pCollections => json!({ "command": "listP2pCollections" }),
        }
    }

    pub(super) fn from_json(value: Value) -> Result<TabCommand, String> {
        let mut o = Fields::of(value)?;
        Ok(match o.string("command")?.as_str() {
            "stats" => TabCommand::Stats,
            "connections" => TabCommand::Connections,
            "dial" => TabCommand::Dial { addr: o.string("addr")? },
            "setReplicator" => TabCommand::SetReplicator {
                collection: o.string("collection")?,
                docs: o.optional("docs").map(strings).transpose()?,
                peer: o.string("peer")?,
            },
            "listReplicators" => TabCommand::ListReplicators,
            "deleteReplicator" => {
                TabCommand::DeleteReplicator { collection: o.string("collection")?, peer_id: o.string("peer_id")? }
            }
            "addP2pCollection" => TabCommand::AddP2pCollection { collection: o.string("collection")? },
            "removeP2pCollection" => TabCommand::RemoveP2pCollection { collection: o.string("collection")? },
            "listP2pCollections" => TabCommand::ListP2pCollections,
            other => return Err(format!("unknown command `{other}`")),
        })
    }
}

impl TabMessage {
    /// The message as the JSON text posted on the channel.
    pub fn to_json(&self) -> String {
        let value = match self {
            TabMessage::Who => json!({ "type": "who" }),
            TabMessage::Leader { tab } => json!({ "type": "leader", "tab": tab }),
            TabMessage::Beat { tab } => json!({ "type": "beat", "tab": tab }),
            TabMessage::Here { tab } => json!({ "type": "here", "tab": tab }),
            TabMessage::Followed { tab } => json!({ "type": "followed", "tab": tab }),
            TabMessage::Call { from, id, command } => {
                json!({ "type": "call", "from": from, "id": id, "command": command.to_json() })
            }
            TabMessage::Reply { to, id, result } => {
                let result = match result {
                    Ok(value) => json!({ "Ok": value }),
                    Err(r) => json!({ "Err": { "code": r.code, "message": r.message } }),
                };
                json!({ "type": "reply", "to": to, "id": id, "result": result })
            }
            TabMessage::Committed { from, cids } => json!({ "type": "committed", "from": from, "cids": cids }),
            TabMessage::Taken { to, cids } => json!({ "type": "taken", "to": to, "cids": cids }),
            TabMessage::Event { event, data } => json!({ "type": "event", "event": event, "data": data }),
            // Written straight out, not built as a `Value` first: a merge
            // posts one per change, and a catch-up merges thousands.
            TabMessage::Changed { collection, id, kind, doc } => {
                return format!(r#"{{"type":"changed",{}}}"#, change_fields(collection, id, kind, doc));
            }
            TabMessage::Changes { changes } => {
                let mut text = String::from(r#"{"type":"changes","changes":["#);
                for (i, c) in changes.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push('{');
                    text.push_str(&change_fields(&c.collection, &c.id, &c.kind, &c.doc));
                    text.push('}');
                }
                text.push_str("]}");
                return text;
            }
        };
        value.to_string()
    }

    /// A message read from the channel's JSON text; what is wrong with it
    /// if it is not one.
    pub fn from_json(text: &str) -> Result<TabMessage, String> {
        Self::from_value(serde_json::from_str(text).map_err(|e| e.to_string())?)
    }

    /// [`TabMessage::from_json`] of the text already parsed (a page parses
    /// one that holds doubles in JS, to the bit: `wasm::json_exact`).
    pub fn from_value(value: Value) -> Result<TabMessage, String> {
        let mut o = Fields::of(value)?;
        Ok(match o.string("type")?.as_str() {
            "who" => TabMessage::Who,
            "leader" => TabMessage::Leader { tab: o.u64("tab")? },
            "beat" => TabMessage::Beat { tab: o.u64("tab")? },
            "here" => TabMessage::Here { tab: o.u64("tab")? },
            "followed" => TabMessage::Followed { tab: o.u64("tab")? },
            "call" => TabMessage::Call {
                from: o.u64("from")?,
                id: o.u64("id")?,
                command: TabCommand::from_json(o.take("command")?)?,
            },
            "reply" => TabMessage::Reply { to: o.u64("to")?, id: o.u64("id")?, result: result(o.take("result")?)? },
            "committed" => TabMessage::Committed { from: o.u64("from")?, cids: strings(o.take("cids")?)? },
            "taken" => TabMessage::Taken { to: o.u64("to")?, cids: strings(o.take("cids")?)? },
            "event" => TabMessage::Event { event: o.string("event")?, data: o.take("data")? },
            "changed" => TabMessage::Changed {
                collection: o.string("collection")?,
                id: o.string("id")?,
                kind: o.string("kind")?,
                doc: o.optional("doc"),
            },
            "changes" => {
                let Value::Array(list) = o.take("changes")? else { return Err("`changes` is not a list".into()) };
                let changes = list.into_iter().map(TabChange::from_json).collect::<Result<_, _>>()?;
                TabMessage::Changes { changes }
            }
            other => return Err(format!("unknown message type `{other}`")),
        })
    }
}

impl TabChange {
    fn from_json(value: Value) -> Result<TabChange, String> {
        let mut o = Fields::of(value)?;
        Ok(TabChange {
            collection: o.string("collection")?,
            id: o.string("id")?,
            kind: o.string("kind")?,
            doc: o.optional("doc"),
        })
    }
}

/// The fields of a JSON object being read into a message.
struct Fields(serde_json::Map<String, Value>);

impl Fields {
    fn of(value: Value) -> Result<Fields, String> {
        match value {
            Value::Object(o) => Ok(Fields(o)),
            _ => Err("not a JSON object".into()),
        }
    }

    fn take(&mut self, name: &str) -> Result<Value, String> {
        self.0.remove(name).ok_or_else(|| format!("missing field `{name}`"))
    }

    /// A field that may be missing or null (an `Option`'s `None`).
    fn optional(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &str) -> Result<String, String> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            _ => Err(format!("`{name}` is not a string")),
        }
    }

    fn u64(&mut self, name: &str) -> Result<u64, String> {
        self.take(name)?.as_u64().ok_or_else(|| format!("`{name}` is not an unsigned integer"))
    }
}

fn strings(value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::Array(a) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err("a list item is not a string".to_string()),
            })
            .collect(),
        _ => Err("not a list".into()),
    }
}

/// A `Result` as serde writes it: `{"Ok": value}` or `{"Err": {"code", "message"}}`.
fn result(value: Value) -> Result<Result<Value, Refused>, String> {
    let mut o = Fields::of(value)?;
    if o.0.len() != 1 {
        return Err("a result is one of `Ok` or `Err`".into());
    }
    if let Ok(value) = o.take("Ok") {
        return Ok(Ok(value));
    }
    let mut e = Fields::of(o.take("Err")?)?;
    Ok(Err(Refused { code: e.string("code")?, message: e.string("message")? }))
}

/// A change's fields as JSON, without the braces.
fn change_fields(collection: &str, id: &str, kind: &str, doc: &Option<Value>) -> String {
    let text = |s: &str| Value::from(s).to_string();
    let doc = doc.as_ref().map_or_else(|| "null".into(), Value::to_string);
    format!(r#""collection":{},"id":{},"kind":{},"doc":{doc}"#, text(collection), text(id), text(kind))
}
