//! Which transport a connection runs over, read off its remote address, in
//! the words `connections()` reports.

use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// `"webrtc"` (browser to browser), `"webrtc-direct"`, `"webtransport"`,
/// `"relay"`, `"websocket"`, `"quic"`, `"tcp"`, or `"other"`.
///
/// In this order: browser-to-browser WebRTC (its address runs through a
/// circuit for its signalling, but the connection is WebRTC), then any
/// circuit (relayed, whatever carries the hop to the relay: so the direct
/// upgrade and the deferred head exchange treat it as relayed), then the
/// transport itself.
pub fn transport_of(addr: &Multiaddr) -> &'static str {
    let has = |f: fn(&Protocol) -> bool| addr.iter().any(|p| f(&p));
    // Browser-to-browser WebRTC's address holds the relayed one it was
    // signalled over; any other address with a circuit is relayed, whatever
    // carries its hop to the relay.
    if has(|p| matches!(p, Protocol::WebRTC)) {
        "webrtc"
    } else if has(|p| matches!(p, Protocol::P2pCircuit)) {
        "relay"
    } else if has(|p| matches!(p, Protocol::WebRTCDirect)) {
        "webrtc-direct"
    } else if has(|p| matches!(p, Protocol::WebTransport)) {
        "webtransport"
    } else if has(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_))) {
        "websocket"
    } else if has(|p| matches!(p, Protocol::QuicV1)) {
        "quic"
    } else if has(|p| matches!(p, Protocol::Tcp(_))) {
        "tcp"
    } else {
        "other"
    }
}

/// The transport of a connection: as [`transport_of`] its remote address,
/// except that a relayed connection we accepted names its circuit only in
/// our own address (its remote one is just `/p2p/<id>`).
pub fn transport_of_endpoint(endpoint: &ConnectedPoint) -> &'static str {
    match endpoint {
        ConnectedPoint::Listener { local_addr, send_back_addr } => match transport_of(send_back_addr) {
            "other" if local_addr.iter().any(|p| p == Protocol::P2pCircuit) => "relay",
            t => t,
        },
        ConnectedPoint::Dialer { address, .. } => transport_of(address),
    }
}

/// The peer a browser-to-browser WebRTC address names:
/// `<relayed addr>/webrtc/p2p/<id>`, with a `/p2p-circuit` in the relayed part.
pub fn webrtc_dial_peer(addr: &Multiaddr) -> Option<PeerId> {
    let parts: Vec<Protocol> = addr.iter().collect();
    let [before @ .., Protocol::WebRTC, Protocol::P2p(peer)] = parts.as_slice() else { return None };
    before.contains(&Protocol::P2pCircuit).then_some(*peer)
}

/// The WebRTC address of the peer at the end of a relayed one:
/// `<relay>/p2p-circuit/p2p/<id>` becomes `<relay>/p2p-circuit/webrtc/p2p/<id>`.
pub fn webrtc_addr_of(relayed: &Multiaddr) -> Option<Multiaddr> {
    let mut addr = relayed.clone();
    let Some(Protocol::P2p(peer)) = addr.pop() else { return None };
    if addr.iter().last() != Some(Protocol::P2pCircuit) {
        return None;
    }
    Some(addr.with(Protocol::WebRTC).with(Protocol::P2p(peer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webrtc_addresses_of_relayed_ones() {
        let relay = "/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWA9Fj9xfgfe9dywYw3oxp4MPXw9Khx2mRwr31QUyRv9g3";
        let peer: PeerId = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq".parse().unwrap();
        let relayed: Multiaddr = format!("{relay}/p2p-circuit/p2p/{peer}").parse().unwrap();
        let direct = webrtc_addr_of(&relayed).unwrap();
        assert_eq!(direct.to_string(), format!("{relay}/p2p-circuit/webrtc/p2p/{peer}"));
        assert_eq!(webrtc_dial_peer(&direct), Some(peer));
        assert_eq!(transport_of(&direct), "webrtc");
        // Not relayed, or not WebRTC: neither is a browser-to-browser address.
        assert_eq!(webrtc_addr_of(&relay.parse().unwrap()), None);
        assert_eq!(webrtc_dial_peer(&relayed), None);
        assert_eq!(webrtc_dial_peer(&format!("/ip4/127.0.0.1/udp/1/webrtc/p2p/{peer}").parse().unwrap()), None);
    }

    #[test]
    fn names_the_transport() {
        let peer = "12D3KooWA9Fj9xfgfe9dywYw3oxp4MPXw9Khx2mRwr31QUyRv9g3";
        let cases = [
            ("/ip4/127.0.0.1/tcp/1", "tcp"),
            ("/ip4/127.0.0.1/udp/1/quic-v1", "quic"),
            ("/ip4/127.0.0.1/tcp/1/ws", "websocket"),
            ("/ip4/127.0.0.1/udp/1/webrtc-direct", "webrtc-direct"),
            ("/ip4/127.0.0.1/udp/1/quic-v1/webtransport", "webtransport"),
            (&format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}/p2p-circuit"), "relay"),
            (&format!("/ip4/127.0.0.1/tcp/1/ws/p2p/{peer}/p2p-circuit/webrtc"), "webrtc"),
            // Relayed whatever carries the hop to the relay: the demo's peers
            // panel called a page reached through the node's WebRTC-direct
            // or WebTransport address a direct connection.
            (&format!("/ip4/127.0.0.1/udp/1/webrtc-direct/p2p/{peer}/p2p-circuit"), "relay"),
            (&format!("/ip4/127.0.0.1/udp/1/quic-v1/webtransport/p2p/{peer}/p2p-circuit/p2p/{peer}"), "relay"),
            (&format!("/ip4/127.0.0.1/udp/1/webrtc-direct/p2p/{peer}/p2p-circuit/webrtc/p2p/{peer}"), "webrtc"),
        ];
        for (addr, want) in cases {
            assert_eq!(transport_of(&addr.parse().unwrap()), want, "{addr}");
        }
    }
}
