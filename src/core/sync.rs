//! The messages peers exchange and their limits. The libp2p behaviours
//! carry these bytes; deciding what to send is done by the node and the
//! state machines of [`crate::core::replica`] (the outbox's retry schedule,
//! a peer's request rate, strikes and bans among them), over the DAG
//! queries of [`crate::Db`].
//!
//! Protocols (each a request and one response, DAG-CBOR, length-prefixed
//! by the request-response codec):
//! - `/weft/blocks/1`: [`BlocksRequest`] `{want: [CID]}` → [`BlocksResponse`]
//!   `{blocks: [bytes]}`, the held blocks among those wanted that are shared
//!   with the asker, each once, in its order, cut short at the answer's
//!   byte budget (the asker asks again for the rest).
//! - `/weft/heads/1`: [`HeadsRequest`] `{col, docs?, heads: {id: [CID]}}` →
//!   [`HeadsResponse`] `{heads, unknown?}`: both sides learn the other's
//!   heads for a collection (or some of its documents) and send what the
//!   other lacks; `unknown: true` says the answering peer has no such
//!   collection, so nothing of it is sent there.
//! - `/weft/replicate/1`: [`ReplicateRequest`] `Offer {cids}` → `Want
//!   {cids}`, and `Push {blocks, remaining}` → `Ack {merged, refused?}`,
//!   sent once the blocks are durably merged (or held pending their
//!   parents).

use std::collections::BTreeMap;

use cid::Cid;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::block::MAX_BLOCK_BYTES;

/// The largest message a peer may send: a batch of blocks and some slack.
pub const MAX_MESSAGE_BYTES: usize = 8 * MAX_BLOCK_BYTES;
/// The most CIDs one request may name.
pub const MAX_CIDS: usize = 4096;
/// The most document heads one head exchange message may name: a
/// collection's worth, still under the size limit.
pub const MAX_HEADS: usize = 200_000;
/// The most blocks one push or response carries; bigger sets go in batches.
pub const MAX_BATCH_BLOCKS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocksRequest {
    pub want: Vec<Cid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocksResponse {
    pub blocks: Vec<ByteBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsRequest {
    pub col: String,
    /// Only these documents; all of the collection when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<Vec<String>>,
    pub heads: BTreeMap<String, Vec<Cid>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsResponse {
    pub heads: BTreeMap<String, Vec<Cid>>,
    /// The answering peer has no schema of the collection: it would refuse
    /// every block of it, so none is walked or sent. Written only when
    /// true; absent from older peers (and ignored by them): false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplicateRequest {
    /// "I have these; which do you lack?"
    Offer { cids: Vec<Cid> },
    /// Blocks, parents before children; `remaining`: how many more the
    /// pusher has queued for this peer now (so the receiver can tell its
    /// progress while catching up; absent from older peers: 0).
    Push {
        blocks: Vec<ByteBuf>,
        #[serde(default)]
        remaining: u64,
    },
}

/// A relay's list of the peers holding a reservation on it, published on
/// [`PEERS_TOPIC`]: how pages that know only the relay find each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerAnnouncement {
    /// Grows with each announcement, so two equal lists are two messages.
    pub seq: u64,
    /// Peer ids, as bytes.
    pub peers: Vec<serde_bytes::ByteBuf>,
}

pub const PEERS_TOPIC: &str = "weft/relay/peers";

/// Peers one announcement may name.
pub const MAX_ANNOUNCED_PEERS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplicateResponse {
    Want {
        cids: Vec<Cid>,
    },
    /// The pushed blocks now stored durably (merged or pending), and those
    /// refused, with why (absent from older peers, which refused whole
    /// pushes): the pusher moves past both.
    Ack {
        merged: Vec<Cid>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        refused: Vec<RefusedBlock>,
    },
    Refused {
        reason: String,
    },
}

/// A pushed block the receiver did not take: its CID, the error code
/// (`UNAUTHORIZED`, `VALIDATION`, `UNKNOWN_COLLECTION`, `BLOCK_INVALID`)
/// and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedBlock {
    pub cid: Cid,
    pub code: String,
    pub reason: String,
}

/// A message that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message is not valid DAG-CBOR: {0}")]
    Decode(String),
    #[error("message names {0} CIDs, heads or blocks, over the limit")]
    TooMany(usize),
}

/// Encodes a message; the caller keeps batches under the limits.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    serde_ipld_dagcbor::to_vec(msg).expect("messages encode as DAG-CBOR")
}

/// Decodes a message from a peer, refusing what is over the limits.
pub fn decode<T: for<'de> Deserialize<'de> + Limits>(bytes: &[u8]) -> Result<T, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge(bytes.len()));
    }
    let msg: T = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| MessageError::Decode(e.to_string()))?;
    let n = msg.items();
    if n > T::MAX_ITEMS {
        return Err(MessageError::TooMany(n));
    }
    Ok(msg)
}

/// How many CIDs or blocks a message carries, for the limit check.
pub trait Limits {
    const MAX_ITEMS: usize = MAX_CIDS;
    fn items(&self) -> usize;
}

impl Limits for BlocksRequest {
    fn items(&self) -> usize {
        self.want.len()
    }
}
impl Limits for BlocksResponse {
    fn items(&self) -> usize {
        self.blocks.len()
    }
}
impl Limits for HeadsRequest {
    const MAX_ITEMS: usize = MAX_HEADS;
    fn items(&self) -> usize {
        self.heads.values().map(Vec::len).sum::<usize>().max(self.docs.as_ref().map_or(0, Vec::len))
    }
}
impl Limits for HeadsResponse {
    const MAX_ITEMS: usize = MAX_HEADS;
    fn items(&self) -> usize {
        self.heads.values().map(Vec::len).sum()
    }
}
impl Limits for PeerAnnouncement {
    const MAX_ITEMS: usize = MAX_ANNOUNCED_PEERS;
    fn items(&self) -> usize {
        self.peers.len()
    }
}
impl Limits for ReplicateRequest {
    fn items(&self) -> usize {
        match self {
            ReplicateRequest::Offer { cids } => cids.len(),
            ReplicateRequest::Push { blocks, .. } => blocks.len(),
        }
    }
}
impl Limits for ReplicateResponse {
    fn items(&self) -> usize {
        match self {
            ReplicateResponse::Want { cids } => cids.len(),
            ReplicateResponse::Ack { merged, refused } => merged.len() + refused.len(),
            ReplicateResponse::Refused { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::block::cid_of;

    #[test]
    fn messages_round_trip() {
        let c = cid_of(b"x");
        let req = ReplicateRequest::Push { blocks: vec![ByteBuf::from(b"abc".to_vec())], remaining: 7 };
        assert_eq!(decode::<ReplicateRequest>(&encode(&req)).unwrap(), req);
        let heads = HeadsRequest { col: "Book".into(), docs: None, heads: BTreeMap::from([("id".into(), vec![c])]) };
        assert_eq!(decode::<HeadsRequest>(&encode(&heads)).unwrap(), heads);
    }

    /// `unknown` is written only when true, so an answer that does not say
    /// it is the older form's bytes, and either form reads on both sides.
    #[test]
    fn a_heads_answer_says_unknown_only_when_it_is() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Older {
            heads: BTreeMap<String, Vec<Cid>>,
        }
        impl Limits for Older {
            fn items(&self) -> usize {
                0
            }
        }
        let heads = BTreeMap::from([("id".to_string(), vec![cid_of(b"x")])]);
        let known = HeadsResponse { heads: heads.clone(), unknown: false };
        assert_eq!(encode(&known), encode(&Older { heads: heads.clone() }));
        assert_eq!(decode::<HeadsResponse>(&encode(&Older { heads: heads.clone() })).unwrap(), known);
        let unknown = HeadsResponse { heads: BTreeMap::new(), unknown: true };
        assert_eq!(decode::<HeadsResponse>(&encode(&unknown)).unwrap(), unknown);
        assert_eq!(
            decode::<Older>(&encode(&unknown)).unwrap(),
            Older { heads: BTreeMap::new() },
            "an older peer reads it"
        );
    }

    #[test]
    fn hostile_messages_are_refused() {
        assert!(matches!(decode::<BlocksRequest>(b"\xff\xff"), Err(MessageError::Decode(_))));
        assert!(matches!(decode::<BlocksRequest>(&vec![0; MAX_MESSAGE_BYTES + 1]), Err(MessageError::TooLarge(_))));
        let many = BlocksRequest { want: vec![cid_of(b"x"); MAX_CIDS + 1] };
        assert!(matches!(decode::<BlocksRequest>(&encode(&many)), Err(MessageError::TooMany(_))));
    }
}
