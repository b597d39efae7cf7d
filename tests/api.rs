//! The node's local HTTP API against what a web page can make a browser
//! send it: real nodes serving their API on loopback, called with raw
//! HTTP/1.1 over a `TcpStream`, byte for byte what a browser (or an
//! attacker's page through it) writes. What a request changed is read back
//! through the node's handle, not through the API under test.
#![cfg(not(target_arch = "wasm32"))]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};
use weftdb::node::{Command, NodeConfig, NodeHandle};

const SDL: &str = "type Book { title: String @index  pages: Int }";
const EVIL: &str = "http://evil.example";
const APP: &str = "http://app.example:3000";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node on loopback serving its API on a free loopback port.
struct Node {
    handle: NodeHandle,
    api: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(allowed_origins: &[&str]) -> Node {
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
        let dir = tempfile::tempdir().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = NodeConfig {
            discovery: false,
            api: Some(api),
            allowed_origins: allowed_origins.iter().map(|o| o.to_string()).collect(),
            ..NodeConfig::loopback(dir.path())
        };
        let handle = NodeHandle::start(config).expect("node starts");
        handle.call_blocking(Command::AddSchema { sdl: SDL.into() }).expect("schema");
        Node { handle, api, _dir: dir }
    }

    fn call(&self, command: Command) -> Value {
        let what = format!("{command:?}");
        self.handle.call_blocking(command).unwrap_or_else(|e| panic!("{what}: {} {}", e.code, e.message))
    }

    fn books(&self) -> usize {
        let found = self.call(Command::Find { collection: "Book".into(), query: json!({}) });
        found.as_array().map_or(0, Vec::len)
    }

    fn replicators(&self) -> usize {
        self.call(Command::ListReplicators).as_array().map_or(0, Vec::len)
    }

    fn create_book(&self) -> String {
        let id = self.call(Command::Create { collection: "Book".into(), doc: json!({"title": "Dune", "pages": 412}) });
        id["_id"].as_str().unwrap_or_else(|| panic!("no _id in {id}")).to_owned()
    }

    /// The Host a browser sends for `http://127.0.0.1:<port>`.
    fn host(&self) -> String {
        self.api.to_string()
    }

    /// One request as given, with `Connection: close`; `head` holds the
    /// request line's method and path and every header but the length.
    fn raw(&self, head: &str, body: &str) -> Reply {
        let mut text = format!("{head}\r\nConnection: close\r\n");
        if !body.is_empty() || head.starts_with("POST") || head.starts_with("PATCH") {
            text.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        text.push_str("\r\n");
        text.push_str(body);
        let mut stream = TcpStream::connect(self.api).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(text.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        Reply::parse(&String::from_utf8(answer).expect("a UTF-8 answer"))
    }

    /// `method path HTTP/1.1` with `Host: <the API's address>` and `headers`.
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.send_to(&self.host(), method, path, headers, body)
    }

    /// [`Node::send`] with another Host.
    fn send_to(&self, host: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}");
        for (name, value) in headers {
            head.push_str(&format!("\r\n{name}: {value}"));
        }
        self.raw(&head, body)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.handle.stop();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(text: &str) -> Reply {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no end of headers in {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Reply { status, headers, body: body.to_owned() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The status and the error code of a refusal.
    fn refusal(&self) -> (u16, String) {
        let body = self.json();
        let code = body.pointer("/error/code").and_then(Value::as_str).unwrap_or_else(|| panic!("no code: {self:?}"));
        assert!(body.pointer("/error/message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "{self:?}");
        (self.status, code.to_owned())
    }
}

fn refused(status: u16, code: &str) -> (u16, String) {
    (status, code.to_owned())
}

const BOOKS: &str = "/api/v0/collections/Book";
const DOC: &str = r#"{"title":"Evil","pages":1}"#;
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn a_web_page_on_another_origin_cannot_write() {
    let node = Node::start(&[]);
    // The attack as a page makes it: a CORS-simple POST, no preflight.
    let simple = node.send("POST", BOOKS, &[("Origin", EVIL), ("Content-Type", "text/plain;charset=UTF-8")], DOC);
    assert_eq!(simple.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"));
    assert_eq!(simple.header("access-control-allow-origin"), None);
    assert_eq!(node.books(), 0, "the page created a document");
    // With the right type too (a browser would preflight first).
    let typed = node.send("POST", BOOKS, &[("Origin", EVIL), JSON], DOC);
    assert_eq!(typed.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"));
    assert_eq!(node.books(), 0, "the page created a document");
    // The preflight is refused, so the browser never sends the request.
    let preflight = node.send(
        "OPTIONS",
        BOOKS,
        &[
            ("Origin", EVIL),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    );
    assert_eq!(preflight.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"));
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    // Reads too: a page cannot look at the data.
    let read = node.send("GET", BOOKS, &[("Origin", EVIL)], "");
    assert_eq!(read.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"));
    // Sandboxed frames and file:// pages send `null`.
    let null = node.send("POST", BOOKS, &[("Origin", "null"), JSON], DOC);
    assert_eq!(null.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"));
    // An HTML form (no Origin in old browsers) cannot send JSON's type.
    for form in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"] {
        let posted = node.send("POST", BOOKS, &[("Content-Type", form)], DOC);
        assert_eq!(posted.refusal(), refused(415, "UNSUPPORTED_MEDIA_TYPE"), "{form}");
    }
    assert_eq!(node.books(), 0, "a form created a document");
}

#[test]
fn a_foreign_host_is_refused() {
    let node = Node::start(&[]);
    let port = node.api.port();
    // DNS rebinding: evil.example now resolves to 127.0.0.1; the page is
    // same-origin with the API, so the browser sends no Origin on a GET.
    let rebound = format!("evil.example:{port}");
    let read = node.send_to(&rebound, "GET", BOOKS, &[], "");
    assert_eq!(read.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    let write = node.send_to(&rebound, "POST", BOOKS, &[("Origin", &format!("http://{rebound}")), JSON], DOC);
    assert_eq!(write.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    let write = node.send_to(&rebound, "POST", BOOKS, &[JSON], DOC);
    assert_eq!(write.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    assert_eq!(node.books(), 0, "a rebound page created a document");
    // Other ports and addresses than the one the API listens on.
    for host in [
        format!("127.0.0.1:{}", port + 1),
        "127.0.0.1".to_owned(),
        format!("127.0.0.2:{port}"),
        format!("[::1]:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1:{port}@evil.example"),
        String::new(),
    ] {
        let reply = node.send_to(&host, "GET", "/api/v0/collections", &[], "");
        assert_eq!(reply.refusal(), refused(403, "HOST_NOT_ALLOWED"), "Host: {host}");
    }
    // No Host at all, and two.
    let none = node.raw("GET /api/v0/collections HTTP/1.1", "");
    assert_eq!(none.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    let two = node.raw(&format!("GET /api/v0/collections HTTP/1.1\r\nHost: {}\r\nHost: {rebound}", node.host()), "");
    assert_eq!(two.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    // The request line's absolute form names the host that counts.
    let absolute = node.raw(&format!("GET http://{rebound}/api/v0/collections HTTP/1.1\r\nHost: {}", node.host()), "");
    assert_eq!(absolute.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    let absolute = node.raw(&format!("GET http://{0}/api/v0/collections HTTP/1.1\r\nHost: {0}", node.host()), "");
    assert_eq!(absolute.status, 200, "{absolute:?}");
    // The names of the address it listens on.
    for host in [node.host(), format!("localhost:{port}"), format!("LocalHost:{port}")] {
        let reply = node.send_to(&host, "GET", "/api/v0/collections", &[], "");
        assert_eq!(reply.status, 200, "Host: {host}: {reply:?}");
    }
    let reply = node.send_to(&format!("localhost:{port}"), "POST", BOOKS, &[JSON], DOC);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(node.books(), 1);
}

#[test]
fn writes_need_the_json_content_type() {
    let node = Node::start(&[]);
    let id = node.create_book();
    let doc = format!("{BOOKS}/{id}");
    for (method, path, body) in [("POST", BOOKS, DOC), ("PATCH", doc.as_str(), r#"{"pages":1}"#)] {
        for headers in [&[][..], &[("Content-Type", "text/plain")][..], &[("Content-Type", "application/jsonx")][..]] {
            let reply = node.send(method, path, headers, body);
            assert_eq!(reply.refusal(), refused(415, "UNSUPPORTED_MEDIA_TYPE"), "{method} {headers:?}");
        }
    }
    let found = node.call(Command::Get { collection: "Book".into(), id: id.clone() });
    assert_eq!(found["pages"], 412, "a refused PATCH changed the document");
    assert_eq!(node.books(), 1, "a refused POST created a document");
    // A body-less POST is a write all the same.
    let reply = node.send("POST", "/api/v0/p2p/collections/Book", &[], "");
    assert_eq!(reply.refusal(), refused(415, "UNSUPPORTED_MEDIA_TYPE"));
    assert_eq!(node.call(Command::ListP2pCollections), json!([]));
    // JSON, its parameters and its case are accepted.
    let reply = node.send("PATCH", &doc, &[("Content-Type", "Application/JSON; charset=utf-8")], r#"{"pages":413}"#);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(node.call(Command::Get { collection: "Book".into(), id: id.clone() })["pages"], 413);
    let reply = node.send("POST", "/api/v0/p2p/collections/Book", &[JSON], "");
    assert_eq!(reply.status, 200, "{reply:?}");
    // A DELETE with no body needs no type.
    assert_eq!(node.send("DELETE", &doc, &[], "").status, 200);
    assert_eq!(node.books(), 0);
}

#[test]
fn the_schema_is_sent_as_graphql() {
    let node = Node::start(&[]);
    let sdl = "type Author { name: String }";
    for kind in [None, Some("text/plain"), Some("application/json"), Some("application/x-www-form-urlencoded")] {
        let headers: Vec<(&str, &str)> = kind.map(|k| ("Content-Type", k)).into_iter().collect();
        let reply = node.send("POST", "/api/v0/schema", &headers, sdl);
        assert_eq!(reply.refusal(), refused(415, "UNSUPPORTED_MEDIA_TYPE"), "{kind:?}");
        assert!(reply.json()["error"]["message"].as_str().unwrap().contains("application/graphql"), "{reply:?}");
    }
    let names = |n: &Node| n.call(Command::ListCollections).to_string();
    assert!(!names(&node).contains("Author"), "a refused schema was added");
    let reply = node.send("POST", "/api/v0/schema", &[("Content-Type", "application/graphql")], sdl);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), json!(["Author"]));
}

#[test]
fn the_replicator_route_is_guarded() {
    let node = Node::start(&[APP]);
    let peer = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", free_port(), libp2p::PeerId::random());
    let set = json!({ "collection": "Book", "peer": peer }).to_string();
    let path = "/api/v0/p2p/replicators";
    let rebound = format!("evil.example:{}", node.api.port());
    let own = node.host();
    let cases = [
        (own.as_str(), vec![("Origin", EVIL), ("Content-Type", "text/plain")], refused(403, "ORIGIN_NOT_ALLOWED")),
        (own.as_str(), vec![("Origin", EVIL), JSON], refused(403, "ORIGIN_NOT_ALLOWED")),
        (rebound.as_str(), vec![JSON], refused(403, "HOST_NOT_ALLOWED")),
        (own.as_str(), vec![("Content-Type", "text/plain")], refused(415, "UNSUPPORTED_MEDIA_TYPE")),
    ];
    for (host, headers, expected) in &cases {
        let reply = node.send_to(host, "POST", path, headers, &set);
        assert_eq!(reply.refusal(), *expected, "{host} {headers:?}");
    }
    assert_eq!(node.replicators(), 0, "a refused request set a replicator");
    let reply = node.send_to(&rebound, "GET", path, &[], "");
    assert_eq!(reply.refusal(), refused(403, "HOST_NOT_ALLOWED"));

    let reply = node.send("POST", path, &[JSON], &set);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(node.replicators(), 1);
    let delete = json!({ "collection": "Book", "peerId": peer.rsplit('/').next().unwrap() }).to_string();
    for (host, headers, expected) in &cases {
        let reply = node.send_to(host, "DELETE", path, headers, &delete);
        assert_eq!(reply.refusal(), *expected, "{host} {headers:?}");
    }
    assert_eq!(node.replicators(), 1, "a refused request deleted the replicator");
    let reply = node.send("DELETE", path, &[("Origin", APP), JSON], &delete);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(node.replicators(), 0);
}

#[test]
fn a_page_on_an_allowed_origin_can_use_the_api() {
    // Given as a user may write it; browsers send the serialised form.
    let node = Node::start(&["HTTP://App.Example:3000/", "https://other.example:443"]);
    let preflight = node.send(
        "OPTIONS",
        BOOKS,
        &[
            ("Origin", APP),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    );
    assert!(matches!(preflight.status, 200 | 204), "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-origin"), Some(APP));
    let methods = preflight.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{method} not in {methods}");
    }
    let allowed = preflight.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(allowed.contains("content-type"), "{allowed}");
    assert!(preflight.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")), "{preflight:?}");
    assert_eq!(preflight.header("access-control-allow-credentials"), None);

    let created = node.send("POST", BOOKS, &[("Origin", APP), JSON], DOC);
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.header("access-control-allow-origin"), Some(APP));
    assert!(created.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")), "{created:?}");
    let id = created.json()["_id"].as_str().unwrap().to_owned();
    let read = node.send("GET", &format!("{BOOKS}/{id}"), &[("Origin", APP)], "");
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.json()["title"], "Evil");
    assert_eq!(read.header("access-control-allow-origin"), Some(APP));
    // The page can read why a request was refused.
    let wrong = node.send("POST", BOOKS, &[("Origin", APP), ("Content-Type", "text/plain")], DOC);
    assert_eq!(wrong.refusal(), refused(415, "UNSUPPORTED_MEDIA_TYPE"));
    assert_eq!(wrong.header("access-control-allow-origin"), Some(APP));
    // The other allowed origin, without its default port.
    let other = node.send("GET", BOOKS, &[("Origin", "https://other.example")], "");
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(other.header("access-control-allow-origin"), Some("https://other.example"));
    // Chrome's Private Network Access: a public page asks before reaching loopback.
    let pna = node.send(
        "OPTIONS",
        BOOKS,
        &[
            ("Origin", APP),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Private-Network", "true"),
        ],
        "",
    );
    assert_eq!(pna.header("access-control-allow-private-network"), Some("true"), "{pna:?}");

    // Only those origins: a port, a scheme or a subdomain away is another.
    for origin in ["http://app.example:3001", "https://app.example:3000", "http://x.app.example:3000", EVIL] {
        let preflight =
            node.send("OPTIONS", BOOKS, &[("Origin", origin), ("Access-Control-Request-Method", "POST")], "");
        assert_eq!(preflight.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"), "{origin}");
        assert_eq!(preflight.header("access-control-allow-origin"), None, "{origin}");
        let write = node.send("POST", BOOKS, &[("Origin", origin), JSON], DOC);
        assert_eq!(write.refusal(), refused(403, "ORIGIN_NOT_ALLOWED"), "{origin}");
    }
    assert_eq!(node.books(), 1);
    // An allowed page cannot rebind either.
    let rebound = format!("evil.example:{}", node.api.port());
    let reply = node.send_to(&rebound, "POST", BOOKS, &[("Origin", APP), JSON], DOC);
    assert_eq!(reply.refusal(), refused(403, "HOST_NOT_ALLOWED"));
    assert_eq!(node.books(), 1);
}

#[test]
fn a_bad_allowed_origin_stops_the_start() {
    for bad in ["*", "null", "app.example", "http://app.example/path", "http://app.example:99999", "http://"] {
        let dir = tempfile::tempdir().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = NodeConfig {
            discovery: false,
            p2p: false,
            api: Some(api),
            allowed_origins: vec![bad.to_owned()],
            ..NodeConfig::loopback(dir.path())
        };
        match NodeHandle::start(config) {
            Ok(node) => {
                node.stop();
                panic!("started with --allowed-origins {bad}");
            }
            Err(e) => assert!(e.to_string().contains(bad), "{bad}: {e}"),
        }
    }
}

/// A double sent to the API is stored to the bit, read back as sent and
/// found by itself in a filter: serde_json without `float_roundtrip` read
/// 985.6906946328695 as ...696 (and 3e-300 as 2.9999999999999996e-300).
#[test]
fn doubles_go_through_the_api_to_the_bit() {
    let node = Node::start(&[]);
    node.call(Command::AddSchema { sdl: "type Reading { x: Float @index  list: [Float] }".into() });
    const XS: [f64; 6] = [985.6906946328695, 3e-300, 123456789.12345679, 1e23, 1.7976931348623155e308, 5e-324];
    for x in XS {
        let body = format!(r#"{{"x":{x:e},"list":[{x:e},{:e}]}}"#, -x);
        let created = node.send("POST", "/api/v0/collections/Reading", &[JSON], &body);
        assert_eq!(created.status, 200, "{created:?}");
        let id = created.json()["_id"].as_str().unwrap().to_owned();
        let stored = node.call(Command::Get { collection: "Reading".into(), id: id.clone() });
        assert_eq!(stored["x"].as_f64(), Some(x), "{body} is stored as sent");
        assert_eq!(stored["list"], json!([x, -x]), "{body}");
        let filter = format!(r#"{{"x":{{"_eq":{x:e}}}}}"#);
        let path = format!("/api/v0/collections/Reading?filter={}", percent(&filter));
        let found = node.send("GET", &path, &[], "").json();
        assert_eq!(
            found.as_array().map(|a| a.iter().map(|d| d["_id"].clone()).collect()),
            Some(vec![json!(id)]),
            "{filter}"
        );
        assert_eq!(found[0]["x"].as_f64(), Some(x), "{filter}");
    }
}

/// `s` percent-encoded for a query string.
fn percent(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
