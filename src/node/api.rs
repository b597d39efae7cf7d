//! The node's local HTTP API (`/api/v0/...`), which `weft client` talks to.
//!
//! Every route turns into one [`Command`] and answers the node's JSON as it
//! is. Refusals are `{"error": {"code", "message"}}` with a status by code:
//! 400 for `VALIDATION`, `SCHEMA_INVALID`, `BAD_REQUEST` and `BLOCK_INVALID`;
//! 403 for `HOST_NOT_ALLOWED` and `ORIGIN_NOT_ALLOWED`; 404 for `NOT_FOUND`
//! and `UNKNOWN_COLLECTION`; 415 for `UNSUPPORTED_MEDIA_TYPE`; 503 once the
//! node stopped (`STOPPED`); 500 for the rest (`STORAGE`, ...).
//!
//! ## Who may call it
//!
//! The API has no accounts: whoever can open a connection to it may use it.
//! What it keeps out is the web pages the operator's browser shows, which
//! can all make that browser send requests to `127.0.0.1`. Before any route,
//! every request is checked (`check`):
//! 1. **`Host`** must name the address the API listens on: that IP and port
//!    (`127.0.0.1:9181`), `localhost:<port>` when it is a loopback address,
//!    and any IP literal with the port when it is unspecified (`0.0.0.0`,
//!    `[::]`); the port may be left out only for 80. Exactly one `Host`,
//!    never another name: a page that had its own name rebound to
//!    `127.0.0.1` (DNS rebinding) is same-origin with the API and sends its
//!    own name here. Else 403 `HOST_NOT_ALLOWED`.
//! 2. **`Origin`**, which browsers send on every cross-origin request and
//!    every `POST`, must be one of the allowed origins (`--allowed-origins`,
//!    none by default; `null` and `*` cannot be allowed). Else 403
//!    `ORIGIN_NOT_ALLOWED`, preflights included, with no CORS headers, so
//!    the browser neither sends the request nor shows the answer. An
//!    allowed origin gets CORS: a preflight (`OPTIONS` with
//!    `Access-Control-Request-Method`) is answered 204 with
//!    `Access-Control-Allow-Origin: <that origin>`, `-Allow-Methods: GET,
//!    POST, PATCH, DELETE`, `-Allow-Headers: content-type`, `-Max-Age: 600`
//!    and `-Allow-Private-Network: true` when asked (Chrome, for a public
//!    page reaching loopback), and every answer to it (errors too) carries
//!    `Access-Control-Allow-Origin` and `Vary: Origin`. No credentials.
//! 3. **`Content-Type`** of a write (`POST`, `PUT`, `PATCH`, and a `DELETE`
//!    with a body) must be `application/json`, and `application/graphql` for
//!    `POST /api/v0/schema`, whose body is SDL (parameters such as
//!    `; charset=utf-8` are ignored). Neither is a type an HTML form or a
//!    CORS-simple `fetch` can send, so a page's write cannot skip the
//!    preflight even in a browser that sends no `Origin`. Else 415
//!    `UNSUPPORTED_MEDIA_TYPE`, with the type to send in the message.
//!
//! Not checked: who the local caller is. Any process on the machine (or on
//! the network, with `--api` on a non-loopback address) can use the whole
//! API, and a page on an allowed origin can do all `weft client` can.
//!
//! | route | command |
//! | --- | --- |
//! | `POST /api/v0/schema` (body: SDL, `application/graphql`) | `AddSchema` → `["Book"]` |
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
//! that says what is wrong.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::command::{Command, CommandError};
use super::handle::{NodeError, NodeHandle};

/// Binds `addr` and serves the API on the current tokio runtime until the
/// node stops, to pages of `allowed_origins` only ([`parse_origin`] each).
/// Returns once bound, so a busy port or a bad origin is reported at start.
pub async fn serve(addr: SocketAddr, allowed_origins: &[String], node: NodeHandle) -> Result<(), NodeError> {
    let origins = allowed_origins
        .iter()
        .map(|o| parse_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| NodeError::Api { addr, reason })?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| NodeError::Api { addr, reason: e.to_string() })?;
    // The port bound, if `addr` asked for any.
    let local = listener.local_addr().unwrap_or(addr);
    if !origins.is_empty() {
        tracing::info!(origins = ?origins, "the API answers pages of these origins");
    }
    // The server stops when the node drops its end of the command channel.
    let commands = node.commands.clone();
    let app = router(node, Guard { listen: local, origins });
    tokio::spawn(async move {
        let stopped = async move { commands.closed().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
            tracing::error!(addr = %local, "the API server failed: {e}");
        }
    });
    tracing::info!(addr = %local, "API listening on http://{local}");
    Ok(())
}

fn router(node: NodeHandle, guard: Guard) -> Router {
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
        // After the routes and fallbacks, so that it runs before every one.
        .layer(middleware::from_fn_with_state(Arc::new(guard), check))
}

/// The media type of a write's body on every route but the schema's.
const JSON_TYPE: &str = "application/json";
/// The media type of the schema's body, GraphQL SDL.
const SDL_TYPE: &str = "application/graphql";
const SCHEMA_ROUTE: &str = "/api/v0/schema";

/// What a request must match to be answered (see the module docs).
#[derive(Debug)]
struct Guard {
    /// The address the API is bound to, with the port it got.
    listen: SocketAddr,
    /// Serialised as a browser sends them ([`parse_origin`]).
    origins: Vec<String>,
}

/// Why the API refused a request before any route saw it.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(
        "this API answers only requests to the address it listens on ({listen}), not to Host `{host}`: \
         call it by that address"
    )]
    Host { host: String, listen: SocketAddr },
    #[error(
        "this API answers no web page from {origin}; to let that page in, start the node with \
         --allowed-origins {origin}"
    )]
    Origin { origin: String },
    #[error("{method} {path} needs `Content-Type: {required}` ({what}), and this request sent {sent}")]
    MediaType { method: Method, path: String, required: &'static str, what: &'static str, sent: String },
}

impl Refusal {
    fn code(&self) -> &'static str {
        match self {
            Refusal::Host { .. } => "HOST_NOT_ALLOWED",
            Refusal::Origin { .. } => "ORIGIN_NOT_ALLOWED",
            Refusal::MediaType { .. } => "UNSUPPORTED_MEDIA_TYPE",
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> Self {
        ApiError(CommandError { code: e.code(), message: e.to_string() })
    }
}

/// A header's value as the caller sent it, cut short: it goes back in a message.
fn shown(value: &HeaderValue) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(value.as_bytes());
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

/// The checks of the module docs, in their order, around every route.
async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if let Err(e) = guard.check_host(&request) {
        tracing::info!("refused an API request: {e}");
        return ApiError::from(e).into_response();
    }
    let origin = match guard.check_origin(request.headers()) {
        Ok(origin) => origin,
        Err(e) => {
            tracing::info!("refused an API request: {e}");
            return ApiError::from(e).into_response();
        }
    };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match origin {
        Some(_) if preflight => preflight_answer(request.headers()),
        _ => match check_media_type(&request) {
            Ok(()) => next.run(request).await,
            Err(e) => ApiError::from(e).into_response(),
        },
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        // A preflight's answer names everything it varies by.
        if !preflight {
            headers.insert(header::VARY, HeaderValue::from_static("origin"));
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

impl Guard {
    fn check_host(&self, request: &Request) -> Result<(), Refusal> {
        let refuse = |host: &str| Refusal::Host { host: host.to_owned(), listen: self.listen };
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (Some(host), None) => host,
            (None, _) => return Err(refuse("(none)")),
            (Some(_), Some(_)) => return Err(refuse("(more than one)")),
        };
        if !host.to_str().is_ok_and(|h| names_listen(self.listen, h)) {
            return Err(refuse(&shown(host)));
        }
        // A request line in absolute form (`GET http://host/...`) names the
        // host a second time, and that one wins for an HTTP/1.1 server.
        match request.uri().authority() {
            Some(authority) if !names_listen(self.listen, authority.as_str()) => Err(refuse(authority.as_str())),
            _ => Ok(()),
        }
    }

    /// The request's origin if it has one and may be answered.
    fn check_origin(&self, headers: &HeaderMap) -> Result<Option<HeaderValue>, Refusal> {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (None, _) => Ok(None),
            (Some(origin), None) if self.origins.iter().any(|o| o.as_bytes() == origin.as_bytes()) => {
                Ok(Some(origin.clone()))
            }
            (Some(origin), _) => Err(Refusal::Origin { origin: shown(origin) }),
        }
    }
}

/// Whether `host` (a `Host` header: `name[:port]`) names the address the
/// API listens on: its IP literal, `localhost` for a loopback address, any
/// IP literal for an unspecified one (which every address of the machine
/// reaches); with its port, left out only for 80. Never another DNS name:
/// that is all a rebinding page can send.
fn names_listen(listen: SocketAddr, host: &str) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if port.unwrap_or(80) != listen.port() {
        return false;
    }
    let ip = listen.ip();
    if name.eq_ignore_ascii_case("localhost") {
        return ip.is_loopback() || ip.is_unspecified();
    }
    name.parse::<IpAddr>().is_ok_and(|named| named == ip || ip.is_unspecified())
}

/// `name[:port]` or `[v6][:port]`, the port all digits; `None` if malformed.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, rest) = match host.strip_prefix('[') {
        Some(bracketed) => {
            let (v6, rest) = bracketed.split_once(']')?;
            v6.parse::<Ipv6Addr>().ok()?;
            (v6, rest)
        }
        None => host.split_at(host.find(':').unwrap_or(host.len())),
    };
    let port = match rest {
        "" => None,
        _ => {
            let digits = rest.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse().ok()?)
        }
    };
    Some((name, port))
}

/// A preflight from an allowed origin: everything the routes take.
fn preflight_answer(request: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PATCH, DELETE"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    if request.get("access-control-request-private-network").is_some_and(|v| v == "true") {
        headers
            .insert(HeaderName::from_static("access-control-allow-private-network"), HeaderValue::from_static("true"));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers, \
             access-control-request-private-network",
        ),
    );
    response
}

/// A write's body must come with its type (see the module docs).
fn check_media_type(request: &Request) -> Result<(), Refusal> {
    let headers = request.headers();
    let method = request.method();
    let writes = match *method {
        Method::POST | Method::PUT | Method::PATCH => true,
        Method::DELETE => {
            headers.contains_key(header::TRANSFER_ENCODING)
                || headers.get(header::CONTENT_LENGTH).is_some_and(|n| n.as_bytes() != b"0")
        }
        _ => false,
    };
    if !writes {
        return Ok(());
    }
    let path = request.uri().path();
    let (required, what) =
        if path == SCHEMA_ROUTE { (SDL_TYPE, "the body is GraphQL SDL") } else { (JSON_TYPE, "the body is JSON") };
    let sent = headers.get(header::CONTENT_TYPE);
    let essence = sent.and_then(|t| t.to_str().ok()).map(|t| t.split(';').next().unwrap_or_default().trim());
    if essence.is_some_and(|t| t.eq_ignore_ascii_case(required)) {
        return Ok(());
    }
    let sent = match sent {
        Some(t) => format!("`{}`", shown(t)),
        None => "none".to_owned(),
    };
    Err(Refusal::MediaType { method: method.clone(), path: path.to_owned(), required, what, sent })
}

/// An origin as a browser serialises it in `Origin`: `scheme://host[:port]`,
/// scheme and host in lower case, no default port (80 for http, 443 for
/// https), no path. `HTTP://App.Example:80/` gives `http://app.example`.
/// `*` and `null` are refused: one would let in every page, the other every
/// sandboxed frame and `file:` page of any site.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let bad = |why: &str| format!("`{raw}` is not a web origin like http://localhost:3000: {why}");
    match raw {
        "*" => return Err(bad("`*` would let every web page use the API; name each origin")),
        "null" => return Err(bad("`null` is the origin of every sandboxed frame and file: page, of any site")),
        _ => {}
    }
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| bad("no scheme://"))?;
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(bad("the scheme is not one"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad("an origin has no path, query, fragment or user"));
    }
    if !rest.is_ascii() {
        return Err(bad("write the host in ASCII (xn--... for international names)"));
    }
    let (host, port) = split_host(rest).ok_or_else(|| bad("not host[:port], with a port up to 65535"))?;
    let host = match host.parse::<Ipv6Addr>() {
        Ok(v6) if rest.starts_with('[') => format!("[{v6}]"),
        _ if host.is_empty() => return Err(bad("no host")),
        _ if !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) => {
            return Err(bad("the host has characters no host name has"))
        }
        _ => host.to_ascii_lowercase(),
    };
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Ok(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
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
            "HOST_NOT_ALLOWED" | "ORIGIN_NOT_ALLOWED" => StatusCode::FORBIDDEN,
            "NOT_FOUND" | "UNKNOWN_COLLECTION" => StatusCode::NOT_FOUND,
            "UNSUPPORTED_MEDIA_TYPE" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
        assert_eq!(status("HOST_NOT_ALLOWED"), StatusCode::FORBIDDEN);
        assert_eq!(status("ORIGIN_NOT_ALLOWED"), StatusCode::FORBIDDEN);
        assert_eq!(status("UNSUPPORTED_MEDIA_TYPE"), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn a_host_must_name_the_listen_address() {
        let v4: SocketAddr = "127.0.0.1:9181".parse().unwrap();
        for ok in ["127.0.0.1:9181", "localhost:9181", "LOCALHOST:9181"] {
            assert!(names_listen(v4, ok), "{ok}");
        }
        for no in [
            "127.0.0.1",
            "127.0.0.1:9182",
            "127.0.0.1:",
            "127.0.0.1:+9181",
            "127.0.0.1:09181x",
            "[::1]:9181",
            "evil.example:9181",
            "localhost.:9181",
            "127.0.0.2:9181",
            "",
            ":9181",
        ] {
            assert!(!names_listen(v4, no), "{no}");
        }
        let v6: SocketAddr = "[::1]:9181".parse().unwrap();
        assert!(names_listen(v6, "[::1]:9181"));
        assert!(names_listen(v6, "localhost:9181"));
        assert!(!names_listen(v6, "127.0.0.1:9181"));
        assert!(!names_listen(v6, "::1:9181"));
        // Reached by any of the machine's addresses, never by a name but localhost.
        let any: SocketAddr = "0.0.0.0:9181".parse().unwrap();
        for ok in ["192.168.1.20:9181", "127.0.0.1:9181", "localhost:9181", "[fe80::1]:9181"] {
            assert!(names_listen(any, ok), "{ok}");
        }
        assert!(!names_listen(any, "nas.lan:9181"));
        assert!(!names_listen(any, "192.168.1.20:9182"));
        // Port 80 may go unsaid.
        let http: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(names_listen(http, "127.0.0.1"));
        assert!(names_listen(http, "localhost:80"));
    }

    #[test]
    fn origins_are_serialised_as_browsers_send_them() {
        let ok = |raw: &str| parse_origin(raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(ok(" HTTP://App.Example:80/ "), "http://app.example");
        assert_eq!(ok("https://app.example:443"), "https://app.example");
        assert_eq!(ok("https://app.example:8443"), "https://app.example:8443");
        assert_eq!(ok("http://[0:0::1]:3000"), "http://[::1]:3000");
        assert_eq!(ok("tauri://localhost"), "tauri://localhost");
        for bad in [
            "*",
            "null",
            "",
            "app.example",
            "http://",
            "http://app.example/app",
            "http://app.example?x",
            "http://user@app.example",
            "http://app.example:",
            "http://app.example:65536",
            "http://app example",
            "http://bücher.example",
            "1http://app.example",
        ] {
            let e = parse_origin(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(e.contains(&format!("`{}`", bad.trim())), "{e}");
        }
    }

    #[test]
    fn writes_need_their_media_type() {
        let request = |method: &str, path: &str, headers: &[(&str, &str)]| {
            let mut r = Request::builder().method(method).uri(path);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.body(axum::body::Body::empty()).unwrap()
        };
        let code = |r: Request| check_media_type(&r).err().map(|e| e.code());
        let json = ("content-type", "application/json");
        assert_eq!(code(request("POST", "/api/v0/collections/Book", &[])), Some("UNSUPPORTED_MEDIA_TYPE"));
        assert_eq!(code(request("POST", "/api/v0/collections/Book", &[json])), None);
        assert_eq!(
            code(request("PUT", "/api/v0/x", &[("content-type", "text/plain")])),
            Some("UNSUPPORTED_MEDIA_TYPE")
        );
        assert_eq!(code(request("PATCH", "/api/v0/x", &[("content-type", " application/JSON ;charset=utf-8")])), None);
        assert_eq!(code(request("POST", SCHEMA_ROUTE, &[json])), Some("UNSUPPORTED_MEDIA_TYPE"));
        assert_eq!(code(request("POST", SCHEMA_ROUTE, &[("content-type", SDL_TYPE)])), None);
        assert_eq!(code(request("GET", "/api/v0/collections", &[])), None);
        assert_eq!(code(request("DELETE", "/api/v0/x", &[])), None);
        assert_eq!(code(request("DELETE", "/api/v0/x", &[("content-length", "0")])), None);
        assert_eq!(code(request("DELETE", "/api/v0/x", &[("content-length", "2")])), Some("UNSUPPORTED_MEDIA_TYPE"));
        assert_eq!(
            code(request("DELETE", "/api/v0/x", &[("transfer-encoding", "chunked")])),
            Some("UNSUPPORTED_MEDIA_TYPE")
        );
        let e = check_media_type(&request("POST", SCHEMA_ROUTE, &[("content-type", "text/plain")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "POST /api/v0/schema needs `Content-Type: application/graphql` (the body is GraphQL SDL), \
             and this request sent `text/plain`"
        );
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
