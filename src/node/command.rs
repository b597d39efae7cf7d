//! What the node's users (the HTTP API, tests) ask of it. Every answer is
//! JSON so the API passes it through unchanged.

use futures::channel::oneshot;
use serde_json::Value;

#[derive(Debug)]
pub enum Command {
    AddSchema {
        sdl: String,
    },
    /// `[{name, fields: [{name, type, indexed}]}]`
    ListCollections,
    Create {
        collection: String,
        doc: Value,
    },
    Get {
        collection: String,
        id: String,
    },
    Update {
        collection: String,
        id: String,
        patch: Value,
    },
    Delete {
        collection: String,
        id: String,
    },
    /// `query` as for `find`: `{filter, order, limit, offset}`.
    Find {
        collection: String,
        query: Value,
    },
    Heads {
        collection: String,
        id: String,
    },
    /// `{peerId, addresses: [multiaddr], pubsub, mdns}`
    Info,
    /// `{received, sent, invalid, decodeErrors, oversized, pending, ...}`
    Stats,
    SetReplicator {
        collection: String,
        docs: Option<Vec<String>>,
        peer: String,
    },
    /// `[{peerId, collection, docs, addrs, queued}]`
    ListReplicators,
    DeleteReplicator {
        collection: String,
        peer_id: String,
    },
    AddP2pCollection {
        collection: String,
    },
    RemoveP2pCollection {
        collection: String,
    },
    ListP2pCollections,
    /// Dial a multiaddr (tests and `--peers`).
    Dial {
        addr: String,
    },
    /// The gossipsub topics this node holds.
    Topics,
    /// `[{peerId, addr, transport, direction}]`, one per open connection.
    Connections,
    /// Blocks another tab of this origin committed to the shared store
    /// (it runs no node): publish and queue them (`node/tabs.rs`).
    Committed {
        cids: Vec<String>,
    },
}

/// A refused command: a stable code and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// `VALIDATION`, `NOT_FOUND`, ... as in [`crate::Error::code`], or
    /// `BAD_REQUEST` for input the API cannot read (bad JSON, bad multiaddr).
    pub code: &'static str,
    pub message: String,
}

impl CommandError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        CommandError { code: "BAD_REQUEST", message: message.into() }
    }
}

impl From<crate::Error> for CommandError {
    fn from(e: crate::Error) -> Self {
        CommandError { code: e.code(), message: e.to_string() }
    }
}

pub type Reply = oneshot::Sender<Result<Value, CommandError>>;
