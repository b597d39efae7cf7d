//! libp2p over WebTransport between two real swarms on loopback: the
//! listener's addresses, the handshake's checks, the refused paths, and a
//! certificate rotation driven by a hand-set clock.
#![cfg(not(target_arch = "wasm32"))]

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::upgrade::OutboundConnectionUpgrade;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, ping, Multiaddr, PeerId, Swarm, SwarmBuilder};
use multihash::Multihash;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use weftdb::net::webtransport::{Certificates, Clock, Transport, PATH};
use wtransport::tls::Sha256Digest;

const LISTEN: &str = "/ip4/127.0.0.1/udp/0/quic-v1/webtransport";
const WAIT: Duration = Duration::from_secs(20);

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
}

fn swarm(certs: Certificates) -> Swarm<Behaviour> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| Transport::new(key.clone(), certs).with_rotation_check(Duration::from_millis(50)))
        .unwrap()
        .with_behaviour(|key| Behaviour {
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(200))),
            identify: identify::Behaviour::new(identify::Config::new("/weft-test/1".into(), key.public())),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(10)))
        .build()
}

/// What the listener reports, in order.
#[derive(Debug)]
enum Heard {
    New(Multiaddr),
    Expired(Multiaddr),
    Refused(String),
}

/// Runs a listening swarm in the background; returns its peer id and the
/// stream of its address and refusal events.
async fn listener(certs: Certificates) -> (PeerId, mpsc::UnboundedReceiver<Heard>) {
    let mut swarm = swarm(certs);
    let peer = *swarm.local_peer_id();
    swarm.listen_on(LISTEN.parse().unwrap()).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let heard = match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => Heard::New(address),
                SwarmEvent::ExpiredListenAddr { address, .. } => Heard::Expired(address),
                SwarmEvent::IncomingConnectionError { error, .. } => Heard::Refused(format!("{error:?}")),
                _ => continue,
            };
            if tx.send(heard).is_err() {
                return;
            }
        }
    });
    (peer, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Heard>) -> Heard {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("the listener said nothing").expect("listener stopped")
}

async fn new_address(rx: &mut mpsc::UnboundedReceiver<Heard>) -> Multiaddr {
    match next(rx).await {
        Heard::New(addr) => addr,
        other => panic!("expected a new address, got {other:?}"),
    }
}

fn certhashes(addr: &Multiaddr) -> Vec<Multihash<64>> {
    addr.iter()
        .filter_map(|p| match p {
            Protocol::Certhash(h) => Some(h),
            _ => None,
        })
        .collect()
}

fn socket_part(addr: &Multiaddr) -> Multiaddr {
    addr.iter().take_while(|p| !matches!(p, Protocol::Certhash(_))).collect()
}

fn with_hashes(addr: &Multiaddr, hashes: &[Multihash<64>]) -> Multiaddr {
    hashes.iter().fold(socket_part(addr), |a, h| a.with(Protocol::Certhash(*h)))
}

fn random_hash() -> Multihash<64> {
    let mut digest = [0u8; 32];
    getrandom::getrandom(&mut digest).unwrap();
    Multihash::wrap(0x12, &digest).unwrap()
}

/// Dials `addr` from a fresh swarm and waits for a ping round trip and
/// the identify exchange (two substreams) or for the dial to fail.
async fn ping(addr: Multiaddr) -> Result<PeerId, String> {
    let mut swarm = swarm(Certificates::generate().unwrap());
    swarm.dial(addr).map_err(|e| e.to_string())?;
    let (mut pinged, mut identified) = (None, false);
    let outcome = tokio::time::timeout(WAIT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result: Ok(_), .. })) => {
                    pinged = Some(peer)
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { .. })) => identified = true,
                SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.to_string()),
                _ => {}
            }
            if let (Some(peer), true) = (pinged, identified) {
                return Ok(peer);
            }
        }
    })
    .await;
    outcome.unwrap_or_else(|_| Err("timed out".into()))
}

#[tokio::test]
async fn two_swarms_ping_over_webtransport() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let (peer, mut heard) = listener(Certificates::generate().unwrap()).await;
    let addr = new_address(&mut heard).await;
    assert_eq!(certhashes(&addr).len(), 2, "{addr}");
    assert!(addr.to_string().starts_with("/ip4/127.0.0.1/udp/"), "{addr}");

    assert_eq!(ping(addr.clone()).await, Ok(peer));
    // With the listener's peer id in the address, as browsers get it.
    assert_eq!(ping(addr.with(Protocol::P2p(peer))).await, Ok(peer));
}

#[tokio::test]
async fn a_wrong_certhash_or_peer_id_fails() {
    let (peer, mut heard) = listener(Certificates::generate().unwrap()).await;
    let addr = new_address(&mut heard).await;
    let [served, _next] = certhashes(&addr)[..] else { panic!("{addr}") };

    // TLS: the served certificate is not among the pinned ones.
    let wrong = with_hashes(&addr, &[random_hash(), random_hash()]);
    assert!(ping(wrong).await.is_err());

    // Noise: TLS passes on the served hash, but the server does not list
    // the other one the dialler was told about.
    let unlisted = with_hashes(&addr, &[served, random_hash()]);
    let error = ping(unlisted).await.unwrap_err();
    assert!(error.contains("certhash"), "{error}");

    assert!(ping(addr.clone().with(Protocol::P2p(PeerId::random()))).await.is_err());
    assert_eq!(ping(addr).await, Ok(peer));
}

#[tokio::test]
async fn requests_for_other_paths_are_refused() {
    let (_, mut heard) = listener(Certificates::generate().unwrap()).await;
    let addr = new_address(&mut heard).await;
    let Some(Protocol::Udp(port)) = addr.iter().nth(1) else { panic!("{addr}") };
    let digests: Vec<Sha256Digest> =
        certhashes(&addr).iter().map(|h| Sha256Digest::new(h.digest().try_into().unwrap())).collect();

    let connect = |path: String| {
        let digests = digests.clone();
        async move {
            let config =
                wtransport::ClientConfig::builder().with_bind_default().with_server_certificate_hashes(digests).build();
            let endpoint = wtransport::Endpoint::client(config).unwrap();
            endpoint.connect(format!("https://127.0.0.1:{port}{path}")).await.map(|_| ())
        }
    };
    for path in ["/".to_string(), "/other?type=noise".into(), PATH.into(), format!("{PATH}?type=tls")] {
        let result = connect(path.clone()).await;
        assert!(matches!(result, Err(wtransport::error::ConnectingError::SessionRejected)), "{path}: {result:?}");
        match next(&mut heard).await {
            Heard::Refused(error) => assert!(error.contains("BadRequest"), "{error}"),
            other => panic!("expected a refusal of {path}, got {other:?}"),
        }
    }
    // The right path is accepted (the session then waits for Noise).
    connect(format!("{PATH}?type=noise")).await.unwrap();
}

/// The two halves of a raw WebTransport stream as one byte stream, shared
/// so that the test gets them back once Noise is done with them.
#[derive(Clone)]
struct Shared(Arc<Mutex<(Compat<wtransport::SendStream>, Compat<wtransport::RecvStream>)>>);

impl futures::AsyncRead for Shared {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0.lock().unwrap().1).poll_read(cx, buf)
    }
}

impl futures::AsyncWrite for Shared {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0.lock().unwrap().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0.lock().unwrap().0).poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0.lock().unwrap().0).poll_close(cx)
    }
}

/// What a browser's libp2p client does (js-libp2p): the Noise handshake on
/// the first stream, then closing that stream, which fails if the server
/// has stopped it (STOP_SENDING) instead of reading it to its end.
#[tokio::test]
async fn the_handshake_stream_closes_cleanly_on_both_sides() {
    let (peer, mut heard) = listener(Certificates::generate().unwrap()).await;
    let addr = new_address(&mut heard).await;
    let Some(Protocol::Udp(port)) = addr.iter().nth(1) else { panic!("{addr}") };
    let hashes = certhashes(&addr);
    let digests: Vec<Sha256Digest> = hashes.iter().map(|h| Sha256Digest::new(h.digest().try_into().unwrap())).collect();

    for _ in 0..3 {
        let config = wtransport::ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes(digests.clone())
            .build();
        let endpoint = wtransport::Endpoint::client(config).unwrap();
        let session = endpoint.connect(format!("https://127.0.0.1:{port}{PATH}?type=noise")).await.unwrap();
        let (send, recv) = session.open_bi().await.unwrap().await.unwrap();
        let shared = Shared(Arc::new(Mutex::new((send.compat_write(), recv.compat()))));
        let key = libp2p::identity::Keypair::generate_ed25519();
        let noise =
            libp2p::noise::Config::new(&key).unwrap().with_webtransport_certhashes(hashes.iter().copied().collect());
        let (remote, _) = noise.upgrade_outbound(shared.clone(), "/noise").await.unwrap();
        assert_eq!(remote, peer);
        // A browser closes its side a moment later; the server must not
        // have given up on the stream by then.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let Ok(halves) = Arc::try_unwrap(shared.0) else { panic!("Noise still holds the stream") };
        let (send, recv) = halves.into_inner().unwrap();
        let (mut send, mut recv) = (send.into_inner(), recv.into_inner());
        tokio::time::timeout(WAIT, send.finish()).await.expect("finish hung").expect("the server stopped the stream");
        let mut rest = [0u8; 16];
        let end = tokio::time::timeout(WAIT, recv.read(&mut rest)).await.expect("the server never ended its side");
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}

/// A clock the test sets by hand.
struct Manual(Mutex<OffsetDateTime>);

impl Clock for Manual {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn rotation_changes_the_advertised_certhashes() {
    // The ring is made with the hand-set clock two hours short of two
    // weeks ago, so that, by the real clock a dialler checks them with,
    // both its certificates are valid now: the current one until one hour
    // from now, the next one since an hour ago. The transport is due to
    // rotate when the hand-set clock reaches the real now.
    let real = OffsetDateTime::now_utc();
    let clock = Arc::new(Manual(Mutex::new(real - time::Duration::days(14) + time::Duration::hours(2))));
    let certs = Certificates::generate_with_clock(clock.clone()).unwrap();
    *clock.0.lock().unwrap() = real - time::Duration::hours(1);
    assert!(!certs.rotate_if_due().unwrap());

    let (peer, mut heard) = listener(certs.clone()).await;
    let before = new_address(&mut heard).await;
    assert_eq!(ping(before.clone()).await, Ok(peer));

    *clock.0.lock().unwrap() = real + time::Duration::minutes(1);
    match next(&mut heard).await {
        Heard::Expired(addr) => assert_eq!(addr, before),
        other => panic!("expected the old address to expire, got {other:?}"),
    }
    let after = new_address(&mut heard).await;
    assert_eq!(socket_part(&after), socket_part(&before));
    let (old, new) = (certhashes(&before), certhashes(&after));
    assert_eq!(new[0], old[1], "the announced next certificate is served");
    assert_ne!(new[1], old[0]);
    assert_eq!(certs.generation(), 1);

    assert_eq!(ping(after).await, Ok(peer));
    // An address read before the rotation still works.
    assert_eq!(ping(before).await, Ok(peer));
}

#[tokio::test]
async fn an_unspecified_listen_address_reports_each_interface() {
    let mut swarm = swarm(Certificates::generate().unwrap());
    let peer = *swarm.local_peer_id();
    swarm.listen_on("/ip4/0.0.0.0/udp/0/quic-v1/webtransport".parse().unwrap()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                if tx.send(Heard::New(address)).is_err() {
                    return;
                }
            }
        }
    });
    let loopback = loop {
        let addr = new_address(&mut rx).await;
        assert_eq!(certhashes(&addr).len(), 2, "{addr}");
        assert!(!addr.to_string().starts_with("/ip4/0.0.0.0"), "{addr}");
        if addr.to_string().starts_with("/ip4/127.0.0.1/") {
            break addr;
        }
    };
    assert_eq!(ping(loopback).await, Ok(peer));
}

/// A UDP relay on loopback between dialers and `server` that can be cut:
/// then nothing more passes either way, as when a peer's browser or
/// network vanishes without a word. Returns the address to dial instead
/// of the server's, and the switch.
async fn cuttable_relay(server: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let cut_in_task = cut.clone();
    tokio::spawn(async move {
        let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
        let mut client = None;
        loop {
            tokio::select! {
                Ok((n, from)) = front.recv_from(&mut a) => {
                    client = Some(from);
                    if !cut_in_task.load(Ordering::SeqCst) {
                        let _ = back.send(&a[..n]).await;
                    }
                }
                Ok(n) = back.recv(&mut b) => {
                    if let (Some(to), false) = (client, cut_in_task.load(Ordering::SeqCst)) {
                        let _ = front.send_to(&b[..n], to).await;
                    }
                }
            }
        }
    });
    (addr, cut)
}

/// A peer that goes silent (a closed tab Chromium does not tell the node
/// about, a killed browser) is dropped once it stops answering the
/// keep-alives, not at the QUIC idle timeout (60 s here); one that is
/// merely quiet stays.
#[tokio::test]
async fn a_peer_that_goes_silent_is_dropped() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let mut server = swarm(Certificates::generate().unwrap());
    server.listen_on(LISTEN.parse().unwrap()).unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let port = addr.iter().find_map(|p| if let Protocol::Udp(port) = p { Some(port) } else { None }).unwrap();
    let (relay, cut) = cuttable_relay(([127, 0, 0, 1], port).into()).await;
    let via_relay: Multiaddr =
        addr.iter().map(|p| if let Protocol::Udp(_) = p { Protocol::Udp(relay.port()) } else { p }).collect();
    let (events, mut heard) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = match server.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => Ok(peer_id),
                SwarmEvent::ConnectionClosed { peer_id, cause, .. } => Err((peer_id, format!("{cause:?}"))),
                _ => continue,
            };
            if events.send(event).is_err() {
                return;
            }
        }
    });
    // The dialer keeps running (it would say goodbye if dropped); only the
    // relay between the two goes quiet.
    let mut client = swarm(Certificates::generate().unwrap());
    let client_id = *client.local_peer_id();
    client.dial(via_relay).unwrap();
    tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    });
    let connected = tokio::time::timeout(WAIT, heard.recv()).await.expect("never connected");
    assert_eq!(connected, Some(Ok(client_id)));
    // Connected for longer than the silence allowed: the keep-alives are answered.
    let quiet = tokio::time::timeout(Duration::from_secs(6), heard.recv()).await;
    assert!(quiet.is_err(), "a live peer was dropped: {quiet:?}");
    cut.store(true, std::sync::atomic::Ordering::SeqCst);
    match tokio::time::timeout(WAIT, heard.recv()).await.expect("the silent peer was kept") {
        Some(Err((peer, cause))) => {
            assert_eq!(peer, client_id);
            assert!(cause.contains("Silent"), "{cause}");
        }
        other => panic!("expected the connection closed, got {other:?}"),
    }
}
