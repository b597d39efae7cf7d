//! Which transport a connection runs over, read off its remote address, in
//! the words `connections()` reports.

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

/// `"webrtc"` (browser to browser), `"webrtc-direct"`, `"webtransport"`,
/// `"relay"`, `"websocket"`, `"quic"`, `"tcp"`, or `"other"`.
///
/// The most specific part wins: a browser-to-browser WebRTC address runs
/// through a circuit for its signalling, but the connection is WebRTC.
pub fn transport_of(addr: &Multiaddr) -> &'static str {
    let has = |f: fn(&Protocol) -> bool| addr.iter().any(|p| f(&p));
    if has(|p| matches!(p, Protocol::WebRTC)) {
        "webrtc"
    } else if has(|p| matches!(p, Protocol::WebRTCDirect)) {
        "webrtc-direct"
    } else if has(|p| matches!(p, Protocol::WebTransport)) {
        "webtransport"
    } else if has(|p| matches!(p, Protocol::P2pCircuit)) {
        "relay"
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

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (addr, want) in cases {
            assert_eq!(transport_of(&addr.parse().unwrap()), want, "{addr}");
        }
    }
}
