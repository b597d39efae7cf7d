//! WebTransport multiaddrs: `/ip4/A/udp/P/quic-v1/webtransport`, then the
//! `/certhash`es of the listener and optionally `/p2p/<peer>`.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use multihash::Multihash;
use wtransport::tls::Sha256Digest;

use super::certs::sha256_digest;

/// The well-known path of libp2p over WebTransport, with the only
/// handshake the spec defines.
pub const PATH: &str = "/.well-known/libp2p-webtransport";

/// The socket a listen address names: exactly `ip/udp/quic-v1/webtransport`.
/// Certhashes are the listener's to choose, so an address carrying them is
/// refused rather than silently ignored.
pub(super) fn listen_socket(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = addr.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        Protocol::Ip6(ip) => IpAddr::V6(ip),
        _ => return None,
    };
    let Protocol::Udp(port) = parts.next()? else { return None };
    let (Some(Protocol::QuicV1), Some(Protocol::WebTransport), None) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(SocketAddr::new(ip, port))
}

/// `ip/udp/port/quic-v1/webtransport`: how a connection's ends are named.
pub(super) fn socket_multiaddr(socket: SocketAddr) -> Multiaddr {
    let ip = match socket.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Udp(socket.port())).with(Protocol::QuicV1).with(Protocol::WebTransport)
}

/// The address a listener advertises: its socket and its certhashes.
pub(super) fn listen_multiaddr(socket: SocketAddr, hashes: &[Multihash<64>]) -> Multiaddr {
    hashes.iter().fold(socket_multiaddr(socket), |addr, h| addr.with(Protocol::Certhash(*h)))
}

/// What a dial needs from an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DialTarget {
    /// An IP literal or a DNS name, as it goes into the URL.
    pub host: String,
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub certhashes: HashSet<Multihash<64>>,
    pub peer: Option<PeerId>,
}

impl DialTarget {
    pub(super) fn url(&self) -> String {
        let host = match self.ip {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        format!("https://{host}:{}{PATH}?type=noise", self.port)
    }

    pub(super) fn digests(&self) -> Vec<Sha256Digest> {
        self.certhashes.iter().filter_map(sha256_digest).collect()
    }
}

/// Parses `host/udp/P/quic-v1/webtransport/certhash/…[/p2p/peer]`. The
/// native dialer pins certificates by hash only (it has no web PKI to fall
/// back on), so an address without a sha-256 certhash, or with any other
/// kind, is not one it can dial.
pub(super) fn dial_target(addr: &Multiaddr) -> Option<DialTarget> {
    let mut parts = addr.iter().peekable();
    let (host, ip) = match parts.next()? {
        Protocol::Ip4(ip) => (ip.to_string(), Some(IpAddr::V4(ip))),
        Protocol::Ip6(ip) => (ip.to_string(), Some(IpAddr::V6(ip))),
        Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => (name.to_string(), None),
        _ => return None,
    };
    let Protocol::Udp(port) = parts.next()? else { return None };
    let (Some(Protocol::QuicV1), Some(Protocol::WebTransport)) = (parts.next(), parts.next()) else { return None };
    let mut certhashes = HashSet::new();
    while let Some(Protocol::Certhash(hash)) = parts.peek() {
        sha256_digest(hash)?;
        certhashes.insert(*hash);
        parts.next();
    }
    let peer = match parts.next() {
        Some(Protocol::P2p(peer)) => Some(peer),
        None => None,
        Some(_) => return None,
    };
    if parts.next().is_some() || certhashes.is_empty() || port == 0 {
        return None;
    }
    Some(DialTarget { host, ip, port, certhashes, peer })
}

/// Whether a CONNECT request's path is the libp2p endpoint with Noise.
pub(super) fn is_libp2p_request(path: &str) -> bool {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    path == PATH && query.split('&').any(|kv| kv == "type=noise")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "uEiCaDd1Ca1A8IVJ3hsIxIyi11cwxaDKqzVrBkGJbKZU5ng";
    const HASH_B: &str = "uEiDv-VGW8oXxui_G_Kqp-87YjvET-Hr2qYAMYPePJDcsjQ";
    const PEER: &str = "12D3KooWR7EfNv5SLtgjMRjUwR8AvNu3hP4fLrtSa9fmHHXKYWNG";

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn listen_addresses_are_bare_webtransport() {
        let sa = listen_socket(&addr("/ip4/127.0.0.1/udp/0/quic-v1/webtransport")).unwrap();
        assert_eq!(sa, "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap());
        assert!(listen_socket(&addr("/ip6/::/udp/4433/quic-v1/webtransport")).is_some());
        assert!(listen_socket(&addr("/ip4/127.0.0.1/udp/0/quic-v1")).is_none());
        assert!(listen_socket(&addr(&format!("/ip4/127.0.0.1/udp/1/quic-v1/webtransport/certhash/{HASH_A}"))).is_none());
        assert!(listen_socket(&addr("/ip4/127.0.0.1/tcp/1")).is_none());
    }

    #[test]
    fn dial_targets_carry_hashes_and_peer() {
        let a = addr(&format!(
            "/ip4/127.0.0.1/udp/44874/quic-v1/webtransport/certhash/{HASH_A}/certhash/{HASH_B}/p2p/{PEER}"
        ));
        let t = dial_target(&a).unwrap();
        assert_eq!(t.port, 44874);
        assert_eq!(t.certhashes.len(), 2);
        assert_eq!(t.digests().len(), 2);
        assert_eq!(t.peer, Some(PEER.parse().unwrap()));
        assert_eq!(t.url(), "https://127.0.0.1:44874/.well-known/libp2p-webtransport?type=noise");

        let v6 = dial_target(&addr(&format!("/ip6/::1/udp/1/quic-v1/webtransport/certhash/{HASH_A}"))).unwrap();
        assert_eq!(v6.url(), "https://[::1]:1/.well-known/libp2p-webtransport?type=noise");
    }

    #[test]
    fn dial_refuses_what_it_cannot_check() {
        // No certhash: nothing to pin the certificate to.
        assert!(dial_target(&addr("/ip4/127.0.0.1/udp/1/quic-v1/webtransport")).is_none());
        assert!(dial_target(&addr(&format!("/ip4/127.0.0.1/udp/1/quic-v1/certhash/{HASH_A}"))).is_none());
        assert!(dial_target(&addr(&format!("/ip4/127.0.0.1/tcp/1/certhash/{HASH_A}"))).is_none());
        let circuit = format!("/ip4/127.0.0.1/udp/1/quic-v1/webtransport/certhash/{HASH_A}/p2p/{PEER}/p2p-circuit");
        assert!(dial_target(&addr(&circuit)).is_none());
    }

    #[test]
    fn only_the_libp2p_path_is_served() {
        assert!(is_libp2p_request("/.well-known/libp2p-webtransport?type=noise"));
        assert!(is_libp2p_request("/.well-known/libp2p-webtransport?x=1&type=noise"));
        assert!(!is_libp2p_request("/.well-known/libp2p-webtransport"));
        assert!(!is_libp2p_request("/.well-known/libp2p-webtransport?type=tls"));
        assert!(!is_libp2p_request("/other?type=noise"));
    }
}
