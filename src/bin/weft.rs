//! `weft`: start a weftdb node, or talk to a running one.
//!
//! ```text
//! weft start [--store DIR] [--p2paddr MULTIADDR,...] [--peers MULTIADDR,...] [--no-p2p] [--no-pubsub] [--no-mdns]
//!            [--api 127.0.0.1:9181] [--relay-max-circuits N] [--relay-max-circuit-duration SECS]
//!            [--relay-max-circuit-bytes N] [--relay-max-circuits-per-peer N]
//!            [--relay-max-reservations-per-peer N] [--doc-topics N] [--allowed-origins ORIGIN,...]
//! weft client [--api ADDR] schema add 'SDL' | -f FILE
//! weft client collection list
//! weft client doc create|get|update|delete|list|heads ...
//! weft client p2p info|stats|topics|connections|dial
//! weft client p2p replicator set -c COLLECTION [--doc ID ...] PEER_MULTIADDR | list | delete -c COLLECTION PEER_ID
//! weft client p2p collection add|remove COLLECTION[,...] | list
//! ```
//!
//! Exit codes: 0 done, 1 the node refused or cannot be reached, 2 bad usage
//! (including JSON and multiaddr arguments, checked before anything is sent).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::Read;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Duration;

    use clap::{Args, Parser, Subcommand};
    use libp2p::multiaddr::Protocol;
    use libp2p::{Multiaddr, PeerId};
    use serde_json::{json, Value};
    use weftdb::core::query::json_kind;
    use weftdb::node::{Command, NodeConfig, NodeHandle};

    const DEFAULT_API: &str = "127.0.0.1:9181";

    #[derive(Parser)]
    #[command(
        name = "weft",
        version,
        about = "weftdb's native node: a local-first document database that replicates over libp2p",
        propagate_version = true
    )]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    const POLICIES: &str = "Write policies: a collection says in its SDL who may write it, and every \
node and page enforces it on every block, its own writes included:
  type Note @policy(writers: \"owner\") { text: String }   only a document's creator changes or deletes it
  type Log @policy(writers: [\"<64 hex digits>\", ...]) { line: String }   only these keys write
  (no @policy: anyone). Refused writes fail with UNAUTHORIZED; refused blocks from peers are dropped.
A node's own key is authorKey in `weft client p2p info`.";

    #[derive(Subcommand)]
    enum Top {
        /// Start a node: the database, its p2p network and the local HTTP API
        #[command(after_help = POLICIES)]
        Start(Box<StartArgs>),
        /// Talk to a running node through its HTTP API
        Client(ClientArgs),
    }

    #[derive(Args)]
    struct StartArgs {
        /// Directory of the node's data [default: ~/.weft]
        #[arg(long, value_name = "DIR", alias = "rootdir")]
        store: Option<PathBuf>,
        /// Addresses to listen on for p2p, comma-separated
        /// [default: /ip4/0.0.0.0/tcp/9171,/ip4/0.0.0.0/udp/9171/quic-v1]
        #[arg(long, value_name = "MULTIADDR,...", value_delimiter = ',')]
        p2paddr: Vec<String>,
        /// Peers to connect to at start, comma-separated (each ending in /p2p/PEER_ID)
        #[arg(long, value_name = "MULTIADDR,...", value_delimiter = ',')]
        peers: Vec<String>,
        /// Run the database with no network at all
        #[arg(long)]
        no_p2p: bool,
        /// Do not replicate passively over pubsub (replicators still push)
        #[arg(long)]
        no_pubsub: bool,
        /// Do not discover peers on the local network with mDNS
        #[arg(long)]
        no_mdns: bool,
        /// Address of the local HTTP API. It answers only requests whose Host names this address
        /// (or localhost, for a loopback one): keep it on loopback, anyone who reaches it can use it
        #[arg(long, value_name = "ADDR", env = "WEFT_API", default_value = DEFAULT_API, value_parser = parse_api_socket)]
        api: SocketAddr,
        /// Web origins whose pages may use the HTTP API, comma-separated, e.g.
        /// http://localhost:3000,https://app.example; the API refuses every other page
        /// (any request with another Origin) [default: none]
        #[arg(long, value_name = "ORIGIN,...", value_delimiter = ',', value_parser = origin_arg)]
        allowed_origins: Vec<String>,
        /// Circuits the relay server carries at once [default: 256]
        #[arg(long, value_name = "N")]
        relay_max_circuits: Option<usize>,
        /// Longest life of a relayed circuit, in seconds [default: 86400]
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..u32::MAX as u64))]
        relay_max_circuit_duration: Option<u64>,
        /// Bytes a relayed circuit may carry; 0 means no limit [default: 0]
        #[arg(long, value_name = "N")]
        relay_max_circuit_bytes: Option<u64>,
        /// Circuits the relay server carries at once for one peer [default: 16]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        relay_max_circuits_per_peer: Option<u64>,
        /// Relay reservations one peer may hold at once [default: 4]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        relay_max_reservations_per_peer: Option<u64>,
        /// Per-document pubsub topics the node holds (the most recently used), at most 2048 [default: 1000]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=weftdb::net::MAX_DOC_TOPICS as u64))]
        doc_topics: Option<u64>,
    }

    #[derive(Args)]
    struct ClientArgs {
        /// Address of the node's HTTP API
        #[arg(long, value_name = "ADDR", env = "WEFT_API", default_value = DEFAULT_API, global = true)]
        api: String,
        #[command(subcommand)]
        command: ClientCmd,
    }

    #[derive(Subcommand)]
    enum ClientCmd {
        /// Manage the schema (GraphQL SDL)
        #[command(subcommand)]
        Schema(SchemaCmd),
        /// List the collections and their fields
        #[command(subcommand)]
        Collection(CollectionCmd),
        /// Create, read, update, delete and find documents
        #[command(subcommand)]
        Doc(DocCmd),
        /// The node's p2p network: identity, replicators, replicated collections
        #[command(subcommand)]
        P2p(P2pCmd),
    }

    #[derive(Subcommand)]
    enum SchemaCmd {
        /// Add types to the schema; prints the new collections
        #[command(after_help = POLICIES)]
        Add {
            /// The schema, e.g. 'type Book { title: String! @index pages: Int }'
            #[arg(value_name = "SDL", required_unless_present = "file", conflicts_with = "file")]
            sdl: Option<String>,
            /// Read the schema from FILE ('-' for standard input)
            #[arg(short = 'f', long = "file", value_name = "FILE")]
            file: Option<PathBuf>,
        },
    }

    #[derive(Subcommand)]
    enum CollectionCmd {
        /// List the collections and their fields
        List,
    }

    #[derive(Subcommand)]
    enum DocCmd {
        /// Create a document; prints its id
        Create {
            /// The collection, e.g. Book
            collection: String,
            /// The document, a JSON object ('-' reads it from standard input)
            #[arg(value_name = "JSON")]
            doc: String,
        },
        /// Print a document
        Get {
            /// The collection, e.g. Book
            collection: String,
            /// The document's id (as `doc create` printed it)
            id: String,
        },
        /// Change some fields of a document
        Update {
            /// The collection, e.g. Book
            collection: String,
            /// The document's id (as `doc create` printed it)
            id: String,
            /// The fields to change, a JSON object ('-' reads it from standard input)
            #[arg(value_name = "JSON")]
            patch: String,
        },
        /// Delete a document
        Delete {
            /// The collection, e.g. Book
            collection: String,
            /// The document's id (as `doc create` printed it)
            id: String,
        },
        /// Find documents
        List {
            /// The collection, e.g. Book
            collection: String,
            /// A filter, e.g. '{"pages": {"_gt": 100}}'
            #[arg(long, value_name = "JSON")]
            filter: Option<String>,
            /// An order, e.g. '{"title": "ASC"}'
            #[arg(long, value_name = "JSON")]
            order: Option<String>,
            /// At most N documents
            #[arg(long, value_name = "N")]
            limit: Option<u64>,
            /// Skip the first N documents
            #[arg(long, value_name = "N")]
            offset: Option<u64>,
        },
        /// Print a document's heads (CIDs)
        Heads {
            /// The collection, e.g. Book
            collection: String,
            /// The document's id (as `doc create` printed it)
            id: String,
        },
    }

    #[derive(Subcommand)]
    enum P2pCmd {
        /// The node's peer id and listen addresses
        Info,
        /// Replication counters
        Stats,
        /// The pubsub topics the node holds
        Topics,
        /// Open connections: peer, address, transport (tcp, quic, relay, ...)
        Connections,
        /// Connect to a peer
        Dial {
            /// The peer's address, e.g. /ip4/127.0.0.1/tcp/9171/p2p/12D3KooW...
            #[arg(value_name = "MULTIADDR")]
            addr: String,
        },
        /// Peers this node pushes its changes to
        #[command(subcommand)]
        Replicator(ReplicatorCmd),
        /// Collections replicated passively over pubsub
        #[command(subcommand)]
        Collection(P2pCollectionCmd),
    }

    #[derive(Subcommand)]
    enum ReplicatorCmd {
        /// Push a collection (or some of its documents) to a peer
        Set {
            /// Collections to push, comma-separated
            #[arg(short = 'c', long = "collection", value_name = "COLLECTION", value_delimiter = ',', required = true)]
            collections: Vec<String>,
            /// Push only these documents (repeat or comma-separate)
            #[arg(long = "doc", value_name = "ID", value_delimiter = ',')]
            docs: Vec<String>,
            /// The peer's address, ending in /p2p/PEER_ID (see `weft client p2p info`)
            #[arg(value_name = "PEER_MULTIADDR")]
            peer: String,
        },
        /// List the replicators
        #[command(alias = "getall")]
        List,
        /// Stop pushing a collection to a peer
        Delete {
            /// Collections, comma-separated
            #[arg(short = 'c', long = "collection", value_name = "COLLECTION", value_delimiter = ',', required = true)]
            collections: Vec<String>,
            /// The peer's id (or an address ending in /p2p/PEER_ID)
            #[arg(value_name = "PEER_ID")]
            peer: String,
        },
    }

    #[derive(Subcommand)]
    enum P2pCollectionCmd {
        /// Replicate collections over pubsub
        Add {
            /// Collections, comma-separated
            #[arg(value_name = "COLLECTION", value_delimiter = ',', required = true)]
            collections: Vec<String>,
        },
        /// Stop replicating collections over pubsub
        Remove {
            /// Collections, comma-separated
            #[arg(value_name = "COLLECTION", value_delimiter = ',', required = true)]
            collections: Vec<String>,
        },
        /// List the collections replicated over pubsub
        List,
    }

    /// Why a command failed, and so its exit code.
    enum Failure {
        /// Bad arguments: exit 2.
        Usage(String),
        /// The node refused, or is not there: exit 1.
        Runtime(String),
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Top::Start(args) => start(*args),
            Top::Client(args) => client(args),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(message)) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            Err(Failure::Runtime(message)) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
        }
    }

    /// `127.0.0.1:9181`, also written `http://127.0.0.1:9181/`.
    fn api_host(raw: &str) -> Result<&str, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("https://") {
            return Err(format!("the API is plain HTTP: use http://{rest} or just the address"));
        }
        let host = raw.strip_prefix("http://").unwrap_or(raw).trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!("`{raw}` is not an address like {DEFAULT_API}"));
        }
        Ok(host)
    }

    fn parse_api_socket(raw: &str) -> Result<SocketAddr, String> {
        let host = api_host(raw)?;
        host.parse().map_err(|_| format!("`{raw}` is not an IP address and port like {DEFAULT_API}"))
    }

    /// An origin of `--allowed-origins`; blanks (`--allowed-origins ""`) allow nothing.
    fn origin_arg(raw: &str) -> Result<String, String> {
        if raw.trim().is_empty() {
            return Ok(String::new());
        }
        weftdb::node::api::parse_origin(raw)
    }

    fn multiaddrs(flag: &str, raw: &[String]) -> Result<Vec<Multiaddr>, Failure> {
        raw.iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<Multiaddr>().map_err(|e| {
                    Failure::Usage(format!("{flag}: `{s}` is not a multiaddr ({e}), e.g. /ip4/127.0.0.1/tcp/9171"))
                })
            })
            .collect()
    }

    fn default_store() -> Result<PathBuf, Failure> {
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".weft")),
            None => Err(Failure::Usage("HOME is not set: say where to store with --store DIR".into())),
        }
    }

    fn start(args: StartArgs) -> Result<(), Failure> {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();

        let store = match args.store {
            Some(dir) => dir,
            None => default_store()?,
        };
        let mut config = NodeConfig::new(&store);
        let listen = multiaddrs("--p2paddr", &args.p2paddr)?;
        if !listen.is_empty() {
            config.listen = listen;
        }
        config.peers = multiaddrs("--peers", &args.peers)?;
        config.p2p = !args.no_p2p;
        config.pubsub = !args.no_pubsub;
        config.mdns = !args.no_mdns;
        config.api = Some(args.api);
        config.allowed_origins = args.allowed_origins.into_iter().filter(|o| !o.is_empty()).collect();
        if let Some(n) = args.relay_max_circuits {
            config.relay.max_circuits = n;
        }
        if let Some(secs) = args.relay_max_circuit_duration {
            config.relay.max_circuit_duration = Duration::from_secs(secs);
        }
        if let Some(bytes) = args.relay_max_circuit_bytes {
            config.relay.max_circuit_bytes = bytes;
        }
        if let Some(n) = args.relay_max_circuits_per_peer {
            config.relay.max_circuits_per_peer = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = args.relay_max_reservations_per_peer {
            config.relay.max_reservations_per_peer = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = args.doc_topics {
            config.doc_topics = usize::try_from(n).unwrap_or(usize::MAX);
        }

        std::fs::create_dir_all(&store)
            .map_err(|e| Failure::Runtime(format!("cannot create the store directory {}: {e}", store.display())))?;
        tracing::info!(store = %store.display(), "starting the node");
        let node = NodeHandle::start(config).map_err(|e| Failure::Runtime(e.to_string()))?;

        if args.no_p2p {
            tracing::info!("p2p is off (--no-p2p)");
            note("p2p: off");
        } else {
            let addrs: Vec<String> = node.addrs().iter().map(ToString::to_string).collect();
            tracing::info!(PeerId = %node.peer_id(), Address = ?addrs, "Created LibP2P host");
            note(&format!("peer id: {}", node.peer_id()));
            for addr in &addrs {
                note(&format!("listening on {addr}"));
            }
        }
        note(&format!("api: http://{}", args.api));

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Runtime(format!("cannot start a runtime: {e}")))?;
        let why = runtime.block_on(wait_for_the_end(&node));
        match why {
            End::Signal(name) => {
                tracing::info!("{name}: stopping the node");
                node.stop();
                tracing::info!("node stopped");
                Ok(())
            }
            End::NodeStopped => {
                node.stop();
                Err(Failure::Runtime("the node stopped on its own (see the log above)".into()))
            }
        }
    }

    enum End {
        Signal(&'static str),
        NodeStopped,
    }

    /// Ctrl-C, SIGTERM, or the node's own end (noticed by asking it every few seconds).
    async fn wait_for_the_end(node: &NodeHandle) -> End {
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if let Err(e) = node.call(Command::Info).await {
                    if e.code == "STOPPED" {
                        return End::NodeStopped;
                    }
                }
            }
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => End::Signal("interrupted"),
            _ = term => End::Signal("terminated"),
            end = watch => end,
        }
    }

    /// The HTTP API of a running node.
    struct Api {
        base: String,
        agent: ureq::Agent,
    }

    enum Method {
        Get,
        Post,
        Patch,
        Delete,
    }

    /// A request's body and so its `Content-Type`, which the node requires.
    enum Body {
        Json(String),
        /// GraphQL SDL, for `POST schema`.
        Sdl(String),
    }

    impl Body {
        fn typed(self) -> (&'static str, String) {
            match self {
                Body::Json(text) => ("application/json", text),
                Body::Sdl(text) => ("application/graphql", text),
            }
        }
    }

    /// A path segment, percent-encoded.
    fn seg(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    impl Api {
        fn new(raw: &str) -> Result<Api, Failure> {
            let host = api_host(raw).map_err(|e| Failure::Usage(format!("--api: {e}")))?;
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                // Only ever the local node: never a proxy from the environment.
                .proxy(None)
                .max_redirects(0)
                .timeout_connect(Some(Duration::from_secs(5)))
                .build();
            Ok(Api { base: format!("http://{host}"), agent: config.into() })
        }

        fn not_answering(&self) -> Failure {
            Failure::Runtime(format!("no weft node is answering at {} (start one with `weft start`)", self.base))
        }

        fn call(
            &self,
            method: Method,
            path: &str,
            query: &[(&str, String)],
            body: Option<Body>,
        ) -> Result<Value, Failure> {
            let url = format!("{}/api/v0/{path}", self.base);
            // A write with no body is still typed: the node refuses untyped writes.
            let (kind, text) = body.map(Body::typed).unzip();
            let (kind, text) = (kind.unwrap_or("application/json"), text.unwrap_or_default());
            let result = match method {
                Method::Get => {
                    let mut req = self.agent.get(&url);
                    for (k, v) in query {
                        req = req.query(k, v);
                    }
                    req.call()
                }
                Method::Delete if text.is_empty() => self.agent.delete(&url).call(),
                Method::Delete => self.agent.delete(&url).force_send_body().content_type(kind).send(text),
                Method::Post => self.agent.post(&url).content_type(kind).send(text),
                Method::Patch => self.agent.patch(&url).content_type(kind).send(text),
            };
            let mut response = match result {
                Ok(r) => r,
                Err(e) => return Err(self.transport_failure(e)),
            };
            let status = response.status();
            let text =
                response.body_mut().with_config().limit(u64::MAX).read_to_string().map_err(|e| {
                    Failure::Runtime(format!("cannot read the answer of the node at {}: {e}", self.base))
                })?;
            let value: Option<Value> = serde_json::from_str(&text).ok();
            if status.is_success() {
                return value.ok_or_else(|| {
                    Failure::Runtime(format!(
                        "the node at {} answered something that is not JSON: {}",
                        self.base,
                        first_line(&text)
                    ))
                });
            }
            let message = value
                .as_ref()
                .and_then(|v| v.pointer("/error/message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the node answered HTTP {status}: {}", first_line(&text)));
            Err(Failure::Runtime(message))
        }

        fn transport_failure(&self, e: ureq::Error) -> Failure {
            use std::io::ErrorKind;
            match &e {
                ureq::Error::Io(io)
                    if matches!(
                        io.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::AddrNotAvailable
                            | ErrorKind::TimedOut
                            | ErrorKind::NotFound
                            | ErrorKind::HostUnreachable
                            | ErrorKind::NetworkUnreachable
                    ) =>
                {
                    self.not_answering()
                }
                ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Timeout(_) => {
                    self.not_answering()
                }
                _ => Failure::Runtime(format!("cannot talk to the weft node at {}: {e}", self.base)),
            }
        }

        fn get(&self, path: &str) -> Result<Value, Failure> {
            self.call(Method::Get, path, &[], None)
        }

        fn post(&self, path: &str, body: String) -> Result<Value, Failure> {
            self.call(Method::Post, path, &[], Some(Body::Json(body)))
        }
    }

    fn first_line(text: &str) -> &str {
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            "(an empty body)"
        } else {
            line
        }
    }

    /// A line of a client's answer. A reader that went away (`| head`) ends
    /// the command quietly.
    fn say(line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the answer: {e}");
            std::process::exit(1);
        }
    }

    /// A line of `weft start`'s report: the node keeps running if no one reads it.
    fn note(line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }

    fn print(value: &Value) {
        say(&serde_json::to_string_pretty(value).expect("JSON values serialise"));
    }

    /// Prints an answer unless it says nothing.
    fn print_some(value: &Value) {
        if !value.is_null() {
            print(value);
        }
    }

    fn read_input(path: &std::path::Path, what: &str) -> Result<String, Failure> {
        if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::Usage(format!("cannot read the {what} from standard input: {e}")))?;
            Ok(s)
        } else {
            std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
        }
    }

    /// A JSON object argument, checked before it is sent.
    fn json_object(raw: &str, what: &str) -> Result<String, Failure> {
        let text = if raw == "-" { read_input(std::path::Path::new("-"), what)? } else { raw.to_owned() };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(_)) => Ok(text),
            Ok(other) => Err(Failure::Usage(format!("the {what} must be a JSON object, not {}", json_kind(&other)))),
            Err(e) => Err(Failure::Usage(format!("the {what} is not valid JSON: {e}"))),
        }
    }

    fn json_arg(raw: &str, flag: &str) -> Result<String, Failure> {
        serde_json::from_str::<Value>(raw).map_err(|e| Failure::Usage(format!("{flag} is not valid JSON: {e}")))?;
        Ok(raw.to_owned())
    }

    /// A replicator's peer: a multiaddr ending in `/p2p/<id>`, or a bare peer id.
    fn peer_address(raw: &str) -> Result<String, Failure> {
        let raw = raw.trim();
        if raw.parse::<PeerId>().is_ok() {
            return Ok(raw.to_owned());
        }
        let addr: Multiaddr = raw.parse().map_err(|e| {
            Failure::Usage(format!(
                "`{raw}` is not a multiaddr ({e}); give the peer's address as `weft client p2p info` prints it, \
                 e.g. /ip4/127.0.0.1/tcp/9171/p2p/12D3KooW..."
            ))
        })?;
        if !addr.iter().any(|p| matches!(p, Protocol::P2p(_))) {
            return Err(Failure::Usage(format!(
                "`{raw}` has no /p2p/<peer id>; give the peer's address as `weft client p2p info` prints it"
            )));
        }
        Ok(addr.to_string())
    }

    /// A peer id, or the id at the end of a multiaddr.
    fn peer_id(raw: &str) -> Result<String, Failure> {
        let raw = raw.trim();
        if let Ok(id) = raw.parse::<PeerId>() {
            return Ok(id.to_string());
        }
        let id = raw.parse::<Multiaddr>().ok().and_then(|a| {
            a.iter().find_map(|p| match p {
                Protocol::P2p(id) => Some(id),
                _ => None,
            })
        });
        id.map(|id| id.to_string()).ok_or_else(|| {
            Failure::Usage(format!("`{raw}` is not a peer id (12D3KooW...) nor an address ending in one"))
        })
    }

    fn client(args: ClientArgs) -> Result<(), Failure> {
        let api = Api::new(&args.api)?;
        match args.command {
            ClientCmd::Schema(SchemaCmd::Add { sdl, file }) => {
                let sdl = match (sdl, file) {
                    (Some(sdl), _) => sdl,
                    (None, Some(file)) => read_input(&file, "schema")?,
                    (None, None) => unreachable!("clap requires one"),
                };
                if sdl.trim().is_empty() {
                    return Err(Failure::Usage("the schema is empty".into()));
                }
                print(&api.call(Method::Post, "schema", &[], Some(Body::Sdl(sdl)))?);
            }
            ClientCmd::Collection(CollectionCmd::List) => print(&api.get("collections")?),
            ClientCmd::Doc(cmd) => doc(&api, cmd)?,
            ClientCmd::P2p(cmd) => p2p(&api, cmd)?,
        }
        Ok(())
    }

    fn doc(api: &Api, cmd: DocCmd) -> Result<(), Failure> {
        match cmd {
            DocCmd::Create { collection, doc } => {
                let body = json_object(&doc, "document")?;
                let answer = api.post(&format!("collections/{}", seg(&collection)), body)?;
                match answer.get("_id").or_else(|| answer.get("id")).unwrap_or(&answer) {
                    Value::String(id) => say(id),
                    _ => print(&answer),
                }
            }
            DocCmd::Get { collection, id } => {
                print(&api.get(&format!("collections/{}/{}", seg(&collection), seg(&id)))?)
            }
            DocCmd::Update { collection, id, patch } => {
                let body = json_object(&patch, "patch")?;
                let path = format!("collections/{}/{}", seg(&collection), seg(&id));
                print_some(&api.call(Method::Patch, &path, &[], Some(Body::Json(body)))?);
            }
            DocCmd::Delete { collection, id } => {
                let path = format!("collections/{}/{}", seg(&collection), seg(&id));
                print_some(&api.call(Method::Delete, &path, &[], None)?);
            }
            DocCmd::List { collection, filter, order, limit, offset } => {
                let mut query = Vec::new();
                if let Some(f) = filter {
                    query.push(("filter", json_arg(&f, "--filter")?));
                }
                if let Some(o) = order {
                    query.push(("order", json_arg(&o, "--order")?));
                }
                if let Some(n) = limit {
                    query.push(("limit", n.to_string()));
                }
                if let Some(n) = offset {
                    query.push(("offset", n.to_string()));
                }
                print(&api.call(Method::Get, &format!("collections/{}", seg(&collection)), &query, None)?);
            }
            DocCmd::Heads { collection, id } => {
                print(&api.get(&format!("collections/{}/{}/heads", seg(&collection), seg(&id)))?)
            }
        }
        Ok(())
    }

    fn p2p(api: &Api, cmd: P2pCmd) -> Result<(), Failure> {
        match cmd {
            P2pCmd::Info => print(&api.get("p2p/info")?),
            P2pCmd::Stats => print(&api.get("p2p/stats")?),
            P2pCmd::Topics => print(&api.get("p2p/topics")?),
            P2pCmd::Connections => print(&api.get("p2p/connections")?),
            P2pCmd::Dial { addr } => {
                let addr: Multiaddr = addr
                    .trim()
                    .parse()
                    .map_err(|e| Failure::Usage(format!("`{}` is not a multiaddr ({e})", addr.trim())))?;
                print_some(&api.post("p2p/dial", json!({ "addr": addr.to_string() }).to_string())?);
            }
            P2pCmd::Replicator(ReplicatorCmd::Set { collections, docs, peer }) => {
                let peer = peer_address(&peer)?;
                let docs: Vec<String> =
                    docs.into_iter().map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect();
                for collection in names(collections)? {
                    let mut body = json!({ "collection": collection, "peer": peer });
                    if !docs.is_empty() {
                        body["docs"] = json!(docs);
                    }
                    print_some(&api.post("p2p/replicators", body.to_string())?);
                }
            }
            P2pCmd::Replicator(ReplicatorCmd::List) => print(&api.get("p2p/replicators")?),
            P2pCmd::Replicator(ReplicatorCmd::Delete { collections, peer }) => {
                let peer_id = peer_id(&peer)?;
                for collection in names(collections)? {
                    let body = json!({ "collection": collection, "peerId": peer_id }).to_string();
                    print_some(&api.call(Method::Delete, "p2p/replicators", &[], Some(Body::Json(body)))?);
                }
            }
            P2pCmd::Collection(P2pCollectionCmd::Add { collections }) => {
                for collection in names(collections)? {
                    print_some(&api.post(&format!("p2p/collections/{}", seg(&collection)), String::new())?);
                }
            }
            P2pCmd::Collection(P2pCollectionCmd::Remove { collections }) => {
                for collection in names(collections)? {
                    let path = format!("p2p/collections/{}", seg(&collection));
                    print_some(&api.call(Method::Delete, &path, &[], None)?);
                }
            }
            P2pCmd::Collection(P2pCollectionCmd::List) => print(&api.get("p2p/collections")?),
        }
        Ok(())
    }

    /// Collection names from comma-separated arguments, blanks dropped.
    fn names(raw: Vec<String>) -> Result<Vec<String>, Failure> {
        let names: Vec<String> = raw.into_iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
        if names.is_empty() {
            return Err(Failure::Usage("name at least one collection".into()));
        }
        Ok(names)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use clap::CommandFactory;

        #[test]
        fn the_command_line_is_consistent() {
            Cli::command().debug_assert();
        }

        #[test]
        fn api_addresses() {
            assert_eq!(api_host("127.0.0.1:9181").ok(), Some("127.0.0.1:9181"));
            assert_eq!(api_host("http://127.0.0.1:9181/").ok(), Some("127.0.0.1:9181"));
            assert!(api_host("https://127.0.0.1:9181").is_err());
            assert!(parse_api_socket("localhost").is_err());
        }

        #[test]
        fn peers_are_checked_locally() {
            let id = PeerId::random();
            assert!(peer_address(&format!("/ip4/127.0.0.1/tcp/1/p2p/{id}")).is_ok());
            assert!(peer_address(&id.to_string()).is_ok());
            assert!(matches!(peer_address("/ip4/127.0.0.1/tcp/1"), Err(Failure::Usage(_))));
            assert!(matches!(peer_address("not-a-multiaddr"), Err(Failure::Usage(_))));
            assert_eq!(peer_id(&format!("/ip4/127.0.0.1/tcp/1/p2p/{id}")).ok(), Some(id.to_string()));
            assert!(peer_id("nope").is_err());
        }

        #[test]
        fn json_arguments_are_checked_locally() {
            assert!(json_object(r#"{"title":"Dune"}"#, "document").is_ok());
            match json_object("{title:", "document") {
                Err(Failure::Usage(m)) => assert!(m.starts_with("the document is not valid JSON: "), "{m}"),
                _ => panic!("bad JSON accepted"),
            }
            match json_object("[1]", "document") {
                Err(Failure::Usage(m)) => assert_eq!(m, "the document must be a JSON object, not an array"),
                _ => panic!("an array accepted"),
            }
        }

        #[test]
        fn path_segments_are_encoded() {
            assert_eq!(seg("bae-1234"), "bae-1234");
            assert_eq!(seg("a b/c"), "a%20b%2Fc");
        }
    }
}
