//! Both sides of `/webrtc-signaling/0.0.1` on a relayed connection: the
//! dialler offers, the other answers, both trickle ICE candidates, and the
//! stream closes once the peer connection is up.
//!
//! No Noise handshake follows: the relayed connection the SDPs crossed is
//! authenticated, and so are the DTLS fingerprints in them.

use std::time::Duration;

use asynchronous_codec::Framed;
use futures::{FutureExt, SinkExt, StreamExt};
use futures_timer::Delay;
use libp2p::Stream as Signaling;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RtcIceCandidateInit, RtcPeerConnection, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit};

use super::connection::{Connection, Peer, INIT_LABEL};
use super::Error;
use crate::net::signaling::{codec, Message, MessageType, MAX_CANDIDATES};

/// Host candidates on one machine or LAN connect in well under a second;
/// a handshake this slow will not succeed, and the relay carries on.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Offerer,
    Answerer,
}

/// The dialler's side.
pub(super) async fn offer(stream: Signaling) -> Result<Connection, Error> {
    let mut peer = Peer::new()?;
    // A data channel before the offer, or it has no data section.
    let init = peer.pc.create_data_channel(INIT_LABEL);
    let offer = JsFuture::from(peer.pc.create_offer()).await?;
    let sdp = sdp_of(&offer)?;
    set_description(&peer.pc, RtcSdpType::Offer, &sdp, true).await?;
    let mut framed = Framed::new(stream, codec());
    framed.send(Message::new(MessageType::SdpOffer, sdp)).await?;
    let result = negotiate(&mut peer, &mut framed, Role::Offerer).await;
    init.close();
    result.map(|()| Connection::new(peer))
}

/// The side that was dialled on the relay.
pub(super) async fn answer(stream: Signaling) -> Result<Connection, Error> {
    let mut peer = Peer::new()?;
    let mut framed = Framed::new(stream, codec());
    negotiate(&mut peer, &mut framed, Role::Answerer).await?;
    Ok(Connection::new(peer))
}

type Stream = Framed<Signaling, prost_codec::Codec<Message>>;

enum Step {
    Message(Option<Result<Message, prost_codec::Error>>),
    Candidate(Option<String>),
    State,
    Timeout,
}

/// Exchanges descriptions and candidates until the peer connection is up,
/// fails, or the time is over.
async fn negotiate(peer: &mut Peer, framed: &mut Stream, role: Role) -> Result<(), Error> {
    let timeout = Delay::new(HANDSHAKE_TIMEOUT).fuse();
    futures::pin_mut!(timeout);
    let mut remote_set = false;
    // Candidates that came before the description they belong to.
    let mut early: Vec<String> = Vec::new();
    let mut received = 0;
    let mut stream_open = true;
    let pc = &peer.pc;
    let mut candidates = (&mut peer.candidates).fuse();
    let mut states = (&mut peer.state_changes).fuse();
    loop {
        let step = {
            let incoming = async {
                if stream_open {
                    framed.next().await
                } else {
                    futures::future::pending().await
                }
            };
            futures::select! {
                m = incoming.fuse() => Step::Message(m),
                c = candidates.next() => Step::Candidate(c.flatten()),
                _ = states.next() => Step::State,
                _ = timeout => Step::Timeout,
            }
        };
        match step {
            Step::Message(None) => {
                // The other side is done talking; the connection may still
                // be coming up.
                stream_open = false;
            }
            Step::Message(Some(m)) => {
                let m = m?;
                let kind = m.kind();
                let data = m.data.unwrap_or_default();
                match (kind, role, remote_set) {
                    (Some(MessageType::SdpOffer), Role::Answerer, false) => {
                        set_description(pc, RtcSdpType::Offer, &data, false).await?;
                        let answer = JsFuture::from(pc.create_answer()).await?;
                        let sdp = sdp_of(&answer)?;
                        set_description(pc, RtcSdpType::Answer, &sdp, true).await?;
                        framed.send(Message::new(MessageType::SdpAnswer, sdp)).await?;
                        remote_set = true;
                    }
                    (Some(MessageType::SdpAnswer), Role::Offerer, false) => {
                        set_description(pc, RtcSdpType::Answer, &data, false).await?;
                        remote_set = true;
                    }
                    (Some(MessageType::IceCandidate), _, _) => {
                        received += 1;
                        if received > MAX_CANDIDATES {
                            return Err(Error::Signaling("too many ICE candidates".into()));
                        }
                        early.push(data);
                    }
                    (kind, _, _) => return Err(Error::Signaling(format!("unexpected message {kind:?}"))),
                }
                if remote_set {
                    for candidate in early.drain(..) {
                        add_candidate(pc, &candidate).await?;
                    }
                }
            }
            // All gathered needs no message: the other side stops waiting
            // once it is connected.
            Step::Candidate(None) => {}
            Step::Candidate(Some(json)) => framed.send(Message::new(MessageType::IceCandidate, json)).await?,
            Step::State => match pc.connection_state() {
                RtcPeerConnectionState::Connected => break,
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed => {
                    return Err(Error::Signaling("the direct connection failed".into()));
                }
                _ => {}
            },
            Step::Timeout => return Err(Error::Timeout),
        }
    }
    // The spec has both sides close the signalling stream once connected.
    let _ = framed.close().await;
    Ok(())
}

fn sdp_of(description: &wasm_bindgen::JsValue) -> Result<String, Error> {
    js_sys::Reflect::get(description, &"sdp".into())?
        .as_string()
        .ok_or_else(|| Error::Signaling("a description without an SDP".into()))
}

async fn set_description(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str, local: bool) -> Result<(), Error> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    let promise = if local { pc.set_local_description(&description) } else { pc.set_remote_description(&description) };
    JsFuture::from(promise).await?;
    Ok(())
}

async fn add_candidate(pc: &RtcPeerConnection, json: &str) -> Result<(), Error> {
    let value = js_sys::JSON::parse(json).map_err(|_| Error::Signaling("an ICE candidate that is not JSON".into()))?;
    if !value.is_object() {
        return Err(Error::Signaling("an ICE candidate that is not an object".into()));
    }
    let init: RtcIceCandidateInit = value.unchecked_into();
    JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await?;
    Ok(())
}
