//! The libp2p transport: listeners (one wtransport server endpoint each)
//! and the native dialler, and certificate rotation across the listeners.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use if_watch::tokio::IfWatcher;
use if_watch::IfEvent;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::Endpoint as Role;
use libp2p::{identity, Multiaddr, PeerId};
use wtransport::endpoint::{endpoint_side, IncomingSession};
use wtransport::{Endpoint, ServerConfig};

use super::addr::{dial_target, listen_multiaddr, listen_socket, socket_multiaddr};
use super::certs::Certificates;
use super::connection::Connection;
use super::upgrade::{self, IDLE_TIMEOUT, KEEP_ALIVE};
use super::Error;

/// Rotation only has to land within the hour of clock skew each
/// certificate allows for, so a coarse check is enough.
const ROTATION_CHECK: Duration = Duration::from_secs(60);

type Upgrade = BoxFuture<'static, Result<(PeerId, Connection), Error>>;

/// libp2p over WebTransport, native: listens on
/// `/ip4/A/udp/P/quic-v1/webtransport` (advertising it with the two
/// `/certhash`es of [`Certificates`]) and dials such addresses.
pub struct Transport {
    keypair: identity::Keypair,
    certs: Certificates,
    listeners: Vec<Listener>,
    rotation_check: Duration,
    rotation_timer: Option<tokio::time::Interval>,
    generation: u64,
    waker: Option<Waker>,
}

impl Transport {
    pub fn new(keypair: identity::Keypair, certs: Certificates) -> Self {
        let generation = certs.generation();
        Transport {
            keypair,
            certs,
            listeners: Vec::new(),
            rotation_check: ROTATION_CHECK,
            rotation_timer: None,
            generation,
            waker: None,
        }
    }

    /// How often the clock is compared with the certificates' expiry
    /// (a minute by default; tests with a hand-set clock make it short).
    pub fn with_rotation_check(mut self, every: Duration) -> Self {
        self.rotation_check = every;
        self
    }

    fn server_config(&self, socket: SocketAddr) -> ServerConfig {
        ServerConfig::builder()
            .with_bind_address(socket)
            .with_identity(self.certs.serving())
            .keep_alive_interval(Some(KEEP_ALIVE))
            .max_idle_timeout(Some(IDLE_TIMEOUT))
            .expect("the idle timeout fits a QUIC varint")
            .build()
    }

    fn poll_rotation(&mut self, cx: &mut Context<'_>) {
        let every = self.rotation_check;
        let timer = self.rotation_timer.get_or_insert_with(|| {
            let mut timer = tokio::time::interval(every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        });
        while timer.poll_tick(cx).is_ready() {
            if let Err(error) = self.certs.rotate_if_due() {
                tracing::warn!(%error, "WebTransport certificates not rotated");
            }
        }
        // The ring may also be rotated through another handle.
        if let Poll::Ready(generation) = self.certs.poll_rotated(self.generation, cx) {
            self.generation = generation;
            let hashes = self.certs.advertised();
            for i in 0..self.listeners.len() {
                let config = self.server_config(self.listeners[i].socket);
                self.listeners[i].rotate(config, hashes);
            }
        }
    }
}

impl libp2p::core::Transport for Transport {
    type Output = (PeerId, Connection);
    type Error = Error;
    type ListenerUpgrade = Upgrade;
    type Dial = Upgrade;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Error>> {
        let socket = listen_socket(&addr).ok_or(TransportError::MultiaddrNotSupported(addr))?;
        // A ring restored from the store may have run out while the node was down.
        self.certs.rotate_if_due().map_err(|e| TransportError::Other(e.into()))?;
        let endpoint = Endpoint::server(self.server_config(socket)).map_err(|e| TransportError::Other(e.into()))?;
        let socket = endpoint.local_addr().map_err(|e| TransportError::Other(e.into()))?;
        let listener = Listener::new(id, endpoint, socket, self.certs.advertised())
            .map_err(|e| TransportError::Other(e.into()))?;
        tracing::info!(%socket, "WebTransport listening");
        self.listeners.push(listener);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let Some(listener) = self.listeners.iter_mut().find(|l| l.id == id) else { return false };
        listener.close();
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        true
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Upgrade, TransportError<Error>> {
        // Hole punching would have us act as the server of a dialled
        // connection, which a WebTransport client cannot be.
        if opts.role == Role::Listener {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        let target = dial_target(&addr).ok_or(TransportError::MultiaddrNotSupported(addr))?;
        Ok(upgrade::outbound(target, self.keypair.clone()).boxed())
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Upgrade, Error>> {
        let this = &mut *self;
        this.poll_rotation(cx);
        for i in 0..this.listeners.len() {
            if let Poll::Ready(event) = this.listeners[i].poll(cx, &this.keypair, &this.certs) {
                if matches!(event, TransportEvent::ListenerClosed { .. }) {
                    this.listeners.swap_remove(i);
                }
                return Poll::Ready(event);
            }
        }
        this.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// One listening socket and the addresses it is reported under.
struct Listener {
    id: ListenerId,
    socket: SocketAddr,
    endpoint: Arc<Endpoint<endpoint_side::Server>>,
    accept: Option<BoxFuture<'static, IncomingSession>>,
    /// Present when bound to an unspecified address: the interfaces'
    /// addresses are the ones to report.
    interfaces: Option<IfWatcher>,
    /// The addresses reported so far (with the certhashes of their time).
    reported: Vec<Multiaddr>,
    hashes: [multihash::Multihash<64>; 2],
    pending: VecDeque<TransportEvent<Upgrade, Error>>,
    closing: bool,
}

impl Listener {
    fn new(
        id: ListenerId,
        endpoint: Endpoint<endpoint_side::Server>,
        socket: SocketAddr,
        hashes: [multihash::Multihash<64>; 2],
    ) -> std::io::Result<Self> {
        let mut listener = Listener {
            id,
            socket,
            endpoint: Arc::new(endpoint),
            accept: None,
            interfaces: None,
            reported: Vec::new(),
            hashes,
            pending: VecDeque::new(),
            closing: false,
        };
        if socket.ip().is_unspecified() {
            listener.interfaces = Some(IfWatcher::new()?);
        } else {
            listener.report(socket.ip());
        }
        Ok(listener)
    }

    fn address(&self, ip: IpAddr) -> Multiaddr {
        listen_multiaddr(SocketAddr::new(ip, self.socket.port()), &self.hashes)
    }

    fn report(&mut self, ip: IpAddr) {
        let listen_addr = self.address(ip);
        self.reported.push(listen_addr.clone());
        self.pending.push_back(TransportEvent::NewAddress { listener_id: self.id, listen_addr });
    }

    fn expire(&mut self, addr: Multiaddr) {
        self.reported.retain(|a| *a != addr);
        self.pending.push_back(TransportEvent::AddressExpired { listener_id: self.id, listen_addr: addr });
    }

    /// Serves the new current certificate from now on (open sessions keep
    /// theirs) and re-reports every address with the new certhashes.
    fn rotate(&mut self, config: ServerConfig, hashes: [multihash::Multihash<64>; 2]) {
        if self.closing {
            return;
        }
        if let Err(error) = self.endpoint.reload_config(config, false) {
            tracing::warn!(%error, socket = %self.socket, "WebTransport certificate not reloaded");
            self.pending.push_back(TransportEvent::ListenerError { listener_id: self.id, error: error.into() });
            return;
        }
        self.hashes = hashes;
        for old in std::mem::take(&mut self.reported) {
            let ip = old.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
                libp2p::multiaddr::Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
                _ => None,
            });
            self.expire(old);
            if let Some(ip) = ip {
                self.report(ip);
            }
        }
    }

    fn close(&mut self) {
        self.closing = true;
        // wtransport's `accept` panics on a closed endpoint: the pending
        // accept goes first. Sessions already up keep the socket alive.
        self.accept = None;
        self.interfaces = None;
        for addr in std::mem::take(&mut self.reported) {
            self.expire(addr);
        }
        self.pending.push_back(TransportEvent::ListenerClosed { listener_id: self.id, reason: Ok(()) });
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        keypair: &identity::Keypair,
        certs: &Certificates,
    ) -> Poll<TransportEvent<Upgrade, Error>> {
        if let Some(event) = self.pending.pop_front() {
            return Poll::Ready(event);
        }
        if self.closing {
            return Poll::Pending;
        }
        if let Some(event) = self.poll_interfaces(cx) {
            return Poll::Ready(event);
        }
        let endpoint = self.endpoint.clone();
        let accept = self.accept.get_or_insert_with(|| async move { endpoint.accept().await }.boxed());
        let Poll::Ready(incoming) = accept.poll_unpin(cx) else { return Poll::Pending };
        self.accept = None;
        let send_back_addr = socket_multiaddr(incoming.remote_address());
        tracing::debug!(%send_back_addr, "WebTransport connection attempt");
        // Every hash a client may have been given is listed, the previous
        // certificate's too: the spec has the client check its own are there.
        let upgrade = upgrade::inbound(incoming, keypair.clone(), certs.noise_hashes()).boxed();
        Poll::Ready(TransportEvent::Incoming {
            listener_id: self.id,
            upgrade,
            local_addr: socket_multiaddr(self.socket),
            send_back_addr,
        })
    }

    fn poll_interfaces(&mut self, cx: &mut Context<'_>) -> Option<TransportEvent<Upgrade, Error>> {
        while let Poll::Ready(Some(event)) = self.interfaces.as_mut()?.poll_next_unpin(cx) {
            match event {
                Ok(IfEvent::Up(net)) if net.addr().is_ipv4() == self.socket.is_ipv4() => self.report(net.addr()),
                Ok(IfEvent::Down(net)) => {
                    let gone = self.address(net.addr());
                    if self.reported.contains(&gone) {
                        self.expire(gone);
                    }
                }
                Ok(IfEvent::Up(_)) => {}
                Err(error) => return Some(TransportEvent::ListenerError { listener_id: self.id, error: error.into() }),
            }
        }
        self.pending.pop_front()
    }
}
