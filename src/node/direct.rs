//! Pages meeting through a relay, then directly.
//!
//! A page reserves a slot on each node it is given (`<node>/p2p-circuit`),
//! which makes it dialable at `<node>/p2p-circuit/p2p/<page>`. The node
//! announces who holds a reservation on [`PEERS_TOPIC`] whenever that
//! changes or someone subscribes; of two pages that see each other there,
//! the one with the smaller peer id dials the other through the relay.
//! Over that relayed connection the dialler offers a direct WebRTC one
//! (`/webrtc-signaling/0.0.1`); once it is up the relayed one is closed. If
//! the upgrade fails, or a page turned it off, sync carries on over the
//! relay.
//!
//! The answering side closes the relayed connections too, [`ANSWERED_GRACE`]
//! after the direct one is up, if the offerer left them open (js-libp2p
//! does): a peer like that runs no gossipsub on a relayed connection, which
//! it counts limited, and our gossipsub, whose connections to a peer share
//! one queue of messages, loses those it sends there (our subscriptions
//! among them, until a connection closes: `vendor/libp2p-gossipsub`).

use std::time::Duration;

use libp2p::gossipsub::MessageAcceptance;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;

use super::run::Node;
use super::wire::Effect;
use crate::core::sync::{decode, encode, PeerAnnouncement, PEERS_TOPIC};
use crate::net::webrtc_addr_of;
use crate::store::Store;

/// How long the answering side leaves the relayed connections to a peer
/// open once their direct connection is up: a page offering closes them
/// itself at once, and the offerer may still be closing its signalling
/// stream on one.
pub(super) const ANSWERED_GRACE: Duration = Duration::from_secs(2);

impl<S: Store> Node<S> {
    /// Tells every subscriber who holds a reservation on us now.
    pub(super) fn announce_reserved(&mut self) {
        self.announce_seq += 1;
        let announcement = PeerAnnouncement {
            seq: self.announce_seq,
            peers: self.reserved.iter().map(|p| ByteBuf::from(p.to_bytes())).collect(),
        };
        if self.gossips() && self.anyone_holds(PEERS_TOPIC) {
            self.emit(Effect::Publish { topic: PEERS_TOPIC.to_string(), data: encode(&announcement) });
        }
    }

    /// A relayed connection to `peer` closed with `remaining` others open:
    /// if we closed it for a direct one, swap heads over that one now.
    pub(super) fn relayed_closed(&mut self, peer: PeerId, remaining: u32) -> bool {
        remaining > 0 && self.upgrading.remove(&peer)
    }

    /// Closes the relayed connections to the peers whose direct connection
    /// we answered [`ANSWERED_GRACE`] ago, while a direct one is still up.
    pub(super) fn close_answered_relays(&mut self) {
        if self.replica.answered.is_empty() {
            return;
        }
        let now = self.now();
        let due: Vec<PeerId> = self.replica.answered.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in due {
            self.replica.answered.remove(&peer);
            if self.connections_to(peer, Some("webrtc")).is_empty() {
                continue;
            }
            for id in self.connections_to(peer, Some("relay")) {
                tracing::debug!(%peer, "closing a relayed connection the offerer left open");
                self.emit(Effect::Close(id));
            }
        }
    }

    /// A peer's reservation on us started (`true`) or ended.
    pub(super) fn reservation(&mut self, peer: PeerId, held: bool) {
        let changed = if held { self.reserved.insert(peer) } else { self.reserved.remove(&peer) };
        if changed {
            self.announce_reserved();
        }
    }

    /// The relayed address we listen on at `relay`, if we asked it for a
    /// reservation (granted or not yet) and are connected to it.
    fn circuit_at(&self, relay: PeerId) -> Option<Multiaddr> {
        self.replica.listeners.active().find(|addr| addr.iter().any(|p| p == Protocol::P2p(relay))).cloned()
    }

    /// An announcement that came over our connection to `source`: taken
    /// only from a relay we asked for a reservation, and never forwarded
    /// (each page hears its relay itself).
    pub(super) fn on_announcement(&mut self, source: PeerId, data: &[u8]) -> MessageAcceptance {
        if !self.config.meet_peers {
            return MessageAcceptance::Ignore;
        }
        let Some(circuit) = self.circuit_at(source) else {
            return MessageAcceptance::Ignore;
        };
        let announcement: PeerAnnouncement = match decode(data) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(?source, "an announcement that does not decode: {e}");
                return MessageAcceptance::Reject;
            }
        };
        let peers: Vec<PeerId> = announcement.peers.iter().filter_map(|b| PeerId::from_bytes(b).ok()).collect();
        // Listed anew while we hold a connection to it: a new page under the
        // same id (a reload, another tab taking the lead), whose relay
        // dropped the page before. That connection is the old page's, which
        // may take seconds to notice the page is gone (6.5 s in one
        // sync-bench run): it is closed now, and once it is, the new page is
        // met (`meet_again`; a smaller id dials us). Should the page have
        // only lost its relay for a moment, this costs it one reconnection.
        // Looked for among the peers we are connected to (a few), not the
        // list (as long as a message allows): two lists' lengths multiplied
        // would be a relay's to choose.
        if let Some((_, before)) = self.announced.iter().find(|(relay, _)| *relay == source) {
            let anew: Vec<PeerId> = self
                .replica
                .dialer
                .connected_peers()
                .filter(|p| peers.contains(p) && !before.contains(p) && !self.reappeared.contains(p))
                .copied()
                .collect();
            for peer in anew {
                for id in self.connections_to(peer, None) {
                    tracing::debug!(%peer, ?id, "closing a connection to a page its relay lists anew");
                    self.emit(Effect::Close(id));
                }
                self.reappeared.push(peer);
            }
        }
        for peer in &peers {
            self.meet(*peer, &circuit);
        }
        self.announced.retain(|(relay, _)| *relay != source);
        self.announced.push((source, peers));
        self.forget_unannounced();
        MessageAcceptance::Ignore
    }

    /// Dials `peer` through the relay we listen on at `circuit`, unless
    /// it is connected already or is the one to dial us: of two pages, the
    /// smaller id dials, so that the dials do not cross.
    fn meet(&mut self, peer: PeerId, circuit: &Multiaddr) {
        if peer <= self.peer_id || self.replica.dialer.is_connected(&peer) {
            return;
        }
        let addr = circuit.clone().with(Protocol::P2p(peer));
        tracing::debug!(%peer, %addr, "dialling an announced peer through the relay");
        self.dial_peer(peer, vec![addr]);
    }

    /// `peer`'s last connection closed: if a relay listed it anew while
    /// that connection was open (`on_announcement`, which closed it), the
    /// page it reached is gone and a new one is there under the same id,
    /// which no later announcement need name (the relay's list does not
    /// change again): it is met now, through a relay that still lists it.
    /// Any other closed connection (an idle one, a page that left) is not
    /// dialled again here: pages outside each other's gossip mesh let
    /// theirs close.
    pub(super) fn meet_again(&mut self, peer: PeerId) {
        let Some(i) = self.reappeared.iter().position(|p| *p == peer) else { return };
        self.reappeared.swap_remove(i);
        let circuit = self
            .announced
            .iter()
            .filter(|(_, peers)| peers.contains(&peer))
            .find_map(|(relay, _)| self.circuit_at(*relay));
        if let Some(circuit) = circuit {
            self.meet(peer, &circuit);
        }
    }

    /// Our connections to `peer`, over `transport` if one is named.
    fn connections_to(&self, peer: PeerId, transport: Option<&str>) -> Vec<ConnectionId> {
        let over = |t: &str| transport.is_none_or(|want| want == t);
        self.connections.iter().filter(|(_, (p, _, _, t))| *p == peer && over(t)).map(|(id, _)| *id).collect()
    }

    /// Keeps in `reappeared` only the pages some relay still lists.
    pub(super) fn forget_unannounced(&mut self) {
        let announced = &self.announced;
        self.reappeared.retain(|p| announced.iter().any(|(_, peers)| peers.contains(p)));
    }

    /// A connection opened: from a relayed one we dialled, offer a direct
    /// one; once the direct one is up, close the relayed ones. True when
    /// the peer's heads are to be swapped now (over the relay when no offer
    /// could be made).
    pub(super) fn consider_upgrade(&mut self, peer: PeerId, addr: &Multiaddr, dialed: bool, transport: &str) -> bool {
        if !self.config.direct_upgrade {
            return false;
        }
        if !dialed {
            if transport == "webrtc" {
                self.replica.answered.insert(peer, self.now() + ANSWERED_GRACE);
            }
            return false;
        }
        if !self.p2p {
            return false;
        }
        if transport == "webrtc" {
            let relayed = self.connections_to(peer, Some("relay"));
            // Heads are swapped once the relayed connections are gone
            // (`relayed_closed`): request-response would use the oldest
            // connection, which is closing.
            let none = relayed.is_empty();
            for id in relayed {
                self.emit(Effect::Close(id));
            }
            return none;
        }
        let Some(direct) = webrtc_addr_of(addr) else { return false };
        tracing::debug!(%peer, %direct, "offering a direct WebRTC connection");
        // Should the dial fail, [`Input::DialFailed`] says so, and sync
        // carries on over the relay.
        self.emit(Effect::Dial { peer, addrs: vec![direct], always: true });
        self.upgrading.insert(peer);
        false
    }
}
