//! What the network tests share: nodes on loopback driven through their
//! handles, and a raw libp2p client that sends whatever bytes it is given
//! on the weft protocols (a hostile peer).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identity, Multiaddr, PeerId, StreamProtocol, Swarm};
use serde_json::{json, Value};
use weftdb::node::{Command, NodeConfig, NodeHandle};

pub const SDL: &str = "type Book { title: String @index  pages: Int }";
pub const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

pub fn call(n: &NodeHandle, c: Command) -> Value {
    let what = format!("{c:?}");
    n.call_blocking(c).unwrap_or_else(|e| panic!("{}: {} {}", &what[..what.len().min(200)], e.code, e.message))
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

pub fn start(config: NodeConfig) -> NodeHandle {
    // RUST_LOG=weftdb=debug shows what the nodes do.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    NodeHandle::start(config).expect("node starts")
}

/// A loopback node that looks for no one on its own.
pub fn quiet(dir: &Path) -> NodeConfig {
    NodeConfig { discovery: false, ..NodeConfig::loopback(dir) }
}

pub fn with_book(n: &NodeHandle, p2p: bool) {
    let _ = n.call_blocking(Command::AddSchema { sdl: SDL.into() });
    if p2p {
        call(n, Command::AddP2pCollection { collection: "Book".into() });
    }
}

pub fn addr(n: &NodeHandle) -> Multiaddr {
    n.addrs()[0].clone()
}

pub fn stats(n: &NodeHandle) -> Value {
    call(n, Command::Stats)
}

pub fn stat(n: &NodeHandle, name: &str) -> u64 {
    let s = stats(n);
    s[name].as_u64().unwrap_or_else(|| panic!("no stat {name} in {s}"))
}

pub fn connected(a: &NodeHandle, peer: PeerId) -> bool {
    stats(a)["peers"].as_array().unwrap().contains(&json!(peer.to_string()))
}

pub fn create(n: &NodeHandle, doc: Value) -> String {
    call(n, Command::Create { collection: "Book".into(), doc })["_id"].as_str().unwrap().to_string()
}

pub fn get(n: &NodeHandle, id: &str) -> Value {
    call(n, Command::Get { collection: "Book".into(), id: id.into() })
}

pub fn count(n: &NodeHandle) -> usize {
    call(n, Command::Find { collection: "Book".into(), query: json!({}) }).as_array().unwrap().len()
}

/// The peak resident memory of this process (every node of the tests that
/// run in it), in bytes, from `/proc/self/status`.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

/// A request-response codec that sends whatever bytes it is given, and
/// reads whatever comes back. `stall` opens the stream, flushes the
/// protocol negotiation, and then writes nothing, ever.
#[derive(Clone, Default)]
pub struct Raw {
    pub stall: bool,
}

impl request_response::Codec for Raw {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        let mut v = Vec::new();
        futures::AsyncReadExt::read_to_end(io, &mut v).await?;
        Ok(v)
    }

    async fn read_response<T>(&mut self, p: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(&mut self, _: &Self::Protocol, io: &mut T, req: Vec<u8>) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        if self.stall {
            futures::AsyncWriteExt::flush(io).await?;
            return std::future::pending().await;
        }
        futures::AsyncWriteExt::write_all(io, &req).await?;
        futures::AsyncWriteExt::close(io).await
    }

    async fn write_response<T>(&mut self, _: &Self::Protocol, io: &mut T, res: Vec<u8>) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        futures::AsyncWriteExt::write_all(io, &res).await?;
        futures::AsyncWriteExt::close(io).await
    }
}

type RawBehaviour = request_response::Behaviour<Raw>;

#[derive(NetworkBehaviour)]
pub struct Protocols {
    blocks: RawBehaviour,
    heads: RawBehaviour,
    replicate: RawBehaviour,
    /// `/weft/blocks/1` streams that are never written.
    stall: RawBehaviour,
}

/// The weft protocols, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Blocks,
    Heads,
    Replicate,
    /// A `/weft/blocks/1` stream opened and never written.
    Stall,
}

/// What a hostile peer answers to requests the node sends it.
pub type Responder = Box<dyn FnMut(Proto, Vec<u8>) -> Vec<u8> + Send>;

/// A raw libp2p client over loopback TCP with a fixed identity (so it can
/// come back as the same peer), sending bytes of its choosing.
pub struct Hostile {
    runtime: tokio::runtime::Runtime,
    swarm: Swarm<Protocols>,
    target: PeerId,
    addr: Multiaddr,
    /// Requests the node sent us, by protocol.
    pub received: Vec<(Proto, Vec<u8>)>,
    respond: Option<Responder>,
    /// Answers to our requests not yet taken.
    answers: Vec<(OutboundRequestId, Answer)>,
}

fn behaviour(protocol: &'static str, support: ProtocolSupport, stall: bool) -> RawBehaviour {
    request_response::Behaviour::with_codec(
        Raw { stall },
        [(StreamProtocol::new(protocol), support)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(60))
            .with_max_concurrent_streams(10_000),
    )
}

/// An answer: `None` when the request failed (the stream was dropped or
/// reset, or the connection closed).
pub type Answer = Option<Vec<u8>>;

impl Hostile {
    /// Connects to `target` (ending in `/p2p/<id>`) as the peer of `seed`.
    pub fn connect(target: Multiaddr, seed: u8) -> Hostile {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let key = identity::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
        let swarm = runtime.block_on(async {
            libp2p::SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_tcp(Default::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
                .unwrap()
                .with_behaviour(|_| Protocols {
                    blocks: behaviour("/weft/blocks/1", ProtocolSupport::Full, false),
                    heads: behaviour("/weft/heads/1", ProtocolSupport::Full, false),
                    replicate: behaviour("/weft/replicate/1", ProtocolSupport::Full, false),
                    stall: behaviour("/weft/blocks/1", ProtocolSupport::Outbound, true),
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
                .build()
        });
        let peer = match target.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(p)) => p,
            _ => panic!("no peer id in {target}"),
        };
        let mut h = Hostile {
            runtime,
            swarm,
            target: peer,
            addr: target,
            received: Vec::new(),
            respond: None,
            answers: Vec::new(),
        };
        h.dial();
        h
    }

    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Answers the node's requests with `respond` from now on.
    pub fn respond_with(&mut self, respond: impl FnMut(Proto, Vec<u8>) -> Vec<u8> + Send + 'static) {
        self.respond = Some(Box::new(respond));
    }

    /// Dials the node (again) and waits for the connection.
    pub fn dial(&mut self) {
        {
            let _tokio = self.runtime.enter();
            self.swarm.dial(self.addr.clone()).unwrap();
        }
        let target = self.target;
        self.drive_until(WAIT, |h| h.swarm.is_connected(&target));
    }

    pub fn is_connected(&self) -> bool {
        self.swarm.is_connected(&self.target)
    }

    /// Closes every connection to the node and waits until they are closed.
    pub fn disconnect(&mut self) {
        let target = self.target;
        {
            let _tokio = self.runtime.enter();
            let _ = self.swarm.disconnect_peer_id(target);
        }
        self.drive_until(WAIT, |h| !h.swarm.is_connected(&target));
    }

    fn send(&mut self, proto: Proto, bytes: Vec<u8>) -> OutboundRequestId {
        let _tokio = self.runtime.enter();
        let (b, peer) = (self.swarm.behaviour_mut(), self.target);
        match proto {
            Proto::Blocks => b.blocks.send_request(&peer, bytes),
            Proto::Heads => b.heads.send_request(&peer, bytes),
            Proto::Replicate => b.replicate.send_request(&peer, bytes),
            Proto::Stall => b.stall.send_request(&peer, bytes),
        }
    }

    /// Sends one request and waits for its answer.
    pub fn request(&mut self, proto: Proto, bytes: Vec<u8>) -> Answer {
        self.requests(proto, vec![bytes]).pop().unwrap()
    }

    /// Sends every request at once and waits for all their answers, in order.
    pub fn requests(&mut self, proto: Proto, all: Vec<Vec<u8>>) -> Vec<Answer> {
        let ids: Vec<OutboundRequestId> = all.into_iter().map(|b| self.send(proto, b)).collect();
        let mut answers: HashMap<OutboundRequestId, Answer> = HashMap::new();
        let mut answered = Vec::new();
        self.drive_until(Duration::from_secs(120), |h| {
            answered.append(&mut h.answers);
            for (id, a) in answered.drain(..) {
                answers.insert(id, a);
            }
            ids.iter().all(|id| answers.contains_key(id))
        });
        ids.iter().map(|id| answers.remove(id).unwrap()).collect()
    }

    /// Sends requests that are never answered in time, without waiting.
    pub fn send_only(&mut self, proto: Proto, all: Vec<Vec<u8>>) {
        for b in all {
            self.send(proto, b);
        }
        // Long enough for the streams to open.
        self.drive_for(Duration::from_millis(500));
    }

    /// Polls the swarm for `d`, answering the node's requests.
    pub fn drive_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        self.drive_until(d + Duration::from_secs(1), |_| Instant::now() >= until);
    }

    fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Hostile) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < deadline, "the hostile peer timed out");
            let event = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(50), self.swarm.select_next_some()).await.ok()
            });
            if let Some(event) = event {
                self.on_event(event);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<ProtocolsEvent>) {
        let SwarmEvent::Behaviour(event) = event else { return };
        let (proto, event) = match event {
            ProtocolsEvent::Blocks(e) => (Proto::Blocks, e),
            ProtocolsEvent::Heads(e) => (Proto::Heads, e),
            ProtocolsEvent::Replicate(e) => (Proto::Replicate, e),
            ProtocolsEvent::Stall(e) => (Proto::Stall, e),
        };
        use request_response::{Event, Message};
        match event {
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                self.answers.push((request_id, Some(response)))
            }
            Event::OutboundFailure { request_id, .. } => self.answers.push((request_id, None)),
            Event::Message { message: Message::Request { request, channel, .. }, .. } => {
                self.received.push((proto, request.clone()));
                if let Some(respond) = self.respond.as_mut() {
                    let answer = respond(proto, request);
                    let b = self.swarm.behaviour_mut();
                    let _ = match proto {
                        Proto::Blocks | Proto::Stall => b.blocks.send_response(channel, answer),
                        Proto::Heads => b.heads.send_response(channel, answer),
                        Proto::Replicate => b.replicate.send_response(channel, answer),
                    };
                }
            }
            _ => {}
        }
    }
}
