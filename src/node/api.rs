//! The node's local HTTP API (`/api/v0/...`), which `weft client` talks to.
//!
//! Every route turns into one [`Command`] and answers the node's JSON as it
//! is. Refusals are `{"error": {"code", "message"}}` with a status by code:
//! 400 for `VALIDATION`, `SCHEMA_INVALID`, `BAD_REQUEST` and `BLOCK_INVALID`;
//! 404 for `NOT_FOUND` and `UNKNOWN_COLLECTION`; 503 once the node stopped
//! (`STOPPED`); 500 for the rest (`STORAGE`, ...).
//!
//! | route | command |
//! | --- | --- |
//! | `POST /api/v0/schema` (body: SDL) | `AddSchema` → `["Book"]` |
//! | `GET /api/v0/collections` | `ListCollections` |
//! | `POST /api/v0/collections/{name}` (body: a JSON document) | `Create` → `{"_id": id}` |
//! | `GET /api/v0/collections/{name}?filter=&order=&limit=&offset=` | `Find` → `[doc]` |
//! | `GET`, `PATCH`, `DELETE /api/v0/collections/{name}/{id}` | `Get` (404 if missing), `Update`, `Delete` |
//! | `GET /api/v0/collections/{name}/{id}/heads` | `Heads` |
//! | `GET /api/v0/p2p/info`, `/p2p/stats`, `/p2p/topics`, `/p2p/connections` | `Info`, `Stats`, `Topics`, `Connections` |
//! | `POST /api/v0/p2p/replicators` (body: `{collection, docs?, peer}`) | `SetReplicator` |
//! | `GET /api/v0/p2p/replicators` | `ListReplicators` |
//! | `DELETE /api/v0/p2p/replicators` (body: `{collection, peerId}`) | `DeleteReplicator` |
//! | `POST`, `DELETE /api/v0/p2p/collections/{name}`; `GET /api/v0/p2p/collections` | `AddP2pCollection`, `RemoveP2pCollection`, `ListP2pCollections` |
//! | `POST /api/v0/p2p/dial` (body: `{addr}`) | `Dial` |
//!
//! Bodies are read as bytes and parsed here, so a bad one is a `BAD_REQUEST`
//! that says what is wrong, whatever its `Content-Type`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::command::{Command, CommandError};
use super::handle::{NodeError, NodeHandle};

/// Binds `addr` and serves the API on the current tokio runtime until the
/// node stops. Returns once bound, so a busy port is reported at start.
pub async fn serve(addr: SocketAddr, node: NodeHandle) -> Result<(), NodeError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| NodeError::Api { addr, reason: e.to_string() })?;
    let local = listener.local_addr().unwrap_or(addr);
    // The server stops when the node drops its end of the command channel.
    let commands = node.commands.clone();
    let app = router(node);
    tokio::spawn(async move {
        let stopped = async move { commands.closed().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(addr = %local, "the API server failed: {e}");
        }
    });
    tracing::info!(addr = %local, "API listening on http://{local}");
    Ok(())
}

fn router(node: NodeHandle) -> Router {
    Router::new()
        .route("/api/v0/schema", post(add_schema))
        .route("/api/v0/collections", get(list_collections))
        .route("/api/v0/collections/{name}", get(find).post(create))
        .route("/api/v0/collections/{name}/{id}", get(get_doc).patch(update).delete(delete))
        .route("/api/v0/collections/{name}/{id}/heads", get(heads))
        .route("/api/v0/p2p/info", get(info))
        .route("/api/v0/p2p/stats", get(stats))
        .route("/api/v0/p2p/topics", get(topics))
        .route("/api/v0/p2p/connections", get(connections))
        .route("/api/v0/p2p/replicators", get(list_replicators).post(set_replicator).delete(delete_replicator))
        .route("/api/v0/p2p/collections", get(list_p2p_collections))
        .route("/api/v0/p2p/collections/{name}", post(add_p2p_collection).delete(remove_p2p_collection))
        .route("/api/v0/p2p/dial", post(dial))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(node)
}

/// A refusal as the API sends it.
#[derive(Debug)]
struct ApiError(CommandError);

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            "VALIDATION" | "SCHEMA_INVALID" | "BAD_REQUEST" | "BLOCK_INVALID" => StatusCode::BAD_REQUEST,
            "NOT_FOUND" | "UNKNOWN_COLLECTION" => StatusCode::NOT_FOUND,
            "STOPPED" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": { "code": self.0.code, "message": self.0.message } }))).into_response()
    }
}

type Answer = Result<Json<Value>, ApiError>;

async fn run(node: &NodeHandle, command: Command) -> Answer {
    Ok(Json(node.call(command).await?))
}

fn utf8(body: &Bytes, what: &str) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec())
        .map_err(|e| CommandError::bad_request(format!("the {what} is not UTF-8: {e}")).into())
}

fn json_body(body: &Bytes, what: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CommandError::bad_request(format!("the request needs a body: {what}")).into());
    }
    serde_json::from_slice(body)
        .map_err(|e| CommandError::bad_request(format!("the {what} is not valid JSON: {e}")).into())
}

/// A JSON body of a known shape; `expected` names its fields for the message.
fn typed_body<T: serde::de::DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, ApiError> {
    let value = json_body(body, "body")?;
    serde_json::from_value(value)
        .map_err(|e| CommandError::bad_request(format!("the body must be {expected}: {e}")).into())
}

async fn add_schema(State(node): State<NodeHandle>, body: Bytes) -> Answer {
    let sdl = utf8(&body, "schema")?;
    if sdl.trim().is_empty() {
        return Err(CommandError::bad_request("the request needs a body: the schema, in GraphQL SDL").into());
    }
    run(&node, Command::AddSchema { sdl }).await
}

async fn list_collections(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::ListCollections).await
}

async fn create(State(node): State<NodeHandle>, Path(collection): Path<String>, body: Bytes) -> Answer {
    let doc = json_body(&body, "document")?;
    match node.call(Command::Create { collection, doc }).await? {
        Value::String(id) => Ok(Json(json!({ "_id": id }))),
        other => Ok(Json(other)),
    }
}

/// `?filter=JSON&order=JSON&limit=N&offset=N` → the `query` of `find`.
fn find_query(params: HashMap<String, String>) -> Result<Value, ApiError> {
    let mut query = Map::new();
    for (key, raw) in params {
        let value = match key.as_str() {
            "filter" | "order" => serde_json::from_str::<Value>(&raw)
                .map_err(|e| CommandError::bad_request(format!("`{key}` is not valid JSON: {e}")))?,
            "limit" | "offset" => raw
                .trim()
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| CommandError::bad_request(format!("`{key}` must be a whole number, not `{raw}`")))?,
            _ => {
                return Err(CommandError::bad_request(format!(
                    "unknown query parameter `{key}` (expected filter, order, limit, offset)"
                ))
                .into())
            }
        };
        query.insert(key, value);
    }
    Ok(Value::Object(query))
}

async fn find(
    State(node): State<NodeHandle>,
    Path(collection): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Answer {
    let query = find_query(params)?;
    run(&node, Command::Find { collection, query }).await
}

async fn get_doc(State(node): State<NodeHandle>, Path((collection, id)): Path<(String, String)>) -> Answer {
    match node.call(Command::Get { collection: collection.clone(), id: id.clone() }).await? {
        Value::Null => {
            Err(CommandError { code: "NOT_FOUND", message: format!("no document {id} in {collection}") }.into())
        }
        doc => Ok(Json(doc)),
    }
}

async fn update(State(node): State<NodeHandle>, Path((collection, id)): Path<(String, String)>, body: Bytes) -> Answer {
    let patch = json_body(&body, "patch")?;
    run(&node, Command::Update { collection, id, patch }).await
}

async fn delete(State(node): State<NodeHandle>, Path((collection, id)): Path<(String, String)>) -> Answer {
    run(&node, Command::Delete { collection, id }).await
}

async fn heads(State(node): State<NodeHandle>, Path((collection, id)): Path<(String, String)>) -> Answer {
    run(&node, Command::Heads { collection, id }).await
}

async fn info(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::Info).await
}

async fn stats(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::Stats).await
}

async fn topics(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::Topics).await
}

async fn connections(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::Connections).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetReplicator {
    collection: String,
    #[serde(default)]
    docs: Option<Vec<String>>,
    peer: String,
}

async fn set_replicator(State(node): State<NodeHandle>, body: Bytes) -> Answer {
    let SetReplicator { collection, docs, peer } =
        typed_body(&body, r#"{"collection": "...", "docs": ["..."] (optional), "peer": "<multiaddr>"}"#)?;
    run(&node, Command::SetReplicator { collection, docs, peer }).await
}

async fn list_replicators(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::ListReplicators).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteReplicator {
    collection: String,
    #[serde(rename = "peerId")]
    peer_id: String,
}

async fn delete_replicator(State(node): State<NodeHandle>, body: Bytes) -> Answer {
    let DeleteReplicator { collection, peer_id } =
        typed_body(&body, r#"{"collection": "...", "peerId": "<peer id>"}"#)?;
    run(&node, Command::DeleteReplicator { collection, peer_id }).await
}

async fn list_p2p_collections(State(node): State<NodeHandle>) -> Answer {
    run(&node, Command::ListP2pCollections).await
}

async fn add_p2p_collection(State(node): State<NodeHandle>, Path(collection): Path<String>) -> Answer {
    run(&node, Command::AddP2pCollection { collection }).await
}

async fn remove_p2p_collection(State(node): State<NodeHandle>, Path(collection): Path<String>) -> Answer {
    run(&node, Command::RemoveP2pCollection { collection }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dial {
    addr: String,
}

async fn dial(State(node): State<NodeHandle>, body: Bytes) -> Answer {
    let Dial { addr } = typed_body(&body, r#"{"addr": "<multiaddr>"}"#)?;
    run(&node, Command::Dial { addr }).await
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError(CommandError { code: "NOT_FOUND", message: format!("no such API route: {method} {}", uri.path()) })
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    let e = CommandError { code: "BAD_REQUEST", message: format!("{method} is not allowed on {}", uri.path()) };
    let mut response = ApiError(e).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn find_query_reads_json_and_numbers() {
        let q = find_query(params(&[("filter", r#"{"pages":{"_gt":1}}"#), ("limit", "10"), ("offset", "2")])).unwrap();
        assert_eq!(q, json!({"filter": {"pages": {"_gt": 1}}, "limit": 10, "offset": 2}));
        assert_eq!(find_query(HashMap::new()).unwrap(), json!({}));
    }

    #[test]
    fn find_query_refuses_what_it_cannot_read() {
        let e = find_query(params(&[("filter", "{pages")])).err().unwrap().0;
        assert_eq!(e.code, "BAD_REQUEST");
        assert!(e.message.starts_with("`filter` is not valid JSON"), "{}", e.message);
        let e = find_query(params(&[("limit", "ten")])).err().unwrap().0;
        assert_eq!(e.message, "`limit` must be a whole number, not `ten`");
        let e = find_query(params(&[("sort", "x")])).err().unwrap().0;
        assert!(e.message.contains("unknown query parameter `sort`"), "{}", e.message);
    }

    #[test]
    fn errors_map_to_statuses() {
        let status = |code| ApiError(CommandError { code, message: String::new() }).into_response().status();
        assert_eq!(status("VALIDATION"), StatusCode::BAD_REQUEST);
        assert_eq!(status("SCHEMA_INVALID"), StatusCode::BAD_REQUEST);
        assert_eq!(status("BAD_REQUEST"), StatusCode::BAD_REQUEST);
        assert_eq!(status("BLOCK_INVALID"), StatusCode::BAD_REQUEST);
        assert_eq!(status("NOT_FOUND"), StatusCode::NOT_FOUND);
        assert_eq!(status("UNKNOWN_COLLECTION"), StatusCode::NOT_FOUND);
        assert_eq!(status("STOPPED"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("STORAGE"), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn bodies_are_checked_with_clear_messages() {
        let e = json_body(&Bytes::from_static(b"{title:"), "document").err().unwrap().0;
        assert!(e.message.starts_with("the document is not valid JSON: "), "{}", e.message);
        let e = json_body(&Bytes::from_static(b"  "), "document").err().unwrap().0;
        assert_eq!(e.message, "the request needs a body: document");
        let e = typed_body::<Dial>(&Bytes::from_static(br#"{"address":"x"}"#), "{addr}").err().unwrap().0;
        assert!(e.message.starts_with("the body must be {addr}: unknown field `address`"), "{}", e.message);
    }
}
